//! The engine proper: validation, risk, matching and the resting-order
//! bookkeeping for new orders, cancels and replaces.
//!
//! Event order is part of the contract (the reference model in
//! `tests/engine/model.rs` reproduces it exactly):
//! - new order: `Accepted`, then for each resting order met in price-time
//!   order either `Fill` (aggressor) + `Fill` (passive) + `Trade`, or a
//!   self-trade `Canceled`; a `BookLevel` for each opposite level when
//!   matching leaves it; finally the remainder: `BookLevel` of the own side
//!   when it rests, or `Canceled` (immediate remainder / self-trade).
//! - rejects emit exactly one `Rejected` / `CancelRejected` and change nothing.
//!
//! The checks in the functions on the per-command path are
//! `debug_assert!`, for what they measured in release builds (see
//! "Assertions" in `engine/mod.rs`).

use super::account_links::AccountLinks;
use super::book::{crosses, Book, Level};
use super::client_index::{ClientIndex, INDEXED_FROM};
use super::config::{band_around, AccountSpec, EngineConfig, SymbolSpec};
use super::divisor::Divisor;
use super::done_orders::{DoneOrders, Finished};
use super::event::{Event, EventSink};
use super::id_index::IdIndex;
use super::order_index::OrderIndex;
use super::report_seq::{Numbered, ReportNumbers};
use super::risk::Exposure;
use super::slab::{stp_flags, OrderNode, OrderSlab, Slot, FLAG_DAY, FLAG_POST_ONLY, NIL};
use super::types::*;
use super::{CancelOrder, Command, NewOrder, ReplaceOrder};

pub(crate) struct SymbolState {
    /// The config's spec, except `reference_price`: that is the live
    /// reference, which `SetReferencePrice` moves.
    pub spec: SymbolSpec,
    /// The `reference_price` of the config in force (see
    /// [`Engine::reconfigure`](super::Engine::reconfigure): a new config
    /// moves the live reference only if it changes this).
    pub config_reference_price: Price,
    pub band_low: Price,
    pub band_high: Price,
    pub halted: bool,
    /// `spec.tick_size` and `spec.lot_size`, prepared for the checks of
    /// every new order and replace (`divisor.rs`); `set_spec` keeps them.
    pub tick: Divisor,
    pub lot: Divisor,
}

impl SymbolState {
    /// Takes `spec` as the symbol's spec, with its tick and lot divisors.
    pub fn set_spec(&mut self, spec: SymbolSpec) {
        self.tick = Divisor::new(spec.tick_size as u64);
        self.lot = Divisor::new(spec.lot_size);
        self.spec = spec;
        debug_assert_eq!(self.tick.value(), self.spec.tick_size as u64);
    }
}

pub(crate) struct AccountState {
    pub spec: AccountSpec,
    pub killed: bool,
}

/// One order while it trades: a new order before it rests, or a replaced
/// order that lost its place and re-enters.
struct Incoming {
    order_id: OrderId,
    client_order_id: ClientOrderId,
    account: AccountId,
    owner: u32,
    book: u16,
    side: Side,
    limit: Price,
    leaves_qty: Qty,
    stp: StpMode,
    /// Quantity it traded so far, and price x quantity of those fills (a
    /// replaced order's earlier fills included): what its done order says.
    filled: Qty,
    notional: u128,
}

impl Incoming {
    /// The order as a done order: completely filled (`reason` `None`, no
    /// quantity left), or its rest canceled for `reason`.
    #[inline]
    fn finished(&self, reason: Option<CancelReason>) -> Finished {
        debug_assert_eq!(reason.is_none(), self.leaves_qty == 0);
        Finished {
            owner: self.owner,
            order_id: self.order_id,
            client_order_id: self.client_order_id,
            side: self.side,
            reason,
            filled_qty: self.filled,
            canceled_qty: self.leaves_qty,
            notional: self.notional,
        }
    }
}

enum MatchEnd {
    /// Filled completely or nothing left that crosses.
    Done,
    /// Self-trade prevention stopped the incoming order.
    SelfTradeStop,
}

/// A price-time priority matching engine for a fixed set of symbols.
pub struct Engine {
    pub(crate) books: Vec<Book>,
    pub(crate) symbols: Vec<SymbolState>,
    /// Symbol id to local index.
    symbol_lookup: IdIndex<u16>,
    pub(crate) accounts: Vec<AccountState>,
    /// Account id to local index.
    account_lookup: IdIndex<u32>,
    /// Indexed by owner: `book << account_bits | account_index`.
    pub(crate) exposures: Vec<Exposure>,
    account_bits: u32,
    pub(crate) slab: OrderSlab,
    /// Per slot: its place in its owner's list of resting orders.
    pub(crate) account_links: AccountLinks,
    pub(crate) index: OrderIndex,
    /// (owner, client_order_id) -> slot of the resting orders (queries).
    pub(crate) client_index: ClientIndex,
    /// Kept for [`Engine::reconfigure`](super::Engine::reconfigure), which
    /// refuses to change it (books are allocated at this capacity).
    pub(crate) max_levels_per_side: u32,
    next_order_id: OrderId,
    next_exec_id: u64,
    /// The account report streams' numbers (`report_seq.rs`).
    /// Boxed so that `process` moves one pointer out and back per command
    /// (`None` only while a command runs).
    report_numbers: Option<Box<ReportNumbers>>,
    /// Per slot: price x quantity of the resting order's fills so far,
    /// written on fills only (the node has no room left), read when the
    /// order is done; meaningful only while the order has something filled
    /// (`notional_of`).
    pub(crate) notional: Vec<u128>,
    /// The last orders that reached a final state (`done_orders.rs`).
    pub(crate) done: DoneOrders,
}

