//! One NATS node killed while the primary trades and ships: JetStream keeps
//! the stream on the other two, the shipper and the follower go on, and
//! the follower ends equal to the primary: nothing lost, nothing twice.
//! And the node that holds a follower's consumer killed: the follower
//! notices the silence and resumes on a new consumer in seconds.

use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;

#[test]
fn killing_one_nats_node_mid_stream_loses_nothing() {
    let mut r = Replicated::start();
    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    random_flow(&r.gateway, 0x5eed_0002, 1_000);
    // Node 0 is the first URL of both the shipper and the follower.
    r.cluster.kill_node(0);
    random_flow(&r.gateway, 0x5eed_0003, 1_000);
    // Shipped while the primary runs: a stopping primary ships for 3 s
    // at most, which a stream still electing its leader may not allow.
    follower.wait_applied(
        &live_last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(90),
    );
    stop_and_compare(
        r.gateway,
        follower,
        &r.config,
        &r.primary_root,
        &r.follower_text,
        Duration::from_secs(90),
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

/// The follower's consumers are ephemeral and live on one server each. The
/// client library notices a dead one only after two missed 15 s idle
/// heartbeats, then keeps asking a stream that may be electing a leader:
/// a minute or more of no progress. The follower's own stall check (2 s
/// of silence while the stream holds a record past the last one
/// delivered: `follower.rs`) makes a new consumer instead, so the replica
/// is caught up well within the 30 s this test allows.
#[test]
fn killing_the_node_of_a_followers_consumer_stalls_it_only_briefly() {
    let mut r = Replicated::start();
    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    random_flow(&r.gateway, 0x5eed_0004, 500);
    follower.wait_applied(
        &live_last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(60),
    );
    let node = r.cluster.consumer_node(
        &r.config.replication.stream,
        &r.config.replication.shard_subject(0),
    );
    r.cluster.kill_node(node);
    random_flow(&r.gateway, 0x5eed_0005, 500);
    follower.wait_applied(
        &live_last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(30),
    );
    stop_and_compare(
        r.gateway,
        follower,
        &r.config,
        &r.primary_root,
        &r.follower_text,
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}
