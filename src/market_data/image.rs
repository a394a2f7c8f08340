//! The feed's picture of one symbol's book: price levels with their
//! absolute quantity and order count, built only from the engine's public
//! `BookLevel` events (quantity 0 deletes the level). It is what snapshots
//! are cut from and what the checksum covers; it equals the engine's own
//! aggregate book after every event (`tests/market_data/feed.rs` proves it), but it
//! lives outside the engine so that any shard, or a replica, can hold one.
//!
//! Same shape as `engine::book`: each side sorted worst to best, so the busy
//! end (the touch) is the cheap end; allocated at the engine's level
//! capacity, never grown.

use crate::engine::{Price, Qty, Side};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLevel {
    pub price: Price,
    pub qty: Qty,
    pub order_count: u32,
}

/// What a level change did to its side; `rank` counts from the best level (0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelEdit {
    Inserted {
        rank: usize,
    },
    Updated {
        rank: usize,
    },
    Deleted {
        rank: usize,
    },
    /// A delete of a level the side does not hold: harmless, nothing changes.
    Absent,
}

impl LevelEdit {
    /// The level's rank, counted from the best (0); `None` for `Absent`.
    pub fn rank(self) -> Option<usize> {
        match self {
            LevelEdit::Inserted { rank }
            | LevelEdit::Updated { rank }
            | LevelEdit::Deleted { rank } => Some(rank),
            LevelEdit::Absent => None,
        }
    }
}

/// A level insert past the side's capacity: the events do not come from an
/// engine with this capacity. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelCapacityExceeded;

pub struct ImageSide {
    side: Side,
    /// Worst price first, best price last.
    levels: Vec<ImageLevel>,
}

/// A copy with the same capacity (the side's level bound, never grown):
/// how a shard's replica takes another shard's symbol at start.
impl Clone for ImageSide {
    fn clone(&self) -> ImageSide {
        let mut levels = Vec::with_capacity(self.levels.capacity());
        levels.extend_from_slice(&self.levels);
        ImageSide {
            side: self.side,
            levels,
        }
    }
}

impl ImageSide {
    pub fn new(side: Side, capacity: usize) -> ImageSide {
        ImageSide {
            side,
            levels: Vec::with_capacity(capacity),
        }
    }

    /// Sort key that grows towards the best price on both sides.
    #[inline]
    fn key(&self, price: Price) -> Price {
        match self.side {
            Side::Buy => price,
            Side::Sell => price.wrapping_neg(),
        }
    }

    /// Whether `a` is a better price than `b` on this side.
    #[inline]
    pub fn better(&self, a: Price, b: Price) -> bool {
        self.key(a) > self.key(b)
    }

    fn find(&self, price: Price) -> Result<usize, usize> {
        let key = self.key(price);
        if let Some(best) = self.levels.last() {
            if self.key(best.price) < key {
                return Err(self.levels.len());
            }
        }
        self.levels
            .binary_search_by(|level| self.key(level.price).cmp(&key))
    }

    #[inline]
    fn rank(&self, index: usize) -> usize {
        self.levels.len() - 1 - index
    }

    /// Sets the level at `price` to `qty` (0 deletes it).
    pub fn set(
        &mut self,
        price: Price,
        qty: Qty,
        order_count: u32,
    ) -> Result<LevelEdit, LevelCapacityExceeded> {
        let level = ImageLevel {
            price,
            qty,
            order_count,
        };
        Ok(match (self.find(price), qty) {
            (Ok(index), 0) => {
                let rank = self.rank(index);
                self.levels.remove(index);
                LevelEdit::Deleted { rank }
            }
            (Ok(index), _) => {
                self.levels[index] = level;
                LevelEdit::Updated {
                    rank: self.rank(index),
                }
            }
            (Err(_), 0) => LevelEdit::Absent,
            (Err(index), _) => {
                if self.levels.len() == self.levels.capacity() {
                    return Err(LevelCapacityExceeded);
                }
                self.levels.insert(index, level);
                LevelEdit::Inserted {
                    rank: self.rank(index),
                }
            }
        })
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn best(&self) -> Option<&ImageLevel> {
        self.levels.last()
    }

    /// Levels best first.
    pub fn best_first(&self) -> impl ExactSizeIterator<Item = &ImageLevel> + Clone + '_ {
        self.levels.iter().rev()
    }

