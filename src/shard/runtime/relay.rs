//! A follower's relay thread (`tradsys follow`, docs/OPERATIONS.md,
//! "Feed relays"): the market-data endpoint of an order-entry shard (the
//! same reactor, the same `MdHub`, the same tasks, `runtime/md.rs`) with
//! its input replaced. Where a shard's hub takes the owner shards' public
//! events from the mesh, a relay's takes them from the follower's
//! replicas: one SPSC ring per replica shard (rtrb, allocated at start),
//! drained in batches, with the same doorbell a shard parks on (the
//! follower rings it after pushing). Nothing on this thread allocates per
//! message or waits for NATS; the follower's own thread does that.

use std::cell::{Cell, RefCell, RefMut};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::md::{self, MdHost};
use super::{now, Conn, TICK};
use crate::config::Config;
use crate::market_data::Feed;
use crate::shard::md::{MdHub, RelayMsg};
use crate::shard::notify::{Doorbell, LocalNotify, ShardRing};
use crate::shard::reactor::bufring::BufRing;
use crate::shard::reactor::ops::{self, sleep};
use crate::shard::reactor::{self, spawn, Ring};

/// Relay messages one turn takes from one input before the clients'
/// writers run again (the mesh's batch, `core::MESH_BATCH`).
pub const RELAY_BATCH: usize = 4096;

/// Receive buffers of a relay's ring: market-data clients send only small
/// control messages, read into each connection's own buffer.
const RELAY_RECEIVE_BUFFERS: u16 = 8;

/// What a relay thread is given at start.
pub struct RelayStart {
    pub id: usize,
    pub config: Arc<Config>,
    /// The feed rebuilt from the follower's local journals, with its epoch
    /// (the hub is made on the relay's thread: its clients are not `Send`).
    pub feed: Feed,
    /// One ring per replica shard, in shard order.
    pub inputs: Vec<rtrb::Consumer<RelayMsg>>,
    /// This relay's `SO_REUSEPORT` market-data listener.
    pub listener: OwnedFd,
    /// The ring `bell` rings (made with it, `Doorbell::new`).
    pub ring: ShardRing,
    pub bell: Arc<Doorbell>,
    /// Set (and the bell forced) by the follower to stop the relay.
    pub stop: Arc<AtomicBool>,
}

struct RelayTasks {
    id: usize,
    hub: RefCell<MdHub>,
    config: Arc<Config>,
    inputs: RefCell<Vec<rtrb::Consumer<RelayMsg>>>,
    bell: Arc<Doorbell>,
    stop: Arc<AtomicBool>,
    md_stop: LocalNotify,
    md_connections: Cell<usize>,
    md_acceptor_running: Cell<bool>,
}

impl MdHost for RelayTasks {
    fn hub(&self) -> RefMut<'_, MdHub> {
        self.hub.borrow_mut()
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn shutting_down(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
    fn md_stop(&self) -> &LocalNotify {
        &self.md_stop
    }
    fn md_connections(&self) -> &Cell<usize> {
        &self.md_connections
    }
    fn md_acceptor_running(&self) -> &Cell<bool> {
        &self.md_acceptor_running
    }
    fn trade_path(&self) -> &str {
        ""
    }
    fn may_send(&self, bytes: usize) -> bool {
        // A relay thread serves market data only: nothing to yield to.
        debug_assert!(bytes > 0, "only bytes to send are asked for");
        true
    }
    fn turn_share(&self) -> crate::shard::md::turn_share::TurnShare {
        // No order entry here: always the quiet turn's share.
        let share = crate::shard::md::turn_share::IDLE;
        debug_assert!(share.send_bytes >= crate::shard::md::turn_share::BUSY.send_bytes);
        share
    }
    async fn serve_trade(
        _tasks: &Rc<Self>,
        _stream: Rc<Conn>,
        accepted: &crate::websocket::handshake::Accepted,
        _early: &[u8],
    ) {
        // The handshake upgrades to the order-entry path only when it is
        // not empty, and a relay's is: the connection is dropped if it
        // ever came here.
        debug_assert!(!accepted.trade, "a relay has no order-entry path");
    }
}

impl RelayTasks {
    /// Applies what the inputs hold, at most [`RELAY_BATCH`] from each;
    /// the count applied.
    fn drain(&self) -> usize {
        let mut hub = self.hub.borrow_mut();
        let mut inputs = self.inputs.borrow_mut();
        let mut applied = 0;
        for input in inputs.iter_mut() {
            let Ok(chunk) = input.read_chunk(input.slots().min(RELAY_BATCH)) else {
                continue;
            };
            let (first, second) = chunk.as_slices();
            for message in first.iter().chain(second) {
                hub.on_relay(message);
            }
            applied += first.len() + second.len();
            chunk.commit_all();
        }
        debug_assert!(applied <= RELAY_BATCH * inputs.len());
        applied
    }

