//! The pre-allocated order slab: every resting order lives in one fixed-size
//! node; nodes link into their price level's FIFO by index (their
//! account-and-symbol list's links are beside the slab, `account_links.rs`).
//! Allocation is heap-free after construction.
//!
//! An order goes to its home node, `order_id & home_mask`, whenever that
//! node is free, so that a cancel or replace finds its order from the id
//! alone: one cache miss (the node) instead of two (an index entry sized by
//! the capacity, then the node). The home is taken unless an order
//! `home_mask + 1` ids older still rests there; then a bitmap search finds
//! another free node and the order index records it (`order_index.rs`).
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
    /// One bit per node, set while the node is free.
    free: Vec<u64>,
    /// Where a search for a free node other than an order's home starts
    /// (a word of `free`): it moves on, so searches do not rescan full words.
    search_from: usize,
    /// An order's home node is `order_id & home_mask`: the largest power
    /// of two not above the capacity, less one.
    home_mask: u64,
    live: u32,
}

impl OrderSlab {
    pub fn with_capacity(capacity: u32) -> OrderSlab {
        assert!(capacity < NIL, "slab capacity must leave room for NIL");
        let nodes = super::hugepage::filled_vec(capacity as usize, OrderNode::EMPTY);
        let words = (capacity as usize).div_ceil(64);
        let mut free = vec![u64::MAX; words];
        if !capacity.is_multiple_of(64) {
            // Only the nodes that exist are free.
            free[words - 1] = (1u64 << (capacity % 64)) - 1;
        }
        let home_mask = match capacity {
            0 => 0,
            c => (1u64 << (u32::BITS - 1 - c.leading_zeros())) - 1,
        };
        let slab = OrderSlab {
            nodes,
            free,
            search_from: 0,
            home_mask,
            live: 0,
        };
        assert_eq!(slab.nodes.len(), capacity as usize);
        assert!(capacity == 0 || slab.home_mask < capacity as u64);
        assert_eq!(slab.free_count(), capacity as usize);
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
        debug_assert!(self.live <= self.capacity(), "more live nodes than nodes");
        self.live == self.capacity()
    }

    /// The node an order id is placed in when that node is free: ids are
    /// sequential, so an order finds its node from its id alone, without
    /// an index (the order index holds only the orders placed elsewhere,
    /// which needs an order still resting `home_mask + 1` ids later).
    #[inline(always)]
    pub fn home_of(&self, order_id: OrderId) -> Slot {
        debug_assert!(!self.nodes.is_empty(), "an empty slab has no homes");
        (order_id & self.home_mask) as Slot
    }

    /// Takes a free node, the order's home when free, and fills it with a
    /// resting order (an id, some quantity left); `None` when the slab is
    /// full.
    pub fn alloc(&mut self, node: OrderNode) -> Option<Slot> {
        debug_assert!(node.order_id != 0, "order id 0 marks a free node");
        debug_assert!(node.leaves_qty > 0, "a resting order has quantity left");
        if self.is_full() {
            return None;
        }
        let home = self.home_of(node.order_id);
        let slot = if self.is_free(home) {
            home
        } else {
            self.search_free()
        };
        let (word, bit) = Self::bit_of(slot);
        self.free[word] &= !bit;
        let free = &mut self.nodes[slot as usize];
        debug_assert!(free.order_id == 0, "a free node holds an order");
        *free = node;
        self.live += 1;
        debug_assert!(self.live <= self.capacity());
        Some(slot)
    }

    /// The word of `free` holding `slot`'s bit, and the bit.
    #[inline(always)]
    fn bit_of(slot: Slot) -> (usize, u64) {
        debug_assert!(slot != NIL, "NIL is no node");
        (slot as usize / 64, 1u64 << (slot % 64))
    }

    #[inline(always)]
    fn is_free(&self, slot: Slot) -> bool {
        debug_assert!(slot < self.capacity());
        let (word, bit) = Self::bit_of(slot);
        self.free[word] & bit != 0
    }

    /// Some free node (the slab is not full), searching word by word from
    /// where the last search ended.
    fn search_free(&mut self) -> Slot {
        assert!(!self.is_full(), "searching a full slab");
        let words = self.free.len();
        for step in 0..words {
            let word = (self.search_from + step) % words;
            let bits = self.free[word];
            if bits != 0 {
                self.search_from = word;
                return (word * 64) as Slot + bits.trailing_zeros();
            }
        }
        unreachable!("a slab that is not full has a free node");
    }

    pub fn free(&mut self, slot: Slot) {
        debug_assert!(self.live > 0, "free with no live node");
        debug_assert!(!self.is_free(slot), "a live node marked free");
        let node = &mut self.nodes[slot as usize];
        // Ids start at 1 and `free` clears them: a second free of the same
        // node is caught here.
        assert!(node.order_id != 0, "double free of slot");
        node.leaves_qty = 0;
        node.order_id = 0;
        let (word, bit) = Self::bit_of(slot);
        self.free[word] |= bit;
        self.live -= 1;
    }

    /// Free nodes by the bitmap (for the consistency check).
    pub fn free_count(&self) -> usize {
        let count: u32 = self.free.iter().map(|w| w.count_ones()).sum();
        debug_assert!(count as usize <= self.nodes.len());
        count as usize
    }

    #[inline]
    pub fn get(&self, slot: Slot) -> &OrderNode {
        &self.nodes[slot as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, slot: Slot) -> &mut OrderNode {
        &mut self.nodes[slot as usize]
    }

    /// Address of a node for prefetching, without a bounds check
    /// (`prefetch::unchecked_address`): never read through it.
    #[inline]
    pub fn get_unchecked_hint(&self, slot: Slot) -> *const OrderNode {
        super::prefetch::unchecked_address(&self.nodes, slot as usize)
    }

    /// Bytes the slab reserves per order it can hold.
    pub fn bytes_per_order() -> usize {
        std::mem::size_of::<OrderNode>()
    }
}
