//! Operator controls over the admin endpoint: the token rules on every
//! mutation (401 without a known token, 403 for a viewer or a trader, 200
//! for an admin; no token in the log), and each control's effect on order
//! entry: halt and resume, the kill switch on and off, a new reference
//! price, end of day (Day orders expire, their owners are told); halt and
//! the reference price survive a restart through the journal's replay.

use std::net::SocketAddr;

use crate::http::*;
use crate::support::gateway::*;
use tradsys::engine::Side::{Buy, Sell};
use tradsys::engine::{CancelReason, RejectReason, TimeInForce};

const MUTATIONS: [&str; 6] = [
    "/admin/halt?symbol=BTC-USD",
    "/admin/resume?symbol=BTC-USD",
    "/admin/kill?account=1",
    "/admin/unkill?account=1",
    "/admin/reference-price?symbol=BTC-USD&price=10000",
    "/admin/end-of-day",
];

fn start(dir: &std::path::Path, admin: SocketAddr) -> Gateway {
    Gateway::start_config(dir, &admin_config("", dir, admin, ""), None).expect("gateway starts")
}

fn ok(admin: SocketAddr, path: &str) {
    let answer = post(admin, path, Some(OPS_TOKEN));
    assert_eq!(answer.status, 200, "POST {path}: {}", answer.body);
}

