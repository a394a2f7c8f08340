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
//! Changes reach the table `DELAY` changes after they are made, their
//! table line prefetched meanwhile, so that no command waits for that
//! line; a lookup looks at the queued inserts too and lets the node decide.
//!
//! Only long lists are indexed. An (account, symbol) list below
//! `INDEXED_FROM` orders is walked instead (it is in `order_id` order, so
//! the first match is the oldest): at most `INDEXED_FROM - 1` nodes, a
//! bounded cost paid by the rare query, where indexing every order cost
//! every resting order an insert and a removal (about 10% of the engine's
//! throughput on `tradsys-bench engine --peers`,
//! `bench/results/2026-11-27-engine-extras.txt`). A list that reaches
//! `INDEXED_FROM` orders is indexed whole at that moment and stays indexed
//! until it empties (`Exposure::client_indexed`), so a market maker quoting
//! hundreds of orders on a symbol is found by a lookup, not a long walk.
//!
//! The engine keeps it in step with the account lists (`link_account`,
//! `unlink_account`) and with replaces (which change an order's client
//! order id): an order is in this index exactly when it is in its owner's
//! list and that list is indexed, which `check_invariants` verifies.

use super::prefetch::{prefetch, PREFETCH_MIN_LIVE};
use super::slab::{OrderSlab, Slot};
use super::slot_table::SlotTable;
use super::types::{ClientOrderId, OrderId};

/// The length at which an (account, symbol) list's orders enter the index.
/// Below it a lookup walks the list: at most 127 nodes, each two reads
/// (its links and the node), some microseconds even when none is cached.
pub const INDEXED_FROM: u32 = 128;

/// The key's hash: owner and client order id mixed (Fibonacci hashing of
/// both words), so that the sequential ids most clients use spread out.
#[inline]
fn hash(owner: u32, client_order_id: ClientOrderId) -> u32 {
    let mixed =
        (client_order_id ^ (owner as u64).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as u32
}

/// Changes queued before they reach the table. A change's entry is a
/// random line of a table sized by the order capacity (16 MiB at 1 Mi
/// orders), so applying it at once made every cancel and every resting
/// order wait for a miss after the node's (a third dependent miss in a
/// cancel: index entry, node, client index entry). Queued, its line is
/// prefetched when it is queued and the change applied `DELAY` changes
/// later, when the line has arrived.
const DELAY: usize = 16;

/// One queued change: insert or remove `slot` under `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    hash: u32,
    slot: Slot,
    insert: bool,
}

const NO_CHANGE: Change = Change {
    hash: 0,
    slot: Slot::MAX,
    insert: false,
};

pub struct ClientIndex {
    table: SlotTable,
    /// The last `DELAY` changes (fewer at first: the rest `NO_CHANGE`),
    /// change number `k` at `k % DELAY`: the index is the table with
    /// these applied in order.
    queued: [Change; DELAY],
    /// Changes ever queued: the next one's number.
    changes: usize,
    /// Whether `queued` may hold a change (else every place is empty).
    changes_queued: bool,
    /// Entries the index holds: the table's plus queued inserts minus
    /// queued removals.
    len: usize,
}

impl ClientIndex {
    pub fn with_capacity(orders: u32) -> ClientIndex {
        ClientIndex {
            table: SlotTable::with_capacity(orders),
            queued: [NO_CHANGE; DELAY],
            changes: 0,
            changes_queued: false,
            len: 0,
        }
    }

    /// The oldest resting order of `owner` carrying `client_order_id`.
    ///
    /// A candidate is any slot the table or a queued insert files under the
    /// key's hash; the node decides: an order is indexed under its key
    /// exactly while it rests (the engine keeps the index in step with the
    /// account lists), so a live node carrying the key is indexed under it,
    /// whatever the queue still holds, and a freed or reused one is not.
    pub fn get(
        &self,
        slab: &OrderSlab,
        owner: u32,
        client_order_id: ClientOrderId,
    ) -> Option<Slot> {
        let h = hash(owner, client_order_id);
        let mut best: Option<(OrderId, Slot)> = None;
        let mut consider = |slot: Slot| {
            let node = slab.get(slot);
            // Order id 0 marks a free node (`OrderSlab::free`).
            let matches = node.order_id != 0
                && node.owner == owner
                && node.client_order_id == client_order_id;
            if matches && best.is_none_or(|(id, _)| node.order_id < id) {
                best = Some((node.order_id, slot));
            }
        };
        // Never stops early: every entry of the key is looked at.
        let stopped = self.table.find(h, |slot| {
            consider(slot);
            false
        });
        debug_assert!(stopped.is_none());
        for change in self.queued_changes() {
            if change.insert && change.hash == h {
                consider(change.slot);
            }
        }
        best.map(|(_, slot)| slot)
    }

