//! What a shard counts about its market-data clients (written only by the
//! shard; copied to the telemetry board on its tick like the other
//! counters).

use super::client::CloseReason;

#[derive(Clone, Copy, Debug, Default)]
pub struct MdCounters {
    /// WebSocket connections that completed the handshake.
    pub clients_opened: u64,
    /// Connections whose slot was freed (all reasons).
    pub clients_closed: u64,
    /// Upgrade requests refused (bad request, no free slot).
    pub handshakes_refused: u64,
    /// Connections gone (closed, reset, or past the subscribe timeout)
    /// before their upgrade request was complete.
    pub handshakes_abandoned: u64,
    /// Connections refused at accept because their address held
    /// `max_unsubscribed_per_ip` unsubscribed connections on the shard.
    pub peer_limit_refused: u64,
    /// Closed by the gateway, per reason.
    pub closed_client: u64,
    pub closed_protocol: u64,
    pub closed_slow_consumer: u64,
    pub closed_subscribe_timeout: u64,
    pub closed_rate_limit: u64,
    pub closed_shutdown: u64,
    pub closed_internal: u64,
    pub closed_resync: u64,
    /// Times this shard's replica took a symbol's state from its owner.
    pub replica_resyncs: u64,
    /// Stream messages encoded (once per message, whatever the subscriber count).
    pub messages_encoded: u64,
    /// Frames queued to clients (one per message per subscriber).
    pub frames_queued: u64,
    /// Clients closed with 4001 because the backlog dropped a message the
    /// pump had not copied to them yet (the shard fell behind its clients;
    /// also counted in `closed_slow_consumer`).
    pub fanout_lapped: u64,
}

impl MdCounters {
    pub fn count_close(&mut self, why: CloseReason) {
        let counter = match why {
            CloseReason::ClientClosed => &mut self.closed_client,
            CloseReason::Protocol => &mut self.closed_protocol,
            CloseReason::SlowConsumer => &mut self.closed_slow_consumer,
            CloseReason::SubscribeTimeout => &mut self.closed_subscribe_timeout,
            CloseReason::RateLimit => &mut self.closed_rate_limit,
            CloseReason::Shutdown => &mut self.closed_shutdown,
            CloseReason::Internal => &mut self.closed_internal,
            CloseReason::Resync => &mut self.closed_resync,
        };
        *counter += 1;
    }

    /// Clients connected now.
    pub fn clients(&self) -> u64 {
        debug_assert!(self.clients_closed <= self.clients_opened);
        self.clients_opened - self.clients_closed
    }
}
