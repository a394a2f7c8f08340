//! The latency "since reset" view: `POST /admin/latency-reset` (admin
//! token) starts a second set of totals on the admin thread; the shards
//! never reset, the since-start totals (what `/metrics` buckets, which
//! Prometheus needs cumulative) go on. Every interval handed over after a
//! reset goes into both, so in one `/stats` document the since-start count
//! minus the since-reset count is what was counted before the reset, and
//! it never changes afterwards.

use std::net::SocketAddr;

use crate::http::*;
use crate::support::gateway::*;
use tradsys::engine::Side::{Buy, Sell};

fn counts(stats: &str, stage: &str) -> (u64, u64) {
    let json: serde_json::Value = serde_json::from_str(stats).expect("JSON");
    let total = |view: &str| {
        (0..2)
            .map(|s| {
                json["shards"][s]["latency"][stage][view]["count"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("shards[{s}].latency.{stage}.{view}.count:\n{stats}"))
            })
            .sum::<u64>()
    };
    (total("total"), total("since_reset"))
}

/// `rounds` resting sells by Alice that Bob takes, on BTC and ETH.
fn trade(gateway: &Gateway, first: u64, rounds: u64) {
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    for i in first..first + rounds {
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

#[test]
fn latency_reset_starts_a_since_reset_view_and_leaves_the_since_start_totals() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config("", &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");

    trade(&gateway, 0, 50);
    let before = poll_until(admin, "/stats", |a| counts(&a.body, "journal").0 >= 200);
    let (start, since_reset) = counts(&before.body, "journal");
    assert_eq!(since_reset, start, "before any reset the two views agree");

    assert_eq!(post(admin, "/admin/latency-reset", None).status, 401);
    assert_eq!(
        post(admin, "/admin/latency-reset", Some("viewer-token")).status,
        403
    );
    assert_eq!(
        post(admin, "/admin/latency-reset", Some("alice-token")).status,
        403
    );
    assert_eq!(get(admin, "/admin/latency-reset").status, 405);
    let reset = post(admin, "/admin/latency-reset", Some(OPS_TOKEN));
    assert_eq!(reset.status, 200, "{}", reset.body);
    let answer: serde_json::Value = serde_json::from_str(&reset.body).expect("JSON answer");
    assert_eq!(answer["resets"], 1, "{}", reset.body);
    assert!(
        answer["reset_at_ns"].as_u64().unwrap() > 0,
        "{}",
        reset.body
    );

    let after_reset = get(admin, "/stats");
    let (start, since_reset) = counts(&after_reset.body, "journal");
    let before_reset = start - since_reset;
    assert!(before_reset >= 200, "{}", after_reset.body);

    trade(&gateway, 1_000, 25);
    let later = poll_until(admin, "/stats", |a| counts(&a.body, "journal").1 >= 100);
    let (start, since_reset) = counts(&later.body, "journal");
    assert_eq!(
        start - since_reset,
        before_reset,
        "what was counted before the reset stays out of the since-reset view"
    );
    let json: serde_json::Value = serde_json::from_str(&later.body).unwrap();
    assert_eq!(json["latency_reset"]["resets"], 1, "{}", later.body);

    let hgrm = get(admin, "/latency?stage=journal&since=reset");
    assert_eq!(hgrm.status, 200, "{}", hgrm.body);
    let total = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.split_once("Total count    =").map(|(_, v)| v))
            .and_then(|v| v.trim().trim_end_matches(']').trim().parse().ok())
            .unwrap_or_else(|| panic!("no total count in:\n{text}"))
    };
    let since_start = total(&get(admin, "/latency?stage=journal").body);
    assert!(total(&hgrm.body) >= 100 && total(&hgrm.body) < since_start);
    assert_eq!(get(admin, "/latency?stage=journal&since=never").status, 400);

    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
