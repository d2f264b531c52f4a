//! What the engine needs of its host, checked once at start-up.

use std::fs;

use crate::error::{Error, Result};
use crate::types::PAGE_SIZE;

/// Where the kernel's limit on mappings per process lives.
const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";
/// The kernel's default when the file cannot be read.
pub const DEFAULT_MAX_MAP_COUNT: u64 = 65530;

/// Overrides the host the checks see (`arch-os`, e.g. `aarch64-linux`), so
/// that the refusal path can be exercised on a supported host.
pub const PRETEND_HOST_ENV: &str = "ESPT_PRETEND_HOST";

/// The host this library was built for.
pub fn this_host() -> (String, String) {
    if let Ok(v) = std::env::var(PRETEND_HOST_ENV) {
        if let Some((arch, os)) = v.split_once('-') {
            return (arch.to_owned(), os.to_owned());
        }
    }
    (
        std::env::consts::ARCH.to_owned(),
        std::env::consts::OS.to_owned(),
    )
}

/// ESPT generates x86_64 code and relies on Linux's mmap/SIGSEGV semantics.
pub fn check_host(arch: &str, os: &str) -> Result<()> {
    if arch == "x86_64" && os == "linux" {
        Ok(())
    } else {
        Err(Error::UnsupportedHost {
            arch: arch.to_owned(),
            os: os.to_owned(),
        })
    }
}

pub fn check_host_page_size(size: usize) -> Result<()> {
    if size as u64 == PAGE_SIZE {
        Ok(())
    } else {
        Err(Error::HostPageSize(size))
    }
}

pub fn check_guest_page_bits(bits: u32) -> Result<()> {
    if u64::from(bits) < 64 && 1u64 << bits == PAGE_SIZE {
        Ok(())
    } else {
        Err(Error::GuestPageSize(1u64.checked_shl(bits).unwrap_or(0)))
    }
}

/// `vm.max_map_count`: how many mappings the kernel allows this process.
pub fn max_map_count() -> u64 {
    fs::read_to_string(MAX_MAP_COUNT)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_MAP_COUNT)
}

/// How many mappings this process has now.
pub fn current_map_count() -> u64 {
    fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check() {
        assert!(check_host("x86_64", "linux").is_ok());
        let e = check_host("aarch64", "linux").unwrap_err();
        assert!(e.to_string().contains("x86_64 Linux"), "{e}");
        assert!(e.to_string().contains("espt=off"), "{e}");
        assert!(check_host("x86_64", "macos").is_err());
    }

    #[test]
    fn page_size_checks() {
        assert!(check_host_page_size(4096).is_ok());
        assert!(check_host_page_size(16384).is_err());
        assert!(check_guest_page_bits(12).is_ok());
        let e = check_guest_page_bits(10).unwrap_err();
        assert!(e.to_string().contains("1024-byte pages"), "{e}");
        assert!(check_guest_page_bits(200).is_err());
    }

    #[test]
    fn map_count_is_read() {
        assert!(max_map_count() > 1000);
        assert!(current_map_count() > 0);
    }
}
