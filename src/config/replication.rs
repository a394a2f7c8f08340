//! `[replication]`: shipping each shard's journal to NATS JetStream, and
//! the state checksums that let a follower prove it has not diverged
//! (docs/OPERATIONS.md, "Replication"). Off by default: with no
//! `nats_urls` the gateway ships nothing and starts no shipper thread.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// NATS servers (`nats://host:port`), any of the cluster's; empty:
    /// no shipping.
    pub nats_urls: Vec<String>,
    /// The JetStream stream the journal goes to. The shipper creates it
    /// if it is missing (subjects `{subject_prefix}.>`, file storage,
    /// `replicas` copies, discard none: it refuses rather than drops).
    pub stream: String,
    /// Shard N's records go to `{subject_prefix}.shard.N`.
    pub subject_prefix: String,
    /// Copies JetStream keeps of each message (1, 3 or 5; 3 needs a
    /// cluster of at least three servers).
    pub replicas: usize,
    /// Messages published but not yet acknowledged by JetStream, per shard.
    pub max_in_flight: usize,
    /// How often a shard journals a `state_checksum` record (if it appended
    /// anything since the last one); 0: never. Each costs the shard a walk
    /// of its books on its timer (O(resting orders)).
    pub checksum_interval_ms: u64,
    /// `tradsys follow`: the stream executions are published to, per
    /// account (created if missing); empty: no drop copy.
    pub drop_copy_stream: String,
    /// Account N's executions go to `{drop_copy_prefix}.N`.
    pub drop_copy_prefix: String,
}

impl ReplicationConfig {
    /// Whether the gateway ships its journal.
    pub fn enabled(&self) -> bool {
        !self.nats_urls.is_empty()
    }

    /// The subject of one shard's records.
    pub fn shard_subject(&self, shard: u16) -> String {
        format!("{}.shard.{shard}", self.subject_prefix)
    }

    /// The checks [`crate::config::Config::validate`] runs: `(field, rule)`
    /// of the first that fails.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.nats_urls.iter().any(|u| !u.starts_with("nats://")) {
            return Err(("replication.nats_urls", "each must start with nats://"));
        }
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !token(&self.stream) {
            return Err((
                "replication.stream",
                "letters, digits, '_' and '-' only, not empty",
            ));
        }
        if self.subject_prefix.is_empty() || !self.subject_prefix.split('.').all(token) {
            return Err((
                "replication.subject_prefix",
                "dot-separated tokens of letters, digits, '_' and '-'",
            ));
        }
        if !self.drop_copy_stream.is_empty() && !token(&self.drop_copy_stream) {
            return Err((
                "replication.drop_copy_stream",
                "letters, digits, '_' and '-' only (empty: no drop copy)",
            ));
        }
        // One subject under both streams' `{prefix}.>` would make JetStream
        // refuse the second stream ("subjects overlap"): neither prefix may
        // be the other or lie under it.
        let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}."));
        if !self.drop_copy_prefix.split('.').all(token)
            || under(&self.drop_copy_prefix, &self.subject_prefix)
            || under(&self.subject_prefix, &self.drop_copy_prefix)
        {
            return Err((
                "replication.drop_copy_prefix",
                "dot-separated tokens, neither it nor subject_prefix under the other",
            ));
        }
        if self.drop_copy_stream == self.stream {
            return Err((
                "replication.drop_copy_stream",
                "another stream than replication.stream",
            ));
        }
        if ![1, 3, 5].contains(&self.replicas) {
            return Err(("replication.replicas", "must be 1, 3 or 5"));
        }
        if !(1..=65_536).contains(&self.max_in_flight) {
            return Err(("replication.max_in_flight", "must be between 1 and 65536"));
        }
        if self.checksum_interval_ms != 0 && self.checksum_interval_ms < 10 {
            return Err(("replication.checksum_interval_ms", "0 (off) or at least 10"));
        }
        Ok(())
    }
}

impl Default for ReplicationConfig {
    fn default() -> ReplicationConfig {
        ReplicationConfig {
            nats_urls: Vec::new(),
            stream: "TRADSYS_JOURNAL".to_string(),
            subject_prefix: "tradsys.journal".to_string(),
            replicas: 3,
            max_in_flight: 1024,
            checksum_interval_ms: 0,
            drop_copy_stream: "TRADSYS_DROPCOPY".to_string(),
            drop_copy_prefix: "tradsys.dropcopy".to_string(),
        }
    }
}
