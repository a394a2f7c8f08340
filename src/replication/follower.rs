//! `tradsys follow`: a process on any host that consumes each shard's
//! subject of the journal stream and applies every record to a
//! [`ShardReplica`] (the recovery code, and a local journal a promotion
//! starts from). It stops loudly (exit 5) on anything that would make its
//! state differ from the primary's: a gap in the records, a record whose
//! CRC does not hold, a kind it does not know, a `state_checksum` its
//! own state does not match, or a stream whose record 1 is not its
//! journal's (another history: `check_origin`).
//!
//! One ordered consumer per shard (ephemeral, flow-controlled, recreated by
//! the client after a lost message or a reconnect). It starts after the
//! last record the replica holds (`resume.rs`: the stream position of a
//! record it applied, kept beside its journal), or at the subject's first
//! record for a new replica; records the replica already holds are
//! skipped. Drop copy is pipelined (`drop_copy.rs`), so applying a record
//! never waits for NATS. A consumer silent for 2 s while the stream holds
//! more of its shard's records is replaced ([`StallWatch`]). It prints one
//! `follower progress` line per shard
//! whenever a shard moved (at most every 200 ms), and a `follower stopped`
//! line per shard with the state digest at the end.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_lite::StreamExt;

use super::drop_copy::{self, DropCopy, REPUBLISH_RECORDS};
use super::message;
use super::relay::RelayFeed;
use super::replica::{Applied, ReplicaError, ShardReplica};
use super::resume::{self, Position};
use crate::config::Config;
use crate::engine::Event;
use crate::market_data::FeedEpoch;
use crate::shard::md::{MdHub, RelayTap};

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
    // The consumers run on this thread: keep it off the shard cores,
    // where the relays it starts pin themselves.
    crate::admin::pin_housekeeping(&crate::admin::housekeeping_cores(config));
    let runtime = match super::nats::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("follow: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(follow(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stopped::NotStarted(error)) => {
            tracing::error!(%error, "follower: cannot start");
            ExitCode::from(1)
        }
        Err(Stopped::Diverged(error)) => {
            tracing::error!(%error, "follower: stopping: this replica can no longer be trusted to equal the primary");
            ExitCode::from(EXIT_DIVERGED)
        }
    }
}

/// Why `follow` ended other than by a signal.
enum Stopped {
    /// Before following anything, for a reason that says nothing about the
    /// replica (its relay port taken, its journal held by another
    /// follower): exit 1.
    NotStarted(String),
    /// The replica cannot go on equal to the primary: exit 5.
    Diverged(String),
}

async fn follow(config: &Config) -> Result<(), Stopped> {
    let (replicas, seed, epoch) = open_replicas(config)?;
    let (relays, feeds) = super::relay::start(config, &seed, epoch).map_err(Stopped::NotStarted)?;
    drop(seed);
    tracing::info!(market_data = %relays.addr, epoch = epoch.0, "follower: relay listening");
    let outcome = follow_replicas(config, replicas, feeds).await;
    let relays_stopped = relays.stop();
    outcome.and(relays_stopped).map_err(Stopped::Diverged)
}

/// Every shard's replica, opened from its local journal, with its drop
/// copy (the fills of its last records queued again); the feed rebuilt
/// from the same journals, and its epoch.
fn open_replicas(config: &Config) -> Result<(Vec<Opened>, MdHub, FeedEpoch), Stopped> {
    let mut seed = super::relay::seed_hub(config);
    let mut epoch = None;
    let mut replicas = Vec::new();
    for shard in 0..config.shard_count() as u16 {
        let mut tap = RelayTap::new(shard);
        let mut fills = VecDeque::new();
        // The fills to publish again: those after the last record a run saw
        // acknowledged, or (no such record known) of the last records.
        let acked = drop_copy::load_acked(&crate::journal::shard_dir(&config.journal.dir, shard));
        let replica = ShardReplica::open(config, shard, &mut tap, |seq, tap| {
            for message in &tap.relay {
                seed.on_relay(message);
            }
            if acked.is_some_and(|acked| seq <= acked) {
                return;
            }
            let fill = |e: &&Event| matches!(e, Event::Fill { .. });
            fills.extend(tap.events.iter().filter(fill).map(|e| (seq, *e)));
            while acked.is_none()
                && fills
                    .front()
                    .is_some_and(|(s, _)| s + REPUBLISH_RECORDS <= seq)
            {
                fills.pop_front();
            }
        })
        .map_err(|e| match e {
            // Held by another process, or unreadable: not the replica's state.
            ReplicaError::Journal {
                error:
                    crate::journal::JournalError::Locked { .. }
                    | crate::journal::JournalError::Io { .. },
                ..
            } => Stopped::NotStarted(e.to_string()),
            _ => Stopped::Diverged(e.to_string()),
        })?;
        tracing::info!(
            shard,
            next_seq = replica.next_seq(),
            "follower: local journal replayed"
        );
        epoch = epoch.max(replica.feed_epoch());
        let mut drop_copy = DropCopy::new(&config.replication, shard);
        for (seq, fill) in &fills {
            drop_copy.queue(*seq, std::slice::from_ref(fill));
        }
        replicas.push((replica, drop_copy));
    }
    // No epoch yet (nothing shipped): the first feed_epoch record sets it.
    let epoch = epoch.unwrap_or(FeedEpoch(1));
    seed.feed_mut().set_epoch(epoch);
    assert_eq!(replicas.len(), config.shard_count(), "a replica per shard");
    Ok((replicas, seed, epoch))
}

