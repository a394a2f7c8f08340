//! Unit tests of the engine, one behaviour each: order types, priority,
//! replace, STP, risk, operator commands and every reject path.

use crate::support::engine_fixture::*;
use tradsys::engine::*;

use Side::{Buy, Sell};

#[test]
fn limit_order_rests_and_publishes_its_level() {
    let mut h = Harness::new();
    let order = h.order(ALICE, Buy, 990, 5);
    let events = h.submit(order);
    let id = accepted_id(&events);
    assert_eq!(
        events[1],
        Event::BookLevel {
            symbol: SYM,
            side: Buy,
            price: 990,
            qty: 5,
            order_count: 1
        }
    );
    assert_eq!(events.len(), 2);
    assert_eq!(h.engine.best_bid(SYM), Some(990));
    assert_eq!(h.engine.order(ALICE, SYM, id).unwrap().leaves_qty, 5);
}

#[test]
fn crossing_limit_trades_at_resting_price_and_rests_remainder() {
    let mut h = Harness::new();
    let ask = h.rest(BOB, Sell, 1_000, 3);
    let order = h.order(ALICE, Buy, 1_005, 5);
    let events = h.submit(order);
    let bid = accepted_id(&events);
    assert_eq!(
        fills(&events),
        vec![
            (bid, 1_000, 3, 2, Liquidity::Aggressor),
            (ask, 1_000, 3, 0, Liquidity::Passive)
        ]
    );
    assert!(events.contains(&Event::Trade {
        exec_id: 1,
        symbol: SYM,
        price: 1_000,
        qty: 3,
        aggressor_side: Buy
    }));
    assert_eq!(
        events.last(),
        Some(&Event::BookLevel {
            symbol: SYM,
            side: Buy,
            price: 1_005,
            qty: 2,
            order_count: 1
        })
    );
    assert_eq!(h.engine.best_ask(SYM), None);
    assert_eq!(h.engine.best_bid(SYM), Some(1_005));
}

#[test]
fn both_fills_of_a_trade_share_the_exec_id() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 1);
    h.rest(CAROL, Sell, 1_000, 1);
    let order = h.order(ALICE, Buy, 1_000, 2);
    let events = h.submit(order);
    let exec_ids: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fill { exec_id, .. } => Some(*exec_id),
            _ => None,
        })
        .collect();
    assert_eq!(exec_ids, vec![1, 1, 2, 2]);
}

#[test]
fn better_price_trades_first_then_earlier_order_at_same_price() {
    let mut h = Harness::new();
    let first_at_1001 = h.rest(BOB, Sell, 1_001, 1);
    let second_at_1001 = h.rest(CAROL, Sell, 1_001, 1);
    let at_1000 = h.rest(CAROL, Sell, 1_000, 1);
    let order = h.order(ALICE, Buy, 1_001, 3);
    let events = h.submit(order);
    let passive: Vec<OrderId> = fills(&events)
        .into_iter()
        .filter(|f| f.4 == Liquidity::Passive)
        .map(|f| f.0)
        .collect();
    assert_eq!(passive, vec![at_1000, first_at_1001, second_at_1001]);
}

#[test]
fn market_order_sweeps_inside_the_band_and_cancels_the_rest() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_050, 2);
    h.rest(BOB, Sell, 1_100, 2); // band high is 1_100 (ref 1_000, 10%)
    h.rest(BOB, Sell, 1_100, 1);
    let mut order = h.order(ALICE, Buy, 0, 10);
    order.kind = OrderKind::Market;
    order.tif = TimeInForce::Ioc;
    let events = h.submit(order);
    let traded: Qty = fills(&events)
        .iter()
        .filter(|f| f.4 == Liquidity::Aggressor)
        .map(|f| f.2)
        .sum();
    assert_eq!(traded, 5);
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 5, CancelReason::ImmediateRemainder)]
    );
    assert_eq!(h.engine.best_ask(SYM), None);
}

#[test]
fn market_order_on_an_empty_book_is_canceled_whole() {
    let mut h = Harness::new();
    let mut order = h.order(ALICE, Sell, 0, 4);
    order.kind = OrderKind::Market;
    order.tif = TimeInForce::Fok;
    let events = h.submit(order);
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 4, CancelReason::FillOrKill)]
    );
}

