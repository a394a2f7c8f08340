//! The replay source: a helper thread, off the order path, that re-reads
//! one shard's journal read-only ([`JournalTail`]) into an engine of its
//! own with the recovery code ([`Replay`]) and hands one account's reports
//! numbered in `(after, upto]` to the session's shard over an SPSC ring.
//! The engine numbers reports as the live one did (`engine/report_seq.rs`),
//! so the numbers match what the client saw. All allocation (the engine,
//! the maps, the thread) is here, never on the shard; the shard only pops
//! fixed-size items and encodes them (`shard/core/replay.rs`).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, PushError, RingBuffer};

use crate::engine::{AccountId, Engine, EngineConfig, Event, EventSink};
use crate::journal::codec;
use crate::journal::layout::{get_u16, get_u32, get_u64, R_KIND, R_LEN, R_PAYLOAD, R_SEQ, R_TS};
use crate::journal::{Record, Replay, ReplaySink};
use crate::replication::tail::JournalTail;

/// Items the ring between a source and its shard holds: the shard drains
/// at most [`crate::shard::core::REPLAY_BATCH`] per poll, the source
/// refills while it runs ahead.
pub const REPLAY_RING: usize = 1024;

/// How long the source waits for a record the journal must hold (every
/// report up to `upto` was made from a record already appended).
const STALL_LIMIT: Duration = Duration::from_secs(10);

/// One thing the source hands over.
#[derive(Clone, Copy, Debug)]
pub enum ReplayItem {
    /// A report of the account with its number and its record's time.
    Report {
        report_seq: u64,
        ts_ns: u64,
        event: Event,
    },
    /// Every report up to `upto` was handed over.
    Done,
    /// The journal could not be read up to `upto` (logged).
    Failed,
}

/// What to replay.
pub struct ReplayJob {
    /// The journal directory of the stream's shard.
    pub dir: PathBuf,
    /// The config that shard's engine was built from (replay rebuilds it
    /// from the journal's first epoch).
    pub config: EngineConfig,
    pub account: AccountId,
    pub after: u64,
    pub upto: u64,
    /// The CPUs the helper may run on (not the shard's core).
    pub cpus: Option<libc::cpu_set_t>,
}

/// The shard's end: the ring, and a stop flag the source checks (set when
/// the handle is dropped: the session ended, or the replay finished).
pub struct ReplayHandle {
    pub items: Consumer<ReplayItem>,
    stop: Arc<AtomicBool>,
}

impl Drop for ReplayHandle {
    fn drop(&mut self) {
        debug_assert!(Arc::strong_count(&self.stop) <= 2, "one handle, one source");
        self.stop.store(true, Ordering::Release);
    }
}

/// Starts a source thread for `job`.
pub fn spawn(job: ReplayJob) -> io::Result<ReplayHandle> {
    assert!(job.after < job.upto, "an empty replay needs no source");
    let (producer, items) = RingBuffer::new(REPLAY_RING);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_seen = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("replay".into())
        .spawn(move || run(job, producer, &stop_seen))?;
    Ok(ReplayHandle { items, stop })
}

fn run(job: ReplayJob, mut out: Producer<ReplayItem>, stop: &AtomicBool) {
    if let Some(cpus) = job.cpus {
        // SAFETY: sets this thread's own affinity from a valid set.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&cpus), &cpus) };
        debug_assert!(rc == 0 || rc == -1);
    }
    let end = match replay(&job, &mut out, stop) {
        Ok(true) => ReplayItem::Done,
        Ok(false) => return, // stopped: nobody reads any more
        Err(reason) => {
            tracing::warn!(
                dir = %job.dir.display(),
                account = job.account,
                after = job.after,
                upto = job.upto,
                "replay on logon failed: {reason}"
            );
            ReplayItem::Failed
        }
    };
    push(&mut out, end, stop);
}

