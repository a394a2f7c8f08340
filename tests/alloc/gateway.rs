//! The order path through the gateway allocates nothing per message once
//! warmed up (nor do the account queries, local and across the mesh):
//! bytes in -> session checks -> route across the mesh -> the
//! owner's journal (write-ahead) and engine -> reports back across the mesh -> encoded into the
//! session's outbox -> handed to the writer. Two shard cores run in this
//! thread, joined by the real rtrb rings; only sockets are left out (they
//! are glommio's: one io_uring operation per read or write batch, not per
//! message). Several commands in one read take the engine's batched path
//! (`shard/core/engine_batch.rs`), counted too.

use std::rc::Rc;

use crate::support::alloc_counter::allocations_in;
use crate::support::shards::two_shard_cores;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore};
use tradsys::shard::mesh::SessionRef;
use tradsys::shard::notify::LocalNotify;
use tradsys::shard::ws_session::{
    frame_reports, framed_bound, WsControl, MAX_CONTROL_FRAME, SESSION_LIMITS,
};
use tradsys::websocket::encode::write_frame;
use tradsys::websocket::frame::read_header;
use tradsys::websocket::{Decoder, Opcode, Role, WsEvent};

const BTC: SymbolId = 1; // shard 0
const ETH: SymbolId = 2; // shard 1

/// Two shard cores with their journals (sync = none) in `journal_dir`.
fn two_shards(journal_dir: &std::path::Path) -> (ShardCore, ShardCore) {
    let (mut a, mut b, receivers) = two_shard_cores(1024, |config| {
        config.journal.dir = journal_dir.to_path_buf();
        config.journal.segment_bytes = 64 << 20;
        config.engine.order_capacity = 1 << 12;
    });
    std::mem::forget(receivers); // the doorbells must outlive the test
    a.start().unwrap();
    b.start().unwrap();
    (a, b)
}

struct Peer {
    id: SessionRef,
    seq: u32,
    wire: [u8; 256],
    /// Several messages sent as one read (`queue`, then `send_queued`).
    read: [u8; 2048],
    read_len: usize,
    spare: Vec<u8>,
    /// Over WebSocket order entry (docs/PROTOCOL.md section 14): what the
    /// runtime's WebSocket reader and writer add to the path.
    ws: Option<WsPeer>,
}

/// The WebSocket side of a session: the server's decoder (the client's
/// frames, masked), the writer's framing buffer and its pong state.
struct WsPeer {
    decoder: Decoder,
    frame: [u8; 256 + 14],
    framed: Vec<u8>,
    control: WsControl,
}

impl WsPeer {
    fn new(outbox_bytes: usize) -> WsPeer {
        WsPeer {
            decoder: Decoder::new(Role::Server, SESSION_LIMITS),
            frame: [0; 256 + 14],
            framed: Vec::with_capacity(framed_bound(outbox_bytes) + 2 * MAX_CONTROL_FRAME),
            control: WsControl::default(),
        }
    }
}

/// Counts the message types of `bytes` (whole messages).
fn count(bytes: &[u8], counts: &mut [u32; 256]) {
    let mut at = 0;
    while at < bytes.len() {
        let decoded = decode_gateway(&bytes[at..]).expect("well-formed output");
        counts[decoded.message.header().msg_type as usize] += 1;
        at += decoded.len;
    }
}

impl Peer {
    /// Logs on: the first message makes the session.
    fn logon(core: &mut ShardCore, logon: &LogonMsg, now: Now) -> Peer {
        let mut wire = [0u8; 256];
        let len = encode(logon, 1, &mut wire).unwrap();
        let id = match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), now) {
            FirstMessage::LoggedOn(id) => id,
            other => panic!("logon: {other:?}"),
        };
        Peer {
            id,
            seq: 2,
            wire: [0; 256],
            read: [0; 2048],
            read_len: 0,
            spare: Vec::with_capacity(2 << 20),
            ws: None,
        }
    }

    fn send<M: WireMessage>(&mut self, core: &mut ShardCore, msg: &M, now: Now) {
        let len = encode(msg, self.seq, &mut self.wire).unwrap();
        self.seq += 1;
        let intake = match &mut self.ws {
            None => core.on_bytes(self.id, &self.wire[..len], now),
            Some(ws) => {
                // A masked client frame, decoded as the WebSocket reader does.
                let mask = Some(self.seq.to_le_bytes());
                let n = write_frame(true, Opcode::Binary, &self.wire[..len], mask, &mut ws.frame)
                    .unwrap();
                let step = ws.decoder.decode(&ws.frame[..n]).unwrap();
                assert_eq!(step.consumed, n);
                let Some(WsEvent::Binary(payload)) = step.event else {
                    panic!("a binary message")
                };
                core.on_bytes(self.id, payload, now)
            }
        };
        assert_eq!((intake.consumed, intake.blocked), (len, false));
    }

    /// Adds a message to the next read.
    fn queue<M: WireMessage>(&mut self, msg: &M) {
        self.read_len += encode(msg, self.seq, &mut self.read[self.read_len..]).unwrap();
        self.seq += 1;
    }

    /// Hands every queued message to the core as one read.
    fn send_queued(&mut self, core: &mut ShardCore, now: Now) {
        let len = std::mem::take(&mut self.read_len);
        let intake = core.on_bytes(self.id, &self.read[..len], now);
        assert_eq!((intake.consumed, intake.blocked), (len, false));
    }

    /// Takes everything queued for this session and counts message types
    /// (over WebSocket: framed as the writer does, a pong ahead).
    fn drain(&mut self, core: &mut ShardCore, counts: &mut [u32; 256]) {
        while core.take_output(self.id, &mut self.spare) == Output::Data {
            match &mut self.ws {
                None => count(&self.spare, counts),
                Some(ws) => {
                    ws.framed.clear();
                    ws.control.ping(b"still there?");
                    ws.control.take_pong_into(&mut ws.framed);
                    frame_reports(&self.spare, &mut ws.framed);
                    let mut at = 0;
                    while at < ws.framed.len() {
                        let (header, n) = read_header(&ws.framed[at..]).unwrap();
                        let end = at + n + header.payload_len as usize;
                        if header.opcode == Opcode::Binary as u8 {
                            count(&ws.framed[at + n..end], counts);
                        }
                        at = end;
                    }
                }
            }
            self.spare.clear();
        }
    }
}

