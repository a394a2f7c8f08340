//! The one way a shard sends to another shard, as Aeron's `SenderProxy` is
//! the one way to talk to its sender agent.
//!
//! Sending across shards is two steps: put the message on the ring (or in
//! the overflow queue when the ring is full), then make sure the receiver
//! is woken if it parked. Forgetting the second step leaves a parked shard
//! asleep with work in its ring (a bug of that kind was found once). So
//! the rings are private to [`MeshSender`]: every send marks the receiver's
//! doorbell bit as due, and [`MeshSender::ring_doorbells`], called at the
//! end of every core entry point (and every 64 messages of a long mesh
//! drain, `core/mesh_input.rs`), rings each due doorbell once.
//!
//! A full ring never blocks and never drops: the message waits in a
//! per-destination overflow queue (pre-allocated to the ring's capacity)
//! that [`MeshSender::flush_overflow`] drains first, in order, on the
//! shard's next mesh poll. No shard ever waits on another (two shards
//! waiting on each other's full rings would deadlock).
//!
//! Public events are the exception to "never drops", because nothing
//! bounds them: every command of this shard's own sessions makes some, and
//! a replica slower than this owner (a shard busy fanning out to many
//! clients, or descheduled) would make its overflow grow without end.
//! They may fill at most half a destination's overflow
//! ([`MeshSender::public_bound`]); past that, the destination's replica of
//! the event's symbol is *stale*: it is sent none of that symbol's public
//! events until the owner ships it the symbol's whole state
//! (`shard/md/resync.rs`), which it does once the destination has drained
//! its overflow. The other half stays for the messages that are bounded
//! (commands in flight, their reports), so those never make it grow.

use std::collections::VecDeque;

use rtrb::Producer;

use super::mesh::{Doorbell, MeshMsg, SessionRef, ShardMask};
use crate::engine::{AccountId, Command, Event, SymbolId};
use crate::protocol::{OrderStatusMsg, OrderStatusRequestMsg, ReportNumber};
use crate::shard::core::{AccountQuery, QueryAnswer};

/// The bits of shards `0..shards`.
fn every_shard(shards: usize) -> ShardMask {
    debug_assert!((1..=ShardMask::BITS as usize).contains(&shards));
    ShardMask::MAX >> (ShardMask::BITS as usize - shards)
}

/// One shard's sending ends of the mesh.
pub struct MeshSender {
    /// The shard this is (it has no ring to itself).
    me: u16,
    /// `rings[j]`: ring to shard j (`None` for itself).
    rings: Vec<Option<Producer<MeshMsg>>>,
    /// Messages for shard j that did not fit its ring yet, oldest first.
    overflow: Vec<VecDeque<MeshMsg>>,
    /// Messages that went to overflow (a count for metrics).
    overflowed: u64,
    /// `stale[j]`: the symbols (sorted) whose public events shard j's
    /// replica is not sent until a resync; capacity set at start.
    stale: Vec<Vec<SymbolId>>,
    /// Public events a destination's overflow may hold.
    public_bound: usize,
    /// Public events not sent to a stale replica (a count for metrics).
    public_withheld: u64,
    /// Times a replica's symbol went stale.
    went_stale: u64,
    /// Messages sent to each shard: two snapshots of every shard's
    /// counters that agree and balance prove the mesh is empty (graceful
    /// shutdown's termination check).
    sent: Vec<u64>,
    /// Bit j set: shard j has new ring input and may need its doorbell.
    due: ShardMask,
    /// Bit j set: shard j's market-data replica is sent this shard's
    /// public events and end of day (every other shard, unless
    /// [`MeshSender::feed_only_to`] narrowed it).
    feed_replicas: ShardMask,
}

impl MeshSender {
    pub(super) fn new(
        me: u16,
        rings: Vec<Option<Producer<MeshMsg>>>,
        ring_capacity: usize,
    ) -> MeshSender {
        let shards = rings.len();
        assert!(
            shards <= ShardMask::BITS as usize,
            "a doorbell bit per shard"
        );
        assert!(
            (me as usize) < shards && rings[me as usize].is_none(),
            "no ring to self"
        );
        MeshSender {
            me,
            rings,
            overflow: (0..shards)
                .map(|_| VecDeque::with_capacity(ring_capacity))
                .collect(),
            overflowed: 0,
            stale: (0..shards).map(|_| Vec::new()).collect(),
            public_bound: (ring_capacity / 2).max(1),
            public_withheld: 0,
            went_stale: 0,
            sent: vec![0; shards],
            due: 0,
            feed_replicas: every_shard(shards) & !(1 << me),
        }
    }

