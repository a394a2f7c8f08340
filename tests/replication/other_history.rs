//! A follower whose journal holds another history than the stream's (found
//! by a hostile pass): the primary started a fresh journal on a recreated
//! stream, and an old follower was restarted on its old journal. Its
//! resume hint pointed into the new stream at the very seq it expected
//! next, so it applied the new primary's records on top of the old ones,
//! with no gap, no error, exit 0. Record 1 of a shard is the same bytes in
//! every journal of one history (its `ts_ns` is the first start's clock),
//! so the follower compares it with the stream's: another one stops it
//! with exit 5.

use std::time::{Duration, Instant};

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::*;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;

#[test]
fn a_follower_on_a_stream_of_another_history_stops_with_exit_5() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let cluster = NatsCluster::start(&dir.join("nats"));
    // No state checksums (the default): nothing else would see it.
    let quiet = |dir: &std::path::Path| {
        replicated_config(dir, &cluster)
            .replace("checksum_interval_ms = 20", "checksum_interval_ms = 0")
    };
    let text = quiet(&dir.join("day1"));
    assert!(text.contains("checksum_interval_ms = 0"));
    let config = Config::parse(&text).unwrap();
    let shipped = |shard: u16| {
        cluster.last_shipped_seq(
            &config.replication.stream,
            &config.replication.shard_subject(shard),
        )
    };

    // Day 1: a primary and a follower.
    let day1 = Gateway::start_config(&dir.join("day1"), &text, None).expect("day 1 starts");
    let follower_dir = dir.join("follower");
    let follower_text = quiet(&follower_dir);
    let mut follower = Follower::start(&follower_dir, &follower_text);
    random_flow(&day1, 0x5eed_000a, 200);
    let (status, _) = day1.stop();
    assert!(status.success());
    let day1_seqs = live_last_seqs(&config, &dir.join("day1").join("journal"));
    follower.wait_applied(&day1_seqs, Duration::from_secs(60));
    let (status, _, _) = follower.stop();
    assert!(status.success(), "{status:?}");

    // Day 2: a fresh journal on a recreated stream, longer than day 1's.
    cluster.delete_stream(&config.replication.stream);
    let text2 = quiet(&dir.join("day2"));
    let day2 = Gateway::start_config(&dir.join("day2"), &text2, None).expect("day 2 starts");
    random_flow(&day2, 0x5eed_000b, 600);
    let day2_seqs = live_last_seqs(&config, &dir.join("day2").join("journal"));
    assert!(
        day2_seqs[0] > day1_seqs[0] + 10,
        "{day2_seqs:?} {day1_seqs:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..2).any(|s| shipped(s) < day2_seqs[s as usize]) {
        assert!(Instant::now() < deadline, "day 2 never shipped");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The old follower, restarted on its day-1 journal.
    let follower = Follower::start(&follower_dir, &follower_text);
    let (status, _, lines) = follower.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(5), "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("record 1 of shard") && l.contains("another history")),
        "{}",
        lines.join("\n")
    );
    let after = live_last_seqs(&config, &follower_dir.join("journal"));
    assert!(
        after.iter().zip(&day1_seqs).all(|(a, d)| a <= d),
        "nothing of day 2 applied: {after:?} after day 1's {day1_seqs:?}"
    );
    let (status, _) = day2.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
