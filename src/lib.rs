//! ESPT: embedded shadow page tables for QEMU's TCG.
//!
//! Translated guest code accesses guest memory with one host load or store
//! at `slot_base + guest_va`, where a *slot* is a 4 GiB window of a host
//! region into which guest pages are mirrored by mapping the file that
//! backs guest RAM a second time.  The host MMU then does the translation
//! that QEMU's soft TLB does in software.  A page that is not mirrored
//! faults; the fault handler sends the access to its slow path, QEMU's soft
//! TLB resolves it (the source of truth for translation, permissions, MMIO,
//! watchpoints and dirty tracking) and calls [`Engine::fill`].
//!
//! Modules, one job each:
//! - [`types`]: guest pages, host pages, protections, mmu indexes, slot ids;
//! - [`sys`]: the few host memory syscalls, and nothing else unsafe;
//! - [`region`]: the reserved host region and its slots, with guard space;
//! - [`ram`]: guest RAM blocks and the file offsets behind host addresses;
//! - [`slot`]: what one slot mirrors, its large guest pages and its VMAs;
//! - [`engine`]: vCPUs, their address spaces and slots, fills (single
//!   pages and runs of large pages), invalidation, write protection, host
//!   limits;
//! - [`reclaim`]: cleaning retired slots off the vCPU's path;
//! - [`sites`]: the lock-free table of access sites read by the handler,
//!   with the patch points that let a site stop faulting;
//! - [`fault`]: the SIGSEGV handler that redirects faults to slow paths;
//! - [`stats`]: counters for `info espt`;
//! - [`hash`]: the hasher of the engine's maps, for integer keys;
//! - [`host`]: host checks and limits;
//! - [`abi`] and [`ffi`]: the C ABI of QEMU's contract header.

pub mod abi;
pub mod engine;
pub mod error;
pub mod fault;
pub mod ffi;
pub mod governor;
pub mod hash;
pub mod host;
pub mod ram;
pub mod reclaim;
pub mod region;
pub mod sites;
pub mod slot;
pub mod stats;
pub mod sys;
pub mod types;

pub use engine::{Config, ContextKey, Engine, SlotTable, VcpuId};
pub use error::Error;
pub use types::{GuestPage, HostPage, IdxMap, MmuIdx, Prot, SlotId};
