//! A follower's feed relay, I/O-free: what crosses from the follower's
//! replay to a relay thread ([`RelayMsg`]), how a replay's events become
//! those messages ([`RelayTap`]), and how a relay's hub takes them
//! ([`MdHub::on_relay`]).
//!
//! A relay's hub is the same [`MdHub`] an order-entry shard runs, fed the
//! same public events in the same order per symbol (each symbol has one
//! owner shard, and the follower applies that shard's records in seq
//! order), each stamped with its record's journal time: so its sequences,
//! snapshots and checksums are the primary's. What differs is only where
//! the events come from: the mesh on the primary, the follower's replay
//! here.

use super::client::CloseReason;
use super::fanout::FanOut;
use super::hub::MdHub;
use crate::engine::{Command, Event, EventSink};
use crate::journal::{Record, ReplaySink};
use crate::market_data::FeedEpoch;
use crate::shard::core::is_feed_event;
use crate::websocket::close::code;

/// One step of the feed, from a follower's replica to a relay thread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RelayMsg {
    /// A public engine event with its command's journal time.
    Public { event: Event, ts_ns: u64 },
    /// Shard `owner` ran end of day (after its events).
    EndOfDay { owner: u16, ts_ns: u64 },
    /// A `feed_epoch` record: the primary started again under this epoch.
    Epoch(FeedEpoch),
}

/// A replica's sink for one record: every event (drop copy takes the
/// fills) and the relay messages of the public ones.
pub struct RelayTap {
    shard: u16,
    ts_ns: u64,
    pub events: Vec<Event>,
    pub relay: Vec<RelayMsg>,
}

impl RelayTap {
    pub fn new(shard: u16) -> RelayTap {
        RelayTap {
            shard,
            ts_ns: 0,
            events: Vec::with_capacity(64),
            relay: Vec::with_capacity(64),
        }
    }

    /// Before each record.
    pub fn clear(&mut self) {
        self.events.clear();
        self.relay.clear();
        debug_assert!(self.events.is_empty() && self.relay.is_empty());
    }
}

impl EventSink for RelayTap {
    fn emit(&mut self, event: &Event) {
        self.events.push(*event);
        if is_feed_event(event) {
            debug_assert!(self.ts_ns > 0, "stamped by `before` with the record's time");
            self.relay.push(RelayMsg::Public {
                event: *event,
                ts_ns: self.ts_ns,
            });
        }
    }
}

impl ReplaySink for RelayTap {
    fn before(&mut self, record: &Record) {
        debug_assert!(record.command().is_some(), "called around commands only");
        self.ts_ns = record.ts_ns;
    }

    fn after(&mut self, record: &Record) {
        debug_assert_eq!(self.ts_ns, record.ts_ns, "the same record as `before`");
        if matches!(record.command(), Some(Command::EndOfDay)) {
            self.relay.push(RelayMsg::EndOfDay {
                owner: self.shard,
                ts_ns: record.ts_ns,
            });
        }
    }
}

impl MdHub {
    /// One relayed step, as the primary's shards take the same step from
    /// their mesh (`core/market.rs`).
    pub fn on_relay(&mut self, message: &RelayMsg) {
        match *message {
            RelayMsg::Public { event, ts_ns } => {
                debug_assert!(is_feed_event(&event), "only public events are relayed");
                self.on_public(&event, ts_ns)
            }
            RelayMsg::EndOfDay { owner, ts_ns } => self.end_of_day_of(owner, ts_ns),
            RelayMsg::Epoch(epoch) => self.new_epoch(epoch),
        }
    }

    /// The primary started again: its clients were disconnected by the
    /// restart, so a relay's are too (1001, "new epoch"): they connect
    /// again and start from snapshots of the new epoch, as on the primary.
    fn new_epoch(&mut self, epoch: FeedEpoch) {
        if self.feed().epoch() == epoch {
            return;
        }
        debug_assert!(epoch > self.feed().epoch(), "epochs rise");
        self.feed_mut().set_epoch(epoch);
        let counters = &mut self.fan.counters;
        for client in self.fan.clients.iter_mut().flatten() {
            FanOut::close(
                counters,
                &mut client.out,
                code::GOING_AWAY,
                "new epoch",
                CloseReason::Shutdown,
            );
        }
    }
}
