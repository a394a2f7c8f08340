//! The processes of a replicated setup on this host, for `replication`:
//! a three-node NATS JetStream cluster (`nats-server`), the gateway
//! (`tradsys serve`) and followers (`tradsys follow`), each in its own
//! scratch directory with a config derived from the bench config. Every
//! process is stopped when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child that dies with the bench (SIGKILL when its parent exits, even
/// by a panic, which aborts in release builds and runs no `Drop`).
fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    use std::os::unix::process::CommandExt;
    // SAFETY: only prctl between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Three clustered JetStream servers on loopback.
pub struct NatsCluster {
    nodes: Vec<Child>,
    pub urls: Vec<String>,
}

impl NatsCluster {
    pub fn start(binary: &Path, dir: &Path) -> NatsCluster {
        let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let cluster: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> = cluster
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let nodes = (0..3)
            .map(|n| {
                let store = dir.join(format!("n{n}"));
                std::fs::create_dir_all(&store).unwrap();
                let conf = dir.join(format!("n{n}.conf"));
                let text = format!(
                    "server_name: n{n}\nlisten: 127.0.0.1:{}\njetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: bench\n listen: 127.0.0.1:{}\n routes: [{}] }}\n",
                    client[n],
                    store.display(),
                    cluster[n],
                    routes.join(", ")
                );
                std::fs::write(&conf, text).unwrap();
                command(binary)
                    .arg("-c")
                    .arg(&conf)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| {
                        panic!(
                            "start {} (apt-get install nats-server): {e}",
                            binary.display()
                        )
                    })
            })
            .collect();
        let urls = client
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        assert_eq!(client.len(), 3);
        NatsCluster { nodes, urls }
    }

    /// The `[replication]` section that ships to this cluster, to streams
    /// of run `run` alone: a new gateway's fresh journal on a stream that
    /// holds another's records would stop its shipping (state `conflict`,
    /// as it must).
    pub fn replication_toml(&self, run: usize) -> String {
        let quoted: Vec<String> = self.urls.iter().map(|u| format!("\"{u}\"")).collect();
        format!(
            "\n[replication]\nnats_urls = [{}]\nreplicas = 3\nchecksum_interval_ms = 1000\n\
             stream = \"BENCH_{run}\"\nsubject_prefix = \"bench{run}.journal\"\n\
             drop_copy_stream = \"BENCH_DROPCOPY_{run}\"\ndrop_copy_prefix = \"bench{run}.dropcopy\"\n",
            quoted.join(", ")
        )
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// The bench config with every listener on an ephemeral loopback port.
pub fn ephemeral_ports(config_text: &str) -> String {
    let mut text = config_text.to_string();
    for key in ["order_entry", "market_data", "admin"] {
        let start = text
            .find(&format!("\n{key} = \""))
            .unwrap_or_else(|| panic!("the bench config has server.{key}"));
        let value = start + key.len() + 5;
        let end = value + text[value..].find('"').unwrap();
        text.replace_range(value..end, "127.0.0.1:0");
    }
    text
}

/// A `tradsys serve` or `tradsys follow` child and its log lines.
pub struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    /// `order_entry`, `market_data`, `admin` (what its ready line gave).
    pub addrs: Vec<(String, SocketAddr)>,
}

impl Node {
    /// Starts `tradsys <verb> --config` with `config_text` in `scratch`
    /// (emptied first when `fresh`) and waits for the line containing
    /// `marker`.
    pub fn start(verb: &str, scratch: &Path, config_text: &str, marker: &str, fresh: bool) -> Node {
        if fresh {
            let _ = std::fs::remove_dir_all(scratch);
        }
        std::fs::create_dir_all(scratch).unwrap();
        let config = scratch.join("config.toml");
        std::fs::write(&config, config_text).unwrap();
        let exe = std::env::current_exe().unwrap().with_file_name("tradsys");
        let mut child = command(&exe)
            .args([verb, "--config"])
            .arg(&config)
            .current_dir(scratch)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start tradsys {verb} (cargo build --release --workspace first): {e}")
            });
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = Node {
            child,
            lines,
            seen: Vec::new(),
            addrs: Vec::new(),
        };
        let ready = node.wait_line(marker, Duration::from_secs(120));
        for key in ["order_entry", "market_data", "admin"] {
            if let Some(addr) = field(&ready, key).and_then(|v| v.parse().ok()) {
                node.addrs.push((key.to_string(), addr));
            }
        }
        node
    }

    pub fn addr(&self, key: &str) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {key} address in {:?}", self.addrs))
    }

    /// Reads lines until one contains `marker`; that line.
    pub fn wait_line(&mut self, marker: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(marker) {
                        return line;
                    }
                }
                Err(_) => panic!("no '{marker}' line; log:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Takes the lines logged so far.
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// The highest `applied_seq` of shard 0 a follower reported so far.
    pub fn applied_seq(&mut self) -> u64 {
        self.drain();
        self.seen
            .iter()
            .filter(|l| l.contains("follower progress") && field(l, "shard") == Some("0"))
            .filter_map(|l| field(l, "applied_seq")?.parse().ok())
            .max()
            .unwrap_or(0)
    }

    /// SIGTERM, then every line until it exits.
    pub fn stop(mut self) -> Vec<String> {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in a log line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!(" {key}=");
    let at = line.find(&pattern)? + pattern.len();
    line[at..].split_whitespace().next()
}

/// A gauge of the gateway's `/metrics` (`name` with its labels).
pub fn gauge(admin: SocketAddr, name: &str) -> Option<u64> {
    let mut stream = TcpStream::connect(admin).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The host's 1-minute load average (the machine is shared).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
