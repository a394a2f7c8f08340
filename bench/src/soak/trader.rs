//! One soak session: a thread that keeps a connection logged on (again
//! after every fault), trades the bench mix one request at a time, records
//! every acceptance and fill it is told of for the oracle, and checks what
//! it can check alone: no fill reported twice, fills of a symbol in
//! execution order.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tradsys::client::{Client, Received};
use tradsys::engine::{NewOrder, OrderKind, RejectReason, Side, StpMode, TimeInForce};

use super::gateway::{token, COD_ACCOUNT, SYMBOLS};
use super::oracle::Seen;
use crate::rng::Rng;

/// What the sessions and the fault schedule share (a harness, not a
/// shard: plain locks are fine here).
pub struct Shared {
    /// The gateway's address while it is up.
    pub addr: Mutex<Option<SocketAddr>>,
    pub stop: AtomicBool,
    /// Reports seen since the oracle last checked (it takes them).
    pub seen: Mutex<HashSet<Seen>>,
    pub problems: Mutex<Vec<String>>,
    /// Requests answered, all sessions.
    pub answered: AtomicU64,
    pub refused_journal: AtomicU64,
    pub reconnects: AtomicU64,
    /// Set by the schedule: the cancel-on-disconnect session drops its
    /// connection and publishes the orders it had resting.
    pub drop_cod: AtomicBool,
    pub cod_dropped: Mutex<Option<Vec<(u32, u64)>>>,
    pub started: Instant,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            addr: Mutex::new(None),
            stop: AtomicBool::new(false),
            seen: Mutex::new(HashSet::new()),
            problems: Mutex::new(Vec::new()),
            answered: AtomicU64::new(0),
            refused_journal: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            drop_cod: AtomicBool::new(false),
            cod_dropped: Mutex::new(None),
            started: Instant::now(),
        }
    }

    pub fn problem(&self, what: String) {
        eprintln!("soak: PROBLEM: {what}");
        self.problems.lock().unwrap().push(what);
    }
}

/// The request in flight and how its last answer is recognised.
#[derive(Clone, Copy)]
enum Pending {
    /// A new order: done at its rejection, or at its acceptance if it
    /// rests, or at its end (cancel or last fill) if it is an IOC.
    Order { client_order_id: u64, ioc: bool },
    /// A cancel: done when that order is canceled or the cancel refused.
    Cancel { order_id: u64 },
}

