//! The matching engine: one single-threaded, deterministic instance per
//! shard, owning the books of that shard's symbols. Same commands in, same
//! events out: no clock, no randomness, no allocation after construction.
//!
//! - `types`, `command`, `event`: the vocabulary, the inputs, the outputs.
//! - `config`: symbols, accounts, limits and capacities.
//! - `slab`, `order_index`: where resting orders live and how ids find them.
//! - `book`: price levels and their FIFOs.
//! - `risk`: per (account, symbol) exposure and pre-trade checks.
//! - `account_links`: the links of each (account, symbol)'s order list.
//! - `matcher`: new / cancel / replace and matching.
//! - `operator`: mass cancel, kill switch, halt, reference price, end of day.
//! - `query`, `invariants`: read-only views and the consistency check.
//! - `client_index`, `account_query`: an account's orders by its own client
//!   order ids, its open orders and positions a page at a time.
//! - `done_orders`: the last orders that reached a final state, with their
//!   fills' notional (the notional of resting orders is kept per slot).
//! - `report_seq`: the number of each order report in its account's stream.
//! - `reconfigure`: a new config applied to a running engine (at restart,
//!   when the journal's replay reaches the config a command ran under).
//!
//! Assertions: every function checks its pre- and postconditions where
//! the invariant lives (slab and level links, level totals, the index at
//! the point of change, open quantities). On the per-command path (new,
//! cancel, replace, matching) those checks are `debug_assert!`: as
//! `assert!` they added about 12% more instructions per command and
//! measurably slowed `tradsys-bench engine` (issue 10's figures), so the
//! property tests and every debug test run them, and release builds keep
//! only the ones that guard silent corruption at no measurable cost: the
//! index size against the live orders after every command, a double
//! free, open quantity going below zero, and the capacity checks. Checks
//! that walk a level, a side or every order are debug-only wherever they
//! are (`check_level`, `check_no_day_orders`), and `check_invariants`
//! walks everything on demand. Commands off that path (constructors,
//! operator commands, reconfigure) assert in release builds too.

mod account_links;
pub mod account_query;
pub mod book;
pub mod client_index;
pub mod command;
pub mod config;
mod digest;
pub mod divisor;
pub mod done_orders;
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
mod report_seq;
pub mod risk;
pub mod slab;
mod slot_table;
pub mod types;
pub mod wire_enum;

pub use account_query::PageCursor;
pub use command::*;
pub use config::*;
pub use done_orders::{DoneOrder, DONE_ORDERS_KEPT};
pub use event::*;
pub use id_index::IdIndex;
pub use matcher::Engine;
pub use query::*;
pub use reconfigure::{IdChange, ReconfigureError};
pub use types::*;
