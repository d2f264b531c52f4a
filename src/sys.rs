//! The host memory syscalls the engine uses, as thin wrappers.
//!
//! Every function that can replace existing mappings is `unsafe`: the
//! caller must own the address range (it lies inside a reservation the
//! engine made).  [`crate::region::Region`] is the only caller and checks
//! bounds before each call.

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Mapping calls made on the slots (mmap, mprotect), which is where a
/// shadow's cost goes: each is a kernel entry, a page-table change and,
/// with other threads of QEMU running, TLB-shootdown IPIs.
pub static MAPPING_CALLS: AtomicU64 = AtomicU64::new(0);

fn count_call() {
    MAPPING_CALLS.fetch_add(1, Ordering::Relaxed);
}

/// Monotonic time in nanoseconds, at the resolution of the kernel's tick
/// (1-4 ms): cheap enough for every fill, fine enough for a policy that
/// works in tens of milliseconds.
pub fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock id is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn check(ret: *mut libc::c_void) -> io::Result<*mut u8> {
    if ret == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret.cast())
    }
}

fn check_int(ret: libc::c_int) -> io::Result<()> {
    if ret != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The size of the pages that hold the file behind `fd`: the huge page
/// size for a file on hugetlbfs (a `hugetlb=on` memfd, or `-mem-path` on a
/// hugetlbfs mount), whose pages cannot be mapped 4 KiB at a time, else
/// the host's base page size.
pub fn file_page_size(fd: RawFd) -> io::Result<u64> {
    // SAFETY: an all-zero statfs is a valid value for the kernel to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid statfs to write; a bad `fd` is reported as
    // EBADF, not undefined behaviour.
    check_int(unsafe { libc::fstatfs(fd, &mut st) })?;
    if st.f_type == libc::HUGETLBFS_MAGIC {
        Ok(st.f_bsize as u64)
    } else {
        Ok(host_page_size() as u64)
    }
}

/// Reserves `len` bytes of address space that nothing can access and that
/// costs no memory.
pub fn reserve(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing
    // replaces nothing.
    check(unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    })
}

/// Maps `len` bytes of `fd` at `offset` shared at `addr`, replacing what
/// was there.  `populate` pre-faults the page-table entries so that the
/// first access does not take a second (minor) fault.
///
/// # Safety
/// `[addr, addr + len)` must lie inside a reservation owned by the caller.
pub unsafe fn map_shared_fixed(
    addr: *mut u8,
    len: usize,
    fd: RawFd,
    offset: u64,
    prot: libc::c_int,
    populate: bool,
) -> io::Result<()> {
    let populate = if populate { libc::MAP_POPULATE } else { 0 };
    count_call();
    // SAFETY: the caller owns the range, so replacing it harms nobody.
    let ret = unsafe {
        libc::mmap(
            addr.cast(),
            len,
            prot,
            libc::MAP_SHARED | libc::MAP_FIXED | populate,
            fd,
            offset as libc::off_t,
        )
    };
    check(ret).map(|_| ())
}

/// Leaves `[addr, addr + len)` out of core dumps (`MADV_DONTDUMP`), as
/// QEMU leaves guest RAM out with `dump-guest-core=off`.
///
/// # Safety
/// `[addr, addr + len)` must lie inside a reservation owned by the caller.
pub unsafe fn dont_dump(addr: *mut u8, len: usize) -> io::Result<()> {
    count_call();
    // SAFETY: the caller owns the range; the advice changes no contents.
    check_int(unsafe { libc::madvise(addr.cast(), len, libc::MADV_DONTDUMP) })
}

/// The process's address-space limit (`RLIMIT_AS`, `ulimit -v`) in
/// bytes, or `None` when there is none.
pub fn address_space_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to write.
    let ret = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) };
    (ret == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Bytes of address space the process uses now (`VmSize`).
pub fn address_space_used() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |pages| pages * host_page_size() as u64)
}

/// Turns `[addr, addr + len)` back into inaccessible reserved space.
///
/// # Safety
/// `[addr, addr + len)` must lie inside a reservation owned by the caller.
pub unsafe fn unmap_to_reserved(addr: *mut u8, len: usize) -> io::Result<()> {
    count_call();
    // SAFETY: the caller owns the range.
    let ret = unsafe {
        libc::mmap(
            addr.cast(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    check(ret).map(|_| ())
}

/// Changes the protection of `[addr, addr + len)`.
///
/// # Safety
/// `[addr, addr + len)` must lie inside a reservation owned by the caller.
pub unsafe fn protect(addr: *mut u8, len: usize, prot: libc::c_int) -> io::Result<()> {
    count_call();
    // SAFETY: the caller owns the range.
    check_int(unsafe { libc::mprotect(addr.cast(), len, prot) })
}

/// Gives a reservation back to the kernel.
///
/// # Safety
/// `[addr, addr + len)` must be a whole reservation of the caller that
/// nothing references any more.
pub unsafe fn release(addr: *mut u8, len: usize) {
    // SAFETY: per the contract above.
    unsafe {
        libc::munmap(addr.cast(), len);
    }
}

/// Host page size.
pub fn host_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v <= 0 {
        4096
    } else {
        v as usize
    }
}
