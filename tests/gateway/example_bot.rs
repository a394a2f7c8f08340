//! The example market maker (`examples/market_maker.rs`, the README's bot)
//! against a gateway that stops while it quotes: it ends cleanly, saying
//! why, not with a broken-pipe error (found by a newcomer's run).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::gateway::{config, Gateway};

/// `cargo test` builds the examples beside the test binaries' `deps/`.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} (built by `cargo test`)", path.display());
    path
}

#[test]
fn the_market_maker_ends_cleanly_when_the_gateway_stops() {
    let dir = Gateway::new_dir();
    // The example logs on with the shipped config's demo tokens.
    let text = config("", &dir)
        .replace("\"alice-token\"", "\"alice-demo-token\"")
        .replace("\"bob-token\"", "\"bob-demo-token\"");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    let mut bot = Command::new(example("market_maker"))
        .args([gateway.addr.to_string(), "120".into()])
        .env("MARKET_MAKER_CURSORS", dir.join("market_maker.cursors"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(bot.stdout.take().unwrap());
    let mut printed = String::new();
    // Quoting: its sessions are logged on and it writes every 200 ms.
    while !printed.contains("quoting BTC-USD") {
        assert_ne!(
            out.read_line(&mut printed).unwrap(),
            0,
            "bot ended early: {printed}"
        );
    }
    let (status, _) = gateway.stop();
    assert!(status.success(), "gateway stopped cleanly");
    out.read_to_string(&mut printed).unwrap();
    let mut errors = String::new();
    bot.stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    let exit = bot.wait().unwrap();
    assert!(exit.success(), "bot exit {exit}: {printed}{errors}");
    assert!(
        printed.contains("session ended by the gateway: reason 9")
            || printed.contains("the gateway closed the connection"),
        "the bot says why it ended: {printed}{errors}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
