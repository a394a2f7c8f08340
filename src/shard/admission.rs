//! Admission: what it costs a shard to take in order-entry connections
//! that are not (yet) sessions, and what it says when it keeps one out.
//!
//! - [`AcceptBackoff`]: an accept error that would repeat at once (at the
//!   file-descriptor limit `accept` fails immediately, every time, even
//!   with nothing pending) makes the acceptor wait, 1 ms doubling up to
//!   100 ms, until an accept succeeds again. Without the pause the
//!   acceptor never yields the shard: sessions go unanswered and a
//!   shutdown never runs.
//! - [`Admission`]: the connections waiting to log on, bounded per shard
//!   and per peer IP address (`[session] max_prelogon_connections_*`).
//!   They take no session slot (that is taken at a valid Logon), so a
//!   flood of connections that never log on fills these bounds and is
//!   refused at accept, while traders, and logons from other addresses,
//!   get in. A waiting connection costs its fd and its task; the bounds
//!   are fixed tables sized at start, so admitting one allocates nothing
//!   here.
//! - Every connection kept out or dropped is counted per [`Refusal`] and
//!   logged at most once a second per kind, with the peer's address and
//!   how many lines were left out.

use std::fmt::{self, Display};
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use super::peer_counts::{peer_key, PeerCounts};
use super::rate_limit::LogThrottle;
use crate::config::SessionConfig;

