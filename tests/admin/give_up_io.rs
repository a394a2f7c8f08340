//! A connection the gateway gives up on before it becomes a session (no
//! Logon or no upgrade request in time, a refused request, a client that
//! does not close after its answer) must end a pending send by shutting
//! the socket down and a pending receive by cancelling it and awaiting its
//! end (`ops::receive_until`), never by dropping either in flight. Dropping
//! one cancels it and then waits, on the shard's thread, until the kernel
//! gives the memory back: a send the kernel ran in one of its worker
//! threads was seen to hold a shard that way until the client read
//! (`gateway::give_up_send`). Every such drop is counted
//! (`tradsys_io_dropped_in_flight_total`); here each way of giving up runs
//! on both shards, and the count must stay 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::http::*;
use crate::support::gateway::*;

/// Connections of each kind: enough that both shards get some.
const EACH: usize = 6;

/// Timeouts short enough for a test, and the linger after an answer.
const OVERRIDES: &str = "logon_timeout_ms = 100
[server]
shutdown_grace_ms = 200
[market_data]
subscribe_timeout_ms = 100
";

/// SessionEnd (16 bytes, type 0x8C, version 2, seq 1), reason 13:
/// LogonTimeout (docs/PROTOCOL.md).
const LOGON_TIMEOUT: &[u8] = &[16, 0, 0x8C, 2, 1, 0, 0, 0, 13];

/// The upgrade to WebSocket order entry (the default path, `/trade`).
const UPGRADE_TO_ORDER_ENTRY: &[u8] = b"GET /trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Reads until the gateway closes; what it sent before that.
fn read_to_close(mut stream: TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => got,
        Err(error) => panic!("no clean close from the gateway: {error} after {got:?}"),
    }
}

/// `metric`'s value per shard (shards 0 and 1).
fn per_shard(body: &str, metric: &str) -> [u64; 2] {
    std::array::from_fn(|shard| total(body, &format!("{metric}{{shard=\"{shard}\"}}")))
}

#[test]
fn connections_given_up_before_a_session_drop_no_io_in_flight() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config(OVERRIDES, &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    // Each connection with the start of what the gateway answers it.
    let mut open: Vec<(TcpStream, &[u8])> = Vec::new();
    for _ in 0..EACH {
        // Order entry: nothing at all, then half a message header; each
        // gets its SessionEnd(LogonTimeout).
        open.push((TcpStream::connect(gateway.addr).unwrap(), LOGON_TIMEOUT));
        let mut partial = TcpStream::connect(gateway.addr).unwrap();
        partial.write_all(&[0, 0, 0]).unwrap();
        open.push((partial, LOGON_TIMEOUT));
        // Market data: no upgrade request (no answer), then a refused one.
        open.push((TcpStream::connect(gateway.md_addr).unwrap(), b""));
        let mut refused = TcpStream::connect(gateway.md_addr).unwrap();
        refused
            .write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        open.push((refused, b"HTTP/1.1 404"));
        // WebSocket order entry: upgraded, then no Logon.
        let mut upgraded = TcpStream::connect(gateway.md_addr).unwrap();
        upgraded.write_all(UPGRADE_TO_ORDER_ENTRY).unwrap();
        open.push((upgraded, b"HTTP/1.1 101"));
    }
    // None of these clients closes: each waits for the gateway to give up
    // (after the timeout, then its answer's linger) and close.
    for (stream, answer) in open {
        let got = read_to_close(stream);
        assert!(
            got.starts_with(answer),
            "expected an answer starting {answer:?}, got {got:?}"
        );
    }
    // Both shards publish their counters after every drop above: each had
    // a session log on after the last connection closed.
    for _ in 0..1_000 {
        let mut marker = gateway.logon(ALICE);
        marker.logout().unwrap();
        let metrics = get(admin, "/metrics");
        if per_shard(&metrics.body, "tradsys_sessions_opened_total")
            .iter()
            .all(|&opened| opened > 0)
        {
            let dropped = per_shard(&metrics.body, "tradsys_io_dropped_in_flight_total");
            assert_eq!(
                dropped,
                [0, 0],
                "operations dropped in flight, per shard, by giving up on a connection"
            );
            return;
        }
    }
    panic!("1,000 sessions, and a shard never published one");
}

/// Writes `late` to a connection whose answer and FIN came in, closes
/// its own end, and reads on: a lingering gateway takes the bytes and
/// closes quietly (`Ok`); one that has stopped reading resets them.
fn write_after_answer(mut stream: TcpStream, late: &[u8]) -> std::io::Result<usize> {
    stream.write_all(late)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    stream.read(&mut [0u8; 64])
}

/// After the logon timeout's answer the connection lingers like every
/// other answered one: what the client still sends (a Logon just too late,
/// the Close a WebSocket client echoes, as RFC 6455 asks) is read and
/// discarded until the client closes or the grace is over. A socket whose
/// reading was shut down to end the timed-out receive stopped lingering at
/// once and answered those bytes with a reset, which can throw away the
/// answer itself on the client's side (a client that had not read it yet).
#[test]
fn a_timed_out_logon_lingers_for_what_the_client_still_sends() {
    let dir = Gateway::new_dir();
    // A grace no client here takes: every close is the client's.
    let overrides = OVERRIDES.replace("shutdown_grace_ms = 200", "shutdown_grace_ms = 60000");
    let gateway = Gateway::start_config(&dir, &config(&overrides, &dir), None).expect("starts");
    for _ in 0..EACH {
        let late = TcpStream::connect(gateway.addr).unwrap();
        let answer = read_to_close(late.try_clone().unwrap());
        assert!(answer.starts_with(LOGON_TIMEOUT), "{answer:?}");
        let logon_too_late = [0u8; 16];
        let after = write_after_answer(late, &logon_too_late);
        assert_eq!(
            after.map_err(|e| e.kind()),
            Ok(0),
            "TCP: bytes after the answer"
        );

        let mut echoing = TcpStream::connect(gateway.md_addr).unwrap();
        echoing.write_all(UPGRADE_TO_ORDER_ENTRY).unwrap();
        let answer = read_to_close(echoing.try_clone().unwrap());
        // The binary SessionEnd, then Close 4113 (0x1011).
        assert!(answer.ends_with(&[0x88, 2, 0x10, 0x11]), "{answer:?}");
        // The same code echoed, masked with a zero key.
        let echo = [0x88, 0x82, 0, 0, 0, 0, 0x10, 0x11];
        let after = write_after_answer(echoing, &echo);
        assert_eq!(
            after.map_err(|e| e.kind()),
            Ok(0),
            "WebSocket: the echoed Close"
        );
    }
}
