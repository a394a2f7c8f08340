//! Close codes (RFC 6455 section 7.4) and close frame payloads: which codes
//! a peer may send, the codes this server sends and why, and reading and
//! writing the payload (a 2-byte big-endian code, then a UTF-8 reason).

use super::utf8::Utf8Validator;

/// The codes the gateway sends (`docs/MARKET_DATA.md`, "Close codes").
pub mod code {
    /// Normal closure (an answer to the client's close, or a shutdown).
    pub const NORMAL: u16 = 1000;
    /// The gateway is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame broke RFC 6455 (masking, opcode, reserved bits, fragmentation,
    /// control frame rules, close payload).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Text that is not UTF-8 (or a close reason that is not).
    /// A data type the endpoint does not take (a text message where only
    /// binary is spoken: WebSocket order entry).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A policy was broken (no subscription in time, control messages too fast).
    pub const POLICY: u16 = 1008;
    /// A frame or message above the size limits.
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Application code: the client fell behind its send budget (slow consumer).
    pub const SLOW_CONSUMER: u16 = 4001;
    /// Application code: the shard's copy of a subscribed symbol fell
    /// behind its owner shard and was resynced; resubscribe for a fresh
    /// snapshot.
    pub const FEED_RESYNC: u16 = 4002;
}

/// Whether a peer may put `code` in a close frame: 1000-1003, 1007-1014
/// (registered), 3000-4999 (registered and private). 1004-1006 and 1015 are
/// reserved for local use and must never be sent.
pub fn is_valid_received(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close payload that breaks section 5.5.1 / 7.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosePayloadError {
    /// One byte: a code needs two.
    Truncated,
    /// A code no peer may send.
    BadCode,
    /// A reason that is not UTF-8 (close code 1007).
    BadReason,
}

/// Reads a received close payload: `None` code for an empty payload.
pub fn read_close(payload: &[u8]) -> Result<(Option<u16>, &[u8]), ClosePayloadError> {
    match payload {
        [] => Ok((None, payload)),
        [_] => Err(ClosePayloadError::Truncated),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_received(code) {
                return Err(ClosePayloadError::BadCode);
            }
            let mut utf8 = Utf8Validator::default();
            utf8.feed(reason)
                .and_then(|_| utf8.finish())
                .map_err(|_| ClosePayloadError::BadReason)?;
            Ok((Some(code), reason))
        }
    }
}

/// Writes a close payload (code, then as much of `reason` as fits the
/// 125-byte control frame limit, cut at a character boundary).
pub fn write_close_payload(
    code: u16,
    reason: &str,
    out: &mut [u8; super::frame::MAX_CONTROL_PAYLOAD],
) -> usize {
    out[..2].copy_from_slice(&code.to_be_bytes());
    let mut keep = reason.len().min(out.len() - 2);
    while !reason.is_char_boundary(keep) {
        keep -= 1;
    }
    out[2..2 + keep].copy_from_slice(&reason.as_bytes()[..keep]);
    2 + keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_codes_follow_section_7_4() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            assert!(is_valid_received(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_received(code), "{code}");
        }
    }

    #[test]
    fn payloads_read_and_write() {
        assert_eq!(read_close(&[]), Ok((None, &[][..])));
        assert_eq!(read_close(&[3]), Err(ClosePayloadError::Truncated));
        assert_eq!(
            read_close(&[0x03, 0xE8, b'o', b'k']),
            Ok((Some(1000), &b"ok"[..]))
        );
        assert_eq!(read_close(&[0x03, 0xED]), Err(ClosePayloadError::BadCode));
        assert_eq!(
            read_close(&[0x03, 0xE8, 0xFF]),
            Err(ClosePayloadError::BadReason)
        );
        let mut out = [0u8; 125];
        let long = "é".repeat(100);
        let n = write_close_payload(code::TOO_BIG, &long, &mut out);
        assert!(n <= 125);
        assert_eq!(read_close(&out[..n]).unwrap().0, Some(1009));
    }
}
