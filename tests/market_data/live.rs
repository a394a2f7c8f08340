//! The example clients of `examples/` against a running gateway: orders
//! placed over order entry on both shards, and the book and trades they
//! imply (an independent price-time model here) must be what
//! `examples/md_book.py` keeps (binary and JSON modes, every checksum
//! verified, no resync), what a Node `ws` client keeps
//! (`tests/node/md_ws_check.cjs`), and what `examples/md.html`, served by
//! the admin endpoint at `/book`, shows in headless Chromium.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::clients::{need_python_module, Page};
use crate::support::gateway::*;
use tradsys::client::{Client, Received};
use tradsys::engine::{Price, Qty, Side, SymbolId};

pub use crate::support::ports::free_port;

/// A gateway (two shards: BTC-USD on shard 0, ETH-USD on shard 1) whose
/// market-data and admin endpoints listen on known ports.
pub struct MdGateway {
    pub gateway: Gateway,
    pub md: SocketAddr,
    pub admin: SocketAddr,
    dir: PathBuf,
}

impl MdGateway {
    pub fn start() -> MdGateway {
        MdGateway::start_with("")
    }

    /// With `overrides` as `support::gateway::config` takes them.
    pub fn start_with(overrides: &str) -> MdGateway {
        let dir = Gateway::new_dir();
        let md: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let text = config(overrides, &dir);
        for key in ["market_data", "admin"] {
            assert!(text.contains(&format!("{key} = \"127.0.0.1:0\"")), "{key}");
        }
        let text = text
            .replacen(
                "market_data = \"127.0.0.1:0\"",
                &format!("market_data = \"{md}\""),
                1,
            )
            .replacen(
                "admin = \"127.0.0.1:0\"",
                &format!("admin = \"{admin}\""),
                1,
            );
        let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(md).is_err() {
            assert!(
                Instant::now() < deadline,
                "nothing listens on the market_data address {md}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        MdGateway {
            gateway,
            md,
            admin,
            dir,
        }
    }

    pub fn stop(self) {
        let (status, log) = self.gateway.stop();
        assert!(status.success(), "{status}: {log:?}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// The model: price-time priority, levels of (client order id, qty) queues.

#[derive(Default)]
pub struct ModelBook {
    bids: BTreeMap<Price, VecDeque<(u64, Qty)>>,
    asks: BTreeMap<Price, VecDeque<(u64, Qty)>>,
}

/// A level as the clients print it: price, qty, order count.
pub type Level = (i64, u64, u64);

impl ModelBook {
    /// Matches order `id` and rests what is left; the trades, each
    /// (price, qty, the resting order's id).
    pub fn place(
        &mut self,
        id: u64,
        side: Side,
        price: Price,
        mut qty: Qty,
    ) -> Vec<(Price, Qty, u64)> {
        let mut trades = Vec::new();
        let (own, other) = match side {
            Side::Buy => (&mut self.bids, &mut self.asks),
            Side::Sell => (&mut self.asks, &mut self.bids),
        };
        while qty > 0 {
            let best = match side {
                Side::Buy => other.keys().next().copied().filter(|&p| p <= price),
                Side::Sell => other.keys().next_back().copied().filter(|&p| p >= price),
            };
            let Some(best) = best else { break };
            let level = other.get_mut(&best).unwrap();
            let (resting, left) = level.front_mut().unwrap();
            let traded = qty.min(*left);
            trades.push((best, traded, *resting));
            qty -= traded;
            *left -= traded;
            if *left == 0 {
                level.pop_front();
            }
            if level.is_empty() {
                other.remove(&best);
            }
        }
        if qty > 0 {
            own.entry(price).or_default().push_back((id, qty));
        }
        trades
    }

    pub fn cancel(&mut self, id: u64) {
        for side in [&mut self.bids, &mut self.asks] {
            side.retain(|_, level| {
                level.retain(|(o, _)| *o != id);
                !level.is_empty()
            });
        }
    }

    pub fn resting(&self, id: u64) -> bool {
        self.bids
            .values()
            .chain(self.asks.values())
            .any(|l| l.iter().any(|(o, _)| *o == id))
    }

    /// The top `n` levels per side, best first.
    pub fn top(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        let level = |(p, l): (&Price, &VecDeque<(u64, Qty)>)| {
            (*p, l.iter().map(|(_, q)| *q).sum::<u64>(), l.len() as u64)
        };
        (
            self.bids.iter().rev().take(n).map(level).collect(),
            self.asks.iter().take(n).map(level).collect(),
        )
    }
}

// ---------------------------------------------------------------------------
// Order entry: Alice sells, Bob buys (no self-trade), the model follows.

/// Symbols, each with its price grid: (id, name, tick, lot, mid).
const SYMBOLS: [(SymbolId, &str, i64, u64, i64); 2] = [
    (BTC, "BTC-USD", 1, 1, 10_000),
    (ETH, "ETH-USD", 5, 10, 3_000),
];

pub struct Traders {
    alice: Client,
    bob: Client,
    next_id: u64,
    /// client order id -> (engine order id, symbol, side)
    orders: HashMap<u64, (u64, SymbolId, Side)>,
    /// resting client order ids per account (0 Alice, 1 Bob), oldest first
    open: [VecDeque<u64>; 2],
    pub books: HashMap<SymbolId, ModelBook>,
    /// (exec id, price, qty) of every trade, per symbol, in order
    pub trades: HashMap<SymbolId, Vec<(u64, i64, u64)>>,
}

/// The next `n` messages of `client` other than heartbeats.
fn take(client: &mut Client, n: usize) -> Vec<Received> {
    (0..n)
        .map(|_| {
            client
                .recv_skip_heartbeats()
                .expect("an order-entry report")
        })
        .collect()
}

impl Traders {
    /// Alice and Bob logged on with the longest heartbeat interval (30 s):
    /// the test leaves them idle while clients start.
    pub fn logon(gateway: &Gateway) -> Traders {
        let session = |account| {
            let mut client = gateway.connect();
            client
                .logon(account, token(account), 30_000, false)
                .expect("logon accepted");
            client
        };
        Traders {
            alice: session(ALICE),
            bob: session(BOB),
            next_id: 1,
            orders: HashMap::new(),
            open: [VecDeque::new(), VecDeque::new()],
            books: SYMBOLS
                .iter()
                .map(|s| (s.0, ModelBook::default()))
                .collect(),
            trades: SYMBOLS.iter().map(|s| (s.0, Vec::new())).collect(),
        }
    }

    /// A GTC limit order: Alice's if it sells, Bob's if it buys; waits for
    /// its acceptance and every fill it makes, on both sessions; the
    /// trades' exec ids.
    pub fn order(&mut self, symbol: SymbolId, side: Side, price: Price, qty: Qty) -> Vec<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let (me, account) = match side {
            Side::Sell => (0, ALICE),
            Side::Buy => (1, BOB),
        };
        let book = self.books.get_mut(&symbol).unwrap();
        let trades = book.place(id, side, price, qty);
        let (mine, theirs) = match side {
            Side::Sell => (&mut self.alice, &mut self.bob),
            Side::Buy => (&mut self.bob, &mut self.alice),
        };
        mine.new_order(&limit(account, symbol, id, side, price, qty))
            .unwrap();
        let reports = take(mine, 1 + trades.len());
        let order_id = reports
            .iter()
            .find_map(|r| match r {
                Received::OrderAccepted(m) => Some(m.order_id.get()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("order {id}: {reports:?}"));
        // The engine's fills are the model's trades, in order.
        let fills: Vec<(u64, i64, u64)> = reports
            .iter()
            .filter_map(|r| match r {
                Received::Fill(f) => Some((f.exec_id.get(), f.price.get(), f.qty.get())),
                _ => None,
            })
            .collect();
        let expected: Vec<(i64, u64)> = trades.iter().map(|(p, q, _)| (*p, *q)).collect();
        let filled: Vec<(i64, u64)> = fills.iter().map(|(_, p, q)| (*p, *q)).collect();
        assert_eq!(filled, expected, "order {id}: {reports:?}");
        let passive = take(theirs, trades.len());
        assert!(
            passive.iter().all(|r| matches!(r, Received::Fill(_))),
            "{passive:?}"
        );
        self.orders.insert(id, (order_id, symbol, side));
        let book = &self.books[&symbol];
        if book.resting(id) {
            self.open[me].push_back(id);
        }
        self.open[1 - me].retain(|o| book.resting(*o));
        self.trades.get_mut(&symbol).unwrap().extend(&fills);
        fills.iter().map(|f| f.0).collect()
    }

    /// Cancels the oldest resting order of Alice (0) or Bob (1), if any.
    pub fn cancel_oldest(&mut self, who: usize) {
        let Some(id) = self.open[who].pop_front() else {
            return;
        };
        let (order_id, symbol, _) = self.orders[&id];
        let cancel_id = self.next_id;
        self.next_id += 1;
        let client = if who == 0 {
            &mut self.alice
        } else {
            &mut self.bob
        };
        client.cancel(cancel_id, symbol, order_id).unwrap();
        let report = take(client, 1);
        assert!(
            matches!(report[0], Received::OrderCanceled(_)),
            "{report:?}"
        );
        self.books.get_mut(&symbol).unwrap().cancel(id);
    }

    /// `steps` random orders and cancels on both symbols (seeded), keeping
    /// each account under its open-order limit.
    pub fn random_flow(&mut self, seed: u64, steps: usize) {
        let mut state = seed | 1;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..steps {
            let (symbol, _, tick, lot, mid) = SYMBOLS[next(2) as usize];
            let who = next(2) as usize;
            if next(5) == 0 || self.open[who].len() >= 20 {
                self.cancel_oldest(who);
                continue;
            }
            let qty = lot * (1 + next(5));
            // Sells from mid - 2 ticks up, buys from mid + 2 ticks down:
            // the books overlap by a few ticks, so many orders trade.
            let offset = tick * next(12) as i64;
            let (side, price) = if who == 0 {
                (Side::Sell, mid - 2 * tick + offset)
            } else {
                (Side::Buy, mid + 2 * tick - offset)
            };
            self.order(symbol, side, price, qty);
        }
    }
}

// ---------------------------------------------------------------------------
// examples/md_book.py

/// `examples/md_book.py --jsonl` running against the gateway; its events,
/// read as they come.
pub struct BookClient {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// The last book event per symbol: (bids, asks).
    pub books: HashMap<u64, (Vec<Level>, Vec<Level>)>,
    /// (trade id, price, qty) of every trade event per symbol, in order.
    pub trades: HashMap<u64, Vec<(u64, i64, u64)>>,
    /// Every event that is not a book, trade or answer (resyncs, epochs).
    pub other: Vec<serde_json::Value>,
    pub checksums: u64,
    pub seen: Vec<String>,
}

impl BookClient {
    /// `examples/md_book.py` in `format` (`binary` or `json`) with `extra`
    /// arguments, or with `node`, the Node `ws` client
    /// `tests/node/md_ws_check.cjs` (binary).
    pub fn start(md: SocketAddr, format: &str, extra: &[&str]) -> BookClient {
        let url = format!("ws://{md}/md");
        let mut command = if format == "node" {
            need_node_ws();
            let mut command = Command::new("node");
            command
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/node/md_ws_check.cjs"
                ))
                .args([url.as_str(), "BTC-USD", "ETH-USD"]);
            command
        } else {
            need_python_module("websockets", "websockets");
            let mut command = Command::new("python3");
            command
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/md_book.py"))
                .args(["--url", &url, "--format", format, "--jsonl"])
                .args(["--symbols", "BTC-USD", "ETH-USD"])
                .args(extra)
                .env("PYTHONDONTWRITEBYTECODE", "1");
            command
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("the {format} client runs: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        BookClient {
            child,
            lines,
            books: HashMap::new(),
            trades: HashMap::new(),
            other: Vec::new(),
            checksums: 0,
            seen: Vec::new(),
        }
    }

    fn absorb(&mut self, line: &str) {
        self.seen.push(line.to_string());
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let levels = |v: &serde_json::Value| -> Vec<Level> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l[0].as_i64().unwrap(),
                        l[1].as_u64().unwrap(),
                        l[2].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let symbol = event["symbol"].as_u64().unwrap_or(0);
        match event["event"].as_str().unwrap() {
            "book" => {
                self.checksums = event["checksums"].as_u64().unwrap();
                let book = (levels(&event["bids"]), levels(&event["asks"]));
                self.books.insert(symbol, book);
            }
            "trade" => self.trades.entry(symbol).or_default().push((
                event["trade_id"].as_u64().unwrap(),
                event["price"].as_i64().unwrap(),
                event["qty"].as_u64().unwrap(),
            )),
            "answer" => assert_ne!(event["type"], "error", "{line}"),
            "bbo" => {}
            _ => self.other.push(event),
        }
    }

    /// Reads events until `done` holds (panics with what it saw if it does
    /// not within 30 s, or if the client exits).
    pub fn until(&mut self, what: &str, done: impl Fn(&BookClient) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.absorb(&line),
                Err(_) => panic!(
                    "md_book.py: never {what}; books {:?}, trades {:?}, other {:?}, \
                     last lines:\n{}",
                    self.books,
                    self.trades,
                    self.other,
                    self.seen[self.seen.len().saturating_sub(10)..].join("\n")
                ),
            }
        }
    }
}

/// Panics, saying what to install, unless Node can load the `ws` package
/// from `tests/node/` (`cd tests/node && npm ci`, as .ci/run does).
fn need_node_ws() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");
    let output = Command::new("node")
        .current_dir(dir)
        .args(["-e", "require('ws')"])
        .output()
        .unwrap_or_else(|e| panic!("node: {e} (install Node.js: apt-get install nodejs npm)"));
    assert!(
        output.status.success(),
        "this test needs Node's ws package: `cd tests/node && npm ci` (.ci/run runs it)\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Drop for BookClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn python_example_keeps_the_book_that_order_entry_implies() {
    let md = MdGateway::start();
    let mut traders = Traders::logon(&md.gateway);
    // Something on the books before the clients subscribe: their snapshots.
    traders.random_flow(7, 30);
    let mut clients = [
        BookClient::start(md.md, "binary", &[]),
        BookClient::start(md.md, "json", &[]),
        BookClient::start(md.md, "node", &[]),
    ];
    // This one loses every 50th message on purpose: it must notice (a
    // `prev` that does not chain, a heartbeat's `stream_last`), resync,
    // and still end with the model's books.
    let mut lossy = BookClient::start(md.md, "binary", &["--drop", "50"]);
    for client in clients.iter_mut().chain([&mut lossy]) {
        client.until("got both snapshots equal to the model", |c| {
            SYMBOLS
                .iter()
                .all(|s| c.books.get(&(s.0 as u64)) == Some(&traders.books[&s.0].top(10)))
        });
    }
    let before: HashMap<SymbolId, usize> =
        traders.trades.iter().map(|(s, t)| (*s, t.len())).collect();
    traders.random_flow(0x5eed_1234, 300);
    for client in &mut clients {
        client.until("kept the model's books and trades", |c| {
            SYMBOLS.iter().all(|s| {
                let trades = &traders.trades[&s.0][before[&s.0]..];
                c.books.get(&(s.0 as u64)) == Some(&traders.books[&s.0].top(10))
                    && c.trades.get(&(s.0 as u64)).map_or(0, Vec::len) >= trades.len()
            })
        });
        for s in SYMBOLS {
            let trades = &traders.trades[&s.0][before[&s.0]..];
            assert!(!trades.is_empty(), "{}: the flow made no trade", s.1);
            assert_eq!(client.trades[&(s.0 as u64)], trades, "{}", s.1);
        }
        assert!(
            client.other.is_empty(),
            "resyncs or epochs: {:?}",
            client.other
        );
        // A snapshot per symbol, then a verified checksum per book message.
        assert!(client.checksums > 2 + 10, "{}", client.checksums);
    }
    lossy.until("resynced to the model's books", |c| {
        SYMBOLS
            .iter()
            .all(|s| c.books.get(&(s.0 as u64)) == Some(&traders.books[&s.0].top(10)))
    });
    let resyncs = lossy
        .other
        .iter()
        .filter(|e| e["event"] == "resync")
        .count();
    assert!(resyncs > 0, "{:?}", lossy.other);
    assert!(
        lossy.other.iter().all(|e| e["event"] == "resync"),
        "{:?}",
        lossy.other
    );
    println!(
        "md_book.py binary, md_book.py json, node ws: {}, {}, {} checksums verified, books \
         and trades equal to the model's; md_book.py --drop 50: {resyncs} resyncs, books equal",
        clients[0].checksums, clients[1].checksums, clients[2].checksums
    );
    drop((clients, lossy));
    drop(traders);
    md.stop();
}

/// A table row of the page as `innerText` gives it: cells joined by tabs
/// (escaped for md_page_check.py's arguments).
fn row(cells: &[&str]) -> String {
    cells.join("\\t")
}

#[test]
fn html_example_served_at_book_shows_the_live_book_and_trades_in_chromium() {
    let md = MdGateway::start();
    let mut traders = Traders::logon(&md.gateway);
    traders.order(BTC, Side::Sell, 10_010, 3);
    traders.order(BTC, Side::Buy, 9_990, 4);
    traders.order(ETH, Side::Sell, 3_010, 20);
    // No ws= parameter: the page finds the feed on the market_data port
    // that /book filled in.
    let url = format!("http://{}/book?symbols=BTC-USD,ETH-USD", md.admin);
    let page = Page::open(
        &url,
        false,
        &[
            &row(&["ask", "10010", "3", "1"]),
            &row(&["bid", "9990", "4", "1"]),
            &row(&["ask", "3010", "20", "1"]),
            "checksums verified 2",
        ],
        &[
            &row(&["2", "10010", "buy"]),
            &row(&["ask", "10010", "1", "1"]),
            &row(&["best", "4 @ 9990", "1 @ 10010"]),
            &row(&["20", "3010", "buy"]),
            "checksums verified 4",
            "resyncs 0; errors 0",
        ],
    );
    assert!(
        page.ready_text.contains("BTC-USD (id 1)"),
        "{}",
        page.ready_text
    );
    assert!(
        page.ready_text.contains("ETH-USD (id 2)"),
        "{}",
        page.ready_text
    );
    let btc = traders.order(BTC, Side::Buy, 10_010, 2);
    let eth = traders.order(ETH, Side::Buy, 3_010, 20);
    let text = page.finish();
    println!("{text}");
    for (exec, rest) in [(btc, "2\t10010\tbuy"), (eth, "20\t3010\tbuy")] {
        assert_eq!(exec.len(), 1);
        let trade = format!("trade\t{}\t{rest}", exec[0]);
        assert!(text.contains(&trade), "{trade:?} in\n{text}");
    }
    // ETH-USD's only ask was taken whole: its level is gone.
    assert!(!text.contains("ask\t3010\t"), "{text}");
    drop(traders);
    md.stop();
}

#[test]
fn html_example_with_more_symbols_than_one_connection_holds_shows_the_first_and_says_so() {
    // 40 symbols x 3 channels: past the 64 subscriptions of a connection
    // and the 32 symbols of a request (MARKET_DATA.md 9.2). The page sent
    // them in one request: refused whole, no book shown, closed 1008 at
    // the subscribe timeout, and again after every reconnect.
    let md = MdGateway::start();
    let mut traders = Traders::logon(&md.gateway);
    traders.order(BTC, Side::Buy, 9_990, 4);
    let others: Vec<String> = (3..=40).map(|id| id.to_string()).collect();
    let url = format!(
        "http://{}/book?symbols=BTC-USD,ETH-USD,{}",
        md.admin,
        others.join(",")
    );
    let notice = "showing the first 21 of 40 symbols";
    let page = Page::open(
        &url,
        false,
        &[&row(&["bid", "9990", "4", "1"]), notice],
        &[&row(&["ask", "3010", "20", "1"]), notice],
    );
    assert!(page.ready_text.contains("live"), "{}", page.ready_text);
    traders.order(ETH, Side::Sell, 3_010, 20);
    let text = page.finish();
    assert!(!text.contains("closed"), "{text}");
    drop(traders);
    md.stop();
}

#[test]
fn dashboard_says_the_gateway_is_unreachable_once_it_stopped() {
    // The admin dashboard, in Chromium like the book page above. With the
    // gateway gone its header kept saying "ready" in green; only the
    // "Updated" line at the bottom said the fetch failed.
    let md = MdGateway::start();
    let url = format!("http://{}/dashboard", md.admin);
    let page = Page::open(&url, false, &["tradsys ready"], &["tradsys unreachable"]);
    md.stop();
    let text = page.finish();
    assert!(!text.contains("tradsys ready"), "{text}");
}
