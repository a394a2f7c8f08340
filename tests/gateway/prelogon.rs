//! Connections that have not logged on, through the real binary: they are
//! bounded apart from sessions (per shard and per peer address), take no
//! trading-session slot, and a flood of them locks nobody out.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use socket2::{Domain, Socket, Type};
use tradsys::client::{Client, ClientError, Received};
use tradsys::engine::*;
use tradsys::protocol::*;

/// Raises this process's RLIMIT_NOFILE soft limit to its hard limit
/// (gateways started afterwards inherit it); returns the new limit.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads and sets this process's own limits from a local.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// A non-blocking connect from `source` (any loopback address: the
/// flood comes from another address than the traders).
fn connect_from(source: &str, to: SocketAddr) -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    match socket.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => panic!("connect from {source}: {e}"),
    }
    socket
}

const FLOOD: usize = 5_000;
/// `max_prelogon_connections_per_ip` in the flood test, on each of the two
/// shards.
const PER_IP: usize = 32;

/// What the flood connections were told: LogonRejected first (refused at
/// accept), something else, or nothing yet (held, waiting to log on).
#[derive(Debug, Default)]
struct FloodOutcome {
    refused: usize,
    other: usize,
    silent: usize,
}

/// Reads whatever each still-silent socket has now, without waiting.
fn classify(sockets: &[Socket], told: &mut [Option<bool>]) {
    for (socket, told) in sockets.iter().zip(told.iter_mut()) {
        if told.is_some() {
            continue;
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
        match socket.recv(&mut buf) {
            // The byte after the 2-byte length is the message type.
            Ok(n) if n >= 3 => {
                // SAFETY: recv initialised the first n bytes.
                let msg_type = unsafe { buf[2].assume_init() };
                *told = Some(msg_type == msg_type::LOGON_REJECTED);
            }
            Ok(_) => *told = Some(false),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => *told = Some(false),
        }
    }
}

#[test]
fn a_flood_of_connections_that_never_log_on_locks_nobody_out() {
    let fd_limit = raise_fd_limit();
    assert!(
        fd_limit > 2 * FLOOD as u64,
        "RLIMIT_NOFILE hard limit {fd_limit} is too low"
    );
    let gateway = Gateway::start_with(&format!("max_prelogon_connections_per_ip = {PER_IP}"));
    let mut alice = gateway.logon(ALICE);
    alice
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    ioc_round_trip(&mut alice, ALICE, 1);
    let baseline_fds = gateway.fd_count();
    let baseline_rss = rss_kib(gateway.pid());

    // The flood: 5,000 connects from 127.0.0.2 that never send a byte,
    // held open until the test is done with them. Once all are issued it
    // watches what they are told until all but the held ones are refused.
    let issued = Arc::new(AtomicUsize::new(0));
    let settled = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let flood = {
        let (issued, settled, release) = (
            Arc::clone(&issued),
            Arc::clone(&settled),
            Arc::clone(&release),
        );
        let addr = gateway.addr;
        std::thread::spawn(move || {
            let mut sockets = Vec::with_capacity(FLOOD);
            for _ in 0..FLOOD {
                sockets.push(connect_from("127.0.0.2", addr));
                issued.fetch_add(1, Ordering::Release);
            }
            let mut told = vec![None; FLOOD];
            while !release.load(Ordering::Acquire) {
                classify(&sockets, &mut told);
                if told.iter().filter(|t| t.is_some()).count() >= FLOOD - 2 * PER_IP {
                    settled.store(true, Ordering::Release);
                }
                std::thread::park_timeout(Duration::from_millis(10));
            }
            let outcome = FloodOutcome {
                refused: told.iter().filter(|&&t| t == Some(true)).count(),
                other: told.iter().filter(|&&t| t == Some(false)).count(),
                silent: told.iter().filter(|t| t.is_none()).count(),
            };
            drop(sockets);
            outcome
        })
    };

    // The trader trades all along; halfway through, Bob logs on fresh.
    let started = Instant::now();
    let mut trips = 0u64;
    let mut slowest = Duration::ZERO;
    let mut peak_fds = 0;
    let mut peak_rss = 0;
    let mut bob: Option<(Client, Duration)> = None;
    while !settled.load(Ordering::Acquire) || bob.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the flood did not settle in 10 s ({} issued)",
            issued.load(Ordering::Acquire)
        );
        trips += 1;
        slowest = slowest.max(ioc_round_trip(&mut alice, ALICE, 1 + trips));
        peak_fds = peak_fds.max(gateway.fd_count());
        peak_rss = peak_rss.max(rss_kib(gateway.pid()));
        if bob.is_none() && issued.load(Ordering::Acquire) >= FLOOD / 2 {
            let t = Instant::now();
            let mut client = gateway.connect();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            // A 30 s heartbeat: Bob waits idle until the flood settles.
            match client.logon(BOB, token(BOB), 30_000, false) {
                Ok(_) => bob = Some((client, t.elapsed())),
                Err(e) => panic!(
                    "Bob's logon during the flood ({} connects issued): {e}",
                    issued.load(Ordering::Acquire)
                ),
            }
        }
        std::thread::sleep(Duration::from_millis(2)); // pacing the trader
    }
    let (mut bob, bob_logon) = bob.expect("Bob logged on during the flood");
    bob.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    ioc_round_trip(&mut bob, BOB, 1);
    println!(
        "flood of {FLOOD} settled in {:?}; {trips} trader round trips, slowest {slowest:?}; \
         Bob's logon took {bob_logon:?}; gateway fds {baseline_fds} -> peak {peak_fds}, \
         RSS {baseline_rss} -> peak {peak_rss} KiB",
        started.elapsed()
    );

    // The flood goes away: the gateway's fds come back to the baseline
    // (plus Bob's two).
    release.store(true, Ordering::Release);
    flood.thread().unpark();
    let outcome = flood.join().unwrap();
    println!("flood outcome: {outcome:?}");
    // Exactly the per-address bound held on each shard; every other
    // connection refused at once with LogonRejected(SessionLimit).
    assert_eq!(outcome.refused, FLOOD - 2 * PER_IP, "{outcome:?}");
    assert_eq!(outcome.silent, 2 * PER_IP, "{outcome:?}");
    assert_eq!(outcome.other, 0, "{outcome:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway.fd_count() > baseline_fds + 2 {
        assert!(
            Instant::now() < deadline,
            "gateway fds still {} (baseline {baseline_fds} + Bob's 2) 10 s after the flood closed",
            gateway.fd_count()
        );
        std::thread::sleep(Duration::from_millis(10)); // between polls of /proc
    }
    ioc_round_trip(&mut alice, ALICE, 1 + trips + 1);

    let (status, log) = gateway.stop();
    assert!(status.success());
    let refusal_lines = log
        .iter()
        .filter(|l| l.contains("refused") && l.contains("peer=127.0.0.2"))
        .count();
    println!("{refusal_lines} refusal lines naming 127.0.0.2");
    for line in log
        .iter()
        .filter(|l| l.contains("shard stopped") || l.contains("summary"))
    {
        println!("{line}");
    }
    // Bounded connections that have not logged on: a few dozen held at
    // a time, not hundreds (each cost two fds before).
    assert!(
        peak_fds < baseline_fds + 200,
        "gateway fds peaked at {peak_fds} (baseline {baseline_fds})"
    );
    assert!(
        peak_rss < baseline_rss + 16 * 1024,
        "RSS grew from {baseline_rss} to {peak_rss} KiB"
    );
    // Refusals are logged with the peer, but about once a second.
    assert!(
        refusal_lines >= 1,
        "no refusal logged with the peer address"
    );
    assert!(refusal_lines < 40, "{refusal_lines} refusal lines");
}

