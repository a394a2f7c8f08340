//! Runs `tradsys follow` as a child process for the replication tests and
//! reads its progress from its log: `follower progress shard=S
//! applied_seq=N` lines while it runs, `follower stopped shard=S ...
//! digest=D` lines when it stops.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Follower {
    child: Child,
    log: mpsc::Receiver<String>,
    /// Every line read so far.
    pub lines: Vec<String>,
    /// The highest applied seq seen per shard.
    applied: HashMap<u16, u64>,
}

/// The value of `key=` in a log line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!(" {key}=");
    let at = line.find(&pattern)? + pattern.len();
    line[at..].split_whitespace().next()
}

impl Follower {
    /// Starts `tradsys follow` with `config_text` written to `dir`.
    pub fn start(dir: &Path, config_text: &str) -> Follower {
        std::fs::create_dir_all(dir).unwrap();
        let path: PathBuf = dir.join("follower.toml");
        std::fs::write(&path, config_text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tradsys"))
            .args(["follow", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tradsys follow");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            log,
            lines: Vec::new(),
            applied: HashMap::new(),
        }
    }

    fn take(&mut self, line: String) {
        if line.contains("follower progress") {
            let shard = field(&line, "shard").and_then(|s| s.parse().ok());
            let seq = field(&line, "applied_seq").and_then(|s| s.parse().ok());
            if let (Some(shard), Some(seq)) = (shard, seq) {
                let entry = self.applied.entry(shard).or_insert(0);
                *entry = (*entry).max(seq);
            }
        }
        self.lines.push(line);
    }

    /// Waits until every shard `s` applied `seqs[s]`; panics with the log
    /// at the deadline.
    pub fn wait_applied(&mut self, seqs: &[u64], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let done = seqs
                .iter()
                .enumerate()
                .all(|(s, &seq)| self.applied.get(&(s as u16)).copied().unwrap_or(0) >= seq);
            if done {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "follower did not apply {seqs:?} in {timeout:?} (applied {:?}); log:\n{}",
                self.applied,
                self.lines.join("\n")
            );
            match self.log.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => self.take(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "follower exited ({:?}) before applying {seqs:?}; log:\n{}",
                    self.child.try_wait(),
                    self.lines.join("\n")
                ),
            }
        }
    }

    /// The relays' market-data address, from the follower's log.
    pub fn relay_addr(&mut self, timeout: Duration) -> std::net::SocketAddr {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .lines
                .iter()
                .filter(|l| l.contains("follower: relay listening"))
                .find_map(|l| field(l, "market_data")?.parse().ok());
            if let Some(addr) = found {
                return addr;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no relay address; log:\n{}",
                self.lines.join("\n")
            );
            match self.log.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => self.take(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("follower exited; log:\n{}", self.lines.join("\n"))
                }
            }
        }
    }

    /// Takes log lines until `done` holds, for at most `timeout` (then
    /// panics with `what` and the log).
    fn read_until(&mut self, done: impl Fn(&mut Follower) -> bool, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what} after {timeout:?}; log:\n{}",
                self.lines.join("\n")
            );
            while let Ok(line) = self.log.recv_timeout(Duration::from_millis(50)) {
                self.take(line);
            }
        }
    }

    /// Waits (up to `timeout`) for a log line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) {
        let seen = |f: &mut Follower| f.lines.iter().any(|l| l.contains(needle));
        self.read_until(seen, timeout, &format!("no line with {needle:?}"));
    }

    /// Sends `signal` to the follower process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: a signal to the child this test started.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// SIGTERM; the exit status and each shard's final state digest.
    pub fn stop(self) -> (ExitStatus, HashMap<u16, String>, Vec<String>) {
        self.signal(libc::SIGTERM);
        self.finish()
    }

    /// Waits (up to `timeout`) for the follower to exit by itself.
    pub fn wait_exit(
        mut self,
        timeout: Duration,
    ) -> (ExitStatus, HashMap<u16, String>, Vec<String>) {
        let exited = |f: &mut Follower| f.child.try_wait().unwrap().is_some();
        self.read_until(exited, timeout, "follower still running");
        self.finish()
    }

    fn finish(mut self) -> (ExitStatus, HashMap<u16, String>, Vec<String>) {
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(5)) {
            self.take(line);
        }
        let digests = self
            .lines
            .iter()
            .filter(|l| l.contains("follower stopped"))
            .filter_map(|l| {
                Some((
                    field(l, "shard")?.parse().ok()?,
                    field(l, "digest")?.to_string(),
                ))
            })
            .collect();
        (status, digests, std::mem::take(&mut self.lines))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for line in self.lines.iter().cloned().chain(self.log.try_iter()) {
                eprintln!("follower log: {line}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
