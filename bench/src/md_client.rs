//! One market-data subscriber for the `md` bench: a plain WebSocket client
//! written from `docs/MARKET_DATA.md` (upgrade, one masked `subscribe`
//! text frame, then unmasked server frames), non-blocking after the
//! handshake so that one load thread reads hundreds of them.
//!
//! It does not decode whole messages: the harness needs only each
//! `Trade`'s `seq` and `ts_ns` (offsets 16 and 32 of the 72-byte message,
//! section 5 of the spec), so both servers measured (the gateway and the
//! tokio-tungstenite peer, which forwards the gateway's binary messages)
//! are read by the same code at the same cost.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `msg_type` of a `Trade` (docs/MARKET_DATA.md 5.3).
const TRADE: u8 = 0xC3;
const TRADE_LEN: usize = 72;
/// Bytes of a market-data message header.
const MD_HEADER: usize = 24;

/// One trade as a subscriber saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeSeen {
    pub seq: u64,
    pub ts_ns: u64,
}

pub struct Subscriber {
    stream: TcpStream,
    rx: Box<[u8]>,
    rx_end: usize,
    /// The server closed the connection (a close frame or end of stream).
    pub closed: bool,
    /// The close code the server sent, if any (4001: slow consumer).
    pub close_code: Option<u16>,
    /// A text frame came: the `subscribed` answer (the only text sent).
    pub answered: bool,
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A masked client text frame (RFC 6455 5.3: a client must mask).
fn masked_text(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126, "a short control message");
    let mask = [0x5a, 0xa5, 0x3c, 0xc3];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

impl Subscriber {
    /// Connects to `addr`, upgrades on `/md` (binary format) and subscribes
    /// to `channels` of `symbols` (a JSON array body, e.g. `[1,2]`); blocks
    /// until the 101, then turns non-blocking.
    pub fn connect(addr: &str, symbols: &str, channels: &str) -> io::Result<Subscriber> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET /md?format=binary HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut rx = vec![0u8; 1 << 16].into_boxed_slice();
        let mut got = 0;
        let end = loop {
            let n = stream.read(&mut rx[got..])?;
            if n == 0 {
                return Err(io::Error::other("closed during the upgrade"));
            }
            got += n;
            if let Some(at) = rx[..got].windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        if !rx.starts_with(b"HTTP/1.1 101") {
            let answer = String::from_utf8_lossy(&rx[..end]).into_owned();
            return Err(io::Error::other(format!("upgrade refused: {answer}")));
        }
        rx.copy_within(end..got, 0);
        let request = format!(r#"{{"op":"subscribe","symbols":{symbols},"channels":{channels}}}"#);
        stream.write_all(&masked_text(request.as_bytes()))?;
        stream.set_nonblocking(true)?;
        Ok(Subscriber {
            stream,
            rx,
            rx_end: got - end,
            closed: false,
            close_code: None,
            answered: false,
        })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.stream.as_raw_fd()
    }

    /// Reads what has arrived and calls `trade` for every `Trade` in it.
    /// Returns whether any bytes came.
    pub fn read(&mut self, mut trade: impl FnMut(TradeSeen)) -> io::Result<bool> {
        let mut any = false;
        loop {
            match self.stream.read(&mut self.rx[self.rx_end..]) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(any);
                }
                Ok(n) => {
                    any = true;
                    self.rx_end += n;
                    let used = self.frames(&mut trade);
                    self.rx.copy_within(used..self.rx_end, 0);
                    self.rx_end -= used;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Walks the whole frames in the buffer; returns the bytes they take.
    fn frames(&mut self, trade: &mut impl FnMut(TradeSeen)) -> usize {
        let mut at = 0;
        while let Some((opcode, start, end)) = frame_at(&self.rx[at..self.rx_end]) {
            let payload = &self.rx[at + start..at + end];
            match opcode {
                0x2 => messages(payload, trade),
                0x8 => {
                    self.closed = true;
                    self.close_code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                }
                0x1 => self.answered = true,
                _ => {} // pings: not measured
            }
            at += end;
        }
        assert!(
            self.rx_end - at < self.rx.len(),
            "a frame larger than the read buffer"
        );
        at
    }
}

/// The opcode and the payload's bounds of the frame at the start of `b`,
/// if it is all there (server frames are never masked).
fn frame_at(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let (len, start) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (
            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    debug_assert_eq!(b[1] & 0x80, 0, "a server frame is unmasked");
    (b.len() >= start + len).then_some((b[0] & 0x0f, start, start + len))
}

/// Every `Trade` among the market-data messages of one binary payload.
fn messages(mut payload: &[u8], trade: &mut impl FnMut(TradeSeen)) {
    while payload.len() >= MD_HEADER {
        let len = u32::from_le_bytes(payload[..4].try_into().unwrap()) as usize;
        assert!(
            (MD_HEADER..=payload.len()).contains(&len),
            "a whole message"
        );
        if payload[4] == TRADE && len == TRADE_LEN {
            trade(TradeSeen {
                seq: le_u64(payload, 16),
                ts_ns: le_u64(payload, 32),
            });
        }
        payload = &payload[len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_are_found_in_frames_of_every_length_form() {
        let mut trade_msg = [0u8; TRADE_LEN];
        trade_msg[..4].copy_from_slice(&(TRADE_LEN as u32).to_le_bytes());
        trade_msg[4] = TRADE;
        trade_msg[16..24].copy_from_slice(&7u64.to_le_bytes());
        trade_msg[32..40].copy_from_slice(&99u64.to_le_bytes());
        let short = [&[0x82, TRADE_LEN as u8][..], &trade_msg].concat();
        assert_eq!(frame_at(&short), Some((2, 2, 2 + TRADE_LEN)));
        let payload = [trade_msg, trade_msg].concat();
        let medium = [&[0x82, 126, 0, 144][..], &payload].concat();
        let (op, start, end) = frame_at(&medium).unwrap();
        assert_eq!((op, start, end), (2, 4, 4 + 144));
        let mut seen = Vec::new();
        messages(&medium[start..end], &mut |t| seen.push(t));
        assert_eq!(seen, vec![TradeSeen { seq: 7, ts_ns: 99 }; 2]);
        let long = [&[0x82, 127][..], &(144u64).to_be_bytes(), &payload].concat();
        assert_eq!(frame_at(&long), Some((2, 10, 154)));
        assert_eq!(frame_at(&long[..100]), None, "not all there yet");
    }
}
