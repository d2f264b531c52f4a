//! The SIGSEGV handler: sends faults of translated guest accesses to their
//! slow path, and everything else to whoever handled SIGSEGV before us.
//!
//! Runs in signal context, so it allocates nothing, takes no lock and
//! logs nothing: it reads the region bounds and the site table, both
//! prepared beforehand and read through atomics only.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sites;

/// Regions the handler serves (one per engine; tests create several).
const MAX_REGIONS: usize = 16;

struct Bounds {
    start: AtomicUsize,
    end: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_REGION: Bounds = Bounds {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
};
static REGIONS: [Bounds; MAX_REGIONS] = [NO_REGION; MAX_REGIONS];

/// Faults sent to a slow path.
pub static REDIRECTS: AtomicU64 = AtomicU64::new(0);
/// Faults passed on to the previous handler (or the default action).
pub static FOREIGN: AtomicU64 = AtomicU64::new(0);

/// A handler installed before ours, which faults that are not ours go
/// to.  Each entry of [`PREVIOUS`] is written once, under `INSTALLED`,
/// before [`CHAIN`] names it, and never again: the handler reads without
/// a lock whichever entry `CHAIN` names.
struct Previous(std::cell::UnsafeCell<libc::sigaction>);
// SAFETY: each entry is written once, before it is published in CHAIN.
unsafe impl Sync for Previous {}
#[allow(clippy::declare_interior_mutable_const)]
const NO_PREVIOUS: Previous = Previous(std::cell::UnsafeCell::new(
    // SAFETY: sigaction is plain old data; all-zero is SIG_DFL, no flags.
    unsafe { std::mem::zeroed() },
));
/// How many times a handler installed after ours can be put behind it.
const MAX_PREVIOUS: usize = 8;
static PREVIOUS: [Previous; MAX_PREVIOUS] = [NO_PREVIOUS; MAX_PREVIOUS];
/// The entry of [`PREVIOUS`] that faults not ours are chained to.
static CHAIN: AtomicUsize = AtomicUsize::new(0);
/// Entries of [`PREVIOUS`] written so far; guarded by the lock.
static INSTALLED: Mutex<usize> = Mutex::new(0);

/// Makes faults in `[start, start + len)` eligible for redirection.
pub fn add_region(start: usize, len: usize) -> bool {
    for r in &REGIONS {
        if r.start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            r.end.store(start + len, Ordering::Release);
            return true;
        }
    }
    false
}

pub fn remove_region(start: usize) {
    for r in &REGIONS {
        if r.start.load(Ordering::Acquire) == start {
            r.end.store(0, Ordering::Release);
            r.start.store(0, Ordering::Release);
        }
    }
}

fn in_region(addr: usize) -> bool {
    REGIONS.iter().any(|r| {
        let start = r.start.load(Ordering::Acquire);
        start != 0 && addr >= start && addr < r.end.load(Ordering::Acquire)
    })
}

fn our_action() -> libc::sigaction {
    // SAFETY: sigaction is plain old data; we fill in a valid action.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsegv as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        sa
    }
}

/// Installs the handler once per process; later calls do nothing.
pub fn install() -> io::Result<()> {
    let mut written = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *written > 0 {
        return Ok(());
    }
    let sa = our_action();
    // SAFETY: a valid action for our handler; the previous action is
    // written to PREVIOUS[0] before any of our handlers can run (we hold
    // INSTALLED, and the handler is not installed yet).
    if unsafe { libc::sigaction(libc::SIGSEGV, &sa, PREVIOUS[0].0.get()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    *written = 1;
    Ok(())
}

/// What [`ensure_first`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Handler {
    /// Not installed, or ours is the process's handler.
    Ours,
    /// Another handler had replaced ours (a library that installs its
    /// own, loaded after the engine started): ours is back in front, and
    /// passes on to it every fault that is not a guest access.
    Restored,
}

/// Puts the handler back in front if something replaced it since it was
/// installed: without it, the first fault of a guest access would reach
/// a handler that knows nothing of the shadow and kill QEMU.  Callable
/// from any thread, outside signal context.
pub fn ensure_first() -> io::Result<Handler> {
    let mut written = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *written == 0 {
        return Ok(Handler::Ours);
    }
    // SAFETY: reading the current action into a valid sigaction.
    let current = unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut cur) != 0 {
            return Err(io::Error::last_os_error());
        }
        cur
    };
    if current.sa_sigaction == on_sigsegv as *const () as usize {
        return Ok(Handler::Ours);
    }
    if *written == MAX_PREVIOUS {
        return Err(io::Error::other(
            "the SIGSEGV handler was replaced too many times to chain to another",
        ));
    }
    let slot = &PREVIOUS[*written];
    // SAFETY: this entry has never been written nor published, so no
    // handler reads it; it is published below, before ours is back.
    unsafe { *slot.0.get() = current };
    CHAIN.store(*written, Ordering::Release);
    *written += 1;
    let sa = our_action();
    // SAFETY: a valid action for our handler.
    if unsafe { libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Handler::Restored)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn pc_slot(ctx: *mut libc::c_void) -> *mut libc::greg_t {
    let uc = ctx.cast::<libc::ucontext_t>();
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO
    // handler; we only form a pointer to its saved RIP.
    unsafe { std::ptr::addr_of_mut!((*uc).uc_mcontext.gregs[libc::REG_RIP as usize]) }
}

extern "C" fn on_sigsegv(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SIGSEGV.
    let addr = unsafe { (*info).si_addr() } as usize;
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if in_region(addr) {
        if let Some(table) = sites::global_if_created() {
            let rip = pc_slot(ctx);
            // SAFETY: `rip` points into the interrupted context, which the
            // kernel restores when we return: resuming at the slow path.
            let pc = unsafe { *rip } as usize;
            if let Some(slow) = table.lookup(pc) {
                // SAFETY: as above.
                unsafe { *rip = slow as libc::greg_t };
                REDIRECTS.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    FOREIGN.fetch_add(1, Ordering::Relaxed);
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to the previous handler; with none, the
/// default action is restored so that returning re-executes the access and
/// the process dies of it with its normal report (core dump included).
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the entry CHAIN names was written before it was published
    // and is never written again.
    let prev = unsafe { &*PREVIOUS[CHAIN.load(Ordering::Acquire)].0.get() };
    let handler = prev.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: sigaction is async-signal-safe; SIG_DFL is valid.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
        return;
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous handler has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes the signal
        // number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_and_go() {
        assert!(add_region(0x7000_0000_0000, 0x1000));
        assert!(in_region(0x7000_0000_0fff));
        assert!(!in_region(0x7000_0000_1000));
        remove_region(0x7000_0000_0000);
        assert!(!in_region(0x7000_0000_0000));
    }
}
