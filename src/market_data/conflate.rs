//! The conflation stage of the `book@100ms` channel: at every tick of a
//! fixed cadence, one message per (symbol, depth) with every level whose
//! value changed since the previous tick, each at its latest value (the
//! Binance rule: the latest update for a price covers the earlier ones).
//! Nothing is thinned silently: the message carries the symbol's sequence
//! at the tick, and its changes bring a client from the previous tick's book
//! to the current one exactly.
//!
//! A conflated subscriber's snapshot is the stream's *published* view (the
//! book at the last tick), not the live book: the next tick's diff is
//! relative to that view, and a live-book snapshot could miss a level that
//! changed and changed back since the tick.
//!
//! The tick times come from the shard's clock, so this stream, unlike the
//! others, is not a pure function of the journal; its sequence numbers
//! still are the journal's.

use super::change::ChangeBuf;
use super::image::BookImage;
use super::sequence::StreamSeq;
use super::view::DepthView;

/// A fixed cadence: due once per interval, catching up without bursts when
/// a tick was late (the next one is an interval after the late one).
#[derive(Clone)]
pub struct Cadence {
    interval_ns: u64,
    next_due_ns: u64,
}

impl Cadence {
    pub fn new(interval_ns: u64) -> Cadence {
        assert!(interval_ns > 0);
        Cadence {
            interval_ns,
            next_due_ns: 0,
        }
    }

    /// Whether a tick is due at `now_ns` (and if so, takes it).
    pub fn due(&mut self, now_ns: u64) -> bool {
        if now_ns < self.next_due_ns {
            return false;
        }
        let next = self.next_due_ns.saturating_add(self.interval_ns);
        self.next_due_ns = if next > now_ns {
            next
        } else {
            now_ns.saturating_add(self.interval_ns)
        };
        true
    }
}

/// One conflated stream of one symbol.
#[derive(Clone)]
pub struct ConflatedStream {
    pub view: DepthView,
    pub stream: StreamSeq,
    /// Sequence and journal time the view is the book at.
    pub valid_at: u64,
    pub valid_ts_ns: u64,
}

impl ConflatedStream {
    /// Becomes a copy of `other` without allocating.
    pub fn copy_from(&mut self, other: &ConflatedStream) {
        self.view.copy_from(&other.view);
        self.stream = other.stream;
        self.valid_at = other.valid_at;
        self.valid_ts_ns = other.valid_ts_ns;
        debug_assert_eq!(self.view.max_changes(), other.view.max_changes());
    }

    pub fn new(depth: usize) -> ConflatedStream {
        ConflatedStream {
            view: DepthView::new(depth),
            stream: StreamSeq::default(),
            valid_at: 0,
            valid_ts_ns: 0,
        }
    }

    /// Brings the view to `image` (the book at `seq`); the changes go to
    /// `out`. Returns the message's `prev` when there is a message to send.
    pub fn tick(
        &mut self,
        image: &BookImage,
        seq: u64,
        ts_ns: u64,
        out: &mut ChangeBuf,
    ) -> Option<u64> {
        out.clear();
        self.view.sync(image, out);
        if out.is_empty() {
            return None;
        }
        self.valid_at = seq;
        self.valid_ts_ns = ts_ns;
        Some(self.stream.send(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Side;

    #[test]
    fn cadence_ticks_once_per_interval_and_skips_missed_ticks() {
        let mut cadence = Cadence::new(100);
        assert!(cadence.due(0));
        assert!(!cadence.due(99));
        assert!(cadence.due(100));
        assert!(!cadence.due(150));
        // Late by three intervals: one tick now, the next an interval later.
        assert!(cadence.due(530));
        assert!(!cadence.due(600));
        assert!(cadence.due(630));
    }

    #[test]
    fn the_latest_value_per_level_wins_and_reverted_changes_vanish() {
        let mut image = BookImage::new(8);
        let mut stream = ConflatedStream::new(8);
        let mut out = ChangeBuf::with_capacity(stream.view.max_changes());
        image.set(Side::Buy, 100, 5, 1).unwrap();
        assert_eq!(stream.tick(&image, 1, 10, &mut out), Some(0));
        image.set(Side::Buy, 100, 7, 2).unwrap();
        image.set(Side::Buy, 100, 6, 2).unwrap();
        image.set(Side::Sell, 104, 1, 1).unwrap();
        image.set(Side::Sell, 104, 0, 0).unwrap();
        assert_eq!(stream.tick(&image, 5, 20, &mut out), Some(1));
        let got: Vec<_> = out
            .as_slice()
            .iter()
            .map(|c| (c.side, c.price, c.qty))
            .collect();
        assert_eq!(got, [(Side::Buy, 100, 6)]);
        assert_eq!((stream.valid_at, stream.valid_ts_ns), (5, 20));
        assert_eq!(stream.tick(&image, 6, 30, &mut out), None);
        assert_eq!(stream.valid_at, 5);
    }
}
