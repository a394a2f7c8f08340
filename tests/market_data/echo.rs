//! The echo path (`market_data.echo_path`, a conformance-test aid for
//! Autobahn|Testsuite): on the real binary, a client upgraded there gets
//! every text and binary message back (same opcode, one frame, fragments
//! joined), pongs, the close handshake, and neither the subscribe timeout
//! nor the control rate limit; `echo_max_message_bytes` bounds a message
//! (1009 past it). The feed path on the same port is unchanged.

use tradsys::websocket::frame::Opcode;
use tradsys::websocket::handshake::{accept, Format, HandshakeConfig, HandshakeError};

use crate::support::gateway::Gateway;
use crate::support::ws_client::{upgrade_request, WsClient};

fn close(client: &mut WsClient, code: u16) {
    client.send_frame(true, Opcode::Close, &code.to_be_bytes());
}

#[test]
fn the_handshake_serves_the_echo_path_only_when_configured() {
    let mut config = HandshakeConfig {
        path: "/md",
        echo_path: "",
        trade_path: "",
        allowed_origins: &["*"],
        default_format: Format::Binary,
    };
    let echo = upgrade_request("/echo", "");
    assert_eq!(
        accept(echo.as_bytes(), &config),
        Err(HandshakeError::WrongPath)
    );
    config.echo_path = "/echo";
    assert!(accept(echo.as_bytes(), &config).unwrap().echo);
    let md = accept(upgrade_request("/md", "").as_bytes(), &config).unwrap();
    assert!(!md.echo);
    let other = upgrade_request("/echo2", "");
    assert_eq!(
        accept(other.as_bytes(), &config),
        Err(HandshakeError::WrongPath)
    );
}

#[test]
fn echo_clients_get_their_messages_back_and_feed_clients_do_not() {
    let gateway = Gateway::start_with(
        "[journal]\n[market_data]\necho_path = \"/echo\"\necho_max_message_bytes = 200000\nsubscribe_timeout_ms = 200\ncontrol_rate_per_sec = 1\ncontrol_burst = 1\n",
    );
    let mut echo = WsClient::connect(gateway.md_addr, "/echo");
    // A feed client, opened after it, is closed for not subscribing.
    let mut feed = WsClient::connect(gateway.md_addr, "/md");
    feed.send_text("hello");
    let answer = feed.recv_skip_heartbeats();
    assert!(answer.text().contains("\"error\""), "{}", answer.text());
    assert_eq!(feed.recv_skip_heartbeats().close_code(), Some(1008));
    assert!(feed.try_recv().is_none());
    // Text and binary, many at once (no rate limit), and no timeout.
    for i in 0..10 {
        echo.send_text(&format!("hello {i} ✓"));
    }
    echo.send_frame(true, Opcode::Binary, &[0, 1, 2, 0xff]);
    for i in 0..10 {
        let frame = echo.recv();
        assert_eq!(frame.text(), format!("hello {i} ✓"));
    }
    let frame = echo.recv();
    assert_eq!(
        (frame.opcode, frame.payload),
        (Opcode::Binary, vec![0, 1, 2, 0xff])
    );
    // Fragments with a ping between them: the pong first, then one frame.
    echo.send_frame(false, Opcode::Text, "frag".as_bytes());
    echo.send_frame(true, Opcode::Ping, b"are you there");
    echo.send_frame(false, Opcode::Continuation, "men".as_bytes());
    echo.send_frame(true, Opcode::Continuation, "ted".as_bytes());
    let pong = echo.recv();
    assert_eq!(
        (pong.opcode, pong.payload),
        (Opcode::Pong, b"are you there".to_vec())
    );
    assert_eq!(echo.recv().text(), "fragmented");
    // A large binary message, in one frame back.
    let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    echo.send_frame(true, Opcode::Binary, &big);
    let frame = echo.recv();
    assert_eq!(frame.opcode, Opcode::Binary);
    assert!(
        frame.payload == big,
        "the large message comes back unchanged"
    );
    // The close handshake: the code echoed, then the end of the stream.
    close(&mut echo, 1000);
    assert_eq!(echo.recv().close_code(), Some(1000));
    assert!(echo.try_recv().is_none());
    // Past echo_max_message_bytes: 1009; invalid UTF-8: 1007.
    let mut over = WsClient::connect(gateway.md_addr, "/echo");
    over.send_frame(true, Opcode::Binary, &vec![7u8; 200_001]);
    assert_eq!(over.recv().close_code(), Some(1009));
    let mut bad = WsClient::connect(gateway.md_addr, "/echo");
    bad.send_frame(true, Opcode::Text, b"ok \xff");
    assert_eq!(bad.recv().close_code(), Some(1007));
    assert!(bad.try_recv().is_none());
}

#[test]
fn the_echo_keys_are_validated_and_off_by_default() {
    use tradsys::config::{Config, DEFAULT_TOML};
    let default = Config::parse(DEFAULT_TOML).unwrap();
    assert_eq!(default.market_data.echo_path, "");
    assert_eq!(
        default.market_data.echo_max_message_bytes,
        (16 << 20) + (64 << 10)
    );
    // The default config lists both keys; each test replaces one line.
    let with = |line: &str| {
        let key = line.split(" =").next().unwrap();
        let old = DEFAULT_TOML
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .expect("the default config lists the key");
        let text = DEFAULT_TOML.replacen(old, line, 1);
        Config::parse(&text).map(|c| c.market_data.echo_path)
    };
    assert_eq!(with("echo_path = \"/echo\"").unwrap(), "/echo");
    for bad in [
        "echo_path = \"/md\"",
        "echo_path = \"echo\"",
        "echo_path = \"/e?x\"",
    ] {
        assert_eq!(
            with(bad).unwrap_err().field,
            "market_data.echo_path",
            "{bad}"
        );
    }
    let small = with("echo_max_message_bytes = 100").unwrap_err();
    assert_eq!(small.field, "market_data.echo_max_message_bytes");
}
