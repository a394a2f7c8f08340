//! Replay fidelity: random command streams run through an engine while
//! being journaled; replaying the journal into a fresh engine gives the
//! same events, orders, positions and books, and the next command after
//! replay produces the same events (order and execution ids continue).

use crate::support::journal::*;
use tradsys::config::SyncPolicy;
use tradsys::engine::*;
use tradsys::journal::JournalWriter;

const SYMBOLS: [SymbolId; 2] = [7, 9];
const ACCOUNTS: [AccountId; 3] = [1, 2, 3];

fn engine_config() -> EngineConfig {
    let tight = RiskLimits {
        max_order_qty: 40,
        max_open_orders: 6,
        max_position: 120,
        ..RiskLimits::UNLIMITED
    };
    EngineConfig {
        symbols: vec![
            SymbolSpec {
                id: 7,
                tick_size: 1,
                lot_size: 1,
                reference_price: 1_000,
                price_band_bps: 500,
            },
            SymbolSpec {
                id: 9,
                tick_size: 5,
                lot_size: 10,
                reference_price: 2_000,
                price_band_bps: 500,
            },
        ],
        accounts: ACCOUNTS
            .iter()
            .map(|&id| AccountSpec {
                id,
                limits: if id == 3 {
                    tight
                } else {
                    RiskLimits::UNLIMITED
                },
                default_stp: if id == 2 {
                    StpMode::CancelIncoming
                } else {
                    StpMode::CancelResting
                },
            })
            .collect(),
        order_capacity: 200,
        max_levels_per_side: 24,
    }
}

/// xorshift64*: deterministic streams without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Generates commands that mostly make sense against the live engine:
/// orders near the reference price, cancels and replaces of resting orders
/// (some already gone, some named by another account), and now and then an
/// operator command.
struct Generator {
    rng: Rng,
    /// Every order id ever accepted, for the state comparison.
    known: Vec<(AccountId, SymbolId, OrderId)>,
    resting: Vec<(AccountId, SymbolId, OrderId)>,
    client_order_id: u64,
    /// A kill switch or halt is switched off again this many commands later.
    undo: Option<(u32, Command)>,
}

impl Generator {
    fn next(&mut self) -> Command {
        if let Some((due, command)) = self.undo {
            if due == 0 {
                self.undo = None;
                return command;
            }
            self.undo = Some((due - 1, command));
        }
        self.client_order_id += 1;
        let coid = self.client_order_id;
        let r = &mut self.rng;
        let roll = r.below(1_000);
        let account = r.pick(&ACCOUNTS);
        let symbol = r.pick(&SYMBOLS);
        let (reference, tick, lot) = if symbol == 7 {
            (1_000, 1, 1)
        } else {
            (2_000, 5, 10)
        };
        // Mostly passive (buys below the reference, sells above) so books
        // build up; one in five crosses.
        let side = r.pick(&[Side::Buy, Side::Sell]);
        let away = if r.below(5) == 0 {
            -(r.below(4) as i64)
        } else {
            1 + r.below(10) as i64
        };
        let price = reference - side.sign() * away * tick;
        let qty = (1 + r.below(8)) * lot;
        if roll < 600 || self.resting.is_empty() {
            let market = r.below(10) == 0;
            return Command::New(NewOrder {
                account,
                symbol,
                client_order_id: coid,
                side,
                kind: if market {
                    OrderKind::Market
                } else {
                    OrderKind::Limit
                },
                tif: if market {
                    r.pick(&[TimeInForce::Ioc, TimeInForce::Fok])
                } else {
                    r.pick(&[
                        TimeInForce::Gtc,
                        TimeInForce::Gtc,
                        TimeInForce::Day,
                        TimeInForce::Ioc,
                        TimeInForce::Fok,
                    ])
                },
                post_only: !market && r.below(8) == 0,
                stp: r.pick(&[
                    None,
                    None,
                    Some(StpMode::CancelBoth),
                    Some(StpMode::CancelIncoming),
                ]),
                price,
                qty,
            });
        }
        let (owner, order_symbol, order_id) = if r.below(10) == 0 {
            r.pick(&self.known)
        } else {
            r.pick(&self.resting)
        };
        let owner = if r.below(20) == 0 { account } else { owner };
        match roll {
            600..=799 => Command::Cancel(CancelOrder {
                account: owner,
                symbol: order_symbol,
                order_id,
                client_order_id: coid,
            }),
            800..=949 => {
                let (reference, tick, lot) = if order_symbol == 7 {
                    (1_000, 1, 1)
                } else {
                    (2_000, 5, 10)
                };
                Command::Replace(ReplaceOrder {
                    account: owner,
                    symbol: order_symbol,
                    order_id,
                    client_order_id: coid,
                    new_price: reference + (r.below(21) as i64 - 10) * tick,
                    new_qty: (1 + r.below(10)) * lot,
                })
            }
            950..=954 => Command::MassCancel {
                account,
                symbol: r.pick(&[None, Some(symbol)]),
                reason: CancelReason::MassCancel,
            },
            955..=964 if self.undo.is_none() => {
                self.undo = Some((10, Command::KillSwitch { account, on: false }));
                Command::KillSwitch { account, on: true }
            }
            965..=974 if self.undo.is_none() => {
                self.undo = Some((10, Command::Halt { symbol, on: false }));
                Command::Halt { symbol, on: true }
            }
            975..=994 => Command::SetReferencePrice {
                symbol,
                price: reference + (r.below(5) as i64 - 2) * tick,
            },
            995..=999 => Command::EndOfDay,
            _ => Command::Cancel(CancelOrder {
                account: owner,
                symbol: order_symbol,
                order_id,
                client_order_id: coid,
            }),
        }
    }

