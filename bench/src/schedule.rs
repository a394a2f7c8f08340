//! The open-loop send schedule: when each order is *meant* to leave.
//!
//! A run has four phases. Ramp-up raises the rate linearly from 0 to the
//! target, warm-up holds it (not measured), steady holds it (the headline
//! figures), ramp-down lowers it linearly to 0. Order `i`'s intended time is
//! fixed by this schedule before the run starts and never depends on when
//! answers arrive, which is what makes the latency free of coordinated
//! omission: a stall delays the sending, not the schedule.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    RampUp,
    Warmup,
    Steady,
    RampDown,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::RampUp, Phase::Warmup, Phase::Steady, Phase::RampDown];

    pub fn name(self) -> &'static str {
        match self {
            Phase::RampUp => "ramp-up",
            Phase::Warmup => "warm-up",
            Phase::Steady => "steady",
            Phase::RampDown => "ramp-down",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Target orders per second (steady and warm-up).
    pub rate: f64,
    pub ramp_up: Duration,
    pub warmup: Duration,
    pub steady: Duration,
    pub ramp_down: Duration,
}

impl Schedule {
    /// Orders sent in each phase, in `Phase::ALL` order. A linear ramp over
    /// `T` seconds sends `rate * T / 2`.
    pub fn orders_per_phase(&self) -> [u64; 4] {
        let n = |secs: f64| (self.rate * secs) as u64;
        [
            n(self.ramp_up.as_secs_f64() / 2.0),
            n(self.warmup.as_secs_f64()),
            n(self.steady.as_secs_f64()),
            n(self.ramp_down.as_secs_f64() / 2.0),
        ]
    }

    pub fn total_orders(&self) -> u64 {
        self.orders_per_phase().iter().sum()
    }

    /// The phase order `i` belongs to (`i < total_orders()`).
    pub fn phase(&self, i: u64) -> Phase {
        let mut start = 0;
        for (phase, n) in Phase::ALL.into_iter().zip(self.orders_per_phase()) {
            if i < start + n {
                return phase;
            }
            start += n;
        }
        Phase::RampDown
    }

    /// When order `i` is meant to leave, in ns from the start of the run.
    pub fn intended_ns(&self, i: u64) -> u64 {
        let [up, warm, steady, _] = self.orders_per_phase();
        let r = self.rate;
        let t_up = self.ramp_up.as_secs_f64();
        let t_flat = self.warmup.as_secs_f64() + self.steady.as_secs_f64();
        let t_down = self.ramp_down.as_secs_f64();
        let secs = if i < up {
            // n(t) = r t^2 / (2 T)  =>  t = sqrt(2 T n / r)
            (2.0 * t_up * i as f64 / r).sqrt()
        } else if i < up + warm + steady {
            t_up + (i - up) as f64 / r
        } else {
            // n(t) = r (t - t^2 / (2 T))  =>  t = T (1 - sqrt(1 - 2 n / (r T)))
            let n = (i - up - warm - steady) as f64;
            let inside = (1.0 - 2.0 * n / (r * t_down)).max(0.0);
            t_up + t_flat + t_down * (1.0 - inside.sqrt())
        };
        (secs * 1e9) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(rate: f64, up: f64, warm: f64, steady: f64, down: f64) -> Schedule {
        Schedule {
            rate,
            ramp_up: Duration::from_secs_f64(up),
            warmup: Duration::from_secs_f64(warm),
            steady: Duration::from_secs_f64(steady),
            ramp_down: Duration::from_secs_f64(down),
        }
    }

    #[test]
    fn a_flat_schedule_sends_at_the_rate() {
        let s = schedule(50_000.0, 0.0, 0.0, 1.0, 0.0);
        assert_eq!(s.total_orders(), 50_000);
        assert_eq!(s.intended_ns(0), 0);
        assert_eq!(s.intended_ns(1), 20_000);
        assert_eq!(s.intended_ns(25_000), 500_000_000);
        assert_eq!(s.phase(0), Phase::Steady);
    }

    #[test]
    fn phases_follow_each_other_with_their_order_counts() {
        let s = schedule(1_000.0, 2.0, 1.0, 3.0, 2.0);
        assert_eq!(s.orders_per_phase(), [1_000, 1_000, 3_000, 1_000]);
        assert_eq!(s.phase(999), Phase::RampUp);
        assert_eq!(s.phase(1_000), Phase::Warmup);
        assert_eq!(s.phase(2_000), Phase::Steady);
        assert_eq!(s.phase(4_999), Phase::Steady);
        assert_eq!(s.phase(5_000), Phase::RampDown);
        // The flat part starts when the ramp ends and lasts warm-up + steady.
        assert_eq!(s.intended_ns(1_000), 2_000_000_000);
        assert_eq!(s.intended_ns(5_000), 6_000_000_000);
        // The last order of the ramp-down leaves just before its end.
        let last = s.intended_ns(5_999);
        assert!(last > 7_900_000_000 && last <= 8_000_000_000, "{last}");
    }

    #[test]
    fn ramps_are_linear_in_rate() {
        let s = schedule(10_000.0, 1.0, 0.0, 0.0, 1.0);
        // Ramp-up: half the ramp's orders are sent in its last 29% of time
        // (n(t) ~ t^2, so n = N/2 at t = T / sqrt 2).
        let half = s.intended_ns(2_500) as f64 / 1e9;
        assert!(
            (half - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-3,
            "{half}"
        );
        // Gaps shrink through the ramp-up and grow through the ramp-down.
        let gap = |i: u64| s.intended_ns(i + 1) - s.intended_ns(i);
        assert!(gap(100) > gap(4_000));
        assert!(gap(5_100) < gap(9_900));
        // Intended times never go backwards.
        for i in 0..s.total_orders() - 1 {
            assert!(s.intended_ns(i + 1) >= s.intended_ns(i), "at {i}");
        }
    }
}
