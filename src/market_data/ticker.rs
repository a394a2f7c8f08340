//! The session ticker of one symbol: open, high, low and last trade price,
//! volume, notional and VWAP, from the engine's public trades, in exact
//! integer arithmetic (prices in price units, quantities in quantity units,
//! notional in price x quantity units, 128 bits so that it cannot overflow
//! in a session). A session ends at end of day, which resets the ticker.

use crate::engine::{Price, Qty};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticker {
    /// Trades this session; 0 means every price field is 0 (no trade yet).
    pub trade_count: u64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub last: Price,
    pub last_qty: Qty,
    /// Sum of quantities; saturates at `u64::MAX` (2^64 quantity units in
    /// one session is not a reachable volume).
    pub volume: u64,
    /// Sum of price x quantity: VWAP = notional / volume, exactly.
    pub notional: i128,
}

impl Ticker {
    pub fn on_trade(&mut self, price: Price, qty: Qty) {
        if self.trade_count == 0 {
            (self.open, self.high, self.low) = (price, price, price);
        }
        self.trade_count += 1;
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.last = price;
        self.last_qty = qty;
        self.volume = self.volume.saturating_add(qty);
        self.notional = self
            .notional
            .saturating_add(i128::from(price) * i128::from(qty));
    }

    /// VWAP rounded to the nearest price unit, halves away from zero
    /// (`None` before the first trade). The exact value is
    /// `notional / volume`.
    pub fn vwap(&self) -> Option<Price> {
        if self.volume == 0 {
            return None;
        }
        let volume = i128::from(self.volume);
        let quotient = self.notional / volume;
        let remainder = self.notional % volume;
        let rounded = if 2 * remainder.abs() >= volume {
            quotient + self.notional.signum()
        } else {
            quotient
        };
        // Exact VWAP lies within [low, high]; the clamp only matters once
        // `volume` has saturated.
        Some(rounded.clamp(i128::from(self.low), i128::from(self.high)) as Price)
    }

    /// A new session (end of day).
    pub fn reset(&mut self) {
        *self = Ticker::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_high_low_last_volume_and_exact_vwap() {
        let mut t = Ticker::default();
        assert_eq!(t.vwap(), None);
        t.on_trade(100, 1);
        t.on_trade(103, 2);
        t.on_trade(99, 1);
        assert_eq!(
            (t.open, t.high, t.low, t.last, t.last_qty),
            (100, 103, 99, 99, 1)
        );
        assert_eq!((t.volume, t.notional, t.trade_count), (4, 405, 3));
        // 405 / 4 = 101.25
        assert_eq!(t.vwap(), Some(101));
        t.on_trade(102, 4); // 813 / 8 = 101.625
        assert_eq!(t.vwap(), Some(102));
        t.reset();
        assert_eq!(t, Ticker::default());
    }

    #[test]
    fn vwap_rounds_halves_away_from_zero_without_overflow() {
        let mut t = Ticker::default();
        t.on_trade(1, 1);
        t.on_trade(2, 1); // 1.5
        assert_eq!(t.vwap(), Some(2));
        let mut big = Ticker::default();
        big.on_trade(i64::MAX, u64::MAX);
        big.on_trade(i64::MAX, 1);
        assert_eq!(big.vwap(), Some(i64::MAX));
    }
}
