//! Graceful shutdown's termination check (Mattern's four counters) over a
//! board of atomics every shard publishes to: its shutdown phase with an
//! epoch, and its per-pair mesh counters.
//!
//! A shard in `quiesce` (`runtime.rs`) drains its rings, publishes
//! ([`ShutdownBoard::publish`]), then checks ([`Quiescence::check`]) until
//! two complete waves agree; then it keeps publishing [`phase::CONFIRMED`]
//! until [`ShutdownBoard::all_reached`] it.
//!
//! This file has no other dependency: `checks/loom/` includes it by path and
//! model-checks it with loom's atomics (`--cfg loom`), with shards that
//! exchange messages while they run these phases. The facade below is a
//! compile-time alias; the gateway is built with std's.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

/// Shutdown phases a shard publishes, in order.
pub mod phase {
    /// Its readers have stopped: no new client input.
    pub const READERS_STOPPED: u32 = 1;
    /// Its sessions have been ended (cancel-on-disconnect sent).
    pub const SESSIONS_ENDED: u32 = 2;
    /// It has seen the mesh quiet after every shard ended its sessions.
    /// A shard keeps publishing until every shard is here: one that stopped
    /// publishing as soon as it was sure itself would freeze its epoch, and
    /// a slower shard, which needs to see every epoch move between two
    /// waves, would wait for it for ever.
    pub const CONFIRMED: u32 = 3;
}

/// What the shards publish during graceful shutdown: the phase each has
/// reached (high 32 bits) and an epoch that moves on every publish (low 32
/// bits), and each shard's mesh counters (`[from * n + to]`).
pub struct ShutdownBoard {
    shards: usize,
    phase: Vec<AtomicU64>,
    sent: Vec<AtomicU64>,
    received: Vec<AtomicU64>,
}

impl ShutdownBoard {
    pub fn new(shards: usize) -> ShutdownBoard {
        ShutdownBoard {
            shards,
            phase: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            sent: (0..shards * shards).map(|_| AtomicU64::new(0)).collect(),
            received: (0..shards * shards).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Publishes one shard's shutdown phase and mesh counters (`sent[j]`: to
    /// shard j, `received[j]`: from shard j); each call advances the shard's
    /// epoch. Only shard `shard` calls this for `shard`.
    pub fn publish(&self, shard: usize, phase: u32, sent: &[u64], received: &[u64]) {
        let n = self.shards;
        let counters = (0..n).flat_map(|other| {
            // received[other] counts messages from `other` to `shard`.
            [
                (&self.sent[shard * n + other], sent[other]),
                (&self.received[other * n + shard], received[other]),
            ]
        });
        for (counter, value) in counters {
            // Only this shard writes these: a relaxed load reads its own
            // last store. A counter that did not move is not stored again:
            // its last store still precedes the phase word's (Release), so
            // a reader of this epoch sees the same values, and the loom
            // model (which tracks every store) stays small enough to check.
            if counter.load(Ordering::Relaxed) != value {
                counter.store(value, Ordering::Release);
            }
        }
        let word = &self.phase[shard];
        let epoch = (word.load(Ordering::Relaxed) as u32).wrapping_add(1);
        word.store((phase as u64) << 32 | epoch as u64, Ordering::Release);
    }

    /// Whether every shard has published `phase` or a later one.
    pub fn all_reached(&self, phase: u32) -> bool {
        self.phase
            .iter()
            .all(|word| (word.load(Ordering::Acquire) >> 32) as u32 >= phase)
    }

    /// One wave of the four-counter termination check: `None` unless every
    /// shard has reached `phase` and, for every ordered pair of shards,
    /// what one sent equals what the other received.
    pub fn wave(&self, phase: u32) -> Option<QuiescenceWave> {
        let mut epochs = Vec::with_capacity(self.phase.len());
        for word in &self.phase {
            let word = word.load(Ordering::Acquire);
            if ((word >> 32) as u32) < phase {
                return None;
            }
            epochs.push(word as u32);
        }
        let sent: Vec<u64> = self
            .sent
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .collect();
        let received: Vec<u64> = self
            .received
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .collect();
        (sent == received).then_some(QuiescenceWave {
            epochs,
            counters: sent,
        })
    }
}

/// Counters read in one wave. Two balanced waves with equal counters, the
/// second read after every shard published again, prove that no message is
/// in flight and none can be created (Mattern's four-counter method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuiescenceWave {
    epochs: Vec<u32>,
    counters: Vec<u64>,
}

impl QuiescenceWave {
    /// Whether `later` is a complete wave after `self` with the same counts.
    pub fn confirms(&self, later: &QuiescenceWave) -> bool {
        self.is_superseded_by(later) && self.counters == later.counters
    }

