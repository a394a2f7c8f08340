//! Order entry keeps its pace whatever market data wants (issue 13): a
//! trader on the binary's order entry trades while many WebSocket
//! subscribers of the very symbol it trades never read. Every order is
//! acknowledged and filled; each non-reader, once it reads, finds a
//! gap-free stream and then the close 4001 (slow consumer), never a hole;
//! a subscriber that keeps reading gets every trade. The shard's per-turn
//! market-data budget (`shard/md/send_budget.rs`) decides how much of the
//! shard's turns the subscribers get; this test holds what a client sees.

use tradsys::engine::Side::{Buy, Sell};
use tradsys::protocol::market_data::{decode_md, MdView};
use tradsys::websocket::frame::Opcode;

use crate::replica::messages;
use crate::support::gateway::{accepted, fill, limit, Gateway, ALICE, BOB, BTC};
use crate::support::ws_client::WsClient;

const SUBSCRIBE: &str =
    r#"{"op":"subscribe","symbols":["BTC-USD"],"channels":["trades","book"],"depth":0}"#;

/// Non-readers attached to the traded symbol.
const NON_READERS: usize = 200;

/// Trades the trader makes (each one level rested and taken).
const TRADES: u64 = 400;

/// Reads `client` to its end: the trades it got (checked to chain with no
/// gap) and the close code.
fn read_to_close(client: &mut WsClient) -> (u64, Option<u16>) {
    let (mut trades, mut last) = (0, 0);
    while let Some(frame) = client.try_recv() {
        match frame.opcode {
            Opcode::Close => return (trades, frame.close_code()),
            Opcode::Binary => {
                for message in messages(&frame.payload) {
                    if let MdView::Trade(t) = message {
                        assert_eq!(t.prev.get(), last, "no trade skipped before the close");
                        last = t.header.seq.get();
                        trades += 1;
                    }
                }
            }
            Opcode::Text => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    (trades, None)
}

#[test]
fn orders_are_acknowledged_while_non_reading_subscribers_are_cut_with_4001() {
    // A small budget and socket buffers, so a non-reader reaches its
    // budget after a few dozen trades; a long linger, so the gateway waits
    // for a cut non-reader to take its close frame (it reads only at the
    // end) instead of closing the socket under it.
    let gateway = Gateway::start_with(
        "[journal]\n[market_data]\nsend_budget_bytes = 16384\nsocket_send_buffer_bytes = 4096\n\
         [server]\nshutdown_grace_ms = 120000\n",
    );
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    let mut idle: Vec<WsClient> = (0..NON_READERS)
        .map(|_| {
            let mut client = WsClient::connect_small(gateway.md_addr, "/md", 4096);
            client.send_text(SUBSCRIBE);
            client
        })
        .collect();
    let mut reader = WsClient::connect(gateway.md_addr, "/md");
    reader.send_text(SUBSCRIBE);
    let (mut reader_trades, mut reader_last) = (0, 0);
    for i in 0..TRADES {
        alice
            .new_order(&limit(ALICE, BTC, 1000 + i, Sell, 10_000, 1))
            .unwrap();
        accepted(&mut alice);
        bob.new_order(&limit(BOB, BTC, 5000 + i, Buy, 10_000, 1))
            .unwrap();
        accepted(&mut bob);
        assert_eq!(fill(&mut bob).qty.get(), 1);
        assert_eq!(fill(&mut alice).qty.get(), 1);
        while reader_trades <= i {
            let frame = reader.recv_skip_heartbeats();
            if frame.opcode != Opcode::Binary {
                continue;
            }
            if let MdView::Trade(t) = decode_md(&frame.payload).unwrap().message {
                assert_eq!(t.prev.get(), reader_last, "the reader gets every trade");
                reader_last = t.header.seq.get();
                reader_trades += 1;
            }
        }
    }
    assert_eq!(reader_trades, TRADES);
    for (n, client) in idle.iter_mut().enumerate() {
        let (trades, code) = read_to_close(client);
        assert_eq!(code, Some(4001), "non-reader {n} is cut as a slow consumer");
        assert!(trades < TRADES, "non-reader {n} was cut before the end");
    }
    // Order entry and the reader carry on after the cut.
    alice
        .new_order(&limit(ALICE, BTC, 9_999, Sell, 10_050, 1))
        .unwrap();
    accepted(&mut alice);
}
