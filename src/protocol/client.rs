//! Client-to-gateway messages. Field order keeps every integer at an offset
//! that is a multiple of its size, so a C or Go client can overlay the same
//! layout on an aligned buffer; `_reserved` bytes pad each message to a
//! multiple of 8. Senders write reserved bytes as zero; receivers ignore them.
//!
//! Constructors set the header for sequence number 0; [`encode`] writes the
//! real header, so callers never have to get it right by hand.
//!
//! [`encode`]: super::encode::encode

use core::fmt;

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::header::{msg_type, wire_message, Header, WireMessage};
use crate::engine::{ClientOrderId, NewOrder, OrderId, Price, Qty, SymbolId};

/// Logon `flags` bit 0: cancel the account's resting orders when this
/// session ends, for whatever reason.
pub const LOGON_FLAG_CANCEL_ON_DISCONNECT: u8 = 0x01;
/// NewOrder `flags` bit 0: post-only (rejected instead of trading on arrival).
pub const ORDER_FLAG_POST_ONLY: u8 = 0x01;
/// Size of the Logon token field; shorter tokens are NUL-padded.
pub const TOKEN_LEN: usize = 32;

/// First message on every connection.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct LogonMsg {
    pub header: Header,
    pub account: U32,
    /// Requested; 0 asks for the gateway's default. The granted value comes
    /// back in LogonAccepted.
    pub heartbeat_interval_ms: U32,
    /// ASCII, NUL-padded. A secret: never printed (see the `Debug` impl).
    pub token: [u8; TOKEN_LEN],
    pub flags: u8,
    pub _reserved: [u8; 7],
}
wire_message!(LogonMsg, msg_type::LOGON, "Logon");

impl LogonMsg {
    /// `None` if the token is longer than [`TOKEN_LEN`] bytes.
    pub fn new(
        account: u32,
        token: &[u8],
        heartbeat_interval_ms: u32,
        cancel_on_disconnect: bool,
    ) -> Option<LogonMsg> {
        let mut padded = [0u8; TOKEN_LEN];
        padded.get_mut(..token.len())?.copy_from_slice(token);
        Some(LogonMsg {
            header: Self::header_for(0),
            account: U32::new(account),
            heartbeat_interval_ms: U32::new(heartbeat_interval_ms),
            token: padded,
            flags: if cancel_on_disconnect {
                LOGON_FLAG_CANCEL_ON_DISCONNECT
            } else {
                0
            },
            _reserved: [0; 7],
        })
    }

    /// The token without its NUL padding.
    pub fn token(&self) -> &[u8] {
        let end = self
            .token
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        &self.token[..end]
    }
}

/// Redacts the token: session structs end up in logs and test output, and
/// the brief forbids secrets there.
impl fmt::Debug for LogonMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogonMsg")
            .field("header", &self.header)
            .field("account", &self.account.get())
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms.get())
            .field("token", &"<redacted>")
            .field("flags", &self.flags)
            .finish()
    }
}

/// Asks the gateway to end the session (answered by SessionEnd(Logout)).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct LogoutMsg {
    pub header: Header,
}
wire_message!(LogoutMsg, msg_type::LOGOUT, "Logout");

/// Sent by the client when it has sent nothing for one heartbeat interval.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct ClientHeartbeatMsg {
    pub header: Header,
}
wire_message!(
    ClientHeartbeatMsg,
    msg_type::CLIENT_HEARTBEAT,
    "Heartbeat (client)"
);

impl LogoutMsg {
    pub fn new() -> LogoutMsg {
        LogoutMsg {
            header: Self::header_for(0),
        }
    }
}

