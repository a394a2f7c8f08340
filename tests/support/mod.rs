//! Helpers shared by the integration test binaries (`tests/*/main.rs`),
//! each of which includes this module once as `support`. Every helper file
//! allows dead code: a binary uses only the helpers of its subsystem.

pub mod alloc_counter;
pub mod core_client;
pub mod engine_fixture;
pub mod follower;
pub mod gateway;
pub mod journal;
pub mod nats;
pub mod ports;
pub mod shards;
pub mod ws_client;
