//! `GET /stats`: what `/metrics` exports, as one JSON document for
//! scripts: per shard the listeners it binds and its published counters,
//! and per shard and stage the since-start and last-interval percentiles
//! (ns), counts and interval bounds; and per stage the since-start
//! percentiles of every shard merged (histograms added).

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use super::store::{LatencyStore, View};
use crate::engine::RejectReason;
use crate::shard::shared::Shared;
use crate::telemetry::Stage;

const QUANTILES: [(&str, f64); 6] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99_9", 0.999),
    ("p99_99", 0.9999),
    ("max", 1.0),
];

fn summary(histogram: &Histogram<u64>) -> Value {
    let mut map = Map::new();
    map.insert("count".into(), json!(histogram.len()));
    for (name, quantile) in QUANTILES {
        let value = if histogram.is_empty() {
            0
        } else if quantile >= 1.0 {
            histogram.max()
        } else {
            histogram.value_at_quantile(quantile)
        };
        map.insert(format!("{name}_ns"), json!(value));
    }
    Value::Object(map)
}

pub fn render(shared: &Shared, store: &LatencyStore) -> String {
    let shards: Vec<Value> = shared
        .telemetry
        .shards
        .iter()
        .enumerate()
        .map(|(shard, board)| {
            let mut latency = Map::new();
            for stage in Stage::ALL {
                let totals = store.get(shard, stage);
                let mut total = summary(&totals.total);
                total["sum_ns"] = json!(totals.sum_ns);
                let mut since_reset = summary(&totals.since_reset);
                since_reset["sum_ns"] = json!(totals.since_reset_sum_ns);
                let last = totals.last.as_ref().map(|interval| {
                    let mut last = summary(&interval.histogram);
                    last["start_ns"] = json!(interval.start_ns);
                    last["end_ns"] = json!(interval.end_ns);
                    last
                });
                latency.insert(
                    stage.name().into(),
                    json!({ "total": total, "since_reset": since_reset, "last_interval": last, "intervals": totals.intervals }),
                );
            }
            let rejects: Map<String, Value> = RejectReason::ALL
                .iter()
                .zip(shared.telemetry.rejects(shard))
                .map(|(r, n)| (super::metrics::snake_case(&format!("{r:?}")), json!(n)))
                .collect();
            let listeners = shared.config.listeners(shard);
            let listeners = json!({
                "order_entry": listeners.order_entry,
                "market_data": listeners.market_data,
            });
            json!({ "shard": shard, "listeners": listeners, "counters": board.snapshot(), "rejects": rejects, "latency": latency })
        })
        .collect();
    // Every shard's histograms added together (never averaged percentiles).
    let all: Vec<usize> = (0..store.shard_count()).collect();
    let mut merged = Map::new();
    for stage in Stage::ALL {
        let (histogram, sum_ns) = store.merged(stage, &all, View::SinceStart);
        let mut summary = summary(&histogram);
        summary["sum_ns"] = json!(sum_ns);
        merged.insert(stage.name().into(), summary);
    }
    let document = json!({
        "version": crate::VERSION,
        "ready": super::routes::ready(shared),
        "interval_ms": shared.config.telemetry.interval_ms,
        "latency_capture": shared.config.telemetry.latency_capture,
        "latency_reset": { "reset_at_ns": store.reset_at_ns, "resets": store.resets },
        "shards": shards,
        "merged": merged,
        "replication": super::replication::stats(shared),
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON of plain values");
    text.push('\n');
    text
}
