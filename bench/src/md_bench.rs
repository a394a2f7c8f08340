//! `tradsys-bench md`: market-data fan-out, the gateway against a peer
//! written the usual way (`md_peer.rs`), in one run (issue 13).
//!
//! For each K of `--subscribers`, K WebSocket subscribers to `trades` of
//! symbol 1 (`md_audience.rs`, spread over `--client-cores`) and trades
//! made through order entry (`md_driver.rs`):
//!
//! - **latency**: `--rate` trades a second, open loop, for `--duration`;
//!   per trade, from the gateway's receipt of the order that traded (the
//!   `ts_ns` of the `Trade` message: CLOCK_REALTIME, same host) to the
//!   CLOCK_REALTIME at which the *last* of the K subscribers' reads
//!   returned it;
//! - **sustained**: a burst of trades pipelined as fast as order entry
//!   takes them; trades delivered times subscribers, over the time from
//!   the first trade's `ts_ns` to the last delivery.
//!
//! First against the gateway (`--gateway-config` with `idle = "park"`
//! unless `--spin`), then against the peer: the same config, parked, so
//! the gateway, now only the peer's upstream, leaves the core to the peer,
//! pinned to the same core. The peer's latency includes that upstream hop
//! (the gateway's own K=1 figure). Parked by default because on a host
//! where other work shares the cores (the development VM runs several
//! builds) a spinning shard is descheduled for whole time slices, and the
//! peer, which sleeps in epoll, would be measured under kinder conditions.
//!
//! Then order entry (`orders`' open loop) without subscribers and with
//! `--oe-subscribers` attached to `book` and `trades` of the symbols it
//! trades, and the ratio.

use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::gateway_process::{require_config, ServerProcess};
use crate::md_audience::{attach, wall_ns, Seen};
use crate::md_driver::Driver;
use crate::report::{histogram, Figure, Latency, Unit};

#[derive(clap::Args, Clone)]
pub struct MdArgs {
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    /// Subscriber counts to measure.
    #[arg(long, default_value = "1,100,1000", value_delimiter = ',')]
    pub subscribers: Vec<usize>,
    /// One subscriber thread per core listed, pinned to it.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub client_cores: Vec<usize>,
    /// The core of the gateway's shard (and of the peer).
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// Trades a second in the latency phase (open loop): at K=1000 on the
    /// 2-core development VM, below what the peer sustains (about 75,000
    /// deliveries a second there), so its latency is not a queue growing
    /// for the whole run.
    #[arg(long, default_value_t = 50)]
    pub rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Deliveries (trades x subscribers) in the sustained burst; the burst
    /// is this over K trades, between 1,000 and 10,000 (10,000 trade frames
    /// stay within a client's default 1 MiB send budget).
    #[arg(long, default_value_t = 5_000_000)]
    pub burst_deliveries: u64,
    /// Subscribers attached for the order-entry comparison (0: skip it).
    #[arg(long, default_value_t = 1000)]
    pub oe_subscribers: usize,
    /// Requests a second of the order-entry comparison (open loop).
    #[arg(long, default_value_t = 10_000)]
    pub oe_rate: u64,
    /// The symbol whose `book` and `trades` the order-entry comparison's
    /// subscribers take: 1 (default), not the order flow's symbol 2, so
    /// the run measures what subscribers cost the shard by being there;
    /// 2 makes the shard also fan the order flow's events out to them.
    #[arg(long, default_value_t = 1)]
    pub oe_md_symbol: u32,
    /// Cores of the order-entry comparison's subscriber reader threads
    /// (one thread per core listed, pinned to it); default: the
    /// `--client-cores`, which the order client shares. On a host with a
    /// core to spare, a core of its own keeps the subscribers' reads (every
    /// heartbeat is a read per subscriber) out of the order client's
    /// latency, so the comparison shows what the gateway pays for them.
    #[arg(long, value_delimiter = ',')]
    pub oe_md_cores: Option<Vec<usize>>,
    /// Skip the peer.
    #[arg(long)]
    pub no_peer: bool,
    /// Keep the config's `idle = "spin"` for the gateway's own runs (on
    /// dedicated cores); default: parked, like the peer's run.
    #[arg(long)]
    pub spin: bool,
    #[arg(long, default_value = "bench-token")]
    pub token: String,
}

