//! What every shard reads and nobody writes after start-up (config-derived
//! lookups), plus the few cross-shard atomics: the session directory, the
//! doorbells, the shutdown flag, the shutdown board and the telemetry board.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::directory::SessionDirectory;
use super::mesh::Doorbell;
use super::quiescence::ShutdownBoard;
use crate::config::{AccountConfig, Config};
use crate::engine::{AccountId, IdIndex, SymbolId};
use crate::replication::ShipperBoard;
use crate::telemetry::TelemetryBoard;

pub struct Shared {
    pub config: Config,
    /// Account id to its index in `config.accounts`.
    account_lookup: IdIndex<u32>,
    /// Symbol id to owner shard.
    symbol_owner: IdIndex<u16>,
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
    /// published mesh counters, written only then (`quiescence.rs`).
    pub shutdown: ShutdownBoard,
    /// What each shard publishes for the admin thread (atomics, one writer
    /// each), and the gateway's readiness.
    pub telemetry: TelemetryBoard,
    /// Start-up only: the shards' market-data feeds after replay, and the
    /// feed epoch they agree on (`md/exchange.rs`).
    pub feeds: super::md::FeedExchange,
    /// The journal shipper's figures (empty when shipping is off).
    pub replication: ShipperBoard,
    /// Per account (index in `config.accounts`), the open orders beyond
    /// its `max_open_orders` that the shards' journals left (a restart
    /// lowered the limit): added by each shard after its replay and
    /// before it publishes its feed, so every shard has added its part
    /// before any serves (each waits for every feed). Sizes the room for
    /// bulk-cancel reports of the account's sessions.
    open_orders_over_limit: Vec<AtomicU64>,
}

impl Shared {
    pub fn new(config: Config, doorbells: Vec<Doorbell>) -> Shared {
        let account_lookup = IdIndex::positions(config.accounts.iter().map(|a| a.id), "account");
        let symbol_owner = IdIndex::new(
            config
                .symbols
                .iter()
                .map(|s| (s.id, config.owner_shard(s) as u16)),
            "symbol",
        );
        let mut trading_shards: Vec<u16> = symbol_owner.iter().map(|(_, s)| s).collect();
        trading_shards.sort_unstable();
        trading_shards.dedup();
        let shards = config.shard_count();
        assert_eq!(doorbells.len(), shards, "a doorbell per shard");
        assert!(
            trading_shards.iter().all(|&s| (s as usize) < shards),
            "every symbol's owner is a configured shard"
        );
        let directory = SessionDirectory::new(
            config.accounts.len(),
            config.session.max_sessions_per_account,
        );
        let replication = ShipperBoard::new(if config.replication.enabled() {
            shards
        } else {
            0
        });
        let open_orders_over_limit = config.accounts.iter().map(|_| AtomicU64::new(0)).collect();
        Shared {
            open_orders_over_limit,
            config,
            account_lookup,
            symbol_owner,
            trading_shards,
            directory,
            shutdown: ShutdownBoard::new(shards),
            telemetry: TelemetryBoard::new(shards),
            feeds: super::md::FeedExchange::new(shards, super::core::wall_clock_ns()),
            replication,
            doorbells,
            truncate_corrupt_journal: false,
            shutting_down: AtomicBool::new(false),
            fail_stop: OnceLock::new(),
        }
    }

    pub fn account_index(&self, account: AccountId) -> Option<usize> {
        let index = self.account_lookup.get(account).map(|i| i as usize);
        debug_assert!(index.is_none_or(|i| self.config.accounts[i].id == account));
        index
    }

    /// A shard's replay left `orders` open orders of the account beyond
    /// its limit (see `open_orders_over_limit`). Start-up only.
    pub fn add_open_orders_over_limit(&self, account_index: usize, orders: u64) {
        // Published by the shard's feed (a `OnceLock`), which every shard
        // waits for before it serves: relaxed is enough.
        self.open_orders_over_limit[account_index].fetch_add(orders, Ordering::Relaxed);
        debug_assert!(self.open_orders_over_limit[account_index].load(Ordering::Relaxed) >= orders);
    }

    /// Every shard's open orders of the account beyond its limit, as the
    /// journals left them (0 unless a restart lowered `max_open_orders`).
    pub fn open_orders_over_limit(&self, account_index: usize) -> u64 {
        debug_assert!(account_index < self.config.accounts.len());
        self.open_orders_over_limit[account_index].load(Ordering::Relaxed)
    }

    pub fn account(&self, index: usize) -> &AccountConfig {
        debug_assert!(index < self.config.accounts.len());
        &self.config.accounts[index]
    }

    #[inline]
    pub fn owner_of(&self, symbol: SymbolId) -> Option<usize> {
        let owner = self.symbol_owner.get(symbol).map(|s| s as usize);
        debug_assert!(owner.is_none_or(|s| s < self.config.shard_count()));
        owner
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Stops the gateway because a promise can no longer be kept (a
    /// journal sync failed): records why (the first reason wins) and begins
    /// the shutdown; sessions then end with `JournalFailure` and the
    /// process exits non-zero. Never on the hot path: it allocates.
    pub fn fail_stop(&self, why: String) {
        let _ = self.fail_stop.set(why);
        self.begin_shutdown();
        debug_assert!(self.shutting_down() && self.fail_stop_reason().is_some());
    }

    /// The SessionEnd reason a shutdown gives every connection:
    /// `JournalFailure` during a fail-stop, `Shutdown` otherwise.
    pub fn shutdown_end_reason(&self) -> crate::protocol::SessionEndReason {
        match self.fail_stop_reason() {
            Some(_) => crate::protocol::SessionEndReason::JournalFailure,
            None => crate::protocol::SessionEndReason::Shutdown,
        }
    }

    /// Why the gateway is failing-stop, if it is.
    pub fn fail_stop_reason(&self) -> Option<&str> {
        self.fail_stop.get().map(String::as_str)
    }

    /// Starts a graceful shutdown without ringing any shard's doorbell, as
    /// if every one were lost in the kernel: for the test that a parked
    /// shard learns of it all the same (`tests/gateway/shutdown_wake.rs`).
    #[doc(hidden)]
    pub fn begin_shutdown_without_doorbells(&self) {
        self.shutting_down.store(true, Ordering::Release);
        debug_assert!(self.shutting_down());
    }

    /// Starts a graceful shutdown and wakes every shard.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for doorbell in &self.doorbells {
            doorbell.force();
        }
        debug_assert!(self.shutting_down());
    }
}
