//! When each market-data client of a shard gets its heartbeats: every
//! client slot at its own phase of the heartbeat interval, so the shard's
//! heartbeats are spread over the interval instead of all sent at one tick.
//!
//! Why (issue 13): with one round for every client at once, 1,000 idle
//! subscribers meant, once a second, 2,000 heartbeats encoded in one tick
//! and 1,000 writers woken together. The sends are paced by the turn's
//! budget (`send_budget.rs`: 32 a turn), so the burst then took some 30
//! turns in a row, each at its full market-data share while order entry
//! was busy, with every waiting writer polled again each turn; and on the
//! other end of loopback 1,000 sockets became readable at once. Order entry
//! on another symbol saw it as a p99 three times the one without
//! subscribers.
//!
//! Slot `s` of `n` is due at `round_start + s * interval / n`; a round
//! starts an interval after the last one, so a client's heartbeats stay an
//! interval apart (plus the ticker's lateness), whatever the others do. A
//! call hands out at most [`CLIENTS_PER_CALL`] slots, the sends of one busy
//! turn: a late tick catches up over the next ticks, never in one burst.
//! A sweep more than a whole round behind (the heartbeats waited for a
//! fan-out backlog to empty, section 4.4) starts its next round at once
//! rather than running rounds back to back.

use super::send_budget::{SEND_BYTES_PER_TURN, SEND_COST_FLOOR_BYTES};

/// Client slots one call hands out at most: as many as the writers of a
/// busy turn may send to (`send_budget.rs`), so one tick's heartbeats never
/// want more than one turn's share of sends.
pub const CLIENTS_PER_CALL: usize = SEND_BYTES_PER_TURN / SEND_COST_FLOOR_BYTES;

const _: () = assert!(
    CLIENTS_PER_CALL >= 8,
    "a 5 ms ticker keeps up with 1,024 slots a second"
);

/// The heartbeat schedule of a shard's client slots.
pub struct HeartbeatSweep {
    slots: usize,
    interval_ns: u64,
    /// Monotonic start of the current round (`None` before the first call).
    round_start_ns: Option<u64>,
    /// The next slot of the current round to hand out (`slots`: the round
    /// is done).
    next: usize,
}

impl HeartbeatSweep {
    pub fn new(slots: usize, interval_ns: u64) -> HeartbeatSweep {
        assert!(slots > 0 && interval_ns > 0, "slots to beat, time to do it");
        HeartbeatSweep {
            slots,
            interval_ns,
            round_start_ns: None,
            next: 0,
        }
    }

    /// Calls `visit` with each slot whose heartbeat is due at `now_ns`
    /// (monotonic) and was not yet visited this round, in slot order, at
    /// most [`CLIENTS_PER_CALL`] of them (a round that ends here goes on
    /// into the next one's due slots); how many it visited.
    pub fn visit_due(&mut self, now_ns: u64, mut visit: impl FnMut(usize)) -> usize {
        let mut visited = 0;
        while visited < CLIENTS_PER_CALL {
            let start = *self.round_start_ns.get_or_insert(now_ns);
            if now_ns < start {
                break;
            }
            // Slot s is due once s * interval / slots <= now - start.
            let elapsed = u128::from(now_ns - start);
            let phase_end = elapsed * self.slots as u128 / u128::from(self.interval_ns) + 1;
            let end = (phase_end.min(self.slots as u128) as usize)
                .min(self.next + CLIENTS_PER_CALL - visited);
            if end <= self.next {
                break;
            }
            (self.next..end).for_each(&mut visit);
            visited += end - self.next;
            self.next = end;
            if self.next == self.slots {
                self.next = 0;
                let next_round = start + self.interval_ns;
                // A whole round late: the next one starts now, not at once
                // behind this one.
                let late = now_ns >= next_round + self.interval_ns;
                self.round_start_ns = Some(if late { now_ns } else { next_round });
            }
        }
        debug_assert!(visited <= CLIENTS_PER_CALL && self.next < self.slots);
        visited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn due(sweep: &mut HeartbeatSweep, now_ns: u64) -> Vec<usize> {
        let mut slots = Vec::new();
        let n = sweep.visit_due(now_ns, |slot| slots.push(slot));
        assert_eq!(n, slots.len());
        slots
    }

    #[test]
    fn every_slot_once_a_round_at_its_phase() {
        let mut sweep = HeartbeatSweep::new(1_000, SECOND);
        let mut at = vec![Vec::new(); 1_000];
        // A tick every 5 ms for three seconds, from an odd start.
        for tick in 0..600u64 {
            let now = 7 + tick * 5_000_000;
            let due = due(&mut sweep, now);
            assert!(due.len() <= 6, "about 5 slots a 5 ms tick, not a burst");
            for slot in due {
                at[slot].push(now);
            }
        }
        for (slot, times) in at.iter().enumerate() {
            let phase = slot as u64 * SECOND / 1_000;
            // The third round's visit of a phase past 995 ms is after the last tick.
            let rounds = if phase <= 995_000_000 { 3 } else { 2 };
            assert_eq!(times.len(), rounds, "slot {slot}: once a round");
            assert!(times[0] >= 7 + phase && times[0] < 7 + phase + 5_000_000);
            for pair in times.windows(2) {
                assert_eq!(pair[1] - pair[0], SECOND, "slot {slot}: an interval apart");
            }
        }
    }

    #[test]
    fn a_late_call_catches_up_a_bounded_number_at_a_time() {
        let mut sweep = HeartbeatSweep::new(1_024, SECOND);
        assert_eq!(due(&mut sweep, 0), vec![0]);
        // Half a round without a call: 512 slots are due, 32 a call.
        let mut handed = 1;
        let mut calls = 0;
        while handed < 513 {
            let due = due(&mut sweep, SECOND / 2);
            assert!(!due.is_empty() && due.len() <= CLIENTS_PER_CALL);
            assert_eq!(due[0], handed, "in slot order, none twice");
            handed = due[due.len() - 1] + 1;
            calls += 1;
        }
        assert_eq!(calls, 16);
        assert!(
            due(&mut sweep, SECOND / 2).is_empty(),
            "the rest are not due"
        );
    }

    #[test]
    fn a_sweep_a_whole_round_behind_restarts_its_round_at_once() {
        let mut sweep = HeartbeatSweep::new(4, SECOND);
        assert_eq!(due(&mut sweep, 0), vec![0]);
        assert_eq!(
            due(&mut sweep, SECOND),
            vec![1, 2, 3, 0],
            "the rest of round one, and round two's first, due at 1 s"
        );
        assert!(due(&mut sweep, SECOND + 1).is_empty());
        // Silent for rounds: the next call finishes round two and starts
        // round three at its own time, not at 3 s.
        assert_eq!(due(&mut sweep, 5 * SECOND), vec![1, 2, 3, 0]);
        assert!(due(&mut sweep, 5 * SECOND + SECOND / 4 - 1).is_empty());
        assert_eq!(due(&mut sweep, 5 * SECOND + SECOND / 4), vec![1]);
    }
}
