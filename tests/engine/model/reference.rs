//! The reference model: a deliberately naive re-implementation of the
//! engine's documented contract (see `src/engine/matcher.rs`,
//! `operator.rs`, `risk.rs`, `config.rs` and `docs/PROTOCOL.md` section 11).
//!
//! Each side of each book is a plain `Vec` of orders, re-sorted by (price
//! priority, arrival sequence) after every insertion; order lookup, level
//! aggregates, open exposure and capacities are linear scans. Nothing here
//! calls engine code except the shared vocabulary types.

use std::collections::BTreeMap;

use tradsys::engine::*;

#[derive(Clone, Debug)]
pub(crate) struct MOrder {
    pub(crate) order_id: OrderId,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) account: AccountId,
    pub(crate) side: Side,
    pub(crate) price: Price,
    pub(crate) leaves: Qty,
    pub(crate) filled: Qty,
    pub(crate) post_only: bool,
    pub(crate) day: bool,
    pub(crate) stp: StpMode,
    /// Arrival sequence on the book (a new value whenever it loses priority).
    pub(crate) seq: u64,
}

/// One side of a book: every resting order, best first, time priority within
/// a price.
#[derive(Clone, Debug, Default)]
pub(crate) struct MSide {
    pub(crate) orders: Vec<MOrder>,
}

impl MSide {
    pub(crate) fn sort(&mut self, side: Side) {
        self.orders.sort_by(|a, b| {
            let by_price = match side {
                Side::Buy => b.price.cmp(&a.price),
                Side::Sell => a.price.cmp(&b.price),
            };
            by_price.then(a.seq.cmp(&b.seq))
        });
    }

    pub(crate) fn insert(&mut self, side: Side, order: MOrder) {
        self.orders.push(order);
        self.sort(side);
    }

    pub(crate) fn position_of(&self, order_id: OrderId) -> Option<usize> {
        self.orders.iter().position(|o| o.order_id == order_id)
    }

    pub(crate) fn remove(&mut self, order_id: OrderId) -> MOrder {
        let i = self.position_of(order_id).expect("model: order on side");
        self.orders.remove(i)
    }

    /// (total leaves, order count) at `price`; (0, 0) when no order is there.
    pub(crate) fn level(&self, price: Price) -> (Qty, u32) {
        let mut qty = 0;
        let mut count = 0;
        for o in &self.orders {
            if o.price == price {
                qty += o.leaves;
                count += 1;
            }
        }
        (qty, count)
    }

    /// Distinct prices, best first.
    pub(crate) fn prices(&self) -> Vec<Price> {
        let mut prices: Vec<Price> = Vec::new();
        for o in &self.orders {
            if !prices.contains(&o.price) {
                prices.push(o.price);
            }
        }
        prices
    }

    pub(crate) fn ids_at(&self, price: Price) -> Vec<OrderId> {
        self.orders
            .iter()
            .filter(|o| o.price == price)
            .map(|o| o.order_id)
            .collect()
    }