    /// Sends public events and end of day only to the replicas of
    /// `shards` (those that bind the market-data listener,
    /// `server.market_data_shards`): a shard that serves no market-data
    /// client never reads its replica, and applying another owner's events
    /// to it would spend a matching core on market data. Called once, at
    /// start, before any event.
    pub fn feed_only_to(&mut self, shards: ShardMask) {
        assert_eq!(self.sent.iter().sum::<u64>(), 0, "at start only");
        assert_eq!(
            shards & !every_shard(self.rings.len()),
            0,
            "configured shards"
        );
        self.feed_replicas = shards & !(1 << self.me);
    }

    /// Sends to shard `to` (never this shard): the ring if it has room and
    /// nothing is waiting ahead of it, else the overflow queue. Either
    /// way the receiver's doorbell is due.
    fn send(&mut self, to: u16, msg: MeshMsg) {
        let to = to as usize;
        assert_ne!(to, self.me as usize, "a shard never sends to itself");
        self.sent[to] += 1;
        self.due |= 1 << to;
        let queue = &mut self.overflow[to];
        let producer = self.rings[to]
            .as_mut()
            .expect("a ring to every other shard");
        if queue.is_empty() {
            if let Err(rtrb::PushError::Full(msg)) = producer.push(msg) {
                queue.push_back(msg);
                self.overflowed += 1;
            }
        } else {
            queue.push_back(msg);
            self.overflowed += 1;
        }
    }

    /// A command for `owner`'s engine; `origin` (if any) gets the answers
    /// that are not order reports.
    pub fn command(
        &mut self,
        owner: u16,
        origin: Option<SessionRef>,
        request_id: u64,
        command: Command,
        sent_ns: u64,
    ) {
        let msg = MeshMsg::Command {
            origin,
            request_id,
            command,
            sent_ns,
        };
        self.send(owner, msg);
    }

    /// An order report for a session on another shard.
    pub fn report(&mut self, dest: SessionRef, event: Event, number: ReportNumber) {
        self.send(
            dest.shard,
            MeshMsg::Report {
                dest,
                event,
                number,
            },
        );
    }

    /// Asks the stream's owner for its current report number of `account`.
    pub fn replay_mark(&mut self, owner: u16, origin: SessionRef, account: AccountId, after: u64) {
        debug_assert_ne!(owner, origin.shard, "a local replay is marked inline");
        let msg = MeshMsg::ReplayMark {
            origin,
            account,
            after,
        };
        self.send(owner, msg);
    }

    /// The owner's answer to [`replay_mark`](Self::replay_mark).
    pub fn replay_marked(
        &mut self,
        dest: SessionRef,
        account: AccountId,
        stream: u32,
        after: u64,
        upto: u64,
    ) {
        debug_assert_ne!(
            u32::from(dest.shard),
            stream,
            "a local replay is marked inline"
        );
        let msg = MeshMsg::ReplayMarked {
            dest,
            account,
            stream,
            after,
            upto,
        };
        self.send(dest.shard, msg);
    }

    /// `dest`'s command is done here (after its reports, on the same ring).
    pub fn processed(&mut self, dest: SessionRef) {
        self.send(dest.shard, MeshMsg::Processed { dest });
    }

    /// An OrderStatusRequest for the shard that owns the symbol.
    pub fn status_request(
        &mut self,
        owner: u16,
        origin: SessionRef,
        account: AccountId,
        request: OrderStatusRequestMsg,
    ) {
        let msg = MeshMsg::StatusRequest {
            origin,
            account,
            request,
        };
        self.send(owner, msg);
    }

    /// The answer to a [`MeshSender::status_request`].
    pub fn status(&mut self, dest: SessionRef, status: OrderStatusMsg) {
        self.send(dest.shard, MeshMsg::Status { dest, status });
    }