#[test]
fn ioc_trades_what_it_can_and_never_rests() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 2);
    let mut order = h.order(ALICE, Buy, 1_000, 5);
    order.tif = TimeInForce::Ioc;
    let events = h.submit(order);
    assert_eq!(fills(&events).len(), 2);
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 3, CancelReason::ImmediateRemainder)]
    );
    assert_eq!(h.engine.best_bid(SYM), None);
    assert_eq!(h.engine.resting_orders(), 0);
}

#[test]
fn fok_fills_completely_across_levels() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 2);
    h.rest(CAROL, Sell, 1_001, 3);
    let mut order = h.order(ALICE, Buy, 1_001, 5);
    order.tif = TimeInForce::Fok;
    let events = h.submit(order);
    let aggressor: Vec<Qty> = fills(&events)
        .iter()
        .filter(|f| f.4 == Liquidity::Aggressor)
        .map(|f| f.2)
        .collect();
    assert_eq!(aggressor, vec![2, 3]);
    assert!(cancels(&events).is_empty());
}

#[test]
fn fok_that_cannot_fill_completely_trades_nothing() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 2);
    h.rest(CAROL, Sell, 1_002, 3); // beyond the limit
    let mut order = h.order(ALICE, Buy, 1_001, 5);
    order.tif = TimeInForce::Fok;
    let events = h.submit(order);
    assert!(fills(&events).is_empty());
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 5, CancelReason::FillOrKill)]
    );
    assert_eq!(h.engine.best_ask(SYM), Some(1_000));
}

#[test]
fn fok_counts_nothing_behind_an_own_order_that_would_stop_it() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 2);
    h.rest(ALICE, Sell, 1_000, 1);
    h.rest(CAROL, Sell, 1_000, 3);
    let mut order = h.order(ALICE, Buy, 1_000, 4);
    order.tif = TimeInForce::Fok;
    order.stp = Some(StpMode::CancelIncoming);
    let events = h.submit(order);
    assert!(fills(&events).is_empty());
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 4, CancelReason::FillOrKill)]
    );
}

#[test]
fn post_only_rests_when_passive_and_is_rejected_when_it_would_trade() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 2);
    let mut passive = h.order(ALICE, Buy, 999, 1);
    passive.post_only = true;
    accepted_id(&h.submit(passive));
    let mut crossing = h.order(ALICE, Buy, 1_000, 1);
    crossing.post_only = true;
    assert_eq!(
        rejected(&h.submit(crossing)),
        RejectReason::WouldCrossPostOnly
    );
}

#[test]
fn day_orders_expire_at_end_of_day_and_gtc_orders_stay() {
    let mut h = Harness::new();
    let gtc = h.rest(ALICE, Buy, 990, 1);
    let mut day = h.order(BOB, Buy, 990, 2);
    day.tif = TimeInForce::Day;
    let day_id = accepted_id(&h.submit(day));
    let events = h.run(Command::EndOfDay);
    assert_eq!(
        events,
        vec![
            Event::Canceled {
                order_id: day_id,
                account: BOB,
                symbol: SYM,
                client_order_id: day.client_order_id,
                canceled_qty: 2,
                reason: CancelReason::Expired
            },
            Event::BookLevel {
                symbol: SYM,
                side: Buy,
                price: 990,
                qty: 1,
                order_count: 1
            },
        ]
    );
    assert_eq!(h.queue(Buy, 990), vec![gtc]);
}

#[test]
fn cancel_removes_the_order_and_its_empty_level() {
    let mut h = Harness::new();
    let id = h.rest(ALICE, Sell, 1_010, 4);
    let events = h.cancel(ALICE, id);
    assert_eq!(cancels(&events), vec![(id, 4, CancelReason::Requested)]);
    assert_eq!(
        events[1],
        Event::BookLevel {
            symbol: SYM,
            side: Sell,
            price: 1_010,
            qty: 0,
            order_count: 0
        }
    );
    assert_eq!(h.engine.best_ask(SYM), None);
    assert_eq!(rejected(&h.cancel(ALICE, id)), RejectReason::UnknownOrder);
}

