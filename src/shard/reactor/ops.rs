//! The operations a shard awaits, each one io_uring request in a slot of
//! the ring's table (no allocation once the table has grown to the
//! shard's peak of operations in flight).
//!
//! Dropping an operation before its completion cancels it. One that
//! reads or writes its owner's memory (a send, a receive into a given
//! buffer) waits, inside the drop, for its completion: the kernel may touch
//! that memory until then. The others leave their slot to the completion,
//! which cleans up (gives a buffer back, closes a late connection).

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types};

use super::bufring::GROUP;
use super::ring::{Kind, State};
use super::with_ring;

/// One submitted request; resolves to its completion's (result, flags).
pub struct Op {
    index: u32,
    kind: Kind,
    done: bool,
}

impl Op {
    fn submit(entry: squeue::Entry, kind: Kind) -> Op {
        Op::submit_as(entry, kind, false)
    }

    /// Submits `entry`; `order_entry` marks a receive of order entry, whose
    /// completion the reactor notes (`reactor::order_entry_input`).
    fn submit_as(entry: squeue::Entry, kind: Kind, order_entry: bool) -> Op {
        let index = with_ring(|ring| {
            let index = ring.take_slot(kind);
            ring.slot(index).order_entry = order_entry;
            ring.push(entry.user_data(u64::from(index)));
            index
        });
        debug_assert!(
            !order_entry || kind != Kind::Accept,
            "only receives are marked"
        );
        Op {
            index,
            kind,
            done: false,
        }
    }
}

impl Future for Op {
    type Output = (i32, u32);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(i32, u32)> {
        let index = self.index;
        let ready = with_ring(|ring| {
            let slot = ring.slot(index);
            if slot.state == State::Done {
                let out = (slot.result, slot.flags);
                ring.release_slot(index);
                Some(out)
            } else {
                slot.waker = Some(cx.waker().clone());
                None
            }
        });
        match ready {
            Some(out) => {
                self.done = true;
                Poll::Ready(out)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let index = self.index;
        let kind = self.kind;
        let orphaned = with_ring(|ring| {
            let slot = ring.slot(index);
            if slot.state == State::Done {
                let (result, flags) = (slot.result, slot.flags);
                ring.clean_up(kind, result, flags);
                ring.release_slot(index);
                return false;
            }
            slot.state = State::Orphan;
            slot.waker = None;
            ring.cancel(index);
            true
        });
        if orphaned && kind == Kind::UserMemory {
            super::note_dropped_in_flight();
            // The completion frees the slot; nothing else can take it
            // meanwhile, since no task runs inside this loop.
            while with_ring(|ring| ring.slot(index).state != State::Free) {
                if with_ring(|ring| ring.enter(1)).is_err() {
                    break;
                }
            }
        }
    }
}

fn result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

/// Waits `duration` (an `IORING_OP_TIMEOUT`).
pub async fn sleep(duration: Duration) {
    let index_entry = |index: u32, ring: &mut super::Ring| {
        let slot = ring.slot(index);
        slot.timespec = types::Timespec::from(duration);
        let timespec: *const types::Timespec = &slot.timespec;
        opcode::Timeout::new(timespec).build()
    };
    let index = with_ring(|ring| {
        let index = ring.take_slot(Kind::Plain);
        let entry = index_entry(index, ring);
        ring.push(entry.user_data(u64::from(index)));
        index
    });
    let op = Op {
        index,
        kind: Kind::Plain,
        done: false,
    };
    op.await;
}

/// Receives into `buf` (for exact-length reads).
pub async fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    recv_as(fd, buf, false).await
}

/// Receives into `buf` on an order-entry connection: its completion marks
/// the turn that handles it as one with order-entry input, in which market
/// data keeps to its smaller share (`shard/md/turn_share.rs`).
pub async fn recv_order_entry(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    debug_assert!(!buf.is_empty(), "an order-entry receive has room");
    recv_as(fd, buf, true).await
}

async fn recv_as(fd: RawFd, buf: &mut [u8], order_entry: bool) -> io::Result<usize> {
    let len = buf.len();
    let (res, _) = submit_recv(fd, buf, order_entry).await;
    debug_assert!(
        res < 0 || res as usize <= len,
        "a receive fills at most its buffer"
    );
    result(res)
}

/// Submits a receive into `buf` (marked as order entry's if `order_entry`).
fn submit_recv(fd: RawFd, buf: &mut [u8], order_entry: bool) -> Op {
    debug_assert!(buf.len() <= u32::MAX as usize, "an SQE's length is 32 bits");
    let entry = opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32).build();
    Op::submit_as(entry, Kind::UserMemory, order_entry)
}

