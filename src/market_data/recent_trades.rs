//! The last trades of one symbol, kept by the feed so that the admin
//! thread's `/api/v1/trades` can answer from the shard's published state
//! (docs/OPERATIONS.md, "Market state"). A fixed ring: a trade overwrites
//! the oldest once it is full, so it never grows and never allocates after
//! start. It is part of the feed's state, so it is a pure function of the
//! events like the rest (a restart's replay refills it).

use crate::engine::{Price, Qty, Side};

/// Trades kept per symbol: the most `/api/v1/trades` returns.
pub const RECENT_TRADES: usize = 100;

/// One public trade as the feed numbered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRecord {
    /// The symbol's feed sequence of the trade (the `trades` message's `seq`).
    pub seq: u64,
    /// Journal time of the command that traded.
    pub ts_ns: u64,
    /// The engine's execution id (the `trades` message's `trade_id`).
    pub trade_id: u64,
    pub price: Price,
    pub qty: Qty,
    pub aggressor_side: Side,
}

const EMPTY: TradeRecord = TradeRecord {
    seq: 0,
    ts_ns: 0,
    trade_id: 0,
    price: 0,
    qty: 0,
    aggressor_side: Side::Buy,
};

/// A ring of the last [`RECENT_TRADES`] trades.
#[derive(Clone)]
pub struct RecentTrades {
    ring: [TradeRecord; RECENT_TRADES],
    /// Where the next trade goes.
    next: usize,
    len: usize,
}

impl Default for RecentTrades {
    fn default() -> RecentTrades {
        RecentTrades {
            ring: [EMPTY; RECENT_TRADES],
            next: 0,
            len: 0,
        }
    }
}

impl RecentTrades {
    pub fn push(&mut self, trade: TradeRecord) {
        debug_assert!(
            self.len == 0 || trade.seq > self.newest().map_or(0, |t| t.seq),
            "trades come in sequence order"
        );
        self.ring[self.next] = trade;
        self.next = (self.next + 1) % RECENT_TRADES;
        self.len = (self.len + 1).min(RECENT_TRADES);
        assert!(self.len <= RECENT_TRADES && self.next < RECENT_TRADES);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn newest(&self) -> Option<&TradeRecord> {
        (self.len > 0).then(|| &self.ring[(self.next + RECENT_TRADES - 1) % RECENT_TRADES])
    }

    /// The trades kept, oldest first.
    pub fn oldest_first(&self) -> impl Iterator<Item = &TradeRecord> + '_ {
        let start = (self.next + RECENT_TRADES - self.len) % RECENT_TRADES;
        (0..self.len).map(move |i| &self.ring[(start + i) % RECENT_TRADES])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(seq: u64) -> TradeRecord {
        TradeRecord {
            seq,
            trade_id: seq * 10,
            ..EMPTY
        }
    }

    #[test]
    fn keeps_the_last_trades_oldest_first() {
        let mut recent = RecentTrades::default();
        assert!(recent.is_empty());
        for seq in 1..=3 {
            recent.push(trade(seq));
        }
        let seqs: Vec<u64> = recent.oldest_first().map(|t| t.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        for seq in 4..=(RECENT_TRADES as u64 + 7) {
            recent.push(trade(seq));
        }
        assert_eq!(recent.len(), RECENT_TRADES);
        let seqs: Vec<u64> = recent.oldest_first().map(|t| t.seq).collect();
        let expected: Vec<u64> = (8..=RECENT_TRADES as u64 + 7).collect();
        assert_eq!(seqs, expected);
    }
}
