//! The engine's vocabulary: identifiers, sides, order types and reason codes.
//!
//! Every enum here has explicit `u8`/`u16` discriminants because the same
//! numbers travel on the wire (`docs/PROTOCOL.md`) and into the journal: a
//! value, once published, never changes meaning.

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

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Buy = 1,
    Sell = 2,
}

impl Side {
    pub fn from_u8(v: u8) -> Option<Side> {
        let side = match v {
            1 => Some(Side::Buy),
            2 => Some(Side::Sell),
            _ => None,
        };
        // The table agrees with the discriminants the wire publishes.
        debug_assert!(side.is_none_or(|s| s as u8 == v));
        side
    }

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

/// Limit orders carry a price; market orders take what the book offers
/// inside the symbol's price band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderKind {
    Limit = 1,
    Market = 2,
}

impl OrderKind {
    pub fn from_u8(v: u8) -> Option<OrderKind> {
        let kind = match v {
            1 => Some(OrderKind::Limit),
            2 => Some(OrderKind::Market),
            _ => None,
        };
        debug_assert!(kind.is_none_or(|k| k as u8 == v));
        kind
    }
}

/// How long an order may rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till cancel: rests until filled or canceled.
    Gtc = 1,
    /// Rests until the end of the trading day (`Command::EndOfDay`).
    Day = 2,
    /// Immediate or cancel: trades what it can, the rest is canceled.
    Ioc = 3,
    /// Fill or kill: trades its whole quantity at once or nothing at all.
    Fok = 4,
}

impl TimeInForce {
    pub fn from_u8(v: u8) -> Option<TimeInForce> {
        let tif = match v {
            1 => Some(TimeInForce::Gtc),
            2 => Some(TimeInForce::Day),
            3 => Some(TimeInForce::Ioc),
            4 => Some(TimeInForce::Fok),
            _ => None,
        };
        debug_assert!(tif.is_none_or(|t| t as u8 == v));
        tif
    }

    /// Whether an order with this time in force may rest on the book.
    pub fn rests(self) -> bool {
        matches!(self, TimeInForce::Gtc | TimeInForce::Day)
    }
}

/// Self-trade prevention: what happens when an incoming order would trade
/// with a resting order of the same account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StpMode {
    /// Cancel the resting order and keep matching the incoming one.
    CancelResting = 1,
    /// Cancel what is left of the incoming order; the resting one stays.
    CancelIncoming = 2,
    /// Cancel both the resting order and the rest of the incoming one.
    CancelBoth = 3,
}

impl StpMode {
    pub fn from_u8(v: u8) -> Option<StpMode> {
        let stp = match v {
            1 => Some(StpMode::CancelResting),
            2 => Some(StpMode::CancelIncoming),
            3 => Some(StpMode::CancelBoth),
            _ => None,
        };
        debug_assert!(stp.is_none_or(|s| s as u8 == v));
        stp
    }
}

/// Whether a fill's order took liquidity (aggressor) or provided it (passive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Liquidity {
    Aggressor = 1,
    Passive = 2,
}

/// Why an order left the book without trading (or stopped trading).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
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

impl CancelReason {
    pub fn from_u8(v: u8) -> Option<CancelReason> {
        use CancelReason::*;
        let reason = match v {
            1 => Requested,
            2 => ImmediateRemainder,
            3 => FillOrKill,
            4 => SelfTrade,
            5 => MassCancel,
            6 => KillSwitch,
            7 => Disconnect,
            8 => Expired,
            _ => return None,
        };
        debug_assert_eq!(reason as u8, v);
        Some(reason)
    }
}

/// Every reason an order, cancel or replace can be refused. The numbers are
/// the wire reason codes (documented in `docs/PROTOCOL.md`); ranges:
/// 1-99 field validation, 100-199 engine state, 200-299 risk,
/// 300-399 session (used by the gateway, never by the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RejectReason {
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
}

impl RejectReason {
    pub const ALL: [RejectReason; 30] = {
        use RejectReason::*;
        [
            UnknownSymbol,
            InvalidSide,
            InvalidOrderType,
            InvalidTimeInForce,
            InvalidQty,
            InvalidPrice,
            PriceNotOnTick,
            QtyNotOnLot,
            InvalidCombination,
            InvalidStpMode,
            UnknownOrder,
            WouldCrossPostOnly,
            OrderCapacity,
            BookLevelCapacity,
            SymbolHalted,
            AccountKilled,
            ReplaceBelowFilled,
            ReplaceNoChange,
            MaxOrderQty,
            MaxOrderNotional,
            MaxOpenOrders,
            MaxPosition,
            PriceBand,
            UnknownAccount,
            NotLoggedOn,
            NotAuthorized,
            RateLimited,
            SequenceGap,
            ShardBusy,
            JournalUnavailable,
        ]
    };

    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_u16(v: u16) -> Option<RejectReason> {
        RejectReason::ALL.iter().copied().find(|r| r.code() == v)
    }
}

// `from_u16` searches `ALL`, so a code may appear in it once at most:
// `ALL` lists the codes strictly ascending, inside the documented 1-399.
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
