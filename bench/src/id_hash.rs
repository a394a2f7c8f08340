//! The load generator's maps are keyed by ids it or the gateway counts up
//! (request ids, order ids), three to four lookups per request. std's
//! SipHash is built to resist chosen keys, which counted ids are not; at
//! millions of requests a second the client's own cost per request is what
//! a closed-loop figure ends up measuring. A multiplicative (Fibonacci)
//! hash spreads consecutive ids over the table at the cost of one multiply.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes one `u64` by a multiply with 2^64 / phi (the high bits, which
/// hashbrown reads for its control bytes, depend on every bit of the id).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other key still hashes
        // correctly, a byte at a time.
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    #[inline]
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by a counted-up id.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// An empty [`IdMap`] with room for `capacity` entries.
pub fn id_map<V>(capacity: usize) -> IdMap<V> {
    IdMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_over_the_high_bits() {
        let top = |id: u64| {
            let mut h = IdHasher::default();
            h.write_u64(id);
            h.finish() >> 57
        };
        let distinct: std::collections::HashSet<u64> = (0..128).map(top).collect();
        assert!(distinct.len() > 64, "{} of 128", distinct.len());
        let mut map = id_map(4);
        for id in 0..10_000u64 {
            map.insert(id, id * 2);
        }
        assert!((0..10_000u64).all(|id| map[&id] == id * 2));
    }
}
