//! A slow or stuck admin thread never stalls a shard. The admin thread is
//! stopped (ptrace stops that one thread, as a hung disk under its
//! interval log or a starved core would hold it); meanwhile clients trade
//! on both shards and every order is answered. The shards, finding no clean
//! histogram back, count missed swaps and keep recording into the
//! histograms they have: once the admin thread is free again, every
//! wire-to-wire time recorded during the stall is in its totals.

use std::net::SocketAddr;

use crate::http::*;
use crate::support::gateway::*;
use tradsys::engine::Side::{Buy, Sell};

const ROUNDS: u64 = 100;

fn missed_swaps(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("tradsys_latency_swaps_missed_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn wire_to_wire(stats: &str) -> u64 {
    stage_count(stats, 0, "wire_to_wire") + stage_count(stats, 1, "wire_to_wire")
}

/// One thread of the gateway, stopped under ptrace until dropped (the
/// rest of the process runs on).
struct StoppedThread(libc::pid_t);

impl StoppedThread {
    /// Stops thread `tid`; `None` when this process may not trace it.
    fn stop(tid: libc::pid_t) -> Option<StoppedThread> {
        // SAFETY: plain ptrace and waitpid calls on a thread id; no memory
        // is passed.
        unsafe {
            if libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) != 0 {
                return None;
            }
            assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0), 0);
            let mut status = 0;
            assert_eq!(libc::waitpid(tid, &mut status, libc::__WALL), tid);
            assert!(libc::WIFSTOPPED(status), "thread {tid} stopped");
        }
        Some(StoppedThread(tid))
    }
}

impl Drop for StoppedThread {
    fn drop(&mut self) {
        // SAFETY: as in `stop`; detaching resumes the thread.
        unsafe {
            libc::ptrace(libc::PTRACE_DETACH, self.0, 0, 0);
        }
    }
}

/// The id of the gateway's thread named `name`.
fn thread_named(pid: u32, name: &str) -> libc::pid_t {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| task.unwrap().file_name().into_string().unwrap())
        .find(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .unwrap_or_else(|| panic!("no thread named {name}"))
        .parse()
        .unwrap()
}

#[test]
fn trading_goes_on_while_the_admin_thread_is_stuck() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config("", &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    let before = get(admin, "/stats");
    assert_eq!(wire_to_wire(&before.body), 0);
    // Normally none (the admin thread returns each histogram within a
    // quarter interval), but a busy test machine may delay it.
    let missed_before = missed_swaps(&get(admin, "/metrics").body);

    // The admin thread stopped until `held` is dropped.
    let Some(held) = StoppedThread::stop(thread_named(gateway.pid(), "admin")) else {
        println!("SKIPPED: this test needs to ptrace the gateway's admin thread (same user, no Yama or seccomp restriction), and may not here");
        let _ = gateway.stop();
        return;
    };
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    for i in 0..ROUNDS {
        for (symbol, price, qty) in [(BTC, 10_000, 1), (ETH, 3_005, 10)] {
            alice
                .new_order(&limit(ALICE, symbol, i, Sell, price, qty))
                .unwrap();
            accepted(&mut alice);
            bob.new_order(&limit(BOB, symbol, i, Buy, price, qty))
                .unwrap();
            accepted(&mut bob);
            fill(&mut bob);
            fill(&mut alice);
        }
    }
    // Every order was answered while the admin thread was stuck. Freed, it
    // shows the shards went on without it: swaps were missed, and nothing
    // recorded meanwhile was lost.
    drop(held);
    let metrics = poll_until(admin, "/metrics", |a| missed_swaps(&a.body) > missed_before);
    assert!(missed_swaps(&metrics.body) > missed_before);
    poll_until(admin, "/stats", |a| wire_to_wire(&a.body) >= ROUNDS * 4);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
