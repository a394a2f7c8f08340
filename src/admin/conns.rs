//! The admin endpoint's connections in progress. Every connection is read
//! and written without blocking, all of them after one `poll`, each within
//! one deadline for its whole request and another for its whole answer, so
//! that no client (idle, sending a byte now and then, or not reading its
//! answer) holds up another's request or the admin thread's own work: the
//! shards' telemetry drain and the scheduled end of day.
//!
//! Why: the thread used to serve one connection at a time with a timeout
//! on each read but none on the request, so a local client sending a byte
//! every 1.5 s held `/ready`, `/metrics` and the kill switch for as long
//! as it went on (a head may take 16 KiB), and each idle connection
//! delayed every request behind it by the read timeout.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::http::{self, Parsed, Request, Response};

/// Connections in progress at most; one more is answered 503 at once.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send its whole request, and then again
/// to read its whole answer.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

enum Phase {
    /// Receiving the request: the bytes so far.
    Reading(Vec<u8>),
    /// Sending the answer: its bytes, and how many have gone.
    Writing(Vec<u8>, usize),
    /// Answered, the write side shut (a FIN after the answer): reading
    /// and dropping whatever the client still sends until it closes or
    /// the deadline passes. Closing a socket with bytes unread sends a
    /// reset, which may throw away the answer before the client reads it
    /// (a client still sending when it is cut off for being late).
    Draining,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    /// When the current phase must be over.
    deadline: Instant,
}

/// The connections in progress, and the poll set reused for them.
pub struct Conns {
    conns: Vec<Conn>,
    fds: Vec<libc::pollfd>,
}

impl Conns {
    pub fn new() -> Conns {
        Conns {
            conns: Vec::with_capacity(MAX_CONNECTIONS),
            fds: Vec::with_capacity(MAX_CONNECTIONS + 1),
        }
    }

    pub fn is_empty(&self) -> bool {
        debug_assert!(self.conns.len() <= MAX_CONNECTIONS);
        self.conns.is_empty()
    }

    /// Waits up to `timeout_ms`, or until the soonest deadline, for a new
    /// connection on `listener` or for a connection in progress to be
    /// ready. Returns whether the listener has one waiting.
    pub fn wait(&mut self, listener: &TcpListener, timeout_ms: i32) -> bool {
        let pollfd = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        self.fds.clear();
        self.fds.push(pollfd(listener.as_raw_fd(), libc::POLLIN));
        for conn in &self.conns {
            let events = match conn.phase {
                Phase::Reading(_) | Phase::Draining => libc::POLLIN,
                Phase::Writing(..) => libc::POLLOUT,
            };
            self.fds.push(pollfd(conn.stream.as_raw_fd(), events));
        }
        let now = Instant::now();
        let timeout_ms = self
            .conns
            .iter()
            .map(|conn| conn.deadline.saturating_duration_since(now))
            .min()
            // Rounded up: woken before a deadline, nothing would be due.
            .map_or(timeout_ms, |due| {
                timeout_ms.min(due.as_micros().div_ceil(1000) as i32)
            });
        debug_assert!(timeout_ms >= 0);
        // SAFETY: `fds` holds `fds.len()` valid pollfds, borrowed for the call.
        let ready = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        ready > 0 && self.fds[0].revents & libc::POLLIN != 0
    }

    /// Takes every connection waiting on `listener` (non-blocking).
    pub fn accept(&mut self, listener: &TcpListener) {
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.conns.len() >= MAX_CONNECTIONS {
                // Best effort, never waiting: a full send buffer drops it.
                let busy = Response::text(503, "too many admin connections in progress");
                let _ = (&stream).write(&http::encode(&busy));
                continue;
            }
            self.conns.push(Conn {
                stream,
                phase: Phase::Reading(Vec::new()),
                deadline: Instant::now() + CONNECTION_TIMEOUT,
            });
        }
        debug_assert!(self.conns.len() <= MAX_CONNECTIONS);
    }

    /// Moves every connection on as far as it goes without waiting: reads
    /// what arrived, answers a whole request with `handler` (and a refused
    /// or late one with its error), writes what the socket takes, and
    /// closes those drained, gone or past their deadline.
    pub fn step(&mut self, mut handler: impl FnMut(&Request) -> Response) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.conns.len() {
            if advance(&mut self.conns[i], now, &mut handler) {
                i += 1;
            } else {
                // Dropping the stream closes it.
                self.conns.swap_remove(i);
            }
        }
    }
}

/// Moves one connection on; returns whether it stays open.
fn advance(conn: &mut Conn, now: Instant, handler: &mut impl FnMut(&Request) -> Response) -> bool {
    if let Phase::Reading(received) = &mut conn.phase {
        let Ok(open) = read_available(&mut conn.stream, received) else {
            return false;
        };
        let response = match http::parse(received) {
            Parsed::Complete(request) => handler(&request),
            Parsed::Refused(response) => response,
            Parsed::Partial if !open => Response::text(400, "connection closed mid-request"),
            Parsed::Partial if now >= conn.deadline => {
                Response::text(408, "request not received in time")
            }
            Parsed::Partial => return true,
        };
        conn.phase = Phase::Writing(http::encode(&response), 0);
        conn.deadline = now + CONNECTION_TIMEOUT;
    }
    if let Phase::Writing(bytes, sent) = &mut conn.phase {
        while *sent < bytes.len() {
            match conn.stream.write(&bytes[*sent..]) {
                Ok(0) => return false,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return now < conn.deadline,
                Err(_) => return false,
            }
        }
        debug_assert_eq!(*sent, bytes.len());
        if conn.stream.shutdown(Shutdown::Write).is_err() {
            return false;
        }
        conn.phase = Phase::Draining;
        conn.deadline = now + CONNECTION_TIMEOUT;
    }
    debug_assert!(matches!(conn.phase, Phase::Draining));
    let mut sink = [0u8; 4096];
    loop {
        match conn.stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return now < conn.deadline,
            Err(_) => return false,
        }
    }
}

/// Appends what `stream` has ready to `received`, up to the largest
/// request; `Ok(false)` once the client has closed its side.
fn read_available(stream: &mut TcpStream, received: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 4096];
    while received.len() < http::MAX_REQUEST_BYTES {
        let want = (http::MAX_REQUEST_BYTES - received.len()).min(chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Ok(false),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    // Full: the parse refuses it or finds the request whole.
    debug_assert_eq!(received.len(), http::MAX_REQUEST_BYTES);
    Ok(true)
}
