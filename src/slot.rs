//! What one slot mirrors: its pages, the large guest pages they came
//! from, and how many host mappings (VMAs) that costs.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::ram::Backing;
use crate::types::{GuestPage, HostPage, Prot, MAX_LARGE_PAGE, PAGE_SIZE};

/// One mirrored guest page.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub host: HostPage,
    pub backing: Backing,
    pub prot: Prot,
}

impl Mapping {
    /// Whether `next`, mirrored at the page after `self`, extends the same
    /// host mapping: the kernel merges two adjacent shared mappings of one
    /// file at consecutive offsets with the same protection into one VMA.
    fn continued_by(&self, next: &Mapping) -> bool {
        self.backing.fd == next.backing.fd
            && self.backing.offset + PAGE_SIZE == next.backing.offset
            && self.prot == next.prot
    }
}

/// Book-keeping of one slot.  It mirrors exactly the host mappings, so
/// that invalidation never needs to ask the kernel what is mapped.
#[derive(Default, Debug)]
pub struct SlotMap {
    pages: BTreeMap<GuestPage, Mapping>,
    /// Large guest pages: first page -> number of 4 KiB pages.
    large: BTreeMap<GuestPage, u64>,
    /// Adjacent mirrored pages that the kernel keeps in one VMA.
    continued: u64,
    /// Adjacent mirrored pages in two VMAs (protection or file offset
    /// differ): no reserved gap between them.
    touching: u64,
}

/// How one mirrored page relates to its two neighbours.
#[derive(Default)]
struct Adjacency {
    continued: u64,
    touching: u64,
}

impl SlotMap {
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    pub fn get(&self, page: GuestPage) -> Option<&Mapping> {
        self.pages.get(&page)
    }

    pub fn iter(&self) -> impl Iterator<Item = (GuestPage, &Mapping)> {
        self.pages.iter().map(|(p, m)| (*p, m))
    }

    /// Host mappings this slot adds to the one reservation VMA: each run
    /// of pages is a VMA, and splits the reserved space around it into one
    /// more VMA, unless it touches another run.
    pub fn vmas(&self) -> u64 {
        2 * (self.pages.len() as u64 - self.continued) - self.touching
    }

    fn adjacency(&self, page: GuestPage, m: &Mapping) -> Adjacency {
        let mut a = Adjacency::default();
        let left = page
            .number()
            .checked_sub(1)
            .and_then(|n| self.pages.get(&GuestPage::from_number(n).ok()?));
        let right = page.plus(1).and_then(|n| self.pages.get(&n));
        for (joined, present) in [
            (left.is_some_and(|l| l.continued_by(m)), left.is_some()),
            (right.is_some_and(|r| m.continued_by(r)), right.is_some()),
        ] {
            if joined {
                a.continued += 1;
            } else if present {
                a.touching += 1;
            }
        }
        a
    }

    /// How `vmas()` would change if `m` were mirrored at `page` (which
    /// must be unmapped now).
    pub fn vma_delta_of_insert(&self, page: GuestPage, m: &Mapping) -> i64 {
        let a = self.adjacency(page, m);
        2 * (1 - a.continued as i64) - a.touching as i64
    }

    /// Records `m` at `page`; the page must not be mapped.
    pub fn insert(&mut self, page: GuestPage, m: Mapping) {
        debug_assert!(!self.pages.contains_key(&page));
        let a = self.adjacency(page, &m);
        self.continued += a.continued;
        self.touching += a.touching;
        self.pages.insert(page, m);
    }

    pub fn remove(&mut self, page: GuestPage) -> Option<Mapping> {
        let m = self.pages.remove(&page)?;
        let a = self.adjacency(page, &m);
        self.continued -= a.continued;
        self.touching -= a.touching;
        Some(m)
    }

    pub fn set_prot(&mut self, page: GuestPage, prot: Prot) {
        if let Some(mut m) = self.remove(page) {
            m.prot = prot;
            self.insert(page, m);
        }
    }

    /// Pages mirrored in `[first, first + pages)`.
    pub fn mapped_in(&self, first: GuestPage, pages: u64) -> Vec<GuestPage> {
        let end = first.plus(pages);
        let upper = match end {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        self.pages
            .range((Bound::Included(first), upper))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Whether any page of `[first, first + pages)` is mirrored.
    pub fn any_in(&self, first: GuestPage, pages: u64) -> bool {
        let upper = match first.plus(pages) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        self.pages
            .range((Bound::Included(first), upper))
            .next()
            .is_some()
    }

    pub fn record_large(&mut self, first: GuestPage, pages: u64) {
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
}
