//! One shard failing to start while another has started must stop the
//! gateway with exit 1 and the reason, not hang it: the started shard's
//! graceful shutdown waits for every shard's quiescence, which a shard that
//! never ran cannot give. Found with RLIMIT_MEMLOCK between one shard's
//! rings and two: the process hung with no error printed and ignored
//! SIGTERM. Here shard 1's journal holds a segment of shard 0, so its
//! recovery refuses while shard 0's succeeds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::gateway::{config, Gateway};

/// Only a hung start reaches it.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn a_shard_that_cannot_recover_stops_the_gateway_with_exit_1_while_the_other_started() {
    let dir = Gateway::new_dir();
    let text = config("", &dir);
    let gateway = Gateway::start_config(&dir, &text, None).expect("first start");
    let (exit, _) = gateway.stop();
    assert!(exit.success());
    let journal = dir.join("journal");
    let (shard0, shard1) = (journal.join("shard-0"), journal.join("shard-1"));
    for entry in std::fs::read_dir(&shard1).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "LOCK" {
            std::fs::remove_file(path).unwrap();
        }
    }
    for entry in std::fs::read_dir(&shard0).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "LOCK" {
            std::fs::copy(&path, shard1.join(path.file_name().unwrap())).unwrap();
        }
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_tradsys"))
        .args(["serve", "--config"])
        .arg(dir.join("tradsys.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tradsys");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the gateway hung after shard 1 failed to start:\n{}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("shard 1"),
        "the refusal names the shard:\n{log}"
    );
    assert!(!log.contains(" ready "), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