fn pump(a: &mut ShardCore, b: &mut ShardCore, now: Now) {
    while a.poll_mesh(now) + b.poll_mesh(now) > 0 {}
}

/// One round: Alice (shard 0) rests a sell on ETH (shard 1) and a buy on BTC
/// (shard 0); Bob (shard 1) takes both with IOCs; Alice replaces and
/// cancels a fresh order. Every report crosses or stays as routing says.
#[allow(clippy::too_many_arguments)]
fn round(
    a: &mut ShardCore,
    b: &mut ShardCore,
    alice: &mut Peer,
    bob: &mut Peer,
    i: u64,
    now: Now,
    counts: &mut [u32; 256],
) {
    let order = |account, symbol, side, price, qty, tif| NewOrder {
        account,
        symbol,
        client_order_id: i,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price,
        qty,
    };
    alice.send(
        a,
        &NewOrderMsg::from_order(&order(1, ETH, Side::Sell, 300_000, 10, TimeInForce::Gtc)),
        now,
    );
    alice.send(
        a,
        &NewOrderMsg::from_order(&order(1, BTC, Side::Buy, 5_000_000, 2, TimeInForce::Gtc)),
        now,
    );
    pump(a, b, now);
    bob.send(
        b,
        &NewOrderMsg::from_order(&order(2, ETH, Side::Buy, 300_000, 10, TimeInForce::Ioc)),
        now,
    );
    bob.send(
        b,
        &NewOrderMsg::from_order(&order(2, BTC, Side::Sell, 5_000_000, 2, TimeInForce::Ioc)),
        now,
    );
    pump(a, b, now);
    // A resting order on the far shard, taken by the mass cancel.
    alice.send(
        a,
        &NewOrderMsg::from_order(&order(1, ETH, Side::Buy, 290_000, 10, TimeInForce::Gtc)),
        now,
    );
    pump(a, b, now);
    // One read of commands for Alice's own shard's engine (a batch): three
    // orders that rest (the mass cancel takes them), and a cancel and a
    // replace of an order long gone.
    for k in 0..3 {
        let mut rest = order(1, BTC, Side::Buy, 4_900_000, 1, TimeInForce::Gtc);
        rest.client_order_id = 1_000 * i + k;
        alice.queue(&NewOrderMsg::from_order(&rest));
    }
    alice.queue(&CancelOrderMsg::new(i, 1, BTC));
    alice.queue(&ReplaceOrderMsg::new(i, 1, BTC, 4_900_000, 2));
    alice.send_queued(a, now);
    pump(a, b, now);
    // The account queries (PROTOCOL.md 5.8): the order by its client order
    // id (on the far shard), the open orders, positions and done orders of
    // both shards.
    let far = QueryCursor::at(1, 0, 0);
    alice.send(a, &OrderQueryMsg::new(i, i, ETH), now);
    alice.send(
        a,
        &OpenOrdersRequestMsg::new(i, None, QueryCursor::START),
        now,
    );
    alice.send(a, &OpenOrdersRequestMsg::new(i, None, far), now);
    alice.send(
        a,
        &PositionsRequestMsg::new(i, None, QueryCursor::START),
        now,
    );
    alice.send(a, &PositionsRequestMsg::new(i, None, far), now);
    // Done orders (the mass cancels and the IOCs of earlier rounds), both
    // shards.
    alice.send(
        a,
        &DoneOrdersRequestMsg::new(i, None, QueryCursor::START),
        now,
    );
    alice.send(a, &DoneOrdersRequestMsg::new(i, None, far), now);
    pump(a, b, now);
    alice.send(a, &MassCancelMsg::new(i, None), now);
    alice.send(a, &OrderStatusRequestMsg::new(i, 1, ETH), now);
    alice.send(a, &ClientHeartbeatMsg::new(), now);
    // Cancel and replace messages take the same route (answered here with
    // CancelRejected: the mass cancel took the order).
    alice.send(a, &CancelOrderMsg::new(i, 1, ETH), now);
    alice.send(a, &ReplaceOrderMsg::new(i, 1, ETH, 290_000, 20), now);
    pump(a, b, now);
    alice.drain(a, counts);
    bob.drain(b, counts);
}

