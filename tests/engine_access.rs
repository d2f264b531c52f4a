//! Generated loads and stores through slots: hits reach the memfd-backed
//! guest RAM, misses fault, are redirected to the slow path, filled and
//! retried; stores to write-protected pages fault and are redirected.

mod common;

use std::sync::Arc;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::engine::OtherVcpus;
use espt::types::PAGE_SIZE;

const RW: u32 = ESPT_PROT_READ | ESPT_PROT_WRITE;
const RO: u32 = ESPT_PROT_READ;

/// Guest page table of the tests: virtual page -> RAM page.
fn ram_page_of(va: u64) -> u64 {
    // Scatter: virtual pages map to RAM pages in a permuted order.
    ((va / PAGE_SIZE) * 7 + 3) % 64
}

#[test]
fn loads_and_stores_of_every_size_reach_guest_ram() {
    let e = Arc::new(engine(1));
    let ram = Arc::new(GuestRam::new(64));
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    {
        let (e, ram, id) = (e.clone(), ram.clone(), cpu.id);
        on_miss(move |m| {
            let page = ram_page_of(m.va);
            e.fill(id, idx(1), m.va, PAGE_SIZE, ram.page_addr(page), RW)
                .unwrap();
            Some(m.emulate(&ram, page))
        });
    }
    let base = cpu.base(1);
    assert_eq!(
        base,
        e.slot_base(espt::SlotId::EMPTY) as u64,
        "unfilled entries point at the empty slot"
    );

    // Loads see what QEMU's own mapping of guest RAM holds.
    for vpage in [0u64, 1, 5, 0x1234, 0xfffff] {
        let va = vpage * PAGE_SIZE;
        assert_eq!(jit.load(cpu.base(1), va, 8), Some(marker(ram_page_of(va))));
    }
    let base = cpu.base(1);
    assert_ne!(base, e.slot_base(espt::SlotId::EMPTY) as u64);

    // Stores of every size land in guest RAM, little-endian.
    let va = 0x40_0000 + 0x10;
    for (size, val) in [
        (1u32, 0xabu64),
        (2, 0xbeef),
        (4, 0xdead_beef),
        (8, 0x0123_4567_89ab_cdef),
    ] {
        assert!(jit.store(base, va, size, val));
        let raw = ram.read_u64(ram_page_of(va), 0x10);
        let mask = if size == 8 {
            u64::MAX
        } else {
            (1u64 << (size * 8)) - 1
        };
        assert_eq!(raw & mask, val, "store of {size} bytes");
        assert_eq!(jit.load(base, va, size), Some(val), "load of {size} bytes");
    }
    // And QEMU's stores are seen through the shadow.
    ram.write_u64(ram_page_of(va), 0x18, 0x1111_2222_3333_4444);
    assert_eq!(jit.load(base, va + 8, 8), Some(0x1111_2222_3333_4444));
    assert_eq!(jit.load(base, va + 8, 4), Some(0x3333_4444));
    assert_eq!(jit.load(base, va + 8, 2), Some(0x4444));
    assert_eq!(jit.load(base, va + 8, 1), Some(0x44));

    let s = e.stats();
    assert!(s.fills >= 6, "{s:?}");
    assert!(s.redirects >= 6, "{s:?}");
    assert_eq!(s.pages_mapped_now, 6);
}

#[test]
fn a_miss_that_the_slow_path_does_not_fill_stays_a_fault() {
    let e = engine(1);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(cpu.base(0), 0x1000, 4), None);
    assert!(!jit.store(cpu.base(0), 0x1000, 4, 1));
}

