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
//! The table is large and touched only as it fills, so where entries land
//! decides what it costs: hashing each block on its own scattered the
//! sites of one translation block over as many pages, and the first touch
//! of each page of the table (a host page fault that zeroes it) was 2.4%
//! of a Linux boot's host time, more than generating the code.  Blocks are
//! therefore hashed by groups: the 128 blocks of a 4 KiB stretch of host
//! code, which QEMU fills in order, keep their order in one 4 KiB run of
//! 32-byte entries (0.7-1.3% of the boot in two profiles).  Code denser
//! in accesses than QEMU emits (each site has its own out-of-line slow
//! path) could fill a group's chains; a block whose chain is full gets a
//! scattered home of its own instead.
//!
//! Sites are only forgotten all at once, when QEMU flushes its code buffer
//! (no vCPU runs then): the storage is handed back to the kernel, which
//! zeroes it.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::sys;

const BLOCK_BITS: u32 = 5;
/// Blocks hashed together: one group of entries is one host page.
const GROUP_BITS: u32 = 7;
const EMPTY: u64 = 0;
const BUSY: u64 = u64::MAX;
/// Probes before giving up; keeps the handler's worst case short.
const MAX_PROBES: usize = 128;

/// Entries of the process-wide table.  A site takes one or two entries;
/// 2^22 entries (128 MiB of address space, touched only as it fills) hold
/// about three million sites at the 75% load limit, more than a full
/// default-sized code buffer produces between two flushes.  When it is
/// full, [`SiteTable::insert`] says so and the code generator keeps that
/// access on the soft-TLB path.
pub const DEFAULT_CAPACITY: usize = 1 << 22;

/// An entry: the site's host code `[start, start + len)`, and its slow
/// path and patch point as offsets from `start` (translated code and its
/// out-of-line slow paths are never 2 GiB apart; a site that would need
/// more is not entered).
#[repr(C, align(32))]
struct Entry {
    key: AtomicU64,
    start: AtomicU64,
    /// 0 once the site is removed.
    len: AtomicU32,
    slow_delta: AtomicI32,
    /// Where the site can be patched to jump to its slow path directly
    /// ([`NO_PATCH`]: nowhere, or patched already).
    patch_delta: AtomicI32,
    _pad: u32,
}

const NO_PATCH: i32 = i32::MIN;

