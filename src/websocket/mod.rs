//! WebSocket (RFC 6455), sans I/O and allocation-free after construction:
//! the shard's reactor feeds bytes in and writes bytes out, this module
//! decides what they mean. Used by the market-data endpoint, and meant for
//! WebSocket order entry too.
//!
//! - [`handshake`]: the HTTP upgrade (`httparse`, SHA-1, base64), path and
//!   `Origin` checks, format selection;
//! - [`frame`]: frame headers and masking;
//! - [`decoder`]: frames to messages with every protocol rule and limit;
//! - [`utf8`]: UTF-8 validation across fragments, failing fast;
//! - [`close`]: close codes and payloads;
//! - [`encode`](mod@encode): writing frames (servers' unmasked, so shared by all
//!   subscribers).

pub mod close;
pub mod decoder;
pub mod encode;
pub mod frame;
pub mod handshake;
pub mod utf8;

pub use decoder::{Decoder, Limits, Role, Step, Violation, WsError, WsEvent};
pub use frame::Opcode;
