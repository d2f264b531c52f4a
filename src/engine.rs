//! The engine: address spaces and their slots, the vCPUs that run them,
//! fills, invalidation, write protection and the host's limits.
//!
//! Where the invariants of docs/design.md live:
//! 1. writable only if the soft TLB says a store goes straight to RAM:
//!    [`Engine::fill`] maps with exactly the protection QEMU passes, and
//!    [`Engine::protect_host_range`] downgrades every shadow of a page
//!    through the reverse map, in every slot;
//! 2. mapped only while the translation is current: the flushes below,
//!    with large guest pages tracked per slot ([`SlotMap::record_large`])
//!    so that a page flush anywhere in one drops all of it;
//! 3. guard space between slots: [`crate::region`];
//! 4. nothing lost: every refusal returns an error the caller turns into
//!    "stay on the slow path", and [`Engine::check`] refuses what cannot
//!    be served before anything is set up;
//! 5. host limits: the VMA budget, enforced before every mapping call
//!    (`Inner::make_room`), and the bound on the host memory of mirrors
//!    (`Inner::ensure_budget`).
//!
//! Sharing: the mirror of an address space is one set of slots, whichever
//! vCPUs run it ([`crate::space`]).  Every invalidation a vCPU makes is
//! applied to every address space, since any vCPU may run any of them
//! next; QEMU makes the guest's local invalidations broadcast while
//! mirrors are shared, so that no vCPU refills a mirror from a soft-TLB
//! entry that another vCPU's invalidation left it (docs/design.md,
//! "Sharing between vCPUs").
//!
//! Concurrency: one mutex guards the book-keeping.  A vCPU's table is
//! written on its own thread, or while every vCPU is stopped; a slot
//! that another vCPU may be using (its address space runs there) is
//! emptied in place, never given to another address space, so that a
//! slot base a vCPU holds in a register always reaches its own address
//! space.  Other threads (write protection, RAM removal, the reclaimer)
//! change mappings, never tables.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;

use crate::abi::EsptStats;
use crate::error::{Error, Result};
use crate::fault;
use crate::governor::{Mode, Tuning, Verdict};
use crate::hash::FastHashMap;
use crate::held::HeldRegions;
use crate::host;
use crate::ram::{Dump, RamBlock, RamBlocks};
use crate::reclaim::{ReclaimQueue, RetiredSlot};
use crate::region::Region;
use crate::sites;
use crate::slot::{consecutive_runs, Footprint, Mapping, SlotMap, PAGE_BOOK_BYTES, TABLE_BYTES};
use crate::space::{AddressSpace, SpaceId, Tables};
use crate::stats::{bump, Counters};
use crate::sys;
use crate::types::{
    GuestPage, HostPage, IdxMap, MmuIdx, Prot, SlotId, MAX_LARGE_PAGE, PAGE_SIZE, SLOT_SPAN,
};
use crate::vcpu::Vcpu;

pub use crate::space::ContextKey;
pub use crate::vcpu::{SlotTable, VcpuId};

/// Slots in the pool per vCPU.  An ARM vCPU uses two or three mmu indexes
/// per address space (EL0, EL1, EL1 with PAN); keeping the slots of about
/// ten address spaces per vCPU alive across context switches covers the
/// runnable processes of a busy guest (more are recycled least recently
/// used first), and a few more let retired slots wait for the reclaimer.  A slot costs 8 GiB of address space and
/// no memory; mappings are bounded by the VMA budget, not by slots.
pub const SLOTS_PER_VCPU: u32 = 32;
/// Extra slots so that a burst of flushes does not stall on reclaiming.
pub const SPARE_SLOTS: u32 = 8;
/// 4096 slots of 8 GiB are 32 TiB, a quarter of the x86_64 user space.
pub const MAX_SLOTS: u32 = 4096;
pub const MAX_VCPUS: u32 = 512;
/// Attempts to take the engine's lock, after the first, before sleeping on it: a few
/// microseconds of `pause`, about what a holder's mmap or munmap takes.
const LOCK_SPINS: u32 = 2000;
/// Range flushes longer than this retire the whole slot: dropping pages
/// one run at a time costs more than refilling what the vCPU still uses.
pub const FLUSH_RANGE_MAX_PAGES: u64 = 64;
/// Unmapped pages are revoked (kept as `PROT_NONE` mappings, see
/// `unmap_pages`) while the engine's VMAs stay below this share of the
/// budget: half, so that revoked pages leave at least the other half to
/// pages in use (an eviction costs far more than the microseconds a
/// revocation saves).  They go when their slot is emptied.
const REVOKE_BUDGET_SHARE: u64 = 2;
/// Mappings kept free for the rest of QEMU (thread stacks, RAM blocks,
/// libraries loaded later) below `vm.max_map_count`.
pub const VMA_MARGIN_MIN: u64 = 4096;
/// The fewest mappings the engine starts with: a Linux guest's working
/// set takes thousands; with fewer, nearly every fill would be refused
/// and the guest would pay for faults and get nothing back.
pub const VMA_BUDGET_MIN: u64 = 4096;
/// The host memory that mirrors may cost (page tables and book-keeping,
/// see [`SlotMap::host_bytes`]) is bounded by this share of guest RAM...
pub const HOST_MEMORY_SHARE_OF_RAM: u64 = 4;
/// ... or by this much, whichever is more, whatever the guest maps, how
/// often, and under how many address spaces.
pub const HOST_MEMORY_MIN: u64 = 64 << 20;
/// Address space that QEMU takes after the engine has started, beside
/// guest RAM: thread stacks, malloc arenas, ROMs, device buffers.
const ADDRESS_SPACE_HEADROOM: u64 = 1 << 30;
const ADDRESS_SPACE_PER_VCPU: u64 = 128 << 20;

/// Engine parameters (see `EsptConfig` in the contract header).
#[derive(Clone, Debug)]
pub struct Config {
    pub nb_vcpus: u32,
    pub nb_mmu_idx: u32,
    pub guest_page_bits: u32,
    /// 0: a default from `nb_vcpus`.
    pub nb_slots: u32,
    /// 0: from `vm.max_map_count`.
    pub vma_budget: u64,
    /// When to shadow an address space ([`crate::governor`]).
    pub governor: Tuning,
    /// Bytes of guest RAM QEMU allocates after the engine starts (0:
    /// unknown): checked against the address-space limit, and the base
    /// of the bound on the host memory mirrors may cost.
    pub guest_ram_size: u64,
}

impl Config {
    pub fn new(nb_vcpus: u32) -> Self {
        Config {
            nb_vcpus,
            nb_mmu_idx: MmuIdx::COUNT as u32,
            guest_page_bits: crate::types::PAGE_BITS,
            nb_slots: 0,
            vma_budget: 0,
            governor: Tuning::always_shadow(),
            guest_ram_size: 0,
        }
    }

    /// The most host memory mirrors may cost.
    pub fn host_memory_limit(&self) -> u64 {
        (self.guest_ram_size / HOST_MEMORY_SHARE_OF_RAM).max(HOST_MEMORY_MIN)
    }

    /// Slots in the region, the never-mapped slots 0 and 1 included.
    pub fn slots(&self) -> u32 {
        if self.nb_slots != 0 {
            return self.nb_slots;
        }
        (SlotId::RESERVED + self.nb_vcpus.saturating_mul(SLOTS_PER_VCPU) + SPARE_SLOTS)
            .min(MAX_SLOTS)
    }
}

/// Whether other vCPUs may be running translated code during an
/// operation: a slot of an address space that another vCPU runs may be
/// given to another address space only while they are all stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherVcpus {
    /// They may run (and hold a slot base in a register).
    MayRun,
    /// They are all stopped: QEMU runs the operation in an exclusive
    /// section, as it runs the flush of the vCPU that broadcast it.
    Stopped,
}

#[derive(Debug)]
struct Live {
    space: SpaceId,
    idx: MmuIdx,
    map: SlotMap,
    last_used: u64,
    /// A whole invalidation met it while no vCPU ran its address space:
    /// what it mirrors is still mapped, and is revoked before a vCPU
    /// enters the address space again ([`Inner::invalidate_slot`]).
    stale: bool,
}