#[test]
fn another_accounts_order_looks_exactly_like_a_missing_one() {
    let mut h = Harness::new();
    let id = h.rest(ALICE, Sell, 1_010, 4);
    assert_eq!(rejected(&h.cancel(BOB, id)), RejectReason::UnknownOrder);
    assert_eq!(
        rejected(&h.replace(BOB, id, 1_010, 1)),
        RejectReason::UnknownOrder
    );
    assert_eq!(rejected(&h.cancel(BOB, 999)), RejectReason::UnknownOrder);
    assert!(h.engine.order(BOB, SYM, id).is_none());
    assert_eq!(h.engine.order(ALICE, SYM, id).unwrap().leaves_qty, 4);
}

#[test]
fn replace_with_lower_qty_keeps_priority() {
    let mut h = Harness::new();
    let first = h.rest(ALICE, Buy, 990, 5);
    let second = h.rest(BOB, Buy, 990, 5);
    let events = h.replace(ALICE, first, 990, 3);
    assert!(matches!(
        events[0],
        Event::Replaced {
            kept_priority: true,
            leaves_qty: 3,
            ..
        }
    ));
    assert_eq!(h.queue(Buy, 990), vec![first, second]);
    assert_eq!(h.engine.depth(SYM, Buy, 1).next().unwrap().qty, 8);
}

#[test]
fn replace_with_higher_qty_loses_priority() {
    let mut h = Harness::new();
    let first = h.rest(ALICE, Buy, 990, 5);
    let second = h.rest(BOB, Buy, 990, 5);
    let events = h.replace(ALICE, first, 990, 6);
    assert!(matches!(
        events[0],
        Event::Replaced {
            kept_priority: false,
            leaves_qty: 6,
            ..
        }
    ));
    assert_eq!(h.queue(Buy, 990), vec![second, first]);
}

#[test]
fn replace_to_a_new_price_loses_priority() {
    let mut h = Harness::new();
    let moved = h.rest(ALICE, Buy, 990, 5);
    let waiting = h.rest(BOB, Buy, 991, 5);
    let events = h.replace(ALICE, moved, 991, 2);
    assert!(matches!(
        events[0],
        Event::Replaced {
            kept_priority: false,
            ..
        }
    ));
    assert_eq!(
        events[1],
        Event::BookLevel {
            symbol: SYM,
            side: Buy,
            price: 990,
            qty: 0,
            order_count: 0
        }
    );
    assert_eq!(h.queue(Buy, 991), vec![waiting, moved]);
}

#[test]
fn replace_that_crosses_trades_like_a_new_order() {
    let mut h = Harness::new();
    let ask = h.rest(BOB, Sell, 1_000, 2);
    let bid = h.rest(ALICE, Buy, 990, 5);
    let events = h.replace(ALICE, bid, 1_000, 5);
    assert_eq!(
        fills(&events),
        vec![
            (bid, 1_000, 2, 3, Liquidity::Aggressor),
            (ask, 1_000, 2, 0, Liquidity::Passive)
        ]
    );
    let view = h.engine.order(ALICE, SYM, bid).unwrap();
    assert_eq!(
        (view.price, view.leaves_qty, view.filled_qty),
        (1_000, 3, 2)
    );
}

#[test]
fn replace_cannot_go_below_what_already_traded() {
    let mut h = Harness::new();
    let bid = h.rest(ALICE, Buy, 1_000, 5);
    let sell = h.order(BOB, Sell, 1_000, 3);
    h.submit(sell);
    assert_eq!(
        rejected(&h.replace(ALICE, bid, 1_000, 3)),
        RejectReason::ReplaceBelowFilled
    );
    assert_eq!(
        rejected(&h.replace(ALICE, bid, 1_000, 5)),
        RejectReason::ReplaceNoChange
    );
    let events = h.replace(ALICE, bid, 1_000, 4);
    assert!(matches!(
        events[0],
        Event::Replaced {
            leaves_qty: 1,
            kept_priority: true,
            ..
        }
    ));
}