/// One server's figures at one K.
struct Run {
    latency: Histogram<u64>,
    events_per_sec: f64,
    incomplete: usize,
    sustained: f64,
    closed: usize,
}

const SYMBOL: u32 = 1;
const PRICE: i64 = 5_000_000;

fn burst_trades(args: &MdArgs, k: usize) -> u64 {
    (args.burst_deliveries / k as u64).clamp(1_000, 10_000)
}

/// Latency (complete trades with `ts_ns` in `[from, to)`) and delivery
/// rate (trades from `burst_from` on) out of what the subscribers saw.
fn figures(
    seen: &Seen,
    k: usize,
    window: (u64, u64),
    burst_from: u64,
) -> (Histogram<u64>, usize, f64) {
    let mut latency = histogram();
    let mut incomplete = 0;
    let (mut delivered, mut last) = (0u64, burst_from);
    for d in &seen.deliveries {
        if d.count as usize != k {
            incomplete += 1;
        }
        if (window.0..window.1).contains(&d.ts_ns) && d.count as usize == k {
            latency.saturating_record(d.last_ns.saturating_sub(d.ts_ns).max(1));
        }
        if d.ts_ns >= burst_from {
            delivered += u64::from(d.count);
            last = last.max(d.last_ns);
        }
    }
    let first = seen
        .deliveries
        .iter()
        .find(|d| d.ts_ns >= burst_from)
        .map_or(burst_from, |d| d.ts_ns);
    let secs = (last.saturating_sub(first)).max(1) as f64 / 1e9;
    (latency, incomplete, delivered as f64 / secs)
}

/// The burst's trades: from the first one's `ts_ns` to the last one's (how
/// long order entry took them: the load generator's core is the
/// subscribers' too), and to the last delivery (ns).
fn burst_spans(seen: &Seen, burst_from: u64) -> (u64, u64) {
    let burst = seen.deliveries.iter().filter(|d| d.ts_ns >= burst_from);
    let (first, last_ts, last_delivery) = burst.fold((u64::MAX, 0, 0), |(f, l, d), x| {
        (f.min(x.ts_ns), l.max(x.ts_ns), d.max(x.last_ns))
    });
    if first == u64::MAX {
        return (0, 0);
    }
    debug_assert!(first <= last_ts);
    (last_ts - first, last_delivery.saturating_sub(first))
}

/// One K against the server whose market data is at `md_addr`, trades
/// driven through the gateway at `oe_addr`.
fn measure(args: &MdArgs, oe_addr: &str, md_addr: &str, k: usize) -> Run {
    let audience = attach(
        md_addr,
        k,
        &args.client_cores,
        &format!("[{SYMBOL}]"),
        r#"["trades"]"#,
    );
    let mut driver = Driver::new(oe_addr, &args.token, SYMBOL, PRICE);
    let from = wall_ns();
    let n = driver.open_loop(args.rate as f64, Duration::from_secs_f64(args.duration));
    let to = wall_ns();
    audience.drain(n, Duration::from_secs(3));
    let burst_from = wall_ns();
    let burst = burst_trades(args, k);
    driver.burst(burst, 256);
    audience.drain(n + burst, Duration::from_secs(5));
    let seen = audience.finish();
    let (latency, incomplete, sustained) = figures(&seen, k, (from, to), burst_from);
    let (entered, delivered) = burst_spans(&seen, burst_from);
    println!(
        "  burst of {burst} trades: entered over {:.1} ms (first to last trade's ts_ns), delivered to all over {:.1} ms",
        entered as f64 / 1e6,
        delivered as f64 / 1e6
    );
    if !seen.close_codes.is_empty() {
        println!(
            "  closed by the server: {} (codes {:?})",
            seen.closed,
            &seen.close_codes[..seen.close_codes.len().min(5)]
        );
    }
    Run {
        latency,
        events_per_sec: n as f64 / ((to - from) as f64 / 1e9),
        incomplete,
        sustained,
        closed: seen.closed,
    }
}

