//! A client written in another language from docs/PROTOCOL.md alone
//! (tests/python/, standard library only; written by writers who never
//! looked at the Rust code, the account-query part (section 5.8) included:
//! rewritten from the doc alone after a first version by the session that
//! wrote the Rust side) runs its
//! conformance checks against the real gateway on the embedded demo
//! configuration. It prints one line per check and `N passed, M failed`;
//! any failure fails this test.

use std::process::Command;

use crate::support::gateway::Gateway;
use tradsys::config::DEFAULT_TOML;

#[test]
fn independent_python_client_passes_its_conformance_checks() {
    run_conformance(false);
}

/// The same checks, every one, over WebSocket order entry (the market-data
/// port's `/trade` path, docs/PROTOCOL.md section 14), plus the checks of
/// what only that transport has (`websocket()` in the script). The client
/// speaks WebSocket through the third-party Python `websockets` package,
/// which `.ci/run` installs: without it this test fails.
#[test]
fn independent_python_client_passes_its_conformance_checks_over_websocket() {
    run_conformance(true);
}

fn run_conformance(websocket: bool) {
    let dir = Gateway::new_dir();
    let config = DEFAULT_TOML
        .replacen(
            "order_entry = \"127.0.0.1:7001\"",
            "order_entry = \"127.0.0.1:0\"",
            1,
        )
        .replacen("admin = \"127.0.0.1:9090\"", "admin = \"127.0.0.1:0\"", 1)
        .replacen(
            "market_data = \"127.0.0.1:7002\"",
            "market_data = \"127.0.0.1:0\"",
            1,
        )
        .replacen("idle = \"spin\"", "idle = \"park\"", 1)
        .replacen(
            "dir = \"./data\"",
            &format!("dir = \"{}\"", dir.join("journal").display()),
            1,
        );
    let gateway = Gateway::start_config(&dir, &config, None).expect("gateway starts");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/conformance.py");
    let mut command = Command::new("python3");
    command.arg(script).env("PYTHONDONTWRITEBYTECODE", "1");
    if websocket {
        command
            .arg("--addr")
            .arg(gateway.md_addr.to_string())
            .arg("--websocket")
            .arg("/trade");
    } else {
        command.arg("--addr").arg(gateway.addr.to_string());
    }
    let output = command
        .output()
        .expect("python3 runs (it is on every machine of this project's kind)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "conformance failed ({}):\n{}\n{}",
        output.status,
        failures.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.lines().last().unwrap_or("").ends_with("0 failed"),
        "{stdout}"
    );
    let checks = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(checks >= 300, "every check ran: {checks} passed");
    // The replay part (PROTOCOL.md 5.9) ran to its last check.
    assert!(
        stdout.contains("ok   replay: ... numbered next"),
        "{stdout}"
    );
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
