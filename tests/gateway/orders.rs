//! End to end through the real binary: two shards, orders for symbols on
//! both, fills reaching both counterparties, rejects with their codes,
//! isolation between accounts, mass cancel, order status.

use crate::support::gateway::*;
use tradsys::client::Received;
use tradsys::engine::*;
use tradsys::protocol::*;

use Side::{Buy, Sell};

#[test]
fn limit_orders_on_both_shards_trade_and_both_counterparties_get_fills() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    for (symbol, price, qty) in [(BTC, 10_000, 5), (ETH, 3_005, 20)] {
        alice
            .new_order(&limit(ALICE, symbol, 11, Sell, price, qty))
            .unwrap();
        let ask = accepted(&mut alice);
        assert_eq!(
            (ask.symbol.get(), ask.price.get(), ask.qty.get()),
            (symbol, price, qty)
        );
        bob.new_order(&limit(BOB, symbol, 21, Buy, price, qty))
            .unwrap();
        let bid = accepted(&mut bob);
        let aggressor = fill(&mut bob);
        let passive = fill(&mut alice);
        assert_eq!(aggressor.exec_id.get(), passive.exec_id.get());
        assert_eq!(
            (aggressor.order_id.get(), aggressor.liquidity),
            (bid.order_id.get(), Liquidity::Aggressor as u8)
        );
        assert_eq!(
            (passive.order_id.get(), passive.liquidity),
            (ask.order_id.get(), Liquidity::Passive as u8)
        );
        assert_eq!(
            (
                passive.qty.get(),
                passive.leaves_qty.get(),
                passive.price.get()
            ),
            (qty, 0, price)
        );
        assert_eq!(aggressor.client_order_id.get(), 21);
    }
}

#[test]
fn ioc_market_and_fok_orders_end_to_end() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    alice
        .new_order(&limit(ALICE, ETH, 1, Sell, 3_000, 30))
        .unwrap();
    accepted(&mut alice);
    // IOC for more than rests: trades 30, cancels 20.
    let mut ioc = limit(BOB, ETH, 2, Buy, 3_000, 50);
    ioc.tif = TimeInForce::Ioc;
    bob.new_order(&ioc).unwrap();
    let id = accepted(&mut bob).order_id.get();
    assert_eq!(fill(&mut bob).qty.get(), 30);
    let rest = canceled(&mut bob);
    assert_eq!(
        (rest.order_id.get(), rest.canceled_qty.get(), rest.reason),
        (id, 20, CancelReason::ImmediateRemainder as u8)
    );
    fill(&mut alice);
    // FOK that cannot fill: canceled whole, no fill.
    alice
        .new_order(&limit(ALICE, ETH, 3, Sell, 3_010, 10))
        .unwrap();
    accepted(&mut alice);
    let mut fok = limit(BOB, ETH, 4, Buy, 3_010, 20);
    fok.tif = TimeInForce::Fok;
    bob.new_order(&fok).unwrap();
    accepted(&mut bob);
    assert_eq!(canceled(&mut bob).reason, CancelReason::FillOrKill as u8);
    // Market order takes the resting ask.
    let mut market = limit(BOB, ETH, 5, Buy, 0, 10);
    market.kind = OrderKind::Market;
    market.tif = TimeInForce::Ioc;
    bob.new_order(&market).unwrap();
    accepted(&mut bob);
    let f = fill(&mut bob);
    assert_eq!(
        (f.price.get(), f.qty.get(), f.leaves_qty.get()),
        (3_010, 10, 0)
    );
    assert_eq!(fill(&mut alice).leaves_qty.get(), 0);
}

