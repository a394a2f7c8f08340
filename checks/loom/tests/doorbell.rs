//! No lost wake-up: the doorbell protocol of `idle = "park"`.
//!
//! A producer shard pushes to a ring and rings the consumer's doorbell
//! (`ShardCore::ring_doorbells` -> `Doorbell::ring`); the consumer shard's
//! mesh loop (`runtime.rs` `mesh_loop`) drains its rings, and with nothing
//! to do parks unless its re-check (`ShardCore::mesh_pending`) finds input,
//! then sleeps until the wake-up byte. The park/ring decision is the
//! gateway's own `ParkFlag` (src/shard/park.rs); the rings are the rtrb
//! model ([`spsc`]); the doorbell's socketpair is a loom `Notify` (a write
//! makes the next read return, every byte written before a read is drained
//! by it, and the kernel orders the write before the read; loom's `Notify`
//! may also wake spuriously, which only costs the consumer a turn).
//!
//! If the consumer could sleep for ever with a message pending, loom finds
//! an interleaving in which every thread is finished or blocked and fails
//! with "deadlock". The `broken_*` models (ignored: they fail on purpose)
//! remove the re-check or the fences, and `the_model_sees_*` run them and
//! expect exactly that: the model can see a lost wake-up.
//!
//! At most 2 preemptions ([`MAX_PREEMPTIONS`]): from 3 on, loom reports a
//! lost wake-up that the C++/Rust memory model forbids. In it the consumer
//! parks (`parked` = true), wakes spuriously, unparks (false); a producer's
//! `swap` reads that false (no byte); the consumer parks again (true),
//! fences, finds its ring empty and waits; the producer pushes, fences, and
//! its load of `parked` returns the `swap`'s false. The `swap` read the
//! unpark, so it follows it directly in the modification order and the
//! second park comes after both; the consumer's fence precedes the
//! producer's, so that load must see the second park (true) or later: the
//! producer rings. loom keeps the modification order as a partial order
//! and lets the plain store and the concurrent `swap` stay unordered,
//! missing that rule (with `park` written as a `swap(true)` the same model
//! passes at 3 and 4 preemptions). x86's `mfence` and ARM's `dmb ish`
//! forbid the outcome too. The lost wake-ups the model must catch need one
//! preemption.

#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Notify};
use loom::thread;
use tradsys_loom_checks::park::ParkFlag;
use tradsys_loom_checks::spsc::{self, Consumer, Producer};
use tradsys_loom_checks::{builder, expect_model_failure};

/// See the module comment: loom's false positive from 3 on.
const MAX_PREEMPTIONS: usize = 2;

fn model(test: impl Fn() + Sync + Send + 'static) {
    builder(MAX_PREEMPTIONS).check(test);
}

/// One shard's doorbell: the gateway's flag and the socket.
#[derive(Default)]
struct Bell {
    flag: ParkFlag,
    socket: Notify,
}

impl Bell {
    /// `Doorbell::ring`.
    fn ring(&self) {
        if self.flag.ring() {
            self.socket.notify();
        }
    }
}

/// A producer shard: pushes each message, then rings (the ring is big
/// enough: the full-ring path is the ring model's business).
fn produce(mut tx: Producer<u32>, bell: Arc<Bell>, messages: std::ops::Range<u32>) {
    for m in messages {
        tx.push(m).expect("the ring has room");
        bell.ring();
    }
}

/// How the consumer parks.
#[derive(Clone, Copy)]
enum Park {
    /// The gateway's: `ParkFlag::park_unless` with the re-check.
    Gateway,
    /// Broken on purpose: parks and sleeps without re-checking its rings.
    NoRecheck,
}

/// The consumer shard's mesh loop with `idle = "park"`, until it has
/// received `expected` messages (or seen the shutdown flag, if given).
/// Returns what came from each ring.
fn consume(
    rings: &mut [Consumer<u32>],
    bell: &Bell,
    expected: usize,
    park: Park,
    shutting_down: Option<&AtomicBool>,
) -> Vec<Vec<u32>> {
    let stopping = || shutting_down.is_some_and(|flag| flag.load(Ordering::Acquire));
    let mut got = vec![Vec::new(); rings.len()];
    loop {
        // poll_mesh
        let mut handled = 0;
        for (ring, got) in rings.iter_mut().zip(&mut got) {
            while let Some(m) = ring.pop() {
                got.push(m);
                handled += 1;
            }
        }
        if stopping() || got.iter().map(Vec::len).sum::<usize>() == expected {
            return got;
        }
        if handled > 0 {
            continue;
        }
        match park {
            Park::Gateway => {
                let pending = || rings.iter().any(|ring| !ring.is_empty()) || stopping();
                if !bell.flag.park_unless(pending) {
                    continue;
                }
            }
            Park::NoRecheck => bell.flag.park(),
        }
        bell.socket.wait();
        bell.flag.unpark();
    }
}

