//! The public market-data feed, I/O-free: what the shard calls to turn the
//! engine's public events into sequenced, checksummed, per-stream messages
//! and snapshots. Encoding them (binary and JSON) is
//! `protocol::market_data`; carrying them over WebSocket is `websocket`;
//! `docs/MARKET_DATA.md` is the specification clients are written from.
//!
//! One concept per module:
//! - [`sequence`]: the per-symbol 64-bit sequence and the per-stream `prev` chain;
//! - [`epoch`]: the feed epoch (a new one per start, recorded in the journal);
//! - [`channel`]: channels, the depth set, the conflation cadence;
//! - [`image`]: the book image built from `BookLevel` events;
//! - [`checksum`]: CRC-32 over the top 10 levels per side, on integers;
//! - [`change`], [`view`]: level changes and the top-N views of depth streams;
//! - [`bbo`], [`ticker`], [`status`]: the other channels' state;
//! - [`conflate`]: the `book@100ms` stage;
//! - [`message`]: what the feed hands its sink;
//! - [`symbol_feed`], [`feed`]: one symbol's state and the events to messages;
//! - [`snapshot`], [`state`]: snapshots and reads of the current state;
//! - [`recent_trades`], [`picture`]: the last trades of a symbol, and the
//!   copy of some symbols' state a shard hands the admin thread.

pub mod bbo;
pub mod change;
pub mod channel;
pub mod checksum;
pub mod conflate;
pub mod epoch;
pub mod feed;
pub mod image;
pub mod message;
pub mod picture;
pub mod recent_trades;
pub mod sequence;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod symbol_feed;
pub mod ticker;
pub mod view;

pub use bbo::Bbo;
pub use change::LevelChange;
pub use channel::*;
pub use checksum::{book_checksum, checksum_of, CHECKSUM_LEVELS};
pub use epoch::FeedEpoch;
pub use feed::{Feed, FeedError};
pub use image::{BookImage, ImageLevel};
pub use message::*;
pub use picture::{MarketPicture, SymbolPicture};
pub use recent_trades::{TradeRecord, RECENT_TRADES};
pub use snapshot::{Levels, Snapshot};
pub use state::SymbolState;
pub use status::{StatusEvent, TradingStatus};
pub use ticker::Ticker;
