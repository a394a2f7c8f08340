//! Per (account, symbol) exposure: position, open orders, realized PnL, and
//! the pre-trade checks that read them.
//!
//! The checks in the functions on the per-command path are
//! `debug_assert!`, for what they measured in release builds (see
//! "Assertions" in `engine/mod.rs`).

use super::config::RiskLimits;
use super::slab::{Slot, NIL};
use super::types::*;

/// Exposure of one account on one symbol.
///
/// Aligned to a cache line, with what every command reads or writes in
/// the first one (the risk check, the account list, the open quantities,
/// the position and cost of a fill): a new order, a cancel or a fill
/// touches one line of it. Only a fill that closes part of a position
/// also writes `realized_pnl`, in the second. At 80 bytes unaligned, an
/// exposure used to straddle two lines almost always.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Exposure {
    /// Signed net position (buys minus sells) in quantity units.
    pub position: i64,
    /// Resting quantity on each side.
    pub open_buy_qty: Qty,
    pub open_sell_qty: Qty,
    pub open_orders: u32,
    /// The account's resting orders on this symbol, oldest first.
    pub orders_head: Slot,
    pub orders_tail: Slot,
    /// Whether this list's orders are in the client order id index: from
    /// the moment the list reaches `client_index::INDEXED_FROM` orders
    /// until it empties (`client_index.rs`). In the padding before
    /// `cost_basis`: the line every command touches anyway.
    pub client_indexed: bool,
    /// Sum of `price * signed qty` of the open position (average-cost basis).
    pub cost_basis: i128,
    /// Realized PnL in price units x quantity units.
    pub realized_pnl: i128,
}

// The hot fields end where the first line does.
const _: () = assert!(std::mem::offset_of!(Exposure, cost_basis) + 16 <= 64);
const _: () = assert!(std::mem::size_of::<Exposure>() == 128);

impl Exposure {
    pub const EMPTY: Exposure = Exposure {
        position: 0,
        cost_basis: 0,
        realized_pnl: 0,
        open_orders: 0,
        open_buy_qty: 0,
        open_sell_qty: 0,
        orders_head: NIL,
        orders_tail: NIL,
        client_indexed: false,
    };

    /// Position if every open order on `side` plus `extra` more filled.
    fn worst_position(&self, side: Side, extra: i128) -> i128 {
        // Asked only when exposure grows.
        debug_assert!(extra > 0);
        match side {
            Side::Buy => self.position as i128 + self.open_buy_qty as i128 + extra,
            Side::Sell => self.position as i128 - self.open_sell_qty as i128 - extra,
        }
    }

    /// The risk checks for an order of `order_qty` that adds `added_qty` of
    /// open exposure on `side` (negative for a replace down), valued at
    /// `notional_price`. `new_resting_order` counts it against the open
    /// order limit. Order of checks is part of the contract (first failure
    /// wins): qty, notional, open orders, position (only when exposure grows).
    pub fn check(
        &self,
        limits: &RiskLimits,
        side: Side,
        order_qty: Qty,
        added_qty: i128,
        notional_price: Price,
        new_resting_order: bool,
    ) -> Result<(), RejectReason> {
        // Validated before risk: an order has quantity, a price is positive.
        debug_assert!(order_qty > 0);
        debug_assert!(notional_price > 0);
        if order_qty > limits.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        if notional_price as u128 * order_qty as u128 > limits.max_order_notional {
            return Err(RejectReason::MaxOrderNotional);
        }
        if new_resting_order && self.open_orders >= limits.max_open_orders {
            return Err(RejectReason::MaxOpenOrders);
        }
        if added_qty > 0
            && self.worst_position(side, added_qty).unsigned_abs() > limits.max_position as u128
        {
            return Err(RejectReason::MaxPosition);
        }
        Ok(())
    }