const _: () = assert!(std::mem::size_of::<Entry>() == 32);
const _: () = assert!(std::mem::size_of::<Entry>() << GROUP_BITS == 4096);

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

    fn hash(&self, x: u64) -> usize {
        let h = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> (64 - self.capacity.trailing_zeros())) as usize
    }

    /// Where the entries of `block` are looked for: first the probe chain
    /// from its place in its group, then, for a block whose chain was full
    /// when it was entered, one from a home of its own.  A chain is never
    /// emptied again (until [`Self::clear`]), so a lookup that meets an
    /// empty entry in the first chain need not look further.
    fn homes(&self, block: u64) -> [usize; 2] {
        let group_mask = (1usize << GROUP_BITS) - 1;
        let group = self.hash(block >> GROUP_BITS) & !group_mask;
        let home = (group | (block as usize & group_mask)) & (self.capacity - 1);
        [home, self.hash(block ^ 0x5555_5555_5555_5555)]
    }

    /// The `MAX_PROBES` entries of the probe chain from `home`.
    fn chain(&self, home: usize) -> impl Iterator<Item = &Entry> {
        let mask = self.capacity - 1;
        (0..MAX_PROBES).map(move |k| self.entry((home + k) & mask))
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
        let delta = |to: usize| i32::try_from(to as i64 - start as i64).ok();
        let Some(slow) = delta(slow_path) else {
            return false;
        };
        let patch = match patch {
            0 => NO_PATCH,
            p => delta(p).filter(|&d| d != NO_PATCH).unwrap_or(NO_PATCH),
        };
        let end = start as u64 + u64::from(len);
        let first = (start as u64) >> BLOCK_BITS;
        let last = (end - 1) >> BLOCK_BITS;
        let blocks = (last - first + 1) as usize;
        if self.used.fetch_add(blocks, Ordering::Relaxed) + blocks > self.capacity / 4 * 3 {
            self.used.fetch_sub(blocks, Ordering::Relaxed);
            return false;
        }
        for block in first..=last {
            if !self.insert_block(block, start as u64, len, slow, patch) {
                return false;
            }
        }
        self.registered.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn insert_block(&self, block: u64, start: u64, len: u32, slow: i32, patch: i32) -> bool {
        for home in self.homes(block) {
            for e in self.chain(home) {
                if e.key
                    .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    e.start.store(start, Ordering::Relaxed);
                    e.len.store(len, Ordering::Relaxed);
                    e.slow_delta.store(slow, Ordering::Relaxed);
                    e.patch_delta.store(patch, Ordering::Relaxed);
                    e.key.store(block + 1, Ordering::Release);
                    return true;
                }
            }
        }
        false
    }

    /// Calls `visit` on each entry of `block`'s chains up to the first
    /// empty one, until it returns something.
    fn scan<'a, T>(
        &'a self,
        block: u64,
        mut visit: impl FnMut(&'a Entry) -> Option<T>,
    ) -> Option<T> {
        for home in self.homes(block) {
            for e in self.chain(home) {
                match e.key.load(Ordering::Acquire) {
                    EMPTY => return None,
                    key if key == block + 1 => {
                        if let Some(t) = visit(e) {
                            return Some(t);
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// The entry of the site covering host pc `pc`.
    /// Async-signal-safe: atomic loads only, bounded probing.
    fn find(&self, pc: usize) -> Option<&Entry> {
        self.scan((pc as u64) >> BLOCK_BITS, |e| {
            let start = e.start.load(Ordering::Relaxed);
            let len = e.len.load(Ordering::Relaxed);
            (start..start + u64::from(len))
                .contains(&(pc as u64))
                .then_some(e)
        })
    }

    /// The slow path of the site covering host pc `pc`, for the fault
    /// handler: async-signal-safe.
    pub fn lookup(&self, pc: usize) -> Option<usize> {
        self.find(pc).map(Self::slow_path)
    }

    fn slow_path(e: &Entry) -> usize {
        let start = e.start.load(Ordering::Relaxed);
        start.wrapping_add_signed(e.slow_delta.load(Ordering::Relaxed).into()) as usize
    }

    /// For the site covering `pc`: hands out, once, its patch point and
    /// slow path, so that the caller can make the site jump to its slow
    /// path without faulting (it keeps meeting pages that cannot be
    /// mirrored, such as MMIO).  Later calls for the site return `None`.
    pub fn take_patch(&self, pc: usize) -> Option<(usize, usize)> {
        let e = self.find(pc)?;
        // A plain load first: once handed out, the entry is only read, and
        // its cache line stays shared between the vCPUs.
        if e.patch_delta.load(Ordering::Relaxed) == NO_PATCH {
            return None;
        }
        let delta = e.patch_delta.swap(NO_PATCH, Ordering::AcqRel);
        if delta == NO_PATCH {
            return None;
        }
        self.demoted.fetch_add(1, Ordering::Relaxed);
        let patch = e
            .start
            .load(Ordering::Relaxed)
            .wrapping_add_signed(delta.into());
        Some((patch as usize, Self::slow_path(e)))
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
        for block in (lo >> BLOCK_BITS)..=((hi - 1) >> BLOCK_BITS) {
            self.scan(block, |e| {
                if (lo..hi).contains(&e.start.load(Ordering::Relaxed)) {
                    e.len.store(0, Ordering::Release);
                }
                None::<()>
            });
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
    fn code_in_order_fills_the_table_in_order() {
        let t = SiteTable::with_capacity(1 << 16).unwrap();
        let base = 0x7f00_1234_5000u64 >> BLOCK_BITS;
        let first = t.homes(base)[0];
        assert_eq!(first % (1 << GROUP_BITS), 0);
        for i in 1..(1u64 << GROUP_BITS) {
            let want = first + i as usize;
            assert_eq!(t.homes(base + i)[0], want, "block {i} of the page");
        }
        // The next page of code goes elsewhere, as a whole.
        let next = t.homes(base + (1 << GROUP_BITS))[0];
        assert_eq!(next % (1 << GROUP_BITS), 0);
        let entry_page = |i: usize| i * std::mem::size_of::<Entry>() / 4096;
        assert_eq!(entry_page(first), entry_page(first + (1 << GROUP_BITS) - 1));
    }

    #[test]
    fn code_dense_with_accesses_still_fits() {
        // A site every 24 bytes for 64 KiB: more entries than blocks.
        let t = SiteTable::with_capacity(1 << 16).unwrap();
        let base = 0x7f00_4000_0000usize;
        let sites: Vec<usize> = (0..0x1_0000 / 24).map(|i| base + i * 24).collect();
        for &pc in &sites {
            assert!(t.insert(pc, 20, pc + 0x800, 0), "site at {pc:#x}");
        }
        for &pc in &sites {
            assert_eq!(t.lookup(pc + 19), Some(pc + 0x800));
            assert_eq!(t.lookup(pc + 21), None);
        }
    }

    #[test]
    fn slow_paths_far_away_are_refused() {
        let t = SiteTable::with_capacity(1024).unwrap();
        let start = 0x7f00_0000_0000usize;
        assert!(!t.insert(start, 4, start + (3 << 30), 0));
        assert_eq!(t.lookup(start + 1), None);
        assert_eq!(t.registered(), 0);
        // Slow paths before the site work, and a far patch point only
        // makes the site unpatchable.
        assert!(t.insert(start, 4, start - 0x100, start + (3 << 30)));
        assert_eq!(t.lookup(start + 3), Some(start - 0x100));
        assert_eq!(t.take_patch(start + 3), None);
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
