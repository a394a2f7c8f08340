//! How much of a shard's loop turn market data may take, decided per turn
//! by whether order entry has work (issue 13).
//!
//! Order entry comes first: in a turn near order-entry input, the pump
//! copies about [`PUMP_BYTES_PER_TURN`] and the writers send about
//! [`SEND_BYTES_PER_TURN`], so reading, matching and acknowledging never
//! wait behind more than that. But a fixed share also applied when order
//! entry had nothing to do, and the fan-out alone fell to half its rate.
//! So a turn with no order-entry input in the last [`ORDER_ENTRY_QUIET`]
//! gets the idle share: the pump copies 16 times more ([`IDLE`]); and once
//! the pump has copied everything, the writers flush, a send counting as
//! at least 1 KiB: on a shard that has never had order entry up to 1 MiB
//! ([`FLUSH`]), one message to each of a full shard's 1,024 clients in one
//! turn, one enter (issue 13: at 32 sends a turn one trade took 31 turns
//! to reach 1,000 clients, the gateway's p99 at 50 trades/s 2.6 times a
//! tokio server's); on a shard that has, at most 128 sends a turn
//! ([`FLUSH_BESIDE_ORDER_ENTRY`]), because the next order waits behind the
//! turn in progress.
//!
//! Why only once the pump is done: while it still has messages to copy,
//! the clients' queues grow every turn, and a writer that sent now would
//! send again next turn for the rest: more sends for the same bytes, and
//! on loopback a send costs mostly per call (a receiver's wake-up on the
//! other core). Measured (docs/MARKET_DATA.md section 12): lifting the
//! writers' share in every quiet turn, the pump still at 64 KiB, made the
//! sustained fan-out 20 times slower, each of up to 512 sends a turn
//! carrying a message or two. With the pump done, nothing more is coming
//! for now: waiting a turn gathers nothing and only adds turns.
//!
//! The signal is the reactor's (`reactor::order_entry_input`): the time of
//! the last enter that completed an order-entry receive (noted before the
//! turn that handles it runs any task, so the market-data tasks of that
//! turn already keep to the small share) or of the last order-entry
//! message the mesh loop took from another shard. It costs one clock read
//! per order-entry enter and one per turn in which market data works.
//!
//! Why a quiet period rather than "this turn had input": at 10,000 orders
//! a second an order comes every 100 us, and with input judged per turn
//! every other turn would be idle and take the large share, which the
//! next order would wait behind. With the quiet period a steady order flow
//! keeps every turn small; once order entry is silent for a millisecond
//! market data gets more of the core. An order that comes after a silence
//! waits behind at most one idle turn (its share bounds it). Bytes, not
//! time, bound a turn: the sends of a turn run in the kernel at the turn's
//! one enter, where no task can time them.

use std::time::Duration;

pub use super::fanout::PUMP_BYTES_PER_TURN;
pub use super::send_budget::{SEND_BYTES_PER_TURN, SEND_COST_FLOOR_BYTES};

/// Order entry counts as active for this long after its last input.
pub const ORDER_ENTRY_QUIET: Duration = Duration::from_millis(1);

/// Bytes the pump copies in a turn with order entry quiet.
pub const IDLE_PUMP_BYTES_PER_TURN: usize = 1 << 20;

const _: () = assert!(IDLE_PUMP_BYTES_PER_TURN >= 16 * PUMP_BYTES_PER_TURN);

/// Bytes the writers send in a quiet turn once the pump is done.
pub const FLUSH_SEND_BYTES_PER_TURN: usize = 1 << 20;

/// What a send costs that share at least: a message to each of 1,024
/// clients (`max_clients_per_shard`'s default) fits one turn.
pub const FLUSH_SEND_COST_FLOOR_BYTES: usize = 1024;

const _: () = assert!(FLUSH_SEND_BYTES_PER_TURN / FLUSH_SEND_COST_FLOOR_BYTES >= 1024);
const _: () = assert!(FLUSH_SEND_BYTES_PER_TURN <= IDLE_PUMP_BYTES_PER_TURN);

/// Market data's bytes for one turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnShare {
    /// What the pump may copy into clients' queues.
    pub pump_bytes: usize,
    /// What the writers may hand to the kernel (`send_budget.rs`).
    pub send_bytes: usize,
    /// What one send costs `send_bytes` at least.
    pub send_floor: usize,
}

/// The share of a turn near order-entry input.
pub const BUSY: TurnShare = TurnShare {
    pump_bytes: PUMP_BYTES_PER_TURN,
    send_bytes: SEND_BYTES_PER_TURN,
    send_floor: SEND_COST_FLOOR_BYTES,
};

/// The share of a turn with order entry quiet while the pump still has
/// messages to copy: the pump's is lifted, the writers' is not (see the
/// module's comment for why).
pub const IDLE: TurnShare = TurnShare {
    pump_bytes: IDLE_PUMP_BYTES_PER_TURN,
    send_bytes: SEND_BYTES_PER_TURN,
    send_floor: SEND_COST_FLOOR_BYTES,
};

/// The share of a turn with order entry quiet and the pump done: the
/// writers send what the clients' queues hold, a message to every client.
pub const FLUSH: TurnShare = TurnShare {
    pump_bytes: IDLE_PUMP_BYTES_PER_TURN,
    send_bytes: FLUSH_SEND_BYTES_PER_TURN,
    send_floor: FLUSH_SEND_COST_FLOOR_BYTES,
};

