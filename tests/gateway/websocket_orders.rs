//! WebSocket order entry (docs/PROTOCOL.md section 14) on the real binary:
//! a WebSocket session is a TCP session carried differently. Reports reach
//! every session of the account whichever transport each uses, an order
//! acknowledged over WebSocket survives kill -9, the pre-logon bounds and
//! the logon timeout hold, shutdown and protocol errors end with
//! SessionEnd and the documented Close code, a protocol message may span
//! WebSocket messages and a message may hold several. The Python
//! conformance client runs every TCP check over WebSocket too
//! (`python_conformance.rs`).

use std::collections::VecDeque;

use crate::support::gateway::{assert_all_open, config, token, Gateway, ALICE, BOB};
use crate::support::ws_client::{upgrade_request, WsClient};
use tradsys::client::Received;
use tradsys::engine::{NewOrder, OrderKind, Side, TimeInForce};
use tradsys::protocol::*;
use tradsys::websocket::Opcode;

/// An order-entry session over WebSocket: protocol messages in masked
/// binary frames, the gateway's binary messages split into protocol
/// messages (each must hold whole ones).
struct WsTrader {
    ws: WsClient,
    seq: u32,
    received: VecDeque<Received>,
}

impl WsTrader {
    fn connect(gateway: &Gateway) -> WsTrader {
        WsTrader {
            ws: WsClient::connect(gateway.md_addr, "/trade"),
            seq: 0,
            received: VecDeque::new(),
        }
    }

    fn logon(gateway: &Gateway, account: u32) -> WsTrader {
        let mut trader = WsTrader::connect(gateway);
        trader.send(&LogonMsg::new(account, token(account), 0, false).unwrap());
        assert!(
            matches!(trader.recv(), Received::LogonAccepted(_)),
            "logged on"
        );
        trader
    }

    /// The bytes of `msg` with the next seq.
    fn encode<M: WireMessage>(&mut self, msg: &M) -> Vec<u8> {
        self.seq += 1;
        let mut buf = vec![0u8; M::LEN];
        encode(msg, self.seq, &mut buf).unwrap();
        buf
    }

    fn send<M: WireMessage>(&mut self, msg: &M) {
        let bytes = self.encode(msg);
        self.ws.send_frame(true, Opcode::Binary, &bytes);
    }

    /// The next gateway message that is not a heartbeat.
    fn recv(&mut self) -> Received {
        loop {
            if let Some(message) = self.received.pop_front() {
                if !matches!(message, Received::Heartbeat(_)) {
                    return message;
                }
                continue;
            }
            let frame = self.ws.recv();
            assert_eq!(frame.opcode, Opcode::Binary, "a binary message: {frame:?}");
            let mut at = 0;
            while at < frame.payload.len() {
                let decoded = decode_gateway(&frame.payload[at..]).expect("whole messages");
                self.received
                    .push_back(Received::from_view(&decoded.message));
                at += decoded.len;
            }
        }
    }

    /// The SessionEnd, then the Close frame: `(reason, expected_seq, close code)`.
    fn ended(&mut self) -> (u16, u32, Option<u16>) {
        let (reason, expected) = loop {
            if let Received::SessionEnd(m) = self.recv() {
                break (m.reason.get(), m.expected_seq.get());
            }
        };
        assert!(self.received.is_empty(), "SessionEnd is the last message");
        let close = self.ws.recv();
        assert_eq!(close.opcode, Opcode::Close, "then Close: {close:?}");
        (reason, expected, close.close_code())
    }
}

fn order(account: u32, side: Side, price: i64, id: u64) -> NewOrderMsg {
    NewOrderMsg::from_order(&order_fields(account, side, price, id))
}

fn order_fields(account: u32, side: Side, price: i64, id: u64) -> NewOrder {
    NewOrder {
        account,
        symbol: 1,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty: 2,
    }
}

