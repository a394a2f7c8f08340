//! Rate limits with time as an input (testable, no syscall): the
//! per-session token bucket in integer nanoseconds (`burst` tokens,
//! refilled at `per_sec`), and [`LogThrottle`], which keeps a repeating
//! event to one log line a period.

pub struct TokenBucket {
    /// Tokens scaled by 1e9 so refill needs no division per message.
    scaled_tokens: u128,
    scaled_capacity: u128,
    per_sec: u128,
    last_ns: u64,
}

const SCALE: u128 = 1_000_000_000;

impl TokenBucket {
    pub fn new(per_sec: u32, burst: u32, now_ns: u64) -> TokenBucket {
        assert!(per_sec > 0 && burst > 0);
        TokenBucket {
            scaled_tokens: burst as u128 * SCALE,
            scaled_capacity: burst as u128 * SCALE,
            per_sec: per_sec as u128,
            last_ns: now_ns,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns) as u128;
        self.last_ns = self.last_ns.max(now_ns);
        self.scaled_tokens =
            (self.scaled_tokens + elapsed * self.per_sec).min(self.scaled_capacity);
        if self.scaled_tokens >= SCALE {
            self.scaled_tokens -= SCALE;
            true
        } else {
            false
        }
    }
}

/// At most one log line per period for an event that can repeat without
/// bound (a failing accept, a flood of refused connections): a log that
/// grows by megabytes a second hides everything else and costs the shard
/// its time. The lines left out are counted, and the next line says how
/// many.
#[derive(Clone, Copy, Debug)]
pub struct LogThrottle {
    period_ns: u64,
    /// No line before this.
    next_ns: u64,
    /// Events since the last line that got no line of their own.
    suppressed: u64,
}

impl LogThrottle {
    pub const fn new(period_ns: u64) -> LogThrottle {
        LogThrottle {
            period_ns,
            next_ns: 0,
            suppressed: 0,
        }
    }

    /// One event at `now_ns`: `Some(n)` if it may be logged now, `n` being
    /// the events left out since the last line; `None` if it is left out.
    pub fn event(&mut self, now_ns: u64) -> Option<u64> {
        if now_ns >= self.next_ns {
            self.next_ns = now_ns.saturating_add(self.period_ns);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// `Some(n)` when `n > 0` events were left out and a line may be
    /// written now: the count is not lost when the events stop.
    pub fn overdue(&mut self, now_ns: u64) -> Option<u64> {
        if self.suppressed > 0 && now_ns >= self.next_ns {
            self.next_ns = now_ns.saturating_add(self.period_ns);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_throttle_writes_one_line_a_period_and_counts_the_rest() {
        let mut log = LogThrottle::new(1_000);
        assert_eq!(log.event(5), Some(0), "the first event is logged");
        assert_eq!((0..7).filter_map(|i| log.event(6 + i)).count(), 0);
        assert_eq!(log.overdue(999), None, "within the period");
        assert_eq!(log.event(1_005), Some(7), "next line: 7 left out");
        assert_eq!(log.overdue(5_000), None, "nothing left out since");
        assert_eq!(log.event(1_006), None);
        assert_eq!(log.event(1_007), None);
        assert_eq!(log.overdue(2_004), None);
        assert_eq!(
            log.overdue(2_005),
            Some(2),
            "the count is reported after the events stop"
        );
        assert_eq!(log.overdue(9_000), None);
        assert_eq!(log.event(9_000), Some(0));
    }

    #[test]
    fn burst_then_refill_at_the_configured_rate() {
        let mut bucket = TokenBucket::new(1_000, 3, 0);
        assert!((0..3).all(|_| bucket.try_take(0)));
        assert!(!bucket.try_take(0), "burst exhausted");
        assert!(!bucket.try_take(999_999), "one token needs 1 ms at 1000/s");
        assert!(bucket.try_take(1_000_000));
        assert!(!bucket.try_take(1_000_000));
        // A long pause refills only up to the burst.
        let later = 10_000_000_000;
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }
}
