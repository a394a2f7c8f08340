//! The dashboard renders in a real browser with real numbers: headless
//! Chromium loads `/dashboard` from a gateway that has traded on both
//! shards, runs its script (which reads `/stats` and `/latency`), and the
//! page's text shows the gateway ready and every order-path stage with its
//! count and percentiles; a screenshot is taken (kept beside the test's
//! journal when it fails). Skipped, with the reason printed, only if no
//! Chromium is installed (.ci/run installs it).

use std::net::SocketAddr;
use std::process::Command;

use crate::http::*;
use crate::support::gateway::*;
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
    let Some(browser) = chromium() else {
        println!("SKIPPED: no chromium installed (.ci/run installs the Debian chromium package)");
        return;
    };
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config("", &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
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
    // Every shard has handed over the intervals of its part (each swaps on
    // its own tick).
    poll_until(admin, "/stats", |a| {
        let both = |stage| stage_count(&a.body, 0, stage) + stage_count(&a.body, 1, stage);
        both("journal") >= ROUNDS * 4 && both("wire_to_wire") >= ROUNDS * 4
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
    drop((alice, bob));
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
