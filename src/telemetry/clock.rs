//! The timestamp source of latency capture: one system-wide monotonic
//! clock, so a timestamp taken on one shard can be compared with one taken
//! on another (the mesh hop), in nanoseconds since a process-wide origin.
//!
//! Where the kernel itself keeps time with the TSC (clocksource `tsc`, on a
//! CPU with an invariant TSC: `constant_tsc` and `nonstop_tsc`), a read is
//! one `rdtsc` scaled by a rate calibrated once against `CLOCK_MONOTONIC`:
//! about 10 ns of on-CPU time on the development VM, counted with the core
//! to itself (`bench/results/clock-cost.rs`); a first, loaded
//! timing gave 14 ns against 33 ns for `clock_gettime` through the vDSO.
//! Anywhere else it is `CLOCK_MONOTONIC` (`std::time::Instant`). The TSCs of
//! different cores agree as far as the kernel relies on them; a span that
//! still comes out negative is counted as a clock anomaly, not recorded.
//! The figures measured against capture off are in docs/OPERATIONS.md
//! ("Measured cost of latency capture").

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How the clock reads, decided once.
enum Source {
    Tsc(TscScale),
    Monotonic(Instant),
}

/// `ns = (tsc - origin) * ns_per_tick`.
struct TscScale {
    origin: u64,
    ns_per_tick: f64,
}

static SOURCE: OnceLock<Source> = OnceLock::new();

/// How long the calibration watches both clocks (once, at start-up).
const CALIBRATION: Duration = Duration::from_millis(20);

/// Nanoseconds since a process-wide origin (the first call); never 0, so
/// that 0 can mean "no timestamp" where a stamp is optional.
#[inline]
pub fn mono_ns() -> u64 {
    match SOURCE.get_or_init(choose) {
        Source::Tsc(scale) => {
            let ticks = read_tsc().wrapping_sub(scale.origin);
            (ticks as f64 * scale.ns_per_tick) as u64 + 1
        }
        Source::Monotonic(origin) => origin.elapsed().as_nanos() as u64 + 1,
    }
}

/// Which source this process uses: "tsc" or "clock_gettime" (for the log
/// and the doctor).
pub fn source_name() -> &'static str {
    match SOURCE.get_or_init(choose) {
        Source::Tsc(_) => "tsc",
        Source::Monotonic(_) => "clock_gettime",
    }
}

fn choose() -> Source {
    match calibrate() {
        Some(scale) => Source::Tsc(scale),
        None => Source::Monotonic(Instant::now()),
    }
}

/// The TSC's rate against `CLOCK_MONOTONIC`, if the kernel keeps time
/// with it on a CPU whose TSC neither changes rate nor stops.
fn calibrate() -> Option<TscScale> {
    let clocksource =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .ok()?;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    if clocksource.trim() != "tsc" || !has("constant_tsc") || !has("nonstop_tsc") {
        return None;
    }
    let (start, start_tsc) = (Instant::now(), read_tsc());
    while start.elapsed() < CALIBRATION {
        std::hint::spin_loop();
    }
    let (elapsed, end_tsc) = (start.elapsed(), read_tsc());
    let ticks = end_tsc.checked_sub(start_tsc)?;
    if ticks == 0 {
        return None;
    }
    let ns_per_tick = elapsed.as_nanos() as f64 / ticks as f64;
    // A TSC between 100 MHz and 10 GHz; anything else is not believed.
    if !(0.1..=10.0).contains(&ns_per_tick) {
        return None;
    }
    Some(TscScale {
        origin: start_tsc,
        ns_per_tick,
    })
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64 (calibrate only uses
    // it where the kernel's own clocksource is the TSC).
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> u64 {
    0 // calibrate() then finds no ticks and the clock is CLOCK_MONOTONIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_never_zero_and_moves_forward_on_one_thread() {
        let first = mono_ns();
        assert!(first > 0);
        let mut last = first;
        for _ in 0..100_000 {
            let now = mono_ns();
            // A thread moved between cores may see another core's TSC a
            // little behind: allow a microsecond, never more.
            assert!(now + 1_000 >= last, "{now} after {last}");
            last = last.max(now);
        }
        assert!(["tsc", "clock_gettime"].contains(&source_name()));
    }
}
