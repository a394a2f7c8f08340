//! The shard's logic without any I/O: sessions, routing, the engine and the
//! mesh, driven by plain method calls. The glommio runtime (`runtime.rs`)
//! moves bytes between sockets and these methods; tests drive them directly
//! (which is how `tests/alloc/gateway.rs` proves the path allocates nothing).
//!
//! A connection's first message goes to `first_message`: only an accepted
//! Logon makes a session (and takes a slot in the session table).
//!
//! Order path, for a session on shard S and a symbol owned by shard O:
//! `on_bytes` decodes and checks the session (sequence, rate, role),
//! converts to an engine `Command` and routes it: if O == S the engine runs
//! inline; otherwise the command crosses the S->O ring. O's engine emits
//! events to a [`Router`], which sends each order report to every session of
//! the account, through the O->S ring when the session is elsewhere. Reports
//! are encoded into the session's outbox on the session's own shard, so
//! outbound sequence numbers need no coordination.

use std::rc::Rc;
use std::sync::Arc;

use super::admission::Peer;
use super::mesh::{Links, MeshMsg, SessionRef, ShardMask};
use super::notify::LocalNotify;
use super::outbox::Outbox;
use super::rate_limit::TokenBucket;
use super::router::{Router, SessionTable};
use super::session::{tokens_match, PendingMassCancel, Phase, Session};
use super::shared::Shared;
use crate::config::Role;
use crate::engine::{AccountId, CancelReason, Command, CountingSink, Engine, Event, RejectReason};
use crate::journal::{self, config_file, JournalError, JournalWriter, Segment, SegmentRequest};
use crate::protocol::*;

/// Report bytes budgeted per command in flight to another shard (an
/// accept, a fill or two and a cancel).
const MAX_REPORT_BYTES_PER_COMMAND: usize = 256;

/// A gap between two ticks longer than this is the shard not running
/// (the runtime ticks every 5 ms): see `ShardCore::credit_own_stall`.
const STALL_CREDIT_AFTER_NS: u64 = 100_000_000;

/// Messages taken from one inbound ring per `poll_mesh` call.
const MESH_BATCH: usize = 4096;

/// The two clocks the core needs, read once per batch by the runtime.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic nanoseconds: rate limits, heartbeats, timeouts.
    pub mono_ns: u64,
    /// Wall-clock nanoseconds since the Unix epoch: report timestamps.
    pub wall_ns: u64,
}

/// What `on_bytes` did with the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intake {
    /// Bytes consumed (whole messages); the rest must be offered again.
    pub consumed: usize,
    /// A destination ring is full: stop reading until `can_resume`.
    pub blocked: bool,
}

/// What the writer of a session should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Bytes were swapped into the spare buffer: write them.
    Data,
    /// Nothing queued; wait for a notification.
    Idle,
    /// Everything including the final SessionEnd is out: close.
    Finished,
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
        len + encode(&end, seq, &mut out[len..]).expect("fits")
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

/// Counters the admin thread will export.
#[derive(Default, Debug, Clone, Copy)]
pub struct ShardCounters {
    pub messages_in: u64,
    pub commands_local: u64,
    pub commands_remote: u64,
    pub mesh_in: u64,
    pub sessions_opened: u64,
    pub sessions_ended: u64,
    pub slow_consumers: u64,
    pub market_events: u64,
    /// Commands refused because the journal could not take them.
    pub journal_refusals: u64,
}

pub struct ShardCore {
    pub id: u16,
    shared: Arc<Shared>,
    engine: Engine,
    /// The write-ahead journal; `None` only in tests that drive the core
    /// without `start`.
    journal: Option<JournalWriter>,
    journal_failing: bool,
    /// A journal sync failed: the gateway is failing-stop (logged once).
    journal_fatal: bool,
    /// Bounds the per-session log lines (logon, session ended) a client
    /// can cause by connecting in a loop.
    lifecycle_log: LifecycleLog,
    /// Monotonic time of the last `tick` (0 before the first).
    last_tick_ns: u64,
    /// Accounts whose cancel-on-disconnect this shard's journal refused
    /// (a full disk), oldest first. They run before any other command of
    /// this shard; until they have, the shard executes nothing else.
    /// Capacity: one per configured account, reserved at start (a pending
    /// cancel covers every later disconnect of the same account).
    pending_disconnect_cancels: Vec<AccountId>,
    /// No spare segment is asked for before this (after a failed creation).
    spare_retry_after_ns: u64,
    /// Commands a session may have in flight on other shards: their reports
    /// must fit the half of its outbox the reader keeps free.
    max_in_flight: u32,
    links: Links,
    sessions: SessionTable,
    /// Bit i set: shard i has new ring input and may need its doorbell.
    doorbells_due: ShardMask,
    pub counters: ShardCounters,
}

