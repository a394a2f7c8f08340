//! Market data, as the shard core sees it: the entry points the runtime's
//! WebSocket tasks call (handshake slots, bytes in, the writer's queue),
//! the ticker's conflation and heartbeats, the public events that arrive
//! over the mesh, the journal replay that rebuilds the feed at start, and
//! the pictures of its symbols the admin thread asks for. The work itself
//! is `shard/md/`.

use super::{Now, ShardCore};
use crate::engine::{Command, Event, EventSink};
use crate::journal::{Record, ReplaySink};
use crate::market_data::FeedEpoch;
use crate::shard::md::MdHub;

/// Whether an engine event is on the public feed (and crosses the mesh to
/// every shard's replica).
pub fn is_feed_event(event: &Event) -> bool {
    matches!(
        event,
        Event::BookLevel { .. } | Event::Trade { .. } | Event::HaltSet { .. }
    )
}

/// The replay's events into the shard's feed, each with the journal time
/// of its command; end of day after its events.
pub(super) struct FeedReplay<'a> {
    pub hub: &'a mut MdHub,
    pub shard: u16,
    pub ts_ns: u64,
}

impl EventSink for FeedReplay<'_> {
    fn emit(&mut self, event: &Event) {
        if is_feed_event(event) {
            debug_assert!(self.ts_ns > 0, "stamped by `before` with the record's time");
            self.hub.on_public(event, self.ts_ns);
        }
    }
}

impl ReplaySink for FeedReplay<'_> {
    fn before(&mut self, record: &Record) {
        debug_assert!(record.command().is_some(), "called around commands only");
        self.ts_ns = record.ts_ns;
    }

    fn after(&mut self, record: &Record) {
        debug_assert_eq!(self.ts_ns, record.ts_ns, "the same record as `before`");
        if matches!(record.command(), Some(Command::EndOfDay)) {
            self.hub.end_of_day_of(self.shard, record.ts_ns);
        }
    }
}

impl ShardCore {
    pub fn market(&self) -> &MdHub {
        &self.market
    }

    /// After replay: this shard's feed for the other shards' replicas.
    pub(super) fn publish_feed(&mut self, last: Option<FeedEpoch>) {
        debug_assert!(!self.market_started, "published once, at start");
        let shared = &self.shared;
        shared
            .feeds
            .publish(self.id as usize, self.market.feed(), last, |symbol| {
                shared.owner_of(symbol)
            });
    }

    /// Completes the start of market data, waiting for every shard's
    /// replay (the runtime calls it before the shard serves anyone).
    pub fn finish_start(&mut self) -> Result<(), String> {
        debug_assert!(!self.market_started, "finished once");
        let shared = &self.shared;
        let epoch = shared
            .feeds
            .collect(
                self.id as usize,
                self.market.feed_mut(),
                |symbol| shared.owner_of(symbol),
                || shared.shutting_down(),
            )
            .map_err(|e| format!("market data: {e:?}"))?;
        self.market_started_at(epoch)
    }

    /// As [`finish_start`](Self::finish_start) without waiting: for cores
    /// driven by hand (tests start them one after another on one thread),
    /// called before each poll of the mesh until it succeeds. A foreign
    /// symbol's first event arrives over the mesh, so never before this.
    pub(super) fn try_finish_start(&mut self) {
        if self.market_started {
            return;
        }
        if !self.shared.feeds.published(self.id as usize) {
            // Never started (a core driven by hand): nothing was replayed.
            self.market_started = true;
            return;
        }
        let shared = &self.shared;
        let collected =
            shared
                .feeds
                .try_collect(self.id as usize, self.market.feed_mut(), |symbol| {
                    shared.owner_of(symbol)
                });
        if let Some(epoch) = collected {
            if let Err(error) = self.market_started_at(epoch) {
                tracing::error!(shard = self.id, %error, "market data");
            }
        }
        debug_assert!(collected.is_none() || self.market_started);
    }

    /// The gateway's epoch is known: recorded in this shard's journal (a
    /// `feed_epoch` record) before the shard's first command, so a replica
    /// replaying the journal serves the same epoch, and the next start
    /// rises above it.
    fn market_started_at(&mut self, epoch: FeedEpoch) -> Result<(), String> {
        debug_assert_eq!(self.market.feed().epoch(), epoch);
        self.market_started = true;
        if let Some(journal) = self.journal.as_mut() {
            journal
                .append_feed_epoch(super::wall_clock_ns(), epoch)
                .map_err(|e| format!("journal: feed_epoch record: {e}"))?;
        }
        tracing::info!(shard = self.id, epoch = epoch.0, "market data: feed epoch");
        Ok(())
    }

    /// The hub, for the market-data tasks (`runtime/md.rs`) and for tests
    /// that drive a core by hand.
    pub fn market_mut(&mut self) -> &mut MdHub {
        &mut self.market
    }

    /// Graceful shutdown: every market-data client is told 1001.
    pub fn md_shut_down(&mut self) {
        self.market.shut_down();
    }

    /// Conflation, heartbeats, subscribe timeouts (the runtime's ticker),
    /// and the admin thread's request for a picture of this shard's
    /// symbols, if one is pending (telemetry/market_link.rs).
    pub fn market_tick(&mut self, now: Now) {
        self.market.tick(now.mono_ns, now.wall_ns);
        self.answer_market_request();
    }

    /// Paints the owner's symbols for the admin thread once the replica is
    /// started (before, its epoch is not the gateway's yet). Without a
    /// clean picture back it tries again on the next tick.
    fn answer_market_request(&mut self) {
        let Some(link) = self.market_link.as_mut() else {
            return;
        };
        let Some(request) = link.pending() else {
            return;
        };
        if !self.market_started {
            return;
        }
        debug_assert_eq!(link.shard, self.id, "a shard answers on its own link");
        let feed = self.market.feed();
        link.answer(request, |picture| feed.paint(picture));
    }

    /// A public event from its owner shard (mesh).
    pub(super) fn on_public(&mut self, event: &Event, ts_ns: u64) {
        debug_assert!(
            is_feed_event(event),
            "only feed events cross for market data"
        );
        self.market.on_public(event, ts_ns);
    }
}
