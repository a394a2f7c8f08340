//! WebSocket order entry, sans I/O: what the WebSocket transport adds to an
//! order-entry session (`docs/PROTOCOL.md`, "WebSocket transport"). The
//! session itself is the TCP one (`core/`: the same logon, sequence, rate
//! limit, journal-before-ack, reports and SessionEnd); this module only
//! decides how its bytes travel in WebSocket messages and how the
//! connection closes. `runtime/ws_trade.rs` moves the bytes.
//!
//! - In: the payloads of the client's binary messages are the session's
//!   byte stream, exactly what TCP would carry (a protocol message may
//!   span messages, a message may hold several); text messages and
//!   WebSocket rule violations end the session (`TransportError`).
//! - Out: every binary message holds one or more whole protocol messages
//!   and at most [`MAX_WS_MESSAGE_BYTES`], so a browser can parse each
//!   message on its own.
//! - Close: after `SessionEnd`, a Close frame whose code says why
//!   ([`close_code_for`]).

use std::cell::Cell;

use crate::protocol::{SessionEndReason, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::websocket::close::code;
use crate::websocket::encode::server_frame_len;
use crate::websocket::frame::{write_header, Opcode, MAX_CONTROL_PAYLOAD};
use crate::websocket::Limits;

/// Largest WebSocket message either way on an order-entry connection.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;

/// A session's decoder limits (`1009` past them).
pub const SESSION_LIMITS: Limits = Limits {
    max_frame: MAX_WS_MESSAGE_BYTES,
    max_message: MAX_WS_MESSAGE_BYTES,
};

/// Until the Logon is accepted a connection holds a small decoder, as a
/// TCP connection waiting to log on holds a small buffer: a message before
/// LogonAccepted may carry at most 4,096 bytes (the Logon and what the
/// client pipelines behind it).
pub const PRE_LOGON_LIMITS: Limits = Limits {
    max_frame: 4096,
    max_message: 4096,
};

const _: () = assert!(
    PRE_LOGON_LIMITS.max_message >= MAX_MESSAGE_LEN
        && PRE_LOGON_LIMITS.max_message <= SESSION_LIMITS.max_message,
    "a Logon fits before logon; the decoder only grows at logon"
);

/// The Close code after a SessionEnd of `reason`: 1000 for a Logout, 1001
/// for a shutdown, 1002 for a transport error without a more precise
/// code, otherwise 4100 + the reason's code (4102 IdleTimeout ... 4114
/// JournalFailure), so a client that reads only the close event still
/// learns why.
pub fn close_code_for(reason: SessionEndReason) -> u16 {
    let close = match reason {
        SessionEndReason::Logout => code::NORMAL,
        SessionEndReason::Shutdown => code::GOING_AWAY,
        SessionEndReason::TransportError => code::PROTOCOL_ERROR,
        other => 4100 + other.code(),
    };
    debug_assert!(crate::websocket::close::is_valid_received(close));
    close
}

/// Bytes [`frame_reports`] may write for `len` bytes of whole messages:
/// every message but the last carries more than `MAX_WS_MESSAGE_BYTES -
/// MAX_MESSAGE_LEN` bytes, each behind a header of at most 10.
pub fn framed_bound(len: usize) -> usize {
    let bound = len + 10 * (len / (MAX_WS_MESSAGE_BYTES - MAX_MESSAGE_LEN) + 1);
    debug_assert!(bound >= server_frame_len(len.min(MAX_WS_MESSAGE_BYTES)));
    bound
}

/// Frames `bytes` (whole protocol messages, an outbox's contents) into
/// unmasked binary messages of at most [`MAX_WS_MESSAGE_BYTES`], each
/// cut between two protocol messages, appended to `out`. `out` must have
/// room for [`framed_bound`]: nothing here allocates.
pub fn frame_reports(bytes: &[u8], out: &mut Vec<u8>) {
    assert!(
        out.capacity() - out.len() >= framed_bound(bytes.len()),
        "the writer's buffer was sized for a whole outbox"
    );
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start;
        while end < bytes.len() {
            let len = u16::from_le_bytes([bytes[end], bytes[end + 1]]) as usize;
            debug_assert!(
                (HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) && end + len <= bytes.len(),
                "an outbox holds whole messages"
            );
            if end + len - start > MAX_WS_MESSAGE_BYTES {
                break;
            }
            end += len;
        }
        debug_assert!(end > start, "one message always fits a WebSocket message");
        push_frame(Opcode::Binary, &bytes[start..end], out);
        start = end;
    }
}

/// Appends one unmasked final frame to `out` (room checked by the caller).
fn push_frame(opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    let mut header = [0u8; 14];
    let n = write_header(true, opcode, payload.len() as u64, None, &mut header);
    debug_assert_eq!(n + payload.len(), server_frame_len(payload.len()));
    debug_assert!(out.capacity() - out.len() >= n + payload.len());
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(payload);
}

/// A control frame's payload, kept by value (no allocation).
#[derive(Clone, Copy)]
pub struct ControlPayload {
    bytes: [u8; MAX_CONTROL_PAYLOAD],
    len: u8,
}

