//! How a shard hands the admin thread a picture of its symbols' market
//! state (`market_data::picture`) without a lock and without waiting: the
//! admin thread raises a request number in a cell only it writes; the
//! shard, on its tick, sees the number move, paints a clean picture it
//! takes from one rtrb ring and pushes it on another; the admin thread keeps
//! the newest and sends the one it replaces back. The same hand-over as the
//! latency histograms (`link.rs`), on request rather than on an interval.
//! Every picture is made here, at start-up; both rings hold all of them, so
//! a push never finds a ring full. With none clean (the admin thread is
//! behind), the shard paints nothing and looks again on its next tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use rtrb::{Consumer, Producer, RingBuffer};

use crate::config::Config;
use crate::engine::SymbolId;
use crate::market_data::picture::PICTURE_DEPTH_MAX;
use crate::market_data::MarketPicture;

/// Pictures per shard: one the admin thread holds as the newest, one
/// being painted or in flight, one spare.
pub const PICTURES_PER_SHARD: usize = 3;

/// The shard's ends.
pub struct MarketShardLink {
    pub shard: u16,
    /// The admin thread's latest request number.
    request: Arc<CachePadded<AtomicU64>>,
    /// The last request answered.
    answered: u64,
    pub full: Producer<MarketPicture>,
    pub clean: Consumer<MarketPicture>,
}

/// The admin thread's ends.
pub struct MarketAdminLink {
    pub shard: u16,
    request: Arc<CachePadded<AtomicU64>>,
    pub full: Consumer<MarketPicture>,
    pub clean: Producer<MarketPicture>,
}

impl MarketShardLink {
    /// The request to answer, if one came since the last answer.
    #[inline]
    pub fn pending(&self) -> Option<u64> {
        let request = self.request.load(Ordering::Acquire);
        (request != self.answered).then_some(request)
    }

    /// Paints a clean picture with `paint` and hands it over as the answer
    /// to `request`; false (nothing sent, the request stays pending) if no
    /// clean picture is back.
    pub fn answer(&mut self, request: u64, paint: impl FnOnce(&mut MarketPicture)) -> bool {
        debug_assert!(request > 0, "request 0 is never pending");
        let Ok(mut picture) = self.clean.pop() else {
            return false;
        };
        paint(&mut picture);
        picture.request = request;
        if self.full.push(picture).is_err() {
            unreachable!("the full ring holds every picture");
        }
        self.answered = request;
        true
    }
}

impl MarketAdminLink {
    /// Asks the shard for a picture answering `request` (a number above
    /// every earlier one).
    pub fn ask(&self, request: u64) {
        debug_assert!(request > self.request.load(Ordering::Relaxed));
        self.request.store(request, Ordering::Release);
    }
}

/// The links of shard `shard`: pictures of the symbols it owns, as deep
/// as `/api/v1/orderbook` may ask.
pub fn market_link_for(config: &Config, shard: u16) -> (MarketShardLink, MarketAdminLink) {
    let owned: Vec<SymbolId> = config
        .symbols
        .iter()
        .filter(|s| config.owner_shard(s) == shard as usize)
        .map(|s| s.id)
        .collect();
    market_link(shard, &owned, picture_depth(config))
}

/// Levels per side a picture holds: what `depth=` may ask for.
pub fn picture_depth(config: &Config) -> usize {
    PICTURE_DEPTH_MAX.min(config.engine.max_levels_per_side as usize)
}

/// Makes a shard's pictures of `symbols` (`depth` levels per side) and the
/// two rings.
pub fn market_link(
    shard: u16,
    symbols: &[SymbolId],
    depth: usize,
) -> (MarketShardLink, MarketAdminLink) {
    let (full_tx, full_rx) = RingBuffer::new(PICTURES_PER_SHARD);
    let (mut clean_tx, clean_rx) = RingBuffer::new(PICTURES_PER_SHARD);
    for _ in 0..PICTURES_PER_SHARD {
        clean_tx
            .push(MarketPicture::new(symbols, depth))
            .unwrap_or_else(|_| unreachable!("the ring holds every picture"));
    }
    let request = Arc::new(CachePadded::new(AtomicU64::new(0)));
    (
        MarketShardLink {
            shard,
            request: Arc::clone(&request),
            answered: 0,
            full: full_tx,
            clean: clean_rx,
        },
        MarketAdminLink {
            shard,
            request,
            full: full_rx,
            clean: clean_tx,
        },
    )
}
