//! Access sites: host code ranges of guest loads and stores in translated
//! code, each with the slow path a fault there must resume at.
//!
//! The fault handler looks sites up in signal context while translator
//! threads keep adding new ones, so the table is lock-free: open
//! addressing over fixed, pre-allocated storage, with atomics only.  A
//! site is entered under every 32-byte block of host code it covers
//! (accesses are a few instructions long, so usually one or two blocks);
//! a lookup probes the entries of the faulting pc's block and checks the
//! range.  An entry is claimed with a compare-and-swap to `BUSY`, filled,
//! and published by storing its key with release ordering; readers skip
//! entries they cannot match, so they never see a half-written one.
//!
//! Sites are only forgotten all at once, when QEMU flushes its code buffer
//! (no vCPU runs then): the storage is handed back to the kernel, which
//! zeroes it.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::sys;

const BLOCK_BITS: u32 = 5;
const EMPTY: u64 = 0;
const BUSY: u64 = u64::MAX;
/// Probes before giving up; keeps the handler's worst case short.
const MAX_PROBES: usize = 128;

/// Entries of the process-wide table.  A site takes one or two entries;
/// 2^22 entries (256 MiB of address space, touched only as it fills) hold
/// about three million sites at the 75% load limit, more than a full
/// default-sized code buffer produces between two flushes.  When it is
/// full, [`SiteTable::insert`] says so and the code generator keeps that
/// access on the soft-TLB path.
pub const DEFAULT_CAPACITY: usize = 1 << 22;

#[repr(C)]
struct Entry {
    key: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
    slow_path: AtomicU64,
    /// Where the site can be patched to jump to its slow path directly
    /// (0: nowhere, or patched already).
    patch: AtomicU64,
    _pad: [u64; 3],
}

pub struct SiteTable {
    entries: *const Entry,
    capacity: usize,
    used: AtomicUsize,
    registered: AtomicU64,
    demoted: AtomicU64,
}

// SAFETY: the table is only accessed through atomics; the storage lives as
// long as the table and is never moved.
unsafe impl Send for SiteTable {}
// SAFETY: as above.
unsafe impl Sync for SiteTable {}

impl SiteTable {
    /// A table of `capacity` entries (rounded up to a power of two).
    pub fn with_capacity(capacity: usize) -> io::Result<Self> {
        let capacity = capacity.next_power_of_two().max(16);
        let bytes = capacity * std::mem::size_of::<Entry>();
        let mem = sys::reserve(bytes)?;
        // SAFETY: `mem` is a fresh reservation of `bytes` bytes that we own.
        unsafe { sys::protect(mem, bytes, libc::PROT_READ | libc::PROT_WRITE)? };
        Ok(SiteTable {
            entries: mem as *const Entry,
            capacity,
            used: AtomicUsize::new(0),
            registered: AtomicU64::new(0),
            demoted: AtomicU64::new(0),
        })
    }

    fn entry(&self, i: usize) -> &Entry {
        debug_assert!(i < self.capacity);
        // SAFETY: `i` is masked to the capacity, the storage holds
        // `capacity` zero-initialised entries (all-zero atomics are valid).
        unsafe { &*self.entries.add(i) }
    }

