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
//! it refills itself when the turn changes, with no task to reset it. How
//! many bytes a turn gets, and what a send costs at least, is
//! `turn_share.rs`'s: this bound near order-entry input, and while the pump
//! still has messages to copy; a quiet turn with the pump done sends one
//! message to every client.

use std::cell::Cell;

/// Bytes of market data the writers of one shard hand to the kernel in one
/// loop turn near order-entry input (the first send of a turn always goes,
/// so a piece larger than what is left still makes progress).
pub const SEND_BYTES_PER_TURN: usize = 64 * 1024;

/// The most one writer sends at once: a queue larger than this goes out
/// in pieces, one budget check each, so one client with a full queue
/// cannot take a whole turn's budget several times over.
pub const SEND_PIECE_BYTES: usize = 16 * 1024;

/// What a send costs the budget at least near order-entry input, however
/// few bytes it carries: on loopback a send's cost is mostly per call (the
/// syscall, the receiver's wake-up), and a thousand clients with one small
/// message each would otherwise make a thousand sends a turn. With the
/// floor a turn makes at most `SEND_BYTES_PER_TURN / SEND_COST_FLOOR_BYTES`
/// (32) sends; the clients' queues gather what comes meanwhile, so each
/// send carries more.
pub const SEND_COST_FLOOR_BYTES: usize = 2 * 1024;

const _: () = assert!(SEND_PIECE_BYTES <= SEND_BYTES_PER_TURN);
const _: () = assert!(SEND_COST_FLOOR_BYTES <= SEND_PIECE_BYTES);

/// What market data has sent in this turn, against the turn's share.
#[derive(Default)]
pub struct SendBudget {
    turn: Cell<u64>,
    spent: Cell<usize>,
}

impl SendBudget {
    /// May a writer send `bytes` now, in turn `turn` whose share is
    /// `share` bytes, a send costing at least `floor` (`turn_share.rs`:
    /// 64 KiB at 2 KiB near order-entry input, 1 MiB at 1 KiB in a quiet
    /// turn with the pump done)? Yes while the turn has sent less than
    /// that (the bytes, at least `floor`, then count as sent); no once it
    /// has: the writer waits for the next turn. The share is asked per
    /// call, so a turn whose share shrinks midway stops at the smaller one.
    pub fn take(&self, turn: u64, share: usize, floor: usize, bytes: usize) -> bool {
        debug_assert!(bytes > 0, "only bytes to send are asked for");
        assert!(share > 0 && floor > 0, "a turn sends something, at a cost");
        if turn != self.turn.get() {
            self.turn.set(turn);
            self.spent.set(0);
        }
        let spent = self.spent.get();
        if spent >= share {
            return false;
        }
        self.spent.set(spent.saturating_add(bytes.max(floor)));
        debug_assert!(self.spent.get() > spent, "a send takes from the budget");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_sends_its_budget_then_waits_for_the_next() {
        let floor = SEND_COST_FLOOR_BYTES;
        let share = 10 * floor;
        let budget = SendBudget::default();
        let take = |turn, bytes| budget.take(turn, share, floor, bytes);
        assert!(take(1, 6 * floor));
        assert!(take(1, 6 * floor), "the last piece may overdraw");
        assert!(!take(1, 1), "spent for this turn");
        assert!(!take(1, 1));
        assert!(take(2, 50 * floor), "a new turn, a new budget");
        assert!(!take(2, 1));
        for _ in 0..10 {
            assert!(take(3, 1), "a small send costs the floor");
        }
        assert!(!take(3, 1), "ten floors spend the turn");
    }

    #[test]
    fn a_turn_keeps_to_the_share_it_is_asked_with() {
        use crate::shard::md::turn_share::{TurnShare, BUSY, FLUSH, IDLE};
        let budget = SendBudget::default();
        let sends = |turn: u64, share: TurnShare, bytes: usize| {
            (0..)
                .take_while(|_| budget.take(turn, share.send_bytes, share.send_floor, bytes))
                .count()
        };
        let piece = SEND_PIECE_BYTES;
        assert_eq!(sends(1, BUSY, piece), 4, "64 KiB in 16 KiB pieces");
        assert_eq!(sends(2, IDLE, piece), 4, "the pump not done: no more");
        assert_eq!(sends(3, FLUSH, piece), 64, "1 MiB in 16 KiB pieces");
        assert_eq!(sends(4, BUSY, 1), 32, "small sends at the 2 KiB floor");
        assert_eq!(sends(5, FLUSH, 74), 1024, "small sends at the 1 KiB floor");
        // A share that shrinks midway: the turn stops at the smaller one.
        assert!(budget.take(6, 1 << 20, 1, SEND_PIECE_BYTES * 5));
        assert!(!budget.take(6, BUSY.send_bytes, BUSY.send_floor, 1));
    }
}
