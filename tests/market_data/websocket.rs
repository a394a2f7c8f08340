//! The WebSocket layer against RFC 6455: every framing rule gives its
//! documented error and close code; random messages, fragmented at random,
//! with control frames between the fragments and fed in random pieces,
//! come out whole and in order (proptest); text is accepted exactly when it
//! is UTF-8; arbitrary bytes never panic the decoder; the handshake accepts
//! what the RFC asks for and refuses everything else with its status.

use proptest::prelude::*;
use tradsys::websocket::close::code;
use tradsys::websocket::encode::{write_frame, write_server_close, write_server_frame};
use tradsys::websocket::handshake::*;
use tradsys::websocket::*;

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn frame(fin: bool, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + 14];
    let n = write_frame(fin, opcode, payload, mask, &mut out).unwrap();
    out.truncate(n);
    out
}

fn client(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    frame(fin, opcode, payload, MASK)
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Got {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, Vec<u8>),
}

/// Feeds `bytes` in pieces of the given sizes (cycled), as a socket would.
/// A step without an event has taken every byte it was given (a frame
/// header split between two reads is kept by the decoder: a caller that
/// dropped the rest, as the shard's market-data hub does, lost it once).
fn run(decoder: &mut Decoder, bytes: &[u8], pieces: &[usize]) -> (Vec<Got>, Option<WsError>) {
    let mut got = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut i = 0;
    loop {
        let piece = pieces[i % pieces.len()].max(1);
        i += 1;
        let end = (at + piece).min(bytes.len());
        pending.extend_from_slice(&bytes[at..end]);
        at = end;
        loop {
            match decoder.decode(&pending) {
                Err(e) => return (got, Some(e)),
                Ok(step) => {
                    assert!(step.consumed <= pending.len());
                    assert!(
                        step.event.is_some() || step.consumed == pending.len(),
                        "no event, yet {} of {} bytes left",
                        pending.len() - step.consumed,
                        pending.len()
                    );
                    let event = step.event.map(|e| match e {
                        WsEvent::Text(t) => Got::Text(t.to_vec()),
                        WsEvent::Binary(b) => Got::Binary(b.to_vec()),
                        WsEvent::Ping(p) => Got::Ping(p.to_vec()),
                        WsEvent::Pong(p) => Got::Pong(p.to_vec()),
                        WsEvent::Close { code, reason } => Got::Close(code, reason.to_vec()),
                    });
                    pending.drain(..step.consumed);
                    match event {
                        Some(e) => got.push(e),
                        None => break,
                    }
                }
            }
        }
        if at == bytes.len() {
            return (got, None);
        }
    }
}

fn server() -> Decoder {
    Decoder::new(
        Role::Server,
        Limits {
            max_frame: 1024,
            max_message: 4096,
        },
    )
}

fn error_of(bytes: &[u8]) -> WsError {
    let (_, error) = run(&mut server(), bytes, &[bytes.len()]);
    error.expect("an error")
}