#[test]
fn mass_cancel_takes_one_accounts_orders_on_one_symbol_or_all() {
    let mut h = Harness::new();
    let a1 = h.rest(ALICE, Buy, 990, 1);
    let a2 = h.rest(ALICE, Sell, 1_010, 1);
    let b1 = h.rest(BOB, Buy, 990, 1);
    let mut coarse = h.order(ALICE, Buy, 995, 10);
    coarse.symbol = COARSE;
    let a3 = accepted_id(&h.submit(coarse));
    let events = h.run(Command::MassCancel {
        account: ALICE,
        symbol: Some(SYM),
        reason: CancelReason::MassCancel,
    });
    let canceled: Vec<OrderId> = cancels(&events).iter().map(|c| c.0).collect();
    assert_eq!(canceled, vec![a1, a2]);
    assert_eq!(
        events.last(),
        Some(&Event::MassCancelDone {
            account: ALICE,
            symbol: SYM,
            canceled_count: 2
        })
    );
    assert_eq!(h.queue(Buy, 990), vec![b1]);
    let events = h.run(Command::MassCancel {
        account: ALICE,
        symbol: None,
        reason: CancelReason::Disconnect,
    });
    assert_eq!(cancels(&events), vec![(a3, 10, CancelReason::Disconnect)]);
}

#[test]
fn stp_cancel_resting_cancels_the_own_order_and_keeps_matching() {
    let mut h = Harness::new();
    let own = h.rest(ALICE, Sell, 1_000, 2);
    let other = h.rest(BOB, Sell, 1_000, 2);
    let mut order = h.order(ALICE, Buy, 1_000, 2);
    order.stp = Some(StpMode::CancelResting);
    let events = h.submit(order);
    assert_eq!(cancels(&events), vec![(own, 2, CancelReason::SelfTrade)]);
    assert_eq!(fills(&events)[1].0, other);
    assert_eq!(h.engine.resting_orders(), 0);
}

#[test]
fn stp_cancel_incoming_leaves_the_resting_order() {
    let mut h = Harness::new();
    let other = h.rest(BOB, Sell, 1_000, 1);
    let own = h.rest(ALICE, Sell, 1_000, 2);
    let mut order = h.order(ALICE, Buy, 1_000, 5);
    order.stp = Some(StpMode::CancelIncoming);
    let events = h.submit(order);
    let id = accepted_id(&events);
    assert_eq!(fills(&events)[1].0, other);
    assert_eq!(cancels(&events), vec![(id, 4, CancelReason::SelfTrade)]);
    assert_eq!(h.queue(Sell, 1_000), vec![own]);
}

#[test]
fn stp_cancel_both_cancels_resting_and_incoming() {
    let mut h = Harness::new();
    let own = h.rest(ALICE, Sell, 1_000, 2);
    let mut order = h.order(ALICE, Buy, 1_000, 5);
    order.stp = Some(StpMode::CancelBoth);
    let events = h.submit(order);
    let id = accepted_id(&events);
    assert_eq!(
        cancels(&events),
        vec![
            (own, 2, CancelReason::SelfTrade),
            (id, 5, CancelReason::SelfTrade)
        ]
    );
    assert_eq!(h.engine.resting_orders(), 0);
}

fn with_limits(limits: RiskLimits) -> Harness {
    let mut config = config();
    config.accounts[0].limits = limits;
    Harness::with(config)
}

#[test]
fn risk_limits_reject_with_their_reason() {
    let limits = RiskLimits {
        max_order_qty: 10,
        max_order_notional: 5_000,
        max_open_orders: 2,
        max_position: 12,
    };
    let mut h = with_limits(limits);
    let too_big = h.order(ALICE, Buy, 100 * 9 + 100, 11);
    assert_eq!(rejected(&h.submit(too_big)), RejectReason::MaxOrderQty);
    let too_dear = h.order(ALICE, Buy, 1_000, 6);
    assert_eq!(
        rejected(&h.submit(too_dear)),
        RejectReason::MaxOrderNotional
    );
    h.rest(ALICE, Buy, 950, 5);
    h.rest(ALICE, Buy, 950, 5);
    let third = h.order(ALICE, Buy, 950, 1);
    assert_eq!(rejected(&h.submit(third)), RejectReason::MaxOpenOrders);
    // 10 open to buy; an IOC for 3 more could reach 13 > 12.
    let mut ioc = h.order(ALICE, Buy, 950, 3);
    ioc.tif = TimeInForce::Ioc;
    assert_eq!(rejected(&h.submit(ioc)), RejectReason::MaxPosition);
    let mut ioc = h.order(ALICE, Buy, 950, 2);
    ioc.tif = TimeInForce::Ioc;
    accepted_id(&h.submit(ioc));
}

