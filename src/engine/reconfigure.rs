//! Applying a new [`EngineConfig`] to an engine that holds state.
//!
//! The journal records commands, and an engine's answer to a command
//! depends on its config (limits, bands, tick and lot sizes, STP defaults).
//! So a restart replays each command under the config it first ran under
//! and moves to the new config at the point the restart happened: the
//! engine must be able to take a new config in the middle of its history,
//! keeping its books, orders, positions and ids.
//!
//! What can change in place is what only later decisions read. What the
//! engine is built around cannot: the set of symbols (a book each) and
//! accounts (the owner word packs their indexes), and the capacities its
//! tables were allocated at. Those are refused with a [`ReconfigureError`]
//! naming the change, before anything is touched.

use std::fmt;

use super::config::{EngineConfig, SymbolSpec};
use super::matcher::Engine;

/// Ids present on one side of a config change only. Order does not
/// matter: the engine finds symbols and accounts by id, so a config that
/// lists the same ids in another order is the same shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdChange {
    /// In the new config only, ascending.
    pub added: Vec<u32>,
    /// In the old config only, ascending.
    pub removed: Vec<u32>,
}

/// A config change an engine cannot apply in place: it needs a fresh
/// engine, and so (at restart) a fresh journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReconfigureError {
    Symbols(IdChange),
    Accounts(IdChange),
    OrderCapacity { from: u32, to: u32 },
    MaxLevelsPerSide { from: u32, to: u32 },
}

impl fmt::Display for ReconfigureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconfigureError::Symbols(change) => write!(f, "symbols changed: {change}"),
            ReconfigureError::Accounts(change) => write!(f, "accounts changed: {change}"),
            ReconfigureError::OrderCapacity { from, to } => {
                write!(f, "engine.order_capacity changed from {from} to {to}")
            }
            ReconfigureError::MaxLevelsPerSide { from, to } => {
                write!(f, "engine.max_levels_per_side changed from {from} to {to}")
            }
        }
    }
}

impl fmt::Display for IdChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.added.is_empty(), self.removed.is_empty()) {
            (false, true) => write!(f, "added {:?}", self.added),
            (true, false) => write!(f, "removed {:?}", self.removed),
            _ => write!(f, "added {:?}, removed {:?}", self.added, self.removed),
        }
    }
}

impl std::error::Error for ReconfigureError {}

/// The ids of one side only, or `None` when both hold the same set.
fn id_change(from: impl Iterator<Item = u32>, to: impl Iterator<Item = u32>) -> Option<IdChange> {
    let mut from: Vec<u32> = from.collect();
    let mut to: Vec<u32> = to.collect();
    from.sort_unstable();
    to.sort_unstable();
    if from == to {
        return None;
    }
    let change = IdChange {
        added: to
            .iter()
            .filter(|id| from.binary_search(id).is_err())
            .copied()
            .collect(),
        removed: from
            .iter()
            .filter(|id| to.binary_search(id).is_err())
            .copied()
            .collect(),
    };
    // Ascending, as documented, and no id on both sides.
    debug_assert!(change.added.is_sorted() && change.removed.is_sorted());
    debug_assert!(change
        .added
        .iter()
        .all(|id| change.removed.binary_search(id).is_err()));
    Some(change)
}

/// The shape an engine is built around: what [`Engine::reconfigure`]
/// cannot change.
struct Shape<S, A> {
    symbols: S,
    accounts: A,
    order_capacity: u32,
    max_levels_per_side: u32,
}

