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

use std::path::Path;

use crate::config::JournalConfig;
use crate::engine::{Engine, EngineConfig, EventSink};

use super::scan::first_config_epoch;
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
struct EventsOnly<'a, S>(&'a mut S);

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

    let mut failed = None;
    let (mut epochs_replayed, mut feed_epoch) = (0, None);
    let (mut writer, report) =
        JournalWriter::open(shard_dir, shard, cfg, truncate_corrupt_journal, |record| {
            if failed.is_some() {
                return;
            }
            match record.entry {
                Entry::FeedEpoch(epoch) => feed_epoch = Some(epoch),
                Entry::Command(command) => {
                    sink.before(record);
                    engine.process(&command, sink);
                    sink.after(record);
                }
                Entry::ConfigEpoch(epoch) => {
                    epochs_replayed += 1;
                    if in_force != Some(epoch) {
                        match apply_epoch(shard_dir, engine, record, epoch) {
                            Ok(()) => in_force = Some(epoch),
                            Err(e) => failed = Some(e),
                        }
                    }
                }
            }
        })?;
    if let Some(error) = failed {
        return Err(error);
    }

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

/// Reconfigures the engine from the file of an epoch met during replay.
fn apply_epoch(
    dir: &Path,
    engine: &mut Engine,
    record: &Record,
    epoch: ConfigEpoch,
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
    engine
        .reconfigure(&config)
        .map_err(|error| JournalError::ConfigChange {
            dir: dir.to_path_buf(),
            seq: Some(record.seq),
            error,
        })
}
