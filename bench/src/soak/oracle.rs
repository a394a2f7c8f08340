//! The journal-replay oracle: with the gateway down, each shard's journal
//! is replayed into a fresh engine (the same code as crash recovery) and
//! what the clients saw is checked against the events that gives.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tradsys::config::Config;
use tradsys::engine::{Engine, Event};
use tradsys::journal::{restore, shard_dir};

/// A report a client saw, reduced to what the oracle checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seen {
    Accepted {
        account: u32,
        symbol: u32,
        order_id: u64,
    },
    Fill {
        account: u32,
        symbol: u32,
        exec_id: u64,
        order_id: u64,
        qty: u64,
    },
}

/// The journal's truth at one moment.
pub struct Truth {
    /// (symbol, order_id) -> account, for every order the engines accepted.
    accepted: HashMap<(u32, u64), u32>,
    /// (symbol, exec_id, order_id) -> (account, qty), every fill side.
    fills: HashMap<(u32, u64, u64), (u32, u64)>,
    pub records: u64,
    /// Problems found in the journal itself (a fill twice).
    pub problems: Vec<String>,
}

/// Replays every shard's journal of `config` (the gateway must be down:
/// the journal's lock is taken).
pub fn replay(config_path: &Path) -> Result<Truth, String> {
    let config = Config::load(Some(config_path)).map_err(|e| e.to_string())?;
    let mut truth = Truth {
        accepted: HashMap::new(),
        fills: HashMap::new(),
        records: 0,
        problems: Vec::new(),
    };
    for shard in 0..config.shard_count() {
        let engine_config = config.engine_config(shard);
        let mut engine = Engine::new(&engine_config);
        let mut events: Vec<Event> = Vec::new();
        let dir = shard_dir(&config.journal.dir, shard as u16);
        // The recovery code itself: each command under the config it ran
        // under (the soak never changes the config, so nothing is added).
        let (writer, restored) = restore(
            &dir,
            shard as u16,
            &config.journal,
            false,
            &mut engine,
            &engine_config,
            0,
            &mut events,
        )
        .map_err(|e| format!("shard {shard}: {e}"))?;
        drop(writer);
        let report = restored.report;
        truth.records += report.records;
        for event in events {
            match event {
                Event::Accepted {
                    account,
                    symbol,
                    order_id,
                    ..
                } => {
                    let twice = truth.accepted.insert((symbol, order_id), account).is_some();
                    if twice {
                        truth.problems.push(format!(
                            "order {order_id} of symbol {symbol} accepted twice"
                        ));
                    }
                }
                Event::Fill {
                    exec_id,
                    account,
                    symbol,
                    order_id,
                    qty,
                    ..
                } => {
                    let twice = truth
                        .fills
                        .insert((symbol, exec_id, order_id), (account, qty))
                        .is_some();
                    if twice {
                        truth.problems.push(format!(
                            "fill {exec_id} of order {order_id} (symbol {symbol}) twice in the journal"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(truth)
}

impl Truth {
    /// Every report a client saw must be in the journal, for the same
    /// account (nothing acknowledged lost, no cross-account leak).
    pub fn check(&self, seen: &HashSet<Seen>) -> Vec<String> {
        let mut problems = Vec::new();
        for s in seen {
            match *s {
                Seen::Accepted {
                    account,
                    symbol,
                    order_id,
                } => match self.accepted.get(&(symbol, order_id)) {
                    None => problems.push(format!(
                        "LOST: order {order_id} of symbol {symbol} acknowledged to account {account}, not in the journal"
                    )),
                    Some(&owner) if owner != account => problems.push(format!(
                        "LEAK: account {account} saw the acceptance of account {owner}'s order {order_id}"
                    )),
                    Some(_) => {}
                },
                Seen::Fill {
                    account,
                    symbol,
                    exec_id,
                    order_id,
                    qty,
                } => match self.fills.get(&(symbol, exec_id, order_id)) {
                    None => problems.push(format!(
                        "LOST: fill {exec_id} of order {order_id} (symbol {symbol}) reported to account {account}, not in the journal"
                    )),
                    Some(&(owner, q)) if owner != account || q != qty => problems.push(format!(
                        "LEAK or MISMATCH: account {account} saw fill {exec_id} qty {qty}; journal: account {owner} qty {q}"
                    )),
                    Some(_) => {}
                },
            }
        }
        problems
    }
}
