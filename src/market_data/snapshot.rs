//! A book snapshot at a sequence: the levels a new subscriber of a book
//! stream starts from, borrowed from the feed (no copy). The first message
//! of the stream after it has `prev <= seq < its own seq`.

use super::channel::Channel;
use super::epoch::FeedEpoch;
use super::image::ImageLevel;
use super::status::TradingStatus;
use crate::engine::SymbolId;

/// One side's levels, best first, whichever order they are stored in.
#[derive(Clone, Copy, Debug)]
pub struct Levels<'a> {
    slice: &'a [ImageLevel],
    /// Stored worst first (the image) rather than best first (a view).
    worst_first: bool,
}

impl<'a> Levels<'a> {
    /// The best `depth` levels (all when `depth` is 0) of a worst-first slice.
    pub fn worst_first(levels: &'a [ImageLevel], depth: u16) -> Levels<'a> {
        let keep = if depth == 0 {
            levels.len()
        } else {
            levels.len().min(depth as usize)
        };
        Levels {
            slice: &levels[levels.len() - keep..],
            worst_first: true,
        }
    }

    pub fn best_first(levels: &'a [ImageLevel]) -> Levels<'a> {
        Levels {
            slice: levels,
            worst_first: false,
        }
    }

    pub fn len(&self) -> usize {
        self.slice.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slice.is_empty()
    }

    /// The `i`-th best level.
    pub fn get(&self, i: usize) -> Option<&'a ImageLevel> {
        if i >= self.slice.len() {
            return None;
        }
        Some(if self.worst_first {
            &self.slice[self.slice.len() - 1 - i]
        } else {
            &self.slice[i]
        })
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a ImageLevel> + Clone + 'a {
        let levels = *self;
        (0..levels.len()).map(move |i| levels.get(i).expect("index below len"))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    pub symbol: SymbolId,
    pub epoch: FeedEpoch,
    /// The book is the one after the event with this sequence.
    pub seq: u64,
    pub ts_ns: u64,
    pub channel: Channel,
    pub depth: u16,
    pub checksum: u32,
    pub status: TradingStatus,
    pub bids: Levels<'a>,
    pub asks: Levels<'a>,
}
