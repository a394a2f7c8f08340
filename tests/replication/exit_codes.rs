//! `tradsys follow` exits 5 only when the replica can no longer equal the
//! primary (docs/OPERATIONS.md). A follower that cannot start (its relay
//! port taken, its journal held by another follower) exits 1 (found by a
//! hostile pass: both exited 5, "can no longer be trusted to equal the
//! primary", which sends an operator after a divergence that is not there).

use std::process::Command;
use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::config;
use crate::support::nats::NatsCluster;

fn follow(dir: &std::path::Path, text: &str) -> (Option<i32>, String) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("follower.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tradsys"))
        .args(["follow", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_follower_that_cannot_start_exits_1_not_5() {
    let dir = crate::support::gateway::Gateway::new_dir();
    // Never reached: both failures come before any NATS connection.
    let nats = "[server]\n\n[replication]\nnats_urls = [\"nats://127.0.0.1:1\"]\n";
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let text = config(nats, &dir).replace(
        "market_data = \"127.0.0.1:0\"",
        &format!("market_data = \"{addr}\""),
    );
    assert!(text.contains(&addr.to_string()));
    let (code, log) = follow(&dir, &text);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("Address already in use"), "{log}");
    assert!(!log.contains("equal the primary"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A follower configured with fewer cores than the primary (found by a
/// hostile pass: it followed shard 0 only, exited 0, and its relays and
/// drop copy silently left out shard 1's symbols) stops with exit 5,
/// naming the shard it cannot follow.
#[test]
fn a_follower_with_fewer_shards_than_the_stream_stops() {
    let _turn = super::serial();
    let dir = crate::support::gateway::Gateway::new_dir();
    let cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    let text = replicated_config(&primary_dir, &cluster);
    let primary = crate::support::gateway::Gateway::start_config(&primary_dir, &text, None)
        .expect("primary starts");
    random_flow(&primary, 0x5eed_000d, 200);
    // The check looks for shard 1's records: wait until there are some.
    let config = tradsys::config::Config::parse(&text).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while cluster.last_shipped_seq(
        &config.replication.stream,
        &config.replication.shard_subject(1),
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "shard 1 never shipped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let follower_dir = dir.join("follower");
    let one_core = replicated_config(&follower_dir, &cluster)
        .replace("cores = [0, 1]", "cores = [0]")
        .replace("shard = 1\n", "shard = 0\n");
    assert!(one_core.contains("cores = [0]\n"), "{one_core}");
    let follower = Follower::start(&follower_dir, &one_core);
    let (status, _, lines) = follower.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(5), "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("records of shard 1") && l.contains("server.cores")),
        "{}",
        lines.join("\n")
    );
    let (status, _) = primary.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
