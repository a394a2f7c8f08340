//! Beyond one machine: each shard's journal shipped to NATS JetStream, and
//! followers that replay it with the recovery code into identical engines
//! (docs/OPERATIONS.md, "Replication"; ARCHITECTURE.md).
//!
//! - `tail`: reading a shard's journal from another thread, read-only.
//! - `message`: one record as a JetStream message.
//! - `nats`: the client, its runtime (a housekeeping thread's own) and the stream.
//! - `shipper`: the gateway's shipper thread.
//! - `board`: the shipper's figures for the admin endpoint.
//! - `replica`: one shard's replica: the recovery code and a local journal.
//! - `follower`: `tradsys follow`, consuming the stream into replicas.
//! - `relay`: the follower's feed relays (threads of `shard/runtime/relay.rs`).
//! - `resume`: where a restarted follower resumes each subject.
//! - `drop_copy`: every execution, per account, to a durable stream.

pub mod board;
pub mod drop_copy;
pub mod follower;
pub mod message;
pub mod nats;
pub mod relay;
pub mod replica;
pub mod resume;
pub mod shipper;
pub mod tail;

pub use board::{ShipState, ShipperBoard, ShippingSnapshot};
pub use shipper::Shipper;
