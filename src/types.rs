//! Small value types, so that a guest page is never confused with a host
//! address, nor a slot with an mmu index.

use crate::abi;
use crate::error::{Error, Result};

/// Guest (and shadow) page size: 4 KiB.
pub const PAGE_BITS: u32 = abi::ESPT_GUEST_PAGE_BITS;
pub const PAGE_SIZE: u64 = 1 << PAGE_BITS;
/// A slot spans the whole 32-bit guest virtual address space.
pub const SLOT_SPAN: u64 = 1 << abi::ESPT_SLOT_BITS;
/// Pages in one slot.
pub const SLOT_PAGES: u64 = SLOT_SPAN / PAGE_SIZE;
/// Largest guest page the engine tracks as one unit (LPAE 1 GiB block).
pub const MAX_LARGE_PAGE: u64 = 1 << 30;

/// A 4 KiB page of one 32-bit guest virtual address space.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestPage(u32);

impl GuestPage {
    /// The page that holds guest virtual address `va`.
    pub fn containing(va: u64) -> Result<Self> {
        if va >= SLOT_SPAN {
            return Err(Error::GuestAddress(va));
        }
        Ok(GuestPage((va >> PAGE_BITS) as u32))
    }

    /// The page with this page number (`va >> 12`).
    pub fn from_number(n: u32) -> Result<Self> {
        if u64::from(n) >= SLOT_PAGES {
            return Err(Error::GuestAddress(u64::from(n) << PAGE_BITS));
        }
        Ok(GuestPage(n))
    }

    pub fn number(self) -> u32 {
        self.0
    }

    /// Offset of the page in its slot.
    pub fn offset(self) -> u64 {
        u64::from(self.0) << PAGE_BITS
    }

    /// The page `n` pages further on, if still in the address space.
    pub fn plus(self, n: u64) -> Option<Self> {
        let next = u64::from(self.0) + n;
        (next < SLOT_PAGES).then_some(GuestPage(next as u32))
    }
}

/// The host address of a 4 KiB page of guest RAM, as QEMU maps it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPage(usize);

impl HostPage {
    /// The page holding host address `addr`.
    pub fn containing(addr: usize) -> Self {
        HostPage(addr & !(PAGE_SIZE as usize - 1))
    }

    pub fn addr(self) -> usize {
        self.0
    }

    /// The page `n` pages further on.
    pub fn plus(self, n: u64) -> Self {
        HostPage(self.0 + (n * PAGE_SIZE) as usize)
    }
}

/// What a shadow page allows.  There is no write-only: x86 cannot map it,
/// and the soft TLB never grants a store without a load on RAM.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prot {
    ReadOnly,
    ReadWrite,
}

impl Prot {
    /// From the contract's `ESPT_PROT_*` bits; `None` when nothing may be
    /// mapped (no read right), which leaves the page on the slow path.
    pub fn from_bits(bits: u32) -> Option<Self> {
        let read = bits & abi::ESPT_PROT_READ != 0;
        let write = bits & abi::ESPT_PROT_WRITE != 0;
        match (read, write) {
            (true, true) => Some(Prot::ReadWrite),
            (true, false) => Some(Prot::ReadOnly),
            // A store-only right is not worth a mapping: the page stays on
            // the slow path, which is always correct.
            (false, _) => None,
        }
    }

    pub fn to_bits(self) -> u32 {
        match self {
            Prot::ReadOnly => abi::ESPT_PROT_READ,
            Prot::ReadWrite => abi::ESPT_PROT_READ | abi::ESPT_PROT_WRITE,
        }
    }

    pub fn writable(self) -> bool {
        self == Prot::ReadWrite
    }

    pub(crate) fn host_flags(self) -> libc::c_int {
        match self {
            Prot::ReadOnly => libc::PROT_READ,
            Prot::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }
}

/// One of QEMU's mmu indexes (a privilege level / translation regime).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MmuIdx(u8);

impl MmuIdx {
    pub const COUNT: usize = abi::ESPT_MAX_MMU_IDX as usize;

