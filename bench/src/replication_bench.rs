//! `replication`: the figures of issue 16 in one run, on this host, with a
//! real three-node NATS JetStream cluster on loopback (`cluster.rs`):
//!
//! - `lag`: follower lag, from the primary's receipt of a command (its
//!   record's `ts_ns`, stamped just before the journal append) to the
//!   follower's engine applying it, p50/p99/max over every record of an
//!   open-loop run at `--rate`, as the follower measures it (`follower
//!   stopped ... lag_p50_us`);
//! - `fanout`: market-data messages delivered per second (events x
//!   subscribers) to `--subscribers` raw-TCP clients of the primary alone,
//!   against the same clients spread over two followers' relays, in
//!   alternating rounds under the same order flow;
//! - `entry`: the primary's order-entry latency with shipping off and on,
//!   in alternating rounds.
//!
//! The host load (1-minute average) is printed with every figure: on a
//! shared machine it says how much of a figure is the host.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::{ephemeral_ports, field, gauge, load_average, NatsCluster, Node};
use crate::load::{self, LoadResult, LoadSpec, Mode};
use crate::orders_bench::OrdersArgs;
use crate::report::{Figure, Unit};
use crate::schedule::{Phase, Schedule};

#[derive(clap::Args, Clone)]
pub struct ReplicationArgs {
    /// The load (its `--addr` is ignored: the bench starts its gateway).
    #[command(flatten)]
    pub orders: OrdersArgs,
    /// The gateway config the runs derive theirs from (ports made ephemeral).
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    #[arg(long, default_value = "nats-server")]
    pub nats_server: PathBuf,
    /// Rounds of each alternation (fanout, entry).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Market-data clients in `fanout`.
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Which figures: lag, fanout, entry.
    #[arg(long, default_value = "lag,fanout,entry", value_delimiter = ',')]
    pub what: Vec<String>,
}

struct Setup {
    cluster: NatsCluster,
    /// Gateways started so far: each ships to streams of its own.
    runs: std::cell::Cell<usize>,
    /// The bench config with ephemeral ports.
    base: String,
    dir: PathBuf,
}

impl Setup {
    /// The config of a new replicated gateway (and its followers).
    fn replicated(&self) -> String {
        let run = self.runs.get() + 1;
        self.runs.set(run);
        format!("{}{}", self.base, self.cluster.replication_toml(run))
    }
}

