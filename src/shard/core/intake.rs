//! Session intake: a connection's first message and the logon checks,
//! then every later message of a session: framing, the sequence check,
//! session messages (logout, heartbeat, duplicate logon), and the
//! back-pressure that stops reading while a destination ring or the
//! session's own outbox is full.

use std::rc::Rc;

use super::{Now, ShardCore};
use crate::config::Role;
use crate::protocol::*;
use crate::shard::mesh::SessionRef;
use crate::shard::notify::LocalNotify;
use crate::shard::outbox::{bulk_cancel_bytes, Outbox};
use crate::shard::rate_limit::TokenBucket;
use crate::shard::session::{tokens_match, Phase, Session, MAX_PENDING_MASS_CANCELS};

/// What `on_bytes` did with the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intake {
    /// Bytes consumed (whole messages); the rest must be offered again.
    pub consumed: usize,
    /// A destination ring is full: stop reading until `can_resume`.
    pub blocked: bool,
}

/// When a reader stopped by back-pressure may go on (`ShardCore::resume`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    Now,
    /// Its outbox is over half full, or its commands in flight on other
    /// shards at their bound: wait for `Session::reader`.
    OnWake,
    /// A ring to another shard is full: look again shortly.
    OnRingRoom,
}

/// What a connection's first message made of it (see
/// [`ShardCore::first_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstMessage {
    /// Not a whole message yet: `needed` bytes make the next step.
    Incomplete { needed: usize },
    /// A session, with LogonAccepted queued in its outbox.
    LoggedOn(SessionRef),
    /// No session: send this and close.
    Refused(PreLogonEnd),
}

/// How a connection that never became a session ends: optionally
/// LogonRejected, then SessionEnd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreLogonEnd {
    pub rejected: Option<LogonRejectReason>,
    pub reason: SessionEndReason,
    /// The client `seq` the gateway expected next (as in every SessionEnd).
    pub expected_seq: u32,
}

impl PreLogonEnd {
    /// SessionEnd alone.
    pub fn ended(reason: SessionEndReason, expected_seq: u32) -> PreLogonEnd {
        // A refused Logon is sent with its LogonRejected (`no_room` and
        // `first_message`); before a session only seq 1 or 2 is expected.
        debug_assert!(reason != SessionEndReason::LogonRejected);
        debug_assert!(matches!(expected_seq, 1 | 2));
        PreLogonEnd {
            rejected: None,
            reason,
            expected_seq,
        }
    }

    /// Refused before reading anything (no room for another connection):
    /// LogonRejected(SessionLimit), then SessionEnd(LogonRejected).
    pub fn no_room() -> PreLogonEnd {
        PreLogonEnd {
            rejected: Some(LogonRejectReason::SessionLimit),
            reason: SessionEndReason::LogonRejected,
            expected_seq: 1,
        }
    }

    /// The bytes to send, gateway seq from 1; returns their length.
    pub fn encode(&self, out: &mut [u8; PRE_LOGON_END_BYTES]) -> usize {
        let mut len = 0;
        let mut seq = 1;
        if let Some(reason) = self.rejected {
            len += encode(&LogonRejectedMsg::new(reason), seq, &mut out[len..]).expect("fits");
            seq += 1;
        }
        let end = SessionEndMsg::new(self.reason, self.expected_seq);
        let len = len + encode(&end, seq, &mut out[len..]).expect("fits");
        assert!(len <= PRE_LOGON_END_BYTES);
        len
    }
}

/// For the log: the LogonRejected reason, or the SessionEnd reason.
impl std::fmt::Display for PreLogonEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rejected {
            Some(reason) => write!(f, "{reason:?}"),
            None => write!(f, "{:?}", self.reason),
        }
    }
}

/// Room for the longest [`PreLogonEnd`].
pub const PRE_LOGON_END_BYTES: usize = LogonRejectedMsg::LEN + SessionEndMsg::LEN;