impl Engine {
    /// Builds an engine; panics on a config the config loader should have
    /// refused (duplicate ids, zero tick or lot, too many symbols).
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    pub fn new(config: &EngineConfig) -> Engine {
        assert!(
            config.symbols.len() <= u16::MAX as usize,
            "too many symbols"
        );
        let symbol_lookup = IdIndex::positions(config.symbols.iter().map(|s| s.id), "symbol");
        let account_lookup = IdIndex::positions(config.accounts.iter().map(|a| a.id), "account");
        let symbols = config
            .symbols
            .iter()
            .map(|spec| {
                assert!(spec.tick_size > 0, "symbol {}: tick_size > 0", spec.id);
                assert!(spec.lot_size > 0, "symbol {}: lot_size > 0", spec.id);
                let (band_low, band_high) = spec.band();
                SymbolState {
                    spec: spec.clone(),
                    config_reference_price: spec.reference_price,
                    band_low,
                    band_high,
                    halted: false,
                    tick: Divisor::new(spec.tick_size as u64),
                    lot: Divisor::new(spec.lot_size),
                }
            })
            .collect();
        let account_bits = (config.accounts.len().max(1))
            .next_power_of_two()
            .trailing_zeros();
        assert!(
            (config.symbols.len() as u64) << account_bits <= u32::MAX as u64,
            "symbols x accounts must fit the 32-bit owner"
        );
        let engine = Engine {
            books: config
                .symbols
                .iter()
                .map(|s| {
                    let mut book = Book::new(s.id, config.max_levels_per_side);
                    book.set_tick_hint(s.tick_size);
                    book
                })
                .collect(),
            symbols,
            symbol_lookup,
            accounts: config
                .accounts
                .iter()
                .map(|spec| AccountState {
                    spec: spec.clone(),
                    killed: false,
                })
                .collect(),
            report_numbers: Some(Box::new(ReportNumbers::new(account_lookup.clone()))),
            account_lookup,
            exposures: vec![Exposure::EMPTY; config.symbols.len() << account_bits],
            account_bits,
            slab: OrderSlab::with_capacity(config.order_capacity),
            account_links: AccountLinks::with_nodes(config.order_capacity),
            index: OrderIndex::with_capacity(config.order_capacity),
            notional: super::hugepage::filled_vec(config.order_capacity as usize, 0),
            done: DoneOrders::new(config.symbols.len() << account_bits),
            client_index: ClientIndex::with_capacity(config.order_capacity),
            max_levels_per_side: config.max_levels_per_side,
            next_order_id: 1,
            next_exec_id: 1,
        };
        // Book `i` is symbol `i` of the config, and every (book, account)
        // pair has its exposure.
        assert_eq!(engine.books.len(), engine.symbols.len());
        assert_eq!(
            engine.exposures.len(),
            engine.books.len() << engine.account_bits
        );
        engine
    }

    /// Applies one command, emitting what happened to `sink`.
    pub fn process<S: EventSink>(&mut self, command: &Command, sink: &mut S) {
        // Taken out for the command so that the numbering sink can hold it
        // while the engine is borrowed: one pointer moved out and back, no
        // allocation (moving the twelve words of the struct itself, and a
        // placeholder's drop glue, cost about 50 instructions a command).
        let mut numbers = self
            .report_numbers
            .take()
            .expect("report numbers are put back after every command");
        self.dispatch(
            command,
            &mut Numbered {
                numbers: &mut numbers,
                sink,
            },
        );
        self.report_numbers = Some(numbers);
        // Every resting order has exactly one index entry (the full check,
        // `check_invariants`, walks everything; this is its O(1) part).
        assert!(self.index.len() == self.slab.live() as usize, "index size");
    }

    /// The number of the last order report the engine made for `account`
    /// (0: none yet; `None`: an account it does not know). Replay on logon
    /// answers `ReplayStarted.upto` with it.
    pub fn last_report_seq(&self, account: AccountId) -> Option<u64> {
        let last = self
            .report_numbers
            .as_ref()
            .expect("report numbers are back between commands")
            .last(account);
        debug_assert_eq!(last.is_some(), self.account_index(account).is_some());
        last
    }

    #[inline(always)]
    fn dispatch<S: EventSink>(&mut self, command: &Command, sink: &mut S) {
        debug_assert!(self.report_numbers.is_none(), "numbered by `process`");
        match command {
            Command::New(order) => self.new_order(order, sink),
            Command::Cancel(cancel) => self.cancel(cancel, sink),
            Command::Replace(replace) => self.replace(replace, sink),
            Command::MassCancel {
                account,
                symbol,
                reason,
            } => self.mass_cancel(*account, *symbol, *reason, sink),
            Command::KillSwitch { account, on } => self.kill_switch(*account, *on, sink),
            Command::Halt { symbol, on } => self.halt(*symbol, *on, sink),
            Command::SetReferencePrice { symbol, price } => {
                self.set_reference_price(*symbol, *price, sink)
            }
            Command::EndOfDay => self.end_of_day(sink),
        }
    }

