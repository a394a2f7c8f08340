//! The per-shard write-ahead journal of engine commands.
//!
//! The engine is a pure state machine, so the journal stores its inputs,
//! not its state: every [`Command`] a shard's engine processes, in order,
//! each with a sequence number and the wall-clock time it arrived, and
//! the engine config they ran under: a `config_epoch` record ([`Entry`])
//! wherever a start brought a config other than the one in force. Replaying
//! them into a fresh engine, each command under its epoch's config
//! ([`restore`]), rebuilds the same books, order ids and positions.
//!
//! # Files and format
//!
//! One directory per shard holds the segments, a `LOCK` (flock) that
//! keeps a second writer out, and the engine config files that
//! `config_epoch` records name ([`config_file`]), each durable before the
//! record that names it is appended. Each segment is allocated to
//! `journal.segment_bytes`, written with zeros and fsynced (file and
//! directory) before it is used, so a store through the map is an
//! overwrite of blocks that exist on disk (see [`SegmentRequest`] for why
//! fallocate alone is not enough), and memory-mapped. The next segment is
//! created ahead of need on a blocking thread
//! ([`JournalWriter::spare_needed`]) under a `.spare` name and renamed when
//! the writer moves into it.
//!
//! The byte layout (segment header, record frame, every payload, config
//! files) is written down once, in `FORMAT.md` beside this file, which
//! `tests/journal/codec.rs` checks against [`layout`], [`codec`] and
//! [`config_file`]. What an operator needs (sync policies, recovery,
//! the tools) is in `docs/OPERATIONS.md`, "Journal".
//!
//! # Sync failures are fatal
//!
//! The first msync or fsync error of any kind poisons the writer
//! ([`JournalError::SyncFailed`]): every later append and sync returns the
//! same error, nothing is retried. The shard stops acknowledging and the
//! gateway stops with a non-zero exit. At the next start, recovery
//! re-dirties and re-syncs the last two segments, so pages the kernel
//! marked clean after the failed writeback are written again, or the
//! start refuses with the error.
//!
//! # Recovery ([`JournalWriter::open`])
//!
//! Segments are read in sequence order; every good record goes to the
//! replay callback. A damaged record (bad length, bad CRC, or a zero `len`
//! followed by stray bytes) with nothing but zeros after it, in the last
//! segment, is a torn tail: an append that never returned, hence never
//! acknowledged. It is logged, zeroed and synced, and its sequence number
//! is reused. Damage anywhere else (more data after it, later segments, a
//! bad header, a sequence gap, a record whose CRC holds but whose content
//! does not decode, a `config_epoch` whose config file is missing or
//! damaged) is corruption: `open` refuses with the file and offset, unless
//! asked to cut the journal there.
//!
//! # What the shard does around `append`
//!
//! Off the per-message path (timer or idle): create the segment
//! [`JournalWriter::spare_needed`] asks for on a blocking thread and hand it
//! to [`JournalWriter::install_spare`]; call [`JournalWriter::sync_if_due`]
//! (`interval`), [`JournalWriter::prefault_ahead`] (keeps the next pages
//! writable after the kernel's writeback write-protected them) and
//! [`JournalWriter::take_retired`] (unmap the previous segment elsewhere).
//! At shutdown, [`JournalWriter::sync_now`].

pub mod codec;
pub mod config_file;
pub mod head;
pub mod layout;
mod record_crc;
mod recovery;
mod restore;
mod scan;
mod segment;
mod tools;
mod writer;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{Command, EngineConfig, ReconfigureError};

pub use config_file::ConfigFileProblem;
pub use layout::HeaderError;
pub use layout::{
    parse_shard_dir_name, segment_file_name, shard_dir, FORMAT_VERSION, HEADER_BYTES,
    MAX_RECORD_BYTES, MIN_SEGMENT_BYTES,
};
pub use restore::{restore, restore_into, Replay, ReplaySink, Restored};
pub use scan::{first_config_epoch, CorruptReason};
pub use segment::{Segment, SegmentRequest};
pub use tools::{dump, run_cli, stats, verify, JournalSummary, ShardSummary};
pub use writer::{JournalStats, JournalWriter, FULL_RETRY_NS, PREFAULT_AHEAD_BYTES};

/// One journaled record as replay sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub ts_ns: u64,
    pub entry: Entry,
}

impl Record {
    /// The command, if the record holds one.
    pub fn command(&self) -> Option<&Command> {
        match &self.entry {
            Entry::Command(command) => Some(command),
            Entry::ConfigEpoch(_) | Entry::FeedEpoch(_) | Entry::StateChecksum(_) => None,
        }
    }
}

/// What a record holds: an engine command, or the start of a config epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Command(Command),
    /// Every later command ran under the engine configuration this names,
    /// until the next epoch (see [`config_file`]).
    ConfigEpoch(ConfigEpoch),
    /// The market-data feed epoch of the start that wrote it (written after
    /// recovery, before the start's first command; `docs/MARKET_DATA.md` 4.2).
    FeedEpoch(crate::market_data::FeedEpoch),
    /// The engine state after every earlier record has this digest
    /// ([`crate::engine::Engine::state_digest`]): replay checks it.
    StateChecksum(StateChecksum),
}

/// A digest of the engine's state at a point of the record stream, written
/// by the primary every `replication.checksum_interval_ms` (when records
/// were appended since the last one). Replay (a restart or `tradsys
/// follow`) computes the same digest at the same point and stops if the
/// two differ: the replica has diverged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateChecksum {
    pub digest: u64,
    /// Resting orders at that point (a cheap second witness, and what a
    /// reader of `dump` can check at a glance).
    pub resting_orders: u32,
}

