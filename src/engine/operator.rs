//! Commands that act on many orders or on engine state rather than on one
//! order: mass cancel, kill switch, halt, reference price, end of day.
//!
//! Unknown ids in these commands change nothing and emit nothing except the
//! `MassCancelDone` a mass cancel always answers with; the admin API and the
//! gateway validate ids before sending them.

use super::event::{Event, EventSink};
use super::matcher::Engine;
use super::slab::NIL;
use super::types::*;

impl Engine {
    /// Cancels the account's resting orders on one symbol or on all, in
    /// symbol config order, then acceptance order. Each cancel is followed by
    /// its level update.
    pub(crate) fn mass_cancel<S: EventSink>(
        &mut self,
        account: AccountId,
        symbol: Option<SymbolId>,
        reason: CancelReason,
        sink: &mut S,
    ) {
        let live = self.slab.live();
        let canceled_count = self.cancel_all_of(account, symbol, reason, sink);
        assert_eq!(
            live - self.slab.live(),
            canceled_count,
            "orders counted once"
        );
        sink.emit(&Event::MassCancelDone {
            account,
            symbol: symbol.unwrap_or(0),
            canceled_count,
        });
    }

    fn cancel_all_of<S: EventSink>(
        &mut self,
        account: AccountId,
        symbol: Option<SymbolId>,
        reason: CancelReason,
        sink: &mut S,
    ) -> u32 {
        let Some(account_index) = self.account_index(account) else {
            return 0;
        };
        let books = match symbol {
            None => 0..self.books.len() as u16,
            Some(id) => match self.symbol_index(id) {
                Some(book) => book..book + 1,
                None => return 0,
            },
        };
        let mut canceled = 0;
        for book in books {
            let owner = self.owner(account_index, book) as usize;
            let mut slot = self.exposures[owner].orders_head;
            while slot != NIL {
                let node = self.slab.get(slot);
                assert_eq!(
                    node.owner as usize, owner,
                    "order in another account's list"
                );
                let next = self.account_links.next(slot);
                self.cancel_and_publish(slot, reason, sink);
                canceled += 1;
                slot = next;
            }
            let exposure = &self.exposures[owner];
            assert_eq!(exposure.open_orders, 0, "orders left after a mass cancel");
            assert_eq!((exposure.open_buy_qty, exposure.open_sell_qty), (0, 0));
        }
        canceled
    }

    pub(crate) fn kill_switch<S: EventSink>(&mut self, account: AccountId, on: bool, sink: &mut S) {
        let Some(account_index) = self.account_index(account) else {
            return;
        };
        self.accounts[account_index as usize].killed = on;
        sink.emit(&Event::KillSwitchSet { account, on });
        if on {
            self.cancel_all_of(account, None, CancelReason::KillSwitch, sink);
            // A killed account has nothing on any book of this engine.
            debug_assert!((0..self.books.len() as u16).all(|book| self.exposures
                [self.owner(account_index, book) as usize]
                .open_orders
                == 0));
        }
    }

    pub(crate) fn halt<S: EventSink>(&mut self, symbol: SymbolId, on: bool, sink: &mut S) {
        let Some(book) = self.symbol_index(symbol) else {
            return;
        };
        self.symbols[book as usize].halted = on;
        sink.emit(&Event::HaltSet { symbol, on });
    }

    /// Moves the price band. Prices that are not positive multiples of the
    /// tick are ignored.
    pub(crate) fn set_reference_price<S: EventSink>(
        &mut self,
        symbol: SymbolId,
        price: Price,
        sink: &mut S,
    ) {
        let Some(book) = self.symbol_index(symbol) else {
            return;
        };
        let spec = &mut self.symbols[book as usize].spec;
        if price <= 0 || price % spec.tick_size != 0 {
            return;
        }
        spec.reference_price = price;
        self.set_band(book);
        let state = &self.symbols[book as usize];
        // The band only moved: every edge is still on the tick grid.
        assert_eq!(state.band_low % state.spec.tick_size, 0);
        assert_eq!(state.band_high % state.spec.tick_size, 0);
        sink.emit(&Event::ReferencePriceSet { symbol, price });
    }

    /// Expires every resting Day order: symbols in config order, bids then
    /// asks, levels from best to worst, orders in time priority. A level's
    /// update follows the cancels at that level.
    pub(crate) fn end_of_day<S: EventSink>(&mut self, sink: &mut S) {
        for book in 0..self.books.len() {
            for side in [Side::Buy, Side::Sell] {
                // Best level is last; removing level i only moves levels above i.
                let mut i = self.books[book].side(side).levels.len();
                while i > 0 {
                    i -= 1;
                    let level = self.books[book].side(side).levels[i];
                    let mut expired_any = false;
                    let mut slot = level.head;
                    while slot != NIL {
                        let node = *self.slab.get(slot);
                        if node.is_day() {
                            self.cancel_resting(slot, CancelReason::Expired, sink);
                            expired_any = true;
                        }
                        slot = node.next;
                    }
                    if expired_any {
                        let book_side = self.books[book].side(side);
                        let (qty, order_count) = match book_side.find(level.price) {
                            Ok(j) => (book_side.levels[j].qty, book_side.levels[j].order_count),
                            Err(_) => (0, 0),
                        };
                        assert!(order_count < level.order_count, "expired none");
                        sink.emit(&Event::BookLevel {
                            symbol: self.books[book].symbol,
                            side,
                            price: level.price,
                            qty,
                            order_count,
                        });
                    }
                }
            }
        }
        #[cfg(debug_assertions)]
        self.check_no_day_orders();
    }

    /// Walks every resting order: none is a Day order after the end of
    /// day. Debug builds only: O(every resting order), where the O(1)
    /// checks in `end_of_day` hold in release builds.
    #[cfg(debug_assertions)]
    fn check_no_day_orders(&self) {
        for book in &self.books {
            for side in [Side::Buy, Side::Sell] {
                for level in &book.side(side).levels {
                    let mut slot = level.head;
                    while slot != NIL {
                        let node = self.slab.get(slot);
                        assert!(!node.is_day(), "day order {} survived", node.order_id);
                        slot = node.next;
                    }
                }
            }
        }
    }
}