#[test]
fn every_mutation_needs_an_admin_token_and_no_token_is_logged() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gateway = start(&dir, admin);
    for path in MUTATIONS {
        assert_eq!(post(admin, path, None).status, 401, "{path}: no token");
        assert_eq!(
            post(admin, path, Some("no-such-token")).status,
            401,
            "{path}"
        );
        assert_eq!(
            post(admin, path, Some("viewer-token")).status,
            403,
            "{path}: viewer"
        );
        assert_eq!(
            post(admin, path, Some("alice-token")).status,
            403,
            "{path}: trader"
        );
        let answer = request(
            admin,
            "GET",
            path,
            &[("Authorization", "Bearer ops-token")],
            "",
        );
        assert_eq!(answer.status, 405, "{path}: GET");
        let unauthorized = post(admin, path, None);
        assert_eq!(
            unauthorized.header("www-authenticate"),
            Some("Bearer realm=\"tradsys\"")
        );
    }
    for path in MUTATIONS {
        ok(admin, path);
    }
    assert_eq!(
        post(admin, "/admin/halt?symbol=NOPE", Some(OPS_TOKEN)).status,
        400
    );
    assert_eq!(
        post(admin, "/admin/kill?account=77", Some(OPS_TOKEN)).status,
        400
    );
    // Not a multiple of ETH-USD's tick (5).
    let bad_price = post(
        admin,
        "/admin/reference-price?symbol=2&price=3001",
        Some(OPS_TOKEN),
    );
    assert_eq!(bad_price.status, 400);
    // A parameter given twice, or one the endpoint does not take, is a bad
    // query, not a guess (a hostile pass found the first value taken: a
    // halt of ETH-USD for `symbol=ETH-USD&symbol=BTC-USD`).
    for path in [
        "/admin/halt?symbol=ETH-USD&symbol=BTC-USD",
        "/admin/reference-price?symbol=2&price=3000&price=5",
        "/admin/halt?symbol=1&bogus=1",
        "/admin/end-of-day?symbol=1",
    ] {
        let answer = post(admin, path, Some(OPS_TOKEN));
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
    }
    // Values are percent-decoded.
    let resumed = post(admin, "/admin/resume?symbol=ETH%2DUSD", Some(OPS_TOKEN));
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let (status, log) = gateway.stop();
    assert!(status.success());
    let log = log.join("\n");
    for token in ["ops-token", "viewer-token", "alice-token", "no-such-token"] {
        assert!(!log.contains(token), "the log shows {token}");
    }
    assert!(
        log.lines().any(|l| l.contains("operator command")
            && l.contains("operator=ops")
            && l.contains("Halt")),
        "each command is logged with its operator:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn halt_kill_switch_and_reference_price_act_on_order_entry_and_survive_a_restart() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gateway = start(&dir, admin);
    let mut alice = gateway.logon(ALICE);
    // Halt: BTC (shard 0) refuses new orders; ETH (shard 1) trades on.
    ok(admin, "/admin/halt?symbol=BTC-USD");
    alice
        .new_order(&limit(ALICE, BTC, 1, Buy, 10_000, 1))
        .unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::SymbolHalted.code());
    // Counted by reason on the symbol's shard (published on its tick).
    let line = "tradsys_order_rejects_total{shard=\"0\",reason=\"symbol_halted\"} 1\n";
    poll_until(admin, "/metrics", |a| a.body.contains(line));
    alice
        .new_order(&limit(ALICE, ETH, 2, Buy, 3_000, 10))
        .unwrap();
    let resting = accepted(&mut alice);
    ok(admin, "/admin/resume?symbol=1");
    alice
        .new_order(&limit(ALICE, BTC, 3, Buy, 9_000, 1))
        .unwrap();
    let btc_resting = accepted(&mut alice);
    // Kill switch: every resting order of Alice, on both shards, canceled;
    // her new orders refused until it is off.
    ok(admin, "/admin/kill?account=1");
    let mut reasons = [canceled(&mut alice), canceled(&mut alice)];
    reasons.sort_by_key(|c| c.order_id.get());
    let mut ids = [resting.order_id.get(), btc_resting.order_id.get()];
    ids.sort();
    assert_eq!(
        reasons.iter().map(|c| c.order_id.get()).collect::<Vec<_>>(),
        ids
    );
    assert!(reasons
        .iter()
        .all(|c| c.reason == CancelReason::KillSwitch.code()));
    alice
        .new_order(&limit(ALICE, ETH, 4, Buy, 3_000, 10))
        .unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::AccountKilled.code());
    ok(admin, "/admin/unkill?account=1");
    alice
        .new_order(&limit(ALICE, ETH, 5, Sell, 3_100, 10))
        .unwrap();
    accepted(&mut alice);
    // Reference price: BTC's band (10%) moves from 10,000 to 20,000.
    ok(admin, "/admin/reference-price?symbol=BTC-USD&price=20000");
    alice
        .new_order(&limit(ALICE, BTC, 6, Buy, 10_500, 1))
        .unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::PriceBand.code());
    ok(admin, "/admin/halt?symbol=ETH-USD");
    drop(alice);
    let (status, _) = gateway.stop();
    assert!(status.success());

    // Replay repeats the operator commands: ETH still halted, BTC's band
    // still around 20,000.
    let gateway = start(&dir, admin);
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, ETH, 7, Buy, 3_000, 10))
        .unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::SymbolHalted.code());
    alice
        .new_order(&limit(ALICE, BTC, 8, Buy, 10_500, 1))
        .unwrap();
    assert_eq!(rejected(&mut alice), RejectReason::PriceBand.code());
    alice
        .new_order(&limit(ALICE, BTC, 9, Buy, 19_000, 1))
        .unwrap();
    accepted(&mut alice);
    drop(alice);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn end_of_day_expires_day_orders_and_tells_their_owners() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gateway = start(&dir, admin);
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    let day = |account, symbol, id, price, qty| {
        let mut order = limit(account, symbol, id, Buy, price, qty);
        order.tif = TimeInForce::Day;
        order
    };
    alice.new_order(&day(ALICE, BTC, 1, 9_900, 1)).unwrap();
    let alice_day = accepted(&mut alice);
    bob.new_order(&day(BOB, ETH, 2, 2_995, 10)).unwrap();
    let bob_day = accepted(&mut bob);
    // A GTC order stays.
    alice
        .new_order(&limit(ALICE, ETH, 3, Buy, 2_990, 10))
        .unwrap();
    let alice_gtc = accepted(&mut alice);
    ok(admin, "/admin/end-of-day");
    let expired = canceled(&mut alice);
    assert_eq!(
        (expired.order_id.get(), expired.reason),
        (alice_day.order_id.get(), CancelReason::Expired.code())
    );
    let expired = canceled(&mut bob);
    assert_eq!(
        (expired.order_id.get(), expired.reason),
        (bob_day.order_id.get(), CancelReason::Expired.code())
    );
    // The GTC order is still there: Bob trades with it.
    bob.new_order(&limit(BOB, ETH, 4, Sell, 2_990, 10)).unwrap();
    accepted(&mut bob);
    assert_eq!(fill(&mut alice).order_id.get(), alice_gtc.order_id.get());
    drop((alice, bob));
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scheduled_end_of_day_expires_day_orders_by_itself() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // Six seconds from now on the wall clock of zone +01:00 (time enough
    // to start and rest an order; the test then waits on the client).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let local = (now + 6 + 3600) % 86_400;
    let at = format!(
        "{:02}:{:02}:{:02}",
        local / 3600,
        local % 3600 / 60,
        local % 60
    );
    let text = format!(
        "{}\n[schedule]\nend_of_day = \"{at}\"\nzone = \"+01:00\"\n",
        // Heartbeats every 10 s: the client only waits meanwhile.
        admin_config("heartbeat_interval_ms = 10000", &dir, admin, "")
    );
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    let mut alice = gateway.logon(ALICE);
    let mut order = limit(ALICE, ETH, 1, Buy, 2_995, 10);
    order.tif = TimeInForce::Day;
    alice.new_order(&order).unwrap();
    let day = accepted(&mut alice);
    let expired = canceled(&mut alice);
    assert_eq!(
        (expired.order_id.get(), expired.reason),
        (day.order_id.get(), CancelReason::Expired.code())
    );
    drop(alice);
    let (status, log) = gateway.stop();
    assert!(status.success());
    assert!(
        log.iter()
            .any(|l| l.contains("operator command") && l.contains("operator=schedule")),
        "logged as the schedule's"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
