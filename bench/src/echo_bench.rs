//! A bare io_uring (glommio) TCP server with the gateway's framing and
//! message sizes, and `compare`, which measures the same open-loop load
//! against it and against the real gateway in one run, then (in
//! `floor_bench.rs`) a ping-pong against the physical floor.
//!
//! The echo answers a Logon with LogonAccepted and each NewOrder with an
//! OrderAccepted and an OrderCanceled (the gateway's answer to a
//! non-trading IOC: 104 bytes for 48), with correct sequence numbers, and
//! does nothing else: no session checks, no routing, no engine, no journal.
//! The difference between the two distributions is what the gateway costs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use tradsys::engine::{CancelReason, Event, OrderKind, Side, TimeInForce};
use tradsys::protocol::*;

use crate::gateway_process::ServerProcess;
use crate::load;
use crate::mix::Mix;
use crate::orders_bench::{report, OrdersArgs};
use crate::report::{histogram, Figure, Unit, Value};
use crate::schedule::Phase;

#[derive(clap::Args)]
pub struct EchoArgs {
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub addr: SocketAddr,
    /// Core the echo's executor is pinned to.
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// Exit after serving this many connections (default: serve for ever).
    #[arg(long)]
    pub connections: Option<usize>,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Open-loop rate of both runs, requests per second.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    /// Measured seconds per round and server.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds at full rate before measuring, each round.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Rounds; each runs the echo, then the gateway, so slow drift in the
    /// machine lands on both alike. Histograms are merged per server.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Idle seconds before the first server starts and after stopping each.
    /// Without it the kernel's teardown of the last server (about 20 ms of
    /// work, 0.5-3 s after its exit) lands inside the next run.
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// Core of the echo and of the gateway's single shard (the gateway's
    /// config must say the same: configs/bench.toml uses core 0).
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// Core the client thread is pinned to.
    #[arg(long, default_value_t = 1)]
    pub client_core: usize,
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub echo_addr: SocketAddr,
    /// Rounds of the ping-pong part (floor, gateway, io_uring echo, glommio
    /// echo in each; 0 leaves it out). See `floor_bench.rs`.
    #[arg(long, default_value_t = 5)]
    pub pingpong_rounds: u32,
    /// Measured orders per server and round.
    #[arg(long, default_value_t = 20_000)]
    pub pingpong_orders: u64,
    /// Orders before measuring, per server and round.
    #[arg(long, default_value_t = 2_000)]
    pub pingpong_warmup: u64,
    /// Idle seconds after each ping-pong run.
    #[arg(long, default_value_t = 1.0)]
    pub pingpong_settle: f64,
}

/// A stall the echo injects once (tests of the load generator's
/// coordinated-omission correction): after answering `after` orders it
/// blocks its core for `pause`.
#[derive(Clone, Copy)]
pub struct Stall {
    pub after: u64,
    pub pause: Duration,
}

/// Encodes the echo's answer to one client message into `out`; returns the
/// bytes written.
pub(crate) fn answer(
    message: &[u8],
    next_seq: &mut u32,
    order_id: &mut u64,
    out: &mut [u8],
) -> usize {
    let mut seq = || {
        let s = *next_seq;
        *next_seq += 1;
        s
    };
    match message[2] {
        msg_type::LOGON => {
            let account = u32::from_le_bytes(message[8..12].try_into().unwrap());
            encode(&LogonAcceptedMsg::new(account, 30_000, 2), seq(), out).unwrap()
        }
        msg_type::NEW_ORDER => {
            *order_id += 1;
            let client_order_id = u64::from_le_bytes(message[8..16].try_into().unwrap());
            let accepted = Event::Accepted {
                order_id: *order_id,
                account: 1,
                symbol: 1,
                client_order_id,
                side: Side::Buy,
                kind: OrderKind::Limit,
                tif: TimeInForce::Ioc,
                price: 1,
                qty: 1,
            };
            let canceled = Event::Canceled {
                order_id: *order_id,
                account: 1,
                symbol: 1,
                client_order_id,
                canceled_qty: 1,
                reason: CancelReason::ImmediateRemainder,
            };
            let n = encode_event(&accepted, seq(), 0, out).unwrap();
            n + encode_event(&canceled, seq(), 0, &mut out[n..]).unwrap()
        }
        _ => 0,
    }
}

