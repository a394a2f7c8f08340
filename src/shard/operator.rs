//! Operator commands from the admin thread to a shard: halt and resume a
//! symbol, the kill switch, a reference price, end of day. One SPSC ring per
//! shard (admin thread -> shard), made at start-up; the shard takes what is
//! there on its tick and runs each like any command (journaled first, so a
//! replay repeats it). The admin thread never waits on a shard to push, and
//! a full ring is a refusal it reports to the operator.

use rtrb::{Consumer, Producer, RingBuffer};

use crate::engine::{AccountId, Command};

/// Operator commands a shard's ring holds at once.
pub const OPERATOR_RING_CAPACITY: usize = 64;

/// One operator command for one shard, and who gave it (an account of
/// role admin, by id: the shard logs its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorRequest {
    pub command: Command,
    pub operator: AccountId,
}

/// The rings, one per shard: the admin thread's ends and the shards' ends.
pub fn operator_rings(
    shards: usize,
) -> (
    Vec<Producer<OperatorRequest>>,
    Vec<Consumer<OperatorRequest>>,
) {
    (0..shards)
        .map(|_| RingBuffer::new(OPERATOR_RING_CAPACITY))
        .unzip()
}
