//! Done orders (issue 12), one behaviour each: a partly filled order that
//! is canceled keeps its fills and their exact notional (the average
//! price rounded down), a replace keeps the fills before it, a killed FOK
//! traded nothing, the window keeps the last `DONE_ORDERS_KEPT` of the
//! engine and a page resumed past it lists nothing twice, and a cursor
//! into another account's done order lists nothing of it.

use crate::support::engine_fixture::*;
use tradsys::engine::*;

use Side::{Buy, Sell};

fn all_done(h: &Harness, account: AccountId, page: usize) -> Vec<DoneOrder> {
    let mut listed = Vec::new();
    let mut cursor = Some(PageCursor::default());
    while let Some(at) = cursor {
        cursor = h
            .engine
            .done_orders_page(account, None, at, page, |_, d| listed.push(*d));
    }
    listed
}

#[test]
fn a_partly_filled_order_that_is_canceled_keeps_its_fills_and_their_notional() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 1);
    h.rest(BOB, Sell, 1_001, 2);
    let order = h.order(ALICE, Buy, 1_001, 5);
    let id = accepted_id(&h.submit(order));
    assert!(all_done(&h, ALICE, 16).is_empty(), "still open with 2");
    h.cancel(ALICE, id);
    let done = all_done(&h, ALICE, 16);
    assert_eq!(done.len(), 1);
    let d = done[0];
    assert_eq!((d.order_id, d.side), (id, Buy));
    assert_eq!(d.cancel_reason, Some(CancelReason::Requested));
    assert_eq!((d.filled_qty, d.canceled_qty), (3, 2));
    assert_eq!(d.notional, 1_000 + 2 * 1_001);
    // 3,002 / 3 = 1,000.67: rounded down.
    assert_eq!(d.average_price(), 1_000);
    // The two resting sells filled completely, passive.
    let bob = all_done(&h, BOB, 16);
    assert_eq!(bob.len(), 2);
    assert!(bob.iter().all(|d| d.cancel_reason.is_none()));
    assert_eq!(
        bob.iter().map(|d| d.average_price()).collect::<Vec<_>>(),
        [1_001, 1_000],
        "newest first"
    );
}

#[test]
fn a_replace_keeps_the_fills_before_it_and_takes_the_new_client_order_id() {
    let mut h = Harness::new();
    let id = h.rest(ALICE, Buy, 990, 4);
    h.rest(BOB, Sell, 995, 10);
    let order = h.order(BOB, Sell, 990, 1);
    h.submit(order);
    // Price up to 995: loses priority, trades its 3 left against BOB's 995.
    let events = h.replace(ALICE, id, 995, 4);
    assert!(matches!(events[0], Event::Replaced { .. }), "{events:?}");
    let Event::Replaced {
        client_order_id, ..
    } = events[0]
    else {
        unreachable!()
    };
    let done = all_done(&h, ALICE, 16);
    assert_eq!(done.len(), 1, "{done:?}");
    let d = done[0];
    assert_eq!((d.order_id, d.client_order_id), (id, client_order_id));
    assert_eq!(
        (d.filled_qty, d.canceled_qty, d.cancel_reason),
        (4, 0, None)
    );
    assert_eq!(d.notional, 990 + 3 * 995);
    assert_eq!(d.average_price(), (990 + 3 * 995) / 4);
}

#[test]
fn a_killed_fill_or_kill_order_is_done_with_nothing_traded() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 1);
    let mut order = h.order(ALICE, Buy, 1_000, 2);
    order.tif = TimeInForce::Fok;
    h.submit(order);
    let d = all_done(&h, ALICE, 16)[0];
    assert_eq!(d.cancel_reason, Some(CancelReason::FillOrKill));
    assert_eq!((d.filled_qty, d.canceled_qty, d.notional), (0, 2, 0));
    assert_eq!(d.average_price(), 0);
}

/// IOC orders that find nothing: each is done at once, canceled.
fn ioc(h: &mut Harness, account: AccountId, n: usize) {
    for _ in 0..n {
        let mut order = h.order(account, Buy, 900, 1);
        order.tif = TimeInForce::Ioc;
        h.submit(order);
    }
}

#[test]
fn the_window_keeps_the_engines_last_done_orders_and_a_resumed_page_lists_nothing_twice() {
    let mut h = Harness::new();
    ioc(&mut h, ALICE, 10);
    ioc(&mut h, BOB, DONE_ORDERS_KEPT - 5);
    // ALICE's first 5 left the window (BOB's orders count too).
    let alice = all_done(&h, ALICE, 16);
    assert_eq!(alice.len(), 5);
    assert_eq!(
        alice.iter().map(|d| d.done_seq).collect::<Vec<_>>(),
        [10, 9, 8, 7, 6]
    );
    // A page of 2, then 3 more done orders push the cursor's out: the
    // query ends there instead of listing again from the newest.
    let mut listed = Vec::new();
    let next = h
        .engine
        .done_orders_page(ALICE, None, PageCursor::default(), 2, |_, d| {
            listed.push(d.done_seq)
        })
        .expect("more to come");
    ioc(&mut h, BOB, 3);
    let after = h
        .engine
        .done_orders_page(ALICE, None, next, 2, |_, d| listed.push(d.done_seq));
    assert_eq!(listed, [10, 9]);
    assert_eq!(after, None);
    assert_eq!(h.engine.done_orders_recorded(), DONE_ORDERS_KEPT as u64 + 8);
}

#[test]
fn a_cursor_into_another_accounts_done_order_lists_nothing_of_it() {
    let mut h = Harness::new();
    ioc(&mut h, BOB, 3);
    ioc(&mut h, ALICE, 1);
    // Done number 2 is BOB's.
    let forged = PageCursor {
        book: 0,
        after_order_id: 2,
    };
    let mut listed = Vec::new();
    let next = h
        .engine
        .done_orders_page(ALICE, None, forged, 16, |_, d| listed.push(*d));
    assert_eq!((listed, next), (Vec::new(), None));
    assert_eq!(all_done(&h, BOB, 1).len(), 3);
}
