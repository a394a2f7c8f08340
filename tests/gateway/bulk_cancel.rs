//! A bulk cancel (MassCancel, cancel-on-disconnect, kill switch, end of
//! day) makes one `OrderCanceled` per order, all in one engine command and
//! so in one turn of the shard, in every session of the account. With more
//! of them than the send buffer holds, every session of the account used
//! to end SlowConsumer however fast it read, and the requester never got
//! its MassCancelDone. Here the send buffer holds 64 of them and the
//! account rests 300.

use crate::support::gateway::*;
use tradsys::client::{Client, Received};
use tradsys::engine::*;
use tradsys::protocol::*;

const RESTING: u64 = 300;

/// The test config with a 4 KiB send buffer (64 OrderCanceled) and room
/// for `RESTING` open orders per symbol.
fn start() -> Gateway {
    let dir = Gateway::new_dir();
    let text = config(
        "send_buffer_bytes = 4096\nrate_limit_per_sec = 10000000\nrate_limit_burst = 100000",
        &dir,
    )
    .replace("max_open_orders = 50", "max_open_orders = 400");
    Gateway::start_config(&dir, &text, None).expect("gateway starts")
}

/// Rests `RESTING` one-lot BTC buys over 60 price levels, the watcher
/// reading each acknowledgement as the trading session does: the send
/// buffers are empty when the bulk cancel runs, and the watcher's never
/// holds more than one (its shard may be descheduled for a while).
fn rest_orders(trading: &mut Client, watcher: &mut Client, account: AccountId) {
    for id in 1..=RESTING {
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
