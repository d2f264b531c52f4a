//! Property test: random sequences of fills, page/range/index/full
//! flushes, write protection and large-page flushes, checked after every
//! step against a model of what the soft TLB allows.
//!
//! The shadow is a cache, so flushing more than asked is allowed; what
//! must never happen is a shadow that shows a page the model does not
//! map, shows the wrong RAM page, or allows a store the model forbids.
//! And right after a fill, the filled page must be visible.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::engine::OtherVcpus;
use espt::types::PAGE_SIZE;
use espt::IdxMap;
use proptest::prelude::*;

const RAM_PAGES: u64 = 32;
const VPAGES: u32 = 48;
const IDXS: u32 = 2;

#[derive(Clone, Debug)]
enum Op {
    /// Fill virtual page `vpage` of `idx` from RAM page `ram`; `large`:
    /// the page belongs to a 16-page (64 KiB) guest large page.
    Fill {
        idx: u32,
        vpage: u32,
        ram: u64,
        write: bool,
        large: bool,
    },
    FlushPage {
        idxmap: u32,
        vpage: u32,
    },
    FlushRange {
        idxmap: u32,
        vpage: u32,
        pages: u32,
    },
    FlushIdx {
        idxmap: u32,
    },
    FlushAll,
    Protect {
        ram: u64,
        pages: u64,
    },
    /// The guest switches to address space `ctx` (an ASID change).
    Switch {
        ctx: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..IDXS, 0..VPAGES, 0..RAM_PAGES, any::<bool>(), any::<bool>())
            .prop_map(|(idx, vpage, ram, write, large)| Op::Fill { idx, vpage, ram, write, large }),
        2 => (1..4u32, 0..VPAGES).prop_map(|(idxmap, vpage)| Op::FlushPage { idxmap, vpage }),
        1 => (1..4u32, 0..VPAGES, 1..20u32)
            .prop_map(|(idxmap, vpage, pages)| Op::FlushRange { idxmap, vpage, pages }),
        1 => (1..4u32).prop_map(|idxmap| Op::FlushIdx { idxmap }),
        1 => Just(Op::FlushAll),
        2 => (0..RAM_PAGES, 1..4u64).prop_map(|(ram, pages)| Op::Protect { ram, pages }),
        2 => (0..3u64).prop_map(|ctx| Op::Switch { ctx }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ram: u64,
    write: bool,
    /// First virtual page of the large page it belongs to.
    large: Option<u32>,
}

/// What the soft TLB says is mapped, per address space: (idx, vpage).
/// Invalidations reach every address space, as QEMU does not say which.
#[derive(Default)]
struct Model {
    ctx: u64,
    maps: HashMap<u64, HashMap<(u32, u32), Entry>>,
}

impl Model {
    fn map(&mut self) -> &mut HashMap<(u32, u32), Entry> {
        self.maps.entry(self.ctx).or_default()
    }

    fn current(&self, key: &(u32, u32)) -> Option<&Entry> {
        self.maps.get(&self.ctx).and_then(|m| m.get(key))
    }

    fn drop_page(&mut self, idx: u32, vpage: u32) {
        for map in self.maps.values_mut() {
            // The page, and every page of a large page containing it.
            let large = map.get(&(idx, vpage)).and_then(|e| e.large);
            map.retain(|&(i, v), e| {
                !(i == idx && (v == vpage || (large.is_some() && e.large == large)))
            });
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&(u32, u32), &mut Entry) -> bool) {
        for map in self.maps.values_mut() {
            map.retain(|k, e| keep(k, e));
        }
    }
}

fn idxs(map: u32) -> impl Iterator<Item = u32> {
    (0..IDXS).filter(move |i| map & (1 << i) != 0)
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let e = Arc::new(engine(1));
    let ram = GuestRam::new(RAM_PAGES);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Fill {
                idx: i,
                vpage,
                ram: r,
                write,
                large,
            } => {
                let prot = if write {
                    ESPT_PROT_READ | ESPT_PROT_WRITE
                } else {
                    ESPT_PROT_READ
                };
                let size = if large { 16 * PAGE_SIZE } else { PAGE_SIZE };
                let va = u64::from(vpage) * PAGE_SIZE;
                // A refill replaces this page's entry only: other pages of
                // an old large page stay valid until the guest flushes.
                e.fill(cpu.id, idx(i), va, size, ram.page_addr(r), prot)
                    .unwrap();
                model.map().insert(
                    (i, vpage),
                    Entry {
                        ram: r,
                        write,
                        large: large.then_some(vpage & !15),
                    },
                );
                prop_assert_eq!(jit.load(cpu.base(i), va, 8), Some(marker(r)), "just filled");
            }
            Op::FlushPage { idxmap, vpage } => {
                e.flush_page(
                    cpu.id,
                    IdxMap::from_bits(idxmap),
                    u64::from(vpage) * PAGE_SIZE + 5,
                );
                for i in idxs(idxmap) {
                    model.drop_page(i, vpage);
                }
            }
            Op::FlushRange {
                idxmap,
                vpage,
                pages,
            } => {
                e.flush_range(
                    cpu.id,
                    IdxMap::from_bits(idxmap),
                    u64::from(vpage) * PAGE_SIZE,
                    u64::from(pages) * PAGE_SIZE,
                );
                for i in idxs(idxmap) {
                    for v in vpage..vpage + pages {
                        model.drop_page(i, v);
                    }
                }
            }
            Op::FlushIdx { idxmap } => {
                e.flush_mmuidx(cpu.id, IdxMap::from_bits(idxmap), OtherVcpus::MayRun);
                model.retain(|&(i, _), _| idxmap & (1 << i) == 0);
            }
            Op::FlushAll => {
                e.flush_all(cpu.id);
                model.maps.clear();
            }
            Op::Protect { ram: r, pages } => {
                e.protect_host_range(ram.page_addr(r), pages * PAGE_SIZE);
                model.retain(|_, entry| {
                    if entry.ram >= r && entry.ram < r + pages {
                        entry.write = false;
                    }
                    true
                });
            }
            Op::Switch { ctx } => {
                e.switch_context(cpu.id, espt::ContextKey(ctx));
                model.ctx = ctx;
            }
        }
        // Invariants: whatever the shadow shows, the model allows.
        for i in 0..IDXS {
            for v in 0..VPAGES + 16 {
                let va = u64::from(v) * PAGE_SIZE;
                let seen = jit.load(cpu.base(i), va, 8);
                let expected = model.current(&(i, v));
                if let Some(val) = seen {
                    let entry = expected.ok_or_else(|| {
                        TestCaseError::fail(format!("idx {i} page {v} visible but not mapped"))
                    })?;
                    prop_assert_eq!(
                        val,
                        marker(entry.ram),
                        "idx {} page {} shows the wrong RAM page",
                        i,
                        v
                    );
                    // A store of the same value is harmless if it lands.
                    let stored = jit.store(cpu.base(i), va, 8, val);
                    prop_assert!(
                        !stored || entry.write,
                        "idx {} page {} writable against the model",
                        i,
                        v
                    );
                }
            }
        }
    }
    // Accounting is consistent at the end: what the engine counts is what
    // the kernel has, with the mirrors revoked by a whole flush kept.
    e.flush_all(cpu.id);
    e.wait_reclaimed();
    let s = e.stats();
    let (start, end) = (e.region_base(), e.region_base() + e.region_size() as usize);
    prop_assert_eq!(vmas_in(start, end) as u64, 1 + s.vmas_now, "{:?}", s);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn shadow_never_shows_more_than_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
