//! Everything the feed keeps for one symbol, and how each public engine
//! event becomes that symbol's stream messages. One event takes one
//! sequence number; every message derived from it carries that number.
//!
//! Per event, in this order (the order is part of the contract the replay
//! test holds):
//! - `BookLevel`: the `book` streams from the whole book down to the
//!   smallest depth (only the depths the level is visible at), then `bbo`
//!   if the best bid or offer moved;
//! - `Trade`: `trades`, then `ticker`;
//! - `HaltSet`: `status`;
//! - end of day: `status`, then `ticker` (reset to a new session).

use super::bbo::BboTracker;
use super::change::{ChangeBuf, LevelChange};
use super::channel::{Channel, BOOK_DEPTHS, FULL_DEPTH};
use super::checksum::book_checksum;
use super::conflate::ConflatedStream;
use super::image::{BookImage, ImageLevel, LevelCapacityExceeded, LevelEdit};
use super::message::*;
use super::recent_trades::{RecentTrades, TradeRecord};
use super::sequence::{StreamSeq, SymbolSeq};
use super::status::{StatusEvent, TradingStatus};
use super::ticker::Ticker;
use super::view::DepthView;
use crate::engine::{Price, Qty, Side, SymbolId};

const STREAMS: usize = BOOK_DEPTHS.len();

#[derive(Clone)]
pub struct SymbolFeed {
    pub(super) symbol: SymbolId,
    pub(super) seq: SymbolSeq,
    /// Journal time of the last event.
    pub(super) ts_ns: u64,
    pub(super) image: BookImage,
    /// Real-time depth views, one per limited depth of [`BOOK_DEPTHS`]
    /// (`None` for the whole book, whose messages are the events themselves).
    pub(super) views: [Option<DepthView>; STREAMS],
    /// Whether `views` hold the image's top levels. An event nobody on the
    /// shard takes the book for leaves them behind (only the streams'
    /// `prev` links advance, from the level's rank); the first event that
    /// is wanted again copies them from the image before applying itself.
    pub(super) views_current: bool,
    pub(super) book: [StreamSeq; STREAMS],
    pub(super) conflated: [ConflatedStream; STREAMS],
    pub(super) trades: StreamSeq,
    pub(super) bbo_stream: StreamSeq,
    pub(super) ticker_stream: StreamSeq,
    pub(super) status_stream: StreamSeq,
    pub(super) bbo: BboTracker,
    pub(super) ticker: Ticker,
    pub(super) status: TradingStatus,
    /// The last trades, for the admin thread's queries (not a stream).
    pub(super) recent: RecentTrades,
}

impl SymbolFeed {
    pub fn new(symbol: SymbolId, levels_per_side: u32) -> SymbolFeed {
        let whole = levels_per_side as usize;
        let sized = |depth: u16| {
            if depth == FULL_DEPTH {
                whole
            } else {
                depth as usize
            }
        };
        SymbolFeed {
            symbol,
            seq: SymbolSeq::default(),
            ts_ns: 0,
            image: BookImage::new(levels_per_side),
            views: BOOK_DEPTHS.map(|d| (d != FULL_DEPTH).then(|| DepthView::new(d as usize))),
            views_current: true,
            book: [StreamSeq::default(); STREAMS],
            conflated: BOOK_DEPTHS.map(|d| ConflatedStream::new(sized(d))),
            trades: StreamSeq::default(),
            bbo_stream: StreamSeq::default(),
            ticker_stream: StreamSeq::default(),
            status_stream: StreamSeq::default(),
            bbo: BboTracker::default(),
            ticker: Ticker::default(),
            status: TradingStatus::Trading,
            recent: RecentTrades::default(),
        }
    }

