//! The pre-allocated order slab: every resting order lives in one fixed-size
//! node; nodes link into their price level's FIFO and into their
//! account-and-symbol list by index. A free list makes allocation O(1) and
//! heap-free after construction.

use super::types::*;

/// Index of a node in the slab; `NIL` ends a list.
pub type Slot = u32;
pub const NIL: Slot = u32::MAX;

pub const FLAG_POST_ONLY: u8 = 1;
pub const FLAG_DAY: u8 = 2;
/// Bits 4-5 of `flags` hold the order's `StpMode`.
const STP_SHIFT: u8 = 4;

pub fn stp_flags(stp: StpMode) -> u8 {
    (stp as u8) << STP_SHIFT
}

/// One resting order: exactly one cache line, aligned to one, so touching
/// an order costs one line fill. The bytes per resting order are this node
/// plus its share of the order index.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct OrderNode {
    pub order_id: OrderId,
    pub client_order_id: ClientOrderId,
    pub price: Price,
    pub leaves_qty: Qty,
    pub filled_qty: Qty,
    /// The (book, account) pair that owns the order, packed as
    /// `book << account_bits | account_index`: it names the exposure the
    /// order counts against, its symbol and its account in 4 bytes.
    pub owner: u32,
    /// Price-level FIFO links (time priority).
    pub prev: Slot,
    pub next: Slot,
    /// Links in the owner's (account, symbol) list, oldest first.
    pub acct_prev: Slot,
    pub acct_next: Slot,
    pub side: Side,
    pub flags: u8,
}

const _: () = assert!(std::mem::size_of::<OrderNode>() == 64);

impl OrderNode {
    const EMPTY: OrderNode = OrderNode {
        order_id: 0,
        client_order_id: 0,
        price: 0,
        leaves_qty: 0,
        filled_qty: 0,
        owner: 0,
        prev: NIL,
        next: NIL,
        acct_prev: NIL,
        acct_next: NIL,
        side: Side::Buy,
        flags: 0,
    };

    pub fn is_post_only(&self) -> bool {
        self.flags & FLAG_POST_ONLY != 0
    }

    pub fn is_day(&self) -> bool {
        self.flags & FLAG_DAY != 0
    }

    pub fn stp(&self) -> StpMode {
        StpMode::from_u8((self.flags >> STP_SHIFT) & 3).expect("stp stored at rest")
    }
}

pub struct OrderSlab {
    nodes: Vec<OrderNode>,
    /// Head of the free list, threaded through `next`.
    free_head: Slot,
    live: u32,
}

impl OrderSlab {
    pub fn with_capacity(capacity: u32) -> OrderSlab {
        assert!(capacity < NIL, "slab capacity must leave room for NIL");
        let mut nodes = super::hugepage::filled_vec(capacity as usize, OrderNode::EMPTY);
        for (i, node) in nodes.iter_mut().enumerate() {
            node.next = if i + 1 < capacity as usize {
                (i + 1) as Slot
            } else {
                NIL
            };
        }
        OrderSlab {
            nodes,
            free_head: if capacity > 0 { 0 } else { NIL },
            live: 0,
        }
    }

    pub fn capacity(&self) -> u32 {
        self.nodes.len() as u32
    }

    pub fn live(&self) -> u32 {
        self.live
    }

    pub fn is_full(&self) -> bool {
        self.free_head == NIL
    }

    /// Takes a free node and fills it; `None` when the slab is full.
    pub fn alloc(&mut self, node: OrderNode) -> Option<Slot> {
        let slot = self.free_head;
        if slot == NIL {
            return None;
        }
        self.free_head = self.nodes[slot as usize].next;
        self.nodes[slot as usize] = node;
        self.live += 1;
        Some(slot)
    }

    pub fn free(&mut self, slot: Slot) {
        debug_assert!(self.live > 0);
        let node = &mut self.nodes[slot as usize];
        node.leaves_qty = 0;
        node.order_id = 0;
        node.next = self.free_head;
        self.free_head = slot;
        self.live -= 1;
    }

    #[inline]
    pub fn get(&self, slot: Slot) -> &OrderNode {
        &self.nodes[slot as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, slot: Slot) -> &mut OrderNode {
        &mut self.nodes[slot as usize]
    }

    /// Address of a node for prefetching; `slot` must be below capacity.
    #[inline]
    pub fn get_unchecked_hint(&self, slot: Slot) -> *const OrderNode {
        &self.nodes[slot as usize]
    }

    /// Bytes the slab reserves per order it can hold.
    pub fn bytes_per_order() -> usize {
        std::mem::size_of::<OrderNode>()
    }
}
