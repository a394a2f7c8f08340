//! Replay on logon on the shard (docs/PROTOCOL.md 5.9). A ReplayRequest
//! names a stream (the shard whose engine numbers the account's reports)
//! and the last number the client has. The stream's owner reads its
//! engine's current number (`upto`) at one point of its command order:
//! every report it made before is numbered at or below `upto`, every later
//! one above, and all of them go live to the session as always. The
//! session's shard then sends `ReplayStarted{upto}`, starts a replay source
//! (`shard/replay_source.rs`, a helper thread re-reading the journal) and
//! moves what it hands over into the session's outbox, at most
//! [`REPLAY_BATCH`] reports per poll and only while the outbox is under
//! half full, the same rule as the session's own reader: a replay costs
//! other sessions on the shard one batch of report encodings per poll,
//! nothing more. `ReplayDone` ends it.
//!
//! Starting a source is the one place the core makes a thread (a `clone`,
//! once per replay; it never waits for it): the source must not run on
//! the shard's core, and the core is what knows a replay was asked for.

use super::ShardCore;
use crate::engine::{AccountId, RejectReason};
use crate::journal;
use crate::protocol::SessionReport;
use crate::protocol::{ReplayDoneMsg, ReplayRequestMsg, ReplayStartedMsg, ReportNumber};
use crate::shard::mesh::{MeshMsg, SessionRef};
use crate::shard::replay_source::{self, ReplayHandle, ReplayItem, ReplayJob};

/// Reports one replay moves into its session's outbox per poll: the bound
/// on what a replay adds to a poll of the shard (about 64 encodings of at
/// most 88 bytes).
pub const REPLAY_BATCH: usize = 64;

/// Replays one shard runs at a time (each has a helper thread and an
/// engine of the journal's size); one more is refused with `ShardBusy`.
pub const MAX_REPLAYS_PER_SHARD: usize = 2;

/// A replay under way for a session of this shard.
pub struct ActiveReplay {
    dest: SessionRef,
    stream: u32,
    source: ReplayHandle,
    /// Reports sent so far, and the number of the last one.
    sent: u64,
    last: u64,
}

impl ShardCore {
    /// A ReplayRequest from an active session; `refusal` is the session's
    /// (rate limit), answered here.
    pub(super) fn replay_request(
        &mut self,
        slot: u16,
        account: AccountId,
        request: &ReplayRequestMsg,
        refusal: Option<RejectReason>,
    ) {
        debug_assert!(self.sessions.get_slot(slot).is_some_and(|s| s.is_active()));
        let stream = request.stream.get();
        let refuse = |reason| ReplayDoneMsg::new(stream, 0, 0, Some(reason));
        if let Some(reason) = refusal {
            return self.push_to(slot, &refuse(reason));
        }
        let owner = match u16::try_from(stream) {
            Ok(shard) if self.shared.trading_shards.contains(&shard) => shard,
            _ => return self.push_to(slot, &refuse(RejectReason::UnknownStream)),
        };
        let origin = self.me(slot);
        let after = request.after_report_seq.get();
        if owner == self.id {
            let upto = self.engine.last_report_seq(account).unwrap_or(0);
            self.replay_marked(origin, account, stream, after, upto);
        } else {
            if let Some(session) = self.sessions.get_mut(origin) {
                session.remote_in_flight += 1;
            }
            self.sender.replay_mark(owner, origin, account, after);
        }
    }

    /// A replay's messages between the session's shard and the owner.
    pub(super) fn on_replay_mesh(&mut self, msg: MeshMsg) {
        debug_assert!(matches!(
            msg,
            MeshMsg::ReplayMark { .. } | MeshMsg::ReplayMarked { .. }
        ));
        match msg {
            MeshMsg::ReplayMark {
                origin,
                account,
                after,
            } => self.remote_replay_mark(origin, account, after),
            MeshMsg::ReplayMarked {
                dest,
                account,
                stream,
                after,
                upto,
            } => {
                self.sessions.command_done(dest);
                self.replay_marked(dest, account, stream, after, upto);
            }
            other => unreachable!("not a replay message: {other:?}"),
        }
    }

    /// The owner's half for a session on another shard: its engine's
    /// current number, sent back on the ring its reports take.
    pub(super) fn remote_replay_mark(
        &mut self,
        origin: SessionRef,
        account: AccountId,
        after: u64,
    ) {
        assert_ne!(origin.shard, self.id, "a local replay is marked inline");
        let upto = self.engine.last_report_seq(account).unwrap_or(0);
        self.sender
            .replay_marked(origin, account, u32::from(self.id), after, upto);
    }

