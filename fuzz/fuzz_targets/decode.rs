//! Feeds arbitrary bytes to both decoders as a stream of messages, as a
//! socket would deliver them. Beyond "never panics", it checks that what
//! decodes re-encodes to the very same bytes and that the field conversions
//! accept or reject without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tradsys::protocol::*;

/// Re-encodes a decoded message and checks it reproduces `bytes` exactly:
/// the header `encode` writes is the one the decoder accepted.
fn assert_reencodes<M: WireMessage + PartialEq + core::fmt::Debug>(msg: &M, bytes: &[u8]) {
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let n = encode(msg, msg.header().seq.get(), &mut out).expect("fits MAX_MESSAGE_LEN");
    assert_eq!(&out[..n], bytes);
}

fn client_stream(mut data: &[u8]) {
    loop {
        match decode_client(data) {
            Ok(decoded) => {
                assert!(decoded.len >= HEADER_LEN && decoded.len <= data.len());
                let bytes = &data[..decoded.len];
                match decoded.message {
                    ClientMessage::Logon(m) => {
                        assert_reencodes(m, bytes);
                        let _ = logon_request(m);
                    }
                    ClientMessage::Logout(m) => assert_reencodes(m, bytes),
                    ClientMessage::Heartbeat(m) => assert_reencodes(m, bytes),
                    ClientMessage::NewOrder(m) => assert_reencodes(m, bytes),
                    ClientMessage::CancelOrder(m) => assert_reencodes(m, bytes),
                    ClientMessage::ReplaceOrder(m) => assert_reencodes(m, bytes),
                    ClientMessage::MassCancel(m) => assert_reencodes(m, bytes),
                    ClientMessage::OrderStatusRequest(m) => assert_reencodes(m, bytes),
                    ClientMessage::OrderQuery(m) => assert_reencodes(m, bytes),
                    ClientMessage::OpenOrdersRequest(m) => assert_reencodes(m, bytes),
                    ClientMessage::PositionsRequest(m) => assert_reencodes(m, bytes),
                    ClientMessage::ReplayRequest(m) => assert_reencodes(m, bytes),
                    ClientMessage::DoneOrdersRequest(m) => assert_reencodes(m, bytes),
                }
                if let Some(Ok(command)) = client_command(&decoded.message, 1) {
                    // A command built from the wire must carry the session's
                    // account, never one taken from the bytes.
                    let account = match command {
                        tradsys::engine::Command::New(o) => o.account,
                        tradsys::engine::Command::Cancel(c) => c.account,
                        tradsys::engine::Command::Replace(r) => r.account,
                        tradsys::engine::Command::MassCancel { account, .. } => account,
                        other => panic!("not an order-entry command: {other:?}"),
                    };
                    assert_eq!(account, 1);
                }
                data = &data[decoded.len..];
            }
            Err(DecodeError::Incomplete { needed }) => {
                assert!(needed > data.len() && needed <= MAX_MESSAGE_LEN);
                return;
            }
            Err(error) => {
                assert!(error.session_end_reason().is_some());
                return;
            }
        }
    }
}

fn gateway_stream(mut data: &[u8]) {
    loop {
        match decode_gateway(data) {
            Ok(decoded) => {
                assert!(decoded.len >= HEADER_LEN && decoded.len <= data.len());
                let bytes = &data[..decoded.len];
                match decoded.message {
                    GatewayMessage::LogonAccepted(m) => assert_reencodes(m, bytes),
                    GatewayMessage::LogonRejected(m) => assert_reencodes(m, bytes),
                    GatewayMessage::Heartbeat(m) => assert_reencodes(m, bytes),
                    GatewayMessage::OrderAccepted(m) => assert_reencodes(m, bytes),
                    GatewayMessage::OrderRejected(m) => assert_reencodes(m, bytes),
                    GatewayMessage::Fill(m) => assert_reencodes(m, bytes),
                    GatewayMessage::OrderCanceled(m) => assert_reencodes(m, bytes),
                    GatewayMessage::OrderReplaced(m) => assert_reencodes(m, bytes),
                    GatewayMessage::CancelRejected(m) => assert_reencodes(m, bytes),
                    GatewayMessage::MassCancelDone(m) => assert_reencodes(m, bytes),
                    GatewayMessage::OrderStatus(m) => assert_reencodes(m, bytes),
                    GatewayMessage::SessionEnd(m) => assert_reencodes(m, bytes),
                    GatewayMessage::Position(m) => assert_reencodes(m, bytes),
                    GatewayMessage::QueryDone(m) => assert_reencodes(m, bytes),
                    GatewayMessage::ReplayStarted(m) => assert_reencodes(m, bytes),
                    GatewayMessage::ReplayDone(m) => assert_reencodes(m, bytes),
                    GatewayMessage::DoneOrder(m) => assert_reencodes(m, bytes),
                }
                // A report that converts back to an event must re-encode to
                // the same bytes (given its own seq and timestamp).
                if let Some(event) = report_to_event(&decoded.message, 1) {
                    let mut out = [0u8; MAX_MESSAGE_LEN];
                    let seq = decoded.message.header().seq.get();
                    // Version 2: the timestamp comes before the 16-byte
                    // trailer (report_seq, stream, account).
                    let at = bytes.len() - 24;
                    let ts = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                    let n = encode_event(&event, seq, ts, &mut out).expect("a report event");
                    // Reserved bytes are zero in the re-encoding; compare
                    // through a second decode instead of raw bytes.
                    let again = decode_gateway(&out[..n]).expect("re-encoded report decodes");
                    assert_eq!(report_to_event(&again.message, 1), Some(event));
                }
                data = &data[decoded.len..];
            }
            Err(DecodeError::Incomplete { needed }) => {
                assert!(needed > data.len() && needed <= MAX_MESSAGE_LEN);
                return;
            }
            Err(error) => {
                assert!(error.session_end_reason().is_some());
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    client_stream(data);
    gateway_stream(data);
});
