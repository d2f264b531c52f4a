//! Where any live slot may hold something, readable without the engine's
//! lock: the union of the slots' region bitmaps ([`crate::slot`]).
//!
//! Every broadcast page invalidation of the guest reaches the engine once
//! per vCPU, and most name pages that no address space mirrors (a process
//! on the soft TLB exits, a fork/exec loop): with two vCPUs, a million
//! such calls in a fork/exec benchmark contended for the engine's lock.
//! A page whose 1 MiB region no live slot may hold needs no lock at all.
//!
//! Bits are set (under the lock) before a mapping is made there and
//! cleared only by [`HeldRegions::rebuild`] from the live slots, under the
//! lock, so a clear bit is never wrong about a live slot.  A fill racing
//! with the lock-free check cannot leave a stale page behind: the fill
//! either finds its lookup overtaken by the invalidation and mirrors
//! nothing, or was made from a walk after the page-table change (QEMU's
//! `espt_lookup_current()`), or the invalidation is a broadcast whose
//! last delivery runs with every vCPU stopped.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::slot::Regions;
use crate::types::GuestPage;

#[derive(Debug)]
pub struct HeldRegions([AtomicU64; Regions::WORDS]);

impl Default for HeldRegions {
    fn default() -> HeldRegions {
        HeldRegions(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl HeldRegions {
    /// Something may be mapped in `[first, first + pages)` from now on.
    pub fn mark(&self, first: GuestPage, pages: u64) {
        for r in Regions::span(first, pages) {
            self.0[r / 64].fetch_or(1 << (r % 64), Ordering::Release);
        }
    }

    /// Whether a live slot may hold something of `[first, first + pages)`.
    pub fn may_hold(&self, first: GuestPage, pages: u64) -> bool {
        Regions::span(first, pages)
            .any(|r| self.0[r / 64].load(Ordering::Acquire) & (1 << (r % 64)) != 0)
    }

    /// Recomputes the union from the region bitmaps of the live slots.
    pub fn rebuild<'a>(&self, live: impl Iterator<Item = &'a Regions>) {
        let mut union = [0u64; Regions::WORDS];
        for regions in live {
            for (u, w) in union.iter_mut().zip(regions.words()) {
                *u |= w;
            }
        }
        for (cell, u) in self.0.iter().zip(union) {
            cell.store(u, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_rebuilds() {
        let h = HeldRegions::default();
        let p = |n| GuestPage::from_number(n).unwrap();
        assert!(!h.may_hold(p(0), 1));
        h.mark(p(300), 1);
        assert!(h.may_hold(p(256), 256));
        assert!(!h.may_hold(p(0), 256));
        h.rebuild(std::iter::empty());
        assert!(!h.may_hold(p(300), 1));
    }
}
