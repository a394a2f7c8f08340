//! Where the `scaling` bench's symbols and sessions live. Symbols: the
//! gateway config is rewritten to N shards with the same number of
//! symbols on each (`symbols[].shard`). Sessions: the kernel deals each
//! connection to a shard (`SO_REUSEPORT`), so the bench does not guess
//! where one landed: it logs on one connection at a time and sees which
//! shard's `sessions_opened` counter rose in `/stats`, and keeps
//! connecting until every shard has the sessions it wants.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::admin_http;
use crate::conn::Conn;

/// Symbols each shard owns: two books per shard whatever N, so a shard's
/// engine has the same work at every N.
pub const SYMBOLS_PER_SHARD: u32 = 2;
/// Trader accounts in the rewritten config, one per session ever logged
/// on in one gateway's life (a session kept for a run, or one that landed
/// on a shard that had enough): two sessions never share an account, so
/// no session gets another's reports (the gateway sends an account's
/// reports to all its sessions).
pub const ACCOUNTS: u32 = 256;
/// The admin account's token in the rewritten config (for
/// `POST /admin/latency-reset`).
pub const ADMIN_TOKEN: &str = "scaling-admin-token";
const ADMIN_ACCOUNT: u32 = 9_999;

/// The symbol ids shard `shard` of `shards` owns in the rewritten config.
pub fn owned_by(shard: usize, shards: usize) -> Vec<u32> {
    assert!(shard < shards, "shard {shard} of {shards}");
    (1..=SYMBOLS_PER_SHARD * shards as u32)
        .filter(|&id| owner(id, shards) == shard)
        .collect()
}

/// Symbol `id`'s owner: dealt round-robin from shard 0.
fn owner(id: u32, shards: usize) -> usize {
    assert!(id >= 1, "symbol ids start at 1");
    (id as usize - 1) % shards
}

/// The shard whose symbols a session on `shard` trades in the cross-shard
/// runs: the next one, so every command crosses exactly one ring and every
/// engine still serves the same share.
pub fn other_shard(shard: usize, shards: usize) -> usize {
    assert!(shards >= 2, "a cross-shard hop needs two shards");
    (shard + 1) % shards
}

/// `config` (TOML) for `shards` shards on cores 0..shards with `idle`,
/// every port ephemeral (other benches may hold the configured ones),
/// 100 ms latency intervals (a phase's stage figures reach the admin
/// thread soon after it), `SYMBOLS_PER_SHARD * shards` symbols shaped
/// like its first, [`ACCOUNTS`] traders shaped like its first account,
/// and an admin account.
pub fn with_shards(config: &str, shards: usize, idle: &str) -> String {
    assert!(shards >= 1, "at least one shard");
    let mut table: toml::Table = config.parse().expect("the gateway config is TOML");
    let server = table["server"].as_table_mut().expect("[server]");
    let cores: Vec<toml::Value> = (0..shards as i64).map(toml::Value::Integer).collect();
    server.insert("cores".into(), cores.into());
    server.insert("idle".into(), idle.into());
    for port in ["order_entry", "market_data", "admin"] {
        server.insert(port.into(), "127.0.0.1:0".into());
    }
    let telemetry = table
        .entry("telemetry")
        .or_insert_with(|| toml::Table::new().into());
    let telemetry = telemetry.as_table_mut().expect("[telemetry]");
    telemetry.insert("interval_ms".into(), 100.into());
    let symbol = first(&table, "symbols");
    let symbols: Vec<toml::Value> = (1..=SYMBOLS_PER_SHARD * shards as u32)
        .map(|id| {
            let mut s = symbol.clone();
            s.insert("id".into(), i64::from(id).into());
            s.insert("name".into(), format!("SCALE-{id}").into());
            s.insert("shard".into(), (owner(id, shards) as i64).into());
            s.into()
        })
        .collect();
    table.insert("symbols".into(), symbols.into());
    let account = first(&table, "accounts");
    let mut accounts: Vec<toml::Value> = (1..=ACCOUNTS)
        .map(|id| {
            let mut a = account.clone();
            a.insert("id".into(), i64::from(id).into());
            a.insert("name".into(), format!("scaling-{id}").into());
            a.insert("role".into(), "trader".into());
            a.into()
        })
        .collect();
    let mut admin = account;
    admin.insert("id".into(), i64::from(ADMIN_ACCOUNT).into());
    admin.insert("name".into(), "scaling-admin".into());
    admin.insert("token".into(), ADMIN_TOKEN.into());
    admin.insert("role".into(), "admin".into());
    accounts.push(admin.into());
    table.insert("accounts".into(), accounts.into());
    toml::to_string(&table).expect("a TOML table prints")
}

/// The first `[[name]]` entry of `table`, the template for the rest.
fn first(table: &toml::Table, name: &str) -> toml::Table {
    table[name]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|v| v.as_table())
        .cloned()
        .unwrap_or_else(|| panic!("the gateway config has no [[{name}]]"))
}

/// The one shard whose count rose by one between two readings of every
/// shard's `sessions_opened`, all others unchanged; `None` if the counts
/// say anything else (not yet published, or someone else logged on).
pub fn landed_on(before: &[u64], after: &[u64]) -> Option<usize> {
    assert_eq!(before.len(), after.len(), "the same shards");
    let mut rose = None;
    for (shard, (b, a)) in before.iter().zip(after).enumerate() {
        match a.checked_sub(*b)? {
            0 => {}
            1 if rose.is_none() => rose = Some(shard),
            _ => return None,
        }
    }
    rose
}

