//! The admin thread's interval log reuses its memory: once it has written
//! an interval of a stage, writing the next ones (every interval, every
//! stage, every shard, whatever the load) allocates nothing. Why it
//! matters to the shards: the gateway serves every allocation of 64 KiB or
//! more with its own mapping (`server::return_freed_buffers_to_the_os`),
//! and the V2 deflate encoder's state is larger than that, so a fresh
//! encoder per interval was a `mmap`/`munmap` pair per histogram, and every
//! `munmap` of a multi-threaded process sends a TLB-shootdown interrupt to
//! each core running one of its threads: the shard cores included.

use tradsys::admin::IntervalLog;
use tradsys::telemetry::histogram::new_histogram;
use tradsys::telemetry::{Interval, Stage};

use crate::support::alloc_counter::allocations_in;

/// An interval of `stage` holding `n` values spread from about 300 ns to
/// about 3 ms (so its counts array and its encoding are full size).
fn interval(stage: Stage, round: u64, n: u64) -> Interval {
    let mut histogram = new_histogram();
    for i in 0..n {
        let value = 300 + (i * 7_919 + round * 104_729) % 3_000_000;
        histogram.record(value).unwrap();
    }
    Interval {
        shard: 0,
        stage,
        start_ns: round * 1_000_000_000,
        end_ns: (round + 1) * 1_000_000_000,
        sum_ns: 0,
        histogram,
    }
}

#[test]
fn the_interval_log_allocates_nothing_once_warm() {
    let dir = std::env::temp_dir().join(format!("tradsys-alloc-ilog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut log = IntervalLog::open(dir.join("latency.hlog")).unwrap();
    let stages = [Stage::Intake, Stage::Journal, Stage::WireToWire];
    // Warm-up: the first intervals size the encoder's buffers.
    for stage in stages {
        log.append(&interval(stage, 0, 20_000)).unwrap();
    }
    let rounds: Vec<Vec<Interval>> = (1..20)
        .map(|round| {
            stages
                .iter()
                .map(|&stage| interval(stage, round, 1 + round * 997))
                .collect()
        })
        .collect();
    let (allocations, ()) = allocations_in(|| {
        for round in &rounds {
            for interval in round {
                log.append(interval).unwrap();
            }
        }
    });
    assert_eq!(allocations, 0, "allocations writing 57 intervals");
    // And what it wrote is still the log the HdrHistogram tools read.
    log.flush().unwrap();
    let text = std::fs::read_to_string(dir.join("latency.hlog")).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Tag=s0.")).count(),
        60
    );
    let _ = std::fs::remove_dir_all(&dir);
}
