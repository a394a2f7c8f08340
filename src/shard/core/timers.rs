//! Time-driven work, every few milliseconds: heartbeats to quiet
//! sessions, idle timeouts, slow consumers whose backlog outlasted the idle
//! window, and the credit for time the shard itself did not run.

use super::{Now, ShardCore, STALL_CREDIT_AFTER_NS};
use crate::protocol::*;

impl ShardCore {
    /// Heartbeats and timeouts; the runtime calls it every few milliseconds.
    pub fn tick(&mut self, now: Now) {
        self.credit_own_stall(now);
        self.run_operator_requests(now);
        self.telemetry_tick();
        let idle_intervals = self.shared.config.session.idle_timeout_intervals as u64;
        assert!(
            idle_intervals > 0,
            "config validation: idle_timeout_intervals >= 1"
        );
        for slot in 0..self.sessions.capacity() {
            let Some(session) = self.sessions.get_slot_mut(slot) else {
                continue;
            };
            let seq = session.outbox.next_seq();
            if seq != session.seq_at_tick {
                session.seq_at_tick = seq;
                session.last_tx_ns = now.mono_ns;
            }
            // The client took bytes since the last tick: it reads, however
            // slowly (a bulk cancel's burst can keep its outbox over half
            // full, and its reader paused, for many idle windows).
            let taken = session.outbox.taken();
            let reading = taken != session.taken_at_tick;
            session.taken_at_tick = taken;
            if !session.is_active() {
                continue;
            }
            let idle_window = idle_intervals * session.heartbeat_ns;
            if session.input_pending {
                // Not idle: its messages wait in the reader. If they
                // wait because it does not read its own reports,
                // it is a slow consumer once that lasts the window.
                session.last_rx_ns = now.mono_ns;
                if session.outbox.over_half_full() && !reading {
                    let since = *session.backlog_since_ns.get_or_insert(now.mono_ns);
                    if now.mono_ns - since >= idle_window {
                        self.end_session(slot, SessionEndReason::SlowConsumer);
                        continue;
                    }
                } else {
                    session.backlog_since_ns = None;
                }
            } else {
                session.backlog_since_ns = None;
            }
            let session = self.sessions.get_slot_mut(slot).expect("live session");
            if now.mono_ns - session.last_rx_ns >= idle_window {
                self.end_session(slot, SessionEndReason::IdleTimeout);
            } else if now.mono_ns - session.last_tx_ns >= session.heartbeat_ns
                && session.outbox.is_empty()
            {
                // Bytes still queued reach the client before a heartbeat
                // would: one behind them tells it nothing (behind a long
                // burst they came bunched, one per interval).
                session.last_tx_ns = now.mono_ns;
                self.push_to(slot, &GatewayHeartbeatMsg::new());
            }
        }
        self.finish_turn();
    }

    /// The runtime ticks every few milliseconds; a gap of more than
    /// [`STALL_CREDIT_AFTER_NS`] means the shard itself did not run (the
    /// process was stopped or frozen, the VM paused, the core starved).
    /// That time is not the clients' silence: it is credited to every
    /// session's idle timer, so the first tick after a resume, which may run
    /// before the readers have taken the bytes waiting in the sockets, does
    /// not end sessions that were active when the shard stopped.
    fn credit_own_stall(&mut self, now: Now) {
        let last = std::mem::replace(&mut self.last_tick_ns, now.mono_ns);
        let gap = now.mono_ns.saturating_sub(last);
        if last == 0 || gap <= STALL_CREDIT_AFTER_NS {
            return;
        }
        for slot in 0..self.sessions.capacity() {
            if let Some(session) = self.sessions.get_slot_mut(slot) {
                session.last_rx_ns = (session.last_rx_ns + gap).min(now.mono_ns);
                debug_assert!(session.last_rx_ns <= now.mono_ns);
            }
        }
        tracing::warn!(
            shard = self.id,
            stalled_ms = gap / 1_000_000,
            "shard did not run (stopped, frozen or starved): idle timers credited"
        );
    }
}
