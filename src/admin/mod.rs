//! The admin thread: one unpinned-from-shards thread on a housekeeping
//! core that serves HTTP on `server.admin` and gathers what the shards
//! publish. It is the only reader of the shards' telemetry rings and
//! boards, and nothing a shard does ever waits for it: a slow or stopped
//! admin thread costs the shards nothing but missed histogram swaps
//! (tests/admin/isolation.rs).
//!
//! - `http`: parsing one request (httparse) and encoding one response.
//! - `conns`: the connections in progress, read and written without
//!   blocking, each within its deadlines.
//! - `routes`: which endpoint answers which request.
//! - `store`: the latency histograms the admin thread keeps.
//! - `metrics`: the Prometheus text exposition.
//! - `hgrm`: the HdrHistogram percentile distribution (`.hgrm`).
//! - `interval_log`: every interval histogram, in the HdrHistogram log
//!   format, on disk.
//! - `stats`: the JSON summary.
//! - `market`, `market_api`: the owner shards' market-state pictures, and
//!   `/api/v1/orderbook`, `/trades`, `/tickers` answered from them.
//! - `operator`: the bearer-token-protected operator controls.
//! - `replication`: the journal shipper's figures.
//! - `affinity`: the housekeeping core set.
//! - `schedule`: operator actions run at a time of day (end of day).
//! - `cli`: `tradsys admin ...`, the command line that calls the endpoints.

mod affinity;
pub mod cli;
mod conns;
mod hgrm;
mod http;
mod interval_log;
mod market;
mod market_api;
mod metrics;
mod operator;
mod replication;
mod routes;
mod schedule;
mod stats;
mod store;

pub use hgrm::percentile_distribution;

/// The housekeeping cores (never a shard's unless the host has no other),
/// for the other housekeeping threads (the journal shipper).
pub fn housekeeping_cores(config: &crate::config::Config) -> Vec<usize> {
    affinity::housekeeping_cores(config)
}

/// `cores` as a CPU set, for threads that set their own affinity.
pub fn cpu_set(cores: &[usize]) -> libc::cpu_set_t {
    affinity::cpu_set(cores)
}

/// Pins the calling housekeeping thread to `cores`.
pub fn pin_housekeeping(cores: &[usize]) {
    affinity::pin(cores);
}
pub use interval_log::IntervalLog;
pub use store::LatencyStore;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rtrb::Producer;

use crate::shard::operator::OperatorRequest;
use crate::shard::shared::Shared;
use crate::telemetry::{AdminLink, MarketAdminLink};

/// The admin thread's ends of every shard's rings, made by the server.
pub struct AdminRings {
    /// Latency histograms, one link per shard.
    pub latency: Vec<AdminLink>,
    /// Operator commands, one ring per shard.
    pub operator: Vec<Producer<OperatorRequest>>,
    /// Market-state pictures, one link per shard.
    pub market: Vec<MarketAdminLink>,
}

/// How long the admin thread waits for a connection before it drains the
/// shards' rings again: a quarter of the swap interval (at most 20 ms), so
/// a clean histogram is back well before a shard's next swap.
fn poll_ms(interval_ms: u64) -> i32 {
    (interval_ms / 4).clamp(1, 20) as i32
}

/// A running admin thread.
pub struct AdminThread {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl AdminThread {
    /// Starts the thread on the housekeeping cores, serving `listener`.
    pub fn start(
        listener: TcpListener,
        shared: Arc<Shared>,
        rings: AdminRings,
    ) -> std::io::Result<AdminThread> {
        assert_eq!(rings.latency.len(), shared.config.shard_count());
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let cores = affinity::housekeeping_cores(&shared.config);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("admin".into())
            .spawn(move || {
                affinity::pin(&cores);
                serve(&listener, &shared, rings, &stopping);
            })?;
        Ok(AdminThread { handle, stop, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.handle.join();
    }
}

/// What the admin thread keeps.
pub struct AdminState {
    pub store: LatencyStore,
    /// `None` if not configured or failing (logged once).
    pub log: Option<interval_log::IntervalLog>,
    pub operator_rings: Vec<Producer<OperatorRequest>>,
    pub market: market::MarketStore,
}

impl AdminState {
    /// Takes what the shards handed over; the interval log writes it.
    fn drain(&mut self, links: &mut [AdminLink]) {
        let log = &mut self.log;
        let mut failed = None;
        self.store.drain(links, |interval| {
            if let Some(file) = log.as_mut() {
                if let Err(error) = file.append(interval) {
                    failed = Some(error);
                }
            }
        });
        if let Some(error) = failed {
            if let Some(file) = self.log.take() {
                tracing::error!(path = %file.path().display(), %error, "interval log: cannot write; stopped (the endpoints go on)");
            }
        }
    }
}

fn scheduled_end_of_day(shared: &Shared, state: &mut AdminState) {
    tracing::info!(shards = ?shared.trading_shards, "admin: scheduled end of day");
    let answer = operator::dispatch(
        shared,
        &mut state.operator_rings,
        crate::engine::Command::EndOfDay,
        &shared.trading_shards,
        operator::SCHEDULE,
    );
    if answer.status != 200 {
        let why = String::from_utf8_lossy(&answer.body);
        tracing::error!(status = answer.status, %why, "admin: scheduled end of day not confirmed");
    }
}

fn open_log(shared: &Shared) -> Option<interval_log::IntervalLog> {
    let path = interval_log::path(&shared.config)?;
    match interval_log::IntervalLog::open(path.clone()) {
        Ok(log) => Some(log),
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "interval log: cannot open; none is written");
            None
        }
    }
}

fn serve(listener: &TcpListener, shared: &Shared, rings: AdminRings, stop: &AtomicBool) {
    let mut links = rings.latency;
    let mut state = AdminState {
        store: LatencyStore::new(shared.config.shard_count()),
        log: open_log(shared),
        operator_rings: rings.operator,
        market: market::MarketStore::new(rings.market),
    };
    let poll_ms = poll_ms(shared.config.telemetry.interval_ms);
    let mut schedule = schedule::Schedule::new(&shared.config);
    let mut conns = conns::Conns::new();
    while !stop.load(Ordering::Acquire) {
        let incoming = conns.wait(listener, poll_ms);
        state.drain(&mut links);
        if schedule.end_of_day_due() {
            scheduled_end_of_day(shared, &mut state);
        }
        if !incoming && conns.is_empty() {
            if let Some(log) = state.log.as_mut() {
                let _ = log.flush();
            }
            continue;
        }
        if incoming {
            conns.accept(listener);
        }
        conns.step(|request| {
            state.drain(&mut links);
            routes::answer(request, shared, &mut state)
        });
    }
    state.drain(&mut links);
    if let Some(log) = state.log.as_mut() {
        let _ = log.flush();
    }
}
