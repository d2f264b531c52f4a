//! Host limits: a lowered VMA budget forces eviction, never an error the
//! guest could see, and the kernel's own count of mappings stays within
//! the budget.  Also: the engine's accounting matches the kernel's.

mod common;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::engine::{Config, Engine};
use espt::types::PAGE_SIZE;

const RW: u32 = ESPT_PROT_READ | ESPT_PROT_WRITE;

#[test]
fn accounting_matches_the_kernel() {
    let e = engine(1);
    let ram = GuestRam::new(512);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let (start, end) = (e.region_base(), e.region_base() + e.region_size() as usize);
    // Contiguous pages merge, scattered ones do not, protections split.
    for i in 0..64u64 {
        e.fill(
            cpu.id,
            idx(0),
            i * PAGE_SIZE,
            PAGE_SIZE,
            ram.page_addr(i),
            RW,
        )
        .unwrap();
    }
    for i in 0..64u64 {
        e.fill(
            cpu.id,
            idx(0),
            (1000 + 3 * i) * PAGE_SIZE,
            PAGE_SIZE,
            ram.page_addr(100 + i),
            RW,
        )
        .unwrap();
    }
    e.protect_host_range(ram.page_addr(10), 4 * PAGE_SIZE);
    e.flush_page(cpu.id, espt::IdxMap::ALL, 30 * PAGE_SIZE);
    let s = e.stats();
    // Kernel VMAs over the region = the reservation's own VMA + what the
    // engine counts it added.
    assert_eq!(vmas_in(start, end) as u64, 1 + s.vmas_now, "{s:?}");
}

#[test]
fn a_lowered_budget_evicts_instead_of_failing() {
    let budget = 64;
    let mut config = Config::new(1);
    config.vma_budget = budget;
    let e = Engine::new(config).unwrap();
    assert_eq!(e.vma_budget(), budget);
    let ram = GuestRam::new(1024);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    let (start, end) = (e.region_base(), e.region_base() + e.region_size() as usize);
    // 500 scattered pages in two mmu indexes would need ~2000 VMAs.
    for i in 0..500u64 {
        let va = i * 5 * PAGE_SIZE;
        let i_idx = (i % 2) as u32;
        e.fill(
            cpu.id,
            idx(i_idx),
            va,
            PAGE_SIZE,
            ram.page_addr(i * 2 % 1024),
            RW,
        )
        .expect("fills succeed by evicting");
        // The page just filled is visible...
        assert_eq!(jit.load(cpu.base(i_idx), va, 8), Some(marker(i * 2 % 1024)));
        // ...and the kernel never sees more than the budget.
        let s = e.stats();
        assert!(s.vmas_now <= budget, "{s:?}");
        assert!(vmas_in(start, end) as u64 <= 1 + budget);
    }
    let s = e.stats();
    assert!(s.evictions > 0, "{s:?}");
    assert_eq!(s.fill_refused, 0);
}

#[test]
fn pool_exhaustion_recycles_slots() {
    // 2 never-mapped slots + 2 usable: a vCPU using 4 mmu indexes must
    // recycle.
    let mut config = Config::new(1);
    config.nb_slots = 4;
    let e = Engine::new(config).unwrap();
    let ram = GuestRam::new(8);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    for round in 0..3 {
        for i in 0..4u32 {
            e.fill(
                cpu.id,
                idx(i),
                0x1000,
                PAGE_SIZE,
                ram.page_addr(u64::from(i)),
                RW,
            )
            .unwrap_or_else(|err| panic!("round {round} idx {i}: {err}"));
            assert_eq!(jit.load(cpu.base(i), 0x1000, 8), Some(marker(u64::from(i))));
        }
    }
    assert!(e.stats().evictions > 0);
    // Recycled indexes point at the empty slot again, never at a slot
    // that now mirrors another index.
    let live: Vec<u64> = (0..4).map(|i| cpu.base(i)).collect();
    let empty = e.slot_base(espt::SlotId::EMPTY) as u64;
    let mut distinct: Vec<u64> = live.iter().copied().filter(|b| *b != empty).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), live.iter().filter(|b| **b != empty).count());
}

#[test]
fn refusals_have_messages_that_say_what_to_do() {
    let mut c = Config::new(1);
    c.guest_page_bits = 10;
    let err = Engine::new(c).err().unwrap();
    assert!(err.to_string().contains("espt=off"), "{err}");
    let mut c = Config::new(0);
    c.nb_vcpus = 0;
    assert!(Engine::new(c).is_err());
    // An address space too large to reserve.
    let mut c = Config::new(1);
    c.nb_slots = 4096;
    c.nb_vcpus = 1;
    // 32 TiB fits in 128 TiB of user space; ask for more than fits.
    let e1 = Engine::new(c.clone()).unwrap();
    let e2 = Engine::new(c.clone()).unwrap();
    let e3 = Engine::new(c.clone()).unwrap();
    let err = Engine::new(c).err().unwrap();
    assert!(err.to_string().contains("cannot reserve"), "{err}");
    drop((e1, e2, e3));
}