/// Logs sessions on to one gateway and sorts them by shard. Hands out
/// each account once (see [`ACCOUNTS`]).
pub struct Placer {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub token: String,
    next_account: u32,
}

/// A session on a known shard, and its account.
pub struct Landed {
    pub conn: Conn,
    pub account: u32,
    pub shard: usize,
}

impl Placer {
    pub fn new(addr: SocketAddr, admin: SocketAddr, token: &str) -> Placer {
        Placer {
            addr,
            admin,
            token: token.into(),
            next_account: 1,
        }
    }

    /// Logs on one connection and finds its shard.
    fn one(&mut self) -> Landed {
        let account = self.next_account;
        assert!(
            account <= ACCOUNTS,
            "all {ACCOUNTS} accounts used in one gateway's life"
        );
        self.next_account += 1;
        let before = admin_http::counter(&admin_http::stats(self.admin), "sessions_opened");
        let conn = Conn::logon(&self.addr.to_string(), account, &self.token)
            .unwrap_or_else(|e| panic!("logon as account {account} at {}: {e}", self.addr));
        // The shard publishes its counters on its tick (milliseconds).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let after = admin_http::counter(&admin_http::stats(self.admin), "sessions_opened");
            if let Some(shard) = landed_on(&before, &after) {
                return Landed {
                    conn,
                    account,
                    shard,
                };
            }
            assert!(
                Instant::now() < deadline,
                "no shard counted account {account}'s logon in 5 s ({before:?} -> {after:?})"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Logs on until shard `s` has `wanted[s]` sessions for every `s`;
    /// the sessions that landed where no more were wanted are logged out.
    /// Returns the kept ones, by shard.
    pub fn place(&mut self, wanted: &[usize]) -> Vec<Vec<Landed>> {
        let needed: usize = wanted.iter().sum();
        assert!(needed > 0, "place at least one session");
        let mut kept: Vec<Vec<Landed>> = wanted.iter().map(|_| Vec::new()).collect();
        let mut spare = Vec::new();
        // The kernel's choice is a hash of the connection's addresses: 32
        // tries per session is far past what a fair deal needs.
        for _ in 0..needed * 32 {
            if kept.iter().zip(wanted).all(|(k, w)| k.len() >= *w) {
                break;
            }
            let landed = self.one();
            if kept[landed.shard].len() < wanted[landed.shard] {
                kept[landed.shard].push(landed);
            } else {
                spare.push(landed);
            }
        }
        for landed in spare {
            landed.conn.logout();
        }
        assert!(
            kept.iter().zip(wanted).all(|(k, w)| k.len() == *w),
            "the kernel put no connection on some shard in {} tries",
            needed * 32
        );
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench_config() -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/bench.toml"),
        )
        .unwrap()
    }

    #[test]
    fn the_config_is_rewritten_to_n_shards_with_the_same_symbols_on_each() {
        for shards in [1, 2, 3] {
            let text = with_shards(&bench_config(), shards, "park");
            let config = tradsys::config::Config::parse(&text).unwrap();
            assert_eq!(config.server.cores, (0..shards).collect::<Vec<_>>());
            assert_eq!(config.server.order_entry.port(), 0, "ephemeral ports");
            assert_eq!(config.telemetry.interval_ms, 100);
            for shard in 0..shards {
                let own = owned_by(shard, shards);
                assert_eq!(own.len(), SYMBOLS_PER_SHARD as usize);
                for id in own {
                    let symbol = config.symbols.iter().find(|s| s.id == id).unwrap();
                    assert_eq!(symbol.shard, Some(shard), "symbol {id}");
                    assert_eq!(symbol.reference_price, 5_000_000, "shaped like the first");
                }
            }
            assert_eq!(config.symbols.len(), SYMBOLS_PER_SHARD as usize * shards);
            let traders = config.accounts.iter().filter(|a| a.token == "bench-token");
            assert_eq!(traders.count(), ACCOUNTS as usize);
            assert!(config
                .accounts
                .iter()
                .any(|a| a.token == ADMIN_TOKEN && a.id == ADMIN_ACCOUNT));
        }
    }

    #[test]
    fn cross_shard_sessions_trade_on_the_next_shard() {
        assert_eq!(other_shard(0, 2), 1);
        assert_eq!(other_shard(1, 2), 0);
        assert_eq!(other_shard(2, 3), 0);
        assert_eq!(owned_by(0, 2), vec![1, 3]);
        assert_eq!(owned_by(1, 2), vec![2, 4]);
        assert_eq!(owned_by(0, 1), vec![1, 2]);
    }

    #[test]
    fn a_session_landed_where_exactly_one_shard_counted_one_more_logon() {
        assert_eq!(landed_on(&[3, 5], &[3, 6]), Some(1));
        assert_eq!(landed_on(&[0], &[1]), Some(0));
        assert_eq!(landed_on(&[3, 5], &[3, 5]), None, "not yet published");
        assert_eq!(landed_on(&[3, 5], &[4, 6]), None, "two logons");
        assert_eq!(landed_on(&[3, 5], &[5, 5]), None, "two on one shard");
        assert_eq!(landed_on(&[3, 5], &[2, 6]), None, "a counter went back");
    }
}
