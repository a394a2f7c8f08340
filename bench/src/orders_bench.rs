//! `tradsys-bench orders`: load against a running gateway over binary TCP.
//!
//! Open loop (`--rate`): every order has an intended send time fixed in
//! advance (`start + i / rate`); a sender thread sends each at its time (or
//! as soon as it can, if it fell behind), and latency is measured from the
//! *intended* time to the OrderAccepted. A stall anywhere (gateway, kernel,
//! this process) is therefore charged to every order it delayed, as wrk2
//! does: no coordinated omission. Closed loop (`--rate 0`): as many orders
//! in flight as `--depth`, for maximum throughput.
//!
//! Orders are IOC buys at the bottom of the band (see `gateway`): accepted,
//! then canceled, never trading; the book stays empty.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tradsys::client::{Client, Received};
use tradsys::engine::*;
use tradsys::protocol::NewOrderMsg;

#[derive(clap::Args, Clone)]
pub struct OrdersArgs {
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub addr: String,
    #[arg(long, default_value_t = 1)]
    pub account: u32,
    #[arg(long, default_value = "bench-token")]
    pub token: String,
    #[arg(long, default_value_t = 1)]
    pub symbol: u32,
    #[arg(long, default_value_t = 4_500_000)]
    pub price: i64,
    /// Orders per second, open loop; 0 = closed loop at `--depth`.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    /// Orders in flight in closed loop.
    #[arg(long, default_value_t = 256)]
    pub depth: u64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Core the client thread is pinned to.
    #[arg(long, default_value_t = 1)]
    pub core: usize,
    /// Where to write the latency distribution (HdrHistogram .hgrm text).
    #[arg(long, default_value = "orders.hgrm")]
    pub hgrm: PathBuf,
}

/// Latency of one order in open loop: from its intended send time, never
/// from the time it was actually sent.
pub fn corrected_latency_ns(intended_ns: u64, answered_ns: u64) -> u64 {
    answered_ns.saturating_sub(intended_ns)
}

/// When order `i` is meant to leave, `rate` orders per second from 0.
pub fn intended_ns(i: u64, rate: u64) -> u64 {
    (i as u128 * 1_000_000_000 / rate as u128) as u64
}

fn pin(core: usize) -> bool {
    core_affinity::get_core_ids()
        .and_then(|cores| cores.into_iter().find(|c| c.id == core))
        .is_some_and(core_affinity::set_for_current)
}

fn order(args: &OrdersArgs, client_order_id: u64) -> NewOrderMsg {
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

/// Writes the percentile distribution in the HdrHistogram `.hgrm` text
/// format (values in microseconds), which the standard plotters read.
pub fn write_hgrm(histogram: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    for v in histogram.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".to_string()
        };
        writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {:>14}",
            v.value_iterated_to() as f64 / 1_000.0,
            q,
            v.count_since_last_iteration(),
            inverse
        )?;
    }
    writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        histogram.mean() / 1_000.0,
        histogram.stdev() / 1_000.0
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        histogram.max() as f64 / 1_000.0,
        histogram.len()
    )?;
    Ok(())
}

