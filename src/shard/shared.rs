//! What every shard reads and nobody writes after start-up (config-derived
//! lookups), plus the few cross-shard atomics: the session directory, the
//! doorbells and the shutdown flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::directory::SessionDirectory;
use super::mesh::Doorbell;
use crate::config::{AccountConfig, Config};
use crate::engine::{AccountId, SymbolId};

pub struct Shared {
    pub config: Config,
    /// (account id, index into `config.accounts`), sorted by id.
    account_lookup: Vec<(AccountId, u32)>,
    /// (symbol id, owner shard), sorted by id.
    symbol_owner: Vec<(SymbolId, u16)>,
    /// Shards that own at least one symbol (mass cancel fans out to them).
    pub trading_shards: Vec<u16>,
    pub directory: SessionDirectory,
    pub doorbells: Vec<Doorbell>,
    /// `serve --truncate-corrupt-journal`: cut the journal at corruption
    /// instead of refusing to start.
    pub truncate_corrupt_journal: bool,
    shutting_down: AtomicBool,
    /// Set once, by the first shard whose journal failed a sync: why the
    /// gateway is stopping (fail-stop). Read by `main` for its exit.
    fail_stop: OnceLock<String>,
    /// Graceful shutdown: the phase each shard has reached, and each shard's
    /// published mesh counters (`[from * n + to]`), written only then.
    shutdown_phase: Vec<AtomicU64>,
    sent: Vec<AtomicU64>,
    received: Vec<AtomicU64>,
}