    /// The ids the next order and the next execution will take (the
    /// state digest covers them: a replica must hand out the same ids).
    pub(crate) fn next_ids(&self) -> (OrderId, u64) {
        (self.next_order_id, self.next_exec_id)
    }

    pub(crate) fn symbol_index(&self, symbol: SymbolId) -> Option<u16> {
        let book = self.symbol_lookup.get(symbol);
        debug_assert!(book.is_none_or(|b| self.books[b as usize].symbol == symbol));
        book
    }

    pub(crate) fn account_index(&self, account: AccountId) -> Option<u32> {
        let index = self.account_lookup.get(account);
        debug_assert!(index.is_none_or(|a| self.accounts[a as usize].spec.id == account));
        index
    }

    /// The packed (book, account) that names an exposure and an order's owner.
    #[inline]
    pub(crate) fn owner(&self, account_index: u32, book: u16) -> u32 {
        // Each half stays in its bits, so owners of different pairs differ.
        debug_assert!((account_index as usize) < self.accounts.len());
        debug_assert!((book as usize) < self.books.len());
        (book as u32) << self.account_bits | account_index
    }

    #[inline]
    pub(crate) fn owner_book(&self, owner: u32) -> u16 {
        let book = (owner >> self.account_bits) as u16;
        debug_assert!((book as usize) < self.books.len(), "owner {owner}");
        book
    }

    #[inline]
    pub(crate) fn owner_account(&self, owner: u32) -> AccountId {
        debug_assert!((owner as usize) < self.exposures.len(), "owner {owner}");
        self.accounts[(owner & ((1 << self.account_bits) - 1)) as usize]
            .spec
            .id
    }

    /// Whether an order on `side` at `price` would trade on arrival.
    fn would_cross(&self, book: u16, side: Side, price: Price) -> bool {
        // Only validated limit prices are asked about.
        debug_assert!(price > 0, "price {price}");
        self.books[book as usize]
            .side(side.opposite())
            .best()
            .is_some_and(|level| crosses(side, price, level.price))
    }

    fn new_order<S: EventSink>(&mut self, order: &NewOrder, sink: &mut S) {
        let next_order_id = self.next_order_id;
        match self.validate_new(order) {
            Ok((book, account_index)) => {
                self.accept_new(order, book, account_index, sink);
                // An accepted order takes exactly one id.
                debug_assert!(self.next_order_id == next_order_id + 1);
            }
            Err(reason) => {
                sink.emit(&Event::Rejected {
                    account: order.account,
                    symbol: order.symbol,
                    client_order_id: order.client_order_id,
                    reason,
                });
                // A reject changes nothing, not even the id sequence.
                debug_assert!(self.next_order_id == next_order_id);
            }
        }
    }

