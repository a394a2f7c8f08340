//! What an account asks about itself after a reconnect (issue 12): one of
//! its orders by the client order id it chose, its open orders and its done
//! orders a page at a time, and its positions. Read-only, allocation-free, and bounded per
//! call: a page visits at most `limit` orders plus the ones a stale cursor
//! has to skip on one (account, symbol) list, so a query never holds the
//! owner shard's core for long.
//!
//! Pages are resumable without server state: a [`PageCursor`] names the
//! book (the symbol's position in this engine) and the last order id
//! returned. An account's list on a symbol is in `order_id` order (orders
//! are appended when accepted, and a replace keeps the node in place), so
//! a page resumes right after that order when it is still open, otherwise
//! at the first of the next 64 order ids that is the account's and open,
//! and otherwise skips the list up to it.

use super::client_index::INDEXED_FROM;
use super::done_orders::DoneOrder;
use super::matcher::Engine;
use super::query::{OrderView, PositionView};
use super::slab::{Slot, NIL};
use super::types::*;

/// Order ids a page looks ahead for the account's next open order when
/// its cursor's order is gone, before it walks the list instead.
const FORWARD_PROBES: u64 = 64;

/// Where the next page of an account's open orders (or positions) starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCursor {
    /// The book (symbol position in this engine) to continue in.
    pub book: u16,
    /// The last order id already returned in that book (0: none).
    pub after_order_id: OrderId,
}

impl Engine {
    /// The oldest resting order of `account` on `symbol` whose client order
    /// id is `client_order_id`.
    pub fn order_by_client_id(
        &self,
        account: AccountId,
        symbol: SymbolId,
        client_order_id: ClientOrderId,
    ) -> Option<OrderView> {
        let book = self.symbol_index(symbol)?;
        let owner = self.owner(self.account_index(account)?, book);
        let exposure = &self.exposures[owner as usize];
        let slot = if exposure.client_indexed {
            self.client_index.get(&self.slab, owner, client_order_id)?
        } else {
            self.first_with_client_id(exposure.orders_head, client_order_id)?
        };
        let view = self.order_view(slot, account, symbol);
        debug_assert_eq!(view.client_order_id, client_order_id);
        Some(view)
    }

    /// The first order carrying `client_order_id` in a list the client
    /// order id index does not hold (shorter than `INDEXED_FROM`): the
    /// oldest, the list being in `order_id` order.
    fn first_with_client_id(&self, head: Slot, client_order_id: ClientOrderId) -> Option<Slot> {
        let found = self
            .account_links
            .walk(head)
            .enumerate()
            .find(|&(_, slot)| self.slab.get(slot).client_order_id == client_order_id);
        debug_assert!(found.is_none_or(|(walked, _)| walked < INDEXED_FROM as usize));
        found.map(|(_, slot)| slot)
    }

    /// Visits up to `limit` open orders of `account` from `cursor` on, book
    /// by book in this engine's symbol order (only `symbol`'s book when
    /// given), each book in `order_id` order. Returns the cursor of the
    /// next page, or `None` when nothing is left.
    pub fn open_orders_page(
        &self,
        account: AccountId,
        symbol: Option<SymbolId>,
        cursor: PageCursor,
        limit: usize,
        mut visit: impl FnMut(&OrderView),
    ) -> Option<PageCursor> {
        assert!(limit > 0, "a page holds at least one order");
        let account_index = self.account_index(account)?;
        let (first, end) = self.book_range(symbol, cursor.book)?;
        let mut visited = 0;
        for book in first..end {
            let owner = self.owner(account_index, book);
            let symbol_id = self.books[book as usize].symbol;
            let after = if book == cursor.book {
                cursor.after_order_id
            } else {
                0
            };
            let mut slot = self.first_after(owner, after);
            let mut last = after;
            while slot != NIL {
                if visited == limit {
                    return Some(PageCursor {
                        book,
                        after_order_id: last,
                    });
                }
                let view = self.order_view(slot, account, symbol_id);
                debug_assert!(view.order_id > last, "list out of order_id order");
                visit(&view);
                visited += 1;
                last = view.order_id;
                slot = self.account_links.next(slot);
            }
        }
        debug_assert!(visited <= limit);
        None
    }