#[test]
fn stores_to_write_protected_pages_are_redirected() {
    let e = Arc::new(engine(1));
    let ram = Arc::new(GuestRam::new(8));
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    let store_misses = Arc::new(std::sync::atomic::AtomicU32::new(0));
    {
        let (e, ram, id, sm) = (e.clone(), ram.clone(), cpu.id, store_misses.clone());
        // The soft TLB's answer: page 2 of RAM is read-only until "dirty";
        // a store miss makes it writable (QEMU's notdirty path).
        on_miss(move |m| {
            let prot = if m.is_store {
                sm.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                RW
            } else {
                RO
            };
            e.fill(id, idx(0), m.va, PAGE_SIZE, ram.page_addr(2), prot)
                .unwrap();
            Some(m.emulate(&ram, 2))
        });
    }
    let va = 0x8000;
    assert_eq!(jit.load(cpu.base(0), va, 8), Some(marker(2)));
    assert_eq!(store_misses.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Read-only: the store faults, the slow path upgrades, the retry works.
    assert!(jit.store(cpu.base(0), va + 8, 8, 42));
    assert_eq!(store_misses.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(ram.read_u64(2, 8), 42);
    assert!(e.stats().upgrades >= 1);
    // Write-protect by host range (code was translated from this page).
    e.protect_host_range(ram.page_addr(2), PAGE_SIZE);
    assert_eq!(e.stats().write_protects, 1);
    assert!(jit.store(cpu.base(0), va + 8, 8, 43));
    assert_eq!(store_misses.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(ram.read_u64(2, 8), 43);
    // Loads never needed the slow path again.
    assert_eq!(jit.load(cpu.base(0), va, 8), Some(marker(2)));
}

#[test]
fn write_protect_reaches_every_slot_and_vcpu() {
    let e = Arc::new(engine(2));
    let ram = GuestRam::new(4);
    ram.register(&e);
    let a = TestVcpu::new(&e, 0);
    let b = TestVcpu::new(&e, 1);
    let host = ram.page_addr(1);
    // The same RAM page at two virtual addresses in two mmu indexes of two
    // vCPUs running two address spaces: eight shadows.
    e.switch_context(b.id, espt::ContextKey(1));
    for cpu in [&a, &b] {
        for i in [0, 1] {
            e.fill(cpu.id, idx(i), 0x1000, PAGE_SIZE, host, RW).unwrap();
            e.fill(cpu.id, idx(i), 0x7000_0000, PAGE_SIZE, host, RW)
                .unwrap();
        }
    }
    e.protect_host_range(host + 100, 1);
    assert_eq!(e.stats().write_protects, 8);
    let jit = Jit::new();
    on_miss(|_| None);
    for cpu in [&a, &b] {
        for i in [0, 1] {
            for va in [0x1000u64, 0x7000_0000] {
                assert_eq!(jit.load(cpu.base(i), va, 8), Some(marker(1)));
                assert!(
                    !jit.store(cpu.base(i), va, 8, 0),
                    "store through a protected shadow"
                );
            }
        }
    }
    assert_eq!(ram.read_u64(1, 0), marker(1));
}

#[test]
fn accesses_past_4gib_hit_the_guard_not_the_next_slot() {
    let e = Arc::new(engine(1));
    let ram = Arc::new(GuestRam::new(4));
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    // Two slots in use: idx 0 and idx 1; the last page of idx 0 is mapped.
    e.fill(cpu.id, idx(0), 0xffff_f000, PAGE_SIZE, ram.page_addr(0), RW)
        .unwrap();
    e.fill(cpu.id, idx(1), 0, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    let jit = Jit::new();
    let misses = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let misses = misses.clone();
        on_miss(move |m| {
            misses.lock().unwrap().push(m.va);
            None
        });
    }
    // The last 8 bytes of the guest address space are fine...
    assert!(jit.load(cpu.base(0), 0xffff_fff8, 8).is_some());
    // ...an 8-byte access at 0xffff_fffc runs 4 bytes past the slot: the
    // guard faults instead of reading whatever follows.
    assert_eq!(jit.load(cpu.base(0), 0xffff_fffc, 8), None);
    assert!(!jit.store(cpu.base(0), 0xffff_fffd, 8, 7));
    assert_eq!(*misses.lock().unwrap(), vec![0xffff_fffc, 0xffff_fffd]);
    assert_eq!(ram.read_u64(1, 0), marker(1));
}

#[test]
fn flushes_drop_exactly_what_they_must() {
    let e = Arc::new(engine(1));
    let ram = GuestRam::new(600);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    let host = |p: u64| ram.page_addr(p);
    // A 1 MiB section at 0x0010_0000 (256 pages), filled page by page as
    // the soft TLB would, and two small pages.
    for i in 0..256u64 {
        e.fill(
            cpu.id,
            idx(1),
            0x10_0000 + i * PAGE_SIZE,
            1 << 20,
            host(i),
            RW,
        )
        .unwrap();
    }
    e.fill(cpu.id, idx(1), 0x9000, PAGE_SIZE, host(300), RW)
        .unwrap();
    e.fill(cpu.id, idx(1), 0xa000, PAGE_SIZE, host(301), RW)
        .unwrap();
    e.fill(cpu.id, idx(0), 0x9000, PAGE_SIZE, host(302), RW)
        .unwrap();
    let base1 = cpu.base(1);
    // TLBIMVA of one address inside the section drops all of it.
    e.flush_page(cpu.id, espt::IdxMap::from_bits(0b10), 0x17_7abc);
    for i in 0..256u64 {
        assert_eq!(
            jit.load(base1, 0x10_0000 + i * PAGE_SIZE, 8),
            None,
            "section page {i}"
        );
    }
    assert_eq!(jit.load(base1, 0x9000, 8), Some(marker(300)));
    assert_eq!(e.stats().large_page_drops, 1);
    // A page flush drops that page only, in the mmu indexes asked for.
    e.flush_page(cpu.id, espt::IdxMap::from_bits(0b10), 0x9fff);
    assert_eq!(jit.load(base1, 0x9000, 8), None);
    assert_eq!(jit.load(base1, 0xa000, 8), Some(marker(301)));
    assert_eq!(jit.load(cpu.base(0), 0x9000, 8), Some(marker(302)));
    // A flush by mmu index revokes what the slot mirrors, in place: the
    // table still shows the slot, whose pages fault.
    let slot0 = cpu.base(0);
    e.flush_mmuidx(cpu.id, espt::IdxMap::from_bits(0b01), OtherVcpus::MayRun);
    assert_eq!(cpu.base(0), slot0);
    assert_eq!(jit.load(cpu.base(0), 0x9000, 8), None);
    assert_eq!(jit.load(cpu.base(1), 0xa000, 8), Some(marker(301)));
    // A range flush.
    e.flush_range(cpu.id, espt::IdxMap::ALL, 0xa000, 0x10);
    assert_eq!(jit.load(cpu.base(1), 0xa000, 8), None);
    // Everything.
    e.fill(cpu.id, idx(1), 0xb000, PAGE_SIZE, host(1), RW)
        .unwrap();
    e.flush_all(cpu.id);
    assert_eq!(jit.load(cpu.base(1), 0xb000, 8), None);
    let s = e.stats();
    assert_eq!(s.pages_mapped_now, 0);
    assert!(s.pages_revoked_now >= 2, "{s:?}");
    // Mirrored again as it was: revalidated, not mapped anew.
    e.fill(cpu.id, idx(1), 0xb000, PAGE_SIZE, host(1), RW)
        .unwrap();
    assert_eq!(jit.load(cpu.base(1), 0xb000, 8), Some(marker(1)));
    assert_eq!(e.stats().revived, s.revived + 1);
    // Mirrored to another page: mapped over the revoked one.
    e.flush_all(cpu.id);
    e.fill(cpu.id, idx(1), 0xb000, PAGE_SIZE, host(2), RW)
        .unwrap();
    assert_eq!(jit.load(cpu.base(1), 0xb000, 8), Some(marker(2)));
    assert_eq!(e.stats().revived, s.revived + 1);
}

#[test]
fn removed_ram_is_no_longer_mirrored() {
    let e = engine(1);
    let ram = GuestRam::new(4);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    e.fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(3), RW)
        .unwrap();
    e.unregister_ram(ram.host as usize);
    let jit = Jit::new();
    on_miss(|_| None);
    assert_eq!(jit.load(cpu.base(0), 0x1000, 8), None);
    assert!(e
        .fill(cpu.id, idx(0), 0x1000, PAGE_SIZE, ram.page_addr(3), RW)
        .is_err());
    assert_eq!(e.stats().pages_mapped_now, 0);
}

#[test]
fn address_spaces_keep_their_slots_across_switches() {
    let e = engine(1);
    let ram = GuestRam::new(8);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    let (a, b) = (espt::ContextKey(1), espt::ContextKey(2));
    // The same virtual page maps to RAM page 1 in A and 2 in B.
    e.switch_context(cpu.id, a);
    e.fill(cpu.id, idx(0), 0x5000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    e.fill(cpu.id, idx(0), 0x6000, PAGE_SIZE, ram.page_addr(3), RW)
        .unwrap();
    e.switch_context(cpu.id, b);
    assert_eq!(
        jit.load(cpu.base(0), 0x5000, 8),
        None,
        "B does not see A's page"
    );
    e.fill(cpu.id, idx(0), 0x5000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    for _ in 0..3 {
        e.switch_context(cpu.id, a);
        assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(1)));
        e.switch_context(cpu.id, b);
        assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(2)));
    }
    // A page flush while B runs reaches A's slots too (TLBIMVA with A's
    // ASID, or TLBIMVAA): QEMU does not say which address space it meant.
    e.flush_page(cpu.id, espt::IdxMap::ALL, 0x6000);
    e.switch_context(cpu.id, a);
    assert_eq!(jit.load(cpu.base(0), 0x6000, 8), None);
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(1)));
    // A full flush (TLBIALL) empties every address space.
    e.flush_all(cpu.id);
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    e.switch_context(cpu.id, b);
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    assert_eq!(e.stats().slot_switches, 10);
}

