//! `tradsys admin ...` against a running gateway: reads print the
//! endpoint's answer, operator controls need the token (from
//! TRADSYS_ADMIN_TOKEN or --token-file) and take effect; the exit status
//! says whether the answer was a success.

use std::net::SocketAddr;
use std::process::{Command, Output};

use crate::http::*;
use crate::support::gateway::*;
use tradsys::engine::RejectReason;
use tradsys::engine::Side::Buy;

fn admin_cli(admin: SocketAddr, args: &[&str], env_token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tradsys"));
    command
        .arg("admin")
        .arg("--addr")
        .arg(admin.to_string())
        .args(args)
        .env_remove("TRADSYS_ADMIN_TOKEN");
    if let Some(token) = env_token {
        command.env("TRADSYS_ADMIN_TOKEN", token);
    }
    command.output().expect("tradsys runs")
}

#[test]
fn admin_command_line_reads_and_controls_a_running_gateway() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gateway = Gateway::start_config(&dir, &admin_config("", &dir, admin, ""), None)
        .expect("gateway starts");
    let ready = admin_cli(admin, &["ready"], None);
    assert!(ready.status.success());
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "ready\n");
    let latency = admin_cli(admin, &["latency", "loop_cycle", "--shard", "0"], None);
    assert!(latency.status.success());
    assert!(String::from_utf8_lossy(&latency.stdout).contains("Percentile"));

    let refused = admin_cli(admin, &["halt", "BTC-USD"], None);
    assert_eq!(refused.status.code(), Some(1), "401 without a token");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("TRADSYS_ADMIN_TOKEN"),
        "a refusal without a token says how to give one"
    );
    let refused = admin_cli(admin, &["halt", "BTC-USD"], Some("viewer-token"));
    assert_eq!(refused.status.code(), Some(1), "403 for a viewer");
    let halted = admin_cli(admin, &["halt", "BTC-USD"], Some(OPS_TOKEN));
    assert!(halted.status.success(), "{:?}", halted);
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 1, Buy, 10_000, 1))
        .unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::SymbolHalted.code());

    let token_file = dir.join("ops.token");
    std::fs::write(&token_file, format!("{OPS_TOKEN}\n")).unwrap();
    let file = token_file.to_str().unwrap();
    // An argument is one value, however it is spelled: encoded, not spliced
    // into the query (a hostile pass resumed symbol 1 with `1&symbol=2`).
    let spliced = admin_cli(admin, &["--token-file", file, "resume", "1&symbol=2"], None);
    assert_eq!(spliced.status.code(), Some(1), "{spliced:?}");
    assert!(
        String::from_utf8_lossy(&spliced.stdout).contains("unknown symbol 1&symbol=2"),
        "{spliced:?}"
    );
    let resumed = admin_cli(admin, &["--token-file", file, "resume", "1"], None);
    assert!(resumed.status.success(), "{:?}", resumed);
    alice
        .new_order(&limit(ALICE, BTC, 2, Buy, 10_000, 1))
        .unwrap();
    accepted(&mut alice);
    drop(alice);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let unreachable = admin_cli(admin, &["health"], None);
    assert_eq!(unreachable.status.code(), Some(2), "nothing listens");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An endpoint that takes the connection and never answers: after its
/// 10 s the command says so, instead of the read's EAGAIN ("Resource
/// temporarily unavailable (os error 11)", found by a hostile pass).
#[test]
fn admin_command_line_says_when_no_answer_came() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepted and held open, unread, until the command is done.
    let holder = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let out = admin_cli(addr, &["health"], None);
    let held = holder.join().unwrap();
    assert!(held.is_ok(), "the command connected");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no answer within 10 s"),
        "the command names the wait it gave up on: {stderr}"
    );
}
