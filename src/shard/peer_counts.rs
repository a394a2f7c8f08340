//! Connections per peer address, for the bounds on connections that are
//! not yet doing what they came for: order entry's waiting to log on
//! (`admission.rs`) and market data's not yet subscribed (`md/hub.rs`).
//! A fixed table sized at start, so counting a connection allocates
//! nothing.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

/// One key per address: IPv4 as its IPv4-mapped IPv6 form, so a client
/// reaching a dual-stack listener both ways counts once.
pub(crate) fn peer_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Connections per peer address: open addressing with linear probing and
/// backward-shift deletion (no tombstones), at most half full since it has
/// twice as many buckets as there are `places` (the caller never counts
/// more connections than that, each holding a place of its bound). Keyed
/// through a randomly seeded SipHash, so clients cannot aim at one bucket.
pub(crate) struct PeerCounts {
    keys: Vec<u128>,
    /// 0: the bucket is empty.
    counts: Vec<u32>,
    mask: usize,
    hasher: RandomState,
}

impl PeerCounts {
    pub(crate) fn new(places: usize) -> PeerCounts {
        assert!(places > 0, "a bound has places");
        let buckets = (2 * places).next_power_of_two();
        PeerCounts {
            keys: vec![0; buckets],
            counts: vec![0; buckets],
            mask: buckets - 1,
            hasher: RandomState::new(),
        }
    }

    fn home(&self, key: u128) -> usize {
        debug_assert_eq!(self.mask + 1, self.keys.len(), "a power-of-two table");
        self.hasher.hash_one(key) as usize & self.mask
    }

    /// One more connection from `key`, unless it has `limit` already.
    pub(crate) fn try_add(&mut self, key: u128, limit: u32) -> bool {
        assert!(limit > 0, "a bound lets a connection in");
        let mut i = self.home(key);
        loop {
            if self.counts[i] == 0 {
                self.keys[i] = key;
                self.counts[i] = 1;
                return true;
            }
            if self.keys[i] == key {
                if self.counts[i] >= limit {
                    return false;
                }
                self.counts[i] += 1;
                return true;
            }
            i = (i + 1) & self.mask;
        }
    }

    pub(crate) fn remove(&mut self, key: u128) {
        let mut i = self.home(key);
        while self.keys[i] != key || self.counts[i] == 0 {
            assert!(
                self.counts[i] != 0,
                "removing a peer that has no connection"
            );
            i = (i + 1) & self.mask;
        }
        self.counts[i] -= 1;
        if self.counts[i] > 0 {
            return;
        }
        // Backward shift: pull later entries of the probe run into the
        // hole when the hole lies between their home and where they are.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            if self.counts[j] == 0 {
                return;
            }
            let home = self.home(self.keys[j]);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.keys[hole] = self.keys[j];
                self.counts[hole] = self.counts[j];
                self.counts[j] = 0;
                hole = j;
            }
        }
    }

    #[cfg(test)]
    fn get(&self, key: u128) -> u32 {
        let mut i = self.home(key);
        while self.counts[i] != 0 {
            if self.keys[i] == key {
                return self.counts[i];
            }
            i = (i + 1) & self.mask;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random adds and removes against a `HashMap`, on a table small
    /// enough that probe runs collide and wrap.
    #[test]
    fn peer_counts_match_a_map_under_random_adds_and_removes() {
        let places = 64;
        let mut table = PeerCounts::new(places);
        let mut model: std::collections::HashMap<u128, u32> = Default::default();
        let mut live = 0usize;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 40) as u128 * 0x1_0000_0001;
            let add = x & (1 << 40) != 0;
            if add && live < places {
                let before = model.get(&key).copied().unwrap_or(0);
                let added = table.try_add(key, 3);
                assert_eq!(added, before < 3);
                if added {
                    *model.entry(key).or_default() += 1;
                    live += 1;
                }
            } else if model.get(&key).copied().unwrap_or(0) > 0 {
                table.remove(key);
                let count = model.get_mut(&key).unwrap();
                *count -= 1;
                if *count == 0 {
                    model.remove(&key);
                }
                live -= 1;
            }
            assert_eq!(table.get(key), model.get(&key).copied().unwrap_or(0));
        }
        for k in 0..40u128 {
            let key = k * 0x1_0000_0001;
            assert_eq!(table.get(key), model.get(&key).copied().unwrap_or(0));
        }
    }
}
