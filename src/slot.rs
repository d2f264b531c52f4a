//! What one slot mirrors: its pages, the pages it revoked (still mapped,
//! with no rights), the large guest pages they came from, and how many
//! host mappings (VMAs) that costs.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::ram::Backing;
use crate::types::{GuestPage, HostPage, Prot, MAX_LARGE_PAGE, PAGE_SIZE, SLOT_SPAN};

/// One mirrored guest page.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub host: HostPage,
    pub backing: Backing,
    pub prot: Prot,
}

/// What the host has at a page of the slot that is not reserved space.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Entry {
    mapping: Mapping,
    /// Revoked: still a mapping of the same file page, but `PROT_NONE`, so
    /// that every access faults as if nothing were mapped.  Revoking is
    /// an `mprotect`, a few times cheaper than turning the page back into
    /// reserved space, and mapping over a revoked page costs less than
    /// mapping into the reservation (nothing to split); mapping the same
    /// page again is one `mprotect` (see [`SlotMap::revoked`]).
    revoked: bool,
}

impl Entry {
    /// Whether `next`, at the page after `self`, extends the same host
    /// mapping: the kernel merges two adjacent shared mappings of one file
    /// at consecutive offsets with the same protection into one VMA.
    fn continued_by(&self, next: &Entry) -> bool {
        self.mapping.backing.fd == next.mapping.backing.fd
            && self.mapping.backing.offset + PAGE_SIZE == next.mapping.backing.offset
            && self.host_prot() == next.host_prot()
    }

    fn host_prot(&self) -> Option<Prot> {
        (!self.revoked).then_some(self.mapping.prot)
    }
}

/// Pages per region of [`Regions`]: 1 MiB, an ARM section.
const REGION_PAGES: u64 = 256;

/// Pages in a slot.
const SLOT_PAGES: u64 = SLOT_SPAN / PAGE_SIZE;

/// Which 1 MiB regions of a slot's 4 GiB have held a page or a large page
/// since the slot was emptied.  32-bit Linux invalidates pages one at a
/// time, every one in every address space of the vCPU, and almost all of
/// them are mirrored in none: one bit per region answers that for a slot
/// in a few nanoseconds, where the page maps cost a few hundred.  Bits are
/// set with every page recorded and cleared only when no page of the slot
/// is mirrored any more (emptied, or all revoked at once: a revoked page
/// needs no flush), so a clear bit is never wrong.
#[derive(Debug)]
pub struct Regions(Box<[u64; Regions::WORDS]>);

impl Regions {
    pub const WORDS: usize = (SLOT_PAGES / REGION_PAGES / 64) as usize;

    /// The bitmap, one bit per region.
    pub fn words(&self) -> &[u64; Regions::WORDS] {
        &self.0
    }

    fn mark(&mut self, first: GuestPage, pages: u64) {
        for r in Self::span(first, pages) {
            self.0[r / 64] |= 1 << (r % 64);
        }
    }

    fn any(&self, first: GuestPage, pages: u64) -> bool {
        Self::span(first, pages).any(|r| self.0[r / 64] & (1 << (r % 64)) != 0)
    }

    /// The regions that `[first, first + pages)` overlaps (`pages` > 0).
    pub fn span(first: GuestPage, pages: u64) -> std::ops::RangeInclusive<usize> {
        let first = u64::from(first.number());
        let last = (first + pages.max(1) - 1).min(SLOT_PAGES - 1);
        (first / REGION_PAGES) as usize..=(last / REGION_PAGES) as usize
    }
}

impl Default for Regions {
    fn default() -> Regions {
        Regions(Box::new([0; Regions::WORDS]))
    }
}

/// Host memory the engine's book-keeping of one page costs: its entry in
/// the slot's map and in the reverse map, with their allocators'
/// overhead.  An estimate on the high side (a `BTreeMap` entry of 48
/// bytes with its share of a node, a hash-map bucket and a small vector).
pub const PAGE_BOOK_BYTES: u64 = 128;

/// A host page table maps 2 MiB with one 4 KiB page; the tables above
/// it, one 4 KiB page per 1 GiB, are counted the same way.
pub const TABLE_BYTES: u64 = 4096;
const PTE_TABLE_PAGES: u64 = 512;
const PMD_TABLE_PAGES: u64 = PTE_TABLE_PAGES * 512;

