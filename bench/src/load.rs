//! The load driver behind `orders` and `compare`: connections spread over
//! one thread per client core, each thread sending on its share of the
//! schedule and reading every answer.
//!
//! What is measured is the time from a request's *intended* send time (open
//! loop) or actual send time (closed loop) to its first answer: the
//! OrderAccepted/OrderRejected of a new order, the OrderReplaced or
//! CancelRejected of a replace, the OrderCanceled or CancelRejected of a
//! cancel. One thread per core: on the 2-core machine the client has one
//! core, and two threads spinning on it would starve each other.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tradsys::engine::*;
use tradsys::protocol::*;

use crate::conn::{Conn, ConnError, Received};
use crate::id_hash::{id_map, IdMap};
use crate::mix::{Mix, Op};
use crate::readiness::Readiness;
use crate::report::{histogram, pin};
use crate::rng::Rng;
use crate::schedule::{Phase, Schedule};

#[derive(Clone, Debug)]
pub enum Mode {
    /// Sends on the schedule; latency from intended send times.
    Open(Schedule),
    /// Keeps `depth` requests per connection waiting for their first
    /// answer; measures from `warmup` for `duration`.
    Closed {
        depth: u64,
        warmup: Duration,
        duration: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub addr: String,
    /// Connection `c` logs on as `accounts[c % len]`.
    pub accounts: Vec<u32>,
    pub token: String,
    pub connections: usize,
    /// One client thread per entry, pinned to that core; connections are
    /// dealt to threads round-robin.
    pub client_cores: Vec<usize>,
    /// Each request picks one at random.
    pub symbols: Vec<u32>,
    /// Reference price of every symbol named (passive prices are a few
    /// ticks either side of it).
    pub reference_price: i64,
    pub tick: i64,
    pub mix: Mix,
    /// Resting orders one connection keeps at most.
    pub max_resting: usize,
    pub mode: Mode,
    pub seed: u64,
}

/// Everything a run measured, all threads merged.
pub struct LoadResult {
    /// Per phase (open loop: all four; closed loop: warm-up and steady).
    pub by_phase: [Histogram<u64>; 4],
    /// Steady phase only, per op.
    pub by_op: [Histogram<u64>; 5],
    pub sent: u64,
    /// Still waiting when the run gave up on them (see `DRAIN_TIMEOUT_NS`).
    pub unanswered: u64,
    /// Open loop: the most a request left after its intended time (the
    /// generator itself falling behind, or stalled).
    pub max_send_lag_ns: u64,
    /// First answers that arrived inside the steady window.
    pub steady_answered: u64,
    pub steady_secs: f64,
    pub fills: u64,
    /// (request, reason code) -> count.
    pub rejects: BTreeMap<(&'static str, u16), u64>,
    pub all_pinned: bool,
    /// Per [`WINDOW_NS`] of the run (by answer time): the slowest answer's
    /// latency, so a tail can be told apart as one event or a steady drift.
    pub window_max: Vec<u64>,
    /// CPU time of the client threads from their start to their end
    /// (schedstat): on a CPU, and runnable waiting for one.
    pub client_run_ns: u64,
    pub client_wait_ns: u64,
}

/// Width of a timeline window.
pub const WINDOW_NS: u64 = 100_000_000;

impl LoadResult {
    /// Nothing measured yet: one thread's tally starts here, and the run's
    /// result is every thread's merged into one.
    fn new(steady_secs: f64, pinned: bool) -> LoadResult {
        LoadResult {
            by_phase: std::array::from_fn(|_| histogram()),
            by_op: std::array::from_fn(|_| histogram()),
            sent: 0,
            unanswered: 0,
            max_send_lag_ns: 0,
            steady_answered: 0,
            steady_secs,
            fills: 0,
            rejects: BTreeMap::new(),
            all_pinned: pinned,
            window_max: Vec::with_capacity(4_096),
            client_run_ns: 0,
            client_wait_ns: 0,
        }
    }

