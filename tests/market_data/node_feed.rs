//! A client on Node's third-party `ws` library (`tests/node/`, installed
//! by `.ci/run` with `npm ci`), written from `docs/MARKET_DATA.md` alone, in
//! JSON mode: it checks every `prev` and checksum itself and prints the
//! trades and the book it rebuilt, which this test compares with the fills
//! and the levels of the orders it placed. A missing `ws` fails the test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tradsys::engine::Side::{Buy, Sell};
use tradsys::engine::TimeInForce;

use crate::support::gateway::{accepted, fill, limit, Gateway, ALICE, BOB, ETH};

#[test]
fn node_ws_client_in_json_mode_sees_the_trades_and_the_book() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    alice
        .new_order(&limit(ALICE, ETH, 1, Sell, 3_010, 40))
        .unwrap();
    accepted(&mut alice);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/md_feed_check.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .arg(format!("ws://{}/md", gateway.md_addr))
        .args(["ETH-USD", "3", "2990"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (installed by .ci/run)");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let next = |seen: &mut Vec<String>| {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("node client output so far: {seen:?} (is `ws` installed? .ci/run runs npm ci in tests/node)"));
        seen.push(line.clone());
        line
    };
    while next(&mut seen) != "READY" {}
    let mut fills = Vec::new();
    for i in 0..3 {
        let mut order = limit(BOB, ETH, 10 + i, Buy, 3_010, 10);
        order.tif = TimeInForce::Ioc;
        bob.new_order(&order).unwrap();
        accepted(&mut bob);
        let f = fill(&mut bob);
        fill(&mut alice);
        fills.push(format!("TRADE {} 3010 10", f.exec_id.get()));
    }
    alice
        .new_order(&limit(ALICE, ETH, 2, Buy, 2_990, 10))
        .unwrap();
    accepted(&mut alice);
    let mut trades = Vec::new();
    let book = loop {
        let line = next(&mut seen);
        if line.starts_with("TRADE ") {
            trades.push(line);
        } else if let Some(book) = line.strip_prefix("BOOK ") {
            break book.to_string();
        } else {
            assert!(!line.starts_with("FAIL"), "{seen:?}");
        }
    };
    assert_eq!(trades, fills);
    assert_eq!(
        book,
        r#"{"bids":[["2990","10",1]],"asks":[["3010","10",1]]}"#
    );
    assert_eq!(next(&mut seen), "1 passed, 0 failed", "{seen:?}");
    assert!(child.wait().unwrap().success(), "{seen:?}");
}