impl ShardCore {
    pub fn new(id: u16, shared: Arc<Shared>, links: Links) -> ShardCore {
        let engine = Engine::new(&shared.config.engine_config(id as usize));
        let max_sessions = shared.config.session.max_sessions_per_shard;
        ShardCore {
            id,
            engine,
            journal: None,
            journal_failing: false,
            journal_fatal: false,
            lifecycle_log: LifecycleLog::new(),
            last_tick_ns: 0,
            pending_disconnect_cancels: Vec::with_capacity(shared.config.accounts.len()),
            spare_retry_after_ns: 0,
            max_in_flight: (shared.config.session.send_buffer_bytes
                / 2
                / MAX_REPORT_BYTES_PER_COMMAND)
                .max(1) as u32,
            links,
            sessions: SessionTable::new(max_sessions),
            shared,
            doorbells_due: 0,
            counters: ShardCounters::default(),
        }
    }

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
        let cfg = &self.shared.config.journal;
        let dir = journal::shard_dir(&cfg.dir, self.id);
        let current = self.shared.config.engine_config(self.id as usize);
        let mut sink = CountingSink::default();
        let (mut writer, restored) = journal::restore(
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
        Ok(())
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
        // Re-faults the pages the next appends will write (msync and
        // writeback write-protect them again).
        journal.prefault_ahead();
        // A refused cancel-on-disconnect runs as soon as the journal takes
        // it, not only when the next command arrives.
        if !self.pending_disconnect_cancels.is_empty() {
            self.run_pending_disconnect_cancels(now);
            self.finish_deferred_ends();
            self.ring_doorbells();
        }
    }

    /// The journal failed a sync: from here on this shard acknowledges
    /// nothing (the writer refuses every append) and the gateway stops
    /// with a non-zero exit. Logged once per shard.
    fn fail_stop(&mut self, error: &JournalError) {
        if !self.journal_fatal {
            self.journal_fatal = true;
            tracing::error!(
                shard = self.id,
                %error,
                "journal: sync failed; stopping the gateway (fail-stop): nothing is acknowledged from here on"
            );
        }
        self.shared.fail_stop(format!("shard {}: {error}", self.id));
    }

    /// A segment the journal wants created ahead of need (off this thread).
    /// After a failed creation (full disk) it waits a second before asking
    /// again, so a full disk costs one attempt and one log line a second.
    pub fn journal_spare_needed(&mut self, now: Now) -> Option<SegmentRequest> {
        if now.mono_ns < self.spare_retry_after_ns {
            return None;
        }
        self.journal.as_ref()?.spare_needed()
    }

