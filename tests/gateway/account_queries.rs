//! The account queries of PROTOCOL.md 5.8 on two I/O-free shard cores
//! (BTC on shard 0; ETH and SOL on shard 1), asked from a session on shard
//! 0 so that ETH's answers cross the mesh: every open order listed once, in
//! the documented order, page by page; an order found by its client order
//! id on either shard; positions of every symbol; another account's orders
//! never seen; unknown symbols and a viewer answered as documented.

use tradsys::client::Received;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::ShardCore;

use crate::support::core_client::{CoreClient, Got, NOW};
use crate::support::shards::two_shard_cores;

pub(crate) const BTC: SymbolId = 1;
pub(crate) const ETH: SymbolId = 2;
const SOL: SymbolId = 3;
pub(crate) const ALICE: (u32, &[u8]) = (1, b"alice-demo-token");
pub(crate) const BOB: (u32, &[u8]) = (2, b"bob-demo-token");
pub(crate) const VIEWER: (u32, &[u8]) = (3, b"viewer-demo-token");

fn order(
    symbol: SymbolId,
    client_order_id: u64,
    side: Side,
    price: Price,
    qty: Qty,
) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account: 0,
        symbol,
        client_order_id,
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty,
    })
}

pub(crate) fn settle(a: &mut ShardCore, b: &mut ShardCore) {
    while a.poll_mesh(NOW) + b.poll_mesh(NOW) > 0 {}
}

/// Sends one request, lets both cores run, returns what the client got.
pub(crate) fn ask<M: WireMessage>(
    client: &mut CoreClient,
    a: &mut ShardCore,
    b: &mut ShardCore,
    msg: &M,
) -> Vec<Received> {
    client.send(a, msg);
    settle(a, b);
    client.read_received(a)
}

/// Every page of a query: the messages before each QueryDone, in order,
/// and the page sizes.
pub(crate) fn all_pages(
    client: &mut CoreClient,
    a: &mut ShardCore,
    b: &mut ShardCore,
    request: impl Fn(QueryCursor, u32) -> Vec<u8>,
) -> (Vec<Received>, Vec<u32>) {
    let (mut items, mut pages) = (Vec::new(), Vec::new());
    let mut cursor = Some(QueryCursor::START);
    while let Some(at) = cursor {
        let bytes = request(at, client.seq);
        client.send_raw(a, &bytes);
        client.seq += 1;
        settle(a, b);
        let got = client.read_received(a);
        let Some((Received::QueryDone(done), page)) = got.split_last() else {
            panic!("a page ends with QueryDone: {got:?}");
        };
        assert_eq!(done.reject_reason.get(), 0);
        assert_eq!(done.count.get() as usize, page.len());
        assert!(page.len() <= QUERY_PAGE);
        pages.push(done.count.get());
        items.extend_from_slice(page);
        cursor = done.next();
    }
    (items, pages)
}

pub(crate) fn encoded<M: WireMessage>(msg: &M, seq: u32) -> Vec<u8> {
    let mut wire = [0u8; 256];
    let len = encode(msg, seq, &mut wire).unwrap();
    wire[..len].to_vec()
}

fn accepted_ids(got: &[Got]) -> usize {
    got.iter()
        .filter(|g| matches!(g, Got::Accepted { .. }))
        .count()
}

