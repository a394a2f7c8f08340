//! A copy of the feed's state of some symbols (their owner shard's), as the
//! admin thread's `/api/v1/orderbook`, `/trades` and `/tickers` read it
//! (docs/OPERATIONS.md, "Market state"): the top of each book side, the
//! ticker, the status, the last trades, each symbol's feed sequence and
//! book checksum, so an answer can be compared with the WebSocket feed at
//! the same sequence.
//!
//! A picture is allocated once, at start, at its largest (every level up to
//! [`PICTURE_DEPTH_MAX`], every trade the feed keeps), and painted over in
//! place: painting never allocates (`tests/alloc/telemetry.rs`), so a shard
//! can do it.

use super::bbo::Bbo;
use super::checksum::book_checksum;
use super::epoch::FeedEpoch;
use super::feed::Feed;
use super::image::ImageLevel;
use super::recent_trades::{TradeRecord, RECENT_TRADES};
use super::status::TradingStatus;
use super::ticker::Ticker;
use crate::engine::SymbolId;

/// The most levels per side a picture holds (the engine's
/// `max_levels_per_side` if that is less): what `depth=` may ask for.
pub const PICTURE_DEPTH_MAX: usize = 1_000;

/// One symbol's state at its feed sequence `seq`.
#[derive(Clone, Debug)]
pub struct SymbolPicture {
    pub symbol: SymbolId,
    /// The symbol's last feed sequence: every field below is as of it.
    pub seq: u64,
    /// Journal time of the event numbered `seq` (0: none yet).
    pub ts_ns: u64,
    pub status: TradingStatus,
    /// The book checksum a `book` message at `seq` carries.
    pub checksum: u32,
    /// Levels on each side of the whole book (the copies may hold fewer).
    pub bid_levels: usize,
    pub ask_levels: usize,
    /// Best first, at most the picture's depth.
    pub bids: Vec<ImageLevel>,
    pub asks: Vec<ImageLevel>,
    pub bbo: Bbo,
    pub ticker: Ticker,
    /// Oldest first, at most [`RECENT_TRADES`].
    pub trades: Vec<TradeRecord>,
}

/// The state of one shard's symbols, painted at one moment of that shard.
#[derive(Clone, Debug)]
pub struct MarketPicture {
    pub epoch: FeedEpoch,
    /// Which request of the admin thread it answers (0: none yet).
    pub request: u64,
    pub symbols: Vec<SymbolPicture>,
}

impl MarketPicture {
    /// An empty picture of `symbols`, holding `depth` levels per side.
    pub fn new(symbols: &[SymbolId], depth: usize) -> MarketPicture {
        assert!(depth > 0 && depth <= PICTURE_DEPTH_MAX, "depth {depth}");
        MarketPicture {
            epoch: FeedEpoch(0),
            request: 0,
            symbols: symbols
                .iter()
                .map(|&symbol| SymbolPicture {
                    symbol,
                    seq: 0,
                    ts_ns: 0,
                    status: TradingStatus::Trading,
                    checksum: 0,
                    bid_levels: 0,
                    ask_levels: 0,
                    bids: Vec::with_capacity(depth),
                    asks: Vec::with_capacity(depth),
                    bbo: Bbo::default(),
                    ticker: Ticker::default(),
                    trades: Vec::with_capacity(RECENT_TRADES),
                })
                .collect(),
        }
    }

    /// The picture of `symbol`, if it holds one.
    pub fn symbol(&self, symbol: SymbolId) -> Option<&SymbolPicture> {
        self.symbols.iter().find(|s| s.symbol == symbol)
    }
}

impl Feed {
    /// Paints the current state of every symbol of `picture` over it, in
    /// place (no allocation: every copy stops at its capacity). A symbol
    /// this feed does not serve is left as it was.
    pub fn paint(&self, picture: &mut MarketPicture) {
        picture.epoch = self.epoch();
        for target in &mut picture.symbols {
            let Some(feed) = self.symbol(target.symbol) else {
                debug_assert!(false, "a picture of a symbol the feed serves");
                continue;
            };
            let (bids_room, asks_room) = (target.bids.capacity(), target.asks.capacity());
            target.seq = feed.seq.last();
            target.ts_ns = feed.ts_ns;
            target.status = feed.status;
            target.checksum = book_checksum(&feed.image);
            target.bid_levels = feed.image.bids.len();
            target.ask_levels = feed.image.asks.len();
            target.bids.clear();
            target
                .bids
                .extend(feed.image.bids.best_first().take(bids_room).copied());
            target.asks.clear();
            target
                .asks
                .extend(feed.image.asks.best_first().take(asks_room).copied());
            target.bbo = Bbo::of(&feed.image);
            target.ticker = feed.ticker;
            target.trades.clear();
            target.trades.extend(feed.recent.oldest_first().copied());
            debug_assert_eq!(
                (target.bids.capacity(), target.asks.capacity()),
                (bids_room, asks_room),
                "painting never grows a copy"
            );
            debug_assert!(target.trades.len() <= RECENT_TRADES);
        }
    }
}
