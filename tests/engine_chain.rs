//! Faults that are not ours go to the handler installed before the
//! engine's, and a real crash stays a real crash.
//!
//! Its own test binary, so its own process: the handler set-up is
//! process-wide.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use dynasmrt::{dynasm, DynasmApi};

static CHAINED: AtomicUsize = AtomicUsize::new(0);
static RECOVER_AT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn test_handler(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    CHAINED.fetch_add(1, Ordering::SeqCst);
    let uc = ctx.cast::<libc::ucontext_t>();
    // SAFETY: a valid ucontext from the kernel; resume at the recovery
    // point our test code provides.
    unsafe {
        (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] = RECOVER_AT.load(Ordering::SeqCst) as i64
    };
}

fn install_test_handler() {
    // SAFETY: a valid sigaction for a handler with the SA_SIGINFO signature.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = test_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
    }
}

/// One load at [rdi] that is not a registered site; a fault resumes at
/// the returned recovery address, which returns 0xdead.
fn unregistered_load() -> (dynasmrt::ExecutableBuffer, extern "C" fn(u64) -> u64, usize) {
    let mut ops = dynasmrt::x64::Assembler::new().unwrap();
    let entry = ops.offset();
    dynasm!(ops ; .arch x64 ; mov rax, QWORD [rdi] ; ret);
    let recover = ops.offset();
    dynasm!(ops ; .arch x64 ; mov eax, 0xdead ; ret);
    let buf = ops.finalize().unwrap();
    // SAFETY: `entry` starts a function of this signature.
    let f = unsafe { std::mem::transmute::<*const u8, extern "C" fn(u64) -> u64>(buf.ptr(entry)) };
    let r = buf.ptr(recover) as usize;
    (buf, f, r)
}

#[test]
fn foreign_faults_reach_the_previous_handler() {
    if std::env::var_os("ESPT_CRASH_CHILD").is_some() {
        return;
    }
    install_test_handler();
    let e = engine(1);
    let cpu = TestVcpu::new(&e, 0);
    let (_buf, load, recover) = unregistered_load();
    RECOVER_AT.store(recover, Ordering::SeqCst);
    // In the region, but not at an access site: not ours.
    assert_eq!(load(cpu.base(0) + 0x1000), 0xdead);
    assert_eq!(CHAINED.load(Ordering::SeqCst), 1);
    // Outside the region altogether.
    assert_eq!(load(8), 0xdead);
    assert_eq!(CHAINED.load(Ordering::SeqCst), 2);
    assert!(e.stats().foreign_faults >= 2);
    // Registered sites still work with a chained handler in place.
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(cpu.base(0), 0x1000, 8), None);
    assert_eq!(CHAINED.load(Ordering::SeqCst), 2);
}

/// Run in a child process: with no previous handler, a stray access in
/// the region must kill the process with SIGSEGV, as without ESPT.
#[test]
fn crash_child() {
    if std::env::var_os("ESPT_CRASH_CHILD").is_none() {
        return;
    }
    let e = engine(1);
    let cpu = TestVcpu::new(&e, 0);
    let (_buf, load, _) = unregistered_load();
    load(cpu.base(0) + 0x1000);
    // Not reached.
    std::process::exit(0);
}

#[test]
fn a_real_crash_stays_a_crash() {
    if std::env::var_os("ESPT_CRASH_CHILD").is_some() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("ESPT_CRASH_CHILD", "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{:?}", out);
}