#[test]
fn every_framing_rule_has_its_error_and_close_code() {
    let cases: Vec<(Vec<u8>, WsError, u16)> = vec![
        (
            frame(true, Opcode::Text, b"hi", None),
            WsError::Protocol(Violation::UnmaskedClientFrame),
            1002,
        ),
        (
            {
                let mut f = client(true, Opcode::Text, b"hi");
                f[0] |= 0x40;
                f
            },
            WsError::Protocol(Violation::ReservedBits),
            1002,
        ),
        (
            {
                let mut f = client(true, Opcode::Text, b"hi");
                f[0] = 0x83;
                f
            },
            WsError::Protocol(Violation::ReservedOpcode),
            1002,
        ),
        (
            {
                let mut f = client(true, Opcode::Text, b"hi");
                f[0] = 0x8B;
                f
            },
            WsError::Protocol(Violation::ReservedOpcode),
            1002,
        ),
        (
            client(false, Opcode::Ping, b"x"),
            WsError::Protocol(Violation::FragmentedControl),
            1002,
        ),
        (
            client(true, Opcode::Ping, &[0; 126]),
            WsError::Protocol(Violation::ControlTooLong),
            1002,
        ),
        (
            client(true, Opcode::Continuation, b"x"),
            WsError::Protocol(Violation::UnexpectedContinuation),
            1002,
        ),
        (
            [
                client(false, Opcode::Text, b"a"),
                client(true, Opcode::Text, b"b"),
            ]
            .concat(),
            WsError::Protocol(Violation::ExpectedContinuation),
            1002,
        ),
        (
            client(true, Opcode::Close, &[3]),
            WsError::Protocol(Violation::BadClosePayload),
            1002,
        ),
        (
            client(true, Opcode::Close, &1005u16.to_be_bytes()),
            WsError::Protocol(Violation::BadClosePayload),
            1002,
        ),
        (
            client(true, Opcode::Close, &[0x03, 0xE8, 0xC0, 0x80]),
            WsError::InvalidUtf8,
            1007,
        ),
        (
            client(true, Opcode::Text, &[b'a', 0xFF]),
            WsError::InvalidUtf8,
            1007,
        ),
        (
            [
                client(false, Opcode::Text, &[0xE2, 0x82]),
                client(true, Opcode::Continuation, b""),
            ]
            .concat(),
            WsError::InvalidUtf8,
            1007,
        ),
        (
            client(true, Opcode::Binary, &[0; 1025]),
            WsError::TooBig,
            1009,
        ),
        (
            (0..5)
                .map(|i| {
                    client(
                        i == 4,
                        if i == 0 {
                            Opcode::Binary
                        } else {
                            Opcode::Continuation
                        },
                        &[0; 1000],
                    )
                })
                .collect::<Vec<_>>()
                .concat(),
            WsError::TooBig,
            1009,
        ),
        (
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            WsError::Protocol(Violation::LengthTooLarge),
            1002,
        ),
    ];
    for (i, (bytes, expected, close)) in cases.into_iter().enumerate() {
        let error = error_of(&bytes);
        assert_eq!((error, error.close_code()), (expected, close), "case {i}");
    }
    // A client reads unmasked server frames and refuses masked ones.
    let mut as_client = Decoder::new(Role::Client, Limits::MARKET_DATA);
    let (got, error) = run(
        &mut as_client,
        &frame(true, Opcode::Text, b"ok", None),
        &[64],
    );
    assert_eq!((got, error), (vec![Got::Text(b"ok".to_vec())], None));
    let (_, error) = run(&mut as_client, &client(true, Opcode::Text, b"ok"), &[64]);
    assert_eq!(error, Some(WsError::Protocol(Violation::MaskedServerFrame)));
}

#[test]
fn a_decoder_stays_failed_and_reads_nothing_after_close() {
    let mut d = server();
    let bad = frame(true, Opcode::Text, b"x", None);
    assert!(d.decode(&bad).is_err());
    assert_eq!(
        d.decode(&client(true, Opcode::Text, b"ok")).unwrap_err(),
        WsError::Protocol(Violation::UnmaskedClientFrame)
    );
    let mut d = server();
    let bytes = [
        client(true, Opcode::Close, &[0x03, 0xE8, b'b', b'y', b'e']),
        client(true, Opcode::Text, b"late"),
    ]
    .concat();
    let (got, error) = run(&mut d, &bytes, &[bytes.len()]);
    assert_eq!(
        (got, error),
        (vec![Got::Close(Some(1000), b"bye".to_vec())], None)
    );
}

#[test]
fn control_frames_between_fragments_and_server_close_frames() {
    let bytes = [
        client(false, Opcode::Text, "κό".as_bytes()),
        client(true, Opcode::Ping, b"p"),
        client(false, Opcode::Continuation, "σμ".as_bytes()),
        client(true, Opcode::Pong, b""),
        client(true, Opcode::Continuation, "ε".as_bytes()),
        client(true, Opcode::Close, b""),
    ]
    .concat();
    let (got, error) = run(&mut server(), &bytes, &[1]);
    assert_eq!(error, None);
    assert_eq!(
        got,
        vec![
            Got::Ping(b"p".to_vec()),
            Got::Pong(vec![]),
            Got::Text("κόσμε".as_bytes().to_vec()),
            Got::Close(None, vec![]),
        ]
    );
    let mut out = [0u8; 200];
    let n = write_server_close(code::SLOW_CONSUMER, "slow consumer", &mut out).unwrap();
    let (got, _) = run(
        &mut Decoder::new(Role::Client, Limits::MARKET_DATA),
        &out[..n],
        &[n],
    );
    assert_eq!(got, vec![Got::Close(Some(4001), b"slow consumer".to_vec())]);
    let n = write_server_frame(Opcode::Binary, &[1, 2, 3], &mut out).unwrap();
    assert_eq!(&out[..n], &[0x82, 3, 1, 2, 3]);
}

#[derive(Debug, Clone)]
enum Piece {
    Message {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<usize>,
    },
    Ping(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => (".{0,60}", prop::collection::vec(0..80usize, 0..4))
            .prop_map(|(s, cuts)| Piece::Message { text: true, payload: s.into_bytes(), cuts }),
        3 => (prop::collection::vec(any::<u8>(), 0..300), prop::collection::vec(0..300usize, 0..4))
            .prop_map(|(b, cuts)| Piece::Message { text: false, payload: b, cuts }),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Piece::Ping),
    ]
}

