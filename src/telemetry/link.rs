//! The two SPSC rings between one shard and the admin thread: `full`
//! carries finished interval histograms to the admin thread, `clean` brings
//! emptied ones back. Every histogram of a shard is made here, at start-up:
//! three per stage (one recording on the shard, one held by the admin
//! thread as the last interval, one spare in between). Both rings hold all
//! of them, so a push can never find a ring full.

use hdrhistogram::Histogram;
use rtrb::{Consumer, Producer, RingBuffer};

use super::histogram::new_histogram;
use super::stage::{Stage, STAGE_COUNT};

/// Histograms per stage in circulation (see the module comment).
pub const HISTOGRAMS_PER_STAGE: usize = 3;
const IN_CIRCULATION: usize = HISTOGRAMS_PER_STAGE * STAGE_COUNT;

/// One finished interval of one stage on one shard.
pub struct Interval {
    pub shard: u16,
    pub stage: Stage,
    /// Monotonic ns (telemetry::clock) the interval began and ended.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Exact sum of the values recorded (the histogram keeps none).
    pub sum_ns: u64,
    pub histogram: Histogram<u64>,
}

/// The shard's ends.
pub struct ShardLink {
    pub shard: u16,
    /// One recording histogram per stage, indexed by `Stage::index`.
    pub active: Vec<Histogram<u64>>,
    pub full: Producer<Interval>,
    pub clean: Consumer<Histogram<u64>>,
}

/// The admin thread's ends.
pub struct AdminLink {
    pub shard: u16,
    pub full: Consumer<Interval>,
    pub clean: Producer<Histogram<u64>>,
}

/// Makes a shard's histograms and the two rings.
pub fn link(shard: u16) -> (ShardLink, AdminLink) {
    let (full_tx, full_rx) = RingBuffer::new(IN_CIRCULATION);
    let (mut clean_tx, clean_rx) = RingBuffer::new(IN_CIRCULATION);
    let active: Vec<Histogram<u64>> = (0..STAGE_COUNT).map(|_| new_histogram()).collect();
    // The spares: the admin thread holds none yet.
    for _ in STAGE_COUNT..IN_CIRCULATION {
        clean_tx
            .push(new_histogram())
            .unwrap_or_else(|_| unreachable!("the ring holds every histogram"));
    }
    (
        ShardLink {
            shard,
            active,
            full: full_tx,
            clean: clean_rx,
        },
        AdminLink {
            shard,
            full: full_rx,
            clean: clean_tx,
        },
    )
}
