//! The pre-allocated order slab: every resting order lives in one fixed-size
//! node; nodes link into their price level's FIFO by index (their
//! account-and-symbol list's links are beside the slab, `account_links.rs`). A free list makes allocation O(1) and
//! heap-free after construction.
//!
//! The checks in the functions on the per-command path are
//! `debug_assert!`, for what they measured in release builds (see
//! "Assertions" in `engine/mod.rs`).

use super::types::*;

/// Index of a node in the slab; `NIL` ends a list.
pub type Slot = u32;
pub const NIL: Slot = u32::MAX;

pub const FLAG_POST_ONLY: u8 = 1;
pub const FLAG_DAY: u8 = 2;
/// Bits 4-5 of `flags` hold the order's `StpMode`.
const STP_SHIFT: u8 = 4;
/// The two bits the mode occupies.
const STP_MASK: u8 = 3;

// The flag bits and the STP field share one byte without overlapping, and
// every STP mode fits its two bits.
const _: () = assert!((FLAG_POST_ONLY | FLAG_DAY) >> STP_SHIFT == 0);
const _: () = assert!(FLAG_POST_ONLY & FLAG_DAY == 0);
const _: () = assert!(StpMode::CancelBoth as u8 <= STP_MASK);
const _: () = assert!(STP_SHIFT + 2 <= u8::BITS as u8);

pub fn stp_flags(stp: StpMode) -> u8 {
    let flags = (stp as u8) << STP_SHIFT;
    debug_assert_eq!(
        (flags >> STP_SHIFT) & STP_MASK,
        stp as u8,
        "mode fits its bits"
    );
    flags
}

/// One resting order: exactly one cache line, aligned to one, so touching
/// an order costs one line fill. The bytes per resting order are this node
/// plus its share of the order index.
/// (56 bytes of fields: the account list's links, which were the other 8,
/// live in `account_links.rs`, where writing a neighbour's is cheaper.)
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
        StpMode::from_u8((self.flags >> STP_SHIFT) & STP_MASK).expect("stp stored at rest")
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
        let slab = OrderSlab {
            nodes,
            free_head: if capacity > 0 { 0 } else { NIL },
            live: 0,
        };
        assert_eq!(slab.nodes.len(), capacity as usize);
        slab
    }

    pub fn capacity(&self) -> u32 {
        self.nodes.len() as u32
    }

    pub fn live(&self) -> u32 {
        debug_assert!(self.live <= self.capacity(), "more live nodes than nodes");
        self.live
    }

    pub fn is_full(&self) -> bool {
        // The free list is empty exactly when every node is live.
        debug_assert!((self.free_head == NIL) == (self.live == self.capacity()));
        self.free_head == NIL
    }

    /// Takes a free node and fills it with a resting order (an id, some
    /// quantity left); `None` when the slab is full.
    pub fn alloc(&mut self, node: OrderNode) -> Option<Slot> {
        debug_assert!(node.order_id != 0, "order id 0 marks a free node");
        debug_assert!(node.leaves_qty > 0, "a resting order has quantity left");
        let slot = self.free_head;
        if slot == NIL {
            debug_assert!(self.live == self.capacity(), "free list lost a node");
            return None;
        }
        let free = &self.nodes[slot as usize];
        debug_assert!(free.order_id == 0, "free-list node holds an order");
        self.free_head = free.next;
        self.nodes[slot as usize] = node;
        self.live += 1;
        debug_assert!(self.live <= self.capacity());
        Some(slot)
    }

    pub fn free(&mut self, slot: Slot) {
        debug_assert!(self.live > 0, "free with no live node");
        let node = &mut self.nodes[slot as usize];
        // Ids start at 1 and `free` clears them: a second free of the same
        // node would loop the free list.
        assert!(node.order_id != 0, "double free of slot");
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
