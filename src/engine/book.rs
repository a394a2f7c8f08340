//! One symbol's order book: two sides of price levels, each level a FIFO of
//! slab nodes (price-time priority).
//!
//! Levels of a side sit in a `Vec` sorted from worst to best price, so the
//! touch is the *last* element: the levels that change most (near the touch)
//! are the cheapest to insert and remove, and matching pops from the end.
//! The `Vec` is allocated at its configured capacity and never grows.
//!
//! The checks in the functions on the per-command path are
//! `debug_assert!`, for what they measured in release builds (see
//! "Assertions" in `engine/mod.rs`).

use super::divisor::Divisor;
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
    /// The symbol's tick, for `find`'s first guess (a shift, not a
    /// `div`, on the way to the level it reads: `divisor.rs`).
    tick_hint: Divisor,
    /// All ones on the sell side, zero on the buy side: `key` negates a
    /// price with it, without a branch on `side` (every `find` computes
    /// several keys, a binary search one per step).
    key_mask: Price,
}

impl BookSide {
    pub fn new(side: Side, max_levels: u32) -> BookSide {
        let book_side = BookSide {
            side,
            levels: Vec::with_capacity(max_levels as usize),
            max_levels: max_levels as usize,
            tick_hint: Divisor::new(1),
            key_mask: match side {
                Side::Buy => 0,
                Side::Sell => -1,
            },
        };
        // Allocated once at its bound: inserting a level never reallocates.
        assert!(book_side.levels.capacity() >= book_side.max_levels);
        book_side
    }

    /// Sort key that grows towards the best price on both sides.
    #[inline]
    fn key(&self, price: Price) -> Price {
        // The one price whose negation overflows (and would sort wrong).
        debug_assert_ne!(price, Price::MIN);
        // Two's complement: `(p ^ -1) - (-1)` is `-p`, `(p ^ 0) - 0` is `p`.
        let key = (price ^ self.key_mask) - self.key_mask;
        debug_assert_eq!(
            key,
            match self.side {
                Side::Buy => price,
                Side::Sell => -price,
            }
        );
        key
    }

    /// Index of the level at `price`, or where it would be inserted.
    ///
    /// No binary search over the whole side: levels are distinct prices,
    /// so the level `d` price units from the touch is at most `d` places
    /// below it, and near the touch, where most orders rest, levels sit on
    /// every tick, so it is exactly `d / tick` places below: that place is
    /// tried first (a ladder indexed by ticks, without a second structure),
    /// and only a miss searches the places in between.
    #[inline]
    pub fn find(&self, price: Price) -> Result<usize, usize> {
        let key = self.key(price);
        let len = self.levels.len();
        let Some(best) = self.levels.last() else {
            return Err(0);
        };
        let best_key = self.key(best.price);
        if key >= best_key {
            return if key == best_key {
                Ok(len - 1)
            } else {
                Err(len)
            };
        }
        let distance = (best_key - key) as u64;
        let below = self.tick_hint.divide(distance) as usize;
        if below < len && self.key(self.levels[len - 1 - below].price) == key {
            return Ok(len - 1 - below);
        }
        // At most `distance` levels lie above `price` on this side.
        let low = len.saturating_sub(distance.min(len as u64) as usize + 1);
        let found = self.levels[low..len - 1]
            .binary_search_by(|level| self.key(level.price).cmp(&key))
            .map(|i| i + low)
            .map_err(|i| i + low);
        debug_assert_eq!(
            found,
            self.levels
                .binary_search_by(|level| self.key(level.price).cmp(&key)),
            "the bounded search agrees with the full one"
        );
        found
    }

    /// Where `find` looks first for `price`'s level (for prefetching): the
    /// place `d / tick` below the touch, or `None` when that is off the
    /// side. Reads only the touch, the line `find` reads first anyway.
    #[inline]
    pub fn level_hint(&self, price: Price) -> Option<*const Level> {
        let index = self.hint_index(price)?;
        debug_assert!(index < self.levels.len());
        Some(&self.levels[index])
    }

    /// The last order of the level at `price` if it sits where `find`
    /// looks first (for prefetching the node a resting order is linked
    /// after); `None` otherwise. Reads that level.
    #[inline]
    pub fn tail_hint(&self, price: Price) -> Option<Slot> {
        let level = &self.levels[self.hint_index(price)?];
        // Empty levels are removed: every level has a last order.
        debug_assert!(level.tail != NIL);
        (level.price == price && level.tail != NIL).then_some(level.tail)
    }

    /// The index `level_hint` and `tail_hint` name.
    #[inline]
    fn hint_index(&self, price: Price) -> Option<usize> {
        let best = self.levels.last()?;
        let distance = self.key(best.price).checked_sub(self.key(price))?;
        let below = self.tick_hint.divide(distance.max(0) as u64) as usize;
        debug_assert!(self.tick_hint.value() > 0);
        self.levels.len().checked_sub(below + 1)
    }

    /// The tick size `find` guesses level places with (a hint: a resting
    /// order off this tick, after a reconfigure, only costs a search).
    pub fn set_tick_hint(&mut self, tick: Price) {
        assert!(tick > 0, "tick {tick}");
        self.tick_hint = Divisor::new(tick as u64);
    }

    #[inline]
    pub fn best(&self) -> Option<&Level> {
        let best = self.levels.last();
        debug_assert!(
            best.is_none_or(|level| level.order_count > 0),
            "empty level kept"
        );
        best
    }

