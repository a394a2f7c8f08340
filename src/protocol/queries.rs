//! The account queries of issue 12: what a client that reconnects asks
//! before it trades again. An order by the client order id it chose
//! (answered by `OrderStatus`), its open orders and its positions a page
//! at a time (`OrderStatus` / `Position` messages, then `QueryDone` with
//! the cursor of the next page). Same layout rules as the other messages;
//! `docs/PROTOCOL.md` section 7 and 8 are their specification.
//!
//! A cursor is opaque to the client: it copies `next_cursor_place` and
//! `next_cursor` of a `QueryDone` into its next request. The gateway
//! keeps no state between pages, so an abandoned query costs nothing.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::gateway::OrderStatusMsg;
use super::header::{msg_type, wire_message, Header, WireMessage};
use super::reasons::OrderState;
use crate::engine::{ClientOrderId, PositionView, RejectReason, SymbolId};

/// Orders or positions one page holds. With `OrderStatus` at 72 bytes a
/// page and its `QueryDone` are 1,192 bytes: a page is counted as
/// [`QUERY_PAGE_WEIGHT`] commands in flight against the session's outbox
/// budget, so pipelined queries cannot overflow it.
pub const QUERY_PAGE: usize = 16;

/// Commands-in-flight units a page costs (its bytes over the 320 report
/// bytes budgeted per command, `shard::core::MAX_REPORT_BYTES_PER_COMMAND`).
pub const QUERY_PAGE_WEIGHT: u32 =
    ((QUERY_PAGE * OrderStatusMsg::LEN + QueryDoneMsg::LEN).div_ceil(320)) as u32;

const _: () = assert!(
    PositionMsg::LEN <= OrderStatusMsg::LEN,
    "a position page fits the weight"
);

/// Where the next page starts: copied from `QueryDone` by the client.
/// `place` names a trading shard and a symbol position on it; `after` the
/// last order already returned there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryCursor {
    pub place: u32,
    pub after: u64,
}

impl QueryCursor {
    /// The first page.
    pub const START: QueryCursor = QueryCursor { place: 0, after: 0 };

    /// The cursor at trading shard number `shard_index` (its position in
    /// the gateway's list of trading shards), symbol position `book`.
    pub fn at(shard_index: usize, book: u16, after: u64) -> QueryCursor {
        assert!(shard_index <= u16::MAX as usize, "shard index fits 16 bits");
        QueryCursor {
            place: (shard_index as u32) << 16 | book as u32,
            after,
        }
    }

    pub fn shard_index(&self) -> usize {
        (self.place >> 16) as usize
    }

    pub fn book(&self) -> u16 {
        self.place as u16
    }
}

/// Asks for one order of the account by the client order id it was given
/// (by NewOrder or by its last ReplaceOrder). Answered by `OrderStatus`.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OrderQueryMsg {
    pub header: Header,
    /// Id of this request, echoed in OrderStatus.client_order_id.
    pub client_order_id: U64,
    /// The order's client order id.
    pub order_client_order_id: U64,
    pub symbol: U32,
    pub _reserved: [u8; 4],
}
wire_message!(OrderQueryMsg, msg_type::ORDER_QUERY, "OrderQuery");

impl OrderQueryMsg {
    pub fn new(
        request_id: ClientOrderId,
        order_client_order_id: ClientOrderId,
        symbol: SymbolId,
    ) -> Self {
        OrderQueryMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            order_client_order_id: U64::new(order_client_order_id),
            symbol: U32::new(symbol),
            _reserved: [0; 4],
        }
    }
}

/// Asks for a page of the account's open orders.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct OpenOrdersRequestMsg {
    pub header: Header,
    pub client_order_id: U64,
    /// 0: every symbol.
    pub symbol: U32,
    pub cursor_place: U32,
    pub cursor: U64,
}
wire_message!(
    OpenOrdersRequestMsg,
    msg_type::OPEN_ORDERS_REQUEST,
    "OpenOrdersRequest"
);

