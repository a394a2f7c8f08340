//! Latency capture samples the per-command stages under pipelined load
//! (`telemetry.command_sample_every`): of a socket read that brings many
//! commands, one in N at random (not by place in the read, which would
//! bias `intake`) has its intake, journal and engine times recorded; a
//! read with one command always does; a command sent to another shard is
//! sampled there exactly when it was where it was read (its mesh hop with
//! it). wire_to_wire is never sampled. Two shard cores joined by the real mesh rings, driven without
//! sockets; the admin side drains their histograms.

use std::rc::Rc;

use crate::support::shards::two_shard_cores_with_telemetry;
use tradsys::admin::LatencyStore;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore};
use tradsys::shard::mesh::{SessionRef, ShardRing};
use tradsys::shard::notify::LocalNotify;
use tradsys::telemetry::{clock, AdminLink, Stage};

const BTC: SymbolId = 1; // shard 0
const ETH: SymbolId = 2; // shard 1
const EVERY: u32 = 4;

fn cores(dir: &std::path::Path) -> (ShardCore, ShardCore, Vec<AdminLink>, Vec<ShardRing>) {
    let (mut a, mut b, admin, receivers) = two_shard_cores_with_telemetry(1024, |config| {
        config.journal.dir = dir.to_path_buf();
        config.journal.segment_bytes = 1 << 20;
        config.engine.order_capacity = 1 << 10;
        config.telemetry.interval_ms = 1;
        config.telemetry.command_sample_every = EVERY;
    });
    a.start().unwrap();
    b.start().unwrap();
    (a, b, admin, receivers)
}

const NOW: Now = Now {
    mono_ns: 1,
    wall_ns: 1,
};

fn logon(core: &mut ShardCore) -> SessionRef {
    let mut wire = [0u8; 256];
    let logon = LogonMsg::new(1, b"alice-demo-token", 0, false).unwrap();
    let len = encode(&logon, 1, &mut wire).unwrap();
    match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), NOW) {
        FirstMessage::LoggedOn(id) => id,
        other => panic!("logon: {other:?}"),
    }
}

/// One read of `count` IOC buys far below the touch (each accepted and
/// canceled, never trading), numbered from `*seq`.
fn read(core: &mut ShardCore, id: SessionRef, seq: &mut u32, symbol: SymbolId, count: usize) {
    let (price, qty) = if symbol == BTC {
        (4_500_000, 1)
    } else {
        (270_000, 10)
    };
    let mut bytes = Vec::new();
    for _ in 0..count {
        let order = NewOrder {
            account: 1,
            symbol,
            client_order_id: u64::from(*seq),
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Ioc,
            post_only: false,
            stp: None,
            price,
            qty,
        };
        let mut wire = [0u8; 256];
        let len = encode(&NewOrderMsg::from_order(&order), *seq, &mut wire).unwrap();
        bytes.extend_from_slice(&wire[..len]);
        *seq += 1;
    }
    let intake = core.on_bytes(id, &bytes, NOW);
    assert_eq!((intake.consumed, intake.blocked), (bytes.len(), false));
}

/// Counts per stage of both shards after every interval was handed over.
struct Counts {
    store: LatencyStore,
    admin: Vec<AdminLink>,
}

impl Counts {
    fn settle(&mut self, a: &mut ShardCore, b: &mut ShardCore, id: SessionRef) -> [[u64; 2]; 4] {
        while a.poll_mesh(NOW) + b.poll_mesh(NOW) > 0 {}
        let mut spare = Vec::with_capacity(1 << 20);
        while a.take_output(id, &mut spare) == Output::Data {
            spare.clear();
        }
        let due = clock::mono_ns() + 1_000_000;
        while clock::mono_ns() < due {
            std::hint::spin_loop();
        }
        a.tick(NOW);
        b.tick(NOW);
        self.store.drain(&mut self.admin, |_| {});
        [
            Stage::Intake,
            Stage::Engine,
            Stage::MeshHop,
            Stage::WireToWire,
        ]
        .map(|stage| [0, 1].map(|shard| self.store.get(shard, stage).total.len()))
    }
}

#[test]
fn per_command_stages_are_sampled_within_a_read_and_across_the_mesh() {
    let dir = std::env::temp_dir().join(format!("tradsys-sampling-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut a, mut b, admin, _receivers) = cores(&dir);
    let id = logon(&mut a);
    let mut counts = Counts {
        store: LatencyStore::new(2),
        admin,
    };
    let mut seq = 2;
    let base = counts.settle(&mut a, &mut b, id);

    // 100 reads of 10 local orders: about one command in 4 is timed, the
    // same count in every per-command stage; one answer write per read.
    for _ in 0..100 {
        read(&mut a, id, &mut seq, BTC, 10);
    }
    let [intake, engine, hop, wire] = counts.settle(&mut a, &mut b, id);
    let sampled = engine[0] - base[1][0];
    assert!(
        (150..=350).contains(&sampled),
        "1 in {EVERY} of 1000: {sampled}"
    );
    assert_eq!(
        intake[0] - base[0][0],
        sampled,
        "intake and engine together"
    );
    assert!(wire[0] - base[3][0] >= 1, "answer writes, never sampled");

    // Orders alone in their reads: always timed.
    for _ in 0..20 {
        read(&mut a, id, &mut seq, BTC, 1);
    }
    let [_, engine_one, _, _] = counts.settle(&mut a, &mut b, id);
    assert_eq!(engine_one[0] - engine[0], 20, "a read's only command");

    // Reads of 10 orders for shard 1's symbol: sampled where read, timed
    // on the owner exactly then, with their mesh hops.
    for _ in 0..50 {
        read(&mut a, id, &mut seq, ETH, 10);
    }
    let [intake_remote, engine_remote, hop_remote, _] = counts.settle(&mut a, &mut b, id);
    let sent = intake_remote[0] - intake[0] - 20;
    assert!((50..=200).contains(&sent), "1 in {EVERY} of 500: {sent}");
    assert_eq!(engine_remote[1] - engine[1], sent, "engine on the owner");
    assert_eq!(hop_remote[1] - hop[1], sent, "their mesh hops");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}
