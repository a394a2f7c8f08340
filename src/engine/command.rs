//! Inputs to the engine. Commands are plain `Copy` values: the gateway builds
//! them from decoded messages, the journal stores them, replay feeds them
//! back. The engine reads no clock: time enters only as `Command` data.

use super::types::*;

/// A new order. `price` is ignored for market orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub account: AccountId,
    pub symbol: SymbolId,
    pub client_order_id: ClientOrderId,
    pub side: Side,
    pub kind: OrderKind,
    pub tif: TimeInForce,
    pub post_only: bool,
    /// `None` takes the account's configured default.
    pub stp: Option<StpMode>,
    pub price: Price,
    pub qty: Qty,
}

/// Cancel one resting order of `account`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelOrder {
    pub account: AccountId,
    pub symbol: SymbolId,
    pub order_id: OrderId,
    /// The client's id for this cancel request, echoed on the report.
    pub client_order_id: ClientOrderId,
}

/// Change price and/or total quantity of one resting order of `account`.
/// `new_qty` is the new *total* quantity (FIX semantics): leaves becomes
/// `new_qty - filled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplaceOrder {
    pub account: AccountId,
    pub symbol: SymbolId,
    pub order_id: OrderId,
    pub client_order_id: ClientOrderId,
    pub new_price: Price,
    pub new_qty: Qty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    New(NewOrder),
    Cancel(CancelOrder),
    Replace(ReplaceOrder),
    /// Cancel every resting order of the account, on one symbol or all
    /// symbols this engine owns.
    MassCancel {
        account: AccountId,
        symbol: Option<SymbolId>,
        reason: CancelReason,
    },
    /// Operator kill switch: `on` cancels every resting order of the
    /// account and refuses its new orders and replaces until switched off.
    KillSwitch {
        account: AccountId,
        on: bool,
    },
    /// Trading halt: refuses new orders and replaces on the symbol; resting
    /// orders stay and may be canceled.
    Halt {
        symbol: SymbolId,
        on: bool,
    },
    /// Move the reference price the price band is computed around.
    SetReferencePrice {
        symbol: SymbolId,
        price: Price,
    },
    /// End of trading day: every resting Day order expires.
    EndOfDay,
}