    /// An account query for the shard whose engine answers it.
    pub fn query(
        &mut self,
        owner: u16,
        origin: SessionRef,
        account: AccountId,
        query: AccountQuery,
    ) {
        debug_assert_ne!(owner, origin.shard, "a local query is answered inline");
        let msg = MeshMsg::Query {
            origin,
            account,
            query,
        };
        self.send(owner, msg);
    }

    /// One message of a query's answer (see [`MeshMsg::Answer`]).
    pub fn answer(&mut self, dest: SessionRef, answer: QueryAnswer, releases: u32) {
        debug_assert!(
            releases <= crate::protocol::QUERY_PAGE_WEIGHT.max(crate::protocol::DONE_PAGE_WEIGHT)
        );
        let msg = MeshMsg::Answer {
            dest,
            answer,
            releases,
        };
        self.send(dest.shard, msg);
    }

    /// This shard's count for `dest`'s mass cancel.
    pub fn mass_cancel_done(
        &mut self,
        dest: SessionRef,
        request_id: u64,
        canceled: u32,
        refused: Option<crate::engine::RejectReason>,
    ) {
        let msg = MeshMsg::MassCancelDone {
            dest,
            request_id,
            canceled,
            refused,
        };
        self.send(dest.shard, msg);
    }

    /// Start-up: room in every destination's stale list for each of the
    /// `symbols` this shard owns, so marking one stale never allocates.
    pub fn reserve_stale(&mut self, symbols: usize) {
        for list in &mut self.stale {
            list.reserve_exact(symbols);
        }
        debug_assert!(self.stale.iter().all(|l| l.capacity() >= symbols));
    }

    /// A public engine event (book level, trade, halt) to every other
    /// shard's market-data replica (of those [`MeshSender::feed_only_to`]
    /// kept), except a replica for which its symbol
    /// is stale or becomes so now (its overflow holds
    /// [`MeshSender::public_bound`] messages).
    pub fn public(&mut self, event: Event, ts_ns: u64) {
        let symbol = match event {
            Event::BookLevel { symbol, .. }
            | Event::Trade { symbol, .. }
            | Event::HaltSet { symbol, .. } => symbol,
            _ => {
                debug_assert!(false, "not a public event: {event:?}");
                return;
            }
        };
        if self.feed_replicas == 0 {
            // No other shard keeps a replica (one shard, or no fan-out
            // elsewhere): every book change of the order path comes here.
            return;
        }
        for to in 0..self.rings.len() {
            if self.feed_replicas & (1 << to) == 0 {
                continue;
            }
            debug_assert_ne!(to, self.me as usize, "no replica of itself");
            let stale = &mut self.stale[to];
            match stale.binary_search(&symbol) {
                Ok(_) => self.public_withheld += 1,
                Err(at) if self.overflow[to].len() >= self.public_bound => {
                    assert!(stale.len() < stale.capacity(), "reserved at start");
                    stale.insert(at, symbol);
                    self.went_stale += 1;
                    self.public_withheld += 1;
                }
                Err(_) => self.send(to as u16, MeshMsg::Public { event, ts_ns }),
            }
        }
    }

    /// A stale symbol of shard `to`'s replica that can be resynced now:
    /// everything queued for it has reached its ring, and the ring has room
    /// for the marker.
    pub fn resync_due(&self, to: usize) -> Option<SymbolId> {
        debug_assert!(to < self.rings.len(), "shard {to} is configured");
        let first = *self.stale[to].first()?;
        self.has_room(to).then_some(first)
    }

    /// Whether some stale symbol could be resynced now (given the pair's
    /// buffer, `has_buffer`): a parked owner re-checks this, so the replica
    /// making room (which [`wake`](Self::wake)s it) is never missed.
    pub fn resync_ready(&self, has_buffer: impl Fn(usize) -> bool) -> bool {
        debug_assert!(
            self.stale[self.me as usize].is_empty(),
            "no replica of itself"
        );
        (0..self.rings.len()).any(|to| self.resync_due(to).is_some() && has_buffer(to))
    }

    /// Marks shard `to`'s doorbell due without sending it anything: this
    /// replica made room in `to`'s ring, or gave back its resync buffer,
    /// and `to` may have parked waiting for that with a stale symbol to
    /// ship (the owner ships only from its own mesh loop; nothing else
    /// would wake it, since a replica sends its owner nothing).
    pub fn wake(&mut self, to: usize) {
        assert_ne!(to, self.me as usize, "a shard never wakes itself this way");
        self.due |= 1 << to;
    }