/// The test configuration on one shard (so that session slots are
/// deterministic), with `session` lines added to `[session]`.
fn one_shard(dir: &std::path::Path, session: &str) -> String {
    config(session, dir)
        .replace("cores = [0, 1]", "cores = [0]")
        .replace("shard = 1", "shard = 0")
}

fn logon_refused(client: &mut Client, account: AccountId, token: &[u8]) -> u16 {
    match client.logon(account, token, 0, false) {
        Err(ClientError::LogonRefused(Received::LogonRejected(m))) => m.reason.get(),
        other => panic!("expected LogonRejected, got {other:?}"),
    }
}

#[test]
fn a_connection_takes_a_session_slot_only_at_a_valid_logon() {
    let dir = Gateway::new_dir();
    let gateway = Gateway::start_config(&dir, &one_shard(&dir, "max_sessions_per_shard = 2"), None)
        .expect("gateway starts");
    let base = gateway.fd_count();
    // Ten connections that never log on. One shard accepts in the order
    // the connections were made: these come before the logons below.
    let idle: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(gateway.addr).unwrap())
        .collect();
    // Both session slots are still free for real logons.
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    alice.heartbeat().unwrap();
    bob.heartbeat().unwrap();
    // The idle ones are all held, at one fd each; a session has two.
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway.fd_count() != base + idle.len() + 2 * 2 {
        assert!(
            Instant::now() < deadline,
            "gateway fds {} (base {base}), not 10 idle + 2 sessions",
            gateway.fd_count()
        );
        std::thread::sleep(Duration::from_millis(1)); // between polls of /proc
    }
    // The table is full: in the order of PROTOCOL.md 5.1, bad credentials
    // first, then the session limit.
    let mut carol = gateway.connect();
    assert_eq!(
        logon_refused(&mut carol, CAROL, b"wrong-token"),
        LogonRejectReason::InvalidCredentials.code()
    );
    let mut carol = gateway.connect();
    assert_eq!(
        logon_refused(&mut carol, CAROL, token(CAROL)),
        LogonRejectReason::SessionLimit.code()
    );
    // A slot freed by a logout is taken by the next valid logon.
    alice.logout().unwrap();
    let (reason, _) = session_end(&mut alice);
    assert_eq!(reason, SessionEndReason::Logout.code());
    drop(alice);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut carol = loop {
        let mut carol = gateway.connect();
        match carol.logon(CAROL, token(CAROL), 0, false) {
            Ok(_) => break carol,
            // Alice's slot is freed once her connection is closed.
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => panic!("Carol's logon after Alice's logout: {e}"),
        }
    };
    carol.heartbeat().unwrap();
    drop(idle);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A blocking client connected from `source` (a loopback address).
