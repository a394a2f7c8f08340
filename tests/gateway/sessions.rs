//! Session rules through the real binary: bad input gets its documented
//! reaction and never disturbs other sessions; logon, sequence, rate limit,
//! heartbeats, cancel-on-disconnect and graceful shutdown.

use std::time::Duration;

use crate::support::gateway::*;
use tradsys::client::{ClientError, Received};
use tradsys::engine::*;
use tradsys::protocol::*;

use Side::{Buy, Sell};

/// The connection must deliver SessionEnd(reason) and then close.
fn ends_with(client: &mut tradsys::client::Client, reason: SessionEndReason) -> u32 {
    let (got, expected_seq) = session_end(client);
    assert_eq!(got, reason.code(), "SessionEnd reason");
    assert!(
        matches!(
            client.recv(),
            Err(ClientError::Closed) | Err(ClientError::Io(_))
        ),
        "connection closed after SessionEnd"
    );
    expected_seq
}

/// SIGTERM: the gateway exits 0; its log.
fn stops_with_exit_zero(gateway: Gateway) -> Vec<String> {
    let (status, log) = gateway.stop();
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        log.join("\n")
    );
    log
}

/// Another session keeps trading after each bad client.
fn still_serving(gateway: &Gateway, tag: u64) {
    let mut bob = gateway.logon(BOB);
    bob.new_order(&limit(BOB, ETH, tag, Buy, 2_900, 10))
        .unwrap();
    accepted(&mut bob);
}

fn header(length: u16, msg_type: u8, version: u8, seq: u32) -> Vec<u8> {
    let mut bytes = length.to_le_bytes().to_vec();
    bytes.extend([msg_type, version]);
    bytes.extend(seq.to_le_bytes());
    bytes
}

#[test]
fn framing_errors_end_the_session_with_their_reason() {
    let gateway = Gateway::start();
    let cases: [(Vec<u8>, SessionEndReason); 4] = [
        (header(60_000, 0x04, 2, 1), SessionEndReason::BadLength),
        (header(4, 0x04, 2, 1), SessionEndReason::BadLength),
        (header(48, 0x42, 2, 1), SessionEndReason::UnknownMessageType),
        // Version 1, the version before replay on logon, is refused too.
        (header(56, 0x01, 1, 1), SessionEndReason::WrongVersion),
    ];
    for (i, (bytes, reason)) in cases.into_iter().enumerate() {
        let mut client = gateway.connect();
        client.send_raw(&bytes).unwrap();
        ends_with(&mut client, reason);
        still_serving(&gateway, i as u64);
    }
    // Length that does not match the type, after a good logon.
    let mut alice = gateway.logon(ALICE);
    alice.send_raw(&header(16, 0x04, 2, 2)).unwrap();
    ends_with(&mut alice, SessionEndReason::LengthMismatch);
    still_serving(&gateway, 9);
}

#[test]
fn truncated_message_waits_and_a_closed_socket_frees_the_session() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let msg = NewOrderMsg::from_order(&limit(ALICE, BTC, 1, Buy, 10_000, 1));
    let mut bytes = [0u8; 64];
    let len = encode(&msg, 2, &mut bytes).unwrap();
    alice.send_raw(&bytes[..len - 5]).unwrap();
    alice
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        matches!(alice.recv(), Err(ClientError::Io(_))),
        "nothing until the rest arrives"
    );
    alice.send_raw(&bytes[len - 5..len]).unwrap();
    alice
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    alice.set_next_seq(3);
    accepted(&mut alice);
    drop(alice);
    still_serving(&gateway, 1);
}

#[test]
fn a_message_before_logon_ends_the_session() {
    let gateway = Gateway::start();
    let mut client = gateway.connect();
    client
        .new_order(&limit(ALICE, BTC, 1, Buy, 10_000, 1))
        .unwrap();
    ends_with(&mut client, SessionEndReason::NotLoggedOn);
    still_serving(&gateway, 1);
}

/// A session the gateway ended gives its slot back at once, while its
/// client has not closed its socket yet: the socket lingers (so the client
/// reads its SessionEnd), the slot does not (a hostile pass found the slot
/// held for `shutdown_grace_ms`, every logon meanwhile refused with
/// SessionLimit and `tradsys_sessions_live` still counting it).
#[test]
fn an_ended_session_frees_its_slot_before_its_client_closes() {
    let gateway = Gateway::start_with(
        "max_sessions_per_shard = 1\n[server]\norder_entry_shards = [0]\nshutdown_grace_ms = 60000",
    );
    let mut alice = gateway.logon(ALICE);
    alice.logout().unwrap();
    // SessionEnd, then the gateway's FIN; Alice keeps her end open.
    ends_with(&mut alice, SessionEndReason::Logout);
    let mut bob = gateway.connect();
    match bob.logon(BOB, token(BOB), 0, false) {
        Ok(_) => {}
        Err(other) => panic!("Bob's logon, with Alice's session ended: {other:?}"),
    }
    bob.new_order(&limit(BOB, BTC, 1, Buy, 10_000, 1)).unwrap();
    accepted(&mut bob);
    drop(alice);
}