impl ShardCore {
    /// A connection's first message (PROTOCOL.md 5.1): a valid Logon makes
    /// a session; anything else ends the connection.
    ///
    /// Only here is a session slot taken (and a send buffer allocated):
    /// a connection that has not logged on costs the shard neither, so
    /// idle connections cannot lock traders out. The runtime bounds those
    /// connections apart (`admission.rs`) and enforces the logon timeout.
    pub fn first_message(
        &mut self,
        bytes: &[u8],
        writer: Rc<LocalNotify>,
        now: Now,
    ) -> FirstMessage {
        let message = match decode_client(bytes) {
            Err(DecodeError::Incomplete { needed }) => return FirstMessage::Incomplete { needed },
            Err(error) => {
                let reason = error
                    .session_end_reason()
                    .expect("every framing error has a session end reason");
                return FirstMessage::Refused(PreLogonEnd::ended(reason, 1));
            }
            Ok(decoded) => decoded.message,
        };
        self.counters.messages_in += 1;
        if message.header().seq.get() != 1 {
            return FirstMessage::Refused(PreLogonEnd::ended(SessionEndReason::SequenceGap, 1));
        }
        // From here the message is consumed: the client's next seq is 2.
        let ClientMessage::Logon(logon) = message else {
            return FirstMessage::Refused(PreLogonEnd::ended(SessionEndReason::NotLoggedOn, 2));
        };
        match self.logon(logon, writer, now) {
            Ok(id) => {
                assert!(self.sessions.get(id).is_some_and(|s| s.is_active()));
                FirstMessage::LoggedOn(id)
            }
            Err(reason) => FirstMessage::Refused(PreLogonEnd {
                rejected: Some(reason),
                reason: SessionEndReason::LogonRejected,
                expected_seq: 2,
            }),
        }
    }

    /// Records where a session that just logged on connects from, and
    /// logs its logon (one line per logon, bounded per shard).
    pub fn session_started(&mut self, id: SessionRef, peer: std::net::SocketAddr) {
        assert_eq!(id.shard, self.id, "a session lives on its own shard");
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        session.peer = Some(peer);
        let Phase::Active {
            account,
            cancel_on_disconnect,
            role,
            ..
        } = session.phase
        else {
            return;
        };
        let heartbeat_ms = session.heartbeat_ns / 1_000_000;
        if let Some(suppressed) = self.lifecycle_log.allow() {
            tracing::info!(
                shard = self.id,
                slot = id.slot,
                account,
                %peer,
                ?role,
                heartbeat_ms,
                cancel_on_disconnect,
                suppressed,
                "logon"
            );
        }
    }

    /// Decodes and handles every whole message in `bytes`.
    pub fn on_bytes(&mut self, id: SessionRef, bytes: &[u8], now: Now) -> Intake {
        assert_eq!(
            id.shard, self.id,
            "a session's bytes arrive on its own shard"
        );
        let mut consumed = 0;
        let mut blocked = false;
        self.read_begins();
        while let Some(session) = self.sessions.get(id) {
            if session.is_ended() || session.logout_requested {
                consumed = bytes.len(); // nothing after the end is read
                break;
            }
            match decode_client(&bytes[consumed..]) {
                Err(DecodeError::Incomplete { .. }) => break,
                Err(error) => {
                    let reason = error
                        .session_end_reason()
                        .expect("every framing error has a session end reason");
                    self.end_session(id.slot, reason);
                    consumed = bytes.len();
                    break;
                }
                Ok(decoded) => {
                    // Commands queued for this engine count as in flight:
                    // their reports are still to come (`engine_batch.rs`).
                    let in_flight = session.remote_in_flight + self.batch.len() as u32;
                    let own_backlog =
                        session.outbox.over_half_full() || in_flight >= self.max_in_flight;
                    if own_backlog || !self.can_route(session, &decoded.message) {
                        blocked = true;
                        break;
                    }
                    consumed += decoded.len;
                    self.counters.messages_in += 1;
                    self.next_command_of_read(consumed == decoded.len && consumed == bytes.len());
                    self.handle(id.slot, &decoded.message, now);
                }
            }
        }
        self.flush_batch();
        if let Some(session) = self.sessions.get_mut(id) {
            session.input_pending = blocked;
        }
        self.read_ends();
        self.finish_turn();
        assert!(consumed <= bytes.len());
        Intake { consumed, blocked }
    }

    /// Whether a blocked reader may try again: every ring has room and the
    /// session's own outbox is at most half full. The second condition is
    /// the session's own back-pressure: a client that pipelines faster than
    /// the gateway can send its answers is slowed by TCP, not disconnected;
    /// only a client that stops reading while others' activity fills its
    /// outbox is a slow consumer.
    pub fn can_resume(&self, id: SessionRef) -> bool {
        let resume = self.resume(id);
        // A session gone has nothing to wait for.
        debug_assert!(self.sessions.get(id).is_some() || resume != Resume::OnWake);
        resume == Resume::Now
    }

