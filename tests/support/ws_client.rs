//! A small blocking WebSocket client for the market-data endpoint tests:
//! the upgrade request, masked client frames, whole server frames back
//! (with the crate's own frame reader, checked to be unmasked and final).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tradsys::websocket::encode::write_frame;
use tradsys::websocket::frame::{read_header, HeaderError, Opcode};

pub struct WsClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    mask_seed: u32,
}

/// One frame from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub opcode: Opcode,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> &str {
        assert_eq!(self.opcode, Opcode::Text, "a text frame: {self:?}");
        std::str::from_utf8(&self.payload).expect("UTF-8 text")
    }

    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, Opcode::Close);
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// The upgrade request for `target` with extra header lines.
/// A masked text frame, as a client sends it (for tests that hand a
/// client's bytes to the hub directly, with no socket).
pub fn client_text(text: &str) -> Vec<u8> {
    let mut out = vec![0u8; text.len() + 14];
    let n = write_frame(
        true,
        Opcode::Text,
        text.as_bytes(),
        Some([1, 2, 3, 4]),
        &mut out,
    )
    .unwrap();
    out.truncate(n);
    out
}

pub fn upgrade_request(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

impl WsClient {
    /// Connects and upgrades (`target` such as `/md?format=json`); panics
    /// unless the answer is `101`.
    pub fn connect(addr: SocketAddr, target: &str) -> WsClient {
        let (client, head) = WsClient::connect_raw(addr, &upgrade_request(target, ""));
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        // What came behind the head is the server's first frames (WebSocket
        // order entry may refuse at once, right behind its 101).
        client
    }

    /// Sends `request` and reads the HTTP answer's head (the bytes after it
    /// stay buffered).
    pub fn connect_raw(addr: SocketAddr, request: &str) -> (WsClient, String) {
        WsClient::connect_with(addr, request, None, None)
    }

    /// As [`connect_raw`](Self::connect_raw) from the local address
    /// `source` (any of 127.0.0.0/8 reaches a loopback listener).
    pub fn connect_raw_from(
        addr: SocketAddr,
        request: &str,
        source: std::net::IpAddr,
    ) -> (WsClient, String) {
        WsClient::connect_with(addr, request, None, Some(source))
    }

    /// As [`connect`](Self::connect) with a receive buffer of `rcvbuf`
    /// bytes set before the connection is made (a client that reads
    /// little, so its window stays small).
    pub fn connect_small(addr: SocketAddr, target: &str, rcvbuf: usize) -> WsClient {
        let (mut client, head) =
            WsClient::connect_with(addr, &upgrade_request(target, ""), Some(rcvbuf), None);
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        client.buf.clear();
        client
    }

    fn connect_with(
        addr: SocketAddr,
        request: &str,
        rcvbuf: Option<usize>,
        source: Option<std::net::IpAddr>,
    ) -> (WsClient, String) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        if let Some(rcvbuf) = rcvbuf {
            socket.set_recv_buffer_size(rcvbuf).unwrap();
        }
        if let Some(source) = source {
            let local = SocketAddr::new(source, 0);
            socket.bind(&local.into()).expect("bind the source address");
        }
        socket
            .connect(&addr.into())
            .expect("connect to market data");
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut client = WsClient {
            stream,
            buf: Vec::new(),
            mask_seed: 0x1234_5678,
        };
        client.stream.write_all(request.as_bytes()).unwrap();
        let end = loop {
            if let Some(at) = client.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if client.fill() == 0 {
                break client.buf.len();
            }
        };
        let head = String::from_utf8_lossy(&client.buf[..end]).into_owned();
        client.buf.drain(..end);
        (client, head)
    }

    /// Everything the server sends until it closes, as text (after a
    /// refused upgrade's head: its body).
    pub fn rest_as_text(mut self) -> String {
        while self.try_fill().is_ok_and(|n| n > 0) {}
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    fn fill(&mut self) -> usize {
        self.try_fill().expect("read from market data")
    }

    fn try_fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn next_mask(&mut self) -> [u8; 4] {
        self.mask_seed = self
            .mask_seed
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        self.mask_seed.to_le_bytes()
    }

    /// Sends one masked frame.
    pub fn send_frame(&mut self, fin: bool, opcode: Opcode, payload: &[u8]) {
        let mut out = vec![0u8; payload.len() + 14];
        let mask = self.next_mask();
        let n = write_frame(fin, opcode, payload, Some(mask), &mut out).unwrap();
        self.stream.write_all(&out[..n]).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send_frame(true, Opcode::Text, text.as_bytes());
    }

    /// The next whole frame; `None` if the server closed the TCP stream.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.read_frame().expect("read from market data")
    }

    /// As [`try_recv`](Self::try_recv), with a failed read returned
    /// instead of a panic (a reader thread hands it to the test, which
    /// decides whether it still needed the stream).
    pub fn read_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            match read_header(&self.buf) {
                Ok((header, len)) => {
                    assert!(header.mask.is_none(), "server frames are unmasked");
                    assert!(header.fin, "the gateway does not fragment");
                    let total = len + header.payload_len as usize;
                    if self.buf.len() >= total {
                        let opcode = Opcode::from_u8(header.opcode).expect("a known opcode");
                        let payload = self.buf[len..total].to_vec();
                        self.buf.drain(..total);
                        return Ok(Some(Frame { opcode, payload }));
                    }
                }
                Err(HeaderError::Incomplete { .. }) => {}
                Err(e) => panic!("bad frame header: {e:?}"),
            }
            if self.try_fill()? == 0 {
                return Ok(None);
            }
        }
    }

    pub fn recv(&mut self) -> Frame {
        self.try_recv()
            .expect("a frame before the end of the stream")
    }

    /// The next frame that is not a heartbeat (binary 0xC7 or a JSON
    /// heartbeat).
    pub fn recv_skip_heartbeats(&mut self) -> Frame {
        loop {
            let frame = self.recv();
            let heartbeat = match frame.opcode {
                Opcode::Binary => frame.payload.get(4) == Some(&0xC7),
                Opcode::Text => frame.payload.starts_with(br#"{"type":"heartbeat""#),
                _ => false,
            };
            if !heartbeat {
                return frame;
            }
        }
    }
}
