//! A follower's market-data relay parked on its doorbell learns of its
//! stop from that doorbell (an `IORING_OP_MSG_RING`). One that never
//! arrives must not keep it asleep: its ticker stopped at the stop and
//! nothing else woke the parked feed loop, so `follow` could hang at
//! SIGTERM until some client's I/O completed (the same hole as a shard's,
//! `tests/gateway/shutdown_wake.rs`). Here the relays run in process with
//! nothing to relay (all parked) and are stopped without any doorbell.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use tradsys::config::Config;
use tradsys::market_data::epoch::FeedEpoch;
use tradsys::replication::relay;

/// Only a relay that never wakes reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn parked_relays_stop_even_if_their_doorbells_never_ring() {
    let dir = Gateway::new_dir();
    let config = Config::parse(&config("", &dir)).expect("the test config parses");
    let seed = relay::seed_hub(&config);
    let (relays, _feeds) = relay::start(&config, &seed, FeedEpoch(1)).expect("relays start");
    let deadline = Instant::now() + DEADLINE;
    while !relays.all_parked() {
        assert!(Instant::now() < deadline, "the relays never parked");
        thread::yield_now();
    }
    let (stopped, outcome) = mpsc::channel();
    thread::spawn(move || stopped.send(relays.stop_without_doorbells()));
    assert_eq!(
        outcome.recv_timeout(DEADLINE),
        Ok(Ok(())),
        "a parked relay never learned of its stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
