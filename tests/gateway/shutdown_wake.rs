//! A shard parked in `io_uring_enter` learns of a graceful shutdown from
//! its doorbell: an `IORING_OP_MSG_RING` from the thread that begins it.
//! One that never arrives must cost at most a tick. It used to leave the
//! shard asleep: its ticker saw the shutdown and stopped, so nothing was
//! left to wake the parked mesh loop, and the shard waited in one
//! `io_uring_enter` until some client's I/O happened to complete. A
//! hostile pass met it with 200-300 sessions paused by back-pressure:
//! SIGTERM hung 8-32 s, until the clients read (`/work/h11`). Here the
//! gateway runs in process with nothing to do (every shard parked), and
//! its shutdown begins without any doorbell, as if each were lost.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use tradsys::config::Config;
use tradsys::server::{Server, StartOptions};

/// Only a shard that never wakes reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn parked_shards_stop_even_if_the_shutdown_doorbells_never_arrive() {
    let dir = Gateway::new_dir();
    let text = config("", &dir);
    assert!(text.contains("idle = \"park\""), "the shards park");
    let config = Config::parse(&text).expect("the test config parses");
    let server = Server::start_with(config, StartOptions::default()).expect("gateway starts");
    let shared = std::sync::Arc::clone(server.shared());
    // Every shard asleep in its ring, as an idle gateway is.
    let deadline = Instant::now() + DEADLINE;
    while !shared.doorbells.iter().all(|bell| bell.is_parked()) {
        assert!(Instant::now() < deadline, "the shards never parked");
        thread::yield_now();
    }
    shared.begin_shutdown_without_doorbells();
    let (joined, stopped) = mpsc::channel();
    thread::spawn(move || joined.send(server.join().is_ok()));
    assert_eq!(
        stopped.recv_timeout(DEADLINE),
        Ok(true),
        "a parked shard never learned of the shutdown"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
