//! Order id -> slab slot. Almost every order is at its home node
//! (`OrderSlab::home_of`), found from the id alone; the others, placed
//! elsewhere because an older order still held their home, are in an
//! open-addressing table.
//!
//! The table is `slot_table.rs`'s, tagged with the low 32 bits of the
//! order id; a lookup reads the node only to confirm the full id on a tag
//! match, and that node is the one the caller is about to use anyway. It
//! costs 16 bytes per order the slab can hold (sized for every order away
//! from home, which an adversarial stream could make), but is touched only
//! for the orders away from home.
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
    /// The orders that are not at their home node (`OrderSlab::home_of`).
    table: SlotTable,
    /// Resting orders, at home or not.
    len: usize,
}

impl OrderIndex {
    pub fn with_capacity(orders: u32) -> OrderIndex {
        OrderIndex {
            table: SlotTable::with_capacity(orders),
            len: 0,
        }
    }

    /// Position of `id` in the table.
    #[inline]
    fn find(&self, slab: &OrderSlab, id: OrderId) -> Option<usize> {
        self.table
            .find(tag(id), |slot| slab.get(slot).order_id == id)
    }

    /// The node of resting order `id`: its home, where almost every order
    /// is (the node read is the one the caller is about to use), else the
    /// table, which an empty table skips.
    #[inline]
    pub fn get(&self, slab: &OrderSlab, id: OrderId) -> Option<Slot> {
        // Order id 0 marks a free node: a client asking for it must not
        // find one.
        if id == 0 {
            return None;
        }
        let home = slab.home_of(id);
        debug_assert!(home < slab.capacity());
        if slab.get(home).order_id == id {
            return Some(home);
        }
        if self.table.is_empty() {
            return None;
        }
        self.find(slab, id).map(|i| self.table.slot_at(i))
    }

    /// Indexes `slot`, whose node must already carry its `order_id`.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        let id = slab.get(slot).order_id;
        debug_assert!(id != 0, "indexing a free node");
        let at_home = slot == slab.home_of(id);
        debug_assert!(
            at_home || self.find(slab, id).is_none(),
            "order id {id} reused"
        );
        if !at_home {
            self.table.insert(tag(id), slot);
        }
        self.len += 1;
        debug_assert_eq!(self.get(slab, id), Some(slot));
    }

    /// Removes `id` (whose node is still intact in the slab).
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, id: OrderId) {
        assert!(self.len > 0, "removing from an empty order index");
        self.len -= 1;
        if slab.get(slab.home_of(id)).order_id == id {
            return;
        }
        let hole = self.find(slab, id).expect("removing an indexed order");
        self.table.remove_at(hole);
        // Gone: no entry of its probe run still leads to it.
        debug_assert!(self.find(slab, id).is_none(), "order {id} still indexed");
    }

    pub fn len(&self) -> usize {
        debug_assert!(self.table.len() <= self.len);
        self.len
    }

    /// The table's own consistency check (see `SlotTable::check_displaced`).
    pub fn check_table(&self) {
        self.table.check_displaced();
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of table per order the slab can hold.
    pub fn bytes_per_order(&self, orders: u32) -> usize {
        self.table.bytes_per_order(orders)
    }
}
