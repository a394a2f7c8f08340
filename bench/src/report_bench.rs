//! `tradsys-bench report`: every bench in one run, then the README's
//! performance table built from exactly those figures, with the date, the
//! machine and the command. It starts (and stops) its own gateways from the
//! `tradsys` binary next to this one, on `--gateway-config`.

use std::path::PathBuf;

use crate::echo_bench::{self, CompareArgs};
use crate::engine_bench::{self, EngineArgs};
use crate::gateway_bench::{self, GatewayArgs};
use crate::gateway_process::ServerProcess;
use crate::hiccup_bench::{self, HiccupArgs};
use crate::journal_bench::{self, JournalArgs};
use crate::load;
use crate::mix::Mix;
use crate::orders_bench::{self, OrdersArgs};
use crate::report::{Figure, Value};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// One shard, pinned to `--server-core`.
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    #[arg(long, default_value_t = 1)]
    pub client_core: usize,
    /// Measured seconds of each gateway load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Open-loop rate of the latency runs.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
}

fn orders_args(args: &ReportArgs, addr: &str, mix: Mix, rate: u64) -> OrdersArgs {
    OrdersArgs {
        addr: addr.to_string(),
        accounts: vec![1, 2, 3, 4],
        token: "bench-token".into(),
        connections: 4,
        client_cores: vec![args.client_core],
        symbols: vec![1, 2, 3, 4],
        reference_price: 5_000_000,
        tick: 1,
        mix,
        max_resting: 1_000,
        rate,
        depth: 64,
        ramp_up: 1.0,
        warmup: 1.0,
        duration: args.duration,
        ramp_down: 1.0,
        hgrm: PathBuf::from("orders.hgrm"),
        seed: 42,
    }
}

const MIX: &str = "rest=40,cancel=30,replace=15,ioc=10,take=5";

/// Runs `orders` against a fresh gateway.
fn orders_run(args: &ReportArgs, label: &str, mix: Mix, rate: u64) -> Vec<Figure> {
    let gateway = ServerProcess::start(&args.gateway_config);
    let mut load_args = orders_args(args, &gateway.addr.to_string(), mix, rate);
    if rate == 0 {
        load_args.ramp_up = 0.0;
        load_args.ramp_down = 0.0;
    }
    println!("{label}: {}", load_args.describe());
    let result = load::run(&load_args.spec());
    drop(gateway);
    orders_bench::report(label, &load_args, &result)
}

fn uname() -> String {
    // SAFETY: uname fills the struct it is given.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "unknown".into();
        }
        let field = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!(
            "{} {} {}",
            field(&u.sysname),
            field(&u.release),
            field(&u.machine)
        )
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Today's UTC date, YYYY-MM-DD (from the system clock, no time zone data).
fn utc_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    civil_date(secs)
}

/// The UTC date of a Unix time (Howard Hinnant's days-to-civil).
fn civil_date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn find<'a>(figures: &'a [Figure], name: &str) -> &'a Figure {
    figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("the run produced no figure named '{name}'"))
}

fn percentiles(figure: &Figure) -> String {
    match &figure.value {
        Value::Latency(l) => {
            let unit = match l.unit {
                crate::report::Unit::Ns => "ns",
                crate::report::Unit::Us => "us",
            };
            format!(
                "p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1} {unit} (n={})",
                l.p50, l.p99, l.p999, l.max, l.count
            )
        }
        Value::Rate { per_sec, unit } => format!("{per_sec:.0} {unit}/s"),
    }
}

// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
pub fn run(args: &ReportArgs) {
    crate::gateway_process::require_config(&args.gateway_config);
    let mut all = Vec::new();
    all.extend(hiccup_bench::run(&HiccupArgs {
        cores: vec![args.server_core, args.client_core],
        duration: 5.0,
    }));
    all.extend(engine_bench::run(&EngineArgs {
        ops: 4_000_000,
        depth: 5_000,
        core: args.client_core,
        seed: 42,
        repeat: 3,
        batch: 64,
        symbols: None,
        peers: false,
        peer_ops: 0,
        peer_depth: 0,
        profile_book: None,
        without_orderbook_rs: false,
        slice: 0,
    }));
    all.extend(journal_bench::run(&JournalArgs {
        records: 2_000_000,
        every_records: 2_000,
        dir: std::env::temp_dir().join(format!("tradsys-bench-journal-{}", std::process::id())),
        segment_bytes: 64 << 20,
        core: args.client_core,
        seed: 42,
    }));
    all.extend(echo_bench::run_compare(&CompareArgs {
        rate: args.rate,
        duration: args.duration,
        warmup: 1.0,
        rounds: 2,
        settle: 3.0,
        server_core: args.server_core,
        client_core: args.client_core,
        gateway_config: args.gateway_config.clone(),
        echo_addr: "127.0.0.1:7101".parse().unwrap(),
        // The README table takes the open-loop figures; the ping-pong
        // against the floor is `compare`'s own.
        pingpong_rounds: 0,
        pingpong_orders: 0,
        pingpong_warmup: 0,
        pingpong_settle: 0.0,
    }));
    {
        let gateway = ServerProcess::start(&args.gateway_config);
        all.extend(gateway_bench::run(&GatewayArgs {
            addr: gateway.addr.to_string(),
            account: 1,
            token: "bench-token".into(),
            symbol: 1,
            price: 4_500_000,
            pings: 100_000,
            burst: 1_000_000,
            depth: 256,
            core: args.client_core,
        }));
    }
    let mix: Mix = MIX.parse().unwrap();
    all.extend(orders_run(args, "mix open loop", mix, args.rate));
    all.extend(orders_run(args, "ioc closed loop", Mix::IOC_ONLY, 0));
    all.extend(orders_run(args, "mix closed loop", mix, 0));

    let latency = |name: &str| match &find(&all, name).value {
        Value::Latency(l) => l.clone(),
        Value::Rate { .. } => unreachable!("{name} is a latency"),
    };
    let (gateway, echo) = (latency("gateway"), latency("echo"));
    let row = |what: String, result: String, claim: &str| {
        println!("| {what} | {result} | {claim} |");
    };
    let args_line: Vec<String> = std::env::args().skip(1).collect();
    println!();
    println!(
        "Measured {} on {} ({}), {} cores online; gateway shard on core {}, load generator on core {}.",
        utc_date(),
        cpu_model(),
        uname(),
        // Not available_parallelism: that is this (pinned) thread's mask.
        // SAFETY: sysconf has no preconditions.
        unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) },
        args.server_core,
        args.client_core
    );
    println!(
        "Command: `cargo build --release --workspace && target/release/tradsys-bench {}` (gateway config `{}`).",
        args_line.join(" "),
        args.gateway_config.display()
    );
    println!();
    println!("| what | measured | seeds' claim |");
    println!("|---|---|---|");
    row(
        format!(
            "order entry latency, open loop {} req/s, mix {MIX}, 4 sessions, 4 symbols (from intended send time to first answer)",
            args.rate
        ),
        percentiles(find(&all, "mix open loop latency (from intended send time)")),
        "order processing p99 < 50 us",
    );
    row(
        format!("gateway, open loop {} IOC orders/s, 1 session", args.rate),
        percentiles(find(&all, "gateway")),
        "",
    );
    row(
        "echo floor (bare io_uring server, same load)".into(),
        percentiles(find(&all, "echo")),
        "",
    );
    row(
        "ratio gateway/echo".into(),
        format!(
            "p50 {:.2}, p99 {:.2} (target <= 1.5)",
            gateway.p50 / echo.p50,
            gateway.p99 / echo.p99
        ),
        "",
    );
    row(
        "gateway round trip, one IOC in flight (ping-pong, send to OrderAccepted)".into(),
        percentiles(find(&all, "gateway ping-pong")),
        "order processing p99 < 50 us",
    );
    row(
        "throughput, one shard, closed loop, IOC, 1 session x 256 in flight".into(),
        percentiles(find(&all, "gateway burst")),
        "275,000 orders/s",
    );
    row(
        "throughput, one shard, closed loop, IOC, 4 sessions x 64 in flight".into(),
        percentiles(find(&all, "ioc closed loop throughput")),
        "275,000 orders/s",
    );
    row(
        format!("throughput, one shard, closed loop, mix {MIX}"),
        percentiles(find(&all, "mix closed loop throughput")),
        "275,000 orders/s",
    );
    row(
        "matching engine alone, 100 symbols 5k deep, batched".into(),
        percentiles(find(&all, "engine")),
        "",
    );
    for policy in ["none", "every"] {
        row(
            format!("journal append, sync = {policy}"),
            percentiles(find(&all, &format!("journal-append[{policy}]"))),
            "",
        );
    }
    row(
        "journal replay into the engine".into(),
        percentiles(find(&all, "replay into engine")),
        "",
    );
    for core in [args.server_core, args.client_core] {
        let name = format!(
            "hiccup core {core} stalls over {} us",
            hiccup_bench::STALL_NS / 1_000
        );
        row(
            format!("machine stalls of a spinning thread on core {core} (5 s)"),
            percentiles(find(&all, &name)),
            "",
        );
    }
    row(
        "WebSocket market data".into(),
        "not built yet: no figure".into(),
        "WebSocket p99 < 25 us",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_become_utc_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_868_799), "2000-02-29");
        assert_eq!(civil_date(951_868_800), "2000-03-01");
        assert_eq!(civil_date(1_795_392_000), "2026-11-23");
    }
}
