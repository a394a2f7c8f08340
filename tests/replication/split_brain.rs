//! Two primaries on one stream: a follower promoted while the old primary
//! still runs (found by a hostile pass). Every publish carries the message
//! id `{shard}:{seq}`, and JetStream's duplicate check runs before its
//! expected-sequence check, so the second writer of a seq got a successful
//! "duplicate" answer: its record never reached the stream, and it went on
//! reporting it shipped (`shipping`, lag 0). It must stop that shard's
//! shipping in `conflict` instead, loudly, and leave the stream alone.

use std::time::{Duration, Instant};

use super::flow::*;
use super::outage::metrics;
use crate::support::follower::Follower;
use crate::support::gateway::*;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;
use tradsys::engine::*;

#[test]
fn a_record_the_stream_already_holds_from_another_primary_is_a_conflict_not_shipped() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    // No state checksums: an idle primary's journal then stands still, and
    // which primary writes each seq is the test's choice.
    let quiet = |dir: &std::path::Path| {
        replicated_config(dir, &cluster)
            .replace("checksum_interval_ms = 20", "checksum_interval_ms = 0")
    };
    let text = quiet(&primary_dir);
    assert!(text.contains("checksum_interval_ms = 0"));
    let config = Config::parse(&text).unwrap();
    let primary = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
    let follower_dir = dir.join("follower");
    let follower_text = quiet(&follower_dir);
    let mut follower = Follower::start(&follower_dir, &follower_text);
    random_flow(&primary, 0x5eed_0009, 300);
    let shipped = |shard: u16| {
        cluster.last_shipped_seq(
            &config.replication.stream,
            &config.replication.shard_subject(shard),
        )
    };
    let journal = live_last_seqs(&config, &primary_dir.join("journal"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..2).any(|s| shipped(s) < journal[s as usize]) {
        assert!(Instant::now() < deadline, "shipping never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    follower.wait_applied(&journal, Duration::from_secs(60));
    let (status, _, _) = follower.stop();
    assert!(status.success(), "{status:?}");

    // The second primary: the follower served while the first still runs.
    // Its start appends a feed_epoch record to each shard and ships it,
    // so the stream's record journal[0] + 1 of shard 0 is its own.
    let second = Gateway::start_config(&follower_dir, &follower_text, None)
        .expect("the second primary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while shipped(0) < journal[0] + 1 {
        assert!(
            Instant::now() < deadline,
            "the second primary shipped nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The first primary's next record of shard 0 is another journal[0] + 1.
    let mut alice = primary.logon(ALICE);
    let mut order = limit(ALICE, BTC, 9_999_001, Side::Buy, 9_000, 1);
    order.tif = TimeInForce::Gtc;
    alice.new_order(&order).unwrap();
    accepted(&mut alice);
    drop(alice);
    let admin = primary.admin_addr.expect("an admin endpoint");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics(admin);
        if text.contains("tradsys_replication_state{shard=\"0\",state=\"conflict\"} 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first primary's record is not in the stream, yet its shard 0 is not in conflict:\n{}",
            text.lines()
                .filter(|l| l.starts_with("tradsys_replication"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        shipped(0),
        journal[0] + 1,
        "the stream holds the second's record"
    );
    let (status, log) = primary.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("conflict: record") && l.contains("another primary")),
        "{log:?}"
    );

    // Restarted, the first primary finds the stream's last record of shard 0
    // is not its own: conflict at once, and its figures say how much of
    // its journal the stream does not hold (they read 0, "nothing a
    // promotion would lose", before the shipper looked at the journal).
    let primary = Gateway::start_config(&primary_dir, &text, None).expect("restarts");
    let admin = primary.admin_addr.expect("an admin endpoint");
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let text = metrics(admin);
        if text.contains("tradsys_replication_state{shard=\"0\",state=\"conflict\"} 1") {
            break text;
        }
        assert!(Instant::now() < deadline, "no conflict after the restart");
        std::thread::sleep(Duration::from_millis(20));
    };
    let gauge = |name: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{shard=\"0\"}}")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    assert_eq!(
        gauge("tradsys_replication_journal_seq"),
        // Its order, then this start's feed_epoch record.
        Some(journal[0] + 2),
        "{shown}"
    );
    assert!(
        gauge("tradsys_replication_lag_records").is_some_and(|lag| lag > 0),
        "{shown}"
    );
    let (status, _) = primary.stop();
    assert!(status.success());
    let (status, _) = second.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
