//! The doorbell's wake-up decision, without its socket: the one flag a
//! consumer shard and its producers share to decide whether a push must
//! wake the consumer.
//!
//! - Producer (after pushing to the consumer's ring): [`ParkFlag::ring`];
//!   true means "it parked and you are the one to wake it": write the
//!   wake-up byte.
//! - Consumer (about to sleep): [`ParkFlag::park_unless`] with the re-check
//!   of its rings; if it parked, it sleeps until the byte, then
//!   [`ParkFlag::unpark`].
//!
//! The SeqCst fences on both sides are a Dekker pair: the producer's
//! "push, fence, load parked" against the consumer's "store parked, fence,
//! load the rings". At least one side sees the other's write, so either the
//! producer rings or the consumer's re-check finds the message: no lost
//! wake-up.
//!
//! This file has no other dependency: `checks/loom/` includes it by path and
//! model-checks the protocol with loom's atomics (`--cfg loom`). The facade
//! below is a compile-time alias; the gateway is built with std's.

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicBool, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicBool, Ordering};

/// Whether the consumer has parked (or is about to).
#[derive(Debug)]
pub struct ParkFlag {
    parked: AtomicBool,
}

impl Default for ParkFlag {
    fn default() -> Self {
        Self::new()
    }
}

impl ParkFlag {
    pub fn new() -> ParkFlag {
        ParkFlag {
            parked: AtomicBool::new(false),
        }
    }

    /// Called by a producer after pushing. True when the consumer parked
    /// and this call took the flag: the caller must wake it. At most one of
    /// several producers gets true for one park.
    #[inline]
    pub fn ring(&self) -> bool {
        fence(Ordering::SeqCst);
        self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel)
    }

    /// Called by the consumer when it has nothing to do: announces the park,
    /// then runs `pending` (the re-check of its rings). Returns true if it
    /// parked: it must now wait for the wake-up and then call
    /// [`ParkFlag::unpark`]. Returns false, unparked, if `pending` found
    /// work. The re-check after the fence is what makes a wake-up
    /// impossible to lose: a message pushed before the producer's fence is
    /// seen here, or the producer sees the flag.
    #[inline]
    pub fn park_unless(&self, pending: impl FnOnce() -> bool) -> bool {
        self.park();
        if pending() {
            self.unpark();
            return false;
        }
        true
    }

    /// Announces the park: the store is ordered before the caller's re-check
    /// by the fence.
    #[inline]
    pub fn park(&self) {
        self.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Called by the consumer once awake (or when its re-check found work).
    #[inline]
    pub fn unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Whether the consumer has announced a park (tests: a producer that
    /// waits for it pushes to a consumer asleep, or about to be).
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Acquire)
    }
}