    /// Every check a new order must pass, in contract order (first failure
    /// wins): symbol, account, qty, lot, price, tick, type combination,
    /// halt, kill switch, price band, risk limits, capacities, post-only.
    fn validate_new(&self, order: &NewOrder) -> Result<(u16, u32), RejectReason> {
        let book = self
            .symbol_index(order.symbol)
            .ok_or(RejectReason::UnknownSymbol)?;
        let account_index = self
            .account_index(order.account)
            .ok_or(RejectReason::UnknownAccount)?;
        let symbol = &self.symbols[book as usize];
        if order.qty == 0 {
            return Err(RejectReason::InvalidQty);
        }
        if !symbol.lot.divides(order.qty) {
            return Err(RejectReason::QtyNotOnLot);
        }
        let is_limit = order.kind == OrderKind::Limit;
        if is_limit {
            if order.price <= 0 {
                return Err(RejectReason::InvalidPrice);
            }
            if !symbol.tick.divides_signed(order.price) {
                return Err(RejectReason::PriceNotOnTick);
            }
        }
        let rests = order.tif.rests();
        let market_that_rests = !is_limit && rests;
        let resting_limit = is_limit && rests;
        if market_that_rests || (order.post_only && !resting_limit) {
            return Err(RejectReason::InvalidCombination);
        }
        if symbol.halted {
            return Err(RejectReason::SymbolHalted);
        }
        if self.accounts[account_index as usize].killed {
            return Err(RejectReason::AccountKilled);
        }
        if is_limit && (order.price < symbol.band_low || order.price > symbol.band_high) {
            return Err(RejectReason::PriceBand);
        }
        let notional_price = if is_limit {
            order.price
        } else {
            symbol.band_high
        };
        let exposure = &self.exposures[self.owner(account_index, book) as usize];
        exposure.check(
            &self.accounts[account_index as usize].spec.limits,
            order.side,
            order.qty,
            order.qty as i128,
            notional_price,
            rests,
        )?;
        if rests {
            if self.slab.is_full() {
                return Err(RejectReason::OrderCapacity);
            }
            if self.books[book as usize]
                .side(order.side)
                .lacks_room_for(order.price)
            {
                return Err(RejectReason::BookLevelCapacity);
            }
        }
        if order.post_only && self.would_cross(book, order.side, order.price) {
            return Err(RejectReason::WouldCrossPostOnly);
        }
        // What accepting relies on: some quantity, and room if it rests.
        debug_assert!(order.qty > 0);
        debug_assert!(!rests || !self.slab.is_full());
        Ok((book, account_index))
    }

    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    fn accept_new<S: EventSink>(
        &mut self,
        order: &NewOrder,
        book: u16,
        account_index: u32,
        sink: &mut S,
    ) {
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        // Ids are never reused: none of the resting orders has this one.
        debug_assert!(self.index.get(&self.slab, order_id).is_none());
        sink.emit(&Event::Accepted {
            order_id,
            account: order.account,
            symbol: order.symbol,
            client_order_id: order.client_order_id,
            side: order.side,
            kind: order.kind,
            tif: order.tif,
            price: order.price,
            qty: order.qty,
        });
        let symbol = &self.symbols[book as usize];
        let limit = match (order.kind, order.side) {
            (OrderKind::Limit, _) => order.price,
            (OrderKind::Market, Side::Buy) => symbol.band_high,
            (OrderKind::Market, Side::Sell) => symbol.band_low,
        };
        let mut incoming = Incoming {
            order_id,
            client_order_id: order.client_order_id,
            account: order.account,
            owner: self.owner(account_index, book),
            book,
            side: order.side,
            limit,
            leaves_qty: order.qty,
            stp: order
                .stp
                .unwrap_or(self.accounts[account_index as usize].spec.default_stp),
            filled: 0,
            notional: 0,
        };
        if order.tif.rests() {
            // Its account list tail and level are written when it rests,
            // after matching.
            self.prefetch_rest(incoming.owner, order.side, limit);
        }
        if order.tif == TimeInForce::Fok && !self.fok_fillable(&incoming) {
            self.emit_incoming_canceled(&incoming, CancelReason::FillOrKill, sink);
            return;
        }
        let end = self.match_incoming(&mut incoming, sink);
        debug_assert!(incoming.leaves_qty <= order.qty, "traded more than ordered");
        if order.tif == TimeInForce::Fok {
            // `fok_fillable` said the whole quantity trades at once.
            debug_assert!(incoming.leaves_qty == 0, "FOK checked fillable");
        }
        debug_assert_eq!(incoming.filled, order.qty - incoming.leaves_qty);
        if incoming.leaves_qty == 0 {
            return;
        }
        match end {
            MatchEnd::SelfTradeStop => {
                self.emit_incoming_canceled(&incoming, CancelReason::SelfTrade, sink)
            }
            MatchEnd::Done if order.tif.rests() => {
                let mut flags = stp_flags(incoming.stp);
                if order.post_only {
                    flags |= FLAG_POST_ONLY;
                }
                if order.tif == TimeInForce::Day {
                    flags |= FLAG_DAY;
                }
                let slot = self
                    .slab
                    .alloc(OrderNode {
                        order_id,
                        client_order_id: order.client_order_id,
                        price: order.price,
                        leaves_qty: incoming.leaves_qty,
                        filled_qty: order.qty - incoming.leaves_qty,
                        owner: incoming.owner,
                        prev: NIL,
                        next: NIL,
                        side: order.side,
                        flags,
                    })
                    .expect("capacity checked before accepting");
                self.set_notional(slot, order.qty - incoming.leaves_qty, incoming.notional);
                self.index.insert(&self.slab, slot);
                self.link_account(slot);
                self.rest(slot, sink);
            }
            MatchEnd::Done => {
                debug_assert!(order.tif != TimeInForce::Fok, "FOK checked fillable");
                self.emit_incoming_canceled(&incoming, CancelReason::ImmediateRemainder, sink)
            }
        }
    }

    /// The rest of the incoming order is canceled: it is done.
    fn emit_incoming_canceled<S: EventSink>(
        &mut self,
        incoming: &Incoming,
        reason: CancelReason,
        sink: &mut S,
    ) {
        debug_assert!(incoming.leaves_qty > 0, "canceling nothing");
        self.done.record(incoming.finished(Some(reason)));
        sink.emit(&Event::Canceled {
            order_id: incoming.order_id,
            account: incoming.account,
            symbol: self.books[incoming.book as usize].symbol,
            client_order_id: incoming.client_order_id,
            canceled_qty: incoming.leaves_qty,
            reason,
        });
    }

    /// Whether a fill-or-kill order would fill completely: walks the crossing
    /// levels in priority order, skipping own orders that self-trade
    /// prevention would cancel, stopping at one that would stop the order.
    fn fok_fillable(&self, incoming: &Incoming) -> bool {
        debug_assert!(incoming.leaves_qty > 0, "FOK for nothing");
        let side = self.books[incoming.book as usize].side(incoming.side.opposite());
        let mut available: Qty = 0;
        for level in side.levels.iter().rev() {
            if !crosses(incoming.side, incoming.limit, level.price) {
                return false;
            }
            let mut slot = level.head;
            while slot != NIL {
                let node = self.slab.get(slot);
                debug_assert_eq!(node.price, level.price);
                if node.owner == incoming.owner {
                    if incoming.stp != StpMode::CancelResting {
                        return false;
                    }
                } else {
                    available += node.leaves_qty;
                    if available >= incoming.leaves_qty {
                        return true;
                    }
                }
                slot = node.next;
            }
        }
        false
    }

