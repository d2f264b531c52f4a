//! The functions QEMU calls, as declared in the contract header.
//!
//! One engine per process, created by `espt_init`.  Every entry point is
//! a thin shim: argument conversion, then a call into [`Engine`].
//! Nothing here panics across the boundary: failures become an
//! `EsptStatus` plus a message.

use std::ffi::c_char;
use std::sync::OnceLock;

use crate::abi::{
    EsptConfig, EsptLogFn, EsptSlotTable, EsptStats, EsptStatus, EsptVcpu, ESPT_ABI_VERSION,
    ESPT_FLUSH_VCPUS_STOPPED, ESPT_RAM_DONTDUMP,
};
use crate::engine::{Config, ContextKey, Engine, OtherVcpus, SlotTable, VcpuId};
use crate::error::Error;
use crate::fault;
use crate::governor::Tuning;
use crate::logger;
use crate::ram::Dump;
use crate::sites;
use crate::space::Tables;
use crate::types::{IdxMap, MmuIdx, SlotId};

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// What QEMU holds for a vCPU.
struct VcpuHandle {
    id: VcpuId,
}

/// Writes `e`'s message, NUL-terminated and truncated, to `err` (QEMU
/// reports it).
fn report(e: &Error, err: *mut c_char, err_len: usize) -> EsptStatus {
    if !err.is_null() && err_len > 0 {
        let msg = e.to_string();
        let n = msg.len().min(err_len - 1);
        // SAFETY: the caller provides `err_len` writable bytes at `err`.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), err.cast::<u8>(), n);
            *err.add(n) = 0;
        }
    }
    e.status()
}

/// The status code of an operation's result (the message is not needed:
/// QEMU leaves the page on the slow path whatever the reason).
fn status(r: Result<(), Error>) -> EsptStatus {
    match r {
        Ok(()) => EsptStatus::ESPT_OK,
        Err(e) => e.status(),
    }
}

fn config_from(c: &EsptConfig) -> Result<Config, Error> {
    if c.abi_version != ESPT_ABI_VERSION {
        return Err(Error::AbiVersion {
            found: c.abi_version,
            expected: ESPT_ABI_VERSION,
        });
    }
    Ok(Config {
        nb_vcpus: c.nb_vcpus,
        nb_mmu_idx: c.nb_mmu_idx,
        guest_page_bits: c.guest_page_bits,
        nb_slots: c.nb_slots,
        vma_budget: c.vma_budget,
        governor: governor_tuning()?,
        guest_ram_size: c.guest_ram_size,
    })
}

/// The governor's tuning: the default, or `ESPT_GOVERNOR` (`off` shadows
/// every address space from its first fill, as before the governor).
fn governor_tuning() -> Result<Tuning, Error> {
    match std::env::var("ESPT_GOVERNOR") {
        Ok(v) => Ok(v.parse()?),
        Err(_) => Ok(Tuning::default()),
    }
}

fn engine() -> Option<&'static Engine> {
    ENGINE.get()
}

fn vcpu_id(vcpu: *mut EsptVcpu) -> Option<VcpuId> {
    // SAFETY: QEMU passes back the pointer espt_vcpu_create returned (or
    // NULL), until espt_vcpu_destroy.
    unsafe { vcpu.cast::<VcpuHandle>().as_ref() }.map(|h| h.id)
}

/// # Safety
/// `config` must be valid; `err` must have `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn espt_check(
    config: *const EsptConfig,
    err: *mut c_char,
    err_len: usize,
) -> EsptStatus {
    // SAFETY: per the contract above.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return EsptStatus::ESPT_ERR_INVALID;
    };
    match config_from(c).and_then(|c| Engine::check(&c)) {
        Ok(()) => EsptStatus::ESPT_OK,
        Err(e) => report(&e, err, err_len),
    }
}

/// # Safety
/// `config` must be valid; `err` must have `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn espt_init(
    config: *const EsptConfig,
    err: *mut c_char,
    err_len: usize,
) -> EsptStatus {
    // SAFETY: per the contract above.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return EsptStatus::ESPT_ERR_INVALID;
    };
    if ENGINE.get().is_some() {
        return report(&Error::AlreadyActive, err, err_len);
    }
    match config_from(c).and_then(Engine::new) {
        Ok(engine) => {
            if ENGINE.set(engine).is_err() {
                return report(&Error::AlreadyActive, err, err_len);
            }
            EsptStatus::ESPT_OK
        }
        Err(e) => report(&e, err, err_len),
    }
}

#[no_mangle]
pub extern "C" fn espt_set_log(sink: EsptLogFn) {
    logger::set_sink(sink);
}

#[no_mangle]
pub extern "C" fn espt_active() -> bool {
    ENGINE.get().is_some()
}

