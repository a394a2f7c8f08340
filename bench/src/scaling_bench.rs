//! `tradsys-bench scaling`: whether throughput grows with shards, and what
//! a cross-shard hop costs, so the thread-per-core claim is measured.
//!
//! For each shard count N it starts a fresh gateway on `--gateway-config`
//! rewritten to N shards on cores 0..N (symbol k owned by shard (k-1) mod
//! N), then:
//! - closed loop, the realistic mix over every symbol, as `orders` runs
//!   it: requests/s in all and per shard. The kernel deals connections to
//!   shards (`SO_REUSEPORT`) and requests pick symbols at random, so with
//!   N shards about (N-1)/N of the commands cross a ring;
//! - with N >= 2, ping-pong (one IOC in flight) from one session on a
//!   symbol of shard 0 and on one of shard 1: exactly one of the two is
//!   the session's own shard, the other crosses the mesh and back. The
//!   difference of their medians is the hop's round trip.
//!
//! On a host with fewer cores than shards plus client threads, shards and
//! the client share cores; the run says so, and uses `idle = "park"` for
//! the gateway then, so that a spinning shard does not starve the client
//! (or another shard) sharing its core.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use tradsys::client::Client;

use crate::gateway_bench::{ping_pong, GatewayArgs};
use crate::gateway_process::{require_config, ServerProcess};
use crate::load;
use crate::mix::Mix;
use crate::orders_bench::OrdersArgs;
use crate::report::{Figure, Latency, Unit};

#[derive(clap::Args)]
pub struct ScalingArgs {
    /// Shard counts to run, each on cores 0..N.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    pub shards: Vec<usize>,
    /// The config rewritten per run (its symbols and accounts are used).
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    /// Load generator threads, one per core listed.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub client_cores: Vec<usize>,
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    #[arg(long, default_value_t = 64)]
    pub depth: u64,
    #[arg(long, default_value = "rest=40,cancel=30,replace=15,ioc=10,take=5")]
    pub mix: Mix,
    /// Measured seconds of each closed-loop run (after 1 s of warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Round trips per symbol for the hop (after as many of warm-up).
    #[arg(long, default_value_t = 20_000)]
    pub pings: u64,
}

/// `config` (TOML text) with `cores = [0, .., n-1]`, symbol k on shard
/// (k-1) mod n, and the idle policy given.
pub fn with_shards(config: &str, shards: usize, idle: &str) -> String {
    assert!(shards >= 1, "at least one shard");
    let cores: Vec<String> = (0..shards).map(|c| c.to_string()).collect();
    let mut out = String::new();
    let mut in_symbol = false;
    for line in config.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if line.starts_with('[') {
            in_symbol = line.trim() == "[[symbols]]";
        }
        match key {
            "cores" => writeln!(out, "cores = [{}]", cores.join(", ")),
            "idle" => writeln!(out, "idle = \"{idle}\""),
            "shard" if in_symbol => Ok(()),
            "id" if in_symbol => {
                let id: usize = line.split('=').nth(1).unwrap().trim().parse().unwrap();
                writeln!(out, "{line}\nshard = {}", (id - 1) % shards)
            }
            _ => writeln!(out, "{line}"),
        }
        .unwrap();
    }
    assert!(out.contains("cores = ["), "the config names its cores");
    out
}

fn online_cores() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) as usize }
}

/// Starts the gateway with `shards` shards; the config file lives in the
/// temporary directory until the run ends.
fn start(args: &ScalingArgs, shards: usize, idle: &str) -> (ServerProcess, PathBuf) {
    let text = std::fs::read_to_string(&args.gateway_config).expect("read the gateway config");
    let path = std::env::temp_dir().join(format!(
        "tradsys-scaling-{}-{shards}.toml",
        std::process::id()
    ));
    std::fs::write(&path, with_shards(&text, shards, idle)).expect("write the run's config");
    (ServerProcess::start(&path), path)
}

fn orders_args(args: &ScalingArgs, addr: &str) -> OrdersArgs {
    OrdersArgs {
        addr: addr.to_string(),
        accounts: vec![1, 2, 3, 4],
        token: "bench-token".into(),
        connections: args.connections,
        client_cores: args.client_cores.clone(),
        symbols: vec![1, 2, 3, 4],
        reference_price: 5_000_000,
        tick: 1,
        mix: args.mix,
        max_resting: 1_000,
        rate: 0,
        depth: args.depth,
        ramp_up: 0.0,
        warmup: 1.0,
        duration: args.duration,
        ramp_down: 0.0,
        hgrm: std::env::temp_dir().join("tradsys-scaling.hgrm"),
        seed: 42,
    }
}

