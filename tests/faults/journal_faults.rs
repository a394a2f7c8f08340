//! Storage faults, end to end, against the real binary (issue 9, defects 1
//! and 2):
//! - a failed msync/fsync stops the gateway (fail-stop): the command whose
//!   sync failed is refused, every session ends with
//!   `SessionEnd(JournalFailure)`, the process exits 3 naming the file and
//!   offset, and a restart replays every acknowledged order. Both `every`
//!   (the failing append) and `interval` (the failing timer sync);
//! - a cancel-on-disconnect the journal refuses (a full disk) is kept and
//!   runs before anything else once the journal accepts again: nobody
//!   trades against the disconnected account's orders.
//!
//! The sync failure comes from `tests/fault/failmsync.c`, an LD_PRELOAD
//! shim built here with `cc`: msync/fsync/fdatasync fail with EIO while a
//! flag file exists. The full disk is RLIMIT_FSIZE, lifted while the
//! gateway runs (prlimit).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use tradsys::client::{Client, Received};
use tradsys::engine::*;
use tradsys::protocol::{OrderState, SessionEndReason};

const FAST: &str = "rate_limit_per_sec = 10000000\nrate_limit_burst = 100000";
/// Exit status of a fail-stop (docs/OPERATIONS.md).
const FAIL_STOP_EXIT: i32 = 3;

/// Builds the shim into `dir`; `None` (and the test says why it skips)
/// without a C compiler.
fn build_shim(dir: &Path) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault/failmsync.c");
    let out = dir.join("failmsync.so");
    let built = std::process::Command::new("cc")
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status();
    match built {
        Ok(status) if status.success() => Some(out),
        other => {
            eprintln!("SKIPPED: cannot build the msync fault shim with cc: {other:?}");
            None
        }
    }
}

fn start_with_shim(dir: &Path, overrides: &str, shim: &Path, flag: &Path) -> Gateway {
    let text = config(overrides, dir);
    let env = [
        ("LD_PRELOAD", shim.to_str().unwrap()),
        ("FAIL_SYNC_FLAG", flag.to_str().unwrap()),
    ];
    Gateway::start_env(dir, &text, None, &env).expect("gateway starts")
}

/// Rests `n` limit buys of Alice on each symbol; their (symbol, order_id).
fn rest_orders(alice: &mut Client, n: u64, first_id: u64) -> Vec<(SymbolId, OrderId)> {
    let mut acked = Vec::new();
    for i in 0..n {
        for (symbol, price, qty) in [(BTC, 9_500, 1), (ETH, 2_800, 10)] {
            let id = first_id + 2 * i + u64::from(symbol == ETH);
            alice
                .new_order(&limit(ALICE, symbol, id, Side::Buy, price, qty))
                .unwrap();
            let m = accepted(alice);
            acked.push((m.symbol.get(), m.order_id.get()));
        }
    }
    acked
}

/// The next message that is not a heartbeat or report is SessionEnd; its reason.
fn session_end_reason(client: &mut Client) -> u16 {
    loop {
        match client.recv_skip_heartbeats() {
            Ok(Received::SessionEnd(m)) => return m.reason.get(),
            Ok(_) => continue,
            Err(e) => panic!("waiting for SessionEnd: {e}"),
        }
    }
}

fn exit_after_fail_stop(gateway: &mut Gateway) -> Vec<String> {
    let (status, log) = gateway
        .wait_exit(Duration::from_secs(20))
        .expect("the gateway stops by itself after a failed sync");
    assert_eq!(
        status.code(),
        Some(FAIL_STOP_EXIT),
        "exit status of a fail-stop\n{}",
        log.join("\n")
    );
    let text = log.join("\n");
    assert!(
        text.contains("journal sync failed") && text.contains("from offset"),
        "the log names the failed sync with its file and offset:\n{text}"
    );
    assert!(
        text.contains(".seg from offset") || text.contains("shard-"),
        "the log names the file:\n{text}"
    );
    log
}

