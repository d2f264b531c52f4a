//! Guest RAM blocks: which file, at which offset, backs a host address.
//!
//! QEMU maps each RAM block once at `host`; the engine maps its pages a
//! second time from the same file.  Only shared file mappings qualify: a
//! private mapping's stores would not be seen through the second mapping.

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::types::{HostPage, PAGE_SIZE};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RamBlock {
    pub host: usize,
    pub len: u64,
    /// Owned by QEMU; valid until the block is unregistered.
    pub fd: RawFd,
    pub fd_offset: u64,
    /// Whether its mirrors appear in core dumps, as the block does.
    pub dump: Dump,
}

/// Whether a RAM block, and so every mirror of it, appears in a core dump
/// of QEMU (`-machine dump-guest-core`, a memory backend's `dump`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Dump {
    #[default]
    Include,
    Exclude,
}

/// Where the bytes of one host page come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Backing {
    pub fd: RawFd,
    pub offset: u64,
    pub dump: Dump,
}

#[derive(Default, Debug)]
pub struct RamBlocks {
    by_host: BTreeMap<usize, RamBlock>,
}

impl RamBlocks {
    pub fn register(&mut self, block: RamBlock) -> Result<()> {
        let overlap = Error::RamOverlap {
            host: block.host,
            len: block.len,
        };
        if block.len == 0
            || block.host % PAGE_SIZE as usize != 0
            || block.fd_offset % PAGE_SIZE != 0
            || block.fd < 0
        {
            return Err(overlap);
        }
        let end = block.host as u64 + block.len;
        if let Some((_, prev)) = self.by_host.range(..end as usize).next_back() {
            if prev.host as u64 + prev.len > block.host as u64 {
                return Err(overlap);
            }
        }
        self.by_host.insert(block.host, block);
        Ok(())
    }

    pub fn unregister(&mut self, host: usize) -> Option<RamBlock> {
        self.by_host.remove(&host)
    }

    pub fn len(&self) -> usize {
        self.by_host.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// The block holding host address `addr`.
    pub fn block_of(&self, addr: usize) -> Option<&RamBlock> {
        let (_, b) = self.by_host.range(..=addr).next_back()?;
        (((addr - b.host) as u64) < b.len).then_some(b)
    }

    /// The file and offset behind a host page of guest RAM.
    pub fn backing(&self, page: HostPage) -> Result<Backing> {
        let b = self
            .block_of(page.addr())
            .ok_or(Error::NotRam(page.addr()))?;
        Ok(Backing {
            fd: b.fd,
            offset: b.fd_offset + (page.addr() - b.host) as u64,
            dump: b.dump,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(host: usize, len: u64, fd_offset: u64) -> RamBlock {
        RamBlock {
            host,
            len,
            fd: 3,
            fd_offset,
            dump: Dump::Include,
        }
    }

    #[test]
    fn lookup_and_overlap() {
        let mut r = RamBlocks::default();
        r.register(block(0x10000, 0x4000, 0x1000)).unwrap();
        r.register(block(0x20000, 0x1000, 0)).unwrap();
        assert!(r.register(block(0x13000, 0x1000, 0)).is_err());
        assert!(r.register(block(0xf000, 0x2000, 0)).is_err());
        assert!(r.register(block(0x30001, 0x1000, 0)).is_err());
        let b = r.backing(HostPage::containing(0x12345)).unwrap();
        assert_eq!(b.offset, 0x1000 + 0x2000);
        assert!(r.backing(HostPage::containing(0x14000)).is_err());
        assert_eq!(r.unregister(0x10000).unwrap().len, 0x4000);
        assert!(r.backing(HostPage::containing(0x10000)).is_err());
        assert_eq!(r.len(), 1);
    }
}
