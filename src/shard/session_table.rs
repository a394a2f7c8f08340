//! The shard's sessions in fixed slots with generations: a slot is taken
//! at logon and freed at close; a [`SessionRef`] to a freed (or reused)
//! slot finds nothing, so late reports for a closed session are harmless.
//! Delivery into a local session's outbox lives here too: a session that
//! cannot take a report is ended after the engine returns, never waited
//! for.

use super::mesh::SessionRef;
use super::session::Session;
use crate::engine::Event;
use crate::protocol::{MassCancelDoneMsg, ReportNumber, SessionReport};

struct SessionSlot {
    generation: u32,
    session: Option<Session>,
}

pub struct SessionTable {
    slots: Vec<SessionSlot>,
    free: Vec<u16>,
    /// Slots whose client stopped reading while the engine was running;
    /// ended once the engine returns (pre-allocated, one entry per slot).
    deferred_ends: Vec<u16>,
    live: usize,
}

impl SessionTable {
    pub fn new(capacity: usize) -> SessionTable {
        assert!(capacity <= u16::MAX as usize);
        SessionTable {
            slots: (0..capacity)
                .map(|_| SessionSlot {
                    generation: 0,
                    session: None,
                })
                .collect(),
            free: (0..capacity as u16).rev().collect(),
            deferred_ends: Vec::with_capacity(capacity),
            live: 0,
        }
    }

    /// Every slot is either free or holds a session, never both (O(n):
    /// debug builds only, after each insert and remove).
    fn check_slots(&self) {
        debug_assert_eq!(self.free.len() + self.live, self.slots.len());
        debug_assert_eq!(
            self.slots.iter().filter(|e| e.session.is_some()).count(),
            self.live
        );
    }

    pub fn capacity(&self) -> u16 {
        self.slots.len() as u16
    }

    pub fn live(&self) -> usize {
        self.live
    }

    /// Whether a slot is free for one more session.
    pub fn has_room(&self) -> bool {
        !self.free.is_empty()
    }

    pub fn insert(&mut self, session: Session) -> Option<u16> {
        let slot = self.free.pop()?;
        let entry = &mut self.slots[slot as usize];
        assert!(entry.session.is_none(), "a free slot holds no session");
        entry.generation = entry.generation.wrapping_add(1);
        entry.session = Some(session);
        self.live += 1;
        self.check_slots();
        Some(slot)
    }

    pub fn remove(&mut self, id: SessionRef) {
        if self.get(id).is_some() {
            self.slots[id.slot as usize].session = None;
            assert!(self.live > 0 && self.free.len() < self.slots.len());
            self.free.push(id.slot);
            self.live -= 1;
            self.check_slots();
        }
    }

    pub fn generation(&self, slot: u16) -> u32 {
        debug_assert!(slot < self.capacity());
        self.slots[slot as usize].generation
    }

    pub fn get(&self, id: SessionRef) -> Option<&Session> {
        let entry = self.slots.get(id.slot as usize)?;
        (entry.generation == id.generation)
            .then_some(entry.session.as_ref())
            .flatten()
    }

    pub fn get_mut(&mut self, id: SessionRef) -> Option<&mut Session> {
        let entry = self.slots.get_mut(id.slot as usize)?;
        if entry.generation == id.generation {
            entry.session.as_mut()
        } else {
            None
        }
    }

    pub fn get_slot(&self, slot: u16) -> Option<&Session> {
        self.slots.get(slot as usize)?.session.as_ref()
    }

    pub fn get_slot_mut(&mut self, slot: u16) -> Option<&mut Session> {
        self.slots.get_mut(slot as usize)?.session.as_mut()
    }

    /// Whether sessions wait to be ended as slow consumers.
    pub fn ends_deferred(&self) -> bool {
        !self.deferred_ends.is_empty()
    }

    pub fn take_deferred_end(&mut self) -> Option<u16> {
        let slot = self.deferred_ends.pop();
        debug_assert!(slot.is_none_or(|s| s < self.capacity()));
        slot
    }

    fn defer_end(&mut self, slot: u16) {
        assert!(slot < self.capacity(), "slot {slot} out of range");
        if !self.deferred_ends.contains(&slot) {
            // One entry per slot at most: the push never reallocates.
            debug_assert!(self.deferred_ends.len() < self.deferred_ends.capacity());
            self.deferred_ends.push(slot);
        }
    }

    /// Encodes an order report into a local session's outbox. A session
    /// that cannot take it is ended (slow consumer), never waited for.
    pub fn deliver_report(
        &mut self,
        dest: SessionRef,
        event: &Event,
        number: ReportNumber,
        wall_ns: u64,
    ) {
        debug_assert!(dest.slot < self.capacity());
        let Some(session) = self.get_mut(dest) else {
            return; // closed since: the report stays in the journal
        };
        if !session.is_active() {
            return;
        }
        let report =
            SessionReport::from_event(event, wall_ns, number).expect("routed events are reports");
        if session.outbox.push_report(&report).is_err() {
            self.defer_end(dest.slot);
        } else {
            session.writer.notify();
        }
    }

    /// Another shard finished one of this session's commands.
    pub fn command_done(&mut self, dest: SessionRef) {
        if let Some(session) = self.get_mut(dest) {
            // Every Processed and Status answers one counted command.
            debug_assert!(session.remote_in_flight > 0, "an answer nobody waits for");
            session.remote_in_flight = session.remote_in_flight.saturating_sub(1);
            // A reader paused on its commands in flight may go on.
            session.reader.notify();
        }
    }

    /// Adds one shard's count to a pending mass cancel; answers the client
    /// when the last shard has reported.
    /// One shard's part of a mass cancel is done: `canceled` orders, or
    /// none and `refused` (its journal refused the command). The request's
    /// MassCancelDone goes out with the last part: the total, and the first
    /// refusal if any part was refused (the client then knows orders may
    /// remain, and asks again).
    pub fn mass_cancel_done(
        &mut self,
        dest: SessionRef,
        request_id: u64,
        canceled: u32,
        refused: Option<crate::engine::RejectReason>,
    ) {
        debug_assert!(
            refused.is_none() || canceled == 0,
            "a refused part cancels nothing"
        );
        let Some(session) = self.get_mut(dest) else {
            return;
        };
        let Some(entry) = session
            .mass_cancels
            .iter_mut()
            .find(|p| p.is_some_and(|p| p.request_id == request_id))
        else {
            return;
        };
        let pending = entry.as_mut().expect("found");
        assert!(pending.remaining_shards > 0, "one count per shard asked");
        pending.canceled += canceled;
        pending.refused = pending.refused.or(refused);
        pending.remaining_shards -= 1;
        if pending.remaining_shards > 0 {
            return;
        }
        let done = MassCancelDoneMsg::new(
            request_id,
            (pending.symbol != 0).then_some(pending.symbol),
            pending.canceled,
            pending.refused,
        );
        *entry = None;
        if session.is_active() {
            if session.outbox.push(&done).is_err() {
                self.defer_end(dest.slot);
            } else {
                session.writer.notify();
            }
        }
    }
}