pub fn run(index: usize, account: u32, seed: u64, shared: &Shared) {
    let mut rng = Rng::new(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut next_id = (index as u64) << 40;
    // (symbol, exec_id, order_id) this session was told of, ever: a fill
    // reported twice is a bug (exec ids are never reused, even across
    // restarts).
    let mut fills: HashSet<(u32, u64, u64)> = HashSet::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let addr = *shared.addr.lock().unwrap();
        let Some(addr) = addr else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let Ok(mut client) = Client::connect(addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
        if client
            .logon(account, token(account).as_bytes(), 1000, false)
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        let mut session = Connection {
            account,
            resting: Vec::new(),
            last_exec: HashMap::new(),
        };
        session.trade(&mut client, &mut rng, &mut next_id, &mut fills, shared);
    }
}

struct Connection {
    account: u32,
    /// (symbol, order_id) of this session's orders believed resting.
    resting: Vec<(u32, u64)>,
    /// Per symbol, the last exec_id told on this connection.
    last_exec: HashMap<u32, u64>,
}

impl Connection {
    fn trade(
        &mut self,
        client: &mut Client,
        rng: &mut Rng,
        next_id: &mut u64,
        fills: &mut HashSet<(u32, u64, u64)>,
        shared: &Shared,
    ) {
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                let _ = client.logout();
                return;
            }
            if self.account == COD_ACCOUNT && shared.drop_cod.swap(false, Ordering::AcqRel) {
                // An abrupt close: cancel-on-disconnect must take these.
                *shared.cod_dropped.lock().unwrap() = Some(self.resting.clone());
                let _ = client.stream().shutdown(std::net::Shutdown::Both);
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            *next_id += 1;
            let pending = match self.send_one(client, rng, *next_id) {
                Ok(pending) => pending,
                Err(()) => return,
            };
            if self.await_answer(client, pending, fills, shared).is_err() {
                return;
            }
            shared.answered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The bench mix: rest near the touch, cancel one of ours, take across.
    fn send_one(&mut self, client: &mut Client, rng: &mut Rng, id: u64) -> Result<Pending, ()> {
        let roll = rng.below(100);
        if (roll < 25 || self.resting.len() >= 200) && !self.resting.is_empty() {
            let (symbol, order_id) = self.resting[rng.below(self.resting.len() as u64) as usize];
            client.cancel(id, symbol, order_id).map_err(drop)?;
            return Ok(Pending::Cancel { order_id });
        }
        let (symbol, reference) = SYMBOLS[rng.below(SYMBOLS.len() as u64) as usize];
        let side = if rng.percent(50) {
            Side::Buy
        } else {
            Side::Sell
        };
        let toward = |ticks: i64| match side {
            Side::Buy => reference + ticks,
            Side::Sell => reference - ticks,
        };
        let ioc = roll >= 60;
        let (price, qty) = if ioc {
            (toward(25), 1 + rng.below(20))
        } else {
            (toward(-(1 + rng.below(20) as i64)), 1 + rng.below(10))
        };
        let order = NewOrder {
            account: self.account,
            symbol,
            client_order_id: id,
            side,
            kind: OrderKind::Limit,
            tif: if ioc {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            post_only: false,
            stp: Some(StpMode::CancelIncoming),
            price,
            qty,
        };
        client.new_order(&order).map_err(drop)?;
        Ok(Pending::Order {
            client_order_id: id,
            ioc,
        })
    }

    /// Reads until the request's last answer, recording every report.
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    fn await_answer(
        &mut self,
        client: &mut Client,
        pending: Pending,
        fills: &mut HashSet<(u32, u64, u64)>,
        shared: &Shared,
    ) -> Result<(), ()> {
        loop {
            let received = client.recv().map_err(drop)?;
            let done = match received {
                Received::OrderAccepted(m) => {
                    let (symbol, order_id) = (m.symbol.get(), m.order_id.get());
                    self.record(
                        shared,
                        Seen::Accepted {
                            account: self.account,
                            symbol,
                            order_id,
                        },
                    );
                    match pending {
                        Pending::Order {
                            client_order_id,
                            ioc,
                        } if m.client_order_id.get() == client_order_id => {
                            if !ioc {
                                self.resting.push((symbol, order_id));
                            }
                            !ioc
                        }
                        _ => false,
                    }
                }
                Received::Fill(m) => {
                    let (symbol, exec_id, order_id) =
                        (m.symbol.get(), m.exec_id.get(), m.order_id.get());
                    if !fills.insert((symbol, exec_id, order_id)) {
                        shared.problem(format!(
                            "account {}: fill {exec_id} of order {order_id} (symbol {symbol}) reported twice",
                            self.account
                        ));
                    }
                    let last = self.last_exec.entry(symbol).or_insert(0);
                    if exec_id <= *last {
                        shared.problem(format!(
                            "account {}: symbol {symbol} fill {exec_id} after fill {last}: out of order",
                            self.account
                        ));
                    }
                    *last = exec_id;
                    self.record(
                        shared,
                        Seen::Fill {
                            account: self.account,
                            symbol,
                            exec_id,
                            order_id,
                            qty: m.qty.get(),
                        },
                    );
                    if m.leaves_qty.get() == 0 {
                        self.resting.retain(|&o| o != (symbol, order_id));
                    }
                    matches!(pending, Pending::Order { client_order_id, .. }
                        if m.client_order_id.get() == client_order_id && m.leaves_qty.get() == 0)
                }
                Received::OrderCanceled(m) => {
                    let (symbol, order_id) = (m.symbol.get(), m.order_id.get());
                    self.resting.retain(|&o| o != (symbol, order_id));
                    match pending {
                        Pending::Cancel { order_id: target } => target == order_id,
                        Pending::Order {
                            client_order_id, ..
                        } => m.client_order_id.get() == client_order_id,
                    }
                }
                Received::OrderRejected(m) => {
                    if m.reason.get() == RejectReason::JournalUnavailable.code() {
                        shared.refused_journal.fetch_add(1, Ordering::Relaxed);
                    }
                    matches!(pending, Pending::Order { client_order_id, .. }
                        if m.client_order_id.get() == client_order_id)
                }
                Received::CancelRejected(m) => {
                    let order_id = m.order_id.get();
                    // Unknown to the gateway: no longer resting (filled or
                    // canceled while this session was away).
                    if m.reason.get() != RejectReason::JournalUnavailable.code() {
                        self.resting.retain(|&(_, o)| o != order_id);
                    }
                    matches!(pending, Pending::Cancel { order_id: target } if target == order_id)
                }
                Received::SessionEnd(_) => return Err(()),
                _ => false,
            };
            if done {
                return Ok(());
            }
        }
    }

    fn record(&self, shared: &Shared, seen: Seen) {
        shared.seen.lock().unwrap().insert(seen);
    }
}