/// Sends from `buf`; returns how much the kernel took.
pub async fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let entry = opcode::Send::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build();
    let (res, _) = Op::submit(entry, Kind::UserMemory).await;
    result(res)
}

/// Runs `io`, a send or receive on the socket `fd`, until `give_up`
/// completes: `Ok` with its result if it finished first. Otherwise the
/// socket is shut down both ways, which ends the operation at once (a send
/// with `EPIPE`, a receive with 0), and `Err` has the operation's own
/// result. The operation is never dropped in flight: dropping one cancels
/// it and then waits, on the shard's thread, until the kernel gives its
/// buffer back, and a send the kernel runs in one of its worker threads
/// (as it does when a retry after its poll still finds no room) was seen
/// not to end on a cancel until the client read: the shard slept inside
/// that wait (SIGTERM hung with 300 clients reading nothing). Such drops
/// are counted (`reactor::dropped_in_flight`).
pub async fn give_up_on_socket<T>(
    fd: RawFd,
    io: impl Future<Output = T>,
    give_up: impl Future<Output = ()>,
) -> Result<T, T> {
    debug_assert!(fd >= 0, "a socket's descriptor");
    let mut io = std::pin::pin!(io);
    match before(io.as_mut(), give_up).await {
        Some(result) => Ok(result),
        None => Err(shut_down_then(fd, io).await),
    }
}

/// Receives into `buf` (an order-entry receive if `order_entry`, as
/// [`recv_order_entry`]) until `give_up` completes: `Ok` with its result
/// if it finished first. Otherwise the receive is cancelled and awaited,
/// and `Err` has its own result (`ECANCELED`, or what had arrived). For a
/// connection that goes on after the give-up (the logon timeout's answer,
/// the linger before a close), since the socket stays whole: shutting its
/// reading down instead ended the linger at once and made the kernel
/// answer whatever the client still sent (a Logon just too late, a
/// WebSocket Close echoed) with a reset, which could cost the client the
/// answer itself. A receive waits for input in a poll, which the cancel
/// ends at once; one still running once `backstop` completes (the kernel
/// ran it in a worker) is ended by shutting the socket down both ways, as
/// [`give_up_on_socket`] does. Never dropped in flight.
pub async fn receive_until(
    fd: RawFd,
    buf: &mut [u8],
    order_entry: bool,
    give_up: impl Future<Output = ()>,
    backstop: impl Future<Output = ()>,
) -> Result<io::Result<usize>, io::Result<usize>> {
    let len = buf.len();
    let mut receive = submit_recv(fd, buf, order_entry);
    let index = receive.index;
    if let Some((res, _)) = before(Pin::new(&mut receive), give_up).await {
        debug_assert!(
            res < 0 || res as usize <= len,
            "a receive fills at most its buffer"
        );
        return Ok(result(res));
    }
    with_ring(|ring| ring.cancel(index));
    let ended = match before(Pin::new(&mut receive), backstop).await {
        Some(cancelled) => cancelled,
        None => shut_down_then(fd, Pin::new(&mut receive)).await,
    };
    Err(result(ended.0))
}

/// `io`'s result if it completes before `other`; `None` once `other` has
/// (`io` is then still in flight, never dropped here).
async fn before<T>(
    mut io: Pin<&mut impl Future<Output = T>>,
    other: impl Future<Output = ()>,
) -> Option<T> {
    futures_lite::future::or(async { Some(io.as_mut().await) }, async {
        other.await;
        None
    })
    .await
}

/// Shuts the socket `fd` down both ways, which ends an operation blocked
/// on it (a send with `EPIPE`, a receive with 0), then awaits `io` to its
/// own end.
async fn shut_down_then<T>(fd: RawFd, io: Pin<&mut impl Future<Output = T>>) -> T {
    // SAFETY: shutdown on a socket the caller owns; no memory is touched.
    let shut = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    debug_assert!(shut == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::ENOTCONN));
    io.await
}

