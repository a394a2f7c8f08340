//! Random order flow for the market-data tests: an engine with two
//! symbols and three accounts, and commands (new, market, cancel, replace,
//! halt, mass cancel, end of day) plus conflation ticks, as proptest
//! strategies.

use proptest::prelude::*;
use tradsys::engine::*;

pub const SYMBOLS: [SymbolId; 2] = [1, 2];
pub const LEVELS: u32 = 40;

pub fn config() -> EngineConfig {
    EngineConfig {
        symbols: SYMBOLS
            .map(|id| SymbolSpec {
                id,
                tick_size: 1,
                lot_size: 1,
                reference_price: 1_000,
                price_band_bps: 5_000,
            })
            .to_vec(),
        accounts: (1..=3)
            .map(|id| AccountSpec {
                id,
                limits: RiskLimits::UNLIMITED,
                default_stp: StpMode::CancelResting,
            })
            .collect(),
        order_capacity: 400,
        max_levels_per_side: LEVELS,
    }
}

#[derive(Clone, Debug)]
pub enum FlowOp {
    New {
        sym: usize,
        account: u32,
        buy: bool,
        offset: i8,
        qty: u8,
        tif: u8,
    },
    Market {
        sym: usize,
        account: u32,
        buy: bool,
        qty: u8,
    },
    Cancel {
        pick: u16,
    },
    Replace {
        pick: u16,
        offset: i8,
        qty: u8,
    },
    Halt {
        sym: usize,
        on: bool,
    },
    MassCancel {
        account: u32,
    },
    EndOfDay,
    Tick,
}

pub fn op() -> impl Strategy<Value = FlowOp> {
    prop_oneof![
        12 => (0..2usize, 1..=3u32, any::<bool>(), -25..=25i8, 1..=20u8, 0..3u8)
            .prop_map(|(sym, account, buy, offset, qty, tif)| FlowOp::New { sym, account, buy, offset, qty, tif }),
        2 => (0..2usize, 1..=3u32, any::<bool>(), 1..=60u8)
            .prop_map(|(sym, account, buy, qty)| FlowOp::Market { sym, account, buy, qty }),
        4 => any::<u16>().prop_map(|pick| FlowOp::Cancel { pick }),
        3 => (any::<u16>(), -25..=25i8, 1..=20u8).prop_map(|(pick, offset, qty)| FlowOp::Replace { pick, offset, qty }),
        1 => (0..2usize, any::<bool>()).prop_map(|(sym, on)| FlowOp::Halt { sym, on }),
        1 => (1..=3u32).prop_map(|account| FlowOp::MassCancel { account }),
        1 => Just(FlowOp::EndOfDay),
        3 => Just(FlowOp::Tick),
    ]
}

pub fn command(op: &FlowOp, orders: &[(OrderId, AccountId, SymbolId)]) -> Option<Command> {
    let new = |sym: usize, account, buy: bool, kind, tif, price, qty| NewOrder {
        account,
        symbol: SYMBOLS[sym],
        client_order_id: 1,
        side: if buy { Side::Buy } else { Side::Sell },
        kind,
        tif,
        post_only: false,
        stp: None,
        price,
        qty,
    };
    let pick = |p: u16| (!orders.is_empty()).then(|| orders[p as usize % orders.len()]);
    Some(match *op {
        FlowOp::New {
            sym,
            account,
            buy,
            offset,
            qty,
            tif,
        } => {
            let tif = [TimeInForce::Gtc, TimeInForce::Day, TimeInForce::Ioc][tif as usize];
            let price = 1_000 + i64::from(offset);
            Command::New(new(
                sym,
                account,
                buy,
                OrderKind::Limit,
                tif,
                price,
                u64::from(qty),
            ))
        }
        FlowOp::Market {
            sym,
            account,
            buy,
            qty,
        } => Command::New(new(
            sym,
            account,
            buy,
            OrderKind::Market,
            TimeInForce::Ioc,
            0,
            u64::from(qty),
        )),
        FlowOp::Cancel { pick: p } => {
            let (order_id, account, symbol) = pick(p)?;
            Command::Cancel(CancelOrder {
                account,
                symbol,
                order_id,
                client_order_id: 2,
            })
        }
        FlowOp::Replace {
            pick: p,
            offset,
            qty,
        } => {
            let (order_id, account, symbol) = pick(p)?;
            Command::Replace(ReplaceOrder {
                account,
                symbol,
                order_id,
                client_order_id: 3,
                new_price: 1_000 + i64::from(offset),
                new_qty: u64::from(qty),
            })
        }
        FlowOp::Halt { sym, on } => Command::Halt {
            symbol: SYMBOLS[sym],
            on,
        },
        FlowOp::MassCancel { account } => Command::MassCancel {
            account,
            symbol: None,
            reason: CancelReason::MassCancel,
        },
        FlowOp::EndOfDay => Command::EndOfDay,
        FlowOp::Tick => return None,
    })
}