    /// Adds another thread's tally to this one.
    fn merge(&mut self, other: LoadResult) {
        for (into, from) in self.by_phase.iter_mut().zip(&other.by_phase) {
            into.add(from).unwrap();
        }
        for (into, from) in self.by_op.iter_mut().zip(&other.by_op) {
            into.add(from).unwrap();
        }
        self.sent += other.sent;
        self.unanswered += other.unanswered;
        self.max_send_lag_ns = self.max_send_lag_ns.max(other.max_send_lag_ns);
        self.steady_answered += other.steady_answered;
        self.fills += other.fills;
        for (key, n) in other.rejects {
            *self.rejects.entry(key).or_default() += n;
        }
        self.all_pinned &= other.all_pinned;
        self.client_run_ns += other.client_run_ns;
        self.client_wait_ns += other.client_wait_ns;
        if other.window_max.len() > self.window_max.len() {
            self.window_max.resize(other.window_max.len(), 0);
        }
        for (into, from) in self.window_max.iter_mut().zip(&other.window_max) {
            *into = (*into).max(*from);
        }
    }

    /// The `n` windows with the slowest answers: (start ns, max latency ns),
    /// slowest first.
    pub fn worst_windows(&self, n: usize) -> Vec<(u64, u64)> {
        let mut windows: Vec<(u64, u64)> = self
            .window_max
            .iter()
            .enumerate()
            .map(|(i, &max)| (i as u64 * WINDOW_NS, max))
            .filter(|&(_, max)| max > 0)
            .collect();
        windows.sort_by_key(|w| std::cmp::Reverse(w.1));
        windows.truncate(n);
        windows
    }

    /// Requests that got their first answer: each is in exactly one
    /// phase's histogram.
    pub fn answered(&self) -> u64 {
        self.by_phase.iter().map(|h| h.len()).sum()
    }

    pub fn reject_count(&self) -> u64 {
        self.rejects.values().sum()
    }
}

/// A request waiting for its first answer.
#[derive(Clone, Copy)]
struct Pending {
    /// Intended send time (open loop) or actual send time (closed loop),
    /// ns since the run's start.
    start_ns: u64,
    phase: Phase,
    op: Op,
}

/// One of the connection's own orders on the book, as last seen.
#[derive(Clone, Copy)]
struct Resting {
    order_id: u64,
    symbol: u32,
    side: Side,
    price: i64,
    qty: u64,
}

/// A connection already logged on, handed to [`run_placed`] with the
/// symbols its requests pick from (the `scaling` bench places sessions on
/// shards it has detected, and gives each the symbols of one shard).
pub struct Placed {
    pub conn: Conn,
    pub account: u32,
    pub symbols: Vec<u32>,
}

/// One connection's requests and resting orders.
struct Session {
    conn: Conn,
    account: u32,
    /// The symbols this connection's new orders pick from at random.
    symbols: Vec<u32>,
    next_request: u64,
    /// Request id (client_order_id) -> what is waiting for its answer.
    pending: IdMap<Pending>,
    /// Order id -> the cancel request waiting on it (an OrderCanceled names
    /// the order, not the cancel request).
    cancels: IdMap<u64>,
    /// This connection's orders on the book, for cancels and replaces to
    /// pick from at random, and where each one is in that list by order id.
    resting: Vec<Resting>,
    resting_at: IdMap<usize>,
}

impl Session {
    fn new(spec: &LoadSpec, placed: Placed) -> Session {
        assert!(!placed.symbols.is_empty(), "a session needs a symbol");
        Session {
            conn: placed.conn,
            account: placed.account,
            symbols: placed.symbols,
            next_request: 1,
            pending: id_map(1 << 12),
            cancels: id_map(1 << 12),
            resting: Vec::with_capacity(spec.max_resting + 1),
            resting_at: id_map(spec.max_resting * 2),
        }
    }

    fn add_resting(&mut self, order: Resting) {
        if !self.resting_at.contains_key(&order.order_id) {
            self.resting_at.insert(order.order_id, self.resting.len());
            self.resting.push(order);
        }
    }

