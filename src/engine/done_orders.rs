//! Done orders (issue 12): the last [`DONE_ORDERS_KEPT`] orders that reached
//! a final state on this engine (filled, or canceled for any reason), each
//! with its filled quantity, the notional its fills traded (so a client
//! gets an exact average price) and the reason. A client that reconnects
//! learns from them what became of orders it no longer sees open.
//!
//! A fixed ring, allocated once: recording a done order writes one 64-byte
//! entry and one per-(account, symbol) head, whatever the load, and the
//! oldest entry is overwritten. Each entry links to the previous done order
//! of the same (account, symbol) by its done number, so a page of one
//! account's done orders visits only that account's entries, newest first,
//! and a page never scans other accounts' orders.
//!
//! Everything here is a pure function of the commands the engine ran, so
//! a restart and `tradsys follow` rebuild the same ring from the journal.

use super::types::*;

/// Done orders each engine keeps, all its accounts and symbols together.
/// A constant rather than a setting: the answers must be the same after a
/// restart on the same journal, whatever the configuration says then.
pub const DONE_ORDERS_KEPT: usize = 4096;

/// What a done order was, as a query reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoneOrder {
    pub order_id: OrderId,
    /// The order's client order id when it became done (a replace changes it).
    pub client_order_id: ClientOrderId,
    pub side: Side,
    /// `None`: completely filled; else why the rest was canceled.
    pub cancel_reason: Option<CancelReason>,
    /// Quantity traded over the order's life.
    pub filled_qty: Qty,
    /// Quantity canceled at the end (0 when filled).
    pub canceled_qty: Qty,
    /// Sum over its fills of price x quantity (price units x quantity
    /// units): the average price is `notional / filled_qty`. At most
    /// `i64::MAX * u64::MAX`, so it never overflows.
    pub notional: u128,
    /// This engine's number of the done order: 1 for the first order that
    /// was done on it, never reset.
    pub done_seq: u64,
}

impl DoneOrder {
    /// The average price of its fills, rounded down to a whole price unit
    /// (0 when nothing traded).
    pub fn average_price(&self) -> Price {
        let average = self
            .notional
            .checked_div(self.filled_qty as u128)
            .unwrap_or(0);
        // Every fill's price is a positive i64, so their average is one too.
        debug_assert!(average <= i64::MAX as u128);
        debug_assert!((average == 0) == (self.filled_qty == 0));
        average as Price
    }
}

/// One ring entry: exactly one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Entry {
    notional: u128,
    order_id: OrderId,
    client_order_id: ClientOrderId,
    filled_qty: Qty,
    canceled_qty: Qty,
    /// The done number of the owner's previous done order (0: none).
    prev: u64,
    owner: u32,
    side: Side,
    /// `CancelReason` code, 0 when filled.
    reason: u8,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 64);

impl Entry {
    const EMPTY: Entry = Entry {
        notional: 0,
        order_id: 0,
        client_order_id: 0,
        filled_qty: 0,
        canceled_qty: 0,
        prev: 0,
        owner: u32::MAX,
        side: Side::Buy,
        reason: 0,
    };
}

/// The ring and the per-owner heads.
pub(crate) struct DoneOrders {
    entries: Vec<Entry>,
    /// Done orders recorded since the engine was built: the done number of
    /// the newest entry.
    count: u64,
    /// Per owner (`book << account_bits | account_index`): the done number
    /// of its newest done order (0: none).
    newest: Vec<u64>,
}

/// A done order as the engine records it.
pub(crate) struct Finished {
    pub owner: u32,
    pub order_id: OrderId,
    pub client_order_id: ClientOrderId,
    pub side: Side,
    pub reason: Option<CancelReason>,
    pub filled_qty: Qty,
    pub canceled_qty: Qty,
    pub notional: u128,
}

impl DoneOrders {
    pub(crate) fn new(owners: usize) -> DoneOrders {
        let done = DoneOrders {
            entries: super::hugepage::filled_vec(DONE_ORDERS_KEPT, Entry::EMPTY),
            count: 0,
            newest: vec![0; owners],
        };
        assert_eq!(done.entries.len(), DONE_ORDERS_KEPT);
        done
    }

    /// Records an order that reached its final state.
    #[inline]
    pub(crate) fn record(&mut self, done: Finished) {
        // A done order traded or canceled something, and only its fills
        // make up its notional.
        debug_assert!(done.filled_qty + done.canceled_qty > 0);
        debug_assert!((done.notional == 0) == (done.filled_qty == 0));
        debug_assert!(done.reason.is_some() == (done.canceled_qty > 0));
        let owner = done.owner as usize;
        let number = self.count + 1;
        let place = Self::place(number);
        self.entries[place] = Entry {
            notional: done.notional,
            order_id: done.order_id,
            client_order_id: done.client_order_id,
            filled_qty: done.filled_qty,
            canceled_qty: done.canceled_qty,
            prev: self.newest[owner],
            owner: done.owner,
            side: done.side,
            reason: done.reason.map_or(0, |r| r as u8),
        };
        self.newest[owner] = number;
        self.count = number;
    }

    /// Done orders recorded since the engine was built.
    pub(crate) fn count(&self) -> u64 {
        debug_assert!(self.newest.iter().all(|&n| n <= self.count));
        self.count
    }

    /// The newest done order of `owner` (0: none kept).
    pub(crate) fn newest(&self, owner: u32) -> u64 {
        let number = self.newest[owner as usize];
        debug_assert!(number <= self.count, "a head newer than the newest");
        if self.is_kept(number) {
            number
        } else {
            0
        }
    }

    /// Done order `number` if it is still kept and is `owner`'s, with the
    /// number of `owner`'s previous one (0: none).
    pub(crate) fn get(&self, owner: u32, number: u64) -> Option<(DoneOrder, u64)> {
        if !self.is_kept(number) {
            return None;
        }
        let entry = &self.entries[Self::place(number)];
        if entry.owner != owner {
            // A cursor a client made up: never another account's order.
            return None;
        }
        // Links point only to older orders.
        debug_assert!(entry.prev < number);
        let order = DoneOrder {
            order_id: entry.order_id,
            client_order_id: entry.client_order_id,
            side: entry.side,
            cancel_reason: CancelReason::from_u8(entry.reason),
            filled_qty: entry.filled_qty,
            canceled_qty: entry.canceled_qty,
            notional: entry.notional,
            done_seq: number,
        };
        Some((order, entry.prev))
    }

    /// Whether done order `number` is still in the ring.
    fn is_kept(&self, number: u64) -> bool {
        let kept =
            number != 0 && number <= self.count && self.count - number < DONE_ORDERS_KEPT as u64;
        // The ring holds exactly the newest `DONE_ORDERS_KEPT`.
        debug_assert!(!kept || number + DONE_ORDERS_KEPT as u64 > self.count);
        kept
    }

    #[inline]
    fn place(number: u64) -> usize {
        debug_assert!(number > 0, "done numbers start at 1");
        ((number - 1) % DONE_ORDERS_KEPT as u64) as usize
    }
}
