//! Issue 9, defect 5: memory under connection churn is bounded and goes
//! back to its baseline. Each session's buffers (its send buffer of
//! `send_buffer_bytes`, the writer's swap buffer of the same size, the
//! reader's 64 KiB) are freed when it closes; the process must give that
//! memory back instead of keeping it in the allocator's heap, or repeated
//! connect/disconnect grows the gateway without bound.

use std::time::{Duration, Instant};

use crate::support::gateway::*;

/// Waits until the gateway holds at most `fds` descriptors (its sessions
/// are closed), polling: a fact, not a time.
fn wait_for_fds(pid: u32, fds: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds(pid) > fds {
        assert!(
            Instant::now() < deadline,
            "sessions not closed: {} fds, baseline {fds}",
            open_fds(pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connection_churn_returns_memory_to_its_baseline() {
    // 4 accounts x 16 sessions: 64 sessions at once over two shards, with
    // the production config's 4 MiB send buffers.
    let gateway = Gateway::start_with("max_sessions_per_account = 16\nsend_buffer_bytes = 4194304");
    let pid = gateway.pid();
    // The baseline: one session has come and gone (first-use allocations).
    drop(gateway.logon(ALICE));
    let fds = open_fds(pid) + 1;
    wait_for_fds(pid, fds);
    let baseline = rss_kib(pid);
    let mut peak = baseline;
    let accounts = [ALICE, BOB, CAROL, VIEWER];
    for round in 0..20 {
        let mut sessions = Vec::new();
        for i in 0..64 {
            let account = accounts[i % accounts.len()];
            let mut client = gateway.logon(account);
            // Some traffic through each session's buffers.
            client.heartbeat().unwrap();
            sessions.push(client);
        }
        peak = peak.max(rss_kib(pid));
        drop(sessions);
        wait_for_fds(pid, fds);
        eprintln!(
            "round {round}: rss {} KiB after close (baseline {baseline}, peak {peak})",
            rss_kib(pid)
        );
    }
    assert_back_to_baseline(pid, baseline, peak);
}

#[test]
fn churn_of_connections_that_never_log_on_returns_memory_to_its_baseline() {
    // All 400 from one address may wait at once (the default allows 32
    // per address on each shard): the churn is of held connections.
    let gateway =
        Gateway::start_with("send_buffer_bytes = 4194304\nmax_prelogon_connections_per_ip = 400");
    let pid = gateway.pid();
    drop(gateway.logon(ALICE));
    let fds = open_fds(pid) + 1;
    wait_for_fds(pid, fds);
    let baseline = rss_kib(pid);
    let mut peak = baseline;
    for round in 0..10 {
        let mut sockets = Vec::new();
        for _ in 0..400 {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(gateway.addr).unwrap();
            let _ = s.write_all(&[56, 0, 1]); // part of a Logon header
            sockets.push(s);
        }
        // Every connection has been accepted (or refused) by now.
        let deadline = Instant::now() + Duration::from_secs(20);
        while open_fds(pid) < fds + 200 {
            assert!(Instant::now() < deadline, "connections not accepted");
            std::thread::sleep(Duration::from_millis(10));
        }
        peak = peak.max(rss_kib(pid));
        drop(sockets);
        wait_for_fds(pid, fds);
        eprintln!(
            "round {round}: rss {} KiB after close (baseline {baseline}, peak {peak})",
            rss_kib(pid)
        );
    }
    assert_back_to_baseline(pid, baseline, peak);
}

/// RSS comes back within 8 MiB of the baseline: polled for up to 15 s,
/// because the gateway gives freed memory back every 5 s.
fn assert_back_to_baseline(pid: u32, baseline: u64, peak: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let after = rss_kib(pid);
        if after <= baseline + 8 * 1024 {
            eprintln!("baseline {baseline} KiB, peak {peak} KiB, after churn {after} KiB");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "memory not returned after churn: baseline {baseline} KiB, after {after} KiB (peak {peak} KiB)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