#[test]
fn price_band_rejects_fat_fingers_until_the_reference_moves() {
    let mut h = Harness::new();
    let fat = h.order(ALICE, Buy, 1_101, 1);
    assert_eq!(rejected(&h.submit(fat)), RejectReason::PriceBand);
    let low = h.order(ALICE, Buy, 899, 1);
    assert_eq!(rejected(&h.submit(low)), RejectReason::PriceBand);
    let events = h.run(Command::SetReferencePrice {
        symbol: SYM,
        price: 1_100,
    });
    assert_eq!(
        events,
        vec![Event::ReferencePriceSet {
            symbol: SYM,
            price: 1_100
        }]
    );
    accepted_id(&h.submit(fat));
}

#[test]
fn kill_switch_cancels_everything_and_blocks_new_orders_until_released() {
    let mut h = Harness::new();
    let id = h.rest(ALICE, Buy, 990, 1);
    let events = h.run(Command::KillSwitch {
        account: ALICE,
        on: true,
    });
    assert_eq!(
        events[0],
        Event::KillSwitchSet {
            account: ALICE,
            on: true
        }
    );
    assert_eq!(cancels(&events), vec![(id, 1, CancelReason::KillSwitch)]);
    let order = h.order(ALICE, Buy, 990, 1);
    assert_eq!(rejected(&h.submit(order)), RejectReason::AccountKilled);
    h.run(Command::KillSwitch {
        account: ALICE,
        on: false,
    });
    accepted_id(&h.submit(order));
}

#[test]
fn halt_blocks_new_orders_and_replaces_but_not_cancels() {
    let mut h = Harness::new();
    let id = h.rest(ALICE, Buy, 990, 2);
    assert_eq!(
        h.run(Command::Halt {
            symbol: SYM,
            on: true
        }),
        vec![Event::HaltSet {
            symbol: SYM,
            on: true
        }]
    );
    let order = h.order(BOB, Sell, 990, 1);
    assert_eq!(rejected(&h.submit(order)), RejectReason::SymbolHalted);
    assert_eq!(
        rejected(&h.replace(ALICE, id, 990, 1)),
        RejectReason::SymbolHalted
    );
    assert_eq!(
        cancels(&h.cancel(ALICE, id)),
        vec![(id, 2, CancelReason::Requested)]
    );
    h.run(Command::Halt {
        symbol: SYM,
        on: false,
    });
    accepted_id(&h.submit(order));
}

#[test]
fn full_slab_rejects_resting_orders_but_still_trades_ioc() {
    let mut config = config();
    config.order_capacity = 2;
    let mut h = Harness::with(config);
    h.rest(ALICE, Buy, 990, 1);
    h.rest(ALICE, Sell, 1_010, 1);
    let third = h.order(BOB, Buy, 991, 1);
    assert_eq!(rejected(&h.submit(third)), RejectReason::OrderCapacity);
    let mut ioc = h.order(BOB, Buy, 1_010, 1);
    ioc.tif = TimeInForce::Ioc;
    assert_eq!(fills(&h.submit(ioc)).len(), 2);
    accepted_id(&h.submit(third)); // the fill freed a node
}

#[test]
fn full_side_rejects_an_order_that_needs_a_new_level() {
    let mut config = config();
    config.max_levels_per_side = 2;
    let mut h = Harness::with(config);
    h.rest(ALICE, Buy, 990, 1);
    h.rest(ALICE, Buy, 991, 1);
    let new_level = h.order(BOB, Buy, 992, 1);
    assert_eq!(
        rejected(&h.submit(new_level)),
        RejectReason::BookLevelCapacity
    );
    h.rest(BOB, Buy, 991, 1); // joining an existing level is fine
    let id = h.rest(BOB, Sell, 1_010, 1);
    h.rest(BOB, Sell, 1_011, 1);
    // Moving the only order of a level frees that level first.
    let events = h.replace(BOB, id, 1_012, 1);
    assert!(matches!(events[0], Event::Replaced { .. }));
}