#[derive(Debug)]
enum SlotState {
    /// Slots 0 and 1: never mapped, the targets of unfilled table entries
    /// and of those of address spaces left to the soft TLB.
    Empty,
    Free,
    Live(Live),
    /// Unreachable, waiting for the reclaimer.
    Retired,
}

struct State {
    ram: RamBlocks,
    slots: Vec<SlotState>,
    free: Vec<SlotId>,
    vcpus: BTreeMap<VcpuId, Vcpu>,
    /// Every address space seen (pruned of those without slots that no
    /// vCPU runs once there are many).
    spaces: FastHashMap<SpaceId, AddressSpace>,
    /// Host page of guest RAM -> the shadow pages mirroring it.
    rmap: FastHashMap<HostPage, Vec<(SlotId, GuestPage)>>,
    /// VMAs of all live and retired slots.
    vmas: u64,
    /// Host memory of all live and retired slots ([`SlotMap::host_bytes`]).
    host_bytes: u64,
    pages_now: u64,
    clock: u64,
    /// [`sys::MAPPING_CALLS`] and [`fault::REDIRECTS`] at the last charge.
    calls_seen: u64,
    faults_seen: u64,
}

/// Address spaces kept without slots and without a vCPU running them
/// (for their governor's history) before they are pruned.
const IDLE_SPACES_MAX: usize = 4096;

impl State {
    fn live(&self, slot: SlotId) -> Option<&Live> {
        match &self.slots[slot.index()] {
            SlotState::Live(l) => Some(l),
            _ => None,
        }
    }

    fn live_mut(&mut self, slot: SlotId) -> &mut Live {
        match &mut self.slots[slot.index()] {
            SlotState::Live(l) => l,
            s => panic!("{slot:?} is not live: {s:?}"),
        }
    }

    fn live_slots(&self) -> impl Iterator<Item = (SlotId, &Live)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            SlotState::Live(l) => Some((SlotId::new(i as u32), l)),
            _ => None,
        })
    }

    fn vcpu(&self, id: VcpuId) -> Result<&Vcpu> {
        self.vcpus.get(&id).ok_or(Error::OutOfRange {
            what: "vCPU (not created)",
            value: id.0.into(),
            max: 0,
        })
    }

    /// The address space `id` runs.
    fn space_of(&self, id: VcpuId) -> Option<&AddressSpace> {
        self.vcpus
            .get(&id)
            .and_then(|v| self.spaces.get(&v.context))
    }

    fn space_of_mut(&mut self, id: VcpuId) -> Option<&mut AddressSpace> {
        let key = self.vcpus.get(&id)?.context;
        self.spaces.get_mut(&key)
    }

    /// Rewrites `id`'s table for `mode` and the slots of its address space.
    fn publish(&mut self, region: &Region, id: VcpuId, mode: Mode) {
        if let Some(v) = self.vcpus.get_mut(&id) {
            let slots = self
                .spaces
                .get(&v.context)
                .map_or([None; MmuIdx::COUNT], |s| s.slots);
            v.publish(region, &slots, mode);
        }
    }

    /// Whether a vCPU runs the address space `space` now: its table may
    /// show that space's slots.
    fn runs(&self, space: &SpaceId) -> bool {
        self.spaces.get(space).is_some_and(|s| s.running() > 0)
    }

    /// Whether `slot` may be given to another address space now (by
    /// `by`, on its own thread): no other vCPU runs its address space, or
    /// none runs at all.  Otherwise one may hold its base in a register
    /// until its block ends, and would reach the other address space's
    /// pages through it.
    fn may_give_away(&self, slot: SlotId, by: VcpuId, others: OtherVcpus) -> bool {
        if others == OtherVcpus::Stopped {
            return true;
        }
        let Some(l) = self.live(slot) else {
            return false;
        };
        let mine = self.vcpus.get(&by).is_some_and(|v| v.context == l.space);
        self.spaces
            .get(&l.space)
            .is_none_or(|s| s.running() <= u32::from(mine))
    }

    /// Takes `slot` out of its address space and out of the tables of the
    /// vCPUs running it.  Only where [`Self::may_give_away`] allows.
    fn unlink(&mut self, slot: SlotId) {
        let Some((key, idx)) = self.live(slot).map(|l| (l.space, l.idx)) else {
            return;
        };
        if let Some(s) = self.spaces.get_mut(&key) {
            if s.slots[idx.index()] == Some(slot) {
                s.slots[idx.index()] = None;
            }
        }
        for v in self.vcpus.values().filter(|v| v.context == key) {
            v.hide(idx);
        }
    }

    /// Accounts for a slot whose footprint went from `before` to `after`
    /// (to nothing when it is emptied).
    fn account(&mut self, before: Footprint, after: Footprint) {
        self.vmas = self.vmas + after.vmas - before.vmas;
        self.host_bytes = self.host_bytes + after.bytes - before.bytes;
    }

    fn rmap_remove(&mut self, host: HostPage, slot: SlotId, page: GuestPage) {
        if let Some(v) = self.rmap.get_mut(&host) {
            v.retain(|&(s, p)| (s, p) != (slot, page));
            if v.is_empty() {
                self.rmap.remove(&host);
            }
        }
    }
}

struct Inner {
    region: Region,
    state: Mutex<State>,
    /// Where a live slot may hold something, read without the lock.
    held: HeldRegions,
    queue: ReclaimQueue,
    counters: Counters,
    budget: u64,
    max_map_count: u64,
    /// The bound on [`State::host_bytes`].
    memory_limit: u64,
    tuning: Tuning,
    /// [`sys::coarse_now_ns`] when the engine started.
    epoch: u64,
}

/// What a mapping would exceed.
#[derive(Clone, Copy, Debug)]
enum Scarce {
    /// The VMA budget.
    Vmas,
    /// The bound on the host memory mirrors cost.
    Memory,
}

/// A run's pages beyond this share page tables at worst (a run maps
/// consecutive pages: 512 of them share one).
const PAGES_PER_TABLE_WORST: u64 = 64;

/// What a charge to the governor is for.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// A page newly mapped after a fault.
    Fill(GuestPage),
    /// A guest TLB invalidation.  Its unmaps are not charged: the slots
    /// of an address space sent back to the soft TLB are kept current, so
    /// going back would not save them, and a guest freeing a large buffer
    /// page by page (32-bit Linux does) is no reason to leave the shadow.
    /// The refills that follow, if any, are charged.
    Flush,
    /// Anything else: protection changes, runs, fills that found the page
    /// mirrored already.
    Other,
}

/// One ESPT engine: a region, its slots and the vCPUs using them.
pub struct Engine {
    inner: Arc<Inner>,
    reclaimer: Option<JoinHandle<()>>,
}

impl Engine {
    /// Checks that the host and `config` can be served, without side
    /// effects.
    pub fn check(config: &Config) -> Result<()> {
        let (arch, os) = host::this_host();
        host::check_host(&arch, &os)?;
        host::check_host_page_size(sys::host_page_size())?;
        host::check_guest_page_bits(config.guest_page_bits)?;
        let range = |what, value: u64, max: u64| {
            if value == 0 || value > max {
                Err(Error::OutOfRange { what, value, max })
            } else {
                Ok(())
            }
        };
        range("nb_vcpus", config.nb_vcpus.into(), MAX_VCPUS.into())?;
        range("nb_mmu_idx", config.nb_mmu_idx.into(), MmuIdx::COUNT as u64)?;
        range("nb_slots", config.slots().into(), MAX_SLOTS.into())?;
        if config.slots() <= SlotId::RESERVED {
            return Err(Error::OutOfRange {
                what: "nb_slots (needs 3 or more)",
                value: config.slots().into(),
                max: MAX_SLOTS.into(),
            });
        }
        Ok(())
    }