/// A replica opened from its local journal, and its drop copy.
type Opened = (ShardReplica, DropCopy);

async fn follow_replicas(
    config: &Config,
    replicas: Vec<Opened>,
    feeds: Vec<RelayFeed>,
) -> Result<(), String> {
    assert_eq!(replicas.len(), feeds.len(), "a relay feed per replica");
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for ((replica, drop_copy), feed) in replicas.into_iter().zip(feeds) {
        let config = config.clone();
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            follow_shard(&config, replica, drop_copy, feed, &stop).await
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

/// SIGINT and SIGTERM stop the follower; SIGHUP and the user signals,
/// which by default would end it, are logged and ignored (there is no
/// reload), as `serve` does.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    ignored: [tokio::signal::unix::Signal; 3],
}

impl Signals {
    fn new() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let error = |e: std::io::Error| format!("signals: {e}");
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(error)?,
            terminate: signal(SignalKind::terminate()).map_err(error)?,
            ignored: [
                signal(SignalKind::hangup()).map_err(error)?,
                signal(SignalKind::user_defined1()).map_err(error)?,
                signal(SignalKind::user_defined2()).map_err(error)?,
            ],
        })
    }

    /// Returns at SIGINT or SIGTERM.
    async fn recv(&mut self) {
        loop {
            let [hangup, user1, user2] = &mut self.ignored;
            let signal = tokio::select! {
                _ = self.interrupt.recv() => return,
                _ = self.terminate.recv() => return,
                _ = hangup.recv() => libc::SIGHUP,
                _ = user1.recv() => libc::SIGUSR1,
                _ = user2.recv() => libc::SIGUSR2,
            };
            tracing::warn!(
                signal,
                "signal ignored: there is no reload (restart to apply a config change; SIGTERM or SIGINT stops)"
            );
        }
    }
}