impl OpenOrdersRequestMsg {
    /// `symbol: None` asks for every symbol.
    pub fn new(request_id: ClientOrderId, symbol: Option<SymbolId>, cursor: QueryCursor) -> Self {
        OpenOrdersRequestMsg {
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

/// Asks for a page of the account's positions.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct PositionsRequestMsg {
    pub header: Header,
    pub client_order_id: U64,
    /// 0: every symbol.
    pub symbol: U32,
    pub cursor_place: U32,
}
wire_message!(
    PositionsRequestMsg,
    msg_type::POSITIONS_REQUEST,
    "PositionsRequest"
);

impl PositionsRequestMsg {
    /// `symbol: None` asks for every symbol.
    pub fn new(request_id: ClientOrderId, symbol: Option<SymbolId>, cursor: QueryCursor) -> Self {
        PositionsRequestMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            symbol: U32::new(symbol.unwrap_or(0)),
            cursor_place: U32::new(cursor.place),
        }
    }

    pub fn cursor(&self) -> QueryCursor {
        QueryCursor {
            place: self.cursor_place.get(),
            after: 0,
        }
    }
}

/// One symbol's position of the account.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct PositionMsg {
    pub header: Header,
    pub client_order_id: U64,
    pub symbol: U32,
    pub open_orders: U32,
    pub position: I64,
    /// Realized PnL (price units x quantity units), an i128: the low and
    /// the high 64 bits, so the value is `hi * 2^64 + lo`.
    pub realized_pnl_lo: U64,
    pub realized_pnl_hi: I64,
    pub open_buy_qty: U64,
    pub open_sell_qty: U64,
}
wire_message!(PositionMsg, msg_type::POSITION, "Position");

impl PositionMsg {
    pub fn new(request_id: ClientOrderId, symbol: SymbolId, view: &PositionView) -> Self {
        let msg = PositionMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            symbol: U32::new(symbol),
            open_orders: U32::new(view.open_orders),
            position: I64::new(view.position),
            realized_pnl_lo: U64::new(view.realized_pnl as u64),
            realized_pnl_hi: I64::new((view.realized_pnl >> 64) as i64),
            open_buy_qty: U64::new(view.open_buy_qty),
            open_sell_qty: U64::new(view.open_sell_qty),
        };
        debug_assert_eq!(msg.realized_pnl(), view.realized_pnl);
        msg
    }

    pub fn realized_pnl(&self) -> i128 {
        (self.realized_pnl_hi.get() as i128) << 64 | self.realized_pnl_lo.get() as i128
    }
}

/// The end of one page of OpenOrdersRequest or PositionsRequest.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct QueryDoneMsg {
    pub header: Header,
    pub client_order_id: U64,
    pub next_cursor: U64,
    pub next_cursor_place: U32,
    /// OrderStatus or Position messages in this page.
    pub count: U32,
    pub reject_reason: U16,
    /// 1: ask again with the cursor (the next page may be empty).
    pub more: u8,
    pub _reserved: [u8; 5],
}
wire_message!(QueryDoneMsg, msg_type::QUERY_DONE, "QueryDone");

impl QueryDoneMsg {
    pub fn new(request_id: ClientOrderId, count: u32, next: Option<QueryCursor>) -> Self {
        assert!(count as usize <= QUERY_PAGE, "a page of {count}");
        let cursor = next.unwrap_or_default();
        QueryDoneMsg {
            header: Self::header_for(0),
            client_order_id: U64::new(request_id),
            next_cursor: U64::new(cursor.after),
            next_cursor_place: U32::new(cursor.place),
            count: U32::new(count),
            reject_reason: U16::new(0),
            more: next.is_some() as u8,
            _reserved: [0; 5],
        }
    }

    /// The request was not processed (rate limit, unknown symbol).
    pub fn refused(request_id: ClientOrderId, reason: RejectReason) -> Self {
        let mut msg = Self::new(request_id, 0, None);
        msg.reject_reason = U16::new(reason.code());
        msg
    }

    /// The cursor of the next page, if there is more to ask for.
    pub fn next(&self) -> Option<QueryCursor> {
        (self.more != 0).then(|| QueryCursor {
            place: self.next_cursor_place.get(),
            after: self.next_cursor.get(),
        })
    }
}

impl OrderStatusMsg {
    /// The answer to an OrderQuery that found no open order.
    pub fn unknown_by_client_id(request: &OrderQueryMsg, reject: Option<RejectReason>) -> Self {
        let msg = OrderStatusMsg {
            header: Self::header_for(0),
            client_order_id: request.client_order_id,
            order_id: U64::new(0),
            order_client_order_id: U64::new(0),
            symbol: request.symbol,
            side: 0,
            state: OrderState::Unknown as u8,
            reject_reason: U16::new(reject.map_or(0, RejectReason::code)),
            price: I64::new(0),
            qty: U64::new(0),
            leaves_qty: U64::new(0),
            filled_qty: U64::new(0),
        };
        debug_assert_eq!(msg.header.msg_type, msg_type::ORDER_STATUS);
        msg
    }
}
