//! `tradsys-bench scaling`: whether throughput grows with shards, and what
//! a cross-shard hop costs, so the thread-per-core claim is measured.
//!
//! For each shard count N it starts a fresh gateway on `--gateway-config`
//! rewritten to N shards on cores 0..N (`shard_placement.rs`: two symbols
//! per shard, one account per session, ephemeral ports), places sessions
//! on shards it has detected (never guessed: `/stats` says where each
//! logon landed) and runs, closed loop:
//! - `route=own`: every session trades only its own shard's symbols, so
//!   no command crosses a ring: each shard alone, N of them side by side;
//! - `route=cross` (N >= 2): every session trades only the next shard's
//!   symbols, so every command crosses one ring there and its reports one
//!   back, and every engine still has the same share;
//! - the hop (N >= 2): one session on shard 0, one IOC in flight, on a
//!   symbol of shard 0 and then of shard 1: the difference of the round
//!   trips is two ring crossings (there and back). Beside it the gateway's
//!   own `mesh_hop` stage (push onto the ring to the owner's pop).
//!
//! Every phase also prints the CPU time its threads used (schedstat): the
//! client's, each shard's, per request, and how long each waited for a
//! core, because on a host with fewer cores than shards plus client
//! threads they share cores, and the figure is then the host's, not the
//! gateway's.

use std::time::{Duration, Instant};

use crate::admin_http;
use crate::cluster::load_average;
use crate::gateway_process::{require_config, ServerProcess};
use crate::load::{self, LoadResult, LoadSpec, Mode, Placed};
use crate::mix::Mix;
use crate::report::{Figure, Latency, Unit};
use crate::schedstat::{self, TaskTime};
use crate::schedule::Phase;
use crate::shard_placement::{self as placement, Landed, Placer};

#[derive(clap::Args)]
pub struct ScalingArgs {
    /// Shard counts to run, each on cores 0..N.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    pub shards: Vec<usize>,
    /// The config rewritten per run (its first symbol and first account
    /// are the templates; see `shard_placement.rs`).
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: std::path::PathBuf,
    /// Load generator threads, one per core listed.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub client_cores: Vec<usize>,
    /// Sessions kept on each shard in the closed-loop runs.
    #[arg(long, default_value_t = 2)]
    pub sessions_per_shard: usize,
    /// Requests in flight per session in the closed-loop runs.
    #[arg(long, default_value_t = 64)]
    pub depth: u64,
    #[arg(long, default_value = "rest=40,cancel=30,replace=15,ioc=10,take=5")]
    pub mix: Mix,
    /// Measured seconds of each closed-loop run (after 1 s of warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Measured seconds of each side of the hop (after 0.5 s of warm-up).
    #[arg(long, default_value_t = 3.0)]
    pub hop_duration: f64,
    /// The shards' idle policy: `auto` spins when shards and client
    /// threads fit on the host's cores and parks otherwise.
    #[arg(long, default_value = "auto")]
    pub idle: String,
    /// Times the whole sequence runs (each shard count afresh per round).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
}

/// One gateway under test, and where to reach it.
struct Gateway {
    process: ServerProcess,
    admin: std::net::SocketAddr,
    placer: Placer,
    shards: usize,
    reference_price: i64,
    tick: i64,
}

/// What one phase measured: the load's figures, its wall time and every
/// thread's CPU time in it, and `/stats` once the phase's stage
/// histograms reached the admin thread.
struct Measured {
    result: LoadResult,
    wall_ns: u64,
    gateway: Vec<TaskTime>,
    stats: serde_json::Value,
}

fn online_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn idle_policy(args: &ScalingArgs, shards: usize, cores: usize) -> &'static str {
    match args.idle.as_str() {
        "spin" => "spin",
        "park" => "park",
        "auto" if shards + args.client_cores.len() <= cores => "spin",
        "auto" => "park",
        other => {
            eprintln!("tradsys-bench scaling: --idle {other}: auto, spin or park");
            std::process::exit(2)
        }
    }
}

fn start(args: &ScalingArgs, shards: usize, idle: &str) -> (Gateway, std::path::PathBuf) {
    let text = std::fs::read_to_string(&args.gateway_config).expect("read the gateway config");
    let rewritten = placement::with_shards(&text, shards, idle);
    let config = tradsys::config::Config::parse(&rewritten).expect("the rewritten config");
    let path = std::env::temp_dir().join(format!(
        "tradsys-scaling-{}-{shards}.toml",
        std::process::id()
    ));
    std::fs::write(&path, rewritten).expect("write the run's config");
    let process = ServerProcess::start(&path);
    let admin = process
        .admin
        .expect("the gateway's ready line names its admin address");
    let token = config.accounts[0].token.clone();
    let gateway = Gateway {
        placer: Placer::new(process.addr, admin, &token),
        process,
        admin,
        shards,
        reference_price: config.symbols[0].reference_price,
        tick: config.symbols[0].tick_size,
    };
    (gateway, path)
}