/// Replays the journal until the account's report `upto`; `Ok(false)` if
/// told to stop first.
fn replay(
    job: &ReplayJob,
    out: &mut Producer<ReplayItem>,
    stop: &AtomicBool,
) -> Result<bool, String> {
    let mut engine = Engine::new(&job.config);
    let mut replay = Replay::replica(&job.dir);
    let mut tail = JournalTail::new(&job.dir, 1);
    let mut sink = Collect {
        account: job.account,
        after: job.after,
        upto: job.upto,
        ts_ns: 0,
        last: 0,
        items: Vec::new(),
    };
    let mut waiting_since: Option<Instant> = None;
    while sink.last < job.upto {
        if stop.load(Ordering::Acquire) {
            return Ok(false);
        }
        match tail.next_frame().map_err(|e| e.to_string())? {
            Some(frame) => {
                let record = decode_frame(frame)?;
                replay.apply_into(&mut engine, &record, &mut sink);
                if let Some(error) = replay.take_failure() {
                    return Err(error.to_string());
                }
                waiting_since = None;
            }
            None => {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() > STALL_LIMIT {
                    return Err(format!("the journal ends before report {}", job.upto));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for item in sink.items.drain(..) {
            if !push(out, item, stop) {
                return Ok(false);
            }
        }
    }
    assert_eq!(sink.last, job.upto, "no report past upto is collected");
    Ok(true)
}

/// Pushes, waiting while the shard has not drained the ring; `false` if
/// told to stop meanwhile.
fn push(out: &mut Producer<ReplayItem>, mut item: ReplayItem, stop: &AtomicBool) -> bool {
    debug_assert_eq!(out.buffer().capacity(), REPLAY_RING);
    loop {
        match out.push(item) {
            Ok(()) => return true,
            Err(PushError::Full(back)) => {
                if stop.load(Ordering::Acquire) || out.is_abandoned() {
                    return false;
                }
                item = back;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// A frame the tail returned (its CRC checked there) as a record.
fn decode_frame(frame: &[u8]) -> Result<Record, String> {
    let len = get_u32(frame, R_LEN) as usize;
    assert!(R_PAYLOAD + len <= frame.len(), "the tail checked the frame");
    let entry = codec::decode(get_u16(frame, R_KIND), &frame[R_PAYLOAD..R_PAYLOAD + len])
        .map_err(|e| e.to_string())?;
    Ok(Record {
        seq: get_u64(frame, R_SEQ),
        ts_ns: get_u64(frame, R_TS),
        entry,
    })
}

/// Keeps the account's reports numbered in `(after, upto]`.
struct Collect {
    account: AccountId,
    after: u64,
    upto: u64,
    /// The time of the record being replayed.
    ts_ns: u64,
    /// The account's last report number so far.
    last: u64,
    items: Vec<ReplayItem>,
}

impl Collect {
    /// Whether `event` is an order report about the replayed account.
    fn is_mine(&self, event: &Event) -> bool {
        debug_assert!(self.after < self.upto, "an empty replay has no source");
        match *event {
            Event::Accepted { account, .. }
            | Event::Rejected { account, .. }
            | Event::Fill { account, .. }
            | Event::Canceled { account, .. }
            | Event::Replaced { account, .. }
            | Event::CancelRejected { account, .. } => account == self.account,
            _ => false,
        }
    }
}

impl EventSink for Collect {
    fn emit(&mut self, event: &Event) {
        // Only reports of accounts the engine does not know come here.
        debug_assert!(!self.is_mine(event), "numbered");
    }

    fn emit_report(&mut self, event: &Event, report_seq: u64) {
        if !self.is_mine(event) {
            return;
        }
        assert_eq!(
            report_seq,
            self.last + 1,
            "an account's numbers have no gap"
        );
        self.last = report_seq;
        if report_seq > self.after && report_seq <= self.upto {
            self.items.push(ReplayItem::Report {
                report_seq,
                ts_ns: self.ts_ns,
                event: *event,
            });
        }
    }
}

impl ReplaySink for Collect {
    fn before(&mut self, record: &Record) {
        debug_assert!(record.command().is_some());
        self.ts_ns = record.ts_ns;
    }

    fn after(&mut self, record: &Record) {
        debug_assert!(record.command().is_some());
    }
}
