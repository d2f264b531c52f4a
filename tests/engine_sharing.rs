//! One mirror per address space, shared by the vCPUs that run it.

mod common;

use std::sync::Arc;

use common::*;
use espt::engine::{Config, ContextKey, Engine, OtherVcpus};
use espt::space::Tables;
use espt::types::PAGE_SIZE;
use espt::IdxMap;

/// A page one vCPU mirrored serves another vCPU of the same address
/// space: its fault finds the page mirrored and makes no second mapping.
#[test]
fn one_mapping_serves_every_vcpu_of_an_address_space() {
    let e = Arc::new(engine(2));
    let ram = GuestRam::new(4);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    e.fill(a.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    let jit = Jit::new();
    {
        let (e, host, id) = (e.clone(), ram.page_addr(1), b.id);
        on_miss(move |m| {
            e.fill(id, idx(0), m.va, PAGE_SIZE, host, RW).unwrap();
            Some(marker(1))
        });
    }
    // b's table had no slot yet: one fault, no new mapping, and then
    // the shadow serves it.
    assert_eq!(jit.load(b.base(0), 0x1000, 8), Some(marker(1)));
    on_miss(|_| None);
    assert_eq!(jit.load(b.base(0), 0x1000, 8), Some(marker(1)));
    let s = e.stats();
    assert_eq!((s.fills, s.pages_mapped_now), (1, 1), "{s:?}");
    assert_eq!(e.slot_of(a.id, idx(0)), e.slot_of(b.id, idx(0)));
    assert_eq!(a.base(0), b.base(0));
    assert_eq!(
        (s.spaces_mirrored_now, s.spaces_shared_now),
        (1, 1),
        "{s:?}"
    );
    // Another address space on b: nothing is shared any more.
    e.switch_context(b.id, ContextKey(3));
    let s = e.stats();
    assert_eq!(
        (s.spaces_mirrored_now, s.spaces_shared_now),
        (1, 0),
        "{s:?}"
    );
}

/// A vCPU that switches to an address space another vCPU mirrored sees
/// its mirror at once.
#[test]
fn a_switch_finds_the_mirror_another_vcpu_made() {
    let e = engine(2);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    e.switch_context(a.id, ContextKey(5));
    e.fill(a.id, idx(0), 0x2000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    e.switch_context(b.id, ContextKey(5));
    assert_eq!(b.base(0), a.base(0));
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(b.base(0), 0x2000, 8), Some(marker(2)));
}

/// Flushes of one vCPU reach the mirror the other uses.  A whole flush
/// revokes the mirror where it is, whether the other may be running or
/// not: its table, and any base it holds in a register, still reach its
/// own address space, whose pages fault until a fill revalidates them.
#[test]
fn flushes_reach_every_vcpu_of_an_address_space() {
    let e = engine(2);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    let fill_both = || {
        for cpu in [&a, &b] {
            e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
                .unwrap();
            e.fill(cpu.id, idx(0), 0x3000, PAGE_SIZE, ram.page_addr(3), RW)
                .unwrap();
        }
    };
    fill_both();
    let jit = Jit::new();
    on_miss(|_| None);
    // A page flush on a: gone for b too.
    e.flush_page(a.id, IdxMap::ALL, 0x1000);
    assert_eq!(jit.load(b.base(0), 0x1000, 8), None);
    assert_eq!(jit.load(b.base(0), 0x3000, 8), Some(marker(3)));
    // A whole flush on a, b may run: revoked in place.
    let slot = e.slot_of(b.id, idx(0)).unwrap();
    let base = b.base(0);
    e.flush_all(a.id);
    let s = e.stats();
    assert_eq!((s.shared_clears, s.slots_retired), (0, 0), "{s:?}");
    assert_eq!(s.pages_mapped_now, 0, "{s:?}");
    assert_eq!(e.slot_of(b.id, idx(0)), Some(slot));
    assert_eq!(b.base(0), base);
    assert_eq!(jit.load(b.base(0), 0x3000, 8), None);
    // The same with the others stopped; b's fill revalidates for both.
    fill_both();
    assert_eq!(e.stats().revived, s.revived + 2);
    e.flush_mmuidx(a.id, IdxMap::ALL, OtherVcpus::Stopped);
    assert_eq!(e.slot_of(b.id, idx(0)), Some(slot));
    assert_eq!(jit.load(b.base(0), 0x3000, 8), None);
    e.fill(b.id, idx(0), 0x3000, PAGE_SIZE, ram.page_addr(3), RW)
        .unwrap();
    assert_eq!(jit.load(a.base(0), 0x3000, 8), Some(marker(3)));
}

/// With mirrors dropped at whole flushes (`keep=0`): while the other
/// vCPU may be running, a mirror it uses is emptied where it is; with
/// every other vCPU stopped, it is retired and their tables show the
/// empty slot.
#[test]
fn dropped_mirrors_are_emptied_in_place_or_retired() {
    let mut config = Config::new(2);
    config.governor.keep_mirrors = false;
    let e = Engine::new(config).unwrap();
    let ram = GuestRam::new(4);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    let fill_both = || {
        for cpu in [&a, &b] {
            e.fill(cpu.id, idx(0), 0x3000, PAGE_SIZE, ram.page_addr(3), RW)
                .unwrap();
        }
    };
    fill_both();
    let jit = Jit::new();
    on_miss(|_| None);
    let slot = e.slot_of(b.id, idx(0)).unwrap();
    let base = b.base(0);
    e.flush_all(a.id);
    let s = e.stats();
    assert_eq!((s.shared_clears, s.slots_retired), (1, 0), "{s:?}");
    assert_eq!(e.slot_of(b.id, idx(0)), Some(slot));
    assert_eq!(b.base(0), base);
    assert_eq!(jit.load(b.base(0), 0x3000, 8), None);
    fill_both();
    e.flush_mmuidx(a.id, IdxMap::ALL, OtherVcpus::Stopped);
    let s = e.stats();
    assert_eq!((s.shared_clears, s.slots_retired), (1, 1), "{s:?}");
    assert_eq!(e.slot_of(b.id, idx(0)), None);
    assert_ne!(b.base(0), base);
    assert_eq!(b.base(0), a.base(0));
    assert_eq!(jit.load(b.base(0), 0x3000, 8), None);
    assert_eq!(s.revived, 0, "{s:?}");
}

/// A flush of one ASID from one vCPU drops that address space's mirror
/// whichever vCPU runs it, and no other.
#[test]
fn an_asid_flush_reaches_the_address_space_wherever_it_runs() {
    let e = engine(2);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    e.switch_context(a.id, ContextKey(1));
    e.switch_context(b.id, ContextKey(2));
    for cpu in [&a, &b] {
        e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
            .unwrap();
    }
    let jit = Jit::new();
    on_miss(|_| None);
    // From a, which runs ASID 1: ASID 2's mirror goes, a's own too.
    e.flush_context(a.id, 2, 0xff, OtherVcpus::MayRun);
    assert_eq!(jit.load(b.base(0), 0x1000, 8), None);
    assert_eq!(jit.load(a.base(0), 0x1000, 8), None);
    // A third address space that neither names nor runs keeps its mirror.
    e.switch_context(a.id, ContextKey(9));
    e.fill(a.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    e.switch_context(a.id, ContextKey(1));
    e.flush_context(b.id, 2, 0xff, OtherVcpus::MayRun);
    e.switch_context(a.id, ContextKey(9));
    assert_eq!(jit.load(a.base(0), 0x1000, 8), Some(marker(2)));
}

/// Two vCPUs that give one ASID different translation tables run two
/// address spaces: neither sees what the other mirrored.
#[test]
fn one_key_with_other_tables_is_another_address_space() {
    let e = engine(2);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let (a, b) = (TestVcpu::new(&e, 0), TestVcpu::new(&e, 1));
    e.switch_context_at(a.id, ContextKey(7), Tables([0x4000_0000, 0]));
    e.switch_context_at(b.id, ContextKey(7), Tables([0x4010_0000, 0]));
    e.fill(a.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    e.fill(b.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    assert_ne!(a.base(0), b.base(0));
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(a.base(0), 0x1000, 8), Some(marker(1)));
    assert_eq!(jit.load(b.base(0), 0x1000, 8), Some(marker(2)));
    let s = e.stats();
    assert_eq!(
        (s.spaces_mirrored_now, s.spaces_shared_now),
        (2, 0),
        "{s:?}"
    );
    // An ASID flush names the key: both go.
    e.flush_context(a.id, 7, 0xff, OtherVcpus::MayRun);
    assert_eq!(jit.load(b.base(0), 0x1000, 8), None);
}
