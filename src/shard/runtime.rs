//! The glommio side of a shard: the tasks that move bytes between io_uring
//! sockets and the I/O-free [`ShardCore`].
//!
//! Tasks on one shard (all on its pinned executor, so `Rc`/`RefCell` and no
//! locks; a `RefCell` borrow is never held across an `.await`):
//! - the mesh loop: drains the inbound rings; when idle it spins (`spin`) or
//!   parks on its doorbell (`park`); it also runs graceful shutdown;
//! - the acceptor: accepts on this shard's SO_REUSEPORT listener, pausing
//!   after errors that would repeat at once (see `admission.rs`);
//! - the ticker: heartbeats and timeouts every few milliseconds;
//! - per connection, a reader (socket -> core) and a writer (outbox ->
//!   socket, woken by a [`LocalNotify`]).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream, UnixStream};

use super::admission::{AcceptBackoff, Admission, Refusal, Ticket};
use super::core::{
    wall_clock_ns, FirstMessage, Now, Output, PreLogonEnd, ShardCore, PRE_LOGON_END_BYTES,
};
use super::mesh::{Links, SessionRef};
use super::notify::LocalNotify;
use super::quiescence::{phase, Quiescence};
use super::shared::Shared;
use crate::config::IdlePolicy;
use crate::protocol::*;

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
}

/// Runs shard `id` until graceful shutdown completes. Called inside the
/// shard's pinned executor.
pub async fn run(
    id: u16,
    shared: Arc<Shared>,
    links: Links,
    listener_fd: RawFd,
    doorbell: std::os::unix::net::UnixStream,
    started: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let idle = shared.config.server.idle;
    let mut core = ShardCore::new(id, Arc::clone(&shared), links);
    // Recovery runs before this shard accepts anything; the main thread
    // waits for every shard's answer before it reports ready.
    match core.start() {
        Ok(()) => {
            let _ = started.send(Ok(()));
        }
        Err(e) => {
            let _ = started.send(Err(format!("shard {id}: {e}")));
            // SAFETY: the listener fd is ours; nobody else will use it.
            unsafe {
                libc::close(listener_fd);
            }
            return;
        }
    }
    let admission = Admission::new(id, &shared.config.session);
    let tasks = Rc::new(ShardTasks {
        core: RefCell::new(core),
        shared,
        connections: RefCell::new(Vec::new()),
        readers_running: Cell::new(0),
        writers_running: Cell::new(0),
        stop_accepting: LocalNotify::default(),
        admission: RefCell::new(admission),
        idle,
    });
    // SAFETY: the fd is a bound, listening TCP socket handed to this shard
    // alone (see server.rs); the listener takes ownership of it.
    let listener = unsafe { TcpListener::from_raw_fd(listener_fd) };
    let acceptor = glommio::spawn_local(accept_loop(Rc::clone(&tasks), listener));
    let ticker = glommio::spawn_local(tick_loop(Rc::clone(&tasks)));
    // SAFETY: the doorbell's receiving end is owned by this shard only.
    let doorbell = unsafe { UnixStream::from_raw_fd(doorbell.into_raw_fd()) };
    mesh_loop(&tasks, doorbell).await;
    graceful_shutdown(&tasks).await;
    acceptor.await;
    drop(ticker);
}

/// How long an idle spinning shard lets glommio poll io_uring before it
/// looks at its rings again.
const SPIN_POLL: Duration = Duration::from_micros(1);

