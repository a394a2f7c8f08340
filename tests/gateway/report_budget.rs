//! Settles whether `MAX_REPORT_BYTES_PER_COMMAND` (320 bytes) is a bound
//! or an estimate. A session may have `send_buffer_bytes / 2 / 320`
//! commands in flight on other shards; their reports arrive together when
//! the origin shard polls its mesh, before the session's writer runs.
//!
//! - Within the estimate (an accept, a fill, a cancel per command), a
//!   client that sends as many as it may and reads nothing in between is
//!   never cut off.
//! - Past it (each order sweeping many resting orders: one fill each), the
//!   same client overflows its outbox and the session ends SlowConsumer:
//!   the budget is an estimate, not a bound. What the shard guarantees is
//!   what happens then: every command ran whole in the engine (and is in
//!   the journal when there is one), the session ends with a SessionEnd
//!   that is the last thing it is sent, and no message is half-sent.
//!   The passive side has the same limit: one turn's fills for a session
//!   must fit its outbox (Bob's session is closed here to keep him out of
//!   it).

use crate::support::core_client::{CoreClient, Got, NOW};
use crate::support::shards;
use tradsys::engine::*;
use tradsys::protocol::*;
use tradsys::shard::core::{ShardCore, MAX_REPORT_BYTES_PER_COMMAND};

const ETH: SymbolId = 2; // shard 1 in the two-shard layout
const PRICE: Price = 300_000;
const LOT: Qty = 10;
/// The smallest send buffer the config allows: 8 commands in flight.
const SEND_BUFFER: usize = 4096;

/// Sends one order; `false` if the reader was told to stop reading.
fn send(client: &mut CoreClient, core: &mut ShardCore, order: &NewOrder) -> bool {
    let intake = client.send(core, &NewOrderMsg::from_order(order));
    if intake.blocked {
        assert_eq!(intake.consumed, 0);
        client.seq -= 1; // not taken: the client sends it again later
    }
    !intake.blocked
}

fn order(account: u32, id: u64, side: Side, tif: TimeInForce, lots: u64) -> NewOrder {
    NewOrder {
        account,
        symbol: ETH,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price: PRICE,
        qty: lots * LOT,
    }
}

/// Bob (on shard 1, ETH's owner) rests `resting` one-lot sells; Alice (on
/// shard 0, 4 KiB send buffer) sends IOC buys of `lots` lots each, as many
/// as the reader lets her, without reading; then shard 1 runs them and
/// shard 0 takes every report in one mesh poll. Returns what Alice read
/// and how many orders she got in.
fn pipelined_sweeps(resting: u64, lots: u64) -> (Vec<Got>, usize, ShardCore, ShardCore) {
    let (mut a, mut b, _bells) = shards::two_shard_cores(1024, |config| {
        config.session.send_buffer_bytes = SEND_BUFFER;
        // Bob's orders outlive his session: his fills are not the subject.
        config.accounts[1].cancel_on_disconnect = false;
    });
    let mut bob = CoreClient::logon(&mut b, 2, b"bob-demo-token");
    for i in 0..resting {
        assert!(send(
            &mut bob,
            &mut b,
            &order(2, i, Side::Sell, TimeInForce::Gtc, 1)
        ));
        bob.read(&mut b);
    }
    b.close_session(bob.id);
    let mut alice = CoreClient::logon(&mut a, 1, b"alice-demo-token");
    let mut sent = 0;
    while send(
        &mut alice,
        &mut a,
        &order(1, sent as u64, Side::Buy, TimeInForce::Ioc, lots),
    ) {
        sent += 1;
        assert!(sent <= 64, "the reader never stopped taking orders");
    }
    while a.poll_mesh(NOW) + b.poll_mesh(NOW) > 0 {}
    let got = alice.read(&mut a);
    (got, sent, a, b)
}

#[test]
fn reports_within_the_estimate_never_overflow_a_session_that_has_not_read_yet() {
    // One lot each: an accept, one fill (the order is then done).
    let (got, sent, _, _) = pipelined_sweeps(64, 1);
    assert_eq!(sent, SEND_BUFFER / 2 / MAX_REPORT_BYTES_PER_COMMAND);
    let count = |f: fn(&Got) -> bool| got.iter().filter(|g| f(g)).count();
    assert_eq!(count(|g| matches!(g, Got::SessionEnd { .. })), 0, "{got:?}");
    assert_eq!(count(|g| matches!(g, Got::Fill { .. })), sent);
    assert_eq!(count(|g| matches!(g, Got::Accepted { .. })), sent);
}

#[test]
fn reports_past_the_estimate_end_the_session_slow_consumer_and_nothing_else() {
    // Each IOC sweeps 8 resting one-lot orders: an accept and 8 fills, over
    // 500 bytes against a budget of 256.
    let lots = 8;
    let (got, sent, _, bob_shard) = pipelined_sweeps(1_000, lots);
    let per_command = OrderAcceptedMsg::LEN + lots as usize * FillMsg::LEN;
    assert!(per_command > MAX_REPORT_BYTES_PER_COMMAND);
    assert!(sent * per_command > SEND_BUFFER / 2 + MAX_MESSAGE_LEN);
    assert!(
        matches!(got.last(), Some(Got::SessionEnd { reason, .. })
            if *reason == SessionEndReason::SlowConsumer.code()),
        "the budget held (or something followed the end): {got:?}"
    );
    // The engine ran every command whole: each order swept its 8 lots.
    let resting = bob_shard.engine().resting_orders() as u64;
    assert_eq!(resting, 1_000 - sent as u64 * lots);
}
