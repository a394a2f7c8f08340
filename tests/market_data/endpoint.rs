//! The WebSocket endpoint of the real binary on loopback (two shards, so
//! symbols of both owners, clients on both shards): subscribe, then the
//! snapshot, then increments with no gap whose book equals what the orders
//! made; the same bytes on every shard; JSON mode; control errors; a slow
//! consumer closed with 4001 after a gap-free stream while another client
//! and order entry carry on.

use std::collections::BTreeMap;

use tradsys::engine::Side::{Buy, Sell};
use tradsys::protocol::market_data::{decode_md, MdView};
use tradsys::websocket::frame::Opcode;

use crate::replica::{messages, Replica};
use crate::support::gateway::{accepted, fill, limit, Gateway, ALICE, BOB, BTC, ETH};
use crate::support::ws_client::{Frame, WsClient};

const SUBSCRIBE_BOTH: &str = r#"{"op":"subscribe","req_id":1,"symbols":["BTC-USD","ETH-USD"],"channels":["book","trades"],"depth":10}"#;

/// What one client saw of one symbol since it subscribed.
#[derive(Default)]
struct Seen {
    book: Replica,
    /// Every binary frame of the symbol after the snapshot, in order.
    frames: Vec<Vec<u8>>,
    trades: Vec<(u64, i64, u64)>,
    trade_last: u64,
}

/// Reads the answers to [`SUBSCRIBE_BOTH`]: per symbol `subscribed` book,
/// its snapshot, `subscribed` trades.
fn subscribe_both(client: &mut WsClient) -> BTreeMap<u32, Seen> {
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
fn read_until(
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
    let mut slow = WsClient::connect(gateway.md_addr, "/md");
    slow.stream.set_nodelay(true).unwrap();
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
    let close = loop {
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