#[test]
fn post_only_and_day_orders_and_replace_end_to_end() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 1, Sell, 10_010, 5))
        .unwrap();
    let ask = accepted(&mut alice);
    let mut crossing = limit(ALICE, BTC, 2, Buy, 10_010, 1);
    crossing.post_only = true;
    crossing.stp = Some(StpMode::CancelIncoming);
    alice.new_order(&crossing).unwrap();
    assert_eq!(
        rejected(&mut alice),
        RejectReason::WouldCrossPostOnly.code()
    );
    let mut day = limit(ALICE, BTC, 3, Buy, 9_990, 4);
    day.tif = TimeInForce::Day;
    alice.new_order(&day).unwrap();
    assert_eq!(accepted(&mut alice).tif, TimeInForce::Day as u8);
    // Replace down keeps priority; to a new price loses it.
    alice
        .replace(4, BTC, ask.order_id.get(), 10_010, 3)
        .unwrap();
    let replaced = expect(&mut alice, "OrderReplaced", |r| match r {
        Received::OrderReplaced(m) => Some(*m),
        _ => None,
    });
    assert_eq!(
        (
            replaced.kept_priority,
            replaced.leaves_qty.get(),
            replaced.client_order_id.get()
        ),
        (1, 3, 4)
    );
    alice
        .replace(5, BTC, ask.order_id.get(), 10_020, 3)
        .unwrap();
    let replaced = expect(&mut alice, "OrderReplaced", |r| match r {
        Received::OrderReplaced(m) => Some(*m),
        _ => None,
    });
    assert_eq!((replaced.kept_priority, replaced.price.get()), (0, 10_020));
}

#[test]
fn rejects_carry_their_reason_codes() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let cases: [(NewOrder, RejectReason); 6] = [
        (
            limit(ALICE, 99, 1, Buy, 10_000, 1),
            RejectReason::UnknownSymbol,
        ),
        (
            limit(ALICE, ETH, 2, Buy, 3_001, 10),
            RejectReason::PriceNotOnTick,
        ),
        (
            limit(ALICE, ETH, 3, Buy, 3_000, 15),
            RejectReason::QtyNotOnLot,
        ),
        (
            limit(ALICE, BTC, 4, Buy, 20_000, 1),
            RejectReason::PriceBand,
        ),
        (
            limit(ALICE, BTC, 5, Buy, 10_000, 1_001),
            RejectReason::MaxOrderQty,
        ),
        (
            limit(ALICE, BTC, 6, Buy, 10_000, 0),
            RejectReason::InvalidQty,
        ),
    ];
    for (order, reason) in cases {
        alice.new_order(&order).unwrap();
        assert_eq!(rejected(&mut alice), reason.code(), "{order:?}");
    }
    // Bad field value on the wire: side 7.
    let mut msg = NewOrderMsg::from_order(&limit(ALICE, BTC, 7, Buy, 10_000, 1));
    msg.side = 7;
    alice.send(&msg).unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::InvalidSide.code());
    // The session is still up.
    alice
        .new_order(&limit(ALICE, BTC, 8, Buy, 10_000, 1))
        .unwrap();
    accepted(&mut alice);
}

#[test]
fn one_account_cannot_cancel_replace_or_see_anothers_orders() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    for symbol in [BTC, ETH] {
        let price = if symbol == BTC { 9_000 } else { 2_800 };
        alice
            .new_order(&limit(ALICE, symbol, 1, Buy, price, 10))
            .unwrap();
        let id = accepted(&mut alice).order_id.get();
        bob.cancel(2, symbol, id).unwrap();
        assert_eq!(cancel_rejected(&mut bob), RejectReason::UnknownOrder.code());
        bob.replace(3, symbol, id, price, 20).unwrap();
        assert_eq!(cancel_rejected(&mut bob), RejectReason::UnknownOrder.code());
        bob.order_status(4, symbol, id).unwrap();
        let status = expect(&mut bob, "OrderStatus", |r| match r {
            Received::OrderStatus(m) => Some(*m),
            _ => None,
        });
        assert_eq!(
            (status.state, status.leaves_qty.get()),
            (OrderState::Unknown as u8, 0)
        );
        // The owner sees it.
        alice.order_status(5, symbol, id).unwrap();
        let status = expect(&mut alice, "OrderStatus", |r| match r {
            Received::OrderStatus(m) => Some(*m),
            _ => None,
        });
        assert_eq!(
            (status.state, status.leaves_qty.get()),
            (OrderState::Open as u8, 10)
        );
    }
}