#[test]
fn reports_reach_every_session_of_the_account_whichever_transport() {
    let gateway = Gateway::start();
    let mut ws = WsTrader::logon(&gateway, ALICE);
    let mut tcp = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    ws.send(&order(ALICE, Side::Sell, 10_010, 1));
    let Received::OrderAccepted(over_ws) = ws.recv() else {
        panic!("accepted over WebSocket")
    };
    let Received::OrderAccepted(over_tcp) = tcp.recv().unwrap() else {
        panic!("the TCP session of the account sees it too")
    };
    let fields = |m: OrderAcceptedMsg| (m.order_id, m.client_order_id, m.price, m.qty, m.side);
    assert_eq!(fields(over_ws), fields(over_tcp), "the same report");
    tcp.new_order(&order_fields(ALICE, Side::Sell, 10_020, 2))
        .unwrap();
    assert!(matches!(tcp.recv().unwrap(), Received::OrderAccepted(_)));
    assert!(
        matches!(ws.recv(), Received::OrderAccepted(m) if m.client_order_id.get() == 2),
        "a TCP session's report reaches the WebSocket one"
    );
    bob.new_order(&order_fields(BOB, Side::Buy, 10_010, 3))
        .unwrap();
    assert!(matches!(ws.recv(), Received::Fill(f) if f.client_order_id.get() == 1));
    assert!(matches!(tcp.recv().unwrap(), Received::Fill(_)));
    ws.send(&LogoutMsg::new());
    let expected = ws.seq + 1;
    assert_eq!(
        ws.ended(),
        (SessionEndReason::Logout.code(), expected, Some(1000))
    );
}

/// As over TCP: a WebSocket session the gateway ended gives its slot back
/// before its client closes (the Close frame is out; the socket lingers).
#[test]
fn an_ended_websocket_session_frees_its_slot_before_its_client_closes() {
    let gateway = Gateway::start_with(
        "max_sessions_per_shard = 1\n[server]\nmarket_data_shards = [0]\nshutdown_grace_ms = 60000",
    );
    let mut alice = WsTrader::logon(&gateway, ALICE);
    alice.send(&LogoutMsg::new());
    let expected = alice.seq + 1;
    assert_eq!(
        alice.ended(),
        (SessionEndReason::Logout.code(), expected, Some(1000))
    );
    // Alice has not answered the Close nor closed her socket.
    let mut bob = WsTrader::logon(&gateway, BOB);
    bob.send(&order(BOB, Side::Buy, 10_000, 1));
    assert!(matches!(bob.recv(), Received::OrderAccepted(_)));
    drop(alice);
}

