//! Orders find their slab node from their id (`OrderSlab::home_of`) unless
//! an older order still rests in it: such an order goes to another free
//! node and the order index records it. Both kinds are found, canceled,
//! replaced and matched alike, and an id nobody was given (0 included,
//! the mark of a free node) is never found.

use crate::support::engine_fixture::*;
use tradsys::engine::*;

use Side::{Buy, Sell};

/// Four nodes: order ids 1, 5, 9 ... share a home.
fn tiny() -> Harness {
    let mut config = config();
    config.order_capacity = 4;
    Harness::with(config)
}

#[test]
fn an_order_whose_home_is_taken_is_found_canceled_and_replaced() {
    let mut h = tiny();
    let first = h.rest(ALICE, Buy, 990, 1); // id 1, home 1
    let second = h.rest(ALICE, Buy, 991, 1); // id 2, home 2
    let third = h.rest(ALICE, Buy, 992, 1); // id 3, home 3
    assert_eq!((first, second, third), (1, 2, 3));
    assert_eq!(cancels(&h.cancel(ALICE, second)).len(), 1);
    h.rest(BOB, Buy, 993, 1); // id 4, home 0
                              // Id 5's home is 1, where order 1 still rests: it goes to node 2.
    let away = h.rest(BOB, Buy, 994, 1);
    assert_eq!(away, 5);
    assert_eq!(h.queue(Buy, 994), vec![away]);
    // Replaced (a new price and qty) and still found there.
    let replaced = h.replace(BOB, away, 995, 2);
    assert!(
        !matches!(replaced[0], Event::CancelRejected { .. }),
        "{replaced:?}"
    );
    assert_eq!(h.queue(Buy, 995), vec![away]);
    // Matched (with room made: an order that may rest needs a node): a
    // sell at 995 takes it whole, the best bid.
    assert_eq!(cancels(&h.cancel(ALICE, third)).len(), 1);
    let sell = h.order(CAROL, Sell, 995, 2);
    let events = h.submit(sell);
    let fills = fills(&events);
    assert!(fills.iter().any(|f| f.0 == away), "{events:?}");
    assert!(h.engine.order(BOB, SYM, away).is_none(), "filled, gone");
    // Order 1 is still at home and still cancels.
    assert_eq!(cancels(&h.cancel(ALICE, first)).len(), 1);
}

#[test]
fn a_full_slab_rejects_and_unknown_ids_are_not_found() {
    let mut h = tiny();
    for price in 990..994 {
        h.rest(ALICE, Buy, price, 1);
    }
    let order = h.order(ALICE, Buy, 989, 1);
    assert_eq!(rejected(&h.submit(order)), RejectReason::OrderCapacity);
    for unknown in [0, 5, 9, u64::MAX] {
        let events = h.cancel(ALICE, unknown);
        assert!(
            matches!(
                events[..],
                [Event::CancelRejected {
                    reason: RejectReason::UnknownOrder,
                    ..
                }]
            ),
            "cancel of {unknown}: {events:?}"
        );
    }
}
