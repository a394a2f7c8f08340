//! Per-session token bucket in integer nanoseconds: `burst` tokens, refilled
//! at `per_sec`. Time is an input, so it is testable and costs no syscall.

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

#[cfg(test)]
mod tests {
    use super::*;

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
