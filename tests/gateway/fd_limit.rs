//! The real binary at its file-descriptor limit (RLIMIT_NOFILE, set on
//! the running child with prlimit). There `accept` fails with EMFILE at
//! once, every time, until an fd is freed. The gateway must back off
//! instead of spinning, log the failure at most about once a second, keep
//! answering logged-on sessions, stop on SIGTERM, and accept again once the
//! idle clients have gone. Both parities of the fd budget are run, so the
//! count lands exactly on the limit whatever a connection costs.

use std::collections::HashSet;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use tradsys::client::Client;
use tradsys::engine::*;

const GRACE_MS: u64 = 1_000;
/// How long the gateway is held at the limit while the trader trades.
const AT_LIMIT: Duration = Duration::from_secs(3);

/// Descriptor numbers below `limit` the gateway can still open. The
/// limit bounds fd *numbers*, not their count (the gateway inherits a few
/// high-numbered fds from the test harness, and has holes).
fn free_below(gateway: &Gateway, limit: usize) -> usize {
    limit - gateway.fds().iter().filter(|&&fd| fd < limit).count()
}

/// What each of the gateway's fds is (for a failure message).
fn describe_fds(gateway: &Gateway) -> String {
    let mut fds = gateway.fds();
    fds.sort_unstable();
    fds.iter()
        .map(|fd| {
            let target = std::fs::read_link(format!("/proc/{}/fd/{fd}", gateway.pid()))
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            format!("{fd} -> {target}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lowest limit that leaves the gateway exactly `spare` fds to open.
fn limit_with_spare(gateway: &Gateway, spare: usize) -> usize {
    let fds = gateway.fds();
    (0..)
        .find(|&limit| limit - fds.iter().filter(|&&fd| fd < limit).count() == spare)
        .unwrap()
}

/// The gateway's sockets (connections, listeners, doorbells), by inode.
/// A new connection shows here as a new inode; other fds come and go on
/// their own (the journal creates its next segment in the background),
/// and a session may close meanwhile: counts would mislead, names do not.
fn sockets(gateway: &Gateway) -> HashSet<String> {
    let pid = gateway.pid();
    gateway
        .fds()
        .iter()
        .filter_map(|fd| {
            let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            let target = target.to_string_lossy().into_owned();
            target.starts_with("socket:").then_some(target)
        })
        .collect()
}

/// Opens idle connections (never logging on) until the gateway can open
/// no more fds. Each one is waited for: its socket must appear in the
/// gateway before the next is opened.
fn fill_to_limit(gateway: &Gateway, limit: usize, idle: &mut Vec<TcpStream>) {
    while free_below(gateway, limit) > 0 {
        let before = sockets(gateway);
        idle.push(TcpStream::connect(gateway.addr).unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        while sockets(gateway).is_subset(&before) {
            assert!(
                Instant::now() < deadline,
                "the gateway did not accept a connection with {} fds left:\n{}",
                free_below(gateway, limit),
                describe_fds(gateway)
            );
            std::thread::sleep(Duration::from_millis(1)); // between polls of /proc
        }
    }
    assert_eq!(
        free_below(gateway, limit),
        0,
        "every fd under the limit in use"
    );
}

/// Logged on with the longest heartbeat interval (30 s): a session that
/// waits while the test fills the fd table must not end by IdleTimeout.
fn logon_for_long(gateway: &Gateway, account: AccountId) -> Client {
    let mut client = gateway.connect();
    client
        .logon(account, token(account), 30_000, false)
        .expect("logon accepted");
    client
}

/// The `suppressed=N` field of a rate-limited log line (0 without one).
fn suppressed(line: &str) -> u64 {
    line.split("suppressed=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn at_the_fd_limit(spare: usize) {
    let gateway = Gateway::start_with(&format!("[server]\nshutdown_grace_ms = {GRACE_MS}\n"));
    let mut trader = logon_for_long(&gateway, ALICE);
    trader
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    ioc_round_trip(&mut trader, ALICE, 1);
    let limit = limit_with_spare(&gateway, spare);
    gateway.set_fd_limit(limit as u64);
    let mut idle = Vec::new();
    fill_to_limit(&gateway, limit, &mut idle);
    // Two more wait in the listen backlog: the gateway cannot take them.
    let waiting: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(gateway.addr).unwrap())
        .collect();

    // At the limit: the trader is answered all along.
    let start = Instant::now();
    let mut trips = 0u64;
    let mut slowest = Duration::ZERO;
    while start.elapsed() < AT_LIMIT {
        trips += 1;
        slowest = slowest.max(ioc_round_trip(&mut trader, ALICE, 1 + trips));
        // Paced: the journal needs an fd to roll over to a new segment,
        // which it cannot get here (orders would be refused with
        // JournalUnavailable); a few hundred orders stay in the first one.
        std::thread::sleep(Duration::from_millis(5));
    }
    let log = gateway.log_lines();
    let failures: Vec<&String> = log.iter().filter(|l| l.contains("accept failed")).collect();
    let attempts: u64 = failures.iter().map(|l| 1 + suppressed(l)).sum();
    println!(
        "spare {spare}: {trips} round trips at the limit, slowest {slowest:?}; \
         {} 'accept failed' lines for {attempts} failed accepts",
        failures.len()
    );
    assert!(
        !failures.is_empty() && failures[0].contains("Too many open files"),
        "the gateway never reported EMFILE: the test did not reach the limit"
    );
    assert!(
        failures.len() < 20,
        "{} 'accept failed' lines in {AT_LIMIT:?}",
        failures.len()
    );
    // Backing off (at most 100 ms between tries) rather than only
    // muting the log: a few dozen attempts, not hundreds of thousands.
    assert!(attempts < 200, "{attempts} failed accepts in {AT_LIMIT:?}");
    assert_eq!(free_below(&gateway, limit), 0);

    // The idle clients go: a new logon gets in and trades.
    drop(idle);
    drop(waiting);
    let mut bob = logon_for_long(&gateway, BOB);
    bob.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    ioc_round_trip(&mut bob, BOB, 1);
    // Every closed client's fd is back (the two that waited in the
    // backlog are accepted and closed late): the budget minus Bob's.
    let deadline = Instant::now() + Duration::from_secs(5);
    while free_below(&gateway, limit) != spare - 2 {
        assert!(
            Instant::now() < deadline,
            "{} fds free after the idle clients closed, not {}",
            free_below(&gateway, limit),
            spare - 2
        );
        std::thread::sleep(Duration::from_millis(1)); // between polls of /proc
    }

    // Back at the limit, SIGTERM still stops it, cleanly and in time.
    let mut idle = Vec::new();
    fill_to_limit(&gateway, limit, &mut idle);
    let deadline = Duration::from_millis(GRACE_MS) + Duration::from_secs(3);
    let (status, log) = gateway.stop_within(deadline).unwrap_or_else(|log| {
        panic!(
            "still running {deadline:?} after SIGTERM at the fd limit:\n{}",
            tail(&log)
        )
    });
    assert!(status.success(), "exit {status:?}:\n{}", tail(&log));
    drop(idle);
}

/// The last lines of a log (a spinning gateway writes millions).
fn tail(log: &[String]) -> String {
    log[log.len().saturating_sub(30)..].join("\n")
}

#[test]
fn at_the_fd_limit_with_an_even_budget() {
    at_the_fd_limit(20);
}

#[test]
fn at_the_fd_limit_with_an_odd_budget() {
    at_the_fd_limit(21);
}