/// Which host page tables a slot's mappings have needed since it was
/// last emptied.  The kernel frees a page table only when nothing around
/// it is mapped any more, which in a slot whose pages are unmapped one
/// by one (each turned back into reserved space beside its neighbours)
/// is when the whole slot is emptied; so a table is counted from the
/// first page mapped under it until then.  This is what a guest that maps
/// one page in every 2 MiB of its 4 GiB under many ASIDs makes the host
/// pay: a page table per page it touches.
#[derive(Debug)]
struct Tables {
    pte: Box<[u64; (SLOT_PAGES / PTE_TABLE_PAGES / 64) as usize]>,
    pmd: u8,
    count: u64,
}

impl Tables {
    fn mark(&mut self, page: GuestPage) {
        let n = u64::from(page.number());
        let (t, g) = ((n / PTE_TABLE_PAGES) as usize, n / PMD_TABLE_PAGES);
        if self.pte[t / 64] & (1 << (t % 64)) == 0 {
            self.pte[t / 64] |= 1 << (t % 64);
            self.count += 1;
        }
        if self.pmd & (1 << g) == 0 {
            self.pmd |= 1 << g;
            self.count += 1;
        }
    }
}

impl Default for Tables {
    fn default() -> Tables {
        Tables {
            pte: Box::new([0; (SLOT_PAGES / PTE_TABLE_PAGES / 64) as usize]),
            pmd: 0,
            count: 0,
        }
    }
}

/// What a slot costs the host: mappings (VMAs) and memory (page tables
/// and book-keeping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub vmas: u64,
    pub bytes: u64,
}

/// Book-keeping of one slot.  It mirrors exactly the host mappings, so
/// that invalidation never needs to ask the kernel what is mapped.
#[derive(Default, Debug)]
pub struct SlotMap {
    /// Every page that is not reserved space: mirrored or revoked.
    pages: BTreeMap<GuestPage, Entry>,
    /// Of those, the mirrored ones.
    live: usize,
    /// Large guest pages: first page -> number of 4 KiB pages.
    large: BTreeMap<GuestPage, u64>,
    /// Adjacent pages that the kernel keeps in one VMA.
    continued: u64,
    /// Adjacent pages in two VMAs (protection or file offset differ): no
    /// reserved gap between them.
    touching: u64,
    /// Where in the slot `pages` and `large` may have entries.
    regions: Regions,
    /// The host page tables under the slot's mappings.
    tables: Tables,
}

/// How one page relates to its two neighbours.
#[derive(Default)]
struct Adjacency {
    continued: u64,
    touching: u64,
}

impl SlotMap {
    /// Pages mirrored.
    pub fn mirrored_count(&self) -> usize {
        self.live
    }

    /// Whether the slot holds no host mapping at all, revoked ones
    /// included: emptying it would free no VMA.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Pages revoked.
    pub fn revoked_count(&self) -> usize {
        self.pages.len() - self.live
    }

    /// Host page tables under the slot's mappings (counted as `Tables` says).
    pub fn page_tables(&self) -> u64 {
        self.tables.count
    }

