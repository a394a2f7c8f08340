//! What a shard publishes about itself for the admin thread: one
//! cache-line-padded block of atomics per shard, written only by that shard
//! (a plain store: a single writer needs no read-modify-write) and read by
//! the admin thread without a lock. The shard stores its plain counters
//! here on its tick (every few milliseconds), so the order path itself
//! touches no atomic.
//!
//! Also the readiness the admin thread reports at `/ready`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::shard::counters::REJECT_REASONS;

/// Declares the published counters once: the field, its metric name
/// (without the `tradsys_` prefix), its kind and its help text.
macro_rules! published {
    ($( $field:ident : $kind:ident, $help:literal; )*) => {
        /// One shard's published numbers (see the module comment).
        #[derive(Default)]
        pub struct ShardBoard {
            /// The shard recovered its journal and runs.
            pub up: AtomicBool,
            $( pub $field: AtomicU64, )*
        }

        /// A copy of a [`ShardBoard`], read field by field.
        #[derive(Clone, Copy, Debug, Default, serde::Serialize)]
        pub struct BoardSnapshot {
            pub up: bool,
            $( pub $field: u64, )*
        }

        impl ShardBoard {
            pub fn snapshot(&self) -> BoardSnapshot {
                BoardSnapshot {
                    up: self.up.load(Ordering::Acquire),
                    $( $field: self.$field.load(Ordering::Relaxed), )*
                }
            }
        }

        impl BoardSnapshot {
            /// `(field, kind, help, value)` for every published number.
            pub fn fields(&self) -> [(&'static str, MetricKind, &'static str, u64); published!(@count $($field)*)] {
                [ $( (stringify!($field), MetricKind::$kind, $help, self.$field), )* ]
            }
        }
    };
    (@count $($field:ident)*) => { 0 $( + published!(@one $field) )* };
    (@one $field:ident) => { 1 };
}

/// How a published number behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows (until a restart).
    Counter,
    /// Goes up and down.
    Gauge,
}

