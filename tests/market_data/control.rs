//! The control-message parser: what it accepts, and for every documented
//! error code of `docs/MARKET_DATA.md` ("Error codes") an input that gets
//! exactly that code (and field, and req_id when read first); random bytes
//! and random JSON-ish text never panic it and every refusal renders.

use proptest::prelude::*;
use tradsys::market_data::Channel;
use tradsys::protocol::market_data::*;

fn err(text: &str) -> (ErrorCode, Option<&'static str>, Option<u64>) {
    let e = parse_control(text.as_bytes()).expect_err(text);
    (e.code, e.field, e.req_id)
}

#[test]
fn a_full_request_parses() {
    let r = parse_control(
        br#" { "op" : "subscribe", "req_id": 9007199254740991, "symbols": ["BTC-USD", 2, "a\"b"],
            "channels": ["book", "book@100ms", "trades", "book"], "depth": 0 } "#,
    )
    .unwrap();
    assert_eq!(r.op, Op::Subscribe);
    assert_eq!(r.req_id, Some(MAX_REQ_ID));
    assert_eq!(
        r.symbols(),
        [
            SymbolRef::Name(b"BTC-USD"),
            SymbolRef::Id(2),
            SymbolRef::Name(br#"a\"b"#)
        ]
    );
    let channels: Vec<Channel> = r.channels.iter().collect();
    assert_eq!(
        channels,
        [Channel::Book, Channel::BookConflated, Channel::Trades]
    );
    assert_eq!(r.depth, 0);
    let r = parse_control(br#"{"op":"unsubscribe","symbols":[1],"channels":["bbo"]}"#).unwrap();
    assert_eq!((r.op, r.req_id, r.depth), (Op::Unsubscribe, None, 10));
}

#[test]
fn every_error_code_has_an_input() {
    use ErrorCode::*;
    let cases: &[(&str, ErrorCode, Option<&str>, Option<u64>)] = &[
        ("", BadJson, None, None),
        ("[1]", BadJson, None, None),
        (r#"{"op":"subscribe""#, BadJson, None, None),
        (
            r#"{"op":"subscribe","symbols":[1],"channels":["book"]} x"#,
            BadJson,
            None,
            None,
        ),
        (
            r#"{"req_id":4,"op":"subscribe","symbols":[1,],"channels":["book"]}"#,
            BadJson,
            None,
            Some(4),
        ),
        (r#"{"req_id":4,"extra":1}"#, UnknownField, None, Some(4)),
        (
            r#"{"op":"subscribe","op":"subscribe"}"#,
            DuplicateField,
            Some("op"),
            None,
        ),
        (
            r#"{"symbols":[1],"channels":["book"]}"#,
            MissingField,
            Some("op"),
            None,
        ),
        (
            r#"{"op":"subscribe","channels":["book"]}"#,
            MissingField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":[1]}"#,
            MissingField,
            Some("channels"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":[],"channels":["book"]}"#,
            BadField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":[0],"channels":["book"]}"#,
            BadField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":[4294967296],"channels":["book"]}"#,
            BadField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":[""],"channels":["book"]}"#,
            BadField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":"BTC","channels":["book"]}"#,
            BadField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"op":"subscribe","symbols":[1.5],"channels":["book"]}"#,
            BadField,
            Some("symbols"),
            None,
        ),
        (
            r#"{"req_id":9007199254740992}"#,
            BadField,
            Some("req_id"),
            None,
        ),
        (r#"{"req_id":-1}"#, BadField, Some("req_id"), None),
        (r#"{"req_id":null}"#, BadField, Some("req_id"), None),
        (r#"{"op":7}"#, BadField, Some("op"), None),
        (r#"{"channels":[1]}"#, BadField, Some("channels"), None),
        (r#"{"op":"ping"}"#, UnknownOp, Some("op"), None),
        (
            r#"{"req_id":3,"channels":["book","level3"]}"#,
            UnknownChannel,
            Some("channels"),
            Some(3),
        ),
        (r#"{"depth":50}"#, BadDepth, Some("depth"), None),
        (r#"{"depth":70000}"#, BadDepth, Some("depth"), None),
    ];
    for (text, code, field, req_id) in cases {
        assert_eq!(err(text), (*code, *field, *req_id), "{text}");
    }
    let many: Vec<String> = (1..=33).map(|i| i.to_string()).collect();
    let text = format!(
        r#"{{"op":"subscribe","symbols":[{}],"channels":["book"]}}"#,
        many.join(",")
    );
    assert_eq!(err(&text), (TooManySymbols, Some("symbols"), None));
    let long = format!(
        r#"{{"op":"subscribe","symbols":["{}"],"channels":["book"]}}"#,
        "a".repeat(4100)
    );
    assert_eq!(err(&long).0, TooLarge);
    // The codes the parser never gives are the shard's (per symbol or
    // per stream) and the transport's; each still renders.
    let mut buf = [0u8; 512];
    for code in ErrorCode::ALL {
        let e = ControlError {
            code,
            field: None,
            unknown_field: None,
            req_id: Some(1),
        };
        let n = render_error(&e, Some(SymbolRef::Name(b"X")), None, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(v["code"], code.name());
        assert_eq!(v["req_id"], 1);
        assert_eq!(v["message"], error_message(code));
    }
}

/// A field the protocol does not define is named in the answer, as the
/// client wrote it (a newcomer put the data format, chosen at the
/// handshake, in the subscribe message, and was told `"field":null`).
#[test]
fn an_unknown_field_is_named_in_the_answer() {
    let answer = |text: &str| -> serde_json::Value {
        let e = parse_control(text.as_bytes()).expect_err(text);
        assert_eq!(e.code, ErrorCode::UnknownField, "{text}");
        let mut buf = [0u8; 512];
        let n = render_error(&e, None, None, &mut buf).unwrap();
        serde_json::from_slice(&buf[..n]).unwrap()
    };
    let v = answer(r#"{"op":"subscribe","symbols":[1],"channels":["trades"],"format":"json"}"#);
    assert_eq!(
        (v["code"].as_str(), v["field"].as_str()),
        (Some("unknown_field"), Some("format"))
    );
    let v = answer(r#"{"req_id":4,"a\"b\u00e9":1}"#);
    assert_eq!(
        (v["req_id"].as_u64(), v["field"].as_str()),
        (Some(4), Some("a\"b\u{e9}"))
    );
    let longest = "x".repeat(64);
    assert_eq!(
        answer(&format!(r#"{{"{longest}":1}}"#))["field"],
        longest.as_str()
    );
    let longer = "x".repeat(65);
    assert!(
        answer(&format!(r#"{{"{longer}":1}}"#))["field"].is_null(),
        "too long to name"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(2000) })]

    #[test]
    fn random_bytes_never_panic_and_refusals_render(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut buf = [0u8; 1024];
        if let Err(e) = parse_control(&bytes) {
            prop_assert!(render_error(&e, None, None, &mut buf).is_ok());
        }
    }

    #[test]
    fn json_shaped_text_never_panics_and_what_parses_is_valid_json(
        text in r#"\{("(op|req_id|symbols|channels|depth|x)":(\[("book"|"trades"|1|"BTC"|2\.5|-1|null|,)*\]|"subscribe"|"unsubscribe"|[0-9]{1,20}|true|\{\})[,]?){0,6}\}"#
    ) {
        match parse_control(text.as_bytes()) {
            Ok(r) => {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "accepted non-JSON {}", text);
                prop_assert!(!r.symbols().is_empty() && !r.channels.is_empty());
            }
            Err(e) => {
                if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                    // Not JSON: either bad_json, or a rule the parser met first.
                    prop_assert!(e.code != ErrorCode::TooLarge);
                }
            }
        }
    }
}
