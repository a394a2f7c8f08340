//! The three order books behind one small trait, each fed the stream
//! translated to its own API before any timing starts: tradsys takes the
//! commands as they are; matchcore 0.4 (one `OrderBook` per symbol) takes
//! `Command`s with the stream index as sequence number and order id;
//! orderbook-rs 0.15 (one `OrderBook<()>` per symbol) takes calls with
//! `Id::Sequential` ids.
//!
//! Each book also reports its trades as (maker's peer id, price, qty) for
//! the check that all produce the same ones; that path is never timed.

use std::sync::{Arc, Mutex};

use tradsys::engine::*;

use super::stream::{Meta, Stream};
use crate::engine_bench::config;

/// One trade as every book can report it: the resting order's peer id,
/// the price, the quantity.
pub type TradeRec = (u64, u64, u64);

pub trait Book: Sized {
    type Cmd;
    const NAME: &'static str;
    fn build(stream: &Stream) -> Self;
    /// One command in this book's form; `seq` is the sequence number this
    /// book gives it, `target` the book's id of the order it names (or,
    /// for a new order, the id it will have).
    fn translate(command: &Command, meta: &Meta, seq: u64, target: u64) -> Self::Cmd;
    fn apply(&mut self, cmd: &Self::Cmd);
    /// Applies `cmd` and appends the trades it made.
    fn apply_traced(&mut self, cmd: &Self::Cmd, trades: &mut Vec<TradeRec>);

    /// Every command of the stream in this book's form: warm-up, then
    /// timed. Sequence numbers and order ids are the stream's own.
    fn translate_all(stream: &Stream) -> (Vec<Self::Cmd>, Vec<Self::Cmd>) {
        let one =
            |i: usize, (c, m): &(Command, Meta)| Self::translate(c, m, i as u64 + 1, m.peer_id);
        let warm = stream
            .warmup
            .iter()
            .enumerate()
            .map(|(i, x)| one(i, x))
            .collect();
        let base = stream.warmup.len();
        let timed = stream
            .timed
            .iter()
            .enumerate()
            .map(|(i, x)| one(base + i, x))
            .collect();
        (warm, timed)
    }
}

fn symbol_of(command: &Command) -> SymbolId {
    match *command {
        Command::New(ref o) => o.symbol,
        Command::Cancel(ref c) => c.symbol,
        Command::Replace(ref r) => r.symbol,
        _ => unreachable!("the mix has no operator commands"),
    }
}

/// matchcore numbers the commands of each book from 0, and an order's id
/// is the sequence number of the command that made it: the stream's peer
/// ids mapped to each book's own, and back (for its trades).
fn matchcore_ids(stream: &Stream) -> (Vec<u64>, Vec<u64>, Vec<Vec<u64>>) {
    let mut next = vec![0u64; stream.symbols as usize];
    let mut seqs = Vec::with_capacity(stream.warmup.len() + stream.timed.len());
    let mut own = vec![0u64; stream.warmup.len() + stream.timed.len() + 1];
    let mut peer_of = vec![Vec::new(); stream.symbols as usize];
    for (command, meta) in stream.warmup.iter().chain(&stream.timed) {
        let book = symbol_of(command) as usize - 1;
        let seq = next[book];
        next[book] += 1;
        seqs.push(seq);
        peer_of[book].push(meta.peer_id);
        if matches!(command, Command::New(_)) {
            own[meta.peer_id as usize] = seq;
        }
    }
    (seqs, own, peer_of)
}

pub struct Tradsys {
    pub engine: Engine,
    sink: CountingSink,
    events: Vec<Event>,
    peer_of: Vec<u64>,
}

impl Book for Tradsys {
    type Cmd = Command;
    const NAME: &'static str = "tradsys";

    fn build(stream: &Stream) -> Self {
        Tradsys {
            engine: Engine::new(&config(stream.symbols, stream.capacity)),
            sink: CountingSink::default(),
            events: Vec::with_capacity(1024),
            peer_of: stream.peer_of.clone(),
        }
    }

    fn translate(command: &Command, _meta: &Meta, _seq: u64, _target: u64) -> Command {
        *command
    }

    #[inline]
    fn apply(&mut self, cmd: &Command) {
        self.engine.process(cmd, &mut self.sink);
    }

    fn apply_traced(&mut self, cmd: &Command, trades: &mut Vec<TradeRec>) {
        self.events.clear();
        self.engine.process(cmd, &mut self.events);
        for event in &self.events {
            if let Event::Fill {
                order_id,
                price,
                qty,
                liquidity: Liquidity::Passive,
                ..
            } = *event
            {
                trades.push((self.peer_of[order_id as usize], price as u64, qty));
            }
        }
    }
}