/// Sends a quiet turn's flush may make on a shard that has had order
/// entry: an order that comes just after a quiet millisecond waits behind
/// the sends of the turn in progress, and a full flush (1,024 loopback
/// sends, 6 to 9 ms on the development VM: docs/MARKET_DATA.md section 12)
/// would put that whole wait in front of it. 128 sends reach 1,000
/// clients in 8 turns, and bound that wait to an eighth.
pub const FLUSH_SENDS_BESIDE_ORDER_ENTRY: usize = 128;

/// The share of a quiet turn with the pump done on a shard that has had
/// order entry: [`FLUSH`], at most [`FLUSH_SENDS_BESIDE_ORDER_ENTRY`]
/// sends (each counted as at least 1 KiB).
pub const FLUSH_BESIDE_ORDER_ENTRY: TurnShare = TurnShare {
    pump_bytes: IDLE_PUMP_BYTES_PER_TURN,
    send_bytes: FLUSH_SENDS_BESIDE_ORDER_ENTRY * FLUSH_SEND_COST_FLOOR_BYTES,
    send_floor: FLUSH_SEND_COST_FLOOR_BYTES,
};

const _: () = assert!(FLUSH_BESIDE_ORDER_ENTRY.send_bytes > SEND_BYTES_PER_TURN);
const _: () = assert!(FLUSH_BESIDE_ORDER_ENTRY.send_bytes < FLUSH_SEND_BYTES_PER_TURN);

impl TurnShare {
    /// This turn's share once the pump has (`pump_done`) or has not copied
    /// every message of the backlog: a quiet turn's writers flush when it
    /// has, all at once ([`FLUSH`]) on a shard that has never had order
    /// entry (a fan-out shard, `server.market_data_shards`), at most 128
    /// sends a turn ([`FLUSH_BESIDE_ORDER_ENTRY`]) on one that has
    /// (`had_order_entry`); a busy turn keeps its share either way.
    pub fn once_pumped(self, pump_done: bool, had_order_entry: bool) -> TurnShare {
        debug_assert!(self == BUSY || self == IDLE, "a share by time");
        match (self == IDLE && pump_done, had_order_entry) {
            (true, false) => FLUSH,
            (true, true) => FLUSH_BESIDE_ORDER_ENTRY,
            (false, _) => self,
        }
    }
}

/// The share of a turn whose order entry last had input `since` ago
/// (`None`: never).
pub fn share(since: Option<Duration>) -> TurnShare {
    let share = match since {
        Some(since) if since < ORDER_ENTRY_QUIET => BUSY,
        _ => IDLE,
    };
    debug_assert!(share.pump_bytes > 0 && share.send_bytes > 0, "a turn moves");
    share
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_entry_input_within_the_quiet_period_keeps_the_small_share() {
        assert_eq!(share(Some(Duration::ZERO)), BUSY);
        assert_eq!(share(Some(Duration::from_micros(999))), BUSY);
        assert_eq!(share(Some(ORDER_ENTRY_QUIET)), IDLE);
        assert_eq!(share(Some(Duration::from_secs(3))), IDLE);
        assert_eq!(share(None), IDLE, "a shard that never had order entry");
        assert_eq!((BUSY.pump_bytes, BUSY.send_bytes), (64 << 10, 64 << 10));
        assert_eq!((IDLE.pump_bytes, IDLE.send_bytes), (1 << 20, 64 << 10));
        assert_eq!((FLUSH.send_bytes, FLUSH.send_floor), (1 << 20, 1 << 10));
    }

    #[test]
    fn only_a_quiet_turn_with_the_pump_done_flushes() {
        for had_order_entry in [false, true] {
            let once_pumped = |share: TurnShare, done| share.once_pumped(done, had_order_entry);
            assert_eq!(once_pumped(BUSY, true), BUSY, "order entry first");
            assert_eq!(once_pumped(BUSY, false), BUSY);
            assert_eq!(once_pumped(IDLE, false), IDLE, "the queues still grow");
        }
        assert_eq!(IDLE.once_pumped(true, false), FLUSH, "a fan-out shard");
        assert_eq!(IDLE.once_pumped(true, true), FLUSH_BESIDE_ORDER_ENTRY);
    }

    /// On a shard that has had order entry, an order that comes after a
    /// quiet millisecond waits behind at most 128 sends of a flush, not a
    /// message to every client.
    #[test]
    fn a_flush_beside_order_entry_makes_at_most_128_sends_a_turn() {
        use crate::shard::md::send_budget::SendBudget;
        let budget = SendBudget::default();
        let share = share(Some(Duration::from_millis(5))).once_pumped(true, true);
        let sends = (0..1024)
            .take_while(|_| budget.take(1, share.send_bytes, share.send_floor, 74))
            .count();
        assert_eq!(sends, FLUSH_SENDS_BESIDE_ORDER_ENTRY);
    }

    /// Issue 13's K=1000 tail: one trade frame (74 bytes) to each of a
    /// full shard's clients, with order entry quiet and the pump done,
    /// goes out in one turn (one enter), not in 32 sends a turn.
    #[test]
    fn a_quiet_turn_with_the_pump_done_sends_one_frame_to_every_client() {
        use crate::shard::md::send_budget::SendBudget;
        let clients = 1024; // `max_clients_per_shard`'s default
        let budget = SendBudget::default();
        let share = share(None).once_pumped(true, false);
        let sends = (0..clients)
            .take_while(|_| budget.take(1, share.send_bytes, share.send_floor, 74))
            .count();
        assert_eq!(sends, clients, "every client in one turn");
    }
}
