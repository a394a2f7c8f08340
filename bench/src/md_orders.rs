//! The `md` bench's order-entry comparison: `orders`' open loop (latency
//! from each request's intended send time) on symbol 2 without
//! market-data subscribers, then with `--oe-subscribers` attached to
//! `book` and `trades` of `--oe-md-symbol`, on the same gateway, and the
//! ratio of their p50 and p99 (issue 13: within 10%).
//!
//! On a 2-core host the subscribers' reader thread shares the load
//! generator's core, so the second run also measures the generator
//! competing with them; the figures say which cores ran what. To tell the
//! two apart, each run also prints the gateway's own `wire_to_wire` and
//! `loop_cycle` stages over the run (its admin endpoint,
//! `admin_latency.rs`): `wire_to_wire` starts at the socket read, so a
//! request that waited in the kernel behind a long turn is not in it, and
//! `loop_cycle` is the mesh loop's turns (empty for one parked shard,
//! whose mesh loop never takes anything).

use std::time::Duration;

use std::net::SocketAddr;

use crate::admin_latency;
use crate::load::{self, LoadSpec, Mode};
use crate::md_audience::attach;
use crate::md_bench::MdArgs;
use crate::report::{Figure, Latency, Unit};
use crate::schedule::{Phase, Schedule};

fn spec(args: &MdArgs, oe: &str) -> LoadSpec {
    LoadSpec {
        addr: oe.to_string(),
        accounts: vec![3],
        token: args.token.clone(),
        connections: 1,
        client_cores: args.client_cores.clone(),
        symbols: vec![2],
        reference_price: 5_000_000,
        tick: 1,
        mix: "rest=40,cancel=30,replace=15,ioc=10,take=5"
            .parse()
            .expect("a mix"),
        max_resting: 1_000,
        mode: Mode::Open(Schedule {
            rate: args.oe_rate as f64,
            ramp_up: Duration::ZERO,
            warmup: Duration::from_secs(1),
            steady: Duration::from_secs_f64(args.duration),
            ramp_down: Duration::ZERO,
        }),
        seed: 42,
    }
}

/// One open-loop run; prints and returns its steady latency.
fn one(label: &str, spec: &LoadSpec) -> (Figure, Latency) {
    let result = load::run(spec);
    let steady = &result.by_phase[Phase::Steady.index()];
    println!(
        "  {label}: {} sent, {} answered, {} rejects",
        result.sent,
        result.answered(),
        result.reject_count()
    );
    let figure = Figure::latency(label, steady, Unit::Us).print();
    (figure, Latency::of(steady, Unit::Us))
}

/// The gateway's stages over what `run` does.
fn with_stages<T>(label: &str, admin: Option<SocketAddr>, run: impl FnOnce() -> T) -> T {
    const STAGES: [&str; 2] = ["wire_to_wire", "loop_cycle"];
    let snapshot = |stage| admin.and_then(|admin| admin_latency::snapshot(admin, stage));
    let before = STAGES.map(snapshot);
    let out = run();
    for (stage, before) in STAGES.iter().zip(before) {
        match (before, snapshot(stage)) {
            (Some(before), Some(after)) => {
                let delta = admin_latency::between(&before, &after);
                let line = format!("  {label} gateway {stage}");
                println!("{}", admin_latency::describe(&line, &delta));
            }
            _ => println!("  {label} gateway {stage}: no admin endpoint answer"),
        }
    }
    out
}

/// Where the gateway put this bench's connections (the kernel picks among
/// the shards that bind each listener, `server.*_shards`): order-entry
/// sessions and market-data clients opened, per shard.
fn print_placement(label: &str, admin: SocketAddr) {
    let stats = crate::admin_http::stats(admin);
    let sessions = crate::admin_http::counter(&stats, "sessions_opened");
    let clients = crate::admin_http::counter(&stats, "ws_clients_opened");
    assert_eq!(sessions.len(), clients.len(), "one entry per shard");
    println!("  {label} per shard: order-entry sessions opened {sessions:?}, market-data clients opened {clients:?}");
}

pub fn compare(args: &MdArgs, oe: &str, md: &str, admin: Option<SocketAddr>) -> Vec<Figure> {
    let k = args.oe_subscribers;
    assert!(k > 0, "subscribers to compare with");
    let spec = spec(args, oe);
    println!(
        "md-orders: open loop {} req/s on symbol {:?} (account 3), {} s steady; then with {k} subscribers to book and trades of symbol {}",
        args.oe_rate, spec.symbols, args.duration, args.oe_md_symbol
    );
    let (without, a) = with_stages("md-orders subscribers=0", admin, || {
        one("md-orders subscribers=0", &spec)
    });
    let symbols = format!("[{}]", args.oe_md_symbol);
    let cores = args.oe_md_cores.as_ref().unwrap_or(&args.client_cores);
    println!(
        "md-orders: order client on cores {:?}, subscribers' readers on cores {cores:?}",
        args.client_cores
    );
    let audience = attach(md, k, cores, &symbols, r#"["book","trades"]"#);
    let label = format!("md-orders subscribers={k}");
    let (with, b) = with_stages(&label, admin, || one(&label, &spec));
    if let Some(admin) = admin {
        print_placement(&label, admin);
    }
    let seen = audience.finish();
    println!(
        "md-orders subscribers={k} vs 0: p50 {:.2}x p99 {:.2}x (subscribers closed by the server: {})",
        b.p50 / a.p50,
        b.p99 / a.p99,
        seen.closed
    );
    vec![without, with]
}
