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
use tradsys::engine::*;
use tradsys::protocol::*;

/// Requests pipelined: their answers are many times the send buffer and
/// the socket buffers between gateway and client.
const REQUESTS: u64 = 6_000;

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

/// A gateway with `session` overrides and its admin endpoint, publishing
/// its counters every 20 ms: its directory, admin address and itself.
fn start(session: &str) -> (std::path::PathBuf, SocketAddr, Gateway) {
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config(session, &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    (dir, admin, gateway)
}

#[test]
fn a_paused_reader_waits_for_its_writer_instead_of_polling() {
    let (dir, admin, gateway) = start("send_buffer_bytes = 4096\nsocket_send_buffer_bytes = 4096");
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

/// Orders pipelined by one session, half to the other shard's symbol.
const ORDERS: u64 = 20_000;

#[test]
fn every_pause_counted_is_a_reader_that_waited() {
    // A reader stops when its commands in flight reach their bound, which
    // counts this turn's batch for its own engine; flushing the batch
    // makes room at once. Such a stop used to count as a pause: a hostile
    // pass saw 18,642 pauses and 6,107 checks (every pause that waits
    // looks again at least once), so "pauses rising with few checks" read
    // as clients pipelining faster than they read when they did not.
    let (dir, admin, gateway) =
        start("send_buffer_bytes = 8192\nrate_limit_per_sec = 10000000\nrate_limit_burst = 100000");
    let mut client = gateway.logon(ALICE);
    let mut reader = client.try_clone_for_reading();
    let sender = thread::spawn(move || {
        for n in 0..ORDERS {
            // Immediate-or-cancel buys below every ask: one OrderCanceled
            // each, from the symbol's own shard.
            let (symbol, price) = if n % 2 == 0 {
                (BTC, 9_000)
            } else {
                (ETH, 2_800)
            };
            let mut order = limit(ALICE, symbol, n + 1, Side::Buy, price, 10);
            order.tif = TimeInForce::Ioc;
            client.queue(&NewOrderMsg::from_order(&order))?;
        }
        client.flush()
    });
    let mut done = 0;
    while done < ORDERS {
        match reader.recv_skip_heartbeats() {
            Ok(Received::OrderAccepted(_)) => {}
            Ok(Received::OrderCanceled(_)) => done += 1,
            other => panic!("after {done} orders done: {other:?}"),
        }
    }
    sender.join().unwrap().expect("every order sent");
    // One last request, read by a reader that is not paused: once the
    // shard has published it, no pause is under way in what it published
    // (a pause counts when it starts, its first check when it ends).
    reader.set_next_seq(2 + ORDERS as u32);
    reader.order_status(0, BTC, 1).unwrap();
    expect(&mut reader, "OrderStatus", |r| match r {
        Received::OrderStatus(_) => Some(()),
        _ => None,
    });
    let settled = poll_until(admin, "/metrics", |a| {
        total(&a.body, "tradsys_messages_in_total") >= ORDERS + 2
    });
    let (pauses, checks) = (
        total(&settled.body, "tradsys_reader_pauses_total"),
        total(&settled.body, "tradsys_reader_pause_checks_total"),
    );
    assert!(pauses > 0, "the flood paused its reader");
    assert!(
        checks >= pauses,
        "{pauses} pauses but {checks} checks: some pauses never waited"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