#[test]
fn open_orders_come_page_by_page_symbol_by_symbol_in_order_id_order() {
    let (mut a, mut b, _bells) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut a, ALICE.0, ALICE.1);
    let mut bob = CoreClient::logon(&mut b, BOB.0, BOB.1);
    // 20 on BTC (here), 5 on ETH (the other shard), interleaved in time.
    for i in 0..25u64 {
        let msg = if i % 5 == 4 {
            order(ETH, 1_000 + i, Side::Buy, 290_000 - 5 * i as i64, 10)
        } else {
            order(BTC, 1_000 + i, Side::Buy, 4_900_000 - i as i64, 1)
        };
        alice.send(&mut a, &msg);
        settle(&mut a, &mut b);
    }
    bob.send(&mut b, &order(ETH, 1, Side::Buy, 290_000, 10));
    settle(&mut a, &mut b);
    assert_eq!(accepted_ids(&alice.read(&mut a)), 25);
    bob.read(&mut b);

    let (items, pages) = all_pages(&mut alice, &mut a, &mut b, |at, seq| {
        encoded(&OpenOrdersRequestMsg::new(77, None, at), seq)
    });
    let listed: Vec<(u32, u64, u64)> = items
        .iter()
        .map(|r| match r {
            Received::OrderStatus(s) => {
                assert_eq!(s.client_order_id.get(), 77);
                assert_eq!(s.state, OrderState::Open as u8);
                (
                    s.symbol.get(),
                    s.order_client_order_id.get(),
                    s.order_id.get(),
                )
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let btc: Vec<u64> = (0..25).filter(|i| i % 5 != 4).map(|i| 1_000 + i).collect();
    let eth: Vec<u64> = (0..25).filter(|i| i % 5 == 4).map(|i| 1_000 + i).collect();
    let expected: Vec<(u32, u64)> = btc
        .iter()
        .map(|&c| (BTC, c))
        .chain(eth.iter().map(|&c| (ETH, c)))
        .collect();
    let got: Vec<(u32, u64)> = listed.iter().map(|&(s, c, _)| (s, c)).collect();
    assert_eq!(got, expected);
    // Shard 0's 20 BTC orders in pages of 16 and 4, then shard 1's page.
    assert_eq!(pages, vec![16, 4, 5]);

    // One symbol only, on the other shard.
    let (eth_only, _) = all_pages(&mut alice, &mut a, &mut b, |at, seq| {
        encoded(&OpenOrdersRequestMsg::new(78, Some(ETH), at), seq)
    });
    assert_eq!(eth_only.len(), 5);
}

#[test]
fn an_order_is_found_by_its_client_order_id_on_either_shard_by_its_account_only() {
    let (mut a, mut b, _bells) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut a, ALICE.0, ALICE.1);
    let mut bob = CoreClient::logon(&mut a, BOB.0, BOB.1);
    alice.send(&mut a, &order(BTC, 501, Side::Buy, 4_900_000, 2));
    alice.send(&mut a, &order(ETH, 502, Side::Sell, 310_000, 20));
    settle(&mut a, &mut b);
    alice.read(&mut a);

    for (symbol, coid, side) in [(BTC, 501, Side::Buy), (ETH, 502, Side::Sell)] {
        let got = ask(
            &mut alice,
            &mut a,
            &mut b,
            &OrderQueryMsg::new(9, coid, symbol),
        );
        let [Received::OrderStatus(s)] = got[..] else {
            panic!("{got:?}");
        };
        assert_eq!(
            (
                s.client_order_id.get(),
                s.order_client_order_id.get(),
                s.side,
                s.state
            ),
            (9, coid, side as u8, OrderState::Open as u8)
        );
        assert_ne!(s.order_id.get(), 0);
        // Bob asks for Alice's client order id: nothing.
        let got = bob_asks(&mut bob, &mut a, &mut b, coid, symbol);
        assert_eq!(
            (got.state, got.order_id.get()),
            (OrderState::Unknown as u8, 0)
        );
    }
    let got = ask(
        &mut alice,
        &mut a,
        &mut b,
        &OrderQueryMsg::new(10, 999, ETH),
    );
    let [Received::OrderStatus(s)] = got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (s.state, s.reject_reason.get()),
        (OrderState::Unknown as u8, 0)
    );
    // Symbol 99, and symbol 0 (no engine owns either).
    for symbol in [99, 0] {
        let got = ask(
            &mut alice,
            &mut a,
            &mut b,
            &OrderQueryMsg::new(11, 501, symbol),
        );
        let [Received::OrderStatus(s)] = got[..] else {
            panic!("{got:?}");
        };
        assert_eq!(s.reject_reason.get(), RejectReason::UnknownSymbol.code());
    }
}

fn bob_asks(
    bob: &mut CoreClient,
    a: &mut ShardCore,
    b: &mut ShardCore,
    coid: u64,
    symbol: SymbolId,
) -> OrderStatusMsg {
    match ask(bob, a, b, &OrderQueryMsg::new(1, coid, symbol))[..] {
        [Received::OrderStatus(s)] => s,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn positions_cover_every_symbol_and_a_viewer_may_ask() {
    let (mut a, mut b, _bells) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut a, ALICE.0, ALICE.1);
    let mut bob = CoreClient::logon(&mut b, BOB.0, BOB.1);
    let mut viewer = CoreClient::logon(&mut a, VIEWER.0, VIEWER.1);
    bob.send(&mut b, &order(BTC, 1, Side::Sell, 5_000_000, 3));
    bob.send(&mut b, &order(ETH, 2, Side::Sell, 300_000, 30));
    settle(&mut a, &mut b);
    alice.send(&mut a, &order(BTC, 3, Side::Buy, 5_000_000, 2));
    alice.send(&mut a, &order(ETH, 4, Side::Buy, 300_000, 20));
    settle(&mut a, &mut b);
    alice.read(&mut a);

    let (items, _) = all_pages(&mut alice, &mut a, &mut b, |at, seq| {
        encoded(&PositionsRequestMsg::new(5, None, at), seq)
    });
    let positions: Vec<(u32, i64)> = items
        .iter()
        .map(|r| match r {
            Received::Position(p) => (p.symbol.get(), p.position.get()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(positions, vec![(BTC, 2), (ETH, 20), (SOL, 0)]);

    let (items, _) = all_pages(&mut viewer, &mut a, &mut b, |at, seq| {
        encoded(&PositionsRequestMsg::new(6, None, at), seq)
    });
    assert_eq!(items.len(), 3, "a viewer may ask (it has no positions)");

    let got = ask(
        &mut alice,
        &mut a,
        &mut b,
        &PositionsRequestMsg::new(7, Some(99), QueryCursor::START),
    );
    let [Received::QueryDone(done)] = got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (done.reject_reason.get(), done.count.get(), done.more),
        (RejectReason::UnknownSymbol.code(), 0, 0)
    );
}
