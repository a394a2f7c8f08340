//! How much of a shard's loop turn market data may take, decided per turn
//! by whether order entry has work (issue 13).
//!
//! Order entry comes first: in a turn near order-entry input, the pump
//! copies about [`PUMP_BYTES_PER_TURN`] and the writers send about
//! [`SEND_BYTES_PER_TURN`], so reading, matching and acknowledging never
//! wait behind more than that. But a fixed share also applied when order
//! entry had nothing to do, and the fan-out alone fell to half its rate.
//! So a turn with no order-entry input in the last [`ORDER_ENTRY_QUIET`]
//! gets the idle share: the pump copies 16 times more; the writers keep
//! their 64 KiB. Measured (docs/MARKET_DATA.md section 12): lifting the
//! writers' share too (1 MiB, up to 512 sends a turn) made the fan-out
//! slower, not faster, and lifting it alone (the pump at 64 KiB) made it 20
//! times slower: on loopback a send costs mostly per call, and more sends a
//! turn carry fewer bytes each. Lifting only the pump fills the clients'
//! queues faster, so each of the turn's few sends carries more.
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
pub use super::send_budget::SEND_BYTES_PER_TURN;

/// Order entry counts as active for this long after its last input.
pub const ORDER_ENTRY_QUIET: Duration = Duration::from_millis(1);

/// Bytes the pump copies in a turn with order entry quiet.
pub const IDLE_PUMP_BYTES_PER_TURN: usize = 1 << 20;

const _: () = assert!(IDLE_PUMP_BYTES_PER_TURN >= 16 * PUMP_BYTES_PER_TURN);

/// Market data's bytes for one turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnShare {
    /// What the pump may copy into clients' queues.
    pub pump_bytes: usize,
    /// What the writers may hand to the kernel (`send_budget.rs`).
    pub send_bytes: usize,
}

/// The share of a turn near order-entry input (today's bound).
pub const BUSY: TurnShare = TurnShare {
    pump_bytes: PUMP_BYTES_PER_TURN,
    send_bytes: SEND_BYTES_PER_TURN,
};

/// The share of a turn with order entry quiet: the pump's is lifted, the
/// writers' is not (see the module's comment for why).
pub const IDLE: TurnShare = TurnShare {
    pump_bytes: IDLE_PUMP_BYTES_PER_TURN,
    send_bytes: SEND_BYTES_PER_TURN,
};

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
    }
}
