//! Write-ahead: the journal on the order path. Start-up replays it into
//! the engine; every command is appended before the engine sees it; a
//! command the journal refuses (a full disk) is answered
//! `JournalUnavailable` and never executed; a refused cancel-on-disconnect
//! is kept and runs before anything else once the journal accepts; the
//! first failed sync makes the shard refuse everything and stops the
//! gateway (fail-stop).

use super::order_entry::refusal_of;
use super::{wall_clock_ns, Now, ShardCore};
use crate::engine::{CancelReason, Command, RejectReason};
use crate::journal::{self, config_file, JournalError, Segment, SegmentRequest};
use crate::protocol::ReportNumber;
use crate::shard::mesh::SessionRef;
use crate::shard::router::{CommandOrigin, Router};
use crate::telemetry::Stage;

impl ShardCore {
    /// Brings the shard to its state before the last stop (journal replay)
    /// before it serves anyone.
    ///
    /// Opens this shard's journal and replays every record into the engine,
    /// each command under the engine config it first ran under
    /// ([`journal::restore`]): same commands in, same books, order ids,
    /// positions and PnL out. Then the current config applies from here
    /// on, recorded as a new config epoch if it changed; a change the
    /// engine cannot apply in place (accounts, the shard's symbols,
    /// capacities) stops the start. A torn tail is cut and logged;
    /// corruption stops the start unless the operator asked to truncate
    /// there.
    pub fn start(&mut self) -> Result<(), String> {
        assert!(self.journal.is_none(), "a shard starts once");
        let cfg = &self.shared.config.journal;
        let dir = journal::shard_dir(&cfg.dir, self.id);
        let current = self.shared.config.engine_config(self.id as usize);
        let mut sink = super::market::FeedReplay {
            hub: &mut self.market,
            shard: self.id,
            ts_ns: 0,
        };
        let (mut writer, restored) = journal::restore_into(
            &dir,
            self.id,
            cfg,
            self.shared.truncate_corrupt_journal,
            &mut self.engine,
            &current,
            wall_clock_ns(),
            &mut sink,
        )
        .map_err(|e| e.to_string())?;
        let report = &restored.report;
        if let Some((file, offset)) = &report.torn_tail {
            tracing::warn!(shard = self.id, file = %file.display(), offset, "journal: torn tail cut");
        }
        if let Some(cut) = &report.truncated_corruption {
            tracing::warn!(
                shard = self.id,
                file = %cut.file.display(),
                offset = cut.offset,
                reason = ?cut.reason,
                set_aside = ?cut.set_aside,
                "journal: corruption cut as asked (--truncate-corrupt-journal)"
            );
        }
        tracing::info!(
            shard = self.id,
            records = report.records,
            segments = report.segments,
            last_seq = report.last_seq,
            resting_orders = self.engine.resting_orders(),
            elapsed_ms = report.elapsed.as_millis() as u64,
            config_epochs = restored.epochs_replayed,
            "journal replayed"
        );
        if let Some((epoch, seq)) = restored.new_epoch {
            tracing::info!(
                shard = self.id,
                seq,
                file = %config_file::file_name(epoch.digest),
                "journal: new config epoch: the engine config differs from the one in force at the end of the journal (or the journal had none); it applies from here on, earlier records replay under their own"
            );
        }
        // The first spare is made here, before the shard reports ready:
        // made later on the blocking pool it costs some core 20-30 ms of
        // prefaulting in the first moments of trading (measured by
        // `tradsys-bench orders`: a 25 ms window right after start). A
        // failure is not fatal: the ticker retries off-thread.
        if let Some(request) = writer.spare_needed() {
            match request.create() {
                Ok(segment) => writer.install_spare(segment),
                Err(error) => {
                    tracing::warn!(shard = self.id, %error, "journal: cannot create the next segment yet");
                    writer.spare_creation_failed();
                }
            }
        }
        self.journal = Some(writer);
        self.publish_open_orders_over_limit();
        self.publish_feed(restored.feed_epoch);
        self.publish_counters();
        self.publish_up(true);
        Ok(())
    }

