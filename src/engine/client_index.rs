//! (owner, client_order_id) -> slab slot for the resting orders, so that a
//! client that lost its connection before it saw an `order_id` can still
//! find its order by the id it chose (issue 12). Without it the only way
//! would be a walk of the account's list on that symbol, up to
//! `max_open_orders` nodes of pointer chasing on the owner shard's core.
//!
//! The same table shape as `order_index.rs`: open addressing, linear
//! probing, backward-shift deletion, sized once to at least twice the slab
//! (load <= 1/2), 8 bytes per entry packing a 32-bit hash of the key with
//! the slot. Unlike order ids, client order ids are the client's choice and
//! need not be unique, so a key may have several entries: a lookup answers
//! the oldest (lowest `order_id`), the order a walk of the account's list
//! would meet first, and a removal deletes the entry of that exact slot.
//!
//! The engine keeps it in step with the account lists (`link_account`,
//! `unlink_account`) and with replaces (which change an order's client
//! order id): an order is in this index exactly when it is in its owner's
//! list, which `check_invariants` verifies.

use super::slab::{OrderSlab, Slot, NIL};
use super::types::{ClientOrderId, OrderId};

const EMPTY: u64 = u64::MAX;

/// The key's hash: owner and client order id mixed (Fibonacci hashing of
/// both words), so that the sequential ids most clients use spread out.
#[inline]
fn hash(owner: u32, client_order_id: ClientOrderId) -> u32 {
    let mixed =
        (client_order_id ^ (owner as u64).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as u32
}

#[inline]
fn entry(hash: u32, slot: Slot) -> u64 {
    // A slot is never NIL, so no entry reads as `EMPTY`.
    debug_assert!(slot != NIL, "indexing the end-of-list marker");
    (hash as u64) << 32 | slot as u64
}

#[inline]
fn slot_of(entry: u64) -> Slot {
    entry as u32
}

pub struct ClientIndex {
    entries: Box<[u64]>,
    mask: usize,
    len: usize,
}

impl ClientIndex {
    pub fn with_capacity(orders: u32) -> ClientIndex {
        assert!(orders < NIL, "slot space");
        let table = (orders as usize * 2).next_power_of_two().max(2);
        assert!(table <= 1 << 32, "home must be computable from the hash");
        ClientIndex {
            entries: super::hugepage::filled_vec(table, EMPTY).into_boxed_slice(),
            mask: table - 1,
            len: 0,
        }
    }

    #[inline]
    fn home(&self, hash: u32) -> usize {
        debug_assert_eq!(self.mask & (self.mask + 1), 0);
        hash as usize & self.mask
    }

    /// The oldest resting order of `owner` carrying `client_order_id`.
    pub fn get(
        &self,
        slab: &OrderSlab,
        owner: u32,
        client_order_id: ClientOrderId,
    ) -> Option<Slot> {
        // At most half full, so an empty entry ends every probe.
        debug_assert!(self.len < self.entries.len(), "a probe could not end");
        let h = hash(owner, client_order_id);
        let mut i = self.home(h);
        let mut best: Option<(OrderId, Slot)> = None;
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                break;
            }
            if (e >> 32) as u32 == h {
                let node = slab.get(slot_of(e));
                let matches = node.owner == owner && node.client_order_id == client_order_id;
                if matches && best.is_none_or(|(id, _)| node.order_id < id) {
                    best = Some((node.order_id, slot_of(e)));
                }
            }
            i = (i + 1) & self.mask;
        }
        best.map(|(_, slot)| slot)
    }

    /// Indexes `slot` under its node's owner and client order id.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        assert!(
            self.len < self.entries.len() / 2,
            "client index over half full"
        );
        let node = slab.get(slot);
        debug_assert!(node.order_id != 0, "indexing a free node");
        let h = hash(node.owner, node.client_order_id);
        let mut i = self.home(h);
        while self.entries[i] != EMPTY {
            debug_assert!(
                slot_of(self.entries[i]) != slot,
                "slot {slot} indexed twice"
            );
            i = (i + 1) & self.mask;
        }
        self.entries[i] = entry(h, slot);
        self.len += 1;
    }

    /// Removes `slot`'s entry; its node must still carry the owner and
    /// client order id it was indexed under.
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, slot: Slot) {
        debug_assert!(self.len > 0, "removing from an empty index");
        let node = slab.get(slot);
        let h = hash(node.owner, node.client_order_id);
        let mut hole = self.home(h);
        loop {
            let e = self.entries[hole];
            assert!(e != EMPTY, "removing an unindexed slot {slot}");
            if slot_of(e) == slot {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        let mut i = hole;
        loop {
            i = (i + 1) & self.mask;
            let e = self.entries[i];
            if e == EMPTY {
                break;
            }
            let home = self.home((e >> 32) as u32);
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
        assert!(self.entries.len() >= 2 * orders as usize);
        (self.entries.len() * std::mem::size_of::<u64>()).div_ceil(orders.max(1) as usize)
    }
}

impl super::Engine {
    /// Gives a resting order a new client order id (a replace), keeping
    /// the client index in step.
    pub(crate) fn set_client_order_id(&mut self, slot: Slot, client_order_id: ClientOrderId) {
        self.client_index.remove(&self.slab, slot);
        self.slab.get_mut(slot).client_order_id = client_order_id;
        self.client_index.insert(&self.slab, slot);
        debug_assert_eq!(self.client_index.len(), self.index.len());
    }
}
