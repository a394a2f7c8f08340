//! The MSG_RING doorbell (`shard/notify.rs`) on real shard reactors: a
//! consumer thread runs the reactor loop with nothing to do but wait for
//! its doorbell (it sleeps in `io_uring_enter`, no timer armed), and
//! producers push to rtrb rings and ring it, as the mesh does. A lost
//! wake-up leaves the consumer asleep for ever; the producers' deadline
//! (generous, only ever reached by a hang) turns that into a failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rtrb::{Consumer, Producer, RingBuffer};
use tradsys::shard::mesh::{Doorbell, ShardRing};
use tradsys::shard::reactor::{self, bufring::BufRing, ops, Ring};

/// Only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

/// Waits for `done`, failing with `what` at the deadline.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: lost wake-up?");
        std::hint::spin_loop();
    }
}

/// What the consumer saw: messages (in order per producer) and parks.
#[derive(Default)]
struct Seen {
    messages: AtomicU64,
    parks: AtomicU64,
}

/// A shard that parks on `bell` whenever its rings are empty, until it has
/// taken `expect` messages. Each producer's messages must arrive in order.
fn consumer(
    ring: ShardRing,
    bell: Arc<Doorbell>,
    mut inbound: Vec<Consumer<u64>>,
    expect: u64,
    seen: Arc<Seen>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let ring = Ring::enable(ring.into_inner(), BufRing::new(8, 4096)).unwrap();
        reactor::block_on(ring, async move {
            let mut next = vec![0u64; inbound.len()];
            loop {
                for (from, rx) in inbound.iter_mut().enumerate() {
                    while let Ok(value) = rx.pop() {
                        assert_eq!(value, next[from], "producer {from} out of order");
                        next[from] += 1;
                        seen.messages.fetch_add(1, Ordering::Release);
                    }
                }
                if next.iter().sum::<u64>() == expect {
                    return;
                }
                if bell.park_unless(|| inbound.iter().any(|rx| !rx.is_empty())) {
                    seen.parks.fetch_add(1, Ordering::Relaxed);
                    ops::doorbell().await;
                    bell.unpark();
                }
            }
        })
        .expect("the shard reactor");
    })
}

fn shard() -> (Arc<Doorbell>, ShardRing) {
    let (bell, ring) = Doorbell::new().unwrap();
    (Arc::new(bell), ring)
}

#[test]
fn a_parked_shard_wakes_for_every_message() {
    const MESSAGES: u64 = 200;
    let (bell, ring) = shard();
    let (mut tx, rx) = RingBuffer::new(4);
    let seen = Arc::new(Seen::default());
    let handle = consumer(
        ring,
        Arc::clone(&bell),
        vec![rx],
        MESSAGES,
        Arc::clone(&seen),
    );
    for i in 0..MESSAGES {
        // Only once the consumer has announced its park: every message
        // goes to a shard that is asleep or about to be.
        wait_for("consumer parks", || bell.is_parked());
        tx.push(i).unwrap();
        bell.ring();
        wait_for("message taken", || {
            seen.messages.load(Ordering::Acquire) == i + 1
        });
    }
    handle.join().unwrap();
    // Not one park per message: a message pushed between the consumer's
    // announcement and its re-check is found by the re-check (no sleep),
    // and that message's doorbell then ends the next park at once.
    assert!(seen.parks.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_shard_rings_another_through_its_own_ring() {
    // The producer is itself a shard: its doorbell goes out as an SQE on
    // its own ring (the path a shard's mesh takes), not the fallback.
    const MESSAGES: u64 = 100;
    let (bell, ring) = shard();
    let (mut tx, rx) = RingBuffer::new(2);
    let seen = Arc::new(Seen::default());
    let handle = consumer(
        ring,
        Arc::clone(&bell),
        vec![rx],
        MESSAGES,
        Arc::clone(&seen),
    );
    let (_own_bell, own_ring) = Doorbell::new().unwrap();
    let producer_seen = Arc::clone(&seen);
    let producer = std::thread::spawn(move || {
        let own = Ring::enable(own_ring.into_inner(), BufRing::new(8, 4096)).unwrap();
        reactor::block_on(own, async move {
            for i in 0..MESSAGES {
                wait_for("consumer parks", || bell.is_parked());
                tx.push(i).unwrap();
                bell.ring();
                wait_for("message taken", || {
                    producer_seen.messages.load(Ordering::Acquire) == i + 1
                });
            }
        })
        .expect("the shard reactor");
    });
    producer.join().unwrap();
    handle.join().unwrap();
}

#[test]
fn shutdown_force_wakes_a_parked_shard() {
    let (bell, ring) = shard();
    let done = Arc::new(AtomicU64::new(0));
    let woken = Arc::clone(&done);
    let waiter = Arc::clone(&bell);
    let handle = std::thread::spawn(move || {
        let ring = Ring::enable(ring.into_inner(), BufRing::new(8, 4096)).unwrap();
        reactor::block_on(ring, async move {
            assert!(waiter.park_unless(|| false));
            ops::doorbell().await;
            waiter.unpark();
            woken.store(1, Ordering::Release);
        })
        .expect("the shard reactor");
    });
    wait_for("consumer parks", || bell.is_parked());
    bell.force();
    handle.join().unwrap();
    assert_eq!(done.load(Ordering::Acquire), 1);
}

/// One producer's schedule: bursts, each followed by a pause of so many
/// spins (0: push the next burst at once).
type Schedule = Vec<(u8, u16)>;

fn produce(mut tx: Producer<u64>, bell: Arc<Doorbell>, schedule: Schedule) {
    let mut next = 0;
    for (burst, pause) in schedule {
        for _ in 0..burst {
            // A full ring waits for the consumer (as a shard's overflow
            // would), ringing again: it may have parked meanwhile.
            while tx.push(next).is_err() {
                bell.ring();
                std::hint::spin_loop();
            }
            next += 1;
            bell.ring();
        }
        for _ in 0..pause {
            std::hint::spin_loop();
        }
    }
}

fn schedule() -> impl Strategy<Value = Schedule> {
    prop::collection::vec(
        (1u8..20, prop_oneof![Just(0u16), 0u16..2000, 0u16..50_000]),
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// One to three producers on their own rings, random bursts and pauses
    /// (so the consumer parks and wakes at random points): every message
    /// arrives, in order, and the consumer finishes.
    #[test]
    fn no_wake_up_is_lost(schedules in prop::collection::vec(schedule(), 1..=3), capacity in 1usize..8) {
        let (bell, ring) = shard();
        let expect: u64 = schedules
            .iter()
            .map(|s| s.iter().map(|&(burst, _)| u64::from(burst)).sum::<u64>())
            .sum();
        let mut receivers = Vec::new();
        let mut producers = Vec::new();
        for schedule in schedules {
            let (tx, rx) = RingBuffer::new(capacity);
            receivers.push(rx);
            let bell = Arc::clone(&bell);
            producers.push(std::thread::spawn(move || produce(tx, bell, schedule)));
        }
        let seen = Arc::new(Seen::default());
        let handle = consumer(ring, Arc::clone(&bell), receivers, expect, Arc::clone(&seen));
        for producer in producers {
            producer.join().unwrap();
        }
        wait_for("all messages taken", || seen.messages.load(Ordering::Acquire) == expect);
        handle.join().unwrap();
    }
}
