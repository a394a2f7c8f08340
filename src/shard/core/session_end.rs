//! How sessions end: SessionEnd queued with its reason and the expected
//! sequence, the account's directory entry removed, cancel-on-disconnect
//! sent to every trading shard, one bounded log line per session; and the
//! close that frees the slot once the connection is gone.

use std::sync::Arc;

use super::{wall_clock_ns, Now, ShardCore};
use crate::engine::{CancelReason, Command};
use crate::protocol::*;
use crate::shard::admission::Peer;
use crate::shard::mesh::SessionRef;
use crate::shard::session::Phase;

impl ShardCore {
    /// Ends a session: queues SessionEnd, unregisters it, and runs
    /// cancel-on-disconnect. Idempotent.
    /// SessionEnd carries the client `seq` the gateway expected next.
    pub fn end_session(&mut self, slot: u16, reason: SessionEndReason) {
        // The commands read before the end run before it (and before its
        // cancel-on-disconnect).
        self.flush_batch();
        let Some(session) = self.sessions.get_slot_mut(slot) else {
            return;
        };
        if session.is_ended() {
            return;
        }
        let phase = session.phase;
        session.phase = Phase::Ended(Some(reason));
        let expected_seq = session.expected_seq;
        session
            .outbox
            .push_final(&SessionEndMsg::new(reason, expected_seq));
        let account = phase.account();
        let (peer, messages_in) = (session.peer, session.messages_in);
        let messages_out = session.outbox.next_seq().wrapping_sub(1);
        session.writer.notify();
        // A paused reader stops now: an ended session reads nothing more.
        session.reader.notify();
        // Once per session, never per message: operators need to see why a
        // bot was cut off. Bounded like every line a client can cause.
        if let Some(suppressed) = self.lifecycle_log.allow() {
            tracing::info!(
                shard = self.id,
                slot,
                account,
                peer = %Peer(peer),
                ?reason,
                expected_seq,
                messages_in,
                messages_out,
                suppressed,
                "session ended"
            );
        }
        if reason == SessionEndReason::SlowConsumer {
            self.counters.slow_consumers += 1;
        }
        self.after_end(slot, phase);
        debug_assert!(self
            .sessions
            .get_slot(slot)
            .is_some_and(|s| s.is_ended() && s.outbox.is_sealed()));
    }

    /// The client's Logout: the session ends once every request read
    /// before it is answered. Local commands run first (`end_session`
    /// flushes the batch); answers other shards owe it are waited for
    /// ([`ShardCore::finish_logout`]), reading nothing more meanwhile.
    pub(super) fn logout(&mut self, slot: u16) {
        self.flush_batch();
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        debug_assert!(session.is_active() && !session.logout_requested);
        if session.owed_nothing() {
            self.end_session(slot, SessionEndReason::Logout);
        } else {
            session.logout_requested = true;
        }
    }

    /// Another shard answered the session: if it asked to log out and is
    /// owed nothing more, it ends now.
    pub(super) fn finish_logout(&mut self, dest: SessionRef) {
        let due = self
            .sessions
            .get(dest)
            .is_some_and(|s| s.logout_requested && !s.is_ended() && s.owed_nothing());
        if due {
            self.end_session(dest.slot, SessionEndReason::Logout);
        }
        debug_assert!(!due || self.sessions.get(dest).is_some_and(|s| s.is_ended()));
    }

    /// A WebSocket session's client broke a transport rule: the session
    /// ends with `SessionEnd(TransportError)`, as a framing error ends a
    /// TCP session (the writer then sends the Close frame that says which
    /// rule).
    /// The line before the session's own names the rule and the close
    /// code, which `reason=TransportError` alone does not.
    pub fn end_transport(&mut self, id: SessionRef, close_code: u16, rule: &dyn std::fmt::Debug) {
        assert_eq!(id.shard, self.id, "a session ends on its own shard");
        if let Some(session) = self.sessions.get(id) {
            if let Some(suppressed) = self.lifecycle_log.allow() {
                tracing::info!(
                    shard = self.id,
                    slot = id.slot,
                    account = session.phase.account(),
                    peer = %Peer(session.peer),
                    close_code,
                    ?rule,
                    suppressed,
                    "WebSocket order entry: the client broke a WebSocket rule"
                );
            }
            self.end_session(id.slot, SessionEndReason::TransportError);
        }
        self.finish_turn();
    }

    /// The connection is gone (closed by the peer, broken, or finished
    /// after SessionEnd): ends the session if it was not, frees the slot.
    pub fn close_session(&mut self, id: SessionRef) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let phase = session.phase;
        if !session.is_ended() {
            // The connection went first (closed, reset, broken): no
            // SessionEnd was sent, but the operator still gets the line.
            session.phase = Phase::Ended(None);
            let (peer, messages_in) = (session.peer, session.messages_in);
            let messages_out = session.outbox.next_seq().wrapping_sub(1);
            if let Some(suppressed) = self.lifecycle_log.allow() {
                let account = phase.account();
                tracing::info!(
                    shard = self.id,
                    slot = id.slot,
                    account,
                    peer = %Peer(peer),
                    reason = "connection closed by the client or broken",
                    messages_in,
                    messages_out,
                    suppressed,
                    "session ended"
                );
            }
            self.after_end(id.slot, phase);
        }
        let session = self.sessions.get_mut(id).expect("still there");
        session.writer.notify();
        session.reader.notify();
        self.sessions.remove(id);
        assert!(
            self.sessions.get(id).is_none(),
            "a closed session's slot is free"
        );
        self.counters.sessions_ended += 1;
        self.finish_turn();
    }

    fn after_end(&mut self, slot: u16, phase: Phase) {
        let Phase::Active {
            account,
            account_index,
            cancel_on_disconnect,
            ..
        } = phase
        else {
            return;
        };
        let me = self.me(slot);
        debug_assert!(self.sessions.get(me).is_some_and(|s| s.is_ended()));
        self.shared.directory.unregister(account_index, me);
        if !cancel_on_disconnect {
            return;
        }
        let command = Command::MassCancel {
            account,
            symbol: None,
            reason: CancelReason::Disconnect,
        };
        let now = Now {
            mono_ns: 0,
            wall_ns: wall_clock_ns(),
        };
        let shared = Arc::clone(&self.shared);
        for &owner in &shared.trading_shards {
            if owner == self.id {
                self.run_engine(&command, None, 0, now);
            } else {
                self.sender.command(owner, None, 0, command, 0);
            }
        }
    }

    /// Sessions the router found too slow while the engine ran: end them now
    /// that the engine is no longer borrowed.
    pub(super) fn finish_deferred_ends(&mut self) {
        while let Some(slot) = self.sessions.take_deferred_end() {
            self.end_session(slot, SessionEndReason::SlowConsumer);
        }
        debug_assert!(!self.sessions.ends_deferred());
    }

    /// Ends every session with SessionEnd(Shutdown), or
    /// SessionEnd(JournalFailure) when the gateway is failing-stop.
    pub fn shut_down_sessions(&mut self) {
        let reason = self.shared.shutdown_end_reason();
        for slot in 0..self.sessions.capacity() {
            self.end_session(slot, reason);
        }
        self.finish_turn();
        debug_assert!((0..self.sessions.capacity())
            .all(|slot| self.sessions.get_slot(slot).is_none_or(|s| s.is_ended())));
    }
}
