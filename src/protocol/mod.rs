//! The binary order-entry protocol spoken over TCP between trading bots and
//! the gateway. `docs/PROTOCOL.md` is the specification; this module is its
//! executable form, and `tests/protocol/layout.rs` holds the two together.
//!
//! Every message is a fixed-size little-endian `#[repr(C)]` struct with
//! alignment 1, starting with the 8-byte [`Header`]. Decoding is a bounds
//! check plus a pointer cast (zerocopy): the decoded message borrows the
//! receive buffer, nothing is copied or allocated. Decoding checks framing
//! only; whether the fields make sense (a valid side, a non-zero quantity) is
//! answered by [`convert`], whose failures are order rejects, not
//! disconnects.
//!
//! Layout, in the order bytes travel:
//! - [`header`]: the common header, message type codes, the [`WireMessage`] trait;
//! - [`client`] / [`gateway`]: one struct per message and direction;
//! - [`decode`](mod@decode): framing checks and the zero-copy views;
//! - [`convert`]: decoded client messages to engine commands (and reports
//!   back to engine events, for client libraries and tests);
//! - [`encode`](mod@encode): messages and engine events into caller-provided buffers;
//! - [`reasons`]: the protocol's own reason codes (session end, logon reject);
//! - [`queries`]: an account's orders and positions, asked after a reconnect;
//! - [`done_orders`]: its orders that reached a final state, in a window;
//! - [`replay`]: the reports a client missed, replayed after a reconnect.

pub mod client;
pub mod convert;
pub mod decode;
pub mod done_orders;
pub mod encode;
pub mod gateway;
pub mod header;
pub mod market_data;
pub mod queries;
pub mod reasons;
pub mod replay;

pub use client::*;
pub use convert::*;
pub use decode::*;
pub use done_orders::*;
pub use encode::*;
pub use gateway::*;
pub use header::*;
pub use queries::*;
pub use reasons::*;
pub use replay::*;

/// The only version this build speaks; any other value in a header is a
/// [`DecodeError::WrongVersion`].
pub const PROTOCOL_VERSION: u8 = 2;

/// Size of the common header that starts every message.
pub const HEADER_LEN: usize = 8;

/// Upper bound on a message's `length`. The largest message today is 88
/// bytes; the bound leaves room for growth while letting a receiver reject a
/// garbage length after reading 8 bytes instead of waiting for up to 64 KiB.
pub const MAX_MESSAGE_LEN: usize = 256;
