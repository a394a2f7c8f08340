//! What other shards sent this one: commands for its engine, and reports
//! and answers for its sessions. Drained in bounded batches per ring so
//! one busy peer cannot starve this shard's sockets.

use super::order_entry::status_answer;
use super::{Now, ShardCore, MESH_BATCH};
use crate::shard::mesh::{MeshMsg, SessionRef};
use crate::telemetry::Stage;

/// Messages handled between two rings of the doorbells due (see
/// `poll_mesh`).
const DOORBELL_EVERY: usize = 64;

/// The session an answer another shard owed is for (a Logout waits for
/// them: `finish_logout`).
fn answered_session(msg: &MeshMsg) -> Option<SessionRef> {
    match *msg {
        MeshMsg::Processed { dest }
        | MeshMsg::Status { dest, .. }
        | MeshMsg::Answer { dest, .. }
        | MeshMsg::MassCancelDone { dest, .. }
        | MeshMsg::ReplayMarked { dest, .. } => Some(dest),
        _ => None,
    }
}

impl ShardCore {
    /// Drains every inbound ring and the overflow queues. Returns how many
    /// messages were handled.
    pub fn poll_mesh(&mut self, now: Now) -> usize {
        debug_assert_eq!(self.inbox.shards(), self.shared.config.shard_count());
        self.loop_turn_begins();
        self.try_finish_start();
        let mut handled = self.sender.flush_overflow();
        handled += self.resync_replicas();
        for from in 0..self.inbox.shards() {
            let (queued, full) = self.inbox.queued(from);
            let mut taken = 0;
            for _ in 0..MESH_BATCH {
                let Some(msg) = self.inbox.pop(from) else {
                    break;
                };
                taken += 1;
                handled += 1;
                self.counters.mesh_in += 1;
                if let MeshMsg::Resync { symbol } = msg {
                    self.take_resync(from, symbol);
                } else {
                    self.on_mesh(msg, now);
                }
                if taken % DOORBELL_EVERY == 0 {
                    // A long drain (thousands of another shard's commands)
                    // must not hold back the doorbells of what it sent:
                    // their receivers would sleep on work until this turn
                    // ends (a replica's feed was seconds stale that way).
                    self.sender.ring_doorbells(&self.shared.doorbells);
                }
            }
            // Room made in a ring that was full (or filled while it was
            // read): its owner may have parked with a stale symbol for
            // this replica that it could not ship for want of room.
            if taken > 0 && (full || taken > queued) {
                self.sender.wake(from);
            }
        }
        // Replays on logon move their batches after the rings' input, so
        // live reports of this poll are in the outboxes first.
        handled += self.poll_replays();
        self.finish_turn();
        self.loop_turn_ends(handled);
        handled
    }

    fn check_destination(&self, msg: &MeshMsg) {
        // Whatever names a session arrives on that session's shard, and
        // commands come from other shards (local ones run inline).
        debug_assert!(match *msg {
            MeshMsg::Command { origin, .. } => origin.is_none_or(|o| o.shard != self.id),
            MeshMsg::StatusRequest { origin, .. }
            | MeshMsg::Query { origin, .. }
            | MeshMsg::ReplayMark { origin, .. } => origin.shard != self.id,
            MeshMsg::Report { dest, .. }
            | MeshMsg::Answer { dest, .. }
            | MeshMsg::Processed { dest }
            | MeshMsg::Status { dest, .. }
            | MeshMsg::MassCancelDone { dest, .. }
            | MeshMsg::ReplayMarked { dest, .. } => dest.shard == self.id,
            MeshMsg::Public { .. } => true,
            MeshMsg::EndOfDay { owner, .. } => owner != self.id,
            MeshMsg::Resync { .. } => false, // taken by poll_mesh
        });
    }

