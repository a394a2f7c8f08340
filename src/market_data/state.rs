//! Reading the feed without changing it: snapshots of a book stream at its
//! sequence, the current BBO / ticker / status a new subscriber starts from,
//! the last sequence of each stream (heartbeats), and the book image itself
//! (tests, admin queries). Nothing here copies or allocates.

use super::channel::{depth_index, Channel};
use super::checksum::{book_checksum, checksum_of};
use super::feed::Feed;
use super::image::BookImage;
use super::snapshot::{Levels, Snapshot};
use crate::engine::SymbolId;

/// The current, non-book state of a symbol: what a subscriber of `bbo`,
/// `ticker` or `status` is sent first, and what heartbeats report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolState {
    pub symbol: SymbolId,
    pub epoch: super::FeedEpoch,
    /// The symbol's last sequence.
    pub seq: u64,
    pub ts_ns: u64,
    pub bbo: super::Bbo,
    pub ticker: super::Ticker,
    pub status: super::TradingStatus,
}

impl Feed {
    /// The snapshot a new subscriber of `(channel, depth)` on `symbol`
    /// starts from: the live book for `book`, the last tick's view for
    /// `book@100ms`. `None` for an unknown symbol, a channel without a book,
    /// or a depth outside [`BOOK_DEPTHS`](super::BOOK_DEPTHS).
    pub fn snapshot(&self, symbol: SymbolId, channel: Channel, depth: u16) -> Option<Snapshot<'_>> {
        let feed = self.symbol(symbol)?;
        let i = depth_index(depth)?;
        let base = Snapshot {
            symbol,
            epoch: self.epoch(),
            seq: feed.seq.last(),
            ts_ns: feed.ts_ns,
            channel,
            depth,
            checksum: book_checksum(&feed.image),
            status: feed.status,
            bids: Levels::worst_first(feed.image.bids.worst_first(), depth),
            asks: Levels::worst_first(feed.image.asks.worst_first(), depth),
        };
        match channel {
            Channel::Book => Some(base),
            Channel::BookConflated => {
                let stream = &feed.conflated[i];
                let bids = Levels::best_first(stream.view.side(crate::engine::Side::Buy));
                let asks = Levels::best_first(stream.view.side(crate::engine::Side::Sell));
                let pair = |l: &super::ImageLevel| (l.price, l.qty);
                Some(Snapshot {
                    seq: stream.valid_at,
                    ts_ns: stream.valid_ts_ns,
                    checksum: checksum_of(bids.iter().map(pair), asks.iter().map(pair)),
                    bids,
                    asks,
                    ..base
                })
            }
            _ => None,
        }
    }

    pub fn state(&self, symbol: SymbolId) -> Option<SymbolState> {
        let feed = self.symbol(symbol)?;
        Some(SymbolState {
            symbol,
            epoch: self.epoch(),
            seq: feed.seq.last(),
            ts_ns: feed.ts_ns,
            bbo: feed.bbo.last(),
            ticker: feed.ticker,
            status: feed.status,
        })
    }

    /// The sequence of the last message of stream `(channel, depth)` of
    /// `symbol` (0: none yet), for heartbeats. `depth` matters only for the
    /// book channels.
    pub fn stream_last(&self, symbol: SymbolId, channel: Channel, depth: u16) -> Option<u64> {
        let feed = self.symbol(symbol)?;
        Some(match channel {
            Channel::Book => feed.book[depth_index(depth)?].last(),
            Channel::BookConflated => feed.conflated[depth_index(depth)?].stream.last(),
            Channel::Bbo => feed.bbo_stream.last(),
            Channel::Trades => feed.trades.last(),
            Channel::Ticker => feed.ticker_stream.last(),
            Channel::Status => feed.status_stream.last(),
        })
    }

    /// The feed's book image of `symbol`.
    pub fn image(&self, symbol: SymbolId) -> Option<&BookImage> {
        Some(&self.symbol(symbol)?.image)
    }
}
