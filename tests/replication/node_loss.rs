//! One NATS node killed while the primary trades and ships: JetStream keeps
//! the stream on the other two, the shipper and the follower go on, and
//! the follower ends equal to the primary: nothing lost, nothing twice.

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
    let (status, _) = gateway.stop();
    assert!(status.success());
    let config = Config::parse(&text).unwrap();
    let primary_root = primary_dir.join("journal");
    let seqs = last_seqs(&config, &primary_root);
    follower.wait_applied(&seqs, Duration::from_secs(90));
    let (status, digests, _) = follower.stop();
    assert!(status.success(), "{status:?}");
    assert_replica_equals_primary(
        &config,
        &primary_root,
        &Config::parse(&follower_text).unwrap().journal.dir,
        &digests,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
