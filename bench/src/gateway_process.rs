//! Servers the benches run as child processes: the real `tradsys serve`
//! (`compare`, `report`) and the echo floor (`compare`). A server in its own
//! process shares nothing with the load generator but the kernel: an echo
//! thread inside the generator's process measured a 24 ms tail that the
//! same echo in its own process did not have.
//!
//! Each is stopped when dropped: the gateway with SIGINT (a graceful
//! shutdown), the echo with SIGKILL.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The gateway's market-data address (from its ready line).
    pub market_data: Option<SocketAddr>,
    /// The gateway's admin address (from its ready line).
    pub admin: Option<SocketAddr>,
    stop_signal: i32,
    /// The gateway's working directory: its `./data` journal lives and dies
    /// here, so runs neither replay nor keep each other's journals.
    scratch: Option<PathBuf>,
}

/// Exits with a clear message unless the gateway config can be read: the
/// default path is relative to the repository root.
pub fn require_config(config: &Path) {
    if let Err(e) = std::fs::metadata(config) {
        eprintln!(
            "tradsys-bench: gateway config {}: {e} (run from the repository root, or pass --gateway-config)",
            config.display()
        );
        std::process::exit(2);
    }
}

/// A command for a binary next to this one, with every core allowed: the
/// caller may be pinned, and a child inherits that.
fn command(binary: &str) -> Command {
    let exe = std::env::current_exe().unwrap().with_file_name(binary);
    let mut command = Command::new(exe);
    use std::os::unix::process::CommandExt;
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
    command
}

/// The address that follows `key` on `line`, if any.
fn addr_after(line: &str, key: &str) -> Option<SocketAddr> {
    let rest = line.split(key).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Reads `output` until a line containing `marker`; returns that line, and
/// keeps draining the rest in a thread.
fn wait_ready(output: impl Read + Send + 'static, marker: &str, key: &str) -> String {
    let mut lines = BufReader::new(output).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "the server stopped before it was ready:\n{}",
                seen.join("\n")
            );
        };
        seen.push(line.clone());
        if line.contains(marker) && addr_after(&line, key).is_some() {
            break line;
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    addr
}

impl ServerProcess {
    /// Starts `tradsys serve --config <config>` and waits for its ready line.
    pub fn start(config: &Path) -> ServerProcess {
        let config = std::fs::canonicalize(config)
            .unwrap_or_else(|e| panic!("gateway config {}: {e}", config.display()));
        let scratch = std::env::temp_dir().join(format!("tradsys-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("create the gateway's scratch directory");
        let mut child = command("tradsys")
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(&scratch)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start tradsys (cargo build --release --workspace first): {e}")
            });
        let ready = wait_ready(child.stderr.take().unwrap(), "ready", "order_entry=");
        ServerProcess {
            child,
            addr: addr_after(&ready, "order_entry=").expect("checked by wait_ready"),
            market_data: addr_after(&ready, "market_data="),
            admin: addr_after(&ready, "admin="),
            stop_signal: libc::SIGINT,
            scratch: Some(scratch),
        }
    }

    /// Starts `tradsys-bench echo` for one connection on `core`.
    pub fn start_echo(addr: SocketAddr, core: usize) -> ServerProcess {
        let mut child = command("tradsys-bench")
            .args(["echo", "--connections", "1", "--core"])
            .arg(core.to_string())
            .arg("--addr")
            .arg(addr.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start tradsys-bench echo: {e}"));
        let ready = wait_ready(child.stdout.take().unwrap(), "listening", "listening on ");
        ServerProcess {
            child,
            addr: addr_after(&ready, "listening on ").expect("checked by wait_ready"),
            market_data: None,
            admin: None,
            stop_signal: libc::SIGKILL,
            scratch: None,
        }
    }

    /// Starts `tradsys-bench md-peer` (the `md` bench's peer) on `core`,
    /// fed by the gateway's market data at `upstream`.
    pub fn start_md_peer(upstream: SocketAddr, core: usize) -> ServerProcess {
        let mut child = command("tradsys-bench")
            .args(["md-peer", "--core"])
            .arg(core.to_string())
            .arg("--upstream")
            .arg(upstream.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start tradsys-bench md-peer: {e}"));
        let ready = wait_ready(child.stdout.take().unwrap(), "listening", "listening on ");
        ServerProcess {
            child,
            addr: addr_after(&ready, "listening on ").expect("checked by wait_ready"),
            market_data: None,
            admin: None,
            stop_signal: libc::SIGKILL,
            scratch: None,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, self.stop_signal);
        }
        let _ = self.child.wait();
        if let Some(scratch) = &self.scratch {
            let _ = std::fs::remove_dir_all(scratch);
        }
        // Write back what the run dirtied (its journal) now, not during
        // the next run: measured without this, a kernel flush landed on the
        // next server's core about 2 s into its run and cost it 20-24 ms.
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
    }
}