    fn on_mesh(&mut self, msg: MeshMsg, now: Now) {
        debug_assert!(self.inbox.shards() > 1, "mesh input needs another shard");
        self.check_destination(&msg);
        let answered = answered_session(&msg);
        if !matches!(msg, MeshMsg::Public { .. } | MeshMsg::EndOfDay { .. }) {
            self.counters.order_entry_mesh_in += 1;
        }
        match msg {
            MeshMsg::Command {
                origin,
                request_id,
                command,
                sent_ns,
            } => {
                let taken = if sent_ns != 0 { self.stamp() } else { 0 };
                self.record_span(Stage::MeshHop, sent_ns, taken);
                // The sending shard's sampling decides (no stamp: skipped),
                // so a sampled command has all its stages.
                self.telemetry.command_sampled = sent_ns != 0 || !self.telemetry.recorder.enabled();
                self.run_engine(&command, origin, request_id, now);
                self.telemetry.command_sampled = true;
                // After the command's reports on the same ring: when it
                // arrives, every report for the origin session is in.
                if let Some(origin) = origin {
                    self.sender.processed(origin);
                }
            }
            MeshMsg::Processed { dest } => self.sessions.command_done(dest),
            MeshMsg::ReplayMark { .. } | MeshMsg::ReplayMarked { .. } => self.on_replay_mesh(msg),
            MeshMsg::StatusRequest {
                origin,
                account,
                request,
            } => {
                let status = status_answer(&self.engine, account, &request);
                self.sender.status(origin, status);
            }
            MeshMsg::Query {
                origin,
                account,
                query,
            } => self.remote_query(origin, account, &query),
            MeshMsg::Answer {
                dest,
                answer,
                releases,
            } => self.remote_answer(dest, &answer, releases),
            MeshMsg::Report {
                dest,
                event,
                number,
            } => self
                .sessions
                .deliver_report(dest, &event, number, now.wall_ns),
            MeshMsg::Status { dest, status } => {
                self.sessions.command_done(dest);
                if self.sessions.get(dest).is_some_and(|s| !s.is_ended()) {
                    self.push_to(dest.slot, &status);
                }
            }
            MeshMsg::MassCancelDone {
                dest,
                request_id,
                canceled,
                refused,
            } => self
                .sessions
                .mass_cancel_done(dest, request_id, canceled, refused),
            MeshMsg::Public { event, ts_ns } => self.on_public(&event, ts_ns),
            MeshMsg::EndOfDay { owner, ts_ns } => self.market.end_of_day_of(owner, ts_ns),
            MeshMsg::Resync { .. } => {}
        }
        if let Some(dest) = answered {
            self.finish_logout(dest);
        }
    }

    /// Owner side of the public-event bound (`sender.rs`): ships its state
    /// of each stale symbol to a replica that has drained its overflow,
    /// one at a time per replica (one buffer per pair). Returns how many.
    fn resync_replicas(&mut self) -> usize {
        let mut shipped = 0;
        for to in (0..self.inbox.shards()).filter(|&to| to != self.id as usize) {
            let Some(symbol) = self.sender.resync_due(to) else {
                continue;
            };
            let Some(mut state) = self.resync.buffer(to) else {
                continue; // the last one is still on its way back
            };
            let copied = self.market.feed().copy_symbol(symbol, &mut state);
            assert!(copied, "this shard's replica has its own symbols");
            self.resync.ship(to, state);
            self.sender.resynced(to, symbol);
            shipped += 1;
        }
        shipped
    }

    /// Replica side: owner `from` shipped `symbol`'s state before this
    /// marker; take it, close the symbol's subscribers here (4002), give
    /// the buffer back.
    fn take_resync(&mut self, from: usize, symbol: crate::engine::SymbolId) {
        let Some(mut state) = self.resync.arrived(from) else {
            debug_assert!(false, "the state travels before its marker");
            tracing::error!(from, symbol, "market data: resync without its state");
            return;
        };
        assert_eq!(state.symbol(), symbol, "the state of the symbol named");
        self.market.resync(&mut state);
        self.resync.give_back(from, state);
        // The owner may be parked with another stale symbol for this
        // replica, waiting for the buffer.
        self.sender.wake(from);
    }

    /// This shard's mesh traffic counters: (sent to each shard, received
    /// from each shard).
    pub fn traffic(&self) -> (&[u64], &[u64]) {
        (self.sender.sent(), self.inbox.received())
    }

    /// Messages waiting in the overflow to shard `to`, and the most public
    /// events it may hold (tests of the public-event bound).
    pub fn mesh_overflow(&self, to: usize) -> (usize, usize) {
        debug_assert!(to < self.inbox.shards(), "shard {to} is configured");
        (self.sender.overflow_len(to), self.sender.public_bound())
    }

    /// (public events withheld from stale replicas, times a replica's
    /// symbol went stale).
    pub fn public_counts(&self) -> (u64, u64) {
        let counts = self.sender.public_counts();
        debug_assert!(counts.1 <= counts.0);
        counts
    }

    /// Whether ring input is waiting, or a stale replica's resync can go
    /// (a parked shard re-checks this).
    pub fn mesh_pending(&self) -> bool {
        self.inbox.pending()
            || self.sender.overflow_pending()
            || self.sender.resync_ready(|to| self.resync.has_buffer(to))
    }
}
