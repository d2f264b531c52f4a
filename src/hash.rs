//! The hasher of the engine's maps.
//!
//! Their keys are single integers (address-space keys, host pages, guest
//! page numbers) looked up on the vCPU's path: several times per address
//! space switch, which a short-descriptor guest makes on every system call.
//! std's SipHash costs more there than the rest of the switch.  A folded
//! multiply mixes one integer into every bit in a few cycles, and a seed
//! drawn per map from std's own random state keeps the guest, which
//! chooses the keys, from choosing collisions.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// Odd constants with well-spread bits (from the fractional digits of pi).
const MIX: u64 = 0x243f_6a88_85a3_08d3;
const FINISH: u64 = 0x1319_8a2e_0370_7345;

/// The high and low halves of the full product, folded together.
fn fold_mul(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// Hashes a few integers; bytes only as a fallback, a word at a time.
#[derive(Clone, Copy, Debug)]
pub struct FoldHasher {
    state: u64,
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(i.into());
    }

    fn write_u16(&mut self, i: u16) {
        self.write_u64(i.into());
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(i.into());
    }

    fn write_u64(&mut self, i: u64) {
        self.state = fold_mul(self.state ^ i, MIX);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    /// A second fold: after one, keys that differ only in high bits (host
    /// pages, whose low 12 bits are zero) would share the low bits that
    /// pick a bucket.
    fn finish(&self) -> u64 {
        fold_mul(self.state, FINISH)
    }
}

/// Builds [`FoldHasher`]s that start from one random seed.
#[derive(Clone, Copy, Debug)]
pub struct FoldState {
    seed: u64,
}

impl Default for FoldState {
    fn default() -> FoldState {
        FoldState {
            seed: RandomState::new().hash_one(MIX),
        }
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { state: self.seed }
    }
}

pub type FastHashMap<K, V> = HashMap<K, V, FoldState>;
pub type FastHashSet<T> = HashSet<T, FoldState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_aligned_keys_spread_over_the_low_bits() {
        // Host pages: the low 12 bits of every key are zero, and hashbrown
        // picks buckets from the low bits of the hash.
        let s = FoldState::default();
        let buckets: HashSet<u64> = (0..4096u64)
            .map(|i| s.hash_one(0x7f00_0000_0000 + i * 4096) & 4095)
            .collect();
        assert!(buckets.len() > 2048, "{} buckets of 4096", buckets.len());
    }

    #[test]
    fn seeds_differ_between_maps() {
        let (a, b) = (FoldState::default(), FoldState::default());
        assert_ne!(a.hash_one(1u64), b.hash_one(1u64));
    }

    #[test]
    fn maps_work_as_maps() {
        let mut m: FastHashMap<u64, u32> = FastHashMap::default();
        for i in 0..1000 {
            m.insert(i << 32, i as u32);
        }
        assert!((0..1000).all(|i| m[&(i << 32)] == i as u32));
        assert_eq!(m.remove(&(7 << 32)), Some(7));
        assert_eq!(m.len(), 999);
    }
}
