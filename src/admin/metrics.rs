//! `GET /metrics`: the Prometheus text exposition format 0.0.4. Every
//! metric has one HELP and one TYPE line before its samples, names carry
//! the `tradsys_` prefix and base units (seconds, bytes), counters end in
//! `_total`, and latency is a real histogram per shard and stage
//! (cumulative `le` buckets from the admin thread's since-start
//! HdrHistogram, `_sum` exact, `_count`), never averaged percentiles:
//! Prometheus can add histograms across shards and instances.

use std::fmt::Write;

use super::store::LatencyStore;
use crate::engine::RejectReason;
use crate::shard::shared::Shared;
use crate::telemetry::board::{BoardSnapshot, MetricKind};
use crate::telemetry::Stage;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The bucket ladder, in seconds: 100 ns to 100 ms, then +Inf.
const LE_SECONDS: [f64; 19] = [
    1e-7, 2.5e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3,
    1e-2, 2e-2, 5e-2, 1e-1,
];

pub fn render(shared: &Shared, store: &LatencyStore) -> String {
    let boards: Vec<BoardSnapshot> = shared
        .telemetry
        .shards
        .iter()
        .map(|b| b.snapshot())
        .collect();
    let mut out = String::with_capacity(64 << 10);
    gateway_gauges(&mut out, shared, &boards);
    shard_numbers(&mut out, &boards);
    rejects(&mut out, shared);
    super::replication::metrics(&mut out, shared);
    latency(&mut out, store);
    debug_assert!(out.ends_with('\n'));
    out
}

pub(super) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gateway_gauges(out: &mut String, shared: &Shared, boards: &[BoardSnapshot]) {
    header(
        out,
        "tradsys_ready",
        "gauge",
        "1 when every shard is up, journals recovered and listeners bound (as GET /ready).",
    );
    let _ = writeln!(
        out,
        "tradsys_ready {}",
        u8::from(super::routes::ready(shared))
    );
    header(
        out,
        "tradsys_shard_up",
        "gauge",
        "1 while the shard runs (journal recovered).",
    );
    for (shard, board) in boards.iter().enumerate() {
        let _ = writeln!(
            out,
            "tradsys_shard_up{{shard=\"{shard}\"}} {}",
            u8::from(board.up)
        );
    }
}

fn shard_numbers(out: &mut String, boards: &[BoardSnapshot]) {
    let Some(first) = boards.first() else {
        return;
    };
    for (index, (field, kind, help, _)) in first.fields().into_iter().enumerate() {
        // A gauge kept in nanoseconds is exported in seconds.
        let (base, scale) = match field.strip_suffix("_ns") {
            Some(base) => (format!("{base}_seconds"), 1e-9),
            None => (field.to_string(), 1.0),
        };
        let (name, kind) = match kind {
            MetricKind::Counter => (format!("tradsys_{base}_total"), "counter"),
            MetricKind::Gauge => (format!("tradsys_{base}"), "gauge"),
        };
        header(out, &name, kind, help);
        for (shard, board) in boards.iter().enumerate() {
            let value = board.fields()[index].3;
            if scale == 1.0 {
                let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {value}");
            } else {
                let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", value as f64 * scale);
            }
        }
    }
}

/// `PriceBand` -> `price_band`: the reason's label value.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rejects(out: &mut String, shared: &Shared) {
    let name = "tradsys_order_rejects_total";
    header(
        out,
        name,
        "counter",
        "Orders rejected, by reason (docs/PROTOCOL.md reject codes), by the engine or the gateway.",
    );
    for shard in 0..shared.config.shard_count() {
        let counts = shared.telemetry.rejects(shard);
        for (reason, count) in RejectReason::ALL.iter().zip(counts) {
            let reason = snake_case(&format!("{reason:?}"));
            let _ = writeln!(
                out,
                "{name}{{shard=\"{shard}\",reason=\"{reason}\"}} {count}"
            );
        }
    }
}

fn latency(out: &mut String, store: &LatencyStore) {
    let name = "tradsys_latency_seconds";
    header(
        out,
        name,
        "histogram",
        "Per-stage latency inside the gateway since start (stages: docs/OPERATIONS.md).",
    );
    for shard in 0..store.shard_count() {
        for stage in Stage::ALL {
            let totals = store.get(shard, stage);
            let labels = format!("shard=\"{shard}\",stage=\"{}\"", stage.name());
            for le in LE_SECONDS {
                let le_ns = (le * 1e9).round() as u64;
                let count = totals.total.count_between(0, le_ns);
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
            }
            let count = totals.total.len();
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "{name}_sum{{{labels}}} {}",
                totals.sum_ns as f64 * 1e-9
            );
            let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
        }
    }
}