    /// Reserves the region, installs the fault handler and starts the
    /// reclaimer.
    pub fn new(config: Config) -> Result<Engine> {
        Engine::check(&config)?;
        let nb_slots = config.slots();
        let region_size = Region::size_of(nb_slots);
        if let Some(limit) = sys::address_space_limit() {
            let after = sys::address_space_used()
                + region_size
                + config.guest_ram_size
                + ADDRESS_SPACE_HEADROOM
                + u64::from(config.nb_vcpus) * ADDRESS_SPACE_PER_VCPU;
            if after > limit {
                return Err(Error::AddressSpace {
                    size_gib: region_size >> 30,
                    ram: config.guest_ram_size,
                    limit,
                });
            }
        }
        let max_map_count = host::max_map_count();
        let budget = if config.vma_budget != 0 {
            config.vma_budget
        } else {
            let margin = VMA_MARGIN_MIN.max(max_map_count / 16);
            let budget = max_map_count.saturating_sub(host::current_map_count() + margin);
            if budget < VMA_BUDGET_MIN {
                return Err(Error::MapCount {
                    max_map_count,
                    budget,
                    need: VMA_BUDGET_MIN,
                });
            }
            budget
        };
        let region = Region::reserve(nb_slots)?;
        fault::install().map_err(Error::Signal)?;
        // The handler must find the site table without allocating.
        sites::global();
        if !fault::add_region(region.base(), region.size() as usize) {
            return Err(Error::OutOfRange {
                what: "ESPT engines in one process",
                value: 17,
                max: 16,
            });
        }
        let mut slots = Vec::with_capacity(nb_slots as usize);
        slots.extend((0..SlotId::RESERVED).map(|_| SlotState::Empty));
        slots.extend((SlotId::RESERVED..nb_slots).map(|_| SlotState::Free));
        let state = State {
            ram: RamBlocks::default(),
            slots,
            free: (SlotId::RESERVED..nb_slots)
                .rev()
                .map(SlotId::new)
                .collect(),
            vcpus: BTreeMap::new(),
            spaces: FastHashMap::default(),
            rmap: FastHashMap::default(),
            vmas: 0,
            host_bytes: 0,
            pages_now: 0,
            clock: 0,
            calls_seen: 0,
            faults_seen: 0,
        };
        let inner = Arc::new(Inner {
            region,
            state: Mutex::new(state),
            held: HeldRegions::default(),
            queue: ReclaimQueue::default(),
            counters: Counters::default(),
            budget,
            max_map_count,
            memory_limit: config.host_memory_limit(),
            tuning: config.governor,
            epoch: sys::coarse_now_ns(),
        });
        let worker = inner.clone();
        let reclaimer = Some(
            std::thread::Builder::new()
                .name("espt-reclaim".into())
                .spawn(move || worker.reclaim_loop())
                .map_err(Error::Thread)?,
        );
        log::info!(
            "region {:#x}+{:#x}, {} slots, VMA budget {}",
            inner.region.base(),
            inner.region.size(),
            nb_slots,
            budget
        );
        Ok(Engine { inner, reclaimer })
    }

    pub fn region_base(&self) -> usize {
        self.inner.region.base()
    }

    pub fn region_size(&self) -> u64 {
        self.inner.region.size()
    }

    /// Host address of `slot`'s first byte.
    pub fn slot_base(&self, slot: SlotId) -> usize {
        self.inner.region.slot_base(slot)
    }