    /// Trades `incoming` against the opposite side while it crosses.
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    fn match_incoming<S: EventSink>(&mut self, incoming: &mut Incoming, sink: &mut S) -> MatchEnd {
        let book_index = incoming.book as usize;
        let symbol = self.books[book_index].symbol;
        let opposite = incoming.side.opposite();
        while incoming.leaves_qty > 0 {
            let Some(level) = self.books[book_index].side(opposite).best() else {
                return MatchEnd::Done;
            };
            if !crosses(incoming.side, incoming.limit, level.price) {
                return MatchEnd::Done;
            }
            let price = level.price;
            let mut slot = level.head;
            let mut stopped = false;
            debug_assert!(slot != NIL, "best level has no orders");
            while slot != NIL && incoming.leaves_qty > 0 {
                let resting = *self.slab.get(slot);
                self.prefetch_fill(slot, &resting);
                // The node is at this level: same price, the other side.
                debug_assert_eq!((resting.price, resting.side), (price, opposite));
                // Same book, so the same owner means the same account.
                if resting.owner == incoming.owner {
                    match incoming.stp {
                        StpMode::CancelResting => {
                            self.cancel_resting(slot, CancelReason::SelfTrade, sink);
                            slot = resting.next;
                            continue;
                        }
                        StpMode::CancelIncoming => {}
                        StpMode::CancelBoth => {
                            self.cancel_resting(slot, CancelReason::SelfTrade, sink);
                        }
                    }
                    stopped = true;
                    break;
                }
                let qty = incoming.leaves_qty.min(resting.leaves_qty);
                // Each fill takes something from both: the loops end.
                debug_assert!(qty > 0, "a fill of nothing");
                debug_assert!(resting.leaves_qty >= qty);
                let exec_id = self.next_exec_id;
                self.next_exec_id += 1;
                incoming.leaves_qty -= qty;
                // Positive price (validated) times a quantity: fits u128.
                let traded = price as u128 * qty as u128;
                incoming.filled += qty;
                incoming.notional += traded;
                self.exposures[incoming.owner as usize].apply_fill(incoming.side, price, qty);
                let resting_notional = self.notional_of(slot, resting.filled_qty) + traded;
                let resting_exposure = &mut self.exposures[resting.owner as usize];
                resting_exposure.apply_fill(resting.side, price, qty);
                let resting_leaves = resting.leaves_qty - qty;
                if resting_leaves == 0 {
                    self.remove_resting(slot);
                } else {
                    resting_exposure.remove_open(resting.side, qty);
                    self.notional[slot as usize] = resting_notional;
                    let node = self.slab.get_mut(slot);
                    node.leaves_qty = resting_leaves;
                    node.filled_qty += qty;
                    self.books[book_index].side_mut(opposite).reduce(price, qty);
                }
                // Done orders are recorded in the order of their final
                // reports: the aggressor's fill comes first.
                if incoming.leaves_qty == 0 {
                    self.done.record(incoming.finished(None));
                }
                if resting_leaves == 0 {
                    self.done.record(Finished {
                        owner: resting.owner,
                        order_id: resting.order_id,
                        client_order_id: resting.client_order_id,
                        side: resting.side,
                        reason: None,
                        filled_qty: resting.filled_qty + qty,
                        canceled_qty: 0,
                        notional: resting_notional,
                    });
                }
                sink.emit(&Event::Fill {
                    exec_id,
                    order_id: incoming.order_id,
                    account: incoming.account,
                    symbol,
                    client_order_id: incoming.client_order_id,
                    side: incoming.side,
                    price,
                    qty,
                    leaves_qty: incoming.leaves_qty,
                    liquidity: Liquidity::Aggressor,
                });
                sink.emit(&Event::Fill {
                    exec_id,
                    order_id: resting.order_id,
                    account: self.owner_account(resting.owner),
                    symbol,
                    client_order_id: resting.client_order_id,
                    side: resting.side,
                    price,
                    qty,
                    leaves_qty: resting_leaves,
                    liquidity: Liquidity::Passive,
                });
                sink.emit(&Event::Trade {
                    exec_id,
                    symbol,
                    price,
                    qty,
                    aggressor_side: incoming.side,
                });
                slot = resting.next;
            }
            self.emit_level(incoming.book, opposite, price, sink);
            if stopped {
                return MatchEnd::SelfTradeStop;
            }
        }
        MatchEnd::Done
    }

    /// Emits the current aggregate at `price` (zero when the level is gone).
    fn emit_level<S: EventSink>(&self, book: u16, side: Side, price: Price, sink: &mut S) {
        let book = &self.books[book as usize];
        let book_side = book.side(side);
        let (qty, order_count) = match book_side.find(price) {
            Ok(i) => (book_side.levels[i].qty, book_side.levels[i].order_count),
            Err(_) => (0, 0),
        };
        // A level is gone exactly when it has no quantity.
        debug_assert!(
            (qty == 0) == (order_count == 0),
            "a level without quantity kept"
        );
        sink.emit(&Event::BookLevel {
            symbol: book.symbol,
            side,
            price,
            qty,
            order_count,
        });
    }

