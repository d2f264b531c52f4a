//! Errors, with messages that say what to do.

use crate::abi::EsptStatus;

/// Everything the engine can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "ESPT needs an x86_64 Linux host, this is {arch} {os}; \
         use -accel tcg,espt=off on this host"
    )]
    UnsupportedHost { arch: String, os: String },

    #[error(
        "the host page size is {0} bytes, ESPT needs 4096-byte host pages; \
         use -accel tcg,espt=off on this host"
    )]
    HostPageSize(usize),

    #[error(
        "the guest uses {0}-byte pages and ESPT mirrors 4096-byte pages \
         only (qemu-system-arm uses 4 KiB pages only on boards that rule out \
         ARMv5's 1 KiB pages, such as -M virt; other boards get 1 KiB pages \
         whatever the CPU); use -M virt, or -accel tcg,espt=off for this \
         machine"
    )]
    GuestPageSize(u64),

    #[error("contract header version {found} does not match the engine's {expected}; rebuild QEMU and the ESPT library together")]
    AbiVersion { found: u32, expected: u32 },

    #[error("{what} is {value}, the engine supports at most {max}")]
    OutOfRange {
        what: &'static str,
        value: u64,
        max: u64,
    },

    #[error(
        "cannot reserve {size_gib} GiB of host address space for ESPT ({source}); \
         raise the address-space limit (ulimit -v) or use fewer vCPUs, \
         or use -accel tcg,espt=off"
    )]
    Reserve {
        size_gib: u64,
        source: std::io::Error,
    },

    #[error(
        "cannot reserve {size_gib} GiB of host address space for ESPT and still allocate \
         {} of guest RAM under the address-space limit of {} (ulimit -v); \
         raise the limit or use fewer vCPUs, or use -accel tcg,espt=off",
         bytes(*ram), bytes(*limit)
    )]
    AddressSpace { size_gib: u64, ram: u64, limit: u64 },

    #[error(
        "vm.max_map_count is {max_map_count}, which leaves ESPT {budget} host mappings, \
         fewer than the {need} it needs; raise it (sysctl vm.max_map_count=65530 or more) \
         or use -accel tcg,espt=off"
    )]
    MapCount {
        max_map_count: u64,
        budget: u64,
        need: u64,
    },

    #[error("mirrors would cost more host memory than the bound of {}", bytes(*limit))]
    HostMemory { limit: u64 },

    #[error("cannot install the ESPT fault handler: {0}")]
    Signal(std::io::Error),

    #[error("ESPT is already initialised")]
    AlreadyActive,

    #[error("ESPT is not active")]
    NotActive,

    #[error("guest address {0:#x} is outside the 32-bit guest address space")]
    GuestAddress(u64),

    #[error("host address {0:#x} is not in any registered guest RAM block")]
    NotRam(usize),

    #[error("RAM block at {host:#x} (+{len:#x}) overlaps a registered block")]
    RamOverlap { host: usize, len: u64 },

    #[error(
        "it is backed by {} huge pages (hugetlbfs) and ESPT mirrors guest \
         RAM 4 KiB at a time; back it without huge pages (no hugetlb=on, no \
         -mem-path on a hugetlbfs mount) for ESPT to serve it",
        size_text(*page_size)
    )]
    RamPageSize { page_size: u64 },

    #[error("cannot inspect the file behind a RAM block: {0}")]
    RamFile(std::io::Error),

    #[error("vCPU {0} already exists")]
    VcpuExists(u32),

    #[error("host mapping limit reached (budget of {budget} mappings, vm.max_map_count {max_map_count})")]
    VmaBudget { budget: u64, max_map_count: u64 },

    #[error("no free slot for this vCPU")]
    NoSlot,

    #[error("cannot start the ESPT reclaim thread: {0}")]
    Thread(std::io::Error),

    #[error("host refused a mapping: {0}")]
    Map(std::io::Error),

    #[error("{0}; unset it for the default policy")]
    Governor(#[from] crate::governor::TuningError),
}

impl Error {
    /// The status code of the C ABI for this error.
    pub fn status(&self) -> EsptStatus {
        match self {
            Error::UnsupportedHost { .. } | Error::HostPageSize(_) => {
                EsptStatus::ESPT_ERR_UNSUPPORTED_HOST
            }
            Error::GuestPageSize(_) | Error::AbiVersion { .. } => {
                EsptStatus::ESPT_ERR_UNSUPPORTED_GUEST
            }
            Error::Reserve { .. } | Error::AddressSpace { .. } => EsptStatus::ESPT_ERR_RESERVE,
            Error::MapCount { .. } => EsptStatus::ESPT_ERR_LIMIT,
            Error::Signal(_) | Error::Thread(_) => EsptStatus::ESPT_ERR_SIGNAL,
            Error::AlreadyActive => EsptStatus::ESPT_ERR_ALREADY_ACTIVE,
            Error::NotActive => EsptStatus::ESPT_ERR_NOT_ACTIVE,
            Error::OutOfRange { .. }
            | Error::GuestAddress(_)
            | Error::NotRam(_)
            | Error::RamOverlap { .. }
            | Error::RamPageSize { .. }
            | Error::RamFile(_)
            | Error::VcpuExists(_)
            | Error::Governor(_) => EsptStatus::ESPT_ERR_INVALID,
            Error::VmaBudget { .. } | Error::NoSlot | Error::HostMemory { .. } => {
                EsptStatus::ESPT_ERR_LIMIT
            }
            Error::Map(_) => EsptStatus::ESPT_ERR_MAP,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An amount of memory or address space, in MiB.
fn bytes(b: u64) -> String {
    format!("{} MiB", b >> 20)
}

/// A page size as people write it: "2 MiB", "1 GiB", "64 KiB".
fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b >= KIB * KIB * KIB && b % (KIB * KIB * KIB) == 0 => format!("{} GiB", b >> 30),
        b if b >= KIB * KIB && b % (KIB * KIB) == 0 => format!("{} MiB", b >> 20),
        b if b % KIB == 0 => format!("{} KiB", b >> 10),
        b => format!("{b}-byte"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_read_as_people_write_them() {
        assert_eq!(size_text(2 << 20), "2 MiB");
        assert_eq!(size_text(1 << 30), "1 GiB");
        assert_eq!(size_text(64 << 10), "64 KiB");
        assert_eq!(size_text(1536), "1536-byte");
        let e = Error::RamPageSize { page_size: 1 << 30 };
        assert!(
            e.to_string()
                .starts_with("it is backed by 1 GiB huge pages"),
            "{e}"
        );
    }
}