async fn mesh_loop(tasks: &Rc<ShardTasks>, mut doorbell: UnixStream) {
    let id = tasks.core.borrow().id as usize;
    let mut wake = [0u8; 64];
    // Spinning must not be done by yielding: glommio keeps running a task
    // queue that has a runnable task until its preempt timer (100 ms) fires,
    // and only then reaps socket completions. Waiting on a 1 us timer
    // instead leaves the queue empty, so the executor spins in its own
    // io_uring poll loop (spin_before_park is an hour) and checks its timer
    // wheel there, waking this task a microsecond later. One timer is
    // re-armed, not re-created, on every idle turn.
    let mut spin_timer = glommio::timer::Timer::new(SPIN_POLL);
    loop {
        let handled = tasks.core.borrow_mut().poll_mesh(now());
        if tasks.shared.shutting_down() {
            return;
        }
        if handled > 0 {
            continue;
        }
        match tasks.idle {
            IdlePolicy::Spin => {
                spin_timer.reset(SPIN_POLL);
                (&mut spin_timer).await;
            }
            IdlePolicy::Park => {
                let bell = &tasks.shared.doorbells[id];
                let parked = bell.park_unless(|| {
                    tasks.core.borrow().mesh_pending() || tasks.shared.shutting_down()
                });
                if !parked {
                    continue;
                }
                // Woken by a producer's byte (or a shutdown); drains the bytes.
                let _ = doorbell.read(&mut wake).await;
                bell.unpark();
            }
        }
    }
}

async fn accept_loop(tasks: Rc<ShardTasks>, listener: TcpListener) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            tasks.stop_accepting.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => return,
            Some(Ok(stream)) => {
                backoff.after_success();
                stream
            }
            Some(Err(error)) => {
                let error = std::io::Error::from(error);
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
                            glommio::timer::sleep(pause).await;
                            false
                        },
                        async {
                            tasks.stop_accepting.wait().await;
                            true
                        },
                    )
                    .await;
                    if stopping {
                        return;
                    }
                }
                continue;
            }
        };
        let fd = stream.as_raw_fd();
        // A peer already gone (reset while queued) has no address: drop it.
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let admitted = tasks.admission.borrow_mut().admit(peer, fd, now().mono_ns);
        match admitted {
            Ok(ticket) => {
                glommio::spawn_local(pre_logon(Rc::clone(&tasks), stream, peer, ticket)).detach();
            }
            Err(_) => {
                glommio::spawn_local(refuse_at_accept(stream)).detach();
            }
        }
    }
}

/// Too many connections are waiting to log on (on the shard, or from the
/// peer's address): say so and close, at once. Nothing is read or
/// awaited beyond the one small write to an empty socket buffer, so a
/// flood holds each of these fds for a moment only.
async fn refuse_at_accept(mut stream: TcpStream) {
    let mut out = [0u8; PRE_LOGON_END_BYTES];
    let len = PreLogonEnd::no_room().encode(&mut out);
    let _ = stream.write_all(&out[..len]).await;
    discard_pending_input(stream.as_raw_fd());
    let _ = stream.close().await;
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
async fn pre_logon(tasks: Rc<ShardTasks>, mut stream: TcpStream, peer: SocketAddr, ticket: Ticket) {
    let mut first = [0u8; MAX_MESSAGE_LEN];
    let read = read_first_message(&tasks, &mut stream, &mut first).await;
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
        let written = futures_lite::future::or(
            async { stream.write_all(&out[..len]).await.is_ok() },
            async {
                glommio::timer::sleep(linger).await;
                false
            },
        )
        .await;
        if written {
            linger_close(&mut stream, linger).await;
        }
    }
    // Released only now: a connection counts against the bounds until its
    // fd is really given back.
    tasks.admission.borrow_mut().release(ticket);
    let _ = stream.close().await;
}

/// Reads exactly one message (never past it: what follows a Logon is the
/// session's), bounded by the logon timeout.
async fn read_first_message(
    tasks: &Rc<ShardTasks>,
    stream: &mut TcpStream,
    buf: &mut [u8; MAX_MESSAGE_LEN],
) -> FirstRead {
    let timeout = Duration::from_millis(tasks.shared.config.session.logon_timeout_ms);
    let read = async {
        let mut filled = 0;
        loop {
            let needed = match decode_client(&buf[..filled]) {
                Err(DecodeError::Incomplete { needed }) => needed,
                _ => return FirstRead::Complete(filled),
            };
            match stream.read(&mut buf[filled..needed]).await {
                Ok(0) | Err(_) if tasks.shared.shutting_down() => return FirstRead::ShuttingDown,
                Ok(0) | Err(_) => return FirstRead::Closed,
                Ok(n) => filled += n,
            }
        }
    };
    futures_lite::future::or(read, async {
        glommio::timer::sleep(timeout).await;
        FirstRead::TimedOut
    })
    .await
}