#[test]
fn bad_token_and_unknown_account_are_the_same_refusal() {
    let gateway = Gateway::start();
    for (account, token) in [(ALICE, &b"wrong"[..]), (777, &b"alice-token"[..])] {
        let mut client = gateway.connect();
        match client.logon(account, token, 0, false) {
            Err(ClientError::LogonRefused(Received::LogonRejected(m))) => {
                assert_eq!(m.reason.get(), LogonRejectReason::InvalidCredentials.code())
            }
            other => panic!("expected LogonRejected, got {other:?}"),
        }
        ends_with(&mut client, SessionEndReason::LogonRejected);
    }
    still_serving(&gateway, 1);
}

#[test]
fn a_sequence_gap_or_repeat_ends_the_session_naming_the_expected_seq() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    alice.set_next_seq(5);
    alice.heartbeat().unwrap();
    assert_eq!(ends_with(&mut alice, SessionEndReason::SequenceGap), 2);
    let mut bob = gateway.logon(BOB);
    bob.heartbeat().unwrap();
    bob.set_next_seq(2);
    bob.heartbeat().unwrap();
    assert_eq!(ends_with(&mut bob, SessionEndReason::SequenceGap), 3);
    still_serving(&gateway, 1);
}

#[test]
fn second_logon_on_a_session_ends_it() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    alice
        .send(&LogonMsg::new(ALICE, token(ALICE), 0, false).unwrap())
        .unwrap();
    ends_with(&mut alice, SessionEndReason::DuplicateLogon);
}

#[test]
fn rate_limit_refuses_orders_beyond_the_bucket_and_keeps_the_session() {
    let gateway = Gateway::start_with("rate_limit_per_sec = 1\nrate_limit_burst = 3");
    let mut alice = gateway.logon(ALICE);
    for i in 0..5 {
        alice
            .new_order(&limit(ALICE, BTC, i, Buy, 9_000 + i as i64, 1))
            .unwrap();
    }
    let mut accepted_count = 0;
    let mut limited = 0;
    for _ in 0..5 {
        match alice.recv_skip_heartbeats().unwrap() {
            Received::OrderAccepted(_) => accepted_count += 1,
            Received::OrderRejected(m) if m.reason.get() == RejectReason::RateLimited.code() => {
                limited += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((accepted_count, limited), (3, 2));
    alice.heartbeat().unwrap(); // heartbeats take no token; the session lives
    alice.order_status(9, BTC, 1).unwrap();
    let status = expect(&mut alice, "OrderStatus", |r| match r {
        Received::OrderStatus(m) => Some(*m),
        _ => None,
    });
    assert_eq!(status.reject_reason.get(), RejectReason::RateLimited.code());
}

#[test]
fn idle_session_gets_heartbeats_then_times_out() {
    let gateway =
        Gateway::start_with("min_heartbeat_interval_ms = 50\nheartbeat_interval_ms = 100");
    let mut alice = gateway.connect();
    let granted = alice.logon(ALICE, token(ALICE), 50, false).unwrap();
    assert_eq!(granted.heartbeat_interval_ms.get(), 50);
    assert!(matches!(alice.recv().unwrap(), Received::Heartbeat(_)));
    ends_with(&mut alice, SessionEndReason::IdleTimeout);
}

#[test]
fn logon_timeout_ends_a_silent_connection() {
    let gateway = Gateway::start_with("logon_timeout_ms = 100");
    let mut client = gateway.connect();
    ends_with(&mut client, SessionEndReason::LogonTimeout);
}

#[test]
fn cancel_on_disconnect_cancels_resting_orders_on_every_shard() {
    let gateway = Gateway::start();
    let mut carol = gateway.logon(CAROL);
    let mut monitor = gateway.logon(CAROL);
    carol
        .new_order(&limit(CAROL, BTC, 1, Sell, 10_100, 2))
        .unwrap();
    carol
        .new_order(&limit(CAROL, ETH, 2, Sell, 3_100, 10))
        .unwrap();
    let ids = [
        accepted(&mut carol).order_id.get(),
        accepted(&mut carol).order_id.get(),
    ];
    accepted(&mut monitor);
    accepted(&mut monitor);
    drop(carol); // TCP close without Logout
    let mut seen = Vec::new();
    for _ in 0..2 {
        let c = canceled(&mut monitor);
        assert_eq!(c.reason, CancelReason::Disconnect as u8);
        seen.push(c.order_id.get());
    }
    seen.sort_unstable();
    let mut ids = ids;
    ids.sort_unstable();
    assert_eq!(seen, ids);
    // Alice (no cancel-on-disconnect) keeps her orders.
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 3, Sell, 10_200, 1))
        .unwrap();
    let id = accepted(&mut alice).order_id.get();
    alice.logout().unwrap();
    ends_with(&mut alice, SessionEndReason::Logout);
    let mut again = gateway.logon(ALICE);
    again.order_status(4, BTC, id).unwrap();
    let status = expect(&mut again, "OrderStatus", |r| match r {
        Received::OrderStatus(m) => Some(*m),
        _ => None,
    });
    assert_eq!(status.state, OrderState::Open as u8);
}

#[test]
fn graceful_shutdown_sends_session_end_and_exits_zero() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    alice
        .new_order(&limit(ALICE, ETH, 1, Sell, 3_000, 10))
        .unwrap();
    accepted(&mut alice);
    bob.new_order(&limit(BOB, ETH, 2, Buy, 3_000, 10)).unwrap();
    accepted(&mut bob);
    fill(&mut bob);
    fill(&mut alice);
    let log = stops_with_exit_zero(gateway);
    ends_with(&mut alice, SessionEndReason::Shutdown);
    ends_with(&mut bob, SessionEndReason::Shutdown);
    assert!(
        log.iter().any(|l| l.contains("stopped")),
        "{}",
        log.join("\n")
    );
}

