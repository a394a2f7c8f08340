//! A real `tradsys serve` child process for the benches that start their
//! own gateway (`compare`, `report`): the binary next to this one, on the
//! config given, stopped with SIGINT (a graceful shutdown) when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The child's working directory: its `./data` journal lives and dies
    /// here, so runs neither replay nor keep each other's journals.
    scratch: PathBuf,
}

impl GatewayProcess {
    /// Starts the gateway and waits for its ready line.
    pub fn start(config: &Path) -> GatewayProcess {
        let config = std::fs::canonicalize(config)
            .unwrap_or_else(|e| panic!("gateway config {}: {e}", config.display()));
        let scratch = std::env::temp_dir().join(format!("tradsys-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("create the gateway's scratch directory");
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
            .arg(&config)
            .current_dir(&scratch)
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
        GatewayProcess {
            child,
            addr,
            scratch,
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