    pub fn journal_spare_ready(&mut self, created: std::io::Result<Segment>, now: Now) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        match created {
            Ok(segment) => journal.install_spare(segment),
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
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn me(&self, slot: u16) -> SessionRef {
        SessionRef {
            shard: self.id,
            slot,
            generation: self.sessions.generation(slot),
        }
    }

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
            Ok(id) => FirstMessage::LoggedOn(id),
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
        let mut consumed = 0;
        let mut blocked = false;
        while let Some(session) = self.sessions.get(id) {
            if session.is_ended() {
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
                    let own_backlog = session.outbox.over_half_full()
                        || session.remote_in_flight >= self.max_in_flight;
                    if own_backlog || !self.can_route(id.slot, &decoded.message) {
                        blocked = true;
                        break;
                    }
                    consumed += decoded.len;
                    self.counters.messages_in += 1;
                    self.handle(id.slot, &decoded.message, now);
                }
            }
        }
        if let Some(session) = self.sessions.get_mut(id) {
            session.input_pending = blocked;
        }
        self.finish_deferred_ends();
        self.ring_doorbells();
        Intake { consumed, blocked }
    }

    /// Whether a blocked reader may try again: every ring has room and the
    /// session's own outbox is at most half full. The second condition is
    /// the session's own back-pressure: a client that pipelines faster than
    /// the gateway can send its answers is slowed by TCP, not disconnected;
    /// only a client that stops reading while others' activity fills its
    /// outbox is a slow consumer.
    pub fn can_resume(&self, id: SessionRef) -> bool {
        let own_room = self
            .sessions
            .get(id)
            .is_none_or(|s| !s.outbox.over_half_full() && s.remote_in_flight < self.max_in_flight);
        own_room
            && (0..self.shared.config.shard_count())
                .all(|s| s == self.id as usize || self.links.has_room(s))
    }

    /// Whether every ring this message would use has room now.
    fn can_route(&self, slot: u16, message: &ClientMessage<'_>) -> bool {
        let Some(session) = self.sessions.get_slot(slot) else {
            return true;
        };
        if !session.is_active() {
            return true;
        }
        let symbol = match message {
            ClientMessage::NewOrder(m) => m.symbol.get(),
            ClientMessage::CancelOrder(m) => m.symbol.get(),
            ClientMessage::ReplaceOrder(m) => m.symbol.get(),
            ClientMessage::OrderStatusRequest(m) => m.symbol.get(),
            ClientMessage::MassCancel(_) => {
                return self
                    .shared
                    .trading_shards
                    .iter()
                    .all(|&s| s == self.id || self.links.has_room(s as usize))
            }
            _ => return true,
        };
        match self.shared.owner_of(symbol) {
            Some(owner) if owner != self.id as usize => self.links.has_room(owner),
            _ => true,
        }
    }

    fn handle(&mut self, slot: u16, message: &ClientMessage<'_>, now: Now) {
        let session = self.sessions.get_slot_mut(slot).expect("live session");
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
            (Phase::Active { .. }, ClientMessage::Logout(_)) => {
                self.end_session(slot, SessionEndReason::Logout)
            }
            (Phase::Active { .. }, ClientMessage::Heartbeat(_)) => {}
            (Phase::Active { .. }, request) => self.order_entry(slot, request, now),
            (Phase::Ended(_), _) => {}
        }
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
            outbox: Outbox::new(cfg.send_buffer_bytes),
            writer,
            bucket: TokenBucket::new(cfg.rate_limit_per_sec, cfg.rate_limit_burst, now.mono_ns),
            heartbeat_ns: heartbeat_ms as u64 * 1_000_000,
            last_rx_ns: now.mono_ns,
            last_tx_ns: now.mono_ns,
            seq_at_tick: 1,
            remote_in_flight: 0,
            input_pending: false,
            backlog_since_ns: None,
            peer: None,
            messages_in: 1,
            mass_cancels: [None; super::session::MAX_PENDING_MASS_CANCELS],
        };
        let accepted = LogonAcceptedMsg::new(request.account, heartbeat_ms, session.expected_seq);
        let _ = session.outbox.push(&accepted);
        let slot = self.sessions.insert(session).expect("room was checked");
        let me = self.me(slot);
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

    /// NewOrder, CancelOrder, ReplaceOrder, MassCancel, OrderStatusRequest
    /// from an active session: rate limit, role, conversion, routing.
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    fn order_entry(&mut self, slot: u16, request: &ClientMessage<'_>, now: Now) {
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        let Phase::Active { account, role, .. } = session.phase else {
            unreachable!("order entry needs an active session");
        };
        let refusal = if !session.bucket.try_take(now.mono_ns) {
            Some(RejectReason::RateLimited)
        } else if role == Role::Viewer && !matches!(request, ClientMessage::OrderStatusRequest(_)) {
            Some(RejectReason::NotAuthorized)
        } else {
            None
        };
        let origin = self.me(slot);
        match *request {
            ClientMessage::NewOrder(m) => {
                let command = refusal.map_or_else(|| new_order_command(m, account), Err);
                match command {
                    Ok(command) => self.route(m.symbol.get(), command, origin, 0, now),
                    Err(reason) => self.refuse(
                        slot,
                        Event::Rejected {
                            account,
                            symbol: m.symbol.get(),
                            client_order_id: m.client_order_id.get(),
                            reason,
                        },
                        now,
                    ),
                }
            }
            ClientMessage::CancelOrder(m) => match refusal {
                None => self.route(m.symbol.get(), cancel_command(m, account), origin, 0, now),
                Some(reason) => self.refuse(
                    slot,
                    Event::CancelRejected {
                        order_id: m.order_id.get(),
                        account,
                        symbol: m.symbol.get(),
                        client_order_id: m.client_order_id.get(),
                        reason,
                    },
                    now,
                ),
            },
            ClientMessage::ReplaceOrder(m) => {
                let command = refusal.map_or_else(|| replace_command(m, account), Err);
                match command {
                    Ok(command) => self.route(m.symbol.get(), command, origin, 0, now),
                    Err(reason) => self.refuse(
                        slot,
                        Event::CancelRejected {
                            order_id: m.order_id.get(),
                            account,
                            symbol: m.symbol.get(),
                            client_order_id: m.client_order_id.get(),
                            reason,
                        },
                        now,
                    ),
                }
            }
            ClientMessage::MassCancel(m) => self.mass_cancel(slot, m, refusal, now),
            ClientMessage::OrderStatusRequest(m) => match refusal {
                None => self.order_status(slot, account, m),
                Some(reason) => {
                    self.push_to(slot, &OrderStatusMsg::refused(m, reason));
                }
            },
            ClientMessage::Logon(_) | ClientMessage::Logout(_) | ClientMessage::Heartbeat(_) => {
                unreachable!("session messages are handled before order entry")
            }
        }
    }

    /// Answers a request the gateway refused itself: only to the requester.
    fn refuse(&mut self, slot: u16, event: Event, now: Now) {
        let report = SessionReport::from_event(&event, now.wall_ns).expect("a reject is a report");
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        if session.outbox.push_report(&report).is_err() {
            self.end_session(slot, SessionEndReason::SlowConsumer);
        } else {
            session.writer.notify();
        }
    }

    fn push_to<M: WireMessage>(&mut self, slot: u16, msg: &M) {
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        if session.outbox.push(msg).is_err() {
            self.end_session(slot, SessionEndReason::SlowConsumer);
        } else {
            session.writer.notify();
        }
    }

    /// Sends a command to the engine that owns `symbol`.
    fn route(
        &mut self,
        symbol: u32,
        command: Command,
        origin: SessionRef,
        request_id: u64,
        now: Now,
    ) {
        match self.shared.owner_of(symbol) {
            Some(owner) if owner == self.id as usize => {
                self.counters.commands_local += 1;
                self.run_engine(&command, Some(origin), request_id, now);
            }
            Some(owner) => self.send_command(owner, origin, request_id, command),
            // No engine owns it: answer as an engine would.
            None => self.run_engine_unknown_symbol(&command, origin.slot, now),
        }
    }

    fn run_engine_unknown_symbol(&mut self, command: &Command, slot: u16, now: Now) {
        if let Some(event) = refusal_of(command, RejectReason::UnknownSymbol) {
            self.refuse(slot, event, now);
        }
    }

    /// Runs one command through this shard's engine, routing its events.
    /// Write-ahead: the command is in the journal before the engine sees it,
    /// so no report of it can leave before it is recorded. Deferred
    /// cancel-on-disconnects go first; while any is still refused, so is
    /// this command.
    fn run_engine(
        &mut self,
        command: &Command,
        origin: Option<SessionRef>,
        request_id: u64,
        now: Now,
    ) {
        if self.journal.is_some()
            && (!self.run_pending_disconnect_cancels(now) || !self.journal_append(command, now))
        {
            self.counters.journal_refusals += 1;
            self.refuse_unjournaled(command, origin, request_id, now);
            return;
        }
        self.execute(command, origin, request_id, now);
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
        let mut router = Router {
            shard: self.id,
            shared: &self.shared,
            sessions: &mut self.sessions,
            links: &mut self.links,
            doorbells_due: &mut self.doorbells_due,
            counters: &mut self.counters,
            origin,
            request_id,
            wall_ns: now.wall_ns,
        };
        self.engine.process(command, &mut router);
    }

    /// Journals one command; `false` if the journal refused it (a full
    /// disk, or a failed sync, which also begins the fail-stop).
    fn journal_append(&mut self, command: &Command, now: Now) -> bool {
        let journal = self.journal.as_mut().expect("a journal to append to");
        match journal.append(now.wall_ns, command) {
            Ok(_) => {
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
    fn run_pending_disconnect_cancels(&mut self, now: Now) -> bool {
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
        let event = match *command {
            Command::New(_) | Command::Cancel(_) | Command::Replace(_) => {
                refusal_of(command, RejectReason::JournalUnavailable).expect("an order command")
            }
            Command::MassCancel { .. } => {
                // The requester's total simply does not include this shard.
                match origin {
                    Some(origin) if origin.shard == self.id => {
                        self.sessions.mass_cancel_done(origin, request_id, 0)
                    }
                    Some(origin) => {
                        self.links.send(
                            origin.shard as usize,
                            MeshMsg::MassCancelDone {
                                dest: origin,
                                request_id,
                                canceled: 0,
                            },
                        );
                        self.doorbells_due |= 1 << origin.shard;
                    }
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
            self.sessions.deliver_report(origin, &event, now.wall_ns);
        } else {
            self.links.send(
                origin.shard as usize,
                MeshMsg::Report {
                    dest: origin,
                    event,
                },
            );
            self.doorbells_due |= 1 << origin.shard;
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

    fn mass_cancel(
        &mut self,
        slot: u16,
        m: &MassCancelMsg,
        refusal: Option<RejectReason>,
        now: Now,
    ) {
        let request_id = m.client_order_id.get();
        let symbol = m.symbol.get();
        let refuse = |core: &mut ShardCore, reason| {
            let done = MassCancelDoneMsg::new(
                request_id,
                (symbol != 0).then_some(symbol),
                0,
                Some(reason),
            );
            core.push_to(slot, &done);
        };
        if let Some(reason) = refusal {
            return refuse(self, reason);
        }
        let shared = Arc::clone(&self.shared);
        let owners: &[u16] = match symbol {
            0 => &shared.trading_shards,
            _ => match shared.owner_of(symbol) {
                Some(owner) => std::slice::from_ref(
                    shared
                        .trading_shards
                        .iter()
                        .find(|&&s| s as usize == owner)
                        .expect("an owner shard trades"),
                ),
                None => return refuse(self, RejectReason::UnknownSymbol),
            },
        };
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        let Some(free) = session.mass_cancels.iter_mut().find(|p| p.is_none()) else {
            return refuse(self, RejectReason::ShardBusy);
        };
        *free = Some(PendingMassCancel {
            request_id,
            symbol,
            remaining_shards: owners.len() as u16,
            canceled: 0,
        });
        let Phase::Active { account, .. } = session.phase else {
            unreachable!("mass cancel needs an active session");
        };
        let command = Command::MassCancel {
            account,
            symbol: (symbol != 0).then_some(symbol),
            reason: CancelReason::MassCancel,
        };
        let origin = self.me(slot);
        for &owner in owners.iter() {
            if owner == self.id {
                self.run_engine(&command, Some(origin), request_id, now);
            } else {
                self.send_command(owner as usize, origin, request_id, command);
            }
        }
    }

    /// Sends a session's command to the shard that owns its symbol and
    /// counts it in flight until that shard's `Processed` comes back.
    fn send_command(
        &mut self,
        owner: usize,
        origin: SessionRef,
        request_id: u64,
        command: Command,
    ) {
        self.counters.commands_remote += 1;
        if let Some(session) = self.sessions.get_mut(origin) {
            session.remote_in_flight += 1;
        }
        self.links.send(
            owner,
            MeshMsg::Command {
                origin: Some(origin),
                request_id,
                command,
            },
        );
        self.doorbells_due |= 1 << owner;
    }

    fn order_status(&mut self, slot: u16, account: u32, request: &OrderStatusRequestMsg) {
        match self.shared.owner_of(request.symbol.get()) {
            Some(owner) if owner == self.id as usize => {
                let status = status_answer(&self.engine, account, request);
                self.push_to(slot, &status);
            }
            Some(owner) => {
                let origin = self.me(slot);
                if let Some(session) = self.sessions.get_mut(origin) {
                    session.remote_in_flight += 1;
                }
                self.links.send(
                    owner,
                    MeshMsg::StatusRequest {
                        origin,
                        account,
                        request: *request,
                    },
                );
                self.doorbells_due |= 1 << owner;
            }
            None => self.push_to(slot, &OrderStatusMsg::unknown(request)),
        }
    }

    /// Drains every inbound ring and the overflow queues. Returns how many
    /// messages were handled.
    pub fn poll_mesh(&mut self, now: Now) -> usize {
        let mut handled = self.links.flush_overflow(&mut self.doorbells_due);
        for from in 0..self.links.inbound.len() {
            // Bounded per call so one busy ring cannot starve sockets.
            for _ in 0..MESH_BATCH {
                let Some(msg) = self.links.inbound[from].as_mut().and_then(|c| c.pop().ok()) else {
                    break;
                };
                handled += 1;
                self.links.received[from] += 1;
                self.counters.mesh_in += 1;
                self.on_mesh(msg, now);
            }
        }
        self.finish_deferred_ends();
        self.ring_doorbells();
        handled
    }

    fn on_mesh(&mut self, msg: MeshMsg, now: Now) {
        match msg {
            MeshMsg::Command {
                origin,
                request_id,
                command,
            } => {
                self.run_engine(&command, origin, request_id, now);
                // After the command's reports on the same ring: when it
                // arrives, every report for the origin session is in.
                if let Some(origin) = origin {
                    self.links
                        .send(origin.shard as usize, MeshMsg::Processed { dest: origin });
                    self.doorbells_due |= 1 << origin.shard;
                }
            }
            MeshMsg::Processed { dest } => self.sessions.command_done(dest),
            MeshMsg::StatusRequest {
                origin,
                account,
                request,
            } => {
                let status = status_answer(&self.engine, account, &request);
                self.links.send(
                    origin.shard as usize,
                    MeshMsg::Status {
                        dest: origin,
                        status,
                    },
                );
                self.doorbells_due |= 1 << origin.shard;
            }
            MeshMsg::Report { dest, event } => {
                self.sessions.deliver_report(dest, &event, now.wall_ns)
            }
            MeshMsg::Status { dest, status } => {
                self.sessions.command_done(dest);
                if self.sessions.get(dest).is_some_and(|s| !s.is_ended()) {
                    self.push_to(dest.slot, &status);
                }
            }
            MeshMsg::MassCancelDone {
                dest,
                request_id,
                canceled,
            } => self.sessions.mass_cancel_done(dest, request_id, canceled),
        }
    }

    fn ring_doorbells(&mut self) {
        let mut due = std::mem::take(&mut self.doorbells_due);
        while due != 0 {
            let shard = due.trailing_zeros() as usize;
            due &= due - 1;
            self.shared.doorbells[shard].ring();
        }
        // Only this shard's mesh loop moves its overflow into the rings. If
        // a reader, the ticker or a closing session queued some while that
        // loop is parked, wake it (`ring` writes only when it is parked).
        if self.links.overflow_pending() {
            self.shared.doorbells[self.id as usize].ring();
        }
    }

    /// This shard's mesh traffic counters: (sent to each shard, received
    /// from each shard).
    pub fn traffic(&self) -> (&[u64], &[u64]) {
        (&self.links.sent, &self.links.received)
    }

    /// Whether ring input is waiting (a parked shard re-checks this).
    pub fn mesh_pending(&self) -> bool {
        self.links.inbound_pending() || self.links.overflow_pending()
    }

    /// Ends a session: queues SessionEnd, unregisters it, and runs
    /// cancel-on-disconnect. Idempotent.
    /// SessionEnd carries the client `seq` the gateway expected next.
    pub fn end_session(&mut self, slot: u16, reason: SessionEndReason) {
        let Some(session) = self.sessions.get_slot_mut(slot) else {
            return;
        };
        if session.is_ended() {
            return;
        }
        let phase = session.phase;
        session.phase = Phase::Ended(Some(reason));
        let expected_seq = session.expected_seq;
        session
            .outbox
            .push_final(&SessionEndMsg::new(reason, expected_seq));
        let account = match phase {
            Phase::Active { account, .. } => Some(account),
            _ => None,
        };
        let (peer, messages_in) = (session.peer, session.messages_in);
        let messages_out = session.outbox.next_seq().wrapping_sub(1);
        session.writer.notify();
        // Once per session, never per message: operators need to see why a
        // bot was cut off. Bounded like every line a client can cause.
        if let Some(suppressed) = self.lifecycle_log.allow() {
            tracing::info!(
                shard = self.id,
                slot,
                ?account,
                peer = %Peer(peer),
                ?reason,
                expected_seq,
                messages_in,
                messages_out,
                suppressed,
                "session ended"
            );
        }
        if reason == SessionEndReason::SlowConsumer {
            self.counters.slow_consumers += 1;
        }
        self.after_end(slot, phase);
    }

    /// The connection is gone (closed by the peer, broken, or finished
    /// after SessionEnd): ends the session if it was not, frees the slot.
    pub fn close_session(&mut self, id: SessionRef) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let phase = session.phase;
        if !session.is_ended() {
            // The connection went first (closed, reset, broken): no
            // SessionEnd was sent, but the operator still gets the line.
            session.phase = Phase::Ended(None);
            let (peer, messages_in) = (session.peer, session.messages_in);
            let messages_out = session.outbox.next_seq().wrapping_sub(1);
            if let Some(suppressed) = self.lifecycle_log.allow() {
                let account = match phase {
                    Phase::Active { account, .. } => Some(account),
                    _ => None,
                };
                tracing::info!(
                    shard = self.id,
                    slot = id.slot,
                    ?account,
                    peer = %Peer(peer),
                    reason = "connection closed by the client or broken",
                    messages_in,
                    messages_out,
                    suppressed,
                    "session ended"
                );
            }
            self.after_end(id.slot, phase);
        }
        let session = self.sessions.get_mut(id).expect("still there");
        session.writer.notify();
        self.sessions.remove(id);
        self.counters.sessions_ended += 1;
        self.finish_deferred_ends();
        self.ring_doorbells();
    }

    fn after_end(&mut self, slot: u16, phase: Phase) {
        let Phase::Active {
            account,
            account_index,
            cancel_on_disconnect,
            ..
        } = phase
        else {
            return;
        };
        let me = self.me(slot);
        self.shared.directory.unregister(account_index, me);
        if !cancel_on_disconnect {
            return;
        }
        let command = Command::MassCancel {
            account,
            symbol: None,
            reason: CancelReason::Disconnect,
        };
        let now = Now {
            mono_ns: 0,
            wall_ns: wall_clock_ns(),
        };
        let shared = Arc::clone(&self.shared);
        for &owner in &shared.trading_shards {
            if owner == self.id {
                self.run_engine(&command, None, 0, now);
            } else {
                self.links.send(
                    owner as usize,
                    MeshMsg::Command {
                        origin: None,
                        request_id: 0,
                        command,
                    },
                );
                self.doorbells_due |= 1 << owner;
            }
        }
    }

    /// Sessions the router found too slow while the engine ran: end them now
    /// that the engine is no longer borrowed.
    fn finish_deferred_ends(&mut self) {
        while let Some(slot) = self.sessions.take_deferred_end() {
            self.end_session(slot, SessionEndReason::SlowConsumer);
        }
    }

    /// Heartbeats and timeouts; the runtime calls it every few milliseconds.
    pub fn tick(&mut self, now: Now) {
        self.credit_own_stall(now);
        let idle_intervals = self.shared.config.session.idle_timeout_intervals as u64;
        for slot in 0..self.sessions.capacity() {
            let Some(session) = self.sessions.get_slot_mut(slot) else {
                continue;
            };
            let seq = session.outbox.next_seq();
            if seq != session.seq_at_tick {
                session.seq_at_tick = seq;
                session.last_tx_ns = now.mono_ns;
            }
            if !session.is_active() {
                continue;
            }
            let idle_window = idle_intervals * session.heartbeat_ns;
            if session.input_pending {
                // Not idle: its messages wait in the reader. If they
                // wait because it does not read its own reports,
                // it is a slow consumer once that lasts the window.
                session.last_rx_ns = now.mono_ns;
                if session.outbox.over_half_full() {
                    let since = *session.backlog_since_ns.get_or_insert(now.mono_ns);
                    if now.mono_ns - since >= idle_window {
                        self.end_session(slot, SessionEndReason::SlowConsumer);
                        continue;
                    }
                } else {
                    session.backlog_since_ns = None;
                }
            } else {
                session.backlog_since_ns = None;
            }
            let session = self.sessions.get_slot_mut(slot).expect("live session");
            if now.mono_ns - session.last_rx_ns >= idle_window {
                self.end_session(slot, SessionEndReason::IdleTimeout);
            } else if now.mono_ns - session.last_tx_ns >= session.heartbeat_ns {
                session.last_tx_ns = now.mono_ns;
                self.push_to(slot, &GatewayHeartbeatMsg::new());
            }
        }
        self.finish_deferred_ends();
        self.ring_doorbells();
    }

    /// The runtime ticks every few milliseconds; a gap of more than
    /// [`STALL_CREDIT_AFTER_NS`] means the shard itself did not run (the
    /// process was stopped or frozen, the VM paused, the core starved).
    /// That time is not the clients' silence: it is credited to every
    /// session's idle timer, so the first tick after a resume, which may run
    /// before the readers have taken the bytes waiting in the sockets, does
    /// not end sessions that were active when the shard stopped.
    fn credit_own_stall(&mut self, now: Now) {
        let last = std::mem::replace(&mut self.last_tick_ns, now.mono_ns);
        let gap = now.mono_ns.saturating_sub(last);
        if last == 0 || gap <= STALL_CREDIT_AFTER_NS {
            return;
        }
        for slot in 0..self.sessions.capacity() {
            if let Some(session) = self.sessions.get_slot_mut(slot) {
                session.last_rx_ns = (session.last_rx_ns + gap).min(now.mono_ns);
            }
        }
        tracing::warn!(
            shard = self.id,
            stalled_ms = gap / 1_000_000,
            "shard did not run (stopped, frozen or starved): idle timers credited"
        );
    }

    /// Ends every session with SessionEnd(Shutdown), or
    /// SessionEnd(JournalFailure) when the gateway is failing-stop.
    pub fn shut_down_sessions(&mut self) {
        let reason = self.shared.shutdown_end_reason();
        for slot in 0..self.sessions.capacity() {
            self.end_session(slot, reason);
        }
        self.finish_deferred_ends();
        self.ring_doorbells();
    }

    /// Hands a session's queued bytes to its writer (see [`Output`]).
    pub fn take_output(&mut self, id: SessionRef, spare: &mut Vec<u8>) -> Output {
        let Some(session) = self.sessions.get_mut(id) else {
            return Output::Finished;
        };
        if !session.outbox.is_empty() {
            session.outbox.swap_out(spare);
            Output::Data
        } else if session.is_ended() {
            Output::Finished
        } else {
            Output::Idle
        }
    }

    pub fn session_ended(&self, id: SessionRef) -> bool {
        self.sessions.get(id).is_none_or(|s| s.is_ended())
    }

    pub fn live_sessions(&self) -> usize {
        self.sessions.live()
    }
}

/// At most [`LifecycleLog::PER_SEC`] session lines a second per shard (a
/// burst of as many), counting what it leaves out for the next line.
struct LifecycleLog {
    bucket: TokenBucket,
    suppressed: u64,
}

impl LifecycleLog {
    const PER_SEC: u32 = 200;

    fn new() -> LifecycleLog {
        LifecycleLog {
            bucket: TokenBucket::new(Self::PER_SEC, Self::PER_SEC, wall_clock_ns()),
            suppressed: 0,
        }
    }

    /// `Some(lines left out since the last one)` if a line may be written.
    fn allow(&mut self) -> Option<u64> {
        if self.bucket.try_take(wall_clock_ns()) {
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// The report that refuses an order command before any engine ran it:
/// OrderRejected for a new order, CancelRejected for a cancel or replace.
fn refusal_of(command: &Command, reason: RejectReason) -> Option<Event> {
    Some(match *command {
        Command::New(o) => Event::Rejected {
            account: o.account,
            symbol: o.symbol,
            client_order_id: o.client_order_id,
            reason,
        },
        Command::Cancel(c) => Event::CancelRejected {
            order_id: c.order_id,
            account: c.account,
            symbol: c.symbol,
            client_order_id: c.client_order_id,
            reason,
        },
        Command::Replace(r) => Event::CancelRejected {
            order_id: r.order_id,
            account: r.account,
            symbol: r.symbol,
            client_order_id: r.client_order_id,
            reason,
        },
        _ => return None,
    })
}

/// The OrderStatus answer for `account`'s order, from the owning engine.
fn status_answer(engine: &Engine, account: u32, request: &OrderStatusRequestMsg) -> OrderStatusMsg {
    match engine.order(account, request.symbol.get(), request.order_id.get()) {
        Some(view) => OrderStatusMsg::found(
            request.client_order_id.get(),
            &OrderSnapshot::resting(&view),
        ),
        None => OrderStatusMsg::unknown(request),
    }
}

pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
