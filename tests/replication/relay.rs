//! Feed relays: a follower serves the primary's market-data feed. A client
//! of the follower's feed and a client of the primary's, both subscribed
//! before a random order flow, end with byte-identical increments, books,
//! sequences and checksums; fresh clients of both get byte-identical
//! `subscribed` answers (the same epoch and sequence) and snapshots, over
//! WebSocket and raw TCP. So a client moving between them sees one
//! sequence space.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::flow::*;
use crate::md_replica::Replica;
use crate::support::follower::Follower;
use crate::support::gateway::{BTC, ETH};
use crate::support::ws_client::{Frame, WsClient};
use tradsys::protocol::market_data::{decode_md, MdView};
use tradsys::websocket::frame::Opcode;

const SUBSCRIBE: &str = r#"{"op":"subscribe","req_id":1,"symbols":["BTC-USD","ETH-USD"],"channels":["book","trades"],"depth":10}"#;

/// What one client saw: the answers and snapshots of its subscription,
/// then per symbol every increment and the book they make.
#[derive(Default)]
struct View {
    answers: Vec<String>,
    snapshots: BTreeMap<u32, Vec<u8>>,
    books: BTreeMap<u32, Replica>,
    increments: BTreeMap<u32, Vec<Vec<u8>>>,
    /// The symbol's seq in the last heartbeat of each (symbol, channel).
    heartbeats: BTreeMap<(u32, u8), u64>,
}

