//! `tradsys-bench engine`: the matching engine alone, pinned to one core,
//! on a realistic mix (about 60% new limit orders near the touch, 30%
//! cancels, 5% replaces, 5% marketable IOC / market orders) over books
//! thousands of orders deep, for 1 and for 100 symbols.
//!
//! The command stream is generated first (by running it once through a
//! scratch engine, so cancels and replaces name orders that are live at that
//! moment), then replayed through a fresh engine; only the replay is timed.

use std::collections::HashMap;
use std::time::Instant;

use tradsys::engine::*;

use crate::report::Figure;
use crate::rng::Rng;

#[derive(clap::Args)]
pub struct EngineArgs {
    /// Timed operations per scenario.
    #[arg(long, default_value_t = 4_000_000)]
    pub ops: usize,
    /// Resting orders placed in each book before timing starts.
    #[arg(long, default_value_t = 5_000)]
    pub depth: usize,
    /// Core to pin the benchmark thread to.
    #[arg(long, default_value_t = 1)]
    pub core: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Timed replays per scenario (fresh engine each); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Commands per `process_batch` call (1 = one at a time, no prefetch
    /// ahead).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Run only this scenario (number of symbols); default runs 1 and 100.
    #[arg(long)]
    pub symbols: Option<u32>,
    /// Compare with matchcore and orderbook-rs on one stream (issue 15)
    /// instead of the plain engine figures.
    #[arg(long)]
    pub peers: bool,
    /// Timed commands per scenario with `--peers`.
    #[arg(long, default_value_t = 500_000)]
    pub peer_ops: usize,
    /// Resting orders per book before timing with `--peers`.
    #[arg(long, default_value_t = 4_000)]
    pub peer_depth: usize,
    /// With `--peers`: replay the stream through this one book only
    /// (`tradsys`, `matchcore`, or `none` for the stream alone), once,
    /// untimed, for a counting profiler (cachegrind): the difference
    /// between a book's run and `none`'s is that book's cost.
    #[arg(long)]
    pub profile_book: Option<String>,
    /// With `--peers`: leave `orderbook-rs` out (most of a run's time), for
    /// quick A/B runs of tradsys against `matchcore`.
    #[arg(long)]
    pub without_orderbook_rs: bool,
    /// With `--peers`: commands per slice of the interleaved comparison,
    /// where tradsys and matchcore replay the timed stream in alternating
    /// slices (0: leave it out).
    #[arg(long, default_value_t = 30_000)]
    pub slice: usize,
}

/// The reference price of every symbol (the journal bench shares it).
pub const REFERENCE_PRICE: Price = 100_000;
pub const ACCOUNTS: u32 = 64;

/// `symbols` books with the same reference data and `ACCOUNTS` unlimited
/// accounts (the journal bench replays into the same).
pub fn config(symbols: u32, order_capacity: u32) -> EngineConfig {
    EngineConfig {
        symbols: (1..=symbols)
            .map(|id| SymbolSpec {
                id,
                tick_size: 1,
                lot_size: 1,
                reference_price: REFERENCE_PRICE,
                price_band_bps: 1_000,
            })
            .collect(),
        accounts: (1..=ACCOUNTS)
            .map(|id| AccountSpec {
                id,
                limits: RiskLimits::UNLIMITED,
                default_stp: StpMode::CancelResting,
            })
            .collect(),
        order_capacity,
        max_levels_per_side: 4_096,
    }
}

/// A resting order the generator may cancel or replace.
#[derive(Clone, Copy)]
struct Live {
    symbol: SymbolId,
    order_id: OrderId,
    account: AccountId,
    price: Price,
    leaves_qty: Qty,
}

/// Orders live in the scratch engine, with O(1) removal by id.
#[derive(Default)]
struct LiveSet {
    orders: Vec<Live>,
    position: HashMap<OrderId, usize>,
}

impl LiveSet {
    fn add(&mut self, live: Live) {
        self.position.insert(live.order_id, self.orders.len());
        self.orders.push(live);
    }

    fn remove(&mut self, order_id: OrderId) {
        if let Some(i) = self.position.remove(&order_id) {
            self.orders.swap_remove(i);
            if i < self.orders.len() {
                self.position.insert(self.orders[i].order_id, i);
            }
        }
    }

