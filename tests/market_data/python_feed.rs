//! A client written from `docs/MARKET_DATA.md` alone on the third-party
//! Python `websockets` library (installed by `.ci/run`), against the real
//! binary: it places orders over order entry (`tests/python/tradsys_client.py`),
//! rebuilds the book from snapshot + increments, checks every sequence and
//! checksum, and that the trades on the feed are its fills. A missing
//! `websockets` fails the test (it never skips).

use std::process::Command;

use crate::support::gateway::Gateway;

/// Runs a checker script against `gateway`; it prints `N passed, M failed`.
pub fn run_checker(program: &str, script: &str, gateway: &Gateway) {
    let output = Command::new(program)
        .arg(script)
        .arg("--oe")
        .arg(gateway.addr.to_string())
        .arg("--md")
        .arg(gateway.md_addr.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.lines().last().unwrap_or("").ends_with(" 0 failed"),
        "{script} failed ({}):\n{stdout}\n{stderr}\n(its third-party client library is installed by .ci/run)",
        output.status
    );
}

#[test]
fn python_websockets_client_rebuilds_the_book_and_sees_every_trade() {
    let gateway = Gateway::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/md_feed_check.py");
    run_checker("python3", script, &gateway);
}
