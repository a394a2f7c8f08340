//! How long one clock read of latency capture takes on this host: a raw
//! `rdtsc`, the gateway's `telemetry::clock::mono_ns` arithmetic on top of
//! it (subtract the origin, scale by an f64 rate, +1), and
//! `clock_gettime(CLOCK_MONOTONIC)` through `Instant::now`, each back to
//! back in a tight loop (so: the throughput of reads that depend on
//! nothing, the way the shard's stamps sit between other work).
//! Build and run: rustc -O clock-cost.rs -o /tmp/clock-cost && taskset -c 1 /tmp/clock-cost
use std::hint::black_box;
use std::time::Instant;

const READS: u64 = 20_000_000;

/// This thread's on-CPU nanoseconds (the first field of its schedstat): on
/// a shared host the wall clock also counts the time others ran.
fn on_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// (on-CPU ns, wall ns) per read.
fn per_read(f: impl Fn() -> u64) -> (f64, f64) {
    let (start, cpu) = (Instant::now(), on_cpu_ns());
    let mut acc = 0u64;
    for _ in 0..READS {
        acc = acc.wrapping_add(f());
    }
    black_box(acc);
    let (wall, cpu) = (
        start.elapsed().as_nanos() as f64,
        (on_cpu_ns() - cpu) as f64,
    );
    (cpu / READS as f64, wall / READS as f64)
}

fn main() {
    // SAFETY: rdtsc has no preconditions on x86_64.
    let rdtsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let origin = rdtsc();
    let ns_per_tick = black_box(1.0 / 2.596);
    let mono_ns = || ((rdtsc().wrapping_sub(origin)) as f64 * ns_per_tick) as u64 + 1;
    let base = Instant::now();
    let gettime = || base.elapsed().as_nanos() as u64;
    for round in 1..=5 {
        let (r, m, g) = (per_read(rdtsc), per_read(mono_ns), per_read(gettime));
        println!(
            "round {round}: on-CPU (wall) ns per read: rdtsc {:.2} ({:.2}), mono_ns {:.2} ({:.2}), clock_gettime {:.2} ({:.2}); {READS} reads, load {}",
            r.0, r.1, m.0, m.1, g.0, g.1,
            std::fs::read_to_string("/proc/loadavg").unwrap().split(' ').next().unwrap()
        );
    }
}
