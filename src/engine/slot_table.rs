//! The one open-addressing table both slot indexes are built on
//! (`order_index.rs`: order id -> slot; `client_index.rs`: owner and
//! client order id -> slot). Each 8-byte entry packs a 32-bit tag (a key's
//! low bits or hash, also its home bucket) with the 4-byte slot, so
//! probing and deletion never read a slab node; the index on top decides
//! what a tag match means by reading the node. Linear probing with
//! backward-shift deletion leaves no tombstones, and the table is sized
//! once to at least twice the slab capacity (load <= 1/2): it never grows,
//! never rehashes, and an empty entry ends every probe.
//!
//! The checks in the functions on the per-command path are
//! `debug_assert!`, for what they measured in release builds (see
//! "Assertions" in `engine/mod.rs`).

use super::slab::{Slot, NIL};

const EMPTY: u64 = u64::MAX;

#[inline]
fn entry(tag: u32, slot: Slot) -> u64 {
    // A slot is never NIL, so no entry can read as `EMPTY` (whose slot
    // half is NIL), whatever the tag.
    debug_assert!(slot != NIL, "indexing the end-of-list marker");
    let e = (tag as u64) << 32 | slot as u64;
    debug_assert_ne!(e, EMPTY);
    e
}

#[inline]
fn tag_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

#[inline]
fn slot_of(entry: u64) -> Slot {
    entry as u32
}

pub struct SlotTable {
    entries: Box<[u64]>,
    mask: usize,
    len: usize,
    /// Entries not at their home bucket. While there are none, no probe
    /// passes an entry of another home, so a removal only empties its
    /// entry: no backward shift, no scan to the end of the run. Order ids
    /// are their own home and sequential, so live ones form long runs of
    /// entries each at home, and a removal used to scan to the run's end
    /// (in `tradsys-bench engine` at 100 symbols: 12% of all instructions
    /// under cachegrind); a collision (ids a table size apart, both live)
    /// displaces one entry until one of the two goes.
    displaced: usize,
}

impl SlotTable {
    /// Room for `orders` slots at load <= 1/2.
    pub fn with_capacity(orders: u32) -> SlotTable {
        assert!(orders < NIL, "slot space");
        let table = (orders as usize * 2).next_power_of_two().max(2);
        assert!(table <= 1 << 32, "home must be computable from the tag");
        SlotTable {
            entries: super::hugepage::filled_vec(table, EMPTY).into_boxed_slice(),
            mask: table - 1,
            len: 0,
            displaced: 0,
        }
    }

    #[inline(always)]
    fn home(&self, tag: u32) -> usize {
        // The table size is a power of two, so the mask is a modulo.
        debug_assert_eq!(self.mask & (self.mask + 1), 0);
        tag as usize & self.mask
    }

    /// Calls `each` with the slot of every entry tagged `tag`, in probe
    /// order, until it answers `true`; the position of that entry.
    #[inline(always)]
    pub fn find(&self, tag: u32, mut each: impl FnMut(Slot) -> bool) -> Option<usize> {
        // At most half full, so an empty entry ends every probe.
        debug_assert!(self.len < self.entries.len(), "a probe could not end");
        let mut i = self.home(tag);
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                return None;
            }
            if tag_of(e) == tag && each(slot_of(e)) {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot at a position [`find`](Self::find) returned.
    #[inline(always)]
    pub fn slot_at(&self, position: usize) -> Slot {
        debug_assert!(self.entries[position] != EMPTY, "an empty position");
        slot_of(self.entries[position])
    }

    /// Adds `slot` under `tag` (the index checks it is not there yet).
    #[inline(always)]
    pub fn insert(&mut self, tag: u32, slot: Slot) {
        assert!(
            self.len < self.entries.len() / 2,
            "slot table over half full"
        );
        let mut i = self.home(tag);
        while self.entries[i] != EMPTY {
            debug_assert!(
                slot_of(self.entries[i]) != slot,
                "slot {slot} indexed twice"
            );
            i = (i + 1) & self.mask;
        }
        self.entries[i] = entry(tag, slot);
        if i != self.home(tag) {
            self.displaced += 1;
        }
        self.len += 1;
        debug_assert!(self.displaced <= self.len);
    }

    /// Empties the entry at `hole`, shifting later members of its probe
    /// run back so lookups never need tombstones.
    #[inline(always)]
    pub fn remove_at(&mut self, mut hole: usize) {
        debug_assert!(
            self.len > 0 && self.entries[hole] != EMPTY,
            "removing nothing"
        );
        if self.home(tag_of(self.entries[hole])) != hole {
            debug_assert!(self.displaced > 0, "displaced count lost an entry");
            self.displaced -= 1;
        }
        let mut i = hole;
        loop {
            if self.displaced == 0 {
                // Every entry is at home: no probe crosses the hole.
                break;
            }
            i = (i + 1) & self.mask;
            let e = self.entries[i];
            if e == EMPTY {
                break;
            }
            let home = self.home(tag_of(e));
            // Move the entry back unless its home lies cyclically in (hole, i].
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                // Its home is outside (hole, i], so it was off it at `i`;
                // at `hole` it may be home again.
                debug_assert!(home != i);
                if home == hole {
                    self.displaced -= 1;
                }
                self.entries[hole] = e;
                hole = i;
            }
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
    }

    /// Counts the entries off their home bucket, walking the whole table,
    /// and checks the running count (for `check_invariants`).
    pub fn check_displaced(&self) {
        let displaced = (0..self.entries.len())
            .filter(|&i| self.entries[i] != EMPTY && self.home(tag_of(self.entries[i])) != i)
            .count();
        assert_eq!(displaced, self.displaced, "displaced entries");
    }

    /// Address of the entry a tag's probe starts at (for prefetching).
    #[inline]
    pub fn home_entry(&self, tag: u32) -> *const u64 {
        debug_assert!(self.home(tag) < self.entries.len());
        &self.entries[self.home(tag)]
    }

    pub fn len(&self) -> usize {
        debug_assert!(self.len <= self.entries.len() / 2, "load over one half");
        self.len
    }

    pub fn is_empty(&self) -> bool {
        debug_assert!(self.len <= self.entries.len() / 2, "load over one half");
        self.len == 0
    }

    /// Bytes of table per order the slab can hold.
    pub fn bytes_per_order(&self, orders: u32) -> usize {
        // Sized from this count: at least two entries per order.
        assert!(self.entries.len() >= 2 * orders as usize);
        (self.entries.len() * std::mem::size_of::<u64>()).div_ceil(orders.max(1) as usize)
    }
}