    /// Visits up to `limit` positions of `account` (one per symbol of this
    /// engine, or `symbol`'s only) from `cursor.book` on. Returns the cursor
    /// of the next page, or `None` when nothing is left.
    pub fn positions_page(
        &self,
        account: AccountId,
        symbol: Option<SymbolId>,
        cursor: PageCursor,
        limit: usize,
        mut visit: impl FnMut(SymbolId, &PositionView),
    ) -> Option<PageCursor> {
        assert!(limit > 0, "a page holds at least one position");
        self.account_index(account)?;
        let (first, end) = self.book_range(symbol, cursor.book)?;
        for (n, book) in (first..end).enumerate() {
            if n == limit {
                return Some(PageCursor {
                    book,
                    after_order_id: 0,
                });
            }
            let symbol_id = self.books[book as usize].symbol;
            let view = self.position(account, symbol_id).expect("a book's symbol");
            visit(symbol_id, &view);
        }
        None
    }

    /// Visits up to `limit` done orders of `account` (those this engine
    /// still keeps, `done_orders.rs`) from `cursor` on, book by book in this
    /// engine's symbol order (only `symbol`'s book when given), each book
    /// newest first. `cursor.after_order_id` is here the done number to
    /// resume at (0: the book's newest). Returns the cursor of the next
    /// page, or `None` when nothing is left. A resumed book ends where its
    /// next entry is no longer kept, so nothing is listed twice.
    pub fn done_orders_page(
        &self,
        account: AccountId,
        symbol: Option<SymbolId>,
        cursor: PageCursor,
        limit: usize,
        mut visit: impl FnMut(SymbolId, &DoneOrder),
    ) -> Option<PageCursor> {
        assert!(limit > 0, "a page holds at least one order");
        let account_index = self.account_index(account)?;
        let (first, end) = self.book_range(symbol, cursor.book)?;
        let mut visited = 0;
        for book in first..end {
            let owner = self.owner(account_index, book);
            let symbol_id = self.books[book as usize].symbol;
            let mut number = if book == cursor.book && cursor.after_order_id != 0 {
                cursor.after_order_id
            } else {
                self.done.newest(owner)
            };
            while let Some((order, prev)) = self.done.get(owner, number) {
                if visited == limit {
                    return Some(PageCursor {
                        book,
                        after_order_id: number,
                    });
                }
                debug_assert_eq!(order.done_seq, number);
                visit(symbol_id, &order);
                visited += 1;
                number = prev;
            }
        }
        debug_assert!(visited <= limit);
        None
    }

    /// Orders that reached a final state on this engine since it was built
    /// (the newest [`DONE_ORDERS_KEPT`](super::DONE_ORDERS_KEPT) are kept).
    pub fn done_orders_recorded(&self) -> u64 {
        let count = self.done.count();
        // Only accepted orders are done: each took an order id.
        debug_assert!(count < self.next_ids().0);
        count
    }

    /// The books a page walks: `symbol`'s alone, or every book from `from`.
    /// `None` for a symbol this engine does not own.
    fn book_range(&self, symbol: Option<SymbolId>, from: u16) -> Option<(u16, u16)> {
        let range = match symbol {
            Some(symbol) => {
                let book = self.symbol_index(symbol)?;
                (book, book + 1)
            }
            None => (from.min(self.books.len() as u16), self.books.len() as u16),
        };
        debug_assert!(range.0 <= range.1 && range.1 as usize <= self.books.len());
        Some(range)
    }

    /// The first order of `owner`'s list with an id above `after`.
    fn first_after(&self, owner: u32, after: OrderId) -> Slot {
        if after != 0 {
            if let Some(slot) = self.index.get(&self.slab, after) {
                let node = self.slab.get(slot);
                if node.owner == owner {
                    return self.account_links.next(slot);
                }
            }
        }
        // The cursor's order is gone. Ids are sequential, so the account's
        // next open order is usually a few ids on: look for it there first
        // (each probe is one index lookup), then walk the list.
        if after != 0 {
            for id in after.saturating_add(1)..=after.saturating_add(FORWARD_PROBES) {
                if let Some(slot) = self.index.get(&self.slab, id) {
                    if self.slab.get(slot).owner == owner {
                        return slot;
                    }
                }
            }
        }
        let mut slot = self.exposures[owner as usize].orders_head;
        while slot != NIL && self.slab.get(slot).order_id <= after {
            let next = self.account_links.next(slot);
            debug_assert!(
                next == NIL || self.slab.get(next).order_id > self.slab.get(slot).order_id
            );
            slot = next;
        }
        slot
    }

    fn order_view(&self, slot: Slot, account: AccountId, symbol: SymbolId) -> OrderView {
        let node = self.slab.get(slot);
        debug_assert!(
            node.leaves_qty > 0,
            "listed order {} rests with nothing",
            node.order_id
        );
        OrderView {
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
        }
    }
}