fn print_run(label: &str, k: usize, run: &Run) -> Latency {
    let l = Latency::of(&run.latency, Unit::Us);
    println!(
        "{label} subscribers={k} events/s={:.0} p50={:.1} p99={:.1} p99.9={:.1} us",
        run.events_per_sec, l.p50, l.p99, l.p999
    );
    println!(
        "  {label} subscribers={k} sustained={:.0} events x subscribers/s; trades not received by all: {}; subscribers closed: {}",
        run.sustained, run.incomplete, run.closed
    );
    l
}

/// The gateway config with its idle policy replaced (for the peer run).
fn parked_config(config: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(config).expect("read the gateway config");
    assert!(text.contains("idle = \"spin\""), "the bench config spins");
    let parked = std::env::temp_dir().join(format!("tradsys-bench-md-{}.toml", std::process::id()));
    std::fs::write(&parked, text.replace("idle = \"spin\"", "idle = \"park\""))
        .expect("write the parked config");
    parked
}

pub fn run(args: &MdArgs) -> Vec<Figure> {
    require_config(&args.gateway_config);
    assert!(
        args.subscribers.iter().all(|&k| k > 0),
        "--subscribers are positive"
    );
    println!(
        "md: subscribers {:?} on client cores {:?}; latency phase {} trades/s for {} s; burst {} deliveries; server core {}; gateway idle {}",
        args.subscribers,
        args.client_cores,
        args.rate,
        args.duration,
        args.burst_deliveries,
        args.server_core,
        if args.spin { "spin" } else { "park" }
    );
    let mut figures = Vec::new();
    let mut ours = Vec::new();
    let parked = parked_config(&args.gateway_config);
    {
        let config = if args.spin {
            &args.gateway_config
        } else {
            &parked
        };
        let gateway = ServerProcess::start(config);
        let md = gateway
            .market_data
            .expect("the gateway serves market data")
            .to_string();
        let oe = gateway.addr.to_string();
        if args.oe_subscribers > 0 {
            figures.extend(crate::md_orders::compare(args, &oe, &md, gateway.admin));
        }
        for &k in &args.subscribers {
            let run = measure(args, &oe, &md, k);
            let l = print_run("md-fanout", k, &run);
            figures.push(Figure::latency(
                format!("md-fanout K={k}"),
                &run.latency,
                Unit::Us,
            ));
            ours.push((k, run.sustained, l.p99));
        }
    }
    if args.no_peer {
        let _ = std::fs::remove_file(&parked);
        return figures;
    }
    let gateway = ServerProcess::start(&parked);
    let _ = std::fs::remove_file(&parked);
    let upstream = gateway.market_data.expect("the gateway serves market data");
    let peer = ServerProcess::start_md_peer(upstream, args.server_core);
    let (oe, peer_addr) = (gateway.addr.to_string(), peer.addr.to_string());
    for (k, sustained, p99) in ours {
        let run = measure(args, &oe, &peer_addr, k);
        let l = print_run("md-fanout-peer", k, &run);
        println!(
            "md-fanout-ratio subscribers={k} sustained gateway/peer={:.2} p99 gateway/peer={:.2}",
            sustained / run.sustained.max(1.0),
            p99 / l.p99.max(f64::MIN_POSITIVE)
        );
        figures.push(Figure::latency(
            format!("md-fanout-peer K={k}"),
            &run.latency,
            Unit::Us,
        ));
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::md_audience::Delivery;

    #[test]
    fn latency_counts_complete_trades_of_its_window_and_the_rate_the_burst() {
        let d = |seq, ts_ns, last_ns, count| Delivery {
            seq,
            ts_ns,
            last_ns,
            count,
        };
        let seen = Seen {
            deliveries: vec![
                d(1, 1_000, 3_000, 2),
                d(2, 2_000, 9_000, 1), // one subscriber missed it
                d(3, 10_000, 11_000, 2),
                d(4, 1_000_000_000, 1_500_000_000, 2),
            ],
            closed: 0,
            close_codes: Vec::new(),
        };
        let (latency, incomplete, rate) = figures(&seen, 2, (0, 5_000), 10_000);
        assert_eq!((latency.len(), latency.max()), (1, 2_000));
        assert_eq!(incomplete, 1);
        // 4 deliveries from ts 10,000 to the last at 1.5 s.
        assert!((rate - 4.0 / 1.49999).abs() < 0.01, "{rate}");
    }
}