impl StateChecksum {
    /// The checksum of `engine` as it is now.
    pub fn of(engine: &crate::engine::Engine) -> StateChecksum {
        StateChecksum {
            digest: engine.state_digest(),
            resting_orders: engine.resting_orders(),
        }
    }
}

impl From<Command> for Entry {
    fn from(command: Command) -> Entry {
        Entry::Command(command)
    }
}

/// Names one engine configuration: the digest and length of its canonical
/// encoding ([`config_file::encode`]), stored in the shard directory as
/// [`config_file::file_name`]`(digest)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigEpoch {
    pub digest: u64,
    pub config_bytes: u32,
}

impl ConfigEpoch {
    /// The epoch `config` would be recorded as.
    pub fn of(config: &EngineConfig) -> ConfigEpoch {
        let body = config_file::encode(config);
        // The length travels as a u32 (the record and the file's header).
        assert!(
            body.len() <= u32::MAX as usize,
            "config of {} bytes",
            body.len()
        );
        ConfigEpoch {
            digest: config_file::digest(&body),
            config_bytes: body.len() as u32,
        }
    }
}

/// What recovery found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records replayed.
    pub records: u64,
    /// Segments read (set-aside ones not counted).
    pub segments: u32,
    /// Sequence number of the last record replayed; 0 for an empty journal.
    pub last_seq: u64,
    /// A torn tail that was cut: the file and the offset of the partial record.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Corruption cut because the caller asked for it.
    pub truncated_corruption: Option<TruncatedCorruption>,
    pub elapsed: Duration,
}

/// Where the journal was cut and what was moved out of the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedCorruption {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: CorruptReason,
    /// Files renamed to `*.corrupt`: a copy of the damaged segment as it was
    /// (if its header was sound and it was kept), and every later segment.
    pub set_aside: Vec<PathBuf>,
}

#[derive(Debug)]
pub enum JournalError {
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// The journal cannot be read past `offset` of `file`.
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: CorruptReason,
    },
    /// The active segment has no room for the record and the next segment
    /// could not be created (`source`: ENOSPC, EDQUOT, EFBIG, EMFILE...).
    /// Nothing was appended; everything appended before is intact.
    Full {
        shard: u16,
        /// The sequence number the refused record would have had.
        seq: u64,
        source: io::Error,
    },
    /// An msync or fsync failed: what was written from `offset` of `file`
    /// on may not be on disk, and the kernel may already have marked those
    /// pages clean, so no retry can be trusted (PostgreSQL's "fsyncgate").
    /// The writer refuses every later append and sync with this same
    /// error; the gateway stops (fail-stop) and recovery re-writes the
    /// tail at the next start.
    SyncFailed {
        file: PathBuf,
        offset: u64,
        source: io::Error,
    },
    /// Another writer holds the shard directory.
    Locked { dir: PathBuf },
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// The engine cannot move from the config the journal was written
    /// under to the one it is asked to run with (`seq`: the `config_epoch`
    /// record that asked for it during replay; `None`: the current config
    /// at a start). The start stops: the change needs a fresh journal.
    ConfigChange {
        dir: PathBuf,
        seq: Option<u64>,
        error: ReconfigureError,
    },
    /// A `state_checksum` record at `seq` disagrees with the state replay
    /// reached there: this engine is not the one that wrote the journal
    /// (another build's matching rules, or a record changed in a way its
    /// CRC could not see). Nothing after it can be trusted.
    Diverged {
        seq: u64,
        expected: StateChecksum,
        found: StateChecksum,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, op, source } => {
                write!(f, "journal {op} {}: {source}", path.display())
            }
            JournalError::Corrupt {
                file,
                offset,
                reason,
            } => write!(
                f,
                "journal corrupt: {} at offset {offset}: {reason}",
                file.display()
            ),
            JournalError::Full { shard, seq, source } => write!(
                f,
                "journal of shard {shard} full at seq {seq}: next segment not created: {source}"
            ),
            JournalError::SyncFailed {
                file,
                offset,
                source,
            } => write!(
                f,
                "journal sync failed: {} from offset {offset}: {source} (records from there on may not be on disk; not retried)",
                file.display()
            ),
            JournalError::Locked { dir } => {
                write!(f, "journal {} is in use by another writer", dir.display())
            }
            JournalError::InvalidConfig { field, reason } => write!(f, "{field}: {reason}"),
            JournalError::ConfigChange {
                dir,
                seq: None,
                error,
            } => write!(
                f,
                "journal {}: the engine config changed in a way a restart cannot apply to the \
                 journaled state: {error}. This change needs a fresh journal directory: start \
                 from an empty journal.dir (keep the old one for the record), or restore the \
                 previous config",
                dir.display()
            ),
            JournalError::ConfigChange {
                dir,
                seq: Some(seq),
                error,
            } => write!(
                f,
                "journal {}: the config_epoch record at seq {seq} asks for a change the engine \
                 cannot apply: {error}",
                dir.display()
            ),
            JournalError::Diverged {
                seq,
                expected,
                found,
            } => write!(
                f,
                "state diverged at seq {seq}: the journal's state_checksum is {:016x} \
                 ({} resting orders), replay reached {:016x} ({} resting orders)",
                expected.digest, expected.resting_orders, found.digest, found.resting_orders
            ),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. }
            | JournalError::Full { source, .. }
            | JournalError::SyncFailed { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `map_err` helper: an I/O error with the path and operation it came from.
pub(crate) fn io_error(
    path: impl Into<PathBuf>,
    op: &'static str,
) -> impl FnOnce(io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::Io { path, op, source }
}