    /// Books a fill of `qty` at `price` on `side` (average-cost PnL: closing
    /// quantity realizes against the average cost, truncated toward zero).
    pub fn apply_fill(&mut self, side: Side, price: Price, qty: Qty) {
        debug_assert!(qty > 0, "a fill of nothing");
        debug_assert!(price > 0, "a fill at a price below one tick");
        let signed = side.sign() * qty as i64;
        let position = self.position;
        if position == 0 || (position > 0) == (signed > 0) {
            self.cost_basis += price as i128 * signed as i128;
            self.position += signed;
            return;
        }
        let closing = (signed.unsigned_abs()).min(position.unsigned_abs()) as i128;
        let cost_closed = closed_cost(self.cost_basis, closing, position.unsigned_abs());
        let proceeds = price as i128 * closing * position.signum() as i128;
        self.realized_pnl += proceeds - cost_closed;
        self.cost_basis -= cost_closed;
        self.position += signed;
        if self.position != 0 && (self.position > 0) == (signed > 0) {
            // Flipped through zero: the remainder opens at this price.
            debug_assert_eq!(self.cost_basis, 0);
            self.cost_basis = price as i128 * self.position as i128;
        }
        // A flat position carries no cost: closing all of it realizes all.
        debug_assert!(self.position != 0 || self.cost_basis == 0, "flat with cost");
    }

    pub fn add_open(&mut self, side: Side, qty: Qty) {
        debug_assert!(qty > 0, "resting nothing");
        match side {
            Side::Buy => self.open_buy_qty += qty,
            Side::Sell => self.open_sell_qty += qty,
        }
    }

    pub fn remove_open(&mut self, side: Side, qty: Qty) {
        // Release builds would wrap below zero and report a huge exposure.
        let open = match side {
            Side::Buy => &mut self.open_buy_qty,
            Side::Sell => &mut self.open_sell_qty,
        };
        assert!(*open >= qty, "removing more than is open");
        *open -= qty;
    }
}

/// The cost of `closing` units of a position of `held` units whose cost is
/// `cost_basis`: `cost_basis * closing / held`, truncated toward zero.
///
/// In 64 bits whenever the product fits, which is almost always (a price
/// of 10^5 on 10^6 units costs 10^11): a 128-bit division is a call to
/// `__divti3`, about 40 instructions a command at 100 symbols, where most
/// fills close part of a position. Both divisions truncate toward zero, so
/// the two paths agree wherever both apply.
#[inline]
fn closed_cost(cost_basis: i128, closing: i128, held: u64) -> i128 {
    // Only a position that is open can be closed.
    debug_assert!(held > 0 && closing > 0 && closing <= held as i128);
    let product = cost_basis * closing;
    match (i64::try_from(product), i64::try_from(held)) {
        // `held` is positive: the one quotient that overflows, MIN / -1,
        // cannot occur.
        (Ok(product), Ok(held)) => (product / held) as i128,
        _ => product / held as i128,
    }
}

#[cfg(test)]
mod tests {
    use super::closed_cost;

    /// The 64-bit path gives the 128-bit quotient, truncated toward zero on
    /// both signs, at the edges of where it applies and just past them.
    #[test]
    fn closed_cost_is_the_exact_quotient_on_both_paths() {
        let costs = [
            0i128,
            1,
            -1,
            7,
            -7,
            100_000 * 1_000,
            -(100_000 * 1_000),
            i64::MAX as i128,
            i64::MIN as i128,
            i64::MAX as i128 + 1,
            i64::MIN as i128 - 1,
            4_000_000_000_000 * 3_000_000,
            -(4_000_000_000_000 * 3_000_000),
        ];
        for cost_basis in costs {
            for held in [
                1u64,
                2,
                3,
                7,
                1_000,
                i64::MAX as u64,
                i64::MAX as u64 + 1,
                u64::MAX,
            ] {
                for closing in [1i128, 2, 3, 999, held as i128 / 2, held as i128] {
                    if closing < 1 || closing > held as i128 {
                        continue;
                    }
                    let Some(product) = cost_basis.checked_mul(closing) else {
                        continue;
                    };
                    assert_eq!(
                        closed_cost(cost_basis, closing, held),
                        product / held as i128,
                        "cost {cost_basis} closing {closing} of {held}"
                    );
                }
            }
        }
    }
}