/// SIGHUP (a reload, by convention, or a closed terminal), SIGUSR1 and
/// SIGUSR2 are logged and ignored: there is no reload, and a stray signal
/// must not take trading down (a hostile pass found each of them killing
/// the gateway at once, with no drain, no SessionEnd and no log line).
#[test]
fn reload_and_user_signals_are_logged_and_ignored() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    for signal in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2] {
        // SAFETY: a signal to the child this test started.
        unsafe {
            libc::kill(gateway.pid() as i32, signal);
        }
    }
    // The gateway logs each one (the signals arrive in any order).
    let mut ignored = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ignored.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "ignored-signal lines: {ignored:?}"
        );
        ignored.extend(
            gateway
                .log_lines()
                .into_iter()
                .filter(|l| l.contains("signal ignored")),
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // And trades on.
    alice
        .new_order(&limit(ALICE, BTC, 1, Sell, 10_000, 1))
        .unwrap();
    accepted(&mut alice);
    stops_with_exit_zero(gateway);
    ends_with(&mut alice, SessionEndReason::Shutdown);
}

#[test]
fn a_client_that_stops_reading_is_ended_as_slow_consumer_and_nobody_waits() {
    // A long grace: Alice reads her backlog only after Bob is done, and the
    // gateway must not give up on her connection before she has.
    let gateway = Gateway::start_with(
        "send_buffer_bytes = 4096\nsocket_send_buffer_bytes = 4096\n[server]\nshutdown_grace_ms = 60000",
    );
    // Alice's socket barely buffers anything, and Alice never reads.
    let mut alice = connect_small_receive_buffer(&gateway);
    alice.logon(ALICE, token(ALICE), 30_000, false).unwrap();
    for i in 0..40 {
        alice
            .new_order(&limit(ALICE, BTC, i, Sell, 10_000, 1_000))
            .unwrap();
    }
    // Wait for a fact, not a time: Bob's 5,000 lots rest on the book as
    // Alice's sells before he trades (her connection may land on the other
    // shard, and she never reads her acknowledgements; her position limit
    // lets only some of the 40 rest). A second session of her account asks
    // the status of her orders (ids count from 1 per symbol) until they
    // hold 5,000.
    let mut alice_watch = gateway.logon(ALICE);
    let mut asked = 0;
    loop {
        let mut resting = 0;
        for order_id in 1..=40 {
            asked += 1;
            alice_watch.order_status(asked, BTC, order_id).unwrap();
            resting += loop {
                match alice_watch.recv_skip_heartbeats().unwrap() {
                    // One request at a time: this is its answer.
                    Received::OrderStatus(m) => break m.leaves_qty.get(),
                    _ => continue, // copies of Alice's own reports
                }
            };
        }
        if resting >= 5_000 {
            break;
        }
        assert!(asked < 40_000, "Alice's sells never reached the book");
    }
    alice_watch.logout().unwrap();
    drop(alice_watch);
    // Bob trades against her in small lots and keeps reading his own reports.
    let mut bob = gateway.logon(BOB);
    let mut bob_reader = bob.try_clone_for_reading();
    let reader = std::thread::spawn(move || {
        let mut fills = 0;
        loop {
            match bob_reader.recv() {
                Ok(Received::Fill(_)) => {
                    fills += 1;
                    if fills == 5_000 {
                        break;
                    }
                }
                Ok(Received::OrderAccepted(_)) | Ok(Received::Heartbeat(_)) => {}
                other => panic!("Bob after {fills} fills: {other:?}"),
            }
        }
        fills
    });
    for i in 0..5_000u64 {
        let mut ioc = limit(BOB, BTC, 100 + i, Buy, 10_000, 1);
        ioc.tif = TimeInForce::Ioc;
        bob.new_order(&ioc).unwrap();
    }
    assert_eq!(
        reader.join().unwrap(),
        5_000,
        "Bob got every fill while Alice stalled"
    );
    // Alice's session was ended; her buffered reports end in SessionEnd.
    alice
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        match alice.recv() {
            Ok(Received::SessionEnd(m)) => {
                assert_eq!(m.reason.get(), SessionEndReason::SlowConsumer.code());
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("expected SessionEnd(SlowConsumer) before close: {e}"),
        }
    }
}

