//! A bound on the per-session log lines (logon, session ended) a client
//! can cause: one that connects in a loop must not fill the operator's
//! disk or drown the lines that matter.

use super::core::wall_clock_ns;
use super::rate_limit::TokenBucket;

/// At most [`LifecycleLog::PER_SEC`] session lines a second per shard (a
/// burst of as many), counting what it leaves out for the next line.
pub(crate) struct LifecycleLog {
    bucket: TokenBucket,
    suppressed: u64,
}

impl LifecycleLog {
    const PER_SEC: u32 = 200;

    pub(crate) fn new() -> LifecycleLog {
        LifecycleLog {
            bucket: TokenBucket::new(Self::PER_SEC, Self::PER_SEC, wall_clock_ns()),
            suppressed: 0,
        }
    }

    /// `Some(lines left out since the last one)` if a line may be written.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        if self.bucket.try_take(wall_clock_ns()) {
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}
