//! Done orders (issue 12): a page of the account's orders that reached a
//! final state within the window the gateway keeps (the last
//! `engine::DONE_ORDERS_KEPT` done orders of each matching engine), each
//! with its final state, filled quantity, average price, the exact
//! notional behind it and the cancel reason. Asked and paged exactly like
//! the open orders (`QueryDone` ends each page, with the cursor of the
//! next); `docs/PROTOCOL.md` sections 5.8, 7 and 8 are the specification.

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::header::{msg_type, wire_message, Header, WireMessage};
use super::queries::{QueryCursor, QueryDoneMsg, QUERY_PAGE};
use super::reasons::OrderState;
use crate::engine::{ClientOrderId, DoneOrder, SymbolId};

/// Commands-in-flight units a page of done orders costs (its bytes over
/// the 320 report bytes budgeted per command,
/// `shard::core::MAX_REPORT_BYTES_PER_COMMAND`): 16 x 80 + 40 bytes, 5.
pub const DONE_PAGE_WEIGHT: u32 =
    ((QUERY_PAGE * DoneOrderMsg::LEN + QueryDoneMsg::LEN).div_ceil(320)) as u32;

/// Asks for a page of the account's done orders.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct DoneOrdersRequestMsg {
    pub header: Header,
    pub client_order_id: U64,
    /// 0: every symbol.
    pub symbol: U32,
    pub cursor_place: U32,
    pub cursor: U64,
}
wire_message!(
    DoneOrdersRequestMsg,
    msg_type::DONE_ORDERS_REQUEST,
    "DoneOrdersRequest"
);

impl DoneOrdersRequestMsg {
    /// `symbol: None` asks for every symbol.
    pub fn new(request_id: ClientOrderId, symbol: Option<SymbolId>, cursor: QueryCursor) -> Self {
        DoneOrdersRequestMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            symbol: U32::new(symbol.unwrap_or(0)),
            cursor_place: U32::new(cursor.place),
            cursor: U64::new(cursor.after),
        }
    }

    pub fn cursor(&self) -> QueryCursor {
        QueryCursor {
            place: self.cursor_place.get(),
            after: self.cursor.get(),
        }
    }
}

/// One done order of the account.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct DoneOrderMsg {
    pub header: Header,
    /// From the request.
    pub client_order_id: U64,
    pub order_id: U64,
    /// The order's client order id when it became done.
    pub order_client_order_id: U64,
    pub symbol: U32,
    pub side: u8,
    /// `OrderState`: 2 Filled or 3 Canceled.
    pub state: u8,
    /// `CancelReason` code; 0 when filled.
    pub cancel_reason: u8,
    pub _reserved: [u8; 1],
    /// Its total quantity at the end: filled plus canceled.
    pub qty: U64,
    pub filled_qty: U64,
    /// `notional / filled_qty` rounded down; 0 when nothing traded.
    pub average_price: I64,
    /// Sum of price x quantity over its fills, a u128: low and high halves.
    pub notional_lo: U64,
    pub notional_hi: U64,
}
wire_message!(DoneOrderMsg, msg_type::DONE_ORDER, "DoneOrder");

impl DoneOrderMsg {
    pub fn new(request_id: ClientOrderId, symbol: SymbolId, done: &DoneOrder) -> Self {
        let state = match done.cancel_reason {
            None => OrderState::Filled,
            Some(_) => OrderState::Canceled,
        };
        let msg = DoneOrderMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            order_id: U64::new(done.order_id),
            order_client_order_id: U64::new(done.client_order_id),
            symbol: U32::new(symbol),
            side: done.side.code(),
            state: state as u8,
            cancel_reason: done.cancel_reason.map_or(0, |r| r.code()),
            _reserved: [0; 1],
            qty: U64::new(done.filled_qty + done.canceled_qty),
            filled_qty: U64::new(done.filled_qty),
            average_price: I64::new(done.average_price()),
            notional_lo: U64::new(done.notional as u64),
            notional_hi: U64::new((done.notional >> 64) as u64),
        };
        debug_assert_eq!(msg.notional(), done.notional);
        msg
    }

    /// The notional from its two halves.
    pub fn notional(&self) -> u128 {
        (self.notional_hi.get() as u128) << 64 | self.notional_lo.get() as u128
    }
}
