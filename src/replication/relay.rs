//! The follower's feed relays (docs/OPERATIONS.md, "Feed relays"): the
//! market-data feed served from the follower's replicas, on its config's
//! `server.market_data`, with the primary's messages, sequences and epoch.
//!
//! One relay thread per configured shard (`shard/runtime/relay.rs`: a
//! shard's reactor and market-data tasks around an `MdHub`), all on one
//! `SO_REUSEPORT` port. Their hubs start from the feed the follower
//! rebuilt from its local journals ([`seed_hub`]), so a client sees the
//! same sequences as on the primary from its first snapshot on; after
//! that, each replica shard's task pushes the relay messages of each record
//! it applies into one SPSC ring per relay ([`RelayFeed::push`]) and rings
//! the relay's doorbell. A full ring holds the replica back (never drops):
//! a relay is as far behind as its slowest step, never inconsistent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Config;
use crate::market_data::FeedEpoch;
use crate::shard::md::{MdHub, RelayMsg};
use crate::shard::notify::Doorbell;
use crate::shard::runtime::relay::{self, RelayStart};

/// Slots of each ring from a replica shard to a relay (about 100 ms of the
/// feed at 100,000 orders a second with a few events each).
pub const RELAY_RING_SLOTS: usize = 32 * 1024;

/// The hub the follower rebuilds its feed in while it replays its local
/// journals (no clients: it is only the relays' starting point).
pub fn seed_hub(config: &Config) -> MdHub {
    MdHub::new(config, FeedEpoch(1))
}

/// The running relay threads.
pub struct Relays {
    pub addr: SocketAddr,
    threads: Vec<JoinHandle<Result<(), String>>>,
    bells: Vec<Arc<Doorbell>>,
    stop: Arc<AtomicBool>,
}

/// Messages pushed to a relay's ring between two rings of its doorbell
/// while the follower has more records at hand: the relay works through
/// a catch-up alongside the follower instead of after it, and is woken
/// once per this many messages, not once per record (a parked relay's
/// wake-up is a syscall on the follower's thread and a context switch,
/// which cost more than applying the record).
pub const WAKE_EVERY: usize = 1024;

const _: () = assert!(WAKE_EVERY < RELAY_RING_SLOTS / 4);

/// One replica shard's rings, one to each relay.
pub struct RelayFeed {
    rings: Vec<(rtrb::Producer<RelayMsg>, Arc<Doorbell>)>,
    /// Messages pushed to every ring since the doorbells last rang.
    unannounced: usize,
}

impl RelayFeed {
    /// Pushes `messages` (one record's) into every relay's ring, in order,
    /// waiting while a ring is full; an error if a relay thread is gone.
    /// The relays are woken every [`WAKE_EVERY`] messages and by
    /// [`RelayFeed::wake`], which the follower calls before it waits.
    pub async fn push(&mut self, messages: &[RelayMsg]) -> Result<(), String> {
        if messages.is_empty() {
            return Ok(());
        }
        for (ring, bell) in &mut self.rings {
            for message in messages {
                while ring.push(*message).is_err() {
                    if ring.is_abandoned() {
                        return Err("a relay thread stopped".into());
                    }
                    bell.ring();
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
        }
        self.unannounced += messages.len();
        if self.unannounced >= WAKE_EVERY {
            self.wake();
        }
        debug_assert!(self
            .rings
            .iter()
            .all(|(r, _)| r.buffer().capacity() == RELAY_RING_SLOTS));
        Ok(())
    }

    /// Rings every relay's doorbell if anything was pushed since the last
    /// time: the follower has nothing more at hand.
    pub fn wake(&mut self) {
        debug_assert!(
            !self.rings.is_empty(),
            "a ring to each relay, and a relay per shard"
        );
        if self.unannounced == 0 {
            return;
        }
        for (_, bell) in &self.rings {
            bell.ring();
        }
        self.unannounced = 0;
    }
}

/// Binds the relays' port and starts one relay per configured shard, each
/// with `seed`'s feed under `epoch`; the feeds, one per replica shard.
pub fn start(
    config: &Config,
    seed: &MdHub,
    epoch: FeedEpoch,
) -> Result<(Relays, Vec<RelayFeed>), String> {
    let count = config.shard_count();
    let (addr, listeners) = crate::server::bind_relay_listeners(config.server.market_data, count)?;
    crate::shard::notify::prepare_sender();
    let shared_config = Arc::new(config.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let mut feeds: Vec<RelayFeed> = (0..count)
        .map(|_| RelayFeed {
            rings: Vec::new(),
            unannounced: 0,
        })
        .collect();
    let mut relays = Relays {
        addr,
        threads: Vec::new(),
        bells: Vec::new(),
        stop: Arc::clone(&stop),
    };
    for (id, listener) in listeners.into_iter().enumerate() {
        let (bell, ring) = Doorbell::new().map_err(|e| format!("relay {id}: io_uring: {e}"))?;
        let bell = Arc::new(bell);
        let mut inputs = Vec::with_capacity(count);
        for feed in &mut feeds {
            let (producer, consumer) = rtrb::RingBuffer::new(RELAY_RING_SLOTS);
            feed.rings.push((producer, Arc::clone(&bell)));
            inputs.push(consumer);
        }
        let mut feed = seed.feed().clone();
        feed.set_epoch(epoch);
        let start = RelayStart {
            id,
            config: Arc::clone(&shared_config),
            feed,
            inputs,
            listener,
            ring,
            bell: Arc::clone(&bell),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name(format!("relay-{id}"))
            .spawn(move || relay::run(start))
            .map_err(|e| format!("relay {id}: cannot start thread: {e}"))?;
        relays.threads.push(thread);
        relays.bells.push(bell);
    }
    assert_eq!(relays.threads.len(), count);
    Ok((relays, feeds))
}

impl Relays {
    /// Stops every relay (their clients get 1001 and the shutdown grace)
    /// and waits for them; the first failure.
    pub fn stop(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Release);
        for bell in &self.bells {
            bell.force();
        }
        debug_assert_eq!(self.bells.len(), self.threads.len(), "a bell per relay");
        self.join()
    }

    /// Whether every relay is asleep on its doorbell (tests).
    #[doc(hidden)]
    pub fn all_parked(&self) -> bool {
        debug_assert!(!self.bells.is_empty(), "relays started");
        self.bells.iter().all(|bell| bell.is_parked())
    }

    /// As `stop`, without ringing any doorbell, as if every one were lost
    /// in the kernel: for the test that a parked relay stops all the same
    /// (`tests/replication/relay_stop.rs`).
    #[doc(hidden)]
    pub fn stop_without_doorbells(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Release);
        debug_assert!(self.stop.load(Ordering::Acquire));
        self.join()
    }

    fn join(self) -> Result<(), String> {
        let mut failure = None;
        for thread in self.threads {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err("relay thread panicked".into()));
            if let Err(error) = outcome {
                failure.get_or_insert(error);
            }
        }
        debug_assert!(self.stop.load(Ordering::Acquire));
        failure.map_or(Ok(()), Err)
    }
}
