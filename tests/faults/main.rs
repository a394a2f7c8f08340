//! Fault injection, one binary (`cargo test --test faults`): the gateway
//! under pauses, hogs, clock jumps, connect storms and network faults
//! (`env_faults`), failing msync (`journal_faults`) and thin storage
//! (`thin_storage`); the journal alone on a full disk (`journal_disk_full`).
//!
//! Kept apart from the other binaries, and the storage tests kept apart
//! from everything else in this one (`MACHINE` below), for two reasons.
//! Timing: the CPU hog, and the storage tests' I/O (a loop device filling
//! a tmpfs, failing msync), would stretch the timing windows of tests
//! running beside them (an idle timeout during a 5 s SIGSTOP, say): in
//! binaries of their own they never overlapped, and the storage tests still
//! run alone (one seen failure of the SIGSTOP test beside them). Locks: these tests fork children, and a
//! child forked while another thread drops a journal writer holds that
//! writer's `LOCK` flock until it execs, so a test that reopens a journal
//! at once finds it locked (seen once: a damage test failed with `Locked`
//! while the full-disk test shared the `journal` binary).

#[path = "../support/mod.rs"]
mod support;

mod env_faults;
mod journal_disk_full;
mod journal_faults;
mod thin_storage;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The CPU hog and the storage tests take this exclusively; the other
/// environment-fault tests share it.
static MACHINE: RwLock<()> = RwLock::new(());

fn share_machine() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

fn own_machine() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}
