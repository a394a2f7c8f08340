//! The SPSC mesh: one `rtrb` ring for every ordered pair of shards, and a
//! doorbell per shard for waking it when it parks. Sending goes through
//! [`MeshSender`] (`sender.rs`), receiving through [`MeshInbox`].
//!
//! A ring carries [`MeshMsg`] values (plain `Copy` data, no pointers, no
//! allocation). When a ring is full the producer keeps the message in a
//! per-destination overflow queue, pre-allocated, that it drains first on
//! its next poll: nothing is dropped and no shard ever waits on another
//! (two shards waiting on each other's full rings would deadlock). Readers
//! of client sockets stop reading while their destination ring is full or
//! its overflow is non-empty: that is the back-pressure.

use rtrb::{Consumer, Producer, RingBuffer};

use super::sender::MeshSender;
use crate::engine::{AccountId, Command, Event};
use crate::protocol::{OrderStatusMsg, OrderStatusRequestMsg};
use crate::shard::core::{AccountQuery, QueryAnswer};

/// One bit per shard (bit `i`: shard `i`): which shards have new ring input
/// and may need their doorbell rung. Its width bounds the shard count.
pub type ShardMask = u64;

const _: () = assert!(
    crate::config::MAX_SHARDS <= ShardMask::BITS as usize,
    "a shard mask has a bit for every shard"
);

/// Names one session anywhere in the gateway. The generation makes a
/// reference to a closed session (whose slot was reused) harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRef {
    pub shard: u16,
    pub slot: u16,
    pub generation: u32,
}

#[derive(Clone, Copy, Debug)]
pub enum MeshMsg {
    /// A command for the receiving shard's engine. `origin` (if any) gets
    /// the answers that are not order reports (mass cancel done).
    Command {
        origin: Option<SessionRef>,
        request_id: u64,
        command: Command,
        /// When it was pushed (telemetry::clock; 0 with capture off): the
        /// owner times the hop.
        sent_ns: u64,
    },
    StatusRequest {
        origin: SessionRef,
        account: AccountId,
        request: OrderStatusRequestMsg,
    },
    /// An account query for the engine that answers it (`core/queries.rs`).
    Query {
        origin: SessionRef,
        account: AccountId,
        query: AccountQuery,
    },
    /// One message of a query's answer; the last one `releases` the
    /// commands-in-flight units the query was counted as.
    Answer {
        dest: SessionRef,
        answer: QueryAnswer,
        releases: u32,
    },
    /// An order report for one session on the receiving shard, with its
    /// place in the account's report stream on the sending shard.
    Report {
        dest: SessionRef,
        event: Event,
        number: crate::protocol::ReportNumber,
    },
    /// Replay on logon: the stream owner's current report number for
    /// `account`, asked by `origin`'s shard (`core/replay.rs`).
    ReplayMark {
        origin: SessionRef,
        account: AccountId,
        after: u64,
    },
    /// The answer: `stream`'s number `upto` (counted as one command in
    /// flight of `dest`).
    ReplayMarked {
        dest: SessionRef,
        account: AccountId,
        stream: u32,
        after: u64,
        upto: u64,
    },
    /// The owner shard finished a command of `dest` (flow control: it
    /// follows the command's reports on the same ring).
    Processed { dest: SessionRef },
    Status {
        dest: SessionRef,
        status: OrderStatusMsg,
    },
    MassCancelDone {
        dest: SessionRef,
        request_id: u64,
        canceled: u32,
        /// Why this shard ran none of it (the journal refused), if so.
        refused: Option<crate::engine::RejectReason>,
    },
    /// A public engine event of the sending (owner) shard, with the journal
    /// time of its command: the market-data replica of every shard that
    /// serves market data applies it (`shard/md/`), so the feed is the same
    /// on every such shard.
    Public { event: Event, ts_ns: u64 },
    /// The owner shard `owner` ran `EndOfDay` at `ts_ns` (after the
    /// `Public` events it caused): its symbols' end of day on the feed.
    EndOfDay { owner: u16, ts_ns: u64 },
    /// The sending owner shipped its state of `symbol` on the resync ring
    /// (`shard/md/resync.rs`): the receiving replica, whose copy went stale,
    /// takes it now; the symbol's public events follow again.
    Resync { symbol: crate::engine::SymbolId },
}

