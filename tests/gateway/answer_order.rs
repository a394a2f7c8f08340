//! Where an answer sits among the reports (PROTOCOL.md 5.8 and 5.9), each
//! stated by a sentence there and checked here on two I/O-free shard cores
//! (BTC on shard 0; ETH on shard 1): a query's answer comes after every
//! report its engine made before it, a passive fill caused by another
//! session included, and includes them; `ReplayStarted` comes before every
//! live report of its stream numbered above `upto`.

use tradsys::client::Received;
use tradsys::engine::*;
use tradsys::protocol::*;

use crate::account_queries::{encoded, settle, ALICE, BOB, ETH};
use crate::support::core_client::CoreClient;
use crate::support::shards::two_shard_cores;

fn order(client_order_id: u64, side: Side, tif: TimeInForce, price: Price, qty: Qty) -> Vec<u8> {
    let msg = NewOrderMsg::from_order(&NewOrder {
        account: 0,
        symbol: ETH,
        client_order_id,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price,
        qty,
    });
    encoded(&msg, 0)
}

/// Sends `messages` in one read, numbered from the client's next seq.
fn send_all(
    client: &mut CoreClient,
    core: &mut tradsys::shard::core::ShardCore,
    messages: &[Vec<u8>],
) {
    let mut bytes = Vec::new();
    for m in messages {
        let mut m = m.clone();
        m[4..8].copy_from_slice(&client.seq.to_le_bytes());
        client.seq += 1;
        bytes.extend_from_slice(&m);
    }
    client.send_raw(core, &bytes);
}

#[test]
fn a_query_answer_follows_and_includes_every_earlier_report_of_its_engine() {
    let (mut a, mut b, _bells) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut a, ALICE.0, ALICE.1);
    let mut bob = CoreClient::logon(&mut b, BOB.0, BOB.1);
    send_all(
        &mut alice,
        &mut a,
        &[order(1, Side::Buy, TimeInForce::Gtc, 300_000, 30)],
    );
    settle(&mut a, &mut b);
    alice.read_received(&mut a);
    // Bob, on the engine's own shard, sells into Alice's order; before
    // either shard moves the report, Alice asks for her position and open
    // orders on ETH.
    send_all(
        &mut bob,
        &mut b,
        &[order(2, Side::Sell, TimeInForce::Ioc, 300_000, 20)],
    );
    send_all(
        &mut alice,
        &mut a,
        &[
            encoded(
                &PositionsRequestMsg::new(7, Some(ETH), QueryCursor::START),
                0,
            ),
            encoded(
                &OpenOrdersRequestMsg::new(8, Some(ETH), QueryCursor::START),
                0,
            ),
        ],
    );
    settle(&mut a, &mut b);
    let got = alice.read_received(&mut a);
    let kinds: Vec<&str> = got
        .iter()
        .map(|r| match r {
            Received::Fill(_) => "Fill",
            Received::Position(_) => "Position",
            Received::OrderStatus(_) => "OrderStatus",
            Received::QueryDone(_) => "QueryDone",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["Fill", "Position", "QueryDone", "OrderStatus", "QueryDone"]
    );
    let (Received::Fill(fill), Received::Position(position), Received::OrderStatus(open)) =
        (got[0], got[1], got[3])
    else {
        unreachable!()
    };
    assert_eq!(
        (fill.qty.get(), fill.liquidity),
        (20, Liquidity::Passive as u8)
    );
    assert_eq!(position.position.get(), 20, "the answer includes the fill");
    assert_eq!((open.leaves_qty.get(), open.filled_qty.get()), (10, 20));
}

#[test]
fn replay_started_comes_before_every_live_report_numbered_above_upto() {
    let (mut a, mut b, _bells) = two_shard_cores(64, |_| {});
    let mut alice = CoreClient::logon(&mut a, ALICE.0, ALICE.1);
    // An order, then in one read: the replay request for ETH's stream
    // (shard 1) from the number she has, and a second order on ETH.
    send_all(
        &mut alice,
        &mut a,
        &[order(1, Side::Buy, TimeInForce::Gtc, 299_000, 10)],
    );
    settle(&mut a, &mut b);
    let first = alice.read_received(&mut a);
    let Some(number) = first[0].report_number() else {
        panic!("{first:?}");
    };
    assert_eq!(number.stream, 1);
    send_all(
        &mut alice,
        &mut a,
        &[
            encoded(&ReplayRequestMsg::new(1, number.report_seq), 0),
            order(2, Side::Buy, TimeInForce::Gtc, 298_000, 10),
        ],
    );
    settle(&mut a, &mut b);
    let got = alice.read_received(&mut a);
    let started = got
        .iter()
        .position(|r| matches!(r, Received::ReplayStarted(_)))
        .expect("ReplayStarted");
    let Received::ReplayStarted(s) = got[started] else {
        unreachable!()
    };
    let upto = s.upto.get();
    assert_eq!(upto, number.report_seq, "the order came after the request");
    for (i, r) in got.iter().enumerate() {
        if let Some(n) = r.report_number() {
            if n.stream == 1 && n.report_seq > upto {
                assert!(i > started, "report {n:?} before ReplayStarted: {got:?}");
            }
        }
    }
    assert!(
        got.iter()
            .any(|r| matches!(r, Received::OrderAccepted(m) if m.report_seq.get() == upto + 1)),
        "{got:?}"
    );
}
