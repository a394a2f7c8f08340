//! The market-data protocol: binary messages (fixed-layout little-endian,
//! like order entry), their `json` rendering, and the JSON control
//! messages clients send. `docs/MARKET_DATA.md` is the specification;
//! `tests/market_data/protocol_doc.rs` holds the two together.
//!
//! - [`messages`]: header, message structs, level entries, codes and flags;
//! - [`encode`](mod@encode) / [`decode`](mod@decode): binary out and in;
//! - [`json_out`], [`json`]: the JSON rendering;
//! - [`json_scan`], [`control`]: reading `subscribe` / `unsubscribe`;
//! - [`answers`]: acks and errors;
//! - [`requests`]: a connection's subscriptions and what a request does to them.

pub mod answers;
pub mod control;
pub mod decode;
pub mod encode;
pub mod json;
pub mod json_out;
pub mod json_scan;
pub mod messages;
pub mod requests;

pub use answers::*;
pub use control::*;
pub use decode::*;
pub use encode::*;
pub use json::*;
pub use messages::*;
pub use requests::*;
