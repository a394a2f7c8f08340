//! tradsys: a thread-per-core trading gateway with a built-in matching engine.
//!
//! Read top-down, the modules follow the order path: bytes arrive on a
//! shard ([`server`], [`shard`]), are decoded by [`protocol`], checked by the
//! session and routed over the mesh ([`shard`]), written ahead to the owning
//! shard's [`journal`], and matched by [`engine`]. [`config`] describes the
//! whole, [`client`] is the bots' side, [`doctor`] checks the host.
//! [`telemetry`] is what shards measure and publish, [`admin`] the thread
//! that serves it over HTTP.

// Code health (ARCHITECTURE.md): every `unsafe` block and impl says why it
// is sound in a `// SAFETY:` comment, and an `unsafe fn` spells out its own
// unsafe operations.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
// Functions stay under clippy.toml's too-many-lines-threshold (70); the
// longer ones of today carry an allow and a TODO(issue 10), and
// tests/tidy.rs keeps that list from growing.
#![warn(clippy::too_many_lines)]

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the package version and the git commit
/// the binary was built from (`unknown` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TRADSYS_COMMIT"),
    ")"
);

pub mod admin;
pub mod client;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod journal;
pub mod market_data;
pub mod protocol;
pub mod replication;
pub mod server;
pub mod shard;
pub mod telemetry;
pub mod websocket;
