//! The timestamp source of latency capture: `CLOCK_MONOTONIC` through the
//! vDSO (`std::time::Instant`), one system-wide clock, so a timestamp taken
//! on one shard can be compared with one taken on another (the mesh hop).
//! With the `tsc` clocksource a read costs about 20 ns and makes no system
//! call; `tradsys doctor` reports the clocksource. The figures measured
//! against capture off are in docs/OPERATIONS.md ("Latency capture").

use std::sync::OnceLock;
use std::time::Instant;

/// Nanoseconds since a process-wide origin (the first call); never 0, so
/// that 0 can mean "no timestamp" where a stamp is optional.
#[inline]
pub fn mono_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    origin.elapsed().as_nanos() as u64 + 1
}
