//! Gateway-to-client messages. Same layout rules as [`client`](super::client):
//! naturally aligned offsets, zero `_reserved` padding to a multiple of 8.
//!
//! The order reports (OrderAccepted through CancelRejected) are built from
//! engine events by [`encode_event`](super::encode::encode_event); the
//! session-level messages have constructors here.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::client::OrderStatusRequestMsg;
use super::header::{msg_type, wire_message, Header, WireMessage};
use super::reasons::{LogonRejectReason, OrderState, SessionEndReason};
use crate::engine::{ClientOrderId, OrderId, OrderView, Price, Qty, RejectReason, Side, SymbolId};

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct LogonAcceptedMsg {
    pub header: Header,
    pub account: U32,
    /// Granted interval: the requested one clamped to the gateway's range.
    pub heartbeat_interval_ms: U32,
    /// The `seq` the gateway expects on the client's next message.
    pub next_expected_seq: U32,
    pub _reserved: [u8; 4],
}
wire_message!(LogonAcceptedMsg, msg_type::LOGON_ACCEPTED, "LogonAccepted");

impl LogonAcceptedMsg {
    pub fn new(account: u32, heartbeat_interval_ms: u32, next_expected_seq: u32) -> Self {
        LogonAcceptedMsg {
            header: Self::header_for(0),
            account: U32::new(account),
            heartbeat_interval_ms: U32::new(heartbeat_interval_ms),
            next_expected_seq: U32::new(next_expected_seq),
            _reserved: [0; 4],
        }
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct LogonRejectedMsg {
    pub header: Header,
    /// `LogonRejectReason` code.
    pub reason: U16,
    pub _reserved: [u8; 6],
}
wire_message!(LogonRejectedMsg, msg_type::LOGON_REJECTED, "LogonRejected");

impl LogonRejectedMsg {
    pub fn new(reason: LogonRejectReason) -> Self {
        LogonRejectedMsg {
            header: Self::header_for(0),
            reason: U16::new(reason.code()),
            _reserved: [0; 6],
        }
    }
}

/// Sent by the gateway when it has sent nothing for one heartbeat interval.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct GatewayHeartbeatMsg {
    pub header: Header,
}
wire_message!(
    GatewayHeartbeatMsg,
    msg_type::GATEWAY_HEARTBEAT,
    "Heartbeat (gateway)"
);

impl GatewayHeartbeatMsg {
    pub fn new() -> Self {
        GatewayHeartbeatMsg {
            header: Self::header_for(0),
        }
    }
}

impl Default for GatewayHeartbeatMsg {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderAcceptedMsg {
    pub header: Header,
    pub order_id: U64,
    pub client_order_id: U64,
    pub symbol: U32,
    pub side: u8,
    pub order_kind: u8,
    pub tif: u8,
    pub _reserved: [u8; 1],
    pub price: I64,
    pub qty: U64,
    pub timestamp_ns: U64,
    /// Version 2: the report's number in its stream (0: a gateway refusal,
    /// no stream), the stream (the engine's shard) and the account.
    pub report_seq: U64,
    pub stream: U32,
    pub account: U32,
}
wire_message!(OrderAcceptedMsg, msg_type::ORDER_ACCEPTED, "OrderAccepted");

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderRejectedMsg {
    pub header: Header,
    pub client_order_id: U64,
    pub symbol: U32,
    /// `RejectReason` code.
    pub reason: U16,
    pub _reserved: [u8; 2],
    pub timestamp_ns: U64,
    /// Version 2: the report's number in its stream (0: a gateway refusal,
    /// no stream), the stream (the engine's shard) and the account.
    pub report_seq: U64,
    pub stream: U32,
    pub account: U32,
}
wire_message!(OrderRejectedMsg, msg_type::ORDER_REJECTED, "OrderRejected");

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct FillMsg {
    pub header: Header,
    /// Shared by the two fills of one trade.
    pub exec_id: U64,
    pub order_id: U64,
    pub client_order_id: U64,
    pub symbol: U32,
    pub side: u8,
    /// `Liquidity` code: 1 aggressor, 2 passive.
    pub liquidity: u8,
    pub _reserved: [u8; 2],
    pub price: I64,
    pub qty: U64,
    pub leaves_qty: U64,
    pub timestamp_ns: U64,
    /// Version 2: the report's number in its stream (0: a gateway refusal,
    /// no stream), the stream (the engine's shard) and the account.
    pub report_seq: U64,
    pub stream: U32,
    pub account: U32,
}
wire_message!(FillMsg, msg_type::FILL, "Fill");

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderCanceledMsg {
    pub header: Header,
    pub order_id: U64,
    pub client_order_id: U64,
    pub symbol: U32,
    /// `CancelReason` code.
    pub reason: u8,
    pub _reserved: [u8; 3],
    pub canceled_qty: U64,
    pub timestamp_ns: U64,
    /// Version 2: the report's number in its stream (0: a gateway refusal,
    /// no stream), the stream (the engine's shard) and the account.
    pub report_seq: U64,
    pub stream: U32,
    pub account: U32,
}
wire_message!(OrderCanceledMsg, msg_type::ORDER_CANCELED, "OrderCanceled");

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderReplacedMsg {
    pub header: Header,
    pub order_id: U64,
    pub client_order_id: U64,
    pub symbol: U32,
    /// 1 if the order kept its time priority, else 0.
    pub kept_priority: u8,
    pub _reserved: [u8; 3],
    pub price: I64,
    pub qty: U64,
    pub leaves_qty: U64,
    pub timestamp_ns: U64,
    /// Version 2: the report's number in its stream (0: a gateway refusal,
    /// no stream), the stream (the engine's shard) and the account.
    pub report_seq: U64,
    pub stream: U32,
    pub account: U32,
}
wire_message!(OrderReplacedMsg, msg_type::ORDER_REPLACED, "OrderReplaced");

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct CancelRejectedMsg {
    pub header: Header,
    pub order_id: U64,
    pub client_order_id: U64,
    pub symbol: U32,
    /// `RejectReason` code.
    pub reason: U16,
    pub _reserved: [u8; 2],
    pub timestamp_ns: U64,
    /// Version 2: the report's number in its stream (0: a gateway refusal,
    /// no stream), the stream (the engine's shard) and the account.
    pub report_seq: U64,
    pub stream: U32,
    pub account: U32,
}
wire_message!(
    CancelRejectedMsg,
    msg_type::CANCEL_REJECTED,
    "CancelRejected"
);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct MassCancelDoneMsg {
    pub header: Header,
    pub client_order_id: U64,
    /// As requested: 0 means every symbol.
    pub symbol: U32,
    pub canceled_count: U32,
    /// 0 if the mass cancel ran; otherwise the `RejectReason` that stopped
    /// it, or one shard's part of it (`canceled_count` then counts only
    /// what the other shards canceled).
    pub reject_reason: U16,
    pub _reserved: [u8; 6],
}
wire_message!(
    MassCancelDoneMsg,
    msg_type::MASS_CANCEL_DONE,
    "MassCancelDone"
);

impl MassCancelDoneMsg {
    /// `symbol: None` for every symbol; `reject: Some(_)` if the request
    /// was refused before canceling anything.
    pub fn new(
        client_order_id: ClientOrderId,
        symbol: Option<SymbolId>,
        canceled_count: u32,
        reject: Option<RejectReason>,
    ) -> Self {
        debug_assert!(reject.is_none() || canceled_count == 0);
        MassCancelDoneMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(client_order_id),
            symbol: U32::new(symbol.unwrap_or(0)),
            canceled_count: U32::new(canceled_count),
            reject_reason: U16::new(reject.map_or(0, RejectReason::code)),
            _reserved: [0; 6],
        }
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderStatusMsg {
    pub header: Header,
    /// The request's id (OrderStatusRequest.client_order_id).
    pub client_order_id: U64,
    pub order_id: U64,
    /// The order's own client_order_id; 0 if the state is Unknown.
    pub order_client_order_id: U64,
    pub symbol: U32,
    /// `Side` code; 0 if the state is Unknown.
    pub side: u8,
    /// `OrderState` code.
    pub state: u8,
    /// 0 if the request was answered; otherwise the `RejectReason` that
    /// stopped it (then `state` is Unknown).
    pub reject_reason: U16,
    pub price: I64,
    pub qty: U64,
    pub leaves_qty: U64,
    pub filled_qty: U64,
}
wire_message!(OrderStatusMsg, msg_type::ORDER_STATUS, "OrderStatus");

/// What the gateway knows about one order, for an OrderStatus answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderSnapshot {
    pub order_id: OrderId,
    pub client_order_id: ClientOrderId,
    pub symbol: SymbolId,
    pub side: Side,
    pub state: OrderState,
    pub price: Price,
    /// Total quantity (after replaces).
    pub qty: Qty,
    pub leaves_qty: Qty,
    pub filled_qty: Qty,
}

impl OrderSnapshot {
    /// A resting order as the engine's query shows it.
    pub fn resting(view: &OrderView) -> OrderSnapshot {
        OrderSnapshot {
            order_id: view.order_id,
            client_order_id: view.client_order_id,
            symbol: view.symbol,
            side: view.side,
            state: OrderState::Open,
            price: view.price,
            qty: view.leaves_qty + view.filled_qty,
            leaves_qty: view.leaves_qty,
            filled_qty: view.filled_qty,
        }
    }
}

impl OrderStatusMsg {
    /// Answer for an order of the session's account.
    pub fn found(request_id: ClientOrderId, order: &OrderSnapshot) -> Self {
        debug_assert!(order.state != OrderState::Unknown);
        OrderStatusMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            order_id: U64::new(order.order_id),
            order_client_order_id: U64::new(order.client_order_id),
            symbol: U32::new(order.symbol),
            side: order.side as u8,
            state: order.state as u8,
            reject_reason: U16::new(0),
            price: I64::new(order.price),
            qty: U64::new(order.qty),
            leaves_qty: U64::new(order.leaves_qty),
            filled_qty: U64::new(order.filled_qty),
        }
    }

