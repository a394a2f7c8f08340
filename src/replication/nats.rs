//! The NATS side shared by the shipper and the follower: connecting to the
//! cluster and the stream both use. The client (async-nats) runs on a
//! current-thread tokio runtime owned by one housekeeping thread: tokio is
//! never on a shard thread, so no shard ever polls, wakes or allocates for
//! NATS.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::config::ReplicationConfig;

/// How long one JetStream request (a publish acknowledgement, a stream
/// lookup) may take before the caller treats NATS as down and retries.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// A current-thread runtime for the calling housekeeping thread.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Connects to any of `config.nats_urls` (the client reconnects by itself
/// afterwards, to any server of the cluster it learned of).
pub async fn connect(config: &ReplicationConfig) -> Result<jetstream::Context, String> {
    assert!(config.enabled(), "connect without nats_urls");
    let urls: Vec<async_nats::ServerAddr> = config
        .nats_urls
        .iter()
        .map(|u| {
            u.parse()
                .map_err(|e| format!("replication.nats_urls {u}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(REQUEST_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .max_reconnects(None)
        .connect(urls)
        .await
        .map_err(|e| format!("NATS connect: {e}"))?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .build(client))
}

/// The journal stream, created if missing: one subject per shard under the
/// prefix, file storage, `replicas` copies, nothing ever discarded by a
/// limit (retention is the operator's call: see docs/OPERATIONS.md).
pub async fn journal_stream(
    js: &jetstream::Context,
    config: &ReplicationConfig,
) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("stream {}: {e}", config.stream))
}
