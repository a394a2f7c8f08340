//! A full consistency check of the engine's structures, for tests and debug
//! builds. Each violation is a bug, so this panics with what it found.

use super::client_index::INDEXED_FROM;
use super::matcher::Engine;
use super::slab::NIL;
use super::types::*;

impl Engine {
    /// Checks every structural invariant: levels sorted and never crossed,
    /// level totals equal to their orders, links consistent both ways, every
    /// resting order in exactly one level, one index entry and one account
    /// list, and exposure counters equal to the orders that make them.
    pub fn check_invariants(&self) {
        let mut orders_in_levels = 0u32;
        let mut open = vec![(0u32, 0u64, 0u64); self.exposures.len()];
        for (b, book) in self.books.iter().enumerate() {
            // The prepared divisors follow the spec (`SymbolState::set_spec`;
            // `spec` is public, so a plain assignment would leave them stale).
            let symbol = &self.symbols[b];
            assert_eq!(symbol.tick.value(), symbol.spec.tick_size as u64);
            assert_eq!(symbol.lot.value(), symbol.spec.lot_size);
            if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
                assert!(
                    bid < ask,
                    "book {} crossed at rest: {bid} >= {ask}",
                    book.symbol
                );
            }
            for side in [Side::Buy, Side::Sell] {
                let book_side = book.side(side);
                for pair in book_side.levels.windows(2) {
                    assert!(
                        book_side.at_least_as_good(pair[1].price, pair[0].price)
                            && pair[0].price != pair[1].price,
                        "levels not sorted worst to best"
                    );
                }
                for level in &book_side.levels {
                    assert!(level.order_count > 0, "empty level kept");
                    let (mut qty, mut count, mut prev, mut slot) = (0, 0, NIL, level.head);
                    while slot != NIL {
                        let node = self.slab.get(slot);
                        assert_eq!(node.prev, prev, "broken back link");
                        assert_eq!(self.owner_book(node.owner) as usize, b);
                        assert_eq!(node.side, side);
                        assert_eq!(node.price, level.price);
                        assert!(node.leaves_qty > 0, "resting order with nothing left");
                        assert_eq!(self.index.get(&self.slab, node.order_id), Some(slot));
                        let entry = &mut open[node.owner as usize];
                        entry.0 += 1;
                        match side {
                            Side::Buy => entry.1 += node.leaves_qty,
                            Side::Sell => entry.2 += node.leaves_qty,
                        }
                        qty += node.leaves_qty;
                        count += 1;
                        prev = slot;
                        slot = node.next;
                    }
                    assert_eq!(level.tail, prev, "tail is not the last order");
                    assert_eq!((level.qty, level.order_count), (qty, count), "level totals");
                    orders_in_levels += count;
                }
            }
        }
        assert_eq!(orders_in_levels, self.slab.live(), "orders outside levels");
        assert_eq!(self.index.len(), self.slab.live() as usize, "index size");
        assert_eq!(
            self.slab.free_count(),
            (self.slab.capacity() - self.slab.live()) as usize,
            "free nodes"
        );
        self.index.check_table();
        self.client_index.check_table();
        let indexed: u64 = self
            .exposures
            .iter()
            .filter(|e| e.client_indexed)
            .map(|e| u64::from(e.open_orders))
            .sum();
        assert_eq!(self.client_index.len() as u64, indexed, "client index size");
        self.check_account_lists(&open);
    }

    /// Each (account, symbol) list against the counts found on the levels,
    /// in `order_id` order, and every listed order in the client index.
    fn check_account_lists(&self, open: &[(u32, u64, u64)]) {
        assert_eq!(open.len(), self.exposures.len());
        for (owner, exposure) in self.exposures.iter().enumerate() {
            let (count, buy, sell) = open[owner];
            assert_eq!(exposure.open_orders, count, "open order count");
            assert_eq!((exposure.open_buy_qty, exposure.open_sell_qty), (buy, sell));
            let (mut listed, mut prev, mut slot) = (0, NIL, exposure.orders_head);
            while slot != NIL {
                let node = self.slab.get(slot);
                assert_eq!(node.owner as usize, owner, "order in wrong account list");
                let (back, next) = self.account_links.of(slot);
                assert_eq!(back, prev);
                // Lists are in order_id order (pages resume on it), and each
                // order is found by its client order id (the oldest such).
                assert!(prev == NIL || self.slab.get(prev).order_id < node.order_id);
                if exposure.client_indexed {
                    let found = self
                        .client_index
                        .get(&self.slab, node.owner, node.client_order_id)
                        .map(|s| self.slab.get(s).order_id);
                    assert!(found.is_some_and(|id| id <= node.order_id), "client index");
                }
                listed += 1;
                prev = slot;
                slot = next;
            }
            assert_eq!(exposure.orders_tail, prev);
            // A list is indexed from INDEXED_FROM orders until it empties.
            assert!(exposure.client_indexed || exposure.open_orders < INDEXED_FROM);
            assert!(!exposure.client_indexed || exposure.open_orders > 0);
            assert_eq!(listed, count, "account list length");
        }
    }
}
