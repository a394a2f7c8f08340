//! Replay on logon (PROTOCOL.md 5.9) driven by a client written from the
//! document alone, in Python (`tests/python/replay_client.py`, standard
//! library only, by a writer who did not read the Rust code): it trades a
//! seeded flow between two accounts on two symbols (one per shard, so two
//! report streams per account), keeps a cursor per stream, and on reconnect
//! asks for replay after each cursor while trading live, merges by the doc's
//! rule and checks no gap, no duplicate, every replayed report equal to the
//! one it saw live, its open orders and positions from the queries (5.8)
//! against the reports, and the documented refusals (beyond the end, unknown
//! stream), and its done orders (5.8 DoneOrdersRequest, all symbols and per
//! symbol, every page) against the orders its reports show filled or
//! canceled. Three cases: the gateway killed with -9 mid-flow and restarted
//! on its journal; a client that disconnects without reading the reports of
//! its last orders, which replay must then deliver; a client that exits
//! without Logout with orders in flight while the gateway stays up.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::gateway::Gateway;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/replay_client.py");

/// The client's command line for `phase` against `gateway`: the accounts
/// and symbols of the test configuration (tests/support/gateway.rs).
fn client(phase: &str, gateway: &Gateway, state: &Path, seed: u32) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(SCRIPT)
        .arg(phase)
        .arg("--addr")
        .arg(gateway.addr.to_string())
        .arg("--state")
        .arg(state)
        .arg("--seed")
        .arg(seed.to_string())
        .args(["--account", "1:alice-token", "--account", "2:bob-token"])
        .args(["--symbol", "1:1:1:10000", "--symbol", "2:5:10:3000"])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    assert!(state.parent().is_some_and(Path::exists));
    command
}

