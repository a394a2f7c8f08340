//! A bulk cancel (MassCancel, cancel-on-disconnect, kill switch, end of
//! day) makes one `OrderCanceled` per order, all in one engine command and
//! so in one turn of the shard, in every session of the account. With more
//! of them than the send buffer holds, every session of the account used
//! to end SlowConsumer however fast it read, and the requester never got
//! its MassCancelDone. Here the send buffer holds 64 of them and the
//! account rests 300; and a client slower than the burst that heartbeats
//! gets it all (1,500).

use crate::support::gateway::*;
use tradsys::client::{Client, Received};
use tradsys::engine::*;
use tradsys::protocol::*;

const RESTING: u64 = 300;

/// The test config with a 4 KiB send buffer (64 OrderCanceled) and room
/// for `RESTING` open orders per symbol.
fn start() -> Gateway {
    start_with(4096, "")
}

fn start_with(send_buffer_bytes: usize, more: &str) -> Gateway {
    let dir = Gateway::new_dir();
    let text = config(
        &format!(
            "send_buffer_bytes = {send_buffer_bytes}\nrate_limit_per_sec = 10000000\nrate_limit_burst = 100000\n{more}"
        ),
        &dir,
    )
    .replace("max_open_orders = 50", "max_open_orders = 2000");
    Gateway::start_config(&dir, &text, None).expect("gateway starts")
}

/// Rests `RESTING` one-lot BTC buys over 60 price levels, the watcher
/// reading each acknowledgement as the trading session does: the send
/// buffers are empty when the bulk cancel runs, and the watcher's never
/// holds more than one (its shard may be descheduled for a while).
fn rest_orders(trading: &mut Client, watcher: &mut Client, account: AccountId) {
    rest_many(trading, watcher, account, RESTING);
}

fn rest_many(trading: &mut Client, watcher: &mut Client, account: AccountId, count: u64) {
    for id in 1..=count {
        let price = 9_000 + (id % 60) as Price;
        trading
            .new_order(&limit(account, 1, id, Side::Buy, price, 1))
            .unwrap();
        accepted(trading);
        assert_eq!(accepted(watcher).client_order_id.get(), id);
    }
}

/// Reads `RESTING` OrderCanceled of `reason`, each numbered after the one
/// before (the client checks every gateway `seq` too).
fn every_cancel(client: &mut Client, reason: CancelReason) {
    let mut last_report = 0;
    for n in 0..RESTING {
        match client.recv_skip_heartbeats() {
            Ok(Received::OrderCanceled(m)) => {
                assert_eq!(m.reason, reason as u8);
                assert!(m.report_seq.get() > last_report, "reports in order");
                last_report = m.report_seq.get();
            }
            other => panic!("after {n} cancels: {other:?}"),
        }
    }
}

/// The session still trades: a new order is acknowledged.
fn still_trades(client: &mut Client, account: AccountId, id: u64) {
    client
        .new_order(&limit(account, 1, id, Side::Buy, 9_000, 1))
        .unwrap();
    let ack = accepted(client);
    assert_eq!(ack.client_order_id.get(), id);
}

#[test]
fn a_mass_cancel_larger_than_the_send_buffer_reaches_every_session_whole() {
    let gateway = start();
    let mut alice = gateway.logon(ALICE);
    let mut watcher = gateway.logon(ALICE);
    rest_orders(&mut alice, &mut watcher, ALICE);
    alice.mass_cancel(7, None).unwrap();
    every_cancel(&mut alice, CancelReason::MassCancel);
    let done = expect(&mut alice, "MassCancelDone", |r| match r {
        Received::MassCancelDone(m) => Some(*m),
        _ => None,
    });
    assert_eq!(
        (done.canceled_count.get(), done.reject_reason.get()),
        (RESTING as u32, 0)
    );
    every_cancel(&mut watcher, CancelReason::MassCancel);
    still_trades(&mut alice, ALICE, 1_000);
    accepted(&mut watcher);
}

