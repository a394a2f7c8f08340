//! The shard's side of latency capture: records into the active histogram
//! of each stage and, once an interval has passed, swaps it for a clean one
//! and hands it to the admin thread.
//!
//! The shard never waits: if no clean histogram is back (the admin thread
//! is slow or stopped), the stage keeps recording into the one it has (its
//! interval simply lengthens) and the missed swap is counted. Recording
//! and swapping allocate nothing (tests/alloc/telemetry.rs).

use super::link::{Interval, ShardLink};
use super::stage::{Stage, STAGE_COUNT};

pub struct StageRecorder {
    /// `telemetry.latency_capture`: off, nothing is timed or recorded.
    enabled: bool,
    link: ShardLink,
    /// Exact sum of the values recorded this interval, per stage.
    sums_ns: [u64; STAGE_COUNT],
    /// When each stage's interval began.
    start_ns: [u64; STAGE_COUNT],
    /// When each stage's next swap is due: an interval after its start, or
    /// after a missed swap (stages drift apart after a miss).
    due_ns: [u64; STAGE_COUNT],
    interval_ns: u64,
    /// When the next swap is due (the earliest stage's).
    next_swap_ns: u64,
    /// Swaps that found no clean histogram (cumulative).
    pub missed_swaps: u64,
}

impl StageRecorder {
    pub fn new(link: ShardLink, enabled: bool, interval_ns: u64, now_ns: u64) -> StageRecorder {
        assert!(interval_ns > 0, "config validation: interval_ms >= 1");
        assert_eq!(link.active.len(), STAGE_COUNT, "a histogram per stage");
        StageRecorder {
            enabled,
            link,
            sums_ns: [0; STAGE_COUNT],
            start_ns: [now_ns; STAGE_COUNT],
            due_ns: [now_ns + interval_ns; STAGE_COUNT],
            interval_ns,
            next_swap_ns: now_ns + interval_ns,
            missed_swaps: 0,
        }
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records one value of `stage` (clamped to the histogram's top).
    #[inline]
    pub fn record(&mut self, stage: Stage, value_ns: u64) {
        if !self.enabled {
            return;
        }
        self.link.active[stage.index()].saturating_record(value_ns);
        self.sums_ns[stage.index()] = self.sums_ns[stage.index()].wrapping_add(value_ns);
    }

    /// Swaps every stage whose interval has passed at `now_ns`.
    pub fn swap_if_due(&mut self, now_ns: u64) {
        if !self.enabled || now_ns < self.next_swap_ns {
            return;
        }
        let mut next = u64::MAX;
        for stage in Stage::ALL {
            let i = stage.index();
            if now_ns >= self.due_ns[i] {
                self.swap(stage, now_ns);
                self.due_ns[i] = now_ns + self.interval_ns;
            }
            next = next.min(self.due_ns[i]);
        }
        self.next_swap_ns = next;
        debug_assert!(self.next_swap_ns > now_ns);
    }

    fn swap(&mut self, stage: Stage, now_ns: u64) {
        let i = stage.index();
        let Ok(mut fresh) = self.link.clean.pop() else {
            // No clean histogram back: keep recording into this one (its
            // interval lengthens) and try again an interval later.
            self.missed_swaps += 1;
            return;
        };
        debug_assert!(fresh.is_empty(), "the admin thread resets what it returns");
        std::mem::swap(&mut self.link.active[i], &mut fresh);
        let interval = Interval {
            shard: self.link.shard,
            stage,
            start_ns: self.start_ns[i],
            end_ns: now_ns,
            sum_ns: std::mem::take(&mut self.sums_ns[i]),
            histogram: fresh,
        };
        if self.link.full.push(interval).is_err() {
            unreachable!("the full ring holds every histogram in circulation");
        }
        self.start_ns[i] = now_ns;
    }
}