/// Serves connections one after another (at most `connections`, or for
/// ever) on a pinned glommio executor in its own thread.
pub fn spawn_echo(
    addr: SocketAddr,
    core: usize,
    connections: Option<usize>,
    stall: Option<Stall>,
) -> glommio::ExecutorJoinHandle<()> {
    LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("echo")
        .spin_before_park(Duration::from_secs(3600))
        .spawn(move || async move {
            // The same idle loop as a gateway shard with idle = "spin" (a
            // re-armed 1 us timer), so both servers poll io_uring alike and
            // the comparison isolates the gateway's own work.
            let spinner = glommio::spawn_local(async {
                let mut timer = glommio::timer::Timer::new(Duration::from_micros(1));
                loop {
                    timer.reset(Duration::from_micros(1));
                    (&mut timer).await;
                }
            });
            let listener = TcpListener::bind(addr).expect("bind the echo address");
            println!("echo: listening on {addr} (core {core})");
            let mut served = 0;
            while connections.is_none_or(|n| served < n) {
                let Ok(mut stream) = listener.accept().await else {
                    continue;
                };
                served += 1;
                let _ = stream.set_nodelay(true);
                let (mut inbuf, mut outbuf) = (vec![0u8; 64 << 10], vec![0u8; 256 << 10]);
                let (mut filled, mut next_seq, mut order_id) = (0, 1u32, 0u64);
                let mut stall = stall;
                while let Ok(n) = stream.read(&mut inbuf[filled..]).await {
                    if n == 0 {
                        break;
                    }
                    filled += n;
                    let (mut at, mut out) = (0, 0);
                    while filled - at >= HEADER_LEN {
                        let len = u16::from_le_bytes([inbuf[at], inbuf[at + 1]]) as usize;
                        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) || filled - at < len {
                            break;
                        }
                        out += answer(
                            &inbuf[at..at + len],
                            &mut next_seq,
                            &mut order_id,
                            &mut outbuf[out..],
                        );
                        at += len;
                        if let Some(s) = stall.filter(|s| s.after == order_id) {
                            // Once. Blocks the whole executor, as a stalled
                            // server would: nothing is read or answered.
                            stall = None;
                            std::thread::sleep(s.pause);
                        }
                    }
                    inbuf.copy_within(at..filled, 0);
                    filled -= at;
                    if out > 0 && stream.write_all(&outbuf[..out]).await.is_err() {
                        break;
                    }
                }
            }
            drop(spinner);
        })
        .expect("start the echo executor")
}

pub fn run_echo(args: &EchoArgs) {
    let _ = spawn_echo(args.addr, args.core, args.connections, None).join();
}

/// The load `compare` puts on either server: IOC orders only (all the echo
/// can answer), one connection, open loop at the given rate.
pub fn compare_load(args: &CompareArgs, addr: SocketAddr, token: &str) -> OrdersArgs {
    OrdersArgs {
        addr: addr.to_string(),
        accounts: vec![1],
        token: token.to_string(),
        connections: 1,
        client_cores: vec![args.client_core],
        symbols: vec![1],
        reference_price: 5_000_000,
        tick: 1,
        mix: Mix::IOC_ONLY,
        max_resting: 0,
        rate: args.rate,
        depth: 1,
        ramp_up: 0.0,
        warmup: args.warmup,
        duration: args.duration,
        ramp_down: 0.0,
        hgrm: PathBuf::new(),
        seed: 42,
    }
}

pub fn run_compare(args: &CompareArgs) -> Vec<Figure> {
    crate::gateway_process::require_config(&args.gateway_config);
    println!(
        "compare: open loop {} orders/s (IOC, accepted then canceled), {} round(s) of {} s + {} s warm-up per server, servers on core {}, client on core {}",
        args.rate, args.rounds, args.duration, args.warmup, args.server_core, args.client_core
    );
    let (mut echo_all, mut gateway_all) = (histogram(), histogram());
    // Whatever ran just before (in `report`: the journal bench, removing
    // its segment files) gets the same settle time as a stopped server:
    // measured without it, the first echo round took a 16-34 ms stall.
    std::thread::sleep(Duration::from_secs_f64(args.settle));
    for round in 1..=args.rounds {
        let echo = ServerProcess::start_echo(args.echo_addr, args.server_core);
        let load = compare_load(args, echo.addr, "echo");
        let result = load::run(&load.spec());
        drop(echo);
        std::thread::sleep(Duration::from_secs_f64(args.settle));
        report(&format!("round {round} echo"), &load, &result);
        echo_all
            .add(&result.by_phase[Phase::Steady.index()])
            .unwrap();

        let gateway = ServerProcess::start(&args.gateway_config);
        let load = compare_load(args, gateway.addr, "bench-token");
        let result = load::run(&load.spec());
        drop(gateway);
        std::thread::sleep(Duration::from_secs_f64(args.settle));
        report(&format!("round {round} gateway"), &load, &result);
        gateway_all
            .add(&result.by_phase[Phase::Steady.index()])
            .unwrap();
    }
    crate::floor_bench::run_pingpong(args);
    if args.rounds == 0 {
        return Vec::new();
    }
    let echo = Figure::latency("echo", &echo_all, Unit::Us).print();
    let gateway = Figure::latency("gateway", &gateway_all, Unit::Us).print();
    let (Value::Latency(g), Value::Latency(e)) = (&gateway.value, &echo.value) else {
        unreachable!("both are latency figures")
    };
    println!(
        "ratio gateway/echo p50={:.2} p99={:.2} (gateway p50={:.1} p99={:.1} us, echo p50={:.1} p99={:.1} us)",
        g.p50 / e.p50,
        g.p99 / e.p99,
        g.p50,
        g.p99,
        e.p50,
        e.p99
    );
    vec![echo, gateway]
}
