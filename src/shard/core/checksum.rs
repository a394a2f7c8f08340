//! Periodic state checksums: on the shard's timer, when
//! `replication.checksum_interval_ms` passed and the journal grew since the
//! last one, the shard journals a digest of its engine's state
//! (`state_checksum`). Replay, here at a restart or in `tradsys follow` on
//! another host, computes the same digest at the same record and stops if
//! they differ. It runs between commands, never inside one, so the digest
//! is exactly the state after the records before it.

use super::{Now, ShardCore};
use crate::journal::{JournalError, StateChecksum};

impl ShardCore {
    /// Journals a `state_checksum` record if one is due (see the module
    /// doc). A full journal skips it (the next tick tries again); a failed
    /// sync is the journal's fail-stop.
    pub(super) fn checksum_if_due(&mut self, now: Now) {
        let interval_ms = self.shared.config.replication.checksum_interval_ms;
        if interval_ms == 0 {
            return;
        }
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        if !journal.checksum_due(now.wall_ns, interval_ms.saturating_mul(1_000_000)) {
            return;
        }
        let checksum = StateChecksum::of(&self.engine);
        let next_seq = journal.next_seq();
        match journal.append_state_checksum(now.wall_ns, checksum) {
            Ok(seq) => assert_eq!(seq, next_seq, "the checksum takes the next seq"),
            Err(JournalError::Full { .. }) => {}
            Err(error) => self.fail_stop(&error),
        }
    }
}