    pub(crate) fn best_price(&self) -> Option<Price> {
        self.orders.first().map(|o| o.price)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct MBook {
    pub(crate) bids: MSide,
    pub(crate) asks: MSide,
}

impl MBook {
    pub(crate) fn side(&self, side: Side) -> &MSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub(crate) fn side_mut(&mut self, side: Side) -> &mut MSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct MSymbol {
    pub(crate) id: SymbolId,
    pub(crate) tick: Price,
    pub(crate) lot: Qty,
    pub(crate) reference: Price,
    pub(crate) band_bps: u32,
    pub(crate) halted: bool,
}

impl MSymbol {
    /// Band around the reference: low clamped to at least one tick and
    /// rounded up to the tick, high rounded down to the tick, never below low.
    pub(crate) fn band(&self) -> (Price, Price) {
        let width = (self.reference as i128 * self.band_bps as i128 / 10_000) as i64;
        let mut low = (self.reference - width).max(self.tick);
        while low % self.tick != 0 {
            low += 1;
        }
        let mut high = self.reference + width;
        while high % self.tick != 0 {
            high -= 1;
        }
        (low, high.max(low))
    }
}

#[derive(Clone, Debug)]
pub(crate) struct MAccount {
    pub(crate) id: AccountId,
    pub(crate) limits: RiskLimits,
    pub(crate) default_stp: StpMode,
    pub(crate) killed: bool,
}

/// Average-cost position of one (account, symbol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MPos {
    pub(crate) position: i64,
    /// Sum of price * signed qty of the open position.
    pub(crate) cost: i128,
    pub(crate) realized: i128,
}

impl MPos {
    pub(crate) fn fill(&mut self, side: Side, price: Price, qty: Qty) {
        let signed: i128 = match side {
            Side::Buy => qty as i128,
            Side::Sell => -(qty as i128),
        };
        let pos = self.position as i128;
        if pos == 0 || (pos > 0) == (signed > 0) {
            // Opening or adding: cost grows at this price.
            self.cost += price as i128 * signed;
            self.position = (pos + signed) as i64;
            return;
        }
        // Closing (maybe through zero): the closed part realizes against the
        // average cost, truncated toward zero.
        let closing = signed.abs().min(pos.abs());
        let cost_closed = self.cost * closing / pos.abs();
        let proceeds = price as i128 * closing * pos.signum();
        self.realized += proceeds - cost_closed;
        self.cost -= cost_closed;
        let new_pos = pos + signed;
        self.position = new_pos as i64;
        if new_pos != 0 && (new_pos > 0) == (signed > 0) {
            // Flipped: what is left opens at this price.
            self.cost = price as i128 * new_pos;
        }
    }
}

/// An order while it trades.
#[derive(Clone)]
pub(crate) struct MIncoming {
    pub(crate) order_id: OrderId,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) account: AccountId,
    pub(crate) side: Side,
    pub(crate) limit: Price,
    pub(crate) leaves: Qty,
    pub(crate) stp: StpMode,
}

pub(crate) fn crosses(side: Side, limit: Price, resting: Price) -> bool {
    match side {
        Side::Buy => limit >= resting,
        Side::Sell => limit <= resting,
    }
}

pub(crate) fn sign(side: Side) -> i64 {
    match side {
        Side::Buy => 1,
        Side::Sell => -1,
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) symbols: Vec<MSymbol>,
    pub(crate) books: Vec<MBook>,
    pub(crate) accounts: Vec<MAccount>,
    pub(crate) positions: BTreeMap<(AccountId, SymbolId), MPos>,
    pub(crate) order_capacity: usize,
    pub(crate) max_levels: usize,
    pub(crate) next_order_id: OrderId,
    pub(crate) next_exec_id: u64,
    pub(crate) next_seq: u64,
}

impl Model {
    pub(crate) fn new(config: &EngineConfig) -> Model {
        Model {
            symbols: config
                .symbols
                .iter()
                .map(|s| MSymbol {
                    id: s.id,
                    tick: s.tick_size,
                    lot: s.lot_size,
                    reference: s.reference_price,
                    band_bps: s.price_band_bps,
                    halted: false,
                })
                .collect(),
            books: config.symbols.iter().map(|_| MBook::default()).collect(),
            accounts: config
                .accounts
                .iter()
                .map(|a| MAccount {
                    id: a.id,
                    limits: a.limits,
                    default_stp: a.default_stp,
                    killed: false,
                })
                .collect(),
            positions: BTreeMap::new(),
            order_capacity: config.order_capacity as usize,
            max_levels: config.max_levels_per_side as usize,
            next_order_id: 1,
            next_exec_id: 1,
            next_seq: 0,
        }
    }

    pub(crate) fn symbol_index(&self, id: SymbolId) -> Option<usize> {
        self.symbols.iter().position(|s| s.id == id)
    }

    pub(crate) fn account_index(&self, id: AccountId) -> Option<usize> {
        self.accounts.iter().position(|a| a.id == id)
    }

    pub(crate) fn resting_count(&self) -> usize {
        self.books
            .iter()
            .map(|b| b.bids.orders.len() + b.asks.orders.len())
            .sum()
    }

    /// Every resting order with its symbol index, by order id.
    pub(crate) fn all_resting(&self) -> Vec<(usize, MOrder)> {
        let mut all = Vec::new();
        for (si, book) in self.books.iter().enumerate() {
            for side in [Side::Buy, Side::Sell] {
                for o in &book.side(side).orders {
                    all.push((si, o.clone()));
                }
            }
        }
        all.sort_by_key(|(_, o)| o.order_id);
        all
    }