published! {
    messages_in: Counter, "Client messages decoded.";
    commands_local: Counter, "Commands run by this shard's engine for its own sessions.";
    commands_remote: Counter, "Commands sent to another shard's engine.";
    mesh_in: Counter, "Messages taken off the rings from other shards.";
    sessions_opened: Counter, "Sessions logged on.";
    sessions_ended: Counter, "Sessions ended.";
    slow_consumers: Counter, "Sessions ended because the client did not read its reports.";
    reader_pauses: Counter, "Times a session's reader stopped reading for back-pressure: its outbox over half full (its client reads slower than it sends), too many commands in flight on other shards, or a ring to another shard full.";
    reader_pause_checks: Counter, "Times a paused reader checked whether it could go on: once each time its writer hands bytes over or an answer comes back from another shard, every 20 microseconds while a ring to another shard is full.";
    io_dropped_in_flight: Counter, "Sends and receives into the shard's memory dropped before they completed: each made the shard wait for the kernel to give the memory back, which can last until the client reads. Expected 0: the shard gives up on a send by shutting its socket down, on a receive by cancelling it and awaiting its end.";
    market_events: Counter, "Trades and book changes the engine emitted.";
    journal_refusals: Counter, "Commands refused because the journal could not take them.";
    journal_records: Counter, "Records appended to the journal.";
    journal_bytes: Counter, "Bytes appended to the journal.";
    journal_segments_rolled: Counter, "Moves into a new journal segment.";
    journal_full_refusals: Counter, "Appends refused because the journal was full.";
    journal_syncs: Counter, "Journal syncs (msync) made.";
    mesh_overflows: Counter, "Messages that found a mesh ring full and waited in the overflow queue.";
    mesh_public_withheld: Counter, "Public events this owner did not send a replica whose copy of the symbol was stale (past the public bound of its overflow).";
    md_replicas_stale: Counter, "Times a replica's copy of one of this owner's symbols went stale (its overflow held the public bound).";
    md_replica_resyncs: Counter, "Symbols this shard's replica took from their owner after going stale.";
    latency_swaps_missed: Counter, "Histogram swaps that found no clean histogram (the admin thread was behind).";
    loop_cycles_over_threshold: Counter, "Shard loop turns longer than telemetry.cycle_threshold_us.";
    clock_anomalies: Counter, "Time spans that came out negative (not recorded).";
    operator_applied: Counter, "Operator commands run (halt, kill switch, reference price, end of day).";
    operator_refused: Counter, "Operator commands the journal refused.";
    orders_accepted: Counter, "Orders accepted by this shard's engine.";
    fills: Counter, "Fills this shard's engine emitted (one per side of a trade).";
    cancels: Counter, "Orders canceled on this shard (by their owner, a mass cancel, the kill switch, end of day, an IOC remainder).";
    cancel_rejects: Counter, "Cancels and replaces refused.";
    sessions_live: Gauge, "Sessions holding a slot on the shard.";
    ws_trade_sessions_opened: Counter, "Sessions logged on over WebSocket order entry (also in sessions_opened).";
    ws_trade_sessions_ended: Counter, "WebSocket order-entry sessions ended (also in sessions_ended).";
    ws_trade_sessions_live: Gauge, "WebSocket order-entry sessions connected to the shard (also in sessions_live); TCP ones are the difference.";
    ws_clients: Gauge, "Market-data client slots held on the shard: clients connected (WebSocket and raw TCP) and connections in their handshake.";
    ws_clients_opened: Counter, "Market-data clients accepted: WebSocket handshakes (echo clients too) and raw-TCP clients. An upgrade to WebSocket order entry is not one (it counts in ws_trade_sessions_opened once it logs on).";
    ws_handshakes_refused: Counter, "Market-data upgrade requests refused (bad request or no client slot).";
    ws_handshakes_abandoned: Counter, "Market-data connections gone (closed, reset or timed out) before their upgrade request was complete.";
    ws_peer_limit_refused: Counter, "Market-data connections refused at accept (HTTP 429): their address held market_data.max_clients_per_ip connections on the shard, or max_unsubscribed_per_ip with no subscription.";
    ws_closed_slow_consumer: Counter, "Market-data clients closed with 4001: past their send budget.";
    ws_closed_protocol: Counter, "Market-data clients closed for breaking RFC 6455 or a size limit.";
    ws_closed_resync: Counter, "Market-data clients closed with 4002: their shard's copy of a subscribed symbol was resynced.";
    ws_closed_policy: Counter, "Market-data clients closed with 1008: no subscription in time, or control messages too fast.";
    md_messages_encoded: Counter, "Market-data stream messages encoded (once per shard, whatever the subscriber count).";
    md_frames_queued: Counter, "Market-data frames queued to clients (one per message per subscriber).";
    md_fanout_lapped: Counter, "Market-data clients closed with 4001 because the shard's fan-out backlog dropped a message before the pump copied it to them.";
    loop_cycle_max_ns: Gauge, "Longest shard loop turn in the last interval, in nanoseconds.";
}

/// Every shard's board, plus whether the gateway as a whole is ready.
pub struct TelemetryBoard {
    pub shards: Vec<CachePadded<ShardBoard>>,
    /// Per shard, orders rejected by reason (indexed as `RejectReason::ALL`).
    pub rejects: Vec<CachePadded<[AtomicU64; REJECT_REASONS]>>,
    /// Every shard is up and every listener bound (set by the server once
    /// start-up succeeded).
    pub started: AtomicBool,
}

impl TelemetryBoard {
    pub fn new(shards: usize) -> TelemetryBoard {
        assert!(shards > 0);
        TelemetryBoard {
            shards: (0..shards).map(|_| CachePadded::default()).collect(),
            rejects: (0..shards)
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            started: AtomicBool::new(false),
        }
    }

    pub fn shard(&self, id: usize) -> &ShardBoard {
        &self.shards[id]
    }

    /// Shard `id`'s rejects by reason (as `RejectReason::ALL`).
    pub fn rejects(&self, id: usize) -> [u64; REJECT_REASONS] {
        std::array::from_fn(|i| self.rejects[id][i].load(Ordering::Relaxed))
    }
}

/// A single writer's update: no read-modify-write needed.
#[inline]
pub fn publish(cell: &AtomicU64, value: u64) {
    cell.store(value, Ordering::Relaxed);
}
