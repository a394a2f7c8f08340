//! What the shipper publishes for the admin endpoint: per shard, the last
//! seq found in the journal, the last seq JetStream acknowledged, and the
//! shipper's state; atomics with one writer (the shipper thread), read by
//! the admin thread for `/metrics` and `/stats`.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Where a shard's shipping stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ShipState {
    /// Not started, or shipping is off.
    Idle = 0,
    /// Connecting to NATS or looking up the stream's last record.
    Connecting = 1,
    /// Connected and publishing (or caught up).
    Shipping = 2,
    /// NATS is unreachable or refused: the journal keeps the records, the
    /// shipper retries.
    Disconnected = 3,
    /// The stream holds records this journal does not (another primary
    /// wrote to the subject, or the journal was replaced): shipping this
    /// shard stopped; an operator must look.
    Conflict = 4,
}

impl ShipState {
    pub fn name(self) -> &'static str {
        match self {
            ShipState::Idle => "idle",
            ShipState::Connecting => "connecting",
            ShipState::Shipping => "shipping",
            ShipState::Disconnected => "disconnected",
            ShipState::Conflict => "conflict",
        }
    }

    fn from_u8(v: u8) -> ShipState {
        match v {
            1 => ShipState::Connecting,
            2 => ShipState::Shipping,
            3 => ShipState::Disconnected,
            4 => ShipState::Conflict,
            _ => ShipState::Idle,
        }
    }
}

/// One shard's shipping figures.
#[derive(Debug, Default)]
pub struct ShardShipping {
    /// The last seq the shipper found in the journal.
    journal_seq: AtomicU64,
    /// The last seq JetStream acknowledged (stored on its replicas).
    shipped_seq: AtomicU64,
    state: AtomicU8,
    /// Publishes that failed or timed out (each followed by a resume from
    /// the stream's last record).
    errors: AtomicU64,
}

/// A copy of one shard's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippingSnapshot {
    pub journal_seq: u64,
    pub shipped_seq: u64,
    pub state: ShipState,
    pub errors: u64,
}

impl ShippingSnapshot {
    /// Records in the journal not yet acknowledged by JetStream: what
    /// losing this host now would lose from the replicas' point of view.
    pub fn lag_records(&self) -> u64 {
        self.journal_seq.saturating_sub(self.shipped_seq)
    }
}

impl ShardShipping {
    pub fn set_journal_seq(&self, seq: u64) {
        self.journal_seq.fetch_max(seq, Ordering::Relaxed);
    }
    pub fn set_shipped_seq(&self, seq: u64) {
        self.shipped_seq.store(seq, Ordering::Relaxed);
        self.set_journal_seq(seq);
    }
    pub fn set_state(&self, state: ShipState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }
    pub fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> ShippingSnapshot {
        ShippingSnapshot {
            journal_seq: self.journal_seq.load(Ordering::Relaxed),
            shipped_seq: self.shipped_seq.load(Ordering::Relaxed),
            state: ShipState::from_u8(self.state.load(Ordering::Relaxed)),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// Every shard's figures; empty when shipping is off.
#[derive(Debug, Default)]
pub struct ShipperBoard {
    pub shards: Vec<ShardShipping>,
}

impl ShipperBoard {
    pub fn new(shards: usize) -> ShipperBoard {
        ShipperBoard {
            shards: (0..shards).map(|_| ShardShipping::default()).collect(),
        }
    }
}
