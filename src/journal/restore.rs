//! Bringing a shard's engine back from its journal: each command replayed
//! under the engine config it first ran under, then the current config
//! applied from this start on and recorded as a new epoch.
//!
//! The journal holds commands, and the engine's answer to a command
//! depends on its config. A `config_epoch` record ([`ConfigEpoch`]) marks
//! where a config came into force; its full encoding is a file beside the
//! segments ([`config_file`]). So:
//!
//! 1. The engine starts from the config of the journal's first epoch (a
//!    journal written before epochs existed has records before it: they
//!    are replayed under that first epoch's config too, which is the config
//!    they were replayed under at the start that wrote the epoch). A
//!    journal with no epoch at all is replayed under the current config,
//!    as it always was.
//! 2. Each `config_epoch` record met during replay reconfigures the engine
//!    ([`Engine::reconfigure`]) from its file, at exactly the point of the
//!    command stream where the live engine took it.
//! 3. After replay, if the current config is not the one in force, the
//!    engine takes it and a new epoch is appended (file first, then the
//!    record) before anything is served. A change the engine cannot apply
//!    in place (other symbol or account ids, other capacities) stops the
//!    start: it needs a fresh journal.

use std::path::{Path, PathBuf};

use crate::config::JournalConfig;
use crate::engine::{Engine, EngineConfig, EventSink};

use super::scan::first_config_epoch;
use super::StateChecksum;
use super::{config_file, ConfigEpoch, CorruptReason, Entry, JournalError, JournalWriter};
use super::{Record, RecoveryReport};

/// What [`restore`] did besides replaying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub report: RecoveryReport,
    /// `config_epoch` records met during replay.
    pub epochs_replayed: u64,
    /// The journal's first epoch, whose config the engine started from.
    pub first_epoch: Option<ConfigEpoch>,
    /// The epoch this start appended (the current config differed from
    /// the one in force, or the journal had none) and its seq.
    pub new_epoch: Option<(ConfigEpoch, u64)>,
    /// The last `feed_epoch` record replayed (the market-data feed epoch of
    /// the previous start).
    pub feed_epoch: Option<crate::market_data::FeedEpoch>,
}

/// Opens the journal in `shard_dir` and brings `engine` to the state the
/// journal describes, then to `current` (see the module doc). `engine`
/// must be fresh and built from `current`; it is rebuilt from the first
/// epoch's config when that differs. Every event of the replay goes to
/// `sink`. `now_ns` stamps the epoch record this start may append.
///
/// Errors: everything [`JournalWriter::open`] refuses; a missing or damaged
/// config file at an epoch record is corruption at that record (cut there
/// when `truncate_corrupt_journal`, like any other); a config change the
/// engine cannot apply is [`JournalError::ConfigChange`], refused before
/// anything is replayed when the journal's first epoch already shows it.
#[allow(clippy::too_many_arguments)]
pub fn restore<S: EventSink>(
    shard_dir: &Path,
    shard: u16,
    cfg: &JournalConfig,
    truncate_corrupt_journal: bool,
    engine: &mut Engine,
    current: &EngineConfig,
    now_ns: u64,
    sink: &mut S,
) -> Result<(JournalWriter, Restored), JournalError> {
    restore_into(
        shard_dir,
        shard,
        cfg,
        truncate_corrupt_journal,
        engine,
        current,
        now_ns,
        &mut EventsOnly(sink),
    )
}

/// A replay's events together with the records they come from: what the
/// market-data feed needs to rebuild itself (each event stamped with its
/// command's journal time, end of day after its events).
pub trait ReplaySink: EventSink {
    /// Before the events of the command in `record`.
    fn before(&mut self, record: &Record);
    /// After them.
    fn after(&mut self, record: &Record);
}

/// A plain event sink as a [`ReplaySink`] that ignores the records.
pub struct EventsOnly<'a, S>(pub &'a mut S);

impl<S: EventSink> EventSink for EventsOnly<'_, S> {
    fn emit(&mut self, event: &crate::engine::Event) {
        self.0.emit(event);
    }
}

impl<S: EventSink> ReplaySink for EventsOnly<'_, S> {
    fn before(&mut self, record: &Record) {
        debug_assert!(record.command().is_some(), "called around commands only");
    }

    fn after(&mut self, record: &Record) {
        debug_assert!(record.command().is_some(), "called around commands only");
    }
}

