//! Replay on logon (docs/PROTOCOL.md 5.9): a client that reconnects asks,
//! per report stream (account, engine shard), for the reports after the
//! last number it saw. The gateway answers `ReplayStarted` with the
//! stream's current number, sends the missed reports (numbered, in order)
//! while live ones keep coming (all above `upto`), then `ReplayDone`.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::header::{msg_type, wire_message, Header, WireMessage};
use crate::engine::RejectReason;

/// Asks for the account's reports of `stream` numbered above
/// `after_report_seq` (0: from the stream's first report).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct ReplayRequestMsg {
    pub header: Header,
    /// The shard whose engine numbers the stream (a report's `stream`).
    pub stream: U32,
    pub _reserved: [u8; 4],
    /// The last report number the client has of this stream.
    pub after_report_seq: U64,
}
wire_message!(ReplayRequestMsg, msg_type::REPLAY_REQUEST, "ReplayRequest");

impl ReplayRequestMsg {
    pub fn new(stream: u32, after_report_seq: u64) -> Self {
        ReplayRequestMsg {
            header: Self::header_for(0),
            stream: U32::new(stream),
            _reserved: [0; 4],
            after_report_seq: U64::new(after_report_seq),
        }
    }
}

/// The replay is under way: reports `after_report_seq + 1 ..= upto` will
/// follow; every live report of the stream from now on is above `upto`.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct ReplayStartedMsg {
    pub header: Header,
    pub stream: U32,
    pub _reserved: [u8; 4],
    /// The stream's last report number when the request reached its engine.
    pub upto: U64,
}
wire_message!(ReplayStartedMsg, msg_type::REPLAY_STARTED, "ReplayStarted");

impl ReplayStartedMsg {
    pub fn new(stream: u32, upto: u64) -> Self {
        ReplayStartedMsg {
            header: Self::header_for(0),
            stream: U32::new(stream),
            _reserved: [0; 4],
            upto: U64::new(upto),
        }
    }
}

/// The end of a replay: every report up to `last` was sent (or the
/// request was refused: `reject_reason`).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct ReplayDoneMsg {
    pub header: Header,
    pub stream: U32,
    /// 0: replayed; else the `RejectReason` that refused or stopped it.
    pub reject_reason: U16,
    pub _reserved: [u8; 2],
    /// The last report number sent by the replay; on a refusal, the
    /// stream's current number (0 if the stream is not known).
    pub last: U64,
    /// Reports the replay sent.
    pub count: U64,
}
wire_message!(ReplayDoneMsg, msg_type::REPLAY_DONE, "ReplayDone");

impl ReplayDoneMsg {
    pub fn new(stream: u32, last: u64, count: u64, reject: Option<RejectReason>) -> Self {
        debug_assert!(
            count <= last,
            "a replay sends at most the numbers up to last"
        );
        ReplayDoneMsg {
            header: Self::header_for(0),
            stream: U32::new(stream),
            reject_reason: U16::new(reject.map_or(0, RejectReason::code)),
            _reserved: [0; 2],
            last: U64::new(last),
            count: U64::new(count),
        }
    }
}