    fn pending(&self) -> bool {
        self.inputs.borrow().iter().any(|i| !i.is_empty())
    }
}

/// Runs one relay thread until its stop flag is set.
pub fn run(start: RelayStart) -> Result<(), String> {
    let id = start.id;
    pin_relay(&start.config, id);
    let bufs = BufRing::new(RELAY_RECEIVE_BUFFERS, 4096);
    let ring = Ring::enable(start.ring.into_inner(), bufs)
        .map_err(|e| format!("relay {id}: io_uring: {e}"))?;
    assert!(!start.inputs.is_empty(), "a relay has a replica to follow");
    let mut hub = MdHub::new(&start.config, start.feed.epoch());
    *hub.feed_mut() = start.feed;
    let tasks = Rc::new(RelayTasks {
        id,
        hub: RefCell::new(hub),
        config: start.config,
        inputs: RefCell::new(start.inputs),
        bell: start.bell,
        stop: start.stop,
        md_stop: LocalNotify::default(),
        md_connections: Cell::new(0),
        md_acceptor_running: Cell::new(true),
    });
    reactor::block_on(ring, serve(tasks, start.listener))
        .map_err(|e| format!("relay {id}: io_uring: {e}"))
}

/// Relay `id` runs on `server.cores[id]`, the core shard `id` has on the
/// primary: a follower host laid out like the primary's serves its feed
/// from the same cores, and the follower's consumer thread stays on the
/// housekeeping cores. A core this host lacks is logged, not fatal: the
/// feed is still served, only less isolated.
fn pin_relay(config: &crate::config::Config, id: usize) {
    assert!(id < config.server.cores.len(), "one relay per shard core");
    let core = config.server.cores[id];
    if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        tracing::info!(relay = id, core, "relay pinned");
    } else {
        tracing::warn!(
            relay = id,
            core,
            "relay: cannot pin to its core; it runs unpinned"
        );
    }
}

async fn serve(tasks: Rc<RelayTasks>, listener: OwnedFd) {
    debug_assert!(tasks.md_acceptor_running.get(), "the acceptor starts here");
    spawn(md::accept_loop(Rc::clone(&tasks), listener));
    spawn(md::pump_loop(Rc::clone(&tasks)));
    spawn(tick_loop(Rc::clone(&tasks)));
    feed_loop(&tasks).await;
    shut_down(&tasks).await;
}

/// Applies the replicas' steps as they come; parks on the doorbell when
/// there are none.
async fn feed_loop(tasks: &Rc<RelayTasks>) {
    loop {
        let applied = tasks.drain();
        if tasks.shutting_down() {
            return;
        }
        if applied > 0 {
            // The writers send what this batch queued before the next one.
            reactor::yield_now().await;
            continue;
        }
        let parked = tasks
            .bell
            .park_unless(|| tasks.pending() || tasks.shutting_down());
        if parked {
            ops::doorbell().await;
            tasks.bell.unpark();
        }
    }
}

/// Conflation, heartbeats and subscribe timeouts, as on a shard.
async fn tick_loop(tasks: Rc<RelayTasks>) {
    while !tasks.shutting_down() {
        sleep(TICK).await;
        let now = now();
        tasks.hub().tick(now.mono_ns, now.wall_ns);
    }
    // The stop's doorbell may never arrive (as on a shard: its ticker's
    // `wake_mesh_loop_if_work_waits`), and nothing else would wake a
    // parked feed loop: wake it from here (at worst a spurious wake).
    debug_assert!(tasks.shutting_down());
    ops::ring_own_doorbell();
}

/// Every client is told 1001 and given the shutdown grace to take its
/// queue; then the acceptor is gone and the thread ends.
async fn shut_down(tasks: &Rc<RelayTasks>) {
    debug_assert!(tasks.shutting_down());
    tasks.md_stop.notify();
    tasks.hub().shut_down();
    let grace = Duration::from_millis(tasks.config.server.shutdown_grace_ms);
    let deadline = Instant::now() + grace;
    while tasks.md_connections.get() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).await;
    }
    while tasks.md_acceptor_running.get() {
        sleep(Duration::from_millis(1)).await;
    }
    tracing::info!(relay = tasks.id, "relay stopped");
}
