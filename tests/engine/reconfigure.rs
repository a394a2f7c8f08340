//! `Engine::reconfigure`: a new config applied to an engine with state.
//! What only later decisions read (limits, STP defaults, tick, lot, bands)
//! changes and every book, order, position and id stays; what the engine
//! is built around (symbol and account ids, capacities) is refused with
//! the change named, and the engine is left as it was.

use crate::support::engine_fixture::*;
use tradsys::engine::*;

use Side::{Buy, Sell};

fn with_account(
    mut config: EngineConfig,
    account: AccountId,
    f: impl Fn(&mut AccountSpec),
) -> EngineConfig {
    f(config
        .accounts
        .iter_mut()
        .find(|a| a.id == account)
        .unwrap());
    config
}

fn with_symbol(
    mut config: EngineConfig,
    symbol: SymbolId,
    f: impl Fn(&mut SymbolSpec),
) -> EngineConfig {
    f(config.symbols.iter_mut().find(|s| s.id == symbol).unwrap());
    config
}

/// Everything a test can see of the engine's state.
fn snapshot(engine: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    for symbol in [SYM, COARSE] {
        for side in [Buy, Sell] {
            for level in engine.depth(symbol, side, 64) {
                let fifo: Vec<OrderId> = engine.level_orders(symbol, side, level.price).collect();
                out.push(format!("{symbol} {side:?} {level:?} {fifo:?}"));
            }
        }
        for account in [ALICE, BOB, CAROL] {
            out.push(format!(
                "{symbol} {account} {:?}",
                engine.position(account, symbol)
            ));
        }
    }
    out.push(format!("{}", engine.resting_orders()));
    out
}

#[test]
fn new_limits_apply_to_later_orders_and_every_order_and_position_stays() {
    let mut h = Harness::new();
    let bid = h.rest(ALICE, Buy, 990, 50);
    let ask = h.rest(BOB, Sell, 1_010, 40);
    let sell = h.order(BOB, Sell, 990, 10);
    h.submit(sell);
    let before = snapshot(&h.engine);

    let tight = with_account(config(), ALICE, |a| {
        a.limits.max_order_qty = 20;
        a.limits.max_open_orders = 1;
    });
    h.engine.reconfigure(&tight).unwrap();
    h.engine.check_invariants();
    assert_eq!(snapshot(&h.engine), before, "no state changes");
    assert_eq!(h.engine.order(ALICE, SYM, bid).unwrap().leaves_qty, 40);

    // Alice's 40 left is over the new limit of 20: it rests on, but a new
    // order of 40 is refused, and so is a second open order.
    let order = h.order(ALICE, Buy, 980, 40);
    assert_eq!(rejected(&h.submit(order)), RejectReason::MaxOrderQty);
    let order = h.order(ALICE, Buy, 980, 5);
    assert_eq!(rejected(&h.submit(order)), RejectReason::MaxOpenOrders);
    // Bob's limits did not change; ids continue after the old ones.
    let next = h.rest(BOB, Sell, 1_020, 40);
    assert!(next > ask && next > bid);
}

#[test]
fn tick_lot_and_band_changes_apply_to_new_orders_only() {
    let mut h = Harness::new();
    let bid = h.rest(ALICE, Buy, 993, 7);
    let coarse = with_symbol(config(), SYM, |s| {
        s.tick_size = 5;
        s.lot_size = 5;
        s.price_band_bps = 100; // 990..=1010 around 1000
    });
    h.engine.reconfigure(&coarse).unwrap();
    h.engine.check_invariants();
    assert_eq!(h.engine.price_band(SYM), Some((1_000, 990, 1_010)));
    // The resting order off the new grid stays, and still trades.
    assert_eq!(h.engine.order(ALICE, SYM, bid).unwrap().price, 993);
    let order = h.order(ALICE, Buy, 993, 5);
    assert_eq!(rejected(&h.submit(order)), RejectReason::PriceNotOnTick);
    let order = h.order(ALICE, Buy, 995, 7);
    assert_eq!(rejected(&h.submit(order)), RejectReason::QtyNotOnLot);
    let order = h.order(ALICE, Buy, 985, 5);
    assert_eq!(rejected(&h.submit(order)), RejectReason::PriceBand);
    let sell = h.order(BOB, Sell, 990, 5);
    let events = h.submit(sell);
    assert_eq!(fills(&events)[1], (bid, 993, 5, 2, Liquidity::Passive));
}

