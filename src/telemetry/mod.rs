//! Latency capture and the numbers a shard publishes for the admin thread.
//!
//! Each shard records per-stage latencies into histograms it owns
//! (`recorder`), swaps them on its own interval and hands the full ones to
//! the admin thread over an rtrb ring, taking recycled ones back over
//! another (`link`): no lock, no allocation and no waiting on the shard. Its
//! counters are published into a block of atomics only it writes (`board`).
//!
//! - `stage`: the stages measured, with their names.
//! - `clock`: the timestamp source and what it costs.
//! - `histogram`: the one shape every latency histogram has.
//! - `link`: the two rings between a shard and the admin thread.
//! - `recorder`: the shard's active histograms and the swap.
//! - `board`: per-shard published counters and the readiness flags.
//! - `market_link`: the market-state pictures a shard paints for the
//!   admin thread, on request.

pub mod board;
pub mod clock;
pub mod histogram;
pub mod link;
pub mod market_link;
pub mod recorder;
pub mod stage;

pub use board::{ShardBoard, TelemetryBoard};
pub use link::{AdminLink, Interval, ShardLink};
pub use market_link::{MarketAdminLink, MarketShardLink};
pub use recorder::StageRecorder;
pub use stage::{Stage, STAGE_COUNT};
