//! The engine's vocabulary: identifiers, sides, order types and reason codes.
//!
//! Every enum here has explicit `u8`/`u16` discriminants because the same
//! numbers travel on the wire (`docs/PROTOCOL.md`) and into the journal: a
//! value, once published, never changes meaning.

use super::wire_enum::wire_enum;

/// Exchange-wide symbol identifier (from config).
pub type SymbolId = u32;
/// Exchange-wide account identifier (from config).
pub type AccountId = u32;
/// Gateway-assigned order identifier, unique per engine (per owning shard);
/// together with the symbol it names an order uniquely.
pub type OrderId = u64;
/// Client-chosen order identifier, echoed back on every report.
pub type ClientOrderId = u64;
/// Price in integer price units (see the symbol's `tick_size`).
pub type Price = i64;
/// Quantity in integer quantity units (see the symbol's `lot_size`).
pub type Qty = u64;

wire_enum! {
    /// Buy or sell.
    pub enum Side: u8 (from_u8) {
        Buy = 1,
        Sell = 2,
    }
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for buys, -1 for sells: the sign a fill moves the position by.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

wire_enum! {
    /// Limit orders carry a price; market orders take what the book offers
    /// inside the symbol's price band.
    pub enum OrderKind: u8 (from_u8) {
        Limit = 1,
        Market = 2,
    }
}

wire_enum! {
    /// How long an order may rest.
    pub enum TimeInForce: u8 (from_u8) {
        /// Good till cancel: rests until filled or canceled.
        Gtc = 1,
        /// Rests until the end of the trading day (`Command::EndOfDay`).
        Day = 2,
        /// Immediate or cancel: trades what it can, the rest is canceled.
        Ioc = 3,
        /// Fill or kill: trades its whole quantity at once or nothing at all.
        Fok = 4,
    }
}

impl TimeInForce {
    /// Whether an order with this time in force may rest on the book.
    pub fn rests(self) -> bool {
        matches!(self, TimeInForce::Gtc | TimeInForce::Day)
    }
}

wire_enum! {
    /// Self-trade prevention: what happens when an incoming order would trade
    /// with a resting order of the same account.
    pub enum StpMode: u8 (from_u8) {
        /// Cancel the resting order and keep matching the incoming one.
        CancelResting = 1,
        /// Cancel what is left of the incoming order; the resting one stays.
        CancelIncoming = 2,
        /// Cancel both the resting order and the rest of the incoming one.
        CancelBoth = 3,
    }
}

wire_enum! {
    /// Whether a fill's order took liquidity (aggressor) or provided it (passive).
    pub enum Liquidity: u8 (from_u8) {
        Aggressor = 1,
        Passive = 2,
    }
}

wire_enum! {
    /// Why an order left the book without trading (or stopped trading).
    pub enum CancelReason: u8 (from_u8) {
        /// The owner asked (CancelOrder).
        Requested = 1,
        /// IOC or market remainder that could not trade.
        ImmediateRemainder = 2,
        /// Fill-or-kill that could not fill completely.
        FillOrKill = 3,
        /// Self-trade prevention.
        SelfTrade = 4,
        /// MassCancel by the owner.
        MassCancel = 5,
        /// The account's kill switch was set.
        KillSwitch = 6,
        /// The session disconnected with cancel-on-disconnect set.
        Disconnect = 7,
        /// Day order expired at end of day.
        Expired = 8,
    }
}

wire_enum! {
    /// Every reason an order, cancel or replace can be refused. The numbers are
    /// the wire reason codes (documented in `docs/PROTOCOL.md`); ranges:
    /// 1-99 field validation, 100-199 engine state, 200-299 risk,
    /// 300-399 session (used by the gateway, never by the engine).
    pub enum RejectReason: u16 (from_u16) {
        UnknownSymbol = 1,
        InvalidSide = 2,
        InvalidOrderType = 3,
        InvalidTimeInForce = 4,
        InvalidQty = 5,
        InvalidPrice = 6,
        PriceNotOnTick = 7,
        QtyNotOnLot = 8,
        /// Market orders must be IOC or FOK; post-only must be a resting limit.
        InvalidCombination = 9,
        InvalidStpMode = 10,

        UnknownOrder = 100,
        /// Post-only order would have traded on arrival.
        WouldCrossPostOnly = 101,
        /// The order slab is full (capacity from config).
        OrderCapacity = 102,
        /// The side of the book has its configured maximum number of price levels.
        BookLevelCapacity = 103,
        SymbolHalted = 104,
        AccountKilled = 105,
        /// Replace to a total quantity at or below what already traded.
        ReplaceBelowFilled = 106,
        /// Replace that changes nothing.
        ReplaceNoChange = 107,

        MaxOrderQty = 200,
        MaxOrderNotional = 201,
        MaxOpenOrders = 202,
        MaxPosition = 203,
        PriceBand = 204,
        UnknownAccount = 205,

        NotLoggedOn = 300,
        NotAuthorized = 301,
        RateLimited = 302,
        SequenceGap = 303,
        ShardBusy = 304,
        JournalUnavailable = 305,
        /// ReplayRequest for a stream that is not a trading shard's.
        UnknownStream = 306,
        /// ReplayRequest after a number the stream has not reached.
        ReplayBeyondEnd = 307,
    }
}

// The codes are declared ascending, inside the documented ranges (1-399):
// a code out of place in the declaration is a code in the wrong range.
const _: () = {
    let all = RejectReason::ALL;
    let mut i = 1;
    while i < all.len() {
        assert!(
            (all[i - 1] as u16) < all[i] as u16,
            "ALL strictly ascending"
        );
        i += 1;
    }
    assert!(all[0] as u16 >= 1);
    assert!(all[all.len() - 1] as u16 <= 399);
};
