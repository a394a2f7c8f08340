//! A small engine setup shared by the engine tests: two symbols, three
//! accounts, unlimited risk unless a test tightens it.

#![allow(dead_code)]

use tradsys::engine::*;

pub const SYM: SymbolId = 7;
/// Tick 5, lot 10: for tick and lot rejects.
pub const COARSE: SymbolId = 9;
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CAROL: AccountId = 3;

pub fn config() -> EngineConfig {
    EngineConfig {
        symbols: vec![
            SymbolSpec {
                id: SYM,
                tick_size: 1,
                lot_size: 1,
                reference_price: 1_000,
                price_band_bps: 1_000,
            },
            SymbolSpec {
                id: COARSE,
                tick_size: 5,
                lot_size: 10,
                reference_price: 1_000,
                price_band_bps: 1_000,
            },
        ],
        accounts: [ALICE, BOB, CAROL]
            .into_iter()
            .map(|id| AccountSpec {
                id,
                limits: RiskLimits::UNLIMITED,
                default_stp: StpMode::CancelResting,
            })
            .collect(),
        order_capacity: 64,
        max_levels_per_side: 8,
    }
}

pub struct Harness {
    pub engine: Engine,
    next_client_id: u64,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(config())
    }

    pub fn with(config: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(&config),
            next_client_id: 100,
        }
    }

    pub fn run(&mut self, command: Command) -> Vec<Event> {
        let mut events = Vec::new();
        self.engine.process(&command, &mut events);
        self.engine.check_invariants();
        events
    }

    pub fn order(&mut self, account: AccountId, side: Side, price: Price, qty: Qty) -> NewOrder {
        self.next_client_id += 1;
        NewOrder {
            account,
            symbol: SYM,
            client_order_id: self.next_client_id,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price,
            qty,
        }
    }

    pub fn submit(&mut self, order: NewOrder) -> Vec<Event> {
        self.run(Command::New(order))
    }

    /// Places a resting limit order and returns its id.
    pub fn rest(&mut self, account: AccountId, side: Side, price: Price, qty: Qty) -> OrderId {
        let order = self.order(account, side, price, qty);
        let events = self.submit(order);
        accepted_id(&events)
    }

    pub fn cancel(&mut self, account: AccountId, order_id: OrderId) -> Vec<Event> {
        self.next_client_id += 1;
        self.run(Command::Cancel(CancelOrder {
            account,
            symbol: SYM,
            order_id,
            client_order_id: self.next_client_id,
        }))
    }

    pub fn replace(
        &mut self,
        account: AccountId,
        order_id: OrderId,
        price: Price,
        qty: Qty,
    ) -> Vec<Event> {
        self.next_client_id += 1;
        self.run(Command::Replace(ReplaceOrder {
            account,
            symbol: SYM,
            order_id,
            client_order_id: self.next_client_id,
            new_price: price,
            new_qty: qty,
        }))
    }

    pub fn queue(&self, side: Side, price: Price) -> Vec<OrderId> {
        self.engine.level_orders(SYM, side, price).collect()
    }
}

pub fn accepted_id(events: &[Event]) -> OrderId {
    match events.first() {
        Some(Event::Accepted { order_id, .. }) => *order_id,
        other => panic!("expected Accepted first, got {other:?} in {events:?}"),
    }
}

pub fn rejected(events: &[Event]) -> RejectReason {
    match events {
        [Event::Rejected { reason, .. }] => *reason,
        [Event::CancelRejected { reason, .. }] => *reason,
        other => panic!("expected exactly one reject, got {other:?}"),
    }
}

pub fn fills(events: &[Event]) -> Vec<(OrderId, Price, Qty, Qty, Liquidity)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Fill {
                order_id,
                price,
                qty,
                leaves_qty,
                liquidity,
                ..
            } => Some((order_id, price, qty, leaves_qty, liquidity)),
            _ => None,
        })
        .collect()
}

pub fn cancels(events: &[Event]) -> Vec<(OrderId, Qty, CancelReason)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Canceled {
                order_id,
                canceled_qty,
                reason,
                ..
            } => Some((order_id, canceled_qty, reason)),
            _ => None,
        })
        .collect()
}
