//! A client that sends faster than it reads is slowed by TCP: its reader
//! stops while its outbox is over half full, and goes on once its writer
//! has handed the bytes to the socket. A paused reader must cost nothing
//! while its client reads nothing: it used to look again every 20 µs, so
//! a handful of such clients kept a parked shard busy (a quarter of a core
//! each, measured). Here a client pipelines requests through a 4 KiB send
//! buffer and then stops reading: while it reads nothing, its paused
//! reader must not look again more than a few times; once it reads, every
//! answer comes, in order.

use std::io::Write;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use crate::http::*;
use crate::support::gateway::*;
use tradsys::client::Received;
use tradsys::protocol::*;

/// Requests pipelined: their answers are many times the send buffer and
/// the socket buffers between gateway and client.
const REQUESTS: u64 = 6_000;

/// The sum over shards of the samples of `metric` in a `/metrics` body.
fn total(body: &str, metric: &str) -> u64 {
    body.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Every OrderStatusRequest, encoded back to back (seq 2 onwards).
fn pipelined_requests() -> Vec<u8> {
    let mut wire = Vec::new();
    for n in 0..REQUESTS {
        let request = OrderStatusRequestMsg::new(n, 1_000_000 + n, 1);
        let mut bytes = vec![0u8; OrderStatusRequestMsg::LEN];
        encode(&request, 2 + n as u32, &mut bytes).unwrap();
        wire.extend_from_slice(&bytes);
    }
    wire
}

#[test]
fn a_paused_reader_waits_for_its_writer_instead_of_polling() {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config(
        "send_buffer_bytes = 4096\nsocket_send_buffer_bytes = 4096",
        &dir,
        admin,
        "interval_ms = 20",
    );
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    let mut client = connect_small_receive_buffer(&gateway);
    client
        .logon(ALICE, token(ALICE), 0, false)
        .expect("logon accepted");
    client.set_next_seq(2 + REQUESTS as u32);
    // Written from a thread of its own: the gateway stops reading them
    // long before the last, and this thread must not block with it.
    let mut stream = client.stream().try_clone().unwrap();
    let wire = pipelined_requests();
    let sender = thread::spawn(move || stream.write_all(&wire));
    // The reader paused, and every socket buffer on the way is full: the
    // writer hands nothing over while the client reads nothing.
    let paused = poll_until(admin, "/metrics", |a| {
        total(&a.body, "tradsys_reader_pauses_total") > 0
    });
    let checks_then = total(&paused.body, "tradsys_reader_pause_checks_total");
    // What the test measures: how often a reader nobody can wake looks
    // again during a stretch in which its client reads nothing.
    thread::sleep(Duration::from_millis(300));
    let later = get(admin, "/metrics");
    let checks = total(&later.body, "tradsys_reader_pause_checks_total") - checks_then;

    assert!(
        checks < 50,
        "a paused reader looked {checks} times in 300 ms while its writer could hand nothing over"
    );
    for n in 0..REQUESTS {
        match client.recv_skip_heartbeats() {
            Ok(Received::OrderStatus(status)) => {
                assert_eq!(status.client_order_id.get(), n, "answers in order")
            }
            other => panic!("answer {n}: {other:?}"),
        }
    }
    sender
        .join()
        .unwrap()
        .expect("the gateway read every request");
    let _ = std::fs::remove_dir_all(&dir);
}