    fn remove_resting(&mut self, order_id: u64) {
        if let Some(at) = self.resting_at.remove(&order_id) {
            self.resting.swap_remove(at);
            if let Some(moved) = self.resting.get(at) {
                self.resting_at.insert(moved.order_id, at);
            }
        }
    }
}

/// The clock every thread shares: ns since the run's start.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Passive orders rest within this many ticks of the reference price.
const PASSIVE_TICKS: i64 = 20;

/// What the sender needs to build a request.
struct Builder<'a> {
    spec: &'a LoadSpec,
    rng: Rng,
}

impl Builder<'_> {
    fn symbol(&mut self, symbols: &[u32]) -> u32 {
        symbols[self.rng.below(symbols.len() as u64) as usize]
    }

    /// A passive price: 1 to [`PASSIVE_TICKS`] ticks on the side's own
    /// side of the reference.
    fn passive_price(&mut self, side: Side) -> i64 {
        let ticks = 1 + self.rng.below(PASSIVE_TICKS as u64) as i64;
        match side {
            Side::Buy => self.spec.reference_price - ticks * self.spec.tick,
            Side::Sell => self.spec.reference_price + ticks * self.spec.tick,
        }
    }

    fn side(&mut self) -> Side {
        if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// Queues the request `op` on `session`; returns the op actually sent
    /// (a cancel or replace with nothing to act on becomes a rest, a rest
    /// over the cap becomes a cancel).
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    fn queue(&mut self, session: &mut Session, mut op: Op, start_ns: u64, phase: Phase) -> Op {
        if matches!(op, Op::Cancel | Op::Replace) && session.resting.is_empty() {
            op = Op::Rest;
        }
        if op == Op::Rest && session.resting.len() >= self.spec.max_resting {
            op = Op::Cancel;
        }
        let id = session.next_request;
        session.next_request += 1;
        let new_order = |symbol, side, tif, price, qty, stp| {
            NewOrderMsg::from_order(&NewOrder {
                account: session.account,
                symbol,
                client_order_id: id,
                side,
                kind: OrderKind::Limit,
                tif,
                post_only: false,
                stp,
                price,
                qty,
            })
        };
        match op {
            Op::Ioc => {
                // Far below any resting sell: accepted, then canceled.
                let price = self.spec.reference_price - self.spec.reference_price / 20;
                let msg = new_order(
                    self.symbol(&session.symbols),
                    Side::Buy,
                    TimeInForce::Ioc,
                    price,
                    1,
                    None,
                );
                session.conn.queue(&msg);
            }
            Op::Rest => {
                let side = self.side();
                let price = self.passive_price(side);
                let qty = 1 + self.rng.below(3);
                let msg = new_order(
                    self.symbol(&session.symbols),
                    side,
                    TimeInForce::Gtc,
                    price,
                    qty,
                    None,
                );
                session.conn.queue(&msg);
            }
            Op::Take => {
                // Through every passive price on the other side.
                let side = self.side();
                let through = (PASSIVE_TICKS + 5) * self.spec.tick;
                let price = match side {
                    Side::Buy => self.spec.reference_price + through,
                    Side::Sell => self.spec.reference_price - through,
                };
                // Meeting its own account's order first, the take is what
                // gets canceled: the default (cancel resting) would sweep
                // every own order on that side off the book at once.
                let stp = Some(StpMode::CancelIncoming);
                let msg = new_order(
                    self.symbol(&session.symbols),
                    side,
                    TimeInForce::Ioc,
                    price,
                    1,
                    stp,
                );
                session.conn.queue(&msg);
            }
            Op::Cancel => {
                let at = self.rng.below(session.resting.len() as u64) as usize;
                let order = session.resting[at];
                session.remove_resting(order.order_id);
                session.cancels.insert(order.order_id, id);
                session
                    .conn
                    .queue(&CancelOrderMsg::new(id, order.order_id, order.symbol));
            }
            Op::Replace => {
                // A new passive price, the same total quantity: never a
                // no-change replace, never below what has filled.
                let at = self.rng.below(session.resting.len() as u64) as usize;
                let order = &mut session.resting[at];
                let mut price = self.passive_price(order.side);
                if price == order.price {
                    // One tick further from the reference (nearer at the
                    // far edge of the passive range).
                    let away = match order.side {
                        Side::Buy => -self.spec.tick,
                        Side::Sell => self.spec.tick,
                    };
                    let ticks = (price - self.spec.reference_price).abs() / self.spec.tick;
                    price += if ticks < PASSIVE_TICKS { away } else { -away };
                }
                order.price = price;
                let (order_id, symbol, qty) = (order.order_id, order.symbol, order.qty);
                session
                    .conn
                    .queue(&ReplaceOrderMsg::new(id, order_id, symbol, price, qty));
            }
        }
        session.pending.insert(
            id,
            Pending {
                start_ns,
                phase,
                op,
            },
        );
        op
    }
}

/// Records the first answer to request `id`, if it is still pending.
fn answered(
    session: &mut Session,
    tally: &mut LoadResult,
    id: u64,
    now_ns: u64,
    steady: (u64, u64),
) -> Option<Pending> {
    let pending = session.pending.remove(&id)?;
    let latency = now_ns.saturating_sub(pending.start_ns).max(1);
    tally.by_phase[pending.phase.index()]
        .record(latency)
        .expect("latency within the histogram's 60 s");
    if pending.phase == Phase::Steady {
        tally.by_op[pending.op.index()].record(latency).unwrap();
    }
    let window = (now_ns / WINDOW_NS) as usize;
    if window >= tally.window_max.len() {
        tally.window_max.resize(window + 1, 0);
    }
    tally.window_max[window] = tally.window_max[window].max(latency);
    if now_ns >= steady.0 && now_ns < steady.1 {
        tally.steady_answered += 1;
    }
    Some(pending)
}

fn reject(tally: &mut LoadResult, op: Op, reason: u16) {
    *tally.rejects.entry((op.name(), reason)).or_default() += 1;
}

/// Reads everything that has arrived on `session`.
fn drain(
    session: &mut Session,
    tally: &mut LoadResult,
    clock: Clock,
    steady: (u64, u64),
) -> Result<(), ConnError> {
    // One clock read per socket read: its messages arrived together.
    let (mut stamped_reads, mut now) = (None, 0);
    while let Some(message) = session.conn.poll()? {
        if stamped_reads != Some(session.conn.reads()) {
            stamped_reads = Some(session.conn.reads());
            now = clock.ns();
        }
        match message {
            Received::OrderAccepted(m) => {
                if let Some(p) = answered(session, tally, m.client_order_id.get(), now, steady) {
                    if p.op == Op::Rest {
                        session.add_resting(Resting {
                            order_id: m.order_id.get(),
                            symbol: m.symbol.get(),
                            side: if m.side == 1 { Side::Buy } else { Side::Sell },
                            price: m.price.get(),
                            qty: m.qty.get(),
                        });
                    }
                }
            }
            Received::OrderRejected(m) => {
                if let Some(p) = answered(session, tally, m.client_order_id.get(), now, steady) {
                    reject(tally, p.op, m.reason.get());
                }
            }
            Received::OrderReplaced(m) => {
                answered(session, tally, m.client_order_id.get(), now, steady);
            }
            Received::CancelRejected(m) => {
                let order_id = m.order_id.get();
                let id = m.client_order_id.get();
                if session.cancels.get(&order_id) == Some(&id) {
                    session.cancels.remove(&order_id);
                }
                if let Some(p) = answered(session, tally, id, now, steady) {
                    reject(tally, p.op, m.reason.get());
                }
            }
            Received::OrderCanceled(m) => {
                let order_id = m.order_id.get();
                // Off the book either way. Only a Requested cancel answers
                // our cancel request; after any other (self-trade
                // prevention, say) the request still gets its own
                // CancelRejected, and that is its answer.
                session.remove_resting(order_id);
                if m.reason == CancelReason::Requested as u8 {
                    if let Some(id) = session.cancels.remove(&order_id) {
                        answered(session, tally, id, now, steady);
                    }
                }
            }
            Received::Fill(m) => {
                tally.fills += 1;
                if m.leaves_qty.get() == 0 {
                    session.remove_resting(m.order_id.get());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// How long a thread that has sent everything waits for the next answer.
const DRAIN_TIMEOUT_NS: u64 = 10_000_000_000;

/// When a thread that has sent everything stops waiting for the rest: after
/// [`DRAIN_TIMEOUT_NS`] with no answer, counted from the last send or the
/// last answer. Not from the last send alone: a gateway starved of its core
/// (a debug build on a loaded host) answers late and in bursts, and a
/// deadline from the last send counted its late answers as missing.
struct Drain {
    /// Requests waiting when last looked at (none yet: the first look is
    /// no answer).
    waiting: Option<usize>,
    /// When the last send or the last answer was seen.
    since_ns: u64,
}

impl Drain {
    fn new(sending_ended_ns: u64) -> Drain {
        Drain {
            waiting: None,
            since_ns: sending_ended_ns,
        }
    }

    /// True when nothing is waiting for an answer, or when no answer came
    /// for [`DRAIN_TIMEOUT_NS`] (the rest is counted as unanswered: a
    /// request whose answer this generator cannot match must not hang the
    /// run).
    fn over(&mut self, waiting: usize, now_ns: u64) -> bool {
        let before = *self.waiting.get_or_insert(waiting);
        debug_assert!(waiting <= before, "nothing is sent while draining");
        if waiting < before {
            self.waiting = Some(waiting);
            self.since_ns = self.since_ns.max(now_ns);
        }
        waiting == 0 || now_ns >= self.since_ns + DRAIN_TIMEOUT_NS
    }
}

fn done_or_given_up(
    sessions: &[Session],
    tally: &mut LoadResult,
    drain: &mut Drain,
    now: u64,
) -> bool {
    let waiting: usize = sessions.iter().map(|s| s.pending.len()).sum();
    if !drain.over(waiting, now) {
        return false;
    }
    tally.unanswered = waiting as u64;
    true
}

/// Reads every connection that has something to read.
fn read_ready(
    readiness: &mut Readiness,
    ready: &mut Vec<usize>,
    sessions: &mut [Session],
    tally: &mut LoadResult,
    clock: Clock,
    steady: (u64, u64),
) {
    ready.clear();
    readiness
        .poll(|i| ready.push(i))
        .unwrap_or_else(|e| fail(ConnError::Io(e)));
    for &i in ready.iter() {
        drain(&mut sessions[i], tally, clock, steady).unwrap_or_else(|e| fail(e));
    }
}

fn connect(spec: &LoadSpec, first: usize, step: usize) -> Vec<Session> {
    (first..spec.connections)
        .step_by(step)
        .map(|c| {
            let account = spec.accounts[c % spec.accounts.len()];
            let conn = Conn::logon(&spec.addr, account, &spec.token).unwrap_or_else(|e| {
                eprintln!(
                    "tradsys-bench: connection {c} to {} as account {account}: {e}",
                    spec.addr
                );
                std::process::exit(1)
            });
            let symbols = spec.symbols.clone();
            Session::new(
                spec,
                Placed {
                    conn,
                    account,
                    symbols,
                },
            )
        })
        .collect()
}

/// Ends the whole run with the reason: a load generator that lost a
/// connection cannot produce honest figures.
fn fail(e: ConnError) -> ! {
    eprintln!("tradsys-bench: load stopped: {e}");
    std::process::exit(1)
}

/// One client thread: its sessions (`placed`, or connected here), its
/// share of the rate.
// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
fn run_thread(
    spec: &LoadSpec,
    thread: usize,
    placed: Option<Vec<Placed>>,
    clock_ready: &std::sync::Barrier,
    start: &std::sync::OnceLock<Instant>,
) -> LoadResult {
    let threads = spec.client_cores.len();
    let cpu_at_start = crate::schedstat::this_thread();
    let pinned = pin(spec.client_cores[thread]);
    let mut sessions: Vec<Session> = match placed {
        Some(placed) => placed.into_iter().map(|p| Session::new(spec, p)).collect(),
        None => connect(spec, thread, threads),
    };
    let mut builder = Builder {
        spec,
        rng: Rng::new(spec.seed ^ (thread as u64 + 1).wrapping_mul(0x9E37_79B9)),
    };
    let mut tally = LoadResult::new(0.0, pinned);
    clock_ready.wait();
    let clock = Clock(*start.get_or_init(Instant::now));
    if sessions.is_empty() {
        return tally;
    }
    let mut readiness = Readiness::new(sessions.len()).expect("create an epoll set");
    for (i, session) in sessions.iter().enumerate() {
        readiness
            .add(session.conn.raw_fd(), i)
            .expect("watch a connection");
    }
    let mut ready = Vec::with_capacity(sessions.len());
    match &spec.mode {
        Mode::Open(schedule) => {
            // This thread's share: every `threads`-th slot of the schedule,
            // so the merged stream follows the schedule exactly.
            let total = schedule.total_orders();
            let before_steady: u64 = schedule.orders_per_phase()[..2].iter().sum();
            let steady_window = (
                schedule.intended_ns(before_steady),
                schedule.intended_ns(before_steady + schedule.orders_per_phase()[2]),
            );
            let mut slot = thread as u64;
            let mut next_conn = 0;
            // A socket that did not take all its bytes is retried each turn.
            let mut pushed_back = false;
            let conns = sessions.len();
            let mut drain = Drain::new(schedule.intended_ns(total));
            loop {
                let now = clock.ns();
                let mut queued = false;
                while slot < total && schedule.intended_ns(slot) <= now {
                    tally.max_send_lag_ns =
                        tally.max_send_lag_ns.max(now - schedule.intended_ns(slot));
                    let session = &mut sessions[next_conn];
                    next_conn = (next_conn + 1) % conns;
                    let op = spec.mix.pick(builder.rng.next_u64());
                    builder.queue(
                        session,
                        op,
                        schedule.intended_ns(slot),
                        schedule.phase(slot),
                    );
                    tally.sent += 1;
                    slot += threads as u64;
                    queued = true;
                }
                if queued || pushed_back {
                    pushed_back = false;
                    for session in sessions.iter_mut().filter(|s| s.conn.unsent() > 0) {
                        session.conn.flush().unwrap_or_else(|e| fail(e));
                        pushed_back |= session.conn.unsent() > 0;
                    }
                }
                read_ready(
                    &mut readiness,
                    &mut ready,
                    &mut sessions,
                    &mut tally,
                    clock,
                    steady_window,
                );
                if slot >= total && done_or_given_up(&sessions, &mut tally, &mut drain, now) {
                    break;
                }
            }
        }
        Mode::Closed {
            depth,
            warmup,
            duration,
        } => {
            let steady_from = warmup.as_nanos() as u64;
            let end = steady_from + duration.as_nanos() as u64;
            let steady_window = (steady_from, end);
            let mut drain = Drain::new(end);
            loop {
                let now = clock.ns();
                let phase = if now < steady_from {
                    Phase::Warmup
                } else {
                    Phase::Steady
                };
                for session in sessions.iter_mut() {
                    if now < end && (session.pending.len() as u64) < *depth {
                        // One clock read for the requests of one refill:
                        // they leave in the same write.
                        let queued_ns = clock.ns();
                        while (session.pending.len() as u64) < *depth {
                            let op = spec.mix.pick(builder.rng.next_u64());
                            builder.queue(session, op, queued_ns, phase);
                            tally.sent += 1;
                        }
                    }
                    if session.conn.unsent() > 0 {
                        session.conn.flush().unwrap_or_else(|e| fail(e));
                    }
                }
                read_ready(
                    &mut readiness,
                    &mut ready,
                    &mut sessions,
                    &mut tally,
                    clock,
                    steady_window,
                );
                if now >= end && done_or_given_up(&sessions, &mut tally, &mut drain, now) {
                    break;
                }
            }
        }
    }
    for session in sessions {
        session.conn.logout();
    }
    let cpu_at_end = crate::schedstat::this_thread();
    tally.client_run_ns = cpu_at_end.0.saturating_sub(cpu_at_start.0);
    tally.client_wait_ns = cpu_at_end.1.saturating_sub(cpu_at_start.1);
    tally
}

/// Runs the load and merges every thread's figures.
pub fn run(spec: &LoadSpec) -> LoadResult {
    drive(spec, None)
}

/// As [`run`], on connections already logged on (`spec.connections` of
/// them), each with its own symbols; `spec.accounts` and `spec.symbols`
/// are not used. Dealt to the client threads round-robin, as [`run`] deals.
pub fn run_placed(spec: &LoadSpec, placed: Vec<Placed>) -> LoadResult {
    assert_eq!(
        placed.len(),
        spec.connections,
        "one placed session per connection"
    );
    drive(spec, Some(placed))
}

fn drive(spec: &LoadSpec, placed: Option<Vec<Placed>>) -> LoadResult {
    assert!(!spec.client_cores.is_empty() && spec.connections > 0);
    assert!(!spec.accounts.is_empty() && !spec.symbols.is_empty());
    let threads = spec.client_cores.len();
    let mut dealt: Vec<Option<Vec<Placed>>> = (0..threads)
        .map(|_| placed.as_ref().map(|_| Vec::new()))
        .collect();
    for (i, one) in placed.into_iter().flatten().enumerate() {
        dealt[i % threads]
            .as_mut()
            .expect("dealt when placed")
            .push(one);
    }
    // Every thread connects and logs on first; the clock starts once all
    // are ready, so logon time is never charged to the schedule.
    let ready = std::sync::Barrier::new(threads);
    let start = std::sync::OnceLock::new();
    let tallies: Vec<LoadResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = dealt
            .into_iter()
            .enumerate()
            .map(|(t, mine)| {
                let (ready, start) = (&ready, &start);
                scope.spawn(move || run_thread(spec, t, mine, ready, start))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let steady_secs = match &spec.mode {
        Mode::Open(s) => s.steady.as_secs_f64(),
        Mode::Closed { duration, .. } => duration.as_secs_f64(),
    };
    let mut result = LoadResult::new(steady_secs, true);
    for tally in tallies {
        result.merge(tally);
    }
    result
}

#[cfg(test)]
mod tests {
    //! Short runs on loopback against the echo server and against a real
    //! gateway started in this process. They check what the generator
    //! counts and charges, never how fast anything is.

    use std::net::{SocketAddr, TcpListener};

    use super::*;
    use crate::echo_bench::{spawn_echo, Stall};
    use crate::orders_bench::{self, OrdersArgs};

    /// The client core: 1 where there is one, so the server keeps core 0.
    fn client_core() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(2)) - 1
    }

    fn free_addr() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    fn args(addr: SocketAddr, token: &str, mix: &str, rate: u64) -> OrdersArgs {
        OrdersArgs {
            addr: addr.to_string(),
            accounts: vec![1],
            token: token.into(),
            connections: 1,
            client_cores: vec![client_core()],
            symbols: vec![1],
            reference_price: 5_000_000,
            tick: 1,
            mix: mix.parse().unwrap(),
            max_resting: 50,
            rate,
            depth: 16,
            ramp_up: 0.0,
            warmup: 0.0,
            duration: 1.0,
            ramp_down: 0.0,
            hgrm: std::env::temp_dir()
                .join(format!("tradsys-bench-test-{}.hgrm", std::process::id())),
            seed: 7,
        }
    }

    #[test]
    fn open_loop_charges_a_server_stall_to_every_order_it_delayed() {
        // 10,000 orders/s for 1 s; the echo stops for 50 ms after order
        // 2,000 (t = 0.2 s). About 500 orders are meant to leave during the
        // stall; each is charged from its own intended time, so about 400
        // of them (those meant for its first 40 ms) wait 10 ms or more.
        let addr = free_addr();
        let stall = Stall {
            after: 2_000,
            pause: Duration::from_millis(50),
        };
        let echo = spawn_echo(addr, 0, Some(1), Some(stall));
        let load = args(addr, "echo", "ioc=1", 10_000);
        let result = run(&load.spec());
        echo.join().unwrap();
        let steady = &result.by_phase[Phase::Steady.index()];
        assert_eq!(result.sent, 10_000);
        assert_eq!(steady.len(), 10_000, "every order answered and measured");
        let delayed = steady.count_between(10_000_000, u64::MAX);
        assert!(
            delayed >= 350,
            "only {delayed} orders charged 10 ms or more"
        );
        assert!(
            steady.max() >= 45_000_000,
            "the first delayed order waited the whole stall: max {} ns",
            steady.max()
        );
    }

    #[test]
    fn closed_loop_keeps_the_depth_in_flight_and_counts_every_answer() {
        let addr = free_addr();
        let echo = spawn_echo(addr, 0, Some(1), None);
        let mut load = args(addr, "echo", "ioc=1", 0);
        load.duration = 0.3;
        let result = run(&load.spec());
        echo.join().unwrap();
        assert!(result.sent > 16, "the pipeline was refilled");
        assert_eq!(result.answered(), result.sent, "nothing left unanswered");
        assert_eq!(result.unanswered, 0);
        assert_eq!(result.reject_count(), 0);
        assert!(result.steady_answered > 0 && result.steady_answered <= result.answered());
    }

    #[test]
    fn the_drain_waits_while_answers_keep_coming_and_gives_up_after_silence() {
        const S: u64 = 1_000_000_000;
        // Sending ended at 1 s with 3,000 requests waiting. A starved
        // gateway answers them in bursts 6 s apart: that is slow, not lost.
        let mut drain = Drain::new(S);
        assert!(!drain.over(3_000, S));
        assert!(!drain.over(2_000, 7 * S));
        assert!(!drain.over(1_000, 13 * S), "answers came 6 s ago");
        assert!(!drain.over(1_000, 22 * S), "answers came 9 s ago");
        assert!(drain.over(1_000, 23 * S), "10 s without an answer");
        // Nothing waiting: done at once.
        assert!(Drain::new(S).over(0, S));
        // Nothing ever answered: given up 10 s after the last send.
        let mut silent = Drain::new(S);
        assert!(!silent.over(5, 10 * S));
        assert!(silent.over(5, 11 * S));
    }

    /// A gateway on the bench config, in this process, on an ephemeral
    /// port, parked when idle, journaling to a scratch directory.
    fn gateway(dir: &std::path::Path) -> tradsys::server::Server {
        let text = include_str!("../../configs/bench.toml")
            .replace("127.0.0.1:7001", "127.0.0.1:0")
            .replace("127.0.0.1:7002", "127.0.0.1:0")
            .replace("127.0.0.1:9090", "127.0.0.1:0")
            .replace("idle = \"spin\"", "idle = \"park\"")
            .replace(
                "dir = \"./data\"",
                &format!("dir = {:?}", dir.display().to_string()),
            );
        let config = tradsys::config::Config::parse(&text).expect("bench config");
        tradsys::server::Server::start(config).expect("start the gateway")
    }

    #[test]
    fn a_mixed_run_through_the_gateway_answers_every_request_and_writes_the_hgrm() {
        let dir = std::env::temp_dir().join(format!("tradsys-bench-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let server = gateway(&dir);
        let mut load = args(
            server.order_entry_addr(),
            "bench-token",
            "rest=40,cancel=20,replace=15,ioc=5,take=20",
            4_000,
        );
        load.accounts = vec![1, 2];
        load.connections = 2;
        load.symbols = vec![1, 2];
        load.ramp_up = 0.2;
        load.warmup = 0.1;
        load.duration = 0.5;
        load.ramp_down = 0.2;
        let result = run(&load.spec());
        // Phases: 400 + 400 + 2000 + 400 requests.
        let counts: Vec<u64> = Phase::ALL
            .iter()
            .map(|p| result.by_phase[p.index()].len())
            .collect();
        assert_eq!(counts, vec![400, 400, 2_000, 400]);
        assert_eq!(result.answered(), result.sent);
        assert_eq!(result.unanswered, 0, "every answer matched its request");
        for op in Op::ALL {
            assert!(
                !result.by_op[op.index()].is_empty(),
                "no {} measured",
                op.name()
            );
        }
        assert!(result.fills > 0, "takes traded against the other account");
        // The only reject a correct mix can meet: a cancel or replace that
        // lost the race against a fill.
        for ((request, reason), n) in &result.rejects {
            assert_eq!(*reason, 100, "{n} {request} rejected with {reason}");
        }

        let figures = orders_bench::run(&load);
        let hgrm = std::fs::read_to_string(&load.hgrm).unwrap();
        assert!(hgrm.contains("Total count    =         2000]"), "{hgrm}");
        assert!(figures.iter().any(|f| f.name.starts_with("orders latency")));
        server.shutdown();
        server.join().unwrap();
        let _ = std::fs::remove_file(&load.hgrm);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