/// Consumes one shard's subject into its replica until stopped or failed.
async fn follow_shard(
    config: &Config,
    mut replica: ShardReplica,
    mut drop_copy: DropCopy,
    mut feed: RelayFeed,
    stop: &AtomicBool,
) -> Result<(), String> {
    let shard = replica.shard;
    let mut progress = Progress::new();
    let mut tap = RelayTap::new(shard);
    let outcome = loop {
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        let mut target = Target {
            replica: &mut replica,
            drop_copy: &mut drop_copy,
            feed: &mut feed,
            tap: &mut tap,
        };
        match consume(config, &mut target, stop, &mut progress).await {
            Ok(()) => break Ok(()),
            Err(Fatal(error)) => break Err(error),
            Err(Retry(error)) => {
                tracing::warn!(shard, %error, "follower: NATS unavailable, retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    replica.sync().map_err(|e| e.to_string())?;
    progress.store_position(&replica, &drop_copy);
    let engine = replica.engine();
    tracing::info!(
        shard,
        applied_seq = replica.next_seq() - 1,
        digest = format_args!("{:016x}", engine.state_digest()),
        resting_orders = engine.resting_orders(),
        checksums_verified = replica.checksums_verified(),
        records_applied = progress.lag_ns.len(),
        duplicates_skipped = progress.duplicates,
        resumed_at_stream_seq = progress.resumed_at.unwrap_or(1),
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
    /// The last record applied and its stream sequence (`resume.rs`).
    position: Option<Position>,
    /// The stream sequence the first consumer of this run started at.
    resumed_at: Option<u64>,
    /// Records delivered that the replica already held.
    duplicates: u64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            logged_seq: 0,
            position: None,
            resumed_at: None,
            duplicates: 0,
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

    /// The stream sequence a consumer starts at: after the last record
    /// applied in this run, else after the hint beside the journal, else
    /// (`None`) the subject's first record.
    fn start(&self, replica: &ShardReplica) -> Option<u64> {
        let known = self.position.or_else(|| resume::load(replica.dir()));
        let start = resume::start_after(known, replica.next_seq());
        debug_assert!(start.is_none_or(|s| s > 1), "after a record held");
        start
    }

    /// Writes the resume hint and the drop copy's acknowledged position.
    fn store_position(&self, replica: &ShardReplica, drop_copy: &DropCopy) {
        drop_copy.store_acked(replica.dir(), replica.next_seq() - 1);
        if let Some(position) = self.position {
            debug_assert!(position.record_seq < replica.next_seq());
            if let Err(error) = resume::store(replica.dir(), position) {
                tracing::warn!(shard = replica.shard, %error, "follower: resume hint not written");
            }
        }
    }
}

enum Failure {
    /// The replica cannot go on.
    Fatal(String),
    /// NATS failed: reconnect and resume.
    Retry(String),
}
use Failure::{Fatal, Retry};

/// Where one shard's records go: its replica, then its relays' rings and
/// its drop copy.
struct Target<'a> {
    replica: &'a mut ShardReplica,
    drop_copy: &'a mut DropCopy,
    feed: &'a mut RelayFeed,
    tap: &'a mut RelayTap,
}

async fn consume(
    config: &Config,
    target: &mut Target<'_>,
    stop: &AtomicBool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let shard = target.replica.shard;
    let stream = open_session(config, shard, target.drop_copy).await?;
    let start = progress.start(target.replica);
    progress.resumed_at.get_or_insert(start.unwrap_or(1));
    tracing::info!(
        shard,
        next_seq = target.replica.next_seq(),
        from_stream_seq = start.unwrap_or(1),
        "follower: consuming"
    );
    let subject = config.replication.shard_subject(shard);
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.clone(),
            deliver_policy: start.map_or(DeliverPolicy::All, |start_sequence| {
                DeliverPolicy::ByStartSequence { start_sequence }
            }),
            ..Default::default()
        })
        .await
        .map_err(|e| Retry(format!("consumer: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| Retry(format!("messages: {e}")))?;
    let mut last_log = std::time::Instant::now();
    let mut watch = StallWatch::new(start.unwrap_or(1));
    // A replica with records checks its origin at the first message.
    let mut origin = (target.replica.next_seq() > 1).then(|| target.replica.dir().to_path_buf());
    loop {
        if stop.load(Ordering::Acquire) {
            return target.drop_copy.settle().await.map_err(Retry);
        }
        match next_message(&mut messages, target.feed).await {
            // Nothing to apply: let the fills in flight land, and make
            // sure the silence is the stream's, not a dead consumer's.
            Err(_elapsed) => {
                target.drop_copy.settle().await.map_err(Retry)?;
                watch.check_if_quiet(&stream, &subject).await?;
            }
            Ok(None) => return Err(Retry("the consumer ended".into())),
            Ok(Some(Err(e))) => return Err(Retry(format!("message: {e}"))),
            Ok(Some(Ok(message))) => {
                if let Some(dir) = origin.take() {
                    check_origin(&stream, &subject, shard, &dir).await?;
                }
                let from_hint = start.is_some() && progress.position.is_none();
                let stream_seq = stream_seq(&message)?;
                watch.delivered(stream_seq);
                on_message(target, &message, stream_seq, from_hint, progress).await?;
            }
        }
        let applied = target.replica.next_seq() - 1;
        if applied != progress.logged_seq && last_log.elapsed() >= Duration::from_millis(200) {
            progress.logged_seq = applied;
            last_log = std::time::Instant::now();
            progress.store_position(target.replica, target.drop_copy);
            tracing::info!(
                shard,
                applied_seq = applied,
                checksums_verified = target.replica.checksums_verified(),
                "follower progress"
            );
        }
    }
}

/// A consume session's start: NATS, the journal stream, the drop copy
/// connected (publishing what it left unacknowledged) and, once a session
/// on shard 0, the shards checked ([`check_shard_count`]).
async fn open_session(
    config: &Config,
    shard: u16,
    drop_copy: &mut DropCopy,
) -> Result<async_nats::jetstream::stream::Stream, Failure> {
    assert!((shard as usize) < config.shard_count(), "shard {shard}");
    let js = super::nats::connect(&config.replication)
        .await
        .map_err(Retry)?;
    let stream = super::nats::journal_stream(&js, &config.replication)
        .await
        .map_err(Retry)?;
    drop_copy.connect(&js).await.map_err(Retry)?;
    if shard == 0 {
        check_shard_count(&stream, config).await?;
    }
    Ok(stream)
}

/// Checks that the stream holds no shard this follower does not follow: one
/// with fewer `server.cores` than the primary would follow some shards and
/// silently leave the others (their books, fills and feed) out. A primary's
/// shards are numbered from 0 and each ships from its start (its
/// `feed_epoch`), so the first shard id this follower lacks is the one to
/// look for.
async fn check_shard_count(
    stream: &async_nats::jetstream::stream::Stream,
    config: &Config,
) -> Result<(), Failure> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    let shards = config.shard_count();
    assert!(
        shards >= 1 && shards <= u16::MAX as usize,
        "{shards} shards"
    );
    let subject = config.replication.shard_subject(shards as u16);
    match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(_) => Err(Fatal(format!(
            "the stream holds records of shard {shards} ({subject}), and this follower's config \
             has {shards} shard(s) (server.cores): give it the primary's number of cores"
        ))),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(()),
        Err(e) => Err(Retry(format!("last record of {subject}: {e}"))),
    }
}

/// Checks that the stream's first record of the replica's shard is the
/// replica's record 1. Record 1 (the first start's `config_epoch`, stamped
/// with that start's clock) is the same bytes in every journal of one
/// history and differs between histories, so this tells a stream recreated
/// for a fresh primary journal, or another primary's stream, from the one
/// the replica followed. Seqs alone cannot: the resume hint may land in the
/// new stream right at the seq the replica expects, and a reread from the
/// start skips the new stream's first records as ones it holds. A stream
/// trimmed of record 1 cannot be checked (logged).
async fn check_origin(
    stream: &async_nats::jetstream::stream::Stream,
    subject: &str,
    shard: u16,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    let first = match stream.get_first_raw_message_by_subject(subject, 1).await {
        Ok(first) => first,
        // A message of the subject was just delivered: deleted since.
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {
            return Err(Retry(format!("shard {shard}: the subject emptied")));
        }
        Err(e) => return Err(Retry(format!("first record of {subject}: {e}"))),
    };
    let shipped = message::decode(&first.payload)
        .map_err(|e| Fatal(format!("shard {shard}: the stream's first record: {e}")))?;
    if shipped.record.seq != 1 {
        tracing::warn!(
            shard,
            first_seq = shipped.record.seq,
            "follower: the stream no longer holds record 1; this journal's history cannot be compared with it"
        );
        return Ok(());
    }
    let mut tail = super::tail::JournalTail::new(dir, 1);
    let ours = tail
        .next_frame()
        .map_err(|e| Fatal(format!("shard {shard}: this journal's record 1: {e}")))?
        .map(<[u8]>::to_vec);
    // Called only for a replica with records: it has a record 1.
    assert!(
        ours.is_some(),
        "shard {shard}: no record 1 in {}",
        dir.display()
    );
    if ours.as_deref() != Some(message::frame(&first.payload)) {
        return Err(Fatal(format!(
            "shard {shard}: the stream's record 1 of shard {shard} is not this journal's: \
             the stream holds another history (recreated for a fresh primary journal, or \
             another primary's); move this follower's journal.dir aside to follow it"
        )));
    }
    Ok(())
}

/// The consumer's next message: one already delivered is taken without a
/// timer; only before waiting (up to 100 ms, `Err` after) are the relays
/// woken for what was pushed to them.
async fn next_message<S: futures_lite::Stream + Unpin>(
    messages: &mut S,
    feed: &mut RelayFeed,
) -> Result<Option<S::Item>, tokio::time::error::Elapsed> {
    if let Some(ready) = futures_lite::future::poll_once(messages.next()).await {
        return Ok(ready);
    }
    feed.wake();
    tokio::time::timeout(Duration::from_millis(100), messages.next()).await
}

/// A message's stream sequence, parsed from its reply subject (once per
/// message: the parse is a visible part of a follower's time per record).
fn stream_seq(message: &async_nats::jetstream::Message) -> Result<u64, Failure> {
    let seq = message
        .info()
        .map_err(|e| Retry(format!("message info: {e}")))?
        .stream_sequence;
    debug_assert!(seq >= 1, "stream sequences start at 1");
    Ok(seq)
}

/// How long a consumer may deliver nothing before the follower asks the
/// stream whether it holds more of the shard's records.
const STALL_CHECK_AFTER: Duration = Duration::from_secs(2);

/// Tells a quiet stream from a dead consumer. The consumer is ephemeral
/// and lives on one server; when that server dies, async-nats recreates it
/// only after two missed 15 s idle heartbeats (and then keeps retrying
/// while the stream elects a leader): a minute or more in which the
/// replica silently falls behind. After [`STALL_CHECK_AFTER`] of silence
/// the follower asks the stream for the shard subject's last record; if
/// that is past the last one delivered, the consumer is stalled and is
/// replaced (a `Retry`: a new connection and consumer, starting after the
/// last record applied).
struct StallWatch {
    /// The stream sequence the consumer should deliver next.
    next_stream_seq: u64,
    /// Since the last delivery or check.
    quiet_since: std::time::Instant,
}

impl StallWatch {
    fn new(first_stream_seq: u64) -> StallWatch {
        assert!(first_stream_seq >= 1, "stream sequences start at 1");
        StallWatch {
            next_stream_seq: first_stream_seq,
            quiet_since: std::time::Instant::now(),
        }
    }

    /// A message of stream sequence `seq` arrived.
    fn delivered(&mut self, seq: u64) {
        debug_assert!(seq >= self.next_stream_seq, "an ordered consumer");
        self.next_stream_seq = seq + 1;
        self.quiet_since = std::time::Instant::now();
    }

    /// After [`STALL_CHECK_AFTER`] of silence (else nothing), whether
    /// the stream holds records of `subject` the consumer never delivered.
    async fn check_if_quiet(
        &mut self,
        stream: &async_nats::jetstream::stream::Stream,
        subject: &str,
    ) -> Result<(), Failure> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        if self.quiet_since.elapsed() < STALL_CHECK_AFTER {
            return Ok(());
        }
        self.quiet_since = std::time::Instant::now();
        debug_assert!(self.next_stream_seq >= 1);
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(last) if last.sequence >= self.next_stream_seq => Err(Retry(format!(
                "consumer stalled: the stream holds {subject} up to stream seq {}, \
                 nothing delivered from {} in {STALL_CHECK_AFTER:?}",
                last.sequence, self.next_stream_seq
            ))),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(()),
            Err(e) => Err(Retry(format!("stall check: {e}"))),
        }
    }
}

/// One record from the stream: applied (then relayed and its fills
/// published), skipped as a duplicate, or the end of this replica.
/// `from_hint`: the consumer started at the resume hint and nothing was
/// applied since, so a gap means the hint named another stream.
async fn on_message(
    target: &mut Target<'_>,
    message: &async_nats::jetstream::Message,
    stream_seq: u64,
    from_hint: bool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let shard = target.replica.shard;
    debug_assert!(stream_seq >= 1, "stream sequences start at 1");
    let shipped = message::decode(&message.payload)
        .map_err(|e| Fatal(format!("shard {shard}: corrupt record in the stream: {e}")))?;
    match target.replica.apply(&shipped, target.tap) {
        Ok(Applied::Applied) => {
            debug_assert_eq!(target.replica.next_seq(), shipped.record.seq + 1);
            progress.applied(shipped.record.ts_ns);
            progress.position = Some(Position {
                record_seq: shipped.record.seq,
                stream_seq,
            });
            target.feed.push(&target.tap.relay).await.map_err(Fatal)?;
            target
                .drop_copy
                .publish(shipped.record.seq, &target.tap.events)
                .await
                .map_err(Retry)
        }
        Ok(Applied::Duplicate) => {
            progress.duplicates += 1;
            Ok(())
        }
        Err(error @ ReplicaError::Gap { .. }) if from_hint => {
            // The hint named another stream (recreated since): read this
            // subject from its start once.
            resume::forget(target.replica.dir());
            Err(Retry(format!(
                "{error} after the resume hint; rereading from the start"
            )))
        }
        Err(error @ ReplicaError::Gap { .. }) | Err(error @ ReplicaError::Journal { .. }) => {
            Err(Fatal(error.to_string()))
        }
    }
}
