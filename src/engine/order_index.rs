//! Order id -> slab slot, as an open-addressing table.
//!
//! Each entry packs the low 32 bits of the order id (the tag) with the
//! 4-byte slot, so probing and deletion never read a slab node; a lookup
//! reads the node only to confirm the full id on a tag match, and that node
//! is the one the caller is about to use anyway. Linear probing with
//! backward-shift deletion leaves no tombstones, and the table is sized once
//! to at least twice the slab capacity (load <= 1/2): it never grows, never
//! rehashes, and costs 16 bytes per order the slab can hold.
//!
//! Order ids are assigned sequentially, so the home bucket is simply the id
//! modulo the table size: live orders (mostly recent ids) sit next to each
//! other and collide only when their ids are a whole table size apart. A
//! scrambling hash would scatter them over the whole table and turn every
//! lookup into a cache and TLB miss (measured: over half of cancel time).
//!
//! The checks in the functions on the per-command path are
//! `debug_assert!`, for what they measured in release builds (see
//! "Assertions" in `engine/mod.rs`).

use super::slab::{OrderSlab, Slot, NIL};
use super::types::OrderId;

const EMPTY: u64 = u64::MAX;

#[inline]
fn entry(id: OrderId, slot: Slot) -> u64 {
    // A slot is never NIL, so no entry can read as `EMPTY` (whose slot
    // half is NIL), whatever the id's low bits.
    debug_assert!(slot != NIL, "indexing the end-of-list marker");
    let e = (id as u32 as u64) << 32 | slot as u64;
    debug_assert_ne!(e, EMPTY);
    e
}

#[inline]
fn tag(entry: u64) -> u32 {
    (entry >> 32) as u32
}

#[inline]
fn slot_of(entry: u64) -> Slot {
    entry as u32
}

pub struct OrderIndex {
    entries: Box<[u64]>,
    mask: usize,
    len: usize,
}

impl OrderIndex {
    pub fn with_capacity(orders: u32) -> OrderIndex {
        assert!(orders < NIL, "slot space");
        let table = (orders as usize * 2).next_power_of_two().max(2);
        assert!(
            table <= 1 << 32,
            "home must be computable from the 32-bit tag"
        );
        OrderIndex {
            entries: super::hugepage::filled_vec(table, EMPTY).into_boxed_slice(),
            mask: table - 1,
            len: 0,
        }
    }

    #[inline]
    fn home(&self, id_low: u32) -> usize {
        // The table size is a power of two, so the mask is a modulo.
        debug_assert_eq!(self.mask & (self.mask + 1), 0);
        id_low as usize & self.mask
    }

    /// Position of `id` in the table.
    #[inline]
    fn find(&self, slab: &OrderSlab, id: OrderId) -> Option<usize> {
        // At most half full, so an empty entry ends every probe.
        debug_assert!(self.len < self.entries.len(), "a probe could not end");
        let mut i = self.home(id as u32);
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                return None;
            }
            if tag(e) == id as u32 && slab.get(slot_of(e)).order_id == id {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub fn get(&self, slab: &OrderSlab, id: OrderId) -> Option<Slot> {
        self.find(slab, id).map(|i| slot_of(self.entries[i]))
    }

    /// Indexes `slot`, whose node must already carry its `order_id`.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        assert!(
            self.len < self.entries.len() / 2,
            "order index over half full"
        );
        let id = slab.get(slot).order_id;
        debug_assert!(id != 0, "indexing a free node");
        debug_assert!(self.find(slab, id).is_none(), "order id {id} reused");
        let mut i = self.home(id as u32);
        while self.entries[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = entry(id, slot);
        self.len += 1;
        debug_assert_eq!(self.get(slab, id), Some(slot));
    }

    /// Removes `id` (whose node is still intact in the slab), shifting later
    /// members of the probe run back so lookups never need tombstones.
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, id: OrderId) {
        debug_assert!(self.len > 0, "removing from an empty index");
        let mut hole = self.find(slab, id).expect("removing an indexed order");
        let mut i = hole;
        loop {
            i = (i + 1) & self.mask;
            let e = self.entries[i];
            if e == EMPTY {
                break;
            }
            let home = self.home(tag(e));
            // Move the entry back unless its home lies cyclically in (hole, i].
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                self.entries[hole] = e;
                hole = i;
            }
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        // Gone: no entry of its probe run still leads to it.
        debug_assert!(self.find(slab, id).is_none(), "order {id} still indexed");
    }

    /// Address of the entry an id's probe starts at (for prefetching).
    #[inline]
    pub fn home_entry(&self, id: OrderId) -> *const u64 {
        &self.entries[self.home(id as u32)]
    }

    /// The slot of the first entry whose tag matches `id`, without
    /// confirming the full id on the node: a prefetch hint, not a lookup.
    #[inline]
    pub fn guess_slot(&self, id: OrderId) -> Option<Slot> {
        let mut i = self.home(id as u32);
        for _ in 0..4 {
            let e = self.entries[i];
            if e == EMPTY {
                return None;
            }
            if tag(e) == id as u32 {
                return Some(slot_of(e));
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    pub fn len(&self) -> usize {
        debug_assert!(self.len <= self.entries.len() / 2, "load over one half");
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of table per order the slab can hold.
    pub fn bytes_per_order(&self, orders: u32) -> usize {
        // Sized from this count: at least two entries per order.
        assert!(self.entries.len() >= 2 * orders as usize);
        (self.entries.len() * std::mem::size_of::<u64>()).div_ceil(orders.max(1) as usize)
    }
}