fn spec(
    args: &ScalingArgs,
    gw: &Gateway,
    connections: usize,
    depth: u64,
    mix: Mix,
    warmup: f64,
    duration: f64,
) -> LoadSpec {
    LoadSpec {
        addr: gw.process.addr.to_string(),
        // Not used by a placed run: each session brings its own.
        accounts: vec![1],
        token: gw.placer.token.clone(),
        connections,
        client_cores: args.client_cores.clone(),
        symbols: vec![1],
        reference_price: gw.reference_price,
        tick: gw.tick,
        mix,
        max_resting: 1_000,
        mode: Mode::Closed {
            depth,
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(duration),
        },
        seed: 42,
    }
}

/// Places `wanted[s]` sessions on each shard `s`; a session on shard `s`
/// trades the symbols of `route(s)`.
fn place(gw: &mut Gateway, wanted: &[usize], route: impl Fn(usize) -> usize) -> Vec<Placed> {
    let landed = gw.placer.place(wanted);
    let shards = gw.shards;
    landed
        .into_iter()
        .flatten()
        .map(
            |Landed {
                 conn,
                 account,
                 shard,
             }| Placed {
                conn,
                account,
                symbols: placement::owned_by(route(shard), shards),
            },
        )
        .collect()
}

/// Runs `spec` on `placed` with the stage figures reset before and the
/// threads' CPU time read around it.
fn measure(gw: &Gateway, spec: &LoadSpec, placed: Vec<Placed>) -> Measured {
    admin_http::latency_reset(gw.admin, placement::ADMIN_TOKEN);
    let gateway_before = schedstat::snapshot(Some(gw.process.pid));
    let began = Instant::now();
    let result = load::run_placed(spec, placed);
    let wall_ns = began.elapsed().as_nanos() as u64;
    let gateway = schedstat::delta(&gateway_before, &schedstat::snapshot(Some(gw.process.pid)));
    assert_eq!(result.unanswered, 0, "every request answered");
    Measured {
        result,
        wall_ns,
        gateway,
        stats: admin_http::settled_stats(gw.admin),
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// The CPU time of the phase's threads: the client's (its load threads,
/// which read their own schedstat: they have ended by now), each
/// shard's; busy share of the wall time, time waiting for a core, and per
/// request answered.
fn print_cpu(m: &Measured, shards: usize) {
    let answered = m.result.answered().max(1);
    let wall = m.wall_ns.max(1) as f64;
    let client = TaskTime {
        name: "client".into(),
        run_ns: m.result.client_run_ns,
        wait_ns: m.result.client_wait_ns,
    };
    let mut line = format!(
        "  cpu over {:.2} s: client {:.0} ms run ({:.0}% of one core), {:.0} ms waiting for a core, {:.0} ns/request",
        wall / 1e9,
        client.run_ns as f64 / 1e6,
        100.0 * client.run_ns as f64 / wall,
        client.wait_ns as f64 / 1e6,
        client.run_ns as f64 / answered as f64
    );
    let mut all = TaskTime::default();
    for shard in 0..shards {
        let t = schedstat::total(&m.gateway, |n| schedstat::shard_of(n) == Some(shard));
        line += &format!(
            "; shard-{shard} {:.0} ms run ({:.0}%), {:.0} ms waiting",
            t.run_ns as f64 / 1e6,
            100.0 * t.run_ns as f64 / wall,
            t.wait_ns as f64 / 1e6
        );
        all.run_ns += t.run_ns;
    }
    let rest = schedstat::total(&m.gateway, |n| schedstat::shard_of(n).is_none());
    line += &format!(
        "; shards {:.0} ns/request; other gateway threads {:.0} ms",
        all.run_ns as f64 / answered as f64,
        rest.run_ns as f64 / 1e6
    );
    println!("{line}");
}

/// The gateway's own figures for the phase, per shard: `wire_to_wire`,
/// `engine`, and `mesh_hop` where commands crossed.
fn print_stages(m: &Measured, shards: usize) {
    for shard in 0..shards {
        let mut line = format!("  gateway shard {shard} (this phase):");
        for stage in ["wire_to_wire", "engine", "mesh_hop"] {
            let (n, p50, p99) = admin_http::stage_since_reset(&m.stats, shard, stage);
            if n > 0 {
                line += &format!(" {stage} n={n} p50={:.2} p99={:.2} us;", us(p50), us(p99));
            }
        }
        println!("{line}");
    }
}

/// A closed-loop run with `args.sessions_per_shard` on every shard, each
/// trading the symbols of `route(its shard)`.
fn throughput(
    args: &ScalingArgs,
    gw: &mut Gateway,
    name: &str,
    route: impl Fn(usize) -> usize,
) -> Figure {
    let wanted = vec![args.sessions_per_shard; gw.shards];
    let placed = place(gw, &wanted, route);
    let spec = spec(
        args,
        gw,
        placed.len(),
        args.depth,
        args.mix,
        1.0,
        args.duration,
    );
    let sessions = placed.len();
    let m = measure(gw, &spec, placed);
    let rate = m.result.steady_answered as f64 / m.result.steady_secs;
    let steady = Latency::of(&m.result.by_phase[Phase::Steady.index()], Unit::Us);
    println!(
        "scaling shards={} route={name} sessions={sessions} requests/s={rate:.0} per-shard={:.0} p50={:.1} p99={:.1} us (load {})",
        gw.shards,
        rate / gw.shards as f64,
        steady.p50,
        steady.p99,
        load_average()
    );
    print_cpu(&m, gw.shards);
    print_stages(&m, gw.shards);
    Figure::rate(
        format!("scaling shards={} route={name} throughput", gw.shards),
        rate,
        "req",
    )
}

/// One session on shard 0, one IOC in flight, on a symbol of `owner`.
fn ping_pong(args: &ScalingArgs, gw: &mut Gateway, owner: usize) -> Measured {
    let mut wanted = vec![0; gw.shards];
    wanted[0] = 1;
    let mut placed = place(gw, &wanted, |_| owner);
    placed[0].symbols.truncate(1);
    let ioc: Mix = "ioc=1".parse().expect("a mix");
    let spec = spec(args, gw, 1, 1, ioc, 0.5, args.hop_duration);
    measure(gw, &spec, placed)
}

fn hop(args: &ScalingArgs, gw: &mut Gateway) {
    assert!(gw.shards >= 2, "a hop needs two shards");
    let same = ping_pong(args, gw, 0);
    let cross = ping_pong(args, gw, 1);
    let of = |m: &Measured| Latency::of(&m.result.by_phase[Phase::Steady.index()], Unit::Us);
    let (a, c) = (of(&same), of(&cross));
    println!(
        "cross-shard hop: same-shard p50={:.1} p99={:.1} cross-shard p50={:.1} p99={:.1} us (+{:.1} us per hop at p50: a round trip crosses twice) (load {})",
        a.p50,
        a.p99,
        c.p50,
        c.p99,
        (c.p50 - a.p50) / 2.0,
        load_average()
    );
    println!("  same-shard ping-pong:");
    print_cpu(&same, gw.shards);
    print_stages(&same, gw.shards);
    println!("  cross-shard ping-pong:");
    print_cpu(&cross, gw.shards);
    print_stages(&cross, gw.shards);
}

fn run_one(args: &ScalingArgs, shards: usize, cores: usize) -> Vec<Figure> {
    let idle = idle_policy(args, shards, cores);
    let shared = shards + args.client_cores.len() > cores;
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
    let (mut gw, config) = start(args, shards, idle);
    let mut figures = vec![throughput(args, &mut gw, "own", |s| s)];
    if shards >= 2 {
        figures.push(throughput(args, &mut gw, "cross", |s| {
            placement::other_shard(s, shards)
        }));
        hop(args, &mut gw);
    }
    drop(gw);
    let _ = std::fs::remove_file(config);
    figures
}

pub fn run(args: &ScalingArgs) -> Vec<Figure> {
    require_config(&args.gateway_config);
    assert!(!args.client_cores.is_empty(), "a client core");
    assert!(args.sessions_per_shard > 0, "a session per shard");
    let cores = online_cores();
    println!(
        "scaling: {cores} cores online; shard counts {:?}; mix {}, {} session(s) per shard x {} in flight; client threads on cores {:?}; {} round(s)",
        args.shards, args.mix, args.sessions_per_shard, args.depth, args.client_cores, args.rounds
    );
    let mut figures = Vec::new();
    for round in 1..=args.rounds {
        println!("scaling: round {round} (load {})", load_average());
        for &shards in &args.shards {
            if shards == 0 || shards > cores {
                println!("scaling: {shards} shard(s) skipped: the host has {cores} cores");
                continue;
            }
            figures.extend(run_one(args, shards, cores));
        }
    }
    figures
}
