//! The account queries of issue 12, one behaviour each: an order found by
//! the client order id it was given (and after a replace, by the new one),
//! duplicates answered oldest first, open orders paged across symbols and
//! resumed after the cursor's order is gone, positions paged by symbol.

use crate::support::engine_fixture::*;
use tradsys::engine::*;

use Side::{Buy, Sell};

fn with_client_id(
    h: &mut Harness,
    account: AccountId,
    client_order_id: u64,
    price: Price,
) -> OrderId {
    let mut order = h.order(account, Buy, price, 1);
    order.client_order_id = client_order_id;
    accepted_id(&h.submit(order))
}

fn all_open(
    h: &Harness,
    account: AccountId,
    symbol: Option<SymbolId>,
    page: usize,
) -> Vec<OrderId> {
    let mut listed = Vec::new();
    let mut cursor = Some(PageCursor::default());
    while let Some(at) = cursor {
        cursor = h
            .engine
            .open_orders_page(account, symbol, at, page, |v| listed.push(v.order_id));
    }
    listed
}

#[test]
fn an_order_is_found_by_its_client_order_id_only_by_its_account() {
    let mut h = Harness::new();
    let id = with_client_id(&mut h, ALICE, 555, 990);
    let view = h.engine.order_by_client_id(ALICE, SYM, 555).unwrap();
    assert_eq!((view.order_id, view.leaves_qty, view.price), (id, 1, 990));
    assert_eq!(h.engine.order_by_client_id(BOB, SYM, 555), None);
    assert_eq!(h.engine.order_by_client_id(ALICE, COARSE, 555), None);
    h.cancel(ALICE, id);
    assert_eq!(h.engine.order_by_client_id(ALICE, SYM, 555), None);
}

#[test]
fn a_replace_moves_the_order_to_its_new_client_order_id() {
    let mut h = Harness::new();
    let id = with_client_id(&mut h, ALICE, 555, 990);
    // Keeps priority (qty down), then loses it (price change).
    for (price, qty) in [(990, 1), (995, 1)] {
        let old = h.engine.order(ALICE, SYM, id).unwrap().client_order_id;
        let events = h.replace(ALICE, id, price, qty + 1);
        assert!(matches!(events[0], Event::Replaced { .. }), "{events:?}");
        let new = h.engine.order(ALICE, SYM, id).unwrap().client_order_id;
        assert_eq!(h.engine.order_by_client_id(ALICE, SYM, old), None);
        assert_eq!(
            h.engine
                .order_by_client_id(ALICE, SYM, new)
                .unwrap()
                .order_id,
            id
        );
    }
}

#[test]
fn duplicate_client_order_ids_answer_the_oldest_open_one() {
    let mut h = Harness::new();
    let first = with_client_id(&mut h, ALICE, 7, 990);
    let second = with_client_id(&mut h, ALICE, 7, 991);
    assert_eq!(
        h.engine.order_by_client_id(ALICE, SYM, 7).unwrap().order_id,
        first
    );
    h.cancel(ALICE, first);
    assert_eq!(
        h.engine.order_by_client_id(ALICE, SYM, 7).unwrap().order_id,
        second
    );
}

#[test]
fn open_orders_page_by_symbol_and_resume_after_a_vanished_cursor() {
    let mut h = Harness::new();
    let on_sym: Vec<OrderId> = (0..5).map(|i| h.rest(ALICE, Buy, 990 - i, 1)).collect();
    let mut coarse = h.order(ALICE, Sell, 1_050, 10);
    coarse.symbol = COARSE;
    let on_coarse = accepted_id(&h.submit(coarse));
    h.rest(BOB, Buy, 980, 1);

    let expected: Vec<OrderId> = on_sym.iter().copied().chain([on_coarse]).collect();
    for page in 1..=7 {
        assert_eq!(all_open(&h, ALICE, None, page), expected, "page {page}");
    }
    assert_eq!(all_open(&h, ALICE, Some(COARSE), 2), vec![on_coarse]);
    assert_eq!(all_open(&h, ALICE, Some(99), 2), Vec::<OrderId>::new());

    // A page of 2, then the cursor's order is canceled: the next page
    // starts right after it all the same.
    let mut first = Vec::new();
    let cursor = h
        .engine
        .open_orders_page(ALICE, None, PageCursor::default(), 2, |v| {
            first.push(v.order_id)
        })
        .unwrap();
    assert_eq!(first, on_sym[..2]);
    h.cancel(ALICE, on_sym[1]);
    let mut rest = Vec::new();
    h.engine
        .open_orders_page(ALICE, None, cursor, 10, |v| rest.push(v.order_id));
    assert_eq!(rest, [&on_sym[2..], &[on_coarse][..]].concat());
}