fn compare<S1, A1, S2, A2>(from: Shape<S1, A1>, to: Shape<S2, A2>) -> Result<(), ReconfigureError>
where
    S1: Iterator<Item = u32>,
    A1: Iterator<Item = u32>,
    S2: Iterator<Item = u32>,
    A2: Iterator<Item = u32>,
{
    if let Some(change) = id_change(from.symbols, to.symbols) {
        return Err(ReconfigureError::Symbols(change));
    }
    if let Some(change) = id_change(from.accounts, to.accounts) {
        return Err(ReconfigureError::Accounts(change));
    }
    if from.order_capacity != to.order_capacity {
        return Err(ReconfigureError::OrderCapacity {
            from: from.order_capacity,
            to: to.order_capacity,
        });
    }
    if from.max_levels_per_side != to.max_levels_per_side {
        return Err(ReconfigureError::MaxLevelsPerSide {
            from: from.max_levels_per_side,
            to: to.max_levels_per_side,
        });
    }
    Ok(())
}

fn shape_of(
    config: &EngineConfig,
) -> Shape<impl Iterator<Item = u32> + '_, impl Iterator<Item = u32> + '_> {
    Shape {
        symbols: config.symbols.iter().map(|s| s.id),
        accounts: config.accounts.iter().map(|a| a.id),
        order_capacity: config.order_capacity,
        max_levels_per_side: config.max_levels_per_side,
    }
}

impl EngineConfig {
    /// Whether an engine built from `self` can take `to` through
    /// [`Engine::reconfigure`]; the refusal names the first change it
    /// cannot apply (symbols, accounts, then capacities).
    pub fn reconfigurable_to(&self, to: &EngineConfig) -> Result<(), ReconfigureError> {
        compare(shape_of(self), shape_of(to))
    }
}

impl Engine {
    /// Applies `config` from now on, keeping every book, order, position,
    /// kill switch, halt and id: new limits, STP defaults, tick and lot
    /// sizes and price bands. Resting orders stay as they are even where
    /// the new config would refuse them now (a price off the new tick, a
    /// position over the new limit); only later commands see the new
    /// values. The live reference price moves to the config's only if the
    /// config changes it: one set by `SetReferencePrice` survives a config
    /// change that leaves `reference_price` alone, as it survives a
    /// restart with the same config.
    ///
    /// Refuses, changing nothing, a config with other symbol or account
    /// ids or other capacities. Allocates only for that check: this runs
    /// at restarts, never per command.
    pub fn reconfigure(&mut self, config: &EngineConfig) -> Result<(), ReconfigureError> {
        let engine = Shape {
            symbols: self.books.iter().map(|b| b.symbol),
            accounts: self.accounts.iter().map(|a| a.spec.id),
            order_capacity: self.slab.capacity(),
            max_levels_per_side: self.max_levels_per_side,
        };
        compare(engine, shape_of(config))?;
        // Same id sets, so each spec has its state; a config listing an id
        // twice cannot match a set without duplicates of the same size.
        assert_eq!(
            config.symbols.len(),
            self.symbols.len(),
            "duplicate symbol id"
        );
        assert_eq!(
            config.accounts.len(),
            self.accounts.len(),
            "duplicate account id"
        );
        for spec in &config.symbols {
            assert!(spec.tick_size > 0, "symbol {}: tick_size > 0", spec.id);
            assert!(spec.lot_size > 0, "symbol {}: lot_size > 0", spec.id);
            let book = self.symbol_index(spec.id).expect("same symbol ids");
            let state = &mut self.symbols[book as usize];
            let reference_price = if spec.reference_price != state.config_reference_price {
                spec.reference_price
            } else {
                state.spec.reference_price
            };
            state.set_spec(SymbolSpec {
                reference_price,
                ..spec.clone()
            });
            state.config_reference_price = spec.reference_price;
            self.books[book as usize].set_tick_hint(spec.tick_size);
            self.set_band(book);
            let state = &self.symbols[book as usize];
            assert!(
                state.band_low <= state.band_high && state.band_low >= state.spec.tick_size,
                "band of symbol {} inside the tick grid",
                spec.id
            );
        }
        for spec in &config.accounts {
            let index = self.account_index(spec.id).expect("same account ids");
            self.accounts[index as usize].spec = spec.clone();
        }
        Ok(())
    }
}
