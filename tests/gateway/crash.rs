//! Crash recovery of the real binary: 20 trials (seeded; the seed is
//! printed and `TRADSYS_CRASH_SEED` replays it) of pipelined trading on two
//! shards, a SIGKILL at a random point of the stream, and a restart on the
//! same journal.
//!
//! The oracle is the journal itself, replayed into fresh engines by this
//! test. After every kill it must hold every report a client saw (nothing
//! acknowledged is lost), each fill exactly once, each client order at most
//! once; after the restart the gateway must answer OrderStatus for every
//! order exactly as the oracle's engines say, and the account queries
//! (open orders, positions, an order by its client order id) must list
//! exactly what the oracle's engines hold.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use crate::support::gateway::*;
use tradsys::client::Received;
use tradsys::config::Config;
use tradsys::engine::*;
use tradsys::journal::{shard_dir, ConfigEpoch, Entry, JournalWriter};
use tradsys::protocol::OrderState;

const TRIALS: u64 = 20;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one client saw, in order, until the connection died. Every report
/// counts towards `received`; the one that reaches `kill_at` fires `kill`.
fn collect(
    mut client: tradsys::client::Client,
    received: Arc<AtomicU64>,
    kill_at: u64,
    kill: mpsc::Sender<()>,
) -> thread::JoinHandle<Vec<Received>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        while let Ok(message) = client.recv() {
            seen.push(message);
            if received.fetch_add(1, Ordering::Relaxed) + 1 == kill_at {
                let _ = kill.send(());
            }
        }
        seen
    })
}

/// Every event the journal of each shard produces when replayed.
fn oracle(config: &Config) -> (Vec<Engine>, Vec<Event>) {
    let mut engines = Vec::new();
    let mut events = Vec::new();
    for shard in 0..config.shard_count() {
        let engine_config = config.engine_config(shard);
        let mut engine = Engine::new(&engine_config);
        let dir = shard_dir(&config.journal.dir, shard as u16);
        let (writer, _) =
            JournalWriter::open(&dir, shard as u16, &config.journal, false, |record| {
                match record.entry {
                    Entry::Command(command) => engine.process(&command, &mut events),
                    // The config never changes in this test: every start
                    // after the first finds it in force and records none.
                    Entry::ConfigEpoch(epoch) => {
                        assert_eq!(epoch, ConfigEpoch::of(&engine_config));
                        assert_eq!(record.seq, 1, "one epoch, the journal's first record");
                    }
                    // The market-data feed epoch of each start: no command.
                    Entry::FeedEpoch(_) => {}
                    // Not written: replication.checksum_interval_ms is 0.
                    Entry::StateChecksum(_) => panic!("a checksum in a journal without them"),
                }
            })
            .expect("journal opens after a kill");
        drop(writer);
        engines.push(engine);
    }
    (engines, events)
}

fn account_of(event: &Event) -> Option<AccountId> {
    match *event {
        Event::Accepted { account, .. }
        | Event::Fill { account, .. }
        | Event::Canceled { account, .. }
        | Event::Replaced { account, .. } => Some(account),
        _ => None,
    }
}