    /// Puts an allocated, indexed node at the back of its level and counts
    /// its exposure; emits the level.
    fn rest<S: EventSink>(&mut self, slot: Slot, sink: &mut S) {
        let node = *self.slab.get(slot);
        let book = self.owner_book(node.owner) as usize;
        // Matching left nothing this order could trade with: the book is
        // never crossed at rest.
        debug_assert!(
            !self.would_cross(book as u16, node.side, node.price),
            "an order would rest crossed"
        );
        debug_assert_eq!(self.index.get(&self.slab, node.order_id), Some(slot));
        let level: Level = self.books[book]
            .side_mut(node.side)
            .push_back(&mut self.slab, slot);
        debug_assert!(level.price == node.price);
        debug_assert!(level.tail == slot);
        self.exposures[node.owner as usize].add_open(node.side, node.leaves_qty);
        sink.emit(&Event::BookLevel {
            symbol: self.books[book].symbol,
            side: node.side,
            price: level.price,
            qty: level.qty,
            order_count: level.order_count,
        });
    }

    /// Appends the node to its owner's (account, symbol) list, and to the
    /// client order id index when that list is indexed or now reaches the
    /// length from which it is (`client_index.rs`).
    fn link_account(&mut self, slot: Slot) {
        let owner = self.slab.get(slot).owner as usize;
        let exposure = &mut self.exposures[owner];
        // An empty list counts no order.
        debug_assert_eq!(exposure.orders_tail == NIL, exposure.open_orders == 0);
        self.account_links
            .push_back(&mut exposure.orders_head, &mut exposure.orders_tail, slot);
        exposure.open_orders += 1;
        if exposure.client_indexed {
            self.client_index.insert(&self.slab, slot);
        } else if exposure.open_orders >= INDEXED_FROM {
            self.index_client_ids(owner);
        }
    }

    /// Puts every order of `owner`'s list, which has just reached
    /// `INDEXED_FROM` orders, into the client order id index.
    fn index_client_ids(&mut self, owner: usize) {
        let exposure = &mut self.exposures[owner];
        assert!(!exposure.client_indexed, "list {owner} indexed twice");
        let mut indexed = 0;
        for slot in self.account_links.walk(exposure.orders_head) {
            self.client_index.insert(&self.slab, slot);
            indexed += 1;
        }
        assert_eq!(indexed, exposure.open_orders, "account list length");
        exposure.client_indexed = true;
    }

    fn unlink_account(&mut self, slot: Slot) {
        let owner = self.slab.get(slot).owner as usize;
        let exposure = &mut self.exposures[owner];
        if exposure.client_indexed {
            self.client_index.remove(&self.slab, slot);
        }
        self.account_links
            .unlink(&mut exposure.orders_head, &mut exposure.orders_tail, slot);
        debug_assert!(
            exposure.open_orders > 0,
            "unlink from an empty account list"
        );
        exposure.open_orders -= 1;
        // An empty list leaves the index; it re-enters whole if it grows
        // back to `INDEXED_FROM`.
        if exposure.open_orders == 0 {
            exposure.client_indexed = false;
        }
    }

    /// Takes a resting order off the book and out of every index, freeing
    /// its node. Returns its level afterwards. Emits nothing.
    fn remove_resting(&mut self, slot: Slot) -> Level {
        let node = *self.slab.get(slot);
        debug_assert!(node.leaves_qty > 0, "removing an order with nothing left");
        let live = self.slab.live();
        let book = self.owner_book(node.owner) as usize;
        let level = self.books[book]
            .side_mut(node.side)
            .unlink(&mut self.slab, slot);
        self.exposures[node.owner as usize].remove_open(node.side, node.leaves_qty);
        self.unlink_account(slot);
        self.index.remove(&self.slab, node.order_id);
        self.slab.free(slot);
        debug_assert!(self.slab.live() + 1 == live);
        level
    }

    /// Cancels a resting order, emitting `Canceled` (no level update).
    pub(crate) fn cancel_resting<S: EventSink>(
        &mut self,
        slot: Slot,
        reason: CancelReason,
        sink: &mut S,
    ) -> Level {
        let node = *self.slab.get(slot);
        self.done.record(Finished {
            owner: node.owner,
            order_id: node.order_id,
            client_order_id: node.client_order_id,
            side: node.side,
            reason: Some(reason),
            filled_qty: node.filled_qty,
            canceled_qty: node.leaves_qty,
            notional: self.notional_of(slot, node.filled_qty),
        });
        let level = self.remove_resting(slot);
        // The level that held it, as it is now.
        debug_assert_eq!(level.price, node.price);
        sink.emit(&Event::Canceled {
            order_id: node.order_id,
            account: self.owner_account(node.owner),
            symbol: self.books[self.owner_book(node.owner) as usize].symbol,
            client_order_id: node.client_order_id,
            canceled_qty: node.leaves_qty,
            reason,
        });
        level
    }

    /// Cancels a resting order and emits its level.
    pub(crate) fn cancel_and_publish<S: EventSink>(
        &mut self,
        slot: Slot,
        reason: CancelReason,
        sink: &mut S,
    ) {
        let node = *self.slab.get(slot);
        let level = self.cancel_resting(slot, reason, sink);
        debug_assert!((level.qty == 0) == (level.order_count == 0));
        sink.emit(&Event::BookLevel {
            symbol: self.books[self.owner_book(node.owner) as usize].symbol,
            side: node.side,
            price: node.price,
            qty: level.qty,
            order_count: level.order_count,
        });
    }