pub struct Matchcore {
    books: Vec<matchcore::OrderBook>,
    /// Per book: its order id (sequence number) -> the stream's peer id.
    peer_of: Vec<Vec<u64>>,
}

impl Book for Matchcore {
    type Cmd = (u16, matchcore::Command);
    const NAME: &'static str = "matchcore";

    fn build(stream: &Stream) -> Self {
        let books = (1..=stream.symbols).map(|s| matchcore::OrderBook::new(&s.to_string()));
        Matchcore {
            books: books.collect(),
            peer_of: matchcore_ids(stream).2,
        }
    }

    fn translate_all(stream: &Stream) -> (Vec<Self::Cmd>, Vec<Self::Cmd>) {
        let (seqs, own, _) = matchcore_ids(stream);
        let all = stream.warmup.iter().chain(&stream.timed).zip(seqs);
        let mut cmds: Vec<_> = all
            .map(|((c, m), seq)| Self::translate(c, m, seq, own[m.peer_id as usize]))
            .collect();
        let timed = cmds.split_off(stream.warmup.len());
        (cmds, timed)
    }

    fn translate(command: &Command, meta: &Meta, seq: u64, target: u64) -> Self::Cmd {
        use matchcore as mc;
        let side = |side: Side| match side {
            Side::Buy => mc::Side::Buy,
            Side::Sell => mc::Side::Sell,
        };
        let standard = |qty: Qty| mc::QuantityPolicy::Standard {
            quantity: mc::Quantity(qty),
        };
        let (symbol, kind) = match *command {
            Command::New(ref o) => {
                assert_eq!(target, seq, "a new order's id is its sequence number");
                let order = if o.kind == OrderKind::Market {
                    mc::NewOrder::Market(mc::MarketOrder::new(
                        mc::Quantity(o.qty),
                        side(o.side),
                        false,
                    ))
                } else {
                    let tif = if o.tif == TimeInForce::Ioc {
                        mc::TimeInForce::Ioc
                    } else {
                        mc::TimeInForce::Gtc
                    };
                    let flags = mc::OrderFlags::new(side(o.side), false, tif);
                    mc::NewOrder::Limit(mc::LimitOrder::new(
                        mc::Price(o.price as u64),
                        standard(o.qty),
                        flags,
                    ))
                };
                (o.symbol, mc::CommandKind::Submit(mc::SubmitCmd { order }))
            }
            Command::Cancel(ref c) => {
                let cancel = mc::CancelCmd {
                    order_id: mc::OrderId(target),
                    order_kind: mc::OrderKind::Limit,
                };
                (c.symbol, mc::CommandKind::Cancel(cancel))
            }
            Command::Replace(ref r) => {
                let patch = mc::LimitOrderPatch {
                    price: Some(mc::Price(r.new_price as u64)),
                    quantity_policy: Some(standard(meta.new_leaves)),
                    flags: mc::OrderFlagsPatch::default(),
                };
                let amend = mc::AmendCmd {
                    order_id: mc::OrderId(target),
                    patch: mc::AmendPatch::Limit(patch),
                };
                (r.symbol, mc::CommandKind::Amend(amend))
            }
            _ => unreachable!("the mix has no operator commands"),
        };
        let meta = mc::CommandMeta {
            sequence_number: mc::SequenceNumber(seq),
            timestamp: mc::Timestamp(seq),
        };
        (symbol as u16 - 1, mc::Command { meta, kind })
    }

    #[inline]
    fn apply(&mut self, cmd: &Self::Cmd) {
        let outcome = self.books[cmd.0 as usize].execute(&cmd.1);
        std::hint::black_box(&outcome);
    }

    fn apply_traced(&mut self, cmd: &Self::Cmd, trades: &mut Vec<TradeRec>) {
        use matchcore as mc;
        let outcome = self.books[cmd.0 as usize].execute(&cmd.1);
        let effects = match outcome {
            mc::CommandOutcome::Applied(mc::CommandReport::Submit(e))
            | mc::CommandOutcome::Applied(mc::CommandReport::Amend(e)) => e,
            mc::CommandOutcome::Applied(mc::CommandReport::Cancel) => return,
            mc::CommandOutcome::Rejected(failure) => {
                panic!("matchcore rejected a command: {failure}")
            }
        };
        let peer_of = &self.peer_of[cmd.0 as usize];
        if let Some(result) = effects.target_order().match_result() {
            for t in result.trades() {
                trades.push((
                    peer_of[t.maker_order_id().0 as usize],
                    t.price().0,
                    t.quantity().0,
                ));
            }
        }
    }
}

