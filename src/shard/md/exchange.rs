//! Start-up only: how every shard's market-data replica learns the state
//! of the symbols other shards own. Each shard replays its own journal
//! (its symbols' events), publishes a copy of its feed here, waits until
//! every shard has, and takes each foreign symbol's state from its owner's
//! copy. From then on the owner's public events arrive over the mesh, in
//! order, after that state. Runs before a shard reports ready; nothing on
//! the order path touches it.
//!
//! The feed epoch is decided here too: one per gateway start, the start's
//! wall clock raised above the last epoch any shard's journal recorded.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::market_data::{Feed, FeedEpoch};

/// One slot per shard, each written once.
pub struct FeedExchange {
    slots: Vec<OnceLock<Published>>,
    /// Wall clock of the start (ns since the Unix epoch).
    start_wall_ns: u64,
}

struct Published {
    feed: Feed,
    /// The last `feed_epoch` its journal recorded.
    last_epoch: Option<FeedEpoch>,
}

/// Why a shard could not complete the exchange.
#[derive(Debug)]
pub enum ExchangeError {
    /// The gateway began to stop (another shard failed its start).
    ShuttingDown,
}

impl FeedExchange {
    pub fn new(shards: usize, start_wall_ns: u64) -> FeedExchange {
        assert!(shards > 0, "at least one shard");
        FeedExchange {
            slots: (0..shards).map(|_| OnceLock::new()).collect(),
            start_wall_ns,
        }
    }

    /// Publishes shard `shard`'s own symbols (`owner_of`) after its
    /// replay, with the last feed epoch its journal recorded. The copy
    /// stays until the gateway stops: one copy of each symbol's feed
    /// state as of the start.
    pub fn publish(
        &self,
        shard: usize,
        feed: &Feed,
        last_epoch: Option<FeedEpoch>,
        owner_of: impl Fn(u32) -> Option<usize>,
    ) {
        let published = Published {
            feed: feed.subset(|symbol| owner_of(symbol) == Some(shard)),
            last_epoch,
        };
        assert!(
            self.slots[shard].set(published).is_ok(),
            "a shard publishes once"
        );
    }

    /// Whether shard `shard` has published (a core driven by hand without
    /// `start` never does: its replica starts empty, as every other's).
    pub fn published(&self, shard: usize) -> bool {
        debug_assert!(shard < self.slots.len());
        self.slots[shard].get().is_some()
    }

    /// Once every shard has published: brings `feed` to the gateway's
    /// state (each symbol from its owner's copy, `owner_of`) and returns
    /// the gateway's epoch, set on `feed`. `None` (nothing changed) while a
    /// shard has not published yet.
    pub fn try_collect(
        &self,
        shard: usize,
        feed: &mut Feed,
        owner_of: impl Fn(u32) -> Option<usize>,
    ) -> Option<FeedEpoch> {
        debug_assert!(
            self.slots[shard].get().is_some(),
            "this shard published first"
        );
        let all: Vec<&Published> = self
            .slots
            .iter()
            .map(OnceLock::get)
            .collect::<Option<_>>()?;
        let ids: Vec<u32> = feed.symbol_ids().collect();
        for symbol in ids {
            let owner = owner_of(symbol).expect("every symbol has an owner");
            if owner != shard {
                feed.adopt(&all[owner].feed, symbol)
                    .expect("every shard's feed has every symbol");
            }
        }
        let last = all.iter().filter_map(|p| p.last_epoch).max();
        let epoch = FeedEpoch::derive(last, self.start_wall_ns);
        feed.set_epoch(epoch);
        Some(epoch)
    }

    /// [`try_collect`](Self::try_collect), waiting for the other shards
    /// (they are replaying their journals); `Err` if the gateway begins to
    /// stop meanwhile (another shard failed its start).
    pub fn collect(
        &self,
        shard: usize,
        feed: &mut Feed,
        owner_of: impl Fn(u32) -> Option<usize>,
        shutting_down: impl Fn() -> bool,
    ) -> Result<FeedEpoch, ExchangeError> {
        let waited = Instant::now();
        loop {
            if let Some(epoch) = self.try_collect(shard, feed, &owner_of) {
                return Ok(epoch);
            }
            if shutting_down() {
                return Err(ExchangeError::ShuttingDown);
            }
            std::thread::sleep(Duration::from_millis(1));
            debug_assert!(waited.elapsed() < Duration::from_secs(24 * 3600));
        }
    }
}
