//! `tradsys-bench gateway`: against a running gateway, a ping-pong (one
//! order in flight: round-trip latency from send to OrderAccepted) and a
//! pipelined burst (up to `depth` orders in flight: throughput).
//!
//! Orders are IOC buys priced at the bottom of the band, so they never
//! trade: each is answered by OrderAccepted then OrderCanceled, and the book
//! stays empty. This is the simple first cut of the load generator; the
//! open-loop, coordinated-omission-corrected one is `orders` (issue 5).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tradsys::client::{Client, Received};
use tradsys::engine::*;
use tradsys::protocol::NewOrderMsg;

use crate::report::{histogram, Figure, Unit};

#[derive(clap::Args)]
pub struct GatewayArgs {
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub addr: String,
    #[arg(long, default_value_t = 1)]
    pub account: u32,
    #[arg(long, default_value = "bench-token")]
    pub token: String,
    #[arg(long, default_value_t = 1)]
    pub symbol: u32,
    /// Limit price of the IOC orders: at or below the best bid, so they
    /// never trade (default: the bottom of the demo BTC-USD band).
    #[arg(long, default_value_t = 4_500_000)]
    pub price: i64,
    /// Round trips measured (after as many again of warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub pings: u64,
    /// Orders in the pipelined burst.
    #[arg(long, default_value_t = 1_000_000)]
    pub burst: u64,
    /// Orders in flight during the burst.
    #[arg(long, default_value_t = 256)]
    pub depth: u64,
    /// Core to pin the client to.
    #[arg(long, default_value_t = 1)]
    pub core: usize,
}

fn order(args: &GatewayArgs, client_order_id: u64) -> NewOrderMsg {
    NewOrderMsg::from_order(&NewOrder {
        account: args.account,
        symbol: args.symbol,
        client_order_id,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: None,
        price: args.price,
        qty: 1,
    })
}

/// Reads until the order's final report (OrderCanceled); returns the time
/// OrderAccepted arrived.
fn complete_one(client: &mut Client) -> Instant {
    let mut accepted_at = None;
    loop {
        match client.recv().expect("gateway answers") {
            Received::OrderAccepted(_) => accepted_at = Some(Instant::now()),
            Received::OrderCanceled(_) => return accepted_at.expect("accepted before canceled"),
            Received::Heartbeat(_) => {}
            other => {
                panic!("unexpected answer {other:?} (is the gateway running configs/bench.toml?)")
            }
        }
    }
}

/// `pings` round trips after as many of warm-up, one order in flight: the
/// distribution of send -> OrderAccepted, in nanoseconds.
pub fn ping_pong(client: &mut Client, args: &GatewayArgs, pings: u64) -> Histogram<u64> {
    let mut rtt = histogram();
    let mut id = 0;
    for measured in [false, true] {
        for _ in 0..pings {
            id += 1;
            let sent = Instant::now();
            client.send(&order(args, id)).unwrap();
            let accepted = complete_one(client);
            if measured {
                rtt.record(accepted.duration_since(sent).as_nanos() as u64)
                    .unwrap();
            }
        }
    }
    rtt
}

pub fn run(args: &GatewayArgs) -> Vec<Figure> {
    let pinned = crate::report::pin(args.core);
    let mut client = Client::connect(&args.addr).expect("connect to the gateway");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .logon(args.account, args.token.as_bytes(), 30_000, false)
        .expect("logon");
    println!(
        "gateway bench: {} (account {}, symbol {}), client pinned to core {}: {}",
        args.addr, args.account, args.symbol, args.core, pinned
    );

    let rtt = ping_pong(&mut client, args, args.pings);
    let mut id = 2 * args.pings;
    let ping_pong = Figure::latency("gateway ping-pong", &rtt, Unit::Us).print();

    let (mut sent, mut done, mut in_flight) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while done < args.burst {
        while in_flight < args.depth && sent < args.burst {
            id += 1;
            client.queue(&order(args, id)).unwrap();
            sent += 1;
            in_flight += 1;
        }
        client.flush().unwrap();
        while in_flight > args.depth / 2 || (sent == args.burst && in_flight > 0) {
            complete_one(&mut client);
            done += 1;
            in_flight -= 1;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "  burst: {} orders in {:.3} s, depth {}, 2 reports per order",
        args.burst,
        elapsed.as_secs_f64(),
        args.depth
    );
    let burst = Figure::rate(
        "gateway burst",
        args.burst as f64 / elapsed.as_secs_f64(),
        "orders",
    )
    .print();
    let _ = client.logout();
    vec![ping_pong, burst]
}
