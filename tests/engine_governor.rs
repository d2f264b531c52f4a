//! The governor as the translated code sees it: the slot base it loads is
//! the never-mapped soft slot (QEMU runs plain soft-TLB code meanwhile)
//! until an address space is shadowed, a slot once it is, and the soft
//! slot again after churn, with its mirrored pages kept.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::engine::{Config, ContextKey, Engine};
use espt::types::{IdxMap, SlotId, PAGE_SIZE};

const RW: u32 = ESPT_PROT_READ | ESPT_PROT_WRITE;

/// An engine with the governor tuned by `tuning`, 8 pages of guest RAM
/// and one vCPU.
fn setup(tuning: &str) -> (Engine, GuestRam, TestVcpu) {
    let mut c = Config::new(1);
    c.governor = tuning.parse().unwrap();
    let e = Engine::new(c).unwrap();
    let ram = GuestRam::new(8);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    (e, ram, cpu)
}

/// Mirrors guest page `p` onto RAM page `p` for mmu index 1, read-write.
fn fill_page(e: &Engine, ram: &GuestRam, cpu: &TestVcpu, p: u64) {
    e.fill(
        cpu.id,
        idx(1),
        p * PAGE_SIZE,
        PAGE_SIZE,
        ram.page_addr(p),
        RW,
    )
    .unwrap();
}

/// The base of every mmu index while an address space is on the soft TLB.
fn soft(e: &Engine) -> u64 {
    e.slot_base(SlotId::SOFT) as u64
}

#[test]
fn a_new_address_space_runs_on_the_soft_tlb() {
    let (e, ram, cpu) = setup("promote_ms=60000");
    assert!((0..16).all(|i| cpu.base(i) == soft(&e)));
    e.fill(cpu.id, idx(1), 0x1000, PAGE_SIZE, ram.page_addr(0), RW)
        .unwrap();
    assert_eq!(cpu.base(1), soft(&e));
    assert_eq!(e.stats().fills, 0);
    assert!(e.slot_of(cpu.id, idx(1)).is_none());
    // A switch to another new address space: still the soft TLB.
    e.switch_context(cpu.id, ContextKey(7));
    assert!((0..16).all(|i| cpu.base(i) == soft(&e)));
}

#[test]
fn a_shadowed_address_space_publishes_its_slots() {
    let (e, ram, cpu) = setup("promote_ms=0");
    e.fill(cpu.id, idx(1), 0x1000, PAGE_SIZE, ram.page_addr(0), RW)
        .unwrap();
    let slot = e.slot_of(cpu.id, idx(1)).expect("a slot");
    assert_eq!(cpu.base(1), e.slot_base(slot) as u64);
    // Other indexes point at the empty slot: they fault, then fill.
    assert_ne!(cpu.base(0), soft(&e));
    assert_ne!(cpu.base(0), cpu.base(1));
    let s = e.stats();
    assert_eq!((s.fills, s.shadow_on, s.shadow_off), (1, 1, 0));
    // Away and back: the same slot, still mirrored.
    e.switch_context(cpu.id, ContextKey(9));
    e.switch_context(cpu.id, ContextKey(0));
    assert_eq!(cpu.base(1), e.slot_base(slot) as u64);
}

#[test]
fn churn_sends_it_back_to_the_soft_tlb_and_keeps_its_pages() {
    // No budget at all: the first charged mapping call demotes.
    let (e, ram, cpu) = setup("promote_ms=0,share_pct=0");
    for p in 0..4u64 {
        // First fills of a page are an investment, not churn.
        fill_page(&e, &ram, &cpu, p);
    }
    assert_ne!(cpu.base(1), soft(&e));
    assert_eq!(e.stats().shadow_off, 0);
    // A flush alone is not churn: the soft TLB would not save its unmap.
    e.flush_page(cpu.id, IdxMap::ALL, 0);
    assert_ne!(cpu.base(1), soft(&e));
    assert_eq!(e.stats().shadow_off, 0);
    // The same page mapped again after it is.
    fill_page(&e, &ram, &cpu, 0);
    assert_eq!(cpu.base(1), soft(&e), "sent back to the soft TLB");
    let s = e.stats();
    assert_eq!((s.shadow_off, s.fills), (1, 5));
    assert_eq!(s.pages_mapped_now, 4, "its pages stay mirrored");
    // During the back-off flushes still reach its slot, and fills are
    // left to the soft TLB.
    e.flush_page(cpu.id, IdxMap::ALL, PAGE_SIZE);
    fill_page(&e, &ram, &cpu, 1);
    let s = e.stats();
    assert_eq!((s.fills, s.pages_mapped_now), (5, 3));
    assert_eq!(cpu.base(1), soft(&e));
    assert!(e.slot_of(cpu.id, idx(1)).is_some());
}