/// Bytes of the largest control frame (a pong or a close).
pub const MAX_CONTROL_FRAME: usize = 2 + MAX_CONTROL_PAYLOAD;

/// What the reader of a WebSocket session tells its writer: a ping to
/// answer, the client's Close, a broken rule. Both tasks run on the
/// shard's thread and never hold a borrow across an await: `Cell`s.
#[derive(Default)]
pub struct WsControl {
    pong: Cell<Option<ControlPayload>>,
    peer_close: Cell<Option<u16>>,
    violation: Cell<Option<u16>>,
}

impl WsControl {
    /// A ping arrived: the writer answers the latest one (RFC 6455 5.5.3
    /// lets an endpoint answer only the most recent ping).
    pub fn ping(&self, payload: &[u8]) {
        assert!(
            payload.len() <= MAX_CONTROL_PAYLOAD,
            "the decoder bounds it"
        );
        let mut bytes = [0u8; MAX_CONTROL_PAYLOAD];
        bytes[..payload.len()].copy_from_slice(payload);
        self.pong.set(Some(ControlPayload {
            bytes,
            len: payload.len() as u8,
        }));
    }

    /// Appends the pong due, if any, to `out`.
    pub fn take_pong_into(&self, out: &mut Vec<u8>) {
        debug_assert!(
            out.capacity() - out.len() >= MAX_CONTROL_FRAME,
            "room for a pong"
        );
        if let Some(p) = self.pong.take() {
            push_frame(Opcode::Pong, &p.bytes[..p.len as usize], out);
        }
    }

    /// The client sent Close (`None`: without a code).
    pub fn peer_closed(&self, their: Option<u16>) {
        debug_assert!(
            their.is_none_or(crate::websocket::close::is_valid_received),
            "the decoder checked the code"
        );
        self.peer_close.set(Some(their.unwrap_or(code::NORMAL)));
    }

    /// The client broke a transport rule; `close` says which (1002, 1003,
    /// 1007, 1009).
    pub fn broken(&self, close: u16) {
        debug_assert!(matches!(close, 1002 | 1003 | 1007 | 1009));
        self.violation.set(Some(close));
    }

    /// The Close code the writer ends with: the broken rule's, else the
    /// SessionEnd's, else the client's own code echoed (RFC 6455 5.5.1),
    /// else 1000.
    pub fn close_code(&self, reason: Option<SessionEndReason>) -> u16 {
        let close = self
            .violation
            .get()
            .or(reason.map(close_code_for))
            .or(self.peer_close.get())
            .unwrap_or(code::NORMAL);
        debug_assert!(close >= 1000);
        close
    }

    /// Appends the Close frame for `close` to `out`.
    pub fn close_frame_into(close: u16, out: &mut Vec<u8>) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let n = crate::websocket::close::write_close_payload(close, "", &mut payload);
        assert!(n == 2, "a close without a reason is its code");
        push_frame(Opcode::Close, &payload[..n], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{encode, GatewayHeartbeatMsg, WireMessage};

    #[test]
    fn reports_are_cut_between_messages_and_within_the_limit() {
        let one = GatewayHeartbeatMsg::LEN;
        let count = 3 * MAX_WS_MESSAGE_BYTES / one + 7;
        let mut bytes = vec![0u8; count * one];
        for (i, chunk) in bytes.chunks_mut(one).enumerate() {
            encode(&GatewayHeartbeatMsg::new(), i as u32 + 1, chunk).unwrap();
        }
        let mut out = Vec::with_capacity(framed_bound(bytes.len()));
        frame_reports(&bytes, &mut out);
        let mut at = 0;
        let mut payload = Vec::new();
        while at < out.len() {
            let (h, n) = crate::websocket::frame::read_header(&out[at..]).unwrap();
            assert!(h.fin && h.mask.is_none() && h.opcode == Opcode::Binary as u8);
            let len = h.payload_len as usize;
            assert!(
                len <= MAX_WS_MESSAGE_BYTES && len.is_multiple_of(one),
                "{len}"
            );
            payload.extend_from_slice(&out[at + n..at + n + len]);
            at += n + len;
        }
        assert_eq!(payload, bytes);
    }

    #[test]
    fn close_codes_name_the_reason() {
        assert_eq!(close_code_for(SessionEndReason::Logout), 1000);
        assert_eq!(close_code_for(SessionEndReason::Shutdown), 1001);
        assert_eq!(close_code_for(SessionEndReason::SequenceGap), 4108);
        assert_eq!(close_code_for(SessionEndReason::JournalFailure), 4114);
        let control = WsControl::default();
        assert_eq!(control.close_code(None), 1000);
        control.peer_closed(Some(4000));
        assert_eq!(control.close_code(None), 4000);
        assert_eq!(
            control.close_code(Some(SessionEndReason::IdleTimeout)),
            4102
        );
        control.broken(1003);
        assert_eq!(
            control.close_code(Some(SessionEndReason::TransportError)),
            1003
        );
    }
}
