//! Replay on logon (PROTOCOL.md 5.9) on two I/O-free shard cores with
//! their journals: the replay source re-reads the real journal on its
//! helper thread, and the test drives the shard's polls itself, so the
//! bounds are counted per poll, never timed:
//! - one poll moves at most `REPLAY_BATCH` replayed reports into the
//!   session's outbox;
//! - another session's order on the same core is answered in the call
//!   that brings it, whatever the replay has left to send;
//! - a session that does not read stops its own replay at half its send
//!   buffer (plus one batch);
//! - the replayed reports are the ones the session saw live, with the
//!   same numbers, then `ReplayDone`.

use crate::support::core_client::{CoreClient, Got};
use crate::support::journal::TempDir;
use crate::support::shards::two_shard_cores;
use tradsys::client::Received;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{ShardCore, REPLAY_BATCH};

const BTC: SymbolId = 1; // shard 0
const ALICE: AccountId = 1;
const BOB: AccountId = 2;
const SEND_BUFFER: usize = 64 * 1024;
/// IOC buys with nothing to trade: an accept and a cancel each.
const ORDERS: u64 = 1_500;

pub fn cores(dir: &std::path::Path) -> (ShardCore, ShardCore) {
    let (mut a, mut b, receivers) = two_shard_cores(1024, |config| {
        config.journal.dir = dir.to_path_buf();
        config.journal.segment_bytes = 8 << 20;
        config.engine.order_capacity = 1 << 12;
        config.session.send_buffer_bytes = SEND_BUFFER;
        config.session.rate_limit_burst = 1_000_000;
        config.session.rate_limit_per_sec = 1_000_000;
    });
    std::mem::forget(receivers); // the doorbells must outlive the test
    a.start().unwrap();
    b.start().unwrap();
    (a, b)
}

pub fn ioc(account: AccountId, id: u64) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account,
        symbol: BTC,
        client_order_id: id,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: None,
        price: 5_000_000,
        qty: 1,
    })
}

/// Alice's reports as she saw them live: `ORDERS` IOCs on BTC.
pub fn trade(core: &mut ShardCore, alice: &mut CoreClient) -> Vec<Received> {
    let mut seen = Vec::new();
    for id in 1..=ORDERS {
        let intake = alice.send(core, &ioc(ALICE, id));
        assert!(!intake.blocked, "read after every order");
        seen.extend(alice.read_received(core));
    }
    assert_eq!(seen.len() as u64, 2 * ORDERS);
    seen
}

/// An order report without what a replay may change (the header's `seq`
/// and `timestamp_ns`): its event and its number.
pub fn report_key(received: &Received) -> (Event, ReportNumber) {
    report_key_of(received, ALICE)
}

/// [`report_key`] for a report of `account`.
pub fn report_key_of(received: &Received, account: AccountId) -> (Event, ReportNumber) {
    let number = received.report_number().expect("an order report");
    let event = match received {
        Received::OrderAccepted(m) => GatewayMessage::OrderAccepted(m),
        Received::OrderCanceled(m) => GatewayMessage::OrderCanceled(m),
        Received::Fill(m) => GatewayMessage::Fill(m),
        Received::OrderRejected(m) => GatewayMessage::OrderRejected(m),
        Received::OrderReplaced(m) => GatewayMessage::OrderReplaced(m),
        Received::CancelRejected(m) => GatewayMessage::CancelRejected(m),
        other => panic!("not an order report: {other:?}"),
    };
    (report_to_event(&event, account).unwrap(), number)
}

/// The account an order report is about.
pub fn account_of(event: &Event) -> Option<AccountId> {
    match *event {
        Event::Accepted { account, .. }
        | Event::Rejected { account, .. }
        | Event::Fill { account, .. }
        | Event::Canceled { account, .. }
        | Event::Replaced { account, .. }
        | Event::CancelRejected { account, .. } => Some(account),
        _ => None,
    }
}