    /// Host memory the slot costs: page tables and book-keeping.  Guest
    /// RAM itself is not counted: it is QEMU's, whatever mirrors it.
    pub fn host_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_BOOK_BYTES + self.tables.count * TABLE_BYTES
    }

    /// [`Self::vmas`] and [`Self::host_bytes`] together.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            vmas: self.vmas(),
            bytes: self.host_bytes(),
        }
    }

    /// Whether some page is revoked.
    pub fn has_revoked(&self) -> bool {
        self.revoked_count() > 0
    }

    /// The mapping mirroring `page`, if it is mirrored.
    pub fn get(&self, page: GuestPage) -> Option<&Mapping> {
        self.pages
            .get(&page)
            .filter(|e| !e.revoked)
            .map(|e| &e.mapping)
    }

    /// Whether `page` is revoked and mapped the RAM page `m` maps: giving
    /// it `m`'s rights is then enough to mirror `m`.
    pub fn revives_as(&self, page: GuestPage, m: &Mapping) -> bool {
        self.revoked(page)
            .is_some_and(|r| r.host == m.host && r.backing == m.backing)
    }

    /// What `page` mirrored before it was revoked.
    pub fn revoked(&self, page: GuestPage) -> Option<&Mapping> {
        self.pages
            .get(&page)
            .filter(|e| e.revoked)
            .map(|e| &e.mapping)
    }

    /// The mirrored pages.
    pub fn iter(&self) -> impl Iterator<Item = (GuestPage, &Mapping)> {
        self.pages
            .iter()
            .filter(|(_, e)| !e.revoked)
            .map(|(p, e)| (*p, &e.mapping))
    }

    /// Host mappings this slot adds to the one reservation VMA: each run
    /// of pages is a VMA, and splits the reserved space around it into one
    /// more VMA, unless it touches another run.
    pub fn vmas(&self) -> u64 {
        2 * (self.pages.len() as u64 - self.continued) - self.touching
    }

    fn adjacency(&self, page: GuestPage, e: &Entry) -> Adjacency {
        let mut a = Adjacency::default();
        let left = page
            .number()
            .checked_sub(1)
            .and_then(|n| self.pages.get(&GuestPage::from_number(n).ok()?));
        let right = page.plus(1).and_then(|n| self.pages.get(&n));
        for (joined, present) in [
            (left.is_some_and(|l| l.continued_by(e)), left.is_some()),
            (right.is_some_and(|r| e.continued_by(r)), right.is_some()),
        ] {
            if joined {
                a.continued += 1;
            } else if present {
                a.touching += 1;
            }
        }
        a
    }

    /// What `page`'s own entry adds to `vmas()`.
    fn vmas_of(&self, page: GuestPage, e: &Entry) -> i64 {
        let a = self.adjacency(page, e);
        2 * (1 - a.continued as i64) - a.touching as i64
    }

    /// How `vmas()` would change if `m` were mirrored at `page` (which
    /// must not be mirrored now; a revoked page is replaced).
    pub fn vma_delta_of_insert(&self, page: GuestPage, m: &Mapping) -> i64 {
        let new = Entry {
            mapping: *m,
            revoked: false,
        };
        let old = self.pages.get(&page).map_or(0, |e| self.vmas_of(page, e));
        self.vmas_of(page, &new) - old
    }

    fn put(&mut self, page: GuestPage, e: Entry) {
        let a = self.adjacency(page, &e);
        self.continued += a.continued;
        self.touching += a.touching;
        self.live += usize::from(!e.revoked);
        self.regions.mark(page, 1);
        self.tables.mark(page);
        self.pages.insert(page, e);
    }

    fn take(&mut self, page: GuestPage) -> Option<Entry> {
        let e = self.pages.remove(&page)?;
        let a = self.adjacency(page, &e);
        self.continued -= a.continued;
        self.touching -= a.touching;
        self.live -= usize::from(!e.revoked);
        Some(e)
    }

    /// Records `m` at `page`, replacing what was revoked there; the page
    /// must not be mirrored.
    pub fn insert(&mut self, page: GuestPage, m: Mapping) {
        debug_assert!(self.get(page).is_none());
        self.take(page);
        self.put(
            page,
            Entry {
                mapping: m,
                revoked: false,
            },
        );
    }

    /// Forgets `page` (turned back into reserved space), mirrored or
    /// revoked; returns its mapping if it was mirrored.
    pub fn remove(&mut self, page: GuestPage) -> Option<Mapping> {
        self.take(page).filter(|e| !e.revoked).map(|e| e.mapping)
    }

    /// Marks the mirrored `page` revoked (made `PROT_NONE`); returns its
    /// mapping.
    pub fn revoke(&mut self, page: GuestPage) -> Option<Mapping> {
        let e = self.take(page)?;
        self.put(
            page,
            Entry {
                mapping: e.mapping,
                revoked: true,
            },
        );
        (!e.revoked).then_some(e.mapping)
    }

    /// The first and last mirrored pages, if any.
    pub fn mirrored_span(&self) -> Option<(GuestPage, GuestPage)> {
        let mut live = self.pages.iter().filter(|(_, e)| !e.revoked);
        let first = *live.next()?.0;
        let last = self
            .pages
            .iter()
            .rev()
            .find(|(_, e)| !e.revoked)
            .map_or(first, |(p, _)| *p);
        Some((first, last))
    }

    /// Marks every mirrored page revoked, after one `mprotect` made the
    /// whole slot `PROT_NONE`; returns what they mirrored.  Their regions
    /// and large pages are forgotten: a revoked page needs no page flush
    /// (it faults whatever the guest changed, and a fill compares it with
    /// the new translation), so flushes that meet only revoked pages skip
    /// the slot.
    pub fn revoke_all(&mut self) -> Vec<(GuestPage, Mapping)> {
        let mut revoked = Vec::with_capacity(self.live);
        for (p, e) in self.pages.iter_mut().filter(|(_, e)| !e.revoked) {
            e.revoked = true;
            revoked.push((*p, e.mapping));
        }
        self.live = 0;
        self.forget_regions();
        self.recount_adjacency();
        revoked
    }

    /// Forgets where the slot mirrors: for a slot whose every page will be
    /// revoked before anything can reach it again.
    pub fn forget_regions(&mut self) {
        self.large.clear();
        self.regions = Regions::default();
    }

    /// Recomputes `continued` and `touching` from the pages in order.
    fn recount_adjacency(&mut self) {
        let (mut continued, mut touching) = (0, 0);
        let mut prev: Option<(GuestPage, &Entry)> = None;
        for (p, e) in &self.pages {
            if let Some((pp, pe)) = prev {
                if pp.plus(1) == Some(*p) {
                    if pe.continued_by(e) {
                        continued += 1;
                    } else {
                        touching += 1;
                    }
                }
            }
            prev = Some((*p, e));
        }
        self.continued = continued;
        self.touching = touching;
    }

    pub fn set_prot(&mut self, page: GuestPage, prot: Prot) {
        if let Some(mut e) = self.take(page) {
            debug_assert!(!e.revoked);
            e.mapping.prot = prot;
            self.put(page, e);
        }
    }

    /// Pages mirrored in `[first, first + pages)`.
    pub fn mapped_in(&self, first: GuestPage, pages: u64) -> Vec<GuestPage> {
        self.range(first, pages)
            .filter(|(_, e)| !e.revoked)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Whether any page of `[first, first + pages)` is mirrored.
    pub fn any_in(&self, first: GuestPage, pages: u64) -> bool {
        self.range(first, pages).any(|(_, e)| !e.revoked)
    }

    fn range(&self, first: GuestPage, pages: u64) -> impl Iterator<Item = (&GuestPage, &Entry)> {
        let upper = match first.plus(pages) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        self.pages.range((Bound::Included(first), upper))
    }

    /// Whether the slot may mirror something of `[first, first + pages)`,
    /// a page or a large page: `false` is certain, `true` says to look.
    pub fn may_hold(&self, first: GuestPage, pages: u64) -> bool {
        self.regions.any(first, pages)
    }

    /// Where in the slot it may hold something (see [`Self::may_hold`]).
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    pub fn record_large(&mut self, first: GuestPage, pages: u64) {
        self.regions.mark(first, pages);
        self.large.insert(first, pages);
    }

    /// Large guest pages that overlap `[first, first + pages)`.
    pub fn large_overlapping(&self, first: GuestPage, pages: u64) -> Vec<(GuestPage, u64)> {
        let span = MAX_LARGE_PAGE / PAGE_SIZE;
        let lo = GuestPage::from_number(first.number().saturating_sub((span - 1) as u32))
            .expect("page number below an existing one");
        let end = u64::from(first.number()) + pages;
        self.large
            .range(lo..)
            .take_while(|(p, _)| u64::from(p.number()) < end)
            .filter(|(p, n)| u64::from(p.number()) + **n > u64::from(first.number()))
            .map(|(p, n)| (*p, *n))
            .collect()
    }

    pub fn forget_large(&mut self, first: GuestPage) {
        self.large.remove(&first);
    }

    pub fn large_count(&self) -> usize {
        self.large.len()
    }
}

