//! Handing a session's queued bytes to the runtime's writer, and what the
//! runtime may ask about a session's state.

use super::ShardCore;
use crate::protocol::SessionEndReason;
use crate::shard::mesh::SessionRef;
use crate::shard::session::Phase;
use crate::telemetry::Stage;

/// What the writer of a session should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Bytes were swapped into the spare buffer: write them.
    Data,
    /// Nothing queued; wait for a notification.
    Idle,
    /// Everything including the final SessionEnd is out: close.
    Finished,
}

impl ShardCore {
    /// Hands a session's queued bytes to its writer (see [`Output`]).
    pub fn take_output(&mut self, id: SessionRef, spare: &mut Vec<u8>) -> Output {
        let Some(session) = self.sessions.get_mut(id) else {
            return Output::Finished;
        };
        if !session.outbox.is_empty() {
            let queued_ns = session.outbox.first_queued_ns();
            let read_ns = std::mem::take(&mut session.unanswered_since_ns);
            session.outbox.swap_out(spare);
            // Room in the outbox again: a reader paused on it may go on.
            session.reader.notify();
            // Handed over: the writer submits the write right away.
            let handed_ns = self.stamp();
            self.record_span(Stage::ReportOut, queued_ns, handed_ns);
            self.record_span(Stage::WireToWire, read_ns, handed_ns);
            assert!(!spare.is_empty(), "a non-empty outbox hands over bytes");
            Output::Data
        } else if session.is_ended() {
            Output::Finished
        } else {
            Output::Idle
        }
    }

    /// The socket took part of a write to the session's client that waits
    /// on it: the client reads (the slow-consumer timer asks).
    pub fn client_took_bytes(&mut self, id: SessionRef) {
        if let Some(session) = self.sessions.get_mut(id) {
            session.outbox.note_taken();
        }
        debug_assert_eq!(id.shard, self.id, "a session's writer runs on its shard");
    }

    /// Whether a session has ended (or is gone): its reader stops.
    pub fn session_ended(&self, id: SessionRef) -> bool {
        self.sessions.get(id).is_none_or(|s| s.is_ended())
    }

    /// Why a session ended, while its slot is still held (`None`: it is
    /// active, gone, or its connection went first). The WebSocket writer
    /// picks its Close code from it.
    pub fn session_end_reason(&self, id: SessionRef) -> Option<SessionEndReason> {
        let reason = match self.sessions.get(id)?.phase {
            Phase::Ended(reason) => reason,
            Phase::Active { .. } => None,
        };
        debug_assert!(reason.is_none() || self.session_ended(id));
        reason
    }

    /// Sessions holding a slot on this shard.
    pub fn live_sessions(&self) -> usize {
        let live = self.sessions.live();
        debug_assert!(live <= self.sessions.capacity() as usize);
        live
    }
}
