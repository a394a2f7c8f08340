//! Field-level validation: decoded messages to engine commands.
//!
//! A framing error means the byte stream can no longer be trusted, so it
//! ends the session. A bad field value (an unknown side, a zero quantity)
//! is one order's problem: it becomes a `RejectReason` for that order and
//! the session carries on. Checks that need engine state (symbol exists,
//! tick and lot sizes, price band, risk) are the engine's; the checks here
//! need only the message.
//!
//! The reverse direction, [`report_to_event`], is for client libraries and
//! tests: it turns a decoded order report back into the engine event it
//! was made from.

use super::client::*;
use super::decode::{ClientMessage, GatewayMessage};
use super::reasons::LogonRejectReason;
use crate::engine::{
    AccountId, CancelOrder, CancelReason, Command, Event, Liquidity, NewOrder, OrderKind,
    RejectReason, ReplaceOrder, Side, StpMode, TimeInForce,
};

/// NewOrder to `Command::New`. Checks run in this order and the first
/// failure decides the reason: side, order kind, time in force, STP mode,
/// flags (an undefined bit is `InvalidCombination`), quantity (0 is
/// `InvalidQty`).
pub fn new_order_command(msg: &NewOrderMsg, account: AccountId) -> Result<Command, RejectReason> {
    let side = Side::from_u8(msg.side).ok_or(RejectReason::InvalidSide)?;
    let kind = OrderKind::from_u8(msg.order_kind).ok_or(RejectReason::InvalidOrderType)?;
    let tif = TimeInForce::from_u8(msg.tif).ok_or(RejectReason::InvalidTimeInForce)?;
    let stp = match msg.stp {
        0 => None,
        code => Some(StpMode::from_u8(code).ok_or(RejectReason::InvalidStpMode)?),
    };
    if msg.flags & !ORDER_FLAG_POST_ONLY != 0 {
        return Err(RejectReason::InvalidCombination);
    }
    let qty = msg.qty.get();
    if qty == 0 {
        return Err(RejectReason::InvalidQty);
    }
    Ok(Command::New(NewOrder {
        account,
        symbol: msg.symbol.get(),
        client_order_id: msg.client_order_id.get(),
        side,
        kind,
        tif,
        post_only: msg.flags & ORDER_FLAG_POST_ONLY != 0,
        stp,
        price: msg.price.get(),
        qty,
    }))
}

/// CancelOrder to `Command::Cancel`. Nothing to check without the book:
/// an unknown or foreign order is the engine's `UnknownOrder`.
pub fn cancel_command(msg: &CancelOrderMsg, account: AccountId) -> Command {
    Command::Cancel(CancelOrder {
        account,
        symbol: msg.symbol.get(),
        order_id: msg.order_id.get(),
        client_order_id: msg.client_order_id.get(),
    })
}

/// ReplaceOrder to `Command::Replace`; a `new_qty` of 0 is `InvalidQty`
/// (cancel with CancelOrder).
pub fn replace_command(msg: &ReplaceOrderMsg, account: AccountId) -> Result<Command, RejectReason> {
    let new_qty = msg.new_qty.get();
    if new_qty == 0 {
        return Err(RejectReason::InvalidQty);
    }
    Ok(Command::Replace(ReplaceOrder {
        account,
        symbol: msg.symbol.get(),
        order_id: msg.order_id.get(),
        client_order_id: msg.client_order_id.get(),
        new_price: msg.new_price.get(),
        new_qty,
    }))
}

/// MassCancel to `Command::MassCancel`; symbol 0 means every symbol. The
/// gateway sends this command to every shard that owns one of the symbols.
pub fn mass_cancel_command(msg: &MassCancelMsg, account: AccountId) -> Command {
    let symbol = msg.symbol.get();
    Command::MassCancel {
        account,
        symbol: (symbol != 0).then_some(symbol),
        reason: CancelReason::MassCancel,
    }
}

/// The engine command for an order-entry message; `None` for messages that
/// are not commands (Logon, Logout, Heartbeat, the queries).
pub fn client_command(
    msg: &ClientMessage<'_>,
    account: AccountId,
) -> Option<Result<Command, RejectReason>> {
    match msg {
        ClientMessage::NewOrder(m) => Some(new_order_command(m, account)),
        ClientMessage::CancelOrder(m) => Some(Ok(cancel_command(m, account))),
        ClientMessage::ReplaceOrder(m) => Some(replace_command(m, account)),
        ClientMessage::MassCancel(m) => Some(Ok(mass_cancel_command(m, account))),
        ClientMessage::Logon(_)
        | ClientMessage::Logout(_)
        | ClientMessage::Heartbeat(_)
        | ClientMessage::OrderStatusRequest(_)
        | ClientMessage::OrderQuery(_)
        | ClientMessage::OpenOrdersRequest(_)
        | ClientMessage::PositionsRequest(_)
        | ClientMessage::ReplayRequest(_)
        | ClientMessage::DoneOrdersRequest(_) => None,
    }
}