#[test]
fn an_asid_flush_drops_that_address_space_and_the_current_one_only() {
    let e = engine(1);
    let ram = GuestRam::new(8);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    // Keys as QEMU's ARM hook makes them with long descriptors: 1 << 63 |
    // TTBR1.ASID << 16 | TTBR0.ASID; the flush names TTBR0's ASID field.
    let key = |asid: u64| espt::ContextKey(1 << 63 | 7 << 16 | asid);
    let (mask, value) = (1 << 63 | 0xff, |asid: u64| 1 << 63 | asid);
    for (asid, page) in [(1, 1), (2, 2), (3, 3)] {
        e.switch_context(cpu.id, key(asid));
        e.fill(cpu.id, idx(0), 0x5000, PAGE_SIZE, ram.page_addr(page), RW)
            .unwrap();
        e.fill(cpu.id, idx(1), 0x9000, PAGE_SIZE, ram.page_addr(4), RW)
            .unwrap();
    }
    // Running in 3, the guest flushes ASID 1: 1 and the current 3 go, 2
    // keeps its user and kernel pages.
    e.flush_context(cpu.id, value(1), mask, OtherVcpus::MayRun);
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    assert_eq!(jit.load(cpu.base(1), 0x9000, 8), None);
    e.switch_context(cpu.id, key(2));
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(2)));
    assert_eq!(jit.load(cpu.base(1), 0x9000, 8), Some(marker(4)));
    e.switch_context(cpu.id, key(1));
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    assert_eq!(jit.load(cpu.base(1), 0x9000, 8), None);
    // High bits of the TTBR field outside the mask still match.
    e.switch_context(cpu.id, key(0x102));
    e.fill(cpu.id, idx(0), 0x5000, PAGE_SIZE, ram.page_addr(5), RW)
        .unwrap();
    e.switch_context(cpu.id, key(1));
    e.flush_context(cpu.id, value(2), mask, OtherVcpus::MayRun);
    e.switch_context(cpu.id, key(0x102));
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    e.switch_context(cpu.id, key(2));
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None);
    assert_eq!(e.stats().flush_context, 2);
}

