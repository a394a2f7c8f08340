//! `tradsys-bench queries`: what the account queries of PROTOCOL.md 5.8
//! cost the owner shard's core, next to what a new order and a cancel cost
//! on the same engine in the same run. A query runs between two commands
//! on that core, so its time is what it delays everyone else by.
//!
//! One symbol; account 1 holds `--depth` open orders (every tenth then
//! canceled, so that stale cursors exist), 63 other accounts as many again.
//! Each operation is timed alone (one `Instant` pair each, about 20-40 ns
//! of the figure) into an HdrHistogram.

use std::time::Instant;

use tradsys::engine::*;

use crate::engine_bench::{config, ACCOUNTS, REFERENCE_PRICE};
use crate::report::{histogram, Figure, Unit};
use crate::rng::Rng;

#[derive(clap::Args)]
pub struct QueryArgs {
    /// Open orders of the queried account (at most its open-order limit).
    #[arg(long, default_value_t = 10_000)]
    pub depth: u32,
    /// Timed operations per figure.
    #[arg(long, default_value_t = 100_000)]
    pub ops: usize,
    /// Core to pin the benchmark thread to.
    #[arg(long, default_value_t = 1)]
    pub core: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const PAGE: usize = 16;
const SYMBOL: SymbolId = 1;

fn limit(account: AccountId, client_order_id: u64, side: Side, price: Price) -> Command {
    Command::New(NewOrder {
        account,
        symbol: SYMBOL,
        client_order_id,
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty: 1,
    })
}

/// The engine with its books filled; returns account 1's open orders
/// (order id, client order id) and the ids canceled from its list.
fn filled(args: &QueryArgs) -> (Engine, Vec<(OrderId, u64)>, Vec<OrderId>) {
    let mut engine = Engine::new(&config(1, args.depth * 4 + 1_024));
    let mut sink = CountingSink::default();
    let mut mine = Vec::new();
    for i in 0..args.depth as u64 * 2 {
        let account = if i % 2 == 0 {
            1
        } else {
            2 + (i as u32 / 2) % (ACCOUNTS - 1)
        };
        let price = REFERENCE_PRICE - 1 - (i % 500) as i64;
        engine.process(&limit(account, i, Side::Buy, price), &mut sink);
        if account == 1 {
            // Ids are sequential from 1: the order just accepted.
            mine.push((i + 1, i));
        }
    }
    let mut canceled = Vec::new();
    let mut open = Vec::new();
    for (n, &(order_id, client_order_id)) in mine.iter().enumerate() {
        if n % 10 == 5 {
            let cancel = Command::Cancel(CancelOrder {
                account: 1,
                symbol: SYMBOL,
                order_id,
                client_order_id: 0,
            });
            engine.process(&cancel, &mut sink);
            canceled.push(order_id);
        } else {
            open.push((order_id, client_order_id));
        }
    }
    assert_eq!(
        engine.position(1, SYMBOL).unwrap().open_orders as usize,
        open.len(),
        "the account's orders all rest"
    );
    (engine, open, canceled)
}

fn timed(histogram: &mut hdrhistogram::Histogram<u64>, op: impl FnOnce()) {
    let start = Instant::now();
    op();
    histogram.record(start.elapsed().as_nanos() as u64).unwrap();
}

pub fn run(args: &QueryArgs) -> Vec<Figure> {
    crate::report::pin(args.core);
    let (mut engine, open, canceled) = filled(args);
    let mut rng = Rng::new(args.seed);
    let mut pick = |n: usize| rng.below(n as u64) as usize;
    println!(
        "queries: account 1 has {} open orders on one symbol, {} resting in all",
        open.len(),
        engine.resting_orders()
    );
    let (mut by_id, mut live, mut stale, mut positions, mut done) = (
        histogram(),
        histogram(),
        histogram(),
        histogram(),
        histogram(),
    );
    let mut seen = 0usize;
    for _ in 0..args.ops {
        let (_, coid) = open[pick(open.len())];
        timed(&mut by_id, || {
            seen += engine.order_by_client_id(1, SYMBOL, coid).is_some() as usize
        });
        let after = PageCursor {
            book: 0,
            after_order_id: open[pick(open.len())].0,
        };
        timed(&mut live, || {
            engine.open_orders_page(1, None, after, PAGE, |_| seen += 1);
        });
        let gone = PageCursor {
            book: 0,
            after_order_id: canceled[pick(canceled.len())],
        };
        timed(&mut stale, || {
            engine.open_orders_page(1, None, gone, PAGE, |_| seen += 1);
        });
        timed(&mut positions, || {
            engine.positions_page(1, None, PageCursor::default(), PAGE, |_, _| seen += 1);
        });
        // The canceled orders are the account's done orders: a first page.
        timed(&mut done, || {
            engine.done_orders_page(1, None, PageCursor::default(), PAGE, |_, _| seen += 1);
        });
    }
    assert!(seen > 0);
    let (new, cancel) = reference_commands(&mut engine, args.ops);
    vec![
        Figure::latency("query: order by client order id", &by_id, Unit::Ns).print(),
        Figure::latency("query: open orders, page of 16", &live, Unit::Ns).print(),
        Figure::latency(
            "query: open orders, page of 16 after a canceled cursor order",
            &stale,
            Unit::Ns,
        )
        .print(),
        Figure::latency("query: positions page", &positions, Unit::Ns).print(),
        Figure::latency("query: done orders, page of 16", &done, Unit::Ns).print(),
        Figure::latency("command: new order that rests", &new, Unit::Ns).print(),
        Figure::latency("command: cancel", &cancel, Unit::Ns).print(),
    ]
}

/// The reference: one order that rests and its cancel, on the same engine,
/// `ops` times.
fn reference_commands(
    engine: &mut Engine,
    ops: usize,
) -> (hdrhistogram::Histogram<u64>, hdrhistogram::Histogram<u64>) {
    let (mut new, mut cancel) = (histogram(), histogram());
    let mut sink = CountingSink::default();
    for i in 0..ops as u64 {
        let price = REFERENCE_PRICE - 1 - (i % 500) as i64;
        let command = limit(3, 1 << 40 | i, Side::Buy, price);
        timed(&mut new, || engine.process(&command, &mut sink));
        let order_id = engine
            .order_by_client_id(3, SYMBOL, 1 << 40 | i)
            .expect("it rests")
            .order_id;
        let command = Command::Cancel(CancelOrder {
            account: 3,
            symbol: SYMBOL,
            order_id,
            client_order_id: 0,
        });
        timed(&mut cancel, || engine.process(&command, &mut sink));
    }
    (new, cancel)
}