/// Why a connection was kept out or dropped before it became a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `accept` failed: the connection stays in the listen backlog.
    AcceptFailed,
    /// The shard holds its maximum of connections waiting to log on.
    ShardPreLogonLimit,
    /// The peer's address has its maximum of those on this shard.
    PeerPreLogonLimit,
    /// The socket could not be duplicated for its writer (fd limit).
    DupFailed,
    /// A valid Logon, but the shard or the account has its maximum of
    /// sessions.
    SessionLimit,
    /// A Logon refused for another reason (credentials, flags, shutdown).
    LogonRejected,
    /// The first message was not a well-framed Logon with seq 1.
    NotLoggedOn,
    /// No Logon within `logon_timeout_ms`.
    LogonTimeout,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Refusal::AcceptFailed,
        Refusal::ShardPreLogonLimit,
        Refusal::PeerPreLogonLimit,
        Refusal::DupFailed,
        Refusal::SessionLimit,
        Refusal::LogonRejected,
        Refusal::NotLoggedOn,
        Refusal::LogonTimeout,
    ];

    /// The log message: what happened to the connection.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::AcceptFailed => "accept failed",
            Refusal::ShardPreLogonLimit => {
                "connection refused: the shard holds its maximum of connections waiting to log on"
            }
            Refusal::PeerPreLogonLimit => {
                "connection refused: its address has its maximum of connections waiting to log on"
            }
            Refusal::DupFailed => "connection refused: cannot duplicate its socket",
            Refusal::SessionLimit => "logon refused: session limit",
            Refusal::LogonRejected => "logon refused",
            Refusal::NotLoggedOn => "connection ended: its first message was not a valid Logon",
            Refusal::LogonTimeout => "connection ended: no Logon in time",
        }
    }

    /// Whether it says the gateway is short of something (a warning) rather
    /// than that a client misbehaved (information).
    fn is_capacity(self) -> bool {
        matches!(
            self,
            Refusal::AcceptFailed
                | Refusal::ShardPreLogonLimit
                | Refusal::PeerPreLogonLimit
                | Refusal::DupFailed
                | Refusal::SessionLimit
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

const LOG_PERIOD_NS: u64 = 1_000_000_000;

/// A connection admitted to wait for its Logon: give it back with
/// [`Admission::release`] when it becomes a session or is closed.
#[derive(Debug)]
#[must_use = "a ticket not released keeps its place taken"]
pub struct Ticket(u32);

#[derive(Clone, Copy)]
struct Waiting {
    fd: RawFd,
    peer: u128,
}

/// One shard's waiting connections, its refusal counters and their
/// rate-limited log.
pub struct Admission {
    shard: u16,
    per_peer: u32,
    /// One place per connection that may wait (the per-shard bound).
    waiting: Vec<Option<Waiting>>,
    free: Vec<u32>,
    peers: PeerCounts,
    counts: [u64; Refusal::ALL.len()],
    logs: [LogThrottle; Refusal::ALL.len()],
}

impl Admission {
    pub fn new(shard: u16, config: &SessionConfig) -> Admission {
        let per_shard = config.max_prelogon_connections_per_shard;
        assert!((1..=1 << 16).contains(&per_shard));
        Admission {
            shard,
            per_peer: config.max_prelogon_connections_per_ip as u32,
            waiting: vec![None; per_shard],
            free: (0..per_shard as u32).rev().collect(),
            peers: PeerCounts::new(per_shard),
            counts: [0; Refusal::ALL.len()],
            logs: [LogThrottle::new(LOG_PERIOD_NS); Refusal::ALL.len()],
        }
    }

    /// A connection just accepted from `peer` on socket `fd`: a place to
    /// wait for its Logon, or the refusal (counted and logged).
    pub fn admit(&mut self, peer: SocketAddr, fd: RawFd, now_ns: u64) -> Result<Ticket, Refusal> {
        let key = peer_key(peer.ip());
        let refusal = if self.free.is_empty() {
            Refusal::ShardPreLogonLimit
        } else if self.peers.try_add(key, self.per_peer) {
            let place = self.free.pop().expect("checked");
            self.waiting[place as usize] = Some(Waiting { fd, peer: key });
            return Ok(Ticket(place));
        } else {
            Refusal::PeerPreLogonLimit
        };
        let limit = match refusal {
            Refusal::ShardPreLogonLimit => self.waiting.len(),
            _ => self.per_peer as usize,
        };
        self.refused(refusal, Some(peer), &format_args!("limit {limit}"), now_ns);
        Err(refusal)
    }

    /// The connection no longer waits: it is a session, or closed.
    pub fn release(&mut self, ticket: Ticket) {
        let waiting = self.waiting[ticket.0 as usize]
            .take()
            .expect("a ticket's place is taken");
        self.peers.remove(waiting.peer);
        self.free.push(ticket.0);
    }

    /// Connections waiting for their Logon now.
    pub fn waiting(&self) -> usize {
        self.waiting.len() - self.free.len()
    }

    /// Their sockets (graceful shutdown wakes their readers).
    pub fn waiting_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.waiting.iter().flatten().map(|w| w.fd)
    }

    /// Counts one refusal and logs it unless a line for its kind was
    /// written less than a second ago.
    pub fn refused(
        &mut self,
        refusal: Refusal,
        peer: Option<SocketAddr>,
        detail: &dyn Display,
        now_ns: u64,
    ) {
        let i = refusal.index();
        self.counts[i] += 1;
        let Some(suppressed) = self.logs[i].event(now_ns) else {
            return;
        };
        let (shard, total, peer) = (self.shard, self.counts[i], Peer(peer));
        let message = refusal.message();
        if refusal.is_capacity() {
            tracing::warn!(shard, %peer, %detail, suppressed, total, "{message}");
        } else {
            tracing::info!(shard, %peer, %detail, suppressed, total, "{message}");
        }
    }

    /// Logs the count of lines left out for each kind whose events have
    /// stopped (called by the ticker).
    pub fn flush(&mut self, now_ns: u64) {
        for refusal in Refusal::ALL {
            let i = refusal.index();
            if let Some(suppressed) = self.logs[i].overdue(now_ns) {
                let (shard, total, message) = (self.shard, self.counts[i], refusal.message());
                if refusal.is_capacity() {
                    tracing::warn!(shard, suppressed, total, "{message} (summary)");
                } else {
                    tracing::info!(shard, suppressed, total, "{message} (summary)");
                }
            }
        }
    }

    pub fn count(&self, refusal: Refusal) -> u64 {
        self.counts[refusal.index()]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A peer address for the log, `-` when there is none.
pub(crate) struct Peer(pub(crate) Option<SocketAddr>);

impl Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The acceptor's pause after an error (see the module doc).
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> AcceptBackoff {
        AcceptBackoff {
            next: AcceptBackoff::FIRST,
        }
    }
}

impl AcceptBackoff {
    pub const FIRST: Duration = Duration::from_millis(1);
    pub const MAX: Duration = Duration::from_millis(100);

    /// How long to wait before accepting again after `error`; `None`:
    /// at once. An error that belongs to one connection (it was reset
    /// while queued, a network error accept(2) passes on) consumed that
    /// connection, so retrying cannot spin. Anything else (EMFILE,
    /// ENFILE, ENOBUFS, ENOMEM, or an error this code does not know)
    /// may fail again immediately: wait, longer each time.
    pub fn after_error(&mut self, error: &io::Error) -> Option<Duration> {
        if one_connections_error(error) {
            return None;
        }
        let pause = self.next;
        self.next = (self.next * 2).min(AcceptBackoff::MAX);
        Some(pause)
    }

    pub fn after_success(&mut self) {
        self.next = AcceptBackoff::FIRST;
    }
}

/// accept(2): "Linux accept() passes already-pending network errors on the
/// new socket as an error code from accept() ... should be treated like
/// EAGAIN by retrying"; ECONNABORTED is a connection reset while queued,
/// EPERM one a firewall refused.
fn one_connections_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EINTR
                | libc::EAGAIN
                | libc::EPERM
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn resource_errors_back_off_doubling_to_the_cap_and_success_resets() {
        let mut backoff = AcceptBackoff::default();
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            backoff.after_success();
            let pauses: Vec<u64> = (0..9)
                .map(|_| backoff.after_error(&os(code)).unwrap().as_millis() as u64)
                .collect();
            assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 100, 100], "errno {code}");
        }
        backoff.after_success();
        assert_eq!(
            backoff.after_error(&os(libc::EMFILE)),
            Some(AcceptBackoff::FIRST)
        );
        // An unknown error backs off too: it might repeat for ever.
        assert!(backoff.after_error(&io::Error::other("strange")).is_some());
    }

    #[test]
    fn one_connections_errors_retry_at_once_and_keep_the_backoff() {
        let mut backoff = AcceptBackoff::default();
        backoff.after_error(&os(libc::EMFILE));
        for code in [libc::ECONNABORTED, libc::EPROTO, libc::EPERM, libc::EINTR] {
            assert_eq!(backoff.after_error(&os(code)), None, "errno {code}");
        }
        assert_eq!(
            backoff.after_error(&os(libc::EMFILE)),
            Some(Duration::from_millis(2))
        );
    }

    #[test]
    fn every_refusal_is_counted_whether_logged_or_not() {
        let mut admission = Admission::new(0, &SessionConfig::default());
        for i in 0..1_000 {
            admission.refused(Refusal::AcceptFailed, None, &"EMFILE", i * 1_000_000);
        }
        admission.refused(Refusal::DupFailed, None, &"EMFILE", 0);
        assert_eq!(admission.count(Refusal::AcceptFailed), 1_000);
        assert_eq!(admission.count(Refusal::DupFailed), 1);
        assert_eq!(admission.total(), 1_001);
    }

    fn config(per_shard: usize, per_ip: usize) -> SessionConfig {
        SessionConfig {
            max_prelogon_connections_per_shard: per_shard,
            max_prelogon_connections_per_ip: per_ip,
            ..SessionConfig::default()
        }
    }

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn waiting_connections_are_bounded_per_peer_and_per_shard() {
        let mut admission = Admission::new(0, &config(5, 3));
        let a: Vec<Ticket> = (0..3)
            .map(|i| {
                admission
                    .admit(addr([10, 0, 0, 1], i), 100 + i as i32, 0)
                    .unwrap()
            })
            .collect();
        assert_eq!(
            admission.admit(addr([10, 0, 0, 1], 9), 109, 0).unwrap_err(),
            Refusal::PeerPreLogonLimit
        );
        let b1 = admission.admit(addr([10, 0, 0, 2], 1), 201, 0).unwrap();
        let _b2 = admission.admit(addr([10, 0, 0, 2], 2), 202, 0).unwrap();
        assert_eq!(admission.waiting(), 5);
        assert_eq!(
            admission.admit(addr([10, 0, 0, 3], 1), 301, 0).unwrap_err(),
            Refusal::ShardPreLogonLimit
        );
        assert_eq!(admission.count(Refusal::PeerPreLogonLimit), 1);
        assert_eq!(admission.count(Refusal::ShardPreLogonLimit), 1);
        let mut fds: Vec<RawFd> = admission.waiting_fds().collect();
        fds.sort_unstable();
        assert_eq!(fds, [100, 101, 102, 201, 202]);
        // A place given back is taken again, by the same peer or another.
        admission.release(b1);
        let c = admission.admit(addr([10, 0, 0, 3], 1), 301, 0).unwrap();
        for ticket in a {
            admission.release(ticket);
        }
        assert_eq!(admission.waiting(), 2);
        let again: Vec<Ticket> = (0..3)
            .map(|i| {
                admission
                    .admit(addr([10, 0, 0, 1], i), 100 + i as i32, 0)
                    .unwrap()
            })
            .collect();
        assert_eq!(admission.waiting(), 5);
        admission.release(c);
        for ticket in again {
            admission.release(ticket);
        }
        assert_eq!(admission.waiting(), 1);
    }

    #[test]
    fn ipv4_and_its_mapped_ipv6_form_are_one_peer() {
        let mut admission = Admission::new(0, &config(8, 1));
        let _t = admission.admit(addr([192, 0, 2, 7], 1), 3, 0).unwrap();
        let mapped = SocketAddr::from((std::net::Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped(), 2));
        assert_eq!(
            admission.admit(mapped, 4, 0).unwrap_err(),
            Refusal::PeerPreLogonLimit
        );
    }
}