    /// The levels worst first, as stored (snapshots cut from here).
    pub fn worst_first(&self) -> &[ImageLevel] {
        &self.levels
    }

    pub fn clear(&mut self) {
        self.levels.clear();
    }
}

#[derive(Clone)]
pub struct BookImage {
    pub bids: ImageSide,
    pub asks: ImageSide,
}

impl ImageSide {
    /// Becomes a copy of `other` without allocating: both were sized to
    /// the same level bound at start (a replica's resync, `shard/md/resync.rs`).
    pub fn copy_from(&mut self, other: &ImageSide) {
        assert!(
            self.levels.capacity() >= other.levels.len(),
            "sized to the same level bound"
        );
        self.side = other.side;
        self.levels.clear();
        self.levels.extend_from_slice(&other.levels);
    }
}

impl BookImage {
    /// Becomes a copy of `other` without allocating (see
    /// [`ImageSide::copy_from`]).
    pub fn copy_from(&mut self, other: &BookImage) {
        self.bids.copy_from(&other.bids);
        self.asks.copy_from(&other.asks);
        debug_assert_eq!(self.bids.len(), other.bids.len());
    }

    /// An empty book holding up to `levels_per_side` levels per side (the
    /// engine's `max_levels_per_side`).
    pub fn new(levels_per_side: u32) -> BookImage {
        BookImage {
            bids: ImageSide::new(Side::Buy, levels_per_side as usize),
            asks: ImageSide::new(Side::Sell, levels_per_side as usize),
        }
    }

    pub fn side(&self, side: Side) -> &ImageSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub fn side_mut(&mut self, side: Side) -> &mut ImageSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    pub fn set(
        &mut self,
        side: Side,
        price: Price,
        qty: Qty,
        order_count: u32,
    ) -> Result<LevelEdit, LevelCapacityExceeded> {
        self.side_mut(side).set(price, qty, order_count)
    }

    /// Whether the best bid is at or above the best ask (never true of an
    /// engine's book at an event boundary).
    pub fn crossed(&self) -> bool {
        match (self.bids.best(), self.asks.best()) {
            (Some(bid), Some(ask)) => bid.price >= ask.price,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_absolute_and_zero_deletes() {
        let mut book = BookImage::new(4);
        assert_eq!(
            book.set(Side::Buy, 100, 5, 1),
            Ok(LevelEdit::Inserted { rank: 0 })
        );
        assert_eq!(
            book.set(Side::Buy, 101, 2, 1),
            Ok(LevelEdit::Inserted { rank: 0 })
        );
        assert_eq!(
            book.set(Side::Buy, 100, 7, 2),
            Ok(LevelEdit::Updated { rank: 1 })
        );
        assert_eq!(book.set(Side::Buy, 99, 0, 0), Ok(LevelEdit::Absent));
        let bids: Vec<_> = book.bids.best_first().map(|l| (l.price, l.qty)).collect();
        assert_eq!(bids, [(101, 2), (100, 7)]);
        assert_eq!(
            book.set(Side::Buy, 101, 0, 0),
            Ok(LevelEdit::Deleted { rank: 0 })
        );
        assert_eq!(book.bids.best().map(|l| l.price), Some(100));
    }

    #[test]
    fn asks_rank_from_the_lowest_price() {
        let mut book = BookImage::new(4);
        book.set(Side::Sell, 105, 1, 1).unwrap();
        assert_eq!(
            book.set(Side::Sell, 103, 1, 1),
            Ok(LevelEdit::Inserted { rank: 0 })
        );
        assert_eq!(
            book.set(Side::Sell, 107, 1, 1),
            Ok(LevelEdit::Inserted { rank: 2 })
        );
        let asks: Vec<_> = book.asks.best_first().map(|l| l.price).collect();
        assert_eq!(asks, [103, 105, 107]);
        assert!(!book.crossed());
        book.set(Side::Buy, 103, 1, 1).unwrap();
        assert!(book.crossed());
    }

    #[test]
    fn an_insert_past_capacity_changes_nothing() {
        let mut book = BookImage::new(1);
        book.set(Side::Buy, 100, 1, 1).unwrap();
        assert_eq!(book.set(Side::Buy, 101, 1, 1), Err(LevelCapacityExceeded));
        assert_eq!(
            book.set(Side::Buy, 100, 3, 1),
            Ok(LevelEdit::Updated { rank: 0 })
        );
        assert_eq!(book.bids.len(), 1);
    }
}
