//! The matching engine: one single-threaded, deterministic instance per
//! shard, owning the books of that shard's symbols. Same commands in, same
//! events out: no clock, no randomness, no allocation after construction.
//!
//! - `types`, `command`, `event`: the vocabulary, the inputs, the outputs.
//! - `config`: symbols, accounts, limits and capacities.
//! - `slab`, `order_index`: where resting orders live and how ids find them.
//! - `book`: price levels and their FIFOs.
//! - `risk`: per (account, symbol) exposure and pre-trade checks.
//! - `matcher`: new / cancel / replace and matching.
//! - `operator`: mass cancel, kill switch, halt, reference price, end of day.
//! - `query`, `invariants`: read-only views and the consistency check.
//! - `reconfigure`: a new config applied to a running engine (at restart,
//!   when the journal's replay reaches the config a command ran under).

pub mod book;
pub mod command;
pub mod config;
pub mod event;
mod hugepage;
pub mod id_index;
mod invariants;
pub mod matcher;
mod operator;
pub mod order_index;
mod prefetch;
pub mod query;
mod reconfigure;
pub mod risk;
pub mod slab;
pub mod types;
pub mod wire_enum;

pub use command::*;
pub use config::*;
pub use event::*;
pub use id_index::IdIndex;
pub use matcher::Engine;
pub use query::*;
pub use reconfigure::{IdChange, ReconfigureError};
pub use types::*;