/// Sends what the socket takes of `buf` now, without waiting for room:
/// `MSG_DONTWAIT` makes io_uring answer `EAGAIN` (or a short count) where
/// a plain send would arm a poll and wait for the peer to read.
pub async fn send_now(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    debug_assert!(!buf.is_empty(), "an empty send says nothing");
    let entry = opcode::Send::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32)
        .flags(libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
        .build();
    let (res, _) = Op::submit(entry, Kind::UserMemory).await;
    result(res)
}

/// Sends all of `buf`.
pub async fn send_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match send(fd, buf).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Bytes a receive put in one of the shard's pooled buffers; the buffer
/// goes back to the kernel when this is dropped.
pub struct Pooled {
    bid: u16,
    ptr: *const u8,
    len: usize,
}

impl std::ops::Deref for Pooled {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer belongs to the ring's buffer pool, which lives
        // as long as the shard's thread runs tasks; the kernel does not
        // write it again before `drop` gives it back.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        with_ring(|ring| ring.bufs.give_back(self.bid));
    }
}

/// Receives into a buffer the kernel picks from the shard's buffer ring.
/// `Ok(None)`: the peer closed. `ENOBUFS` when every buffer is taken. The
/// buffer ring is order entry's (sessions' readers), so the receive is
/// marked as order entry's, as [`recv_order_entry`] is.
pub async fn recv_pooled(fd: RawFd) -> io::Result<Option<Pooled>> {
    let entry = opcode::Recv::new(types::Fd(fd), std::ptr::null_mut(), 0)
        .buf_group(GROUP)
        .build()
        .flags(squeue::Flags::BUFFER_SELECT);
    let (res, flags) = Op::submit_as(entry, Kind::Pooled, true).await;
    let len = result(res)?;
    let Some(bid) = cqueue::buffer_select(flags) else {
        return Ok(None);
    };
    let ptr = with_ring(|ring| ring.bufs.bytes(bid, len).as_ptr());
    if len == 0 {
        drop(Pooled { bid, ptr, len });
        return Ok(None);
    }
    Ok(Some(Pooled { bid, ptr, len }))
}

/// Waits for this shard's doorbell (another thread's `MSG_RING`).
pub async fn doorbell() {
    poll_fn(|cx| {
        with_ring(|ring| {
            if std::mem::take(&mut ring.rung) {
                Poll::Ready(())
            } else {
                ring.doorbell_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    })
    .await
}

/// Wakes this shard's own [`doorbell`] waiter as a doorbell completion
/// would, without a trip through the kernel.
pub fn ring_own_doorbell() {
    with_ring(|ring| {
        ring.rung = true;
        if let Some(waker) = ring.doorbell_waker.take() {
            waker.wake();
        }
        debug_assert!(ring.doorbell_waker.is_none());
    });
}

/// Accepts on a listener: one single-shot accept in flight at a time.
///
/// Not multishot: the kernel's multishot accept retries while the listen
/// queue is non-empty, so one enter turns the whole backlog into fds (466
/// at once under the 5,000-connect flood of `tests/gateway_prelogon.rs`,
/// where connections waiting to log on are bounded to a few dozen), and it
/// reads RLIMIT_NOFILE once, when armed, so it accepts beyond a lowered
/// limit. A single-shot accept costs one SQE per connection, submitted in
/// the enter the shard makes anyway.
pub struct Acceptor {
    listener: RawFd,
    op: Option<Op>,
}

impl Acceptor {
    pub fn new(listener: RawFd) -> Acceptor {
        Acceptor { listener, op: None }
    }

    /// The next connection. Dropping the future keeps the accept in
    /// flight for the next call; dropping the acceptor cancels it (a
    /// connection it accepted meanwhile is closed).
    pub async fn next(&mut self) -> io::Result<OwnedFd> {
        let listener = self.listener;
        let op = self.op.get_or_insert_with(|| {
            let entry = opcode::Accept::new(
                types::Fd(listener),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
            .flags(libc::SOCK_CLOEXEC)
            .build();
            Op::submit(entry, Kind::Accept)
        });
        let (res, _) = op.await;
        self.op = None;
        // SAFETY: a successful accept's result is a new fd, ours alone.
        result(res).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}
