//! (owner, client_order_id) -> slab slot for the resting orders, so that a
//! client that lost its connection before it saw an `order_id` can still
//! find its order by the id it chose (issue 12). Without it the only way
//! would be a walk of the account's list on that symbol, up to
//! `max_open_orders` nodes of pointer chasing on the owner shard's core.
//!
//! The same table as `order_index.rs` (`slot_table.rs`), tagged with a
//! 32-bit hash of the key. Unlike order ids, client order ids are the client's choice and
//! need not be unique, so a key may have several entries: a lookup answers
//! the oldest (lowest `order_id`), the order a walk of the account's list
//! would meet first, and a removal deletes the entry of that exact slot.
//!
//! The engine keeps it in step with the account lists (`link_account`,
//! `unlink_account`) and with replaces (which change an order's client
//! order id): an order is in this index exactly when it is in its owner's
//! list, which `check_invariants` verifies.

use super::slab::{OrderSlab, Slot};
use super::slot_table::SlotTable;
use super::types::{ClientOrderId, OrderId};

/// The key's hash: owner and client order id mixed (Fibonacci hashing of
/// both words), so that the sequential ids most clients use spread out.
#[inline]
fn hash(owner: u32, client_order_id: ClientOrderId) -> u32 {
    let mixed =
        (client_order_id ^ (owner as u64).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as u32
}

pub struct ClientIndex {
    table: SlotTable,
}

impl ClientIndex {
    pub fn with_capacity(orders: u32) -> ClientIndex {
        ClientIndex {
            table: SlotTable::with_capacity(orders),
        }
    }

    /// The oldest resting order of `owner` carrying `client_order_id`.
    pub fn get(
        &self,
        slab: &OrderSlab,
        owner: u32,
        client_order_id: ClientOrderId,
    ) -> Option<Slot> {
        let mut best: Option<(OrderId, Slot)> = None;
        // Never stops early: every entry of the key is looked at.
        let stopped = self.table.find(hash(owner, client_order_id), |slot| {
            let node = slab.get(slot);
            let matches = node.owner == owner && node.client_order_id == client_order_id;
            if matches && best.is_none_or(|(id, _)| node.order_id < id) {
                best = Some((node.order_id, slot));
            }
            false
        });
        debug_assert!(stopped.is_none());
        best.map(|(_, slot)| slot)
    }

    /// Indexes `slot` under its node's owner and client order id.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        let node = slab.get(slot);
        debug_assert!(node.order_id != 0, "indexing a free node");
        self.table
            .insert(hash(node.owner, node.client_order_id), slot);
    }

    /// Removes `slot`'s entry; its node must still carry the owner and
    /// client order id it was indexed under.
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, slot: Slot) {
        let node = slab.get(slot);
        let h = hash(node.owner, node.client_order_id);
        let hole = self
            .table
            .find(h, |s| s == slot)
            .unwrap_or_else(|| panic!("removing an unindexed slot {slot}"));
        self.table.remove_at(hole);
        debug_assert!(
            self.table.find(h, |s| s == slot).is_none(),
            "slot {slot} still indexed"
        );
    }

    /// Address of the entry the key's probe starts at (for prefetching).
    #[inline]
    pub fn home_entry(&self, owner: u32, client_order_id: ClientOrderId) -> *const u64 {
        self.table.home_entry(hash(owner, client_order_id))
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

impl super::Engine {
    /// Gives a resting order a new client order id (a replace), keeping
    /// the client index in step.
    pub(crate) fn set_client_order_id(&mut self, slot: Slot, client_order_id: ClientOrderId) {
        if self.slab.get(slot).client_order_id == client_order_id {
            // Same key: the entry would only move within its probe run,
            // and a lookup answers by order id, not by position.
            return;
        }
        self.client_index.remove(&self.slab, slot);
        self.slab.get_mut(slot).client_order_id = client_order_id;
        self.client_index.insert(&self.slab, slot);
        debug_assert_eq!(self.client_index.len(), self.index.len());
    }
}
