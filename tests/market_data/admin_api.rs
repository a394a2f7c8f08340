//! The admin thread's market-state queries (`/api/v1/orderbook`, `/trades`,
//! `/tickers`, docs/OPERATIONS.md "Market state") against a running
//! gateway, over real HTTP: after random order flow on both shards, each
//! answer equals what the independent price-time model of `live.rs` says
//! order entry made (books, trades, ticker figures), and each is valid at
//! the feed sequence it names: a WebSocket client subscribing then gets a
//! snapshot at that sequence with the same checksum. A restart answers the
//! same from the journal's replay, in a new epoch.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

use crate::live::{free_port, Level, MdGateway, Traders};
use crate::replica::Replica;
use crate::support::gateway::{config, Gateway, BTC, ETH};
use crate::support::ws_client::WsClient;
use tradsys::engine::SymbolId;
use tradsys::websocket::frame::Opcode;

/// The test config's `engine.max_levels_per_side`: the deepest answer.
const MAX_DEPTH: usize = 64;

/// One HTTP/1.1 exchange (the admin thread answers one per connection):
/// the status and the body.
fn http(admin: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(admin).expect("the admin endpoint listens");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// `GET path`, which must answer 200 with JSON.
pub fn json(admin: SocketAddr, path: &str) -> Value {
    let (status, body) = http(admin, "GET", path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// A 64-bit integer the answers spell as a decimal string.
fn int<T: std::str::FromStr>(value: &Value) -> T {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap_or_else(|_| panic!("not an integer: {value}"))
}

fn levels(side: &Value) -> Vec<Level> {
    side.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                int(&l["price"]),
                int(&l["qty"]),
                l["orders"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A WebSocket client's snapshot of `symbol`'s book at depth 10.
fn feed_snapshot(md: SocketAddr, symbol: SymbolId) -> Replica {
    let mut client = WsClient::connect(md, "/md");
    client.send_text(&format!(
        r#"{{"op":"subscribe","req_id":1,"symbols":[{symbol}],"channels":["book"],"depth":10}}"#
    ));
    let answer = client.recv_skip_heartbeats();
    assert!(answer.text().contains("subscribed"), "{}", answer.text());
    let snapshot = client.recv_skip_heartbeats();
    assert_eq!(snapshot.opcode, Opcode::Binary);
    let mut replica = Replica::default();
    replica.load(&snapshot.payload).unwrap();
    replica
}

fn check_book(gateway: &MdGateway, traders: &Traders, symbol: SymbolId, name: &str) {
    let admin = gateway.admin;
    let model = &traders.books[&symbol];
    let book = json(
        admin,
        &format!("/api/v1/orderbook/{name}?depth={MAX_DEPTH}"),
    );
    let (bids, asks) = model.top(MAX_DEPTH);
    assert_eq!(levels(&book["bids"]), bids, "{name}: {book}");
    assert_eq!(levels(&book["asks"]), asks, "{name}: {book}");
    assert_eq!(book["bid_levels"].as_u64(), Some(bids.len() as u64));
    assert_eq!(book["ask_levels"].as_u64(), Some(asks.len() as u64));
    assert_eq!(book["symbol"], name);
    assert_eq!(book["symbol_id"].as_u64(), Some(u64::from(symbol)));
    assert_eq!(book["status"], "trading");
    // The query form, by id, with the default and a smaller depth.
    let top = json(admin, &format!("/api/v1/orderbook?symbol={symbol}&depth=3"));
    let (bids, asks) = model.top(3);
    assert_eq!((levels(&top["bids"]), levels(&top["asks"])), (bids, asks));
    assert_eq!(top["seq"], book["seq"], "nothing traded in between");
    // The feed at the answer's sequence: same book, same checksum.
    let replica = feed_snapshot(gateway.md, symbol);
    assert_eq!(replica.last, int::<u64>(&book["seq"]), "{name}");
    assert_eq!(
        u64::from(replica.checksum()),
        book["checksum"].as_u64().unwrap()
    );
    let (bids, asks) = model.top(10);
    let feed = |side: Vec<(i64, u64, u32)>| -> Vec<Level> {
        side.into_iter()
            .map(|(p, q, c)| (p, q, u64::from(c)))
            .collect()
    };
    assert_eq!(feed(replica.bids_best_first()), bids);
    assert_eq!(feed(replica.asks_best_first()), asks);
}

fn check_trades(admin: SocketAddr, traders: &Traders, symbol: SymbolId, name: &str) {
    let traded = &traders.trades[&symbol];
    assert!(
        traded.len() > 10,
        "the flow traded {name}: {}",
        traded.len()
    );
    for limit in [1usize, 7, 100] {
        let answer = json(admin, &format!("/api/v1/trades/{name}?limit={limit}"));
        let trades: Vec<(u64, i64, u64)> = answer["trades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (int(&t["trade_id"]), int(&t["price"]), int(&t["qty"])))
            .collect();
        let expected = &traded[traded.len().saturating_sub(limit)..];
        assert_eq!(trades, expected, "{name} limit {limit}");
        let seqs: Vec<u64> = answer["trades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| int(&t["seq"]))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert!(seqs.last().copied() <= Some(int(&answer["seq"])));
    }
}

fn check_ticker(ticker: &Value, traders: &Traders, symbol: SymbolId) {
    let traded = &traders.trades[&symbol];
    let prices: Vec<i64> = traded.iter().map(|t| t.1).collect();
    let volume: u64 = traded.iter().map(|t| t.2).sum();
    let notional: i128 = traded
        .iter()
        .map(|t| i128::from(t.1) * i128::from(t.2))
        .sum();
    assert_eq!(int::<usize>(&ticker["trade_count"]), traded.len());
    assert_eq!(int::<u64>(&ticker["volume"]), volume);
    assert_eq!(int::<i128>(&ticker["notional"]), notional);
    assert_eq!(int::<i64>(&ticker["open"]), prices[0]);
    assert_eq!(int::<i64>(&ticker["last"]), *prices.last().unwrap());
    assert_eq!(int::<u64>(&ticker["last_qty"]), traded.last().unwrap().2);
    assert_eq!(int::<i64>(&ticker["high"]), *prices.iter().max().unwrap());
    assert_eq!(int::<i64>(&ticker["low"]), *prices.iter().min().unwrap());
    let (bids, asks) = traders.books[&symbol].top(1);
    let best =
        |side: &Value| (!side.is_null()).then(|| levels(&Value::Array(vec![side.clone()]))[0]);
    assert_eq!(best(&ticker["bid"]), bids.first().copied(), "{ticker}");
    assert_eq!(best(&ticker["ask"]), asks.first().copied(), "{ticker}");
}

#[test]
fn orderbook_trades_and_tickers_equal_what_order_entry_traded() {
    let gateway = MdGateway::start();
    let admin = gateway.admin;
    let mut traders = Traders::logon(&gateway.gateway);
    traders.random_flow(0x5eed_1234, 300);
    for (symbol, name) in [(BTC, "BTC-USD"), (ETH, "ETH-USD")] {
        check_book(&gateway, &traders, symbol, name);
        check_trades(admin, &traders, symbol, name);
    }
    let tickers = json(admin, "/api/v1/tickers");
    let tickers = tickers["tickers"].as_array().unwrap();
    assert_eq!(tickers.len(), 2);
    for (ticker, symbol) in tickers.iter().zip([BTC, ETH]) {
        assert_eq!(ticker["symbol_id"].as_u64(), Some(u64::from(symbol)));
        check_ticker(ticker, &traders, symbol);
    }
    // Bad queries get their status, never an answer about something else.
    let too_deep = format!("/api/v1/orderbook/BTC-USD?depth={}", MAX_DEPTH + 1);
    for (path, status) in [
        ("/api/v1/orderbook/NOPE-USD", 404),
        ("/api/v1/orderbook", 400),
        ("/api/v1/orderbook/BTC-USD?depth=0", 400),
        (too_deep.as_str(), 400),
        ("/api/v1/trades?symbol=2&limit=101", 400),
        ("/api/v1/tickers/BTC-USD", 404),
        ("/api/v1/nothing", 404),
        // Twice, or not the endpoint's: a bad query, not the first value.
        ("/api/v1/trades/BTC-USD?limit=5&limit=500", 400),
        ("/api/v1/orderbook/BTC-USD?depth=5&bogus=1", 400),
        ("/api/v1/tickers?symbol=1", 400),
        // A name in the path or the query is percent-decoded.
        ("/api/v1/orderbook/BTC%2DUSD", 200),
        ("/api/v1/trades?symbol=ETH%2DUSD", 200),
    ] {
        assert_eq!(http(admin, "GET", path).0, status, "{path}");
    }
    assert_eq!(http(admin, "POST", "/api/v1/tickers").0, 405);
    drop(traders);
    gateway.stop();
}

/// Waits (bounded) until the gateway says it is ready.
fn ready(admin: SocketAddr) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while TcpStream::connect(admin).is_err() || http(admin, "GET", "/ready").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_restart_answers_the_same_books_trades_and_tickers_from_the_journal() {
    const PATHS: [&str; 5] = [
        "/api/v1/orderbook/BTC-USD?depth=64",
        "/api/v1/orderbook/ETH-USD?depth=64",
        "/api/v1/trades/BTC-USD?limit=100",
        "/api/v1/trades/ETH-USD?limit=100",
        "/api/v1/tickers",
    ];
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = config("", &dir).replacen(
        "admin = \"127.0.0.1:0\"",
        &format!("admin = \"{admin}\""),
        1,
    );
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    ready(admin);
    let mut traders = Traders::logon(&gateway);
    traders.random_flow(0x5eed_1234, 300);
    let before: Vec<Value> = PATHS.iter().map(|p| json(admin, p)).collect();
    drop(traders);
    let (status, _) = gateway.stop();
    assert!(status.success());

    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway restarts");
    ready(admin);
    let after: Vec<Value> = PATHS.iter().map(|p| json(admin, p)).collect();
    let epoch = |v: &Value| -> u64 { int(&v["epoch"]) };
    let (old, new) = (epoch(&before[0]), epoch(&after[0]));
    assert!(new > old, "a restart is a new epoch: {old} then {new}");
    // The same answers but for the epoch.
    let without_epoch = |v: &Value| {
        v.to_string()
            .replace(&new.to_string(), "E")
            .replace(&old.to_string(), "E")
    };
    for ((path, was), is) in PATHS.iter().zip(&before).zip(&after) {
        assert_eq!(without_epoch(was), without_epoch(is), "{path}");
    }
    let trades = before[2]["trades"].as_array().unwrap().len();
    assert!(trades > 10, "{trades} trades replayed");
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
