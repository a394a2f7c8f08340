//! Market data over raw TCP, for co-located programs that have no
//! WebSocket stack (`docs/MARKET_DATA.md`, "Raw TCP"): on the same port, a
//! connection whose first byte is `{` instead of an HTTP request. The
//! client sends the same JSON control messages, one per line; the gateway
//! sends its answers as JSON lines and its data as the binary messages
//! back to back, delimited by their own `length`. A reader tells them
//! apart by the first byte: `{` starts a line, while a binary message
//! starts with its length, a multiple of 8, whose low byte is never `{`
//! (0x7B, odd).

use crate::protocol::market_data::MAX_CONTROL_LEN;

/// How a client is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    RawTcp,
    /// A WebSocket client of `market_data.echo_path` (a conformance-test
    /// aid): its messages are sent back, it subscribes to nothing.
    Echo,
}

/// Collects a raw client's bytes into lines of at most
/// [`MAX_CONTROL_LEN`] bytes (allocated once, at the connection).
pub struct LineBuf {
    line: Vec<u8>,
}

/// A line longer than [`MAX_CONTROL_LEN`]: the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineTooLong;

impl Default for LineBuf {
    fn default() -> LineBuf {
        LineBuf {
            line: Vec::with_capacity(MAX_CONTROL_LEN + 1),
        }
    }
}

impl LineBuf {
    /// Takes bytes up to and including the next `\n`: returns how many it
    /// took and whether a line is complete ([`line`](Self::line)).
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), LineTooLong> {
        let (take, complete) = match input.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (input.len(), false),
        };
        let body = if complete { take - 1 } else { take };
        // Room for the `\r` of a CRLF line, which is not the line's: one
        // byte past the bound is allowed while it is a `\r` (the line's
        // end may be in the next read).
        if self.line.len() + body > MAX_CONTROL_LEN + 1 {
            return Err(LineTooLong);
        }
        self.line.extend_from_slice(&input[..body]);
        if self.line.len() > MAX_CONTROL_LEN && self.line.last() != Some(&b'\r') {
            return Err(LineTooLong);
        }
        debug_assert!(self.line.len() <= MAX_CONTROL_LEN + 1);
        Ok((take, complete))
    }

    /// The complete line (without `\n` and a `\r` before it).
    pub fn line(&self) -> &[u8] {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        debug_assert!(line.len() <= MAX_CONTROL_LEN);
        line
    }

    /// Starts the next line.
    pub fn clear(&mut self) {
        self.line.clear();
        debug_assert!(self.line.capacity() > MAX_CONTROL_LEN, "the buffer is kept");
    }
}

/// The last line of a raw connection the gateway closes: the close code
/// and reason a WebSocket client would get in its close frame. Returns the
/// bytes written (`out` holds at least 127).
pub fn close_line(code: u16, reason: &str, out: &mut [u8]) -> usize {
    use std::io::Write as _;
    let reason = &reason[..reason.len().min(64)];
    debug_assert!(reason.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
    let mut cursor = std::io::Cursor::new(out);
    let _ = writeln!(
        cursor,
        r#"{{"type":"close","code":{code},"reason":"{reason}"}}"#
    );
    cursor.position() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `\r` of a CRLF line is not the line's (found by a hostile pass:
    /// a 4096-byte line was taken with `\n` and closed 1009 with `\r\n`).
    #[test]
    fn the_bound_counts_the_line_without_its_carriage_return() {
        let full = [b'x'; MAX_CONTROL_LEN];
        for ending in [&b"\n"[..], b"\r\n"] {
            let mut buf = LineBuf::default();
            let mut input = full.to_vec();
            input.extend_from_slice(ending);
            assert_eq!(buf.feed(&input), Ok((input.len(), true)), "{ending:?}");
            assert_eq!(buf.line(), &full[..]);
            // Split before and after the `\r`.
            let mut buf = LineBuf::default();
            let at = MAX_CONTROL_LEN + ending.len() - 1;
            assert_eq!(buf.feed(&input[..at]), Ok((at, false)));
            assert_eq!(buf.feed(&input[at..]), Ok((input.len() - at, true)));
            assert_eq!(buf.line(), &full[..]);
        }
        // One byte more is too long, `\r` or not, and so is a `\r` that
        // does not end the line.
        for extra in [&b"y\n"[..], b"y\r\n", b"\ry\n"] {
            let mut buf = LineBuf::default();
            let mut input = full.to_vec();
            input.extend_from_slice(extra);
            assert_eq!(buf.feed(&input), Err(LineTooLong), "{extra:?}");
        }
        let mut buf = LineBuf::default();
        assert_eq!(buf.feed(&full), Ok((MAX_CONTROL_LEN, false)));
        assert_eq!(buf.feed(b"\r"), Ok((1, false)));
        assert_eq!(buf.feed(b"z"), Err(LineTooLong));
    }

    #[test]
    fn lines_split_across_reads_and_bounded() {
        let mut buf = LineBuf::default();
        assert_eq!(buf.feed(b"{\"op\""), Ok((5, false)));
        assert_eq!(buf.feed(b":1}\r\n{next"), Ok((5, true)));
        assert_eq!(buf.line(), b"{\"op\":1}");
        buf.clear();
        assert_eq!(
            buf.feed(&[b'x'; MAX_CONTROL_LEN]),
            Ok((MAX_CONTROL_LEN, false))
        );
        assert_eq!(buf.feed(b"x"), Err(LineTooLong));
        let mut out = [0u8; 127];
        let n = close_line(4001, "slow consumer", &mut out);
        assert_eq!(
            &out[..n],
            b"{\"type\":\"close\",\"code\":4001,\"reason\":\"slow consumer\"}\n"
        );
    }
}
