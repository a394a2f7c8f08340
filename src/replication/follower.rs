//! `tradsys follow`: a process on any host that consumes each shard's
//! subject of the journal stream and applies every record to a
//! [`ShardReplica`] (the recovery code, and a local journal a promotion
//! starts from). It stops loudly (exit 5) on anything that would make its
//! state differ from the primary's: a gap in the records, a record whose
//! CRC does not hold, a kind it does not know, or a `state_checksum` its
//! own state does not match.
//!
//! One ordered consumer per shard (ephemeral, flow-controlled, recreated by
//! the client after a lost message or a reconnect), from the stream's first
//! record: records the replica already holds are skipped. It prints one
//! `follower progress` line per shard whenever a shard moved (at most every
//! 200 ms), and a `follower stopped` line per shard with the state digest
//! at the end.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_lite::StreamExt;

use super::drop_copy::{DropCopy, REPUBLISH_RECORDS};
use super::message;
use super::replica::{Applied, ReplicaError, ShardReplica};
use crate::config::Config;

/// Exit code of a follower that stopped because it could not stay equal to
/// the primary.
pub const EXIT_DIVERGED: u8 = 5;

/// Runs the follower until SIGINT/SIGTERM (exit 0) or a divergence (exit
/// [`EXIT_DIVERGED`]).
pub fn run_cli(config: &Config) -> ExitCode {
    if !config.replication.enabled() {
        eprintln!("follow: replication.nats_urls is empty: nothing to follow");
        return ExitCode::from(2);
    }
    let runtime = match super::nats::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("follow: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(follow(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "follower: stopping: this replica can no longer be trusted to equal the primary");
            ExitCode::from(EXIT_DIVERGED)
        }
    }
}

async fn follow(config: &Config) -> Result<(), String> {
    let mut replicas = Vec::new();
    for shard in 0..config.shard_count() as u16 {
        let (replica, fills) =
            ShardReplica::open(config, shard, REPUBLISH_RECORDS).map_err(|e| e.to_string())?;
        tracing::info!(
            shard,
            next_seq = replica.next_seq(),
            "follower: local journal replayed"
        );
        let mut drop_copy = DropCopy::new(&config.replication, shard);
        for (seq, fill) in &fills {
            drop_copy.queue(*seq, std::slice::from_ref(fill));
        }
        replicas.push((replica, drop_copy));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (replica, drop_copy) in replicas {
        let config = config.clone();
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            follow_shard(&config, replica, drop_copy, &stop).await
        }));
    }
    let mut failure = None;
    let mut signals = Signals::new()?;
    let mut pending: Vec<_> = tasks.into_iter().map(Some).collect();
    loop {
        tokio::select! {
            () = signals.recv() => {
                tracing::info!("follower: signal: stopping");
                stop.store(true, Ordering::Release);
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        if let Some(slot) = pending
            .iter_mut()
            .find(|t| t.as_ref().is_some_and(|t| t.is_finished()))
        {
            let task = slot.take().expect("found");
            if let Ok(Err(error)) | Err(error) = task.await.map_err(|e| e.to_string()) {
                failure = Some(error);
                stop.store(true, Ordering::Release);
                break;
            }
        }
    }
    for task in pending.into_iter().flatten() {
        if let Ok(Err(error)) = task.await {
            failure.get_or_insert(error);
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let error = |e: std::io::Error| format!("signals: {e}");
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(error)?,
            terminate: signal(SignalKind::terminate()).map_err(error)?,
        })
    }
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Consumes one shard's subject into its replica until stopped or failed.
async fn follow_shard(
    config: &Config,
    mut replica: ShardReplica,
    mut drop_copy: DropCopy,
    stop: &AtomicBool,
) -> Result<(), String> {
    let shard = replica.shard;
    let mut progress = Progress::new();
    let outcome = loop {
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        match consume(config, &mut replica, &mut drop_copy, stop, &mut progress).await {
            Ok(()) => break Ok(()),
            Err(Fatal(error)) => break Err(error),
            Err(Retry(error)) => {
                tracing::warn!(shard, %error, "follower: NATS unavailable, retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    replica.sync().map_err(|e| e.to_string())?;
    let engine = replica.engine();
    tracing::info!(
        shard,
        applied_seq = replica.next_seq() - 1,
        digest = format_args!("{:016x}", engine.state_digest()),
        resting_orders = engine.resting_orders(),
        checksums_verified = replica.checksums_verified(),
        records_applied = progress.lag_ns.len(),
        lag_p50_us = progress.lag_us(0.5),
        lag_p99_us = progress.lag_us(0.99),
        lag_max_us = progress.lag_us(1.0),
        "follower stopped"
    );
    outcome
}

/// What the follower reports of one shard: the seq last logged, and the
/// lag of each record applied live, from its `ts_ns` on the primary (when
/// the command arrived there) to its application here, on the wall clocks
/// of both hosts (synchronised, or the same host).
struct Progress {
    logged_seq: u64,
    lag_ns: hdrhistogram::Histogram<u64>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            logged_seq: 0,
            lag_ns: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("valid bounds"),
        }
    }

    fn applied(&mut self, ts_ns: u64) {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.lag_ns
            .saturating_record(now_ns.saturating_sub(ts_ns).max(1));
    }

    fn lag_us(&self, quantile: f64) -> u64 {
        self.lag_ns.value_at_quantile(quantile) / 1_000
    }
}

enum Failure {
    /// The replica cannot go on.
    Fatal(String),
    /// NATS failed: reconnect and resume.
    Retry(String),
}
use Failure::{Fatal, Retry};

async fn consume(
    config: &Config,
    replica: &mut ShardReplica,
    drop_copy: &mut DropCopy,
    stop: &AtomicBool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let shard = replica.shard;
    let js = super::nats::connect(&config.replication)
        .await
        .map_err(Retry)?;
    let stream = super::nats::journal_stream(&js, &config.replication)
        .await
        .map_err(Retry)?;
    drop_copy.connect(&js).await.map_err(Retry)?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: config.replication.shard_subject(shard),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| Retry(format!("consumer: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| Retry(format!("messages: {e}")))?;
    let mut events = Vec::with_capacity(64);
    let mut last_log = std::time::Instant::now();
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let next = tokio::time::timeout(Duration::from_millis(100), messages.next()).await;
        let message = match next {
            Err(_elapsed) => None,
            Ok(None) => return Err(Retry("the consumer ended".into())),
            Ok(Some(Err(e))) => return Err(Retry(format!("message: {e}"))),
            Ok(Some(Ok(message))) => Some(message),
        };
        if let Some(message) = message {
            let shipped = message::decode(&message.payload)
                .map_err(|e| Fatal(format!("shard {shard}: corrupt record in the stream: {e}")))?;
            events.clear();
            match replica.apply(&shipped, &mut events) {
                Ok(Applied::Applied) => {
                    progress.applied(shipped.record.ts_ns);
                    drop_copy
                        .publish(shipped.record.seq, &events)
                        .await
                        .map_err(Retry)?;
                }
                Ok(Applied::Duplicate) => {}
                Err(error @ ReplicaError::Gap { .. })
                | Err(error @ ReplicaError::Journal { .. }) => {
                    return Err(Fatal(error.to_string()))
                }
            }
        }
        let applied = replica.next_seq() - 1;
        if applied != progress.logged_seq && last_log.elapsed() >= Duration::from_millis(200) {
            progress.logged_seq = applied;
            last_log = std::time::Instant::now();
            tracing::info!(
                shard,
                applied_seq = applied,
                checksums_verified = replica.checksums_verified(),
                "follower progress"
            );
        }
    }
}
