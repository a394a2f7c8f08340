//! The shipper: one housekeeping thread (never a shard core) that tails
//! every shard's journal read-only and publishes each record, in order, to
//! `{subject_prefix}.shard.{id}` on JetStream ([`super::message`]).
//!
//! Exactly once, in order: at every (re)start of a shard's shipping it asks
//! the stream for the last record on the shard's subject, checks that the
//! journal holds the same bytes at that seq, and resumes from the next one.
//! The first publish after a resume carries `Nats-Expected-Last-Subject-
//! Sequence` (JetStream refuses it if anything else was appended since, as a
//! second primary would), and every publish carries `Nats-Msg-Id:
//! {shard}:{seq}` (JetStream drops a duplicate). Any failure (timeout,
//! refusal, NATS down) drops what is in flight and resumes from the stream's
//! last record again; the journal is the buffer meanwhile.
//!
//! Nothing on the order path waits for it: acknowledgements to clients
//! depend on the journal append alone.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;

use super::board::{ShardShipping, ShipState};
use super::message;
use super::tail::JournalTail;
use crate::config::ReplicationConfig;
use crate::journal::{self, codec::kind, config_file, layout};
use crate::shard::shared::Shared;

/// Pause between polls of a caught-up journal, and between retries.
const POLL: Duration = Duration::from_millis(1);
const RETRY: Duration = Duration::from_millis(250);
/// At shutdown, how long the shipper keeps shipping what the shards
/// journaled before they stopped.
const DRAIN: Duration = Duration::from_secs(3);

/// The running shipper thread.
pub struct Shipper {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl Shipper {
    /// Starts the thread on the housekeeping cores.
    pub fn start(shared: Arc<Shared>, cores: Vec<usize>) -> std::io::Result<Shipper> {
        assert!(shared.config.replication.enabled());
        assert_eq!(shared.replication.shards.len(), shared.config.shard_count());
        let runtime = super::nats::runtime()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("shipper".into())
            .spawn(move || {
                crate::admin::pin_housekeeping(&cores);
                runtime.block_on(run(shared, stopping));
            })?;
        Ok(Shipper { handle, stop })
    }

    /// Ships what the journals hold (for a few seconds at most), then stops.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.handle.join();
    }
}

