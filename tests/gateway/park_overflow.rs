//! A shard parked on its doorbell (`idle = "park"`) is woken when one of its
//! own tasks queues mesh messages in its overflow: only its mesh loop moves
//! overflow into the rings, so a parked mesh loop with a non-empty overflow
//! would hold those messages until some other shard happened to send it
//! something.

use std::rc::Rc;
use std::sync::Arc;

use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore};
use tradsys::shard::mesh::{self, Doorbell, SessionRef, ShardRing};
use tradsys::shard::notify::LocalNotify;
use tradsys::shard::shared::Shared;

const BTC: SymbolId = 1; // shard 0

struct Peer {
    id: SessionRef,
    seq: u32,
}

impl Peer {
    fn logon(core: &mut ShardCore, now: Now) -> Peer {
        let mut wire = [0u8; 256];
        let logon = LogonMsg::new(1, b"alice-demo-token", 0, false).unwrap();
        let len = encode(&logon, 1, &mut wire).unwrap();
        let id = match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), now) {
            FirstMessage::LoggedOn(id) => id,
            other => panic!("logon: {other:?}"),
        };
        let mut peer = Peer { id, seq: 2 };
        peer.drain(core);
        peer
    }

    fn send<M: WireMessage>(&mut self, core: &mut ShardCore, msg: &M, now: Now) {
        let mut wire = [0u8; 256];
        let len = encode(msg, self.seq, &mut wire).unwrap();
        self.seq += 1;
        let intake = core.on_bytes(self.id, &wire[..len], now);
        assert_eq!(intake.consumed, len);
    }

    fn drain(&mut self, core: &mut ShardCore) -> usize {
        let mut spare = Vec::with_capacity(1 << 20);
        let mut bytes = 0;
        while core.take_output(self.id, &mut spare) == Output::Data {
            bytes += spare.len();
            spare.clear();
        }
        bytes
    }
}

#[test]
fn reports_queued_in_overflow_while_the_mesh_loop_is_parked_wake_it() {
    let dir = std::env::temp_dir().join(format!("tradsys-park-overflow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.server.cores = vec![0, 1];
    config.symbols[0].shard = Some(0);
    config.symbols[1].shard = Some(1);
    config.symbols[2].shard = Some(1);
    config.journal.dir = dir.clone();
    config.journal.segment_bytes = 1 << 20;
    config.validate().unwrap();
    let mut doorbells = Vec::new();
    let mut receivers: Vec<ShardRing> = Vec::new();
    for _ in 0..2 {
        let (bell, rx) = Doorbell::new().unwrap();
        doorbells.push(bell);
        receivers.push(rx);
    }
    let shared = Arc::new(Shared::new(config, doorbells));
    let mut links = mesh::build(2, 2).into_iter();
    let mut a = ShardCore::new(0, Arc::clone(&shared), links.next().unwrap());
    let mut b = ShardCore::new(1, Arc::clone(&shared), links.next().unwrap());
    a.start().unwrap();
    b.start().unwrap();
    let now = Now {
        mono_ns: 1,
        wall_ns: 1,
    };
    // Alice trades on shard 0 and watches from a second session on shard 1.
    let mut trading = Peer::logon(&mut a, now);
    let mut watching = Peer::logon(&mut b, now);
    while a.poll_mesh(now) + b.poll_mesh(now) > 0 {}
    receivers[0].take_rung();

    // Shard 0's mesh loop has nothing to do and parks (runtime.rs mesh_loop).
    assert!(shared.doorbells[0].park_unless(|| a.mesh_pending()));
    // Its reader task runs Alice's IOCs on shard 0's own symbol: each one's
    // Accepted and Canceled go to her session on shard 1, over the 2-slot
    // ring; the rest wait in shard 0's overflow.
    for i in 0..4 {
        let ioc = NewOrder {
            account: 1,
            symbol: BTC,
            client_order_id: i,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Ioc,
            post_only: false,
            stp: None,
            price: 5_000_000,
            qty: 1,
        };
        trading.send(&mut a, &NewOrderMsg::from_order(&ioc), now);
    }
    assert!(a.mesh_pending(), "reports wait in shard 0's overflow");
    // Shard 1 takes what reached its ring.
    b.poll_mesh(now);
    assert!(watching.drain(&mut b) > 0);
    // Only shard 0's mesh loop moves its overflow into the ring, and it is
    // asleep on its doorbell: something must have rung it (MSG_RING).
    let woken = receivers[0].take_rung();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        woken,
        "shard 0 sleeps with reports for shard 1 in its overflow and nothing will wake it"
    );
}