#[test]
fn cancel_on_disconnect_larger_than_the_send_buffer_reaches_the_other_sessions_whole() {
    let gateway = start();
    // Carol's account cancels on disconnect.
    let mut trading = gateway.logon(CAROL);
    let mut watcher = gateway.logon(CAROL);
    rest_orders(&mut trading, &mut watcher, CAROL);
    trading.logout().unwrap();
    let (reason, _) = session_end(&mut trading);
    assert_eq!(reason, SessionEndReason::Logout.code());
    every_cancel(&mut watcher, CancelReason::Disconnect);
    still_trades(&mut watcher, CAROL, 1_000);
}

#[test]
fn a_slow_reader_that_heartbeats_gets_a_whole_bulk_cancel() {
    // A client reading steadily but slower than the burst, heartbeating as
    // PROTOCOL 5.2 asks: its reader is paused while the reports wait, its
    // heartbeats wait in it, and that used to count as "sends but does not
    // read" (SlowConsumer after three heartbeat intervals) though every
    // write to it went through. A 4 KiB socket buffer on both sides keeps
    // the gateway's writer waiting on the client, and a 16 KiB send buffer
    // makes each of its writes last 1.3 s at this pace: the client is seen
    // reading by each part the socket takes, not only by each write.
    let gateway = start_with(
        16_384,
        "socket_send_buffer_bytes = 4096\nmin_heartbeat_interval_ms = 100",
    );
    let mut alice = gateway.logon(ALICE);
    let mut watcher = gateway.logon(ALICE);
    const MANY: u64 = 1_500;
    rest_many(&mut alice, &mut watcher, ALICE, MANY);
    let mut slow = connect_small_receive_buffer(&gateway);
    slow.logon(ALICE, token(ALICE), 300, false).unwrap();
    alice.mass_cancel(7, None).unwrap();
    // 20 reports (1,280 bytes) every 100 ms: the 96 KiB take 7.5 s, and
    // what the kernel's buffers and the send buffer do not hold waits
    // behind them far past the 0.9 s window.
    let mut last_report = 0;
    let mut read = 0;
    while read < MANY {
        if read % 20 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            slow.heartbeat().unwrap();
        }
        match slow.recv() {
            Ok(Received::OrderCanceled(m)) => {
                assert!(m.report_seq.get() > last_report, "reports in order");
                last_report = m.report_seq.get();
                read += 1;
            }
            Ok(Received::Heartbeat(_)) => {}
            other => panic!("after {read} cancels: {other:?}"),
        }
    }
    slow.heartbeat().unwrap();
    still_trades(&mut slow, ALICE, 1_000);
}

#[test]
fn a_restart_that_lowers_max_open_orders_still_delivers_a_whole_bulk_cancel() {
    // Orders rested under a limit of 2,000 stay open across a restart that
    // lowers it to 10 (existing orders are never canceled by a config
    // change). A session's room for bulk cancels used to come from the new
    // limit alone: 10 x 2 symbols x 64 bytes, so the mass cancel of the 300
    // cut every session of the account (SlowConsumer) after a few dozen
    // reports.
    let dir = Gateway::new_dir();
    let text = |max_open_orders: u32| {
        config(
            "send_buffer_bytes = 4096\nrate_limit_per_sec = 10000000\nrate_limit_burst = 100000\n",
            &dir,
        )
        .replace(
            "max_open_orders = 50",
            &format!("max_open_orders = {max_open_orders}"),
        )
    };
    let before = Gateway::start_config(&dir, &text(2_000), None).expect("gateway starts");
    {
        let mut alice = before.logon(ALICE);
        let mut watcher = before.logon(ALICE);
        rest_orders(&mut alice, &mut watcher, ALICE);
    }
    let (status, _) = before.stop();
    assert!(status.success(), "graceful stop: {status}");
    let gateway = Gateway::start_config(&dir, &text(10), None).expect("gateway restarts");
    let mut alice = gateway.logon(ALICE);
    let mut watcher = gateway.logon(ALICE);
    alice.mass_cancel(7, None).unwrap();
    every_cancel(&mut alice, CancelReason::MassCancel);
    let done = expect(&mut alice, "MassCancelDone", |r| match r {
        Received::MassCancelDone(m) => Some(*m),
        _ => None,
    });
    assert_eq!(done.canceled_count.get(), RESTING as u32);
    every_cancel(&mut watcher, CancelReason::MassCancel);
    still_trades(&mut alice, ALICE, 1_000);
}
