//! What a shard counts about itself: plain integers owned by the shard
//! thread and written only by it. The shard copies them into its
//! `telemetry::ShardBoard` (atomics) on its tick; the admin thread reads
//! that, never these fields.

use crate::engine::{Event, RejectReason};

/// How many reject reasons there are (one counter each).
pub const REJECT_REASONS: usize = RejectReason::ALL.len();

/// Counters the admin thread exports.
#[derive(Debug, Clone, Copy)]
pub struct ShardCounters {
    pub messages_in: u64,
    pub commands_local: u64,
    pub commands_remote: u64,
    pub mesh_in: u64,
    /// Of those, order entry's (everything but public events, end of day
    /// and resyncs): not exported; the runtime watches it to keep market
    /// data to its small share while order entry has work
    /// (`md/turn_share.rs`).
    pub order_entry_mesh_in: u64,
    pub sessions_opened: u64,
    pub sessions_ended: u64,
    /// Of those, sessions over WebSocket order entry (`/trade`).
    pub ws_sessions_opened: u64,
    pub ws_sessions_ended: u64,
    pub slow_consumers: u64,
    /// Times a session's reader stopped for back-pressure, and times a
    /// paused reader looked again whether it could go on.
    pub reader_pauses: u64,
    pub reader_pause_checks: u64,
    pub market_events: u64,
    /// Commands refused because the journal could not take them.
    pub journal_refusals: u64,
    /// Order reports this shard's engine emitted (or, for rejects, the
    /// gateway itself sent): accepted, fills (one per side), canceled,
    /// cancel/replace rejected.
    pub orders_accepted: u64,
    pub fills: u64,
    pub cancels: u64,
    pub cancel_rejects: u64,
    /// Orders rejected, by reason (indexed as `RejectReason::ALL`).
    pub rejects: [u64; REJECT_REASONS],
}

impl Default for ShardCounters {
    fn default() -> ShardCounters {
        ShardCounters {
            messages_in: 0,
            commands_local: 0,
            commands_remote: 0,
            mesh_in: 0,
            order_entry_mesh_in: 0,
            sessions_opened: 0,
            sessions_ended: 0,
            ws_sessions_opened: 0,
            ws_sessions_ended: 0,
            slow_consumers: 0,
            reader_pauses: 0,
            reader_pause_checks: 0,
            market_events: 0,
            journal_refusals: 0,
            orders_accepted: 0,
            fills: 0,
            cancels: 0,
            cancel_rejects: 0,
            rejects: [0; REJECT_REASONS],
        }
    }
}

impl ShardCounters {
    /// Counts an order report (other events are not counted here).
    pub fn count_report(&mut self, event: &Event) {
        match *event {
            Event::Accepted { .. } => self.orders_accepted += 1,
            Event::Fill { .. } => self.fills += 1,
            Event::Canceled { .. } => self.cancels += 1,
            Event::CancelRejected { .. } => self.cancel_rejects += 1,
            Event::Rejected { reason, .. } => {
                // Rejects are rare next to orders: a scan of 30 is fine.
                let index = RejectReason::ALL
                    .iter()
                    .position(|&r| r == reason)
                    .expect("every reason is in ALL");
                self.rejects[index] += 1;
            }
            _ => {}
        }
    }
}
