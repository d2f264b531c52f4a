//! A vCPU as the engine sees it: the slot-base table its translated code
//! reads, the address space it runs, and which of the two ways (the
//! shadow or the soft TLB) its table says.
//!
//! Everything a vCPU mirrors belongs to the address space it runs
//! ([`crate::space`]), shared with every other vCPU that runs it: per
//! vCPU there is only the table.  The engine writes a vCPU's table on the
//! vCPU's own thread (it holds a slot base in a register until its block
//! ends, or until a helper it called returns), or while every vCPU is
//! stopped; see docs/design.md, "Concurrency".

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::abi::EsptSlotTable;
use crate::governor::Mode;
use crate::region::Region;
use crate::space::{SlotSet, SpaceId};
use crate::types::{MmuIdx, SlotId};

/// The per-vCPU table that translated code reads: one slot base per mmu
/// index.  Owned by QEMU (or a test); the engine only stores into it.
pub struct SlotTable(NonNull<EsptSlotTable>);

// SAFETY: the table is accessed through atomics only (see `cell`).
unsafe impl Send for SlotTable {}
// SAFETY: as above.
unsafe impl Sync for SlotTable {}

impl SlotTable {
    /// # Safety
    /// `table` must stay valid until the vCPU is destroyed, and only the
    /// engine may write to it meanwhile.
    pub unsafe fn from_raw(table: *mut EsptSlotTable) -> Option<Self> {
        NonNull::new(table).map(SlotTable)
    }

    fn cell(&self, idx: MmuIdx) -> &AtomicU64 {
        // SAFETY: the table is valid (from_raw's contract); AtomicU64 has
        // the layout of u64, and translated code only reads it.
        unsafe {
            &*(std::ptr::addr_of_mut!((*self.0.as_ptr()).base[idx.index()]) as *const AtomicU64)
        }
    }

    fn set(&self, idx: MmuIdx, base: usize) {
        self.cell(idx).store(base as u64, Ordering::Release);
    }

    /// The slot base translated code uses for `idx`.
    pub fn get(&self, idx: MmuIdx) -> usize {
        self.cell(idx).load(Ordering::Acquire) as usize
    }
}

/// QEMU's cpu_index.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VcpuId(pub u32);

/// One vCPU.
pub struct Vcpu {
    table: SlotTable,
    /// The address space it runs.
    pub context: SpaceId,
    /// The mode its table shows.  The address space's own mode (its
    /// governor's) may have changed since, on another vCPU: this one
    /// follows at its next call into the engine.
    pub mode: Mode,
    /// Table entry of an mmu index without a slot in shadow mode.
    empty: usize,
    /// Table entry of every mmu index in soft mode.
    soft: usize,
}

impl Vcpu {
    pub fn new(table: SlotTable, context: SpaceId, mode: Mode, region: &Region) -> Vcpu {
        Vcpu {
            table,
            context,
            mode,
            empty: region.slot_base(SlotId::EMPTY),
            soft: region.slot_base(SlotId::SOFT),
        }
    }

    /// The table entry for `idx`, given the slots of its address space.
    fn entry(&self, region: &Region, slots: &SlotSet, idx: MmuIdx) -> usize {
        match self.mode {
            Mode::Soft => self.soft,
            Mode::Shadow => slots[idx.index()].map_or(self.empty, |s| region.slot_base(s)),
        }
    }

    /// Writes every entry of the table for `mode` and `slots` (those of
    /// the address space it runs).
    pub fn publish(&mut self, region: &Region, slots: &SlotSet, mode: Mode) {
        self.mode = mode;
        for i in 0..MmuIdx::COUNT {
            let idx = MmuIdx::new(i as u32).expect("index in range");
            self.table.set(idx, self.entry(region, slots, idx));
        }
    }

    /// Points the entry of `idx` at `slot` (in shadow mode).
    pub fn show(&self, region: &Region, idx: MmuIdx, slot: SlotId) {
        if self.mode == Mode::Shadow {
            self.table.set(idx, region.slot_base(slot));
        }
    }

    /// Points the entry of `idx` at the empty slot (in shadow mode): its
    /// address space no longer has a slot for it.
    pub fn hide(&self, idx: MmuIdx) {
        if self.mode == Mode::Shadow {
            self.table.set(idx, self.empty);
        }
    }
}