#[test]
fn an_order_acknowledged_over_websocket_survives_kill_9() {
    let dir = Gateway::new_dir();
    let gateway = Gateway::start_in(&dir, "").expect("gateway starts");
    let mut ws = WsTrader::logon(&gateway, ALICE);
    // Logon's successor and a second order in one WebSocket message, the
    // third order split across two messages: the byte stream is TCP's.
    let mut two = ws.encode(&order(ALICE, Side::Sell, 10_030, 1));
    two.extend(ws.encode(&order(ALICE, Side::Sell, 10_040, 2)));
    ws.ws.send_frame(true, Opcode::Binary, &two);
    let third = ws.encode(&order(ALICE, Side::Sell, 10_050, 3));
    ws.ws.send_frame(true, Opcode::Binary, &third[..11]);
    ws.ws.send_frame(true, Opcode::Binary, &third[11..]);
    let mut acked = Vec::new();
    for id in 1..=3 {
        let Received::OrderAccepted(m) = ws.recv() else {
            panic!("order {id} accepted")
        };
        assert_eq!(m.client_order_id.get(), id);
        acked.push((1, m.order_id.get()));
    }
    gateway.kill();
    let gateway = Gateway::start_in(&dir, "").expect("restart recovers");
    assert_all_open(&gateway, ALICE, &acked);
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_ends_a_websocket_session_with_session_end_and_1001() {
    let gateway = Gateway::start();
    let mut ws = WsTrader::logon(&gateway, ALICE);
    let (status, _) = gateway.stop();
    assert!(status.success(), "{status}");
    assert_eq!(
        ws.ended(),
        (SessionEndReason::Shutdown.code(), 2, Some(1001))
    );
}

#[test]
fn the_prelogon_bounds_and_the_logon_timeout_hold_over_websocket() {
    // One shard: the bounds are per shard, and the kernel picks the shard.
    let dir = Gateway::new_dir();
    let config = config(
        "max_prelogon_connections_per_ip = 1\nlogon_timeout_ms = 500",
        &dir,
    )
    .replace("cores = [0, 1]", "cores = [0]")
    .replace("shard = 1", "shard = 0");
    let gateway = Gateway::start_config(&dir, &config, None).expect("gateway starts");
    let mut waiting = WsTrader::connect(&gateway);
    // One admission for both transports: the WebSocket connection waiting
    // to log on holds the address's one place, so TCP is refused too.
    let mut tcp = gateway.connect();
    assert!(
        matches!(tcp.recv().unwrap(), Received::LogonRejected(m)
            if m.reason.get() == LogonRejectReason::SessionLimit.code()),
        "TCP refused at accept"
    );
    let mut refused = WsTrader::connect(&gateway);
    let Received::LogonRejected(rejected) = refused.recv() else {
        panic!("refused: LogonRejected first")
    };
    assert_eq!(
        rejected.reason.get(),
        LogonRejectReason::SessionLimit.code()
    );
    assert_eq!(
        refused.ended(),
        (SessionEndReason::LogonRejected.code(), 1, Some(4110))
    );
    // The first one never logs on: LogonTimeout after 500 ms (the read
    // waits for it; the client's read timeout is 10 s).
    assert_eq!(
        waiting.ended(),
        (SessionEndReason::LogonTimeout.code(), 1, Some(4113))
    );
    drop((waiting, gateway));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (20 s at most) for a gateway log line that `wanted` accepts.
fn wait_for_log(gateway: &Gateway, wanted: impl Fn(&String) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut log = Vec::new();
    while !log.iter().any(&wanted) {
        assert!(std::time::Instant::now() < deadline, "not logged: {log:#?}");
        log.extend(gateway.log_lines());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn transport_errors_end_the_session_with_their_close_code() {
    let gateway = Gateway::start();
    let mut text = WsTrader::logon(&gateway, ALICE);
    text.ws.send_text("{\"op\":\"subscribe\"}");
    assert_eq!(
        text.ended(),
        (SessionEndReason::TransportError.code(), 2, Some(1003))
    );
    let mut unmasked = WsTrader::logon(&gateway, ALICE);
    // An unmasked client frame breaks RFC 6455 (section 5.1).
    use std::io::Write;
    unmasked.ws.stream.write_all(&[0x82, 0x00]).unwrap();
    assert_eq!(
        unmasked.ended(),
        (SessionEndReason::TransportError.code(), 2, Some(1002))
    );
    // The log names the rule and the close code with the session's peer
    // (it said only reason=TransportError).
    let peer = unmasked.ws.stream.local_addr().unwrap().to_string();
    wait_for_log(&gateway, |l| {
        l.contains("UnmaskedClientFrame") && l.contains(&peer) && l.contains("1002")
    });
    let mut gap = WsTrader::logon(&gateway, ALICE);
    gap.seq = 9;
    gap.send(&ClientHeartbeatMsg::new());
    assert_eq!(
        gap.ended(),
        (SessionEndReason::SequenceGap.code(), 2, Some(4108))
    );
    // Before logon too, and the connection's end is logged with its peer
    // and the rule's close code (a hostile pass found it not logged at
    // all, where TCP's bad first message is).
    let mut early = WsTrader::connect(&gateway);
    early.ws.send_text("{}");
    assert_eq!(
        early.ended(),
        (SessionEndReason::TransportError.code(), 1, Some(1003))
    );
    let peer = early.ws.stream.local_addr().unwrap().to_string();
    wait_for_log(&gateway, |l| {
        l.contains("not a valid Logon") && l.contains(&peer) && l.contains("1003")
    });
    // Other sessions are not disturbed.
    let mut fine = WsTrader::logon(&gateway, ALICE);
    fine.send(&order(ALICE, Side::Sell, 10_060, 1));
    assert!(matches!(fine.recv(), Received::OrderAccepted(_)));
}

#[test]
fn the_order_entry_path_is_configurable_and_can_be_turned_off() {
    let gateway = Gateway::start_with("[server]\n[market_data]\norder_entry_path = \"\"");
    let (_, head) = WsClient::connect_raw(gateway.md_addr, &upgrade_request("/trade", ""));
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let gateway = Gateway::start_with("[server]\n[market_data]\norder_entry_path = \"/oe\"");
    let (_, head) = WsClient::connect_raw(
        gateway.md_addr,
        &upgrade_request("/oe", "Sec-WebSocket-Protocol: tradsys.oe.v1\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Protocol: tradsys.oe.v1\r\n"),
        "{head}"
    );
}

#[test]
fn a_logon_and_the_orders_pipelined_behind_it_in_one_message_all_run() {
    let gateway = Gateway::start();
    let mut ws = WsTrader::connect(&gateway);
    let mut first = ws.encode(&LogonMsg::new(ALICE, token(ALICE), 0, false).unwrap());
    first.extend(ws.encode(&order(ALICE, Side::Sell, 10_070, 1)));
    // ...and the start of a third message, finished in the next one.
    let third = ws.encode(&order(ALICE, Side::Sell, 10_080, 2));
    first.extend(&third[..5]);
    ws.ws.send_frame(true, Opcode::Binary, &first);
    ws.ws.send_frame(true, Opcode::Binary, &third[5..]);
    assert!(matches!(ws.recv(), Received::LogonAccepted(_)));
    for id in 1..=2 {
        assert!(
            matches!(ws.recv(), Received::OrderAccepted(m) if m.client_order_id.get() == id),
            "order {id}"
        );
    }
}

/// The slow-consumer bound is the session's, whatever the transport:
/// a WebSocket client that stops reading while others trade against its
/// orders is ended with SessionEnd(SlowConsumer), then Close 4111, and
/// nobody waits for it (as `sessions.rs` shows over TCP).
#[test]
fn a_websocket_client_that_stops_reading_is_ended_as_slow_consumer() {
    let gateway = Gateway::start_with(
        "send_buffer_bytes = 4096\nsocket_send_buffer_bytes = 4096\n[server]\nshutdown_grace_ms = 60000",
    );
    let mut alice = WsTrader {
        ws: WsClient::connect_small(gateway.md_addr, "/trade", 4096),
        seq: 0,
        received: VecDeque::new(),
    };
    alice.send(&LogonMsg::new(ALICE, token(ALICE), 30_000, false).unwrap());
    let lots = |account, side, price, id, qty| NewOrder {
        qty,
        ..order_fields(account, side, price, id)
    };
    for i in 0..40 {
        alice.send(&NewOrderMsg::from_order(&lots(
            ALICE,
            Side::Sell,
            10_000,
            i,
            1_000,
        )));
    }
    // Wait for a fact: 5,000 lots of Alice's rest (her position limit lets
    // only some of the 40 orders rest), asked by a second session of hers.
    let mut watch = gateway.logon(ALICE);
    let mut asked = 0;
    loop {
        let mut resting = 0;
        for order_id in 1..=40 {
            asked += 1;
            watch.order_status(asked, 1, order_id).unwrap();
            resting += loop {
                if let Received::OrderStatus(m) = watch.recv().unwrap() {
                    break m.leaves_qty.get();
                }
            };
        }
        if resting >= 5_000 {
            break;
        }
        assert!(asked < 40_000, "Alice's sells never reached the book");
    }
    drop(watch);
    let mut bob = gateway.logon(BOB);
    let mut bob_reader = bob.try_clone_for_reading();
    let reader = std::thread::spawn(move || {
        let mut fills = 0;
        while fills < 5_000 {
            match bob_reader.recv() {
                Ok(Received::Fill(_)) => fills += 1,
                Ok(Received::OrderAccepted(_) | Received::Heartbeat(_)) => {}
                other => panic!("Bob after {fills} fills: {other:?}"),
            }
        }
        fills
    });
    for i in 0..5_000u64 {
        let mut ioc = lots(BOB, Side::Buy, 10_000, 100 + i, 1);
        ioc.tif = TimeInForce::Ioc;
        bob.new_order(&ioc).unwrap();
    }
    assert_eq!(reader.join().unwrap(), 5_000, "Bob was never held up");
    let (reason, _, close) = alice.ended();
    assert_eq!(
        (reason, close),
        (SessionEndReason::SlowConsumer.code(), Some(4111))
    );
}
