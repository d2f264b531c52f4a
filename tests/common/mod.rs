//! Test harness: guest RAM in a memfd, and x86-64 access code generated
//! with dynasmrt the way TCG's backend emits it -- one host load or store
//! at `slot_base + guest_va`, registered as an access site whose slow path
//! is a Rust function.
#![allow(dead_code)]

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi, ExecutableBuffer};
use espt::abi::EsptSlotTable;
use espt::engine::{Config, Engine, SlotTable, VcpuId};
pub use espt::ram::Dump;
use espt::sites;
use espt::types::{MmuIdx, PAGE_SIZE};

/// Guest RAM: a memfd mapped shared, like QEMU's RAM_SHARED blocks.
pub struct GuestRam {
    pub fd: OwnedFd,
    pub host: *mut u8,
    pub pages: u64,
}

// SAFETY: the mapping is plain shared memory, accessed with volatile ops.
unsafe impl Send for GuestRam {}
// SAFETY: as above.
unsafe impl Sync for GuestRam {}

impl GuestRam {
    /// `pages` pages; page i starts with the marker `marker(i)`.
    pub fn new(pages: u64) -> GuestRam {
        let len = (pages * PAGE_SIZE) as usize;
        // SAFETY: plain syscalls with valid arguments.
        unsafe {
            let fd = libc::memfd_create(c"espt-test-ram".as_ptr(), libc::MFD_CLOEXEC);
            assert!(fd >= 0);
            assert_eq!(libc::ftruncate(fd, len as libc::off_t), 0);
            let host = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(host, libc::MAP_FAILED);
            let ram = GuestRam {
                fd: OwnedFd::from_raw_fd(fd),
                host: host.cast(),
                pages,
            };
            for i in 0..pages {
                ram.write_u64(i, 0, marker(i));
            }
            ram
        }
    }

    pub fn page_addr(&self, page: u64) -> usize {
        assert!(page < self.pages);
        self.host as usize + (page * PAGE_SIZE) as usize
    }

    pub fn write_u64(&self, page: u64, off: usize, v: u64) {
        // SAFETY: inside our mapping.
        unsafe { std::ptr::write_unaligned((self.page_addr(page) + off) as *mut u64, v) }
    }

    pub fn read_u64(&self, page: u64, off: usize) -> u64 {
        // SAFETY: inside our mapping.
        unsafe { std::ptr::read_unaligned((self.page_addr(page) + off) as *const u64) }
    }

    pub fn register(&self, e: &Engine) {
        self.register_with(e, Dump::Include);
    }

    pub fn register_with(&self, e: &Engine, dump: Dump) {
        e.register_ram(
            self.host as usize,
            self.pages * PAGE_SIZE,
            self.fd.as_raw_fd(),
            0,
            dump,
        )
        .unwrap();
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.host.cast(), (self.pages * PAGE_SIZE) as usize) };
    }
}

pub fn marker(page: u64) -> u64 {
    0x5eed_0000_0000_0000 | page
}

/// A vCPU of a test: its slot table lives in a leaked box, like QEMU's
/// table that lives as long as the CPU.
pub struct TestVcpu {
    pub id: VcpuId,
    table: &'static EsptSlotTable,
}

impl TestVcpu {
    pub fn new(e: &Engine, id: u32) -> TestVcpu {
        let table: &'static mut EsptSlotTable = Box::leak(Box::default());
        let ptr: *mut EsptSlotTable = table;
        // SAFETY: the table is leaked, so valid forever; we only read it.
        let st = unsafe { SlotTable::from_raw(ptr) }.unwrap();
        e.create_vcpu(VcpuId(id), st).unwrap();
        TestVcpu {
            id: VcpuId(id),
            // SAFETY: as above; reads go through `base`, volatile.
            table: unsafe { &*ptr },
        }
    }

    /// The slot base translated code would load for `idx`.
    pub fn base(&self, idx: u32) -> u64 {
        // SAFETY: a valid aligned u64 the engine stores to atomically.
        unsafe { std::ptr::read_volatile(&self.table.base[idx as usize]) }
    }
}

/// Read and write rights, as QEMU passes them.
pub const RW: u32 = espt::abi::ESPT_PROT_READ | espt::abi::ESPT_PROT_WRITE;

pub fn engine(nb_vcpus: u32) -> Engine {
    Engine::new(Config::new(nb_vcpus)).unwrap()
}

pub fn idx(i: u32) -> MmuIdx {
    MmuIdx::new(i).unwrap()
}

/// An access that missed in the shadow, as the slow path sees it.
pub struct Miss {
    pub va: u64,
    pub is_store: bool,
    pub size: u32,
    /// The value to store (stores only).
    pub value: u64,
}

impl Miss {
    /// Performs the access on guest RAM directly, as QEMU's slow path does
    /// through its soft TLB, and returns what a load reads (0 for stores).
    pub fn emulate(&self, ram: &GuestRam, ram_page: u64) -> u64 {
        let addr = ram.page_addr(ram_page) + (self.va % PAGE_SIZE) as usize;
        let n = self.size as usize;
        // SAFETY: `addr..addr + n` lies in guest RAM (tests keep accesses
        // inside one page).
        unsafe {
            if self.is_store {
                let bytes = self.value.to_le_bytes();
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, n);
                0
            } else {
                let mut bytes = [0u8; 8];
                std::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), n);
                u64::from_le_bytes(bytes)
            }
        }
    }
}

type SlowPath = Box<dyn FnMut(&Miss) -> Option<u64>>;

thread_local! {
    static SLOW_PATH: RefCell<Option<SlowPath>> = RefCell::new(None);
    static GAVE_UP: RefCell<bool> = const { RefCell::new(false) };
}

