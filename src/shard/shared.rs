//! What every shard reads and nobody writes after start-up (config-derived
//! lookups), plus the few cross-shard atomics: the session directory, the
//! doorbells and the shutdown flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