    /// The stream's number `upto` is known: answer, and start a source if
    /// there is anything to replay.
    pub(super) fn replay_marked(
        &mut self,
        dest: SessionRef,
        account: AccountId,
        stream: u32,
        after: u64,
        upto: u64,
    ) {
        debug_assert_eq!(dest.shard, self.id);
        if !self.sessions.get(dest).is_some_and(|s| s.is_active()) {
            return; // ended meanwhile
        }
        let done = |last, reason| ReplayDoneMsg::new(stream, last, 0, reason);
        if after > upto {
            return self.push_to(dest.slot, &done(upto, Some(RejectReason::ReplayBeyondEnd)));
        }
        if after == upto {
            self.push_to(dest.slot, &ReplayStartedMsg::new(stream, upto));
            return self.push_to(dest.slot, &done(upto, None));
        }
        let Some(free) = self.replays.iter().position(Option::is_none) else {
            return self.push_to(dest.slot, &done(upto, Some(RejectReason::ShardBusy)));
        };
        let source = match self.start_source(account, stream, after, upto) {
            Ok(source) => source,
            Err(reason) => return self.push_to(dest.slot, &done(upto, Some(reason))),
        };
        self.push_to(dest.slot, &ReplayStartedMsg::new(stream, upto));
        self.replays[free] = Some(ActiveReplay {
            dest,
            stream,
            source,
            sent: 0,
            last: after,
        });
    }

    fn start_source(
        &mut self,
        account: AccountId,
        stream: u32,
        after: u64,
        upto: u64,
    ) -> Result<ReplayHandle, RejectReason> {
        assert!(after < upto);
        if self.journal.is_none() {
            return Err(RejectReason::JournalUnavailable); // tests without one
        }
        let shard = stream as u16;
        let config = &self.shared.config;
        let job = ReplayJob {
            dir: journal::shard_dir(&config.journal.dir, shard),
            config: config.engine_config(shard as usize),
            account,
            after,
            upto,
            cpus: self.helper_cpus,
        };
        replay_source::spawn(job).map_err(|e| {
            tracing::warn!(shard = self.id, "replay on logon: no helper thread: {e}");
            RejectReason::JournalUnavailable
        })
    }

    /// Moves what the sources handed over into their sessions' outboxes,
    /// within the bounds of the module doc. Returns the reports moved.
    pub(super) fn poll_replays(&mut self) -> usize {
        let mut moved = 0;
        for i in 0..self.replays.len() {
            let Some(mut replay) = self.replays[i].take() else {
                continue;
            };
            let (count, finished) = self.drain_replay(&mut replay);
            moved += count;
            if !finished {
                self.replays[i] = Some(replay);
            }
        }
        debug_assert!(moved <= REPLAY_BATCH * self.replays.len());
        moved
    }

    /// One replay's share of a poll: (reports moved, whether it is over).
    fn drain_replay(&mut self, replay: &mut ActiveReplay) -> (usize, bool) {
        let Some(session) = self.sessions.get_mut(replay.dest).filter(|s| s.is_active()) else {
            return (0, true); // ended: dropping the handle stops the source
        };
        let mut moved = 0;
        let mut end = None;
        while moved < REPLAY_BATCH && !session.outbox.over_half_full() {
            let Some(item) = next_item(&mut replay.source.items) else {
                break;
            };
            match item {
                ReplayItem::Report {
                    report_seq,
                    ts_ns,
                    event,
                } => {
                    debug_assert_eq!(report_seq, replay.last + 1, "in order, no gap");
                    let number = ReportNumber {
                        stream: replay.stream,
                        report_seq,
                    };
                    let report = SessionReport::from_event(&event, ts_ns, number)
                        .expect("a source hands over order reports only");
                    if session.outbox.push_report(&report).is_err() {
                        break; // cannot happen under half full; retried next poll
                    }
                    replay.sent += 1;
                    replay.last = report_seq;
                    moved += 1;
                }
                ReplayItem::Done => end = Some(None),
                ReplayItem::Failed => end = Some(Some(RejectReason::JournalUnavailable)),
            }
            if end.is_some() {
                break;
            }
        }
        if moved > 0 {
            session.writer.notify();
        }
        let Some(reason) = end else {
            return (moved, false);
        };
        let done = ReplayDoneMsg::new(replay.stream, replay.last, replay.sent, reason);
        self.push_to(replay.dest.slot, &done);
        (moved, true)
    }

    /// Whether a replay is under way (the shard's mesh loop does not park
    /// meanwhile but yields, as with `idle = "spin"`: a source has no
    /// doorbell to ring).
    pub fn replays_active(&self) -> bool {
        debug_assert!(self.replays.len() <= MAX_REPLAYS_PER_SHARD);
        self.replays.iter().any(Option::is_some)
    }
}

/// The next item a source handed over; `None` while it has none yet. A
/// source found gone may have pushed its last item (`Done`) between the
/// empty pop and the look: pop again, and only a ring still empty means it
/// ended without saying how (it failed).
fn next_item(items: &mut rtrb::Consumer<ReplayItem>) -> Option<ReplayItem> {
    match items.pop() {
        Ok(item) => Some(item),
        Err(_) if items.is_abandoned() => Some(items.pop().unwrap_or(ReplayItem::Failed)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{next_item, ReplayItem};

    #[test]
    fn a_source_that_finished_is_never_taken_for_one_that_failed() {
        // The source pushes its last item and ends (its producer dropped)
        // while the shard looks: the item must still be taken.
        for round in 0..2_000 {
            let (mut producer, mut items) = rtrb::RingBuffer::new(4);
            let source = std::thread::spawn(move || {
                producer.push(ReplayItem::Done).unwrap();
            });
            let item = loop {
                if let Some(item) = next_item(&mut items) {
                    break item;
                }
            };
            source.join().unwrap();
            assert!(
                matches!(item, ReplayItem::Done),
                "round {round}: {item:?} for a source that finished"
            );
        }
    }
}
