//! The I/O side of a shard: the tasks that move bytes between the shard's
//! io_uring sockets (`reactor/`) and the I/O-free [`ShardCore`].
//!
//! Tasks on one shard (all on its pinned thread's reactor, so `Rc`/`RefCell`
//! and no locks; a `RefCell` borrow is never held across an `.await`):
//! - the mesh loop: drains the inbound rings; when idle it spins (`spin`) or
//!   parks on its doorbell (`park`); it also runs graceful shutdown;
//! - the acceptor: accepts on this shard's SO_REUSEPORT listener (one
//!   accept in flight; `reactor/ops.rs` says why not multishot), pausing after errors that would repeat at once (see
//!   `admission.rs`);
//! - the ticker: heartbeats and timeouts every few milliseconds;
//! - the market-data acceptor and, per WebSocket client, a reader and a
//!   writer, and the fan-out pump (`runtime/md.rs`);
//! - per connection, a reader (socket -> core: receives into the shard's
//!   provided buffer ring) and a writer (outbox -> socket, woken by a
//!   [`LocalNotify`]; sends from the session's own buffer);
//! - per WebSocket order-entry connection (upgraded on the market-data
//!   listener), the same pair with WebSocket framing (`runtime/ws_trade.rs`).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::admission::{AcceptBackoff, Admission, Refusal, Ticket};
use super::core::{
    wall_clock_ns, FirstMessage, Now, Output, PreLogonEnd, Resume, ShardCore, PRE_LOGON_END_BYTES,
};
use super::md::turn_share::{self, TurnShare};
use super::mesh::{Links, SessionRef};
use super::notify::{LocalNotify, ShardRing};
use super::quiescence::{phase, Quiescence};
use super::reactor::bufring::BufRing;
use super::reactor::ops::{self, sleep, Acceptor};
use super::reactor::{self, spawn, Ring};
use super::shared::Shared;
use crate::config::IdlePolicy;
use crate::protocol::*;

mod helper_cpus;
use helper_cpus::CpuSet;
mod md;
pub mod relay;
mod ws_trade;

/// Bytes a reader pulls from the socket at once.
const READ_BUFFER_BYTES: usize = 64 * 1024;
const TICK: Duration = Duration::from_millis(5);

pub fn now() -> Now {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    Now {
        mono_ns: start.elapsed().as_nanos() as u64,
        wall_ns: wall_clock_ns(),
    }
}

/// What a shard's tasks share.
struct ShardTasks {
    core: RefCell<ShardCore>,
    shared: Arc<Shared>,
    /// Raw fds of live connections (to stop their readers at shutdown).
    connections: RefCell<Vec<(SessionRef, RawFd)>>,
    readers_running: Cell<usize>,
    writers_running: Cell<usize>,
    stop_accepting: LocalNotify,
    /// Connections kept out: counted, logged at most once a second a kind.
    admission: RefCell<Admission>,
    idle: IdlePolicy,
    /// The acceptor has stopped (graceful shutdown waits for it).
    acceptor_running: Cell<bool>,
    /// The CPUs of helper threads (file work off the shard's core,
    /// `helper_cpus.rs`).
    helper_cpus: Option<CpuSet>,
    /// Stops the market-data acceptor (graceful shutdown).
    md_stop: LocalNotify,
    md_acceptor_running: Cell<bool>,
    /// Market-data connections with a task (handshaking or served).
    md_connections: Cell<usize>,
    /// The mesh loop waits for its doorbell (`idle = "park"`).
    mesh_waiting: Cell<bool>,
    /// Market-data bytes the writers sent this turn.
    md_send_budget: super::md::SendBudget,
    /// This turn's market-data share and the turn it was decided for
    /// (one clock read per turn in which market data works).
    md_share: Cell<(u64, TurnShare)>,
}

