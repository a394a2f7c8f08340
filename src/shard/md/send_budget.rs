//! The market-data writers' share of a shard's loop turn. Order entry and
//! market data share the shard's core, and on loopback a send costs the
//! sender's core the receiver's TCP work too: a thousand subscribers of a
//! busy symbol want more bytes sent than one core can move, and when every
//! writer sent everything it had each turn the turns grew until the order
//! path waited seconds (issue 13: order entry at p50 8.8 s). A venue never
//! lets market data slow matching or acknowledgements, so here the market
//! data gets a fixed number of bytes per turn and waits for the next turn
//! for the rest, while the readers and writers of order entry run every
//! turn unbudgeted. What market data cannot send piles up in its clients'
//! queues, which are bounded: a client whose queue passes its budget is
//! closed with 4001 (`client.rs`), never thinned.
//!
//! The budget is keyed by the reactor's turn number (`reactor::turn`), so
//! it refills itself when the turn changes, with no task to reset it.

use std::cell::Cell;

/// Bytes of market data the writers of one shard hand to the kernel in one
/// loop turn (the first send of a turn always goes, so a piece larger than
/// what is left still makes progress).
pub const SEND_BYTES_PER_TURN: usize = 64 * 1024;

/// The most one writer sends at once: a queue larger than this goes out
/// in pieces, one budget check each, so one client with a full queue
/// cannot take a whole turn's budget several times over.
pub const SEND_PIECE_BYTES: usize = 16 * 1024;

/// What a send costs the budget at least, however few bytes it carries: on
/// loopback a send's cost is mostly per call (the syscall, the receiver's
/// wake-up), and a thousand clients with one small message each would
/// otherwise make a thousand sends a turn. With the floor a turn makes at
/// most `SEND_BYTES_PER_TURN / SEND_COST_FLOOR_BYTES` (32) sends; the
/// clients' queues gather what comes meanwhile, so each send carries more.
pub const SEND_COST_FLOOR_BYTES: usize = 2 * 1024;

const _: () = assert!(SEND_PIECE_BYTES <= SEND_BYTES_PER_TURN);
const _: () = assert!(SEND_COST_FLOOR_BYTES <= SEND_PIECE_BYTES);

/// What is left of this turn's market-data bytes.
pub struct SendBudget {
    per_turn: usize,
    turn: Cell<u64>,
    left: Cell<usize>,
}

impl SendBudget {
    pub fn new(per_turn: usize) -> SendBudget {
        assert!(per_turn > 0, "a turn sends something");
        SendBudget {
            per_turn,
            turn: Cell::new(u64::MAX),
            left: Cell::new(per_turn),
        }
    }

    /// May a writer send `bytes` now, in turn `turn`? Yes while the turn's
    /// budget lasts (the bytes, at least [`SEND_COST_FLOOR_BYTES`], are
    /// then taken from it); no once it is spent: the writer waits for the
    /// next turn.
    pub fn take(&self, turn: u64, bytes: usize) -> bool {
        debug_assert!(bytes > 0, "only bytes to send are asked for");
        if turn != self.turn.get() {
            self.turn.set(turn);
            self.left.set(self.per_turn);
        }
        let left = self.left.get();
        if left == 0 {
            return false;
        }
        self.left
            .set(left.saturating_sub(bytes.max(SEND_COST_FLOOR_BYTES)));
        debug_assert!(self.left.get() < left, "a send takes from the budget");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_sends_its_budget_then_waits_for_the_next() {
        let floor = SEND_COST_FLOOR_BYTES;
        let budget = SendBudget::new(10 * floor);
        assert!(budget.take(1, 6 * floor));
        assert!(budget.take(1, 6 * floor), "the last piece may overdraw");
        assert!(!budget.take(1, 1), "spent for this turn");
        assert!(!budget.take(1, 1));
        assert!(budget.take(2, 50 * floor), "a new turn, a new budget");
        assert!(!budget.take(2, 1));
        for _ in 0..10 {
            assert!(budget.take(3, 1), "a small send costs the floor");
        }
        assert!(!budget.take(3, 1), "ten floors spend the turn");
    }
}
