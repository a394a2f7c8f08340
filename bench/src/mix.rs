//! The order mix: which request each slot of the schedule becomes.
//!
//! - `ioc`: an IOC buy at the bottom of the band. It never trades: the
//!   gateway answers OrderAccepted then OrderCanceled, and the book is
//!   untouched. The cheapest full round trip through the engine.
//! - `rest`: a passive limit order a few ticks away from the reference
//!   price (buys below, sells above), which rests on the book.
//! - `cancel`: cancels one of this connection's resting orders.
//! - `replace`: moves one of this connection's resting orders to another
//!   passive price (it loses time priority).
//! - `take`: an IOC that crosses the spread and trades against resting
//!   orders (other connections' when there are several accounts; with one
//!   account, self-trade prevention cancels the resting order instead).
//!
//! A cancel or replace with no resting order to act on becomes a `rest`;
//! a `rest` on a connection already holding `max_resting` becomes a cancel,
//! so books stay bounded whatever the weights.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Ioc,
    Rest,
    Cancel,
    Replace,
    Take,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Ioc, Op::Rest, Op::Cancel, Op::Replace, Op::Take];

    pub fn name(self) -> &'static str {
        match self {
            Op::Ioc => "ioc",
            Op::Rest => "rest",
            Op::Cancel => "cancel",
            Op::Replace => "replace",
            Op::Take => "take",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Weights per [`Op`], in `Op::ALL` order; at least one is non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 5],
}

impl Mix {
    /// Only `ioc`: what the echo server can answer, used by `compare`.
    pub const IOC_ONLY: Mix = Mix {
        weights: [1, 0, 0, 0, 0],
    };

    fn total(&self) -> u64 {
        self.weights.iter().map(|&w| w as u64).sum()
    }

    /// Picks the op for a uniform draw `r` in `0..u64::MAX`.
    pub fn pick(&self, r: u64) -> Op {
        let mut at = ((r >> 32) * self.total()) >> 32;
        for op in Op::ALL {
            let w = self.weights[op.index()] as u64;
            if at < w {
                return op;
            }
            at -= w;
        }
        unreachable!("a draw below the total weight lands on an op")
    }

    pub fn weight(&self, op: Op) -> u32 {
        self.weights[op.index()]
    }

    /// True if every op can be answered by the echo server.
    pub fn is_ioc_only(&self) -> bool {
        Op::ALL
            .iter()
            .all(|&op| op == Op::Ioc || self.weight(op) == 0)
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `ioc=50,rest=20,cancel=20,replace=10,take=0`; ops left out weigh 0.
    fn from_str(text: &str) -> Result<Mix, String> {
        let mut weights = [0u32; 5];
        let mut seen = [false; 5];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}': expected op=weight"))?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name.trim())
                .ok_or_else(|| {
                    format!("'{name}': unknown op (ioc, rest, cancel, replace, take)")
                })?;
            if seen[op.index()] {
                return Err(format!("'{name}' is given twice"));
            }
            seen[op.index()] = true;
            weights[op.index()] = weight
                .trim()
                .parse()
                .map_err(|_| format!("'{weight}': the weight of {name} must be a whole number"))?;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("the mix needs at least one op with a non-zero weight".into());
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Op::ALL
            .iter()
            .filter(|&&op| self.weight(op) > 0)
            .map(|&op| format!("{}={}", op.name(), self.weight(op)))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weights_and_prints_them_back() {
        let mix: Mix = "ioc=50, rest=20,cancel=20,replace=10".parse().unwrap();
        assert_eq!(mix.weight(Op::Ioc), 50);
        assert_eq!(mix.weight(Op::Take), 0);
        assert_eq!(mix.to_string(), "ioc=50,rest=20,cancel=20,replace=10");
        assert!(!mix.is_ioc_only());
        assert!("ioc=1".parse::<Mix>().unwrap().is_ioc_only());
    }

    #[test]
    fn rejects_what_it_cannot_read_with_the_reason() {
        assert!("ioc".parse::<Mix>().unwrap_err().contains("op=weight"));
        assert!("buy=3".parse::<Mix>().unwrap_err().contains("unknown op"));
        assert!("ioc=x".parse::<Mix>().unwrap_err().contains("whole number"));
        assert!("ioc=0".parse::<Mix>().unwrap_err().contains("non-zero"));
        assert!("rest=4,rest=1"
            .parse::<Mix>()
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn picks_follow_the_weights() {
        let mix: Mix = "ioc=3,cancel=1".parse().unwrap();
        let mut rng = crate::rng::Rng::new(7);
        let mut counts = [0u32; 5];
        for _ in 0..40_000 {
            counts[mix.pick(rng.next_u64()).index()] += 1;
        }
        assert_eq!(counts[Op::Rest.index()], 0);
        assert_eq!(counts[Op::Take.index()], 0);
        let ioc_share = counts[Op::Ioc.index()] as f64 / 40_000.0;
        assert!((ioc_share - 0.75).abs() < 0.02, "{ioc_share}");
    }
}
