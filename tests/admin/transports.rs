//! `/metrics` tells WebSocket order-entry sessions from TCP ones: with one
//! session over each transport the session gauges count both and the
//! `ws_trade` ones only the WebSocket session; when it ends, its end is
//! counted and its gauge drops, the TCP session's stays.

use std::net::SocketAddr;

use crate::http::*;
use crate::support::gateway::*;
use crate::support::ws_client::WsClient;
use tradsys::protocol::*;
use tradsys::websocket::Opcode;

/// A WebSocket order-entry session of `account`, logged on.
fn ws_logon(gateway: &Gateway, account: u32) -> WsClient {
    let mut ws = WsClient::connect(gateway.md_addr, "/trade");
    let logon = LogonMsg::new(account, token(account), 0, false).unwrap();
    let mut bytes = vec![0u8; LogonMsg::LEN];
    encode(&logon, 1, &mut bytes).unwrap();
    ws.send_frame(true, Opcode::Binary, &bytes);
    let answer = ws.recv();
    assert_eq!(answer.opcode, Opcode::Binary);
    let decoded = decode_gateway(&answer.payload).unwrap();
    assert!(
        matches!(decoded.message, GatewayMessage::LogonAccepted(_)),
        "logged on"
    );
    ws
}

#[test]
fn metrics_count_websocket_order_entry_sessions_apart_from_tcp_ones() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config("", &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    let _tcp = gateway.logon(ALICE);
    let mut ws = ws_logon(&gateway, BOB);
    let both = poll_until(admin, "/metrics", |a| {
        total(&a.body, "tradsys_sessions_live") == 2
            && total(&a.body, "tradsys_ws_trade_sessions_live") == 1
    });
    assert_eq!(
        total(&both.body, "tradsys_ws_trade_sessions_opened_total"),
        1
    );
    assert_eq!(
        total(&both.body, "tradsys_ws_trade_sessions_ended_total"),
        0
    );
    assert_eq!(total(&both.body, "tradsys_sessions_opened_total"), 2);
    ws.send_frame(true, Opcode::Close, &1000u16.to_be_bytes());
    let after = poll_until(admin, "/metrics", |a| {
        total(&a.body, "tradsys_ws_trade_sessions_ended_total") == 1
    });
    assert_eq!(total(&after.body, "tradsys_ws_trade_sessions_live"), 0);
    assert_eq!(
        total(&after.body, "tradsys_sessions_live"),
        1,
        "the TCP one stays"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