#[test]
fn a_failed_msync_with_sync_every_stops_the_gateway_and_loses_nothing_acknowledged() {
    let _machine = crate::own_machine(); // alone, as in a binary of its own
    let dir = Gateway::new_dir();
    let Some(shim) = build_shim(&dir) else { return };
    let flag = dir.join("fail-syncs");
    let overrides = format!("{FAST}\n[journal]\nsync = \"every\"");
    let mut gateway = start_with_shim(&dir, &overrides, &shim, &flag);
    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    let acked = rest_orders(&mut alice, 10, 1);

    std::fs::write(&flag, b"").unwrap();
    // The append of this order fails its msync: it is refused, not
    // acknowledged, and the gateway begins to stop.
    alice
        .new_order(&limit(ALICE, BTC, 1_000, Side::Buy, 9_400, 1))
        .unwrap();
    assert_eq!(
        rejected(&mut alice),
        RejectReason::JournalUnavailable.code()
    );
    assert_eq!(
        session_end_reason(&mut alice),
        SessionEndReason::JournalFailure.code()
    );
    assert_eq!(
        session_end_reason(&mut bob),
        SessionEndReason::JournalFailure.code()
    );
    exit_after_fail_stop(&mut gateway);
    drop(gateway);

    std::fs::remove_file(&flag).unwrap();
    let gateway = Gateway::start_in(&dir, &overrides).expect("restarts once the disk works");
    assert_all_open(&gateway, ALICE, &acked);
    // The refused order was not executed: Alice's 11th BTC order is new.
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 2_000, Side::Buy, 9_400, 1))
        .unwrap();
    let m = accepted(&mut alice);
    assert_eq!(
        m.order_id.get(),
        acked.iter().filter(|(s, _)| *s == BTC).count() as u64 + 1,
        "the refused order took no order id"
    );
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_msync_with_sync_interval_stops_the_gateway_and_loses_nothing_acknowledged() {
    let _machine = crate::own_machine(); // alone, as in a binary of its own
    let dir = Gateway::new_dir();
    let Some(shim) = build_shim(&dir) else { return };
    let flag = dir.join("fail-syncs");
    let overrides = format!("{FAST}\n[journal]\nsync = \"interval\"\nsync_interval_us = 1000");
    let mut gateway = start_with_shim(&dir, &overrides, &shim, &flag);
    let mut alice = gateway.logon(ALICE);
    let mut acked = rest_orders(&mut alice, 10, 1);
    std::fs::write(&flag, b"").unwrap();
    // The next interval sync fails (within a tick): the gateway stops by
    // itself, with no further command needed. An order sent meanwhile is
    // acknowledged (then it must survive), refused, or meets the end.
    alice
        .new_order(&limit(ALICE, BTC, 100, Side::Buy, 9_400, 1))
        .unwrap();
    let reason = loop {
        match alice.recv_skip_heartbeats().unwrap() {
            Received::OrderAccepted(m) => acked.push((m.symbol.get(), m.order_id.get())),
            Received::OrderRejected(m) => {
                assert_eq!(m.reason.get(), RejectReason::JournalUnavailable.code())
            }
            Received::SessionEnd(m) => break m.reason.get(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(reason, SessionEndReason::JournalFailure.code());
    exit_after_fail_stop(&mut gateway);
    drop(gateway);

    std::fs::remove_file(&flag).unwrap();
    let gateway = Gateway::start_in(&dir, &overrides).expect("restarts once the disk works");
    assert_all_open(&gateway, ALICE, &acked);
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cancel_on_disconnect_refused_by_a_full_journal_runs_before_anything_else_once_it_accepts() {
    let _machine = crate::own_machine(); // alone, as in a binary of its own
    let dir = Gateway::new_dir();
    // A first start makes each shard's first segment (256 KiB); the second
    // asks for 1 MiB segments but may not write files over 600 KiB, so the
    // journal fills when the first segment does.
    let (status, _) = Gateway::start_in(&dir, FAST).expect("starts").stop();
    assert!(status.success());
    let bigger = format!("{FAST}\n[journal]\nsegment_bytes = 1048576");
    let gateway = Gateway::start_limited(&dir, &bigger, Some(600 << 10)).expect("starts");

    // Carol's account cancels on disconnect; she rests 3 sells on BTC. She
    // stays quiet while Alice fills the journal, which can take longer
    // than the default idle timeout on a loaded machine: a 30 s heartbeat
    // keeps her session up until she disconnects herself.
    let mut carol = gateway.connect();
    carol.logon(CAROL, token(CAROL), 30_000, false).unwrap();
    let mut carol_orders = Vec::new();
    for i in 0..3 {
        carol
            .new_order(&limit(CAROL, BTC, i, Side::Sell, 10_100, 2))
            .unwrap();
        carol_orders.push(accepted(&mut carol).order_id.get());
    }
    // Alice fills BTC's journal with IOCs that cross nothing.
    let mut alice = gateway.logon(ALICE);
    let mut id = 0;
    let ioc = |id: u64, price: Price, qty: Qty| NewOrder {
        tif: TimeInForce::Ioc,
        ..limit(ALICE, BTC, id, Side::Buy, price, qty)
    };
    loop {
        id += 1;
        assert!(id < 100_000, "the journal never filled");
        alice.new_order(&ioc(id, 9_500, 1)).unwrap();
        match alice.recv_skip_heartbeats().unwrap() {
            Received::OrderAccepted(_) => {
                canceled(&mut alice);
            }
            Received::OrderRejected(m) => {
                assert_eq!(m.reason.get(), RejectReason::JournalUnavailable.code());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Carol goes away while the journal refuses: her cancel is deferred
    // (the wait is for any log line about it, so that a gateway that drops
    // the cancel fails below, on the trade, not here).
    drop(carol);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = Vec::new();
    while !log
        .iter()
        .any(|l: &String| l.contains("cancel-on-disconnect"))
    {
        assert!(Instant::now() < deadline, "no deferral logged: {log:#?}");
        log.extend(gateway.log_lines());
        std::thread::sleep(Duration::from_millis(20));
    }

    // The disk gets room. Alice's crossing IOC is refused until the journal
    // accepts; then Carol's cancel has run first and there is nothing to hit.
    gateway.set_file_size_limit(None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "the journal never accepted again"
        );
        id += 1;
        alice.new_order(&ioc(id, 10_100, 6)).unwrap();
        match alice.recv_skip_heartbeats().unwrap() {
            Received::OrderRejected(m) => {
                assert_eq!(m.reason.get(), RejectReason::JournalUnavailable.code());
                std::thread::sleep(Duration::from_millis(50));
            }
            Received::OrderAccepted(_) => {
                match alice.recv_skip_heartbeats().unwrap() {
                    Received::OrderCanceled(m) => assert_eq!(
                        m.canceled_qty.get(),
                        6,
                        "nothing of the disconnected account was left to trade against"
                    ),
                    other => panic!("Alice traded against Carol's orders: {other:?}"),
                }
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Carol's orders are gone, cancelled by her disconnect.
    let mut carol = gateway.logon(CAROL);
    for (i, order_id) in carol_orders.into_iter().enumerate() {
        carol.order_status(i as u64, BTC, order_id).unwrap();
        let state = expect(&mut carol, "OrderStatus", |r| match r {
            Received::OrderStatus(m) => Some(m.state),
            _ => None,
        });
        assert_eq!(
            state,
            OrderState::Unknown as u8,
            "order {order_id} still open"
        );
    }
    drop(carol);
    let (status, rest) = gateway.stop();
    log.extend(rest);
    assert!(status.success(), "{}", log.join("\n"));
    assert!(
        log.iter()
            .any(|l| l.contains("deferred cancel-on-disconnect executed")),
        "{}",
        log.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
