//! Standby: the primary's host is lost (SIGKILL, nothing drained); the
//! operator stops the caught-up follower and starts the gateway on the
//! follower's config, whose journal is the primary's as far as it was
//! shipped. The promoted gateway recovers that state, trades on with the
//! next order ids, and ships on to the same stream after checking the
//! stream's last record is its own. What is lost is exactly the
//! unshipped tail: the records after the stream's last one.

use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::*;
use tradsys::config::Config;
use tradsys::engine::*;

#[test]
fn a_caught_up_follower_is_promoted_after_the_primary_host_is_lost() {
    let r = Replicated::start();
    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    random_flow(&r.gateway, 0x5eed_0006, 1_500);
    // The host is lost once shipping has begun (at any point after: what
    // was not shipped yet is the loss this test measures, whatever it is).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while r.cluster.last_shipped_seq(
        &r.config.replication.stream,
        &r.config.replication.shard_subject(0),
    ) < 100
    {
        assert!(std::time::Instant::now() < deadline, "nothing shipped");
        std::thread::sleep(Duration::from_millis(20));
    }
    r.gateway.kill();

    // The recovery point: what the stream holds of each shard.
    let shipped: Vec<u64> = (0..2)
        .map(|s| {
            r.cluster.last_shipped_seq(
                &r.config.replication.stream,
                &r.config.replication.shard_subject(s),
            )
        })
        .collect();
    follower.wait_applied(&shipped, Duration::from_secs(60));
    let (status, _, _) = follower.stop();
    assert!(status.success(), "{status:?}");

    let primary = replay_journal(&r.config, &r.primary_dir.join("journal"));
    let follower_root = Config::parse(&r.follower_text).unwrap().journal.dir;
    let replica = replay_journal(&r.config, &follower_root);
    let mut last_order_id = 0;
    for (shard, ((_, p_records), (f_engine, f_records))) in primary.iter().zip(&replica).enumerate()
    {
        // The replica is the primary's journal up to the recovery point.
        assert_eq!(f_records.len() as u64, shipped[shard], "shard {shard}");
        assert!(
            f_records[..] == p_records[..f_records.len()],
            "shard {shard}: a prefix"
        );
        // Its state is the primary's at that point.
        let mut engine = Engine::new(&r.config.engine_config(shard));
        let mut replay = tradsys::journal::Replay::replica(&tradsys::journal::shard_dir(
            &r.primary_dir.join("journal"),
            shard as u16,
        ));
        let mut events = Vec::new();
        for record in &p_records[..f_records.len()] {
            replay.apply(&mut engine, record, &mut events);
        }
        if shard == 0 {
            last_order_id = events
                .iter()
                .filter_map(|e| match *e {
                    Event::Accepted { order_id, .. } => Some(order_id),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
        }
        assert!(replay.take_failure().is_none());
        assert_same_state(&r.config, shard, &engine, f_engine);
    }

    // Promotion: serve on the follower's r.config and journal.
    let promoted = Gateway::start_config(&r.follower_dir, &r.follower_text, None)
        .expect("the promoted follower starts");
    let mut alice = promoted.logon(ALICE);
    alice
        .new_order(&NewOrder {
            account: ALICE,
            symbol: BTC,
            client_order_id: 424_242,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price: 9_001,
            qty: 1,
        })
        .unwrap();
    let ack = accepted(&mut alice);
    assert!(
        last_order_id > 0,
        "the flow rested orders on shard 0 before the recovery point {shipped:?}"
    );
    assert!(
        ack.order_id > last_order_id,
        "order ids go on from the recovered engine's: {} after {last_order_id}",
        ack.order_id
    );
    drop(alice);
    let (status, _) = promoted.stop();
    assert!(status.success());
    // It shipped on after the recovery point, to the same subject.
    let after = r.cluster.last_shipped_seq(
        &r.config.replication.stream,
        &r.config.replication.shard_subject(0),
    );
    assert!(
        after > shipped[0],
        "the promoted primary ships on: {after} > {}",
        shipped[0]
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}