#[test]
fn field_validation_rejects_with_the_first_failing_reason() {
    let mut h = Harness::new();
    let base = h.order(ALICE, Buy, 1_000, 10);
    let cases: Vec<(NewOrder, RejectReason)> = vec![
        (
            NewOrder {
                symbol: 12345,
                ..base
            },
            RejectReason::UnknownSymbol,
        ),
        (
            NewOrder {
                account: 999,
                ..base
            },
            RejectReason::UnknownAccount,
        ),
        (NewOrder { qty: 0, ..base }, RejectReason::InvalidQty),
        (
            NewOrder {
                symbol: COARSE,
                qty: 15,
                ..base
            },
            RejectReason::QtyNotOnLot,
        ),
        (NewOrder { price: 0, ..base }, RejectReason::InvalidPrice),
        (NewOrder { price: -5, ..base }, RejectReason::InvalidPrice),
        (
            NewOrder {
                symbol: COARSE,
                price: 1_001,
                ..base
            },
            RejectReason::PriceNotOnTick,
        ),
        (
            NewOrder {
                kind: OrderKind::Market,
                ..base
            },
            RejectReason::InvalidCombination,
        ),
        (
            NewOrder {
                post_only: true,
                tif: TimeInForce::Ioc,
                ..base
            },
            RejectReason::InvalidCombination,
        ),
    ];
    for (order, reason) in cases {
        assert_eq!(rejected(&h.submit(order)), reason, "{order:?}");
    }
    assert_eq!(h.engine.resting_orders(), 0);
}

#[test]
fn positions_and_realized_pnl_follow_fills() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 10);
    let buy = h.order(ALICE, Buy, 1_000, 10);
    h.submit(buy);
    h.rest(BOB, Buy, 1_020, 4);
    let sell = h.order(ALICE, Sell, 1_020, 4);
    h.submit(sell);
    let alice = h.engine.position(ALICE, SYM).unwrap();
    assert_eq!(alice.position, 6);
    assert_eq!(alice.realized_pnl, 4 * 20);
    let bob = h.engine.position(BOB, SYM).unwrap();
    assert_eq!(bob.position, -6);
    assert_eq!(bob.realized_pnl, -4 * 20);
    // Alice sells 10 at 990: closes 6 (loss 60) and opens short 4.
    h.rest(CAROL, Buy, 990, 10);
    let flip = h.order(ALICE, Sell, 990, 10);
    h.submit(flip);
    let alice = h.engine.position(ALICE, SYM).unwrap();
    assert_eq!((alice.position, alice.realized_pnl), (-4, 80 - 60));
}

#[test]
fn bytes_per_resting_order_is_within_budget() {
    let h = Harness::new();
    assert!(
        h.engine.bytes_per_resting_order() <= 128,
        "{}",
        h.engine.bytes_per_resting_order()
    );
}

#[test]
fn process_batch_emits_exactly_what_process_does() {
    // A pseudo-random stream of news, cancels and replaces on one book.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut commands = Vec::new();
    for i in 0..5_000u64 {
        let r = next();
        let account = [ALICE, BOB, CAROL][(r % 3) as usize];
        let command = match r % 10 {
            0..=5 => Command::New(NewOrder {
                account,
                symbol: SYM,
                client_order_id: i,
                side: if r & 16 == 0 { Buy } else { Sell },
                kind: OrderKind::Limit,
                tif: TimeInForce::Gtc,
                post_only: false,
                stp: None,
                price: 995 + (r >> 8) as Price % 10,
                qty: 1 + (r >> 16) % 5,
            }),
            6..=8 => Command::Cancel(CancelOrder {
                account,
                symbol: SYM,
                order_id: 1 + (r >> 20) % (i + 1),
                client_order_id: i,
            }),
            _ => Command::Replace(ReplaceOrder {
                account,
                symbol: SYM,
                order_id: 1 + (r >> 20) % (i + 1),
                client_order_id: i,
                new_price: 995 + (r >> 8) as Price % 10,
                new_qty: 1 + (r >> 16) % 8,
            }),
        };
        commands.push(command);
    }
    let mut config = config();
    config.order_capacity = 4_096;
    let mut one_by_one = Engine::new(&config);
    let mut batched = Engine::new(&config);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for command in &commands {
        one_by_one.process(command, &mut a);
    }
    for chunk in commands.chunks(37) {
        batched.process_batch(chunk, &mut b);
    }
    batched.check_invariants();
    assert!(a.len() > 10_000);
    assert_eq!(a, b);
    // Each event is told to the sink as its own command's: the gateway's
    // router answers each command's sender by it.
    let mut one_by_one = Engine::new(&config);
    let mut batched = Engine::new(&config);
    let mut expected = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let mut events = Vec::new();
        one_by_one.process(command, &mut events);
        expected.extend(events.into_iter().map(|e| (i, e)));
    }
    let mut tagged = Tagged::default();
    for (c, chunk) in commands.chunks(37).enumerate() {
        tagged.base = c * 37;
        batched.process_batch(chunk, &mut tagged);
    }
    assert_eq!(tagged.events, expected);
}

