//! The admin thread's side of the market-state pictures
//! (telemetry/market_link.rs): it asks the owner shards for a fresh picture,
//! waits for their answers (the admin thread waits, a shard never does),
//! keeps the newest per shard and sends the one it replaces back, clean.
//! `/api/v1/*` answer from what it keeps (`market_api.rs`).

use std::time::{Duration, Instant};

use crate::engine::SymbolId;
use crate::market_data::{MarketPicture, SymbolPicture};
use crate::telemetry::MarketAdminLink;

/// How long a query waits for the shards: they answer on their next tick
/// (every 5 ms), so only a stopped or stalled shard takes this long.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

pub struct MarketStore {
    /// Indexed by shard.
    links: Vec<MarketAdminLink>,
    newest: Vec<Option<MarketPicture>>,
    /// The last request number asked (every shard is asked with the same
    /// sequence of numbers, so a picture answers a request if its number is
    /// at least that request's).
    request: u64,
}

impl MarketStore {
    pub fn new(links: Vec<MarketAdminLink>) -> MarketStore {
        assert!(
            links.iter().enumerate().all(|(i, l)| l.shard as usize == i),
            "one link per shard, in shard order"
        );
        MarketStore {
            newest: links.iter().map(|_| None).collect(),
            links,
            request: 0,
        }
    }

    /// Takes every picture handed over: keeps the newest of each shard and
    /// sends the one it replaces back for the shard to paint again.
    pub fn drain(&mut self) {
        for (link, newest) in self.links.iter_mut().zip(&mut self.newest) {
            while let Ok(picture) = link.full.pop() {
                debug_assert!(newest.as_ref().is_none_or(|n| n.request < picture.request));
                if let Some(old) = newest.replace(picture) {
                    // The ring holds every picture of the shard.
                    let _ = link.clean.push(old);
                }
            }
        }
    }

    /// Asks every shard of `shards` for a picture painted from now on, and
    /// waits (at most [`ANSWER_TIMEOUT`]) until each has answered. `Err`
    /// names a shard that did not.
    pub fn refresh(&mut self, shards: &[u16]) -> Result<(), u16> {
        self.request += 1;
        let request = self.request;
        for &shard in shards {
            self.links[shard as usize].ask(request);
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            self.drain();
            let missing = shards.iter().copied().find(|&shard| {
                self.newest[shard as usize]
                    .as_ref()
                    .is_none_or(|p| p.request < request)
            });
            let Some(missing) = missing else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(missing);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The newest picture of `symbol` from its owner shard `owner`.
    pub fn symbol(&self, owner: u16, symbol: SymbolId) -> Option<(&MarketPicture, &SymbolPicture)> {
        let picture = self.newest.get(owner as usize)?.as_ref()?;
        Some((picture, picture.symbol(symbol)?))
    }
}
