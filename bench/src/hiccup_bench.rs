//! `tradsys-bench hiccup`: how long the machine itself stops a pinned,
//! busy thread, with no gateway and no network (as jHiccup does).
//!
//! One thread per core spins reading the clock; any gap between two reads
//! beyond the loop's own cost is time the thread was not running
//! (hypervisor steal, interrupts, kernel work, another task). Every latency
//! figure measured on this machine includes these stalls; this is their
//! floor. The steal time the kernel accounts in /proc/stat over the run is
//! printed beside it.

use std::time::{Duration, Instant};

use crate::report::{histogram, pin, Figure, Unit};

#[derive(clap::Args, Clone)]
pub struct HiccupArgs {
    /// Cores to measure, one spinning thread each.
    #[arg(long, default_value = "0,1", value_delimiter = ',')]
    pub cores: Vec<usize>,
    /// Seconds to spin.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
}

/// Steal time per cpu (USER_HZ ticks) from /proc/stat; empty if unreadable.
fn steal_ticks() -> Vec<(String, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    stat.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let cpu = fields.next()?.to_string();
            let steal = fields.nth(7)?.parse().ok()?;
            Some((cpu, steal))
        })
        .collect()
}

/// Gaps shorter than this are the loop itself (a clock read is ~25 ns;
/// a cache miss or a timer tick stays below it).
pub const STALL_NS: u64 = 10_000;

/// Spins on `core` for `duration`; returns the stalls (gaps between clock
/// reads of at least [`STALL_NS`], in ns) and whether it was pinned.
pub fn spin(core: usize, duration: Duration) -> (hdrhistogram::Histogram<u64>, bool) {
    let pinned = pin(core);
    let mut stalls = histogram();
    let start = Instant::now();
    let mut last = start;
    loop {
        let now = Instant::now();
        let gap = now.duration_since(last).as_nanos() as u64;
        if gap >= STALL_NS {
            stalls.record(gap).unwrap();
        }
        last = now;
        if now.duration_since(start) >= duration {
            break;
        }
    }
    (stalls, pinned)
}

pub fn run(args: &HiccupArgs) -> Vec<Figure> {
    let duration = Duration::from_secs_f64(args.duration);
    println!(
        "hiccup: one spinning thread per core {:?} for {} s",
        args.cores, args.duration
    );
    let steal_before = steal_ticks();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = args
            .cores
            .iter()
            .map(|&core| scope.spawn(move || (core, spin(core, duration))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let steal_after = steal_ticks();
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut figures = Vec::new();
    for (core, (stalls, pinned)) in results {
        let over = |ns: u64| stalls.count_between(ns, u64::MAX);
        let stalled_ms: f64 = stalls
            .iter_recorded()
            .map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64)
            .sum::<f64>()
            / 1e6;
        let steal_ms = steal_before
            .iter()
            .zip(&steal_after)
            .find(|((cpu, _), _)| *cpu == format!("cpu{core}"))
            .map(|((_, before), (_, after))| (after - before) as f64 * 1e3 / ticks_per_sec);
        println!(
            "  core {core} (pinned: {pinned}): {} stalls over 100 us, {} over 1 ms, {stalled_ms:.1} ms stalled in all; steal {}",
            over(100_000),
            over(1_000_000),
            steal_ms.map_or("unknown".to_string(), |ms| format!("{ms:.0} ms"))
        );
        let name = format!("hiccup core {core} stalls over {} us", STALL_NS / 1_000);
        figures.push(Figure::latency(name, &stalls, Unit::Us).print());
    }
    figures
}
