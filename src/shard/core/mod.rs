//! The shard's logic without any I/O: sessions, routing, the engine and the
//! mesh, driven by plain method calls. The runtime (`runtime.rs`, on the
//! shard's reactor)
//! moves bytes between sockets and these methods; tests drive them directly
//! (which is how `tests/alloc/gateway.rs` proves the path allocates nothing).
//!
//! A connection's first message goes to `first_message`: only an accepted
//! Logon makes a session (and takes a slot in the session table).
//!
//! Order path, for a session on shard S and a symbol owned by shard O:
//! `on_bytes` decodes and checks the session (sequence, rate, role),
//! converts to an engine `Command` and routes it: if O == S the engine runs
//! inline; otherwise the command crosses the S->O ring. O's engine emits
//! events to a [`Router`], which sends each order report to every session of
//! the account, through the O->S ring when the session is elsewhere. Reports
//! are encoded into the session's outbox on the session's own shard, so
//! outbound sequence numbers need no coordination.
//!
//! `impl ShardCore` is split by concern, one file each:
//! - `intake`: a connection's first message, logon, decoding a session's
//!   bytes, sequence checks, back-pressure (`can_resume`).
//! - `order_entry`: rate limit and role checks, conversion to engine
//!   commands, routing to the owner shard, mass cancel, order status.
//! - `queries`: an account's order by client order id, its open orders and
//!   positions a page at a time, answered by one engine per request.
//! - `replay`: replay on logon: a stream's current number from its owner,
//!   then a helper's reports moved into the session's outbox in batches.
//! - `engine_batch`: a read's commands for this shard's engine, run
//!   together so the engine's look-ahead can work; what flushes them.
//! - `write_ahead`: the journal: start-up replay, append before execute,
//!   refusals and deferred cancel-on-disconnect, syncs, fail-stop.
//! - `checksum`: the periodic `state_checksum` record (replication).
//! - `mesh_input`: what other shards sent (commands, reports, answers).
//! - `session_end`: ending and closing sessions, cancel-on-disconnect.
//! - `timers`: heartbeats, idle timeouts, slow consumers, stall credit.
//! - `output`: handing a session's bytes to its writer.
//! - `market`: market data: the WebSocket clients' entry points, public
//!   events from the mesh, the feed's replay at start (`shard/md/`).
//! - `operator`: operator commands from the admin thread, on the tick.
//! - `telemetry`: latency capture (timestamps, loop cycles), the interval
//!   swap and the counters published for the admin thread.
//!
//! Every public entry point ends with [`ShardCore::finish_turn`]: sessions
//! found too slow while the engine ran are ended, and every doorbell the
//! turn made due is rung. That is how no entry point can forget either.
//!
//! # Architecture invariants
//! - Nothing here does I/O or blocks; time comes in as [`Now`].
//! - A command reaches an engine only after its journal append succeeded
//!   (`write_ahead.rs`); its reports can therefore never precede it on disk.
//! - A session's outbound messages are encoded only on its own shard.

mod checksum;
mod engine_batch;
mod intake;
mod market;
mod mesh_input;
mod operator;
mod order_entry;
mod output;
mod queries;
mod replay;
mod session_end;
mod telemetry;
mod timers;
mod write_ahead;

pub use engine_batch::BATCH_MAX;
pub use intake::{FirstMessage, Intake, PreLogonEnd, Resume, PRE_LOGON_END_BYTES};
pub use market::is_feed_event;
pub use output::Output;
pub use queries::{AccountQuery, QueryAnswer};
pub use replay::{MAX_REPLAYS_PER_SHARD, REPLAY_BATCH};

pub use super::counters::ShardCounters;

use std::sync::Arc;

use super::lifecycle_log::LifecycleLog;
use super::mesh::{Links, MeshInbox, SessionRef};
use super::sender::MeshSender;
use super::session_table::SessionTable;
use super::shared::Shared;
use crate::engine::{AccountId, Engine};
use crate::journal::JournalWriter;
use crate::protocol::{FillMsg, OrderAcceptedMsg, OrderCanceledMsg, WireMessage};