    fn home(&self, block: u64) -> usize {
        let h = block.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> (64 - self.capacity.trailing_zeros())) as usize
    }

    /// Sites registered since the table was created.
    pub fn registered(&self) -> u64 {
        self.registered.load(Ordering::Relaxed)
    }

    /// Registers host code `[start, start + len)` with its slow path, and
    /// where it can be patched to skip the access (`patch`, 0 if nowhere).
    /// Returns false when the table is too full; nothing is lost then, the
    /// caller just must not rely on the fault path for this site.
    pub fn insert(&self, start: usize, len: u32, slow_path: usize, patch: usize) -> bool {
        if len == 0 {
            return false;
        }
        let end = start as u64 + u64::from(len);
        let first = (start as u64) >> BLOCK_BITS;
        let last = (end - 1) >> BLOCK_BITS;
        let blocks = (last - first + 1) as usize;
        if self.used.fetch_add(blocks, Ordering::Relaxed) + blocks > self.capacity / 4 * 3 {
            self.used.fetch_sub(blocks, Ordering::Relaxed);
            return false;
        }
        for block in first..=last {
            if !self.insert_block(block, start as u64, end, slow_path as u64, patch as u64) {
                return false;
            }
        }
        self.registered.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn insert_block(&self, block: u64, start: u64, end: u64, slow: u64, patch: u64) -> bool {
        let mask = self.capacity - 1;
        let mut i = self.home(block);
        for _ in 0..MAX_PROBES {
            let e = self.entry(i);
            if e.key
                .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                e.start.store(start, Ordering::Relaxed);
                e.end.store(end, Ordering::Relaxed);
                e.slow_path.store(slow, Ordering::Relaxed);
                e.patch.store(patch, Ordering::Relaxed);
                e.key.store(block + 1, Ordering::Release);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// The entry of the site covering host pc `pc`.
    /// Async-signal-safe: atomic loads only, bounded probing.
    fn find(&self, pc: usize) -> Option<&Entry> {
        let block = (pc as u64) >> BLOCK_BITS;
        let mask = self.capacity - 1;
        let mut i = self.home(block);
        for _ in 0..MAX_PROBES {
            let e = self.entry(i);
            let key = e.key.load(Ordering::Acquire);
            if key == EMPTY {
                return None;
            }
            if key == block + 1 {
                let start = e.start.load(Ordering::Relaxed);
                let end = e.end.load(Ordering::Relaxed);
                if (start..end).contains(&(pc as u64)) {
                    return Some(e);
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The slow path of the site covering host pc `pc`, for the fault
    /// handler: async-signal-safe.
    pub fn lookup(&self, pc: usize) -> Option<usize> {
        self.find(pc)
            .map(|e| e.slow_path.load(Ordering::Relaxed) as usize)
    }

    /// For the site covering `pc`: hands out, once, its patch point and
    /// slow path, so that the caller can make the site jump to its slow
    /// path without faulting (it keeps meeting pages that cannot be
    /// mirrored, such as MMIO).  Later calls for the site return `None`.
    pub fn take_patch(&self, pc: usize) -> Option<(usize, usize)> {
        let e = self.find(pc)?;
        // A plain load first: once handed out, the entry is only read, and
        // its cache line stays shared between the vCPUs.
        if e.patch.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let patch = e.patch.swap(0, Ordering::AcqRel);
        if patch == 0 {
            return None;
        }
        self.demoted.fetch_add(1, Ordering::Relaxed);
        Some((patch as usize, e.slow_path.load(Ordering::Relaxed) as usize))
    }

    /// Sites handed out by [`Self::take_patch`].
    pub fn demoted(&self) -> u64 {
        self.demoted.load(Ordering::Relaxed)
    }

    /// Forgets the sites that start in `[start, start + len)`: QEMU threw
    /// away code it had just generated there and will reuse the space.
    /// Their entries stay allocated (with an empty range) until `clear`.
    pub fn remove_range(&self, start: usize, len: usize) {
        if len == 0 {
            return;
        }
        let (lo, hi) = (start as u64, start as u64 + len as u64);
        let mask = self.capacity - 1;
        for block in (lo >> BLOCK_BITS)..=((hi - 1) >> BLOCK_BITS) {
            let mut i = self.home(block);
            for _ in 0..MAX_PROBES {
                let e = self.entry(i);
                let key = e.key.load(Ordering::Acquire);
                if key == EMPTY {
                    break;
                }
                if key == block + 1 {
                    let s = e.start.load(Ordering::Relaxed);
                    if (lo..hi).contains(&s) {
                        e.end.store(s, Ordering::Release);
                    }
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// Forgets every site.  The caller guarantees that no lookup or insert
    /// runs meanwhile (QEMU flushes its code buffer with all vCPUs stopped).
    pub fn clear(&self) {
        let bytes = self.capacity * std::mem::size_of::<Entry>();
        // SAFETY: the storage is our private anonymous mapping; dropping its
        // pages makes them read back as zeroes, i.e. empty entries.
        let ret = unsafe {
            libc::madvise(
                self.entries as *mut libc::c_void,
                bytes,
                libc::MADV_DONTNEED,
            )
        };
        if ret != 0 {
            for i in 0..self.capacity {
                self.entry(i).key.store(EMPTY, Ordering::Relaxed);
            }
        }
        self.used.store(0, Ordering::Relaxed);
    }
}

impl Drop for SiteTable {
    fn drop(&mut self) {
        let bytes = self.capacity * std::mem::size_of::<Entry>();
        // SAFETY: the storage is ours and, with `&mut self`, unreferenced.
        unsafe { sys::release(self.entries as *mut u8, bytes) };
    }
}

static GLOBAL: OnceLock<SiteTable> = OnceLock::new();

/// The process-wide table, created on first use.
pub fn global() -> &'static SiteTable {
    GLOBAL.get_or_init(|| {
        SiteTable::with_capacity(DEFAULT_CAPACITY).expect("cannot allocate the ESPT site table")
    })
}

/// The process-wide table if it exists; for the fault handler, which must
/// not allocate.
pub fn global_if_created() -> Option<&'static SiteTable> {
    GLOBAL.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_clear() {
        let t = SiteTable::with_capacity(1024).unwrap();
        assert!(t.insert(0x1000, 7, 0x9000, 0));
        assert!(t.insert(0x1007, 5, 0x9100, 0));
        // Crosses a 32-byte block boundary.
        assert!(t.insert(0x103c, 8, 0x9200, 0));
        assert_eq!(t.lookup(0x1000), Some(0x9000));
        assert_eq!(t.lookup(0x1006), Some(0x9000));
        assert_eq!(t.lookup(0x1007), Some(0x9100));
        assert_eq!(t.lookup(0x100c), None);
        assert_eq!(t.lookup(0x103c), Some(0x9200));
        assert_eq!(t.lookup(0x1043), Some(0x9200));
        assert_eq!(t.lookup(0x1044), None);
        assert_eq!(t.registered(), 3);
        assert_eq!(t.take_patch(0x1003), None, "no patch point");
        assert!(t.insert(0x2000, 6, 0x9400, 0x1ff8));
        assert_eq!(t.take_patch(0x2005), Some((0x1ff8, 0x9400)));
        assert_eq!(t.take_patch(0x2005), None, "handed out once");
        assert_eq!(t.lookup(0x2005), Some(0x9400), "still redirects");
        t.remove_range(0x1000, 0x10);
        assert_eq!(t.lookup(0x1000), None);
        assert_eq!(t.lookup(0x1007), None);
        assert_eq!(t.lookup(0x103c), Some(0x9200));
        t.clear();
        assert_eq!(t.lookup(0x103c), None);
        assert!(t.insert(0x1000, 7, 0x9300, 0));
        assert_eq!(t.lookup(0x1003), Some(0x9300));
    }

    #[test]
    fn refuses_when_full() {
        let t = SiteTable::with_capacity(16);
        let t = t.unwrap();
        let mut ok = 0;
        for i in 0..64 {
            if t.insert(0x10_0000 + i * 64, 4, 1, 0) {
                ok += 1;
            }
        }
        assert_eq!(ok, 12);
        for i in 0..ok {
            assert_eq!(t.lookup(0x10_0000 + i * 64 + 3), Some(1));
        }
    }

    #[test]
    fn concurrent_inserts_and_lookups() {
        let t = std::sync::Arc::new(SiteTable::with_capacity(1 << 16).unwrap());
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..5000u64 {
                        let pc = (0x4000_0000 + w * 0x100_0000 + i * 40) as usize;
                        assert!(t.insert(pc, 9, pc + 1, 0));
                    }
                })
            })
            .collect();
        let reader = {
            let t = t.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    for i in 0..5000u64 {
                        let pc = (0x4000_0000 + i * 40 + 4) as usize;
                        if let Some(s) = t.lookup(pc) {
                            assert_eq!(s, pc - 4 + 1);
                        }
                    }
                }
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        for w in 0..2u64 {
            for i in 0..5000u64 {
                let pc = (0x4000_0000 + w * 0x100_0000 + i * 40) as usize;
                assert_eq!(t.lookup(pc + 8), Some(pc + 1));
            }
        }
    }
}
