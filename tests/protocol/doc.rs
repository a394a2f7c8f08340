//! `docs/PROTOCOL.md` promises codes and bytes; these tests hold it to them:
//! every enumeration and reason table lists exactly the codes the code
//! defines, and every worked hex dump is what the encoder writes.

use crate::doc_tables;

use tradsys::engine::*;
use tradsys::protocol::*;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// `(code, name)` rows of the table under `### {heading}`.
fn code_table(heading: &str) -> Vec<(u16, String)> {
    let heading = format!("### {heading}");
    let mut lines = DOC.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "{heading:?} not in PROTOCOL.md");
    lines
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].parse().unwrap(), cells[1].to_string())
        })
        .collect()
}

/// `(code, Debug name)` of every value a decoder function accepts.
fn defined_codes<T: core::fmt::Debug>(from: impl Fn(u16) -> Option<T>) -> Vec<(u16, String)> {
    (0..=u16::MAX)
        .filter_map(|v| from(v).map(|t| (v, format!("{t:?}"))))
        .collect()
}

fn byte<T>(from: fn(u8) -> Option<T>) -> impl Fn(u16) -> Option<T> {
    move |v| u8::try_from(v).ok().and_then(from)
}

#[test]
fn reject_reason_table_lists_every_engine_code() {
    assert_eq!(
        code_table("RejectReason"),
        defined_codes(RejectReason::from_u16)
    );
    assert_eq!(code_table("RejectReason").len(), RejectReason::ALL.len());
}

#[test]
fn cancel_reason_table_lists_every_engine_code() {
    assert_eq!(
        code_table("CancelReason"),
        defined_codes(byte(CancelReason::from_u8))
    );
}

#[test]
fn session_reason_tables_list_every_protocol_code() {
    assert_eq!(
        code_table("SessionEndReason"),
        defined_codes(SessionEndReason::from_u16)
    );
    assert_eq!(
        code_table("LogonRejectReason"),
        defined_codes(LogonRejectReason::from_u16)
    );
}

#[test]
fn enumeration_tables_list_every_code() {
    assert_eq!(code_table("Side"), defined_codes(byte(Side::from_u8)));
    assert_eq!(
        code_table("OrderKind"),
        defined_codes(byte(OrderKind::from_u8))
    );
    assert_eq!(
        code_table("TimeInForce"),
        defined_codes(byte(TimeInForce::from_u8))
    );
    assert_eq!(code_table("StpMode"), defined_codes(byte(StpMode::from_u8)));
    assert_eq!(
        code_table("OrderState"),
        defined_codes(byte(OrderState::from_u8))
    );
    // The engine has no `Liquidity::from_u8`; its two codes are fixed.
    assert_eq!(
        code_table("Liquidity"),
        [Liquidity::Aggressor, Liquidity::Passive]
            .map(|l| (l as u16, format!("{l:?}")))
            .to_vec()
    );
}

#[test]
fn worked_hex_dumps_are_what_the_encoder_writes() {
    let mut expected = Vec::new();
    let mut buf = [0u8; MAX_MESSAGE_LEN];

    let logon = LogonMsg::new(7, b"demo-token-7", 1000, true).unwrap();
    let n = encode(&logon, 1, &mut buf).unwrap();
    expected.push(buf[..n].to_vec());

    let n = encode(&LogonAcceptedMsg::new(7, 1000, 2), 1, &mut buf).unwrap();
    expected.push(buf[..n].to_vec());

    let order = NewOrder {
        account: 7,
        symbol: 1,
        client_order_id: 1001,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price: 10050,
        qty: 5,
    };
    let n = encode(&NewOrderMsg::from_order(&order), 2, &mut buf).unwrap();
    expected.push(buf[..n].to_vec());

    let accepted = Event::Accepted {
        order_id: 42,
        account: 7,
        symbol: 1,
        client_order_id: 1001,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        price: 10050,
        qty: 5,
    };
    let number = ReportNumber {
        stream: 0,
        report_seq: 1,
    };
    let report = SessionReport::from_event(&accepted, 1_700_000_000_123_456_789, number).unwrap();
    let n = report.encode(2, &mut buf).unwrap();
    expected.push(buf[..n].to_vec());

    let request = DoneOrdersRequestMsg::new(1002, Some(1), QueryCursor::START);
    let n = encode(&request, 3, &mut buf).unwrap();
    expected.push(buf[..n].to_vec());
    let done = DoneOrder {
        order_id: 43,
        client_order_id: 1003,
        side: Side::Buy,
        cancel_reason: Some(CancelReason::ImmediateRemainder),
        filled_qty: 3,
        canceled_qty: 1,
        notional: 10_050 + 2 * 10_055,
        done_seq: 1,
    };
    let n = encode(&DoneOrderMsg::new(1002, 1, &done), 4, &mut buf).unwrap();
    expected.push(buf[..n].to_vec());

    expected.extend(websocket_examples(&expected[0], &expected[1]));
    assert_eq!(doc_tables::hex_blocks(DOC), expected);
}