#[test]
fn positions_page_one_per_symbol() {
    let mut h = Harness::new();
    h.rest(BOB, Sell, 1_000, 3);
    let take = h.order(ALICE, Buy, 1_000, 2);
    h.submit(take);
    let mut seen = Vec::new();
    let cursor = h
        .engine
        .positions_page(ALICE, None, PageCursor::default(), 1, |s, p| {
            seen.push((s, p.position))
        });
    assert_eq!(seen, vec![(SYM, 2)]);
    h.engine
        .positions_page(ALICE, None, cursor.unwrap(), 1, |s, p| {
            seen.push((s, p.position))
        });
    assert_eq!(seen, vec![(SYM, 2), (COARSE, 0)]);
    assert!(h
        .engine
        .positions_page(9, None, PageCursor::default(), 1, |_, _| ())
        .is_none());
}

#[test]
fn a_vanished_cursor_far_from_the_next_order_resumes_by_walking_the_list() {
    let mut config = config();
    config.order_capacity = 256;
    let mut h = Harness::with(config);
    let first = h.rest(ALICE, Buy, 990, 1);
    let second = h.rest(ALICE, Buy, 990, 1);
    // More than the 64 ids a page looks ahead, none of them Alice's.
    for _ in 0..80 {
        h.rest(BOB, Buy, 980, 1);
    }
    let third = h.rest(ALICE, Buy, 990, 1);
    let mut page = Vec::new();
    let cursor = h
        .engine
        .open_orders_page(ALICE, Some(SYM), PageCursor::default(), 2, |v| {
            page.push(v.order_id)
        })
        .unwrap();
    assert_eq!(page, vec![first, second]);
    h.cancel(ALICE, second);
    page.clear();
    let end = h
        .engine
        .open_orders_page(ALICE, Some(SYM), cursor, 2, |v| page.push(v.order_id));
    assert_eq!((page, end), (vec![third], None));
}

/// PROTOCOL.md 8 (Position): the position keeps its exact cost; a fill
/// that reduces it realizes price x closed quantity minus the closed share
/// of the cost, that share rounded toward zero, and the rounding stays in
/// the cost of what is still open, so a flat position has realized exactly
/// its proceeds minus its cost.
#[test]
fn realized_pnl_rounds_the_closed_cost_toward_zero_and_is_exact_when_flat() {
    let pnl = |h: &Harness| h.engine.position(ALICE, SYM).unwrap().realized_pnl;
    for (side, sign) in [(Buy, 1), (Sell, -1)] {
        let mut h = Harness::new();
        // Open 3 at a cost of 1,000 + 2 x 1,001 = 3,002 (average 1,000.67).
        h.rest(BOB, side.opposite(), 1_000, 1);
        h.rest(BOB, side.opposite(), 1_001, 2);
        // Its limit reaches both (a sell's down to 1,000).
        let limit = if side == Buy { 1_001 } else { 1_000 };
        let open = h.order(ALICE, side, limit, 3);
        h.submit(open);
        assert_eq!(h.engine.position(ALICE, SYM).unwrap().position, 3 * sign);
        // Close 1 at 1,002: the closed cost 3,002 / 3 = 1,000.67 is 1,000 toward
        // zero (a short's cost, -3,002 / 3, is -1,000 too).
        h.rest(BOB, side, 1_002, 1);
        let close = h.order(ALICE, side.opposite(), 1_002, 1);
        h.submit(close);
        assert_eq!(pnl(&h), (1_002 - 1_000) * sign as i128);
        // Close the other 2 at 1,002: their cost is the 2,002 left, exactly.
        h.rest(BOB, side, 1_002, 2);
        let close = h.order(ALICE, side.opposite(), 1_002, 2);
        h.submit(close);
        assert_eq!(h.engine.position(ALICE, SYM).unwrap().position, 0);
        assert_eq!(pnl(&h), (3 * 1_002 - 3_002) * sign as i128);
    }
}

