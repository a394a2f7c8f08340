//! A shard whose ring stops working must stop, not spin: when every
//! `io_uring_enter` fails with an error that is not transient, the shard
//! can neither read orders nor send reports, so `reactor::block_on` returns
//! the error (and the runtime fail-stops the gateway with exit 3) instead of
//! logging it once per loop turn for ever. The test breaks a real ring by
//! putting `/dev/null` where its fd was: every enter then fails with
//! `EOPNOTSUPP`, as it would on any fd that is not a ring.

use std::os::fd::AsRawFd;
use std::time::Duration;

use tradsys::shard::mesh::Doorbell;
use tradsys::shard::reactor::{self, bufring::BufRing, ops, Ring};

/// Only a loop that never gives up reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn a_ring_that_fails_every_enter_ends_the_reactor_with_its_error() {
    let (_bell, shard_ring) = Doorbell::new().expect("a shard ring");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ring = Ring::enable(shard_ring.into_inner(), BufRing::new(8, 4096)).unwrap();
        let ring_fd = ring.fd();
        let outcome = reactor::block_on(ring, async move {
            let null = std::fs::File::open("/dev/null").unwrap();
            // SAFETY: dup2 onto the ring's own fd number: the ring's memory
            // stays mapped, only its fd now names /dev/null, which the
            // ring's drop closes.
            let replaced = unsafe { libc::dup2(null.as_raw_fd(), ring_fd) };
            assert_eq!(replaced, ring_fd);
            // Waits for a doorbell that can never come: only the loop's
            // own verdict on the failing enters ends this.
            ops::doorbell().await;
            panic!("a doorbell on a broken ring");
        });
        let _ = done_tx.send(outcome.map_err(|e| e.raw_os_error()));
    });
    let outcome = done_rx
        .recv_timeout(DEADLINE)
        .expect("the reactor kept looping on a ring whose every enter fails");
    assert_eq!(outcome, Err(Some(libc::EOPNOTSUPP)));
}
