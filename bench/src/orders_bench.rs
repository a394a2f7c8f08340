//! `tradsys-bench orders`: load against a running gateway over binary TCP.
//!
//! Open loop (`--rate N`): every request has an intended send time fixed in
//! advance by the schedule (ramp-up, warm-up, steady, ramp-down; see
//! `schedule.rs`), and latency runs from that intended time to the first
//! answer. A stall anywhere (gateway, kernel, hypervisor, this process) is
//! charged to every request it delayed, as wrk2 does: no coordinated
//! omission. Closed loop (`--rate 0`): `--depth` requests in flight per
//! connection, for maximum throughput.

use std::path::PathBuf;
use std::time::Duration;

use crate::load::{self, LoadResult, LoadSpec, Mode};
use crate::mix::{Mix, Op};
use crate::report::{write_hgrm, Figure, Unit};
use crate::schedule::{Phase, Schedule};

#[derive(clap::Args, Clone)]
pub struct OrdersArgs {
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub addr: String,
    /// Accounts to log on as; connection c uses the (c mod n)-th.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub accounts: Vec<u32>,
    /// Token of every account named (configs/bench.toml gives all its
    /// accounts the same one).
    #[arg(long, default_value = "bench-token")]
    pub token: String,
    /// Sessions, dealt round-robin to the client threads.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// One client thread per core listed, pinned to it.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub client_cores: Vec<usize>,
    /// Symbols the requests pick from at random.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub symbols: Vec<u32>,
    /// Reference price of the symbols (passive orders rest 1-20 ticks from
    /// it; `ioc` orders go 5% below it and never trade).
    #[arg(long, default_value_t = 5_000_000)]
    pub reference_price: i64,
    #[arg(long, default_value_t = 1)]
    pub tick: i64,
    /// Weights of ioc, rest, cancel, replace and take requests.
    #[arg(long, default_value = "rest=40,cancel=30,replace=15,ioc=10,take=5")]
    pub mix: Mix,
    /// Resting orders one connection keeps at most (a rest beyond it
    /// becomes a cancel).
    #[arg(long, default_value_t = 1_000)]
    pub max_resting: usize,
    /// Requests per second, open loop; 0 = closed loop at `--depth`.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    /// Requests waiting for their first answer per connection (closed loop).
    #[arg(long, default_value_t = 256)]
    pub depth: u64,
    /// Seconds the rate climbs linearly from 0 (open loop).
    #[arg(long, default_value_t = 0.0)]
    pub ramp_up: f64,
    /// Seconds at full rate before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Measured seconds at full rate (the headline figures).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds the rate falls linearly to 0 at the end (open loop).
    #[arg(long, default_value_t = 0.0)]
    pub ramp_down: f64,
    /// Where to write the steady-phase distribution (HdrHistogram .hgrm).
    #[arg(long, default_value = "orders.hgrm")]
    pub hgrm: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl OrdersArgs {
    pub fn spec(&self) -> LoadSpec {
        let mode = if self.rate > 0 {
            Mode::Open(Schedule {
                rate: self.rate as f64,
                ramp_up: Duration::from_secs_f64(self.ramp_up),
                warmup: Duration::from_secs_f64(self.warmup),
                steady: Duration::from_secs_f64(self.duration),
                ramp_down: Duration::from_secs_f64(self.ramp_down),
            })
        } else {
            Mode::Closed {
                depth: self.depth,
                warmup: Duration::from_secs_f64(self.warmup),
                duration: Duration::from_secs_f64(self.duration),
            }
        };
        LoadSpec {
            addr: self.addr.clone(),
            accounts: self.accounts.clone(),
            token: self.token.clone(),
            connections: self.connections,
            client_cores: self.client_cores.clone(),
            symbols: self.symbols.clone(),
            reference_price: self.reference_price,
            tick: self.tick,
            mix: self.mix,
            max_resting: self.max_resting,
            mode,
            seed: self.seed,
        }
    }

    /// What makes no run at all, said before connecting.
    pub fn check(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.duration <= 0.0 || !self.duration.is_finite() {
            return Err("--duration must be a positive number of seconds".into());
        }
        for (name, secs) in [
            ("--warmup", self.warmup),
            ("--ramp-up", self.ramp_up),
            ("--ramp-down", self.ramp_down),
        ] {
            if secs < 0.0 || !secs.is_finite() {
                return Err(format!("{name} must be 0 or more seconds"));
            }
        }
        if self.rate == 0 && self.depth == 0 {
            return Err("--depth must be at least 1 in closed loop (--rate 0)".into());
        }
        if self.rate == 0 && (self.ramp_up > 0.0 || self.ramp_down > 0.0) {
            return Err("--ramp-up and --ramp-down shape an open-loop rate; closed loop (--rate 0) has none".into());
        }
        Ok(())
    }

    /// The run's conditions, printed above its figures.
    pub fn describe(&self) -> String {
        let mode = if self.rate > 0 {
            format!(
                "open loop {} req/s (ramp-up {} s, warm-up {} s, steady {} s, ramp-down {} s)",
                self.rate, self.ramp_up, self.warmup, self.duration, self.ramp_down
            )
        } else {
            format!(
                "closed loop, depth {} per connection (warm-up {} s, measured {} s)",
                self.depth, self.warmup, self.duration
            )
        };
        format!(
            "{mode}; mix {}; {} connection(s) as accounts {:?} on client cores {:?}; symbols {:?}",
            self.mix, self.connections, self.accounts, self.client_cores, self.symbols
        )
    }
}

/// Prints a run's figures in the shared format; returns the headline ones
/// (`<label> steady latency`, `<label> throughput`).
pub fn report(label: &str, args: &OrdersArgs, result: &LoadResult) -> Vec<Figure> {
    let open_loop = args.rate > 0;
    let lag = if open_loop {
        format!(
            ", sends up to {:.1} us behind schedule",
            result.max_send_lag_ns as f64 / 1e3
        )
    } else {
        String::new()
    };
    println!(
        "{label}: {} sent, {} answered, {} unanswered, {} fills (both sides), {} rejects{lag}, client threads pinned: {}",
        result.sent,
        result.answered(),
        result.unanswered,
        result.fills,
        result.reject_count(),
        result.all_pinned
    );
    for ((request, reason), n) in &result.rejects {
        let name = tradsys::engine::RejectReason::from_u16(*reason)
            .map_or("unknown".to_string(), |r| format!("{r:?}"));
        println!("  rejected {request}: {name} ({reason}): {n}");
    }
    if result.answered() > 0 && result.reject_count() == result.answered() {
        println!("  WARNING: every request was rejected; the figures below measure rejections");
    }
    let worst: Vec<String> = result
        .worst_windows(5)
        .iter()
        .map(|(at, max)| format!("{:.1}s:{:.1}", *at as f64 / 1e9, *max as f64 / 1e3))
        .collect();
    println!(
        "  slowest 100 ms windows (start:max us): {}",
        worst.join(" ")
    );
    for phase in Phase::ALL {
        let h = &result.by_phase[phase.index()];
        if phase != Phase::Steady && !h.is_empty() {
            Figure::latency(format!("  {label} {}", phase.name()), h, Unit::Us).print();
        }
    }
    for op in Op::ALL {
        let h = &result.by_op[op.index()];
        if !h.is_empty() && !args.mix.is_ioc_only() {
            Figure::latency(format!("  {label} steady {}", op.name()), h, Unit::Us).print();
        }
    }
    let basis = if open_loop {
        "from intended send time"
    } else {
        "from send time, closed loop"
    };
    vec![
        Figure::latency(
            format!("{label} latency ({basis})"),
            &result.by_phase[Phase::Steady.index()],
            Unit::Us,
        )
        .print(),
        Figure::rate(
            format!("{label} throughput"),
            result.steady_answered as f64 / result.steady_secs,
            "req",
        )
        .print(),
    ]
}

pub fn run(args: &OrdersArgs) -> Vec<Figure> {
    if let Err(problem) = args.check() {
        eprintln!("tradsys-bench orders: {problem}");
        std::process::exit(2);
    }
    // Before the run, so a bad path costs nothing.
    let mut file = std::fs::File::create(&args.hgrm).unwrap_or_else(|e| {
        eprintln!("tradsys-bench orders: --hgrm {}: {e}", args.hgrm.display());
        std::process::exit(2)
    });
    println!("orders: {} against {}", args.describe(), args.addr);
    let result = load::run(&args.spec());
    let figures = report("orders", args, &result);
    write_hgrm(&result.by_phase[Phase::Steady.index()], &mut file).expect("write the .hgrm file");
    println!("distribution: {}", args.hgrm.display());
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histogram;

    /// A 10 ms stall of the server at 1000 orders/s: in open loop every
    /// order meant to leave during the stall is charged its wait, not just
    /// the one that met it.
    #[test]
    fn an_injected_stall_is_charged_to_every_order_it_delayed() {
        let schedule = Schedule {
            rate: 1_000.0, // one order per ms
            ramp_up: Duration::ZERO,
            warmup: Duration::ZERO,
            steady: Duration::from_secs(1),
            ramp_down: Duration::ZERO,
        };
        let stall_from = schedule.intended_ns(100);
        let stall_ns = 10_000_000;
        let service_ns = 50_000;
        let mut h = histogram();
        for i in 0..schedule.total_orders() {
            let intended = schedule.intended_ns(i);
            // The server answers after its service time, but nothing leaves
            // it during the stall: answers queue up until the stall ends.
            let mut answered = intended + service_ns;
            if answered >= stall_from && answered < stall_from + stall_ns {
                answered = stall_from + stall_ns + service_ns;
            }
            h.record(answered - intended).unwrap();
        }
        // Orders 100..110 met the stall: 10 of 1000 = 1% above the service time.
        assert_eq!(h.count_between(1_000_000, u64::MAX), 10);
        assert!(h.value_at_quantile(0.995) >= 1_000_000, "p99.5 shows it");
        assert!(h.max() >= stall_ns, "the first delayed order waited it all");
    }
}
