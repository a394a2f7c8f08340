//! The glommio side of a shard: the tasks that move bytes between io_uring
//! sockets and the I/O-free [`ShardCore`].
//!
//! Tasks on one shard (all on its pinned executor, so `Rc`/`RefCell` and no
//! locks; a `RefCell` borrow is never held across an `.await`):
//! - the mesh loop: drains the inbound rings; when idle it spins (`spin`) or
//!   parks on its doorbell (`park`); it also runs graceful shutdown;
//! - the acceptor: accepts on this shard's SO_REUSEPORT listener;
//! - the ticker: heartbeats and timeouts every few milliseconds;
//! - per connection, a reader (socket -> core) and a writer (outbox ->
//!   socket, woken by a [`LocalNotify`]).

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream, UnixStream};

use super::core::{wall_clock_ns, Now, Output, ShardCore};
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
    let tasks = Rc::new(ShardTasks {
        core: RefCell::new(core),
        shared,
        connections: RefCell::new(Vec::new()),
        readers_running: Cell::new(0),
        writers_running: Cell::new(0),
        stop_accepting: LocalNotify::default(),
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
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            tasks.stop_accepting.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => return,
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let sndbuf = tasks.shared.config.session.socket_send_buffer_bytes;
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
        let writer = Rc::new(LocalNotify::default());
        let opened = tasks
            .core
            .borrow_mut()
            .open_session(Rc::clone(&writer), now());
        match opened {
            Some(id) => {
                glommio::spawn_local(serve(Rc::clone(&tasks), stream, id, writer)).detach();
            }
            None => {
                glommio::spawn_local(refuse_full(stream)).detach();
            }
        }
    }
}

/// The shard has its maximum of sessions: say so and close.
async fn refuse_full(mut stream: TcpStream) {
    let mut out = [0u8; 64];
    let n = encode(
        &LogonRejectedMsg::new(LogonRejectReason::SessionLimit),
        1,
        &mut out,
    )
    .expect("fits");
    let m = encode(
        &SessionEndMsg::new(SessionEndReason::LogonRejected, 0),
        2,
        &mut out[n..],
    )
    .expect("fits");
    let _ = stream.write_all(&out[..n + m]).await;
    let _ = stream.close().await;
}

async fn serve(tasks: Rc<ShardTasks>, stream: TcpStream, id: SessionRef, writer: Rc<LocalNotify>) {
    let fd = stream.as_raw_fd();
    // A second descriptor for the same socket lets the reader and the writer
    // run as independent tasks without sharing the stream object.
    // SAFETY: dup of a valid socket fd; the new fd is owned by the writer.
    let write_fd = unsafe { libc::dup(fd) };
    if write_fd < 0 {
        tasks.core.borrow_mut().close_session(id);
        return;
    }
    let write_stream = unsafe { TcpStream::from_raw_fd(write_fd) };
    tasks.connections.borrow_mut().push((id, fd));
    tasks.writers_running.set(tasks.writers_running.get() + 1);
    glommio::spawn_local(write_loop(Rc::clone(&tasks), write_stream, id, writer)).detach();
    read_loop(&tasks, stream, id).await;
    tasks.connections.borrow_mut().retain(|&(s, _)| s != id);
}

async fn read_loop(tasks: &Rc<ShardTasks>, mut stream: TcpStream, id: SessionRef) {
    tasks.readers_running.set(tasks.readers_running.get() + 1);
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
    // Half-close: FIN after the queued bytes (SessionEnd last). Then read
    // and discard until the client closes, for at most the linger time:
    // closing a socket with unread input sends a reset, and a reset makes
    // the client's kernel drop what it has not read yet, SessionEnd too.
    // SAFETY: shutdown on our own fd; no memory is touched.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR);
    }
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    let mut scratch = [0u8; 4096];
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
    // Both directions, which also wakes a reader still waiting on the socket.
    // SAFETY: as above.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR);
    }
    let _ = stream.close().await;
    tasks.core.borrow_mut().close_session(id);
    tasks.writers_running.set(tasks.writers_running.get() - 1);
}

async fn tick_loop(tasks: Rc<ShardTasks>) {
    loop {
        glommio::timer::sleep(TICK).await;
        if tasks.shared.shutting_down() {
            return;
        }
        let now = now();
        tasks.core.borrow_mut().tick(now);
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
    for &(_, fd) in tasks.connections.borrow().iter() {
        // SAFETY: shutdown of a socket we still own; wakes its reader.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RD);
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
    while tasks.writers_running.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let core = tasks.core.borrow();
    tracing::info!(
        shard = id,
        sessions_left = core.live_sessions(),
        messages_in = core.counters.messages_in,
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