/// One call on orderbook-rs.
pub enum ObCall {
    Limit {
        id: u64,
        price: u128,
        qty: u64,
        side: orderbook_rs::Side,
        ioc: bool,
    },
    Market {
        id: u64,
        qty: u64,
        side: orderbook_rs::Side,
    },
    Cancel {
        id: u64,
    },
    Update(pricelevel::OrderUpdate),
}

pub struct OrderbookRs {
    books: Vec<orderbook_rs::OrderBook<()>>,
    trades: Arc<Mutex<Vec<TradeRec>>>,
}

impl Book for OrderbookRs {
    type Cmd = (u16, ObCall);
    const NAME: &'static str = "orderbook-rs";

    fn build(stream: &Stream) -> Self {
        let books = (1..=stream.symbols).map(|s| orderbook_rs::OrderBook::new(&s.to_string()));
        OrderbookRs {
            books: books.collect(),
            trades: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn translate(command: &Command, meta: &Meta, _seq: u64, _target: u64) -> Self::Cmd {
        use pricelevel::{Id, OrderUpdate, Price as P, Quantity as Q};
        let side = |side: Side| match side {
            Side::Buy => orderbook_rs::Side::Buy,
            Side::Sell => orderbook_rs::Side::Sell,
        };
        let id = meta.peer_id;
        match *command {
            Command::New(ref o) if o.kind == OrderKind::Market => (
                o.symbol as u16 - 1,
                ObCall::Market {
                    id,
                    qty: o.qty,
                    side: side(o.side),
                },
            ),
            Command::New(ref o) => {
                let call = ObCall::Limit {
                    id,
                    price: o.price as u128,
                    qty: o.qty,
                    side: side(o.side),
                    ioc: o.tif == TimeInForce::Ioc,
                };
                (o.symbol as u16 - 1, call)
            }
            Command::Cancel(ref c) => (c.symbol as u16 - 1, ObCall::Cancel { id }),
            Command::Replace(ref r) => {
                let order_id = Id::Sequential(id);
                // The stream's replaces change either the quantity (down,
                // keeping priority) or the price (same remaining quantity).
                let update = if meta.same_price {
                    let new_quantity = Q::try_new(meta.new_leaves).expect("quantity");
                    OrderUpdate::UpdateQuantity {
                        order_id,
                        new_quantity,
                    }
                } else {
                    let new_price = P::try_new(r.new_price as u128).expect("price");
                    OrderUpdate::UpdatePrice {
                        order_id,
                        new_price,
                    }
                };
                (r.symbol as u16 - 1, ObCall::Update(update))
            }
            _ => unreachable!("the mix has no operator commands"),
        }
    }

    #[inline]
    fn apply(&mut self, cmd: &Self::Cmd) {
        use pricelevel::{Id, TimeInForce as Tif};
        let book = &self.books[cmd.0 as usize];
        match cmd.1 {
            ObCall::Limit {
                id,
                price,
                qty,
                side,
                ioc,
            } => {
                let tif = if ioc { Tif::Ioc } else { Tif::Gtc };
                let _ = std::hint::black_box(book.add_limit_order(
                    Id::Sequential(id),
                    price,
                    qty,
                    side,
                    tif,
                    None,
                ));
            }
            ObCall::Market { id, qty, side } => {
                let _ =
                    std::hint::black_box(book.submit_market_order(Id::Sequential(id), qty, side));
            }
            ObCall::Cancel { id } => {
                let _ = std::hint::black_box(book.cancel_order(Id::Sequential(id)));
            }
            ObCall::Update(update) => {
                let _ = std::hint::black_box(book.update_order(update));
            }
        }
    }

    fn apply_traced(&mut self, cmd: &Self::Cmd, trades: &mut Vec<TradeRec>) {
        if self.trades.lock().expect("trade list").capacity() == 0 {
            let sink = Arc::clone(&self.trades);
            for book in &mut self.books {
                let sink = Arc::clone(&sink);
                book.set_trade_listener(Arc::new(move |result: &orderbook_rs::TradeResult| {
                    let mut list = sink.lock().expect("trade list");
                    for t in result.match_result.trades().as_vec() {
                        let maker = t.maker_order_id().as_u64().expect("sequential ids");
                        list.push((maker, t.price().as_u128() as u64, t.quantity().as_u64()));
                    }
                }));
            }
            self.trades.lock().expect("trade list").reserve(1);
        }
        self.apply(cmd);
        trades.append(&mut self.trades.lock().expect("trade list"));
    }
}
