//! Random scenarios: engine configurations and abstract command streams.
//!
//! Commands are generated abstractly (e.g. "cancel the k-th live order",
//! "replace 3 ticks toward the other side") and resolved into concrete
//! `Command`s against the model's state just before they run, so cancels and
//! replaces mostly name live orders while proptest still shrinks freely.

use proptest::prelude::*;
use tradsys::engine::*;

use super::reference::{sign, MOrder, Model};

pub(crate) const SYMBOL_IDS: [SymbolId; 3] = [7, 3, 11]; // config order is not id order
pub(crate) const ACCOUNT_IDS: [AccountId; 5] = [5, 2, 9, 4, 6];
pub(crate) const UNKNOWN_SYMBOL: SymbolId = 99;
pub(crate) const UNKNOWN_ACCOUNT: AccountId = 77;

/// Picks a configured symbol/account (by index, modulo the count) or an
/// unknown id.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sel {
    Known(u8),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum NPrice {
    /// Reference plus this many ticks.
    Near(i8),
    OffTick(i8),
    /// A band edge moved this many ticks outward (<= 0: inside the band).
    Edge {
        above: bool,
        ticks: i8,
    },
    NonPositive(i8),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum NQty {
    Lots(u8),
    Zero,
    OffLot(u8),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The `pick`-th resting order (by id), possibly asked for by another
    /// account or on another symbol; falls back to `Stale` when none rests.
    Live {
        pick: u16,
        wrong_account: bool,
        wrong_symbol: bool,
    },
    /// Any id up to the next one to be assigned (mostly dead or unknown).
    Stale {
        pick: u16,
        account: Sel,
        symbol: Sel,
    },
    /// An id that is not a live order's but shares the low 32 bits with
    /// one (`k << 32` added), or an extreme id.
    Alias { pick: u16, k: u8 },
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum RPrice {
    Same,
    Ticks(i8),
    /// This many ticks toward the other side of the book (up for buys).
    Toward(u8),
    OffTick,
    /// A band edge moved this many ticks outward (<= 0: inside the band).
    Edge(bool, i8),
    Zero,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum RQty {
    Same,
    Up(u8),
    Down(u8),
    /// Exactly the filled quantity (below-filled reject when filled > 0).
    Filled,
    OffLot,
    Zero,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Abs {
    New {
        account: Sel,
        symbol: Sel,
        cid: u16,
        side: Side,
        kind: OrderKind,
        tif: TimeInForce,
        post_only: bool,
        stp: Option<StpMode>,
        price: NPrice,
        qty: NQty,
    },
    Cancel {
        target: Target,
        cid: u16,
    },
    Replace {
        target: Target,
        cid: u16,
        price: RPrice,
        qty: RQty,
    },
    MassCancel {
        account: Sel,
        symbol: Option<Sel>,
        disconnect: bool,
    },
    Kill {
        account: Sel,
        on: bool,
    },
    Halt {
        symbol: Sel,
        on: bool,
    },
    SetReference {
        symbol: Sel,
        ticks: i8,
        off_tick: bool,
        /// Move to 1-3 ticks: a band of one or a few ticks at the bottom.
        tiny: bool,
    },
    EndOfDay,
}

pub(crate) fn symbol_id(model: &Model, sel: Sel) -> SymbolId {
    match sel {
        Sel::Known(i) => model.symbols[i as usize % model.symbols.len()].id,
        Sel::Unknown => UNKNOWN_SYMBOL,
    }
}

pub(crate) fn account_id(model: &Model, sel: Sel) -> AccountId {
    match sel {
        Sel::Known(i) => model.accounts[i as usize % model.accounts.len()].id,
        Sel::Unknown => UNKNOWN_ACCOUNT,
    }
}

/// (account, symbol, order id, current order if it rests) for a target.
pub(crate) fn resolve_target(
    model: &Model,
    target: Target,
) -> (AccountId, SymbolId, OrderId, Option<(usize, MOrder)>) {
    let live = model.all_resting();
    match target {
        Target::Live {
            pick,
            wrong_account,
            wrong_symbol,
        } if !live.is_empty() => {
            let (si, o) = live[pick as usize % live.len()].clone();
            let account = if wrong_account {
                let ai = model.account_index(o.account).unwrap();
                model.accounts[(ai + 1) % model.accounts.len()].id
            } else {
                o.account
            };
            let symbol = if wrong_symbol {
                model.symbols[(si + 1) % model.symbols.len()].id
            } else {
                model.symbols[si].id
            };
            (account, symbol, o.order_id, Some((si, o)))
        }
        Target::Live { pick, .. } => (
            model.accounts[0].id,
            model.symbols[0].id,
            1 + pick as u64 % model.next_order_id,
            None,
        ),
        Target::Alias { pick, k } if !live.is_empty() => {
            let (si, o) = live[pick as usize % live.len()].clone();
            let order_id = match k {
                0 => 0,
                1 => u64::MAX,
                k => o.order_id.wrapping_add((k as u64 - 1) << 32),
            };
            (o.account, model.symbols[si].id, order_id, None)
        }
        Target::Alias { k, .. } => (
            model.accounts[0].id,
            model.symbols[0].id,
            (k as u64) << 32 | 1,
            None,
        ),
        Target::Stale {
            pick,
            account,
            symbol,
        } => (
            account_id(model, account),
            symbol_id(model, symbol),
            1 + pick as u64 % (model.next_order_id + 2),
            None,
        ),
    }
}

/// Turns an abstract command into a concrete one against the model's
/// current state (so cancels and replaces mostly name live orders).
pub(crate) fn resolve(model: &Model, abs: &Abs) -> Command {
    match *abs {
        Abs::New {
            account,
            symbol,
            cid,
            side,
            kind,
            tif,
            post_only,
            stp,
            price,
            qty,
        } => {
            let symbol = symbol_id(model, symbol);
            let (tick, lot, reference, band) = match model.symbol_index(symbol) {
                Some(si) => {
                    let s = &model.symbols[si];
                    (s.tick, s.lot, s.reference, s.band())
                }
                None => (1, 1, 1000, (950, 1050)),
            };
            let price = match price {
                NPrice::Near(t) => reference + t as i64 * tick,
                NPrice::OffTick(t) => reference + t as i64 * tick + 1,
                NPrice::Edge { above: true, ticks } => band.1 + ticks as i64 * tick,
                NPrice::Edge {
                    above: false,
                    ticks,
                } => band.0 - ticks as i64 * tick,
                NPrice::NonPositive(t) => -(t as i64).abs(),
            };
            let qty = match qty {
                NQty::Lots(n) => n as u64 * lot,
                NQty::Zero => 0,
                NQty::OffLot(n) => n as u64 * lot + 1,
            };
            Command::New(NewOrder {
                account: account_id(model, account),
                symbol,
                client_order_id: cid as u64,
                side,
                kind,
                tif,
                post_only,
                stp,
                price,
                qty,
            })
        }
        Abs::Cancel { target, cid } => {
            let (account, symbol, order_id, _) = resolve_target(model, target);
            Command::Cancel(CancelOrder {
                account,
                symbol,
                order_id,
                client_order_id: cid as u64,
            })
        }
        Abs::Replace {
            target,
            cid,
            price,
            qty,
        } => {
            let (account, symbol, order_id, current) = resolve_target(model, target);
            let (tick, lot, band, cur_price, filled, total, side) = match current {
                Some((si, o)) => {
                    let s = &model.symbols[si];
                    let total = o.filled + o.leaves;
                    (s.tick, s.lot, s.band(), o.price, o.filled, total, o.side)
                }
                None => match model.symbol_index(symbol) {
                    Some(si) => {
                        let s = &model.symbols[si];
                        (
                            s.tick,
                            s.lot,
                            s.band(),
                            s.reference,
                            0,
                            3 * s.lot,
                            Side::Buy,
                        )
                    }
                    None => (1, 1, (950, 1050), 1000, 0, 3, Side::Buy),
                },
            };
            let new_price = match price {
                RPrice::Same => cur_price,
                RPrice::Ticks(t) => cur_price + t as i64 * tick,
                RPrice::Toward(t) => cur_price + sign(side) * t as i64 * tick,
                RPrice::OffTick => cur_price + 1,
                RPrice::Edge(true, t) => band.1 + t as i64 * tick,
                RPrice::Edge(false, t) => band.0 - t as i64 * tick,
                RPrice::Zero => 0,
            };
            let new_qty = match qty {
                RQty::Same => total,
                RQty::Up(n) => total + n as u64 * lot,
                RQty::Down(n) => total.saturating_sub(n as u64 * lot),
                RQty::Filled => filled,
                RQty::OffLot => total + 1,
                RQty::Zero => 0,
            };
            Command::Replace(ReplaceOrder {
                account,
                symbol,
                order_id,
                client_order_id: cid as u64,
                new_price,
                new_qty,
            })
        }
        Abs::MassCancel {
            account,
            symbol,
            disconnect,
        } => Command::MassCancel {
            account: account_id(model, account),
            symbol: symbol.map(|s| symbol_id(model, s)),
            reason: if disconnect {
                CancelReason::Disconnect
            } else {
                CancelReason::MassCancel
            },
        },
        // Switching off prefers what is on, so halts and kills stay short
        // and do not starve the rest of the stream.
        Abs::Kill { account, on } => Command::KillSwitch {
            account: match model.accounts.iter().find(|a| a.killed) {
                Some(a) if !on => a.id,
                _ => account_id(model, account),
            },
            on,
        },
        Abs::Halt { symbol, on } => Command::Halt {
            symbol: match model.symbols.iter().find(|s| s.halted) {
                Some(s) if !on => s.id,
                _ => symbol_id(model, symbol),
            },
            on,
        },
        Abs::SetReference {
            symbol,
            ticks,
            off_tick,
            tiny,
        } => {
            let symbol = symbol_id(model, symbol);
            let price = match model.symbol_index(symbol) {
                Some(si) => {
                    let s = &model.symbols[si];
                    // Drift around the configured 1000 ticks, sometimes
                    // invalid (off tick / non-positive) to be ignored.
                    let base = 1000 * s.tick + ticks as i64 * s.tick;
                    if tiny {
                        (1 + ticks.unsigned_abs() as i64 % 3) * s.tick
                    } else if off_tick {
                        if ticks % 2 == 0 {
                            base + 1
                        } else {
                            -base
                        }
                    } else {
                        base
                    }
                }
                None => 1000,
            };
            Command::SetReferencePrice { symbol, price }
        }
        Abs::EndOfDay => Command::EndOfDay,
    }
}

pub(crate) fn sel() -> impl Strategy<Value = Sel> {
    prop_oneof![60 => any::<u8>().prop_map(Sel::Known), 1 => Just(Sel::Unknown)]
}

pub(crate) fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

pub(crate) fn stp_mode() -> impl Strategy<Value = StpMode> {
    prop_oneof![
        Just(StpMode::CancelResting),
        Just(StpMode::CancelIncoming),
        Just(StpMode::CancelBoth)
    ]
}

pub(crate) fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => (any::<u16>(), prop::bool::weighted(0.08), prop::bool::weighted(0.04)).prop_map(
            |(pick, wrong_account, wrong_symbol)| Target::Live { pick, wrong_account, wrong_symbol }
        ),
        2 => (any::<u16>(), sel(), sel())
            .prop_map(|(pick, account, symbol)| Target::Stale { pick, account, symbol }),
        1 => (any::<u16>(), 0u8..6).prop_map(|(pick, k)| Target::Alias { pick, k }),
    ]
}

pub(crate) fn new_order() -> impl Strategy<Value = Abs> {
    let kind_tif = (
        prop_oneof![7 => Just(OrderKind::Limit), 1 => Just(OrderKind::Market)],
        prop_oneof![
            45 => Just(TimeInForce::Gtc),
            25 => Just(TimeInForce::Day),
            18 => Just(TimeInForce::Ioc),
            12 => Just(TimeInForce::Fok)
        ],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(kind, tif, post_only, fix)| {
            // Mostly valid combinations: market orders IOC/FOK, post-only
            // orders resting limits.
            let tif = match (kind, tif, fix) {
                (OrderKind::Market, TimeInForce::Gtc, true) => TimeInForce::Ioc,
                (OrderKind::Market, TimeInForce::Day, true) => TimeInForce::Fok,
                (OrderKind::Limit, TimeInForce::Ioc | TimeInForce::Fok, true) if post_only => {
                    TimeInForce::Gtc
                }
                (_, tif, _) => tif,
            };
            let post_only = post_only && (kind == OrderKind::Limit || !fix);
            (kind, tif, post_only)
        });
    let price = prop_oneof![
        85 => (-6i8..=6).prop_map(NPrice::Near),
        4 => (-6i8..=6).prop_map(NPrice::OffTick),
        6 => (any::<bool>(), -1i8..=2).prop_map(|(above, ticks)| NPrice::Edge { above, ticks }),
        2 => (0i8..=3).prop_map(NPrice::NonPositive),
    ];
    let qty = prop_oneof![
        80 => (1u8..=8).prop_map(NQty::Lots),
        8 => (10u8..=40).prop_map(NQty::Lots),
        3 => Just(NQty::Zero),
        4 => (0u8..=5).prop_map(NQty::OffLot),
    ];
    (
        (sel(), sel(), 0u16..1000, side()),
        kind_tif,
        prop_oneof![2 => Just(None), 1 => stp_mode().prop_map(Some)],
        price,
        qty,
    )
        .prop_map(
            |((account, symbol, cid, side), (kind, tif, post_only), stp, price, qty)| Abs::New {
                account,
                symbol,
                cid,
                side,
                kind,
                tif,
                post_only,
                stp,
                price,
                qty,
            },
        )
}

/// A valid resting limit order near the reference: the warm-up that gives
/// each case a book to work against.
pub(crate) fn passive_order() -> impl Strategy<Value = Abs> {
    (
        (any::<u8>(), any::<u8>(), 0u16..1000, side()),
        prop_oneof![3 => Just(TimeInForce::Gtc), 2 => Just(TimeInForce::Day)],
        prop_oneof![2 => Just(None), 1 => stp_mode().prop_map(Some)],
        -6i8..=6,
        1u8..=8,
    )
        .prop_map(
            |((account, symbol, cid, side), tif, stp, ticks, lots)| Abs::New {
                account: Sel::Known(account),
                symbol: Sel::Known(symbol),
                cid,
                side,
                kind: OrderKind::Limit,
                tif,
                post_only: false,
                stp,
                price: NPrice::Near(ticks),
                qty: NQty::Lots(lots),
            },
        )
}

/// A command stream of 1..200: a short passive warm-up, then the mix.
pub(crate) fn commands() -> impl Strategy<Value = Vec<Abs>> {
    (
        prop::collection::vec(passive_order(), 0..20),
        prop::collection::vec(command(), 1..max_len() - 20),
    )
        .prop_map(|(mut warmup, rest)| {
            warmup.extend(rest);
            warmup
        })
}

pub(crate) fn command() -> impl Strategy<Value = Abs> {
    let replace_price = prop_oneof![
        35 => Just(RPrice::Same),
        30 => (-5i8..=5).prop_map(RPrice::Ticks),
        20 => (1u8..=6).prop_map(RPrice::Toward),
        5 => Just(RPrice::OffTick),
        6 => (any::<bool>(), -1i8..=1).prop_map(|(above, ticks)| RPrice::Edge(above, ticks)),
        2 => Just(RPrice::Zero),
    ];
    let replace_qty = prop_oneof![
        30 => Just(RQty::Same),
        27 => (1u8..=5).prop_map(RQty::Up),
        3 => (10u8..=40).prop_map(RQty::Up),
        30 => (1u8..=5).prop_map(RQty::Down),
        4 => Just(RQty::Filled),
        3 => Just(RQty::OffLot),
        2 => Just(RQty::Zero),
    ];
    prop_oneof![
        50 => new_order(),
        20 => (target(), 0u16..1000).prop_map(|(target, cid)| Abs::Cancel { target, cid }),
        15 => (target(), 0u16..1000, replace_price, replace_qty)
            .prop_map(|(target, cid, price, qty)| Abs::Replace { target, cid, price, qty }),
        2 => (sel(), prop::option::weighted(0.6, sel()), prop::bool::weighted(0.2)).prop_map(
            |(account, symbol, disconnect)| Abs::MassCancel { account, symbol, disconnect }
        ),
        2 => (sel(), prop::bool::weighted(0.2)).prop_map(|(account, on)| Abs::Kill { account, on }),
        2 => (sel(), prop::bool::weighted(0.2)).prop_map(|(symbol, on)| Abs::Halt { symbol, on }),
        3 => (sel(), -12i8..=12, prop::bool::weighted(0.15), prop::bool::weighted(0.05)).prop_map(
            |(symbol, ticks, off_tick, tiny)| Abs::SetReference { symbol, ticks, off_tick, tiny }
        ),
        2 => Just(Abs::EndOfDay),
    ]
}

pub(crate) fn limits() -> impl Strategy<Value = RiskLimits> {
    prop_oneof![
        2 => Just(RiskLimits::UNLIMITED),
        1 => (
            prop_oneof![Just(40u64), Just(80), Just(1000)],
            prop_oneof![Just(150_000u128), Just(400_000), Just(u128::MAX)],
            prop_oneof![Just(2u32), Just(3), Just(6)],
            prop_oneof![Just(40u64), Just(100), Just(300)],
        )
            .prop_map(|(max_order_qty, max_order_notional, max_open_orders, max_position)| {
                RiskLimits {
                    max_order_qty,
                    max_order_notional,
                    max_open_orders,
                    max_position,
                }
            }),
    ]
}

pub(crate) fn config() -> impl Strategy<Value = EngineConfig> {
    let symbol = (
        prop_oneof![Just(1i64), Just(5)],
        prop_oneof![Just(1u64), Just(10)],
        prop_oneof![
            12 => Just(500u32),
            4 => Just(100),
            4 => Just(2000),
            1 => Just(15_000)
        ],
    );
    let account = (limits(), stp_mode());
    (
        prop::collection::vec(symbol, 2..=3),
        prop::collection::vec(account, 3..=5),
        prop_oneof![Just(8u32), Just(20), Just(1000)],
        prop_oneof![Just(3u32), Just(4), Just(64)],
    )
        .prop_map(
            |(symbols, accounts, order_capacity, max_levels_per_side)| EngineConfig {
                symbols: symbols
                    .into_iter()
                    .enumerate()
                    .map(|(i, (tick, lot, bps))| SymbolSpec {
                        id: SYMBOL_IDS[i],
                        tick_size: tick,
                        lot_size: lot,
                        reference_price: 1000 * tick,
                        price_band_bps: bps,
                    })
                    .collect(),
                accounts: accounts
                    .into_iter()
                    .enumerate()
                    .map(|(i, (limits, default_stp))| AccountSpec {
                        id: ACCOUNT_IDS[i],
                        limits,
                        default_stp,
                    })
                    .collect(),
                order_capacity,
                max_levels_per_side,
            },
        )
}

/// Longest command stream (`ENGINE_MODEL_MAX_LEN`, default 200).
pub(crate) fn max_len() -> usize {
    std::env::var("ENGINE_MODEL_MAX_LEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200usize)
        .max(22)
}
