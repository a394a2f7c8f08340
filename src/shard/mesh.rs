//! The SPSC mesh: one `rtrb` ring for every ordered pair of shards, and a
//! doorbell per shard for waking it when it parks.
//!
//! A ring carries [`MeshMsg`] values (plain `Copy` data, no pointers, no
//! allocation). When a ring is full the producer keeps the message in a
//! per-destination overflow queue, pre-allocated, that it drains first on
//! its next poll: nothing is dropped and no shard ever waits on another
//! (two shards waiting on each other's full rings would deadlock). Readers
//! of client sockets stop reading while their destination ring is full or
//! its overflow is non-empty: that is the back-pressure.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixStream;

use crossbeam_utils::CachePadded;
use rtrb::{Consumer, Producer, RingBuffer};

use super::park::ParkFlag;
use crate::engine::{AccountId, Command, Event};
use crate::protocol::{OrderStatusMsg, OrderStatusRequestMsg};

/// One bit per shard (bit `i`: shard `i`): which shards have new ring input
/// and may need their doorbell rung. Its width bounds the shard count.
pub type ShardMask = u64;

const _: () = assert!(
    crate::config::MAX_SHARDS <= ShardMask::BITS as usize,
    "a shard mask has a bit for every shard"
);

/// Names one session anywhere in the gateway. The generation makes a
/// reference to a closed session (whose slot was reused) harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRef {
    pub shard: u16,
    pub slot: u16,
    pub generation: u32,
}

#[derive(Clone, Copy, Debug)]
pub enum MeshMsg {
    /// A command for the receiving shard's engine. `origin` (if any) gets
    /// the answers that are not order reports (mass cancel done).
    Command {
        origin: Option<SessionRef>,
        request_id: u64,
        command: Command,
    },
    StatusRequest {
        origin: SessionRef,
        account: AccountId,
        request: OrderStatusRequestMsg,
    },
    /// An order report for one session on the receiving shard.
    Report { dest: SessionRef, event: Event },
    /// The owner shard finished a command of `dest` (flow control: it
    /// follows the command's reports on the same ring).
    Processed { dest: SessionRef },
    Status {
        dest: SessionRef,
        status: OrderStatusMsg,
    },
    MassCancelDone {
        dest: SessionRef,
        request_id: u64,
        canceled: u32,
    },
}

/// Wakes a parked shard: the park/ring decision ([`ParkFlag`], which
/// `checks/loom/` model-checks) and the socket that carries the wake-up. The
/// consumer parks, re-checks its rings, then waits on the socket; a producer
/// that pushed and then finds it parked writes one byte. SeqCst fences on
/// both sides order "push, check parked" against "set parked, check rings",
/// so a wake-up is never lost.
pub struct Doorbell {
    parked: CachePadded<ParkFlag>,
    tx: UnixStream,
}

impl Doorbell {
    /// The doorbell and the receiving end its shard waits on.
    pub fn new() -> std::io::Result<(Doorbell, UnixStream)> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok((
            Doorbell {
                parked: CachePadded::new(ParkFlag::new()),
                tx,
            },
            rx,
        ))
    }

    /// Called by a producer after pushing.
    #[inline]
    pub fn ring(&self) {
        if self.parked.ring() {
            self.force();
        }
    }

    /// Writes the wake-up byte unconditionally (shutdown).
    pub fn force(&self) {
        // A full socket buffer already holds a wake-up: ignore WouldBlock.
        let _ = (&self.tx).write(&[1]);
    }

    /// Called by the consumer with nothing to do: parks unless `pending`
    /// (its re-check of the rings, after the park is announced) finds work.
    /// True: parked, wait on the socket, then [`Doorbell::unpark`].
    #[inline]
    pub fn park_unless(&self, pending: impl FnOnce() -> bool) -> bool {
        self.parked.park_unless(pending)
    }

    pub fn unpark(&self) {
        self.parked.unpark();
    }
}

/// One shard's ends of the mesh.
pub struct Links {
    /// `outbound[j]`: ring to shard j (`None` for itself).
    pub outbound: Vec<Option<Producer<MeshMsg>>>,
    /// `inbound[i]`: ring from shard i (`None` for itself).
    pub inbound: Vec<Option<Consumer<MeshMsg>>>,
    /// Messages for shard j that did not fit its ring yet.
    pub overflow: Vec<VecDeque<MeshMsg>>,
    /// Messages that went to overflow (a count for metrics).
    pub overflowed: u64,
    /// Messages sent to / received from each shard: two snapshots of every
    /// shard's counters that agree and balance prove the mesh is empty
    /// (graceful shutdown's termination check).
    pub sent: Vec<u64>,
    pub received: Vec<u64>,
}

/// Builds every shard's links: `shards * (shards - 1)` rings.
pub fn build(shards: usize, ring_capacity: usize) -> Vec<Links> {
    let mut links: Vec<Links> = (0..shards)
        .map(|_| Links {
            outbound: (0..shards).map(|_| None).collect(),
            inbound: (0..shards).map(|_| None).collect(),
            overflow: (0..shards)
                .map(|_| VecDeque::with_capacity(ring_capacity))
                .collect(),
            overflowed: 0,
            sent: vec![0; shards],
            received: vec![0; shards],
        })
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from != to {
                let (producer, consumer) = RingBuffer::new(ring_capacity);
                links[from].outbound[to] = Some(producer);
                links[to].inbound[from] = Some(consumer);
            }
        }
    }
    links
}

impl Links {
    /// Sends to shard `to` (never this shard): the ring if it has room and
    /// nothing is waiting ahead of it, else the overflow queue.
    pub fn send(&mut self, to: usize, msg: MeshMsg) {
        self.sent[to] += 1;
        let queue = &mut self.overflow[to];
        let producer = self.outbound[to].as_mut().expect("no ring to self");
        if queue.is_empty() {
            if let Err(rtrb::PushError::Full(msg)) = producer.push(msg) {
                queue.push_back(msg);
                self.overflowed += 1;
            }
        } else {
            queue.push_back(msg);
            self.overflowed += 1;
        }
    }

    /// Moves overflow into rings that have room again. Returns how many
    /// messages moved.
    /// Sets bit `to` in `doorbells_due` for every shard that got messages:
    /// it may have parked on an empty ring since they were queued here, and
    /// only its doorbell wakes it.
    pub fn flush_overflow(&mut self, doorbells_due: &mut ShardMask) -> usize {
        let mut moved = 0;
        for (to, queue) in self.overflow.iter_mut().enumerate() {
            let Some(producer) = self.outbound[to].as_mut() else {
                continue;
            };
            let before = moved;
            while let Some(msg) = queue.front() {
                if producer.push(*msg).is_err() {
                    break;
                }
                queue.pop_front();
                moved += 1;
            }
            if moved > before {
                *doorbells_due |= 1 << to;
            }
        }
        moved
    }

    /// Whether a message to shard `to` would go straight into its ring.
    pub fn has_room(&self, to: usize) -> bool {
        self.overflow[to].is_empty() && self.outbound[to].as_ref().is_some_and(|p| p.slots() > 0)
    }

    /// Whether messages wait in overflow (only this shard's mesh loop,
    /// `flush_overflow`, moves them).
    pub fn overflow_pending(&self) -> bool {
        self.overflow.iter().any(|queue| !queue.is_empty())
    }

    pub fn inbound_pending(&self) -> bool {
        self.inbound
            .iter()
            .flatten()
            .any(|consumer| !consumer.is_empty())
    }
}
