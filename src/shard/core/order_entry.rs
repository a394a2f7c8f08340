//! Order entry from an active session: the rate limit and the role check,
//! conversion of the wire message into an engine command, and routing to
//! the shard that owns the symbol (the engine inline when that is this
//! shard). Mass cancel fans out to every trading shard and is answered
//! once all have counted; order status is answered by the owner's engine.

use std::sync::Arc;

use super::queries::AccountQuery;
use super::{Now, ShardCore};
use crate::config::Role;
use crate::engine::{CancelReason, Command, Engine, Event, RejectReason};
use crate::protocol::*;
use crate::shard::mesh::SessionRef;
use crate::shard::session::{PendingMassCancel, Phase};
use crate::telemetry::Stage;

impl ShardCore {
    /// NewOrder, CancelOrder, ReplaceOrder, MassCancel, OrderStatusRequest
    /// from an active session: rate limit, role, conversion, routing. A
    /// refusal (rate, role, a bad field) goes to the requester only.
    pub(super) fn order_entry(&mut self, slot: u16, request: &ClientMessage<'_>, now: Now) {
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        let Phase::Active { account, role, .. } = session.phase else {
            unreachable!("order entry needs an active session");
        };
        let refusal = if !session.bucket.try_take(now.mono_ns) {
            Some(RejectReason::RateLimited)
        } else if role == Role::Viewer && !is_read_only(request) {
            Some(RejectReason::NotAuthorized)
        } else {
            None
        };
        let (symbol, command) = match *request {
            ClientMessage::NewOrder(m) => (m.symbol.get(), new_order_command(m, account)),
            ClientMessage::CancelOrder(m) => (m.symbol.get(), Ok(cancel_command(m, account))),
            ClientMessage::ReplaceOrder(m) => (m.symbol.get(), replace_command(m, account)),
            ClientMessage::MassCancel(m) => return self.mass_cancel(slot, m, refusal, now),
            ClientMessage::OrderStatusRequest(m) => {
                return match refusal {
                    None => self.order_status(slot, account, m),
                    Some(reason) => self.push_to(slot, &OrderStatusMsg::refused(m, reason)),
                }
            }
            ClientMessage::OrderQuery(m) => {
                return self.account_query(slot, account, AccountQuery::ByClientId(*m), refusal)
            }
            ClientMessage::OpenOrdersRequest(m) => {
                return self.account_query(slot, account, AccountQuery::OpenOrders(*m), refusal)
            }
            ClientMessage::PositionsRequest(m) => {
                return self.account_query(slot, account, AccountQuery::Positions(*m), refusal)
            }
            ClientMessage::DoneOrdersRequest(m) => {
                return self.account_query(slot, account, AccountQuery::DoneOrders(*m), refusal)
            }
            ClientMessage::ReplayRequest(m) => {
                return self.replay_request(slot, account, m, refusal)
            }
            ClientMessage::Logon(_) | ClientMessage::Logout(_) | ClientMessage::Heartbeat(_) => {
                unreachable!("session messages are handled before order entry")
            }
        };
        // The session's refusal comes before the message's own faults.
        match refusal.map_or(command, Err) {
            Ok(command) => {
                let origin = self.me(slot);
                self.route(symbol, command, origin, 0, now);
            }
            Err(reason) => {
                let event = order_rejection(request, account, reason).expect("an order request");
                self.refuse(slot, event, now);
            }
        }
    }

    /// Answers a request the gateway refused itself: only to the requester,
    /// after the answers to the commands before it.
    fn refuse(&mut self, slot: u16, event: Event, now: Now) {
        self.flush_batch();
        debug_assert!(matches!(
            event,
            Event::Rejected { .. } | Event::CancelRejected { .. }
        ));
        self.counters.count_report(&event);
        let report = SessionReport::from_event(&event, now.wall_ns, ReportNumber::NONE)
            .expect("a reject is a report");
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        if session.outbox.push_report(&report).is_err() {
            self.end_session(slot, SessionEndReason::SlowConsumer);
        } else {
            session.writer.notify();
        }
    }

