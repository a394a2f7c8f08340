//! Done orders (PROTOCOL.md 5.8) on two I/O-free shard cores (BTC on
//! shard 0, ETH on shard 1), asked from a session on shard 0 so that ETH's
//! answers cross the mesh: every done order listed once, symbol by symbol
//! and newest first, page by page; the notional, average price, state and
//! reason as documented; another account's never seen; a viewer may ask;
//! an unknown symbol refused.

use tradsys::client::Received;
use tradsys::engine::*;
use tradsys::protocol::*;

use crate::account_queries::{all_pages, ask, encoded, settle, ALICE, BOB, BTC, ETH, VIEWER};
use crate::support::core_client::CoreClient;
use crate::support::shards::two_shard_cores;

fn ioc(symbol: SymbolId, client_order_id: u64, side: Side, price: Price, qty: Qty) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account: 0,
        symbol,
        client_order_id,
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: None,
        price,
        qty,
    })
}

fn gtc(symbol: SymbolId, client_order_id: u64, side: Side, price: Price, qty: Qty) -> NewOrderMsg {
    let mut msg = ioc(symbol, client_order_id, side, price, qty);
    msg.tif = TimeInForce::Gtc as u8;
    msg
}

fn done_orders(items: &[Received], request_id: u64) -> Vec<DoneOrderMsg> {
    items
        .iter()
        .map(|r| match r {
            Received::DoneOrder(d) => {
                assert_eq!(d.client_order_id.get(), request_id);
                *d
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn done_orders_come_page_by_page_symbol_by_symbol_newest_first() {
    let (mut a, mut b, _bells) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut a, ALICE.0, ALICE.1);
    let mut bob = CoreClient::logon(&mut b, BOB.0, BOB.1);
    let mut viewer = CoreClient::logon(&mut a, VIEWER.0, VIEWER.1);
    // 20 IOCs on BTC that find nothing: done at once, canceled.
    for i in 0..20u64 {
        alice.send(&mut a, &ioc(BTC, 1_000 + i, Side::Buy, 4_900_000, 1));
    }
    // On ETH, Bob's two sells, then Alice's IOC that sweeps both and has
    // 10 left, canceled.
    bob.send(&mut b, &gtc(ETH, 1, Side::Sell, 300_000, 10));
    bob.send(&mut b, &gtc(ETH, 2, Side::Sell, 300_005, 10));
    settle(&mut a, &mut b);
    alice.send(&mut a, &ioc(ETH, 2_000, Side::Buy, 300_010, 30));
    settle(&mut a, &mut b);
    alice.read(&mut a);
    bob.read(&mut b);

    let (items, pages) = all_pages(&mut alice, &mut a, &mut b, |at, seq| {
        encoded(&DoneOrdersRequestMsg::new(77, None, at), seq)
    });
    let done = done_orders(&items, 77);
    let listed: Vec<(u32, u64)> = done
        .iter()
        .map(|d| (d.symbol.get(), d.order_client_order_id.get()))
        .collect();
    let expected: Vec<(u32, u64)> = (0..20)
        .rev()
        .map(|i| (BTC, 1_000 + i))
        .chain([(ETH, 2_000)])
        .collect();
    assert_eq!(listed, expected);
    // Shard 0's 20 in pages of 16 and 4, then shard 1's page.
    assert_eq!(pages, vec![16, 4, 1]);
    let btc = done[0];
    assert_eq!(
        (
            btc.state,
            btc.cancel_reason,
            btc.qty.get(),
            btc.filled_qty.get()
        ),
        (
            OrderState::Canceled as u8,
            CancelReason::ImmediateRemainder as u8,
            1,
            0
        )
    );
    assert_eq!((btc.average_price.get(), btc.notional()), (0, 0));
    let eth = done[20];
    assert_eq!(
        (eth.side, eth.state, eth.cancel_reason),
        (
            Side::Buy as u8,
            OrderState::Canceled as u8,
            CancelReason::ImmediateRemainder as u8
        )
    );
    assert_eq!((eth.qty.get(), eth.filled_qty.get()), (30, 20));
    assert_eq!(eth.notional(), 300_000 * 10 + 300_005 * 10);
    // 6,000,050 / 20 = 300,002.5, rounded down.
    assert_eq!(eth.average_price.get(), 300_002);

    // Bob's two sells filled completely; he sees only his own.
    let (items, _) = all_pages(&mut bob, &mut b, &mut a, |at, seq| {
        encoded(&DoneOrdersRequestMsg::new(78, Some(ETH), at), seq)
    });
    let bobs: Vec<(u64, u8, u8, i64)> = done_orders(&items, 78)
        .iter()
        .map(|d| {
            (
                d.order_client_order_id.get(),
                d.state,
                d.cancel_reason,
                d.average_price.get(),
            )
        })
        .collect();
    let filled = OrderState::Filled as u8;
    assert_eq!(bobs, vec![(2, filled, 0, 300_005), (1, filled, 0, 300_000)]);

    // A viewer may ask; it has no orders.
    let (items, _) = all_pages(&mut viewer, &mut a, &mut b, |at, seq| {
        encoded(&DoneOrdersRequestMsg::new(79, None, at), seq)
    });
    assert!(items.is_empty(), "{items:?}");

    let got = ask(
        &mut alice,
        &mut a,
        &mut b,
        &DoneOrdersRequestMsg::new(80, Some(99), QueryCursor::START),
    );
    let [Received::QueryDone(refused)] = got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (
            refused.reject_reason.get(),
            refused.count.get(),
            refused.more
        ),
        (RejectReason::UnknownSymbol.code(), 0, 0)
    );
}
