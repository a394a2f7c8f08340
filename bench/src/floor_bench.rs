//! `compare`'s ping-pong part: one session, one IOC in flight, a spinning
//! client, against the floor (a spinning non-blocking socket echo), the
//! gateway, an io_uring echo on the gateway's reactor and the glommio echo,
//! one after another in each round. The gateway is judged on paired
//! ratios: each round's gateway against the floor measured next to it,
//! then the median over rounds, since the host's state moves the floor.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::echo_bench::CompareArgs;
use crate::floor_echo::{spawn_socket_echo, spawn_uring_echo};
use crate::gateway_process::ServerProcess;
use crate::pingpong;

/// The servers of one round, in the order they run.
const SERVERS: [&str; 4] = ["floor", "gateway", "uring-echo", "glommio-echo"];

/// p50, p99 and p99.9 of one run, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
struct Quantiles {
    p50: f64,
    p99: f64,
    p999: f64,
}

impl Quantiles {
    fn of(histogram: &Histogram<u64>) -> Quantiles {
        let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Quantiles {
            p50: us(0.50),
            p99: us(0.99),
            p999: us(0.999),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// One ping-pong run against server `name`.
fn measure(args: &CompareArgs, name: &str) -> Quantiles {
    let (warmup, count, client_core) =
        (args.pingpong_warmup, args.pingpong_orders, args.client_core);
    let run = |addr, token: &'static str| {
        std::thread::spawn(move || pingpong::run(addr, 1, token, warmup, count, client_core))
            .join()
            .expect("the ping-pong client")
    };
    let result = match name {
        "floor" | "uring-echo" => {
            let echo = if name == "floor" {
                spawn_socket_echo(args.server_core)
            } else {
                spawn_uring_echo(args.server_core)
            };
            let result = run(echo.addr, "echo");
            echo.handle.join().expect("the echo");
            result
        }
        "gateway" => {
            let gateway = ServerProcess::start(&args.gateway_config);
            run(gateway.addr, "bench-token")
        }
        _ => {
            let echo = ServerProcess::start_echo(args.echo_addr, args.server_core);
            run(echo.addr, "echo")
        }
    };
    assert_eq!(result.rejected, 0, "{name} did not accept every order");
    std::thread::sleep(Duration::from_secs_f64(args.pingpong_settle));
    Quantiles::of(&result.latency)
}

/// Runs the rounds and prints every round, the medians and the ratios.
pub fn run_pingpong(args: &CompareArgs) {
    if args.pingpong_rounds == 0 {
        return;
    }
    println!(
        "ping-pong: one session, one IOC in flight, spinning client on core {}, servers on core {}, {} round(s) of {} orders (+{} warm-up) per server; latency = send to OrderAccepted",
        args.client_core, args.server_core, args.pingpong_rounds, args.pingpong_orders, args.pingpong_warmup
    );
    let mut rounds: Vec<[Quantiles; 4]> = Vec::new();
    for round in 1..=args.pingpong_rounds {
        let mut row = [Quantiles::default(); 4];
        for (i, name) in SERVERS.iter().enumerate() {
            row[i] = measure(args, name);
            println!(
                "ping-pong round {round} {name:<13} p50={:.1} p99={:.1} p99.9={:.1} us",
                row[i].p50, row[i].p99, row[i].p999
            );
        }
        rounds.push(row);
    }
    print_summary(&rounds);
}

fn print_summary(rounds: &[[Quantiles; 4]]) {
    println!(
        "| server (median of {} rounds) | p50 us | p99 us | p99.9 us |",
        rounds.len()
    );
    println!("|---|---|---|---|");
    for (i, name) in SERVERS.iter().enumerate() {
        let of = |f: fn(&Quantiles) -> f64| median(rounds.iter().map(|r| f(&r[i])).collect());
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            of(|q| q.p50),
            of(|q| q.p99),
            of(|q| q.p999)
        );
    }
    for (i, name) in SERVERS.iter().enumerate().skip(1) {
        let ratio =
            |f: fn(&Quantiles) -> f64| median(rounds.iter().map(|r| f(&r[i]) / f(&r[0])).collect());
        let label = if *name == "gateway" { "gateway" } else { name };
        println!(
            "ratio {label}/floor p50={:.2} p99={:.2} (median of per-round ratios)",
            ratio(|q| q.p50),
            ratio(|q| q.p99)
        );
    }
}
