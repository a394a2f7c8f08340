//! Market data on a shard: the wiring between the feed model
//! (`market_data/`), its messages (`protocol/market_data/`), WebSocket
//! (`websocket/`) and the shard. I/O-free like `core/`; the tasks that move
//! the bytes are `runtime/md.rs`.
//!
//! - [`hub`]: the shard's replica feed of every symbol, its clients, their
//!   control messages, ticks and heartbeats;
//! - [`fanout`]: the feed's sink: each message encoded once per format on
//!   the shard, put in the [`backlog`], and copied by the pump (a bounded
//!   amount per loop turn) into the queue of each client that wants it;
//! - [`streams`]: per stream, the clients subscribed to it;
//! - [`heartbeat_sweep`]: each client slot's phase of the heartbeat
//!   interval, so heartbeats are spread over it, a few clients a tick;
//! - [`slot_set`]: a set of client slots (the clients a timer waits on);
//! - [`client`]: one connection: decoder, subscriptions, bounded send queue;
//! - [`send_budget`]: the bytes market data may send per loop turn, so
//!   order entry keeps its turns however many clients wait;
//! - [`turn_share`]: how many bytes a turn gives market data (pump and
//!   sends): a small share near order-entry input, a large one when quiet;
//! - [`raw`]: the raw-TCP transport (JSON lines in, binary messages out);
//! - [`counters`]: what the shard counts about its clients;
//! - [`relay`]: a follower's relay: its input from the follower's replay;
//! - [`resync`]: a stale replica's symbol state, shipped by its owner;
//! - [`exchange`]: start-up only, how each replica gets the other shards'
//!   symbols and how the shards agree on the feed epoch.

pub mod backlog;
pub mod client;
pub mod counters;
pub mod exchange;
pub mod fanout;
pub mod heartbeat_sweep;
pub mod hub;
pub mod raw;
pub mod relay;
pub mod resync;
pub mod send_budget;
pub mod slot_set;
pub mod streams;
pub mod turn_share;

pub use client::{ClientState, CloseReason, Take};
pub use counters::MdCounters;
pub use exchange::FeedExchange;
pub use hub::{largest_answer_bytes, ClientId, Handshake, Input, MdHub, NoRoom};
pub use raw::Transport;
pub use relay::{RelayMsg, RelayTap};
pub use send_budget::SendBudget;