async fn run(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let config = shared.config.replication.clone();
    let mut tasks = Vec::new();
    for shard in 0..shared.config.shard_count() as u16 {
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            let dir = journal::shard_dir(&shared.config.journal.dir, shard);
            let board = &shared.replication.shards[shard as usize];
            ship_shard(&config, shard, dir, board, &stop).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Where one shard's shipping is.
struct ShardShipper<'a> {
    config: &'a ReplicationConfig,
    shard: u16,
    subject: String,
    dir: PathBuf,
    board: &'a ShardShipping,
    /// Finds the journal's end for the lag figure (even with NATS down).
    probe: JournalTail,
}

async fn ship_shard(
    config: &ReplicationConfig,
    shard: u16,
    dir: PathBuf,
    board: &ShardShipping,
    stop: &AtomicBool,
) {
    let mut shipper = ShardShipper {
        config,
        shard,
        subject: config.shard_subject(shard),
        probe: JournalTail::new(&dir, 1),
        dir,
        board,
    };
    let mut draining_since: Option<Instant> = None;
    loop {
        board.set_state(ShipState::Connecting);
        let outcome = match super::nats::connect(config).await {
            Ok(js) => shipper.session(&js, stop, &mut draining_since).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => break,
            Err(error) if error.starts_with("conflict") => {
                // The journal's end, so the lag says what the stream lacks
                // (a conflict found at the first resume left it unread).
                // (`advance_probe` reads a bounded number of records a call.)
                let mut read_to = 0;
                while shipper.probe.next_seq() != read_to {
                    read_to = shipper.probe.next_seq();
                    shipper.advance_probe();
                }
                board.set_state(ShipState::Conflict);
                tracing::error!(shard, %error, "shipper: stream and journal disagree; this shard's shipping stopped");
                return;
            }
            Err(error) => {
                board.set_state(ShipState::Disconnected);
                board.count_error();
                tracing::warn!(shard, %error, "shipper: NATS unavailable; the journal keeps the records, retrying");
            }
        }
        if stop.load(Ordering::Acquire)
            && draining_since.get_or_insert_with(Instant::now).elapsed() > DRAIN
        {
            break;
        }
        shipper.advance_probe();
        tokio::time::sleep(RETRY).await;
    }
    board.set_state(ShipState::Idle);
}

impl ShardShipper<'_> {
    fn advance_probe(&mut self) {
        for _ in 0..100_000 {
            match self.probe.next_frame() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        self.board.set_journal_seq(self.probe.next_seq() - 1);
    }

    /// Ships until stopped (`Ok`) or until NATS fails (`Err`, resume).
    async fn session(
        &mut self,
        js: &jetstream::Context,
        stop: &AtomicBool,
        draining_since: &mut Option<Instant>,
    ) -> Result<(), String> {
        let stream = super::nats::journal_stream(js, self.config).await?;
        let (mut tail, last_stream_seq) = self.resume_point(&stream).await?;
        self.board.set_state(ShipState::Shipping);
        let mut expected = Some(last_stream_seq);
        let mut in_flight: VecDeque<(u64, PublishAckFuture, Bytes)> = VecDeque::new();
        loop {
            while in_flight.len() < self.config.max_in_flight {
                let seq = tail.next_seq();
                let Some(body) = self.next_body(&mut tail)? else {
                    break;
                };
                let body = Bytes::from(body);
                let mut publish = PublishMessage::build()
                    .payload(body.clone())
                    .message_id(message::message_id(self.shard, seq))
                    .header("Tradsys-Shard", self.shard.to_string().as_str())
                    .header("Tradsys-Seq", seq.to_string().as_str());
                if let Some(last) = expected.take() {
                    publish = publish.expected_last_subject_sequence(last);
                }
                let ack = js
                    .send_publish(self.subject.clone(), publish)
                    .await
                    .map_err(|e| format!("publish seq {seq}: {e}"))?;
                in_flight.push_back((seq, ack, body));
            }
            assert!(in_flight.len() <= self.config.max_in_flight);
            if let Some((seq, ack, body)) = in_flight.pop_front() {
                let ack = ack.await.map_err(|e| format!("ack of seq {seq}: {e}"))?;
                if ack.duplicate {
                    self.check_duplicate(&stream, seq, ack.sequence, &body)
                        .await?;
                }
                // Acknowledged in the order published: no seq skipped.
                assert_eq!(seq, self.board.snapshot().shipped_seq + 1, "acks in order");
                self.board.set_shipped_seq(seq);
                continue;
            }
            self.advance_probe();
            if stop.load(Ordering::Acquire) {
                let since = draining_since.get_or_insert_with(Instant::now);
                if tail.next_seq() > self.probe.next_seq() - 1 || since.elapsed() > DRAIN {
                    return Ok(());
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// JetStream answered the publish of `seq` as a duplicate: it already
    /// holds a message with that id (`{shard}:{seq}`) at `stream_seq`, and
    /// dropped this one. That is ours again only if it holds the same
    /// bytes. Otherwise another writer shipped a record `seq` of this
    /// shard (a second primary: the duplicate check runs before the
    /// expected-sequence one, so it is where a second primary shows), or
    /// the stream was purged within its duplicate window and a fresh
    /// journal is numbering from 1 again: either way this record is not in
    /// the stream, and reporting it shipped would be a lie (conflict).
    async fn check_duplicate(
        &self,
        stream: &Stream,
        seq: u64,
        stream_seq: u64,
        body: &[u8],
    ) -> Result<(), String> {
        // A body is a whole record frame (and a config after an epoch's).
        assert!(
            body.len() >= layout::record_bytes(1),
            "record {seq}: {} bytes",
            body.len()
        );
        let held = match stream.get_raw_message(stream_seq).await {
            Ok(message) => Some(message),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => None,
            Err(e) => return Err(format!("message {stream_seq} of the stream: {e}")),
        };
        let ours = held
            .as_ref()
            .is_some_and(|m| m.subject.as_str() == self.subject && m.payload[..] == *body);
        if ours {
            return Ok(());
        }
        let what = match &held {
            Some(_) => "holds another record under its id (another primary ships to this subject)",
            None => "dropped it as a duplicate of a message no longer there (the stream was purged within its duplicate window: delete the stream instead)",
        };
        Err(format!(
            "conflict: record {seq} of shard {} is not in the stream: JetStream {what}",
            self.shard
        ))
    }

    /// The next record's message body, if the journal has it.
    fn next_body(&self, tail: &mut JournalTail) -> Result<Option<Vec<u8>>, String> {
        let frame = match tail.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(None),
            Err(e) => return Err(format!("conflict: journal: {e}")),
        };
        let mut body = frame.to_vec();
        // The frame the tail returned carries the seq it was asked for.
        debug_assert_eq!(layout::get_u64(&body, layout::R_SEQ) + 1, tail.next_seq());
        if layout::get_u16(&body, layout::R_KIND) == kind::CONFIG_EPOCH {
            let epoch = journal::ConfigEpoch {
                digest: layout::get_u64(&body, layout::R_PAYLOAD),
                config_bytes: layout::get_u32(&body, layout::R_PAYLOAD + 8),
            };
            let config = config_file::read_body(&self.dir, epoch)
                .map_err(|e| format!("conflict: config file of {epoch:?}: {e}"))?;
            body.extend_from_slice(&config);
        }
        Ok(Some(body))
    }

    /// A tail positioned after the stream's last record of this shard, and
    /// that record's stream sequence, after checking the journal holds the
    /// same record.
    async fn resume_point(&mut self, stream: &Stream) -> Result<(JournalTail, u64), String> {
        let last = match stream.get_last_raw_message_by_subject(&self.subject).await {
            Ok(message) => Some(message),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => None,
            Err(e) => return Err(format!("last record of {}: {e}", self.subject)),
        };
        let Some(last) = last else {
            self.board.set_shipped_seq(0);
            return Ok((JournalTail::new(&self.dir, 1), 0));
        };
        let shipped = message::decode(&last.payload)
            .map_err(|e| format!("conflict: the stream's last record: {e}"))?;
        let seq = shipped.record.seq;
        let mut tail = JournalTail::new(&self.dir, seq);
        let ours = tail
            .next_frame()
            .map_err(|e| format!("conflict: journal: {e}"))?
            .map(<[u8]>::to_vec);
        if ours.as_deref() != Some(message::frame(&last.payload)) {
            return Err(format!(
                "conflict: the stream's record {seq} of shard {} is not this journal's (another primary shipped to {}, or this journal is behind the stream)",
                self.shard, self.subject
            ));
        }
        assert_eq!(
            tail.next_seq(),
            seq + 1,
            "resumes right after the stream's last"
        );
        self.board.set_shipped_seq(seq);
        tracing::info!(
            shard = self.shard,
            seq,
            stream_seq = last.sequence,
            "shipper: resuming after the stream's last record"
        );
        Ok((tail, last.sequence))
    }
}
