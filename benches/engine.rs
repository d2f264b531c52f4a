//! Engine micro-benchmarks: `cargo bench --bench engine`.
//!
//! Prints a table of what the vCPU pays for a hit, a fill (fault +
//! redirect + mmap), a slot flush with many pages mapped, and write
//! protection of a page mirrored in several slots.  Medians of several
//! repetitions; the machine's own numbers, not a law.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::*;
use espt::abi::{ESPT_PROT_READ, ESPT_PROT_WRITE};
use espt::engine::{Config, ContextKey, Engine, OtherVcpus};
use espt::types::PAGE_SIZE;
use espt::IdxMap;

const RW: u32 = ESPT_PROT_READ | ESPT_PROT_WRITE;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn row(what: &str, value: f64, unit: &str) {
    println!("| {what:<58} | {value:>10.2} {unit:<5} |");
}

/// Loads over `len` bytes at stride 64 from `base`, ns per load.
fn stream(base: usize, len: usize) -> f64 {
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..4 {
        let mut off = 0;
        while off < len {
            // SAFETY: `base..base + len` is mapped readable by the caller.
            sum = sum.wrapping_add(unsafe { std::ptr::read_volatile((base + off) as *const u64) });
            off += 64;
        }
    }
    std::hint::black_box(sum);
    start.elapsed().as_nanos() as f64 / (4 * len / 64) as f64
}

fn bench_hit() {
    let pages = 16384u64; // 64 MiB
    let e = Engine::new(Config::new(1)).unwrap();
    let ram = GuestRam::new(pages);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    for p in 0..pages {
        e.fill(
            cpu.id,
            idx(0),
            p * PAGE_SIZE,
            PAGE_SIZE,
            ram.page_addr(p),
            RW,
        )
        .unwrap();
    }
    let len = (pages * PAGE_SIZE) as usize;
    let shadow = cpu.base(0) as usize;
    stream(shadow, len);
    stream(ram.host as usize, len);
    let s: Vec<f64> = (0..5).map(|_| stream(shadow, len)).collect();
    let d: Vec<f64> = (0..5).map(|_| stream(ram.host as usize, len)).collect();
    row(
        "hit: load through a shadow slot, 64 MiB, stride 64",
        median(s),
        "ns",
    );
    row(
        "     same loads through QEMU's own mapping of the RAM",
        median(d),
        "ns",
    );
}

/// One vCPU on a fresh engine over `pages` pages of guest RAM, whose slow
/// path fills mmu index 0 with RAM page `ram_page_of(va)` as QEMU's would.
fn filling_vcpu(
    pages: u64,
    ram_page_of: impl Fn(u64) -> u64 + 'static,
) -> (Arc<Engine>, Arc<GuestRam>, TestVcpu, Jit) {
    let e = Arc::new(Engine::new(Config::new(1)).unwrap());
    let ram = Arc::new(GuestRam::new(pages));
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    {
        let (e, ram, id) = (e.clone(), ram.clone(), cpu.id);
        on_miss(move |m| {
            let page = ram_page_of(m.va);
            e.fill(id, idx(0), m.va, PAGE_SIZE, ram.page_addr(page), RW)
                .unwrap();
            Some(m.emulate(&ram, page))
        });
    }
    (e, ram, cpu, Jit::new())
}

/// Microseconds per call of `step(i)`, over `n` calls.
fn us_each(n: u64, mut step: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        step(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64 / 1000.0
}

fn bench_fill() {
    let pages = 2048u64;
    let (e, _ram, cpu, jit) = filling_vcpu(pages, |va| va / PAGE_SIZE);
    let load = |p: u64| {
        jit.load(cpu.base(0), p * PAGE_SIZE, 8).unwrap();
    };
    let mut per_fill = Vec::new();
    let mut per_fault = Vec::new();
    for _ in 0..5 {
        e.flush_all(cpu.id);
        e.wait_reclaimed();
        per_fill.push(us_each(pages, load));
    }
    // Faults that are redirected but filled by nobody: the redirect alone.
    on_miss(|_| Some(0));
    e.flush_all(cpu.id);
    for _ in 0..5 {
        per_fault.push(us_each(pages, load));
    }
    row(
        "fill: fault + redirect + slow path + mmap, per page",
        median(per_fill),
        "us",
    );
    row(
        "     fault + redirect + slow path alone (no mapping)",
        median(per_fault),
        "us",
    );
}

/// A guest invalidating a page it then touches again: the same page (an
/// access-flag or permission change) or another one (a page freed and the
/// address reused), at scattered addresses as a process's heap has them.
fn bench_refill() {
    let pages = 2048u64;
    // Virtual page i (at 3 * i) maps RAM page (i * 7 + shift) % pages.
    let shift = Arc::new(AtomicU64::new(0));
    let (e, _ram, cpu, jit) = {
        let shift = shift.clone();
        filling_vcpu(pages, move |va| {
            ((va / PAGE_SIZE / 3) * 7 + shift.load(Ordering::Relaxed)) % pages
        })
    };
    let va = |i: u64| 3 * i * PAGE_SIZE;
    us_each(pages, |i| {
        jit.load(cpu.base(0), va(i), 8).unwrap();
    });
    let cycle = |new_page: bool| {
        let per: Vec<f64> = (0..5)
            .map(|round| {
                if new_page {
                    shift.store(round + 1, Ordering::Relaxed);
                }
                us_each(pages, |i| {
                    e.flush_page(cpu.id, IdxMap::ALL, va(i));
                    jit.load(cpu.base(0), va(i), 8).unwrap();
                })
            })
            .collect();
        median(per)
    };
    let same = cycle(false);
    let other = cycle(true);
    row(
        "page flush + refault of the same page (revoke, revive)",
        same,
        "us",
    );
    row(
        "page flush + refault of another page (revoke, map over)",
        other,
        "us",
    );
}

fn bench_flush() {
    for pages in [1_000u64, 10_000, 50_000] {
        let e = Engine::new(Config::new(1)).unwrap();
        let ram = GuestRam::new(pages);
        ram.register(&e);
        let cpu = TestVcpu::new(&e, 0);
        let (mut vcpu_us, mut reclaim_us) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            // Runs of 8 contiguous pages, scattered: like a guest's
            // working set, and within the VMA budget at 50k pages.
            for p in 0..pages {
                let va = ((p / 8) * 24 + p % 8) * PAGE_SIZE;
                e.fill(cpu.id, idx(0), va, PAGE_SIZE, ram.page_addr(p), RW)
                    .unwrap();
            }
            let start = Instant::now();
            e.flush_mmuidx(cpu.id, IdxMap::ALL, OtherVcpus::MayRun);
            vcpu_us.push(start.elapsed().as_nanos() as f64 / 1000.0);
            let start = Instant::now();
            e.wait_reclaimed();
            reclaim_us.push(start.elapsed().as_nanos() as f64 / 1000.0);
        }
        row(
            &format!("flush a slot holding {pages} pages: cost to the vCPU"),
            median(vcpu_us),
            "us",
        );
        row(
            "     ... reclaimed by the helper thread after",
            median(reclaim_us),
            "us",
        );
    }
}

