//! Admission: what it costs a shard to take in order-entry connections
//! that are not (yet) sessions, and what it says when it keeps one out.
//!
//! - [`AcceptBackoff`]: an accept error that would repeat at once (at the
//!   file-descriptor limit `accept` fails immediately, every time, even
//!   with nothing pending) makes the acceptor wait, 1 ms doubling up to
//!   100 ms, until an accept succeeds again. Without the pause the
//!   acceptor never yields the shard: sessions go unanswered and a
//!   shutdown never runs.
//! - [`Admission`]: counts every connection kept out or dropped, per
//!   [`Refusal`], and logs each kind at most once a second, with the
//!   peer's address and how many lines were left out.

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::rate_limit::LogThrottle;

/// Why a connection was kept out or dropped before it became a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `accept` failed: the connection stays in the listen backlog.
    AcceptFailed,
    /// The socket could not be duplicated for its writer (fd limit): the
    /// connection is closed.
    DupFailed,
}

impl Refusal {
    pub const ALL: [Refusal; 2] = [Refusal::AcceptFailed, Refusal::DupFailed];

    /// The log message: what happened to the connection.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::AcceptFailed => "accept failed",
            Refusal::DupFailed => "connection closed: cannot duplicate its socket",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const LOG_PERIOD_NS: u64 = 1_000_000_000;

/// One shard's refusal counters and their rate-limited log.
pub struct Admission {
    shard: u16,
    counts: [u64; Refusal::ALL.len()],
    logs: [LogThrottle; Refusal::ALL.len()],
}

impl Admission {
    pub fn new(shard: u16) -> Admission {
        Admission {
            shard,
            counts: [0; Refusal::ALL.len()],
            logs: [LogThrottle::new(LOG_PERIOD_NS); Refusal::ALL.len()],
        }
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
        let total = self.counts[i];
        match peer {
            Some(peer) => tracing::warn!(
                shard = self.shard,
                %peer,
                %detail,
                suppressed,
                total,
                "{}",
                refusal.message()
            ),
            None => tracing::warn!(
                shard = self.shard,
                %detail,
                suppressed,
                total,
                "{}",
                refusal.message()
            ),
        }
    }

    /// Logs the count of lines left out for each kind whose events have
    /// stopped (called by the ticker).
    pub fn flush(&mut self, now_ns: u64) {
        for refusal in Refusal::ALL {
            let i = refusal.index();
            if let Some(suppressed) = self.logs[i].overdue(now_ns) {
                tracing::warn!(
                    shard = self.shard,
                    suppressed,
                    total = self.counts[i],
                    "{} (summary)",
                    refusal.message()
                );
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
        let mut admission = Admission::new(0);
        for i in 0..1_000 {
            admission.refused(Refusal::AcceptFailed, None, &"EMFILE", i * 1_000_000);
        }
        admission.refused(Refusal::DupFailed, None, &"EMFILE", 0);
        assert_eq!(admission.count(Refusal::AcceptFailed), 1_000);
        assert_eq!(admission.count(Refusal::DupFailed), 1);
        assert_eq!(admission.total(), 1_001);
    }
}
