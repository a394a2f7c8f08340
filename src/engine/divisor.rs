//! Division by a symbol's tick or lot size, which stays fixed between
//! reconfigures and is almost always a power of two (1 above all).
//!
//! Why: a 64-bit `div` costs 10 to 15 cycles of latency, and
//! `BookSide::find` divides a price distance by the tick to compute the
//! address of the level it reads first, on the path of every add, cancel,
//! replace and fill. A power of two divides by a shift and tests a
//! multiple with a mask, a cycle each; any other value still divides.

/// A positive divisor, prepared once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Divisor {
    value: u64,
    /// `value.trailing_zeros()` when `value` is a power of two.
    shift: u32,
    power_of_two: bool,
}

impl Divisor {
    pub fn new(value: u64) -> Divisor {
        assert!(value > 0, "divisor {value}");
        Divisor {
            value,
            shift: value.trailing_zeros(),
            power_of_two: value.is_power_of_two(),
        }
    }

    pub fn value(self) -> u64 {
        debug_assert!(self.value > 0, "built by `new`");
        self.value
    }

    /// `n / value`, rounded down.
    #[inline]
    pub fn divide(self, n: u64) -> u64 {
        let quotient = if self.power_of_two {
            n >> self.shift
        } else {
            n / self.value
        };
        debug_assert_eq!(quotient, n / self.value);
        quotient
    }

    /// Whether `n` is a whole multiple of the divisor.
    #[inline]
    pub fn divides(self, n: u64) -> bool {
        let divides = if self.power_of_two {
            n & (self.value - 1) == 0
        } else {
            n.is_multiple_of(self.value)
        };
        debug_assert_eq!(divides, n.is_multiple_of(self.value));
        divides
    }

    /// Whether the signed `n` is a whole multiple of the divisor. A power
    /// of two asks `n as u64`: in two's complement it divides `n` exactly
    /// when it divides `n as u64` (the low bits are the same), so the mask
    /// needs no sign; any other divisor asks `i64`'s `%`.
    #[inline]
    pub fn divides_signed(self, n: i64) -> bool {
        let divides = if self.power_of_two {
            self.divides(n as u64)
        } else {
            n % self.value as i64 == 0
        };
        debug_assert_eq!(divides, n % self.value as i64 == 0);
        divides
    }
}

#[cfg(test)]
mod tests {
    use super::Divisor;

    #[test]
    fn shifts_and_masks_agree_with_div_and_rem() {
        let divisors = [
            1u64,
            2,
            3,
            4,
            5,
            7,
            8,
            10,
            64,
            100,
            1 << 20,
            1 << 62,
            3 << 40,
        ];
        let numbers = [
            0u64,
            1,
            2,
            3,
            7,
            8,
            63,
            64,
            65,
            99,
            100,
            101,
            1 << 40,
            (1 << 40) + 1,
            u64::MAX / 3,
            i64::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ];
        for d in divisors {
            let divisor = Divisor::new(d);
            assert_eq!(divisor.value(), d);
            for n in numbers {
                assert_eq!(divisor.divide(n), n / d, "{n} / {d}");
                assert_eq!(divisor.divides(n), n % d == 0, "{d} | {n}");
            }
            if d <= i64::MAX as u64 {
                for n in [
                    0i64,
                    1,
                    -1,
                    5,
                    -5,
                    8,
                    -8,
                    -64,
                    -100,
                    300,
                    i64::MAX,
                    i64::MIN + 1,
                ] {
                    assert_eq!(divisor.divides_signed(n), n % d as i64 == 0, "{d} | {n}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "divisor 0")]
    fn zero_is_no_divisor() {
        Divisor::new(0);
    }
}