    /// When a blocked reader may try again (see `can_resume`). Its own
    /// room comes back only when its writer hands bytes over or another
    /// shard answers, and both wake it (`Session::reader`): a reader held
    /// up by a client that reads slowly, or not at all, costs nothing
    /// while it waits. Only room in another shard's ring, freed by that
    /// shard's thread, has to be looked for.
    pub fn resume(&self, id: SessionRef) -> Resume {
        debug_assert_eq!(id.shard, self.id);
        let own_room = self
            .sessions
            .get(id)
            .is_none_or(|s| !s.outbox.over_half_full() && s.remote_in_flight < self.max_in_flight);
        if !own_room {
            return Resume::OnWake;
        }
        let rings_have_room = (0..self.shared.config.shard_count())
            .all(|s| s == self.id as usize || self.sender.has_room(s));
        if rings_have_room {
            Resume::Now
        } else {
            Resume::OnRingRoom
        }
    }

    /// What wakes a session's reader (`None`: the session is gone).
    pub fn reader_wake(&self, id: SessionRef) -> Option<Rc<LocalNotify>> {
        let wake = self.sessions.get(id).map(|s| Rc::clone(&s.reader));
        debug_assert!(wake.is_some() || self.session_ended(id));
        wake
    }

    /// Wakes every reader held up by back-pressure: the shard is shutting
    /// down, and they stop.
    pub fn wake_readers(&self) {
        // Only a shard that stops wakes every reader for good.
        debug_assert!(self.shared.shutting_down());
        for slot in 0..self.sessions.capacity() {
            if let Some(session) = self.sessions.get_slot(slot) {
                session.reader.notify();
            }
        }
    }

    /// Whether every ring this message of `session` (the reading one,
    /// already looked up) would use has room now.
    fn can_route(&self, session: &Session, message: &ClientMessage<'_>) -> bool {
        debug_assert!(!session.is_ended(), "an ended session reads nothing");
        if !session.is_active() {
            return true;
        }
        let symbol = match message {
            ClientMessage::NewOrder(m) => m.symbol.get(),
            ClientMessage::CancelOrder(m) => m.symbol.get(),
            ClientMessage::ReplaceOrder(m) => m.symbol.get(),
            ClientMessage::OrderStatusRequest(m) => m.symbol.get(),
            ClientMessage::OrderQuery(m) => m.symbol.get(),
            ClientMessage::OpenOrdersRequest(m) if m.symbol.get() != 0 => m.symbol.get(),
            ClientMessage::PositionsRequest(m) if m.symbol.get() != 0 => m.symbol.get(),
            ClientMessage::DoneOrdersRequest(m) if m.symbol.get() != 0 => m.symbol.get(),
            // Symbol 0: any trading shard (the cursor's) may answer.
            ClientMessage::MassCancel(_)
            | ClientMessage::OpenOrdersRequest(_)
            | ClientMessage::PositionsRequest(_)
            | ClientMessage::DoneOrdersRequest(_) => {
                return self
                    .shared
                    .trading_shards
                    .iter()
                    .all(|&s| s == self.id || self.sender.has_room(s as usize))
            }
            _ => return true,
        };
        match self.shared.owner_of(symbol) {
            Some(owner) if owner != self.id as usize => self.sender.has_room(owner),
            _ => true,
        }
    }

    fn handle(&mut self, slot: u16, message: &ClientMessage<'_>, now: Now) {
        if !matches!(
            message,
            ClientMessage::NewOrder(_)
                | ClientMessage::CancelOrder(_)
                | ClientMessage::ReplaceOrder(_)
        ) {
            // Only order commands join the batch; whatever else comes runs
            // after them (a query reads the book they change).
            self.flush_batch();
        }
        // A request read now waits for its answer from the read's start
        // (`wire_to_wire`); 0 when the read is not stamped.
        let read_ns = self.telemetry.read_ns;
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        assert!(
            !session.is_ended(),
            "nothing is handled after a session's end"
        );
        session.last_rx_ns = now.mono_ns;
        session.messages_in += 1;
        let seq = message.header().seq.get();
        if seq != session.expected_seq {
            self.end_session(slot, SessionEndReason::SequenceGap);
            return;
        }
        session.expected_seq = seq.wrapping_add(1);
        match (session.phase, message) {
            (Phase::Active { .. }, ClientMessage::Logon(_)) => {
                self.end_session(slot, SessionEndReason::DuplicateLogon)
            }
            (Phase::Active { .. }, ClientMessage::Logout(_)) => self.logout(slot),
            (Phase::Active { .. }, ClientMessage::Heartbeat(_)) => {}
            (Phase::Active { .. }, request) => {
                // The oldest unanswered request of the session counts.
                if session.unanswered_since_ns == 0 {
                    session.unanswered_since_ns = read_ns;
                }
                self.order_entry(slot, request, now);
            }
            (Phase::Ended(_), _) => {}
        }
    }