/// The frames of a piece (fragments at `cuts`, a ping after the first
/// fragment of a fragmented message) and the events they must give.
fn frames(piece: &Piece, mask: [u8; 4], out: &mut Vec<u8>, expected: &mut Vec<Got>) {
    match piece {
        Piece::Ping(p) => {
            out.extend(frame(true, Opcode::Ping, p, Some(mask)));
            expected.push(Got::Ping(p.clone()));
        }
        Piece::Message {
            text,
            payload,
            cuts,
        } => {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(payload.len());
            let mut start = 0;
            for (i, &cut) in cuts.iter().enumerate() {
                let opcode = match (i, text) {
                    (0, true) => Opcode::Text,
                    (0, false) => Opcode::Binary,
                    _ => Opcode::Continuation,
                };
                out.extend(frame(
                    i + 1 == cuts.len(),
                    opcode,
                    &payload[start..cut],
                    Some(mask),
                ));
                if i == 0 && cuts.len() > 1 {
                    out.extend(frame(true, Opcode::Ping, b"mid", Some(mask)));
                    expected.push(Got::Ping(b"mid".to_vec()));
                }
                start = cut;
            }
            expected.push(if *text {
                Got::Text(payload.clone())
            } else {
                Got::Binary(payload.clone())
            });
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(500) })]

    #[test]
    fn fragmented_messages_come_out_whole_in_any_pieces(
        pieces in prop::collection::vec(piece(), 1..12),
        mask in any::<[u8; 4]>(),
        reads in prop::collection::vec(1..200usize, 1..6),
    ) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for p in &pieces {
            frames(p, mask, &mut bytes, &mut expected);
        }
        let (got, error) = run(&mut server(), &bytes, &reads);
        prop_assert_eq!(error, None);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn text_is_accepted_exactly_when_it_is_utf8(
        payload in prop::collection::vec(any::<u8>(), 0..40),
        cut in 0..41usize,
        reads in prop::collection::vec(1..20usize, 1..4),
    ) {
        let cut = cut % (payload.len() + 1);
        let bytes = [
            client(false, Opcode::Text, &payload[..cut]),
            client(true, Opcode::Continuation, &payload[cut..]),
        ].concat();
        let (got, error) = run(&mut server(), &bytes, &reads);
        if core::str::from_utf8(&payload).is_ok() {
            prop_assert_eq!((got, error), (vec![Got::Text(payload.clone())], None));
        } else {
            prop_assert_eq!((got.len(), error), (0, Some(WsError::InvalidUtf8)));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        reads in prop::collection::vec(1..64usize, 1..4),
        role in prop_oneof![Just(Role::Server), Just(Role::Client)],
    ) {
        let mut d = Decoder::new(role, Limits::MARKET_DATA);
        let (_, error) = run(&mut d, &bytes, &reads);
        if let Some(e) = error {
            prop_assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
        }
    }
}

fn config() -> HandshakeConfig<'static> {
    HandshakeConfig {
        path: "/md",
        echo_path: "",
        trade_path: "/trade",
        allowed_origins: &["https://example.com"],
        default_format: Format::Binary,
    }
}

