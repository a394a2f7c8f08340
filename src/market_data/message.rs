//! What the feed model hands out: one value per stream message, borrowed
//! for the duration of a [`FeedSink::publish`] call, carrying everything the
//! binary and JSON encoders (`protocol::market_data`) need and nothing they
//! must look up. The sink decides what to do with them (frame them once for
//! the shard's subscribers, drop them during replay, collect them in tests).

use super::bbo::Bbo;
use super::change::LevelChange;
use super::channel::Channel;
use super::status::{StatusEvent, TradingStatus};
use super::ticker::Ticker;
use crate::engine::{Price, Qty, Side, SymbolId};

/// Fields every stream message has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub symbol: SymbolId,
    /// The sequence of the event the message comes from.
    pub seq: u64,
    /// The sequence of the stream's previous message (0: none yet).
    pub prev: u64,
    /// Journal time of the command the event comes from (ns since the Unix
    /// epoch): part of the journal, so replay reproduces it.
    pub ts_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookUpdate<'a> {
    pub stamp: Stamp,
    /// `Book` or `BookConflated`.
    pub channel: Channel,
    /// The stream's depth (`FULL_DEPTH` = 0 for the whole book).
    pub depth: u16,
    /// [`book_checksum`](super::book_checksum) after the changes apply.
    pub checksum: u32,
    /// To apply together; never empty.
    pub changes: &'a [LevelChange],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradePrint {
    pub stamp: Stamp,
    /// The engine's `exec_id`: rises by one per trade of the engine.
    pub trade_id: u64,
    pub price: Price,
    pub qty: Qty,
    pub aggressor_side: Side,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BboUpdate {
    pub stamp: Stamp,
    pub bbo: Bbo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickerUpdate {
    pub stamp: Stamp,
    pub ticker: Ticker,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    pub stamp: Stamp,
    pub status: TradingStatus,
    pub event: StatusEvent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedMessage<'a> {
    Book(BookUpdate<'a>),
    Trade(TradePrint),
    Bbo(BboUpdate),
    Ticker(TickerUpdate),
    Status(StatusUpdate),
}

impl FeedMessage<'_> {
    pub fn stamp(&self) -> &Stamp {
        match self {
            FeedMessage::Book(m) => &m.stamp,
            FeedMessage::Trade(m) => &m.stamp,
            FeedMessage::Bbo(m) => &m.stamp,
            FeedMessage::Ticker(m) => &m.stamp,
            FeedMessage::Status(m) => &m.stamp,
        }
    }

    /// The stream the message belongs to: (channel, depth).
    pub fn stream(&self) -> (Channel, u16) {
        match self {
            FeedMessage::Book(m) => (m.channel, m.depth),
            FeedMessage::Trade(_) => (Channel::Trades, 0),
            FeedMessage::Bbo(_) => (Channel::Bbo, 0),
            FeedMessage::Ticker(_) => (Channel::Ticker, 0),
            FeedMessage::Status(_) => (Channel::Status, 0),
        }
    }
}

/// Receives the feed's messages in the order they happen.
pub trait FeedSink {
    fn publish(&mut self, message: &FeedMessage<'_>);

    /// Whether messages of (symbol, channel) go anywhere. When not, the
    /// feed may leave them unbuilt, and skip what only they need (the book
    /// checksum, a CRC over the top levels of both sides: most of what a
    /// level change cost a shard's replica with no book subscriber), but
    /// never the state: sequences,
    /// `prev` links and depth views advance exactly as if it were sent, so
    /// a client that subscribes later, here or on another shard, sees the
    /// same bytes.
    fn wants(&self, _symbol: SymbolId, _channel: Channel) -> bool {
        true
    }
}

/// Drops everything (replay, or no subscriber).
pub struct NullSink;

impl FeedSink for NullSink {
    fn publish(&mut self, _message: &FeedMessage<'_>) {}

    fn wants(&self, _symbol: SymbolId, _channel: Channel) -> bool {
        false
    }
}
