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
        let canceled_count = self.cancel_all_of(account, symbol, reason, sink);
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
                let next = self.slab.get(slot).acct_next;
                self.cancel_and_publish(slot, reason, sink);
                canceled += 1;
                slot = next;
            }
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
    }
}