#[test]
fn an_asid_flush_drops_that_asid_under_every_dacr() {
    let e = engine(1);
    let ram = GuestRam::new(8);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    // Short-descriptor keys: DACR << 8 | CONTEXTIDR.ASID.  A kernel with
    // software PAN runs each process under two DACRs.
    let (kernel, uaccess) = (0x5555_5551_u64, 0x5555_5555_u64);
    let key = |dacr: u64, asid: u64| espt::ContextKey(dacr << 8 | asid);
    let (mask, value) = (1 << 63 | 0xff, |asid: u64| asid);
    for (k, page) in [
        (key(kernel, 1), 1),
        (key(uaccess, 1), 2),
        (key(uaccess, 2), 3),
        (key(kernel, 2), 4),
    ] {
        e.switch_context(cpu.id, k);
        e.fill(cpu.id, idx(0), 0x5000, PAGE_SIZE, ram.page_addr(page), RW)
            .unwrap();
    }
    // Each pair kept its own mirror.
    e.switch_context(cpu.id, key(uaccess, 1));
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(2)));
    // Running in (kernel, 2), the guest flushes ASID 1: both of its pairs
    // go, and the current one; (uaccess, 2) stays.
    e.switch_context(cpu.id, key(kernel, 2));
    e.flush_context(cpu.id, value(1), mask, OtherVcpus::MayRun);
    for k in [key(kernel, 1), key(uaccess, 1), key(kernel, 2)] {
        e.switch_context(cpu.id, k);
        assert_eq!(jit.load(cpu.base(0), 0x5000, 8), None, "{k:?}");
    }
    e.switch_context(cpu.id, key(uaccess, 2));
    assert_eq!(jit.load(cpu.base(0), 0x5000, 8), Some(marker(3)));
}

