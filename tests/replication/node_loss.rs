//! One NATS node killed while the primary trades and ships: JetStream keeps
//! the stream on the other two, the shipper and the follower go on, and
//! the follower ends equal to the primary: nothing lost, nothing twice.
//! And the node that holds a follower's consumer killed: the follower
//! notices the silence and resumes on a new consumer in seconds.

use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::Gateway;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;

#[test]
fn killing_one_nats_node_mid_stream_loses_nothing() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let mut cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    let text = replicated_config(&primary_dir, &cluster);
    let gateway = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
    let follower_dir = dir.join("follower");
    let follower_text = replicated_config(&follower_dir, &cluster);
    let mut follower = Follower::start(&follower_dir, &follower_text);
    random_flow(&gateway, 0x5eed_0002, 1_000);
    // Node 0 is the first URL of both the shipper and the follower.
    cluster.kill_node(0);
    random_flow(&gateway, 0x5eed_0003, 1_000);
    let config = Config::parse(&text).unwrap();
    let primary_root = primary_dir.join("journal");
    // Shipped while the primary runs: a stopping primary ships for 3 s
    // at most, which a stream still electing its leader may not allow.
    follower.wait_applied(
        &live_last_seqs(&config, &primary_root),
        Duration::from_secs(90),
    );
    stop_and_compare(
        gateway,
        follower,
        &config,
        &primary_root,
        &follower_text,
        Duration::from_secs(90),
    );
    let _ = std::fs::remove_dir_all(&dir);
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
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let mut cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    let text = replicated_config(&primary_dir, &cluster);
    let config = Config::parse(&text).unwrap();
    let primary_root = primary_dir.join("journal");
    let gateway = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
    let follower_dir = dir.join("follower");
    let follower_text = replicated_config(&follower_dir, &cluster);
    let mut follower = Follower::start(&follower_dir, &follower_text);
    random_flow(&gateway, 0x5eed_0004, 500);
    follower.wait_applied(
        &live_last_seqs(&config, &primary_root),
        Duration::from_secs(60),
    );
    let node = cluster.consumer_node(
        &config.replication.stream,
        &config.replication.shard_subject(0),
    );
    cluster.kill_node(node);
    random_flow(&gateway, 0x5eed_0005, 500);
    follower.wait_applied(
        &live_last_seqs(&config, &primary_root),
        Duration::from_secs(30),
    );
    stop_and_compare(
        gateway,
        follower,
        &config,
        &primary_root,
        &follower_text,
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
