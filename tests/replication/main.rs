//! The replication tests, one binary (`cargo test --test replication`):
//! a real three-node NATS JetStream cluster on loopback
//! (`support::nats`), the real gateway shipping its journal to it, and
//! `tradsys follow` processes replaying it. They need `nats-server`
//! (installed by `.ci/run`) and fail, not skip, without it.
//!
//! Each test runs its own cluster, gateway and follower: several of them
//! at once would make a two-core host crawl, so they take turns
//! (`serial`).

#[path = "../support/mod.rs"]
mod support;

#[path = "../market_data/replica.rs"]
mod md_replica;

mod divergence;
mod drop_copy;
mod exit_codes;
mod flow;
mod follow;
mod node_loss;
mod other_history;
mod outage;
mod promotion;
mod relay;
mod relay_stop;
mod resume;
mod split_brain;

use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// One replication test at a time (a failed one does not block the rest).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