impl Default for LogoutMsg {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientHeartbeatMsg {
    pub fn new() -> ClientHeartbeatMsg {
        ClientHeartbeatMsg {
            header: Self::header_for(0),
        }
    }
}

impl Default for ClientHeartbeatMsg {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct NewOrderMsg {
    pub header: Header,
    pub client_order_id: U64,
    pub symbol: U32,
    /// `Side` code.
    pub side: u8,
    /// `OrderKind` code.
    pub order_kind: u8,
    /// `TimeInForce` code.
    pub tif: u8,
    /// Bit 0: post-only. Other bits must be zero.
    pub flags: u8,
    /// 0: the account's configured default; otherwise a `StpMode` code.
    pub stp: u8,
    pub _reserved: [u8; 7],
    /// Ignored for market orders (send 0).
    pub price: I64,
    pub qty: U64,
}
wire_message!(NewOrderMsg, msg_type::NEW_ORDER, "NewOrder");

impl NewOrderMsg {
    /// The wire form of an engine order; `order.account` is not sent (the
    /// session's logon decides it).
    pub fn from_order(order: &NewOrder) -> NewOrderMsg {
        NewOrderMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(order.client_order_id),
            symbol: U32::new(order.symbol),
            side: order.side as u8,
            order_kind: order.kind as u8,
            tif: order.tif as u8,
            flags: if order.post_only {
                ORDER_FLAG_POST_ONLY
            } else {
                0
            },
            stp: order.stp.map_or(0, |m| m as u8),
            _reserved: [0; 7],
            price: I64::new(order.price),
            qty: U64::new(order.qty),
        }
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct CancelOrderMsg {
    pub header: Header,
    /// Id of this cancel request, echoed in OrderCanceled / CancelRejected.
    pub client_order_id: U64,
    pub order_id: U64,
    pub symbol: U32,
    pub _reserved: [u8; 4],
}
wire_message!(CancelOrderMsg, msg_type::CANCEL_ORDER, "CancelOrder");

impl CancelOrderMsg {
    pub fn new(client_order_id: ClientOrderId, order_id: OrderId, symbol: SymbolId) -> Self {
        CancelOrderMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(client_order_id),
            order_id: U64::new(order_id),
            symbol: U32::new(symbol),
            _reserved: [0; 4],
        }
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct ReplaceOrderMsg {
    pub header: Header,
    /// Id of this replace request; the order carries it from then on.
    pub client_order_id: U64,
    pub order_id: U64,
    pub symbol: U32,
    pub _reserved: [u8; 4],
    pub new_price: I64,
    /// New total quantity (FIX semantics), not the change.
    pub new_qty: U64,
}
wire_message!(ReplaceOrderMsg, msg_type::REPLACE_ORDER, "ReplaceOrder");

impl ReplaceOrderMsg {
    pub fn new(
        client_order_id: ClientOrderId,
        order_id: OrderId,
        symbol: SymbolId,
        new_price: Price,
        new_qty: Qty,
    ) -> Self {
        ReplaceOrderMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(client_order_id),
            order_id: U64::new(order_id),
            symbol: U32::new(symbol),
            _reserved: [0; 4],
            new_price: I64::new(new_price),
            new_qty: U64::new(new_qty),
        }
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct MassCancelMsg {
    pub header: Header,
    /// Id of this request, echoed in MassCancelDone.
    pub client_order_id: U64,
    /// 0 means every symbol.
    pub symbol: U32,
    pub _reserved: [u8; 4],
}
wire_message!(MassCancelMsg, msg_type::MASS_CANCEL, "MassCancel");

impl MassCancelMsg {
    /// `symbol: None` cancels on every symbol.
    pub fn new(client_order_id: ClientOrderId, symbol: Option<SymbolId>) -> Self {
        MassCancelMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(client_order_id),
            symbol: U32::new(symbol.unwrap_or(0)),
            _reserved: [0; 4],
        }
    }
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderStatusRequestMsg {
    pub header: Header,
    /// Id of this request, echoed in OrderStatus.
    pub client_order_id: U64,
    pub order_id: U64,
    pub symbol: U32,
    pub _reserved: [u8; 4],
}
wire_message!(
    OrderStatusRequestMsg,
    msg_type::ORDER_STATUS_REQUEST,
    "OrderStatusRequest"
);

impl OrderStatusRequestMsg {
    pub fn new(request_id: ClientOrderId, order_id: OrderId, symbol: SymbolId) -> Self {
        OrderStatusRequestMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            order_id: U64::new(order_id),
            symbol: U32::new(symbol),
            _reserved: [0; 4],
        }
    }
}
