//! Feeds arbitrary bytes to the WebSocket layer as a socket would: the
//! first byte picks the read size, the rest goes through the server
//! decoder (and the client decoder) in pieces of that size, and through
//! the handshake. Beyond "never panics": every step consumes no more than
//! it was given, an error is one of the three close codes the decoder
//! documents and sticks, a text message is UTF-8, no data message is over
//! the limit, and an accepted handshake's request length is within the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tradsys::websocket::handshake::{accept, Format, HandshakeConfig};
use tradsys::websocket::*;

fn stream(role: Role, data: &[u8], piece: usize) {
    let limits = Limits { max_frame: 512, max_message: 1024 };
    let mut decoder = Decoder::new(role, limits);
    let mut pending: Vec<u8> = Vec::new();
    for chunk in data.chunks(piece) {
        pending.extend_from_slice(chunk);
        loop {
            match decoder.decode(&pending) {
                Err(error) => {
                    assert!(matches!(error.close_code(), 1002 | 1007 | 1009));
                    assert_eq!(decoder.decode(&pending).unwrap_err(), error);
                    return;
                }
                Ok(step) => {
                    assert!(step.consumed <= pending.len());
                    // Without an event every byte is taken (a split header
                    // waits inside the decoder).
                    assert!(step.event.is_some() || step.consumed == pending.len());
                    let more = match step.event {
                        Some(WsEvent::Text(t)) => {
                            assert!(core::str::from_utf8(t).is_ok());
                            assert!(t.len() <= limits.max_message);
                            true
                        }
                        Some(WsEvent::Binary(b)) => {
                            assert!(b.len() <= limits.max_message);
                            true
                        }
                        Some(WsEvent::Ping(p) | WsEvent::Pong(p)) => {
                            assert!(p.len() <= 125);
                            true
                        }
                        Some(WsEvent::Close { reason, .. }) => {
                            assert!(core::str::from_utf8(reason).is_ok());
                            true
                        }
                        None => false,
                    };
                    pending.drain(..step.consumed);
                    if !more {
                        break;
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first % 64) + 1;
    stream(Role::Server, rest, piece);
    stream(Role::Client, rest, piece);
    let config = HandshakeConfig {
        path: "/md",
        echo_path: "/echo",
        trade_path: "/trade",
        allowed_origins: &["https://example.com"],
        default_format: Format::Binary,
    };
    if let Ok(accepted) = accept(rest, &config) {
        assert!(accepted.request_len <= rest.len());
    }
});