#[test]
fn a_run_fill_mirrors_a_whole_window_of_a_large_page() {
    let e = engine(1);
    let ram = GuestRam::new(64);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    // 16 pages of a 1 MiB section at 0x0010_0000, onto RAM pages 16..32.
    assert!(!e.any_mirrored(cpu.id, idx(1), 0x10_0000, 16 * PAGE_SIZE));
    e.fill_run(
        cpu.id,
        idx(1),
        0x10_0000,
        16,
        1 << 20,
        ram.page_addr(16),
        RO,
    )
    .unwrap();
    assert!(e.any_mirrored(cpu.id, idx(1), 0x10_0000, 16 * PAGE_SIZE));
    assert!(!e.any_mirrored(cpu.id, idx(1), 0x11_0000, 16 * PAGE_SIZE));
    for i in 0..16u64 {
        let va = 0x10_0000 + i * PAGE_SIZE;
        assert_eq!(jit.load(cpu.base(1), va, 8), Some(marker(16 + i)));
        assert!(!jit.store(cpu.base(1), va, 8, 0), "read-only run");
    }
    let s = e.stats();
    assert_eq!((s.run_fills, s.pages_mapped_now), (1, 16));
    // One VMA for the run (plus the gap it splits off).
    assert_eq!(s.vmas_now, 2);
    // Part of a large page: a flush of another page of the section drops
    // the run.
    e.flush_page(cpu.id, espt::IdxMap::ALL, 0x1f_f000);
    assert_eq!(jit.load(cpu.base(1), 0x10_0000, 8), None);
    assert_eq!(e.stats().pages_mapped_now, 0);
    // A run that is not contiguous guest RAM is refused.
    assert!(e
        .fill_run(cpu.id, idx(1), 0x10_0000, 80, 1 << 20, ram.page_addr(0), RO)
        .is_err());
}

#[test]
fn a_page_flush_says_which_shadows_were_using_the_page() {
    let e = Arc::new(engine(1));
    let ram = Arc::new(GuestRam::new(64));
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    let none = espt::IdxMap::from_bits(0);
    e.fill(cpu.id, idx(0), 0x5000, PAGE_SIZE, ram.page_addr(1), RW)
        .unwrap();
    e.fill(cpu.id, idx(1), 0x5000, PAGE_SIZE, ram.page_addr(1), RO)
        .unwrap();
    e.fill(cpu.id, idx(1), 0x7000, PAGE_SIZE, ram.page_addr(2), RW)
        .unwrap();
    // Mirrored for both indexes; only the asked ones are reported.
    assert_eq!(
        e.flush_page(cpu.id, espt::IdxMap::from_bits(0b11), 0x5abc),
        espt::IdxMap::from_bits(0b11)
    );
    assert_eq!(
        jit.load(cpu.base(0), 0x5000, 8),
        None,
        "dropped all the same"
    );
    // Revoked now: still the shadow's page until it is mapped again.
    assert_eq!(
        e.flush_page(cpu.id, espt::IdxMap::from_bits(0b01), 0x5000),
        espt::IdxMap::from_bits(0b01)
    );
    assert_eq!(
        e.flush_page(cpu.id, espt::IdxMap::ALL, 0x6000),
        none,
        "never mirrored"
    );
    assert_eq!(
        e.flush_page(cpu.id, espt::IdxMap::ALL, 0x7000),
        espt::IdxMap::from_bits(0b10)
    );
    // Another address space's slots are flushed but not reported: only
    // the current one's new translation can be looked up now.
    e.fill(cpu.id, idx(0), 0x9000, PAGE_SIZE, ram.page_addr(3), RW)
        .unwrap();
    e.switch_context(cpu.id, espt::ContextKey(2));
    assert_eq!(e.flush_page(cpu.id, espt::IdxMap::ALL, 0x9000), none);
    e.switch_context(cpu.id, espt::ContextKey(0));
    assert_eq!(
        jit.load(cpu.base(0), 0x9000, 8),
        None,
        "dropped in the saved space"
    );
}