    /// Whether `price` on this side is at least as good as `other`
    /// (a buy at 101 is better than a buy at 100; a sell at 99 than at 100).
    #[inline]
    pub fn at_least_as_good(&self, price: Price, other: Price) -> bool {
        self.key(price) >= self.key(other)
    }

    /// Whether an order at `price` would need a level this side has no room for.
    pub fn lacks_room_for(&self, price: Price) -> bool {
        debug_assert!(self.levels.len() <= self.max_levels, "levels over capacity");
        // The count first: below the bound there is room without a search.
        self.levels.len() >= self.max_levels && self.find(price).is_err()
    }

    /// Appends `slot` at the back of its price's FIFO, creating the level if
    /// needed. The caller has checked `lacks_room_for`. Returns the level.
    pub fn push_back(&mut self, slab: &mut OrderSlab, slot: Slot) -> Level {
        let (price, qty) = {
            let node = slab.get(slot);
            debug_assert!(node.side == self.side, "order on the wrong side");
            (node.price, node.leaves_qty)
        };
        debug_assert!(price > 0, "resting at a price below one tick");
        debug_assert!(qty > 0, "resting order with nothing left");
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
        // An empty level has neither head nor tail, a used one both.
        debug_assert!((level.head == NIL) == (level.tail == NIL));
        debug_assert!((level.tail == NIL) == (level.order_count == 0));
        {
            let node = slab.get_mut(slot);
            node.prev = level.tail;
            node.next = NIL;
        }
        if level.tail == NIL {
            level.head = slot;
        } else {
            let tail = slab.get_mut(level.tail);
            debug_assert!(tail.next == NIL, "level tail has a successor");
            tail.next = slot;
        }
        level.tail = slot;
        level.qty += qty;
        level.order_count += 1;
        let after = *level;
        #[cfg(debug_assertions)]
        self.check_level(slab, index);
        after
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
        // The node's neighbours (or the level's ends) point back at it.
        if prev == NIL {
            debug_assert!(level.head == slot, "first order is not the level head");
            level.head = next;
        } else {
            debug_assert!(slab.get(prev).next == slot, "broken forward link");
            slab.get_mut(prev).next = next;
        }
        if next == NIL {
            debug_assert!(level.tail == slot, "last order is not the level tail");
            level.tail = prev;
        } else {
            debug_assert!(slab.get(next).prev == slot, "broken back link");
            slab.get_mut(next).prev = prev;
        }
        debug_assert!(level.qty >= qty, "level total below its order");
        debug_assert!(level.order_count > 0, "unlink from an empty level");
        level.qty -= qty;
        level.order_count -= 1;
        let after = *level;
        if after.order_count == 0 {
            debug_assert!(after.qty == 0, "an empty level kept quantity");
            debug_assert!(after.head == NIL && after.tail == NIL);
            self.levels.remove(index);
        } else {
            debug_assert!(after.qty > 0, "orders left with no quantity");
            #[cfg(debug_assertions)]
            self.check_level(slab, index);
        }
        after
    }

    /// Reduces the level total after part of `slot`'s quantity traded or was
    /// replaced down in place.
    pub fn reduce(&mut self, price: Price, by: Qty) -> Level {
        debug_assert!(by > 0, "a reduction of nothing");
        let index = self.find(price).expect("resting order has a level");
        let level = &mut self.levels[index];
        // Taking a level to zero is a removal (`unlink`), never a reduce.
        debug_assert!(level.qty > by, "reduce would empty level");
        level.qty -= by;
        *level
    }

    /// Walks one level: its FIFO linked both ways from head to tail, every
    /// order at its price and on this side, its totals the sum of its
    /// orders; and the side's levels still strictly sorted worst to best.
    /// Debug builds only: it costs O(orders at the price + levels on the
    /// side), on the path of every add and cancel; the O(1) checks at the
    /// point of change stay in release builds.
    #[cfg(debug_assertions)]
    fn check_level(&self, slab: &OrderSlab, index: usize) {
        let level = &self.levels[index];
        let (mut qty, mut count, mut prev, mut slot) = (0, 0, NIL, level.head);
        while slot != NIL {
            let node = slab.get(slot);
            assert_eq!(node.prev, prev, "broken back link in level {}", level.price);
            assert_eq!(node.price, level.price);
            assert_eq!(node.side, self.side);
            assert!(node.leaves_qty > 0);
            qty += node.leaves_qty;
            count += 1;
            assert!(
                count <= level.order_count,
                "level {} FIFO loops",
                level.price
            );
            prev = slot;
            slot = node.next;
        }
        assert_eq!(level.tail, prev, "tail is not the last order");
        assert_eq!((level.qty, level.order_count), (qty, count), "level totals");
        for pair in self.levels.windows(2) {
            assert!(
                self.key(pair[0].price) < self.key(pair[1].price),
                "levels not sorted worst to best"
            );
        }
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

    /// Tells both sides the symbol's tick (see [`BookSide::find`]).
    pub fn set_tick_hint(&mut self, tick: Price) {
        self.bids.set_tick_hint(tick);
        self.asks.set_tick_hint(tick);
        debug_assert_eq!(self.bids.tick_hint, self.asks.tick_hint);
    }

    #[inline]
    pub fn side(&self, side: Side) -> &BookSide {
        let book_side = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        // `bids` and `asks` are public: each keeps the side it was built as.
        debug_assert_eq!(book_side.side, side);
        book_side
    }

    #[inline]
    pub fn side_mut(&mut self, side: Side) -> &mut BookSide {
        let book_side = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        debug_assert_eq!(book_side.side, side);
        book_side
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