/// Runs a phase to its end: its stdout, after asserting it exited 0 with no
/// `FAIL` line.
fn run(mut command: Command, what: &str) -> String {
    let output = command
        .output()
        .expect("python3 runs (the test fails without it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && !stdout.lines().any(|l| l.starts_with("FAIL")),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The number after `key=` (or `key: `) on the line starting with `prefix`.
fn field(stdout: &str, prefix: &str, key: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{stdout}"));
    let value = line
        .split(key)
        .nth(1)
        .and_then(|rest| {
            rest.trim_start_matches([':', '=', ' '])
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|v| v.parse().ok());
    assert!(value.is_some(), "no {key} in {line:?}");
    value.unwrap()
}

/// The resume's one-line summary, checked: every stream of both accounts
/// replayed, no gap, no duplicate. Returns the number of reports replayed.
fn summary(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("replay: "))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    assert!(line.ends_with(" gaps=0 duplicates=0"), "{line}");
    // two accounts x two shards
    assert_eq!(field(stdout, "replay: ", "streams"), 4, "{line}");
    assert!(field(stdout, "replay: ", "live") > 0, "{line}");
    field(stdout, "replay: ", "replayed")
}

/// The resume's done-orders line (PROTOCOL.md 5.8, DoneOrdersRequest):
/// the client listed done orders through every page of all symbols, each
/// equal to what its reports say (state, reason, quantities, notional,
/// average price, order), listed them per symbol too, got `UnknownSymbol`
/// for a symbol no engine owns, only its own orders from cursors it made
/// up, and its account's other session received none of the answers.
fn done_summary(stdout: &str) {
    let listed = field(stdout, "done: ", "listed");
    assert!(listed > 0, "{stdout}");
    assert_eq!(field(stdout, "done: ", "checked"), listed, "{stdout}");
    assert_eq!(field(stdout, "done: ", "per_symbol"), listed, "{stdout}");
    assert!(field(stdout, "done: ", "pages") > 0, "{stdout}");
    assert!(field(stdout, "done: ", "unknown_symbol") > 0, "{stdout}");
    assert!(field(stdout, "done: ", "requester_only") > 0, "{stdout}");
    // Cursors not made by the gateway listed only the account's own done orders.
    assert!(field(stdout, "done: ", "forged_cursor") > 0, "{stdout}");
}

#[test]
fn python_client_replays_what_it_missed_after_kill_9() {
    let dir = Gateway::new_dir();
    let state = dir.join("client-state.json");
    let gateway = Gateway::start_in(&dir, "").expect("gateway starts");
    let mut trade = client("trade", &gateway, &state, 1);
    trade
        .args(["--kill-point", "400"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = trade
        .spawn()
        .expect("python3 runs (the test fails without it)");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    // The client prints KILL-POINT once it has seen 400 reports (and listed
    // its done orders), and keeps sending orders (up to 32 unanswered) until
    // the gateway is gone.
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap();
        seen.push_str(&line);
        if n == 0 {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("trade ended before its kill point:\n{seen}\n{err}");
        }
        if line.starts_with("KILL-POINT") {
            break;
        }
    }
    gateway.kill();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    seen.push_str(&rest);
    let status = child.wait().unwrap();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(
        status.success() && !seen.lines().any(|l| l.starts_with("FAIL")),
        "trade: {status}\n{seen}\n{err}"
    );
    // Orders were in flight when the gateway died.
    assert!(
        field(&seen, "trade: gateway gone", "in_flight") > 0,
        "{seen}"
    );
    assert!(
        field(&seen, "trade: gateway gone", "reports") >= 400,
        "{seen}"
    );

    let gateway = Gateway::start_in(&dir, "").expect("gateway restarts on its journal");
    let out = run(client("resume", &gateway, &state, 1), "resume");
    summary(&out);
    // After the restart the done orders are rebuilt from the journal (5.8):
    // every one the gateway listed at the kill point is listed the same.
    done_summary(&out);
    let before = field(&seen, "KILL-POINT", "done");
    assert!(before > 0, "{seen}");
    assert_eq!(
        field(&out, "done: ", "kept_after_restart"),
        before,
        "{seen}{out}"
    );
    println!("{seen}{out}");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn python_client_gets_by_replay_the_reports_it_never_read() {
    let dir = Gateway::new_dir();
    let state = dir.join("client-state.json");
    let gateway = Gateway::start_in(&dir, "").expect("gateway starts");
    let mut trade = client("trade", &gateway, &state, 2);
    // 200 orders read as usual, then 10 IOC buys by alice whose reports she
    // never reads (bob's resting sell filling proves they matched), then an
    // abrupt exit without Logout.
    trade.args(["--orders", "200", "--unread", "10"]);
    let seen = run(trade, "trade");
    assert!(
        seen.contains("10 orders sent and never read on account 1"),
        "{seen}"
    );
    // After the mass cancel every order of the flow is done, and listed.
    assert!(field(&seen, "trade: done orders", "checked") > 0, "{seen}");
    let out = run(client("resume", &gateway, &state, 2), "resume");
    let replayed = summary(&out);
    done_summary(&out);
    // Each unread IOC buy made an OrderAccepted and a Fill.
    assert_eq!(field(&out, "missed:", "missed"), 20, "{out}");
    assert!(replayed >= 20, "{out}");
    println!("{seen}{out}");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn python_client_exiting_with_orders_in_flight_resumes_without_gap() {
    let dir = Gateway::new_dir();
    let state = dir.join("client-state.json");
    let gateway = Gateway::start_in(&dir, "").expect("gateway starts");
    let mut trade = client("trade", &gateway, &state, 3);
    // After 300 reports, 8 more orders and an exit without Logout: whatever
    // the gateway made of the orders in flight, the resume finds it by
    // replay and the queries agree with it.
    trade.args(["--exit-after", "300"]);
    let seen = run(trade, "trade");
    assert!(
        field(&seen, "trade: exit without logout", "in_flight") >= 8,
        "{seen}"
    );
    let out = run(client("resume", &gateway, &state, 3), "resume");
    summary(&out);
    done_summary(&out);
    println!("{seen}{out}");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