/// The doorbells moved to `notify.rs` (an io_uring `MSG_RING` now);
/// re-exported here, where the mesh's users have always found them.
pub use super::notify::{Doorbell, ShardRing};

/// One shard's ends of the mesh: what it sends (through its
/// [`MeshSender`], the only way to send) and what it receives.
pub struct Links {
    pub sender: MeshSender,
    pub inbox: MeshInbox,
    /// The shard's ends of its telemetry rings to the admin thread (set by
    /// the server; `None`: the core makes rings nobody reads, and counts
    /// missed swaps once its spares are used up).
    pub telemetry: Option<crate::telemetry::ShardLink>,
    /// Operator commands from the admin thread (set by the server; `None`:
    /// none come).
    pub operator: Option<rtrb::Consumer<crate::shard::operator::OperatorRequest>>,
    /// Market-state pictures for the admin thread (set by the server;
    /// `None`: none are asked for).
    pub market: Option<crate::telemetry::MarketShardLink>,
    /// The rings a stale replica's symbol state travels on.
    pub resync: crate::shard::md::resync::ResyncEnds,
}

/// The receiving ends of one shard's rings.
pub struct MeshInbox {
    /// `rings[i]`: ring from shard i (`None` for itself).
    rings: Vec<Option<Consumer<MeshMsg>>>,
    /// Messages received from each shard (see [`MeshSender::sent`]).
    received: Vec<u64>,
}

/// Builds every shard's links: `shards * (shards - 1)` rings.
pub fn build(shards: usize, ring_capacity: usize) -> Vec<Links> {
    assert!(
        (1..=crate::config::MAX_SHARDS).contains(&shards),
        "shard count {shards} outside 1..={}",
        crate::config::MAX_SHARDS
    );
    assert!(ring_capacity > 0, "a mesh ring holds at least one message");
    let mut outbound: Vec<Vec<Option<Producer<MeshMsg>>>> = (0..shards)
        .map(|_| (0..shards).map(|_| None).collect())
        .collect();
    let mut inbound: Vec<Vec<Option<Consumer<MeshMsg>>>> = (0..shards)
        .map(|_| (0..shards).map(|_| None).collect())
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from != to {
                let (producer, consumer) = RingBuffer::new(ring_capacity);
                outbound[from][to] = Some(producer);
                inbound[to][from] = Some(consumer);
            }
        }
    }
    let mut resync = crate::shard::md::resync::build(shards).into_iter();
    outbound
        .into_iter()
        .zip(inbound)
        .enumerate()
        .map(|(id, (rings, inbox))| Links {
            resync: resync.next().expect("one per shard"),
            sender: MeshSender::new(id as u16, rings, ring_capacity),
            inbox: MeshInbox {
                rings: inbox,
                received: vec![0; shards],
            },
            telemetry: None,
            operator: None,
            market: None,
        })
        .collect()
}

impl MeshInbox {
    /// The next message from shard `from`, if any (counted as received).
    pub fn pop(&mut self, from: usize) -> Option<MeshMsg> {
        debug_assert!(from < self.rings.len(), "shard {from} is configured");
        let msg = self.rings[from].as_mut()?.pop().ok()?;
        self.received[from] += 1;
        Some(msg)
    }

    /// Messages waiting in the ring from shard `from`, and whether that is
    /// all it holds (its producer may be waiting for room).
    pub fn queued(&self, from: usize) -> (usize, bool) {
        let Some(consumer) = self.rings[from].as_ref() else {
            return (0, false);
        };
        let queued = consumer.slots();
        debug_assert!(queued <= consumer.buffer().capacity());
        (queued, queued == consumer.buffer().capacity())
    }

    /// How many shards there are (including this one, which has no ring).
    pub fn shards(&self) -> usize {
        self.rings.len()
    }

    /// Whether any ring holds a message.
    pub fn pending(&self) -> bool {
        self.rings
            .iter()
            .flatten()
            .any(|consumer| !consumer.is_empty())
    }

    /// Messages received from each shard so far.
    pub fn received(&self) -> &[u64] {
        &self.received
    }
}
