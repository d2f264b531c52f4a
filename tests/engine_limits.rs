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

#[test]
fn revoked_pages_fault_and_match_the_kernel() {
    let e = engine(1);
    let ram = GuestRam::new(512);
    ram.register(&e);
    let cpu = TestVcpu::new(&e, 0);
    let jit = Jit::new();
    on_miss(|_| None);
    let (start, end) = (e.region_base(), e.region_base() + e.region_size() as usize);
    let fill = |vpage: u64, ram_page: u64, prot: u32| {
        e.fill(
            cpu.id,
            idx(0),
            vpage * PAGE_SIZE,
            PAGE_SIZE,
            ram.page_addr(ram_page),
            prot,
        )
        .unwrap()
    };
    let kernel_agrees = |what: &str| {
        let s = e.stats();
        assert_eq!(vmas_in(start, end) as u64, 1 + s.vmas_now, "{what}: {s:?}");
    };
    for i in 0..32u64 {
        fill(i, i, RW);
    }
    kernel_agrees("one run");
    // Invalidated pages fault, whatever the host keeps there.
    for v in [5u64, 6, 7, 20] {
        e.flush_page(cpu.id, espt::IdxMap::ALL, v * PAGE_SIZE);
        assert_eq!(jit.load(cpu.base(0), v * PAGE_SIZE, 8), None, "page {v}");
        assert!(!jit.store(cpu.base(0), v * PAGE_SIZE, 8, 1), "page {v}");
    }
    let s = e.stats();
    assert_eq!((s.pages_mapped_now, s.pages_revoked_now), (28, 4), "{s:?}");
    kernel_agrees("revoked pages");
    // The same page again, another page, and another protection.
    fill(5, 5, RW);
    fill(6, 300, RW);
    fill(20, 20, ESPT_PROT_READ);
    assert_eq!(jit.load(cpu.base(0), 5 * PAGE_SIZE, 8), Some(marker(5)));
    assert!(jit.store(cpu.base(0), 5 * PAGE_SIZE + 8, 8, 0x55));
    assert_eq!(ram.read_u64(5, 8), 0x55);
    assert_eq!(jit.load(cpu.base(0), 6 * PAGE_SIZE, 8), Some(marker(300)));
    assert_eq!(jit.load(cpu.base(0), 20 * PAGE_SIZE, 8), Some(marker(20)));
    assert!(
        !jit.store(cpu.base(0), 20 * PAGE_SIZE, 8, 1),
        "read-only again"
    );
    assert_eq!(
        jit.load(cpu.base(0), 7 * PAGE_SIZE, 8),
        None,
        "still revoked"
    );
    kernel_agrees("refilled");
    let s = e.stats();
    assert_eq!((s.pages_mapped_now, s.pages_revoked_now), (31, 1), "{s:?}");
    assert_eq!((s.fills, s.revived), (35, 2), "{s:?}");
    // Removing the RAM block leaves no mapping of it, revoked or not.
    e.flush_page(cpu.id, espt::IdxMap::ALL, 9 * PAGE_SIZE);
    e.unregister_ram(ram.page_addr(0));
    e.wait_reclaimed();
    let s = e.stats();
    assert_eq!((s.pages_mapped_now, s.pages_revoked_now), (0, 0), "{s:?}");
    assert_eq!(s.vmas_now, 0, "{s:?}");
    assert_eq!(vmas_in(start, end), 1);
}

/// RAM on huge pages (a `hugetlb=on` memfd, `-mem-path` on hugetlbfs)
/// cannot be mirrored 4 KiB at a time: it is refused when QEMU registers
/// it, with a message that says what to change, instead of being
/// accepted and then failing one `mmap` per fill.  Creating the memfd
/// needs no huge pages reserved; only touching it would.
#[test]
fn ram_on_huge_pages_is_refused_at_registration() {
    let e = engine(1);
    let flags = libc::MFD_CLOEXEC | libc::MFD_HUGETLB | libc::MFD_HUGE_2MB;
    // SAFETY: a fresh memfd with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"espt-test-huge".as_ptr(), flags) };
    assert!(
        fd >= 0,
        "memfd_create(MFD_HUGETLB): {} (the kernel needs hugetlbfs)",
        std::io::Error::last_os_error()
    );
    let err = e
        .register_ram(0x7000_0000_0000, 2 << 20, fd, 0, Dump::Include)
        .unwrap_err();
    assert!(
        matches!(
            err,
            espt::Error::RamPageSize {
                page_size: 0x20_0000
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("2 MiB huge pages") && msg.contains("without huge pages"),
        "{msg}"
    );
    // SAFETY: `fd` is ours and used no more.
    unsafe { libc::close(fd) };

    // A descriptor that is not open is an error too, not a crash.
    assert!(matches!(
        e.register_ram(0x7000_0000_0000, 4096, 1_000_000, 0, Dump::Include),
        Err(espt::Error::RamFile(_))
    ));
}
