//! Two threads as two vCPUs at the same time: running two address
//! spaces, each of which the other's flushes reach, and sharing one.

mod common;

use std::sync::Arc;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::types::PAGE_SIZE;

#[test]
fn two_vcpus_fill_flush_and_access_concurrently() {
    let e = Arc::new(engine(2));
    let ram = Arc::new(GuestRam::new(256));
    ram.register(&e);
    let jit = Arc::new(Jit::new());
    let threads: Vec<_> = (0..2u32)
        .map(|n| {
            let (e, ram, jit) = (e.clone(), ram.clone(), jit.clone());
            std::thread::spawn(move || {
                let cpu = TestVcpu::new(&e, n);
                e.switch_context(cpu.id, espt::ContextKey(u64::from(n)));
                // vCPU n maps virtual page v to RAM page (v + 100 n) % 256.
                let ram_page = move |va: u64| (va / PAGE_SIZE + 100 * u64::from(n)) % 256;
                {
                    let (e, ram, id) = (e.clone(), ram.clone(), cpu.id);
                    on_miss(move |m| {
                        let page = ram_page(m.va);
                        let host = ram.page_addr(page);
                        e.fill(
                            id,
                            idx(0),
                            m.va,
                            PAGE_SIZE,
                            host,
                            ESPT_PROT_READ | ESPT_PROT_WRITE,
                        )
                        .unwrap();
                        Some(m.emulate(&ram, page))
                    });
                }
                for round in 0..20u64 {
                    for v in 0..64u64 {
                        let va = v * PAGE_SIZE;
                        let got = jit.load(cpu.base(0), va, 8);
                        assert_eq!(
                            got,
                            Some(marker(ram_page(va))),
                            "vcpu {n} round {round} page {v}"
                        );
                        // Each vCPU writes its own word of the page.
                        let off = 8 + 8 * u64::from(n);
                        assert!(jit.store(cpu.base(0), va + off, 8, round));
                    }
                    match round % 3 {
                        0 => e.flush_all(cpu.id),
                        1 => {
                            e.flush_page(cpu.id, espt::IdxMap::ALL, (round % 64) * PAGE_SIZE);
                        }
                        _ => e.flush_range(cpu.id, espt::IdxMap::ALL, 0, 16 * PAGE_SIZE),
                    }
                }
                cpu.id
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Every vCPU's last store is in RAM.
    for v in 0..64u64 {
        assert_eq!(ram.read_u64(v % 256, 8), 19);
        assert_eq!(ram.read_u64((v + 100) % 256, 16), 19);
    }
    e.wait_reclaimed();
    let s = e.stats();
    assert!(s.fills >= 2 * 64 * 7, "{s:?}");
    assert_eq!(s.slots_retired, s.slots_reclaimed);
}

/// Two vCPUs running one address space: they fill, read, write and flush
/// its one mirror at once.  Every load sees the page the address space
/// maps, every store lands in RAM, and one mirror served both.
#[test]
fn two_vcpus_share_one_address_space() {
    let e = Arc::new(engine(2));
    let ram = Arc::new(GuestRam::new(64));
    ram.register(&e);
    let jit = Arc::new(Jit::new());
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2u32)
        .map(|n| {
            let (e, ram, jit, barrier) = (e.clone(), ram.clone(), jit.clone(), barrier.clone());
            std::thread::spawn(move || {
                let cpu = TestVcpu::new(&e, n);
                e.switch_context(cpu.id, espt::ContextKey(7));
                {
                    let (e, ram, id) = (e.clone(), ram.clone(), cpu.id);
                    on_miss(move |m| {
                        let page = m.va / PAGE_SIZE;
                        let prot = ESPT_PROT_READ | ESPT_PROT_WRITE;
                        e.fill(id, idx(0), m.va, PAGE_SIZE, ram.page_addr(page), prot)
                            .unwrap();
                        Some(m.emulate(&ram, page))
                    });
                }
                barrier.wait();
                for round in 0..20u64 {
                    for v in 0..64u64 {
                        let va = v * PAGE_SIZE;
                        assert_eq!(jit.load(cpu.base(0), va, 8), Some(marker(v)));
                        let off = 8 + 8 * u64::from(n);
                        assert!(jit.store(cpu.base(0), va + off, 8, round));
                    }
                    match (round + u64::from(n)) % 3 {
                        0 => e.flush_all(cpu.id),
                        1 => {
                            e.flush_page(cpu.id, espt::IdxMap::ALL, (round % 64) * PAGE_SIZE);
                        }
                        _ => e.flush_range(cpu.id, espt::IdxMap::ALL, 0, 16 * PAGE_SIZE),
                    }
                }
                barrier.wait();
                let shared = e.stats().spaces_shared_now;
                barrier.wait();
                shared
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 1, "one address space, run by both");
    }
    for v in 0..64u64 {
        assert_eq!(ram.read_u64(v, 8), 19);
        assert_eq!(ram.read_u64(v, 16), 19);
    }
    let s = e.stats();
    assert!(s.revived > 0, "{s:?}");
    e.wait_reclaimed();
    assert_eq!(e.stats().slots_retired, e.stats().slots_reclaimed);
}