    pub fn vma_budget(&self) -> u64 {
        self.inner.budget
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    /// Registers a RAM block whose pages the engine may mirror.  A block
    /// on huge pages is refused: mapping 4 KiB of a hugetlbfs file fails,
    /// so every fill of it would cost a fault and a failed `mmap` for
    /// nothing; refused, its pages stay on the soft TLB like any other
    /// memory the engine does not know.
    pub fn register_ram(
        &self,
        host: usize,
        len: u64,
        fd: i32,
        fd_offset: u64,
        dump: Dump,
    ) -> Result<()> {
        let page_size = sys::file_page_size(fd).map_err(Error::RamFile)?;
        if page_size != PAGE_SIZE {
            return Err(Error::RamPageSize { page_size });
        }
        self.lock().ram.register(RamBlock {
            host,
            len,
            fd,
            fd_offset,
            dump,
        })
    }

    /// Forgets a RAM block after dropping every shadow page of it.
    pub fn unregister_ram(&self, host: usize) {
        let mut st = self.lock();
        let Some(block) = st.ram.block_of(host).copied() else {
            return;
        };
        let in_block =
            |h: &HostPage| h.addr() >= block.host && ((h.addr() - block.host) as u64) < block.len;
        let targets: Vec<(SlotId, GuestPage)> = st
            .rmap
            .iter()
            .filter(|(h, _)| in_block(h))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        self.inner.unmap_targets(&mut st, targets);
        // Revoked pages still map their file: empty every slot holding
        // some, so that none refers to the block once it is gone (and a
        // later block with the same descriptor and offsets cannot be
        // mistaken for it).  Emptied in place, not retired: this runs on
        // QEMU's main thread while vCPUs run, and a vCPU may hold a slot's
        // base in a register until its block ends, so the slot must stay
        // its address space's; a retired slot could be handed to another
        // address space by then.
        let holding: Vec<SlotId> = st
            .live_slots()
            .filter(|(_, l)| l.map.has_revoked())
            .map(|(s, _)| s)
            .collect();
        for slot in holding {
            self.inner.clear_in_place(&mut st, slot);
        }
        st.ram.unregister(block.host);
    }

    /// Adds a vCPU, running address space 0 on the soft TLB (or, with
    /// the governor off, shadowed with no page mirrored yet).
    pub fn create_vcpu(&self, id: VcpuId, table: SlotTable) -> Result<()> {
        let mut st = self.lock();
        if st.vcpus.contains_key(&id) {
            return Err(Error::VcpuExists(id.0));
        }
        let (t, now) = (&self.inner.tuning, self.inner.now());
        let key = SpaceId::default();
        let mode = match st.spaces.get_mut(&key) {
            Some(s) => s.enter(t, now),
            None => {
                let s = AddressSpace::new_running(t, now);
                let mode = s.mode();
                st.spaces.insert(key, s);
                mode
            }
        };
        self.inner.revoke_stale(&mut st, key);
        let v = Vcpu::new(table, key, mode, &self.inner.region);
        st.vcpus.insert(id, v);
        st.publish(&self.inner.region, id, mode);
        Ok(())
    }

    /// Removes a vCPU; its table is not touched afterwards.  What it
    /// mirrored belongs to its address spaces and stays.
    pub fn destroy_vcpu(&self, id: VcpuId) {
        let mut st = self.lock();
        let now = self.inner.now();
        if let Some(s) = st.space_of_mut(id) {
            s.leave(now);
        }
        st.vcpus.remove(&id);
    }

    /// Mirrors the guest page holding `va`, for `idx`, onto the guest RAM
    /// QEMU maps at `host`, with `prot_bits` (`ESPT_PROT_*`), in the
    /// address space `vcpu` runs.  `large_size` is the size of the guest
    /// mapping the page belongs to.
    ///
    /// An error means the page stays on the slow path, which is always
    /// correct; [`Error::VmaBudget`] and [`Error::Map`] are counted as
    /// refused fills.
    pub fn fill(
        &self,
        vcpu: VcpuId,
        idx: MmuIdx,
        va: u64,
        large_size: u64,
        host: usize,
        prot_bits: u32,
    ) -> Result<()> {
        let Some(prot) = Prot::from_bits(prot_bits) else {
            return Ok(());
        };
        let page = GuestPage::containing(va)?;
        let hp = HostPage::containing(host);
        let mut st = self.lock();
        if !self.inner.admit(&mut st, vcpu)? {
            return Ok(());
        }
        let r = self.fill_locked(&mut st, vcpu, idx, page, va, large_size, hp, prot);
        let work = match r {
            Ok(true) => Work::Fill(page),
            _ => Work::Other,
        };
        self.inner.charge(&mut st, vcpu, work);
        r.map(|_| ())
    }

    /// The body of [`Engine::fill`], under the lock and past the governor.
    /// `Ok(true)` when it mapped the page (rather than finding it mirrored
    /// or changing its protection): a page another vCPU of the address
    /// space mirrored a moment ago is found mirrored, so that vCPUs that
    /// fault on one page at once make one mapping.
    #[allow(clippy::too_many_arguments)]
    fn fill_locked(
        &self,
        st: &mut State,
        vcpu: VcpuId,
        idx: MmuIdx,
        page: GuestPage,
        va: u64,
        large_size: u64,
        hp: HostPage,
        prot: Prot,
    ) -> Result<bool> {
        let backing = st.ram.backing(hp)?;
        let slot = self.inner.slot_for(st, vcpu, idx)?;
        let existing = st.live_mut(slot).map.get(page).copied();
        if let Some(m) = existing {
            if m.host == hp {
                // Exactly the soft TLB's rights, downgrades included: a
                // store that faults with espt=off must fault here too.
                if m.prot == prot {
                    return Ok(false);
                }
                if prot > m.prot {
                    bump(&self.inner.counters.upgrades);
                }
                return self.inner.reprotect(st, slot, page, prot).map(|()| false);
            }
            // A different page than the soft TLB now says: replace it.
            self.inner.unmap_pages(st, slot, &[page]);
        }
        let m = Mapping {
            host: hp,
            backing,
            prot,
        };
        self.inner.ensure_budget(st, slot, 1, |st| {
            st.live(slot)
                .map_or(0, |l| l.map.vma_delta_of_insert(page, &m))
        })?;
        self.inner.record_large(st, slot, va, large_size)?;
        // The guest maps again the page it had there before (an access
        // flag or permission change, say): give the revoked mapping its
        // rights back, one mprotect instead of a new mapping.
        let revived = st.live_mut(slot).map.revives_as(page, &m);
        self.inner.held.mark(page, 1);
        let done = if revived {
            self.inner.region.protect(slot, page, 1, prot)
        } else {
            self.inner.region.map(
                slot,
                page,
                1,
                backing.fd,
                backing.offset,
                prot,
                true,
                backing.dump,
            )
        };
        if let Err(e) = done {
            bump(&self.inner.counters.fill_refused);
            return Err(Error::Map(e));
        }
        self.inner.insert(st, slot, page, m);
        bump(&self.inner.counters.fills);
        if revived {
            bump(&self.inner.counters.revived);
        }
        Ok(true)
    }

    /// `vcpu` switched to address space `key` (an ASID change, which
    /// QEMU's soft TLB handles with a full flush): its table shows the
    /// slots of `key`, which other vCPUs may have filled already.  The
    /// slots of the address space it left stay; translations stay current
    /// in them because every flush applies to every address space.
    pub fn switch_context(&self, vcpu: VcpuId, key: ContextKey) {
        self.switch_space(vcpu, key.into());
    }

    /// [`Engine::switch_context`], with the translation tables the
    /// registers name: vCPUs share a mirror only where the key and the
    /// tables are equal.
    pub fn switch_context_at(&self, vcpu: VcpuId, key: ContextKey, tables: Tables) {
        self.switch_space(vcpu, SpaceId { key, tables });
    }

    fn switch_space(&self, vcpu: VcpuId, key: SpaceId) {
        let mut st = self.lock();
        let (t, now) = (&self.inner.tuning, self.inner.now());
        let Some(old) = st.vcpus.get(&vcpu).map(|v| v.context) else {
            return;
        };
        if old == key {
            return;
        }
        if let Some(s) = st.spaces.get_mut(&old) {
            s.leave(now);
        }
        if st.spaces.len() >= IDLE_SPACES_MAX {
            st.spaces
                .retain(|k, s| *k == key || s.running() > 0 || s.is_mirrored());
        }
        let space = st
            .spaces
            .entry(key)
            .or_insert_with(|| AddressSpace::new(t, now));
        let before = (space.running(), space.mode());
        let mode = space.enter(t, now);
        if before == (0, Mode::Soft) && mode == Mode::Shadow {
            bump(&self.inner.counters.shadow_on);
        }
        self.inner.revoke_stale(&mut st, key);
        if let Some(v) = st.vcpus.get_mut(&vcpu) {
            v.context = key;
        }
        st.publish(&self.inner.region, vcpu, mode);
        bump(&self.inner.counters.slot_switches);
    }

    /// Time passes on `vcpu`: shadows its current address space if it
    /// has run on the soft TLB long enough, even without a fill request
    /// (a program whose working set fits the soft TLB misses no more), or
    /// if another vCPU running it had it shadowed meanwhile.
    pub fn tick(&self, vcpu: VcpuId) {
        let mut st = self.lock();
        if st.vcpus.get(&vcpu).is_some_and(|v| v.mode == Mode::Soft) {
            let _ = self.inner.admit(&mut st, vcpu);
        }
    }

    /// `vcpu` translated a block of guest code in its current address
    /// space ([`crate::governor::Governor::translated`]).
    pub fn translated(&self, vcpu: VcpuId) {
        let mut st = self.lock();
        let (t, now) = (&self.inner.tuning, self.inner.now());
        if let Some(s) = st.space_of_mut(vcpu) {
            s.governor.translated(t, now);
        }
    }

    /// Mirrors `pages` consecutive guest pages from `va` onto consecutive
    /// guest RAM from `host`, with one protection, in one host mapping:
    /// the rest of a large guest page (a 2 MiB block of the kernel's linear
    /// map, say) on its first fill, instead of one fault and fill per 4 KiB
    /// page.  QEMU has checked that the whole run is plain RAM with these
    /// rights.  Pages already mirrored as asked are left alone; the run is
    /// recorded as part of the large page `large_size` so that a flush of
    /// any page of it drops it all.  Unlike [`Engine::fill`], it does not
    /// prefault page-table entries: most of the run may never be touched.
    #[allow(clippy::too_many_arguments)]
    pub fn fill_run(
        &self,
        vcpu: VcpuId,
        idx: MmuIdx,
        va: u64,
        pages: u64,
        large_size: u64,
        host: usize,
        prot_bits: u32,
    ) -> Result<()> {
        let Some(prot) = Prot::from_bits(prot_bits) else {
            return Ok(());
        };
        let first = GuestPage::containing(va)?;
        if pages == 0 || first.plus(pages - 1).is_none() {
            return Err(Error::GuestAddress(va + pages * PAGE_SIZE));
        }
        let hp = HostPage::containing(host);
        let mut st = self.lock();
        if !self.inner.admit(&mut st, vcpu)? {
            return Ok(());
        }
        let backing = st.ram.backing(hp)?;
        let last = st.ram.backing(hp.plus(pages - 1))?;
        if last.fd != backing.fd || last.offset != backing.offset + (pages - 1) * PAGE_SIZE {
            return Err(Error::NotRam(hp.plus(pages - 1).addr()));
        }
        let slot = self.inner.slot_for(&mut st, vcpu, idx)?;
        // Pages to (re)map: not mirrored exactly like this yet.
        let todo: Vec<u64> = (0..pages)
            .filter(|&i| {
                let page = first.plus(i).expect("checked above");
                st.live_mut(slot)
                    .map
                    .get(page)
                    .is_none_or(|m| m.host != hp.plus(i) || m.prot != prot)
            })
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let stale: Vec<GuestPage> = todo
            .iter()
            .map(|&i| first.plus(i).expect("checked above"))
            .filter(|p| st.live_mut(slot).map.get(*p).is_some())
            .collect();
        self.inner.unmap_pages(&mut st, slot, &stale);
        // What the run's page `i` mirrors.
        let mapping = |i: u64| Mapping {
            host: hp.plus(i),
            backing: crate::ram::Backing {
                offset: backing.offset + i * PAGE_SIZE,
                ..backing
            },
            prot,
        };
        // Pages that still map what the run asks, revoked by an
        // invalidation, get their rights back; the others are mapped.
        let (revive, map): (Vec<GuestPage>, Vec<GuestPage>) = todo
            .iter()
            .map(|&i| first.plus(i).expect("checked above"))
            .partition(|&p| {
                let i = u64::from(p.number() - first.number());
                st.live_mut(slot).map.revives_as(p, &mapping(i))
            });
        let revive = consecutive_runs(&revive);
        let map = consecutive_runs(&map);
        // Worst case: every run of the todo list is a VMA plus a gap.
        let worst_case = 2 * (revive.len() + map.len()) as i64;
        self.inner
            .ensure_budget(&mut st, slot, todo.len() as u64, |_| worst_case)?;
        self.inner.record_large(&mut st, slot, va, large_size)?;
        self.inner.held.mark(first, pages);
        let revived = revive.iter().map(|&r| (r, true));
        for ((run_first, n), revived) in revived.chain(map.iter().map(|&r| (r, false))) {
            let i = u64::from(run_first.number() - first.number());
            let offset = backing.offset + i * PAGE_SIZE;
            let done = if revived {
                self.inner.region.protect(slot, run_first, n, prot)
            } else {
                self.inner.region.map(
                    slot,
                    run_first,
                    n,
                    backing.fd,
                    offset,
                    prot,
                    false,
                    backing.dump,
                )
            };
            if let Err(e) = done {
                bump(&self.inner.counters.fill_refused);
                return Err(Error::Map(e));
            }
            if revived {
                self.inner.counters.revived.fetch_add(n, Ordering::Relaxed);
            }
            for k in 0..n {
                let page = run_first.plus(k).expect("in range");
                self.inner.insert(&mut st, slot, page, mapping(i + k));
            }
        }
        bump(&self.inner.counters.run_fills);
        self.inner.charge(&mut st, vcpu, Work::Other);
        Ok(())
    }

    /// Whether the current address space of `vcpu` mirrors any page of
    /// `[va, va + len)` for `idx` (QEMU then need not prepare a run fill).
    pub fn any_mirrored(&self, vcpu: VcpuId, idx: MmuIdx, va: u64, len: u64) -> bool {
        let Ok(first) = GuestPage::containing(va) else {
            return false;
        };
        let st = self.lock();
        if st.vcpus.get(&vcpu).is_some_and(|v| v.mode == Mode::Soft) {
            // Nothing to prepare: the next fill will not be served.
            return true;
        }
        st.space_of(vcpu)
            .and_then(|s| s.slots[idx.index()])
            .and_then(|s| st.live(s))
            .is_some_and(|l| l.map.any_in(first, len.div_ceil(PAGE_SIZE)))
    }

    /// Invalidates everything mirrored, in every address space: revoked,
    /// to be revalidated (`Inner::invalidate_slot`).  Other vCPUs may be
    /// running.
    pub fn flush_all(&self, vcpu: VcpuId) {
        self.flush_mmuidx_inner(vcpu, IdxMap::ALL, OtherVcpus::MayRun);
        bump(&self.inner.counters.flush_all);
    }

    /// Invalidates the mirrors of the mmu indexes of `idxmap`, in every
    /// address space (`Inner::invalidate_slot`): any vCPU may run any of
    /// them next, and after its own invalidation it must see none of what
    /// was invalidated.
    pub fn flush_mmuidx(&self, vcpu: VcpuId, idxmap: IdxMap, others: OtherVcpus) {
        self.flush_mmuidx_inner(vcpu, idxmap, others);
        bump(&self.inner.counters.flush_mmuidx);
    }

    fn flush_mmuidx_inner(&self, vcpu: VcpuId, idxmap: IdxMap, others: OtherVcpus) {
        let mut st = self.lock();
        let victims: Vec<SlotId> = st
            .live_slots()
            .filter(|(_, l)| idxmap.contains(l.idx))
            .map(|(s, _)| s)
            .collect();
        for slot in victims {
            self.inner.invalidate_slot(&mut st, slot, vcpu, others);
        }
        self.inner.keep_spare_slots(&mut st);
        self.inner.rebuild_held(&st);
        let (t, now) = (&self.inner.tuning, self.inner.now());
        for s in st.spaces.values_mut() {
            if s.governor.all_flushed(t, now) {
                bump(&self.inner.counters.shadow_off);
            }
        }
        // The others follow their address space's mode at their next call.
        if let Some(mode) = st.space_of(vcpu).map(AddressSpace::mode) {
            if st.vcpus.get(&vcpu).is_some_and(|v| v.mode != mode) {
                st.publish(&self.inner.region, vcpu, mode);
            }
        }
        self.inner.charge(&mut st, vcpu, Work::Flush);
    }

    /// The guest invalidated the non-global translations of one ASID
    /// (TLBIASID): invalidates (`Inner::invalidate_slot`) the slots of
    /// the address space `vcpu` runs and
    /// of every other whose key, masked by `mask`, is `value` (the mask
    /// keeps the bits of the key that hold the ASID the operation names).
    /// QEMU's soft TLB, not tagged with ASIDs, flushes all it holds; the
    /// slots of the other address spaces stay, since the operation touches
    /// neither their non-global translations nor any global one.  The
    /// current address space is dropped whatever its key: it is the
    /// ASID's own when the guest flushes the address space it runs in (a
    /// Linux fork or exit), and a key made before the guest changed its
    /// translation regime need not name the ASID in force.  Linux built
    /// without the workaround of ARM erratum 720789 issues one on every
    /// fork and exit (Debian's armmp kernels, built with it, use
    /// TLBIALLIS instead, which empties every address space).
    pub fn flush_context(&self, vcpu: VcpuId, value: u64, mask: u64, others: OtherVcpus) {
        bump(&self.inner.counters.flush_context);
        let mut st = self.lock();
        let Some(current) = st.vcpus.get(&vcpu).map(|v| v.context) else {
            return;
        };
        let victims: Vec<SlotId> = st
            .live_slots()
            .filter(|(_, l)| l.space == current || l.space.key.0 & mask == value)
            .map(|(s, _)| s)
            .collect();
        for slot in victims {
            self.inner.invalidate_slot(&mut st, slot, vcpu, others);
        }
        self.inner.keep_spare_slots(&mut st);
        self.inner.rebuild_held(&st);
        self.inner.charge(&mut st, vcpu, Work::Flush);
    }

    /// Drops the page holding `va` and every large page that contains it,
    /// in every address space.  Returns the indexes of `idxmap` whose slot
    /// in the current address space of `vcpu`, shadowed, mirrored the page
    /// or holds it revoked: the guest changed a translation in use there,
    /// and QEMU may mirror the new one right away rather than at the next
    /// access's fault.
    pub fn flush_page(&self, vcpu: VcpuId, idxmap: IdxMap, va: u64) -> IdxMap {
        bump(&self.inner.counters.flush_page);
        let Ok(page) = GuestPage::containing(va) else {
            return IdxMap::EMPTY;
        };
        if !self.inner.held.may_hold(page, 1) {
            return IdxMap::EMPTY;
        }
        let mut st = self.lock();
        let mut held = IdxMap::EMPTY;
        let shadowed = st.vcpus.get(&vcpu).is_some_and(|v| v.mode == Mode::Shadow);
        if let Some(space) = st.space_of(vcpu).filter(|_| shadowed) {
            for idx in idxmap.iter() {
                let using = space.slots[idx.index()]
                    .and_then(|s| st.live(s))
                    .is_some_and(|l| l.map.get(page).is_some() || l.map.revoked(page).is_some());
                if using {
                    held = held.with(idx);
                }
            }
        }
        for slot in self.inner.slots_holding(&st, idxmap, page, 1) {
            self.inner.drop_range(&mut st, slot, page, 1);
        }
        self.inner.charge(&mut st, vcpu, Work::Flush);
        held
    }

    /// Drops `[va, va + len)` and the large pages overlapping it, in
    /// every address space.
    pub fn flush_range(&self, vcpu: VcpuId, idxmap: IdxMap, va: u64, len: u64) {
        bump(&self.inner.counters.flush_range);
        let Ok(first) = GuestPage::containing(va) else {
            return;
        };
        let end = va.saturating_add(len).min(SLOT_SPAN);
        let pages = (end.div_ceil(PAGE_SIZE)).saturating_sub(first.number().into());
        if pages == 0 {
            return;
        }
        if !self.inner.held.may_hold(first, pages) {
            return;
        }
        let mut st = self.lock();
        for slot in self.inner.slots_holding(&st, idxmap, first, pages) {
            if pages > FLUSH_RANGE_MAX_PAGES {
                self.inner
                    .invalidate_slot(&mut st, slot, vcpu, OtherVcpus::MayRun);
            } else {
                self.inner.drop_range(&mut st, slot, first, pages);
            }
        }
        self.inner.charge(&mut st, vcpu, Work::Flush);
    }

    /// Makes every shadow of guest RAM in `[host, host + len)` read-only,
    /// in every slot.  Callable from any thread.
    pub fn protect_host_range(&self, host: usize, len: u64) {
        if len == 0 {
            return;
        }
        let first = HostPage::containing(host);
        let pages = (host as u64 + len - first.addr() as u64).div_ceil(PAGE_SIZE);
        let mut st = self.lock();
        let targets: Vec<(HostPage, SlotId, GuestPage)> = if pages <= st.rmap.len() as u64 {
            (0..pages)
                .map(|i| first.plus(i))
                .filter_map(|h| st.rmap.get(&h).map(|v| (h, v)))
                .flat_map(|(h, v)| v.iter().map(move |&(s, p)| (h, s, p)))
                .collect()
        } else {
            let end = first.plus(pages);
            st.rmap
                .iter()
                .filter(|(h, _)| **h >= first && **h < end)
                .flat_map(|(h, v)| v.iter().map(move |&(s, p)| (*h, s, p)))
                .collect()
        };
        for (h, slot, page) in targets {
            let writable = st
                .live(slot)
                .and_then(|l| l.map.get(page))
                .is_some_and(|m| m.host == h && m.prot.writable());
            if writable {
                // A failure already dropped the page, which is as good.
                let _ = self.inner.reprotect(&mut st, slot, page, Prot::ReadOnly);
                bump(&self.inner.counters.write_protects);
            }
        }
    }

    /// The engine's counters and gauges, in the contract's layout.
    pub fn stats(&self) -> EsptStats {
        let c = self.inner.counters.snapshot();
        let st = self.lock();
        let mirrored = || st.spaces.values().filter(|s| s.is_mirrored());
        EsptStats {
            fills: c.fills,
            run_fills: c.run_fills,
            fill_refused: c.fill_refused,
            upgrades: c.upgrades,
            revived: c.revived,
            redirects: fault::REDIRECTS.load(Ordering::Relaxed),
            foreign_faults: fault::FOREIGN.load(Ordering::Relaxed),
            flush_all: c.flush_all,
            flush_mmuidx: c.flush_mmuidx,
            flush_context: c.flush_context,
            flush_page: c.flush_page,
            flush_range: c.flush_range,
            large_page_drops: c.large_page_drops,
            write_protects: c.write_protects,
            evictions: c.evictions,
            slots_retired: c.slots_retired,
            slots_reclaimed: c.slots_reclaimed,
            slot_switches: c.slot_switches,
            shadow_on: c.shadow_on,
            shadow_off: c.shadow_off,
            sites: sites::global().registered(),
            sites_demoted: sites::global().demoted(),
            pages_mapped_now: st.pages_now,
            pages_revoked_now: st
                .live_slots()
                .map(|(_, l)| l.map.revoked_count() as u64)
                .sum(),
            vmas_now: st.vmas,
            vma_budget: self.inner.budget,
            slots_total: st.slots.len() as u64,
            slots_in_use_now: st.live_slots().count() as u64,
            ram_blocks: st.ram.len() as u64,
            host_bytes_now: st.host_bytes,
            host_bytes_limit: self.inner.memory_limit,
            page_tables_now: st.live_slots().map(|(_, l)| l.map.page_tables()).sum(),
            spaces_mirrored_now: mirrored().count() as u64,
            spaces_shared_now: mirrored().filter(|s| s.running() > 1).count() as u64,
            vcpus: st.vcpus.len() as u64,
            shared_clears: c.shared_clears,
            lock_waits: c.lock_waits,
        }
    }

    /// Waits until the reclaimer has cleaned every retired slot (tests,
    /// benchmarks).
    pub fn wait_reclaimed(&self) {
        while !self.inner.queue.is_empty()
            || self
                .lock()
                .slots
                .iter()
                .any(|s| matches!(s, SlotState::Retired))
        {
            std::thread::yield_now();
        }
    }

    /// The slot mirroring `idx` in the address space `vcpu` runs, if any
    /// (tests).
    pub fn slot_of(&self, vcpu: VcpuId, idx: MmuIdx) -> Option<SlotId> {
        self.lock()
            .space_of(vcpu)
            .and_then(|s| s.slots[idx.index()])
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.inner.queue.stop();
        if let Some(t) = self.reclaimer.take() {
            let _ = t.join();
        }
        fault::remove_region(self.inner.region.base());
    }
}

impl Inner {
    /// Nanoseconds of the (coarse) monotonic clock since the engine
    /// started.
    fn now(&self) -> u64 {
        sys::coarse_now_ns().saturating_sub(self.epoch)
    }