    /// Answer for an order that does not exist, is not retained, or belongs
    /// to another account: the three must be indistinguishable.
    pub fn unknown(request: &OrderStatusRequestMsg) -> Self {
        Self::refused_or_unknown(request, 0)
    }

    /// The request was not processed (rate limit, shard busy).
    pub fn refused(request: &OrderStatusRequestMsg, reason: RejectReason) -> Self {
        Self::refused_or_unknown(request, reason.code())
    }

    fn refused_or_unknown(request: &OrderStatusRequestMsg, reject_reason: u16) -> Self {
        OrderStatusMsg {
            header: Self::header_for(0),
            client_order_id: request.client_order_id,
            order_id: request.order_id,
            order_client_order_id: U64::new(0),
            symbol: request.symbol,
            side: 0,
            state: OrderState::Unknown as u8,
            reject_reason: U16::new(reject_reason),
            price: I64::new(0),
            qty: U64::new(0),
            leaves_qty: U64::new(0),
            filled_qty: U64::new(0),
        }
    }
}

/// Where a report sits in the account's report streams (docs/PROTOCOL.md,
/// 5.9): the shard whose engine made it and its number there. `NONE` for
/// the gateway's own refusals, which no engine made and no replay repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReportNumber {
    pub stream: u32,
    pub report_seq: u64,
}

impl ReportNumber {
    pub const NONE: ReportNumber = ReportNumber {
        stream: 0,
        report_seq: 0,
    };
}

/// The gateway's last message on a connection; it closes after sending it.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct SessionEndMsg {
    pub header: Header,
    /// `SessionEndReason` code.
    pub reason: U16,
    pub _reserved: [u8; 2],
    /// The client `seq` the gateway expected next, so that a client told
    /// SequenceGap can see what went wrong.
    pub expected_seq: U32,
}
wire_message!(SessionEndMsg, msg_type::SESSION_END, "SessionEnd");

impl SessionEndMsg {
    pub fn new(reason: SessionEndReason, expected_seq: u32) -> Self {
        SessionEndMsg {
            header: Self::header_for(0),
            reason: U16::new(reason.code()),
            _reserved: [0; 2],
            expected_seq: U32::new(expected_seq),
        }
    }
}