/// Runs shard `id` on the calling thread until graceful shutdown
/// completes: pins it, enables its ring, recovers, reports, serves.
pub fn run(
    id: u16,
    shared: Arc<Shared>,
    links: Links,
    listener: Option<OwnedFd>,
    md_listener: Option<OwnedFd>,
    ring: ShardRing,
    started: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let helper_cpus = helper_cpus::helper_cpus(&shared.config);
    let core_id = shared.config.server.cores[id as usize];
    if !core_affinity::set_for_current(core_affinity::CoreId { id: core_id }) {
        shared.feeds.abandon();
        let _ = started.send(Err(format!("shard {id}: cannot pin to core {core_id}")));
        return;
    }
    let ring = match Ring::enable(ring.into_inner(), buffer_ring(&shared)) {
        Ok(ring) => ring,
        Err(e) => {
            shared.feeds.abandon();
            let _ = started.send(Err(format!("shard {id}: io_uring: {e}")));
            return;
        }
    };
    let mut core = ShardCore::new(id, Arc::clone(&shared), links);
    core.set_helper_cpus(helper_cpus.map(|cpus| cpus.as_raw()));
    // Recovery runs before this shard accepts anything; the main thread
    // waits for every shard's answer before it reports ready.
    let recovered = core.start();
    if recovered.is_err() {
        // The other shards wait for this one's feed (market data):
        // every failed start abandons the exchange.
        shared.feeds.abandon();
    }
    if let Err(e) = recovered.and_then(|()| core.finish_start()) {
        let _ = started.send(Err(format!("shard {id}: {e}")));
        return;
    }
    let _ = started.send(Ok(()));
    let admission = Admission::new(id, &shared.config.session);
    let idle = shared.config.server.idle;
    let tasks = Rc::new(ShardTasks {
        core: RefCell::new(core),
        shared,
        connections: RefCell::new(Vec::new()),
        readers_running: Cell::new(0),
        writers_running: Cell::new(0),
        stop_accepting: LocalNotify::default(),
        admission: RefCell::new(admission),
        idle,
        acceptor_running: Cell::new(listener.is_some()),
        helper_cpus,
        md_stop: LocalNotify::default(),
        md_acceptor_running: Cell::new(md_listener.is_some()),
        md_connections: Cell::new(0),
        mesh_waiting: Cell::new(false),
        md_send_budget: super::md::SendBudget::default(),
        md_share: Cell::new((u64::MAX, turn_share::BUSY)),
    });
    if let Err(error) = reactor::block_on(ring, serve_shard(tasks, listener, md_listener)) {
        ring_failed(id, &error);
    }
}

/// The shard's ring failed every enter: this shard can neither read orders
/// nor send reports, and the graceful shutdown cannot run without it (the
/// other shards would wait for its quiescence for ever). What it
/// acknowledged is in its journal, which survives a process exit as it
/// survives kill -9, so the gateway exits at once, loudly, with the
/// fail-stop code (docs/OPERATIONS.md, "Fail-stop").
fn ring_failed(id: u16, error: &std::io::Error) -> ! {
    debug_assert!(
        !matches!(
            error.raw_os_error(),
            Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
        ),
        "a transient error never ends the reactor"
    );
    tracing::error!(shard = id, %error, "fail-stop: the shard's io_uring failed; exiting");
    eprintln!("tradsys stopped: shard {id}: io_uring_enter failed: {error}");
    std::process::exit(3)
}

/// Receive buffers: `io_memory_bytes` in buffers of
/// [`RECEIVE_BUFFER_BYTES`].
fn buffer_ring(shared: &Shared) -> BufRing {
    let count = receive_buffer_count(shared.config.server.io_memory_bytes);
    BufRing::new(count, RECEIVE_BUFFER_BYTES)
}

/// How many receive buffers `io_memory_bytes` makes: a power of two, 8 to
/// 32768 (the doctor's memlock check sizes the buffer ring from it).
pub fn receive_buffer_count(io_memory_bytes: usize) -> u16 {
    let wanted = io_memory_bytes / RECEIVE_BUFFER_BYTES;
    let count = wanted.clamp(8, 32768);
    let count = if count.is_power_of_two() {
        count
    } else {
        count.next_power_of_two() / 2
    };
    debug_assert!(count.is_power_of_two() && (8..=32768).contains(&count));
    count as u16
}

/// The size of one provided receive buffer: what one receive can bring,
/// as much as a reader took at once before the shard had its own reactor
/// (a burst of small messages is then checked against the rate limit in
/// the same large batches as before).
pub const RECEIVE_BUFFER_BYTES: usize = 64 * 1024;

/// A shard without one of the listeners (`server.order_entry_shards`,
/// `server.market_data_shards`) runs no acceptor for it; everything else
/// (its engine, the mesh, its market-data replica and pump) it runs all
/// the same.
async fn serve_shard(
    tasks: Rc<ShardTasks>,
    listener: Option<OwnedFd>,
    md_listener: Option<OwnedFd>,
) {
    debug_assert_eq!(tasks.acceptor_running.get(), listener.is_some());
    if let Some(listener) = listener {
        spawn(accept_loop(Rc::clone(&tasks), listener));
    }
    if let Some(md_listener) = md_listener {
        spawn(md::accept_loop(Rc::clone(&tasks), md_listener));
    }
    // Replicas get public events without a listener too; only clients
    // make backlog, but the pump costs nothing while it waits.
    spawn(md::pump_loop(Rc::clone(&tasks)));
    spawn(tick_loop(Rc::clone(&tasks)));
    mesh_loop(&tasks).await;
    graceful_shutdown(&tasks).await;
    while tasks.acceptor_running.get() || tasks.md_acceptor_running.get() {
        sleep(Duration::from_millis(1)).await;
    }
}