    /// Whether the governor lets a fill for the address space `vcpu` runs
    /// through; brings `vcpu`'s table to the address space's mode, which
    /// another vCPU running it may have changed, or the governor changes
    /// now.
    fn admit(&self, st: &mut State, vcpu: VcpuId) -> Result<bool> {
        let published = st.vcpu(vcpu)?.mode;
        let now = self.now();
        let Some(space) = st.space_of_mut(vcpu) else {
            return Ok(false);
        };
        let verdict = if self.tuning.enabled {
            space.governor.on_fill_request(&self.tuning, now)
        } else {
            Verdict::Fill
        };
        let mode = match verdict {
            Verdict::Skip => Mode::Soft,
            Verdict::Fill | Verdict::Promoted => Mode::Shadow,
        };
        if verdict == Verdict::Promoted {
            // What the soft TLB cost before is not the shadow's.
            st.calls_seen = sys::MAPPING_CALLS.load(Ordering::Relaxed);
            st.faults_seen = fault::REDIRECTS.load(Ordering::Relaxed);
            bump(&self.counters.shadow_on);
        }
        if mode != published {
            st.publish(&self.region, vcpu, mode);
        }
        Ok(mode == Mode::Shadow)
    }

    /// Charges the faults and mapping calls made since the last charge
    /// to the address space `vcpu` runs; sends it back to the soft TLB
    /// when they cost more than the shadow can save.  Its slots stay, and
    /// stay current: they serve again after the back-off.  The first fill
    /// of a page is not charged: a working set has to be mirrored once for
    /// the shadow to pay at all.
    fn charge(&self, st: &mut State, vcpu: VcpuId, work: Work) {
        if !self.tuning.enabled {
            return;
        }
        let calls = sys::MAPPING_CALLS.load(Ordering::Relaxed);
        let faults = fault::REDIRECTS.load(Ordering::Relaxed);
        let new_calls = calls.wrapping_sub(st.calls_seen);
        let new_faults = faults.wrapping_sub(st.faults_seen);
        st.calls_seen = calls;
        if matches!(work, Work::Flush) {
            // Faults since the last charge stay to be charged with the
            // next fill.
            return;
        }
        st.faults_seen = faults;
        if st.vcpus.get(&vcpu).is_none_or(|v| v.mode != Mode::Shadow) {
            return;
        }
        let now = self.now();
        let Some(space) = st.space_of_mut(vcpu) else {
            return;
        };
        if let Work::Fill(page) = work {
            if space.governor.first_touch(page.number()) {
                return;
            }
        }
        let cost = new_calls * self.tuning.call_cost + new_faults * self.tuning.fault_cost;
        if space.governor.charge(&self.tuning, now, cost) {
            st.publish(&self.region, vcpu, Mode::Soft);
            bump(&self.counters.shadow_off);
        }
    }

