//! The public-event bound (`shard/sender.rs`, `shard/md/resync.rs`): an
//! owner whose replica on another shard stops polling fills the ring, then
//! half the overflow, and no further: the replica's copy of the symbol goes
//! stale, the owner's overflow stays within its pre-allocation whatever
//! the owner's sessions do, order entry on the owner carries on, and once
//! the replica drains, the owner ships it the symbol's state: the replica's
//! feed equals the owner's again, its subscribers of the symbol are closed
//! with 4002 (to resubscribe), and later events flow as before.

use std::rc::Rc;

use tradsys::engine::*;
use tradsys::market_data::Channel;
use tradsys::protocol::market_data::DataFormat;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore};
use tradsys::shard::md::{ClientId, Take, Transport};
use tradsys::shard::mesh::SessionRef;
use tradsys::shard::notify::LocalNotify;
use tradsys::websocket::encode::write_frame;
use tradsys::websocket::frame::Opcode;

use crate::support::shards::two_shard_cores;

const BTC: SymbolId = 1; // owned by shard 0
const NOW: Now = Now {
    mono_ns: 1,
    wall_ns: 1_700_000_000_000_000_000,
};

fn logon(core: &mut ShardCore) -> SessionRef {
    logon_as(core, 1, b"alice-demo-token")
}

fn logon_as(core: &mut ShardCore, account: AccountId, token: &[u8]) -> SessionRef {
    let mut wire = [0u8; 256];
    let logon = LogonMsg::new(account, token, 0, false).unwrap();
    let len = encode(&logon, 1, &mut wire).unwrap();
    match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), NOW) {
        FirstMessage::LoggedOn(id) => id,
        other => panic!("logon: {other:?}"),
    }
}

/// A resting buy at its own price: one public `BookLevel` each.
fn rest(core: &mut ShardCore, id: SessionRef, seq: u32) {
    rest_as(core, id, 1, 4_900_000 + i64::from(seq), seq);
}

/// A resting BTC buy of `account` at `price`.
fn rest_as(core: &mut ShardCore, id: SessionRef, account: AccountId, price: i64, seq: u32) {
    let order = NewOrder {
        account,
        symbol: BTC,
        client_order_id: u64::from(seq),
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty: 1,
    };
    let mut wire = [0u8; 256];
    let len = encode(&NewOrderMsg::from_order(&order), seq, &mut wire).unwrap();
    assert_eq!(core.on_bytes(id, &wire[..len], NOW).consumed, len);
    let mut spare = Vec::with_capacity(1 << 20);
    while core.take_output(id, &mut spare) == Output::Data {
        spare.clear();
    }
}

/// A WebSocket market-data client on `core`, subscribed to BTC's book and trades.
fn subscriber(core: &mut ShardCore) -> ClientId {
    let handshake = core
        .market_mut()
        .begin_handshake(std::net::IpAddr::from([127, 0, 0, 1]), 0)
        .expect("room");
    let id = core
        .market_mut()
        .end_handshake(
            handshake,
            Some(DataFormat::Binary),
            Transport::WebSocket,
            NOW.mono_ns,
        )
        .unwrap();
    let text = br#"{"op":"subscribe","symbols":[1],"channels":["book","trades"],"depth":0}"#;
    let mut frame = vec![0u8; text.len() + 14];
    let n = write_frame(true, Opcode::Text, text, Some([1, 2, 3, 4]), &mut frame).unwrap();
    assert!(
        core.market_mut()
            .on_input(id, &frame[..n], NOW.mono_ns)
            .keep_reading
    );
    id
}

fn settle(a: &mut ShardCore, b: &mut ShardCore) {
    for _ in 0..100 {
        if a.poll_mesh(NOW) + b.poll_mesh(NOW) == 0 {
            return;
        }
    }
    panic!("the mesh never went quiet");
}

