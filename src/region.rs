//! The reserved host region and its slots.
//!
//! ```text
//!   base                                   base + stride
//!   | slot 0: 4 GiB   | guard: 4 GiB        | slot 1: 4 GiB | guard | ...
//! ```
//!
//! A translated access computes `slot_base + zero_extend(guest_va)`, so it
//! can reach at most 4 GiB plus the access size past a slot's base.  The
//! guard space after every slot is never mapped: an access that runs past
//! the end of the guest address space faults there instead of touching
//! another slot (docs/design.md invariant 3).  A guard as large as the slot
//! keeps every slot base 8 GiB aligned and costs only address space.

use crate::error::{Error, Result};
use crate::ram::Dump;
use crate::sys;
use crate::types::{GuestPage, Prot, SlotId, PAGE_SIZE, SLOT_SPAN};
use std::io;
use std::os::fd::RawFd;

/// Guard space after each slot.
pub const GUARD: u64 = SLOT_SPAN;
/// Distance between two slot bases.
pub const STRIDE: u64 = SLOT_SPAN + GUARD;

/// A reservation of `nb_slots` slots.  Dropping it releases the address
/// space; no vCPU may use it by then.
#[derive(Debug)]
pub struct Region {
    base: usize,
    nb_slots: u32,
}

impl Region {
    /// The bytes of address space a region of `nb_slots` slots takes.
    pub fn size_of(nb_slots: u32) -> u64 {
        u64::from(nb_slots) * STRIDE
    }

    pub fn reserve(nb_slots: u32) -> Result<Region> {
        let size = Region::size_of(nb_slots);
        let base = sys::reserve(size as usize).map_err(|source| Error::Reserve {
            size_gib: size >> 30,
            source,
        })?;
        Ok(Region {
            base: base as usize,
            nb_slots,
        })
    }

    pub fn base(&self) -> usize {
        self.base
    }

    pub fn size(&self) -> u64 {
        u64::from(self.nb_slots) * STRIDE
    }

    pub fn nb_slots(&self) -> u32 {
        self.nb_slots
    }

    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.base && ((addr - self.base) as u64) < self.size()
    }

    /// Host address of the first byte of `slot`.
    pub fn slot_base(&self, slot: SlotId) -> usize {
        assert!(
            slot.index() < self.nb_slots as usize,
            "{slot:?} out of region"
        );
        self.base + (slot.index() as u64 * STRIDE) as usize
    }

    /// The slot an address of the region belongs to (guard included).
    pub fn slot_of(&self, addr: usize) -> Option<SlotId> {
        self.contains(addr)
            .then(|| SlotId::new(((addr - self.base) as u64 / STRIDE) as u32))
    }

    fn range(&self, slot: SlotId, first: GuestPage, pages: u64) -> (*mut u8, usize) {
        assert!(
            first.offset() + pages * PAGE_SIZE <= SLOT_SPAN,
            "pages beyond the slot"
        );
        let addr = self.slot_base(slot) + first.offset() as usize;
        (addr as *mut u8, (pages * PAGE_SIZE) as usize)
    }

    /// Mirrors `pages` pages of `fd` from `offset` at `first` in `slot`.
    /// `populate` prefaults the page-table entries, so that the first
    /// access does not take a second (minor) fault.
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &self,
        slot: SlotId,
        first: GuestPage,
        pages: u64,
        fd: RawFd,
        offset: u64,
        prot: Prot,
        populate: bool,
        dump: Dump,
    ) -> io::Result<()> {
        let (addr, len) = self.range(slot, first, pages);
        // SAFETY: `range` checked the pages lie inside this region's slot.
        unsafe { sys::map_shared_fixed(addr, len, fd, offset, prot.host_flags(), populate) }?;
        if dump == Dump::Exclude {
            // SAFETY: as above.  A new mapping does not inherit the advice
            // of the reserved space it replaces, hence one call per mapping.
            unsafe { sys::dont_dump(addr, len) }?;
        }
        Ok(())
    }

    /// Makes `pages` pages from `first` in `slot` fault again.
    pub fn unmap(&self, slot: SlotId, first: GuestPage, pages: u64) -> io::Result<()> {
        let (addr, len) = self.range(slot, first, pages);
        // SAFETY: `range` checked the pages lie inside this region's slot.
        unsafe { sys::unmap_to_reserved(addr, len) }
    }

    /// Makes `pages` pages from `first` in `slot` fault again, keeping
    /// their mappings (`PROT_NONE`): cheaper than [`Self::unmap`], and a
    /// later [`Self::map`] over them cheaper than into reserved space.
    pub fn revoke(&self, slot: SlotId, first: GuestPage, pages: u64) -> io::Result<()> {
        let (addr, len) = self.range(slot, first, pages);
        // SAFETY: `range` checked the pages lie inside this region's slot.
        unsafe { sys::protect(addr, len, libc::PROT_NONE) }
    }

    pub fn protect(
        &self,
        slot: SlotId,
        first: GuestPage,
        pages: u64,
        prot: Prot,
    ) -> io::Result<()> {
        let (addr, len) = self.range(slot, first, pages);
        // SAFETY: `range` checked the pages lie inside this region's slot.
        unsafe { sys::protect(addr, len, prot.host_flags()) }
    }

    /// Empties a whole slot with one call.  The kernel's cost grows with
    /// what was mapped, which is why the engine does this off the vCPU's
    /// path (see [`crate::reclaim`]).
    pub fn clear_slot(&self, slot: SlotId) -> io::Result<()> {
        let first = GuestPage::from_number(0).expect("page 0");
        self.unmap(slot, first, SLOT_SPAN / PAGE_SIZE)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the region is ours alone and its owner (the engine) is
        // going away, so nothing maps or reads it any more.
        unsafe { sys::release(self.base as *mut u8, self.size() as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_separated_by_guards() {
        let r = Region::reserve(3).unwrap();
        let s0 = r.slot_base(SlotId::new(0));
        let s1 = r.slot_base(SlotId::new(1));
        assert_eq!((s1 - s0) as u64, STRIDE);
        assert_eq!(s0 % (8 << 30), r.base() % (8 << 30));
        assert!(r.contains(s0));
        assert!(r.contains(s1 + STRIDE as usize * 2 - 1));
        assert!(!r.contains(s0 + r.size() as usize));
        assert_eq!(
            r.slot_of(s1 + (SLOT_SPAN + 5) as usize),
            Some(SlotId::new(1))
        );
    }

    #[test]
    #[should_panic(expected = "out of region")]
    fn slot_out_of_region_panics() {
        let r = Region::reserve(1).unwrap();
        r.slot_base(SlotId::new(1));
    }

    #[test]
    fn huge_reservation_fails_cleanly() {
        // 2^47 bytes cannot fit next to anything else in a 47-bit user space.
        let e = Region::reserve(1 << 14).unwrap_err();
        assert!(e.to_string().contains("cannot reserve"), "{e}");
    }
}
