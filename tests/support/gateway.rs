//! Runs the real `tradsys` binary on loopback for integration tests: two
//! shards (so orders cross the mesh), `park` idle policy (the test client
//! needs a core too), an ephemeral port read from the `ready` log line.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tradsys::client::{Client, Received};
use tradsys::engine::*;

/// Symbol 1 is owned by shard 0, symbol 2 by shard 1.
pub const BTC: SymbolId = 1;
pub const ETH: SymbolId = 2;
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
/// Carol's account has cancel-on-disconnect in config.
pub const CAROL: AccountId = 3;
pub const VIEWER: AccountId = 4;

pub fn token(account: AccountId) -> &'static [u8] {
    match account {
        ALICE => b"alice-token",
        BOB => b"bob-token",
        CAROL => b"carol-token",
        VIEWER => b"viewer-token",
        _ => b"no-such-token",
    }
}

/// The test configuration. `overrides` go into `[session]`; anything after
/// a `[journal]` line in them goes into `[journal]`, and after a `[server]`
/// line into `[server]` (`[server]` part last).
pub fn config(overrides: &str, dir: &std::path::Path) -> String {
    let (overrides, server_overrides) = overrides.split_once("[server]").unwrap_or((overrides, ""));
    let (session_overrides, journal_overrides) =
        overrides.split_once("[journal]").unwrap_or((overrides, ""));
    let server_overrides = if server_overrides.contains("shutdown_grace_ms") {
        server_overrides.to_string()
    } else {
        format!("shutdown_grace_ms = 2000\n{server_overrides}")
    };
    format!(
        r#"
[server]
order_entry = "127.0.0.1:0"
market_data = "127.0.0.1:0"
admin = "127.0.0.1:0"
cores = [0, 1]
idle = "park"
{server_overrides}

[engine]
order_capacity = 4096
max_levels_per_side = 64

[session]
{session_overrides}

[journal]
dir = "{dir}"
{journal_overrides}

[[symbols]]
id = 1
name = "BTC-USD"
tick_size = 1
lot_size = 1
reference_price = 10000
price_band_bps = 1000
shard = 0

[[symbols]]
id = 2
name = "ETH-USD"
tick_size = 5
lot_size = 10
reference_price = 3000
price_band_bps = 1000
shard = 1

{accounts}
"#,
        dir = dir.join("journal").display(),
        // Small segments by default: fast to create, and the crash test
        // rolls over often.
        journal_overrides = if journal_overrides.contains("segment_bytes") {
            journal_overrides.to_string()
        } else {
            format!("segment_bytes = 262144\n{journal_overrides}")
        },
        accounts = [
            (ALICE, "alice", "trader", false),
            (BOB, "bob", "trader", false),
            (CAROL, "carol", "trader", true),
            (VIEWER, "viewer", "viewer", false),
        ]
        .iter()
        .map(|(id, name, role, cod)| format!(
            r#"
[[accounts]]
id = {id}
name = "{name}"
token = "{name}-token"
role = "{role}"
cancel_on_disconnect = {cod}
max_order_qty = 1000
max_order_notional = 100000000
max_open_orders = 50
max_position = 5000
"#
        ))
        .collect::<String>()
    )
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A directory of its own for each gateway a test process starts.
fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "tradsys-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    /// The WebSocket market-data endpoint.
    pub md_addr: SocketAddr,
    /// The admin HTTP endpoint (as the ready line names it; none when the
    /// config turns it off).
    pub admin_addr: Option<SocketAddr>,
    /// The log lines printed before the gateway reported ready.
    pub startup_log: Vec<String>,
    log: mpsc::Receiver<String>,
    dir: PathBuf,
    owns_dir: bool,
}

impl Gateway {
    pub fn start() -> Gateway {
        Gateway::start_with("")
    }

    /// Starts the binary with the test config plus `[session]` overrides.
    pub fn start_with(session_overrides: &str) -> Gateway {
        let dir = scratch_dir();
        let mut gateway = Gateway::start_in(&dir, session_overrides).expect("gateway starts");
        gateway.owns_dir = true;
        gateway
    }

    /// A fresh scratch directory for `start_in` (the caller removes it).
    pub fn new_dir() -> PathBuf {
        scratch_dir()
    }

    /// Starts on `dir` (config and journal there; kept when dropped, so a
    /// restart recovers the same journal). `Err` carries the log if it did
    /// not get ready.
    pub fn start_in(
        dir: &std::path::Path,
        session_overrides: &str,
    ) -> Result<Gateway, Vec<String>> {
        Gateway::start_limited(dir, session_overrides, None)
    }