/// One thread sends and receives: on a 2-core machine the client has one
/// core, and a second thread spinning on it would starve the first. The
/// socket is non-blocking; each turn sends every order that is due (open
/// loop) or tops the pipeline up (closed loop), then takes what has arrived.
pub fn run(args: &OrdersArgs) {
    let pinned = pin(args.core);
    let mut client = Client::connect(&args.addr).expect("connect to the gateway");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .logon(args.account, args.token.as_bytes(), 30_000, false)
        .expect("logon");
    client.stream().set_nonblocking(true).unwrap();
    let open_loop = args.rate > 0;
    let warmup_orders = (args.warmup * args.rate as f64) as u64;
    let total = if open_loop {
        warmup_orders + (args.duration * args.rate as f64) as u64
    } else {
        u64::MAX
    };
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let (mut sent, mut done, mut rejects, mut in_flight) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut measured_done = 0u64;
    loop {
        let now = Instant::now();
        if open_loop {
            let elapsed = now.duration_since(start).as_nanos() as u64;
            let mut queued = false;
            while sent < total && intended_ns(sent, args.rate) <= elapsed {
                client.queue(&order(args, sent)).unwrap();
                sent += 1;
                in_flight += 1;
                queued = true;
            }
            if queued {
                client.flush().unwrap();
            }
            if sent == total && in_flight == 0 {
                break;
            }
        } else {
            if now >= end && in_flight == 0 {
                break;
            }
            if now < end && in_flight < args.depth {
                while in_flight < args.depth {
                    client.queue(&order(args, sent)).unwrap();
                    sent += 1;
                    in_flight += 1;
                }
                client.flush().unwrap();
            }
        }
        loop {
            match client.recv() {
                Ok(Received::OrderAccepted(m)) => {
                    let id = m.client_order_id.get();
                    if open_loop && id >= warmup_orders {
                        let answered = start.elapsed().as_nanos() as u64;
                        let latency = corrected_latency_ns(intended_ns(id, args.rate), answered);
                        histogram.record(latency.max(1)).unwrap();
                    }
                }
                Ok(answer @ (Received::OrderCanceled(_) | Received::OrderRejected(_))) => {
                    if matches!(answer, Received::OrderRejected(_)) {
                        rejects += 1;
                    }
                    done += 1;
                    in_flight -= 1;
                    let now = Instant::now();
                    if now >= measure_from && now < end {
                        measured_done += 1;
                    }
                }
                Ok(_) => {}
                Err(tradsys::client::ClientError::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    break
                }
                Err(e) => panic!("connection to the gateway failed: {e}"),
            }
        }
    }
    if open_loop {
        let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1_000.0;
        println!(
            "orders (open loop {} /s, {:.1} s measured after {:.1} s warm-up, client on core {} pinned: {pinned}): {} sent, {} answered, {} rejects",
            args.rate, args.duration, args.warmup, args.core, sent, done, rejects
        );
        println!(
            "latency from intended send time: p50={:.1} p90={:.1} p99={:.1} p99.9={:.1} p99.99={:.1} max={:.1} us",
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999),
            us(0.9999),
            histogram.max() as f64 / 1_000.0
        );
        let mut file = std::fs::File::create(&args.hgrm).expect("create the .hgrm file");
        write_hgrm(&histogram, &mut file).unwrap();
        println!("distribution: {}", args.hgrm.display());
    } else {
        println!(
            "orders (closed loop, depth {}, client on core {} pinned: {pinned}): {:.0} orders/s over {:.1} s after {:.1} s warm-up, {} rejects",
            args.depth,
            args.core,
            measured_done as f64 / args.duration,
            args.duration,
            args.warmup,
            rejects
        );
    }
    client.stream().set_nonblocking(false).unwrap();
    let _ = client.logout();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10 ms stall of the server at 1000 orders/s: in open loop every
    /// order meant to leave during the stall is charged its wait, not just
    /// the one that met it.
    #[test]
    fn an_injected_stall_is_charged_to_every_order_it_delayed() {
        let rate = 1_000; // one order per ms
        let stall_from = intended_ns(100, rate);
        let stall_ns = 10_000_000;
        let service_ns = 50_000;
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for i in 0..1_000u64 {
            let intended = intended_ns(i, rate);
            // The server answers after its service time, but nothing leaves
            // it during the stall: answers queue up until the stall ends.
            let mut answered = intended + service_ns;
            if answered >= stall_from && answered < stall_from + stall_ns {
                answered = stall_from + stall_ns + service_ns;
            }
            histogram
                .record(corrected_latency_ns(intended, answered))
                .unwrap();
        }
        // Orders 100..110 met the stall: 10 of 1000 = 1% above the service time.
        let slow = histogram.count_between(1_000_000, u64::MAX);
        assert_eq!(slow, 10);
        assert!(
            histogram.value_at_quantile(0.995) >= 1_000_000,
            "p99.5 shows the stall"
        );
        assert!(
            histogram.max() >= stall_ns,
            "the first delayed order waited the whole stall"
        );
    }

    #[test]
    fn intended_times_follow_the_rate() {
        assert_eq!(intended_ns(0, 50_000), 0);
        assert_eq!(intended_ns(50_000, 50_000), 1_000_000_000);
        assert_eq!(intended_ns(1, 4), 250_000_000);
    }

    #[test]
    fn hgrm_output_has_the_standard_header_and_footer() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            histogram.record(v * 1_000).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&histogram, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().next().unwrap().contains("Percentile"));
        assert!(text.contains("#[Max     ="));
        assert!(text.contains("Total count    =         1000]"));
    }
}