/// With more orders resting than fit the caches the client index queues
/// its changes (`client_index.rs`): lookups by client order id stay exact
/// through cancels, replaces that rename and duplicate ids, each checked
/// right after the command against the orders the test knows rest.
#[test]
fn lookups_by_client_order_id_stay_exact_while_changes_are_queued() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut config = config();
    config.order_capacity = 1 << 15;
    config.max_levels_per_side = 64;
    let mut h = Harness::with(config);
    // (account, client order id) -> resting order ids; order id -> key.
    let mut by_key: BTreeMap<(AccountId, u64), BTreeSet<OrderId>> = BTreeMap::new();
    let mut key_of: BTreeMap<OrderId, (AccountId, u64)> = BTreeMap::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let accounts = [ALICE, BOB, CAROL];
    let check = |h: &Harness,
                 by_key: &BTreeMap<(AccountId, u64), BTreeSet<OrderId>>,
                 key: (AccountId, u64)| {
        let expected = by_key.get(&key).and_then(|ids| ids.first().copied());
        let got = h
            .engine
            .order_by_client_id(key.0, SYM, key.1)
            .map(|v| v.order_id);
        assert_eq!(got, expected, "key {key:?}");
    };
    for step in 0..20_000u64 {
        let rested = step < 17_000 || next(2) == 0 || key_of.is_empty();
        let mut events = Vec::new();
        if rested {
            let account = accounts[next(3) as usize];
            // Few client order ids: duplicates are common.
            let cid = next(500);
            let mut order = h.order(account, Buy, 940 + next(60) as Price, 1);
            order.client_order_id = cid;
            h.engine.process(&Command::New(order), &mut events);
            let id = accepted_id(&events);
            by_key.entry((account, cid)).or_default().insert(id);
            key_of.insert(id, (account, cid));
            check(&h, &by_key, (account, cid));
            continue;
        }
        let pick = next(key_of.len() as u64) as usize;
        let (&id, &key) = key_of.iter().nth(pick).expect("an order rests");
        by_key.get_mut(&key).expect("its key").remove(&id);
        key_of.remove(&id);
        if next(2) == 0 {
            h.engine.process(
                &Command::Cancel(CancelOrder {
                    account: key.0,
                    symbol: SYM,
                    order_id: id,
                    client_order_id: key.1,
                }),
                &mut events,
            );
            assert_eq!(cancels(&events).len(), 1, "{events:?}");
        } else {
            // A replace renames the order (a new price keeps it resting).
            let new_cid = next(500);
            h.engine.process(
                &Command::Replace(ReplaceOrder {
                    account: key.0,
                    symbol: SYM,
                    order_id: id,
                    client_order_id: new_cid,
                    new_price: 940 + next(60) as Price,
                    new_qty: 2,
                }),
                &mut events,
            );
            assert!(matches!(events[0], Event::Replaced { .. }), "{events:?}");
            by_key.entry((key.0, new_cid)).or_default().insert(id);
            key_of.insert(id, (key.0, new_cid));
            check(&h, &by_key, (key.0, new_cid));
        }
        check(&h, &by_key, key);
    }
    h.engine.check_invariants();
}

/// The same rounding when the position's cost is past 64 bits (a price of
/// 4 x 10^12 on 3,000,000 units: cost 1.2 x 10^19): the closed share is the
/// exact 128-bit quotient, not a 64-bit one that would overflow.
#[test]
fn realized_pnl_stays_exact_when_the_cost_is_past_64_bits() {
    const P: Price = 4_000_000_000_000;
    let mut config = config();
    config.symbols[0].reference_price = P;
    let mut h = Harness::with(config);
    h.rest(BOB, Sell, P, 1_000_000);
    h.rest(BOB, Sell, P + 1, 2_000_000);
    let open = h.order(ALICE, Buy, P + 1, 3_000_000);
    h.submit(open);
    let cost = P as i128 * 1_000_000 + (P as i128 + 1) * 2_000_000;
    assert!(
        cost > i64::MAX as i128,
        "the test's cost must not fit 64 bits"
    );
    h.rest(BOB, Buy, P + 2, 1_000_000);
    let close = h.order(ALICE, Sell, P + 2, 1_000_000);
    h.submit(close);
    let position = h.engine.position(ALICE, SYM).unwrap();
    assert_eq!(position.position, 2_000_000);
    // 1.2 x 10^19 + 2 x 10^6 over 3: the 2/3 of a unit truncated.
    let closed = cost * 1_000_000 / 3_000_000;
    assert_eq!(closed, P as i128 * 1_000_000 + 666_666);
    assert_eq!(position.realized_pnl, (P as i128 + 2) * 1_000_000 - closed);
}