fn bench_protect() {
    for slots in [1u32, 4, 16] {
        let mut c = Config::new(4);
        c.nb_slots = 64;
        let e = Engine::new(c).unwrap();
        let ram = GuestRam::new(4);
        ram.register(&e);
        let cpus: Vec<TestVcpu> = (0..4).map(|i| TestVcpu::new(&e, i)).collect();
        let mut t = Vec::new();
        for _ in 0..20 {
            for s in 0..slots {
                let cpu = &cpus[(s % 4) as usize];
                e.fill(cpu.id, idx(s / 4), 0x1000, PAGE_SIZE, ram.page_addr(1), RW)
                    .unwrap();
            }
            let start = Instant::now();
            e.protect_host_range(ram.page_addr(1), PAGE_SIZE);
            t.push(start.elapsed().as_nanos() as f64 / 1000.0);
        }
        row(
            &format!("write-protect a page mirrored in {slots} slot(s)"),
            median(t),
            "us",
        );
    }
}

/// One vCPU with `spaces` address spaces (keys `key(k)`), each with one
/// page mirrored for each mmu index of `idxs`.
fn vcpu_with_spaces(
    spaces: u64,
    idxs: &[u32],
    key: impl Fn(u64) -> ContextKey,
) -> (Engine, GuestRam, TestVcpu) {
    let e = Engine::new(Config::new(1)).unwrap();
    let ram = GuestRam::new(spaces);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    for k in 0..spaces {
        e.switch_context(cpu.id, key(k));
        for &i in idxs {
            e.fill(cpu.id, idx(i), 0x1000, PAGE_SIZE, ram.page_addr(k), RW)
                .unwrap();
        }
    }
    (e, ram, cpu)
}

/// Median over 5 repetitions of the nanoseconds per call of `step(i)`.
fn median_ns_each(n: u64, mut step: impl FnMut(u64)) -> f64 {
    median((0..5).map(|_| us_each(n, &mut step) * 1000.0).collect())
}

/// A guest that switches address spaces on every system call (the DACR
/// of a short-descriptor kernel) or on every context switch, among
/// `spaces` address spaces that each have something mirrored.
fn bench_switch() {
    for spaces in [2u64, 64] {
        let key = |k: u64| ContextKey(k << 32 | 0x55);
        let (e, _ram, cpu) = vcpu_with_spaces(spaces, &[0], key);
        let ns = median_ns_each(200_000, |i| e.switch_context(cpu.id, key(i % spaces)));
        row(
            &format!("switch among {spaces} address spaces, per switch"),
            ns,
            "ns",
        );
    }
}

/// A guest invalidating pages one by one (freeing a buffer, a highmem
/// mapping) that are mirrored in none of `spaces` address spaces: the
/// common case of a page flush.
fn bench_flush_page_miss() {
    for spaces in [1u64, 32] {
        let (e, _ram, cpu) = vcpu_with_spaces(spaces, &[0, 1], ContextKey);
        let ns = median_ns_each(200_000, |i| {
            e.flush_page(cpu.id, IdxMap::ALL, 0x100_0000 + (i % 4096) * PAGE_SIZE);
        });
        row(
            &format!("flush a page mirrored in none of {spaces} address spaces"),
            ns,
            "ns",
        );
    }
}

fn main() {
    // `cargo test --benches` runs benches with --test: keep it quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    println!("| {:<58} | {:>16} |", "operation", "median");
    println!("|{:-<60}|{:->18}|", "", "");
    bench_hit();
    bench_fill();
    bench_refill();
    bench_flush();
    bench_protect();
    bench_switch();
    bench_flush_page_miss();
}