/// The report that refuses an order request before any engine saw it:
/// OrderRejected for NewOrder, CancelRejected for CancelOrder and
/// ReplaceOrder (the same report the engine would send); `None` for the
/// other messages, which are answered in their own way.
pub fn order_rejection(
    msg: &ClientMessage<'_>,
    account: AccountId,
    reason: RejectReason,
) -> Option<Event> {
    let (order_id, symbol, client_order_id) = match msg {
        ClientMessage::NewOrder(m) => {
            return Some(Event::Rejected {
                account,
                symbol: m.symbol.get(),
                client_order_id: m.client_order_id.get(),
                reason,
            })
        }
        ClientMessage::CancelOrder(m) => (m.order_id, m.symbol, m.client_order_id),
        ClientMessage::ReplaceOrder(m) => (m.order_id, m.symbol, m.client_order_id),
        _ => return None,
    };
    Some(Event::CancelRejected {
        order_id: order_id.get(),
        account,
        symbol: symbol.get(),
        client_order_id: client_order_id.get(),
        reason,
    })
}

/// A Logon whose fields are well formed. The credentials themselves are
/// the gateway's to check (against config, in constant time).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LogonRequest<'a> {
    pub account: AccountId,
    /// Without NUL padding; printable ASCII.
    pub token: &'a [u8],
    /// As requested; 0 asks for the default.
    pub heartbeat_interval_ms: u32,
    pub cancel_on_disconnect: bool,
}

/// Keeps the token out of logs.
impl core::fmt::Debug for LogonRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LogonRequest")
            .field("account", &self.account)
            .field("token", &"<redacted>")
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms)
            .field("cancel_on_disconnect", &self.cancel_on_disconnect)
            .finish()
    }
}

/// Checks a Logon's fields. A token that is not printable ASCII followed
/// only by NUL padding can match no configured token, so it is
/// `InvalidCredentials` like a wrong one.
pub fn logon_request(msg: &LogonMsg) -> Result<LogonRequest<'_>, LogonRejectReason> {
    if msg.flags & !LOGON_FLAG_CANCEL_ON_DISCONNECT != 0 {
        return Err(LogonRejectReason::UnsupportedFlags);
    }
    let end = msg.token.iter().position(|&b| b == 0).unwrap_or(TOKEN_LEN);
    let (token, padding) = msg.token.split_at(end);
    let printable = token.iter().all(|b| (0x20..=0x7E).contains(b));
    if token.is_empty() || !printable || padding.iter().any(|&b| b != 0) {
        return Err(LogonRejectReason::InvalidCredentials);
    }
    Ok(LogonRequest {
        account: msg.account.get(),
        token,
        heartbeat_interval_ms: msg.heartbeat_interval_ms.get(),
        cancel_on_disconnect: msg.flags & LOGON_FLAG_CANCEL_ON_DISCONNECT != 0,
    })
}

/// The engine event an order report was encoded from, with `account` (not
/// on the wire: it is the session's) filled in. `None` for messages that
/// are not order reports, and for reports carrying a code this version does
/// not define (a conforming gateway never sends one).
pub fn report_to_event(msg: &GatewayMessage<'_>, account: AccountId) -> Option<Event> {
    Some(match msg {
        GatewayMessage::OrderAccepted(m) => Event::Accepted {
            order_id: m.order_id.get(),
            account,
            symbol: m.symbol.get(),
            client_order_id: m.client_order_id.get(),
            side: Side::from_u8(m.side)?,
            kind: OrderKind::from_u8(m.order_kind)?,
            tif: TimeInForce::from_u8(m.tif)?,
            price: m.price.get(),
            qty: m.qty.get(),
        },
        GatewayMessage::OrderRejected(m) => Event::Rejected {
            account,
            symbol: m.symbol.get(),
            client_order_id: m.client_order_id.get(),
            reason: RejectReason::from_u16(m.reason.get())?,
        },
        GatewayMessage::Fill(m) => Event::Fill {
            exec_id: m.exec_id.get(),
            order_id: m.order_id.get(),
            account,
            symbol: m.symbol.get(),
            client_order_id: m.client_order_id.get(),
            side: Side::from_u8(m.side)?,
            price: m.price.get(),
            qty: m.qty.get(),
            leaves_qty: m.leaves_qty.get(),
            liquidity: Liquidity::from_u8(m.liquidity)?,
        },
        GatewayMessage::OrderCanceled(m) => Event::Canceled {
            order_id: m.order_id.get(),
            account,
            symbol: m.symbol.get(),
            client_order_id: m.client_order_id.get(),
            canceled_qty: m.canceled_qty.get(),
            reason: CancelReason::from_u8(m.reason)?,
        },
        GatewayMessage::OrderReplaced(m) => Event::Replaced {
            order_id: m.order_id.get(),
            account,
            symbol: m.symbol.get(),
            client_order_id: m.client_order_id.get(),
            price: m.price.get(),
            qty: m.qty.get(),
            leaves_qty: m.leaves_qty.get(),
            kept_priority: match m.kept_priority {
                0 => false,
                1 => true,
                _ => return None,
            },
        },
        GatewayMessage::CancelRejected(m) => Event::CancelRejected {
            order_id: m.order_id.get(),
            account,
            symbol: m.symbol.get(),
            client_order_id: m.client_order_id.get(),
            reason: RejectReason::from_u16(m.reason.get())?,
        },
        // Session messages and answers to requests are not order reports.
        _ => return None,
    })
}