async fn mesh_loop(tasks: &Rc<ShardTasks>) {
    let id = tasks.core.borrow().id as usize;
    loop {
        let order_entry_before = tasks.core.borrow().counters.order_entry_mesh_in;
        let handled = tasks.core.borrow_mut().poll_mesh(now());
        if tasks.core.borrow().counters.order_entry_mesh_in != order_entry_before {
            tasks.order_entry_input();
        }
        if tasks.shared.shutting_down() {
            return;
        }
        if handled > 0 {
            continue;
        }
        match tasks.idle {
            // Every other task runs, and the ring is entered once
            // (GETEVENTS, no wait), before this one looks again.
            IdlePolicy::Spin => reactor::yield_now().await,
            // A replay source has no doorbell: while one runs the shard
            // polls like a spinning one (`core/replay.rs`).
            IdlePolicy::Park if tasks.core.borrow().replays_active() => reactor::yield_now().await,
            IdlePolicy::Park => {
                let bell = &tasks.shared.doorbells[id];
                let parked = bell.park_unless(|| {
                    tasks.core.borrow().mesh_pending() || tasks.shared.shutting_down()
                });
                if !parked {
                    continue;
                }
                // Woken by a producer's MSG_RING (or a shutdown's, or the
                // ticker's check below); the reactor waits in
                // io_uring_enter meanwhile.
                tasks.mesh_waiting.set(true);
                ops::doorbell().await;
                tasks.mesh_waiting.set(false);
                bell.unpark();
            }
        }
    }
}

async fn accept_loop(tasks: Rc<ShardTasks>, listener: OwnedFd) {
    let mut backoff = AcceptBackoff::default();
    let mut acceptor = Acceptor::new(listener.as_raw_fd());
    loop {
        let accepted = futures_lite::future::or(async { Some(acceptor.next().await) }, async {
            tasks.stop_accepting.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => break,
            Some(Ok(stream)) => {
                backoff.after_success();
                Conn(stream)
            }
            Some(Err(error)) => {
                tasks.admission.borrow_mut().refused(
                    Refusal::AcceptFailed,
                    None,
                    &error,
                    now().mono_ns,
                );
                if let Some(pause) = backoff.after_error(&error) {
                    // The pause ends early for a shutdown: the acceptor
                    // must not hold the shard's exit up.
                    let stopping = futures_lite::future::or(
                        async {
                            sleep(pause).await;
                            false
                        },
                        async {
                            tasks.stop_accepting.wait().await;
                            true
                        },
                    )
                    .await;
                    if stopping {
                        break;
                    }
                }
                continue;
            }
        };
        admit(&tasks, stream);
    }
    drop(acceptor);
    drop(listener);
    tasks.acceptor_running.set(false);
}

/// A new connection: waits to log on, or is refused at once.
fn admit(tasks: &Rc<ShardTasks>, stream: Conn) {
    let fd = stream.fd();
    // A peer already gone (reset while queued) has no address: drop it.
    let Some(peer) = stream.peer_addr() else {
        return;
    };
    let admitted = tasks.admission.borrow_mut().admit(peer, fd, now().mono_ns);
    match admitted {
        Ok(ticket) => spawn(pre_logon(Rc::clone(tasks), stream, peer, ticket)),
        Err(_) => refuse_at_accept(stream),
    }
}

impl md::MdHost for ShardTasks {
    fn hub(&self) -> std::cell::RefMut<'_, crate::shard::md::MdHub> {
        std::cell::RefMut::map(self.core.borrow_mut(), ShardCore::market_mut)
    }
    fn config(&self) -> &crate::config::Config {
        &self.shared.config
    }
    fn shutting_down(&self) -> bool {
        self.shared.shutting_down()
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
        &self.shared.config.market_data.order_entry_path
    }
    fn may_send(&self, bytes: usize) -> bool {
        debug_assert!(bytes <= super::md::send_budget::SEND_PIECE_BYTES);
        // Asked per send, not per turn: the pump may finish midway through
        // the turn, and the writers after it then flush.
        let pump_done = !self.hub().pump_pending();
        let had_order_entry = reactor::had_order_entry_input();
        let share = self.turn_share().once_pumped(pump_done, had_order_entry);
        self.md_send_budget
            .take(reactor::turn(), share.send_bytes, share.send_floor, bytes)
    }
    fn turn_share(&self) -> TurnShare {
        let turn = reactor::turn();
        let (decided, share) = self.md_share.get();
        if decided == turn {
            return share;
        }
        let share = turn_share::share(reactor::order_entry_input());
        debug_assert!(share == turn_share::BUSY || share == turn_share::IDLE);
        self.md_share.set((turn, share));
        share
    }
    async fn serve_trade(
        tasks: &Rc<Self>,
        stream: Rc<Conn>,
        accepted: &crate::websocket::handshake::Accepted,
        early: &[u8],
    ) {
        debug_assert!(accepted.trade, "upgraded on the order-entry path");
        ws_trade::serve(tasks, stream, accepted, early).await;
    }
}

impl ShardTasks {
    /// The mesh loop took order-entry messages from other shards: order
    /// entry has work, and market data keeps to the small share from now
    /// on, this turn included.
    fn order_entry_input(&self) {
        reactor::note_order_entry_input();
        self.md_share.set((reactor::turn(), turn_share::BUSY));
        debug_assert!(reactor::order_entry_input().is_some(), "just noted");
    }
}

/// A connected socket, closed when dropped.
struct Conn(OwnedFd);

