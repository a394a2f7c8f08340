//! `tradsys-bench replay`: replay on logon (PROTOCOL.md 5.9) against a
//! gateway it starts on `--gateway-config` (one shard, so every session
//! is on the replaying core). Account 1 first makes `--orders` IOC orders
//! that never trade (an accept and a cancel each: two reports); then a
//! second session of account 1 asks for its stream from 0 and reads the
//! replay to `ReplayDone` (replay throughput, reports/s, from the request
//! to `ReplayDone`), while account 2 ping-pongs IOC orders on the same
//! core: its round trips during the replay beside the same ping-pong with
//! no replay running, in the same run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tradsys::client::{Client, Received};
use tradsys::engine::*;
use tradsys::protocol::NewOrderMsg;

use crate::gateway_process::ServerProcess;
use crate::report::{histogram, Figure, Unit};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The gateway's configuration (one shard; accounts 1 and 2 with
    /// token `bench-token`, symbol 1 with a band that holds `--price`).
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    /// Orders of account 1 before the replay: two reports each.
    #[arg(long, default_value_t = 250_000)]
    pub orders: u64,
    /// Round trips of account 2 with no replay running (and at most as
    /// many during the replay).
    #[arg(long, default_value_t = 20_000)]
    pub pings: u64,
    /// IOC limit price: at the bottom of the band, so nothing trades.
    #[arg(long, default_value_t = 4_500_000)]
    pub price: i64,
    /// Core to pin the replaying client to.
    #[arg(long, default_value_t = 1)]
    pub core: usize,
}

fn ioc(account: AccountId, id: u64, price: Price) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account,
        symbol: 1,
        client_order_id: id,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: None,
        price,
        qty: 1,
    })
}

fn logon(addr: SocketAddr, account: AccountId) -> Client {
    let mut client = Client::connect(addr).expect("connect to the gateway");
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client
        .logon(account, b"bench-token", 30_000, false)
        .expect("logon (is the gateway on configs/bench.toml?)");
    client
}

/// Account 1's `orders` IOCs, pipelined; returns when all are answered.
fn fill(addr: SocketAddr, args: &ReplayArgs) {
    let mut writer = logon(addr, 1);
    let mut reader = writer.try_clone_for_reading();
    let expected = 2 * args.orders;
    let counting = std::thread::spawn(move || {
        let mut reports = 0;
        while reports < expected {
            if reader.recv().unwrap().report_number().is_some() {
                reports += 1;
            }
        }
    });
    for id in 1..=args.orders {
        writer.queue(&ioc(1, id, args.price)).unwrap();
        if id % 256 == 0 {
            writer.flush().unwrap();
        }
    }
    writer.flush().unwrap();
    counting.join().unwrap();
}

/// Account 2's round trips (send to OrderCanceled, the IOC's last report)
/// until `pings` or until `stop` is set.
fn ping_pong(bob: &mut Client, pings: u64, price: Price, stop: &AtomicBool) -> Histogram<u64> {
    let mut rtt = histogram();
    let mut id = 0;
    while id < pings && !stop.load(Ordering::Relaxed) {
        id += 1;
        let sent = Instant::now();
        bob.send(&ioc(2, id, price)).unwrap();
        loop {
            match bob.recv().expect("the gateway answers") {
                Received::OrderCanceled(_) => break,
                Received::OrderAccepted(_) | Received::Heartbeat(_) => {}
                other => panic!("unexpected answer {other:?}"),
            }
        }
        rtt.record(sent.elapsed().as_nanos() as u64).unwrap();
    }
    rtt
}

/// Reads a replay of account 1's stream 0 from the start to `ReplayDone`:
/// (reports replayed, seconds).
fn replay(addr: SocketAddr) -> (u64, f64) {
    let mut alice = logon(addr, 1);
    let start = Instant::now();
    alice.replay(0, 0).unwrap();
    let mut replayed = 0;
    loop {
        match alice.recv().expect("the replay arrives") {
            Received::ReplayDone(done) => {
                assert_eq!(done.reject_reason.get(), 0, "replay refused: {done:?}");
                assert_eq!(done.count.get(), replayed, "every report counted");
                return (replayed, start.elapsed().as_secs_f64());
            }
            received if received.report_number().is_some() => replayed += 1,
            _ => {}
        }
    }
}

pub fn run(args: &ReplayArgs) -> Vec<Figure> {
    crate::gateway_process::require_config(&args.gateway_config);
    let gateway = ServerProcess::start(&args.gateway_config);
    let pinned = crate::report::pin(args.core);
    fill(gateway.addr, args);
    let mut bob = logon(gateway.addr, 2);
    let never = AtomicBool::new(false);
    ping_pong(&mut bob, args.pings / 4, args.price, &never); // warm-up
    let idle = ping_pong(&mut bob, args.pings, args.price, &never);

    let done = Arc::new(AtomicBool::new(false));
    let bob_done = Arc::clone(&done);
    let (pings, price) = (args.pings, args.price);
    let during = std::thread::spawn(move || ping_pong(&mut bob, pings, price, &bob_done));
    let (replayed, seconds) = replay(gateway.addr);
    done.store(true, Ordering::Relaxed);
    let during = during.join().unwrap();
    println!(
        "replay: {replayed} reports of one session in {seconds:.3} s (client pinned to core {}: {pinned}); \
         the live session made {} round trips meanwhile, {} with no replay",
        args.core,
        during.len(),
        idle.len()
    );
    vec![
        Figure::rate("replay throughput", replayed as f64 / seconds, "reports").print(),
        Figure::latency("live round trip, no replay", &idle, Unit::Us).print(),
        Figure::latency("live round trip, during a replay", &during, Unit::Us).print(),
    ]
}
