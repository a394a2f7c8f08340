//! No admin client holds up another. The admin thread reads every
//! connection without waiting on any one of them, each within one
//! deadline for its whole request (`admin/conns.rs`): an idle connection
//! does not delay `/ready`, and a client sending its request a few bytes
//! at a time is answered 408 when the deadline passes, however steadily it
//! sends. (Served one at a time with a timeout per read, an idle
//! connection delayed every request behind it by 2 s, and a client
//! sending a byte every 1.5 s held `/ready`, `/metrics` and the kill
//! switch for as long as it went on.)

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::http::*;

#[test]
fn an_idle_connection_does_not_hold_up_another_clients_request() {
    let (gateway, admin, dir) = start_gateway();
    let mut idle = TcpStream::connect(admin).unwrap();
    // Accepted before the probe below: the admin thread has seen it.
    let mut half = TcpStream::connect(admin).unwrap();
    half.write_all(b"GET /ready HTTP/1.1\r\n").unwrap();
    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 200, "{}", ready.body);
    // Answered while both earlier connections are still waiting for their
    // requests: neither has been answered or closed yet.
    for stream in [&mut idle, &mut half] {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte);
        assert!(
            matches!(&read, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "a connection still sending its request was answered or closed first: {read:?}"
        );
    }
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_request_sent_a_few_bytes_at_a_time_gets_408_at_its_deadline() {
    let (gateway, admin, dir) = start_gateway();
    let mut slow = TcpStream::connect(admin).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    slow.write_all(b"GET /ready HTTP/1.1\r\n").unwrap();
    // A header line every 250 ms, each well within any per-read timeout,
    // for up to 7.5 s (the deadline is 2 s): 30 lines, within the 32
    // headers a head may have, and the head never ends.
    let mut answer = Vec::new();
    for line in 0..30 {
        if slow
            .write_all(format!("X-Pad-{line}: x\r\n").as_bytes())
            .is_err()
        {
            break; // Answered and closed: the answer is waiting to be read.
        }
        let mut chunk = [0u8; 512];
        match slow.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = slow.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 "),
        "a head sent for 7.5 s was not cut at its deadline: {answer:?}"
    );
    // And the endpoint serves the next client.
    assert_eq!(get(admin, "/ready").status, 200);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
