//! A restarted follower resumes each shard's subject after the last record
//! its local journal holds (the stream position beside the journal), not
//! from the subject's start: a clean restart is delivered no record twice,
//! and still ends equal to the primary.

use std::time::Duration;

use super::flow::*;
use crate::support::follower::{field, Follower};
use tradsys::config::Config;

/// Per shard, `key` of the `follower stopped` lines.
fn stopped_fields(lines: &[String], key: &str) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| l.contains("follower stopped"))
        .filter_map(|l| field(l, key)?.parse().ok())
        .collect()
}

#[test]
fn a_restarted_follower_resumes_after_its_journal_with_no_redelivery() {
    let r = Replicated::start();

    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    random_flow(&r.gateway, 0x5eed_0007, 600);
    follower.wait_applied(
        &live_last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(60),
    );
    let (status, _, lines) = follower.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(stopped_fields(&lines, "resumed_at_stream_seq"), [1, 1]);

    random_flow(&r.gateway, 0x5eed_0008, 600);
    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    let (status, _) = r.gateway.stop();
    assert!(status.success(), "primary stops cleanly");
    follower.wait_applied(
        &last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(60),
    );
    let (status, digests, lines) = follower.stop();
    assert!(status.success(), "{status:?}");
    let resumed = stopped_fields(&lines, "resumed_at_stream_seq");
    assert_eq!(resumed.len(), 2, "{lines:?}");
    assert!(
        resumed.iter().all(|&s| s > 1),
        "both shards resumed past the subject's start: {resumed:?}"
    );
    assert_eq!(
        stopped_fields(&lines, "duplicates_skipped"),
        [0, 0],
        "nothing the replica held was delivered again"
    );
    assert_replica_equals_primary(
        &r.config,
        &r.primary_root,
        &Config::parse(&r.follower_text).unwrap().journal.dir,
        &digests,
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}