#[test]
fn a_replica_past_the_public_bound_goes_stale_and_is_resynced_from_its_owner() {
    let (mut a, mut b, _bells) = two_shard_cores(8, |_| {});
    settle(&mut a, &mut b);
    let alice = logon(&mut a);
    let watcher = subscriber(&mut b);
    settle(&mut a, &mut b);
    let (_, bound) = a.mesh_overflow(1);
    assert_eq!(bound, 4, "half the overflow of an 8-message ring");

    // Shard 1 stops polling; shard 0's session keeps trading on its symbol.
    for seq in 2..200 {
        rest(&mut a, alice, seq);
        let (queued, _) = a.mesh_overflow(1);
        assert!(queued <= bound, "the overflow to shard 1 holds {queued}");
    }
    let (withheld, went_stale) = a.public_counts();
    assert_eq!(went_stale, 1, "BTC went stale for shard 1 once");
    assert!(withheld > 150, "withheld {withheld}");
    assert_ne!(a.market().feed().state(BTC), b.market().feed().state(BTC));

    // Shard 1 drains; shard 0 ships BTC's state; shard 1 takes it.
    settle(&mut a, &mut b);
    assert_eq!(a.market().feed().state(BTC), b.market().feed().state(BTC));
    assert_eq!(
        a.market().feed().stream_last(BTC, Channel::Book, 0),
        b.market().feed().stream_last(BTC, Channel::Book, 0)
    );
    assert_eq!(b.market().counters().replica_resyncs, 1);
    assert_eq!(b.market().counters().closed_resync, 1);
    let mut spare = Vec::with_capacity(4 << 20);
    let mut bytes = Vec::new();
    while b.market_mut().take(watcher, &mut spare) == Take::Data {
        bytes.extend_from_slice(&spare);
        spare.clear();
    }
    let close = [0x88, 0x08, 0x0f, 0xa2]; // close frame, 8 bytes, code 4002
    assert!(
        bytes.windows(4).any(|w| w == close),
        "the subscriber is told to resubscribe (4002)"
    );

    // The symbol is live on shard 1 again: later events reach it.
    rest(&mut a, alice, 200);
    settle(&mut a, &mut b);
    let (state_a, state_b) = (a.market().feed().state(BTC), b.market().feed().state(BTC));
    assert_eq!(state_a, state_b);
    assert_eq!(a.public_counts().1, 1, "not stale again");
}

/// The owner ships a stale symbol only from its own mesh loop, once the
/// replica has room; if its last flush filled the ring it has nothing left
/// to do and parks. The replica draining that ring must wake it: nothing
/// else would (the replica sends it nothing), and the replica's copy of the
/// symbol would stay behind until the owner happened to run again (the
/// relay test's fresh clients of the primary saw books hundreds of events
/// old, seconds after the flow).
#[test]
fn an_owner_parked_with_a_stale_replica_is_woken_when_the_replica_has_room() {
    let (mut a, mut b, mut rings) = two_shard_cores(8, |_| {});
    // Enables shard 0's ring on this thread, so a doorbell can reach it.
    assert!(!rings[0].take_rung());
    settle(&mut a, &mut b);
    let alice = logon(&mut a);
    let bob = logon_as(&mut b, 2, b"bob-demo-token");
    let _watcher = subscriber(&mut b);
    settle(&mut a, &mut b);

    // Shard 1 stops polling: BTC goes stale for it.
    for seq in 2..40 {
        rest(&mut a, alice, seq);
    }
    assert_eq!(a.public_counts().1, 1, "BTC went stale for shard 1");
    // Bob's BTC orders (read on shard 1) run on shard 0; their reports
    // and `Processed` for shard 1 wait in the overflow behind the public
    // events, until it holds exactly one ring's worth.
    let mut seq = 2;
    while a.mesh_overflow(1).0 % 8 != 0 {
        rest_as(&mut b, bob, 2, 4_800_000 + i64::from(seq), seq);
        a.poll_mesh(NOW);
        seq += 1;
        assert!(seq < 20, "the overflow never reached 8");
    }
    assert_eq!(a.mesh_overflow(1).0, 8);

    // Shard 1 drains its ring; shard 0 flushes its overflow into it, which
    // fills it: no room for the resync yet, and nothing else to do.
    assert!(b.poll_mesh(NOW) > 0);
    assert!(a.poll_mesh(NOW) > 0);
    assert_eq!(a.mesh_overflow(1).0, 0, "all flushed");
    assert_eq!(a.poll_mesh(NOW), 0, "the owner is idle");
    let owner_bell = &a.shared().doorbells[0];
    assert!(
        owner_bell.park_unless(|| a.mesh_pending()),
        "the owner parks: the ring it would ship into is full"
    );

    // Shard 1 drains the ring again: now there is room, and the owner
    // must hear of it.
    assert!(b.poll_mesh(NOW) > 0);
    assert!(
        rings[0].take_rung(),
        "the parked owner is woken once its stale replica has room"
    );
    owner_bell.unpark();
    assert!(a.poll_mesh(NOW) > 0, "the owner ships BTC's state");
    b.poll_mesh(NOW);
    assert_eq!(b.market().counters().replica_resyncs, 1);
    assert_eq!(a.market().feed().state(BTC), b.market().feed().state(BTC));
    assert_eq!(
        a.market().feed().stream_last(BTC, Channel::Book, 0),
        b.market().feed().stream_last(BTC, Channel::Book, 0)
    );
}
