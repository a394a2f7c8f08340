//! A restart under a changed config, end to end with the real binary: the
//! journal replays each command under the config it first ran under, and
//! the new config applies from the restart on.
//!
//! Config A lets Alice send 500 lots; config B allows 100. An order of 500
//! rested under A must still be open after a restart under B, with the same
//! order id, while a new order of 500 is refused with `MaxOrderQty` (200).
//! A restart that adds an account is refused, naming the change.

use std::path::Path;

use crate::support::gateway::*;
use tradsys::client::Received;
use tradsys::engine::Side;
use tradsys::journal::{self, codec, ShardSummary};
use tradsys::protocol::{OrderState, OrderStatusMsg};

/// Reject reason of an order above the account's `max_order_qty`
/// (docs/PROTOCOL.md, reject reasons).
const MAX_ORDER_QTY: u16 = 200;

/// The test config with every account's `max_order_qty` set to `qty`.
fn config_with_max_qty(dir: &Path, qty: u64) -> String {
    let text = config("", dir);
    assert!(text.contains("max_order_qty = 1000"));
    text.replace("max_order_qty = 1000", &format!("max_order_qty = {qty}"))
}

fn status(client: &mut tradsys::client::Client, symbol: u32, order_id: u64) -> OrderStatusMsg {
    client
        .order_status(9_000 + order_id, symbol, order_id)
        .unwrap();
    expect(client, "OrderStatus", |r| match r {
        Received::OrderStatus(m) => Some(*m),
        _ => None,
    })
}

/// Asserts the order is open with `leaves` left at `price`.
fn assert_open(
    client: &mut tradsys::client::Client,
    symbol: u32,
    order_id: u64,
    price: i64,
    leaves: u64,
) {
    let s = status(client, symbol, order_id);
    assert_eq!(
        (
            s.state,
            s.reject_reason.get(),
            s.price.get(),
            s.leaves_qty.get()
        ),
        (OrderState::Open as u8, 0, price, leaves),
        "order {order_id} on symbol {symbol} after the restart: {s:?}"
    );
}

/// `config_epoch` records per shard, read with the journal tools.
fn epochs_per_shard(journal_dir: &Path) -> Vec<u64> {
    let summary = journal::stats(journal_dir).unwrap();
    assert!(summary.is_intact(), "{summary:?}");
    summary
        .shards
        .iter()
        .map(|s: &ShardSummary| s.records_by_kind[codec::kind::CONFIG_EPOCH as usize])
        .collect()
}

#[test]
fn restart_with_a_lower_limit_keeps_orders_accepted_under_the_old_one() {
    let dir = Gateway::new_dir();
    let config_a = config_with_max_qty(&dir, 1000);
    let config_b = config_with_max_qty(&dir, 100);

    // Under A: 500 lots rest on each shard (BTC on shard 0, ETH on 1).
    let gateway = Gateway::start_config(&dir, &config_a, None).expect("start under A");
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 1, Side::Buy, 9_990, 500))
        .unwrap();
    let btc = accepted(&mut alice);
    alice
        .new_order(&limit(ALICE, ETH, 2, Side::Sell, 3_010, 500))
        .unwrap();
    let eth = accepted(&mut alice);
    let (btc_id, eth_id) = (btc.order_id.get(), eth.order_id.get());
    drop(alice);
    // SIGKILL: the restart has nothing but the journal.
    gateway.kill();

    // Under B (max_order_qty 100): the replay reproduces both accepts.
    let gateway = Gateway::start_config(&dir, &config_b, None)
        .unwrap_or_else(|log| panic!("restart under B failed:\n{}", log.join("\n")));
    let mut alice = gateway.logon(ALICE);
    assert_open(&mut alice, BTC, btc_id, 9_990, 500);
    assert_open(&mut alice, ETH, eth_id, 3_010, 500);
    // B applies from the restart on: 500 is now refused, 100 accepted,
    // and its order id follows the replayed one (nothing was renumbered).
    alice
        .new_order(&limit(ALICE, BTC, 3, Side::Buy, 9_990, 500))
        .unwrap();
    assert_eq!(rejected(&mut alice), MAX_ORDER_QTY);
    alice
        .new_order(&limit(ALICE, BTC, 4, Side::Buy, 9_989, 100))
        .unwrap();
    assert_eq!(accepted(&mut alice).order_id.get(), btc_id + 1);
    drop(alice);
    let (exit, _) = gateway.stop();
    assert!(exit.success());
    let journal_dir = dir.join("journal");
    // One epoch per shard at the first start (A), one at the restart (B).
    assert_eq!(epochs_per_shard(&journal_dir), vec![2, 2]);

    // The same config again: no new epoch, same state.
    let gateway = Gateway::start_config(&dir, &config_b, None).expect("restart under B again");
    let mut alice = gateway.logon(ALICE);
    assert_open(&mut alice, BTC, btc_id, 9_990, 500);
    assert_open(&mut alice, BTC, btc_id + 1, 9_989, 100);
    assert_open(&mut alice, ETH, eth_id, 3_010, 500);
    drop(alice);
    let (exit, _) = gateway.stop();
    assert!(exit.success());
    assert_eq!(epochs_per_shard(&journal_dir), vec![2, 2]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restart_that_adds_an_account_is_refused_naming_the_change() {
    let dir = Gateway::new_dir();
    let base = config("", &dir);
    let gateway = Gateway::start_config(&dir, &base, None).expect("first start");
    let (exit, _) = gateway.stop();
    assert!(exit.success());

    let added = format!(
        "{base}\n[[accounts]]\nid = 9\nname = \"dave\"\ntoken = \"dave-token\"\nrole = \"trader\"\n\
         max_order_qty = 10\nmax_order_notional = 1000\nmax_open_orders = 1\nmax_position = 10\n"
    );
    let log = match Gateway::start_config(&dir, &added, None) {
        Ok(gateway) => {
            drop(gateway);
            panic!("a start that adds an account to a journaled engine must be refused");
        }
        Err(log) => log.join("\n"),
    };
    assert!(
        log.contains("accounts changed") && log.contains("added [9]"),
        "the refusal names the change:\n{log}"
    );
    assert!(
        log.contains("fresh journal directory"),
        "the refusal says what to do:\n{log}"
    );
    // The journal is untouched by the refused start: the old config starts.
    let gateway = Gateway::start_config(&dir, &base, None).expect("the old config still starts");
    let (exit, _) = gateway.stop();
    assert!(exit.success());
    let _ = std::fs::remove_dir_all(&dir);
}
