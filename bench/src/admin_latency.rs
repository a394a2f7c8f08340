//! The gateway's own view of one latency stage, read from its admin
//! endpoint (`GET /latency?stage=NAME&format=base64`: the since-start
//! histogram, V2 compressed, base64), so a bench can say what the gateway
//! added apart from what its load generator suffered. Two snapshots
//! subtract to the values recorded between them (the shards hand their
//! histograms over every `telemetry.interval_ms`, so a snapshot waits for
//! one hand-over first).

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

/// The bench config's `telemetry.interval_ms` (the default) and a margin.
const HAND_OVER: Duration = Duration::from_millis(1_200);

/// `stage`'s since-start histogram (ns) of every shard, once the shards
/// have handed over what they recorded until now; `None` if the endpoint
/// did not answer with one.
pub fn snapshot(admin: SocketAddr, stage: &str) -> Option<Histogram<u64>> {
    std::thread::sleep(HAND_OVER);
    let head = format!(
        "GET /latency?stage={stage}&format=base64 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = crate::admin_http::request(admin, &head).ok()?;
    if status != 200 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()?;
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// What was recorded between `before` and `after` (two snapshots).
pub fn between(before: &Histogram<u64>, after: &Histogram<u64>) -> Histogram<u64> {
    let mut delta = after.clone();
    delta
        .subtract(before)
        .expect("a later snapshot holds every value of an earlier one");
    assert_eq!(delta.len(), after.len() - before.len());
    delta
}

/// One line: `label p50 / p99 / max us (n values)`.
pub fn describe(label: &str, histogram: &Histogram<u64>) -> String {
    let us = |ns: u64| ns as f64 / 1e3;
    format!(
        "{label} p50={:.1} p99={:.1} max={:.1} us (n={})",
        us(histogram.value_at_quantile(0.5)),
        us(histogram.value_at_quantile(0.99)),
        us(histogram.max()),
        histogram.len()
    )
}
