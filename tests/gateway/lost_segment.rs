//! A journal that lost its newest segment file to something other than the
//! gateway (found by a hostile operator pass: the start went on without
//! the 221 records of the removed segment, new orders among them, and
//! reused their seqs). The real binary must refuse to start, exit 1 and
//! name the head marker, and start without the segment only when told to
//! cut.

use crate::support::gateway::*;
use crate::support::journal::segment_files;

/// IOC orders through shard 0, each acknowledged (about 900 records fill a
/// 64 KiB segment).
const ORDERS: u64 = 2_500;

#[test]
fn a_start_refuses_a_journal_whose_newest_segment_was_removed() {
    let dir = Gateway::new_dir();
    let text = config("[journal]\nsegment_bytes = 65536\n", &dir);
    let gateway = Gateway::start_config(&dir, &text, None).expect("first start");
    let mut alice = gateway.logon(ALICE);
    for id in 1..=ORDERS {
        ioc_round_trip(&mut alice, ALICE, id);
    }
    drop(alice);
    let (exit, log) = gateway.stop();
    assert!(exit.success(), "{log:?}");
    // A start writes the marker for the newest segment (after a roll-over
    // the spare's thread does, which a stop may have cut short).
    let gateway = Gateway::start_config(&dir, &text, None).expect("second start");
    let (exit, log) = gateway.stop();
    assert!(exit.success(), "{log:?}");

    let shard0 = dir.join("journal").join("shard-0");
    let files = segment_files(&shard0);
    assert!(files.len() >= 3, "{files:?}");
    std::fs::remove_file(files.last().unwrap()).unwrap();

    let serve = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tradsys"))
            .args(["serve", "--config"])
            .arg(dir.join("tradsys.toml"))
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = serve(&[]);
    let log = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{log}");
    assert!(
        log.contains("shard-0/HEAD") && log.contains("segment files were removed"),
        "{log}"
    );
    assert!(!log.contains(" ready "), "{log}");

    // Told to cut, it starts without the segment and says so.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tradsys"));
    let status = command
        .args(["journal", "verify"])
        .arg(dir.join("journal"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "verify reports the corruption");
    let gateway = Gateway::start_env_args(&dir, &text, None, &[], &["--truncate-corrupt-journal"])
        .expect("a start told to cut");
    assert!(
        gateway
            .startup_log
            .iter()
            .any(|l| l.contains("starting without the removed segments")),
        "{:?}",
        gateway.startup_log
    );
    let mut alice = gateway.logon(ALICE);
    ioc_round_trip(&mut alice, ALICE, ORDERS + 1);
    drop(alice);
    let (exit, log) = gateway.stop();
    assert!(exit.success(), "{log:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
