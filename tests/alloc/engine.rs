//! The engine allocates nothing per order once constructed: new orders that
//! rest, cancels, replaces (keeping and losing priority), fills, IOC, FOK,
//! mass cancel and STP all run under a counting allocator that must read 0.

use crate::support::alloc_counter::allocations_in;
use crate::support::engine_fixture::*;
use tradsys::engine::*;

/// Counts events by kind: stands in for the gateway's encoder.
#[derive(Default)]
struct LastEvent {
    count: u64,
    fills: u64,
    replaced: u64,
    canceled: u64,
    rejected: u64,
}

impl EventSink for LastEvent {
    fn emit(&mut self, event: &Event) {
        self.count += 1;
        match event {
            Event::Fill { .. } => self.fills += 1,
            Event::Replaced { .. } => self.replaced += 1,
            Event::Canceled { .. } => self.canceled += 1,
            Event::Rejected { .. } | Event::CancelRejected { .. } => self.rejected += 1,
            _ => {}
        }
    }
}

/// One round of every kind of command, around price `base`. Returns the
/// number of events so the test can see work was done.
fn round(engine: &mut Engine, sink: &mut LastEvent, next_id: &mut OrderId, base: Price) {
    let new = |account, side, price, qty, tif| NewOrder {
        account,
        symbol: SYM,
        client_order_id: 1,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price,
        qty,
    };
    let mut run = |engine: &mut Engine, command: Command| engine.process(&command, sink);
    // Two resting bids and an ask.
    let bid_a = *next_id;
    run(
        engine,
        Command::New(new(ALICE, Side::Buy, base - 2, 10, TimeInForce::Gtc)),
    );
    let bid_b = bid_a + 1;
    run(
        engine,
        Command::New(new(BOB, Side::Buy, base - 2, 10, TimeInForce::Day)),
    );
    run(
        engine,
        Command::New(new(CAROL, Side::Sell, base + 2, 10, TimeInForce::Gtc)),
    );
    // Replace down (keeps priority), then to a new price (loses it).
    run(
        engine,
        Command::Replace(ReplaceOrder {
            account: ALICE,
            symbol: SYM,
            order_id: bid_a,
            client_order_id: 2,
            new_price: base - 2,
            new_qty: 8,
        }),
    );
    run(
        engine,
        Command::Replace(ReplaceOrder {
            account: BOB,
            symbol: SYM,
            order_id: bid_b,
            client_order_id: 3,
            new_price: base - 1,
            new_qty: 12,
        }),
    );
    // A sell that sweeps both bids partially and rests nothing (IOC).
    run(
        engine,
        Command::New(new(CAROL, Side::Sell, base - 2, 15, TimeInForce::Ioc)),
    );
    // FOK that cannot fill, market that takes the ask.
    run(
        engine,
        Command::New(new(BOB, Side::Buy, base + 2, 500, TimeInForce::Fok)),
    );
    let mut market = new(ALICE, Side::Buy, 0, 10, TimeInForce::Ioc);
    market.kind = OrderKind::Market;
    run(engine, Command::New(market));
    // STP: Alice's resting bid meets her own sell.
    run(
        engine,
        Command::New(new(ALICE, Side::Sell, base - 2, 1, TimeInForce::Ioc)),
    );
    // A fresh order to cancel, and one for the mass cancel.
    let to_cancel = bid_a + 7;
    run(
        engine,
        Command::New(new(BOB, Side::Buy, base - 5, 3, TimeInForce::Gtc)),
    );
    run(
        engine,
        Command::Cancel(CancelOrder {
            account: BOB,
            symbol: SYM,
            order_id: to_cancel,
            client_order_id: 4,
        }),
    );
    run(
        engine,
        Command::New(new(ALICE, Side::Sell, base + 6, 3, TimeInForce::Day)),
    );
    run(
        engine,
        Command::MassCancel {
            account: ALICE,
            symbol: None,
            reason: CancelReason::MassCancel,
        },
    );
    run(
        engine,
        Command::MassCancel {
            account: CAROL,
            symbol: Some(SYM),
            reason: CancelReason::Disconnect,
        },
    );
    run(engine, Command::EndOfDay);
    *next_id += 9; // every New above was accepted
}

#[test]
fn steady_state_order_flow_allocates_nothing() {
    let mut engine = Engine::new(&config());
    let mut sink = LastEvent::default();
    let mut next_id: OrderId = 1;
    // Warm-up: the first round may touch lazily initialised state.
    round(&mut engine, &mut sink, &mut next_id, 1_000);
    let before = sink.count;
    let (allocations, ()) = allocations_in(|| {
        for i in 0..1_000 {
            round(
                &mut engine,
                &mut sink,
                &mut next_id,
                1_000 + (i % 7) as Price,
            );
        }
    });
    engine.check_invariants();
    assert!(
        sink.count - before > 20_000,
        "the rounds did real work: {}",
        sink.count - before
    );
    assert!(sink.fills > 4_000 && sink.replaced >= 2_000 && sink.canceled > 3_000);
    assert_eq!(sink.rejected, 0, "every command in a round is valid");
    assert_eq!(
        engine.resting_orders(),
        0,
        "every round cleans up after itself"
    );
    assert_eq!(allocations, 0, "allocations on the order path");
}

#[test]
fn the_counter_sees_an_allocation() {
    let (allocations, v) = allocations_in(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert_eq!(allocations, 1);
}
