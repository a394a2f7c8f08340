//! Report numbers: every order report an engine makes for an account
//! (`Accepted`, `Rejected`, `Fill`, `Canceled`, `Replaced`,
//! `CancelRejected`) gets the next number of that account's stream on this
//! engine, from 1, never reset. The numbers live in the engine, not in a
//! sink, because the engine is what a restart, `tradsys follow` and a
//! replay-on-logon helper all run on the same journal: the same commands in
//! give the same numbers out, which is what lets a client that reconnects
//! ask for "everything after number N" (docs/PROTOCOL.md, 5.9).

use super::event::{Event, EventSink};
use super::id_index::IdIndex;
use super::types::AccountId;

/// The last number given per account of this engine.
pub(crate) struct ReportNumbers {
    /// Account id to the index of its counter (the engine's own order);
    /// `IdIndex` looks small ids up in a direct table, so numbering a
    /// report costs no binary search on the per-command path.
    lookup: IdIndex<u32>,
    last: Vec<u64>,
}

impl ReportNumbers {
    pub(crate) fn new(lookup: IdIndex<u32>) -> ReportNumbers {
        let accounts = lookup.len();
        assert!(lookup.iter().all(|(_, i)| (i as usize) < accounts));
        ReportNumbers {
            lookup,
            last: vec![0; accounts],
        }
    }

    /// The counter's index for `account`.
    #[inline(always)]
    fn index_of(&self, account: AccountId) -> Option<usize> {
        let index = self.lookup.get(account).map(|i| i as usize);
        debug_assert!(index.is_none_or(|i| i < self.last.len()));
        index
    }

    /// The last number given to `account`'s reports (0: none yet), `None`
    /// for an account this engine does not know.
    pub(crate) fn last(&self, account: AccountId) -> Option<u64> {
        let index = self.index_of(account)?;
        debug_assert!(index < self.last.len());
        Some(self.last[index])
    }

    /// Gives `account` its next number (`None`: an account the engine does
    /// not know, whose reports are not numbered).
    #[inline(always)]
    fn next(&mut self, account: AccountId) -> Option<u64> {
        let index = self.index_of(account)?;
        debug_assert!(index < self.last.len());
        self.last[index] += 1;
        Some(self.last[index])
    }
}

/// The sink the engine hands its events through: account reports get
/// their number and go to [`EventSink::emit_report`], the rest to
/// [`EventSink::emit`] unchanged.
pub(crate) struct Numbered<'a, S> {
    pub numbers: &'a mut ReportNumbers,
    pub sink: &'a mut S,
}

impl<S: EventSink> EventSink for Numbered<'_, S> {
    #[inline(always)]
    fn emit(&mut self, event: &Event) {
        let account = match *event {
            Event::Accepted { account, .. }
            | Event::Rejected { account, .. }
            | Event::Fill { account, .. }
            | Event::Canceled { account, .. }
            | Event::Replaced { account, .. }
            | Event::CancelRejected { account, .. } => account,
            _ => return self.sink.emit(event),
        };
        match self.numbers.next(account) {
            Some(report_seq) => {
                debug_assert!(report_seq > 0, "numbers start at 1");
                self.sink.emit_report(event, report_seq)
            }
            None => self.sink.emit(event),
        }
    }
}
