//! Order entry keeps its pace whatever market data wants (issue 13): a
//! trader on the binary's order entry trades while many WebSocket
//! subscribers of the very symbol it trades never read. Every order is
//! acknowledged and filled; each non-reader, once it reads, finds a
//! gap-free stream and then the close 4001 (slow consumer), never a hole;
//! a subscriber that keeps reading gets every trade. The shard's per-turn
//! market-data budget (`shard/md/send_budget.rs`) decides how much of the
//! shard's turns the subscribers get; this test holds what a client sees.

use std::time::Duration;

use tradsys::client::Client;
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

/// Reads every non-reader to its close at once, one thread each, while
/// the traders send heartbeats, and returns what [`read_to_close`] found
/// for each.
///
/// Why not one after the other: a non-reader's 4 KiB receive buffer
/// overflows on loopback (the kernel prunes and drops segments it already
/// advertised room for), so the gateway's socket retransmits with a
/// backoff that doubles up to 120 s. Once the client reads, the rest of
/// its stream and its close wait for the next retransmission: usually
/// milliseconds, on a loaded host seconds (backoff 6 seen, about 13 s).
/// Read in turn, 200 such waits added up past the read timeout and past
/// the traders' 3 s idle limit (the gateway then rightly ended a silent
/// session with SessionEnd reason 2, seen in CI); read at once, they
/// overlap.
fn read_all_to_close(
    idle: &mut [WsClient],
    traders: &mut [&mut Client],
) -> Vec<(u64, Option<u16>)> {
    const RETRANSMISSION_MAX: Duration = Duration::from_secs(150);
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        let readers: Vec<_> = idle
            .iter_mut()
            .map(|client| {
                let done = done.clone();
                client
                    .stream
                    .set_read_timeout(Some(RETRANSMISSION_MAX))
                    .unwrap();
                scope.spawn(move || {
                    let outcome = read_to_close(client);
                    done.send(()).unwrap();
                    outcome
                })
            })
            .collect();
        // The traders' heartbeats keep their sessions open however long
        // the reads take. A reader that panics is finished too, and its
        // join below reports the panic.
        while !readers.iter().all(|reader| reader.is_finished()) {
            for trader in traders.iter_mut() {
                trader.heartbeat().unwrap();
            }
            let _ = finished.recv_timeout(Duration::from_millis(500));
        }
        readers
            .into_iter()
            .map(|reader| reader.join().unwrap())
            .collect()
    })
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
    for (n, (trades, code)) in read_all_to_close(&mut idle, &mut [&mut alice, &mut bob])
        .into_iter()
        .enumerate()
    {
        assert_eq!(code, Some(4001), "non-reader {n} is cut as a slow consumer");
        assert!(trades < TRADES, "non-reader {n} was cut before the end");
    }
    // Order entry and the reader carry on after the cut.
    alice
        .new_order(&limit(ALICE, BTC, 9_999, Sell, 10_050, 1))
        .unwrap();
    accepted(&mut alice);
}
