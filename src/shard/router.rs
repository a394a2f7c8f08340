//! Where engine events go. [`Router`] is the engine's event sink on a shard:
//! order reports go to every session of the account (locally into the
//! outbox, or over the mesh), mass-cancel counts to the requester, public
//! events to market data.

use super::counters::ShardCounters;
use super::mesh::SessionRef;
use super::sender::MeshSender;
use super::session_table::SessionTable;
use super::shared::Shared;
use crate::engine::{Event, EventSink};
use crate::protocol::ReportNumber;

/// The engine's event sink on a shard, for one command.
pub struct Router<'a> {
    pub shard: u16,
    pub shared: &'a Shared,
    pub sessions: &'a mut SessionTable,
    pub sender: &'a mut MeshSender,
    pub counters: &'a mut ShardCounters,
    /// The session whose command this is (None for cancel-on-disconnect).
    pub origin: Option<SessionRef>,
    pub request_id: u64,
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
                let Some(origin) = self.origin else {
                    return; // cancel-on-disconnect: nobody to tell
                };
                if origin.shard == self.shard {
                    self.sessions
                        .mass_cancel_done(origin, self.request_id, canceled_count);
                } else {
                    self.sender
                        .mass_cancel_done(origin, self.request_id, canceled_count);
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
}