/// Report bytes budgeted per command in flight to another shard: a
/// session may have `send_buffer_bytes / 2 / this` commands in flight, so
/// that their reports fit the half of its outbox its reader keeps free.
/// An estimate, not a bound: it covers an accept, two fills and a cancel
/// (checked below), but an order that sweeps many resting orders reports
/// one fill per order. `tests/gateway/report_budget.rs` shows both sides:
/// commands within the estimate never overflow a reading client's
/// outbox; commands past it can, and the session then ends
/// SlowConsumer (its fills are journaled and other sessions carry on).
pub const MAX_REPORT_BYTES_PER_COMMAND: usize = 320;

const _: () = assert!(
    MAX_REPORT_BYTES_PER_COMMAND
        >= OrderAcceptedMsg::LEN + 2 * FillMsg::LEN + OrderCanceledMsg::LEN,
    "the budget covers an accept, two fills and a cancel"
);

/// A gap between two ticks longer than this is the shard not running
/// (the runtime ticks every 5 ms): see `ShardCore::credit_own_stall`.
const STALL_CREDIT_AFTER_NS: u64 = 100_000_000;

/// Messages taken from one inbound ring per `poll_mesh` call.
const MESH_BATCH: usize = 4096;

/// The two clocks the core needs, read once per batch by the runtime.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic nanoseconds: rate limits, heartbeats, timeouts.
    pub mono_ns: u64,
    /// Wall-clock nanoseconds since the Unix epoch: report timestamps.
    pub wall_ns: u64,
}

/// One shard's state and logic (see the module comment).
pub struct ShardCore {
    pub id: u16,
    shared: Arc<Shared>,
    engine: Engine,
    /// The write-ahead journal; `None` only in tests that drive the core
    /// without `start`.
    journal: Option<JournalWriter>,
    journal_failing: bool,
    /// A journal sync failed: the gateway is failing-stop (logged once).
    journal_fatal: bool,
    /// Bounds the per-session log lines (logon, session ended) a client
    /// can cause by connecting in a loop.
    lifecycle_log: LifecycleLog,
    /// Monotonic time of the last `tick` (0 before the first).
    last_tick_ns: u64,
    /// Accounts whose cancel-on-disconnect this shard's journal refused
    /// (a full disk), oldest first. They run before any other command of
    /// this shard; until they have, the shard executes nothing else.
    /// Capacity: one per configured account, reserved at start (a pending
    /// cancel covers every later disconnect of the same account).
    pending_disconnect_cancels: Vec<AccountId>,
    /// No spare segment is asked for before this (after a failed creation).
    spare_retry_after_ns: u64,
    /// Commands a session may have in flight on other shards: their reports
    /// must fit the half of its outbox the reader keeps free.
    max_in_flight: u32,
    /// The read's commands queued for this engine (`engine_batch.rs`);
    /// empty outside `on_bytes`.
    batch: engine_batch::EngineBatch,
    /// Every send to another shard goes through here (ring, then doorbell).
    sender: MeshSender,
    inbox: MeshInbox,
    sessions: SessionTable,
    pub counters: ShardCounters,
    telemetry: telemetry::Telemetry,
    operator_ring: Option<rtrb::Consumer<crate::shard::operator::OperatorRequest>>,
    /// Operator commands run, and refused by the journal (published).
    operator_applied: u64,
    operator_refused: u64,
    /// This shard's market-data replica, clients and fan-out.
    market: crate::shard::md::MdHub,
    /// Symbol states shipped to stale replicas and received from owners.
    resync: crate::shard::md::resync::ResyncEnds,
    /// The replica has the other shards' symbols and the gateway's epoch
    /// (`core/market.rs` `finish_start`).
    market_started: bool,
    /// Where the admin thread asks for pictures of this shard's symbols.
    market_link: Option<crate::telemetry::MarketShardLink>,
    /// Replays on logon under way for this shard's sessions (a fixed
    /// number of places, `core/replay.rs`).
    replays: Vec<Option<replay::ActiveReplay>>,
    /// The CPUs helper threads may use (the runtime's unpinned set; `None`:
    /// the creating thread's).
    helper_cpus: Option<libc::cpu_set_t>,
}