/// Tags each event with the index of the command that caused it, as
/// `EventSink::command_begins` announces it.
#[derive(Default)]
struct Tagged {
    base: usize,
    current: usize,
    events: Vec<(usize, Event)>,
}

impl EventSink for Tagged {
    fn emit(&mut self, event: &Event) {
        self.events.push((self.current, *event));
    }

    fn command_begins(&mut self, index: usize) {
        self.current = self.base + index;
    }
}

/// PROTOCOL.md 11.1: the band's edges are inside it. SYM: reference 1,000,
/// 10%, tick 1, so the band is 900 to 1,100 inclusive.
#[test]
fn price_band_edges_are_inside_the_band() {
    let mut h = Harness::new();
    assert_eq!(h.engine.price_band(SYM), Some((1_000, 900, 1_100)));
    for (side, edge, outside) in [(Buy, 1_100, 1_101), (Sell, 900, 899)] {
        let inside = h.order(ALICE, side, edge, 1);
        accepted_id(&h.submit(inside));
        let order = h.order(ALICE, side, outside, 1);
        assert_eq!(rejected(&h.submit(order)), RejectReason::PriceBand);
    }
}

/// PROTOCOL.md 11.4: a FOK with `CancelResting` does not count its own
/// resting orders as liquidity; if the others' orders fill it, its own
/// orders in the way are canceled (SelfTrade) as it trades.
#[test]
fn fok_with_cancel_resting_fills_from_others_and_cancels_its_own_in_the_way() {
    let mut h = Harness::new();
    let bob = h.rest(BOB, Sell, 1_000, 2);
    let own = h.rest(ALICE, Sell, 1_000, 1);
    let carol = h.rest(CAROL, Sell, 1_000, 3);
    let mut order = h.order(ALICE, Buy, 1_000, 4);
    order.tif = TimeInForce::Fok;
    order.stp = Some(StpMode::CancelResting);
    let events = h.submit(order);
    let id = accepted_id(&events);
    assert_eq!(
        fills(&events),
        vec![
            (id, 1_000, 2, 2, Liquidity::Aggressor),
            (bob, 1_000, 2, 0, Liquidity::Passive),
            (id, 1_000, 2, 0, Liquidity::Aggressor),
            (carol, 1_000, 2, 1, Liquidity::Passive),
        ]
    );
    assert_eq!(cancels(&events), vec![(own, 1, CancelReason::SelfTrade)]);
}

/// ... and if the others' orders cannot fill it, nothing happens: no trade,
/// and its own resting orders stay.
#[test]
fn fok_with_cancel_resting_that_others_cannot_fill_leaves_its_own_orders_alone() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 2);
    let own = h.rest(ALICE, Sell, 1_000, 5);
    let mut order = h.order(ALICE, Buy, 1_000, 3);
    order.tif = TimeInForce::Fok;
    order.stp = Some(StpMode::CancelResting);
    let events = h.submit(order);
    assert!(fills(&events).is_empty());
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 3, CancelReason::FillOrKill)]
    );
    assert_eq!(h.engine.order(ALICE, SYM, own).unwrap().leaves_qty, 5);
}

/// With `CancelBoth` (as with `CancelIncoming`), an own order reached
/// before the FOK is filled makes it unfillable: killed whole, and the own
/// order stays.
#[test]
fn fok_with_cancel_both_is_killed_by_an_own_order_in_the_way() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 1);
    let own = h.rest(ALICE, Sell, 1_000, 1);
    h.rest(CAROL, Sell, 1_000, 5);
    let mut order = h.order(ALICE, Buy, 1_000, 2);
    order.tif = TimeInForce::Fok;
    order.stp = Some(StpMode::CancelBoth);
    let events = h.submit(order);
    assert!(fills(&events).is_empty());
    assert_eq!(
        cancels(&events),
        vec![(accepted_id(&events), 2, CancelReason::FillOrKill)]
    );
    assert!(h.engine.order(ALICE, SYM, own).is_some());
}