impl Conn {
    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        socket2::SockRef::from(&self.0)
            .peer_addr()
            .ok()?
            .as_socket()
    }

    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        ops::recv(self.fd(), buf).await
    }

    /// [`Conn::read`] on an order-entry connection: the reactor notes its
    /// input (market data keeps to the small share meanwhile).
    async fn read_order_entry(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        debug_assert!(!buf.is_empty(), "a read has room");
        ops::recv_order_entry(self.fd(), buf).await
    }

    async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
        ops::send_all(self.fd(), buf).await
    }

    /// Writes all of `buf` within `limit`; `false` if it failed or did not
    /// finish, in which case the socket was shut down to end the send
    /// (`ops::give_up_on_socket`).
    async fn write_all_within(&self, buf: &[u8], limit: Duration) -> bool {
        debug_assert!(!buf.is_empty(), "only bytes to send are written");
        let written = ops::give_up_on_socket(self.fd(), self.write_all(buf), sleep(limit)).await;
        matches!(written, Ok(Ok(())))
    }
}

/// Too many connections are waiting to log on (on the shard, or from the
/// peer's address): say so and close, at once, inside the acceptor. The
/// one small write goes to an empty socket buffer, so a non-blocking send
/// takes it whole; nothing is awaited, and a flood holds no fd beyond the
/// acceptor's turn (the multishot accept takes connections as fast as they
/// come, so a refusal that waited would hold its fd meanwhile).
fn refuse_at_accept(stream: Conn) {
    let mut out = [0u8; PRE_LOGON_END_BYTES];
    let len = PreLogonEnd::no_room().encode(&mut out);
    // SAFETY: a non-blocking send from a local buffer of that length.
    unsafe {
        libc::send(
            stream.fd(),
            out.as_ptr() as *const libc::c_void,
            len,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    discard_pending_input(stream.fd());
    drop(stream);
}

/// Reads and drops what has arrived (a Logon sent right after connect),
/// without waiting: closing a socket with unread input sends a reset,
/// which can make the client drop the refusal before reading it.
fn discard_pending_input(fd: RawFd) {
    let mut scratch = [0u8; 512];
    for _ in 0..8 {
        // SAFETY: a non-blocking read into a local buffer of that length.
        let n = unsafe {
            libc::recv(
                fd,
                scratch.as_mut_ptr() as *mut libc::c_void,
                scratch.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return;
        }
    }
}

/// How waiting for a connection's first message ended.
enum FirstRead {
    /// `buf[..len]` is a whole message, or enough to know it is malformed.
    Complete(usize),
    /// The peer closed (or the socket failed) first.
    Closed,
    TimedOut,
    ShuttingDown,
}

/// A connection that has not logged on: it waits for its first message
/// with a small buffer, no session slot and no send buffer, within the
/// logon timeout. A valid Logon makes it a session, served by tasks of
/// its own; anything else ends it here.
async fn pre_logon(tasks: Rc<ShardTasks>, stream: Conn, peer: SocketAddr, ticket: Ticket) {
    let mut first = [0u8; MAX_MESSAGE_LEN];
    let read = read_first_message(&tasks, &stream, &mut first).await;
    let end = match read {
        FirstRead::Closed => None,
        FirstRead::ShuttingDown => {
            // As the sessions are told (`ShardCore::shut_down_sessions`).
            Some(PreLogonEnd::ended(tasks.shared.shutdown_end_reason(), 1))
        }
        FirstRead::TimedOut => {
            let timeout = tasks.shared.config.session.logon_timeout_ms;
            tasks.admission.borrow_mut().refused(
                Refusal::LogonTimeout,
                Some(peer),
                &format_args!("{timeout} ms"),
                now().mono_ns,
            );
            Some(PreLogonEnd::ended(SessionEndReason::LogonTimeout, 1))
        }
        FirstRead::Complete(len) => match logon(&tasks, &stream, peer, &first[..len]) {
            Ok((id, write_stream, writer)) => {
                tasks.admission.borrow_mut().release(ticket);
                serve(&tasks, stream, id, write_stream, writer);
                return;
            }
            Err(end) => Some(end),
        },
    };
    if let Some(end) = end {
        let mut out = [0u8; PRE_LOGON_END_BYTES];
        let len = end.encode(&mut out);
        let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
        if stream.write_all_within(&out[..len], linger).await {
            linger_close(&stream, linger).await;
        }
    }
    // Released only now: a connection counts against the bounds until its
    // fd is really given back.
    tasks.admission.borrow_mut().release(ticket);
    drop(stream);
}

/// Reads exactly one message (never past it: what follows a Logon is the
/// session's), bounded by the logon timeout. A receive still waiting at
/// the timeout is cancelled and awaited, never dropped
/// (`ops::receive_until`): the socket stays whole for the timeout's
/// answer and the linger after it.
async fn read_first_message(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    buf: &mut [u8; MAX_MESSAGE_LEN],
) -> FirstRead {
    let timeout = Duration::from_millis(tasks.shared.config.session.logon_timeout_ms);
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    let mut deadline = std::pin::pin!(sleep(timeout));
    let mut filled = 0;
    loop {
        let needed = match decode_client(&buf[..filled]) {
            Err(DecodeError::Incomplete { needed }) => needed,
            _ => return FirstRead::Complete(filled),
        };
        debug_assert!(filled < needed && needed <= buf.len());
        let read = &mut buf[filled..needed];
        let given_up =
            ops::receive_until(stream.fd(), read, true, deadline.as_mut(), sleep(linger));
        match given_up.await {
            Err(_) => return FirstRead::TimedOut,
            Ok(Ok(0) | Err(_)) if tasks.shared.shutting_down() => return FirstRead::ShuttingDown,
            Ok(Ok(0) | Err(_)) => return FirstRead::Closed,
            Ok(Ok(n)) => filled += n,
        }
    }
}

/// A whole first message: a session with its writer's socket, or how the
/// connection ends (counted and logged).
fn logon(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    peer: SocketAddr,
    first: &[u8],
) -> Result<(SessionRef, Conn, Rc<LocalNotify>), PreLogonEnd> {
    let now = now();
    // A second descriptor for the same socket lets the reader and the
    // writer run as independent tasks without sharing the stream object.
    // Made before the session exists, so failing costs nothing but this
    // connection (at the fd limit).
    // SAFETY: dup of a valid socket fd; the new fd is owned by the writer.
    let write_fd = unsafe { libc::dup(stream.fd()) };
    if write_fd < 0 {
        let error = std::io::Error::last_os_error();
        tasks
            .admission
            .borrow_mut()
            .refused(Refusal::DupFailed, Some(peer), &error, now.mono_ns);
        return Err(PreLogonEnd {
            expected_seq: 2,
            ..PreLogonEnd::no_room()
        });
    }
    // SAFETY: the fd was just made by dup and is owned by nobody else.
    let write_stream = Conn(unsafe { OwnedFd::from_raw_fd(write_fd) });
    let writer = Rc::new(LocalNotify::default());
    let id = enter_session(tasks, stream, peer, first, &writer)?;
    Ok((id, write_stream, writer))
}

/// A whole first message, whatever the transport (TCP here, WebSocket in
/// `ws_trade.rs`): the session it made, or how the connection ends
/// (counted and logged).
fn enter_session(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    peer: SocketAddr,
    first: &[u8],
    writer: &Rc<LocalNotify>,
) -> Result<SessionRef, PreLogonEnd> {
    debug_assert!(!first.is_empty(), "a first message has bytes");
    let now = now();
    let outcome = tasks
        .core
        .borrow_mut()
        .first_message(first, Rc::clone(writer), now);
    let end = match outcome {
        FirstMessage::LoggedOn(id) => {
            tasks.core.borrow_mut().session_started(id, peer);
            set_socket_options(stream, &tasks.shared);
            return Ok(id);
        }
        FirstMessage::Refused(end) => end,
        FirstMessage::Incomplete { .. } => unreachable!("the reader reads a whole message"),
    };
    let refusal = match end.rejected {
        Some(LogonRejectReason::SessionLimit) => Refusal::SessionLimit,
        Some(_) => Refusal::LogonRejected,
        None => Refusal::NotLoggedOn,
    };
    // A refused Logon names the account it claimed (never the token).
    let account = match decode_client(first) {
        Ok(decoded) => match decoded.message {
            ClientMessage::Logon(logon) => Some(logon.account.get()),
            _ => None,
        },
        Err(_) => None,
    };
    tasks.admission.borrow_mut().refused(
        refusal,
        Some(peer),
        &RefusedLogon { account, end: &end },
        now.mono_ns,
    );
    Err(end)
}

/// A refused first message for the log: the account a Logon claimed (if
/// it was one) and why (formatted only if the line is written).
struct RefusedLogon<'a> {
    account: Option<u32>,
    end: &'a PreLogonEnd,
}

impl std::fmt::Display for RefusedLogon<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.account {
            Some(account) => write!(f, "account {account}: {}", self.end),
            None => write!(f, "{}", self.end),
        }
    }
}