    /// (open orders, open buy qty, open sell qty) of an account on a symbol.
    pub(crate) fn open(&self, account: AccountId, si: usize) -> (u32, Qty, Qty) {
        let mut count = 0;
        let mut buy = 0;
        let mut sell = 0;
        for side in [Side::Buy, Side::Sell] {
            for o in &self.books[si].side(side).orders {
                if o.account == account {
                    count += 1;
                    match side {
                        Side::Buy => buy += o.leaves,
                        Side::Sell => sell += o.leaves,
                    }
                }
            }
        }
        (count, buy, sell)
    }

    pub(crate) fn pos(&self, account: AccountId, symbol: SymbolId) -> MPos {
        self.positions
            .get(&(account, symbol))
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn find_owned(
        &self,
        si: usize,
        account: AccountId,
        order_id: OrderId,
    ) -> Option<MOrder> {
        for side in [Side::Buy, Side::Sell] {
            for o in &self.books[si].side(side).orders {
                if o.order_id == order_id && o.account == account {
                    return Some(o.clone());
                }
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn risk_check(
        &self,
        ai: usize,
        si: usize,
        side: Side,
        order_qty: Qty,
        added: i128,
        notional_price: Price,
        new_resting: bool,
    ) -> Result<(), RejectReason> {
        let account = &self.accounts[ai];
        let limits = account.limits;
        if order_qty > limits.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        if notional_price as u128 * order_qty as u128 > limits.max_order_notional {
            return Err(RejectReason::MaxOrderNotional);
        }
        let (open_orders, open_buy, open_sell) = self.open(account.id, si);
        if new_resting && open_orders >= limits.max_open_orders {
            return Err(RejectReason::MaxOpenOrders);
        }
        if added > 0 {
            let position = self.pos(account.id, self.symbols[si].id).position as i128;
            let worst = match side {
                Side::Buy => position + open_buy as i128 + added,
                Side::Sell => position - open_sell as i128 - added,
            };
            if worst.unsigned_abs() > limits.max_position as u128 {
                return Err(RejectReason::MaxPosition);
            }
        }
        Ok(())
    }

    pub(crate) fn level_event(&self, si: usize, side: Side, price: Price) -> Event {
        let (qty, order_count) = self.books[si].side(side).level(price);
        Event::BookLevel {
            symbol: self.symbols[si].id,
            side,
            price,
            qty,
            order_count,
        }
    }

    pub(crate) fn process(&mut self, command: &Command) -> Vec<Event> {
        let mut ev = Vec::new();
        match *command {
            Command::New(ref o) => self.new_order(o, &mut ev),
            Command::Cancel(ref c) => self.cancel(c, &mut ev),
            Command::Replace(ref r) => self.replace(r, &mut ev),
            Command::MassCancel {
                account,
                symbol,
                reason,
            } => {
                let n = self.cancel_all(account, symbol, reason, &mut ev);
                ev.push(Event::MassCancelDone {
                    account,
                    symbol: symbol.unwrap_or(0),
                    canceled_count: n,
                });
            }
            Command::KillSwitch { account, on } => {
                if let Some(ai) = self.account_index(account) {
                    self.accounts[ai].killed = on;
                    ev.push(Event::KillSwitchSet { account, on });
                    if on {
                        self.cancel_all(account, None, CancelReason::KillSwitch, &mut ev);
                    }
                }
            }
            Command::Halt { symbol, on } => {
                if let Some(si) = self.symbol_index(symbol) {
                    self.symbols[si].halted = on;
                    ev.push(Event::HaltSet { symbol, on });
                }
            }
            Command::SetReferencePrice { symbol, price } => {
                if let Some(si) = self.symbol_index(symbol) {
                    if price > 0 && price % self.symbols[si].tick == 0 {
                        self.symbols[si].reference = price;
                        ev.push(Event::ReferencePriceSet { symbol, price });
                    }
                }
            }
            Command::EndOfDay => self.end_of_day(&mut ev),
        }
        ev
    }

    pub(crate) fn validate_new(&self, o: &NewOrder) -> Result<(usize, usize), RejectReason> {
        let si = self
            .symbol_index(o.symbol)
            .ok_or(RejectReason::UnknownSymbol)?;
        let ai = self
            .account_index(o.account)
            .ok_or(RejectReason::UnknownAccount)?;
        let sym = &self.symbols[si];
        if o.qty == 0 {
            return Err(RejectReason::InvalidQty);
        }
        if !o.qty.is_multiple_of(sym.lot) {
            return Err(RejectReason::QtyNotOnLot);
        }
        let limit = o.kind == OrderKind::Limit;
        if limit && o.price <= 0 {
            return Err(RejectReason::InvalidPrice);
        }
        if limit && o.price % sym.tick != 0 {
            return Err(RejectReason::PriceNotOnTick);
        }
        let rests = matches!(o.tif, TimeInForce::Gtc | TimeInForce::Day);
        if o.kind == OrderKind::Market && rests {
            return Err(RejectReason::InvalidCombination);
        }
        if o.post_only && !(limit && rests) {
            return Err(RejectReason::InvalidCombination);
        }
        if sym.halted {
            return Err(RejectReason::SymbolHalted);
        }
        if self.accounts[ai].killed {
            return Err(RejectReason::AccountKilled);
        }
        let (band_low, band_high) = sym.band();
        if limit && (o.price < band_low || o.price > band_high) {
            return Err(RejectReason::PriceBand);
        }
        let notional_price = if limit { o.price } else { band_high };
        self.risk_check(ai, si, o.side, o.qty, o.qty as i128, notional_price, rests)?;
        if rests {
            if self.resting_count() >= self.order_capacity {
                return Err(RejectReason::OrderCapacity);
            }
            let prices = self.books[si].side(o.side).prices();
            if !prices.contains(&o.price) && prices.len() >= self.max_levels {
                return Err(RejectReason::BookLevelCapacity);
            }
        }
        if o.post_only {
            if let Some(best) = self.books[si].side(o.side.opposite()).best_price() {
                if crosses(o.side, o.price, best) {
                    return Err(RejectReason::WouldCrossPostOnly);
                }
            }
        }
        Ok((si, ai))
    }

    pub(crate) fn new_order(&mut self, o: &NewOrder, ev: &mut Vec<Event>) {
        let (si, ai) = match self.validate_new(o) {
            Ok(x) => x,
            Err(reason) => {
                ev.push(Event::Rejected {
                    account: o.account,
                    symbol: o.symbol,
                    client_order_id: o.client_order_id,
                    reason,
                });
                return;
            }
        };
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        ev.push(Event::Accepted {
            order_id,
            account: o.account,
            symbol: o.symbol,
            client_order_id: o.client_order_id,
            side: o.side,
            kind: o.kind,
            tif: o.tif,
            price: o.price,
            qty: o.qty,
        });
        let (band_low, band_high) = self.symbols[si].band();
        let limit = match (o.kind, o.side) {
            (OrderKind::Limit, _) => o.price,
            (OrderKind::Market, Side::Buy) => band_high,
            (OrderKind::Market, Side::Sell) => band_low,
        };
        let mut inc = MIncoming {
            order_id,
            client_order_id: o.client_order_id,
            account: o.account,
            side: o.side,
            limit,
            leaves: o.qty,
            stp: o.stp.unwrap_or(self.accounts[ai].default_stp),
        };
        let canceled = |inc: &MIncoming, reason| Event::Canceled {
            order_id,
            account: o.account,
            symbol: o.symbol,
            client_order_id: o.client_order_id,
            canceled_qty: inc.leaves,
            reason,
        };
        if o.tif == TimeInForce::Fok {
            // Fill or kill: a dry run on a copy of the whole model must fill
            // the order completely, otherwise nothing happens at all.
            let mut trial = self.clone();
            let mut trial_inc = inc.clone();
            trial.match_incoming(si, &mut trial_inc, &mut Vec::new());
            if trial_inc.leaves > 0 {
                ev.push(canceled(&inc, CancelReason::FillOrKill));
                return;
            }
        }
        let stopped = self.match_incoming(si, &mut inc, ev);
        if inc.leaves == 0 {
            return;
        }
        if stopped {
            ev.push(canceled(&inc, CancelReason::SelfTrade));
        } else if matches!(o.tif, TimeInForce::Gtc | TimeInForce::Day) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.books[si].side_mut(o.side).insert(
                o.side,
                MOrder {
                    order_id,
                    client_order_id: o.client_order_id,
                    account: o.account,
                    side: o.side,
                    price: o.price,
                    leaves: inc.leaves,
                    filled: o.qty - inc.leaves,
                    post_only: o.post_only,
                    day: o.tif == TimeInForce::Day,
                    stp: inc.stp,
                    seq,
                },
            );
            ev.push(self.level_event(si, o.side, o.price));
        } else {
            ev.push(canceled(&inc, CancelReason::ImmediateRemainder));
        }
    }

    /// Trades `inc` against the opposite side, best level first, time
    /// priority within a level. Returns true when self-trade prevention
    /// stopped the incoming order.
    pub(crate) fn match_incoming(
        &mut self,
        si: usize,
        inc: &mut MIncoming,
        ev: &mut Vec<Event>,
    ) -> bool {
        let symbol = self.symbols[si].id;
        let opposite = inc.side.opposite();
        loop {
            if inc.leaves == 0 {
                return false;
            }
            let Some(level_price) = self.books[si].side(opposite).best_price() else {
                return false;
            };
            if !crosses(inc.side, inc.limit, level_price) {
                return false;
            }
            let mut stopped = false;
            for resting_id in self.books[si].side(opposite).ids_at(level_price) {
                if inc.leaves == 0 {
                    break;
                }
                let opp = self.books[si].side_mut(opposite);
                let i = opp.position_of(resting_id).unwrap();
                let resting = opp.orders[i].clone();
                if resting.account == inc.account {
                    let cancel_resting = match inc.stp {
                        StpMode::CancelResting | StpMode::CancelBoth => true,
                        StpMode::CancelIncoming => false,
                    };
                    if cancel_resting {
                        opp.remove(resting_id);
                        ev.push(Event::Canceled {
                            order_id: resting.order_id,
                            account: resting.account,
                            symbol,
                            client_order_id: resting.client_order_id,
                            canceled_qty: resting.leaves,
                            reason: CancelReason::SelfTrade,
                        });
                    }
                    if inc.stp == StpMode::CancelResting {
                        continue;
                    }
                    stopped = true;
                    break;
                }
                let qty = inc.leaves.min(resting.leaves);
                let exec_id = self.next_exec_id;
                self.next_exec_id += 1;
                inc.leaves -= qty;
                let resting_leaves = resting.leaves - qty;
                if resting_leaves == 0 {
                    opp.remove(resting_id);
                } else {
                    opp.orders[i].leaves = resting_leaves;
                    opp.orders[i].filled += qty;
                }
                self.positions
                    .entry((inc.account, symbol))
                    .or_default()
                    .fill(inc.side, level_price, qty);
                self.positions
                    .entry((resting.account, symbol))
                    .or_default()
                    .fill(resting.side, level_price, qty);
                ev.push(Event::Fill {
                    exec_id,
                    order_id: inc.order_id,
                    account: inc.account,
                    symbol,
                    client_order_id: inc.client_order_id,
                    side: inc.side,
                    price: level_price,
                    qty,
                    leaves_qty: inc.leaves,
                    liquidity: Liquidity::Aggressor,
                });
                ev.push(Event::Fill {
                    exec_id,
                    order_id: resting.order_id,
                    account: resting.account,
                    symbol,
                    client_order_id: resting.client_order_id,
                    side: resting.side,
                    price: level_price,
                    qty,
                    leaves_qty: resting_leaves,
                    liquidity: Liquidity::Passive,
                });
                ev.push(Event::Trade {
                    exec_id,
                    symbol,
                    price: level_price,
                    qty,
                    aggressor_side: inc.side,
                });
            }
            ev.push(self.level_event(si, opposite, level_price));
            if stopped {
                return true;
            }
        }
    }

    /// (symbol index, order) of `account`'s resting `order_id` on `symbol`.
    pub(crate) fn owned(
        &self,
        account: AccountId,
        symbol: SymbolId,
        order_id: OrderId,
    ) -> Result<(usize, MOrder), RejectReason> {
        let si = self
            .symbol_index(symbol)
            .ok_or(RejectReason::UnknownSymbol)?;
        self.account_index(account)
            .ok_or(RejectReason::UnknownAccount)?;
        let order = self
            .find_owned(si, account, order_id)
            .ok_or(RejectReason::UnknownOrder)?;
        Ok((si, order))
    }

    pub(crate) fn cancel(&mut self, c: &CancelOrder, ev: &mut Vec<Event>) {
        match self.owned(c.account, c.symbol, c.order_id) {
            Ok((si, order)) => self.cancel_and_publish(si, &order, CancelReason::Requested, ev),
            Err(reason) => ev.push(Event::CancelRejected {
                order_id: c.order_id,
                account: c.account,
                symbol: c.symbol,
                client_order_id: c.client_order_id,
                reason,
            }),
        }
    }

    pub(crate) fn cancel_and_publish(
        &mut self,
        si: usize,
        order: &MOrder,
        reason: CancelReason,
        ev: &mut Vec<Event>,
    ) {
        self.books[si].side_mut(order.side).remove(order.order_id);
        ev.push(Event::Canceled {
            order_id: order.order_id,
            account: order.account,
            symbol: self.symbols[si].id,
            client_order_id: order.client_order_id,
            canceled_qty: order.leaves,
            reason,
        });
        ev.push(self.level_event(si, order.side, order.price));
    }

    /// Cancels every resting order of `account` (one symbol or all, symbols
    /// in config order, orders in acceptance order); returns how many.
    pub(crate) fn cancel_all(
        &mut self,
        account: AccountId,
        symbol: Option<SymbolId>,
        reason: CancelReason,
        ev: &mut Vec<Event>,
    ) -> u32 {
        if self.account_index(account).is_none() {
            return 0;
        }
        let symbol_indices: Vec<usize> = match symbol {
            None => (0..self.symbols.len()).collect(),
            Some(id) => match self.symbol_index(id) {
                Some(si) => vec![si],
                None => return 0,
            },
        };
        let mut n = 0;
        for si in symbol_indices {
            let mut mine: Vec<MOrder> = Vec::new();
            for side in [Side::Buy, Side::Sell] {
                for o in &self.books[si].side(side).orders {
                    if o.account == account {
                        mine.push(o.clone());
                    }
                }
            }
            mine.sort_by_key(|o| o.order_id);
            for o in &mine {
                self.cancel_and_publish(si, o, reason, ev);
                n += 1;
            }
        }
        n
    }

    pub(crate) fn end_of_day(&mut self, ev: &mut Vec<Event>) {
        for si in 0..self.symbols.len() {
            for side in [Side::Buy, Side::Sell] {
                for price in self.books[si].side(side).prices() {
                    let mut expired_any = false;
                    for id in self.books[si].side(side).ids_at(price) {
                        let book_side = self.books[si].side_mut(side);
                        let o = book_side.orders[book_side.position_of(id).unwrap()].clone();
                        if o.day {
                            book_side.remove(id);
                            ev.push(Event::Canceled {
                                order_id: o.order_id,
                                account: o.account,
                                symbol: self.symbols[si].id,
                                client_order_id: o.client_order_id,
                                canceled_qty: o.leaves,
                                reason: CancelReason::Expired,
                            });
                            expired_any = true;
                        }
                    }
                    if expired_any {
                        ev.push(self.level_event(si, side, price));
                    }
                }
            }
        }
    }

    pub(crate) fn validate_replace(
        &self,
        r: &ReplaceOrder,
    ) -> Result<(usize, MOrder), RejectReason> {
        let (si, order) = self.owned(r.account, r.symbol, r.order_id)?;
        let ai = self.account_index(r.account).unwrap();
        let sym = &self.symbols[si];
        if sym.halted {
            return Err(RejectReason::SymbolHalted);
        }
        if self.accounts[ai].killed {
            return Err(RejectReason::AccountKilled);
        }
        if r.new_qty == 0 {
            return Err(RejectReason::InvalidQty);
        }
        if !r.new_qty.is_multiple_of(sym.lot) {
            return Err(RejectReason::QtyNotOnLot);
        }
        if r.new_price <= 0 {
            return Err(RejectReason::InvalidPrice);
        }
        if r.new_price % sym.tick != 0 {
            return Err(RejectReason::PriceNotOnTick);
        }
        let (band_low, band_high) = sym.band();
        if r.new_price < band_low || r.new_price > band_high {
            return Err(RejectReason::PriceBand);
        }
        if r.new_qty <= order.filled {
            return Err(RejectReason::ReplaceBelowFilled);
        }
        let price_changes = r.new_price != order.price;
        if !price_changes && r.new_qty == order.filled + order.leaves {
            return Err(RejectReason::ReplaceNoChange);
        }
        let new_leaves = r.new_qty - order.filled;
        self.risk_check(
            ai,
            si,
            order.side,
            r.new_qty,
            new_leaves as i128 - order.leaves as i128,
            r.new_price,
            false,
        )?;
        if price_changes {
            // Level count as if the order had already left its level.
            let mut without = self.books[si].side(order.side).clone();
            without.remove(order.order_id);
            let prices = without.prices();
            if !prices.contains(&r.new_price) && prices.len() >= self.max_levels {
                return Err(RejectReason::BookLevelCapacity);
            }
            if order.post_only {
                if let Some(best) = self.books[si].side(order.side.opposite()).best_price() {
                    if crosses(order.side, r.new_price, best) {
                        return Err(RejectReason::WouldCrossPostOnly);
                    }
                }
            }
        }
        Ok((si, order))
    }

    pub(crate) fn replace(&mut self, r: &ReplaceOrder, ev: &mut Vec<Event>) {
        let (si, old) = match self.validate_replace(r) {
            Ok(x) => x,
            Err(reason) => {
                ev.push(Event::CancelRejected {
                    order_id: r.order_id,
                    account: r.account,
                    symbol: r.symbol,
                    client_order_id: r.client_order_id,
                    reason,
                });
                return;
            }
        };
        let new_leaves = r.new_qty - old.filled;
        let kept = r.new_price == old.price && new_leaves < old.leaves;
        ev.push(Event::Replaced {
            order_id: old.order_id,
            account: old.account,
            symbol: r.symbol,
            client_order_id: r.client_order_id,
            price: r.new_price,
            qty: r.new_qty,
            leaves_qty: new_leaves,
            kept_priority: kept,
        });
        let own = self.books[si].side_mut(old.side);
        if kept {
            let i = own.position_of(old.order_id).unwrap();
            own.orders[i].leaves = new_leaves;
            own.orders[i].client_order_id = r.client_order_id;
            ev.push(self.level_event(si, old.side, old.price));
            return;
        }
        own.remove(old.order_id);
        if r.new_price != old.price {
            ev.push(self.level_event(si, old.side, old.price));
        }
        let mut inc = MIncoming {
            order_id: old.order_id,
            client_order_id: r.client_order_id,
            account: old.account,
            side: old.side,
            limit: r.new_price,
            leaves: new_leaves,
            stp: old.stp,
        };
        let stopped = self.match_incoming(si, &mut inc, ev);
        if inc.leaves == 0 {
            return;
        }
        if stopped {
            ev.push(Event::Canceled {
                order_id: old.order_id,
                account: old.account,
                symbol: r.symbol,
                client_order_id: r.client_order_id,
                canceled_qty: inc.leaves,
                reason: CancelReason::SelfTrade,
            });
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.books[si].side_mut(old.side).insert(
            old.side,
            MOrder {
                client_order_id: r.client_order_id,
                price: r.new_price,
                leaves: inc.leaves,
                filled: r.new_qty - inc.leaves,
                seq,
                ..old
            },
        );
        ev.push(self.level_event(si, old.side, r.new_price));
    }

    /// The model's own consistency: sides sorted by priority, nothing
    /// empty resting, books not crossed, levels within capacity.
    pub(crate) fn check_own_invariants(&self) -> Result<(), String> {
        if self.resting_count() > self.order_capacity {
            return Err("model: more resting orders than capacity".into());
        }
        for (si, book) in self.books.iter().enumerate() {
            for side in [Side::Buy, Side::Sell] {
                let s = book.side(side);
                let mut sorted = s.clone();
                sorted.sort(side);
                let ids: Vec<_> = s.orders.iter().map(|o| o.order_id).collect();
                let sorted_ids: Vec<_> = sorted.orders.iter().map(|o| o.order_id).collect();
                if ids != sorted_ids {
                    return Err(format!("model: side {side:?} of book {si} not in priority"));
                }
                if s.orders.iter().any(|o| o.leaves == 0 || o.side != side) {
                    return Err(format!("model: bad resting order on book {si}"));
                }
                if s.prices().len() > self.max_levels {
                    return Err(format!("model: too many levels on book {si}"));
                }
            }
            if let (Some(bid), Some(ask)) = (book.bids.best_price(), book.asks.best_price()) {
                if bid >= ask {
                    return Err(format!("model: book {si} crossed at rest {bid} >= {ask}"));
                }
            }
        }
        for p in self.positions.values() {
            if p.position == 0 && p.cost != 0 {
                return Err(format!("model: flat position with cost {p:?}"));
            }
        }
        Ok(())
    }
}
