//! Replay on logon (PROTOCOL.md 5.9) allocates nothing on the shard per
//! replayed report: the source thread re-reads the journal and builds its
//! engine off the shard; the shard pops fixed-size items from the ring and
//! encodes them into the session's outbox. Measured on the thread that
//! runs the shard core, from the first poll after the request (the source
//! thread and its ring are made once per replay, by the request) to
//! `ReplayDone`.

use std::rc::Rc;

use crate::support::alloc_counter::allocations_in;
use crate::support::journal::TempDir;
use crate::support::shards::two_shard_cores;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore};
use tradsys::shard::mesh::SessionRef;
use tradsys::shard::notify::LocalNotify;

const NOW: Now = Now {
    mono_ns: 1,
    wall_ns: 1,
};
const ORDERS: u64 = 600;

fn logon(core: &mut ShardCore) -> SessionRef {
    let mut wire = [0u8; 256];
    let logon = LogonMsg::new(1, b"alice-demo-token", 0, false).unwrap();
    let len = encode(&logon, 1, &mut wire).unwrap();
    match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), NOW) {
        FirstMessage::LoggedOn(id) => id,
        other => panic!("logon: {other:?}"),
    }
}

/// Takes everything queued for `id` and counts message types.
fn drain(core: &mut ShardCore, id: SessionRef, spare: &mut Vec<u8>, counts: &mut [u64; 256]) {
    while core.take_output(id, spare) == Output::Data {
        let mut at = 0;
        while at < spare.len() {
            let decoded = decode_gateway(&spare[at..]).expect("well-formed output");
            counts[decoded.message.header().msg_type as usize] += 1;
            at += decoded.len;
        }
        spare.clear();
    }
}

fn send<M: WireMessage>(core: &mut ShardCore, id: SessionRef, seq: &mut u32, msg: &M) {
    let mut wire = [0u8; 256];
    let len = encode(msg, *seq, &mut wire).unwrap();
    *seq += 1;
    let intake = core.on_bytes(id, &wire[..len], NOW);
    assert_eq!((intake.consumed, intake.blocked), (len, false));
}

#[test]
fn moving_replayed_reports_into_an_outbox_allocates_nothing() {
    let dir = TempDir::new("alloc-replay");
    let (mut a, mut b, receivers) = two_shard_cores(1024, |config| {
        config.journal.dir = dir.path().to_path_buf();
        config.journal.segment_bytes = 8 << 20;
        config.engine.order_capacity = 1 << 12;
        config.session.rate_limit_burst = 1_000_000;
        config.session.rate_limit_per_sec = 1_000_000;
    });
    std::mem::forget(receivers); // the doorbells must outlive the test
    a.start().unwrap();
    b.start().unwrap();
    let mut spare = Vec::with_capacity(2 << 20);
    let mut counts = [0u64; 256];
    let alice = logon(&mut a);
    let mut seq = 2;
    for id in 1..=ORDERS {
        let ioc = NewOrder {
            account: 1,
            symbol: 1, // BTC, shard 0
            client_order_id: id,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Ioc,
            post_only: false,
            stp: None,
            price: 5_000_000,
            qty: 1,
        };
        send(&mut a, alice, &mut seq, &NewOrderMsg::from_order(&ioc));
        drain(&mut a, alice, &mut spare, &mut counts);
        // Warm-up: the first polls finish the start (the market-data
        // feeds' exchange) and size what a poll uses once.
        a.poll_mesh(NOW);
        b.poll_mesh(NOW);
    }
    let again = logon(&mut a);
    let mut again_seq = 2;
    send(&mut a, again, &mut again_seq, &ReplayRequestMsg::new(0, 0));
    let mut counts = [0u64; 256];
    let mut polls = 0u64;
    let (allocations, ()) = allocations_in(|| {
        while counts[0x90] == 0 {
            polls += 1;
            assert!(polls < 50_000_000, "the replay never ended");
            a.poll_mesh(NOW);
            drain(&mut a, again, &mut spare, &mut counts);
            std::thread::yield_now(); // let the source refill its ring
        }
    });
    assert_eq!(counts[0x8F], 1, "ReplayStarted");
    assert_eq!(
        (counts[0x84], counts[0x87]),
        (ORDERS, ORDERS),
        "every accept and cancel replayed"
    );
    assert_eq!(allocations, 0, "{polls} polls moved {} reports", 2 * ORDERS);
}