#[test]
fn order_path_across_the_mesh_allocates_nothing_after_warm_up() {
    order_path_allocates_nothing(false);
}

/// The same rounds with Alice's session over WebSocket order entry: the
/// decoder, the framing of her reports and a pong per write add nothing.
#[test]
fn websocket_order_entry_allocates_nothing_after_warm_up() {
    order_path_allocates_nothing(true);
}

fn order_path_allocates_nothing(websocket: bool) {
    let dir =
        std::env::temp_dir().join(format!("tradsys-alloc-{}-{websocket}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut a, mut b) = two_shards(&dir);
    let now = Now {
        mono_ns: 1,
        wall_ns: 1,
    };
    let mut alice = Peer::logon(
        &mut a,
        &LogonMsg::new(1, b"alice-demo-token", 0, false).unwrap(),
        now,
    );
    let mut bob = Peer::logon(
        &mut b,
        &LogonMsg::new(2, b"bob-demo-token", 0, false).unwrap(),
        now,
    );
    if websocket {
        alice.ws = Some(WsPeer::new(
            a.shared().config.session.send_buffer_bytes + 256,
        ));
    }
    let mut counts = [0u32; 256];
    alice.drain(&mut a, &mut counts);
    bob.drain(&mut b, &mut counts);
    round(&mut a, &mut b, &mut alice, &mut bob, 1, now, &mut counts);
    let mut counts = [0u32; 256];
    let rounds = 500;
    let (allocations, ()) = allocations_in(|| {
        for i in 2..2 + rounds {
            // A millisecond per round keeps the rate limiter refilled.
            let now = Now {
                mono_ns: i * 1_000_000,
                wall_ns: i,
            };
            round(&mut a, &mut b, &mut alice, &mut bob, i, now, &mut counts);
        }
    });
    let r = rounds as u32;
    assert_eq!(
        counts[msg_type::ORDER_ACCEPTED as usize],
        8 * r,
        "every order accepted"
    );
    assert_eq!(
        counts[msg_type::FILL as usize],
        4 * r,
        "two trades, both sides"
    );
    assert_eq!(
        counts[msg_type::ORDER_CANCELED as usize],
        4 * r,
        "mass cancel"
    );
    assert_eq!(counts[msg_type::MASS_CANCEL_DONE as usize], r);
    // OrderStatusRequest, OrderQuery, and the open-order pages: the ETH
    // order, and the batch's three BTC orders.
    assert_eq!(counts[msg_type::ORDER_STATUS as usize], 6 * r);
    assert_eq!(counts[msg_type::QUERY_DONE as usize], 6 * r);
    // Done-order pages of both shards: the earlier rounds' orders, at
    // least one a page (the mass cancel's) and at most a full page.
    let done_orders = counts[msg_type::DONE_ORDER as usize];
    assert!((2 * r..=2 * 16 * r).contains(&done_orders), "{done_orders}");
    assert_eq!(counts[msg_type::POSITION as usize], 3 * r, "BTC, ETH, SOL");
    assert_eq!(counts[msg_type::CANCEL_REJECTED as usize], 4 * r);
    assert_eq!(counts[msg_type::ORDER_REJECTED as usize], 0);
    assert!(
        a.counters.commands_remote > 0 && b.counters.commands_remote > 0,
        "crossed the mesh"
    );
    assert_eq!(allocations, 0, "allocations on the gateway order path");
    assert_eq!(a.counters.journal_refusals + b.counters.journal_refusals, 0);
    drop((a, b));
    let summary = tradsys::journal::stats(&dir).unwrap();
    let epoch = tradsys::journal::codec::kind::CONFIG_EPOCH as usize;
    let epochs: u64 = summary
        .shards
        .iter()
        .map(|s| s.records_by_kind[epoch])
        .sum();
    assert_eq!(epochs, 2, "each shard's start recorded its engine config");
    let feed = tradsys::journal::codec::kind::FEED_EPOCH as usize;
    let feed_epochs: u64 = summary.shards.iter().map(|s| s.records_by_kind[feed]).sum();
    assert_eq!(feed_epochs, 2, "each shard's start recorded the feed epoch");
    // Per round: 8 new orders, the mass cancel on both shards, two cancels
    // and two replaces (status requests change nothing and are not
    // journaled).
    assert_eq!(
        summary.records() - epochs - feed_epochs,
        14 * (rounds + 1),
        "every command was journaled"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
