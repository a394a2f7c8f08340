//! Read-only views of engine state for order status, market data snapshots,
//! risk displays and tests.

use super::matcher::Engine;
use super::slab::{OrderSlab, NIL};
use super::types::*;

/// A resting order as its owner may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub order_id: OrderId,
    pub client_order_id: ClientOrderId,
    pub account: AccountId,
    pub symbol: SymbolId,
    pub side: Side,
    pub price: Price,
    pub leaves_qty: Qty,
    pub filled_qty: Qty,
    pub post_only: bool,
    pub day: bool,
}

/// One account's exposure on one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionView {
    pub position: i64,
    pub realized_pnl: i128,
    pub open_orders: u32,
    pub open_buy_qty: Qty,
    pub open_sell_qty: Qty,
}

/// Aggregate of one price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelView {
    pub price: Price,
    pub qty: Qty,
    pub order_count: u32,
}

impl Engine {
    /// The resting order `order_id` on `symbol` if it belongs to `account`.
    pub fn order(
        &self,
        account: AccountId,
        symbol: SymbolId,
        order_id: OrderId,
    ) -> Option<OrderView> {
        let book = self.symbol_index(symbol)?;
        let owner = self.owner(self.account_index(account)?, book);
        let slot = self.index.get(&self.slab, order_id)?;
        let node = self.slab.get(slot);
        debug_assert!(
            node.leaves_qty > 0,
            "indexed order {order_id} rests with nothing"
        );
        (node.owner == owner).then(|| OrderView {
            order_id: node.order_id,
            client_order_id: node.client_order_id,
            account,
            symbol,
            side: node.side,
            price: node.price,
            leaves_qty: node.leaves_qty,
            filled_qty: node.filled_qty,
            post_only: node.is_post_only(),
            day: node.is_day(),
        })
    }

    pub fn position(&self, account: AccountId, symbol: SymbolId) -> Option<PositionView> {
        let book = self.symbol_index(symbol)?;
        let account_index = self.account_index(account)?;
        let e = &self.exposures[self.owner(account_index, book) as usize];
        // The count and the list agree on whether there is any order.
        debug_assert_eq!(e.open_orders == 0, e.orders_head == NIL);
        Some(PositionView {
            position: e.position,
            realized_pnl: e.realized_pnl,
            open_orders: e.open_orders,
            open_buy_qty: e.open_buy_qty,
            open_sell_qty: e.open_sell_qty,
        })
    }

    /// Levels of one side, best first, up to `depth`.
    pub fn depth(
        &self,
        symbol: SymbolId,
        side: Side,
        depth: usize,
    ) -> impl Iterator<Item = LevelView> + '_ {
        let levels: &[_] = match self.symbol_index(symbol) {
            Some(book) => &self.books[book as usize].side(side).levels,
            None => &[],
        };
        debug_assert!(levels.len() <= self.max_levels_per_side as usize);
        levels.iter().rev().take(depth).map(|l| LevelView {
            price: l.price,
            qty: l.qty,
            order_count: l.order_count,
        })
    }

    /// Resting orders of one level in time priority (tests, snapshots).
    pub fn level_orders(
        &self,
        symbol: SymbolId,
        side: Side,
        price: Price,
    ) -> impl Iterator<Item = OrderId> + '_ {
        let head = self
            .symbol_index(symbol)
            .and_then(|book| {
                let book_side = self.books[book as usize].side(side);
                book_side.find(price).ok().map(|i| book_side.levels[i].head)
            })
            .unwrap_or(NIL);
        // A level that exists has a first order.
        debug_assert!(head == NIL || self.slab.get(head).price == price);
        FifoIter {
            slab: &self.slab,
            slot: head,
        }
    }

    pub fn best_bid(&self, symbol: SymbolId) -> Option<Price> {
        self.books[self.symbol_index(symbol)? as usize].best_bid()
    }

    pub fn best_ask(&self, symbol: SymbolId) -> Option<Price> {
        self.books[self.symbol_index(symbol)? as usize].best_ask()
    }

    pub fn is_halted(&self, symbol: SymbolId) -> Option<bool> {
        Some(self.symbols[self.symbol_index(symbol)? as usize].halted)
    }

    pub fn is_killed(&self, account: AccountId) -> Option<bool> {
        Some(self.accounts[self.account_index(account)? as usize].killed)
    }

    /// The live reference price (the config's, or the last
    /// `SetReferencePrice`) and the band around it, low and high.
    pub fn price_band(&self, symbol: SymbolId) -> Option<(Price, Price, Price)> {
        let state = &self.symbols[self.symbol_index(symbol)? as usize];
        debug_assert!(state.band_low <= state.band_high);
        Some((state.spec.reference_price, state.band_low, state.band_high))
    }

    /// Per account, its open orders beyond its `max_open_orders`, summed
    /// over this engine's books (accounts with none left out): orders that
    /// rested under a higher limit before a restart lowered it, since a
    /// config change never cancels an order. A bulk cancel of the account
    /// reports those too, on top of what the limit allows.
    pub fn open_orders_over_limit(&self) -> impl Iterator<Item = (AccountId, u64)> + '_ {
        let books = self.books.len();
        self.accounts
            .iter()
            .enumerate()
            .map(move |(index, account)| {
                let limit = account.spec.limits.max_open_orders;
                let over: u64 = (0..books)
                    .map(|book| {
                        let owner = self.owner(index as u32, book as u16) as usize;
                        u64::from(self.exposures[owner].open_orders.saturating_sub(limit))
                    })
                    .sum();
                debug_assert!(over <= u64::from(self.slab.live()));
                (account.spec.id, over)
            })
            .filter(|&(_, over)| over > 0)
    }

    /// Resting orders across all books.
    pub fn resting_orders(&self) -> u32 {
        self.slab.live()
    }

    /// Memory reserved per resting order: slab node, the notional of its
    /// fills (done orders), plus order-index shares.
    pub fn bytes_per_resting_order(&self) -> usize {
        let orders = self.slab.capacity();
        debug_assert_eq!(self.notional.len(), orders as usize);
        OrderSlab::bytes_per_order()
            + std::mem::size_of::<u128>()
            + self.index.bytes_per_order(orders)
            + self.client_index.bytes_per_order(orders)
            + self.account_links.bytes_per_order(orders)
    }

    pub fn owns_symbol(&self, symbol: SymbolId) -> bool {
        self.symbol_index(symbol).is_some()
    }
}

struct FifoIter<'a> {
    slab: &'a OrderSlab,
    slot: u32,
}

impl Iterator for FifoIter<'_> {
    type Item = OrderId;

    fn next(&mut self) -> Option<OrderId> {
        if self.slot == NIL {
            return None;
        }
        let node = self.slab.get(self.slot);
        // Only live orders are linked into a level.
        debug_assert_ne!(node.order_id, 0, "free node {} in a level", self.slot);
        self.slot = node.next;
        Some(node.order_id)
    }
}