/// A whole first message: a session with its writer's socket, or how the
/// connection ends (counted and logged).
fn logon(
    tasks: &Rc<ShardTasks>,
    stream: &TcpStream,
    peer: SocketAddr,
    first: &[u8],
) -> Result<(SessionRef, TcpStream, Rc<LocalNotify>), PreLogonEnd> {
    let now = now();
    // A second descriptor for the same socket lets the reader and the
    // writer run as independent tasks without sharing the stream object.
    // Made before the session exists, so failing costs nothing but this
    // connection (at the fd limit).
    // SAFETY: dup of a valid socket fd; the new fd is owned by the writer.
    let write_fd = unsafe { libc::dup(stream.as_raw_fd()) };
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
    let write_stream = unsafe { TcpStream::from_raw_fd(write_fd) };
    let writer = Rc::new(LocalNotify::default());
    let outcome = tasks
        .core
        .borrow_mut()
        .first_message(first, Rc::clone(&writer), now);
    let end = match outcome {
        FirstMessage::LoggedOn(id) => {
            tasks.core.borrow_mut().session_started(id, peer);
            set_socket_options(stream, &tasks.shared);
            return Ok((id, write_stream, writer));
        }
        FirstMessage::Refused(end) => end,
        FirstMessage::Incomplete { .. } => unreachable!("read_first_message reads a whole message"),
    };
    drop(write_stream);
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
fn set_socket_options(stream: &TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let sndbuf = shared.config.session.socket_send_buffer_bytes;
    if sndbuf > 0 {
        let value = sndbuf as libc::c_int;
        // SAFETY: setsockopt on a socket we own, with a c_int option.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
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
    stream: TcpStream,
    id: SessionRef,
    write_stream: TcpStream,
    writer: Rc<LocalNotify>,
) {
    let fd = stream.as_raw_fd();
    tasks.connections.borrow_mut().push((id, fd));
    tasks.readers_running.set(tasks.readers_running.get() + 1);
    tasks.writers_running.set(tasks.writers_running.get() + 1);
    glommio::spawn_local(write_loop(Rc::clone(tasks), write_stream, id, writer)).detach();
    let tasks = Rc::clone(tasks);
    glommio::spawn_local(async move {
        read_loop(&tasks, stream, id).await;
        tasks.connections.borrow_mut().retain(|&(s, _)| s != id);
    })
    .detach();
}

/// Counted in `readers_running` by `serve`, which starts it.
async fn read_loop(tasks: &Rc<ShardTasks>, mut stream: TcpStream, id: SessionRef) {
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut filled = 0;
    loop {
        let n = match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if tasks.shared.shutting_down() {
            break; // input after shutdown began is not processed
        }
        filled += n;
        let mut start = 0;
        loop {
            let intake = tasks
                .core
                .borrow_mut()
                .on_bytes(id, &buf[start..filled], now());
            start += intake.consumed;
            if !intake.blocked {
                break;
            }
            // Back-pressure: a ring this session feeds is full, or its own
            // outbox is (the writer is waiting on the client).
            while !tasks.core.borrow().can_resume(id) && !tasks.shared.shutting_down() {
                glommio::timer::sleep(Duration::from_micros(20)).await;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
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

async fn write_loop(
    tasks: Rc<ShardTasks>,
    mut stream: TcpStream,
    id: SessionRef,
    writer: Rc<LocalNotify>,
) {
    let capacity = tasks.shared.config.session.send_buffer_bytes + MAX_MESSAGE_LEN;
    let mut spare: Vec<u8> = Vec::with_capacity(capacity);
    loop {
        let output = tasks.core.borrow_mut().take_output(id, &mut spare);
        match output {
            Output::Data => {
                // A client that does not read blocks only this task; once
                // its session has ended (slow consumer, shutdown) it gets at
                // most one linger period more before the socket is closed.
                let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
                let written = futures_lite::future::or(
                    async { stream.write_all(&spare).await.is_ok() },
                    async {
                        loop {
                            glommio::timer::sleep(linger).await;
                            if tasks.core.borrow().session_ended(id) {
                                return false;
                            }
                        }
                    },
                )
                .await;
                spare.clear();
                if !written {
                    break;
                }
            }
            Output::Idle => writer.wait().await,
            Output::Finished => break,
        }
    }
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    linger_close(&mut stream, linger).await;
    let _ = stream.close().await;
    tasks.core.borrow_mut().close_session(id);
    tasks.writers_running.set(tasks.writers_running.get() - 1);
}

/// Half-close: FIN after the queued bytes (SessionEnd last). Then read
/// and discard until the client closes, for at most `linger`: closing a
/// socket with unread input sends a reset, and a reset makes the client's
/// kernel drop what it has not read yet, SessionEnd too. Ends with both
/// directions shut, which also wakes a reader still waiting on the socket.
async fn linger_close(stream: &mut TcpStream, linger: Duration) {
    // SAFETY: shutdown on our own fd; no memory is touched.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR);
    }
    let mut scratch = [0u8; 512];
    let _ = futures_lite::future::or(
        async {
            while let Ok(n) = stream.read(&mut scratch).await {
                if n == 0 {
                    break;
                }
            }
        },
        glommio::timer::sleep(linger),
    )
    .await;
    // SAFETY: as above.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR);
    }
}

async fn tick_loop(tasks: Rc<ShardTasks>) {
    loop {
        glommio::timer::sleep(TICK).await;
        if tasks.shared.shutting_down() {
            return;
        }
        let now = now();
        tasks.core.borrow_mut().tick(now);
        tasks.admission.borrow_mut().flush(now.mono_ns);
        tasks.core.borrow_mut().journal_tick(now);
        // File-system work of the journal happens on the blocking pool
        // (an unpinned thread), never on the shard's reactor.
        let spare = tasks.core.borrow_mut().journal_spare_needed(now);
        if let Some(request) = spare {
            let created = glommio::executor()
                .spawn_blocking(move || request.create())
                .await;
            tasks.core.borrow_mut().journal_spare_ready(created, now);
        }
        let retired = tasks.core.borrow_mut().journal_retired();
        if let Some(segment) = retired {
            glommio::executor()
                .spawn_blocking(move || drop(segment))
                .await;
        }
    }
}

/// Stops input, drains the mesh, ends every session with
/// SessionEnd(Shutdown), drains again (cancel-on-disconnect), and waits for
/// the writers to flush (bounded by `shutdown_grace_ms`).
async fn graceful_shutdown(tasks: &Rc<ShardTasks>) {
    let id = tasks.core.borrow().id as usize;
    tasks.stop_accepting.notify();
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
    while tasks.readers_running.get() > 0 {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    quiesce(tasks, id, phase::READERS_STOPPED).await;
    tasks.core.borrow_mut().shut_down_sessions();
    quiesce(tasks, id, phase::SESSIONS_ENDED).await;
    wait_until_every_shard_confirmed(tasks, id).await;
    tasks.core.borrow_mut().journal_sync();
    let grace = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    let deadline = Instant::now() + grace;
    while (tasks.writers_running.get() > 0 || tasks.admission.borrow().waiting() > 0)
        && Instant::now() < deadline
    {
        glommio::timer::sleep(Duration::from_millis(1)).await;
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
        glommio::timer::sleep(Duration::from_micros(200)).await;
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
        glommio::timer::sleep(Duration::from_micros(200)).await;
    }
}

fn publish(tasks: &Rc<ShardTasks>, id: usize, phase: u32) {
    let mut core = tasks.core.borrow_mut();
    core.poll_mesh(now());
    let (sent, received) = core.traffic();
    tasks.shared.shutdown.publish(id, phase, sent, received);
}
