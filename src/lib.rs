//! tradsys: a thread-per-core trading gateway with a built-in matching engine.
//!
//! Read top-down, the modules follow the order path: bytes arrive and are
//! decoded by [`protocol`], commands are matched by [`engine`].

pub mod client;
pub mod config;
pub mod engine;
pub mod protocol;
pub mod server;
pub mod shard;
