//! What an engine is built from: its symbols, accounts, limits and capacities.
//! Everything is sized here, once, at construction; nothing grows later.

use super::types::*;

/// One tradable instrument owned by this engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolSpec {
    pub id: SymbolId,
    /// Every price must be a positive multiple of this (price units).
    pub tick_size: Price,
    /// Every quantity must be a positive multiple of this (quantity units).
    pub lot_size: Qty,
    /// The price the band is computed around (fat-finger protection).
    pub reference_price: Price,
    /// Allowed distance from the reference price, in basis points
    /// (1000 = 10%). Market orders trade at most this far away.
    pub price_band_bps: u32,
}

/// Pre-trade limits, applied per account *and symbol*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskLimits {
    pub max_order_qty: Qty,
    /// Limit on `price * qty` (price units x quantity units) of one order.
    /// Market orders, buy or sell, are valued at the band's high edge
    /// (the most a trade inside the band can be worth).
    pub max_order_notional: u128,
    pub max_open_orders: u32,
    /// Limit on |position| if every open order of the account on the
    /// symbol on the checked order's side filled, that one included (each
    /// side on its own: resting sells make no room for buys).
    pub max_position: u64,
}

impl RiskLimits {
    pub const UNLIMITED: RiskLimits = RiskLimits {
        max_order_qty: u64::MAX,
        max_order_notional: u128::MAX,
        max_open_orders: u32::MAX,
        max_position: u64::MAX,
    };
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    pub id: AccountId,
    pub limits: RiskLimits,
    /// Used when an order does not name its own STP mode.
    pub default_stp: StpMode,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    pub symbols: Vec<SymbolSpec>,
    pub accounts: Vec<AccountSpec>,
    /// Resting orders this engine can hold, across all its symbols. At the
    /// bound new resting orders are rejected (`OrderCapacity`).
    pub order_capacity: u32,
    /// Price levels per side of each book. At the bound an order that would
    /// open a new level is rejected (`BookLevelCapacity`).
    pub max_levels_per_side: u32,
}

impl SymbolSpec {
    /// Lowest and highest price inside the band around `reference_price`,
    /// rounded inwards to the tick. Never below one tick.
    pub fn band(&self) -> (Price, Price) {
        band_around(self.reference_price, self.price_band_bps, self.tick_size)
    }
}

pub(crate) fn band_around(reference: Price, band_bps: u32, tick: Price) -> (Price, Price) {
    assert!(tick > 0, "tick {tick}");
    let width = (reference as i128 * band_bps as i128 / 10_000) as i64;
    let low = (reference - width).max(tick);
    let low = low + (tick - low % tick) % tick; // round up to the tick
    let high = reference.saturating_add(width);
    let high = high - high % tick; // round down to the tick
    let high = high.max(low);
    // Edges any order may have: on the tick, never below one tick.
    debug_assert!(low >= tick && low % tick == 0, "band low {low}");
    debug_assert!(high >= low && high % tick == 0, "band high {high}");
    (low, high)
}