impl ShardCore {
    pub fn new(id: u16, shared: Arc<Shared>, links: Links) -> ShardCore {
        let engine = Engine::new(&shared.config.engine_config(id as usize));
        let max_sessions = shared.config.session.max_sessions_per_shard;
        assert!(
            (id as usize) < shared.config.shard_count(),
            "shard {id} is configured"
        );
        assert_eq!(
            links.inbox.shards(),
            shared.config.shard_count(),
            "a ring from every shard"
        );
        ShardCore {
            id,
            engine,
            journal: None,
            journal_failing: false,
            journal_fatal: false,
            lifecycle_log: LifecycleLog::new(),
            last_tick_ns: 0,
            pending_disconnect_cancels: Vec::with_capacity(shared.config.accounts.len()),
            spare_retry_after_ns: 0,
            max_in_flight: (shared.config.session.send_buffer_bytes
                / 2
                / MAX_REPORT_BYTES_PER_COMMAND)
                .max(1) as u32,
            telemetry: telemetry::Telemetry::new(id, links.telemetry, &shared.config),
            operator_ring: links.operator,
            operator_applied: 0,
            operator_refused: 0,
            market_started: false,
            market_link: links.market,
            replays: (0..replay::MAX_REPLAYS_PER_SHARD).map(|_| None).collect(),
            helper_cpus: None,
            market: crate::shard::md::MdHub::new(
                &shared.config,
                crate::market_data::FeedEpoch::derive(None, 0),
            ),
            batch: engine_batch::EngineBatch::new(),
            sender: {
                let mut sender = links.sender;
                let owned = shared.config.symbols.iter();
                let owned = owned.filter(|s| shared.config.owner_shard(s) == id as usize);
                sender.reserve_stale(owned.count());
                let md_shards = shared.config.shards_binding(|l| l.market_data);
                sender.feed_only_to(md_shards.iter().fold(0, |mask, &s| mask | 1 << s));
                sender
            },
            resync: {
                let mut resync = links.resync;
                resync.provision(shared.config.engine.max_levels_per_side);
                resync
            },
            inbox: links.inbox,
            sessions: SessionTable::new(max_sessions),
            shared,
            counters: ShardCounters::default(),
        }
    }

    /// The CPUs this shard's helper threads (replay sources) run on.
    pub fn set_helper_cpus(&mut self, cpus: Option<libc::cpu_set_t>) {
        debug_assert!(!self.replays_active(), "set before serving");
        self.helper_cpus = cpus;
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn me(&self, slot: u16) -> SessionRef {
        debug_assert!(
            self.sessions.get_slot(slot).is_some(),
            "slot {slot} holds a session"
        );
        SessionRef {
            shard: self.id,
            slot,
            generation: self.sessions.generation(slot),
        }
    }

    /// The end of every public entry point: ends the sessions the router
    /// found too slow while the engine ran (it could not end them itself:
    /// the engine was borrowed), then rings the doorbell of every shard this
    /// turn sent to.
    fn finish_turn(&mut self) {
        self.finish_deferred_ends();
        self.sender.ring_doorbells(&self.shared.doorbells);
        if self.replays_active() {
            // Only the mesh loop moves a replay; a reader may have started
            // it while that loop is parked (`ring` writes only then).
            self.shared.doorbells[self.id as usize].ring();
        }
        debug_assert!(!self.sessions.ends_deferred());
    }
}

/// Wall-clock nanoseconds since the Unix epoch (0 before 1970).
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
