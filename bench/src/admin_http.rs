//! The gateway's admin HTTP endpoint as the `scaling` bench reads it:
//! `/stats` (which shard a session landed on, the per-stage figures) and
//! `POST /admin/latency-reset` (so a phase's stage figures are its own);
//! `admin_latency.rs` sends its `/latency` requests through [`request`] too.
//! One request per connection (`Connection: close`), blocking: these calls
//! sit between measured phases, never inside one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Sends one request; returns the status and the body.
pub fn request(admin: SocketAddr, head: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(admin)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(head.as_bytes())?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// `GET /stats`, parsed; panics with the reason when the gateway does not
/// answer it (the bench cannot go on without it).
pub fn stats(admin: SocketAddr) -> Value {
    let (status, body) = request(
        admin,
        "GET /stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap_or_else(|e| panic!("GET /stats from {admin}: {e}"));
    assert_eq!(status, 200, "GET /stats: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET /stats is not JSON: {e}"))
}

/// `POST /admin/latency-reset` with the admin `token`: the since-reset
/// view of every shard's stages begins again.
pub fn latency_reset(admin: SocketAddr, token: &str) {
    let head = format!(
        "POST /admin/latency-reset HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (status, body) =
        request(admin, &head).unwrap_or_else(|e| panic!("latency-reset at {admin}: {e}"));
    assert_eq!(status, 200, "latency-reset: {body}");
}

/// One published counter of every shard, in shard order.
pub fn counter(stats: &Value, name: &str) -> Vec<u64> {
    let shards = stats["shards"].as_array().expect("/stats has shards");
    assert!(!shards.is_empty(), "/stats lists no shard");
    shards
        .iter()
        .map(|s| {
            s["counters"][name]
                .as_u64()
                .unwrap_or_else(|| panic!("/stats has no counter {name}"))
        })
        .collect()
}

/// A stage's since-reset summary on one shard: (count, p50 ns, p99 ns).
pub fn stage_since_reset(stats: &Value, shard: usize, stage: &str) -> (u64, u64, u64) {
    let view = &stats["shards"][shard]["latency"][stage]["since_reset"];
    let field = |name: &str| {
        view[name]
            .as_u64()
            .unwrap_or_else(|| panic!("/stats shard {shard} {stage} has no {name}"))
    };
    (field("count"), field("p50_ns"), field("p99_ns"))
}

/// Intervals the admin thread has received from each shard (any stage:
/// every stage is handed over at once).
fn intervals(stats: &Value) -> Vec<u64> {
    let shards = stats["shards"].as_array().expect("/stats has shards");
    shards
        .iter()
        .map(|s| {
            s["latency"]["wire_to_wire"]["intervals"]
                .as_u64()
                .unwrap_or(0)
        })
        .collect()
}

/// Waits until every shard has handed over two more intervals than now,
/// so that the histograms holding what ran before this call are at the
/// admin thread; returns `/stats` then. Bounded: `interval_ms` apart, a
/// shard that hands over nothing in 10 s is a stuck gateway.
pub fn settled_stats(admin: SocketAddr) -> Value {
    let from = intervals(&stats(admin));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = stats(admin);
        if intervals(&now).iter().zip(&from).all(|(n, f)| *n >= f + 2) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the shards handed over no interval in 10 s"
        );
        // Polling an HTTP endpoint between phases: a pause, not a sync.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        serde_json::json!({
            "shards": [
                { "shard": 0, "counters": { "sessions_opened": 3 },
                  "latency": { "mesh_hop": { "since_reset": { "count": 5, "p50_ns": 700, "p99_ns": 900 } },
                               "wire_to_wire": { "intervals": 7 } } },
                { "shard": 1, "counters": { "sessions_opened": 1 },
                  "latency": { "mesh_hop": { "since_reset": { "count": 0, "p50_ns": 0, "p99_ns": 0 } },
                               "wire_to_wire": { "intervals": 9 } } }
            ]
        })
    }

    #[test]
    fn counters_and_stage_summaries_are_read_per_shard_in_order() {
        let stats = document();
        assert_eq!(counter(&stats, "sessions_opened"), vec![3, 1]);
        assert_eq!(stage_since_reset(&stats, 0, "mesh_hop"), (5, 700, 900));
        assert_eq!(stage_since_reset(&stats, 1, "mesh_hop"), (0, 0, 0));
        assert_eq!(intervals(&stats), vec![7, 9]);
    }
}