    /// Whether every shard published again since `self`.
    pub fn is_superseded_by(&self, later: &QuiescenceWave) -> bool {
        self.epochs.iter().zip(&later.epochs).all(|(a, b)| b != a)
    }
}

/// One shard's side of the termination check: call [`Quiescence::check`]
/// after each publish until it returns true.
#[derive(Default)]
pub struct Quiescence {
    previous: Option<QuiescenceWave>,
}

impl Quiescence {
    /// True once two complete waves at `phase` agree: no message is in
    /// flight between any two shards, and none will be created.
    pub fn check(&mut self, board: &ShutdownBoard, phase: u32) -> bool {
        match (board.wave(phase), &self.previous) {
            (Some(wave), Some(earlier)) if earlier.confirms(&wave) => return true,
            (Some(wave), Some(earlier)) if !earlier.is_superseded_by(&wave) => {}
            (wave, _) => self.previous = wave,
        }
        false
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const QUIET: [u64; 2] = [0, 0];

    #[test]
    fn balanced_counters_confirm_after_two_waves_in_which_everyone_published() {
        let board = ShutdownBoard::new(2);
        let (mut q0, mut q1) = (Quiescence::default(), Quiescence::default());
        board.publish(0, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(
            !q0.check(&board, phase::SESSIONS_ENDED),
            "shard 1 not there yet"
        );
        board.publish(1, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(
            !q1.check(&board, phase::SESSIONS_ENDED),
            "one wave is not enough"
        );
        board.publish(0, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(!q0.check(&board, phase::SESSIONS_ENDED));
        board.publish(1, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        board.publish(0, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(
            q0.check(&board, phase::SESSIONS_ENDED),
            "two agreeing waves"
        );
    }

    #[test]
    fn a_message_in_flight_blocks_confirmation() {
        let board = ShutdownBoard::new(2);
        let mut q0 = Quiescence::default();
        // Shard 0 sent one message to shard 1, which has not received it.
        for _ in 0..4 {
            board.publish(0, phase::SESSIONS_ENDED, &[0, 1], &QUIET);
            board.publish(1, phase::SESSIONS_ENDED, &QUIET, &QUIET);
            assert!(!q0.check(&board, phase::SESSIONS_ENDED));
        }
        board.publish(1, phase::SESSIONS_ENDED, &QUIET, &[1, 0]);
        board.publish(0, phase::SESSIONS_ENDED, &[0, 1], &QUIET);
        assert!(!q0.check(&board, phase::SESSIONS_ENDED));
        board.publish(1, phase::SESSIONS_ENDED, &QUIET, &[1, 0]);
        board.publish(0, phase::SESSIONS_ENDED, &[0, 1], &QUIET);
        assert!(q0.check(&board, phase::SESSIONS_ENDED));
    }

    /// The exit race a CI run hung on. Shard 1 checks while shard 0's last
    /// message is counted as received but not yet as sent (no wave), then
    /// takes its first wave between shard 0's final publish and shard 0's
    /// confirming check. Had shard 0 stopped publishing when it was sure,
    /// shard 1's waves would all hold shard 0's frozen epoch and never
    /// confirm. Shard 0 goes on publishing CONFIRMED until every shard is
    /// there, so shard 1 gets its second wave.
    #[test]
    fn the_first_shard_to_confirm_keeps_publishing_until_every_shard_has() {
        let board = ShutdownBoard::new(2);
        let (mut q0, mut q1) = (Quiescence::default(), Quiescence::default());
        let ended = phase::SESSIONS_ENDED;
        // Shard 0 sent shard 1 one message; shard 1 already received it.
        let (s0_sent, s1_received) = ([0, 1], [1, 0]);
        board.publish(1, ended, &QUIET, &s1_received);
        assert!(!q1.check(&board, ended), "shard 0 not at this phase yet");
        board.publish(0, ended, &s0_sent, &QUIET);
        assert!(!q0.check(&board, ended), "first wave");
        board.publish(0, ended, &s0_sent, &QUIET); // its last
        board.publish(1, ended, &QUIET, &s1_received);
        assert!(!q1.check(&board, ended), "shard 1's first wave");
        assert!(q0.check(&board, ended), "shard 0 is sure");
        for _ in 0..3 {
            board.publish(1, ended, &QUIET, &s1_received);
            assert!(
                !q1.check(&board, ended),
                "shard 0's epoch is frozen: without CONFIRMED this never ends"
            );
        }
        assert!(
            !board.all_reached(phase::CONFIRMED),
            "shard 0 must not exit"
        );
        // Shard 0 keeps publishing, now at CONFIRMED.
        board.publish(0, phase::CONFIRMED, &s0_sent, &QUIET);
        board.publish(1, ended, &QUIET, &s1_received);
        assert!(q1.check(&board, ended), "shard 1 is sure too");
        assert!(!board.all_reached(phase::CONFIRMED), "shard 0 still waits");
        board.publish(1, phase::CONFIRMED, &QUIET, &s1_received);
        assert!(board.all_reached(phase::CONFIRMED), "both may exit");
    }
}