/// [`restore`], telling `sink` which record each replayed event comes from.
#[allow(clippy::too_many_arguments)]
pub fn restore_into<S: ReplaySink>(
    shard_dir: &Path,
    shard: u16,
    cfg: &JournalConfig,
    truncate_corrupt_journal: bool,
    engine: &mut Engine,
    current: &EngineConfig,
    now_ns: u64,
    sink: &mut S,
) -> Result<(JournalWriter, Restored), JournalError> {
    let change = |seq, error| JournalError::ConfigChange {
        dir: shard_dir.to_path_buf(),
        seq,
        error,
    };
    let current_epoch = ConfigEpoch::of(current);
    // The epoch whose config the engine has.
    let mut in_force = None;
    let first_epoch = first_config_epoch(shard_dir, shard)?.map(|(_, epoch)| epoch);
    if let Some(epoch) = first_epoch {
        // A file that cannot be read is left to recovery, which refuses (or
        // cuts) at its record with the reason; then the engine has not left
        // `current`, which is right for whatever comes before the cut.
        if let Ok(first) = config_file::read(shard_dir, epoch) {
            // Every epoch of a journal has the shape of its first (each was
            // reached by `reconfigure`), so a shape change is known now,
            // before a replay of any length.
            first
                .reconfigurable_to(current)
                .map_err(|e| change(None, e))?;
            if first != *current {
                *engine = Engine::new(&first);
            }
            in_force = Some(epoch);
        }
    }

    let mut replay = Replay::new(shard_dir, in_force);
    let (mut writer, report) =
        JournalWriter::open(shard_dir, shard, cfg, truncate_corrupt_journal, |record| {
            replay.apply_into(engine, record, sink);
        })?;
    let feed_epoch = replay.feed_epoch();
    let (in_force, epochs_replayed) = replay.finish()?;

    let mut new_epoch = None;
    if in_force != Some(current_epoch) {
        engine.reconfigure(current).map_err(|e| change(None, e))?;
        let (epoch, seq) = writer.append_config_epoch(now_ns, current)?;
        // Recorded right after the last record replayed, for this config.
        assert_eq!(seq, report.last_seq + 1);
        assert_eq!(epoch, current_epoch);
        new_epoch = Some((epoch, seq));
    }
    // The writer continues where replay stopped.
    assert_eq!(
        writer.next_seq(),
        report.last_seq + 1 + new_epoch.is_some() as u64
    );
    assert!(epochs_replayed <= report.records);
    Ok((
        writer,
        Restored {
            report,
            epochs_replayed,
            first_epoch,
            new_epoch,
            feed_epoch,
        },
    ))
}

/// How one record changes an engine: the one copy of it, shared by a
/// restart ([`restore`]) and by `tradsys follow`, so a replica runs the
/// recovery code and nothing else. A command goes to the engine; a
/// `config_epoch` reconfigures it from its file in `dir` (a replica writes
/// the file there before it hands the record over); a `state_checksum`
/// is compared with the engine's own. The first failure is kept and every
/// later record ignored: nothing after it can be trusted.
pub struct Replay {
    dir: PathBuf,
    /// The epoch whose config the engine has (`None`: not known yet; the
    /// first epoch met then builds the engine from its config).
    in_force: Option<ConfigEpoch>,
    /// A replica that has applied nothing yet: its first epoch builds the
    /// engine (a restart builds it before replay instead).
    build_from_first: bool,
    epochs: u64,
    checksums: u64,
    /// The last `feed_epoch` record met.
    feed_epoch: Option<crate::market_data::FeedEpoch>,
    failed: Option<JournalError>,
    /// Set with the first failure and never cleared, even when the
    /// failure is taken.
    poisoned: bool,
}

impl Replay {
    /// A restart's replay: `engine` already has the config of `in_force`.
    pub fn new(dir: &Path, in_force: Option<ConfigEpoch>) -> Replay {
        Replay {
            dir: dir.to_path_buf(),
            in_force,
            build_from_first: false,
            epochs: 0,
            checksums: 0,
            feed_epoch: None,
            failed: None,
            poisoned: false,
        }
    }