    /// Finds a resting order of `account` on `symbol`. Another account's
    /// order is reported exactly like a missing one.
    fn owned_order(
        &self,
        account: AccountId,
        symbol: SymbolId,
        order_id: OrderId,
    ) -> Result<(Slot, u16, u32), RejectReason> {
        let book = self
            .symbol_index(symbol)
            .ok_or(RejectReason::UnknownSymbol)?;
        let account_index = self
            .account_index(account)
            .ok_or(RejectReason::UnknownAccount)?;
        match self.index.get(&self.slab, order_id) {
            Some(slot) => {
                // Only resting orders are indexed.
                debug_assert!(self.slab.get(slot).leaves_qty > 0);
                if self.slab.get(slot).owner == self.owner(account_index, book) {
                    self.prefetch_links(slot);
                    Ok((slot, book, account_index))
                } else {
                    Err(RejectReason::UnknownOrder)
                }
            }
            None => Err(RejectReason::UnknownOrder),
        }
    }

    fn cancel<S: EventSink>(&mut self, cancel: &CancelOrder, sink: &mut S) {
        self.prefetch_home(cancel.order_id);
        match self.owned_order(cancel.account, cancel.symbol, cancel.order_id) {
            Ok((slot, _, _)) => {
                self.cancel_and_publish(slot, CancelReason::Requested, sink);
                debug_assert!(self.index.get(&self.slab, cancel.order_id).is_none());
            }
            Err(reason) => sink.emit(&Event::CancelRejected {
                order_id: cancel.order_id,
                account: cancel.account,
                symbol: cancel.symbol,
                client_order_id: cancel.client_order_id,
                reason,
            }),
        }
    }

    fn replace<S: EventSink>(&mut self, replace: &ReplaceOrder, sink: &mut S) {
        self.prefetch_home(replace.order_id);
        match self.validate_replace(replace) {
            Ok(slot) => {
                self.apply_replace(replace, slot, sink);
                // Still resting, it carries the new price and total qty
                // (gone, it filled or self-trade prevention stopped it).
                // Debug builds only: it looks the order up again.
                if cfg!(debug_assertions) {
                    if let Some(slot) = self.index.get(&self.slab, replace.order_id) {
                        let node = self.slab.get(slot);
                        debug_assert_eq!(node.price, replace.new_price);
                        debug_assert_eq!(node.leaves_qty + node.filled_qty, replace.new_qty);
                    }
                }
            }
            Err(reason) => sink.emit(&Event::CancelRejected {
                order_id: replace.order_id,
                account: replace.account,
                symbol: replace.symbol,
                client_order_id: replace.client_order_id,
                reason,
            }),
        }
    }

