//! The WebSocket endpoint of the real binary on loopback (two shards, so
//! symbols of both owners, clients on both shards): subscribe, then the
//! snapshot, then increments with no gap whose book equals what the orders
//! made; the same bytes on every shard; JSON mode; control errors; a slow
//! consumer closed with 4001 after a gap-free stream while another client
//! and order entry carry on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tradsys::engine::Side::{Buy, Sell};
use tradsys::protocol::market_data::{decode_md, MdView};
use tradsys::websocket::frame::Opcode;

use crate::admin_api::json;
use crate::replica::{messages, Replica};
use crate::support::gateway::{accepted, fill, limit, Gateway, ALICE, BOB, BTC, ETH};
use crate::support::ws_client::{upgrade_request, Frame, WsClient};

const SUBSCRIBE_BOTH: &str = r#"{"op":"subscribe","req_id":1,"symbols":["BTC-USD","ETH-USD"],"channels":["book","trades"],"depth":10}"#;

/// What one client saw of one symbol since it subscribed.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) book: Replica,
    /// Every binary frame of the symbol after the snapshot, in order.
    pub(crate) frames: Vec<Vec<u8>>,
    pub(crate) trades: Vec<(u64, i64, u64)>,
    trade_last: u64,
}

/// Reads the answers to [`SUBSCRIBE_BOTH`]: per symbol `subscribed` book,
/// its snapshot, `subscribed` trades.
pub(crate) fn subscribe_both(client: &mut WsClient) -> BTreeMap<u32, Seen> {
    client.send_text(SUBSCRIBE_BOTH);
    let mut seen = BTreeMap::new();
    for symbol in [BTC, ETH] {
        let answer = client.recv_skip_heartbeats();
        assert!(
            answer.text().starts_with(&format!(
                r#"{{"type":"subscribed","req_id":1,"symbol":{symbol},"channel":"book","depth":10"#
            )),
            "{}",
            answer.text()
        );
        let snapshot = client.recv_skip_heartbeats();
        assert_eq!(snapshot.opcode, Opcode::Binary);
        let mut entry = Seen::default();
        entry.book.load(&snapshot.payload).unwrap();
        let answer = client.recv_skip_heartbeats();
        assert!(
            answer.text().contains(r#""channel":"trades""#),
            "{}",
            answer.text()
        );
        seen.insert(symbol, entry);
    }
    seen
}

/// Applies binary frames until `done` holds.
pub(crate) fn read_until(
    client: &mut WsClient,
    seen: &mut BTreeMap<u32, Seen>,
    done: impl Fn(&BTreeMap<u32, Seen>) -> bool,
) {
    while !done(seen) {
        let frame = client.recv_skip_heartbeats();
        assert_eq!(frame.opcode, Opcode::Binary, "{frame:?}");
        let first = decode_md(&frame.payload).unwrap().message;
        let symbol = first.header().symbol.get();
        let entry = seen.get_mut(&symbol).expect("a subscribed symbol");
        entry.frames.push(frame.payload.clone());
        match first {
            MdView::BookUpdate(..) => entry.book.update(&frame.payload).unwrap(),
            MdView::Trade(trade) => {
                assert_eq!(trade.prev.get(), entry.trade_last, "trades chain");
                entry.trade_last = trade.header.seq.get();
                entry
                    .trades
                    .push((trade.trade_id.get(), trade.price.get(), trade.qty.get()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn snapshot_then_increments_rebuild_the_books_on_every_shard() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    for (id, symbol, side, price, qty) in [
        (1, BTC, Sell, 10_010, 5),
        (2, BTC, Buy, 9_990, 3),
        (3, ETH, Sell, 3_010, 20),
    ] {
        alice
            .new_order(&limit(ALICE, symbol, id, side, price, qty))
            .unwrap();
        accepted(&mut alice);
    }
    // Several connections: the kernel spreads them over both shards.
    let mut clients: Vec<WsClient> = (0..6)
        .map(|_| WsClient::connect(gateway.md_addr, "/md"))
        .collect();
    let mut views: Vec<BTreeMap<u32, Seen>> = clients.iter_mut().map(subscribe_both).collect();
    for view in &views {
        assert_eq!(view[&BTC].book.bids_best_first(), vec![(9_990, 3, 1)]);
        assert_eq!(view[&BTC].book.asks_best_first(), vec![(10_010, 5, 1)]);
        assert_eq!(view[&ETH].book.asks_best_first(), vec![(3_010, 20, 1)]);
    }
    bob.new_order(&limit(BOB, BTC, 11, Buy, 10_010, 2)).unwrap();
    accepted(&mut bob);
    let trade = fill(&mut bob);
    fill(&mut alice);
    alice
        .new_order(&limit(ALICE, ETH, 4, Buy, 3_000, 10))
        .unwrap();
    accepted(&mut alice);
    for (client, view) in clients.iter_mut().zip(&mut views) {
        read_until(client, view, |v| {
            v[&BTC].trades.len() == 1
                && v[&BTC].book.asks_best_first() == vec![(10_010, 3, 1)]
                && v[&ETH].book.bids_best_first() == vec![(3_000, 10, 1)]
        });
        assert_eq!(view[&BTC].trades, vec![(trade.exec_id.get(), 10_010, 2)]);
    }
    // Every shard serves the same feed: byte for byte, per symbol.
    for symbol in [BTC, ETH] {
        for view in &views[1..] {
            assert_eq!(
                view[&symbol].frames, views[0][&symbol].frames,
                "symbol {symbol}"
            );
        }
    }
}

#[test]
fn json_mode_answers_and_current_values() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, ETH, 1, Sell, 3_010, 20))
        .unwrap();
    accepted(&mut alice);
    let mut client = WsClient::connect(gateway.md_addr, "/md?format=json");
    client.send_text(r#"{"op":"subscribe","req_id":7,"symbols":[2],"channels":["bbo"]}"#);
    let answer = client.recv_skip_heartbeats();
    assert!(
        answer
            .text()
            .starts_with(r#"{"type":"subscribed","req_id":7,"symbol":2,"channel":"bbo","seq":"1""#),
        "{}",
        answer.text()
    );
    let bbo = client.recv_skip_heartbeats();
    assert!(
        bbo.text()
            .starts_with(r#"{"type":"bbo","symbol":2,"seq":"1","prev":"0""#),
        "{}",
        bbo.text()
    );
    assert!(
        bbo.text()
            .contains(r#""snapshot":true,"bid":null,"ask":{"price":"3010","qty":"20","orders":1}"#),
        "{}",
        bbo.text()
    );
    alice
        .new_order(&limit(ALICE, ETH, 2, Buy, 3_000, 10))
        .unwrap();
    accepted(&mut alice);
    let bbo = client.recv_skip_heartbeats();
    assert!(
        bbo.text()
            .starts_with(r#"{"type":"bbo","symbol":2,"seq":"2","prev":"1""#),
        "{}",
        bbo.text()
    );
    // Heartbeats name the stream and its last message.
    loop {
        let frame = client.recv();
        if frame.text().starts_with(r#"{"type":"heartbeat""#) {
            assert!(
                frame.text().contains(r#""channel":"bbo""#),
                "{}",
                frame.text()
            );
            assert!(
                frame.text().contains(r#""stream_last":"2""#),
                "{}",
                frame.text()
            );
            break;
        }
    }
}

#[test]
fn bad_control_messages_get_their_documented_errors() {
    let gateway = Gateway::start();
    let mut client = WsClient::connect(gateway.md_addr, "/md");
    client.send_text("{nope");
    assert!(client
        .recv_skip_heartbeats()
        .text()
        .contains(r#""code":"bad_json""#));
    client.send_text(
        r#"{"op":"subscribe","req_id":3,"symbols":["DOGE-USD","BTC-USD"],"channels":["trades"]}"#,
    );
    let error = client.recv_skip_heartbeats();
    assert!(
        error.text().contains(r#""code":"unknown_symbol""#) && error.text().contains("DOGE-USD"),
        "{}",
        error.text()
    );
    assert!(client
        .recv_skip_heartbeats()
        .text()
        .contains(r#""type":"subscribed""#));
    client.send_frame(true, Opcode::Binary, b"{}");
    assert!(client
        .recv_skip_heartbeats()
        .text()
        .contains(r#""code":"not_text""#));
    client.send_text(r#"{"op":"unsubscribe","req_id":4,"symbols":[1],"channels":["book"]}"#);
    assert!(client
        .recv_skip_heartbeats()
        .text()
        .contains(r#""code":"not_subscribed""#));
    // A ping is answered with its payload.
    client.send_frame(true, Opcode::Ping, b"hi");
    let pong = client.recv_skip_heartbeats();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (Opcode::Pong, &b"hi"[..])
    );
    // The close handshake: the gateway echoes the code, then closes.
    client.send_frame(true, Opcode::Close, &[0x03, 0xE8]);
    let close = client.recv_skip_heartbeats();
    assert_eq!(close.close_code(), Some(1000));
    assert!(
        client.try_recv().is_none(),
        "the gateway closes after the close handshake"
    );
}

#[test]
fn upgrade_refusals_have_their_status() {
    let gateway = Gateway::start();
    let (_, head) = WsClient::connect_raw(
        gateway.md_addr,
        &crate::support::ws_client::upgrade_request("/nope", ""),
    );
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let request = "GET /md HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let (_, head) = WsClient::connect_raw(gateway.md_addr, request);
    assert!(
        head.starts_with("HTTP/1.1 426") && head.contains("Sec-WebSocket-Version: 13"),
        "{head}"
    );
}

#[test]
fn a_slow_consumer_is_closed_with_4001_after_a_gap_free_stream() {
    // A small budget and socket buffers, so a client that stops reading
    // reaches its budget after a few hundred trades.
    let gateway = Gateway::start_with(
        "[journal]\n[market_data]\nsend_budget_bytes = 16384\nsocket_send_buffer_bytes = 4096\n",
    );
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    let subscribe =
        r#"{"op":"subscribe","symbols":["BTC-USD"],"channels":["trades","book"],"depth":0}"#;
    let mut slow = WsClient::connect_small(gateway.md_addr, "/md", 4096);
    slow.send_text(subscribe);
    let mut fast = WsClient::connect(gateway.md_addr, "/md");
    fast.send_text(subscribe);
    let trades = 400;
    let mut fast_trades = 0;
    let mut fast_last = 0;
    for i in 0..trades {
        alice
            .new_order(&limit(ALICE, BTC, 1000 + i, Sell, 10_000, 1))
            .unwrap();
        accepted(&mut alice);
        bob.new_order(&limit(BOB, BTC, 5000 + i, Buy, 10_000, 1))
            .unwrap();
        accepted(&mut bob);
        fill(&mut bob);
        fill(&mut alice);
        // The fast client keeps up.
        while fast_trades <= i {
            let frame = fast.recv_skip_heartbeats();
            if frame.opcode == Opcode::Binary {
                if let MdView::Trade(t) = decode_md(&frame.payload).unwrap().message {
                    assert_eq!(t.prev.get(), fast_last);
                    fast_last = t.header.seq.get();
                    fast_trades += 1;
                }
            }
        }
    }
    assert_eq!(fast_trades, trades);
    // The slow client now reads: a gap-free stream, then close 4001.
    let mut last_trade = 0;
    let mut slow_trades = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let close = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no close after {slow_trades} trades"
        );
        let frame: Frame = slow.try_recv().expect("a close frame before the end");
        match frame.opcode {
            Opcode::Close => break frame,
            Opcode::Binary => {
                for message in messages(&frame.payload) {
                    if let MdView::Trade(t) = message {
                        assert_eq!(
                            t.prev.get(),
                            last_trade,
                            "no trade skipped before the close"
                        );
                        last_trade = t.header.seq.get();
                        slow_trades += 1;
                    }
                }
            }
            Opcode::Text => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.close_code(), Some(4001));
    assert!(
        slow_trades < trades,
        "the slow client was cut before the end"
    );
    assert!(slow.try_recv().is_none(), "then the connection ends");
    // Order entry and the other client carry on.
    alice
        .new_order(&limit(ALICE, BTC, 9_999, Sell, 10_050, 1))
        .unwrap();
    accepted(&mut alice);
}

/// The epoch a `subscribed` answer carries.
fn epoch_of(gateway: &Gateway) -> u64 {
    let mut client = WsClient::connect(gateway.md_addr, "/md");
    client.send_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    let answer = client.recv_skip_heartbeats();
    let text = answer.text();
    let epoch = text
        .split(r#""epoch":""#)
        .nth(1)
        .expect("an epoch")
        .split('"')
        .next()
        .unwrap();
    epoch.parse().unwrap()
}

/// The `feed_epoch` records of a journal, as `tradsys journal dump` prints
/// them (one JSON line each).
fn recorded_epochs(journal: &std::path::Path) -> Vec<u64> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tradsys"))
        .args(["journal", "dump"])
        .arg(journal)
        .output()
        .expect("run tradsys journal dump");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(r#""kind":"feed_epoch""#))
        .map(|l| {
            l.split(r#""epoch":""#)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn every_start_records_one_feed_epoch_per_shard_and_a_restart_rises_above_it() {
    let dir = Gateway::new_dir();
    let gateway = Gateway::start_in(&dir, "").expect("gateway starts");
    let first = epoch_of(&gateway);
    let journal = gateway.journal_dir();
    let (status, _) = gateway.stop();
    assert!(status.success());
    assert_eq!(
        recorded_epochs(&journal),
        vec![first, first],
        "one record per shard, one value"
    );
    let gateway = Gateway::start_in(&dir, "").expect("gateway restarts");
    let second = epoch_of(&gateway);
    assert!(second > first, "{second} after {first}");
    let (status, _) = gateway.stop();
    assert!(status.success());
    let mut recorded = recorded_epochs(&journal);
    recorded.sort_unstable();
    assert_eq!(recorded, vec![first, first, second, second]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_a_restart_every_shard_serves_the_replayed_books_at_their_sequences() {
    let dir = Gateway::new_dir();
    let gateway = Gateway::start_in(&dir, "").expect("gateway starts");
    let mut alice = gateway.logon(ALICE);
    for (id, symbol, side, price, qty) in [
        (1, BTC, Sell, 10_010, 5),
        (2, BTC, Buy, 9_990, 3),
        (3, ETH, Sell, 3_010, 20),
        (4, ETH, Buy, 2_990, 30),
    ] {
        alice
            .new_order(&limit(ALICE, symbol, id, side, price, qty))
            .unwrap();
        accepted(&mut alice);
    }
    let mut before = WsClient::connect(gateway.md_addr, "/md");
    let before = subscribe_both(&mut before);
    drop(alice);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let gateway = Gateway::start_in(&dir, "").expect("gateway restarts");
    // Connections on both shards: each serves every symbol from its replica.
    for _ in 0..6 {
        let mut client = WsClient::connect(gateway.md_addr, "/md");
        let after = subscribe_both(&mut client);
        for symbol in [BTC, ETH] {
            let (was, is) = (&before[&symbol].book, &after[&symbol].book);
            assert_eq!(
                is.bids_best_first(),
                was.bids_best_first(),
                "symbol {symbol}"
            );
            assert_eq!(
                is.asks_best_first(),
                was.asks_best_first(),
                "symbol {symbol}"
            );
            assert_eq!(is.last, was.last, "symbol {symbol}: the same sequence");
        }
    }
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A raw-TCP market-data client: JSON lines out, JSON lines and binary
/// messages in (told apart by their first byte).
struct RawClient {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

enum RawItem {
    Line(String),
    Binary(Vec<u8>),
}

impl RawClient {
    fn connect(addr: std::net::SocketAddr) -> RawClient {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        use std::io::Write;
        self.stream.write_all(line.as_bytes()).unwrap();
    }

    /// The next item; `None` at the end of the stream.
    fn next(&mut self) -> Option<RawItem> {
        use std::io::Read;
        loop {
            if let Some(&first) = self.buf.first() {
                if first == b'{' {
                    if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                        let line = String::from_utf8(self.buf[..at].to_vec()).unwrap();
                        self.buf.drain(..=at);
                        return Some(RawItem::Line(line));
                    }
                } else if self.buf.len() >= 4 {
                    let len = u32::from_le_bytes(self.buf[..4].try_into().unwrap()) as usize;
                    assert!(
                        len.is_multiple_of(8) && len >= 24,
                        "a binary message: {len}"
                    );
                    if self.buf.len() >= len {
                        return Some(RawItem::Binary(self.buf.drain(..len).collect()));
                    }
                }
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read");
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next item that is not a heartbeat.
    fn next_data(&mut self) -> RawItem {
        loop {
            match self.next().expect("an item") {
                RawItem::Binary(b) if b[4] == 0xC7 => continue,
                item => return item,
            }
        }
    }
}

#[test]
fn raw_tcp_clients_get_json_lines_and_binary_messages_on_the_same_port() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    alice
        .new_order(&limit(ALICE, ETH, 1, Sell, 3_010, 20))
        .unwrap();
    accepted(&mut alice);
    let mut raw = RawClient::connect(gateway.md_addr);
    raw.send("{\"op\":\"subscribe\",\"req_id\":5,\"symbols\":[\"ETH-USD\"],\"channels\":[\"book\",\"trades\"]}\n");
    let RawItem::Line(answer) = raw.next_data() else {
        panic!("an answer line first")
    };
    assert!(
        answer.starts_with(r#"{"type":"subscribed","req_id":5,"symbol":2,"channel":"book""#),
        "{answer}"
    );
    let RawItem::Binary(snapshot) = raw.next_data() else {
        panic!("then the snapshot")
    };
    let mut book = Replica::default();
    book.load(&snapshot).unwrap();
    assert_eq!(book.asks_best_first(), vec![(3_010, 20, 1)]);
    let RawItem::Line(answer) = raw.next_data() else {
        panic!("the trades answer")
    };
    assert!(answer.contains(r#""channel":"trades""#), "{answer}");
    bob.new_order(&limit(BOB, ETH, 2, Buy, 3_010, 10)).unwrap();
    accepted(&mut bob);
    let f = fill(&mut bob);
    let mut trade_seen = false;
    while !trade_seen || book.asks_best_first() != vec![(3_010, 10, 1)] {
        let RawItem::Binary(message) = raw.next_data() else {
            panic!("data is binary")
        };
        match decode_md(&message).unwrap().message {
            MdView::BookUpdate(..) => book.update(&message).unwrap(),
            MdView::Trade(t) => {
                assert_eq!(
                    (t.trade_id.get(), t.price.get(), t.qty.get()),
                    (f.exec_id.get(), 3_010, 10)
                );
                trade_seen = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Errors are lines too; a line over 4096 bytes ends the connection.
    raw.send("{nope\n");
    let RawItem::Line(error) = raw.next_data() else {
        panic!("an error line")
    };
    assert!(error.contains(r#""code":"bad_json""#), "{error}");
    raw.send(&"x".repeat(5000));
    let RawItem::Line(close) = raw.next_data() else {
        panic!("a close line")
    };
    assert_eq!(
        close,
        r#"{"type":"close","code":1009,"reason":"line too long"}"#
    );
    assert!(raw.next().is_none(), "then the connection ends");
}

#[test]
fn policy_limits_close_with_1008_and_a_full_shard_answers_503() {
    let gateway = Gateway::start_with(
        "[journal]\n[market_data]\nsubscribe_timeout_ms = 200\ncontrol_rate_per_sec = 1\ncontrol_burst = 2\nmax_clients_per_shard = 2\n",
    );
    let admin = gateway
        .admin_addr
        .expect("the test config has an admin endpoint");
    // No subscription in time.
    let mut idle = WsClient::connect(gateway.md_addr, "/md");
    let close = idle.recv_skip_heartbeats();
    assert_eq!(close.close_code(), Some(1008));
    assert!(idle.try_recv().is_none());
    // A closed connection holds its slot until the client closes its end
    // (MARKET_DATA.md 2.1), as this one does now.
    drop(idle);
    // Control messages past the bucket: answered up to the burst, then 1008.
    let mut chatty = WsClient::connect(gateway.md_addr, "/md");
    for _ in 0..3 {
        chatty.send_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    }
    let mut answers = 0;
    let close = loop {
        let frame = chatty.recv_skip_heartbeats();
        match frame.opcode {
            Opcode::Text => answers += 1,
            Opcode::Close => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((answers, close.close_code()), (2, Some(1008)));
    drop(chatty);
    // Both slots are free again (the kernel may have put both connections
    // and the next one on the same shard of two slots).
    await_slots_free(admin, 2);
    // One token per control message, however many symbols and channels it
    // names (MARKET_DATA.md 9.2): a burst of 2 takes two requests of 2 x 3
    // streams, each answered whole.
    let mut batched = WsClient::connect(gateway.md_addr, "/md");
    for _ in 0..2 {
        batched.send_text(
            r#"{"op":"subscribe","symbols":[1,2],"channels":["trades","bbo","status"]}"#,
        );
    }
    let mut subscribed = 0;
    while subscribed < 12 {
        let frame = batched.recv_skip_heartbeats();
        match frame.opcode {
            Opcode::Text => {
                assert!(
                    frame.text().contains(r#""type":"subscribed""#),
                    "{}",
                    frame.text()
                );
                subscribed += 1;
            }
            Opcode::Binary => {} // the current bbo and status values
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(batched);
    await_slots_free(admin, 3);
    // Two shards of two free slots: of five connections held open, at
    // least one finds its shard full, and at least two find room.
    let heads: Vec<(WsClient, String)> = (0..5)
        .map(|_| {
            WsClient::connect_raw(
                gateway.md_addr,
                &crate::support::ws_client::upgrade_request("/md", ""),
            )
        })
        .collect();
    let refused = heads
        .iter()
        .filter(|(_, head)| head.starts_with("HTTP/1.1 503"))
        .count();
    let accepted = heads
        .iter()
        .filter(|(_, head)| head.starts_with("HTTP/1.1 101"))
        .count();
    assert!(
        refused >= 1 && accepted + refused == 5 && (2..=4).contains(&accepted),
        "{refused} refused, {accepted} accepted"
    );
}

/// Waits until the shards have accepted `opened` market-data clients in
/// all and hold none of them any more (`/stats`: `ws_clients_opened`, then
/// `ws_clients`, which counts every connection holding a client slot).
/// The opened count first: until a shard has published the newest
/// connection, its `ws_clients` of 0 would be from before it.
/// Counter `name` summed over the shards, as `/stats` says now.
fn shard_sum(admin: std::net::SocketAddr, name: &str) -> u64 {
    let stats = json(admin, "/stats");
    let shards = stats["shards"].as_array().expect("shards");
    shards
        .iter()
        .map(|s| s["counters"][name].as_u64().expect(name))
        .sum()
}

/// Waits for `read` to give `want` (counters reach `/stats` at the
/// shards' next tick), at most 20 s.
fn await_value<T: PartialEq + std::fmt::Debug>(what: &str, want: T, mut read: impl FnMut() -> T) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = read();
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn await_slots_free(admin: std::net::SocketAddr, opened: u64) {
    let sum = |stats: &serde_json::Value, name: &str| -> u64 {
        let shards = stats["shards"].as_array().expect("shards");
        shards
            .iter()
            .map(|s| s["counters"][name].as_u64().expect(name))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    for (name, want) in [("ws_clients_opened", opened), ("ws_clients", 0)] {
        loop {
            let stats = json(admin, "/stats");
            if sum(&stats, name) == want {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never {want}: {stats}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A connection in its handshake holds a client slot, and the gauge of
/// slots counts it (found by a hostile pass: 20 silent connections held
/// every slot of a shard, a new client got 503, and `ws_clients` said 0).
#[test]
fn connections_in_their_handshake_count_as_slots_held() {
    let gateway = Gateway::start();
    let admin = gateway
        .admin_addr
        .expect("the test config has an admin endpoint");
    let silent: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(gateway.md_addr).unwrap())
        .collect();
    let held = |stats: &serde_json::Value| -> u64 {
        let shards = stats["shards"].as_array().expect("shards");
        shards
            .iter()
            .map(|s| s["counters"]["ws_clients"].as_u64().expect("ws_clients"))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = json(admin, "/stats");
        if held(&stats) == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "3 connections in their handshake, ws_clients {}",
            held(&stats)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(silent);
    await_slots_free(admin, 0);
    // Gone before their request was complete: abandoned, not refused
    // (a hostile pass found them counted as refused upgrade requests).
    let counts = || {
        let refused = shard_sum(admin, "ws_handshakes_refused");
        (refused, shard_sum(admin, "ws_handshakes_abandoned"))
    };
    await_value("(refused, abandoned)", (0, 3), counts);
}

/// One address holds at most `max_unsubscribed_per_ip` connections with
/// no subscription on a shard; past it its next connection gets HTTP 429
/// at once, while another address connects and subscribes, and a client
/// that subscribes gives its place back (found by a hostile pass: silent
/// connections from one address held every client slot of a shard, and
/// every other client got 503 until the subscribe timeout).
#[test]
fn one_address_cannot_hold_every_slot_with_unsubscribed_connections() {
    let gateway = Gateway::start_with("[journal]\n[market_data]\nmax_unsubscribed_per_ip = 1\n");
    let admin = gateway
        .admin_addr
        .expect("the test config has an admin endpoint");
    let sum = |name: &str| shard_sum(admin, name);
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    // A silent connection, in its handshake, counts once the shard has it.
    let silent = std::net::TcpStream::connect_timeout(&gateway.md_addr, Duration::from_secs(5))
        .expect("connect");
    await_value("slots held", 1, || sum("ws_clients"));
    // Upgraded clients with no subscription count too: with one place per
    // address on each of the two shards, the third connection at the
    // latest is refused.
    let mut unsubscribed = Vec::new();
    let refused = loop {
        let (client, head) =
            WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), local);
        if head.starts_with("HTTP/1.1 429") {
            break client;
        }
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        unsubscribed.push(client);
        assert!(unsubscribed.len() < 2, "two shards, one place each: {head}");
    };
    let body = refused.rest_as_text();
    assert!(body.contains("no subscription"), "{body}");
    // Another address is let in and served.
    let other = std::net::IpAddr::from([127, 0, 0, 2]);
    let (mut client, head) =
        WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), other);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    client.send_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    assert!(client.recv_skip_heartbeats().text().contains("subscribed"));
    // Subscribed, the first address's clients no longer count; with the
    // silent connection gone, it may open one more per shard.
    for waiting in &mut unsubscribed {
        waiting.send_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
        assert!(waiting.recv_skip_heartbeats().text().contains("subscribed"));
    }
    drop(silent);
    let opened = unsubscribed.len() as u64 + 1;
    let counts = || (sum("ws_clients_opened"), sum("ws_clients"));
    await_value("(opened, held)", (opened, opened), counts);
    let (mut next, head) =
        WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), local);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    next.send_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    assert!(next.recv_skip_heartbeats().text().contains("subscribed"));
    let (_again, head) =
        WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), local);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(sum("ws_peer_limit_refused") >= 1);
}

/// One address holds at most `max_clients_per_ip` connections on a shard,
/// subscribed or not: past it its next connection gets HTTP 429, while
/// another address connects and subscribes (before, an address that
/// subscribed each of its connections could hold every client slot of a
/// shard, and every other client got 503).
#[test]
fn one_address_cannot_hold_every_slot_with_subscribed_connections() {
    let gateway = Gateway::start_with("[journal]\n[market_data]\nmax_clients_per_ip = 2\n");
    let admin = gateway
        .admin_addr
        .expect("the test config has an admin endpoint");
    let sum = |name: &str| shard_sum(admin, name);
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let subscribe = r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#;
    // Two shards, two places each: the fifth connection at the latest is
    // refused, however they are spread.
    let mut held = Vec::new();
    let refused = loop {
        let (mut client, head) =
            WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), local);
        if head.starts_with("HTTP/1.1 429") {
            break client;
        }
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        client.send_text(subscribe);
        assert!(client.recv_skip_heartbeats().text().contains("subscribed"));
        held.push(client);
        assert!(held.len() <= 4, "two shards, two places each");
    };
    assert!(held.len() >= 2, "{} let in", held.len());
    let body = refused.rest_as_text();
    assert!(
        body.contains("too many connections from this address"),
        "{body}"
    );
    let other = std::net::IpAddr::from([127, 0, 0, 2]);
    let (mut client, head) =
        WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), other);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    client.send_text(subscribe);
    assert!(client.recv_skip_heartbeats().text().contains("subscribed"));
    // Its connections gone, the address may connect again.
    let opened = held.len() as u64 + 1;
    drop(held);
    await_value("clients held", 1, || sum("ws_clients"));
    assert_eq!(sum("ws_clients_opened"), opened);
    let (_again, head) =
        WsClient::connect_raw_from(gateway.md_addr, &upgrade_request("/md", ""), local);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(sum("ws_peer_limit_refused") >= 1);
}
