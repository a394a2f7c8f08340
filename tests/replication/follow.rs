//! A follower ends with the primary's books, order ids and positions after
//! a random order flow, and a second follower started from scratch after
//! the primary stopped rebuilds the same state from the stream alone.

use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;
use tradsys::config::Config;

#[test]
fn a_follower_and_a_follower_from_scratch_equal_the_primary() {
    let r = Replicated::start();
    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    random_flow(&r.gateway, 0x5eed_0001, 3_000);
    let (status, _) = r.gateway.stop();
    assert!(status.success(), "primary stops cleanly");
    let seqs = last_seqs(&r.config, &r.primary_root);
    follower.wait_applied(&seqs, Duration::from_secs(60));
    // A stray SIGHUP is logged and changes nothing (it used to end the
    // follower at once).
    follower.signal(libc::SIGHUP);
    follower.wait_line("signal ignored", Duration::from_secs(20));
    let (status, digests, _) = follower.stop();
    assert!(status.success(), "follower stops cleanly: {status:?}");
    let follower_config = Config::parse(&r.follower_text).unwrap();
    assert_replica_equals_primary(
        &r.config,
        &r.primary_root,
        &follower_config.journal.dir,
        &digests,
    );

    // The primary is gone; a new follower has only the stream.
    let scratch_dir = r.dir.join("scratch");
    let scratch_text = replicated_config(&scratch_dir, &r.cluster);
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
        &r.config,
        &r.primary_root,
        &Config::parse(&scratch_text).unwrap().journal.dir,
        &digests,
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}