    /// Recomputes [`Inner::held`] after slots were emptied or retired.
    fn rebuild_held(&self, st: &State) {
        self.held
            .rebuild(st.live_slots().map(|(_, l)| l.map.regions()));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(TryLockError::WouldBlock) => bump(&self.counters.lock_waits),
        }
        // Holders keep the lock across one mmap or munmap, a few
        // microseconds: retry for about that long before sleeping on the
        // futex, which costs a context switch and a wake-up IPI (a VM exit
        // here).  With -smp 2, vCPUs sleeping here were a quarter of
        // QEMU's context switches.
        for _ in 0..LOCK_SPINS {
            match self.state.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
            }
        }
        // A panic while holding the lock aborts in release builds; in tests
        // the state is still consistent enough to report.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reclaim_loop(&self) {
        while let Some(r) = self.queue.pop_wait() {
            self.clear_retired(r.slot);
            let mut st = self.lock();
            self.finish_reclaim(&mut st, r);
        }
    }

    fn clear_retired(&self, slot: SlotId) {
        if let Err(e) = self.region.clear_slot(slot) {
            // The slot stays unreachable; it is only lost to the pool.
            log::error!("cannot clear {slot:?}, lost to the pool: {e}");
        }
    }

    fn finish_reclaim(&self, st: &mut State, r: RetiredSlot) {
        for (page, m) in r.map.iter() {
            st.rmap_remove(m.host, r.slot, page);
        }
        st.account(r.map.footprint(), Footprint::default());
        st.slots[r.slot.index()] = SlotState::Free;
        st.free.push(r.slot);
        bump(&self.counters.slots_reclaimed);
    }

    /// Cleans one retired slot on the calling thread.
    fn reclaim_now(&self, st: &mut State) -> bool {
        match self.queue.try_pop() {
            Some(r) => {
                self.clear_retired(r.slot);
                self.finish_reclaim(st, r);
                true
            }
            None => false,
        }
    }

    /// The live slots for `idxmap`, of any address space, that may hold
    /// something of `[first, first + pages)`: guest invalidations are not
    /// tied to one address space here (QEMU does not pass the ASID), and
    /// every vCPU may run every address space, so they reach them all.
    fn slots_holding(
        &self,
        st: &State,
        idxmap: IdxMap,
        first: GuestPage,
        pages: u64,
    ) -> Vec<SlotId> {
        st.live_slots()
            .filter(|(_, l)| idxmap.contains(l.idx) && l.map.may_hold(first, pages))
            .map(|(s, _)| s)
            .collect()
    }

    /// The slot mirroring `idx` in the address space `vcpu` runs,
    /// assigning one if needed; `vcpu`'s table shows it.  The other vCPUs
    /// running that address space find it at their next fill.
    fn slot_for(&self, st: &mut State, vcpu: VcpuId, idx: MmuIdx) -> Result<SlotId> {
        st.clock += 1;
        let now = st.clock;
        let key = st.vcpu(vcpu)?.context;
        if let Some(s) = st.spaces.get(&key).and_then(|s| s.slots[idx.index()]) {
            debug_assert!(!st.live_mut(s).stale, "{s:?} stale in a running space");
            st.live_mut(s).last_used = now;
            st.vcpus[&vcpu].show(&self.region, idx, s);
            return Ok(s);
        }
        let slot = if let Some(s) = st.free.pop() {
            s
        } else if self.reclaim_now(st) {
            st.free.pop().ok_or(Error::NoSlot)?
        } else {
            // Recycle the least recently used slot that no other vCPU may
            // be using, here and now: the reclaimer may be busy.
            let victim = st
                .live_slots()
                .filter(|(s, _)| st.may_give_away(*s, vcpu, OtherVcpus::MayRun))
                .min_by_key(|(_, l)| l.last_used)
                .map(|(s, _)| s)
                .ok_or(Error::NoSlot)?;
            self.clear_in_place(st, victim);
            st.unlink(victim);
            bump(&self.counters.evictions);
            victim
        };
        st.slots[slot.index()] = SlotState::Live(Live {
            space: key,
            idx,
            map: SlotMap::default(),
            last_used: now,
            stale: false,
        });
        if let Some(s) = st.spaces.get_mut(&key) {
            s.slots[idx.index()] = Some(slot);
        }
        st.vcpus[&vcpu].show(&self.region, idx, slot);
        Ok(slot)
    }

    /// What a whole invalidation by `by` (everything, whole mmu indexes, an
    /// ASID, a long range) does with a live slot.  Its mirror survives,
    /// unusable, and each page comes back with one `mprotect` when a fill
    /// finds the guest still maps it to the same RAM ([`Engine::fill`]):
    /// Debian's kernels invalidate everything on every fork, exec and
    /// exit, and most of what was mirrored (the shell that forks, the
    /// kernel's linear map, the libraries) has not changed.  Refilling it
    /// cost a fault and an `mmap`, and then a host page fault, for each
    /// page; revalidating costs the fault and an `mprotect` that keeps the
    /// host page-table entries.  Tracking writes to the guest's page
    /// tables instead (as classic shadow paging does) would spare the
    /// faults too, but needs every write to guest RAM watched, DMA
    /// included; revalidation needs nothing the soft TLB does not do.
    ///
    /// A slot that a vCPU may use (its address space is running) is
    /// revoked now, in one call over the span it mirrors; one that none
    /// may use is only marked stale and revoked when a vCPU enters its
    /// address space: an invalidation of everything would otherwise cost
    /// a call per address space of the guest.
    fn invalidate_slot(&self, st: &mut State, slot: SlotId, by: VcpuId, others: OtherVcpus) {
        if !self.tuning.keep_mirrors {
            self.drop_slot(st, slot, by, others);
            return;
        }
        let Some(l) = st.live(slot) else {
            return;
        };
        if l.map.mirrored_count() == 0 {
            return;
        }
        if st.runs(&l.space) {
            self.revoke_slot(st, slot);
        } else {
            let l = st.live_mut(slot);
            l.stale = true;
            // Nothing reaches its pages before they are revoked: page
            // flushes need not look at them.
            l.map.forget_regions();
        }
    }

    /// Revokes every page a live slot mirrors, with one `mprotect`.
    fn revoke_slot(&self, st: &mut State, slot: SlotId) {
        let l = st.live_mut(slot);
        l.stale = false;
        let Some((first, last)) = l.map.mirrored_span() else {
            return;
        };
        let pages = u64::from(last.number() - first.number()) + 1;
        if self.region.revoke(slot, first, pages).is_err() {
            self.clear_in_place(st, slot);
            return;
        }
        let map = &mut st.live_mut(slot).map;
        let before = map.footprint();
        let revoked = map.revoke_all();
        let after = map.footprint();
        st.account(before, after);
        st.pages_now -= revoked.len() as u64;
        for (page, m) in revoked {
            st.rmap_remove(m.host, slot, page);
        }
    }

    /// Revokes the stale slots of the address space `key`, which a vCPU
    /// is entering.
    fn revoke_stale(&self, st: &mut State, key: SpaceId) {
        let Some(slots) = st.spaces.get(&key).map(|s| s.slots) else {
            return;
        };
        for slot in slots.into_iter().flatten() {
            if st.live(slot).is_some_and(|l| l.stale) {
                self.revoke_slot(st, slot);
            }
        }
    }

    /// Keeps [`SPARE_SLOTS`] slots free or on their way there: whole
    /// invalidations no longer free slots (their mirrors survive), and a
    /// new address space should find a slot without emptying one on its
    /// vCPU's thread.  Retires the least recently used slots that no vCPU
    /// may use; the reclaimer empties them.
    fn keep_spare_slots(&self, st: &mut State) {
        while st.free.len() + self.queue.len() < SPARE_SLOTS as usize {
            let Some(victim) = st
                .live_slots()
                .filter(|(_, l)| !st.runs(&l.space))
                .min_by_key(|(_, l)| l.last_used)
                .map(|(s, _)| s)
            else {
                return;
            };
            self.retire(st, victim);
        }
    }

    /// What an invalidation by `by` does with a live slot: nothing if it
    /// holds nothing; else hands it to the reclaimer (O(1) for the vCPU,
    /// whatever the slot holds) if no other vCPU may be using it, and
    /// empties it in place (its address space keeps it) if one may.
    fn drop_slot(&self, st: &mut State, slot: SlotId, by: VcpuId, others: OtherVcpus) {
        if st.live(slot).is_none_or(|l| l.map.is_empty()) {
            return;
        }
        if st.may_give_away(slot, by, others) {
            self.retire(st, slot);
        } else {
            self.clear_in_place(st, slot);
            bump(&self.counters.shared_clears);
        }
    }

    /// Hands a live slot to the reclaimer; the tables showing it show the
    /// empty slot.  Only where [`State::may_give_away`] allows.
    fn retire(&self, st: &mut State, slot: SlotId) {
        st.unlink(slot);
        let SlotState::Live(live) =
            std::mem::replace(&mut st.slots[slot.index()], SlotState::Retired)
        else {
            return;
        };
        st.pages_now -= live.map.mirrored_count() as u64;
        self.queue.push(RetiredSlot {
            slot,
            map: live.map,
        });
        bump(&self.counters.slots_retired);
    }

    /// Empties a live slot where it is, from any thread: the tables
    /// showing it stay valid, the vCPUs just fault and refill.
    fn clear_in_place(&self, st: &mut State, slot: SlotId) {
        self.clear_retired(slot);
        let map = std::mem::take(&mut st.live_mut(slot).map);
        for (page, m) in map.iter() {
            st.rmap_remove(m.host, slot, page);
        }
        st.account(map.footprint(), Footprint::default());
        st.pages_now -= map.mirrored_count() as u64;
    }

    /// Frees mapping budget: reclaims retired slots, then empties the
    /// least recently used other slot that holds some, then `keep`
    /// itself.  Emptied in place, so whatever vCPU runs them.  False
    /// when nothing is left to free.
    fn make_room(&self, st: &mut State, keep: SlotId, scarce: Scarce) -> bool {
        if self.reclaim_now(st) {
            return true;
        }
        bump(&self.counters.evictions);
        let holds = |l: &Live| match scarce {
            Scarce::Vmas => l.map.vmas(),
            Scarce::Memory => l.map.host_bytes(),
        };
        let lru = st
            .live_slots()
            .filter(|(s, l)| *s != keep && holds(l) > 0)
            .min_by_key(|(_, l)| l.last_used)
            .map(|(s, _)| s);
        if let Some(victim) = lru {
            self.clear_in_place(st, victim);
            return true;
        }
        if st.live(keep).is_some_and(|l| holds(l) > 0) {
            self.clear_in_place(st, keep);
            return true;
        }
        false
    }

    /// Makes room until `need(state)` more VMAs fit in the budget and
    /// `pages` more pages in the host memory bound, or refuses (counted)
    /// when nothing more can be freed.
    fn ensure_budget(
        &self,
        st: &mut State,
        slot: SlotId,
        pages: u64,
        need: impl Fn(&State) -> i64,
    ) -> Result<()> {
        // At worst every page needs a new page table, and the run one
        // more above it.
        let bytes = pages * PAGE_BOOK_BYTES + (pages.min(PAGES_PER_TABLE_WORST) + 1) * TABLE_BYTES;
        loop {
            let scarce = if st.vmas as i64 + need(st) > self.budget as i64 {
                Scarce::Vmas
            } else if st.host_bytes + bytes > self.memory_limit {
                Scarce::Memory
            } else {
                return Ok(());
            };
            if !self.make_room(st, slot, scarce) {
                bump(&self.counters.fill_refused);
                return Err(match scarce {
                    Scarce::Vmas => Error::VmaBudget {
                        budget: self.budget,
                        max_map_count: self.max_map_count,
                    },
                    Scarce::Memory => Error::HostMemory {
                        limit: self.memory_limit,
                    },
                });
            }
        }
    }

    /// Records that the page at `va` belongs to a large guest page of
    /// `large_size` bytes (ignored unless a power of two up to 1 GiB).
    fn record_large(&self, st: &mut State, slot: SlotId, va: u64, large_size: u64) -> Result<()> {
        if large_size > PAGE_SIZE && large_size.is_power_of_two() && large_size <= MAX_LARGE_PAGE {
            let first = GuestPage::containing(va & !(large_size - 1))?;
            self.held.mark(first, large_size / PAGE_SIZE);
            st.live_mut(slot)
                .map
                .record_large(first, large_size / PAGE_SIZE);
        }
        Ok(())
    }

    fn insert(&self, st: &mut State, slot: SlotId, page: GuestPage, m: Mapping) {
        let map = &mut st.live_mut(slot).map;
        let before = map.footprint();
        map.insert(page, m);
        let after = map.footprint();
        st.account(before, after);
        st.pages_now += 1;
        st.rmap.entry(m.host).or_default().push((slot, page));
    }

    /// Changes the protection of one mirrored page, within the budget.
    fn reprotect(&self, st: &mut State, slot: SlotId, page: GuestPage, prot: Prot) -> Result<()> {
        // A protection change splits a run into at most three.
        if st.vmas + 4 > self.budget {
            self.unmap_pages(st, slot, &[page]);
            return Err(Error::VmaBudget {
                budget: self.budget,
                max_map_count: self.max_map_count,
            });
        }
        if let Err(e) = self.region.protect(slot, page, 1, prot) {
            self.unmap_pages(st, slot, &[page]);
            return Err(Error::Map(e));
        }
        let map = &mut st.live_mut(slot).map;
        let before = map.footprint();
        map.set_prot(page, prot);
        let after = map.footprint();
        st.account(before, after);
        Ok(())
    }

    /// Drops `[first, first + pages)` of a live slot, widened to the large
    /// guest pages that overlap it.
    fn drop_range(&self, st: &mut State, slot: SlotId, first: GuestPage, pages: u64) {
        let map = &mut st.live_mut(slot).map;
        let mut victims = map.mapped_in(first, pages);
        for (lf, ln) in map.large_overlapping(first, pages) {
            victims.extend(map.mapped_in(lf, ln));
            map.forget_large(lf);
            bump(&self.counters.large_page_drops);
        }
        victims.sort_unstable();
        victims.dedup();
        self.unmap_pages(st, slot, &victims);
    }

    /// Unmaps pages of a live slot.  Punching holes can split VMAs; if that
    /// would break the budget, or the kernel refuses, the whole slot is
    /// emptied instead, which only ever reduces mappings.
    ///
    /// While the budget has room, the pages are revoked (`PROT_NONE`)
    /// rather than given back to the reservation: measured here, a revoke
    /// is 3 us against 8 us, and the refill over it 9 us against 11 us (or
    /// one `mprotect` when the guest maps the same page again).  Revoked
    /// pages keep their VMAs until the slot is emptied, hence the limit.
    fn unmap_pages(&self, st: &mut State, slot: SlotId, pages: &[GuestPage]) {
        if pages.is_empty() {
            return;
        }
        let runs = consecutive_runs(pages);
        let split = 2 * runs.len() as u64;
        if st.vmas + split > self.budget {
            self.clear_in_place(st, slot);
            return;
        }
        let revoke = st.vmas + split <= self.budget / REVOKE_BUDGET_SHARE;
        for &(first, n) in &runs {
            let done = if revoke {
                self.region.revoke(slot, first, n)
            } else {
                self.region.unmap(slot, first, n)
            };
            if done.is_err() {
                self.clear_in_place(st, slot);
                return;
            }
        }
        let map = &mut st.live_mut(slot).map;
        let before = map.footprint();
        let removed: Vec<(GuestPage, Mapping)> = pages
            .iter()
            .filter_map(|&p| {
                if revoke {
                    map.revoke(p).map(|m| (p, m))
                } else {
                    map.remove(p).map(|m| (p, m))
                }
            })
            .collect();
        let after = map.footprint();
        st.account(before, after);
        st.pages_now -= removed.len() as u64;
        for (p, m) in removed {
            st.rmap_remove(m.host, slot, p);
        }
    }

    /// Unmaps (slot, page) pairs found through the reverse map, skipping
    /// slots that are no longer live (the reclaimer owns those).
    fn unmap_targets(&self, st: &mut State, mut targets: Vec<(SlotId, GuestPage)>) {
        targets.sort_unstable();
        let mut i = 0;
        while i < targets.len() {
            let slot = targets[i].0;
            let j = targets[i..]
                .iter()
                .position(|t| t.0 != slot)
                .map_or(targets.len(), |k| i + k);
            if st.live(slot).is_some() {
                let pages: Vec<GuestPage> = targets[i..j].iter().map(|t| t.1).collect();
                self.unmap_pages(st, slot, &pages);
            }
            i = j;
        }
    }
}