    /// Adds this shard's open orders beyond each account's limit (a
    /// restart lowered it) to `Shared`, each logged once. Before the feed:
    /// every shard waits for every feed before it serves a logon, which
    /// sizes its bulk-cancel room from these.
    fn publish_open_orders_over_limit(&self) {
        debug_assert!(
            !self.shared.feeds.published(self.id as usize),
            "before the feed"
        );
        for (account, over) in self.engine.open_orders_over_limit() {
            let index = self
                .shared
                .account_index(account)
                .expect("the engine's accounts are the config's");
            tracing::warn!(
                shard = self.id,
                account,
                open_orders_over_limit = over,
                "journal: the account has more orders open than its max_open_orders allows now (a restart lowered it); they stay, and its sessions get room to be told of their bulk cancel"
            );
            self.shared.add_open_orders_over_limit(index, over);
        }
    }

    /// Interval syncs and deferred cancel-on-disconnects; called by the
    /// runtime's ticker.
    pub fn journal_tick(&mut self, now: Now) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        if let Err(error) = journal.sync_if_due(now.wall_ns) {
            self.fail_stop(&error);
            return;
        }
        debug_assert!(!journal.failed(), "a failed sync returned an error");
        // Re-faults the pages the next appends will write (msync and
        // writeback write-protect them again).
        journal.prefault_ahead();
        self.checksum_if_due(now);
        // A refused cancel-on-disconnect runs as soon as the journal takes
        // it, not only when the next command arrives.
        if !self.pending_disconnect_cancels.is_empty() {
            self.run_pending_disconnect_cancels(now);
            self.finish_turn();
        }
    }

    /// The journal failed a sync: from here on this shard acknowledges
    /// nothing (the writer refuses every append) and the gateway stops
    /// with a non-zero exit. Logged once per shard.
    pub(super) fn fail_stop(&mut self, error: &JournalError) {
        if !self.journal_fatal {
            self.journal_fatal = true;
            tracing::error!(
                shard = self.id,
                %error,
                "journal: sync failed; stopping the gateway (fail-stop): nothing is acknowledged from here on"
            );
        }
        self.shared.fail_stop(format!("shard {}: {error}", self.id));
        debug_assert!(self.shared.shutting_down());
    }

    /// A segment the journal wants created ahead of need (off this thread).
    /// After a failed creation (full disk) it waits a second before asking
    /// again, so a full disk costs one attempt and one log line a second.
    pub fn journal_spare_needed(&mut self, now: Now) -> Option<SegmentRequest> {
        if now.mono_ns < self.spare_retry_after_ns {
            return None;
        }
        let journal = self.journal.as_ref()?;
        let request = journal.spare_needed();
        // One spare at a time: none is asked for while one is installed.
        debug_assert!(request.is_none() || !journal.has_spare());
        request
    }

    pub fn journal_spare_ready(&mut self, created: std::io::Result<Segment>, now: Now) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        match created {
            Ok(segment) => {
                journal.install_spare(segment);
                debug_assert!(journal.has_spare());
            }
            Err(error) => {
                tracing::warn!(shard = self.id, %error, "journal: cannot create the next segment yet");
                journal.spare_creation_failed();
                self.spare_retry_after_ns = now.mono_ns + 1_000_000_000;
            }
        }
    }

    /// A full segment that can now be unmapped off this thread.
    pub fn journal_retired(&mut self) -> Option<Segment> {
        self.journal.as_mut()?.take_retired()
    }

    /// Makes everything appended durable (graceful shutdown). A failure
    /// here is a fail-stop too: the exit says so. Cancels still pending
    /// are named: they will not run.
    pub fn journal_sync(&mut self) {
        if !self.pending_disconnect_cancels.is_empty() {
            tracing::error!(
                shard = self.id,
                accounts = ?self.pending_disconnect_cancels,
                "journal: cancel-on-disconnect never accepted by the journal before the stop; these accounts' orders stay on the book"
            );
        }
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        if journal.failed() {
            return; // reported when it happened; a failed sync is not retried
        }
        if let Err(error) = journal.sync_now() {
            self.fail_stop(&error);
        }
        debug_assert!(self.journal_fatal || !self.journal.as_ref().is_some_and(|j| j.failed()));
    }

    /// Runs one command through this shard's engine, routing its events.
    /// Write-ahead: the command is in the journal before the engine sees it,
    /// so no report of it can leave before it is recorded. Deferred
    /// cancel-on-disconnects go first; while any is still refused, so is
    /// this command.
    pub(super) fn run_engine(
        &mut self,
        command: &Command,
        origin: Option<SessionRef>,
        request_id: u64,
        now: Now,
    ) {
        let journal_start = self.command_stamp();
        // Intake ends here for a command read on this shard just now.
        self.record_span(Stage::Intake, self.telemetry.read_ns, journal_start);
        if self.journal.is_some()
            && (!self.run_pending_disconnect_cancels(now) || !self.journal_append(command, now))
        {
            self.counters.journal_refusals += 1;
            self.refuse_unjournaled(command, origin, request_id, now);
            return;
        }
        let engine_start = if self.journal.is_some() {
            let journaled = self.command_stamp();
            self.record_span(Stage::Journal, journal_start, journaled);
            journaled
        } else {
            journal_start
        };
        self.execute(command, origin, request_id, now);
        let engine_end = self.command_stamp();
        self.record_span(Stage::Engine, engine_start, engine_end);
    }

    /// The engine step of [`run_engine`](Self::run_engine), for a command
    /// already journaled.
    fn execute(
        &mut self,
        command: &Command,
        origin: Option<SessionRef>,
        request_id: u64,
        now: Now,
    ) {
        // Write-ahead: a command runs only once nothing deferred is ahead of
        // it (a deferred cancel-on-disconnect has no origin and runs first).
        debug_assert!(origin.is_none() || self.pending_disconnect_cancels.is_empty());
        debug_assert!(!self.journal_fatal, "nothing executes after a failed sync");
        let mut origins = [CommandOrigin::of(origin, request_id)];
        self.engine_run(std::slice::from_ref(command), &mut origins, now);
        if matches!(command, Command::EndOfDay) {
            // After the events it caused, here and on every replica.
            self.market.end_of_day_of(self.id, now.wall_ns);
            self.sender.end_of_day(now.wall_ns);
        }
    }

    /// Runs journaled commands through the engine, in order, each one's
    /// reports to its own sender (`origins[i]` sent `commands[i]`); more
    /// than one go through `Engine::process_batch`, which looks ahead.
    pub(super) fn engine_run(
        &mut self,
        commands: &[Command],
        origins: &mut [CommandOrigin],
        now: Now,
    ) {
        assert_eq!(commands.len(), origins.len(), "one sender per command");
        // Write-ahead: a command runs only once nothing deferred is ahead of
        // it (a deferred cancel-on-disconnect has no origin and runs first).
        debug_assert!(
            origins.iter().all(|o| o.session.is_none())
                || self.pending_disconnect_cancels.is_empty()
        );
        // A batch's journaled commands run even if a later one's append
        // failed a sync (`engine_batch.rs`): one by one they would have run
        // before that append was tried.
        let mut router = Router {
            shard: self.id,
            shared: &self.shared,
            sessions: &mut self.sessions,
            sender: &mut self.sender,
            counters: &mut self.counters,
            origins,
            current: 0,
            wall_ns: now.wall_ns,
            market: &mut self.market,
        };
        match commands {
            [command] => self.engine.process(command, &mut router),
            _ => self.engine.process_batch(commands, &mut router),
        }
    }

    /// Journals one command; `false` if the journal refused it (a full
    /// disk, or a failed sync, which also begins the fail-stop).
    pub(super) fn journal_append(&mut self, command: &Command, now: Now) -> bool {
        let journal = self.journal.as_mut().expect("a journal to append to");
        match journal.append(now.wall_ns, command) {
            Ok(_) => {
                debug_assert!(!journal.failed());
                if self.journal_failing {
                    self.journal_failing = false;
                    tracing::warn!(shard = self.id, "journal: accepting commands again");
                }
                true
            }
            Err(error @ JournalError::SyncFailed { .. }) => {
                self.fail_stop(&error);
                false
            }
            Err(error) => {
                if !self.journal_failing {
                    self.journal_failing = true;
                    tracing::error!(shard = self.id, %error, "journal: refusing commands");
                }
                false
            }
        }
    }

    /// Journals and executes the deferred cancel-on-disconnects, oldest
    /// first. `true` once none is left.
    pub(super) fn run_pending_disconnect_cancels(&mut self, now: Now) -> bool {
        while let Some(&account) = self.pending_disconnect_cancels.first() {
            let command = Command::MassCancel {
                account,
                symbol: None,
                reason: CancelReason::Disconnect,
            };
            if !self.journal_append(&command, now) {
                return false;
            }
            self.pending_disconnect_cancels.remove(0);
            tracing::warn!(
                shard = self.id,
                account,
                "journal: deferred cancel-on-disconnect executed"
            );
            self.execute(&command, None, 0, now);
        }
        debug_assert!(self.pending_disconnect_cancels.is_empty());
        true
    }

    /// Answers a command the journal could not take: JournalUnavailable to
    /// the session that sent it (and nobody else); nothing was executed.
    fn refuse_unjournaled(
        &mut self,
        command: &Command,
        origin: Option<SessionRef>,
        request_id: u64,
        now: Now,
    ) {
        debug_assert!(self.journal.is_some(), "only a journal refuses a command");
        let event = match *command {
            Command::New(_) | Command::Cancel(_) | Command::Replace(_) => {
                refusal_of(command, RejectReason::JournalUnavailable).expect("an order command")
            }
            Command::MassCancel { .. } => {
                // Nothing canceled here, and the requester is told why: its
                // MassCancelDone carries the refusal (not "done, 0 canceled"
                // while the orders stay live).
                let refused = Some(RejectReason::JournalUnavailable);
                match origin {
                    Some(origin) if origin.shard == self.id => self
                        .sessions
                        .mass_cancel_done(origin, request_id, 0, refused),
                    Some(origin) => self.sender.mass_cancel_done(origin, request_id, 0, refused),
                    None => self.defer_disconnect_cancel(command),
                }
                return;
            }
            _ => {
                tracing::error!(
                    shard = self.id,
                    ?command,
                    "journal: operator command not executed"
                );
                return;
            }
        };
        let Some(origin) = origin else {
            return;
        };
        if origin.shard == self.id {
            self.sessions
                .deliver_report(origin, &event, ReportNumber::NONE, now.wall_ns);
        } else {
            self.sender.report(origin, event, ReportNumber::NONE);
        }
    }

    /// A cancel-on-disconnect the journal refused: kept, to run before
    /// anything else once the journal accepts (see `run_engine`).
    fn defer_disconnect_cancel(&mut self, command: &Command) {
        let Command::MassCancel {
            account,
            symbol: None,
            reason: CancelReason::Disconnect,
        } = *command
        else {
            unreachable!("only cancel-on-disconnect has no origin session: {command:?}");
        };
        if self.pending_disconnect_cancels.contains(&account) {
            return; // one pending cancel covers every order of the account
        }
        assert!(
            self.pending_disconnect_cancels.len() < self.pending_disconnect_cancels.capacity(),
            "at most one pending cancel per configured account"
        );
        tracing::error!(
            shard = self.id,
            account,
            "journal: refusing commands; cancel-on-disconnect deferred until it accepts (nothing else runs on this shard before it)"
        );
        self.pending_disconnect_cancels.push(account);
    }
}
