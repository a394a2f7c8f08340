//! One socket read's order commands, run through the engine together.
//!
//! `Engine::process_batch` overlaps one command's cache misses (index
//! entry, order node, its neighbours) with the commands before it; it only
//! can when it is handed several. So while `on_bytes` handles a read, the
//! new, cancel and replace commands this shard's engine owns are queued
//! here (at most [`BATCH_MAX`]) instead of running one by one, and run
//! when the read is done, when the batch is full, or before anything that
//! must come after them:
//!
//! - anything else that answers the session or reads or changes the engine
//!   (a refusal, a query, an order status, a mass cancel, a session end
//!   and its cancel-on-disconnect) flushes the batch first, so a session's
//!   answers keep the order of its requests;
//! - write-ahead holds per command: every command of the batch is
//!   journaled, in order, before the engine runs any of them; from the
//!   first one the journal refuses, the rest go one at a time through
//!   `run_engine`, which refuses them in order. The ones journaled before
//!   run even when the refusal was a failed sync (the start of a
//!   fail-stop): one by one they would have run, and been answered,
//!   before that append was tried; refusing them now would tell their
//!   senders `JournalUnavailable` for commands a restart replays;
//! - a queued command counts against the session's commands in flight
//!   (`intake.rs`), so the reports the batch will add fit the half of the
//!   outbox the reader keeps free, as reports from other shards do.
//!
//! A command sent to another shard is not held back: its answer comes
//! back over the mesh, never ordered against this shard's answers.
//! Nothing here allocates: both vectors are reserved whole at start.

use super::{Now, ShardCore};
use crate::engine::Command;
use crate::shard::mesh::SessionRef;
use crate::shard::router::CommandOrigin;
use crate::telemetry::Stage;

/// Commands queued at most: past `prefetch.rs`'s look-ahead (16), few
/// enough that their reports stay a small part of an outbox.
pub const BATCH_MAX: usize = 32;

/// The queued commands and their senders (see the module comment).
#[derive(Default)]
pub(super) struct EngineBatch {
    commands: Vec<Command>,
    origins: Vec<CommandOrigin>,
    /// The clocks of the read the commands came in.
    now: Option<Now>,
}

impl EngineBatch {
    pub(super) fn new() -> EngineBatch {
        let batch = EngineBatch {
            commands: Vec::with_capacity(BATCH_MAX),
            origins: Vec::with_capacity(BATCH_MAX),
            now: None,
        };
        assert!(batch.origins.capacity() >= BATCH_MAX, "reserved whole");
        batch
    }

    /// Commands queued.
    pub(super) fn len(&self) -> usize {
        debug_assert_eq!(self.commands.len(), self.origins.len());
        self.commands.len()
    }

    fn clear(&mut self) {
        self.commands.clear();
        self.origins.clear();
        self.now = None;
        debug_assert!(self.commands.capacity() >= BATCH_MAX);
    }
}

impl ShardCore {
    /// Queues a command of the read being handled for this shard's engine;
    /// runs the batch once it is full.
    pub(super) fn batch_command(
        &mut self,
        command: Command,
        origin: SessionRef,
        request_id: u64,
        now: Now,
    ) {
        debug_assert_eq!(origin.shard, self.id, "read on this shard");
        let batch = &mut self.batch;
        assert!(
            batch.len() < BATCH_MAX,
            "a full batch runs at once: pushing never reallocates"
        );
        debug_assert!(batch.now.is_none_or(|n| n.mono_ns == now.mono_ns));
        batch.now = Some(now);
        batch.commands.push(command);
        let timed = self.telemetry.command_sampled && self.telemetry.recorder.enabled();
        batch.origins.push(CommandOrigin {
            timed,
            ..CommandOrigin::of(Some(origin), request_id)
        });
        if batch.len() == BATCH_MAX {
            self.flush_batch();
        }
    }

    /// Runs the queued commands (see the module comment): journal, then the
    /// engine over every journaled one at once.
    pub(super) fn flush_batch(&mut self) {
        let Some(now) = self.batch.now else {
            debug_assert_eq!(self.batch.len(), 0);
            return;
        };
        // Taken out while it runs (an empty Vec allocates nothing), so that
        // a session ended meanwhile finds nothing left to flush.
        let mut batch = std::mem::take(&mut self.batch);
        if let [command] = batch.commands[..] {
            // One command: the plain path, timed as it always was.
            self.run_engine_as(&command, batch.origins[0], now);
        } else {
            let journaled = self.journal_batch(&mut batch, now);
            let (commands, origins) = (&batch.commands, &mut batch.origins);
            if journaled > 0 {
                self.engine_run(&commands[..journaled], &mut origins[..journaled], now);
                self.record_engine_spans(&mut origins[..journaled]);
            }
            for (command, origin) in commands.iter().zip(origins.iter()).skip(journaled) {
                self.run_engine_as(command, *origin, now);
            }
        }
        batch.clear();
        debug_assert_eq!(self.batch.len(), 0, "nothing queued while the batch ran");
        self.batch = batch;
    }

    /// `run_engine` for a queued command, timed if it was sampled when read
    /// (the read has drawn for later messages since).
    fn run_engine_as(&mut self, command: &Command, origin: CommandOrigin, now: Now) {
        debug_assert!(origin.session.is_some(), "a session's command");
        let sampled = std::mem::replace(&mut self.telemetry.command_sampled, origin.timed);
        self.run_engine(command, origin.session, origin.request_id, now);
        self.telemetry.command_sampled = sampled;
    }

    /// Appends the batch's commands to the journal in order, up to the first
    /// the journal refuses; returns how many it took. Records each timed
    /// command's `intake` and `journal` stages.
    fn journal_batch(&mut self, batch: &mut EngineBatch, now: Now) -> usize {
        if self.journal.is_none() {
            return batch.len(); // tests that drive a core without a journal
        }
        if !self.run_pending_disconnect_cancels(now) {
            return 0;
        }
        let mut journaled = 0;
        for (command, origin) in batch.commands.iter().zip(&batch.origins) {
            let start = if origin.timed { self.stamp() } else { 0 };
            if !self.journal_append(command, now) {
                break;
            }
            journaled += 1;
            if origin.timed {
                self.record_span(Stage::Intake, self.telemetry.read_ns, start);
                self.record_span(Stage::Journal, start, self.stamp());
            }
        }
        assert!(journaled <= batch.len());
        journaled
    }

    /// The `engine` stage of each timed command of a batch, from the
    /// router's stamps (the last one ends now).
    fn record_engine_spans(&mut self, origins: &mut [CommandOrigin]) {
        let last = origins.last_mut().expect("a batch has commands");
        if last.timed {
            last.engine_end_ns = self.stamp();
        }
        for origin in origins.iter().filter(|o| o.timed) {
            debug_assert!(origin.engine_start_ns > 0 || !self.telemetry.recorder.enabled());
            self.record_span(Stage::Engine, origin.engine_start_ns, origin.engine_end_ns);
        }
    }
}
