//! Outputs of the engine, handed one by one to an [`EventSink`]. The sink
//! decides what to do with them (encode to a session, publish to market data,
//! collect in a test); the engine never buffers or allocates for them.

use super::types::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new order passed validation and risk. For resting types it is on
    /// the book (or trading) from now on.
    Accepted {
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
        side: Side,
        kind: OrderKind,
        tif: TimeInForce,
        price: Price,
        qty: Qty,
    },
    /// A new order was refused; nothing changed.
    Rejected {
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
        reason: RejectReason,
    },
    /// One side of an execution. Every trade produces two fills (aggressor
    /// first, then passive) with the same `exec_id`.
    Fill {
        exec_id: u64,
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
        leaves_qty: Qty,
        liquidity: Liquidity,
    },
    /// The order left the book (or its remainder was not placed).
    Canceled {
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
        /// Quantity that was still open and is now canceled.
        canceled_qty: Qty,
        reason: CancelReason,
    },
    /// A replace took effect.
    Replaced {
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
        price: Price,
        qty: Qty,
        leaves_qty: Qty,
        /// True when the order kept its time priority (same price, smaller qty).
        kept_priority: bool,
    },
    /// A cancel or replace was refused; the order (if any) is unchanged.
    CancelRejected {
        order_id: OrderId,
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
        reason: RejectReason,
    },
    /// Aggregate at one price level after a change: `qty == 0` means the
    /// level is gone.
    BookLevel {
        symbol: SymbolId,
        side: Side,
        price: Price,
        qty: Qty,
        order_count: u32,
    },
    /// Public trade print.
    Trade {
        exec_id: u64,
        symbol: SymbolId,
        price: Price,
        qty: Qty,
        aggressor_side: Side,
    },
    /// Answer to `Command::MassCancel`, after its `Canceled` events.
    /// `symbol == 0` means all symbols of this engine.
    MassCancelDone {
        account: AccountId,
        symbol: SymbolId,
        canceled_count: u32,
    },
    /// Account kill switch or symbol halt changed (for audit and market data).
    KillSwitchSet {
        account: AccountId,
        on: bool,
    },
    HaltSet {
        symbol: SymbolId,
        on: bool,
    },
    ReferencePriceSet {
        symbol: SymbolId,
        price: Price,
    },
}

/// Receives engine events in the order they happen.
pub trait EventSink {
    fn emit(&mut self, event: &Event);

    /// An order report of an account the engine knows, with its number in
    /// the account's report stream on this engine (from 1, see
    /// `report_seq.rs`). Sinks that do not care about numbers take it as
    /// a plain event.
    #[inline]
    fn emit_report(&mut self, event: &Event, report_seq: u64) {
        debug_assert!(report_seq > 0, "report numbers start at 1");
        self.emit(event);
    }

    /// [`Engine::process_batch`](super::Engine::process_batch) is about to
    /// run `commands[index]`: the events until the next call are that
    /// command's. A sink that answers each command's sender (the gateway's
    /// router) switches to it here; others need not care.
    #[inline]
    fn command_begins(&mut self, index: usize) {
        let _ = index;
    }
}

impl EventSink for Vec<Event> {
    fn emit(&mut self, event: &Event) {
        self.push(*event);
    }
}

/// Discards events; counts them (benchmarks).
#[derive(Default)]
pub struct CountingSink {
    pub events: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn emit(&mut self, _event: &Event) {
        self.events += 1;
    }
}
