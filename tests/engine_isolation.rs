//! What a guest cannot make the engine do to the host or to other guests'
//! memory: spend host memory beyond a bound set by its RAM, take every
//! slot from the other vCPUs, get its mirrors into a core dump that
//! leaves guest RAM out, or keep a vCPU's slot base pointing at a slot
//! that was handed to another address space.

mod common;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::engine::{Config, ContextKey, Engine, HOST_MEMORY_MIN};
use espt::types::PAGE_SIZE;

const RW: u32 = ESPT_PROT_READ | ESPT_PROT_WRITE;
const TABLE_SPAN: u64 = 2 << 20;

/// A hostile guest maps one page in every 2 MiB of its 4 GiB, under
/// many address spaces: each page costs the host a page table.  The
/// engine keeps the estimate within its bound by evicting, and the
/// kernel's own count of page-table memory grows by no more than that.
#[test]
fn host_memory_stays_within_the_bound_whatever_the_guest_maps() {
    let mut config = Config::new(1);
    config.guest_ram_size = 64 << 20;
    let limit = config.host_memory_limit();
    assert_eq!(limit, HOST_MEMORY_MIN, "small guests get the floor");
    let e = Engine::new(config).unwrap();
    let ram = GuestRam::new(256);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let pte_before = vm_pte_kib();
    let spaces = 12u64;
    for space in 0..spaces {
        e.switch_context(cpu.id, ContextKey(space));
        for i in 0..(1u64 << 32) / TABLE_SPAN {
            let va = i * TABLE_SPAN + (space % 8) * PAGE_SIZE;
            e.fill(cpu.id, idx(0), va, PAGE_SIZE, ram.page_addr(i % 256), RW)
                .expect("fills succeed by evicting");
            let s = e.stats();
            assert!(s.host_bytes_now <= limit, "{s:?}");
        }
    }
    let s = e.stats();
    assert_eq!(s.host_bytes_limit, limit, "{s:?}");
    assert!(s.evictions > 0, "12 x 2048 tables do not fit: {s:?}");
    assert!(s.page_tables_now > 0, "{s:?}");
    // 12 spaces x 2048 pages would cost the kernel 96 MiB of page tables.
    let grown = vm_pte_kib().saturating_sub(pte_before) * 1024;
    assert!(
        grown <= limit,
        "page tables grew by {grown} bytes, bound {limit}"
    );
}

/// The bound grows with guest RAM.
#[test]
fn the_bound_is_a_share_of_guest_ram() {
    let mut config = Config::new(1);
    config.guest_ram_size = 4 << 30;
    assert_eq!(config.host_memory_limit(), 1 << 30);
}

/// A vCPU running many address spaces recycles slots, least recently
/// used first, but never one of an address space another vCPU runs: that
/// vCPU may hold its base in a register, and must keep reaching its own
/// pages through it.
#[test]
fn a_slot_another_vcpu_runs_is_never_recycled() {
    let mut config = Config::new(2);
    config.nb_slots = 2 + 20;
    let e = Engine::new(config).unwrap();
    let ram = GuestRam::new(16);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    e.switch_context(b.id, ContextKey(1000));
    e.fill(b.id, idx(0), 0, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    let b_slot = e.slot_of(b.id, idx(0)).unwrap();
    let b_base = b.base(0);
    for space in 0..40u64 {
        e.switch_context(a.id, ContextKey(space));
        e.fill(a.id, idx(0), 0, PAGE_SIZE, ram.page_addr(0), RW)
            .unwrap();
    }
    let s = e.stats();
    assert!(s.evictions > 0, "{s:?}");
    assert_eq!(s.slots_in_use_now, 20, "{s:?}");
    assert_eq!(e.slot_of(b.id, idx(0)), Some(b_slot));
    assert_eq!(b.base(0), b_base);
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(b_base, 0, 8), Some(ram.read_u64(1, 0)));
}

/// Mirrors of a block that core dumps leave out are left out too.
#[test]
fn mirrors_follow_the_ram_block_dump_setting() {
    let e = engine(1);
    let kept = GuestRam::new(4);
    kept.register_with(&e, Dump::Exclude);
    let dumped = GuestRam::new(4);
    dumped.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, kept.page_addr(1), RW)
        .unwrap();
    e.fill(cpu.id, idx(0), 0x8000, PAGE_SIZE, dumped.page_addr(1), RW)
        .unwrap();
    let base = cpu.base(0) as usize;
    assert!(vm_flags_at(base + 0x1000).contains(&"dd".to_string()));
    assert!(!vm_flags_at(base + 0x8000).contains(&"dd".to_string()));
    // A run fill too.
    e.fill_run(cpu.id, idx(0), 0x10000, 3, 1 << 20, kept.page_addr(0), RW)
        .unwrap();
    assert!(vm_flags_at(base + 0x12000).contains(&"dd".to_string()));
}

/// Removing a RAM block, which QEMU does on its main thread while vCPUs
/// run, empties the slots that held it where they are: a vCPU that still
/// holds a slot's base in a register keeps a slot of its own address
/// space, which just faults.
#[test]
fn removing_ram_keeps_every_vcpu_slot_its_own() {
    let e = engine(1);
    let ram = GuestRam::new(8);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    e.fill(cpu.id, idx(0), 0x3000, PAGE_SIZE, ram.page_addr(3), RW)
        .unwrap();
    e.fill(cpu.id, idx(0), 0x4000, PAGE_SIZE, ram.page_addr(4), RW)
        .unwrap();
    // Revoked: the slot holds a mapping of the file the block goes with.
    e.flush_page(cpu.id, espt::IdxMap::ALL, 0x4000);
    let slot = e.slot_of(cpu.id, idx(0)).unwrap();
    let base = cpu.base(0);
    e.unregister_ram(ram.page_addr(0));
    assert_eq!(e.slot_of(cpu.id, idx(0)), Some(slot));
    assert_eq!(cpu.base(0), base);
    let s = e.stats();
    assert_eq!((s.pages_mapped_now, s.pages_revoked_now), (0, 0), "{s:?}");
    assert_eq!(s.slots_retired, 0, "{s:?}");
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(base, 0x3000, 8), None);
}

/// `VmPTE` of this process, in KiB.
fn vm_pte_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The `VmFlags` of the mapping holding `addr`, from `/proc/self/smaps`.
fn vm_flags_at(addr: usize) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo <= addr && addr < hi;
                    continue;
                }
            }
        }
        if inside {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.split_whitespace().map(String::from).collect();
            }
        }
    }
    panic!("no mapping at {addr:#x}");
}
