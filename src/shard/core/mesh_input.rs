//! What other shards sent this one: commands for its engine, and reports
//! and answers for its sessions. Drained in bounded batches per ring so
//! one busy peer cannot starve this shard's sockets.

use super::order_entry::status_answer;
use super::{Now, ShardCore, MESH_BATCH};
use crate::shard::mesh::MeshMsg;
use crate::telemetry::Stage;

impl ShardCore {
    /// Drains every inbound ring and the overflow queues. Returns how many
    /// messages were handled.
    pub fn poll_mesh(&mut self, now: Now) -> usize {
        debug_assert_eq!(self.inbox.shards(), self.shared.config.shard_count());
        self.loop_turn_begins();
        self.try_finish_start();
        let mut handled = self.sender.flush_overflow();
        for from in 0..self.inbox.shards() {
            for _ in 0..MESH_BATCH {
                let Some(msg) = self.inbox.pop(from) else {
                    break;
                };
                handled += 1;
                self.counters.mesh_in += 1;
                self.on_mesh(msg, now);
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
        });
    }

    fn on_mesh(&mut self, msg: MeshMsg, now: Now) {
        debug_assert!(self.inbox.shards() > 1, "mesh input needs another shard");
        self.check_destination(&msg);
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
            } => self.sessions.mass_cancel_done(dest, request_id, canceled),
            MeshMsg::Public { event, ts_ns } => self.on_public(&event, ts_ns),
            MeshMsg::EndOfDay { owner, ts_ns } => self.market.end_of_day_of(owner, ts_ns),
        }
    }

    /// This shard's mesh traffic counters: (sent to each shard, received
    /// from each shard).
    pub fn traffic(&self) -> (&[u64], &[u64]) {
        (self.sender.sent(), self.inbox.received())
    }

    /// Whether ring input is waiting (a parked shard re-checks this).
    pub fn mesh_pending(&self) -> bool {
        self.inbox.pending() || self.sender.overflow_pending()
    }
}
