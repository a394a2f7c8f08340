//! The admin endpoints of a running gateway, read over loopback by real
//! clients: `/health`, `/ready`, `/metrics` (checked by `promtool check
//! metrics` and by the Python `prometheus_client` parser), `/stats`, and
//! `/latency` (the `.hgrm` layout, and the encoded histogram decoded by the
//! Python `hdrh` package to the same counts and percentiles), and the
//! interval log (`/latency/log`, read by `hdrh`'s log reader). Orders cross
//! both shards so every stage of the order path has values.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::http::*;
use crate::support::gateway::*;
use tradsys::engine::Side::{Buy, Sell};

/// Round trips per symbol: each a resting sell and a buy that takes it.
const ROUNDS: u64 = 200;

/// Alice (whichever shard she lands on) rests sells that Bob takes, on
/// BTC (shard 0) and ETH (shard 1): local and cross-shard commands.
fn trade(gateway: &Gateway) {
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    for i in 0..ROUNDS {
        for (symbol, price, qty) in [(BTC, 10_000, 1), (ETH, 3_005, 10)] {
            alice
                .new_order(&limit(ALICE, symbol, i, Sell, price, qty))
                .unwrap();
            accepted(&mut alice);
            bob.new_order(&limit(BOB, symbol, i, Buy, price, qty))
                .unwrap();
            accepted(&mut bob);
            fill(&mut bob);
            fill(&mut alice);
        }
    }
}

