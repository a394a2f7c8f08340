//! Every rule a configuration must satisfy, each failure naming its field.

use std::collections::HashSet;
use std::fmt;

use super::{Config, Role, SyncPolicy};
use crate::protocol::TOKEN_LEN;

/// A refused configuration: which field, and which rule it broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub rule: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config: {}: {}", self.field, self.rule)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(super) fn from_toml(e: toml::de::Error, text: &str) -> ConfigError {
        // toml names the key (unknown keys included) in its message; the
        // span gives the place.
        let field = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                let key = text[span.start.min(text.len())..span.end.min(text.len())].trim();
                format!("line {line}, column {column} (`{key}`)")
            }
            None => "document".to_string(),
        };
        ConfigError {
            field,
            rule: e.message().trim().to_string(),
        }
    }
}

fn fail(field: impl Into<String>, rule: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        field: field.into(),
        rule: rule.into(),
    })
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_placement()?;
        self.validate_engine()?;
        self.validate_session()?;
        self.validate_journal()?;
        self.validate_telemetry()?;
        self.validate_schedule()?;
        self.validate_market_data()?;
        self.replication
            .check()
            .or_else(|(field, rule)| fail(field, rule))?;
        self.validate_symbols()?;
        self.validate_accounts()
    }

    fn validate_market_data(&self) -> Result<(), ConfigError> {
        let m = &self.market_data;
        // The largest snapshot: every level of both sides in JSON.
        let snapshot = crate::shard::md::largest_answer_bytes(self.engine.max_levels_per_side);
        if m.send_budget_bytes < snapshot || m.send_budget_bytes > 1 << 30 {
            return fail(
                "market_data.send_budget_bytes",
                format!("must be {snapshot} (the largest snapshot at engine.max_levels_per_side) to 1 GiB"),
            );
        }
        if !(1..=65_535).contains(&m.max_clients_per_shard) {
            return fail("market_data.max_clients_per_shard", "must be 1 to 65535");
        }
        // Past max_clients_per_shard it has no effect (the shard's bound
        // comes first), so a small shard needs no matching change here.
        if !(1..=65_535).contains(&m.max_unsubscribed_per_ip) {
            return fail("market_data.max_unsubscribed_per_ip", "must be 1 to 65535");
        }
        if !(1..=65_535).contains(&m.max_clients_per_ip) {
            return fail("market_data.max_clients_per_ip", "must be 1 to 65535");
        }
        if !(100..=3_600_000).contains(&m.subscribe_timeout_ms) {
            return fail("market_data.subscribe_timeout_ms", "must be 100 to 3600000");
        }
        if m.control_rate_per_sec == 0 {
            return fail("market_data.control_rate_per_sec", "must be at least 1");
        }
        if m.socket_send_buffer_bytes > 1 << 30 {
            return fail(
                "market_data.socket_send_buffer_bytes",
                "must be at most 1 GiB",
            );
        }
        let echo = &m.echo_path;
        if !echo.is_empty()
            && (!echo.starts_with('/') || echo == "/md" || echo.contains(['?', ' ']))
        {
            return fail(
                "market_data.echo_path",
                "must be empty (off) or a path such as /echo, not /md",
            );
        }
        let trade = &m.order_entry_path;
        if !trade.is_empty()
            && (!trade.starts_with('/')
                || trade == "/md"
                || trade == echo
                || trade.contains(['?', ' ']))
        {
            return fail(
                "market_data.order_entry_path",
                "must be empty (off) or a path such as /trade, not /md nor the echo path",
            );
        }
        if !(4096..=1 << 30).contains(&m.echo_max_message_bytes) {
            return fail(
                "market_data.echo_max_message_bytes",
                "must be 4096 to 1 GiB",
            );
        }
        if m.control_burst == 0 {
            return fail("market_data.control_burst", "must be at least 1");
        }
        for (i, origin) in m.allowed_origins.iter().enumerate() {
            if origin.is_empty() || origin.contains(|c: char| c.is_ascii_whitespace()) {
                return fail(
                    format!("market_data.allowed_origins[{i}]"),
                    "must be an origin such as https://example.com, or *",
                );
            }
        }
        Ok(())
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.cores.is_empty() {
            return fail("server.cores", "must list at least one core");
        }
        if s.cores.len() > super::MAX_SHARDS {
            const _: () = assert!(
                super::MAX_SHARDS == 64,
                "say the bound in the message below"
            );
            return fail("server.cores", "at most 64 shards");
        }
        let mut seen = HashSet::new();
        for (i, core) in s.cores.iter().enumerate() {
            if !seen.insert(core) {
                return fail(
                    format!("server.cores[{i}]"),
                    format!("core {core} listed twice"),
                );
            }
        }
        let ports = [
            ("server.order_entry", s.order_entry),
            ("server.market_data", s.market_data),
            ("server.admin", s.admin),
        ];
        // One port on the same address, or on a wildcard and any address,
        // overlaps: with SO_REUSEPORT both binds succeed and the more
        // specific address takes its connections. (Port 0, a port the
        // kernel picks, never clashes.)
        let overlap = |a: &std::net::SocketAddr, b: &std::net::SocketAddr| {
            a.port() == b.port()
                && a.port() != 0
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        };
        for (i, (name, addr)) in ports.iter().enumerate() {
            for (other, other_addr) in &ports[i + 1..] {
                if overlap(addr, other_addr) {
                    return fail(
                        *name,
                        format!("same port as {other}, on an overlapping address"),
                    );
                }
            }
        }
        // The shard's provided buffer ring: a power of two of 64 KiB
        // buffers, 8 to 32768 (`shard::runtime::receive_buffer_count`),
        // refused rather than rounded or clamped without a word.
        let buffers = s.io_memory_bytes / (64 << 10);
        if !s.io_memory_bytes.is_multiple_of(64 << 10)
            || !buffers.is_power_of_two()
            || !(8..=32768).contains(&buffers)
        {
            return fail(
                "server.io_memory_bytes",
                "must be 65536 x a power of two from 8 to 32768 (512 KiB to 2 GiB)",
            );
        }
        if !(16..=1 << 22).contains(&s.ring_capacity) {
            return fail("server.ring_capacity", "must be between 16 and 4194304");
        }
        Ok(())
    }

    fn validate_telemetry(&self) -> Result<(), ConfigError> {
        let t = &self.telemetry;
        if !(1..=60_000).contains(&t.interval_ms) {
            return fail("telemetry.interval_ms", "must be between 1 and 60000");
        }
        if t.cycle_threshold_us == 0 {
            return fail("telemetry.cycle_threshold_us", "must be > 0");
        }
        if t.command_sample_every == 0 {
            return fail(
                "telemetry.command_sample_every",
                "must be >= 1 (1: every command)",
            );
        }
        if let Some(core) = t.admin_core {
            if self.server.cores.contains(&core) {
                return fail(
                    "telemetry.admin_core",
                    format!("core {core} is a shard core (server.cores): the admin thread runs on a housekeeping core"),
                );
            }
        }
        Ok(())
    }

    fn validate_schedule(&self) -> Result<(), ConfigError> {
        let s = &self.schedule;
        if !s.end_of_day.is_empty() && super::schedule::parse_time_of_day(&s.end_of_day).is_none() {
            return fail(
                "schedule.end_of_day",
                "must be HH:MM or HH:MM:SS (24-hour), or empty for none",
            );
        }
        if super::schedule::parse_zone(&s.zone).is_none() {
            return fail(
                "schedule.zone",
                "must be UTC or an offset such as +01:00 or -05:00",
            );
        }
        Ok(())
    }

    fn validate_engine(&self) -> Result<(), ConfigError> {
        let e = &self.engine;
        if !(1..=1 << 28).contains(&e.order_capacity) {
            return fail("engine.order_capacity", "must be between 1 and 268435456");
        }
        if !(1..=1 << 20).contains(&e.max_levels_per_side) {
            return fail(
                "engine.max_levels_per_side",
                "must be between 1 and 1048576",
            );
        }
        Ok(())
    }

    fn validate_session(&self) -> Result<(), ConfigError> {
        let s = &self.session;
        if s.min_heartbeat_interval_ms == 0 {
            return fail("session.min_heartbeat_interval_ms", "must be > 0");
        }
        if s.max_heartbeat_interval_ms < s.min_heartbeat_interval_ms {
            return fail(
                "session.max_heartbeat_interval_ms",
                "must be >= session.min_heartbeat_interval_ms",
            );
        }
        if !(s.min_heartbeat_interval_ms..=s.max_heartbeat_interval_ms)
            .contains(&s.heartbeat_interval_ms)
        {
            return fail(
                "session.heartbeat_interval_ms",
                "must lie between min_heartbeat_interval_ms and max_heartbeat_interval_ms",
            );
        }
        if s.idle_timeout_intervals < 2 {
            return fail("session.idle_timeout_intervals", "must be >= 2");
        }
        if s.logon_timeout_ms == 0 {
            return fail("session.logon_timeout_ms", "must be > 0");
        }
        if s.rate_limit_per_sec == 0 {
            return fail("session.rate_limit_per_sec", "must be > 0");
        }
        if s.rate_limit_burst == 0 {
            return fail("session.rate_limit_burst", "must be > 0");
        }
        if s.max_sessions_per_shard == 0 || s.max_sessions_per_shard > 1 << 16 {
            return fail(
                "session.max_sessions_per_shard",
                "must be between 1 and 65536",
            );
        }
        if !(1..=16).contains(&s.max_sessions_per_account) {
            return fail(
                "session.max_sessions_per_account",
                "must be between 1 and 16",
            );
        }
        if !(1..=1 << 16).contains(&s.max_prelogon_connections_per_shard) {
            return fail(
                "session.max_prelogon_connections_per_shard",
                "must be between 1 and 65536",
            );
        }
        if !(1..=s.max_prelogon_connections_per_shard).contains(&s.max_prelogon_connections_per_ip)
        {
            return fail(
                "session.max_prelogon_connections_per_ip",
                "must be between 1 and session.max_prelogon_connections_per_shard",
            );
        }
        if s.send_buffer_bytes < 4096 {
            return fail("session.send_buffer_bytes", "must be at least 4096");
        }
        Ok(())
    }

    fn validate_journal(&self) -> Result<(), ConfigError> {
        let j = &self.journal;
        if j.dir.as_os_str().is_empty() {
            return fail("journal.dir", "must not be empty");
        }
        if !(1 << 16..=1 << 34).contains(&j.segment_bytes) {
            return fail(
                "journal.segment_bytes",
                "must be between 65536 and 17179869184",
            );
        }
        if j.sync == SyncPolicy::Interval && j.sync_interval_us == 0 {
            return fail(
                "journal.sync_interval_us",
                "must be > 0 with sync = \"interval\"",
            );
        }
        Ok(())
    }

    fn validate_symbols(&self) -> Result<(), ConfigError> {
        if self.symbols.is_empty() {
            return fail("symbols", "must define at least one [[symbols]]");
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, s) in self.symbols.iter().enumerate() {
            let field = |name: &str| format!("symbols[{i}].{name}");
            if s.id == 0 {
                return fail(field("id"), "must be > 0 (0 means all symbols on the wire)");
            }
            if !ids.insert(s.id) {
                return fail(field("id"), format!("duplicate symbol id {}", s.id));
            }
            // Printable, without `"` or `\`: the name goes into JSON
            // answers (`subscribed`) as it is.
            let printable = |b: u8| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
            if s.name.is_empty() || s.name.len() > 16 || !s.name.bytes().all(printable) {
                return fail(
                    field("name"),
                    "must be 1 to 16 printable ASCII characters, without \" or \\",
                );
            }
            // Where a symbol is taken by name or by id (the admin API's
            // `symbol=`), digits alone would name another symbol's id.
            if s.name.bytes().all(|b| b.is_ascii_digit()) {
                return fail(
                    field("name"),
                    "must not be digits only (it would read as an id)",
                );
            }
            if !names.insert(&s.name) {
                return fail(field("name"), format!("duplicate symbol name {}", s.name));
            }
            if s.tick_size <= 0 {
                return fail(field("tick_size"), "must be > 0");
            }
            if s.lot_size == 0 {
                return fail(field("lot_size"), "must be > 0");
            }
            if s.reference_price <= 0 || s.reference_price % s.tick_size != 0 {
                return fail(
                    field("reference_price"),
                    "must be > 0 and a multiple of tick_size",
                );
            }
            if s.price_band_bps == 0 || s.price_band_bps > 10_000 {
                return fail(field("price_band_bps"), "must be between 1 and 10000");
            }
            if let Some(shard) = s.shard {
                if shard >= self.shard_count() {
                    return fail(
                        field("shard"),
                        format!(
                            "shard {shard} does not exist ({} shards)",
                            self.shard_count()
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn validate_accounts(&self) -> Result<(), ConfigError> {
        if self.accounts.is_empty() {
            return fail("accounts", "must define at least one [[accounts]]");
        }
        if self.accounts.len() > 1 << 16 {
            return fail("accounts", "at most 65536 accounts");
        }
        let mut ids = HashSet::new();
        // The admin endpoint knows an operator by its bearer token alone,
        // so an admin account's token shared with any other account would
        // hand the operator's powers to that account's holder. (Traders
        // may share one, as the bench configs do: a Logon names its
        // account.)
        let admin_tokens: HashSet<&str> = self
            .accounts
            .iter()
            .filter(|a| a.role == Role::Admin)
            .map(|a| a.token.as_str())
            .collect();
        let mut tokens = HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let field = |name: &str| format!("accounts[{i}].{name}");
            if a.id == 0 {
                return fail(field("id"), "must be > 0");
            }
            if !ids.insert(a.id) {
                return fail(field("id"), format!("duplicate account id {}", a.id));
            }
            if a.name.is_empty() {
                return fail(field("name"), "must not be empty");
            }
            // What a Logon can carry (docs/PROTOCOL.md): printable ASCII,
            // NUL-padded; any other byte could never be sent.
            if a.token.is_empty()
                || a.token.len() > TOKEN_LEN
                || !a.token.bytes().all(|b| (0x20..=0x7e).contains(&b))
            {
                return fail(
                    field("token"),
                    format!("must be 1 to {TOKEN_LEN} printable ASCII bytes (0x20-0x7E)"),
                );
            }
            if !tokens.insert(a.token.as_str()) && admin_tokens.contains(a.token.as_str()) {
                return fail(
                    field("token"),
                    "an admin account's token, shared with another account",
                );
            }
            if a.role != Role::Viewer && (a.max_order_qty == 0 || a.max_open_orders == 0) {
                return fail(
                    field("max_order_qty"),
                    "a trading account needs max_order_qty and max_open_orders > 0",
                );
            }
        }
        Ok(())
    }
}
