//! Operator commands on the shard: taken off the admin thread's ring on the
//! tick and run like any command (write-ahead: journaled, then executed;
//! their reports go to the sessions they concern), each logged with the
//! operator who gave it. How many ran and how many the journal refused is
//! published for the admin thread, which reports the outcome.

use super::{Now, ShardCore};
use crate::telemetry::board::publish;

impl ShardCore {
    /// Runs every operator command waiting on this shard's ring.
    pub(super) fn run_operator_requests(&mut self, now: Now) {
        let Some(ring) = self.operator_ring.as_mut() else {
            return;
        };
        if ring.is_empty() {
            return;
        }
        while let Some(request) = self.operator_ring.as_mut().and_then(|r| r.pop().ok()) {
            let refused_before = self.counters.journal_refusals;
            self.run_engine(&request.command, None, 0, now);
            let refused = self.counters.journal_refusals > refused_before;
            // Account 0 does not exist: the admin thread's own schedule.
            let operator = self
                .shared
                .account_index(request.operator)
                .map_or("schedule", |i| self.shared.account(i).name.as_str());
            if refused {
                self.operator_refused += 1;
                tracing::warn!(shard = self.id, %operator, command = ?request.command, "operator command refused: the journal cannot take it");
            } else {
                self.operator_applied += 1;
                tracing::info!(shard = self.id, %operator, command = ?request.command, "operator command");
            }
        }
        let board = &self.shared.telemetry.shards[self.id as usize];
        publish(&board.operator_applied, self.operator_applied);
        publish(&board.operator_refused, self.operator_refused);
        self.finish_turn();
    }
}