#[test]
fn a_client_that_pipelines_without_reading_is_ended_as_slow_consumer_not_idle() {
    // Issue 9, defect 6: the gateway stops reading a session whose own
    // reports pile up (back-pressure), so "nothing received" while it is
    // the gateway that does not read was an IdleTimeout. It is the client
    // not reading its reports: SlowConsumer.
    let gateway = Gateway::start_with(
        "send_buffer_bytes = 8192\nsocket_send_buffer_bytes = 4096\n[server]\nshutdown_grace_ms = 60000",
    );
    let mut alice = connect_small_receive_buffer(&gateway);
    // 100 ms heartbeats (the minimum): the idle window is 300 ms.
    alice.logon(ALICE, token(ALICE), 100, false).unwrap();
    alice
        .stream()
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // IOCs that cross nothing, as fast as the gateway takes them, without
    // reading: each one is two reports. The writes stop when the gateway
    // stops reading (a write blocks for 2 s).
    let mut sent = 0u64;
    loop {
        let mut ioc = limit(ALICE, BTC, sent, Buy, 9_000, 1);
        ioc.tif = TimeInForce::Ioc;
        if alice.new_order(&ioc).is_err() {
            break;
        }
        sent += 1;
        assert!(sent < 10_000_000, "the gateway never applied back-pressure");
    }
    // Her reports end in SessionEnd: SlowConsumer, not IdleTimeout.
    let mut reports = 0u64;
    loop {
        match alice.recv() {
            Ok(Received::SessionEnd(m)) => {
                assert_eq!(
                    SessionEndReason::from_u16(m.reason.get()),
                    Some(SessionEndReason::SlowConsumer),
                    "after {reports} reports of {sent} orders"
                );
                break;
            }
            Ok(_) => reports += 1,
            Err(e) => panic!("expected SessionEnd(SlowConsumer) after {reports} reports: {e}"),
        }
    }
    assert!(reports > 0);
    still_serving(&gateway, 7);
}

#[test]
fn a_logout_behind_requests_to_the_other_shard_comes_after_their_answers() {
    // Orders on both shards, a status request, a mass cancel and a Logout
    // in one write: whichever shard the session is on, some of it runs on
    // the other one. Every request read before the Logout is answered
    // before SessionEnd (a hostile pass found the other shard's answers
    // dropped: SessionEnd came first and sealed the session).
    let gateway = Gateway::start();
    for round in 0..4u64 {
        let mut alice = gateway.logon(ALICE);
        let base = round * 10;
        alice
            .queue(&NewOrderMsg::from_order(&limit(
                ALICE,
                BTC,
                base + 1,
                Buy,
                9_000,
                1,
            )))
            .unwrap();
        alice
            .queue(&NewOrderMsg::from_order(&limit(
                ALICE,
                ETH,
                base + 2,
                Buy,
                2_800,
                10,
            )))
            .unwrap();
        alice.queue(&MassCancelMsg::new(base + 3, None)).unwrap();
        alice.queue(&LogoutMsg::new()).unwrap();
        alice.flush().unwrap();
        let (mut accepted, mut canceled, mut done) = (0, 0, None);
        let end = loop {
            match alice.recv_skip_heartbeats().unwrap() {
                Received::OrderAccepted(_) => accepted += 1,
                Received::OrderCanceled(_) => canceled += 1,
                Received::MassCancelDone(m) => done = Some(m.canceled_count.get()),
                Received::SessionEnd(m) => break m,
                other => panic!("round {round}: unexpected {other:?}"),
            }
        };
        assert_eq!(
            (accepted, canceled, done),
            (2, 2, Some(2)),
            "round {round}: every answer before SessionEnd"
        );
        assert_eq!(end.reason.get(), SessionEndReason::Logout.code());
        assert_eq!(end.expected_seq.get(), 6, "Logon, 3 requests, Logout");
    }
}