/// TCP_NODELAY and the configured SO_SNDBUF, once a connection is a
/// session (they concern its reports).
fn set_socket_options(stream: &Conn, shared: &Shared) {
    let _ = socket2::SockRef::from(&stream.0).set_nodelay(true);
    let sndbuf = shared.config.session.socket_send_buffer_bytes;
    if sndbuf > 0 {
        let value = sndbuf as libc::c_int;
        // SAFETY: setsockopt on a socket we own, with a c_int option.
        unsafe {
            libc::setsockopt(
                stream.fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Starts a logged-on session's reader and writer, each a task of its own
/// (so the task a waiting connection costs stays small). Registered here,
/// with no await since the logon, so a graceful shutdown that begins now
/// finds the session and stops its reader.
fn serve(
    tasks: &Rc<ShardTasks>,
    stream: Conn,
    id: SessionRef,
    write_stream: Conn,
    writer: Rc<LocalNotify>,
) {
    let fd = stream.fd();
    tasks.connections.borrow_mut().push((id, fd));
    tasks.readers_running.set(tasks.readers_running.get() + 1);
    tasks.writers_running.set(tasks.writers_running.get() + 1);
    spawn(write_loop(Rc::clone(tasks), write_stream, id, writer));
    let tasks = Rc::clone(tasks);
    spawn(async move {
        read_loop(&tasks, stream, id).await;
        tasks.connections.borrow_mut().retain(|&(s, _)| s != id);
    });
}

/// Counted in `readers_running` by `serve`, which starts it. Bytes arrive
/// in the shard's pooled buffers and are handed to the core in place; only
/// the tail of a message split across receives is kept, in `carry`.
async fn read_loop(tasks: &Rc<ShardTasks>, stream: Conn, id: SessionRef) {
    // Room for a pooled buffer behind the tail of a split message.
    let mut carry = vec![0u8; READ_BUFFER_BYTES + MAX_MESSAGE_LEN];
    let mut filled = 0;
    loop {
        let pooled = match ops::recv_pooled(stream.fd()).await {
            Ok(Some(pooled)) => Some(pooled),
            Ok(None) => break,
            // Every pooled buffer is taken (readers held up by
            // back-pressure keep theirs): receive into our own.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => None,
            Err(_) => break,
        };
        let pooled = match pooled {
            Some(pooled) => pooled,
            None => match stream.read_order_entry(&mut carry[filled..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    filled += n;
                    if tasks.shared.shutting_down() {
                        break;
                    }
                    filled = feed_carry(tasks, id, &mut carry, filled).await;
                    if tasks.core.borrow().session_ended(id) {
                        break;
                    }
                    continue;
                }
            },
        };
        if tasks.shared.shutting_down() {
            break; // input after shutdown began is not processed
        }
        if filled == 0 {
            let consumed = feed(tasks, id, &pooled).await;
            let rest = &pooled[consumed..];
            carry[..rest.len()].copy_from_slice(rest);
            filled = rest.len();
        } else {
            // The carried tail is shorter than one message, so the buffer
            // fits behind it.
            assert!(
                filled < MAX_MESSAGE_LEN && pooled.len() <= READ_BUFFER_BYTES,
                "carry {filled} + received {}",
                pooled.len()
            );
            carry[filled..filled + pooled.len()].copy_from_slice(&pooled);
            filled += pooled.len();
            drop(pooled);
            filled = feed_carry(tasks, id, &mut carry, filled).await;
        }
        if tasks.core.borrow().session_ended(id) {
            break;
        }
    }
    tasks.readers_running.set(tasks.readers_running.get() - 1);
    // A peer that went away ends the session here. A session that ended by
    // protocol is closed by its writer once SessionEnd is out; at shutdown
    // the session stays open until the mesh is drained and
    // SessionEnd(Shutdown) is queued.
    let ended = tasks.core.borrow().session_ended(id);
    if !ended && !tasks.shared.shutting_down() {
        tasks.core.borrow_mut().close_session(id);
    }
}

/// Feeds `carry[..filled]` to the core; moves what is left (part of one
/// message) to the front and returns its length.
async fn feed_carry(
    tasks: &Rc<ShardTasks>,
    id: SessionRef,
    carry: &mut [u8],
    filled: usize,
) -> usize {
    let consumed = feed(tasks, id, &carry[..filled]).await;
    carry.copy_within(consumed..filled, 0);
    filled - consumed
}

/// Hands whole messages of `bytes` to the core, waiting out back-pressure;
/// returns how many bytes it took (the rest is part of one message).
async fn feed(tasks: &Rc<ShardTasks>, id: SessionRef, bytes: &[u8]) -> usize {
    let mut start = 0;
    loop {
        let intake = tasks.core.borrow_mut().on_bytes(id, &bytes[start..], now());
        start += intake.consumed;
        if !intake.blocked {
            return start;
        }
        // Back-pressure: a ring this session feeds is full, or its own
        // outbox is (the writer is waiting on the client).
        wait_for_room(tasks, id).await;
        if tasks.shared.shutting_down() {
            return start;
        }
    }
}

/// Waits until a reader held up by back-pressure may go on (or the shard
/// shuts down). Room in its own outbox, or for more commands on other
/// shards, comes with a wake (`ShardCore::resume`): a client that reads
/// slowly, or not at all, costs its shard nothing while it waits. Room in
/// another shard's ring is freed by that shard's thread, which does not
/// wake this one: it is looked for every 20 µs (rings drain in a turn of
/// the other shard).
async fn wait_for_room(tasks: &Rc<ShardTasks>, id: SessionRef) {
    // A stop that only flushed this turn's batch (its commands in flight
    // counted) is no pause: there is room again at once.
    let mut resume = tasks.core.borrow().resume(id);
    if resume == Resume::Now {
        return;
    }
    tasks.core.borrow_mut().counters.reader_pauses += 1;
    let Some(wake) = tasks.core.borrow().reader_wake(id) else {
        return;
    };
    // The reader alone waits on its wake: nobody else may take it.
    debug_assert_eq!(Rc::strong_count(&wake), 2, "the session's and this one");
    while resume != Resume::Now && !tasks.shared.shutting_down() {
        match resume {
            Resume::OnWake => wake.wait().await,
            _ => sleep(Duration::from_micros(20)).await,
        }
        tasks.core.borrow_mut().counters.reader_pause_checks += 1;
        resume = tasks.core.borrow().resume(id);
    }
}

async fn write_loop(tasks: Rc<ShardTasks>, stream: Conn, id: SessionRef, writer: Rc<LocalNotify>) {
    let capacity = tasks.shared.config.session.send_buffer_bytes + MAX_MESSAGE_LEN;
    let mut spare: Vec<u8> = Vec::with_capacity(capacity);
    loop {
        let output = tasks.core.borrow_mut().take_output(id, &mut spare);
        match output {
            Output::Data => {
                let written = write_session_bytes(&tasks, &stream, id, &spare).await;
                spare.clear();
                if !written {
                    break;
                }
            }
            Output::Idle => writer.wait().await,
            Output::Finished => break,
        }
    }
    // Everything the session had is out (or cannot go): its slot is free
    // now, for the next logon; only the socket lingers, until the client
    // has read its SessionEnd and closed, or the grace is over.
    tasks.core.borrow_mut().close_session(id);
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    linger_close(&stream, linger).await;
    drop(stream);
    tasks.writers_running.set(tasks.writers_running.get() - 1);
}

/// Writes a session's bytes. A client that does not read blocks only its
/// writer; once its session has ended (slow consumer, shutdown) it gets at
/// most one linger period more: `false`, and the socket is closed.
async fn write_session_bytes(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    id: SessionRef,
    bytes: &[u8],
) -> bool {
    debug_assert!(!bytes.is_empty(), "only queued bytes are written");
    // Nearly every write fits the socket's buffer at once: one send that
    // never waits, and no timer. Only a client that reads slower than it
    // is written to gets the linger watch below, whose timeout and its
    // cancel were two of every write's three ring operations when each
    // write armed it.
    let rest = match ops::send_now(stream.fd(), bytes).await {
        Ok(n) if n == bytes.len() => return true,
        Ok(n) => &bytes[n..],
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => bytes,
        Err(_) => return false,
    };
    debug_assert!(!rest.is_empty(), "a whole send returned above");
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    let write_rest = async {
        let mut rest = rest;
        while !rest.is_empty() {
            match ops::send(stream.fd(), rest).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => rest = &rest[n..],
            }
            // Each part the socket took is the client reading: a slow
            // reader of a long burst is not a slow consumer.
            tasks.core.borrow_mut().client_took_bytes(id);
        }
        true
    };
    // Given up after a linger period once the session has ended: the
    // socket is shut down, which ends the send (`give_up_on_socket`).
    let given_up = async {
        loop {
            sleep(linger).await;
            if tasks.core.borrow().session_ended(id) {
                return;
            }
        }
    };
    ops::give_up_on_socket(stream.fd(), write_rest, given_up)
        .await
        .unwrap_or(false)
}

/// Half-close: FIN after the queued bytes (SessionEnd last). Then read
/// and discard until the client closes, for at most `linger`: closing a
/// socket with unread input sends a reset, and a reset makes the client's
/// kernel drop what it has not read yet, SessionEnd too. Ends with both
/// directions shut, which also wakes a reader still waiting on the socket.
async fn linger_close(stream: &Conn, linger: Duration) {
    // SAFETY: shutdown on our own fd; no memory is touched.
    unsafe {
        libc::shutdown(stream.fd(), libc::SHUT_WR);
    }
    let mut scratch = [0u8; 512];
    let mut deadline = std::pin::pin!(sleep(linger));
    // Until the client closes, or the linger is over: then the receive is
    // cancelled and awaited, never dropped (`ops::receive_until`).
    let fd = stream.fd();
    loop {
        let given_up =
            ops::receive_until(fd, &mut scratch, false, deadline.as_mut(), sleep(linger));
        let Ok(Ok(read)) = given_up.await else {
            break;
        };
        if read == 0 {
            break;
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::shutdown(stream.fd(), libc::SHUT_RDWR);
    }
}

async fn tick_loop(tasks: Rc<ShardTasks>) {
    loop {
        sleep(TICK).await;
        wake_mesh_loop_if_work_waits(&tasks);
        if tasks.shared.shutting_down() {
            return;
        }
        let now = now();
        tasks.core.borrow_mut().tick(now);
        tasks.core.borrow_mut().market_tick(now);
        tasks.admission.borrow_mut().flush(now.mono_ns);
        tasks.core.borrow_mut().journal_tick(now);
        // File-system work of the journal happens on a helper thread
        // on the housekeeping cores, never on the shard's reactor or core.
        let spare = tasks.core.borrow_mut().journal_spare_needed(now);
        if let Some(request) = spare {
            let created = off_shard(tasks.helper_cpus, move || request.create())
                .await
                .and_then(|created| created);
            tasks.core.borrow_mut().journal_spare_ready(created, now);
        }
        let retired = tasks.core.borrow_mut().journal_retired();
        if let Some(segment) = retired {
            let _ = off_shard(tasks.helper_cpus, move || drop(segment)).await;
        }
    }
}

/// The ticker's check that a parked mesh loop has no input waiting and no
/// shutdown to run: a doorbell that never arrives would otherwise leave
/// the shard asleep with its rings filling (seen: a producer took the park
/// flag and its `MSG_RING` never completed here; an owner that ran
/// thousands of mesh messages in one turn rang nobody until its end), or
/// asleep through a shutdown, since the ticker itself stops then (seen:
/// SIGTERM hung until clients read, with every reader paused and no timer
/// armed on the shard). Such a loss now costs at most a tick.
fn wake_mesh_loop_if_work_waits(tasks: &Rc<ShardTasks>) {
    if tasks.mesh_waiting.get()
        && (tasks.core.borrow().mesh_pending() || tasks.shared.shutting_down())
    {
        ops::ring_own_doorbell();
        debug_assert!(reactor::with_ring(|ring| ring.rung));
    }
}

/// Stops input, drains the mesh, ends every session with
/// SessionEnd(Shutdown), drains again (cancel-on-disconnect), and waits for
/// the writers to flush (bounded by `shutdown_grace_ms`).
async fn graceful_shutdown(tasks: &Rc<ShardTasks>) {
    let id = tasks.core.borrow().id as usize;
    tasks.stop_accepting.notify();
    tasks.md_stop.notify();
    // Market-data clients are told 1001; their writers close them.
    tasks.core.borrow_mut().md_shut_down();
    // Borrowed in a block of their own: released before the first await.
    {
        let admission = tasks.admission.borrow();
        let sessions = tasks.connections.borrow();
        for fd in sessions
            .iter()
            .map(|&(_, fd)| fd)
            .chain(admission.waiting_fds())
        {
            // SAFETY: shutdown of a socket we still own; wakes its reader (a
            // connection waiting to log on is then told SessionEnd(Shutdown)).
            unsafe {
                libc::shutdown(fd, libc::SHUT_RD);
            }
        }
    }
    // Readers held up by back-pressure wait for a wake, not on a socket.
    tasks.core.borrow().wake_readers();
    while tasks.readers_running.get() > 0 {
        sleep(Duration::from_millis(1)).await;
    }
    quiesce(tasks, id, phase::READERS_STOPPED).await;
    tasks.core.borrow_mut().shut_down_sessions();
    quiesce(tasks, id, phase::SESSIONS_ENDED).await;
    wait_until_every_shard_confirmed(tasks, id).await;
    tasks.core.borrow_mut().journal_sync();
    let grace = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    let deadline = Instant::now() + grace;
    while (tasks.writers_running.get() > 0
        || tasks.admission.borrow().waiting() > 0
        || tasks.md_connections.get() > 0)
        && Instant::now() < deadline
    {
        sleep(Duration::from_millis(1)).await;
    }
    let core = tasks.core.borrow();
    let admission = tasks.admission.borrow();
    tracing::info!(
        shard = id,
        sessions_left = core.live_sessions(),
        messages_in = core.counters.messages_in,
        accept_failures = admission.count(Refusal::AcceptFailed),
        refused = admission.total() - admission.count(Refusal::AcceptFailed),
        "shard stopped"
    );
}

/// Polls the mesh until every shard has reached `phase` and two complete
/// waves of counters agree: nothing is in flight anywhere.
async fn quiesce(tasks: &Rc<ShardTasks>, id: usize, phase: u32) {
    let mut quiescence = Quiescence::default();
    loop {
        publish(tasks, id, phase);
        if quiescence.check(&tasks.shared.shutdown, phase) {
            return;
        }
        sleep(Duration::from_micros(200)).await;
    }
}

/// Keeps publishing (so slower shards see this one's epoch move) until
/// every shard has confirmed quiescence; only then may this one exit.
async fn wait_until_every_shard_confirmed(tasks: &Rc<ShardTasks>, id: usize) {
    loop {
        publish(tasks, id, phase::CONFIRMED);
        if tasks.shared.shutdown.all_reached(phase::CONFIRMED) {
            return;
        }
        sleep(Duration::from_micros(200)).await;
    }
}

fn publish(tasks: &Rc<ShardTasks>, id: usize, phase: u32) {
    let mut core = tasks.core.borrow_mut();
    core.poll_mesh(now());
    let (sent, received) = core.traffic();
    tasks.shared.shutdown.publish(id, phase, sent, received);
}

/// Runs `work` on a helper thread on the housekeeping cores
/// (`helper_cpus.rs`), and waits for it without blocking the shard (polled each
/// millisecond: file work takes milliseconds). Used per journal segment,
/// never per message.
async fn off_shard<T: Send + 'static>(
    cpus: Option<CpuSet>,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let handle = std::thread::Builder::new()
        .name("shard-files".into())
        .spawn(move || {
            if let Some(cpus) = cpus {
                cpus.apply();
            }
            work()
        })?;
    while !handle.is_finished() {
        sleep(Duration::from_millis(1)).await;
    }
    handle
        .join()
        .map_err(|_| std::io::Error::other("journal helper thread panicked"))
}
