//! The physical floor: a bare io_uring (glommio) TCP server with the
//! gateway's framing and message sizes, and `compare`, which measures the
//! same ping-pong against it and against the real gateway in one run.
//!
//! The echo answers a Logon with LogonAccepted and each NewOrder with an
//! OrderAccepted and an OrderCanceled (the gateway's answer to a
//! non-trading IOC: 104 bytes for 48), with correct sequence numbers, and
//! does nothing else: no session checks, no routing, no engine, no journal.
//! The difference between the two distributions is what the gateway costs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use tradsys::client::Client;
use tradsys::engine::{CancelReason, Event, OrderKind, Side, TimeInForce};
use tradsys::protocol::*;

use crate::gateway_bench::{ping_pong, GatewayArgs};

#[derive(clap::Args)]
pub struct EchoArgs {
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub addr: SocketAddr,
    /// Core the echo's executor is pinned to.
    #[arg(long, default_value_t = 0)]
    pub core: usize,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Round trips measured against each server (after as many of warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub pings: u64,
    /// Core of the echo and of the gateway's single shard (the gateway's
    /// config must say the same: configs/bench.toml uses core 0).
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// Core the client is pinned to.
    #[arg(long, default_value_t = 1)]
    pub client_core: usize,
    #[arg(long, default_value = "configs/bench.toml")]
    pub gateway_config: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub echo_addr: SocketAddr,
}

/// Encodes the echo's answer to one client message into `out`; returns the
/// bytes written.
fn answer(message: &[u8], next_seq: &mut u32, order_id: &mut u64, out: &mut [u8]) -> usize {
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
            let mut served = 0;
            while connections.is_none_or(|n| served < n) {
                let Ok(mut stream) = listener.accept().await else {
                    continue;
                };
                served += 1;
                let _ = stream.set_nodelay(true);
                let (mut inbuf, mut outbuf) = (vec![0u8; 64 << 10], vec![0u8; 256 << 10]);
                let (mut filled, mut next_seq, mut order_id) = (0, 1u32, 0u64);
                loop {
                    let Ok(n) = stream.read(&mut inbuf[filled..]).await else {
                        break;
                    };
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
    println!("echo: {} on core {}", args.addr, args.core);
    let _ = spawn_echo(args.addr, args.core, None).join();
}

fn pin(core: usize) -> bool {
    core_affinity::get_core_ids()
        .and_then(|cores| cores.into_iter().find(|c| c.id == core))
        .is_some_and(core_affinity::set_for_current)
}

fn measure(addr: SocketAddr, token: &str, pings: u64) -> Histogram<u64> {
    let mut client = Client::connect(addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .logon(1, token.as_bytes(), 30_000, false)
        .expect("logon");
    let args = GatewayArgs {
        addr: addr.to_string(),
        account: 1,
        token: token.to_string(),
        symbol: 1,
        price: 4_500_000,
        pings,
        burst: 0,
        depth: 1,
        core: 0,
    };
    let rtt = ping_pong(&mut client, &args, pings);
    let _ = client.logout();
    rtt
}

/// Starts `tradsys serve` (the binary next to this one) and waits for its
/// ready line; returns the child and its order-entry address.
fn start_gateway(config: &PathBuf) -> (std::process::Child, SocketAddr) {
    let exe = std::env::current_exe().unwrap().with_file_name("tradsys");
    let mut command = Command::new(&exe);
    {
        use std::os::unix::process::CommandExt;
        // The client thread is pinned and a child inherits that: give the
        // gateway every core back, so it can pin its shards where told.
        // SAFETY: only sched_setaffinity between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let mut all: libc::cpu_set_t = std::mem::zeroed();
                for cpu in 0..libc::CPU_SETSIZE as usize {
                    libc::CPU_SET(cpu, &mut all);
                }
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &all);
                Ok(())
            });
        }
    }
    let mut child = command
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {} (build it with cargo build --release): {e}",
                exe.display()
            )
        });
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "the gateway stopped before it was ready:\n{}",
                seen.join("\n")
            );
        };
        seen.push(line.clone());
        if line.contains("ready") {
            if let Some(rest) = line.split("order_entry=").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

pub fn run_compare(args: &CompareArgs) {
    let pinned = pin(args.client_core);
    println!(
        "compare: {} round trips each, servers on core {}, client on core {} (pinned: {pinned})",
        args.pings, args.server_core, args.client_core
    );
    let echo = spawn_echo(args.echo_addr, args.server_core, Some(1));
    std::thread::sleep(Duration::from_millis(200)); // let it bind before connecting
    let echo_rtt = measure(args.echo_addr, "echo", args.pings);
    let _ = echo.join();

    let (mut gateway, addr) = start_gateway(&args.gateway_config);
    let gateway_rtt = measure(addr, "bench-token", args.pings);
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(gateway.id() as i32, libc::SIGINT);
    }
    let _ = gateway.wait();

    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    for (name, h) in [("echo", &echo_rtt), ("gateway", &gateway_rtt)] {
        println!(
            "{name}: p50={:.1} p90={:.1} p99={:.1} p99.9={:.1} max={:.1} us",
            us(h, 0.5),
            us(h, 0.9),
            us(h, 0.99),
            us(h, 0.999),
            h.max() as f64 / 1_000.0
        );
    }
    println!(
        "ratio gateway/echo p50={:.2} p99={:.2} (gateway p50={:.1} p99={:.1} us, echo p50={:.1} p99={:.1} us)",
        us(&gateway_rtt, 0.5) / us(&echo_rtt, 0.5),
        us(&gateway_rtt, 0.99) / us(&echo_rtt, 0.99),
        us(&gateway_rtt, 0.5),
        us(&gateway_rtt, 0.99),
        us(&echo_rtt, 0.5),
        us(&echo_rtt, 0.99)
    );
}