    pub fn new(idx: u32) -> Result<Self> {
        if idx as usize >= Self::COUNT {
            return Err(Error::OutOfRange {
                what: "mmu_idx",
                value: idx.into(),
                max: Self::COUNT as u64 - 1,
            });
        }
        Ok(MmuIdx(idx as u8))
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of mmu indexes, bit `i` for mmu_idx `i`, as QEMU's flushes pass it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IdxMap(u16);

impl IdxMap {
    pub const ALL: IdxMap = IdxMap(u16::MAX);

    /// Bits above the supported indexes are ignored.
    pub fn from_bits(bits: u32) -> Self {
        IdxMap(bits as u16)
    }

    pub const EMPTY: IdxMap = IdxMap(0);

    pub fn iter(self) -> impl Iterator<Item = MmuIdx> {
        (0..MmuIdx::COUNT as u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(MmuIdx)
    }

    pub fn bits(self) -> u32 {
        u32::from(self.0)
    }

    pub fn with(self, idx: MmuIdx) -> Self {
        IdxMap(self.0 | 1 << idx.0)
    }

    pub fn contains(self, idx: MmuIdx) -> bool {
        self.0 & (1 << idx.0) != 0
    }
}

/// A slot of the region: one 4 GiB window plus its guard space.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotId(u32);

impl SlotId {
    /// Slot 0 is never mapped: unfilled table entries point at it, so an
    /// access through them faults into the slow path.
    pub const EMPTY: SlotId = SlotId(0);
    /// Slot 1 is never mapped either: every table entry of an address
    /// space left to the soft TLB points at it.  Translated code for the
    /// shadow that still runs then (until the vCPU leaves it) faults into
    /// the slow path on each access, which is correct, and QEMU tells the
    /// two states apart by this base (`espt_soft_base()`).
    pub const SOFT: SlotId = SlotId(1);
    /// Slots that are never handed out.
    pub const RESERVED: u32 = 2;

    pub(crate) fn new(i: u32) -> Self {
        SlotId(i)
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_page_bounds() {
        assert_eq!(GuestPage::containing(0x1234).unwrap().number(), 1);
        assert_eq!(
            GuestPage::containing(0xffff_ffff).unwrap().number(),
            0xf_ffff
        );
        assert!(GuestPage::containing(1 << 32).is_err());
        assert!(GuestPage::from_number(1 << 20).is_err());
        let last = GuestPage::from_number(0xf_ffff).unwrap();
        assert_eq!(last.plus(1), None);
        assert_eq!(last.offset(), 0xffff_f000);
    }

    #[test]
    fn prot_from_bits() {
        assert_eq!(Prot::from_bits(0), None);
        assert_eq!(Prot::from_bits(abi::ESPT_PROT_WRITE), None);
        assert_eq!(Prot::from_bits(abi::ESPT_PROT_READ), Some(Prot::ReadOnly));
        assert_eq!(Prot::from_bits(3), Some(Prot::ReadWrite));
        assert_eq!(Prot::ReadWrite.to_bits(), 3);
    }

    #[test]
    fn idxmap_iterates_set_bits() {
        let v: Vec<usize> = IdxMap::from_bits(0b1000_0101)
            .iter()
            .map(|i| i.index())
            .collect();
        assert_eq!(v, vec![0, 2, 7]);
        assert_eq!(IdxMap::ALL.iter().count(), MmuIdx::COUNT);
        assert!(MmuIdx::new(16).is_err());
    }

    #[test]
    fn host_page_rounds_down() {
        assert_eq!(HostPage::containing(0x7000_1fff).addr(), 0x7000_1000);
        assert_eq!(
            HostPage::containing(0x7000_1000).plus(2).addr(),
            0x7000_3000
        );
    }
}
