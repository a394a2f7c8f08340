//! A follower ends with the primary's books, order ids and positions after
//! a random order flow, and a second follower started from scratch after
//! the primary stopped rebuilds the same state from the stream alone.

use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::Gateway;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;

#[test]
fn a_follower_and_a_follower_from_scratch_equal_the_primary() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    let text = replicated_config(&primary_dir, &cluster);
    let gateway = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
    let follower_dir = dir.join("follower");
    let follower_text = replicated_config(&follower_dir, &cluster);
    let mut follower = Follower::start(&follower_dir, &follower_text);
    random_flow(&gateway, 0x5eed_0001, 3_000);
    let (status, _) = gateway.stop();
    assert!(status.success(), "primary stops cleanly");
    let config = Config::parse(&text).unwrap();
    let primary_root = primary_dir.join("journal");
    let seqs = last_seqs(&config, &primary_root);
    follower.wait_applied(&seqs, Duration::from_secs(60));
    // A stray SIGHUP is logged and changes nothing (it used to end the
    // follower at once).
    follower.signal(libc::SIGHUP);
    follower.wait_line("signal ignored", Duration::from_secs(20));
    let (status, digests, _) = follower.stop();
    assert!(status.success(), "follower stops cleanly: {status:?}");
    let follower_config = Config::parse(&follower_text).unwrap();
    assert_replica_equals_primary(
        &config,
        &primary_root,
        &follower_config.journal.dir,
        &digests,
    );

    // The primary is gone; a new follower has only the stream.
    let scratch_dir = dir.join("scratch");
    let scratch_text = replicated_config(&scratch_dir, &cluster);
    let mut scratch = Follower::start(&scratch_dir, &scratch_text);
    scratch.wait_applied(&seqs, Duration::from_secs(60));
    let (status, digests, lines) = scratch.stop();
    assert!(status.success(), "{status:?}");
    let verified: u64 = lines
        .iter()
        .filter(|l| l.contains("follower stopped"))
        .filter_map(|l| {
            crate::support::follower::field(l, "checksums_verified")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        verified > 0,
        "the rebuild checked the primary's state checksums"
    );
    assert_replica_equals_primary(
        &config,
        &primary_root,
        &Config::parse(&scratch_text).unwrap().journal.dir,
        &digests,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
