//! Order id -> slab slot, as an open-addressing table.
//!
//! The table is `slot_table.rs`'s, tagged with the low 32 bits of the
//! order id; a lookup reads the node only to confirm the full id on a tag
//! match, and that node is the one the caller is about to use anyway. It
//! costs 16 bytes per order the slab can hold.
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

use super::slab::{OrderSlab, Slot};
use super::slot_table::SlotTable;
use super::types::OrderId;

/// The tag (and home) of an order id: its low 32 bits.
#[inline]
fn tag(id: OrderId) -> u32 {
    id as u32
}

pub struct OrderIndex {
    table: SlotTable,
}

impl OrderIndex {
    pub fn with_capacity(orders: u32) -> OrderIndex {
        OrderIndex {
            table: SlotTable::with_capacity(orders),
        }
    }

    /// Position of `id` in the table.
    #[inline]
    fn find(&self, slab: &OrderSlab, id: OrderId) -> Option<usize> {
        self.table
            .find(tag(id), |slot| slab.get(slot).order_id == id)
    }

    #[inline]
    pub fn get(&self, slab: &OrderSlab, id: OrderId) -> Option<Slot> {
        self.find(slab, id).map(|i| self.table.slot_at(i))
    }

    /// Indexes `slot`, whose node must already carry its `order_id`.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        let id = slab.get(slot).order_id;
        debug_assert!(id != 0, "indexing a free node");
        debug_assert!(self.find(slab, id).is_none(), "order id {id} reused");
        self.table.insert(tag(id), slot);
        debug_assert_eq!(self.get(slab, id), Some(slot));
    }

    /// Removes `id` (whose node is still intact in the slab).
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, id: OrderId) {
        let hole = self.find(slab, id).expect("removing an indexed order");
        self.table.remove_at(hole);
        // Gone: no entry of its probe run still leads to it.
        debug_assert!(self.find(slab, id).is_none(), "order {id} still indexed");
    }

    /// Address of the entry an id's probe starts at (for prefetching).
    #[inline]
    pub fn home_entry(&self, id: OrderId) -> *const u64 {
        self.table.home_entry(tag(id))
    }

    /// The slot of the first entry whose tag matches `id`, without
    /// confirming the full id on the node: a prefetch hint, not a lookup.
    #[inline]
    pub fn guess_slot(&self, id: OrderId) -> Option<Slot> {
        self.table.guess_slot(tag(id))
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The table's own consistency check (see `SlotTable::check_displaced`).
    pub fn check_table(&self) {
        self.table.check_displaced();
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes of table per order the slab can hold.
    pub fn bytes_per_order(&self, orders: u32) -> usize {
        self.table.bytes_per_order(orders)
    }
}