    /// A replica's replay from the first record of a journal (which is its
    /// first `config_epoch`): the engine is built from that epoch's config.
    pub fn replica(dir: &Path) -> Replay {
        Replay {
            build_from_first: true,
            ..Replay::new(dir, None)
        }
    }

    /// Applies one record (in sequence order) to `engine`.
    pub fn apply<S: EventSink>(&mut self, engine: &mut Engine, record: &Record, sink: &mut S) {
        let epochs = self.epochs;
        self.apply_into(engine, record, &mut EventsOnly(sink));
        debug_assert!(self.epochs >= epochs, "epochs met only grow");
    }

    /// [`apply`](Self::apply), telling `sink` which record a command's
    /// events come from.
    pub fn apply_into<S: ReplaySink>(
        &mut self,
        engine: &mut Engine,
        record: &Record,
        sink: &mut S,
    ) {
        if self.poisoned {
            return;
        }
        debug_assert!(self.failed.is_none(), "a failure poisons");
        let build = std::mem::replace(&mut self.build_from_first, false);
        match record.entry {
            Entry::Command(command) => {
                sink.before(record);
                engine.process(&command, sink);
                sink.after(record);
            }
            Entry::FeedEpoch(epoch) => self.feed_epoch = Some(epoch),
            Entry::ConfigEpoch(epoch) => {
                self.epochs += 1;
                if self.in_force != Some(epoch) {
                    match apply_epoch(&self.dir, engine, record, epoch, build) {
                        Ok(()) => self.in_force = Some(epoch),
                        Err(e) => self.fail(e),
                    }
                }
            }
            Entry::StateChecksum(expected) => {
                self.checksums += 1;
                let found = StateChecksum::of(engine);
                if found != expected {
                    self.fail(JournalError::Diverged {
                        seq: record.seq,
                        expected,
                        found,
                    });
                }
            }
        }
    }

    fn fail(&mut self, error: JournalError) {
        assert!(!self.poisoned, "records after a failure are ignored");
        self.poisoned = true;
        self.failed = Some(error);
    }

    /// The first failure, once (every later record stays ignored).
    pub fn take_failure(&mut self) -> Option<JournalError> {
        debug_assert!(self.poisoned || self.failed.is_none());
        self.failed.take()
    }

    /// The last `feed_epoch` record met (the feed epoch of the start that
    /// wrote it).
    pub fn feed_epoch(&self) -> Option<crate::market_data::FeedEpoch> {
        debug_assert!(self.feed_epoch.is_none_or(|e| e.0 != 0));
        self.feed_epoch
    }

    /// `state_checksum` records met and verified so far.
    pub fn checksums_verified(&self) -> u64 {
        self.checksums
    }

    /// The epoch in force and the epochs met, or the first failure.
    pub fn finish(self) -> Result<(Option<ConfigEpoch>, u64), JournalError> {
        assert!(
            !self.poisoned || self.failed.is_some(),
            "finish after the failure was taken"
        );
        match self.failed {
            Some(error) => Err(error),
            None => Ok((self.in_force, self.epochs)),
        }
    }
}

/// Reconfigures the engine from the file of an epoch met during replay
/// (`first`: no config was in force, so the engine is built from it, as
/// [`restore`] builds it from the journal's first epoch).
fn apply_epoch(
    dir: &Path,
    engine: &mut Engine,
    record: &Record,
    epoch: ConfigEpoch,
    first: bool,
) -> Result<(), JournalError> {
    assert_eq!(record.entry, Entry::ConfigEpoch(epoch));
    // Recovery checked this file just before handing the record over; a
    // failure now means it changed under a locked journal.
    let config = config_file::read(dir, epoch).map_err(|problem| JournalError::Corrupt {
        file: dir.join(config_file::file_name(epoch.digest)),
        offset: 0,
        reason: CorruptReason::ConfigFile {
            digest: epoch.digest,
            problem,
        },
    })?;
    if first {
        *engine = Engine::new(&config);
        return Ok(());
    }
    engine
        .reconfigure(&config)
        .map_err(|error| JournalError::ConfigChange {
            dir: dir.to_path_buf(),
            seq: Some(record.seq),
            error,
        })
}