    /// Queues a gateway answer for the session, after the answers to the
    /// commands before it.
    pub(super) fn push_to<M: WireMessage>(&mut self, slot: u16, msg: &M) {
        debug_assert!(slot < self.sessions.capacity());
        self.flush_batch();
        let session = self.sessions.get_slot_mut(slot).expect("live session");
        if session.outbox.push(msg).is_err() {
            self.end_session(slot, SessionEndReason::SlowConsumer);
        } else {
            session.writer.notify();
        }
    }

    /// Sends a command to the engine that owns `symbol`: this shard's
    /// queues it in the read's batch (`engine_batch.rs`).
    fn route(
        &mut self,
        symbol: u32,
        command: Command,
        origin: SessionRef,
        request_id: u64,
        now: Now,
    ) {
        debug_assert_eq!(origin.shard, self.id, "routed from the session's shard");
        match self.shared.owner_of(symbol) {
            Some(owner) if owner == self.id as usize => {
                self.counters.commands_local += 1;
                self.batch_command(command, origin, request_id, now);
            }
            Some(owner) => self.send_command(owner, origin, request_id, command),
            // No engine owns it: answer as an engine would.
            None => self.run_engine_unknown_symbol(&command, origin.slot, now),
        }
    }

    fn run_engine_unknown_symbol(&mut self, command: &Command, slot: u16, now: Now) {
        // Mass cancel and status answer unknown symbols on their own paths.
        debug_assert!(matches!(
            command,
            Command::New(_) | Command::Cancel(_) | Command::Replace(_)
        ));
        if let Some(event) = refusal_of(command, RejectReason::UnknownSymbol) {
            self.refuse(slot, event, now);
        }
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
            refused: None,
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
        assert!(!owners.is_empty(), "a mass cancel asks at least one shard");
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
        assert_ne!(owner, self.id as usize, "a local command runs inline");
        self.counters.commands_remote += 1;
        if let Some(session) = self.sessions.get_mut(origin) {
            session.remote_in_flight += 1;
        }
        let sent_ns = self.command_stamp();
        self.record_span(Stage::Intake, self.telemetry.read_ns, sent_ns);
        self.sender
            .command(owner as u16, Some(origin), request_id, command, sent_ns);
    }

    fn order_status(&mut self, slot: u16, account: u32, request: &OrderStatusRequestMsg) {
        debug_assert!(self.sessions.get_slot(slot).is_some_and(|s| s.is_active()));
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
                self.sender
                    .status_request(owner as u16, origin, account, *request);
            }
            None => self.push_to(slot, &OrderStatusMsg::unknown(request)),
        }
    }
}

/// The requests a viewer may send: the ones that change nothing.
fn is_read_only(request: &ClientMessage<'_>) -> bool {
    let read_only = matches!(
        request,
        ClientMessage::OrderStatusRequest(_)
            | ClientMessage::OrderQuery(_)
            | ClientMessage::OpenOrdersRequest(_)
            | ClientMessage::PositionsRequest(_)
            | ClientMessage::ReplayRequest(_)
            | ClientMessage::DoneOrdersRequest(_)
    );
    debug_assert!(!read_only || client_command(request, 0).is_none());
    read_only
}

/// The report that refuses an order command before any engine ran it:
/// OrderRejected for a new order, CancelRejected for a cancel or replace.
pub(super) fn refusal_of(command: &Command, reason: RejectReason) -> Option<Event> {
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
pub(super) fn status_answer(
    engine: &Engine,
    account: u32,
    request: &OrderStatusRequestMsg,
) -> OrderStatusMsg {
    let answer = match engine.order(account, request.symbol.get(), request.order_id.get()) {
        Some(view) => OrderStatusMsg::found(
            request.client_order_id.get(),
            &OrderSnapshot::resting(&view),
        ),
        None => OrderStatusMsg::unknown(request),
    };
    debug_assert_eq!(answer.client_order_id.get(), request.client_order_id.get());
    answer
}