fn check_with_promtool(metrics: &str) {
    if !have("promtool") {
        println!("SKIPPED promtool check: promtool is not installed (.ci/run installs the Debian prometheus package)");
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs tests/python/admin_check.py against the live endpoint.
fn check_with_python(admin: SocketAddr, check: &str, expected: u64) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/admin_check.py");
    let out = Command::new("python3")
        .args([
            script,
            check,
            &format!("http://{admin}"),
            &expected.to_string(),
        ])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(77) {
        println!("SKIPPED {check}: {stdout}");
        return;
    }
    assert!(
        out.status.success(),
        "admin_check.py {check}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn health_ready_metrics_stats_and_latency_are_served_and_read_by_third_party_tools() {
    let (gateway, admin, dir) = start_gateway();
    assert_eq!(get(admin, "/health").status, 200);
    let ready = get(admin, "/ready");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    trade(&gateway);
    // Every journal append and wire-to-wire of the trades is in the admin
    // thread's totals once the shards' intervals have been handed over (each
    // shard swaps on its own tick: one being complete says nothing of the
    // other), and every fill in the counters once each shard has ticked.
    let orders = ROUNDS * 4;
    let fills = |body: &str| {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        (0..2)
            .map(|s| json["shards"][s]["counters"]["fills"].as_u64().unwrap())
            .sum::<u64>()
    };
    let stats = poll_until(admin, "/stats", |a| {
        let both = |stage| stage_count(&a.body, 0, stage) + stage_count(&a.body, 1, stage);
        both("journal") >= orders && both("wire_to_wire") >= orders && fills(&a.body) == orders
    });
    for stage in [
        "intake",
        "journal",
        "engine",
        "report_out",
        "loop_cycle",
        "mesh_hop",
    ] {
        let count = stage_count(&stats.body, 0, stage) + stage_count(&stats.body, 1, stage);
        assert!(count > 0, "stage {stage} has values:\n{}", stats.body);
    }
    let journal = stage_count(&stats.body, 0, "journal") + stage_count(&stats.body, 1, "journal");
    assert!(journal >= orders, "a journal append per order: {journal}");

    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(metrics.body.ends_with('\n'));
    assert!(metrics.body.contains("tradsys_ready 1\n"));
    assert!(metrics.body.contains("tradsys_shard_up{shard=\"1\"} 1\n"));
    check_with_promtool(&metrics.body);
    check_with_python(admin, "metrics", journal);

    let hgrm = get(admin, "/latency?stage=wire_to_wire&shard=all");
    assert_eq!(hgrm.status, 200);
    check_hgrm_layout(&hgrm.body);
    check_with_python(admin, "latency", 0);
    check_with_python(admin, "log", 0);
    assert!(
        dir.join("journal/latency.hlog").exists(),
        "the log is on disk"
    );
    assert_eq!(get(admin, "/latency?stage=nope").status, 400);
    for query in [
        "stage=engine&stage=nope",
        "stage=engine&bogus=1",
        "stage=engine&unit=%",
    ] {
        let answer = get(admin, &format!("/latency?{query}"));
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
    }
    assert_eq!(get(admin, "/latency?stage=wire%5Fto%5Fwire").status, 200);
    assert_eq!(get(admin, "/nothing-here").status, 404);
    assert_eq!(request(admin, "DELETE", "/metrics", &[], "").status, 405);

    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The layout of Java's `outputPercentileDistribution`: header, blank
/// line, 4-column rows, a 3-column last row at percentile 1, 3 footers.
fn check_hgrm_layout(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "       Value     Percentile TotalCount 1/(1-Percentile)"
    );
    assert_eq!(lines[1], "");
    let rows: Vec<Vec<&str>> = lines[2..]
        .iter()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.len() > 10, "{text}");
    let (last, body) = rows.split_last().unwrap();
    assert!(body.iter().all(|r| r.len() == 4), "{text}");
    assert_eq!((last.len(), last[1]), (3, "1.000000000000"), "{text}");
    let footers: Vec<&&str> = lines.iter().filter(|l| l.starts_with("#[")).collect();
    assert_eq!(footers.len(), 3, "{text}");
    assert!(footers[0].starts_with("#[Mean    = "));
    assert!(footers[1].starts_with("#[Max     = "));
    assert!(footers[2].starts_with("#[Buckets = "));
    assert!(footers[2].ends_with("SubBuckets     =         2048]"));
}

/// `/book` serves the example live-book page (`examples/md.html`, which
/// reads the market-data feed itself) with the configured `market_data`
/// port filled in, and nothing it needs from elsewhere.
#[test]
fn book_page_is_served_with_the_market_data_port_filled_in() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let md_port = free_port();
    let text = admin_config("", &dir, admin, "interval_ms = 20").replacen(
        "market_data = \"127.0.0.1:0\"",
        &format!("market_data = \"127.0.0.1:{md_port}\""),
        1,
    );
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    let page = get(admin, "/book");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let example = include_str!("../../examples/md.html");
    let tag = format!(r#"<meta name="tradsys-md-port" content="{md_port}">"#);
    assert!(page.body.contains(&tag), "{}", &page.body[..600]);
    assert_eq!(
        page.body
            .replacen(&tag, r#"<meta name="tradsys-md-port" content="">"#, 1),
        example
    );
    for external in ["src=", "href=", "@import", "url("] {
        assert!(!page.body.contains(external), "{external}");
    }
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status line's code of `head` sent as it is.
fn raw_status(addr: std::net::SocketAddr, head: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("admin endpoint accepts");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    raw.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_loopback_admin_endpoint_answers_only_loopback_host_names() {
    // A page whose name an attacker resolves to 127.0.0.1 (DNS rebinding)
    // reaches a loopback admin endpoint from the operator's browser with
    // its own name in `Host`: it got /stats and /metrics (found by a
    // hostile pass). Names that are the loopback are answered.
    let (_gateway, admin, _dir) = start_gateway();
    let port = admin.port();
    let get = |host: &str| {
        let head = format!("GET /stats HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        raw_status(admin, &head)
    };
    for host in ["evil.example", &format!("evil.example:{port}"), "10.0.0.1"] {
        assert_eq!(get(host), 403, "{host}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LOCALHOST".to_string(),
        format!("[::1]:{port}"),
        "127.0.0.2".to_string(),
    ] {
        assert_eq!(get(&host), 200, "{host}");
    }
    // HTTP/1.0 without Host: no browser sends that.
    assert_eq!(raw_status(admin, "GET /health HTTP/1.0\r\n\r\n"), 200);
}
