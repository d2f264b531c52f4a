//! A library that installs its own SIGSEGV handler after the engine has
//! started must not take the engine's faults: `fault::ensure_first` puts
//! the engine's handler back in front, and faults that are not guest
//! accesses still reach the newcomer.  In a test binary of its own, since
//! signal handlers belong to the whole process.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::fault::{self, Handler};
use espt::types::PAGE_SIZE;

static NEWCOMER_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The late library's handler: makes the faulting page accessible and
/// returns, so that the access is executed again and succeeds.
extern "C" fn newcomer(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    NEWCOMER_CALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo_t for SIGSEGV; mprotect is
    // async-signal-safe and the page is the test's own mapping.
    unsafe {
        let page = ((*info).si_addr() as usize) & !(PAGE_SIZE as usize - 1);
        libc::mprotect(
            page as *mut libc::c_void,
            PAGE_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
        );
    }
}

#[test]
fn a_handler_installed_later_goes_behind_the_engines() {
    let e = engine(1);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(fault::ensure_first().unwrap(), Handler::Ours);
    // SAFETY: a valid action for a handler with the SA_SIGINFO signature.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = newcomer as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
    }
    assert_eq!(fault::ensure_first().unwrap(), Handler::Restored);
    assert_eq!(fault::ensure_first().unwrap(), Handler::Ours);
    // A guest access that misses is the engine's: redirected, as before.
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    assert_eq!(NEWCOMER_CALLS.load(Ordering::SeqCst), 0);
    e.fill(
        cpu.id,
        idx(0),
        0x5000,
        PAGE_SIZE,
        ram.page_addr(2),
        ESPT_PROT_READ | ESPT_PROT_WRITE,
    )
    .unwrap();
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(2)));
    // A fault elsewhere is the newcomer's.
    // SAFETY: a fresh inaccessible mapping of our own.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGE_SIZE as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: the newcomer makes the page readable and the load repeats.
    let v = unsafe { std::ptr::read_volatile(p.cast::<u64>()) };
    assert_eq!(v, 0);
    assert_eq!(NEWCOMER_CALLS.load(Ordering::SeqCst), 1);
}
