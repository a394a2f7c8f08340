//! The journal shipper's figures on `/metrics` and `/stats`: per shard the
//! last seq in the journal, the last seq JetStream acknowledged, the lag
//! between them, the shipper's state and its errors. Nothing when shipping
//! is off.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::replication::{ShipState, ShippingSnapshot};
use crate::shard::shared::Shared;

const STATES: [ShipState; 5] = [
    ShipState::Idle,
    ShipState::Connecting,
    ShipState::Shipping,
    ShipState::Disconnected,
    ShipState::Conflict,
];

/// Reads one gauge's value from a shard's figures.
type Gauge = fn(&ShippingSnapshot) -> u64;

/// The Prometheus lines (`tradsys_replication_*`).
pub fn metrics(out: &mut String, shared: &Shared) {
    let snapshots: Vec<_> = shared
        .replication
        .shards
        .iter()
        .map(|s| s.snapshot())
        .collect();
    if snapshots.is_empty() {
        return;
    }
    let gauges: [(&str, &str, Gauge); 3] = [
        (
            "tradsys_replication_journal_seq",
            "The last journal seq the shipper found in the shard's journal.",
            |s| s.journal_seq,
        ),
        (
            "tradsys_replication_shipped_seq",
            "The last journal seq JetStream acknowledged (stored on its replicas).",
            |s| s.shipped_seq,
        ),
        (
            "tradsys_replication_lag_records",
            "Journal records not yet acknowledged by JetStream: what a promotion would lose now.",
            |s| s.lag_records(),
        ),
    ];
    for (name, help, value) in gauges {
        super::metrics::header(out, name, "gauge", help);
        for (shard, snapshot) in snapshots.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", value(snapshot));
        }
    }
    let name = "tradsys_replication_state";
    super::metrics::header(
        out,
        name,
        "gauge",
        "1 for the shipper's state of the shard (idle, connecting, shipping, disconnected, conflict).",
    );
    for (shard, snapshot) in snapshots.iter().enumerate() {
        for state in STATES {
            let on = u8::from(snapshot.state == state);
            let _ = writeln!(
                out,
                "{name}{{shard=\"{shard}\",state=\"{}\"}} {on}",
                state.name()
            );
        }
    }
    let name = "tradsys_replication_errors_total";
    super::metrics::header(
        out,
        name,
        "counter",
        "Failed NATS connections, publishes or acknowledgements (each followed by a resume).",
    );
    for (shard, snapshot) in snapshots.iter().enumerate() {
        let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", snapshot.errors);
    }
}

/// The `/stats` section: `null` when shipping is off.
pub fn stats(shared: &Shared) -> Value {
    if !shared.config.replication.enabled() {
        return Value::Null;
    }
    let shards: Vec<Value> = shared
        .replication
        .shards
        .iter()
        .enumerate()
        .map(|(shard, s)| {
            let s = s.snapshot();
            json!({
                "shard": shard,
                "journal_seq": s.journal_seq,
                "shipped_seq": s.shipped_seq,
                "lag_records": s.lag_records(),
                "state": s.state.name(),
                "errors": s.errors,
            })
        })
        .collect();
    json!({
        "stream": shared.config.replication.stream,
        "subject_prefix": shared.config.replication.subject_prefix,
        "shards": shards,
    })
}
