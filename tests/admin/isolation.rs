//! A slow or stuck admin thread never stalls a shard. Connections that
//! send half a request hold the admin thread (it serves one connection at
//! a time, each for up to its read timeout); meanwhile clients trade on
//! both shards and every order is answered. The shards, finding no clean
//! histogram back, count missed swaps and keep recording into the
//! histograms they have: once the admin thread is free again, every
//! wire-to-wire time recorded during the stall is in its totals.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

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

/// Holds the admin thread: half a request, never finished.
fn stall(admin: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(admin).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stream
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

    // Each held connection keeps the admin thread for its read timeout
    // (2 s): ten of them, far longer than the trading below.
    let held: Vec<TcpStream> = (0..10).map(|_| stall(admin)).collect();
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