#[test]
fn a_tick_shadows_an_address_space_that_no_longer_misses() {
    let (e, _ram, cpu) = setup("promote_ms=0");
    assert_eq!(cpu.base(1), soft(&e));
    e.tick(cpu.id);
    // Shadowed with nothing mirrored yet: every index at the empty slot.
    assert_ne!(cpu.base(1), soft(&e));
    assert_eq!(cpu.base(0), cpu.base(1));
    assert_eq!(e.stats().shadow_on, 1);
    // Ticks of a shadowed address space change nothing.
    e.tick(cpu.id);
    assert_eq!(e.stats().shadow_on, 1);
}

#[test]
fn shadow_code_that_runs_while_soft_takes_the_slow_path() {
    // Demoted at the first refill, with pages still mirrored in its slot.
    let (e, ram, cpu) = setup("promote_ms=0,share_pct=0");
    let jit = Jit::new();
    ram.write_u64(0, 0, 0x1234);
    ram.write_u64(1, 0, 0x5678);
    for p in 0..2u64 {
        fill_page(&e, &ram, &cpu, p);
    }
    assert_eq!(jit.load(cpu.base(1), PAGE_SIZE, 8), Some(0x5678));
    e.flush_page(cpu.id, IdxMap::ALL, 0);
    fill_page(&e, &ram, &cpu, 0);
    assert_eq!(cpu.base(1), soft(&e));
    assert!(e.slot_of(cpu.id, idx(1)).is_some(), "its slot is kept");
    // Until QEMU leaves the blocks for the shadow, their accesses meet
    // the soft slot: every one faults into the slow path, none sees the
    // kept slot's pages, and the loads and stores still happen.
    let ram = Rc::new(ram);
    let misses = Rc::new(Cell::new(0));
    let (m, r) = (misses.clone(), ram.clone());
    on_miss(move |miss| {
        m.set(m.get() + 1);
        Some(miss.emulate(&r, miss.va / PAGE_SIZE))
    });
    assert_eq!(jit.load(cpu.base(1), PAGE_SIZE, 8), Some(0x5678));
    assert!(jit.store(cpu.base(1), 8, 4, 0xabcd));
    assert_eq!(jit.load(cpu.base(3), 8, 4), Some(0xabcd));
    assert_eq!(misses.get(), 3);
    assert_eq!(ram.read_u64(0, 8), 0xabcd);
}

#[test]
fn a_full_flush_keeps_address_spaces_on_the_soft_tlb_a_while_longer() {
    // A guest that flushes everything more often than an address space
    // needs to be shadowed (Linux with the ARM erratum 720789 workaround,
    // forking) keeps all of them on the soft TLB.
    let (e, ram, cpu) = setup("promote_ms=300");
    let wait = |ms| std::thread::sleep(std::time::Duration::from_millis(ms));
    for _ in 0..3 {
        wait(200);
        e.flush_all(cpu.id);
        fill_page(&e, &ram, &cpu, 0);
        assert_eq!(cpu.base(1), soft(&e));
    }
    // Left alone for long enough, it is shadowed.
    wait(320);
    fill_page(&e, &ram, &cpu, 0);
    assert_ne!(cpu.base(1), soft(&e));
    assert_eq!(e.stats().shadow_on, 1);
}
