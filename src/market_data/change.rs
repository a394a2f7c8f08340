//! One level change as the feed sends it (absolute quantity; 0 deletes the
//! level), and the fixed-capacity buffer a feed collects them in. The
//! buffer is sized at construction for the worst case its producer can
//! reach and never grows, so collecting changes never allocates.

use super::image::ImageLevel;
use crate::engine::{Price, Qty, Side};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    pub side: Side,
    pub price: Price,
    /// The level's new total; 0: the level is gone.
    pub qty: Qty,
    pub order_count: u32,
}

impl LevelChange {
    pub fn set(side: Side, level: &ImageLevel) -> LevelChange {
        LevelChange {
            side,
            price: level.price,
            qty: level.qty,
            order_count: level.order_count,
        }
    }

    pub fn delete(side: Side, price: Price) -> LevelChange {
        LevelChange {
            side,
            price,
            qty: 0,
            order_count: 0,
        }
    }
}

pub struct ChangeBuf {
    changes: Vec<LevelChange>,
}

/// A copy with the same capacity: the capacity is the bound `push` holds.
impl Clone for ChangeBuf {
    fn clone(&self) -> ChangeBuf {
        let mut changes = Vec::with_capacity(self.changes.capacity());
        changes.extend_from_slice(&self.changes);
        ChangeBuf { changes }
    }
}

impl ChangeBuf {
    pub fn with_capacity(capacity: usize) -> ChangeBuf {
        ChangeBuf {
            changes: Vec::with_capacity(capacity),
        }
    }

    #[inline]
    pub fn push(&mut self, change: LevelChange) {
        // The producer sized the buffer for its worst case; growing here
        // would allocate on the shard.
        assert!(
            self.changes.len() < self.changes.capacity(),
            "change buffer sized below its producer's worst case"
        );
        self.changes.push(change);
    }

    pub fn clear(&mut self) {
        self.changes.clear();
    }

    pub fn as_slice(&self) -> &[LevelChange] {
        &self.changes
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }
}