/// Short (account, symbol) lists are walked, long ones indexed
/// (`client_index::INDEXED_FROM`, 128): lookups by client order id stay
/// exact, oldest first among duplicates, while one list grows past the
/// length, is renamed by replaces on both sides of it, drains to nothing
/// and grows again; another account's short list beside it stays walked.
#[test]
fn lookups_by_client_order_id_are_exact_across_the_indexed_length() {
    use std::collections::BTreeMap;
    let mut config = config();
    config.order_capacity = 1 << 10;
    config.max_levels_per_side = 64;
    let mut h = Harness::with(config);
    // (account, client order id) -> resting order ids, oldest first.
    let mut live: BTreeMap<(AccountId, u64), Vec<OrderId>> = BTreeMap::new();
    let check = |h: &Harness, live: &BTreeMap<(AccountId, u64), Vec<OrderId>>| {
        for account in [ALICE, BOB] {
            for client_order_id in 0..200 {
                let expected = live
                    .get(&(account, client_order_id))
                    .and_then(|ids| ids.iter().min().copied());
                let got = h
                    .engine
                    .order_by_client_id(account, SYM, client_order_id)
                    .map(|v| v.order_id);
                assert_eq!(got, expected, "{account}/{client_order_id}");
            }
        }
    };
    let rest = |h: &mut Harness, live: &mut BTreeMap<_, Vec<OrderId>>, account, i: u64| {
        let client_order_id = i % 150;
        let mut order = h.order(account, Buy, 900 + (i % 50) as Price, 2);
        order.client_order_id = client_order_id;
        let id = accepted_id(&h.submit(order));
        live.entry((account, client_order_id)).or_default().push(id);
        id
    };
    let mut alice = Vec::new();
    for i in 0..300 {
        alice.push(rest(&mut h, &mut live, ALICE, i));
        if i % 10 == 0 {
            rest(&mut h, &mut live, BOB, i);
        }
        check(&h, &live);
    }
    // Replaces that rename: 199 is a client order id no order had.
    for &id in alice.iter().step_by(7) {
        let old = h.engine.order(ALICE, SYM, id).unwrap().client_order_id;
        let mut replace = ReplaceOrder {
            account: ALICE,
            symbol: SYM,
            order_id: id,
            client_order_id: 199,
            new_price: h.engine.order(ALICE, SYM, id).unwrap().price,
            new_qty: 1, // down: keeps its place
        };
        if id % 2 == 0 {
            replace.new_price += 1; // loses priority: re-enters
            replace.new_qty = 2;
        }
        let events = h.run(Command::Replace(replace));
        assert!(matches!(events[0], Event::Replaced { .. }), "{events:?}");
        live.get_mut(&(ALICE, old)).unwrap().retain(|&o| o != id);
        live.entry((ALICE, 199)).or_default().push(id);
    }
    check(&h, &live);
    // Drain to nothing, oldest and newest alternately, then grow again.
    while !alice.is_empty() {
        let id = if alice.len() % 2 == 0 {
            alice.remove(0)
        } else {
            alice.pop().unwrap()
        };
        let key = h.engine.order(ALICE, SYM, id).unwrap().client_order_id;
        h.cancel(ALICE, id);
        live.get_mut(&(ALICE, key)).unwrap().retain(|&o| o != id);
        check(&h, &live);
    }
    for i in 0..140 {
        rest(&mut h, &mut live, ALICE, i);
    }
    check(&h, &live);
}