/// Checks what a client of `account` saw against the oracle's events.
fn saw_only_journaled(
    account: AccountId,
    seen: &[Received],
    events: &[Event],
    seed: u64,
    trial: u64,
) {
    let mut accepted = HashSet::new();
    let mut fills = HashSet::new();
    let mut canceled = HashSet::new();
    for event in events.iter().filter(|e| account_of(e) == Some(account)) {
        match *event {
            Event::Accepted {
                symbol,
                order_id,
                client_order_id,
                price,
                qty,
                ..
            } => {
                assert!(
                    accepted.insert((symbol, order_id, client_order_id, price, qty)),
                    "seed {seed} trial {trial}: order accepted twice in the journal"
                );
            }
            Event::Fill {
                symbol,
                exec_id,
                order_id,
                qty,
                price,
                leaves_qty,
                ..
            } => {
                assert!(
                    fills.insert((symbol, exec_id, order_id, qty, price, leaves_qty)),
                    "seed {seed} trial {trial}: fill twice in the journal"
                );
            }
            Event::Canceled {
                symbol,
                order_id,
                canceled_qty,
                ..
            } => {
                canceled.insert((symbol, order_id, canceled_qty));
            }
            _ => {}
        }
    }
    for received in seen {
        match received {
            Received::OrderAccepted(m) => assert!(
                accepted.contains(&(
                    m.symbol.get(),
                    m.order_id.get(),
                    m.client_order_id.get(),
                    m.price.get(),
                    m.qty.get()
                )),
                "seed {seed} trial {trial}: acknowledged order missing after the kill: {m:?}"
            ),
            Received::Fill(m) => assert!(
                fills.contains(&(
                    m.symbol.get(),
                    m.exec_id.get(),
                    m.order_id.get(),
                    m.qty.get(),
                    m.price.get(),
                    m.leaves_qty.get()
                )),
                "seed {seed} trial {trial}: fill seen by the client missing after the kill: {m:?}"
            ),
            Received::OrderCanceled(m) => assert!(
                canceled.contains(&(m.symbol.get(), m.order_id.get(), m.canceled_qty.get())),
                "seed {seed} trial {trial}: cancel seen by the client missing after the kill: {m:?}"
            ),
            _ => {}
        }
    }
}

/// After a restart, what the account queries (PROTOCOL.md 5.8) answer must
/// be the oracle's: the open orders, in the documented order; the
/// positions and realized PnL of every symbol; the done orders in the
/// window, with their fills' notional and reason; and an order found by the
/// client order id it was sent with, also when its OrderAccepted never
/// reached the client.
fn queries_match_oracle(
    client: &mut tradsys::client::Client,
    account: AccountId,
    engines: &[Engine],
    accepted: &[(SymbolId, ClientOrderId)],
    context: &str,
) {
    let mut expected = Vec::new();
    let mut positions = Vec::new();
    for engine in engines {
        engine.open_orders_page(account, None, PageCursor::default(), usize::MAX, |v| {
            expected.push((
                v.symbol,
                v.order_id,
                v.client_order_id,
                v.leaves_qty,
                v.price,
            ))
        });
        engine.positions_page(account, None, PageCursor::default(), usize::MAX, |s, p| {
            positions.push((s, p.position, p.realized_pnl, p.open_orders))
        });
    }
    let unexpected = |m: Received| panic!("{context}: a report during the queries: {m:?}");
    let listed: Vec<_> = client
        .all_open_orders(7_000_000, None, unexpected)
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.symbol.get(),
                m.order_id.get(),
                m.order_client_order_id.get(),
                m.leaves_qty.get(),
                m.price.get(),
            )
        })
        .collect();
    assert_eq!(listed, expected, "{context}: open orders");
    let got: Vec<_> = client
        .all_positions(7_000_001, None, unexpected)
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.symbol.get(),
                m.position.get(),
                m.realized_pnl(),
                m.open_orders.get(),
            )
        })
        .collect();
    assert_eq!(got, positions, "{context}: positions");
    done_orders_match_oracle(client, account, engines, context);
    eprintln!(
        "{context}: queries list {} open orders, positions {:?}",
        listed.len(),
        got.iter().map(|p| p.1).collect::<Vec<_>>()
    );
    let symbol_engine = |symbol: SymbolId| engines.iter().find(|e| e.owns_symbol(symbol)).unwrap();
    for (i, &(symbol, coid)) in accepted.iter().rev().take(40).enumerate() {
        client
            .order_query(7_000_100 + i as u64, symbol, coid)
            .unwrap();
        let status = expect(client, "OrderStatus", |r| match r {
            Received::OrderStatus(m) => Some(*m),
            _ => None,
        });
        let want = symbol_engine(symbol)
            .order_by_client_id(account, symbol, coid)
            .map_or((OrderState::Unknown as u8, 0), |v| {
                (OrderState::Open as u8, v.order_id)
            });
        assert_eq!(
            (status.state, status.order_id.get()),
            want,
            "{context}: order with client order id {coid} on {symbol}"
        );
    }
}