    /// Brings the tracked set up to date with what one command did.
    fn apply(&mut self, engine: &Engine, events: &[Event]) {
        for event in events {
            match *event {
                Event::Accepted {
                    order_id,
                    account,
                    symbol,
                    ..
                } => {
                    if let Some(order) = engine.order(account, symbol, order_id) {
                        self.add(Live {
                            symbol,
                            order_id,
                            account,
                            price: order.price,
                            leaves_qty: order.leaves_qty,
                        });
                    }
                }
                Event::Canceled { order_id, .. } => self.remove(order_id),
                Event::Fill {
                    order_id,
                    leaves_qty: 0,
                    ..
                } => self.remove(order_id),
                Event::Fill {
                    order_id,
                    leaves_qty,
                    ..
                }
                | Event::Replaced {
                    order_id,
                    leaves_qty,
                    ..
                } => {
                    if let Some(&i) = self.position.get(&order_id) {
                        self.orders[i].leaves_qty = leaves_qty;
                        if let Event::Replaced { price, .. } = *event {
                            self.orders[i].price = price;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

struct Generator {
    rng: Rng,
    symbols: u32,
    mid: Vec<Price>,
    next_client_id: u64,
}

impl Generator {
    fn new_limit(&mut self, symbol: SymbolId, side: Side) -> Command {
        let mid = self.mid[symbol as usize - 1];
        // Skewed towards the touch: most orders land within a few ticks.
        let offset = 1 + self.rng.below(40).min(self.rng.below(40)) as Price;
        let price = match side {
            Side::Buy => mid - offset,
            Side::Sell => mid + offset,
        };
        self.order(symbol, side, OrderKind::Limit, TimeInForce::Gtc, price)
    }

    fn order(
        &mut self,
        symbol: SymbolId,
        side: Side,
        kind: OrderKind,
        tif: TimeInForce,
        price: Price,
    ) -> Command {
        self.next_client_id += 1;
        // Passive orders are small; marketable ones are large enough to take
        // out what the extra passive orders add, so books hold their depth.
        let qty = if tif.rests() {
            1 + self.rng.below(10)
        } else {
            20 + self.rng.below(30)
        };
        Command::New(NewOrder {
            account: 1 + self.rng.below(ACCOUNTS as u64) as AccountId,
            symbol,
            client_order_id: self.next_client_id,
            side,
            kind,
            tif,
            post_only: false,
            stp: None,
            price,
            qty,
        })
    }

    fn side(&mut self) -> Side {
        if self.rng.percent(50) {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn symbol(&mut self) -> SymbolId {
        1 + self.rng.below(self.symbols as u64) as SymbolId
    }

    fn next(&mut self, live: &LiveSet) -> Command {
        let roll = self.rng.below(100);
        let symbol = self.symbol();
        if self.rng.percent(2) {
            let mid = &mut self.mid[symbol as usize - 1];
            *mid += if self.rng.percent(50) { 1 } else { -1 };
        }
        if (60..90).contains(&roll) && !live.orders.is_empty() {
            let target = live.orders[self.rng.below(live.orders.len() as u64) as usize];
            self.next_client_id += 1;
            return Command::Cancel(CancelOrder {
                account: target.account,
                symbol: target.symbol,
                order_id: target.order_id,
                client_order_id: self.next_client_id,
            });
        }
        if (90..95).contains(&roll) && !live.orders.is_empty() {
            let target = live.orders[self.rng.below(live.orders.len() as u64) as usize];
            self.next_client_id += 1;
            let (new_price, new_leaves) = if self.rng.percent(50) && target.leaves_qty > 1 {
                (target.price, target.leaves_qty - 1) // keeps priority
            } else {
                (
                    target.price + if self.rng.percent(50) { 1 } else { -1 },
                    target.leaves_qty,
                )
            };
            // The generator does not track fills per order, so it asks for
            // the current leaves plus what the engine says was filled.
            return Command::Replace(ReplaceOrder {
                account: target.account,
                symbol: target.symbol,
                order_id: target.order_id,
                client_order_id: self.next_client_id,
                new_price,
                new_qty: new_leaves,
            });
        }
        if roll >= 95 {
            let side = self.side();
            let mid = self.mid[symbol as usize - 1];
            return if self.rng.percent(50) {
                let price = match side {
                    Side::Buy => mid + 3,
                    Side::Sell => mid - 3,
                };
                self.order(symbol, side, OrderKind::Limit, TimeInForce::Ioc, price)
            } else {
                self.order(symbol, side, OrderKind::Market, TimeInForce::Ioc, 0)
            };
        }
        let side = self.side();
        self.new_limit(symbol, side)
    }
}

/// Builds the warm-up and timed command streams.
fn generate(symbols: u32, args: &EngineArgs, capacity: u32) -> (Vec<Command>, Vec<Command>) {
    let mut scratch = Engine::new(&config(symbols, capacity));
    let mut generator = Generator {
        rng: Rng::new(args.seed),
        symbols,
        mid: vec![REFERENCE_PRICE; symbols as usize],
        next_client_id: 0,
    };
    let mut live = LiveSet::default();
    let mut events = Vec::new();
    let mut run = |command: Command, live: &mut LiveSet, scratch: &mut Engine| {
        events.clear();
        scratch.process(&command, &mut events);
        live.apply(scratch, &events);
        command
    };
    let mut warmup = Vec::with_capacity(args.depth * symbols as usize);
    for symbol in 1..=symbols {
        for i in 0..args.depth {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let command = generator.new_limit(symbol, side);
            warmup.push(run(command, &mut live, &mut scratch));
        }
    }
    let mut timed = Vec::with_capacity(args.ops);
    for _ in 0..args.ops {
        let mut command = generator.next(&live);
        if let Command::Replace(replace) = &mut command {
            // new_qty is the total: add what already traded.
            let order = scratch
                .order(replace.account, replace.symbol, replace.order_id)
                .expect("replace targets a live order");
            replace.new_qty += order.filled_qty;
        }
        timed.push(run(command, &mut live, &mut scratch));
    }
    (warmup, timed)
}

struct Outcome {
    ops_per_sec: f64,
    events: u64,
    resting: u32,
    bytes_per_order: usize,
}

/// Median of `args.repeat` timed replays of one stream through fresh engines.
fn scenario(
    symbols: u32,
    args: &EngineArgs,
    batch: usize,
    stream: &(Vec<Command>, Vec<Command>),
    capacity: u32,
) -> Outcome {
    let (warmup, timed) = stream;
    let mut runs: Vec<Outcome> = (0..args.repeat.max(1))
        .map(|_| {
            let mut engine = Engine::new(&config(symbols, capacity));
            let mut sink = CountingSink::default();
            for command in warmup {
                engine.process(command, &mut sink);
            }
            let mut sink = CountingSink::default();
            let start = Instant::now();
            // In batches, as a socket read delivers them to the gateway.
            if batch <= 1 {
                for command in timed {
                    engine.process(command, &mut sink);
                }
            } else {
                for chunk in timed.chunks(batch) {
                    engine.process_batch(chunk, &mut sink);
                }
            }
            let elapsed = start.elapsed();
            engine.check_invariants();
            Outcome {
                ops_per_sec: timed.len() as f64 / elapsed.as_secs_f64(),
                events: sink.events,
                resting: engine.resting_orders(),
                bytes_per_order: engine.bytes_per_resting_order(),
            }
        })
        .collect();
    runs.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    runs.swap_remove(runs.len() / 2)
}

pub fn run(args: &EngineArgs) -> Vec<Figure> {
    if args.peers {
        crate::peers::run(args);
        return Vec::new();
    }
    let pinned = crate::report::pin(args.core);
    println!(
        "engine bench: {} ops per scenario, {} resting orders per book before timing, pinned to core {}: {}",
        args.ops, args.depth, args.core, pinned
    );
    let mut slowest = f64::MAX;
    let mut bytes = 0;
    let mut figures = Vec::new();
    let scenarios = match args.symbols {
        Some(symbols) => vec![symbols],
        None => vec![1, 100],
    };
    for symbols in scenarios {
        // Room for twice the starting depth: the mix keeps books near it.
        let capacity = (2 * args.depth * symbols as usize).next_power_of_two() as u32;
        let stream = generate(symbols, args, capacity);
        for batch in [1, args.batch.max(2)] {
            let outcome = scenario(symbols, args, batch, &stream, capacity);
            let mode = if batch == 1 {
                "one at a time".to_string()
            } else {
                format!("batches of {batch} with prefetch")
            };
            figures.push(
                Figure::rate(
                    format!("engine[{symbols} symbols, {mode}]"),
                    outcome.ops_per_sec,
                    "ops",
                )
                .print(),
            );
            println!(
                "  {} events, {} resting at end, {} bytes/resting order",
                outcome.events, outcome.resting, outcome.bytes_per_order
            );
            if batch > 1 {
                slowest = slowest.min(outcome.ops_per_sec);
            }
            bytes = bytes.max(outcome.bytes_per_order);
        }
    }
    // The slowest scenario, batched (the engine API; the gateway still
    // hands commands over one at a time).
    println!("  the slowest scenario, batched; {bytes} bytes/resting order");
    figures.push(Figure::rate("engine", slowest, "ops").print());
    figures
}