/// Sets what this thread's slow path does on a miss: like QEMU's, it
/// resolves the access (filling the shadow if it likes) and returns the
/// loaded value, then the generated code resumes after the access; `None`
/// means the access "faulted" for the guest.
pub fn on_miss(f: impl FnMut(&Miss) -> Option<u64> + 'static) {
    SLOW_PATH.with(|s| *s.borrow_mut() = Some(Box::new(f)));
}

extern "C" fn slow_path(va: u64, is_store: u32, size: u32, value: u64) -> u64 {
    let miss = Miss {
        va,
        is_store: is_store != 0,
        size,
        value,
    };
    let result = SLOW_PATH.with(|s| s.borrow_mut().as_mut().and_then(|f| f(&miss)));
    if result.is_none() {
        GAVE_UP.with(|g| *g.borrow_mut() = true);
    }
    result.unwrap_or(0)
}

type LoadFn = extern "C" fn(u64, u64) -> u64;
type StoreFn = extern "C" fn(u64, u64, u64);

/// Generated access code: loads and stores of 1, 2, 4 and 8 bytes.
pub struct Jit {
    _buf: ExecutableBuffer,
    loads: [LoadFn; 4],
    stores: [StoreFn; 4],
    pub sites: Vec<(usize, u32, usize)>,
}

fn size_index(size: u32) -> usize {
    match size {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => panic!("size {size}"),
    }
}

impl Jit {
    pub fn new() -> Jit {
        let mut ops = dynasmrt::x64::Assembler::new().unwrap();
        let mut entries = Vec::new();
        let mut site_offsets = Vec::new();
        for is_store in [false, true] {
            for size in [1u32, 2, 4, 8] {
                let entry = ops.offset();
                let done = ops.new_dynamic_label();
                let start = ops.offset();
                match (is_store, size) {
                    (false, 1) => dynasm!(ops ; .arch x64 ; movzx eax, BYTE [rdi + rsi]),
                    (false, 2) => dynasm!(ops ; .arch x64 ; movzx eax, WORD [rdi + rsi]),
                    (false, 4) => dynasm!(ops ; .arch x64 ; mov eax, DWORD [rdi + rsi]),
                    (false, _) => dynasm!(ops ; .arch x64 ; mov rax, QWORD [rdi + rsi]),
                    (true, 1) => dynasm!(ops ; .arch x64 ; mov BYTE [rdi + rsi], dl),
                    (true, 2) => dynasm!(ops ; .arch x64 ; mov WORD [rdi + rsi], dx),
                    (true, 4) => dynasm!(ops ; .arch x64 ; mov DWORD [rdi + rsi], edx),
                    (true, _) => dynasm!(ops ; .arch x64 ; mov QWORD [rdi + rsi], rdx),
                }
                let end = ops.offset();
                dynasm!(ops ; .arch x64 ; =>done ; ret);
                let slow = ops.offset();
                // Entered from the fault handler with the registers of the
                // access and the stack as at the access (rsp = 8 mod 16),
                // like TCG's slow path: call the helper, resume after the
                // access with the loaded value in rax.
                dynasm!(ops
                    ; .arch x64
                    ; push rdi
                    ; push rsi
                    ; push rdx
                    ; mov rcx, rdx
                    ; mov rdi, rsi
                    ; mov esi, is_store as i32
                    ; mov edx, size as i32
                    ; mov rax, QWORD slow_path as *const () as i64
                    ; call rax
                    ; pop rdx
                    ; pop rsi
                    ; pop rdi
                    ; jmp =>done
                );
                entries.push(entry);
                site_offsets.push((start, end, slow));
            }
        }
        let buf = ops.finalize().unwrap();
        let mut sites_out = Vec::new();
        for (start, end, slow) in site_offsets {
            let s = buf.ptr(start) as usize;
            let len = (end.0 - start.0) as u32;
            let slow = buf.ptr(slow) as usize;
            assert!(sites::global().insert(s, len, slow, 0));
            sites_out.push((s, len, slow));
        }
        let f = |i: usize| buf.ptr(entries[i]);
        let loads = [0, 1, 2, 3].map(|i| {
            // SAFETY: entries 0-3 start load functions of this signature,
            // generated above; the buffer lives as long as the `Jit`.
            unsafe { std::mem::transmute::<*const u8, LoadFn>(f(i)) }
        });
        let stores = [4, 5, 6, 7].map(|i| {
            // SAFETY: entries 4-7 start store functions of this signature,
            // generated above; the buffer lives as long as the `Jit`.
            unsafe { std::mem::transmute::<*const u8, StoreFn>(f(i)) }
        });
        Jit {
            _buf: buf,
            loads,
            stores,
            sites: sites_out,
        }
    }

    /// Loads `size` bytes at `base + va`; `None` if the slow path gave up.
    pub fn load(&self, base: u64, va: u64, size: u32) -> Option<u64> {
        GAVE_UP.with(|g| *g.borrow_mut() = false);
        let v = (self.loads[size_index(size)])(base, va);
        (!GAVE_UP.with(|g| *g.borrow())).then_some(v)
    }

    /// Stores `size` bytes; false if the slow path gave up.
    pub fn store(&self, base: u64, va: u64, size: u32, val: u64) -> bool {
        GAVE_UP.with(|g| *g.borrow_mut() = false);
        (self.stores[size_index(size)])(base, va, val);
        !GAVE_UP.with(|g| *g.borrow())
    }
}

/// VMAs of this process that overlap `[start, end)`.
pub fn vmas_in(start: usize, end: usize) -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| {
            let (range, _) = l.split_once(' ').unwrap();
            let (a, b) = range.split_once('-').unwrap();
            let a = usize::from_str_radix(a, 16).unwrap();
            let b = usize::from_str_radix(b, 16).unwrap();
            a < end && b > start
        })
        .count()
}