    fn learn(&mut self, events: &[Event]) {
        for e in events {
            match *e {
                Event::Accepted {
                    order_id,
                    account,
                    symbol,
                    ..
                } => {
                    self.known.push((account, symbol, order_id));
                    self.resting.push((account, symbol, order_id));
                }
                Event::Canceled {
                    order_id, symbol, ..
                }
                | Event::Fill {
                    order_id,
                    symbol,
                    leaves_qty: 0,
                    ..
                } => self
                    .resting
                    .retain(|&(_, s, id)| (s, id) != (symbol, order_id)),
                _ => {}
            }
        }
    }
}

fn assert_same_state(a: &Engine, b: &Engine, known: &[(AccountId, SymbolId, OrderId)]) {
    for &(_, symbol, order_id) in known {
        for account in ACCOUNTS {
            assert_eq!(
                a.order(account, symbol, order_id),
                b.order(account, symbol, order_id),
                "order {order_id} of account {account} on {symbol}"
            );
        }
    }
    for symbol in SYMBOLS {
        for account in ACCOUNTS {
            assert_eq!(a.position(account, symbol), b.position(account, symbol));
            assert_eq!(a.is_killed(account), b.is_killed(account));
        }
        for side in [Side::Buy, Side::Sell] {
            let depth_a: Vec<LevelView> = a.depth(symbol, side, 64).collect();
            let depth_b: Vec<LevelView> = b.depth(symbol, side, 64).collect();
            assert_eq!(depth_a, depth_b, "{symbol} {side:?}");
            for level in depth_a {
                let fifo_a: Vec<OrderId> = a.level_orders(symbol, side, level.price).collect();
                let fifo_b: Vec<OrderId> = b.level_orders(symbol, side, level.price).collect();
                assert_eq!(
                    fifo_a, fifo_b,
                    "time priority at {symbol} {side:?} {}",
                    level.price
                );
            }
        }
        assert_eq!(a.is_halted(symbol), b.is_halted(symbol));
    }
    assert_eq!(a.resting_orders(), b.resting_orders());
}

fn replay_matches_live(seed: u64, commands: usize, with_spares: bool) {
    let tmp = TempDir::new("replay");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let config = engine_config();
    let mut live = Engine::new(&config);
    let mut generator = Generator {
        rng: Rng(seed),
        known: Vec::new(),
        resting: Vec::new(),
        client_order_id: 0,
        undo: None,
    };
    let (mut writer, _) = JournalWriter::open(tmp.path(), 0, &cfg, false, |_| {}).unwrap();
    let mut live_events = Vec::new();
    let mut peak_resting = 0;
    for i in 0..commands {
        let command = generator.next();
        let mut events = Vec::new();
        live.process(&command, &mut events);
        writer.append(i as u64, &command).unwrap();
        generator.learn(&events);
        live_events.push(events);
        peak_resting = peak_resting.max(live.resting_orders());
        if with_spares {
            if let Some(request) = writer.spare_needed() {
                writer.install_spare(request.create().unwrap());
            }
        }
    }
    assert!(
        writer.stats().segments_rolled >= 2,
        "the stream spans segments"
    );
    let all: Vec<&Event> = live_events.iter().flatten().collect();

    let count = |f: fn(&Event) -> bool| all.iter().filter(|e| f(e)).count();
    let fills = count(|e| matches!(e, Event::Fill { .. }));
    let replaced = count(|e| matches!(e, Event::Replaced { .. }));
    let rejected = count(|e| matches!(e, Event::Rejected { .. }));
    assert!(
        fills > 100 && replaced > 20 && rejected > 20,
        "the stream exercises matching: {fills} fills, {replaced} replaces, {rejected} rejects"
    );
    assert!(
        peak_resting >= 15,
        "books were {peak_resting} orders deep at most"
    );
    drop(writer);

    let mut replayed = Engine::new(&config);
    let mut replay_events = Vec::new();
    let (mut writer, report) = JournalWriter::open(tmp.path(), 0, &cfg, false, |record| {
        let mut events = Vec::new();
        let command = record.command().expect("no config epoch in this journal");
        replayed.process(command, &mut events);
        replay_events.push(events);
    })
    .unwrap();
    assert_eq!(report.records, commands as u64);
    assert_eq!(
        replay_events, live_events,
        "seed {seed}: same events in the same order"
    );
    replayed.check_invariants();
    assert_same_state(&live, &replayed, &generator.known);

    // The next command does the same on both: ids continue identically.
    for _ in 0..50 {
        let command = generator.next();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        live.process(&command, &mut a);
        replayed.process(&command, &mut b);
        assert_eq!(a, b, "seed {seed}: after replay {command:?}");
        writer.append(0, &command).unwrap();
        generator.learn(&a);
    }
    assert_same_state(&live, &replayed, &generator.known);
}

#[test]
fn replay_rebuilds_the_same_engine_state_for_random_streams() {
    for seed in [1, 0xDEAD_BEEF, 42, 7_777] {
        replay_matches_live(seed, 4_000, false);
    }
}

#[test]
fn replay_rebuilds_the_same_engine_state_with_spares_installed() {
    for seed in [3, 99] {
        replay_matches_live(seed, 4_000, true);
    }
}