fn request(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[test]
fn the_rfc_example_key_gives_the_rfc_accept() {
    assert_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let req = request("/md", "");
    let accepted = accept(req.as_bytes(), &config()).unwrap();
    assert_eq!(accepted.request_len, req.len());
    assert_eq!(
        (accepted.format, accepted.subprotocol),
        (Format::Binary, None)
    );
    let mut out = [0u8; 256];
    let n = write_accept(&accepted, &mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out[..n]).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
}

#[test]
fn the_format_comes_from_the_query_or_the_subprotocol() {
    let json = accept(request("/md?format=json", "").as_bytes(), &config()).unwrap();
    assert_eq!(json.format, Format::Json);
    let sub = accept(
        request("/md", "Sec-WebSocket-Protocol: chat, tradsys.json.v1\r\n").as_bytes(),
        &config(),
    )
    .unwrap();
    assert_eq!(
        (sub.format, sub.subprotocol),
        (Format::Json, Some(SUBPROTOCOL_JSON))
    );
    let mut out = [0u8; 256];
    let n = write_accept(&sub, &mut out).unwrap();
    assert!(std::str::from_utf8(&out[..n])
        .unwrap()
        .contains("\r\nSec-WebSocket-Protocol: tradsys.json.v1\r\n"));
    let conflict = request(
        "/md?format=binary",
        "Sec-WebSocket-Protocol: tradsys.json.v1\r\n",
    );
    assert_eq!(
        accept(conflict.as_bytes(), &config()),
        Err(HandshakeError::BadFormat)
    );
    assert_eq!(
        accept(request("/md?format=xml", "").as_bytes(), &config()),
        Err(HandshakeError::BadFormat)
    );
    let allowed = request("/md", "Origin: https://example.com\r\n");
    assert!(accept(allowed.as_bytes(), &config()).is_ok());
}

#[test]
fn every_bad_request_is_refused_with_its_status() {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: Vec<(String, HandshakeError, u16)> = vec![
        (
            request("/md", "").replace("GET", "POST"),
            HandshakeError::NotGet,
            405,
        ),
        (request("/other", ""), HandshakeError::WrongPath, 404),
        (
            request("/md", "").replace("Upgrade: websocket\r\n", ""),
            HandshakeError::NotUpgrade,
            400,
        ),
        (
            request("/md", "").replace("keep-alive, Upgrade", "keep-alive"),
            HandshakeError::NotUpgrade,
            400,
        ),
        (
            request("/md", "").replace("Version: 13", "Version: 8"),
            HandshakeError::BadVersion,
            426,
        ),
        (
            request("/md", "").replace(key, ""),
            HandshakeError::BadKey,
            400,
        ),
        (
            request("/md", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            HandshakeError::BadKey,
            400,
        ),
        (
            request("/md", "Origin: https://evil.example\r\n"),
            HandshakeError::OriginNotAllowed,
            403,
        ),
        // RFC 6455 4.1: the request has one key and one version; two are
        // refused rather than one of them picked (a hostile pass found the
        // first taken).
        (
            request("/md", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"),
            HandshakeError::BadKey,
            400,
        ),
        (
            request("/md", "Sec-WebSocket-Version: 13\r\n"),
            HandshakeError::BadVersion,
            426,
        ),
        // Two origins: the second could be the one not allowed.
        (
            request(
                "/md",
                "Origin: https://example.com\r\nOrigin: https://evil.example\r\n",
            ),
            HandshakeError::OriginNotAllowed,
            403,
        ),
        (
            request("/md", "").replace("HTTP/1.1", "HTTP/1.0"),
            HandshakeError::BadRequest,
            400,
        ),
        (
            "GARBAGE\r\n\r\n".to_string(),
            HandshakeError::BadRequest,
            400,
        ),
        (
            format!("GET /md HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000)),
            HandshakeError::TooLarge,
            431,
        ),
    ];
    for (req, expected, status) in cases {
        let error = accept(req.as_bytes(), &config()).unwrap_err();
        assert_eq!((error, error.status().0), (expected, status), "{req:?}");
        let mut out = [0u8; 512];
        let n = write_refusal(error, &mut out).unwrap();
        let text = std::str::from_utf8(&out[..n]).unwrap();
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        assert_eq!(
            text.contains("Sec-WebSocket-Version: 13\r\n"),
            status == 426
        );
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }
    assert_eq!(
        accept(b"GET /md HTTP/1.1\r\nHost: x\r\n", &config()),
        Err(HandshakeError::Incomplete)
    );
}

/// A page opened from a file sends `Origin: null` (MARKET_DATA.md 2.1):
/// refused unless `allowed_origins` holds `*` or the literal `null`.
#[test]
fn origin_null_passes_only_when_allowed_by_name_or_by_star() {
    let from_file = request("/md", "Origin: null\r\n");
    assert_eq!(
        accept(from_file.as_bytes(), &config()),
        Err(HandshakeError::OriginNotAllowed)
    );
    for allowed in [&["null"][..], &["https://example.com", "*"][..]] {
        let config = HandshakeConfig {
            allowed_origins: allowed,
            ..config()
        };
        assert!(accept(from_file.as_bytes(), &config).is_ok(), "{allowed:?}");
    }
}

/// The order-entry path (PROTOCOL.md section 14): the same checks, its
/// own subprotocol confirmed when offered, the market-data format choices
/// ignored.
#[test]
fn the_order_entry_path_upgrades_with_its_subprotocol() {
    let plain = accept(request("/trade", "").as_bytes(), &config()).unwrap();
    assert!(plain.trade && !plain.echo && plain.subprotocol.is_none());
    let offered = request(
        "/trade?format=json",
        "Sec-WebSocket-Protocol: tradsys.json.v1, tradsys.oe.v1\r\n",
    );
    let accepted = accept(offered.as_bytes(), &config()).unwrap();
    assert_eq!(accepted.subprotocol, Some("tradsys.oe.v1"));
    let md = accept(request("/md", "").as_bytes(), &config()).unwrap();
    assert!(!md.trade);
    let foreign = request("/trade", "Origin: https://evil.example\r\n");
    assert_eq!(
        accept(foreign.as_bytes(), &config()),
        Err(HandshakeError::OriginNotAllowed)
    );
    let off = HandshakeConfig {
        trade_path: "",
        ..config()
    };
    assert_eq!(
        accept(request("/trade", "").as_bytes(), &off),
        Err(HandshakeError::WrongPath)
    );
}
