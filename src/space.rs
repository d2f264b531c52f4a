//! Guest address spaces: the unit that is mirrored.
//!
//! An address space is what the target names with a [`ContextKey`] when
//! a vCPU switches to it (an ASID under a translation regime, with the
//! DACR view for short descriptors), together with the translation
//! tables it walks ([`SpaceId`]).  Its mirror is one slot per mmu
//! index, host mappings that belong to the process and so serve every
//! vCPU that runs it: a page one vCPU mirrored is there for the others,
//! and an invalidation drops it once for all of them.  The governor
//! decides per address space, from what all of those vCPUs cost it.

use crate::governor::{Governor, Mode, Tuning};
use crate::types::{MmuIdx, SlotId};

/// A guest address space, as QEMU names it when it switches (the ASID and
/// whatever else selects the translation regime).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ContextKey(pub u64);

/// The translation tables an address space walks, as the target names
/// them (their base registers; 0 where it does not say).  Two vCPUs may
/// give one ASID different tables (each core's TLB is its own), and then
/// they run two address spaces.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tables(pub [u64; 2]);

/// What names an address space: the target's key and the tables.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpaceId {
    pub key: ContextKey,
    pub tables: Tables,
}

impl From<ContextKey> for SpaceId {
    fn from(key: ContextKey) -> SpaceId {
        SpaceId {
            key,
            tables: Tables::default(),
        }
    }
}

/// The slots of one address space, one per mmu index.
pub type SlotSet = [Option<SlotId>; MmuIdx::COUNT];

/// One address space.
#[derive(Debug)]
pub struct AddressSpace {
    pub slots: SlotSet,
    pub governor: Governor,
    /// How many vCPUs run it now.  Their tables may point at its slots,
    /// and they may hold a slot base in a register, so that none of its
    /// slots may be given to another address space meanwhile.
    running: u32,
}

impl AddressSpace {
    /// A new address space, first run at `now`.
    pub fn new(t: &Tuning, now: u64) -> AddressSpace {
        let mut governor = Governor::new(t, now);
        governor.leave(now);
        AddressSpace {
            slots: [None; MmuIdx::COUNT],
            governor,
            running: 0,
        }
    }

    /// A new address space that a new vCPU starts in: its governor
    /// starts afresh, on the soft TLB unless it is off.
    pub fn new_running(t: &Tuning, now: u64) -> AddressSpace {
        AddressSpace {
            slots: [None; MmuIdx::COUNT],
            governor: Governor::new(t, now),
            running: 1,
        }
    }

    /// A vCPU starts running it; returns its mode.  Its run time (the
    /// governor's clock) runs while any vCPU runs it.
    pub fn enter(&mut self, t: &Tuning, now: u64) -> Mode {
        self.running += 1;
        if self.running == 1 {
            self.governor.enter(t, now)
        } else {
            self.governor.mode()
        }
    }

    /// A vCPU stops running it.
    pub fn leave(&mut self, now: u64) {
        self.running = self.running.saturating_sub(1);
        if self.running == 0 {
            self.governor.leave(now);
        }
    }

    pub fn running(&self) -> u32 {
        self.running
    }

    pub fn mode(&self) -> Mode {
        self.governor.mode()
    }

    /// Whether it has any slot.
    pub fn is_mirrored(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }
}