/// Groups sorted pages into runs of consecutive page numbers, so that
/// each run is unmapped with one call.
pub fn consecutive_runs(pages: &[GuestPage]) -> Vec<(GuestPage, u64)> {
    let mut runs: Vec<(GuestPage, u64)> = Vec::new();
    for &p in pages {
        match runs.last_mut() {
            Some((first, n)) if u64::from(first.number()) + *n == u64::from(p.number()) => *n += 1,
            _ => runs.push((p, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: u32) -> GuestPage {
        GuestPage::from_number(n).unwrap()
    }

    fn mapping(file_page: u64, prot: Prot) -> Mapping {
        Mapping {
            host: HostPage::containing(0x1000_0000 + (file_page * PAGE_SIZE) as usize),
            backing: Backing {
                fd: 3,
                offset: file_page * PAGE_SIZE,
                dump: crate::ram::Dump::Include,
            },
            prot,
        }
    }

    #[test]
    fn runs_follow_contiguity() {
        let mut s = SlotMap::default();
        s.insert(page(10), mapping(100, Prot::ReadWrite));
        assert_eq!(s.vmas(), 2);
        // Contiguous in the file and the guest: merges.
        assert_eq!(
            s.vma_delta_of_insert(page(11), &mapping(101, Prot::ReadWrite)),
            0
        );
        s.insert(page(11), mapping(101, Prot::ReadWrite));
        assert_eq!(s.vmas(), 2);
        // Not contiguous in the file: a run of its own, touching the first.
        s.insert(page(12), mapping(500, Prot::ReadWrite));
        assert_eq!(s.vmas(), 3);
        // Different protection: three VMAs side by side, no gaps between.
        // [gap][10 rw][11 ro][12 rw][gap] = 2 * 3 runs - 2 touching.
        s.set_prot(page(11), Prot::ReadOnly);
        assert_eq!(s.vmas(), 4);
        s.set_prot(page(11), Prot::ReadWrite);
        assert_eq!(s.vmas(), 3);
        // Extending a run costs nothing.
        s.insert(page(9), mapping(99, Prot::ReadWrite));
        assert_eq!(s.vmas(), 3);
        // A hole in a run: [9][gap][11][12] = 2 * 3 - 1.
        s.remove(page(10));
        assert_eq!(s.vmas(), 5);
        // Far away: a run and a gap of its own.
        s.insert(page(100), mapping(7, Prot::ReadOnly));
        assert_eq!(s.vmas(), 7);
        s.remove(page(100));
        s.remove(page(9));
        s.remove(page(11));
        s.remove(page(12));
        assert_eq!(s.vmas(), 0);
        assert!(s.is_empty());
    }

    #[test]
    fn revoking_everything_keeps_the_pages_and_merges_their_vmas() {
        let mut s = SlotMap::default();
        // [10-11 rw][12 ro] at consecutive offsets, [20 rw], and 30
        // revoked already.
        s.insert(page(10), mapping(100, Prot::ReadWrite));
        s.insert(page(11), mapping(101, Prot::ReadWrite));
        s.insert(page(12), mapping(102, Prot::ReadOnly));
        s.insert(page(20), mapping(7, Prot::ReadWrite));
        s.insert(page(30), mapping(8, Prot::ReadWrite));
        s.revoke(page(30));
        s.record_large(page(16), 16);
        assert_eq!(s.vmas(), 2 * 4 - 1);
        assert_eq!(s.mirrored_span(), Some((page(10), page(20))));
        let mut revoked = s.revoke_all();
        revoked.sort_by_key(|(p, _)| *p);
        let pages: Vec<GuestPage> = revoked.iter().map(|(p, _)| *p).collect();
        assert_eq!(pages, [page(10), page(11), page(12), page(20)]);
        assert_eq!(revoked[2].1, mapping(102, Prot::ReadOnly));
        // 10-12 are one VMA now, 20 and 30 one each, with their gaps.
        assert_eq!((s.mirrored_count(), s.revoked_count(), s.vmas()), (0, 5, 6));
        assert_eq!(s.mirrored_span(), None);
        assert_eq!(s.revoked(page(12)), Some(&mapping(102, Prot::ReadOnly)));
        assert!(!s.may_hold(page(10), 32), "nothing mirrored to flush");
        assert_eq!(s.large_count(), 0);
        // A page brought back is mirrored, and flushes see it again.
        s.insert(page(11), mapping(101, Prot::ReadWrite));
        assert_eq!(s.mirrored_span(), Some((page(11), page(11))));
        assert!(s.may_hold(page(11), 1));
        assert_eq!(s.vmas(), 8);
    }

    #[test]
    fn revoked_pages_keep_their_vmas_until_replaced_or_removed() {
        let mut s = SlotMap::default();
        for i in 0..4 {
            s.insert(page(10 + i), mapping(100 + u64::from(i), Prot::ReadWrite));
        }
        assert_eq!((s.mirrored_count(), s.vmas()), (4, 2));
        // Revoking one page in the middle of a run splits it in three
        // VMAs side by side: [gap][10-11 rw][12 none][13 rw][gap].
        assert_eq!(s.revoke(page(12)), Some(mapping(102, Prot::ReadWrite)));
        assert_eq!((s.mirrored_count(), s.vmas()), (3, 4));
        assert!(s.get(page(12)).is_none());
        assert_eq!(s.revoked(page(12)), Some(&mapping(102, Prot::ReadWrite)));
        assert!(s.has_revoked());
        assert_eq!(s.mapped_in(page(10), 4), vec![page(10), page(11), page(13)]);
        assert!(!s.any_in(page(12), 1));
        assert_eq!(s.iter().count(), 3);
        // Revoked neighbours at consecutive offsets merge.
        s.revoke(page(13));
        assert_eq!((s.mirrored_count(), s.vmas()), (2, 3));
        // Mapping the same page again over a revoked one: back to one run.
        let back = mapping(102, Prot::ReadWrite);
        assert_eq!(s.vma_delta_of_insert(page(12), &back), 0);
        s.insert(page(12), back);
        assert_eq!((s.mirrored_count(), s.vmas()), (3, 3));
        // Another page over a revoked one: [10-12 rw][13 none -> 900 rw].
        let other = mapping(900, Prot::ReadWrite);
        assert_eq!(s.vma_delta_of_insert(page(13), &other), 0);
        s.insert(page(13), other);
        assert_eq!((s.mirrored_count(), s.vmas()), (4, 3));
        assert!(!s.has_revoked());
        // Removing a revoked page gives its VMA back to the reservation.
        s.revoke(page(13));
        assert_eq!(s.remove(page(13)), None, "it was not mirrored");
        assert_eq!((s.mirrored_count(), s.vmas()), (3, 2));
        for i in 10..13 {
            s.revoke(page(i));
        }
        assert_eq!((s.mirrored_count(), s.vmas()), (0, 2));
        assert!(!s.is_empty(), "revoked pages still hold a VMA");
    }

    #[test]
    fn large_pages_overlap_queries() {
        let mut s = SlotMap::default();
        s.record_large(page(256), 256); // a 1 MiB section
        s.record_large(page(4096), 512); // a 2 MiB block
        assert_eq!(s.large_overlapping(page(300), 1), vec![(page(256), 256)]);
        assert_eq!(s.large_overlapping(page(511), 1), vec![(page(256), 256)]);
        assert!(s.large_overlapping(page(512), 1).is_empty());
        assert_eq!(s.large_overlapping(page(0), 5000).len(), 2);
        s.forget_large(page(256));
        assert!(s.large_overlapping(page(300), 1).is_empty());
    }

    #[test]
    fn runs_of_pages() {
        let r = consecutive_runs(&[page(1), page(2), page(3), page(7), page(9), page(10)]);
        assert_eq!(r, vec![(page(1), 3), (page(7), 1), (page(9), 2)]);
    }

    #[test]
    fn may_hold_is_never_wrong_when_it_says_no() {
        let mut s = SlotMap::default();
        let last = page((SLOT_PAGES - 1) as u32);
        assert!(!s.may_hold(page(0), SLOT_PAGES));
        s.insert(page(300), mapping(1, Prot::ReadWrite));
        // The 1 MiB region of page 300 is pages 256..512.
        assert!(s.may_hold(page(256), 1) && s.may_hold(page(511), 1));
        assert!(!s.may_hold(page(255), 1) && !s.may_hold(page(512), 1));
        assert!(s.may_hold(page(0), 257) && !s.may_hold(page(0), 256));
        // Revoked and then removed: may still say yes, never no too soon.
        s.revoke(page(300));
        assert!(s.may_hold(page(300), 1));
        s.remove(page(300));
        assert!(s.may_hold(page(300), 1));
        // A large page: every page it covers, its last region included.
        s.record_large(page(1024), 512);
        assert!(s.may_hold(page(1535), 1) && !s.may_hold(page(1536), 1));
        assert!(!s.may_hold(last, 1));
        s.insert(last, mapping(2, Prot::ReadOnly));
        assert!(s.may_hold(last, 1) && s.may_hold(last, 1000));
        // Emptied as the engine empties a slot: a fresh map.
        let s = SlotMap::default();
        assert!(!s.may_hold(page(300), 1) && !s.may_hold(last, 1));
    }
}