#[test]
fn mass_cancel_spans_both_shards_and_reports_the_total() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 1, Buy, 9_900, 1))
        .unwrap();
    alice
        .new_order(&limit(ALICE, BTC, 2, Buy, 9_901, 1))
        .unwrap();
    alice
        .new_order(&limit(ALICE, ETH, 3, Buy, 2_900, 10))
        .unwrap();
    for _ in 0..3 {
        accepted(&mut alice);
    }
    alice.mass_cancel(9, None).unwrap();
    let mut canceled_ids = 0;
    let done = loop {
        match alice.recv_skip_heartbeats().unwrap() {
            Received::OrderCanceled(m) => {
                assert_eq!(m.reason, CancelReason::MassCancel as u8);
                canceled_ids += 1;
            }
            Received::MassCancelDone(m) => break m,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        (
            canceled_ids,
            done.canceled_count.get(),
            done.client_order_id.get()
        ),
        (3, 3, 9)
    );
}

#[test]
fn viewer_sees_reports_but_cannot_trade() {
    let gateway = Gateway::start();
    let mut viewer = gateway.logon(VIEWER);
    viewer
        .new_order(&limit(VIEWER, BTC, 1, Buy, 10_000, 1))
        .unwrap();
    assert_eq!(rejected(&mut viewer), RejectReason::NotAuthorized.code());
    viewer.mass_cancel(2, None).unwrap();
    let done = expect(&mut viewer, "MassCancelDone", |r| match r {
        Received::MassCancelDone(m) => Some(*m),
        _ => None,
    });
    assert_eq!(done.reject_reason.get(), RejectReason::NotAuthorized.code());
}

#[test]
fn reports_go_to_every_session_of_the_account() {
    let gateway = Gateway::start();
    let mut trading = gateway.logon(ALICE);
    let mut monitor = gateway.logon(ALICE);
    trading
        .new_order(&limit(ALICE, ETH, 1, Buy, 2_950, 10))
        .unwrap();
    let a = accepted(&mut trading);
    let b = accepted(&mut monitor);
    assert_eq!(a.order_id.get(), b.order_id.get());
}

#[test]
fn tiny_rings_apply_back_pressure_and_lose_nothing() {
    // 16-slot rings between the shards: a pipelining client on one shard
    // trading on both fills them at once; its reader must wait, nothing may
    // be dropped or deadlock.
    let gateway = Gateway::start_with(
        "rate_limit_per_sec = 10000000\nrate_limit_burst = 100000\n[server]\nring_capacity = 16",
    );
    let mut bob = gateway.logon(BOB);
    let mut reader = bob.try_clone_for_reading();
    let orders = 4_000u64;
    let collector = std::thread::spawn(move || {
        let (mut accepted, mut done) = (0, 0);
        while done < orders {
            match reader.recv_skip_heartbeats().unwrap() {
                Received::OrderAccepted(_) => accepted += 1,
                Received::OrderCanceled(m) => {
                    assert_eq!(m.reason, CancelReason::ImmediateRemainder as u8);
                    done += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        accepted
    });
    for i in 0..orders {
        let (symbol, price, qty) = if i % 2 == 0 {
            (BTC, 9_500, 1)
        } else {
            (ETH, 2_800, 10)
        };
        let mut ioc = limit(BOB, symbol, i, Buy, price, qty);
        ioc.tif = TimeInForce::Ioc;
        bob.queue(&tradsys::protocol::NewOrderMsg::from_order(&ioc))
            .unwrap();
        if i % 64 == 63 {
            bob.flush().unwrap();
        }
    }
    bob.flush().unwrap();
    assert_eq!(collector.join().unwrap(), orders);
}