pub fn run(args: &ReplicationArgs) -> Vec<Figure> {
    crate::gateway_process::require_config(&args.gateway_config);
    let dir = std::env::temp_dir().join(format!("tradsys-bench-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(&args.gateway_config).unwrap();
    let setup = Setup {
        cluster: NatsCluster::start(&args.nats_server, &dir.join("nats")),
        runs: std::cell::Cell::new(0),
        base: ephemeral_ports(&text),
        dir: dir.clone(),
    };
    println!(
        "replication: {} against a 3-node JetStream cluster on loopback (R=3), host load {}",
        args.orders.describe(),
        load_average()
    );
    let mut figures = Vec::new();
    for what in &args.what {
        match what.as_str() {
            "lag" => figures.extend(lag(args, &setup)),
            "fanout" => figures.extend(fanout(args, &setup)),
            "entry" => figures.extend(entry(args, &setup)),
            other => eprintln!("replication: unknown --what {other} (lag, fanout, entry)"),
        }
    }
    drop(setup);
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

fn spec(args: &ReplicationArgs, addr: SocketAddr) -> LoadSpec {
    let mut spec = args.orders.spec();
    spec.addr = addr.to_string();
    spec
}

/// A second of light load: the cluster elects its leaders and the stream
/// exists before anything is measured.
fn warm_up(args: &ReplicationArgs, addr: SocketAddr) {
    let mut spec = spec(args, addr);
    spec.mode = Mode::Open(Schedule {
        rate: 1_000.0,
        ramp_up: Duration::ZERO,
        warmup: Duration::ZERO,
        steady: Duration::from_secs(1),
        ramp_down: Duration::ZERO,
    });
    let _ = load::run(&spec);
}

/// Waits until the shipper has shipped everything the primary journaled
/// (shard 0; the journal's seq unchanged over two polls, so the load is
/// over) and every follower applied it; false (said) after 10 minutes.
fn wait_caught_up(gateway: &Node, followers: &mut [Node]) -> bool {
    let admin = gateway.addr("admin");
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last_journal = 0;
    loop {
        let journal = gauge(admin, "tradsys_replication_journal_seq{shard=\"0\"}").unwrap_or(0);
        let unshipped = gauge(admin, "tradsys_replication_lag_records{shard=\"0\"}").unwrap_or(1);
        let settled = journal > 0 && journal == last_journal && unshipped == 0;
        let applied: Vec<u64> = followers.iter_mut().map(Node::applied_seq).collect();
        if settled && applied.iter().all(|&a| a >= journal) {
            return true;
        }
        if Instant::now() > deadline {
            println!("replication: the followers did not catch up in 600 s: applied {applied:?} of {journal}, {unshipped} unshipped");
            return false;
        }
        last_journal = journal;
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn lag(args: &ReplicationArgs, setup: &Setup) -> Vec<Figure> {
    let text = setup.replicated();
    let gateway = Node::start(
        "serve",
        &setup.dir.join("primary"),
        &text,
        "ready order_entry=",
        true,
    );
    let follower_dir = setup.dir.join("follower");
    let follower = Node::start("follow", &follower_dir, &text, "relay listening", true);
    warm_up(args, gateway.addr("order_entry"));
    let mut followers = [follower];
    wait_caught_up(&gateway, &mut followers);
    let [follower] = followers;
    drop(follower.stop());
    // Restarted, it resumes after its journal: its lag figures cover the
    // measured run's records only.
    let follower = Node::start("follow", &follower_dir, &text, "relay listening", false);
    let load_before = load_average();
    let result = load::run(&spec(args, gateway.addr("order_entry")));
    let mut followers = [follower];
    let caught_up = wait_caught_up(&gateway, &mut followers);
    let [follower] = followers;
    let lines = follower.stop();
    let stopped = lines
        .iter()
        .find(|l| l.contains("follower stopped"))
        .expect("a follower stopped line");
    let value = |key| field(stopped, key).unwrap_or("?").to_string();
    let line = format!(
        "replication lag (primary receipt -> follower applied, {} records at {}/s, caught up: {caught_up}): p50={} p99={} max={} us, host load {} -> {}",
        value("records_applied"),
        args.orders.rate,
        value("lag_p50_us"),
        value("lag_p99_us"),
        value("lag_max_us"),
        load_before,
        load_average()
    );
    println!("{line}");
    let figures = vec![entry_figure("replication lag run: order entry", &result)];
    catch_up_rate(&gateway, &text, &setup.dir.join("scratch"));
    figures
}

/// How fast a follower from scratch applies the stream the run left (no
/// load on the primary meanwhile): its records per second.
fn catch_up_rate(gateway: &Node, text: &str, dir: &std::path::Path) {
    let load_before = load_average();
    let start = Instant::now();
    let mut followers = [Node::start("follow", dir, text, "relay listening", true)];
    let caught_up = wait_caught_up(gateway, &mut followers);
    let secs = start.elapsed().as_secs_f64();
    let applied = followers[0].applied_seq();
    println!(
        "replication catch-up: a follower from scratch applied {applied} records in {secs:.1} s ({:.0} records/s, caught up: {caught_up}), host load {load_before} -> {}",
        applied as f64 / secs,
        load_average()
    );
}

fn entry_figure(name: &str, result: &LoadResult) -> Figure {
    Figure::latency(
        format!("{name}, host load {}", load_average()),
        &result.by_phase[Phase::Steady.index()],
        Unit::Us,
    )
    .print()
}

/// Order entry with shipping off and on, alternating; the ratio of each
/// pair's p50 and p99 (on / off).
fn entry(args: &ReplicationArgs, setup: &Setup) -> Vec<Figure> {
    let mut figures = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..args.rounds {
        let mut pair = Vec::new();
        for shipping in [false, true] {
            let text = if shipping {
                setup.replicated()
            } else {
                setup.base.clone()
            };
            let gateway = Node::start(
                "serve",
                &setup.dir.join("entry"),
                &text,
                "ready order_entry=",
                true,
            );
            let addr = gateway.addr("order_entry");
            warm_up(args, addr);
            let result = load::run(&spec(args, addr));
            let label = if shipping { "on" } else { "off" };
            let figure = entry_figure(&format!("entry round {round} shipping {label}"), &result);
            let h = &result.by_phase[Phase::Steady.index()];
            pair.push((h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
            figures.push(figure);
            drop(gateway.stop());
        }
        let ratio = (
            pair[1].0 as f64 / pair[0].0.max(1) as f64,
            pair[1].1 as f64 / pair[0].1.max(1) as f64,
        );
        println!(
            "entry round {round}: shipping on / off: p50 x{:.3}, p99 x{:.3}",
            ratio.0, ratio.1
        );
        ratios.push(ratio);
    }
    assert_eq!(ratios.len(), args.rounds);
    figures
}

/// What the subscribers of one fan-out round received.
struct Received {
    messages: Arc<AtomicU64>,
    closed: Arc<AtomicU64>,
    /// Nanoseconds since `start` of the last message.
    last_ns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    reader: std::thread::JoinHandle<()>,
}

const SUBSCRIBE_LINE: &[u8] =
    b"{\"op\":\"subscribe\",\"req_id\":1,\"symbols\":[1,2,3,4],\"channels\":[\"book\",\"trades\"],\"depth\":10}\n";

/// `count` raw-TCP subscribers over `addrs` (dealt round-robin), read by
/// one thread that counts every binary message but heartbeats.
fn subscribe(addrs: &[SocketAddr], count: usize, start: Instant) -> Received {
    let mut streams: Vec<TcpStream> = (0..count)
        .map(|i| {
            let mut stream =
                TcpStream::connect(addrs[i % addrs.len()]).expect("connect to market data");
            stream.write_all(SUBSCRIBE_LINE).unwrap();
            stream.set_nonblocking(true).unwrap();
            stream
        })
        .collect();
    let messages = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let last_ns = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counters = (
        Arc::clone(&messages),
        Arc::clone(&closed),
        Arc::clone(&last_ns),
        Arc::clone(&stop),
    );
    let reader = std::thread::spawn(move || {
        let (messages, closed, last_ns, stop) = counters;
        let mut buffers: Vec<Vec<u8>> = streams.iter().map(|_| Vec::new()).collect();
        let mut chunk = vec![0u8; 1 << 16];
        while !stop.load(Ordering::Acquire) {
            for (stream, buf) in streams.iter_mut().zip(&mut buffers) {
                match stream.read(&mut chunk) {
                    Ok(0) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        stream.shutdown(std::net::Shutdown::Both).ok();
                    }
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        let counted = count_messages(buf);
                        if counted > 0 {
                            messages.fetch_add(counted, Ordering::Relaxed);
                            last_ns.store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {}
                }
            }
        }
    });
    Received {
        messages,
        closed,
        last_ns,
        stop,
        reader,
    }
}

/// Takes the whole lines and messages off the front of `buf`; the binary
/// messages that are not heartbeats among them.
fn count_messages(buf: &mut Vec<u8>) -> u64 {
    let mut at = 0;
    let mut counted = 0;
    loop {
        let rest = &buf[at..];
        if rest.first() == Some(&b'{') {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            at += end + 1;
        } else if rest.len() >= 8 {
            let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            assert!(len >= 8 && len.is_multiple_of(8), "a binary message length");
            if rest.len() < len {
                break;
            }
            counted += u64::from(rest[4] != 0xC7);
            at += len;
        } else {
            break;
        }
    }
    buf.drain(..at);
    counted
}

/// Events x subscribers per second: the primary's own feed against the same
/// subscribers spread over two followers' relays, alternating.
fn fanout(args: &ReplicationArgs, setup: &Setup) -> Vec<Figure> {
    let text = setup.replicated();
    let gateway = Node::start(
        "serve",
        &setup.dir.join("primary"),
        &text,
        "ready order_entry=",
        true,
    );
    let mut followers: Vec<Node> = (0..2)
        .map(|i| {
            Node::start(
                "follow",
                &setup.dir.join(format!("f{i}")),
                &text,
                "relay listening",
                true,
            )
        })
        .collect();
    warm_up(args, gateway.addr("order_entry"));
    wait_caught_up(&gateway, &mut followers);
    let relays: Vec<SocketAddr> = followers.iter().map(|f| f.addr("market_data")).collect();
    let mut figures = Vec::new();
    for round in 0..args.rounds {
        for (label, addrs) in [
            ("primary alone", vec![gateway.addr("market_data")]),
            ("two followers", relays.clone()),
        ] {
            let start = Instant::now();
            let received = subscribe(&addrs, args.subscribers, start);
            let load_before = load_average();
            let result = load::run(&spec(args, gateway.addr("order_entry")));
            let caught_up = wait_caught_up(&gateway, &mut followers);
            std::thread::sleep(Duration::from_millis(500));
            received.stop.store(true, Ordering::Release);
            received.reader.join().unwrap();
            let messages = received.messages.load(Ordering::Relaxed);
            let secs = received.last_ns.load(Ordering::Relaxed) as f64 / 1e9;
            println!(
                "fanout round {round} {label}: followers caught up: {caught_up}, {} subscribers, {messages} messages ({} per subscriber) in {secs:.2} s, {} closed, {} orders answered, host load {load_before} -> {}",
                args.subscribers,
                messages / args.subscribers as u64,
                received.closed.load(Ordering::Relaxed),
                result.answered(),
                load_average()
            );
            figures.push(
                Figure::rate(
                    format!("fanout round {round} {label}"),
                    messages as f64 / secs.max(1e-9),
                    "msg",
                )
                .print(),
            );
        }
    }
    drop(gateway);
    figures
}
