//! `tradsys follow` exits 5 only when the replica can no longer equal the
//! primary (docs/OPERATIONS.md). A follower that cannot start (its relay
//! port taken, its journal held by another follower) exits 1 (found by a
//! hostile pass: both exited 5, "can no longer be trusted to equal the
//! primary", which sends an operator after a divergence that is not there).

use std::process::Command;

use crate::support::gateway::config;

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
