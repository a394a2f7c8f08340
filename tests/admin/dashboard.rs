//! The dashboard renders in a real browser with real numbers: headless
//! Chromium loads `/dashboard` from a gateway that has traded on both
//! shards, runs its script (which reads `/stats` and `/latency`), and the
//! page's text shows the gateway ready and every order-path stage with its
//! count and percentiles, and the market-data panel (which reads
//! `/api/v1/tickers`) each symbol's best bid and ask, last price, volume and
//! trade count as traded, with the feed's client and message counters; a
//! screenshot is taken (kept beside the test's journal when it fails).
//! Fails if no Chromium is installed (.ci/run installs it).

use std::net::SocketAddr;
use std::process::Command;

use crate::http::*;
use crate::support::gateway::*;
use crate::support::ws_client::WsClient;
use tradsys::engine::Side::{Buy, Sell};

const ROUNDS: u64 = 50;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| have(c))
}

/// Runs the browser headless on `url` with `extra` arguments; its stdout.
fn browse(browser: &str, url: &str, extra: &[&str]) -> String {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
            "--window-size=1000,1100",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("the browser runs");
    assert!(
        output.status.success(),
        "{browser}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of the table cells of row `id` in the dumped DOM.
fn row(dom: &str, id: &str) -> Vec<String> {
    let start = dom
        .find(&format!("<tr id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no {id}:\n{dom}"));
    let row = &dom[start..start + dom[start..].find("</tr>").unwrap()];
    row.split("<td>")
        .skip(1)
        .map(|cell| cell.split("</td>").next().unwrap().to_string())
        .collect()
}

#[test]
fn dashboard_shows_live_numbers_in_a_headless_browser() {
    let browser =
        chromium().expect("no chromium installed (.ci/run installs the Debian chromium package)");
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config("", &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    // One feed client, subscribed to what the orders below make.
    let mut feed = WsClient::connect(gateway.md_addr, "/md");
    feed.send_text(
        r#"{"op":"subscribe","req_id":1,"symbols":["BTC-USD","ETH-USD"],"channels":["trades"]}"#,
    );
    for _ in 0..2 {
        let answer = feed.recv_skip_heartbeats();
        assert!(answer.text().contains("subscribed"), "{}", answer.text());
    }
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
    // A resting bid and ask on each symbol: (id, symbol, side, price, qty).
    for (id, symbol, side, price, qty) in [
        (1_000, BTC, Sell, 10_010, 3),
        (1_001, BTC, Buy, 9_990, 2),
        (1_002, ETH, Sell, 3_010, 20),
        (1_003, ETH, Buy, 3_000, 10),
    ] {
        let (client, account) = if side == Sell {
            (&mut alice, ALICE)
        } else {
            (&mut bob, BOB)
        };
        client
            .new_order(&limit(account, symbol, id, side, price, qty))
            .unwrap();
        accepted(client);
    }
    // Every shard has handed over the intervals of its part (each swaps on
    // its own tick) and published its feed counters (on its tick too).
    poll_until(admin, "/stats", |a| {
        let both = |stage| stage_count(&a.body, 0, stage) + stage_count(&a.body, 1, stage);
        let json: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        let counter = |name: &str| -> u64 {
            (0..2)
                .map(|s| json["shards"][s]["counters"][name].as_u64().unwrap_or(0))
                .sum()
        };
        both("journal") >= ROUNDS * 4
            && both("wire_to_wire") >= ROUNDS * 4
            && counter("ws_clients") == 1
            && counter("md_messages_encoded") >= ROUNDS * 2
    });
    let url = format!("http://{admin}/dashboard");
    let dom = browse(browser, &url, &["--dump-dom"]);
    assert!(
        dom.contains("<span id=\"ready\" class=\"yes\">ready</span>"),
        "{dom}"
    );
    for stage in [
        "intake",
        "mesh_hop",
        "journal",
        "engine",
        "report_out",
        "wire_to_wire",
    ] {
        let cells = row(&dom, &format!("row-{stage}"));
        assert_eq!(cells.len(), 8, "{stage}: {cells:?}");
        assert_eq!(cells[0], stage);
        let count: u64 = cells[1].parse().unwrap();
        let p50: f64 = cells[2].parse().unwrap();
        let max: f64 = cells[7].parse().unwrap();
        assert!(count > 0 && p50 > 0.0 && max >= p50, "{stage}: {cells:?}");
    }
    // The market-data panel: what the orders made, as /api/v1/tickers has it.
    for (name, bid, ask, last, volume) in [
        ("BTC-USD", ["9990", "2"], ["10010", "3"], "10000", ROUNDS),
        (
            "ETH-USD",
            ["3000", "10"],
            ["3010", "20"],
            "3005",
            ROUNDS * 10,
        ),
    ] {
        let cells = row(&dom, &format!("md-{name}"));
        assert_eq!(cells.len(), 10, "{name}: {cells:?}");
        assert_eq!(
            cells[..8],
            [
                name,
                "trading",
                bid[0],
                bid[1],
                ask[0],
                ask[1],
                last,
                volume.to_string().as_str()
            ],
            "{name}"
        );
        assert_eq!(cells[8], ROUNDS.to_string(), "{name}: trades");
        assert!(cells[9].parse::<u64>().unwrap() > 3 * ROUNDS, "{name}: seq");
    }
    let tile = |id: &str| -> u64 {
        let start = dom
            .find(&format!("<b id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no {id}"));
        let text = &dom[start + id.len() + 9..];
        text[..text.find("</b>").unwrap()].parse().unwrap()
    };
    assert_eq!(tile("md-clients"), 1, "the one feed client");
    assert!(
        tile("md-messages") >= ROUNDS * 2,
        "a trade message per trade"
    );
    assert!(tile("md-frames") >= ROUNDS * 2, "each queued to the client");
    assert_eq!(tile("md-cuts"), 0);
    let wire_to_wire: u64 = row(&dom, "row-wire_to_wire")[1].parse().unwrap();
    assert!(wire_to_wire >= ROUNDS * 4, "{wire_to_wire}");
    assert!(
        !dom.contains("<span id=\"updated\">failed"),
        "the script failed:\n{dom}"
    );

    let screenshot = dir.join("dashboard.png");
    browse(
        browser,
        &url,
        &[&format!("--screenshot={}", screenshot.display())],
    );
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    drop((alice, bob, feed));
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