impl Shared {
    pub fn new(config: Config, doorbells: Vec<Doorbell>) -> Shared {
        let mut account_lookup: Vec<(AccountId, u32)> = config
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i as u32))
            .collect();
        account_lookup.sort_unstable();
        let mut symbol_owner: Vec<(SymbolId, u16)> = config
            .symbols
            .iter()
            .map(|s| (s.id, config.owner_shard(s) as u16))
            .collect();
        symbol_owner.sort_unstable();
        let mut trading_shards: Vec<u16> = symbol_owner.iter().map(|&(_, s)| s).collect();
        trading_shards.sort_unstable();
        trading_shards.dedup();
        let shards = config.shard_count();
        let directory = SessionDirectory::new(
            config.accounts.len(),
            config.session.max_sessions_per_account,
        );
        Shared {
            config,
            account_lookup,
            symbol_owner,
            trading_shards,
            directory,
            shutdown_phase: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            sent: (0..shards * shards).map(|_| AtomicU64::new(0)).collect(),
            received: (0..shards * shards).map(|_| AtomicU64::new(0)).collect(),
            doorbells,
            truncate_corrupt_journal: false,
            shutting_down: AtomicBool::new(false),
            fail_stop: OnceLock::new(),
        }
    }

    pub fn account_index(&self, account: AccountId) -> Option<usize> {
        self.account_lookup
            .binary_search_by_key(&account, |&(id, _)| id)
            .ok()
            .map(|i| self.account_lookup[i].1 as usize)
    }

    pub fn account(&self, index: usize) -> &AccountConfig {
        &self.config.accounts[index]
    }

    #[inline]
    pub fn owner_of(&self, symbol: SymbolId) -> Option<usize> {
        self.symbol_owner
            .binary_search_by_key(&symbol, |&(id, _)| id)
            .ok()
            .map(|i| self.symbol_owner[i].1 as usize)
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Publishes one shard's shutdown phase and mesh counters; each call
    /// advances the shard's epoch (low 32 bits of its phase word).
    pub fn publish_shutdown_state(&self, shard: usize, phase: u32, sent: &[u64], received: &[u64]) {
        let n = self.doorbells.len();
        for other in 0..n {
            self.sent[shard * n + other].store(sent[other], Ordering::Release);
            // received[other] counts messages from `other` to `shard`.
            self.received[other * n + shard].store(received[other], Ordering::Release);
        }
        let word = &self.shutdown_phase[shard];
        let epoch = (word.load(Ordering::Relaxed) as u32).wrapping_add(1);
        word.store((phase as u64) << 32 | epoch as u64, Ordering::Release);
    }

    /// Whether every shard has published `phase` or a later one.
    pub fn all_reached(&self, phase: u32) -> bool {
        self.shutdown_phase
            .iter()
            .all(|word| (word.load(Ordering::Acquire) >> 32) as u32 >= phase)
    }

    /// One wave of the four-counter termination check: `None` unless every
    /// shard has reached `phase` and, for every ordered pair of shards,
    /// what one sent equals what the other received.
    pub fn quiescence_wave(&self, phase: u32) -> Option<QuiescenceWave> {
        let mut epochs = Vec::with_capacity(self.shutdown_phase.len());
        for word in &self.shutdown_phase {
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

    /// Starts a graceful shutdown and wakes every shard.
    /// Stops the gateway because a promise can no longer be kept (a
    /// journal sync failed): records why (the first reason wins) and begins
    /// the shutdown; sessions then end with `JournalFailure` and the
    /// process exits non-zero. Never on the hot path: it allocates.
    pub fn fail_stop(&self, why: String) {
        let _ = self.fail_stop.set(why);
        self.begin_shutdown();
    }

    /// Why the gateway is failing-stop, if it is.
    pub fn fail_stop_reason(&self) -> Option<&str> {
        self.fail_stop.get().map(String::as_str)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for doorbell in &self.doorbells {
            doorbell.force();
        }
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
        self.epochs.iter().zip(&later.epochs).all(|(a, b)| b != a)
            && self.counters == later.counters
    }

    /// Whether every shard published again since `self`.
    pub fn is_superseded_by(&self, later: &QuiescenceWave) -> bool {
        self.epochs.iter().zip(&later.epochs).all(|(a, b)| b != a)
    }
}

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

/// One shard's side of the termination check: call [`Quiescence::check`]
/// after each publish until it returns true.
#[derive(Default)]
pub struct Quiescence {
    previous: Option<QuiescenceWave>,
}

impl Quiescence {
    /// True once two complete waves at `phase` agree: no message is in
    /// flight between any two shards, and none will be created.
    pub fn check(&mut self, shared: &Shared, phase: u32) -> bool {
        match (shared.quiescence_wave(phase), &self.previous) {
            (Some(wave), Some(earlier)) if earlier.confirms(&wave) => return true,
            (Some(wave), Some(earlier)) if !earlier.is_superseded_by(&wave) => {}
            (wave, _) => self.previous = wave,
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(shards: usize) -> Shared {
        let cores: Vec<String> = (0..shards).map(|c| c.to_string()).collect();
        let text = crate::config::DEFAULT_TOML
            .replace("cores = [0]", &format!("cores = [{}]", cores.join(", ")));
        let config = Config::parse(&text).unwrap();
        let doorbells = (0..shards).map(|_| Doorbell::new().unwrap().0).collect();
        Shared::new(config, doorbells)
    }

    const QUIET: [u64; 2] = [0, 0];

    #[test]
    fn balanced_counters_confirm_after_two_waves_in_which_everyone_published() {
        let shared = shared(2);
        let (mut q0, mut q1) = (Quiescence::default(), Quiescence::default());
        shared.publish_shutdown_state(0, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(
            !q0.check(&shared, phase::SESSIONS_ENDED),
            "shard 1 not there yet"
        );
        shared.publish_shutdown_state(1, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(
            !q1.check(&shared, phase::SESSIONS_ENDED),
            "one wave is not enough"
        );
        shared.publish_shutdown_state(0, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(!q0.check(&shared, phase::SESSIONS_ENDED));
        shared.publish_shutdown_state(1, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        shared.publish_shutdown_state(0, phase::SESSIONS_ENDED, &QUIET, &QUIET);
        assert!(
            q0.check(&shared, phase::SESSIONS_ENDED),
            "two agreeing waves"
        );
    }

    #[test]
    fn a_message_in_flight_blocks_confirmation() {
        let shared = shared(2);
        let mut q0 = Quiescence::default();
        // Shard 0 sent one message to shard 1, which has not received it.
        for _ in 0..4 {
            shared.publish_shutdown_state(0, phase::SESSIONS_ENDED, &[0, 1], &QUIET);
            shared.publish_shutdown_state(1, phase::SESSIONS_ENDED, &QUIET, &QUIET);
            assert!(!q0.check(&shared, phase::SESSIONS_ENDED));
        }
        shared.publish_shutdown_state(1, phase::SESSIONS_ENDED, &QUIET, &[1, 0]);
        shared.publish_shutdown_state(0, phase::SESSIONS_ENDED, &[0, 1], &QUIET);
        assert!(!q0.check(&shared, phase::SESSIONS_ENDED));
        shared.publish_shutdown_state(1, phase::SESSIONS_ENDED, &QUIET, &[1, 0]);
        shared.publish_shutdown_state(0, phase::SESSIONS_ENDED, &[0, 1], &QUIET);
        assert!(q0.check(&shared, phase::SESSIONS_ENDED));
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
        let shared = shared(2);
        let (mut q0, mut q1) = (Quiescence::default(), Quiescence::default());
        let ended = phase::SESSIONS_ENDED;
        // Shard 0 sent shard 1 one message; shard 1 already received it.
        let (s0_sent, s1_received) = ([0, 1], [1, 0]);
        shared.publish_shutdown_state(1, ended, &QUIET, &s1_received);
        assert!(!q1.check(&shared, ended), "shard 0 not at this phase yet");
        shared.publish_shutdown_state(0, ended, &s0_sent, &QUIET);
        assert!(!q0.check(&shared, ended), "first wave");
        shared.publish_shutdown_state(0, ended, &s0_sent, &QUIET); // its last
        shared.publish_shutdown_state(1, ended, &QUIET, &s1_received);
        assert!(!q1.check(&shared, ended), "shard 1's first wave");
        assert!(q0.check(&shared, ended), "shard 0 is sure");
        for _ in 0..3 {
            shared.publish_shutdown_state(1, ended, &QUIET, &s1_received);
            assert!(
                !q1.check(&shared, ended),
                "shard 0's epoch is frozen: without CONFIRMED this never ends"
            );
        }
        assert!(
            !shared.all_reached(phase::CONFIRMED),
            "shard 0 must not exit"
        );
        // Shard 0 keeps publishing, now at CONFIRMED.
        shared.publish_shutdown_state(0, phase::CONFIRMED, &s0_sent, &QUIET);
        shared.publish_shutdown_state(1, ended, &QUIET, &s1_received);
        assert!(q1.check(&shared, ended), "shard 1 is sure too");
        assert!(!shared.all_reached(phase::CONFIRMED), "shard 0 still waits");
        shared.publish_shutdown_state(1, phase::CONFIRMED, &QUIET, &s1_received);
        assert!(shared.all_reached(phase::CONFIRMED), "both may exit");
    }
}