#[test]
fn a_replay_moves_one_batch_per_poll_and_never_holds_up_another_session() {
    let dir = TempDir::new("replay-bounds");
    let (mut a, _b) = cores(dir.path());
    let mut alice = CoreClient::logon(&mut a, ALICE, b"alice-demo-token");
    let live = trade(&mut a, &mut alice);
    let numbers: Vec<u64> = live
        .iter()
        .map(|r| r.report_number().unwrap().report_seq)
        .collect();
    assert_eq!(
        numbers,
        (1..=2 * ORDERS).collect::<Vec<_>>(),
        "numbered 1, 2, 3, ..."
    );
    assert!(live.iter().all(|r| r.report_number().unwrap().stream == 0));

    // Alice again, on a second session, from the start of her stream.
    let mut again = CoreClient::logon(&mut a, ALICE, b"alice-demo-token");
    let mut bob = CoreClient::logon(&mut a, BOB, b"bob-demo-token");
    again.send(&mut a, &ReplayRequestMsg::new(0, 0));
    let started = again.read(&mut a);
    assert_eq!(
        started,
        vec![Got::ReplayStarted {
            stream: 0,
            upto: 2 * ORDERS
        }]
    );
    let mut replayed = Vec::new();
    let mut done = None;
    let mut polls = 0u64;
    let mut bob_orders = 0u64;
    while done.is_none() {
        polls += 1;
        assert!(polls < 50_000_000, "the replay never ended");
        a.poll_mesh(crate::support::core_client::NOW);
        let got = again.read_received(&mut a);
        let reports = got.iter().filter(|r| r.report_number().is_some()).count();
        assert!(reports <= REPLAY_BATCH, "{reports} reports in one poll");
        for received in got {
            match received {
                Received::ReplayDone(m) => done = Some(m),
                other => replayed.push(other),
            }
        }
        if reports > 0 && replayed.len() < live.len() {
            // Mid-replay, Bob's order is answered in the call that brings it.
            bob_orders += 1;
            let id = 9_000 + bob_orders;
            bob.send(&mut a, &ioc(BOB, id));
            let answer = bob.read(&mut a);
            assert_eq!(
                answer[0],
                Got::Accepted {
                    client_order_id: id
                },
                "bob's order mid-replay ({} of {} replayed)",
                replayed.len(),
                2 * ORDERS
            );
            std::thread::yield_now(); // let the source refill its ring
        }
    }
    assert!(bob_orders > 0, "bob traded while the replay ran");
    let done = done.unwrap();
    assert_eq!(
        (done.reject_reason.get(), done.last.get(), done.count.get()),
        (0, 2 * ORDERS, 2 * ORDERS)
    );
    let keys = |r: &[Received]| r.iter().map(report_key).collect::<Vec<_>>();
    assert_eq!(
        keys(&replayed),
        keys(&live),
        "the replay is what was seen live"
    );
    // Bob's IOCs went live to Bob only; Alice's stream did not move.
    assert_eq!(a.engine().last_report_seq(ALICE), Some(2 * ORDERS));
}

#[test]
fn a_session_that_does_not_read_stalls_only_its_own_replay() {
    let dir = TempDir::new("replay-unread");
    let (mut a, _b) = cores(dir.path());
    let mut alice = CoreClient::logon(&mut a, ALICE, b"alice-demo-token");
    trade(&mut a, &mut alice);
    let mut again = CoreClient::logon(&mut a, ALICE, b"alice-demo-token");
    again.send(&mut a, &ReplayRequestMsg::new(0, 0));
    // Polls without reading: the replay stops at half the send buffer,
    // plus at most the one batch that crossed it.
    let bound = SEND_BUFFER / 2 / OrderRejectedMsg::LEN + REPLAY_BATCH;
    let mut polls = 0u64;
    while a.can_resume(again.id) {
        polls += 1;
        assert!(polls < 50_000_000, "the replay never filled the buffer");
        a.poll_mesh(crate::support::core_client::NOW);
        std::thread::yield_now(); // let the source fill its ring
    }
    for i in 0..1_000u64 {
        a.poll_mesh(crate::support::core_client::NOW);
        if i % 100 == 0 {
            // Alice's first session trades on meanwhile: her live reports
            // are sent in the call that brings her order.
            alice.send(&mut a, &ioc(ALICE, 50_000 + i));
            let answer = alice.read(&mut a);
            assert_eq!(answer.len(), 2, "accept and cancel, live: {answer:?}");
        }
    }
    let got = again.read_received(&mut a);
    // Alice's live reports reach this session too (numbered above upto).
    let replayed = got
        .iter()
        .filter(|r| {
            r.report_number()
                .is_some_and(|n| n.report_seq <= 2 * ORDERS)
        })
        .count();
    assert!(
        replayed <= bound,
        "{replayed} replayed with nobody reading (bound {bound})"
    );
    assert!(
        !got.iter().any(|r| matches!(r, Received::ReplayDone(_))),
        "a replay of {} reports cannot be done without the client reading",
        2 * ORDERS
    );
}
