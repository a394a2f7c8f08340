//! The latency histograms the admin thread keeps, per shard and stage:
//! the total since start (every interval added in; what `/metrics` buckets
//! and `/latency` read), the total since the last operator reset
//! (`POST /admin/latency-reset`: only this admin-side view restarts; the
//! shards never reset and the since-start totals stay cumulative, as
//! Prometheus needs) and the last interval (what `/stats` reports as
//! "last interval"). Draining a shard's `full` ring adds each interval to
//! the total, keeps it as the last one, and sends the previous last one
//! back, reset, on the `clean` ring: the shard's spare.

use hdrhistogram::Histogram;

use crate::telemetry::histogram::new_histogram;
use crate::telemetry::{AdminLink, Interval, Stage, STAGE_COUNT};

/// One (shard, stage).
pub struct StageTotals {
    pub total: Histogram<u64>,
    /// Exact sum of every value in `total`, in ns.
    pub sum_ns: u64,
    /// Every interval handed over since the last reset (since start if
    /// none): an interval that straddles the reset is counted whole.
    pub since_reset: Histogram<u64>,
    pub since_reset_sum_ns: u64,
    pub intervals: u64,
    pub last: Option<Interval>,
}

pub struct LatencyStore {
    /// `shards[shard][stage]`.
    shards: Vec<Vec<StageTotals>>,
    /// Wall-clock ns of the last reset (0: never reset), and how many.
    pub reset_at_ns: u64,
    pub resets: u64,
}

/// Which totals a reader wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    SinceStart,
    SinceReset,
}

impl LatencyStore {
    pub fn new(shards: usize) -> LatencyStore {
        LatencyStore {
            shards: (0..shards)
                .map(|_| {
                    (0..STAGE_COUNT)
                        .map(|_| StageTotals {
                            total: new_histogram(),
                            sum_ns: 0,
                            since_reset: new_histogram(),
                            since_reset_sum_ns: 0,
                            intervals: 0,
                            last: None,
                        })
                        .collect()
                })
                .collect(),
            reset_at_ns: 0,
            resets: 0,
        }
    }

    /// Starts the since-reset view again at `now_ns`, on every shard and
    /// stage; the since-start totals are untouched.
    pub fn reset(&mut self, now_ns: u64) {
        for totals in self.shards.iter_mut().flatten() {
            totals.since_reset.reset();
            totals.since_reset_sum_ns = 0;
        }
        self.reset_at_ns = now_ns;
        self.resets += 1;
        debug_assert!(self
            .shards
            .iter()
            .flatten()
            .all(|t| t.since_reset.is_empty()));
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn get(&self, shard: usize, stage: Stage) -> &StageTotals {
        &self.shards[shard][stage.index()]
    }

    /// Takes every finished interval the shards handed over; `observe`
    /// sees each (the interval log writes it) before it is kept.
    pub fn drain(&mut self, links: &mut [AdminLink], mut observe: impl FnMut(&Interval)) {
        for link in links {
            while let Ok(interval) = link.full.pop() {
                observe(&interval);
                let shard = interval.shard as usize;
                assert_eq!(shard, link.shard as usize, "a link carries its own shard");
                let totals = &mut self.shards[shard][interval.stage.index()];
                totals
                    .total
                    .add(&interval.histogram)
                    .expect("every latency histogram has the same shape");
                totals.sum_ns = totals.sum_ns.wrapping_add(interval.sum_ns);
                totals
                    .since_reset
                    .add(&interval.histogram)
                    .expect("every latency histogram has the same shape");
                totals.since_reset_sum_ns = totals.since_reset_sum_ns.wrapping_add(interval.sum_ns);
                totals.intervals += 1;
                if let Some(old) = totals.last.replace(interval) {
                    let mut spare = old.histogram;
                    spare.reset();
                    // The ring holds every histogram in circulation.
                    let _ = link.clean.push(spare);
                }
            }
        }
    }

    /// The total of `stage` over `shards`, merged by adding histograms
    /// (never by averaging percentiles), with the sum of their values.
    pub fn merged(&self, stage: Stage, shards: &[usize], view: View) -> (Histogram<u64>, u64) {
        let mut merged = new_histogram();
        let mut sum = 0u64;
        for &shard in shards {
            let totals = self.get(shard, stage);
            let (histogram, sum_ns) = match view {
                View::SinceStart => (&totals.total, totals.sum_ns),
                View::SinceReset => (&totals.since_reset, totals.since_reset_sum_ns),
            };
            merged.add(histogram).expect("same shape");
            sum = sum.wrapping_add(sum_ns);
        }
        (merged, sum)
    }
}