    /// A new session's outbox: the configured send buffer, and room for
    /// one bulk-cancel report per order the account may have open.
    fn session_outbox(&self, account_index: usize) -> Outbox {
        let account = self.shared.account(account_index);
        let bulk = bulk_cancel_bytes(
            account.max_open_orders,
            self.shared.config.symbols.len(),
            self.shared.open_orders_over_limit(account_index),
        );
        debug_assert!(bulk <= 1 << 30);
        Outbox::new(
            self.shared.config.session.send_buffer_bytes,
            bulk,
            self.shared.config.telemetry.latency_capture,
        )
    }

    /// The logon checks of PROTOCOL.md 5.1, in order; then takes a session
    /// slot, registers the session and queues LogonAccepted.
    fn logon(
        &mut self,
        logon: &LogonMsg,
        writer: Rc<LocalNotify>,
        now: Now,
    ) -> Result<SessionRef, LogonRejectReason> {
        if self.shared.shutting_down() {
            return Err(LogonRejectReason::ShuttingDown);
        }
        let request = logon_request(logon)?;
        let account_index = self
            .shared
            .account_index(request.account)
            .ok_or(LogonRejectReason::InvalidCredentials)?;
        let account = self.shared.account(account_index);
        if !tokens_match(account.token.as_bytes(), request.token) {
            return Err(LogonRejectReason::InvalidCredentials);
        }
        if !self.sessions.has_room() {
            return Err(LogonRejectReason::SessionLimit);
        }
        let cfg = &self.shared.config.session;
        let heartbeat_ms = match request.heartbeat_interval_ms {
            0 => cfg.heartbeat_interval_ms,
            ms => ms.clamp(cfg.min_heartbeat_interval_ms, cfg.max_heartbeat_interval_ms),
        };
        let role = account.role;
        let cancel_on_disconnect =
            role != Role::Viewer && (request.cancel_on_disconnect || account.cancel_on_disconnect);
        let mut session = Session {
            phase: Phase::Active {
                account: request.account,
                account_index,
                role,
                cancel_on_disconnect,
            },
            // The Logon was seq 1.
            expected_seq: 2,
            outbox: self.session_outbox(account_index),
            writer,
            reader: Rc::new(LocalNotify::default()),
            bucket: TokenBucket::new(cfg.rate_limit_per_sec, cfg.rate_limit_burst, now.mono_ns),
            heartbeat_ns: heartbeat_ms as u64 * 1_000_000,
            last_rx_ns: now.mono_ns,
            last_tx_ns: now.mono_ns,
            seq_at_tick: 1,
            taken_at_tick: 0,
            remote_in_flight: 0,
            input_pending: false,
            backlog_since_ns: None,
            peer: None,
            messages_in: 1,
            unanswered_since_ns: 0,
            logout_requested: false,
            mass_cancels: [None; MAX_PENDING_MASS_CANCELS],
        };
        let accepted = LogonAcceptedMsg::new(request.account, heartbeat_ms, session.expected_seq);
        let _ = session.outbox.push(&accepted);
        let slot = self.sessions.insert(session).expect("room was checked");
        let me = self.me(slot);
        debug_assert_eq!(me.shard, self.id);
        if !self.shared.directory.register(account_index, me) {
            // The account has its maximum of sessions.
            self.sessions.remove(me);
            return Err(LogonRejectReason::SessionLimit);
        }
        self.counters.sessions_opened += 1;
        self.sessions
            .get_mut(me)
            .expect("just inserted")
            .writer
            .notify();
        Ok(me)
    }
}