    /// As `start_in`, with RLIMIT_FSIZE set to `file_size_limit` bytes in
    /// the gateway process (a full disk, as far as the journal can tell).
    pub fn start_limited(
        dir: &std::path::Path,
        session_overrides: &str,
        file_size_limit: Option<u64>,
    ) -> Result<Gateway, Vec<String>> {
        Gateway::start_config(dir, &config(session_overrides, dir), file_size_limit)
    }

    /// Starts on `dir` with exactly this configuration text.
    pub fn start_config(
        dir: &std::path::Path,
        config_text: &str,
        file_size_limit: Option<u64>,
    ) -> Result<Gateway, Vec<String>> {
        Gateway::start_env(dir, config_text, file_size_limit, &[])
    }

    /// As `start_config`, with extra environment variables (an
    /// `LD_PRELOAD` fault shim, say). The file-size limit is a soft limit,
    /// so a test can lift it while the gateway runs ([`Gateway::set_file_size_limit`]).
    pub fn start_env(
        dir: &std::path::Path,
        config_text: &str,
        file_size_limit: Option<u64>,
        env: &[(&str, &str)],
    ) -> Result<Gateway, Vec<String>> {
        Gateway::start_env_args(dir, config_text, file_size_limit, env, &[])
    }

    /// As `start_env`, with more `serve` arguments after `--config`.
    pub fn start_env_args(
        dir: &std::path::Path,
        config_text: &str,
        file_size_limit: Option<u64>,
        env: &[(&str, &str)],
        serve_args: &[&str],
    ) -> Result<Gateway, Vec<String>> {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tradsys.toml");
        std::fs::write(&path, config_text).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tradsys"));
        if let Some(limit) = file_size_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let mut rlimit = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    libc::getrlimit(libc::RLIMIT_FSIZE, &mut rlimit);
                    rlimit.rlim_cur = limit.min(rlimit.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        command.envs(env.iter().copied());
        let mut child = command
            .args(["serve", "--config"])
            .arg(&path)
            .args(serve_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tradsys");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let (addr, md_addr, admin_addr) = loop {
            let Ok(line) = log.recv_timeout(Duration::from_secs(30)) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(seen);
            };
            if let Some(rest) = line.split("order_entry=").nth(1) {
                if line.contains("ready") {
                    let field = |rest: &str| -> SocketAddr {
                        rest.split_whitespace().next().unwrap().parse().unwrap()
                    };
                    let md = line
                        .split("market_data=")
                        .nth(1)
                        .expect("market_data in ready");
                    // "-" when the config has no admin endpoint.
                    let admin = line
                        .split("admin=")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|a| a.parse().ok());
                    break (field(rest), field(md), admin);
                }
            }
            seen.push(line);
        };
        Ok(Gateway {
            child,
            addr,
            md_addr,
            admin_addr,
            startup_log: seen,
            log,
            dir,
            owns_dir: false,
        })
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.try_iter().collect()
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.dir.join("journal")
    }

    pub fn connect(&self) -> Client {
        let client = Client::connect(self.addr).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
    }

    /// A client logged on as `account`.
    pub fn logon(&self, account: AccountId) -> Client {
        let mut client = self.connect();
        client
            .logon(account, token(account), 0, false)
            .expect("logon accepted");
        client
    }

    /// SIGTERM, then the exit status and every log line printed.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        let lines = self.log.try_iter().collect();
        (status, lines)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status and the log if the process exits
    /// within `deadline`; `Err` with the log so far if it does not (it is
    /// then killed).
    pub fn stop_within(
        mut self,
        deadline: Duration,
    ) -> Result<(ExitStatus, Vec<String>), Vec<String>> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.wait_exit(deadline).ok_or_else(|| {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.log.try_iter().collect()
        })
    }

    /// File descriptors the gateway process holds now.
    pub fn fd_count(&self) -> usize {
        self.fds().len()
    }

    /// The numbers of the file descriptors the gateway holds now.
    pub fn fds(&self) -> Vec<usize> {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("the gateway's /proc/PID/fd")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// Sets the running gateway's RLIMIT_NOFILE soft limit: from now on it
    /// can open no fd numbered `limit` or above.
    pub fn set_fd_limit(&self, limit: u64) {
        self.set_soft_limit(libc::RLIMIT_NOFILE, Some(limit));
    }

    /// Sets the running gateway's RLIMIT_FSIZE soft limit (`None`: as high
    /// as its hard limit): the disk fills up or gets room again.
    pub fn set_file_size_limit(&self, limit: Option<u64>) {
        self.set_soft_limit(libc::RLIMIT_FSIZE, limit);
    }

    /// prlimit(2) on the child: the soft limit of `resource` (at most the
    /// hard limit, which stays).
    fn set_soft_limit(&self, resource: libc::__rlimit_resource_t, limit: Option<u64>) {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: prlimit on our own child, with local structs.
        unsafe {
            let pid = self.child.id() as libc::pid_t;
            assert_eq!(libc::prlimit(pid, resource, std::ptr::null(), &mut old), 0);
            let new = libc::rlimit {
                rlim_cur: limit.unwrap_or(old.rlim_max).min(old.rlim_max),
                rlim_max: old.rlim_max,
            };
            assert_eq!(
                libc::prlimit(pid, resource, &new, std::ptr::null_mut()),
                0,
                "{}",
                std::io::Error::last_os_error()
            );
        }
    }

    /// Waits (at most `timeout`) for the gateway to exit by itself; then
    /// its status and every log line. `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<(ExitStatus, Vec<String>)> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The log reader ends when the pipe closes.
                let mut lines = Vec::new();
                while let Ok(line) = self.log.recv_timeout(Duration::from_secs(5)) {
                    lines.push(line);
                }
                return Some((status, lines));
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Log lines printed so far (and not taken before).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for line in self.log.try_iter() {
                eprintln!("gateway log: {line}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn limit(
    account: AccountId,
    symbol: SymbolId,
    client_order_id: u64,
    side: Side,
    price: Price,
    qty: Qty,
) -> NewOrder {
    NewOrder {
        account,
        symbol,
        client_order_id,
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty,
    }
}

/// The next message that is not a heartbeat must be `what`.
pub fn expect<T>(client: &mut Client, what: &str, pick: impl FnOnce(&Received) -> Option<T>) -> T {
    let received = client
        .recv_skip_heartbeats()
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    pick(&received).unwrap_or_else(|| panic!("waiting for {what}, got {received:?}"))
}

pub fn accepted(client: &mut Client) -> tradsys::protocol::OrderAcceptedMsg {
    expect(client, "OrderAccepted", |r| match r {
        Received::OrderAccepted(m) => Some(*m),
        _ => None,
    })
}

pub fn fill(client: &mut Client) -> tradsys::protocol::FillMsg {
    expect(client, "Fill", |r| match r {
        Received::Fill(m) => Some(*m),
        _ => None,
    })
}

pub fn rejected(client: &mut Client) -> u16 {
    expect(client, "OrderRejected", |r| match r {
        Received::OrderRejected(m) => Some(m.reason.get()),
        _ => None,
    })
}

pub fn cancel_rejected(client: &mut Client) -> u16 {
    expect(client, "CancelRejected", |r| match r {
        Received::CancelRejected(m) => Some(m.reason.get()),
        _ => None,
    })
}

pub fn canceled(client: &mut Client) -> tradsys::protocol::OrderCanceledMsg {
    expect(client, "OrderCanceled", |r| match r {
        Received::OrderCanceled(m) => Some(*m),
        _ => None,
    })
}

pub fn session_end(client: &mut Client) -> (u16, u32) {
    expect(client, "SessionEnd", |r| match r {
        Received::SessionEnd(m) => Some((m.reason.get(), m.expected_seq.get())),
        _ => None,
    })
}

/// A connection whose socket buffers barely anything on its side (a 4 KiB
/// receive buffer), with a 10 s read timeout: a client that stops
/// reading fills up quickly.
pub fn connect_small_receive_buffer(gateway: &Gateway) -> Client {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&gateway.addr.into()).unwrap();
    let client = Client::from_stream(socket.into()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
}

/// Every `(symbol, order_id)` is resting (OrderStatus Open), asked by a
/// new session of `account`: how a test proves acknowledged orders
/// survived a restart.
pub fn assert_all_open(gateway: &Gateway, account: AccountId, orders: &[(SymbolId, OrderId)]) {
    let mut client = gateway.logon(account);
    for (i, &(symbol, order_id)) in orders.iter().enumerate() {
        client.order_status(i as u64, symbol, order_id).unwrap();
        let state = expect(&mut client, "OrderStatus", |r| match r {
            Received::OrderStatus(m) => Some(m.state),
            _ => None,
        });
        assert_eq!(
            state,
            tradsys::protocol::OrderState::Open as u8,
            "acknowledged order {order_id} on symbol {symbol} lost"
        );
    }
}

/// Resident memory of a process, in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Open file descriptors of a process (0 once it is gone).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// One IOC buy on BTC that crosses nothing (price 10,000 with no resting
/// sell at or under it in these tests): OrderAccepted, then OrderCanceled.
/// How long the answer took; the client's read timeout bounds it.
pub fn ioc_round_trip(client: &mut Client, account: AccountId, id: u64) -> Duration {
    let start = std::time::Instant::now();
    let mut order = limit(account, BTC, id, Side::Buy, 10_000, 1);
    order.tif = TimeInForce::Ioc;
    client.new_order(&order).unwrap();
    accepted(client);
    canceled(client);
    start.elapsed()
}
