//! One shard's replica on a follower: an engine brought forward by the
//! primary's records with the recovery code ([`Replay`], the same that a
//! restart runs), and a local journal of the same records (same seq, same
//! ts_ns, same bytes) so that promoting the follower is a plain start of
//! the gateway on that journal (docs/OPERATIONS.md, "Promotion").
//!
//! Records must come in seq order without a gap: a duplicate (a record the
//! replica already has) is skipped, anything else out of order is an
//! error. Each record is journaled before it is applied, as on the
//! primary, so a follower killed at any point restarts from its journal.

use std::fmt;
use std::path::PathBuf;

use crate::config::{Config, JournalConfig};

use crate::engine::Engine;
use crate::journal::{self, config_file, JournalError, JournalWriter, Replay};
use crate::shard::md::{RelayMsg, RelayTap};

use super::message::Shipped;

/// Why a replica stopped.
#[derive(Debug)]
pub enum ReplicaError {
    /// The stream skipped records: `expected` is the next seq the replica
    /// needs, `found` what came.
    Gap {
        shard: u16,
        expected: u64,
        found: u64,
    },
    /// The local journal refused (a full disk, a failed sync) or replay
    /// refused (divergence at a `state_checksum`, a config it cannot take).
    Journal { shard: u16, error: JournalError },
}

impl fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaError::Gap {
                shard,
                expected,
                found,
            } => write!(
                f,
                "shard {shard}: the stream skipped records: expected seq {expected}, got {found}"
            ),
            ReplicaError::Journal { shard, error } => write!(f, "shard {shard}: {error}"),
        }
    }
}

/// What [`ShardReplica::apply`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Already in the replica (a redelivery): skipped.
    Duplicate,
}

/// One shard's replica (see the module doc).
pub struct ShardReplica {
    pub shard: u16,
    dir: PathBuf,
    engine: Engine,
    writer: JournalWriter,
    replay: Replay,
}

impl ShardReplica {
    /// Opens (or creates) the replica's journal under `config.journal.dir`
    /// and replays it, so the replica continues where it stopped. Each
    /// record's events go through `tap`, then to `taken` with the record's
    /// seq (the follower rebuilds its relays' feed from them, and drop copy
    /// keeps the last fills to publish again).
    pub fn open(
        config: &Config,
        shard: u16,
        tap: &mut RelayTap,
        mut taken: impl FnMut(u64, &mut RelayTap),
    ) -> Result<ShardReplica, ReplicaError> {
        let dir = journal::shard_dir(&config.journal.dir, shard);
        let journal_error = |error| ReplicaError::Journal { shard, error };
        std::fs::create_dir_all(&dir).map_err(|e| {
            journal_error(JournalError::Io {
                path: dir.clone(),
                op: "create",
                source: e,
            })
        })?;
        let mut engine = Engine::new(&config.engine_config(shard as usize));
        let mut replay = Replay::replica(&dir);
        let cfg: &JournalConfig = &config.journal;
        let (writer, report) = JournalWriter::open(&dir, shard, cfg, false, |record| {
            tap.clear();
            replay.apply_into(&mut engine, record, tap);
            taken(record.seq, tap);
        })
        .map_err(journal_error)?;
        if let Some(error) = replay.take_failure() {
            return Err(journal_error(error));
        }
        assert_eq!(writer.next_seq(), report.last_seq + 1);
        Ok(ShardReplica {
            shard,
            dir,
            engine,
            writer,
            replay,
        })
    }

    /// The feed epoch of the last `feed_epoch` record applied.
    pub fn feed_epoch(&self) -> Option<crate::market_data::FeedEpoch> {
        self.replay.feed_epoch()
    }

    /// The seq of the next record the replica needs.
    pub fn next_seq(&self) -> u64 {
        self.writer.next_seq()
    }

    /// The replica's shard directory (its journal, and the follower's
    /// resume hint, `resume.rs`).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `state_checksum` records verified since this replica opened.
    pub fn checksums_verified(&self) -> u64 {
        self.replay.checksums_verified()
    }

    /// Journals then applies one shipped record: its events, and its
    /// relay messages (a new feed epoch among them), to `tap`, cleared
    /// first.
    pub fn apply(
        &mut self,
        shipped: &Shipped,
        tap: &mut RelayTap,
    ) -> Result<Applied, ReplicaError> {
        tap.clear();
        let shard = self.shard;
        let expected = self.next_seq();
        let seq = shipped.record.seq;
        if seq < expected {
            return Ok(Applied::Duplicate);
        }
        if seq > expected {
            return Err(ReplicaError::Gap {
                shard,
                expected,
                found: seq,
            });
        }
        let journal_error = |error| ReplicaError::Journal { shard, error };
        if let Some(body) = &shipped.config_body {
            // Durable before the record that names it, as on the primary.
            config_file::write(&self.dir, body).map_err(journal_error)?;
        }
        self.writer
            .append_replica(&shipped.record)
            .map_err(journal_error)?;
        let epoch = self.replay.feed_epoch();
        self.replay
            .apply_into(&mut self.engine, &shipped.record, tap);
        if let Some(error) = self.replay.take_failure() {
            return Err(journal_error(error));
        }
        if let Some(new) = self.replay.feed_epoch().filter(|e| Some(*e) != epoch) {
            tap.relay.push(RelayMsg::Epoch(new));
        }
        assert_eq!(self.next_seq(), seq + 1);
        Ok(Applied::Applied)
    }

    /// Makes the local journal durable (at a stop).
    pub fn sync(&mut self) -> Result<(), ReplicaError> {
        let shard = self.shard;
        self.writer
            .sync_now()
            .map_err(|error| ReplicaError::Journal { shard, error })
    }
}