/// The done orders (PROTOCOL.md 5.8) a restarted gateway lists are the
/// ones its journal's oracle keeps, in the documented order.
fn done_orders_match_oracle(
    client: &mut tradsys::client::Client,
    account: AccountId,
    engines: &[Engine],
    context: &str,
) {
    let mut expected = Vec::new();
    for engine in engines {
        engine.done_orders_page(account, None, PageCursor::default(), usize::MAX, |s, d| {
            let state = match d.cancel_reason {
                None => OrderState::Filled as u8,
                Some(_) => OrderState::Canceled as u8,
            };
            expected.push((
                s,
                d.order_id,
                d.client_order_id,
                state,
                d.cancel_reason.map_or(0, |r| r as u8),
                (d.filled_qty, d.canceled_qty, d.average_price(), d.notional),
            ))
        });
    }
    let unexpected = |m: Received| panic!("{context}: a report during the queries: {m:?}");
    let listed: Vec<_> = client
        .all_done_orders(7_000_002, None, unexpected)
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.symbol.get(),
                m.order_id.get(),
                m.order_client_order_id.get(),
                m.state,
                m.cancel_reason,
                (
                    m.filled_qty.get(),
                    m.qty.get() - m.filled_qty.get(),
                    m.average_price.get(),
                    m.notional(),
                ),
            )
        })
        .collect();
    assert_eq!(listed, expected, "{context}: done orders");
    eprintln!("{context}: {} done orders listed", listed.len());
}

/// After a restart, the gateway's answer for every order the oracle knows
/// of must be the oracle's.
fn restart_matches_oracle(
    gateway: &Gateway,
    engines: &[Engine],
    events: &[Event],
    seed: u64,
    trial: u64,
) {
    let mut orders: HashMap<AccountId, Vec<(SymbolId, OrderId)>> = HashMap::new();
    let mut client_ids: HashMap<AccountId, Vec<(SymbolId, ClientOrderId)>> = HashMap::new();
    for event in events {
        if let Event::Accepted {
            account,
            symbol,
            order_id,
            client_order_id,
            ..
        } = *event
        {
            orders.entry(account).or_default().push((symbol, order_id));
            client_ids
                .entry(account)
                .or_default()
                .push((symbol, client_order_id));
        }
    }
    let symbol_engine = |symbol: SymbolId| engines.iter().find(|e| e.owns_symbol(symbol)).unwrap();
    for (account, orders) in orders {
        let mut client = gateway.logon(account);
        // Newest first: those are the likeliest to be open.
        for (i, &(symbol, order_id)) in orders.iter().rev().take(40).enumerate() {
            client.order_status(i as u64, symbol, order_id).unwrap();
            let status = expect(&mut client, "OrderStatus", |r| match r {
                Received::OrderStatus(m) => Some(*m),
                _ => None,
            });
            match symbol_engine(symbol).order(account, symbol, order_id) {
                Some(view) => assert_eq!(
                    (
                        status.state,
                        status.leaves_qty.get(),
                        status.filled_qty.get(),
                        status.price.get()
                    ),
                    (
                        OrderState::Open as u8,
                        view.leaves_qty,
                        view.filled_qty,
                        view.price
                    ),
                    "seed {seed} trial {trial}: order {order_id} on {symbol} differs after restart"
                ),
                None => assert_eq!(
                    status.state,
                    OrderState::Unknown as u8,
                    "seed {seed} trial {trial}: done order {order_id} on {symbol} came back"
                ),
            }
        }
        let context = format!("seed {seed} trial {trial} account {account}");
        queries_match_oracle(
            &mut client,
            account,
            engines,
            &client_ids[&account],
            &context,
        );
    }
}