    /// Indexes `slot` under its node's owner and client order id.
    #[inline]
    pub fn insert(&mut self, slab: &OrderSlab, slot: Slot) {
        let node = slab.get(slot);
        debug_assert!(node.order_id != 0, "indexing a free node");
        self.change(
            slab,
            Change {
                hash: hash(node.owner, node.client_order_id),
                slot,
                insert: true,
            },
        );
        self.len += 1;
    }

    /// Removes `slot`'s entry; its node must still carry the owner and
    /// client order id it was indexed under.
    #[inline]
    pub fn remove(&mut self, slab: &OrderSlab, slot: Slot) {
        let node = slab.get(slot);
        debug_assert!(node.order_id != 0, "unindexing a free node");
        self.change(
            slab,
            Change {
                hash: hash(node.owner, node.client_order_id),
                slot,
                insert: false,
            },
        );
        assert!(self.len > 0, "removing from an empty client index");
        self.len -= 1;
    }

    /// Makes `change`: queued while the resting orders outgrow the caches
    /// (`PREFETCH_MIN_LIVE`, as for every prefetch), applied at once (after
    /// whatever is queued) while they fit, where the queue only costs.
    #[inline]
    fn change(&mut self, slab: &OrderSlab, change: Change) {
        debug_assert!(change.slot < slab.capacity(), "a change outside the slab");
        if slab.live() >= PREFETCH_MIN_LIVE {
            self.queue(change);
            return;
        }
        if self.changes_queued {
            self.apply_queued();
        }
        self.apply(change);
    }

    /// Applies every queued change, oldest first, emptying the queue.
    fn apply_queued(&mut self) {
        assert!(self.changes_queued, "nothing queued");
        for k in self.changes.saturating_sub(DELAY)..self.changes {
            let change = core::mem::replace(&mut self.queued[k % DELAY], NO_CHANGE);
            if change.slot != NO_CHANGE.slot {
                self.apply(change);
            }
        }
        self.changes_queued = false;
    }

    /// Queues `change` with its table line on its way, in the place of the
    /// change made `DELAY` changes ago, which is applied now.
    #[inline]
    fn queue(&mut self, change: Change) {
        debug_assert!(change.slot != NO_CHANGE.slot, "queueing no change");
        prefetch(self.table.home_entry(change.hash));
        let oldest = core::mem::replace(&mut self.queued[self.changes % DELAY], change);
        self.changes += 1;
        self.changes_queued = true;
        if oldest.slot != NO_CHANGE.slot {
            self.apply(oldest);
        }
    }

    #[inline]
    fn apply(&mut self, change: Change) {
        debug_assert!(change != NO_CHANGE, "applying an empty queue place");
        if change.insert {
            self.table.insert(change.hash, change.slot);
            return;
        }
        let hole = self
            .table
            .find(change.hash, |s| s == change.slot)
            .unwrap_or_else(|| panic!("removing an unindexed slot {}", change.slot));
        self.table.remove_at(hole);
    }

    /// The queued changes, oldest first.
    fn queued_changes(&self) -> impl Iterator<Item = Change> + '_ {
        let first = self.changes.saturating_sub(DELAY);
        debug_assert!(self.changes - first <= DELAY);
        (first..self.changes)
            .map(|k| self.queued[k % DELAY])
            .filter(|c| c.slot != NO_CHANGE.slot)
    }

    pub fn len(&self) -> usize {
        debug_assert!(self.len <= self.table.len() + DELAY);
        self.len
    }

    /// The table's own consistency check (see `SlotTable::check_displaced`;
    /// the table lagging behind the queue is a consistent table), and the
    /// index's size: the table's with the queued changes applied.
    pub fn check_table(&self) {
        self.table.check_displaced();
        let (inserts, removals) =
            self.queued_changes().fold(
                (0, 0),
                |(i, r), c| if c.insert { (i + 1, r) } else { (i, r + 1) },
            );
        assert_eq!(
            self.table.len() + inserts - removals,
            self.len,
            "client index size"
        );
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
        let node = self.slab.get(slot);
        let indexed = self.exposures[node.owner as usize].client_indexed;
        if node.client_order_id == client_order_id || !indexed {
            // Same key: the entry would only move within its probe run,
            // and a lookup answers by order id, not by position. A list
            // not indexed is walked, and the walk reads the node.
            self.slab.get_mut(slot).client_order_id = client_order_id;
            return;
        }
        self.client_index.remove(&self.slab, slot);
        self.slab.get_mut(slot).client_order_id = client_order_id;
        self.client_index.insert(&self.slab, slot);
        debug_assert!(self.client_index.len() <= self.index.len());
    }
}