/// # Safety
/// `err` must have `err_len` writable bytes; `fd` must back `host`.
#[no_mangle]
pub unsafe extern "C" fn espt_ram_register(
    host: *mut std::ffi::c_void,
    size: u64,
    fd: i32,
    fd_offset: u64,
    flags: u32,
    err: *mut c_char,
    err_len: usize,
) -> EsptStatus {
    let Some(e) = engine() else {
        return report(&Error::NotActive, err, err_len);
    };
    let dump = if flags & ESPT_RAM_DONTDUMP != 0 {
        Dump::Exclude
    } else {
        Dump::Include
    };
    match e.register_ram(host as usize, size, fd, fd_offset, dump) {
        Ok(()) => EsptStatus::ESPT_OK,
        Err(x) => report(&x, err, err_len),
    }
}

/// # Safety
/// No preconditions beyond the contract header's.
#[no_mangle]
pub unsafe extern "C" fn espt_ram_unregister(host: *mut std::ffi::c_void) {
    if let Some(e) = engine() {
        e.unregister_ram(host as usize);
    }
}

/// # Safety
/// `table` must stay valid until `espt_vcpu_destroy`; `err` must have
/// `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn espt_vcpu_create(
    cpu_index: u32,
    table: *mut EsptSlotTable,
    err: *mut c_char,
    err_len: usize,
) -> *mut EsptVcpu {
    let Some(e) = engine() else {
        report(&Error::NotActive, err, err_len);
        return std::ptr::null_mut();
    };
    // SAFETY: per the contract above.
    let Some(table) = (unsafe { SlotTable::from_raw(table) }) else {
        report(
            &Error::OutOfRange {
                what: "slot table (NULL)",
                value: 0,
                max: 0,
            },
            err,
            err_len,
        );
        return std::ptr::null_mut();
    };
    let id = VcpuId(cpu_index);
    match e.create_vcpu(id, table) {
        Ok(()) => Box::into_raw(Box::new(VcpuHandle { id })).cast(),
        Err(x) => {
            report(&x, err, err_len);
            std::ptr::null_mut()
        }
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn espt_vcpu_destroy(vcpu: *mut EsptVcpu) {
    if vcpu.is_null() {
        return;
    }
    // SAFETY: per the contract above, we own the handle from now on.
    let h = unsafe { Box::from_raw(vcpu.cast::<VcpuHandle>()) };
    if let Some(e) = engine() {
        e.destroy_vcpu(h.id);
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`; `host` must be guest RAM.
#[no_mangle]
pub unsafe extern "C" fn espt_fill(
    vcpu: *mut EsptVcpu,
    mmu_idx: u32,
    vaddr: u64,
    large_size: u64,
    host: *mut std::ffi::c_void,
    prot: u32,
) -> EsptStatus {
    let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) else {
        return EsptStatus::ESPT_ERR_NOT_ACTIVE;
    };
    status(
        MmuIdx::new(mmu_idx)
            .and_then(|idx| e.fill(id, idx, vaddr, large_size, host as usize, prot)),
    )
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`; `host` must be guest RAM.
#[no_mangle]
pub unsafe extern "C" fn espt_fill_run(
    vcpu: *mut EsptVcpu,
    mmu_idx: u32,
    vaddr: u64,
    pages: u64,
    large_size: u64,
    host: *mut std::ffi::c_void,
    prot: u32,
) -> EsptStatus {
    let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) else {
        return EsptStatus::ESPT_ERR_NOT_ACTIVE;
    };
    status(
        MmuIdx::new(mmu_idx)
            .and_then(|idx| e.fill_run(id, idx, vaddr, pages, large_size, host as usize, prot)),
    )
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_any_mirrored(
    vcpu: *mut EsptVcpu,
    mmu_idx: u32,
    vaddr: u64,
    len: u64,
) -> bool {
    match (engine(), vcpu_id(vcpu), MmuIdx::new(mmu_idx)) {
        (Some(e), Some(id), Ok(idx)) => e.any_mirrored(id, idx, vaddr, len),
        _ => false,
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_switch_context(
    vcpu: *mut EsptVcpu,
    key: u64,
    table0: u64,
    table1: u64,
) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.switch_context_at(id, ContextKey(key), Tables([table0, table1]));
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_tick(vcpu: *mut EsptVcpu) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.tick(id);
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_translated(vcpu: *mut EsptVcpu) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.translated(id);
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_flush_all(vcpu: *mut EsptVcpu) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.flush_all(id);
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_flush_mmuidx(vcpu: *mut EsptVcpu, idxmap: u32, flags: u32) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.flush_mmuidx(id, IdxMap::from_bits(idxmap), others(flags));
    }
}

/// What `ESPT_FLUSH_*` flags say of the other vCPUs.
fn others(flags: u32) -> OtherVcpus {
    if flags & ESPT_FLUSH_VCPUS_STOPPED != 0 {
        OtherVcpus::Stopped
    } else {
        OtherVcpus::MayRun
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_flush_context(
    vcpu: *mut EsptVcpu,
    value: u64,
    mask: u64,
    flags: u32,
) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.flush_context(id, value, mask, others(flags));
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_flush_page(vcpu: *mut EsptVcpu, idxmap: u32, vaddr: u64) -> u32 {
    match (engine(), vcpu_id(vcpu)) {
        (Some(e), Some(id)) => e.flush_page(id, IdxMap::from_bits(idxmap), vaddr).bits(),
        _ => 0,
    }
}

/// # Safety
/// `vcpu` must come from `espt_vcpu_create`.
#[no_mangle]
pub unsafe extern "C" fn espt_flush_range(vcpu: *mut EsptVcpu, idxmap: u32, vaddr: u64, len: u64) {
    if let (Some(e), Some(id)) = (engine(), vcpu_id(vcpu)) {
        e.flush_range(id, IdxMap::from_bits(idxmap), vaddr, len);
    }
}

/// # Safety
/// No preconditions beyond the contract header's.
#[no_mangle]
pub unsafe extern "C" fn espt_protect_host_range(host: *mut std::ffi::c_void, len: u64) {
    if let Some(e) = engine() {
        e.protect_host_range(host as usize, len);
    }
}

#[no_mangle]
pub extern "C" fn espt_site_register(
    start: usize,
    len: u32,
    slow_path: usize,
    patch: usize,
) -> bool {
    engine().is_some() && sites::global().insert(start, len, slow_path, patch)
}

/// # Safety
/// `patch` and `slow_path` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn espt_site_take_patch(
    pc: usize,
    patch: *mut usize,
    slow_path: *mut usize,
) -> bool {
    if engine().is_none() || patch.is_null() || slow_path.is_null() {
        return false;
    }
    match sites::global().take_patch(pc) {
        Some((p, s)) => {
            // SAFETY: per the contract above.
            unsafe {
                *patch = p;
                *slow_path = s;
            }
            true
        }
        None => false,
    }
}

#[no_mangle]
pub extern "C" fn espt_sites_remove(start: usize, len: u64) {
    if engine().is_some() {
        sites::global().remove_range(start, len as usize);
    }
}

#[no_mangle]
pub extern "C" fn espt_sites_clear() {
    if engine().is_some() {
        sites::global().clear();
    }
}

/// # Safety
/// `restored` must be valid to write; `err` must have `err_len` writable
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn espt_fault_handler_restore(
    restored: *mut bool,
    err: *mut c_char,
    err_len: usize,
) -> EsptStatus {
    match fault::ensure_first() {
        Ok(h) => {
            // SAFETY: per the contract above.
            if let Some(r) = unsafe { restored.as_mut() } {
                *r = h == fault::Handler::Restored;
            }
            EsptStatus::ESPT_OK
        }
        Err(e) => report(&Error::Signal(e), err, err_len),
    }
}

#[no_mangle]
pub extern "C" fn espt_region_base() -> u64 {
    engine().map_or(0, |e| e.region_base() as u64)
}

/// The slot base of every mmu index of an address space left to the soft
/// TLB (0 without an engine).
#[no_mangle]
pub extern "C" fn espt_soft_base() -> u64 {
    engine().map_or(0, |e| e.slot_base(SlotId::SOFT) as u64)
}

#[no_mangle]
pub extern "C" fn espt_region_size() -> u64 {
    engine().map_or(0, |e| e.region_size())
}

/// # Safety
/// `stats` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn espt_get_stats(stats: *mut EsptStats) {
    let s = engine().map(|e| e.stats()).unwrap_or_default();
    // SAFETY: per the contract above.
    if let Some(out) = unsafe { stats.as_mut() } {
        *out = s;
    }
}

/// Asserts that each exported function has exactly the signature bindgen
/// gave its declaration in the contract header.
macro_rules! same_signature {
    ($($name:ident),* $(,)?) => {
        $(
            const _: () = {
                #[allow(unused)]
                fn check() {
                    // Two distinct fn items meet in one if/else only when
                    // their signatures coerce to the same fn-pointer type.
                    let _ = if true { crate::abi::$name } else { $name };
                }
            };
        )*
    };
}

same_signature!(
    espt_init,
    espt_active,
    espt_check,
    espt_ram_register,
    espt_ram_unregister,
    espt_vcpu_create,
    espt_vcpu_destroy,
    espt_fill,
    espt_fill_run,
    espt_any_mirrored,
    espt_switch_context,
    espt_tick,
    espt_translated,
    espt_flush_all,
    espt_flush_mmuidx,
    espt_flush_context,
    espt_flush_page,
    espt_flush_range,
    espt_protect_host_range,
    espt_site_register,
    espt_site_take_patch,
    espt_sites_remove,
    espt_sites_clear,
    espt_fault_handler_restore,
    espt_set_log,
    espt_region_base,
    espt_soft_base,
    espt_region_size,
    espt_get_stats,
);