/// Sends a seeded pipelined workload until the connection dies.
fn workload(
    mut alice: tradsys::client::Client,
    mut bob: tradsys::client::Client,
    mut rng: Rng,
    trial: u64,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for op in 0..200_000u64 {
            let client_order_id = trial * 1_000_000 + op;
            let (symbol, tick, lot, reference) = if rng.below(2) == 0 {
                (BTC, 1, 1, 10_000)
            } else {
                (ETH, 5, 10, 3_000)
            };
            let roll = rng.below(100);
            let sent = if roll < 45 {
                let side = if rng.below(2) == 0 {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let offset = tick * (1 + rng.below(5) as i64);
                let price = if side == Side::Sell {
                    reference + offset
                } else {
                    reference - offset
                };
                alice.new_order(&limit(
                    ALICE,
                    symbol,
                    client_order_id,
                    side,
                    price,
                    lot * (1 + rng.below(5)),
                ))
            } else if roll < 75 {
                let side = if rng.below(2) == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let price = if side == Side::Buy {
                    reference + 5 * tick
                } else {
                    reference - 5 * tick
                };
                let mut ioc = limit(
                    BOB,
                    symbol,
                    client_order_id,
                    side,
                    price,
                    lot * (1 + rng.below(8)),
                );
                ioc.tif = TimeInForce::Ioc;
                bob.new_order(&ioc)
            } else if roll < 90 {
                // Order ids are per shard and sequential: aim at a recent one.
                let order_id = 1 + rng.below(op + 1);
                alice.cancel(client_order_id, symbol, order_id)
            } else {
                let order_id = 1 + rng.below(op + 1);
                alice.replace(
                    client_order_id,
                    symbol,
                    order_id,
                    reference + tick,
                    lot * (1 + rng.below(3)),
                )
            };
            if sent.is_err() {
                return; // the gateway is gone
            }
        }
    })
}

#[test]
fn kill_at_random_moments_and_restart_loses_nothing_acknowledged() {
    let seed = std::env::var("TRADSYS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test seed {seed} (replay with TRADSYS_CRASH_SEED={seed})");
    let dir = Gateway::new_dir();
    let overrides = "rate_limit_per_sec = 10000000\nrate_limit_burst = 100000";
    let config = Config::parse(&config(overrides, &dir)).unwrap();
    let mut rng = Rng(seed);
    let mut previous: Option<(Vec<Engine>, Vec<Event>)> = None;
    for trial in 0..TRIALS {
        let gateway = Gateway::start_in(&dir, overrides).unwrap_or_else(|log| {
            panic!(
                "seed {seed} trial {trial}: restart failed:\n{}",
                log.join("\n")
            )
        });
        if let Some((engines, events)) = &previous {
            restart_matches_oracle(&gateway, engines, events, seed, trial);
        }
        let alice = gateway.logon(ALICE);
        let bob = gateway.logon(BOB);
        // The kill lands after a random number of reports, while the
        // clients keep sending: commands are in flight on the sockets, in
        // the rings and in the engines when it does.
        let kill_after = 1 + rng.below(800);
        let received = Arc::new(AtomicU64::new(0));
        let (kill_tx, kill_rx) = mpsc::channel();
        let alice_seen = collect(
            alice.try_clone_for_reading(),
            received.clone(),
            kill_after,
            kill_tx.clone(),
        );
        let bob_seen = collect(bob.try_clone_for_reading(), received, kill_after, kill_tx);
        let writer = workload(alice, bob, Rng(rng.next() | 1), trial);
        kill_rx.recv().expect("the clients received enough reports");
        gateway.kill();
        writer.join().unwrap();
        let (alice_seen, bob_seen) = (alice_seen.join().unwrap(), bob_seen.join().unwrap());
        let (engines, events) = oracle(&config);
        for engine in &engines {
            engine.check_invariants();
        }
        eprintln!(
            "trial {trial}: kill after {kill_after}, alice saw {}, bob saw {}, journal events {}",
            alice_seen.len(),
            bob_seen.len(),
            events.len()
        );
        saw_only_journaled(ALICE, &alice_seen, &events, seed, trial);
        saw_only_journaled(BOB, &bob_seen, &events, seed, trial);
        previous = Some((engines, events));
    }
    // A last restart must still match, then stop cleanly.
    let gateway = Gateway::start_in(&dir, overrides).expect("final restart");
    let (engines, events) = previous.unwrap();
    restart_matches_oracle(&gateway, &engines, &events, seed, TRIALS);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