fn one_producer(park: Park) {
    model(move || {
        let (tx, rx) = spsc::new(2);
        let bell = Arc::new(Bell::default());
        let producer = {
            let bell = Arc::clone(&bell);
            thread::spawn(move || produce(tx, bell, 0..2))
        };
        let got = consume(&mut [rx], &bell, 2, park, None);
        producer.join().unwrap();
        assert_eq!(got, [vec![0, 1]]);
    });
}

/// Two messages, one producer: whatever the interleaving, the consumer
/// gets both, in order, and never sleeps on a pending one.
#[test]
fn a_parked_shard_always_wakes_for_a_pushed_message() {
    one_producer(Park::Gateway);
}

/// Three shards: two producers ring the same consumer's doorbell; at most
/// one of them takes the flag for one park, and the consumer still wakes
/// for both messages.
#[test]
fn two_producers_ringing_one_doorbell_lose_no_wake_up() {
    model(|| {
        let bell = Arc::new(Bell::default());
        let (tx1, rx1) = spsc::new(1);
        let (tx2, rx2) = spsc::new(1);
        let producers: Vec<_> = [(tx1, 10..11), (tx2, 20..21)]
            .into_iter()
            .map(|(tx, messages)| {
                let bell = Arc::clone(&bell);
                thread::spawn(move || produce(tx, bell, messages))
            })
            .collect();
        let got = consume(&mut [rx1, rx2], &bell, 2, Park::Gateway, None);
        for producer in producers {
            producer.join().unwrap();
        }
        assert_eq!(got, [vec![10], vec![20]]);
    });
}

/// `Shared::begin_shutdown`: set the flag, then write every doorbell's byte
/// unconditionally. A parked shard always sees the shutdown, whether a
/// producer is pushing at the same time or not.
#[test]
fn a_parked_shard_always_wakes_for_a_shutdown() {
    model(|| {
        let bell = Arc::new(Bell::default());
        let shutting_down = Arc::new(AtomicBool::new(false));
        let (tx, rx) = spsc::new(1);
        let producer = {
            let bell = Arc::clone(&bell);
            thread::spawn(move || produce(tx, bell, 0..1))
        };
        let stopper = {
            let (bell, shutting_down) = (Arc::clone(&bell), Arc::clone(&shutting_down));
            thread::spawn(move || {
                shutting_down.store(true, Ordering::Release);
                bell.socket.notify(); // Doorbell::force
            })
        };
        // Expects more than is ever sent: only the shutdown ends the loop.
        consume(&mut [rx], &bell, 2, Park::Gateway, Some(&shutting_down));
        assert!(shutting_down.load(Ordering::Relaxed));
        producer.join().unwrap();
        stopper.join().unwrap();
    });
}

/// The model sees a lost wake-up: without the re-check after the park, the
/// consumer can park after the producer looked at the flag and sleep with
/// the message in its ring.
#[test]
fn the_model_sees_the_lost_wake_up_without_the_recheck() {
    expect_model_failure("broken_without_the_recheck", "deadlock");
}

/// The model sees a lost wake-up through the memory model alone: with the
/// re-check but without the SeqCst fences (store buffering: the producer's
/// load of `parked` and the consumer's load of the tail may both return the
/// old value).
#[test]
fn the_model_sees_the_lost_wake_up_without_the_fences() {
    expect_model_failure("broken_without_the_fences", "deadlock");
}

#[test]
#[ignore = "broken on purpose: fails; run by the_model_sees_the_lost_wake_up_without_the_recheck"]
fn broken_without_the_recheck() {
    one_producer(Park::NoRecheck);
}

#[test]
#[ignore = "broken on purpose: fails; run by the_model_sees_the_lost_wake_up_without_the_fences"]
fn broken_without_the_fences() {
    /// `ParkFlag` with its two fences left out.
    #[derive(Default)]
    struct NoFences {
        parked: AtomicBool,
        socket: Notify,
    }
    model(|| {
        let bell = Arc::new(NoFences::default());
        let (mut tx, mut rx) = spsc::new(1);
        let producer = {
            let bell = Arc::clone(&bell);
            thread::spawn(move || {
                tx.push(7u32).unwrap();
                if bell.parked.load(Ordering::Relaxed) && bell.parked.swap(false, Ordering::AcqRel)
                {
                    bell.socket.notify();
                }
            })
        };
        loop {
            if rx.pop().is_some() {
                break;
            }
            bell.parked.store(true, Ordering::Relaxed);
            if !rx.is_empty() {
                bell.parked.store(false, Ordering::Relaxed);
                continue;
            }
            bell.socket.wait();
            bell.parked.store(false, Ordering::Relaxed);
        }
        producer.join().unwrap();
    });
}
