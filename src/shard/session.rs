//! One order-entry session's state on its shard: where it is in the
//! protocol (docs/PROTOCOL.md section 5), its sequence numbers, rate limit,
//! heartbeat clock, pending mass cancels and its send buffer.

use std::rc::Rc;

use super::notify::LocalNotify;
use super::outbox::Outbox;
use super::rate_limit::TokenBucket;
use crate::config::Role;
use crate::engine::{AccountId, SymbolId};
use crate::protocol::SessionEndReason;

/// A session exists only once its Logon was accepted: a connection before
/// that is not a session (see `ShardCore::first_message`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Active {
        account: AccountId,
        account_index: usize,
        role: Role,
        cancel_on_disconnect: bool,
    },
    /// SessionEnd is queued (or the connection broke): nothing more is read.
    Ended(Option<SessionEndReason>),
}

/// A MassCancel for several shards, waiting for each shard's count.
impl Phase {
    /// The session's account while it is active (logged once it ends).
    pub fn account(&self) -> Option<AccountId> {
        match *self {
            Phase::Active { account, .. } => Some(account),
            Phase::Ended(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PendingMassCancel {
    pub request_id: u64,
    pub symbol: SymbolId,
    pub remaining_shards: u16,
    pub canceled: u32,
    /// The first refusal of a shard's part (its journal refused it).
    pub refused: Option<crate::engine::RejectReason>,
}

/// Mass cancels a session may have in flight at once.
pub const MAX_PENDING_MASS_CANCELS: usize = 4;

pub struct Session {
    pub phase: Phase,
    /// `seq` the next client message must carry.
    pub expected_seq: u32,
    pub outbox: Outbox,
    /// Wakes this session's writer task.
    pub writer: Rc<LocalNotify>,
    /// Wakes this session's reader while back-pressure holds it
    /// (`ShardCore::resume`): the writer handed bytes over, another shard
    /// answered, the session ended, or the shard is shutting down.
    pub reader: Rc<LocalNotify>,
    pub bucket: TokenBucket,
    pub heartbeat_ns: u64,
    pub last_rx_ns: u64,
    pub last_tx_ns: u64,
    /// Outbox sequence seen at the last tick (detects sends since then).
    pub seq_at_tick: u32,
    /// `Outbox::taken` seen at the last tick (detects a client reading).
    pub taken_at_tick: u32,
    pub mass_cancels: [Option<PendingMassCancel>; MAX_PENDING_MASS_CANCELS],
    /// Commands sent to other shards whose `Processed` has not come back.
    pub remote_in_flight: u32,
    /// The reader holds whole messages it could not hand over (its own
    /// outbox or a ring is full): the client is sending, the gateway is the
    /// side not reading, so the idle timeout does not apply.
    pub input_pending: bool,
    /// Since when (monotonic ns) input has been pending *because this
    /// session's own outbox is over half full*, i.e. the client does not
    /// read its reports. Past the idle-timeout window it is a slow consumer.
    pub backlog_since_ns: Option<u64>,
    /// The client's address (for the log); `None` in tests that drive the
    /// core without sockets.
    pub peer: Option<std::net::SocketAddr>,
    /// Messages received from the client, the Logon included.
    pub messages_in: u64,
    /// Read completion (telemetry::clock) of the oldest request not yet
    /// answered by a write: the start of its `wire_to_wire` time. 0: none.
    pub unanswered_since_ns: u64,
    /// The client sent Logout while other shards still owed it answers:
    /// nothing more is read, and the session ends once they are in.
    pub logout_requested: bool,
}

impl Session {
    /// Every answer another shard owes the session is in: no command in
    /// flight, no mass cancel waiting for a shard's part.
    pub fn owed_nothing(&self) -> bool {
        let owed = self.remote_in_flight > 0 || self.mass_cancels.iter().any(Option::is_some);
        debug_assert!(
            self.remote_in_flight < u32::MAX,
            "in-flight counts never wrap"
        );
        !owed
    }

    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active { .. })
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended(_))
    }
}

/// Compares a presented token with the configured one in time that does not
/// depend on where they differ (both are at most 32 bytes; the comparison
/// always runs over 32).
pub fn tokens_match(configured: &[u8], presented: &[u8]) -> bool {
    // Config validation bounds tokens at TOKEN_LEN (32) bytes; longer ones
    // would compare only their first 32 bytes here.
    debug_assert!(configured.len() <= 32);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    let (na, nb) = (configured.len().min(32), presented.len().min(32));
    a[..na].copy_from_slice(&configured[..na]);
    b[..nb].copy_from_slice(&presented[..nb]);
    let mut diff = (configured.len() != presented.len()) as u8;
    for i in 0..32 {
        diff |= a[i] ^ b[i];
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn tokens_match_only_when_identical() {
        assert!(tokens_match(b"alice-demo-token", b"alice-demo-token"));
        assert!(!tokens_match(b"alice-demo-token", b"alice-demo-tokeN"));
        assert!(!tokens_match(b"alice-demo-token", b"alice-demo-token\0"));
        assert!(!tokens_match(b"alice", b""));
    }
}