fn client_from(source: &str, to: SocketAddr) -> Client {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let client = Client::from_stream(socket.into()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
}

/// Refused as it was accepted: LogonRejected(SessionLimit), then
/// SessionEnd(LogonRejected), then the close, without sending anything.
fn refused_at_accept(client: &mut Client) {
    match client.recv() {
        Ok(Received::LogonRejected(m)) => {
            assert_eq!(m.reason.get(), LogonRejectReason::SessionLimit.code())
        }
        other => panic!("expected LogonRejected, got {other:?}"),
    }
    let (reason, _) = session_end(client);
    assert_eq!(reason, SessionEndReason::LogonRejected.code());
    assert!(matches!(
        client.recv(),
        Err(ClientError::Closed) | Err(ClientError::Io(_))
    ));
}

/// Polls the gateway's fd count until it is `want`.
fn fds_become(gateway: &Gateway, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway.fd_count() != want {
        assert!(
            Instant::now() < deadline,
            "gateway fds {}, not {want}",
            gateway.fd_count()
        );
        std::thread::sleep(Duration::from_millis(1)); // between polls of /proc
    }
}

#[test]
fn connections_waiting_to_log_on_are_bounded_per_address_and_per_shard() {
    let dir = Gateway::new_dir();
    let limits = "max_prelogon_connections_per_shard = 6\n\
                  max_prelogon_connections_per_ip = 4\n\
                  logon_timeout_ms = 60000";
    let gateway =
        Gateway::start_config(&dir, &one_shard(&dir, limits), None).expect("gateway starts");
    let base = gateway.fd_count();
    // Four wait from 127.0.0.1, one fd each; the fifth is refused.
    let mut local: Vec<Client> = (0..4)
        .map(|_| client_from("127.0.0.1", gateway.addr))
        .collect();
    fds_become(&gateway, base + 4);
    refused_at_accept(&mut client_from("127.0.0.1", gateway.addr));
    // Another address gets the two places left on the shard, no more.
    let mut other: Vec<Client> = (0..2)
        .map(|_| client_from("127.0.0.2", gateway.addr))
        .collect();
    fds_become(&gateway, base + 6);
    refused_at_accept(&mut client_from("127.0.0.3", gateway.addr));
    // A waiting connection that logs on leaves the bound: its place is
    // free again.
    local[0]
        .logon(ALICE, token(ALICE), 30_000, false)
        .expect("a waiting connection logs on");
    other.push(client_from("127.0.0.3", gateway.addr));
    fds_become(&gateway, base + 6 + 2);
    refused_at_accept(&mut client_from("127.0.0.3", gateway.addr));

    // Shutdown tells the waiting connections too.
    let (status, log) = gateway.stop();
    assert!(status.success());
    for client in local.iter_mut().chain(other.iter_mut()) {
        let (reason, _) = session_end(client);
        assert_eq!(reason, SessionEndReason::Shutdown.code());
    }
    // The refusals are logged with the peer and the bound.
    for (peer, what) in [
        ("127.0.0.1", "its address has its maximum"),
        ("127.0.0.3", "the shard holds its maximum"),
    ] {
        assert!(
            log.iter()
                .any(|l| l.contains(what) && l.contains(&format!("peer={peer}:"))),
            "no '{what}' line for {peer}:\n{}",
            log.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