    /// Becomes a copy of `other` (the same symbol on another shard's
    /// replica) without allocating: every buffer was sized from the same
    /// config at start. How a replica that fell behind its owner takes the
    /// owner's state (`shard/md/resync.rs`).
    pub fn copy_from(&mut self, other: &SymbolFeed) {
        self.symbol = other.symbol;
        self.seq = other.seq;
        self.ts_ns = other.ts_ns;
        self.image.copy_from(&other.image);
        for (mine, theirs) in self.views.iter_mut().zip(&other.views) {
            match (mine, theirs) {
                (Some(mine), Some(theirs)) => mine.copy_from(theirs),
                (None, None) => {}
                _ => unreachable!("the same depths on every replica"),
            }
        }
        self.views_current = other.views_current;
        self.book = other.book;
        for (mine, theirs) in self.conflated.iter_mut().zip(&other.conflated) {
            mine.copy_from(theirs);
        }
        self.trades = other.trades;
        self.bbo_stream = other.bbo_stream;
        self.ticker_stream = other.ticker_stream;
        self.status_stream = other.status_stream;
        self.bbo = other.bbo.clone();
        self.ticker = other.ticker;
        self.status = other.status;
        debug_assert_eq!(self.seq, other.seq);
    }

    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }

    /// The most changes one message of this symbol can carry (a conflated
    /// tick of the whole book that replaces every level).
    pub fn max_changes(&self) -> usize {
        self.conflated
            .iter()
            .map(|c| c.view.max_changes())
            .max()
            .unwrap_or(0)
    }

    fn stamp(&self, prev: u64) -> Stamp {
        Stamp {
            symbol: self.symbol,
            seq: self.seq.last(),
            prev,
            ts_ns: self.ts_ns,
        }
    }

    /// A `BookLevel` event. On a capacity error nothing changes.
    pub fn on_level<S: FeedSink>(
        &mut self,
        level: LevelChange,
        ts_ns: u64,
        scratch: &mut ChangeBuf,
        sink: &mut S,
    ) -> Result<(), LevelCapacityExceeded> {
        // Nobody to send the book messages to: the streams' sequences and
        // `prev` links still advance exactly as below, but the messages,
        // their checksum and the depth views are left unmade
        // (`FeedSink::wants`); a later subscriber's snapshot is cut from the
        // image, so it sees the same bytes.
        let wanted = sink.wants(self.symbol, Channel::Book);
        if wanted && !self.views_current {
            self.catch_up_views();
        }
        let edit = self
            .image
            .set(level.side, level.price, level.qty, level.order_count)?;
        let Some(rank) = edit.rank() else {
            // Deleting a level the book does not hold changes nothing and
            // takes no sequence number (an engine never emits it).
            return Ok(());
        };
        self.seq.advance();
        self.ts_ns = ts_ns;
        if wanted {
            self.publish_level(level, edit, scratch, sink);
        } else {
            self.views_current = false;
            self.advance_book_streams(rank);
        }
        // Only a change at the best level (rank 0) can move the BBO.
        debug_assert!(rank == 0 || self.bbo.last() == super::bbo::Bbo::of(&self.image));
        if let Some(bbo) = (rank == 0).then(|| self.bbo.update(&self.image)).flatten() {
            let stamp = {
                let prev = self.bbo_stream.send(self.seq.last());
                self.stamp(prev)
            };
            sink.publish(&FeedMessage::Bbo(BboUpdate { stamp, bbo }));
        }
        Ok(())
    }

    /// The depth views become the image's top levels again (no messages:
    /// every change since they fell behind was accounted for by
    /// [`advance_book_streams`](Self::advance_book_streams)).
    fn catch_up_views(&mut self) {
        for view in self.views.iter_mut().flatten() {
            view.copy_top(&self.image);
        }
        debug_assert!(!self.views_current, "only views left behind catch up");
        self.views_current = true;
    }

    /// What [`publish_level`](Self::publish_level) does to the book streams
    /// without making a message: the whole book's stream takes every
    /// event, a depth's stream those at a rank within it (exactly when
    /// [`DepthView::follow`] has a change to send).
    fn advance_book_streams(&mut self, rank: usize) {
        debug_assert!(!self.views_current, "the views are behind");
        let seq = self.seq.last();
        for (i, depth) in BOOK_DEPTHS.into_iter().enumerate() {
            if depth == FULL_DEPTH || rank < depth as usize {
                self.book[i].send(seq);
            }
        }
    }

    /// The book streams' messages of one level event, from the whole book
    /// down to the smallest depth, each depth's from its view.
    fn publish_level<S: FeedSink>(
        &mut self,
        level: LevelChange,
        edit: LevelEdit,
        scratch: &mut ChangeBuf,
        sink: &mut S,
    ) {
        debug_assert!(self.views_current, "the views follow the image");
        let (ts_ns, seq) = (self.ts_ns, self.seq.last());
        let checksum = book_checksum(&self.image);
        for (i, depth) in BOOK_DEPTHS.into_iter().enumerate().rev() {
            let changes = if let Some(view) = &mut self.views[i] {
                scratch.clear();
                let image_level = ImageLevel {
                    price: level.price,
                    qty: level.qty,
                    order_count: level.order_count,
                };
                view.follow(self.image.side(level.side), edit, &image_level, scratch);
                if scratch.is_empty() {
                    continue;
                }
                scratch.as_slice()
            } else {
                std::slice::from_ref(&level)
            };
            let stamp = Stamp {
                symbol: self.symbol,
                seq,
                prev: self.book[i].send(seq),
                ts_ns,
            };
            sink.publish(&FeedMessage::Book(BookUpdate {
                stamp,
                channel: Channel::Book,
                depth,
                checksum,
                changes,
            }));
        }
    }

    /// A public `Trade` event.
    pub fn on_trade<S: FeedSink>(
        &mut self,
        trade_id: u64,
        price: Price,
        qty: Qty,
        aggressor_side: Side,
        ts_ns: u64,
        sink: &mut S,
    ) {
        let seq = self.seq.advance();
        self.ts_ns = ts_ns;
        self.ticker.on_trade(price, qty);
        self.recent.push(TradeRecord {
            seq,
            ts_ns,
            trade_id,
            price,
            qty,
            aggressor_side,
        });
        sink.publish(&FeedMessage::Trade(TradePrint {
            stamp: {
                let prev = self.trades.send(seq);
                self.stamp(prev)
            },
            trade_id,
            price,
            qty,
            aggressor_side,
        }));
        self.publish_ticker(sink);
    }

    fn publish_ticker<S: FeedSink>(&mut self, sink: &mut S) {
        let stamp = {
            let prev = self.ticker_stream.send(self.seq.last());
            self.stamp(prev)
        };
        sink.publish(&FeedMessage::Ticker(TickerUpdate {
            stamp,
            ticker: self.ticker,
        }));
    }

    /// A status change: `HaltSet` (halt or resume) or end of day.
    pub fn on_status<S: FeedSink>(&mut self, event: StatusEvent, ts_ns: u64, sink: &mut S) {
        let seq = self.seq.advance();
        self.ts_ns = ts_ns;
        match event {
            StatusEvent::Halt => self.status = TradingStatus::Halted,
            StatusEvent::Resume => self.status = TradingStatus::Trading,
            StatusEvent::EndOfDay => {}
        }
        sink.publish(&FeedMessage::Status(StatusUpdate {
            stamp: {
                let prev = self.status_stream.send(seq);
                self.stamp(prev)
            },
            status: self.status,
            event,
        }));
        if event == StatusEvent::EndOfDay {
            self.ticker.reset();
            self.publish_ticker(sink);
        }
    }

    /// A conflation tick: one message per conflated depth whose view changed.
    pub fn on_tick<S: FeedSink>(&mut self, scratch: &mut ChangeBuf, sink: &mut S) {
        let wanted = sink.wants(self.symbol, Channel::BookConflated);
        let checksum = if wanted {
            book_checksum(&self.image)
        } else {
            0
        };
        let (seq, ts_ns) = (self.seq.last(), self.ts_ns);
        for (i, depth) in BOOK_DEPTHS.into_iter().enumerate() {
            let Some(prev) = self.conflated[i].tick(&self.image, seq, ts_ns, scratch) else {
                continue;
            };
            if !wanted {
                continue;
            }
            sink.publish(&FeedMessage::Book(BookUpdate {
                stamp: Stamp {
                    symbol: self.symbol,
                    seq,
                    prev,
                    ts_ns,
                },
                channel: Channel::BookConflated,
                depth,
                checksum,
                changes: scratch.as_slice(),
            }));
        }
    }
}