/// Ping-pong p50s on a symbol of shard 0 and one of shard 1 from one
/// session: (symbol 1, symbol 2) latencies.
fn hop(args: &ScalingArgs, addr: &str) -> (Latency, Latency) {
    let mut client = Client::connect(addr).expect("connect to the gateway");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .logon(1, b"bench-token", 30_000, false)
        .expect("logon");
    let on = |symbol| GatewayArgs {
        addr: addr.to_string(),
        account: 1,
        token: "bench-token".into(),
        symbol,
        price: 4_500_000,
        pings: args.pings,
        burst: 0,
        depth: 1,
        core: args.client_cores[0],
    };
    let first = ping_pong(&mut client, &on(1), args.pings);
    let second = ping_pong(&mut client, &on(2), args.pings);
    let _ = client.logout();
    (
        Latency::of(&first, Unit::Us),
        Latency::of(&second, Unit::Us),
    )
}

fn run_one(args: &ScalingArgs, shards: usize, cores: usize) -> Vec<Figure> {
    let shared = shards + args.client_cores.len() > cores;
    let idle = if shared { "park" } else { "spin" };
    println!(
        "scaling: {shards} shard(s) on cores 0..{}, client on cores {:?}, idle = {idle}{}",
        shards - 1,
        args.client_cores,
        if shared {
            " (the host has too few cores: shards and the client share)"
        } else {
            ""
        }
    );
    let (gateway, config) = start(args, shards, idle);
    let addr = gateway.addr.to_string();
    let load_args = orders_args(args, &addr);
    let result = load::run(&load_args.spec());
    let rate = result.steady_answered as f64 / result.steady_secs;
    let figures = vec![
        Figure::rate(format!("scaling shards={shards} throughput"), rate, "req").print(),
        Figure::rate(
            format!("scaling shards={shards} throughput per shard"),
            rate / shards as f64,
            "req",
        )
        .print(),
    ];
    if shards >= 2 {
        let (one, two) = hop(args, &addr);
        let (local, remote) = if one.p50 <= two.p50 {
            (one, two)
        } else {
            (two, one)
        };
        println!(
            "scaling shards={shards} ping-pong own shard: p50={:.1} p99={:.1} us; other shard: p50={:.1} p99={:.1} us",
            local.p50, local.p99, remote.p50, remote.p99
        );
        // A difference of medians, not a rate: printed, not a Figure.
        println!(
            "scaling shards={shards} cross-shard hop p50: {:.1} us (round trip: the other shard's p50 minus the own shard's)",
            remote.p50 - local.p50
        );
    }
    drop(gateway);
    let _ = std::fs::remove_file(config);
    figures
}

pub fn run(args: &ScalingArgs) -> Vec<Figure> {
    require_config(&args.gateway_config);
    assert!(!args.client_cores.is_empty(), "a client core");
    let cores = online_cores();
    println!(
        "scaling: {cores} cores online; shard counts {:?}; mix {}, {} connections x {} in flight",
        args.shards, args.mix, args.connections, args.depth
    );
    let mut figures = Vec::new();
    for &shards in &args.shards {
        if shards == 0 || shards > cores {
            println!("scaling: {shards} shard(s) skipped: the host has {cores} cores");
            continue;
        }
        figures.extend(run_one(args, shards, cores));
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_rewritten_to_n_shards_with_symbols_dealt_round_robin() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/bench.toml"),
        )
        .unwrap();
        let two = with_shards(&text, 2, "park");
        let config = tradsys::config::Config::parse(&two).unwrap();
        assert_eq!(config.server.cores, vec![0, 1]);
        let owners: Vec<_> = config.symbols.iter().map(|s| s.shard).collect();
        assert_eq!(owners, vec![Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(config.accounts.len(), 4, "accounts untouched");
        let one = tradsys::config::Config::parse(&with_shards(&text, 1, "spin")).unwrap();
        assert_eq!(one.server.cores, vec![0]);
    }
}