    /// Checks in contract order: symbol, account, order ownership, halt,
    /// kill switch, qty, lot, price, tick, band, below-filled, no-change,
    /// risk limits, level capacity, post-only.
    fn validate_replace(&self, replace: &ReplaceOrder) -> Result<Slot, RejectReason> {
        let (slot, book, account_index) =
            self.owned_order(replace.account, replace.symbol, replace.order_id)?;
        let symbol = &self.symbols[book as usize];
        let node = self.slab.get(slot);
        if symbol.halted {
            return Err(RejectReason::SymbolHalted);
        }
        if self.accounts[account_index as usize].killed {
            return Err(RejectReason::AccountKilled);
        }
        if replace.new_qty == 0 {
            return Err(RejectReason::InvalidQty);
        }
        if !symbol.lot.divides(replace.new_qty) {
            return Err(RejectReason::QtyNotOnLot);
        }
        if replace.new_price <= 0 {
            return Err(RejectReason::InvalidPrice);
        }
        if !symbol.tick.divides_signed(replace.new_price) {
            return Err(RejectReason::PriceNotOnTick);
        }
        if replace.new_price < symbol.band_low || replace.new_price > symbol.band_high {
            return Err(RejectReason::PriceBand);
        }
        if replace.new_qty <= node.filled_qty {
            return Err(RejectReason::ReplaceBelowFilled);
        }
        let price_changes = replace.new_price != node.price;
        if !price_changes && replace.new_qty == node.filled_qty + node.leaves_qty {
            return Err(RejectReason::ReplaceNoChange);
        }
        let new_leaves = replace.new_qty - node.filled_qty;
        self.exposures[node.owner as usize].check(
            &self.accounts[account_index as usize].spec.limits,
            node.side,
            replace.new_qty,
            new_leaves as i128 - node.leaves_qty as i128,
            replace.new_price,
            false,
        )?;
        debug_assert_eq!(node.order_id, replace.order_id);
        if price_changes {
            let own_side = self.books[book as usize].side(node.side);
            let frees_level = own_side
                .find(node.price)
                .is_ok_and(|i| own_side.levels[i].order_count == 1);
            if !frees_level && own_side.lacks_room_for(replace.new_price) {
                return Err(RejectReason::BookLevelCapacity);
            }
            if node.is_post_only() && self.would_cross(book, node.side, replace.new_price) {
                return Err(RejectReason::WouldCrossPostOnly);
            }
        }
        Ok(slot)
    }

    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    fn apply_replace<S: EventSink>(&mut self, replace: &ReplaceOrder, slot: Slot, sink: &mut S) {
        let old = *self.slab.get(slot);
        let book = self.owner_book(old.owner);
        let symbol = replace.symbol;
        // Validated: more than what already traded.
        debug_assert!(replace.new_qty > old.filled_qty, "replace below filled");
        let new_leaves = replace.new_qty - old.filled_qty;
        let keeps_priority = replace.new_price == old.price && new_leaves < old.leaves_qty;
        let replaced = Event::Replaced {
            order_id: old.order_id,
            account: replace.account,
            symbol,
            client_order_id: replace.client_order_id,
            price: replace.new_price,
            qty: replace.new_qty,
            leaves_qty: new_leaves,
            kept_priority: keeps_priority,
        };
        if keeps_priority {
            let reduced_by = old.leaves_qty - new_leaves;
            self.set_client_order_id(slot, replace.client_order_id);
            let node = self.slab.get_mut(slot);
            node.leaves_qty = new_leaves;
            self.exposures[old.owner as usize].remove_open(old.side, reduced_by);
            let level = self.books[book as usize]
                .side_mut(old.side)
                .reduce(old.price, reduced_by);
            sink.emit(&replaced);
            sink.emit(&Event::BookLevel {
                symbol,
                side: old.side,
                price: old.price,
                qty: level.qty,
                order_count: level.order_count,
            });
            return;
        }
        // Loses priority: off the book, re-enter as an incoming order at the
        // new price (it may trade), then rest what is left at the back.
        let old_level = self.books[book as usize]
            .side_mut(old.side)
            .unlink(&mut self.slab, slot);
        self.exposures[old.owner as usize].remove_open(old.side, old.leaves_qty);
        sink.emit(&replaced);
        if replace.new_price != old.price {
            sink.emit(&Event::BookLevel {
                symbol,
                side: old.side,
                price: old.price,
                qty: old_level.qty,
                order_count: old_level.order_count,
            });
        }
        let mut incoming = Incoming {
            order_id: old.order_id,
            client_order_id: replace.client_order_id,
            account: replace.account,
            owner: old.owner,
            book,
            side: old.side,
            limit: replace.new_price,
            leaves_qty: new_leaves,
            stp: old.stp(),
            filled: old.filled_qty,
            notional: self.notional_of(slot, old.filled_qty),
        };
        let end = self.match_incoming(&mut incoming, sink);
        debug_assert!(
            incoming.leaves_qty <= new_leaves,
            "traded more than replaced"
        );
        let filled = replace.new_qty - incoming.leaves_qty;
        debug_assert_eq!(filled, incoming.filled);
        self.set_client_order_id(slot, replace.client_order_id);
        let node = self.slab.get_mut(slot);
        node.price = replace.new_price;
        node.leaves_qty = incoming.leaves_qty;
        node.filled_qty = filled;
        if incoming.leaves_qty == 0 {
            self.forget(slot);
            return;
        }
        match end {
            MatchEnd::Done => {
                self.set_notional(slot, filled, incoming.notional);
                self.rest(slot, sink)
            }
            MatchEnd::SelfTradeStop => {
                self.forget(slot);
                self.emit_incoming_canceled(&incoming, CancelReason::SelfTrade, sink);
            }
        }
    }

    /// The notional of the fills of the order at `slot` so far, which has
    /// `filled_qty` filled. An order that never traded has none, and its
    /// entry is not read: it may still hold a former order's (a cancel of
    /// an untouched order, most cancels, then costs no miss on it).
    #[inline]
    fn notional_of(&self, slot: Slot, filled_qty: Qty) -> u128 {
        let notional = if filled_qty == 0 {
            0
        } else {
            self.notional[slot as usize]
        };
        // Something traded exactly when some price x quantity did.
        debug_assert_eq!(notional == 0, filled_qty == 0);
        notional
    }

    /// Records the notional of a resting order that has `filled_qty`
    /// filled (nothing to write when it never traded: see `notional_of`).
    #[inline]
    fn set_notional(&mut self, slot: Slot, filled_qty: Qty, notional: u128) {
        debug_assert_eq!(notional == 0, filled_qty == 0);
        if filled_qty != 0 {
            self.notional[slot as usize] = notional;
        }
    }

    /// Drops a node that is in the indexes but not on a level.
    fn forget(&mut self, slot: Slot) {
        let node = *self.slab.get(slot);
        // On no level: no level at its price starts or ends with it.
        debug_assert!({
            let side = self.books[self.owner_book(node.owner) as usize].side(node.side);
            match side.find(node.price) {
                Ok(i) => side.levels[i].head != slot && side.levels[i].tail != slot,
                Err(_) => true,
            }
        });
        let order_id = node.order_id;
        self.unlink_account(slot);
        self.index.remove(&self.slab, order_id);
        self.slab.free(slot);
    }

    pub(crate) fn set_band(&mut self, book: u16) {
        let state = &mut self.symbols[book as usize];
        let (low, high) = band_around(
            state.spec.reference_price,
            state.spec.price_band_bps,
            state.spec.tick_size,
        );
        // Band edges are prices an order may have: on the tick, positive.
        assert!(low <= high, "band {low}..{high}");
        assert!(low >= state.spec.tick_size, "band low {low} below one tick");
        state.band_low = low;
        state.band_high = high;
    }
}
