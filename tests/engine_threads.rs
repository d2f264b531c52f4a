//! Two threads as two vCPUs, each with its own slots, at the same time.

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
