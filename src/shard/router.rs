//! Where engine events go. [`Router`] is the engine's event sink on a shard:
//! order reports go to every session of the account (locally into the
//! outbox, or over the mesh), mass-cancel counts to the requester, public
//! events to market data. It serves one command or a batch of them (one
//! socket read's, `core/engine_batch.rs`), each with its own sender.

use super::counters::ShardCounters;
use super::mesh::SessionRef;
use super::sender::MeshSender;
use super::session_table::SessionTable;
use super::shared::Shared;
use crate::engine::{Event, EventSink};
use crate::protocol::ReportNumber;
use crate::telemetry::clock;

/// Who sent one command the router serves, and when the engine ran it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandOrigin {
    /// The session whose command this is (None for cancel-on-disconnect
    /// and operator commands).
    pub session: Option<SessionRef>,
    pub request_id: u64,
    /// Whether the command's engine time is recorded (capture on, and the
    /// command sampled): only then does the router read the clock for it.
    pub timed: bool,
    /// The command's engine run, stamped by the router in a batch (0: not
    /// taken).
    pub engine_start_ns: u64,
    pub engine_end_ns: u64,
}

impl CommandOrigin {
    pub fn of(session: Option<SessionRef>, request_id: u64) -> CommandOrigin {
        CommandOrigin {
            session,
            request_id,
            ..CommandOrigin::default()
        }
    }
}

/// The engine's event sink on a shard, for one command or a batch.
pub struct Router<'a> {
    pub shard: u16,
    pub shared: &'a Shared,
    pub sessions: &'a mut SessionTable,
    pub sender: &'a mut MeshSender,
    pub counters: &'a mut ShardCounters,
    /// The senders of the commands, in order; one for a single command.
    pub origins: &'a mut [CommandOrigin],
    /// The command running now (`EventSink::command_begins`).
    pub current: usize,
    pub wall_ns: u64,
    /// This shard's market data (the owner's own replica).
    pub market: &'a mut crate::shard::md::MdHub,
}

impl Router<'_> {
    fn report(&mut self, account: u32, event: &Event, number: ReportNumber) {
        let Some(account_index) = self.shared.account_index(account) else {
            return;
        };
        debug_assert_eq!(self.shared.account(account_index).id, account);
        let (shard, sessions, sender, wall_ns) = (
            self.shard,
            &mut *self.sessions,
            &mut *self.sender,
            self.wall_ns,
        );
        self.shared.directory.for_each(account_index, |dest| {
            if dest.shard == shard {
                sessions.deliver_report(dest, event, number, wall_ns);
            } else {
                sender.report(dest, *event, number);
            }
        });
    }
}

impl EventSink for Router<'_> {
    fn emit_report(&mut self, event: &Event, report_seq: u64) {
        debug_assert!(report_seq > 0, "numbers start at 1");
        let account = match *event {
            Event::Accepted { account, .. }
            | Event::Rejected { account, .. }
            | Event::Fill { account, .. }
            | Event::Canceled { account, .. }
            | Event::Replaced { account, .. }
            | Event::CancelRejected { account, .. } => account,
            _ => return self.emit(event), // only order reports are numbered
        };
        self.counters.count_report(event);
        let number = ReportNumber {
            stream: u32::from(self.shard),
            report_seq,
        };
        self.report(account, event, number);
    }

    fn emit(&mut self, event: &Event) {
        match *event {
            Event::Accepted { account, .. }
            | Event::Rejected { account, .. }
            | Event::Fill { account, .. }
            | Event::Canceled { account, .. }
            | Event::Replaced { account, .. }
            | Event::CancelRejected { account, .. } => {
                // An account the engine does not know: not numbered.
                self.counters.count_report(event);
                self.report(account, event, ReportNumber::NONE)
            }
            Event::MassCancelDone { canceled_count, .. } => {
                let CommandOrigin {
                    session: Some(origin),
                    request_id,
                    ..
                } = self.origins[self.current]
                else {
                    return; // cancel-on-disconnect: nobody to tell
                };
                if origin.shard == self.shard {
                    self.sessions
                        .mass_cancel_done(origin, request_id, canceled_count, None);
                } else {
                    self.sender
                        .mass_cancel_done(origin, request_id, canceled_count, None);
                }
            }
            // Public events: this shard's feed, and every other shard's
            // replica over the mesh (stamped with the command's journal time).
            Event::BookLevel { .. } | Event::Trade { .. } | Event::HaltSet { .. } => {
                self.counters.market_events += 1;
                self.market.on_public(event, self.wall_ns);
                self.sender.public(*event, self.wall_ns);
            }
            Event::KillSwitchSet { .. } | Event::ReferencePriceSet { .. } => {
                self.counters.market_events += 1
            }
        }
    }

    /// The next command of a batch: its events are its sender's from here;
    /// the clock is read once between two commands when either is timed
    /// (the end of one is the start of the next).
    #[inline]
    fn command_begins(&mut self, index: usize) {
        assert!(index < self.origins.len(), "a command of this batch");
        let previous_timed = index > 0 && self.origins[index - 1].timed;
        let now = if previous_timed || self.origins[index].timed {
            clock::mono_ns()
        } else {
            0
        };
        if index > 0 {
            self.origins[index - 1].engine_end_ns = now;
        }
        self.origins[index].engine_start_ns = now;
        self.current = index;
    }
}