impl View {
    /// Takes one frame after the subscription.
    fn take(&mut self, frame: &Frame) {
        assert_eq!(frame.opcode, Opcode::Binary, "{frame:?}");
        let first = decode_md(&frame.payload).unwrap().message;
        let symbol = first.header().symbol.get();
        match first {
            MdView::Heartbeat(beat) => {
                self.heartbeats
                    .insert((symbol, beat.channel), beat.header.seq.get());
            }
            MdView::BookUpdate(..) => {
                self.books
                    .get_mut(&symbol)
                    .unwrap()
                    .update(&frame.payload)
                    .unwrap();
                self.increments
                    .entry(symbol)
                    .or_default()
                    .push(frame.payload.clone());
            }
            MdView::Trade(..) => {
                self.increments
                    .entry(symbol)
                    .or_default()
                    .push(frame.payload.clone());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Whether a heartbeat of every stream showed the symbol at `seqs`
    /// (everything up to there was then in this client's queue before it).
    fn reached(&self, seqs: &BTreeMap<u32, u64>) -> bool {
        seqs.iter().all(|(symbol, seq)| {
            let streams: Vec<u64> = self
                .heartbeats
                .iter()
                .filter(|((s, _), _)| s == symbol)
                .map(|(_, seq)| *seq)
                .collect();
            streams.len() == 2 && streams.iter().all(|s| s >= seq)
        })
    }
}

/// Subscribes to both symbols (book depth 10 and trades).
fn subscribe(client: &mut WsClient) -> View {
    client.send_text(SUBSCRIBE);
    let mut view = View::default();
    for symbol in [BTC, ETH] {
        let answer = client.recv_skip_heartbeats();
        assert!(
            answer.text().contains(r#""channel":"book""#),
            "{}",
            answer.text()
        );
        view.answers.push(answer.text().to_string());
        let snapshot = client.recv_skip_heartbeats();
        let mut book = Replica::default();
        book.load(&snapshot.payload).unwrap();
        view.books.insert(symbol, book);
        view.snapshots.insert(symbol, snapshot.payload);
        let answer = client.recv_skip_heartbeats();
        assert!(
            answer.text().contains(r#""channel":"trades""#),
            "{}",
            answer.text()
        );
        view.answers.push(answer.text().to_string());
    }
    view
}

/// The client's frames (or the read that failed), read on a thread; the
/// stream to shut it down. A failed read is handed over, not a panic of
/// the thread: once the test has shut the stream down (its last frame
/// taken), the thread's next read may fail with a connection reset (seen
/// in passing runs), which is no failure of the feed. A read that fails
/// while the test still needs frames fails the test with its error.
fn read_on_a_thread(mut client: WsClient) -> (mpsc::Receiver<std::io::Result<Frame>>, TcpStream) {
    let stream = client.stream.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || loop {
        let read = client.read_frame().transpose();
        let failed = matches!(read, Some(Err(_)));
        let Some(read) = read else { break };
        if tx.send(read).is_err() || failed {
            break;
        }
    });
    (rx, stream)
}

/// Each symbol's sequence in a view's snapshot.
fn seqs(view: &View) -> BTreeMap<u32, u64> {
    view.books.iter().map(|(s, b)| (*s, b.last)).collect()
}

/// A raw-TCP client's first `count` binary messages after `line`.
fn raw_messages(addr: SocketAddr, line: &str, count: usize) -> Vec<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < count {
        if buf.first() == Some(&b'{') {
            if let Some(end) = buf.iter().position(|&b| b == b'\n') {
                buf.drain(..=end);
                continue;
            }
        } else if let Ok(decoded) = decode_md(&buf) {
            let heartbeat = matches!(decoded.message, MdView::Heartbeat(..));
            let message = buf.drain(..decoded.len).collect::<Vec<u8>>();
            if !heartbeat {
                out.push(message);
            }
            continue;
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).expect("read the raw feed");
        assert!(n > 0, "the raw feed closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    out
}

#[test]
fn a_followers_feed_equals_the_primarys_byte_for_byte() {
    let r = Replicated::start();
    let mut follower = Follower::start(&r.follower_dir, &r.follower_text);
    let relay = follower.relay_addr(Duration::from_secs(60));
    // The follower has the primary's feed_epoch record: the same epoch.
    follower.wait_applied(
        &live_last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(60),
    );

    let mut clients = [
        WsClient::connect(r.gateway.md_addr, "/md"),
        WsClient::connect(relay, "/md"),
    ];
    let mut views: Vec<View> = clients.iter_mut().map(subscribe).collect();
    assert_eq!(
        views[0].answers, views[1].answers,
        "the same epoch and sequences"
    );
    let readers: Vec<_> = clients.into_iter().map(read_on_a_thread).collect();

    random_flow(&r.gateway, 0x5eed_00f0, 2_000);
    follower.wait_applied(
        &live_last_seqs(&r.config, &r.primary_root),
        Duration::from_secs(60),
    );

    // Fresh clients of both feeds: the same answers and snapshots, and the
    // sequences the long-lived clients must reach. The flow is over (every
    // command answered, so journaled) and the follower applied it all, but
    // a fresh client may land on a shard whose copy of a symbol is still a
    // few events behind: the primary's shard that does not own the symbol
    // (fed over the mesh), or a relay thread (fed by the follower's
    // replicas). A snapshot is valid at its seq and the increments follow,
    // so that is no fault: ask again, up to a deadline, until both views
    // are at the same seqs.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let fresh: Vec<View> = loop {
        let fresh: Vec<View> = [r.gateway.md_addr, relay]
            .into_iter()
            .map(|addr| subscribe(&mut WsClient::connect(addr, "/md")))
            .collect();
        if seqs(&fresh[0]) == seqs(&fresh[1]) || std::time::Instant::now() > deadline {
            break fresh;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(fresh[0].answers, fresh[1].answers);
    assert_eq!(
        fresh[0].snapshots, fresh[1].snapshots,
        "byte-identical snapshots"
    );
    let finals = seqs(&fresh[0]);
    assert!(
        finals.values().all(|&seq| seq > 0),
        "the flow moved both books"
    );
    let raw_line = r#"{"op":"subscribe","req_id":1,"symbols":["BTC-USD","ETH-USD"],"channels":["book"],"depth":10}"#;
    // Raw-TCP clients land on any shard too: the same wait.
    let raw = loop {
        let raw: Vec<_> = [r.gateway.md_addr, relay]
            .into_iter()
            .map(|addr| raw_messages(addr, raw_line, 2))
            .collect();
        if raw[0] == raw[1] || std::time::Instant::now() > deadline {
            break raw;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(raw[0], raw[1], "raw TCP: the same snapshots");

    for ((frames, stream), view) in readers.iter().zip(&mut views) {
        while !view.reached(&finals) {
            let frame = frames
                .recv_timeout(Duration::from_secs(30))
                .expect("the feed goes on")
                .expect("the feed's connection holds");
            view.take(&frame);
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    for symbol in [BTC, ETH] {
        let (primary, relayed) = (&views[0], &views[1]);
        assert!(!primary.increments[&symbol].is_empty());
        assert_eq!(
            primary.increments[&symbol], relayed.increments[&symbol],
            "symbol {symbol}: the same increments, byte for byte"
        );
        let (a, b) = (&primary.books[&symbol], &relayed.books[&symbol]);
        assert_eq!(a.bids_best_first(), b.bids_best_first());
        assert_eq!(a.asks_best_first(), b.asks_best_first());
        assert_eq!(a.last, b.last);
        assert_eq!(a.checksum(), b.checksum());
        assert_eq!(
            a.bids_best_first(),
            fresh[0].books[&symbol].bids_best_first()
        );
    }
    let (status, _) = r.gateway.stop();
    assert!(status.success());
    let (status, _, _) = follower.stop();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&r.dir);
}