#[test]
fn prefetching_past_its_gate_changes_no_event() {
    // Over 16,384 resting orders, the gate in `engine/prefetch.rs`,
    // cancels, replaces and orders that may rest prefetch the lines they
    // will write (level, client index entry, exposure, neighbours), and
    // batches prefetch ahead: hints only, so one at a time and batched
    // must emit the same events, and the debug checks inside the hints
    // run on a deep book.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let accounts = [ALICE, BOB, CAROL];
    let new_order = |i: u64, r: u64, price: Price| {
        Command::New(NewOrder {
            account: accounts[(r % 3) as usize],
            symbol: SYM,
            client_order_id: i,
            side: if price < 1_000 { Buy } else { Sell },
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price,
            qty: 1 + (r >> 16) % 5,
        })
    };
    let deep = 24_000u64;
    let mut commands: Vec<Command> = (0..deep)
        .map(|i| {
            let r = next();
            let away = 1 + (r >> 8) as Price % 90;
            new_order(
                i,
                r,
                if r & 16 == 0 {
                    1_000 - away
                } else {
                    1_000 + away
                },
            )
        })
        .collect();
    for i in deep..deep + 6_000 {
        let r = next();
        let account = accounts[(r % 3) as usize];
        let target = 1 + (r >> 20) % i;
        let price = 990 + (r >> 8) as Price % 21;
        commands.push(match r % 10 {
            0..=4 => new_order(i, r, price),
            5..=7 => Command::Cancel(CancelOrder {
                account,
                symbol: SYM,
                order_id: target,
                client_order_id: i,
            }),
            _ => Command::Replace(ReplaceOrder {
                account,
                symbol: SYM,
                order_id: target,
                client_order_id: if r & 32 == 0 { i } else { target },
                new_price: price,
                new_qty: 1 + (r >> 16) % 8,
            }),
        });
    }
    let mut config = config();
    config.order_capacity = 40_000;
    config.max_levels_per_side = 256;
    let mut one_by_one = Engine::new(&config);
    let mut batched = Engine::new(&config);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for command in &commands[..deep as usize] {
        one_by_one.process(command, &mut a);
        batched.process(command, &mut b);
    }
    assert!(
        one_by_one.resting_orders() > 16_384 + 6_000,
        "past the gate"
    );
    for command in &commands[deep as usize..] {
        one_by_one.process(command, &mut a);
    }
    for chunk in commands[deep as usize..].chunks(37) {
        batched.process_batch(chunk, &mut b);
    }
    assert!(one_by_one.resting_orders() > 16_384, "still past the gate");
    batched.check_invariants();
    assert_eq!(a, b);
}

#[test]
fn ids_above_the_direct_table_and_between_configured_ids_are_looked_up_exactly() {
    // Symbol and account ids below 65,536 are found in a table indexed by
    // the id, larger ones by a search: both must answer, and ids between
    // or beyond the configured ones must be unknown on either path.
    const BIG_SYMBOL: SymbolId = 70_000;
    const BIG_ACCOUNT: AccountId = 100_000;
    let mut config = config();
    let mut big_symbol = config.symbols[0].clone();
    big_symbol.id = BIG_SYMBOL;
    config.symbols.push(big_symbol);
    let mut big_account = config.accounts[0].clone();
    big_account.id = BIG_ACCOUNT;
    config.accounts.push(big_account);
    let mut h = Harness::with(config);
    let base = h.order(ALICE, Buy, 1_000, 10);
    for (symbol, account) in [
        (SYM, BIG_ACCOUNT),
        (BIG_SYMBOL, ALICE),
        (BIG_SYMBOL, BIG_ACCOUNT),
    ] {
        let events = h.submit(NewOrder {
            symbol,
            account,
            ..base
        });
        assert!(
            matches!(events[0], Event::Accepted { .. }),
            "symbol {symbol} account {account}: {events:?}"
        );
    }
    for symbol in [SYM + 1, 65_535, 65_536, BIG_SYMBOL - 1, BIG_SYMBOL + 1] {
        let events = h.submit(NewOrder { symbol, ..base });
        assert_eq!(rejected(&events), RejectReason::UnknownSymbol, "{symbol}");
    }
    for account in [CAROL + 1, 65_535, 65_536, BIG_ACCOUNT - 1, BIG_ACCOUNT + 1] {
        let events = h.submit(NewOrder { account, ..base });
        assert_eq!(rejected(&events), RejectReason::UnknownAccount, "{account}");
    }
}