    /// The owner shipped `symbol`'s state to `to`: its public events go to
    /// `to` again, after the marker that tells `to` to take the state.
    pub fn resynced(&mut self, to: usize, symbol: SymbolId) {
        assert_ne!(to, self.me as usize, "a shard is no replica of itself");
        let at = self.stale[to]
            .binary_search(&symbol)
            .expect("resynced a stale symbol");
        self.stale[to].remove(at);
        self.send(to as u16, MeshMsg::Resync { symbol });
    }

    /// Public events a destination's overflow may hold before the event's
    /// symbol goes stale for it.
    pub fn public_bound(&self) -> usize {
        debug_assert!(self.public_bound > 0);
        self.public_bound
    }

    /// Messages waiting in the overflow to shard `to`.
    pub fn overflow_len(&self, to: usize) -> usize {
        debug_assert!(to < self.overflow.len(), "shard {to} is configured");
        self.overflow[to].len()
    }

    /// (public events withheld from stale replicas, times a replica's
    /// symbol went stale).
    pub fn public_counts(&self) -> (u64, u64) {
        debug_assert!(
            self.went_stale <= self.public_withheld,
            "each went stale on an event withheld"
        );
        (self.public_withheld, self.went_stale)
    }

    /// This (owner) shard ran `EndOfDay`: to every other shard's replica
    /// (of those [`MeshSender::feed_only_to`] kept).
    pub fn end_of_day(&mut self, ts_ns: u64) {
        debug_assert!(self.rings[self.me as usize].is_none(), "no ring to self");
        for to in 0..self.rings.len() as u16 {
            if self.feed_replicas & (1 << to) != 0 {
                let owner = self.me;
                self.send(to, MeshMsg::EndOfDay { owner, ts_ns });
            }
        }
    }

    /// Moves overflow into rings that have room again, oldest first.
    /// Returns how many messages moved. A shard that got some may have
    /// parked on an empty ring since they were queued here, so its
    /// doorbell is due.
    pub fn flush_overflow(&mut self) -> usize {
        let mut moved = 0;
        for (to, queue) in self.overflow.iter_mut().enumerate() {
            let Some(producer) = self.rings[to].as_mut() else {
                debug_assert!(queue.is_empty(), "overflow to self");
                continue;
            };
            let before = moved;
            while let Some(msg) = queue.front() {
                if producer.push(*msg).is_err() {
                    break;
                }
                queue.pop_front();
                moved += 1;
            }
            if moved > before {
                self.due |= 1 << to;
            }
        }
        moved
    }

    /// Rings every due doorbell once, and this shard's own if overflow is
    /// waiting: only this shard's mesh loop moves its overflow into the
    /// rings, so if a reader, the ticker or a closing session queued some
    /// while that loop is parked, it must wake (`ring` writes only when the
    /// shard is parked).
    pub fn ring_doorbells(&mut self, doorbells: &[Doorbell]) {
        assert_eq!(doorbells.len(), self.rings.len(), "a doorbell per shard");
        let mut due = std::mem::take(&mut self.due);
        while due != 0 {
            let shard = due.trailing_zeros() as usize;
            due &= due - 1;
            doorbells[shard].ring();
        }
        if self.overflow_pending() {
            doorbells[self.me as usize].ring();
        }
    }

    /// Whether a message to shard `to` would go straight into its ring.
    pub fn has_room(&self, to: usize) -> bool {
        debug_assert!(to < self.rings.len(), "shard {to} is configured");
        self.overflow[to].is_empty() && self.rings[to].as_ref().is_some_and(|p| p.slots() > 0)
    }

    /// Whether messages wait in overflow (only this shard's mesh loop,
    /// [`MeshSender::flush_overflow`], moves them).
    pub fn overflow_pending(&self) -> bool {
        self.overflow.iter().any(|queue| !queue.is_empty())
    }

    /// Messages sent to each shard so far.
    pub fn sent(&self) -> &[u64] {
        &self.sent
    }

    /// Messages that had to wait in overflow so far.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }
}
