//! One symbol's order book: two sides of price levels, each level a FIFO of
//! slab nodes (price-time priority).
//!
//! Levels of a side sit in a `Vec` sorted from worst to best price, so the
//! touch is the *last* element: the levels that change most (near the touch)
//! are the cheapest to insert and remove, and matching pops from the end.
//! The `Vec` is allocated at its configured capacity and never grows.

use super::slab::{OrderSlab, Slot, NIL};
use super::types::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: Price,
    /// Sum of `leaves_qty` of the orders in the level.
    pub qty: Qty,
    pub order_count: u32,
    pub head: Slot,
    pub tail: Slot,
}

pub struct BookSide {
    pub side: Side,
    /// Worst price first, best price last.
    pub levels: Vec<Level>,
    max_levels: usize,
}

impl BookSide {
    pub fn new(side: Side, max_levels: u32) -> BookSide {
        BookSide {
            side,
            levels: Vec::with_capacity(max_levels as usize),
            max_levels: max_levels as usize,
        }
    }

    /// Sort key that grows towards the best price on both sides.
    #[inline]
    fn key(&self, price: Price) -> Price {
        match self.side {
            Side::Buy => price,
            Side::Sell => -price,
        }
    }

    /// Index of the level at `price`, or where it would be inserted.
    #[inline]
    pub fn find(&self, price: Price) -> Result<usize, usize> {
        let key = self.key(price);
        // Most activity is near the touch: check the best level first.
        if let Some(best) = self.levels.last() {
            let best_key = self.key(best.price);
            if key == best_key {
                return Ok(self.levels.len() - 1);
            }
            if key > best_key {
                return Err(self.levels.len());
            }
        }
        self.levels
            .binary_search_by(|level| self.key(level.price).cmp(&key))
    }

    #[inline]
    pub fn best(&self) -> Option<&Level> {
        self.levels.last()
    }

    /// Whether `price` on this side is at least as good as `other`
    /// (a buy at 101 is better than a buy at 100; a sell at 99 than at 100).
    #[inline]
    pub fn at_least_as_good(&self, price: Price, other: Price) -> bool {
        self.key(price) >= self.key(other)
    }

    /// Whether an order at `price` would need a level this side has no room for.
    pub fn lacks_room_for(&self, price: Price) -> bool {
        self.find(price).is_err() && self.levels.len() >= self.max_levels
    }

    /// Appends `slot` at the back of its price's FIFO, creating the level if
    /// needed. The caller has checked `lacks_room_for`. Returns the level.
    pub fn push_back(&mut self, slab: &mut OrderSlab, slot: Slot) -> Level {
        let (price, qty) = {
            let node = slab.get(slot);
            (node.price, node.leaves_qty)
        };
        let index = match self.find(price) {
            Ok(index) => index,
            Err(index) => {
                assert!(self.levels.len() < self.max_levels, "level capacity");
                self.levels.insert(
                    index,
                    Level {
                        price,
                        qty: 0,
                        order_count: 0,
                        head: NIL,
                        tail: NIL,
                    },
                );
                index
            }
        };
        let level = &mut self.levels[index];
        {
            let node = slab.get_mut(slot);
            node.prev = level.tail;
            node.next = NIL;
        }
        if level.tail == NIL {
            level.head = slot;
        } else {
            slab.get_mut(level.tail).next = slot;
        }
        level.tail = slot;
        level.qty += qty;
        level.order_count += 1;
        *level
    }

    /// Unlinks `slot` from its level (removing the level when it empties).
    /// Returns the level as it is afterwards (`qty == 0` when gone).
    pub fn unlink(&mut self, slab: &mut OrderSlab, slot: Slot) -> Level {
        let (price, qty, prev, next) = {
            let node = slab.get(slot);
            (node.price, node.leaves_qty, node.prev, node.next)
        };
        let index = self.find(price).expect("resting order has a level");
        let level = &mut self.levels[index];
        if prev == NIL {
            level.head = next;
        } else {
            slab.get_mut(prev).next = next;
        }
        if next == NIL {
            level.tail = prev;
        } else {
            slab.get_mut(next).prev = prev;
        }
        debug_assert!(level.qty >= qty && level.order_count > 0);
        level.qty -= qty;
        level.order_count -= 1;
        let after = *level;
        if after.order_count == 0 {
            debug_assert_eq!(after.qty, 0);
            self.levels.remove(index);
        }
        after
    }

    /// Reduces the level total after part of `slot`'s quantity traded or was
    /// replaced down in place.
    pub fn reduce(&mut self, price: Price, by: Qty) -> Level {
        let index = self.find(price).expect("resting order has a level");
        let level = &mut self.levels[index];
        debug_assert!(level.qty > by);
        level.qty -= by;
        *level
    }
}

pub struct Book {
    pub symbol: SymbolId,
    pub bids: BookSide,
    pub asks: BookSide,
}

impl Book {
    pub fn new(symbol: SymbolId, max_levels: u32) -> Book {
        Book {
            symbol,
            bids: BookSide::new(Side::Buy, max_levels),
            asks: BookSide::new(Side::Sell, max_levels),
        }
    }

    #[inline]
    pub fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    #[inline]
    pub fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    pub fn best_bid(&self) -> Option<Price> {
        self.bids.best().map(|l| l.price)
    }

    pub fn best_ask(&self) -> Option<Price> {
        self.asks.best().map(|l| l.price)
    }
}

/// Whether an order on `side` at `limit` trades with a resting `price`.
#[inline]
pub fn crosses(side: Side, limit: Price, resting: Price) -> bool {
    match side {
        Side::Buy => limit >= resting,
        Side::Sell => limit <= resting,
    }
}
