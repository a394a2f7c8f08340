//! The one TOML configuration file: types, defaults, loading and validation.
//!
//! `configs/tradsys.toml` is compiled in as the default, so the binary runs
//! with no file at all. Fields omitted from a user file take the defaults
//! below (which a test keeps equal to the embedded file); unknown keys are
//! errors; every value is checked by [`Config::validate`] with an error that
//! names the field and the rule.

mod placement;
mod replication;
pub mod schedule;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::{AccountSpec, EngineConfig, RiskLimits, StpMode, SymbolSpec};

pub use placement::Listeners;
pub use replication::ReplicationConfig;
pub use validate::ConfigError;

/// The embedded default configuration (`configs/tradsys.toml`).
/// The most shards (`server.cores` entries) a gateway runs. Each shard
/// keeps the shards it must wake in one bit set (`shard::mesh::ShardMask`),
/// so this bound and that type are checked against each other at compile
/// time there.
pub const MAX_SHARDS: usize = 64;

pub const DEFAULT_TOML: &str = include_str!("../../configs/tradsys.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub engine: EngineLimits,
    pub session: SessionConfig,
    pub journal: JournalConfig,
    pub telemetry: TelemetryConfig,
    pub schedule: schedule::ScheduleConfig,
    pub market_data: MarketDataConfig,
    pub replication: ReplicationConfig,
    pub symbols: Vec<SymbolConfig>,
    pub accounts: Vec<AccountConfig>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdlePolicy {
    Spin,
    Park,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub order_entry: SocketAddr,
    pub market_data: SocketAddr,
    pub admin: SocketAddr,
    /// The shards (indices into `cores`) that bind `order_entry`; omitted:
    /// every shard (`placement.rs`).
    pub order_entry_shards: Option<Vec<usize>>,
    /// The shards that bind `market_data`; omitted: every shard.
    pub market_data_shards: Option<Vec<usize>>,
    pub cores: Vec<usize>,
    pub idle: IdlePolicy,
    pub io_memory_bytes: usize,
    pub ring_capacity: usize,
    pub shutdown_grace_ms: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineLimits {
    pub order_capacity: u32,
    pub max_levels_per_side: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub heartbeat_interval_ms: u32,
    pub min_heartbeat_interval_ms: u32,
    pub max_heartbeat_interval_ms: u32,
    pub idle_timeout_intervals: u32,
    pub logon_timeout_ms: u64,
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    pub max_sessions_per_shard: usize,
    pub max_sessions_per_account: usize,
    /// Connections not logged on yet that a shard holds at once; more are
    /// refused at accept. They take no session slot.
    pub max_prelogon_connections_per_shard: usize,
    /// Of those, from one peer IP address (on each shard).
    pub max_prelogon_connections_per_ip: usize,
    pub send_buffer_bytes: usize,
    pub socket_send_buffer_bytes: usize,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SyncPolicy {
    None,
    Interval,
    Every,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    pub dir: PathBuf,
    pub sync: SyncPolicy,
    pub sync_interval_us: u64,
    pub segment_bytes: u64,
}

/// Latency capture and the admin thread (docs/OPERATIONS.md, "Admin
/// endpoints").
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Per-stage latency histograms on every shard (always on by default;
    /// off only to measure what capture costs).
    pub latency_capture: bool,
    /// How often each shard swaps its histograms and hands them over.
    pub interval_ms: u64,
    /// Shard loop turns longer than this are counted.
    pub cycle_threshold_us: u64,
    /// The per-command stages (intake, journal, engine, mesh hop) of a
    /// socket read that brings several commands are recorded for one
    /// command in N, at random; 1 records every command. A read with one
    /// command (one order in flight) is always recorded.
    pub command_sample_every: u32,
    /// The interval log file (HdrHistogram log format), relative to
    /// `journal.dir` unless absolute; empty: no log.
    pub interval_log: PathBuf,
    /// The housekeeping core of the admin thread; never a shard core.
    /// Omitted: every online core that is not a shard's (all of them if
    /// the shards take every core, with a warning).
    pub admin_core: Option<usize>,
}

/// The WebSocket market-data endpoint (`docs/MARKET_DATA.md`; listens on
/// `server.market_data`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MarketDataConfig {
    /// `Origin` values a browser may connect from; `"*"` allows any. A
    /// request without `Origin` (not a browser) is always allowed.
    pub allowed_origins: Vec<String>,
    /// WebSocket connections each shard holds at once (handshaking ones
    /// included); more are refused with HTTP 503.
    pub max_clients_per_shard: usize,
    /// Connections from one peer address a shard holds at once before
    /// they have subscribed (handshaking, or upgraded with no
    /// subscription yet); more from that address are refused with HTTP
    /// 429. Subscribed clients do not count: the bound is on connections
    /// that hold a slot without taking the feed, so one address cannot
    /// fill every slot of a shard with silent connections.
    pub max_unsubscribed_per_ip: usize,
    /// Connections from one peer address a shard holds at once, subscribed
    /// or not; more from that address are refused with HTTP 429. So one
    /// address that subscribes each of its connections cannot fill every
    /// slot of a shard either.
    pub max_clients_per_ip: usize,
    /// Bytes a client may have queued and unsent on the shard; past it the
    /// client is closed with 4001 (slow consumer). Must hold the largest
    /// snapshot a client can ask for.
    pub send_budget_bytes: usize,
    /// The upgrade request, then a first subscription, must come within
    /// this; otherwise close 1008.
    pub subscribe_timeout_ms: u64,
    /// Token bucket per connection for control messages; past it close 1008.
    pub control_rate_per_sec: u32,
    pub control_burst: u32,
    /// SO_SNDBUF of each market-data socket; 0 keeps the kernel's
    /// autotuning. Smaller: a client that stopped reading reaches its send
    /// budget (and is closed) sooner, and holds less kernel memory.
    pub socket_send_buffer_bytes: usize,
    /// A conformance-test aid, never for production: the path of an echo
    /// endpoint beside `/md` on the same listener (e.g. `"/echo"`; empty,
    /// the default: off). A client upgraded there is sent back every text
    /// and binary message it sends (Autobahn|Testsuite's fuzzing client
    /// needs an echo server), with no subscribe timeout and no control
    /// rate limit (`docs/MARKET_DATA.md`, "Echo path").
    pub echo_path: String,
    /// An echo client's largest frame and message, and its send budget
    /// (both allocated at its handshake).
    pub echo_max_message_bytes: usize,
    /// The path of WebSocket order entry on this listener (`"/trade"` by
    /// default; empty: off): binary messages carry the order-entry protocol
    /// of `docs/PROTOCOL.md` ("WebSocket transport"), one session per
    /// connection, under the `[session]` rules and bounds.
    pub order_entry_path: String,
}

impl Default for MarketDataConfig {
    fn default() -> MarketDataConfig {
        MarketDataConfig {
            allowed_origins: vec!["*".to_string()],
            max_clients_per_shard: 1_024,
            max_unsubscribed_per_ip: 32,
            max_clients_per_ip: 256,
            send_budget_bytes: 1 << 20,
            subscribe_timeout_ms: 10_000,
            control_rate_per_sec: 20,
            control_burst: 40,
            socket_send_buffer_bytes: 0,
            echo_path: String::new(),
            echo_max_message_bytes: (16 << 20) + (64 << 10),
            order_entry_path: "/trade".to_string(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    pub id: u32,
    pub name: String,
    pub tick_size: i64,
    pub lot_size: u64,
    pub reference_price: i64,
    pub price_band_bps: u32,
    #[serde(default)]
    pub shard: Option<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Trader,
    Viewer,
    Admin,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StpConfig {
    CancelResting,
    CancelIncoming,
    CancelBoth,
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub id: u32,
    pub name: String,
    pub token: String,
    pub role: Role,
    #[serde(default)]
    pub cancel_on_disconnect: bool,
    #[serde(default = "default_stp")]
    pub default_stp: StpConfig,
    pub max_order_qty: u64,
    pub max_order_notional: u64,
    pub max_open_orders: u32,
    pub max_position: u64,
}

/// Tokens are secrets: they never appear in `Debug` output (and so in logs).
impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .field("cancel_on_disconnect", &self.cancel_on_disconnect)
            .field("default_stp", &self.default_stp)
            .finish_non_exhaustive()
    }
}

fn default_stp() -> StpConfig {
    StpConfig::CancelResting
}

impl Default for Config {
    /// Sections default as below; symbols and accounts default to none (a
    /// config with none is refused by `validate`).
    fn default() -> Config {
        Config {
            server: ServerConfig::default(),
            engine: EngineLimits::default(),
            session: SessionConfig::default(),
            journal: JournalConfig::default(),
            telemetry: TelemetryConfig::default(),
            schedule: schedule::ScheduleConfig::default(),
            market_data: MarketDataConfig::default(),
            replication: ReplicationConfig::default(),
            symbols: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            order_entry: SocketAddr::from(([127, 0, 0, 1], 7001)),
            market_data: SocketAddr::from(([127, 0, 0, 1], 7002)),
            admin: SocketAddr::from(([127, 0, 0, 1], 9090)),
            order_entry_shards: None,
            market_data_shards: None,
            cores: vec![0],
            idle: IdlePolicy::Spin,
            io_memory_bytes: 4 << 20,
            ring_capacity: 16_384,
            shutdown_grace_ms: 2_000,
        }
    }
}

impl Default for EngineLimits {
    fn default() -> EngineLimits {
        EngineLimits {
            order_capacity: 1 << 20,
            max_levels_per_side: 4_096,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            heartbeat_interval_ms: 1_000,
            min_heartbeat_interval_ms: 100,
            max_heartbeat_interval_ms: 30_000,
            idle_timeout_intervals: 3,
            logon_timeout_ms: 5_000,
            rate_limit_per_sec: 200_000,
            rate_limit_burst: 2_000,
            max_sessions_per_shard: 256,
            max_sessions_per_account: 4,
            max_prelogon_connections_per_shard: 1_024,
            max_prelogon_connections_per_ip: 32,
            send_buffer_bytes: 1 << 20,
            socket_send_buffer_bytes: 0,
        }
    }
}

impl Default for JournalConfig {
    fn default() -> JournalConfig {
        JournalConfig {
            dir: PathBuf::from("./data"),
            sync: SyncPolicy::None,
            sync_interval_us: 1_000,
            segment_bytes: 64 << 20,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> TelemetryConfig {
        TelemetryConfig {
            latency_capture: true,
            interval_ms: 1_000,
            cycle_threshold_us: 1_000,
            command_sample_every: 16,
            interval_log: PathBuf::from("latency.hlog"),
            admin_core: None,
        }
    }
}

impl Config {
    /// Parses and validates a TOML document.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::from_toml(e, text))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a file; the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => Config::parse(DEFAULT_TOML),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    field: path.display().to_string(),
                    rule: format!("cannot be read: {e}"),
                })?;
                Config::parse(&text)
            }
        }
    }

    pub fn shard_count(&self) -> usize {
        self.server.cores.len()
    }

    /// The shard that owns a symbol.
    pub fn owner_shard(&self, symbol: &SymbolConfig) -> usize {
        symbol
            .shard
            .unwrap_or(symbol.id as usize % self.shard_count())
    }

    /// The engine configuration of one shard: its symbols, every account.
    pub fn engine_config(&self, shard: usize) -> EngineConfig {
        EngineConfig {
            symbols: self
                .symbols
                .iter()
                .filter(|s| self.owner_shard(s) == shard)
                .map(|s| SymbolSpec {
                    id: s.id,
                    tick_size: s.tick_size,
                    lot_size: s.lot_size,
                    reference_price: s.reference_price,
                    price_band_bps: s.price_band_bps,
                })
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|a| AccountSpec {
                    id: a.id,
                    limits: RiskLimits {
                        max_order_qty: a.max_order_qty,
                        max_order_notional: a.max_order_notional as u128,
                        max_open_orders: a.max_open_orders,
                        max_position: a.max_position,
                    },
                    default_stp: match a.default_stp {
                        StpConfig::CancelResting => StpMode::CancelResting,
                        StpConfig::CancelIncoming => StpMode::CancelIncoming,
                        StpConfig::CancelBoth => StpMode::CancelBoth,
                    },
                })
                .collect(),
            order_capacity: self.engine.order_capacity,
            max_levels_per_side: self.engine.max_levels_per_side,
        }
    }
}
