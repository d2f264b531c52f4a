//! Mirrors that survive whole invalidations: revoked in bulk, brought
//! back page by page by a fill that finds the same translation, mapped
//! anew when it changed.

mod common;

use common::*;
use espt::abi::ESPT_PROT_READ;
use espt::engine::{ContextKey, Engine, OtherVcpus};
use espt::types::PAGE_SIZE;
use espt::IdxMap;

/// An engine with one vCPU, `pages` of registered guest RAM, and JIT code
/// whose misses give up.
struct Rig {
    e: Engine,
    ram: GuestRam,
    cpu: TestVcpu,
    jit: Jit,
}

fn rig(pages: u64) -> Rig {
    let e = engine(1);
    let ram = GuestRam::new(pages);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    Rig { e, ram, cpu, jit }
}

/// An address space no vCPU runs is only marked stale by a whole flush;
/// its pages are revoked when a vCPU enters it again, and come back by
/// revalidation.
#[test]
fn a_stale_address_space_is_revoked_when_entered() {
    let Rig { e, ram, cpu, jit } = rig(4);
    e.switch_context(cpu.id, ContextKey(1));
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    e.fill(cpu.id, idx(0), 0x2000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    e.switch_context(cpu.id, ContextKey(2));
    e.flush_all(cpu.id);
    let s = e.stats();
    assert_eq!(s.pages_revoked_now, 0, "not yet: {s:?}");
    e.switch_context(cpu.id, ContextKey(1));
    let s = e.stats();
    assert_eq!((s.pages_mapped_now, s.pages_revoked_now), (0, 2), "{s:?}");
    assert_eq!(jit.load(cpu.base(0), 0x1000, 8), None);
    assert_eq!(jit.load(cpu.base(0), 0x2000, 8), None);
    // The same translation: revalidated.  Another: mapped over it.
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    e.fill(cpu.id, idx(0), 0x2000, PAGE_SIZE, ram.page_addr(3), RW)
        .unwrap();
    assert_eq!(jit.load(cpu.base(0), 0x1000, 8), Some(marker(1)));
    assert_eq!(jit.load(cpu.base(0), 0x2000, 8), Some(marker(3)));
    assert_eq!(e.stats().revived, s.revived + 1);
}

/// Rights reduced behind a whole flush: the page comes back read-only,
/// and a store faults.
#[test]
fn revalidation_takes_the_rights_of_the_new_translation() {
    let Rig { e, ram, cpu, jit } = rig(4);
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    assert!(jit.store(cpu.base(0), 0x1008, 8, 7));
    e.flush_mmuidx(cpu.id, IdxMap::ALL, OtherVcpus::MayRun);
    e.fill(
        cpu.id,
        idx(0),
        0x1000,
        PAGE_SIZE,
        ram.page_addr(1),
        ESPT_PROT_READ,
    )
    .unwrap();
    assert_eq!(jit.load(cpu.base(0), 0x1008, 8), Some(7));
    assert!(!jit.store(cpu.base(0), 0x1008, 8, 8));
    assert_eq!(ram.read_u64(1, 8), 7);
    e.flush_all(cpu.id);
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    assert!(jit.store(cpu.base(0), 0x1008, 8, 9));
    assert_eq!(ram.read_u64(1, 8), 9);
    assert_eq!(e.stats().revived, 2);
}

/// A run of a large page revoked by a whole flush comes back with one
/// call where its pages still map the same RAM, and is mapped where they
/// do not.
#[test]
fn a_run_is_revalidated_where_it_still_maps_the_same_ram() {
    let Rig { e, ram, cpu, jit } = rig(40);
    let va = 0x10_0000;
    e.fill_run(cpu.id, idx(1), va, 16, 16 * PAGE_SIZE, ram.page_addr(0), RW)
        .unwrap();
    e.flush_all(cpu.id);
    for i in 0..16 {
        assert_eq!(jit.load(cpu.base(1), va + i * PAGE_SIZE, 8), None);
    }
    e.fill_run(cpu.id, idx(1), va, 16, 16 * PAGE_SIZE, ram.page_addr(0), RW)
        .unwrap();
    assert_eq!(e.stats().revived, 16);
    for i in 0..16 {
        assert_eq!(
            jit.load(cpu.base(1), va + i * PAGE_SIZE, 8),
            Some(marker(i))
        );
    }
    // The guest moved the large page: nothing is revalidated.
    e.flush_all(cpu.id);
    e.fill_run(
        cpu.id,
        idx(1),
        va,
        16,
        16 * PAGE_SIZE,
        ram.page_addr(16),
        RW,
    )
    .unwrap();
    assert_eq!(e.stats().revived, 16);
    for i in 0..16 {
        let seen = jit.load(cpu.base(1), va + i * PAGE_SIZE, 8);
        assert_eq!(seen, Some(marker(16 + i)));
    }
    let (start, end) = (e.region_base(), e.region_base() + e.region_size() as usize);
    assert_eq!(vmas_in(start, end) as u64, 1 + e.stats().vmas_now);
}

/// A page flush after a whole flush finds nothing to do in a slot that
/// holds only revoked pages, and the slot's page stays revoked.
#[test]
fn page_flushes_skip_revoked_mirrors() {
    let Rig { e, ram, cpu, jit } = rig(4);
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    e.flush_all(cpu.id);
    assert_eq!(e.flush_page(cpu.id, IdxMap::ALL, 0x1000), IdxMap::EMPTY);
    assert_eq!(jit.load(cpu.base(0), 0x1000, 8), None);
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    assert_eq!(jit.load(cpu.base(0), 0x1000, 8), Some(marker(2)));
}
