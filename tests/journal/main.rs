//! The journal tests, one binary (`cargo test --test journal`): the record
//! codec against FORMAT.md, round trips, replay, rollover, damage and config
//! epochs. The full-disk test is in `faults`: it runs child processes, and a
//! child forked while a test here drops a writer holds the dropped writer's
//! `LOCK` flock until it execs, so reopening the journal would find it
//! locked.

#[path = "../support/mod.rs"]
mod support;

mod codec;
mod config_epoch;
mod damage;
mod lost_segments;
mod replay;
mod rollover;
mod roundtrip;
