//! One non-blocking order-entry connection, for a load thread that drives
//! many of them from one core.
//!
//! Unlike `tradsys::client::Client` (blocking, `write_all`), a partial write
//! keeps its unsent tail for the next turn instead of failing: in open loop
//! the schedule must go on even while the gateway pushes back, and the
//! pushed-back orders are charged the wait.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tradsys::protocol::*;

/// A received message, copied out of the read buffer.
pub use tradsys::client::Received;

pub struct Conn {
    stream: TcpStream,
    tx: Vec<u8>,
    /// Bytes of `tx` already written.
    tx_sent: usize,
    rx: Box<[u8]>,
    rx_start: usize,
    rx_end: usize,
    next_seq: u32,
    expected_seq: u32,
    /// Reads that returned bytes (see [`Conn::reads`]).
    reads: u64,
}

#[derive(Debug)]
pub enum ConnError {
    Io(io::Error),
    Closed,
    Framing(DecodeError),
    SequenceGap { expected: u32, got: u32 },
    SessionEnd { reason: u16 },
    LogonRejected { reason: u16 },
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "i/o error: {e}"),
            ConnError::Closed => write!(f, "the gateway closed the connection"),
            ConnError::Framing(e) => write!(f, "undecodable message from the gateway: {e:?}"),
            ConnError::SequenceGap { expected, got } => {
                write!(f, "gateway sequence gap: expected {expected}, got {got}")
            }
            ConnError::SessionEnd { reason } => write!(
                f,
                "the gateway ended the session: {} ({reason})",
                SessionEndReason::from_u16(*reason)
                    .map_or("unknown reason".to_string(), |r| format!("{r:?}"))
            ),
            ConnError::LogonRejected { reason } => write!(
                f,
                "logon rejected: {} ({reason})",
                LogonRejectReason::from_u16(*reason)
                    .map_or("unknown reason".to_string(), |r| format!("{r:?}"))
            ),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> ConnError {
        ConnError::Io(e)
    }
}

impl Conn {
    /// Connects (retrying for up to 5 s while the server is still coming
    /// up), logs on (blocking, up to 10 s), then turns non-blocking.
    pub fn logon(addr: &str, account: u32, token: &str) -> Result<Conn, ConnError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let stream = loop {
            match TcpStream::connect(addr) {
                Ok(stream) => break stream,
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        && Instant::now() < deadline =>
                {
                    std::thread::yield_now()
                }
                Err(e) => return Err(e.into()),
            }
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut conn = Conn {
            stream,
            tx: Vec::with_capacity(1 << 20),
            tx_sent: 0,
            rx: vec![0u8; 1 << 20].into_boxed_slice(),
            rx_start: 0,
            rx_end: 0,
            next_seq: 1,
            expected_seq: 1,
            reads: 0,
        };
        let logon = LogonMsg::new(account, token.as_bytes(), 30_000, false)
            .ok_or(ConnError::LogonRejected { reason: 0 })?;
        conn.queue(&logon);
        conn.stream.write_all(&conn.tx)?;
        conn.tx.clear();
        loop {
            match conn.poll()? {
                Some(Received::LogonAccepted(_)) => break,
                Some(Received::LogonRejected(m)) => {
                    return Err(ConnError::LogonRejected {
                        reason: m.reason.get(),
                    })
                }
                Some(_) => {}
                None => {}
            }
        }
        conn.stream.set_nonblocking(true)?;
        Ok(conn)
    }

    /// Appends a message to the send buffer (sent by [`Conn::flush`]).
    pub fn queue<M: WireMessage>(&mut self, msg: &M) {
        let at = self.tx.len();
        self.tx.resize(at + M::LEN, 0);
        encode(msg, self.next_seq, &mut self.tx[at..]).expect("the buffer was sized for it");
        self.next_seq = self.next_seq.wrapping_add(1);
    }

    /// Writes as much of the send buffer as the socket takes now.
    pub fn flush(&mut self) -> Result<(), ConnError> {
        while self.tx_sent < self.tx.len() {
            match self.stream.write(&self.tx[self.tx_sent..]) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => self.tx_sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.tx.clear();
        self.tx_sent = 0;
        Ok(())
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.stream.as_raw_fd()
    }

    /// Socket reads that returned bytes so far: messages parsed between
    /// two changes of it arrived in the same read.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn unsent(&self) -> usize {
        self.tx.len() - self.tx_sent
    }

    /// The next message if one has arrived (`None`: nothing yet, on a
    /// non-blocking socket). A SessionEnd is returned as an error: the load
    /// cannot go on without its session.
    pub fn poll(&mut self) -> Result<Option<Received>, ConnError> {
        loop {
            match decode_gateway(&self.rx[self.rx_start..self.rx_end]) {
                Ok(decoded) => {
                    self.rx_start += decoded.len;
                    let seq = decoded.message.header().seq.get();
                    if seq != self.expected_seq {
                        return Err(ConnError::SequenceGap {
                            expected: self.expected_seq,
                            got: seq,
                        });
                    }
                    self.expected_seq = seq.wrapping_add(1);
                    if let GatewayMessage::SessionEnd(m) = decoded.message {
                        return Err(ConnError::SessionEnd {
                            reason: m.reason.get(),
                        });
                    }
                    return Ok(Some(Received::from_view(&decoded.message)));
                }
                Err(DecodeError::Incomplete { .. }) => {}
                Err(e) => return Err(ConnError::Framing(e)),
            }
            if self.rx_start > 0 {
                self.rx.copy_within(self.rx_start..self.rx_end, 0);
                self.rx_end -= self.rx_start;
                self.rx_start = 0;
            }
            match self.stream.read(&mut self.rx[self.rx_end..]) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => {
                    self.rx_end += n;
                    self.reads += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Logs out politely (best effort; the load is over).
    pub fn logout(mut self) {
        self.queue(&LogoutMsg::new());
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.write_all(&self.tx[self.tx_sent..]);
    }
}
