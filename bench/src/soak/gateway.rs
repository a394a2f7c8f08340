//! The gateway under soak: its config, its process (started, killed,
//! paused, starved of disk, made to fail its syncs, restarted), and the
//! journal-replay oracle that runs whenever it is down.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The fault shim (msync/fsync fail while a flag file exists), compiled
/// into the harness so it runs from any directory.
const SHIM_SOURCE: &str = include_str!("../../../tests/fault/failmsync.c");

pub const ACCOUNTS: [u32; 4] = [1, 2, 3, 4];
/// Account 3 cancels on disconnect (config).
pub const COD_ACCOUNT: u32 = 3;
/// (symbol id, reference price): symbols 1-2 on shard 0, 3-4 on shard 1.
pub const SYMBOLS: [(u32, i64); 4] = [(1, 10_000), (2, 20_000), (3, 3_000), (4, 500)];

pub fn token(account: u32) -> String {
    format!("soak-token-{account}")
}

/// Writes the soak config into `dir`: two shards (cores 0 and 1, `park`),
/// a fixed order-entry port (every restart binds the port its killed
/// predecessor held), 256 KiB segments (roll-over and disk-full happen
/// often), `interval` sync of 1 ms (sync failures surface within a
/// millisecond).
pub fn write_config(dir: &Path) -> PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut text = format!(
        r#"
[server]
order_entry = "127.0.0.1:{port}"
market_data = "127.0.0.1:0"
admin = "127.0.0.1:0"
cores = [0, 1]
idle = "park"
shutdown_grace_ms = 2000

[engine]
order_capacity = 65536
max_levels_per_side = 256

[session]
rate_limit_per_sec = 1000000
rate_limit_burst = 100000
max_sessions_per_account = 16

[journal]
dir = "{journal}"
segment_bytes = 262144
sync = "interval"
sync_interval_us = 1000
"#,
        journal = dir.join("journal").display()
    );
    for (i, (id, reference)) in SYMBOLS.iter().enumerate() {
        text += &format!(
            "\n[[symbols]]\nid = {id}\nname = \"SOAK-{id}\"\ntick_size = 1\nlot_size = 1\nreference_price = {reference}\nprice_band_bps = 2000\nshard = {}\n",
            i / 2
        );
    }
    for account in ACCOUNTS {
        text += &format!(
            "\n[[accounts]]\nid = {account}\nname = \"soak{account}\"\ntoken = \"{}\"\nrole = \"trader\"\ncancel_on_disconnect = {}\nmax_order_qty = 1000\nmax_order_notional = 1000000000\nmax_open_orders = 2000\nmax_position = 100000000\n",
            token(account),
            account == COD_ACCOUNT
        );
    }
    let path = dir.join("soak.toml");
    std::fs::write(&path, text).expect("write the soak config");
    path
}

/// Builds the fault shim into `dir`; `None` without a C compiler (then
/// the schedule has no sync-failure faults).
pub fn build_shim(dir: &Path) -> Option<PathBuf> {
    let source = dir.join("failmsync.c");
    let out = dir.join("failmsync.so");
    std::fs::write(&source, SHIM_SOURCE).ok()?;
    let ok = Command::new("cc")
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(out)
}

pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl GatewayProcess {
    /// Starts `tradsys serve` (next to this binary) on `config`, with the
    /// shim preloaded when given. Retries for up to 10 s while the start
    /// fails (a port still held by a just-killed gateway); `Err` with the
    /// log of the last attempt.
    pub fn start(
        config: &Path,
        shim: Option<&Path>,
        flag: &Path,
    ) -> Result<(GatewayProcess, u32), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match GatewayProcess::start_once(config, shim, flag) {
                Ok(gateway) => return Ok((gateway, attempts)),
                Err(log) if Instant::now() >= deadline => return Err(log),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn start_once(
        config: &Path,
        shim: Option<&Path>,
        flag: &Path,
    ) -> Result<GatewayProcess, String> {
        let exe = std::env::current_exe().unwrap().with_file_name("tradsys");
        let mut command = Command::new(exe);
        command
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env("FAIL_SYNC_FLAG", flag)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(shim) = shim {
            command.env("LD_PRELOAD", shim);
        }
        let mut child = command.spawn().map_err(|e| format!("start tradsys: {e}"))?;
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
        loop {
            let Ok(line) = log.recv_timeout(Duration::from_secs(30)) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(seen.join("\n"));
            };
            if line.contains(" ready ") || line.contains("\"ready\"") {
                if let Some(rest) = line.split("order_entry=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                    return Ok(GatewayProcess { child, addr, log });
                }
            }
            seen.push(line);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// SIGKILL and wait.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.try_iter().collect()
    }

    /// SIGTERM and wait: the exit status and the rest of the log.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        (status, self.log.try_iter().collect())
    }

    /// Waits for the gateway to exit by itself (a fail-stop).
    pub fn wait_exit(mut self, timeout: Duration) -> Result<(ExitStatus, Vec<String>), Self> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut lines = Vec::new();
                while let Ok(line) = self.log.recv_timeout(Duration::from_secs(2)) {
                    lines.push(line);
                }
                return Ok((status, lines));
            }
            if Instant::now() >= deadline {
                return Err(self);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets RLIMIT_FSIZE's soft limit (`None`: back to the hard limit):
    /// the disk is full for the journal's next segment, or has room again.
    pub fn set_file_size_limit(&self, limit: Option<u64>) {
        let pid = self.child.id() as libc::pid_t;
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: prlimit on our own child with local structs.
        unsafe {
            if libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut old) != 0 {
                return;
            }
            let new = libc::rlimit {
                rlim_cur: limit.unwrap_or(old.rlim_max).min(old.rlim_max),
                rlim_max: old.rlim_max,
            };
            libc::prlimit(pid, libc::RLIMIT_FSIZE, &new, std::ptr::null_mut());
        }
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }
}