#[test]
fn a_new_default_stp_applies_to_new_orders() {
    let mut h = Harness::new();
    let resting = h.rest(ALICE, Sell, 1_000, 5);
    let incoming = with_account(config(), ALICE, |a| a.default_stp = StpMode::CancelIncoming);
    h.engine.reconfigure(&incoming).unwrap();
    // Under the old default (cancel resting) the resting ask would go;
    // under the new one the incoming order is canceled and the ask stays.
    let buy = h.order(ALICE, Buy, 1_000, 5);
    let events = h.submit(buy);
    let id = accepted_id(&events);
    assert_eq!(cancels(&events), vec![(id, 5, CancelReason::SelfTrade)]);
    assert!(h.engine.order(ALICE, SYM, resting).is_some());
}

#[test]
fn the_live_reference_price_moves_only_when_the_config_changes_it() {
    let mut h = Harness::new();
    h.run(Command::SetReferencePrice {
        symbol: SYM,
        price: 1_100,
    });
    assert_eq!(h.engine.price_band(SYM), Some((1_100, 990, 1_210)));
    // A config change that leaves reference_price alone keeps the
    // operator's reference (as a restart with the same config does); the
    // band follows the new width around it.
    let narrower = with_symbol(config(), SYM, |s| s.price_band_bps = 500);
    h.engine.reconfigure(&narrower).unwrap();
    assert_eq!(h.engine.price_band(SYM), Some((1_100, 1_045, 1_155)));
    // A config that changes it moves it.
    let moved = with_symbol(narrower.clone(), SYM, |s| s.reference_price = 2_000);
    h.engine.reconfigure(&moved).unwrap();
    assert_eq!(h.engine.price_band(SYM), Some((2_000, 1_900, 2_100)));
    // The same config again changes nothing, even after the operator moved it.
    h.run(Command::SetReferencePrice {
        symbol: SYM,
        price: 2_050,
    });
    h.engine.reconfigure(&moved).unwrap();
    assert_eq!(h.engine.price_band(SYM).unwrap().0, 2_050);
}

#[test]
fn ids_listed_in_another_order_are_the_same_engine() {
    let mut h = Harness::new();
    let bid = h.rest(ALICE, Buy, 990, 5);
    let mut reordered = with_account(config(), BOB, |a| a.limits.max_order_qty = 3);
    reordered.symbols.reverse();
    reordered.accounts.reverse();
    h.engine.reconfigure(&reordered).unwrap();
    h.engine.check_invariants();
    assert!(h.engine.order(ALICE, SYM, bid).is_some());
    let order = h.order(BOB, Sell, 1_000, 4);
    assert_eq!(rejected(&h.submit(order)), RejectReason::MaxOrderQty);
}

#[test]
fn changes_of_shape_are_refused_naming_the_change_and_change_nothing() {
    let mut h = Harness::new();
    h.rest(ALICE, Buy, 990, 5);
    let before = snapshot(&h.engine);
    let tighter_too = |mut c: EngineConfig| {
        c.accounts[0].limits.max_order_qty = 1;
        c
    };

    let mut added = tighter_too(config());
    added.accounts.push(AccountSpec {
        id: 42,
        limits: RiskLimits::UNLIMITED,
        default_stp: StpMode::CancelBoth,
    });
    let mut removed = tighter_too(config());
    removed.symbols.retain(|s| s.id != COARSE);
    let mut swapped = tighter_too(config());
    swapped.accounts[2].id = 4;
    let mut capacity = tighter_too(config());
    capacity.order_capacity *= 2;
    let mut levels = tighter_too(config());
    levels.max_levels_per_side -= 1;

    let cases = [
        (
            added,
            ReconfigureError::Accounts(IdChange {
                added: vec![42],
                removed: vec![],
            }),
            "accounts changed: added [42]",
        ),
        (
            removed,
            ReconfigureError::Symbols(IdChange {
                added: vec![],
                removed: vec![COARSE],
            }),
            "symbols changed: removed [9]",
        ),
        (
            swapped,
            ReconfigureError::Accounts(IdChange {
                added: vec![4],
                removed: vec![CAROL],
            }),
            "accounts changed: added [4], removed [3]",
        ),
        (
            capacity,
            ReconfigureError::OrderCapacity { from: 64, to: 128 },
            "engine.order_capacity changed from 64 to 128",
        ),
        (
            levels,
            ReconfigureError::MaxLevelsPerSide { from: 8, to: 7 },
            "engine.max_levels_per_side changed from 8 to 7",
        ),
    ];
    for (to, error, message) in cases {
        assert_eq!(config().reconfigurable_to(&to), Err(error.clone()));
        assert_eq!(h.engine.reconfigure(&to), Err(error.clone()));
        assert_eq!(error.to_string(), message);
        // Nothing applied, not even the limit that could have been.
        assert_eq!(snapshot(&h.engine), before);
        let order = h.order(ALICE, Buy, 980, 2);
        let events = h.submit(order);
        let id = accepted_id(&events);
        h.cancel(ALICE, id);
    }
}