/// Section 14's dumps: the Logon in a masked client frame, LogonAccepted in
/// a server frame (`ws_session::frame_reports`, what the writer sends), and
/// SessionEnd(Logout) with the Close frame that follows it.
fn websocket_examples(logon: &[u8], accepted: &[u8]) -> Vec<Vec<u8>> {
    use tradsys::shard::ws_session::{frame_reports, framed_bound, WsControl};
    use tradsys::websocket::encode::write_frame;
    use tradsys::websocket::Opcode;
    let mut client = vec![0u8; logon.len() + 14];
    let mask = Some([0x37, 0xfa, 0x21, 0x3d]);
    let n = write_frame(true, Opcode::Binary, logon, mask, &mut client).unwrap();
    client.truncate(n);
    let mut server = Vec::with_capacity(framed_bound(accepted.len()));
    frame_reports(accepted, &mut server);
    let mut end = [0u8; SessionEndMsg::LEN];
    encode(
        &SessionEndMsg::new(SessionEndReason::Logout, 4),
        3,
        &mut end,
    )
    .unwrap();
    let mut closing = Vec::with_capacity(framed_bound(end.len()) + 4);
    frame_reports(&end, &mut closing);
    let close = WsControl::default().close_code(Some(SessionEndReason::Logout));
    WsControl::close_frame_into(close, &mut closing);
    vec![client, server, closing]
}

/// Section 14's Close codes are the ones the WebSocket writer sends.
#[test]
fn websocket_close_codes_are_the_documented_ones() {
    use tradsys::shard::ws_session::close_code_for;
    let section = &DOC[DOC.find("## 14. WebSocket transport").expect("section 14")..];
    assert!(section.contains("| `SessionEnd(Logout)` | 1000 |"));
    assert_eq!(close_code_for(SessionEndReason::Logout), 1000);
    assert!(section.contains("| `SessionEnd(Shutdown)` | 1001 |"));
    assert_eq!(close_code_for(SessionEndReason::Shutdown), 1001);
    for code in 1..=u16::MAX {
        let Some(reason) = SessionEndReason::from_u16(code) else {
            continue;
        };
        use SessionEndReason::*;
        if matches!(reason, Logout | Shutdown | TransportError) {
            continue;
        }
        let row = format!("{} `{reason:?}`", close_code_for(reason));
        assert!(section.contains(&row), "section 14 lists {row}");
    }
}

#[test]
fn worked_hex_dumps_decode_to_the_described_messages() {
    let blocks = doc_tables::hex_blocks(DOC);
    let Ok(Decoded {
        message: ClientMessage::Logon(logon),
        ..
    }) = decode_client(&blocks[0])
    else {
        panic!("first dump is not a Logon");
    };
    let request = logon_request(logon).unwrap();
    assert_eq!(request.token, b"demo-token-7");
    assert!(request.cancel_on_disconnect);

    let Ok(Decoded {
        message: ClientMessage::NewOrder(order),
        ..
    }) = decode_client(&blocks[2])
    else {
        panic!("third dump is not a NewOrder");
    };
    let Ok(Command::New(order)) = new_order_command(order, 7) else {
        panic!("third dump is not a valid NewOrder");
    };
    assert_eq!((order.side, order.price, order.qty), (Side::Buy, 10050, 5));
}
