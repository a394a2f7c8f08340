//! Wake-ups: [`LocalNotify`], a single-threaded flag one task waits on and
//! any code of the same shard sets; and [`Doorbell`], how another thread
//! wakes a shard parked in `io_uring_enter`: an `IORING_OP_MSG_RING` that
//! posts a completion to the shard's ring (it replaced a socketpair: no
//! file I/O, no extra fd to poll, and the shard sleeps in the same enter
//! that waits for its sockets and timers).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::task::{Poll, Waker};

use crossbeam_utils::CachePadded;
use io_uring::{opcode, squeue, types, IoUring};

use super::park::ParkFlag;
use super::reactor::ring::{self, DOORBELL, IGNORED};

#[derive(Default)]
pub struct LocalNotify {
    ready: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl LocalNotify {
    pub fn notify(&self) {
        self.ready.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Completes once `notify` has been called since the last wait.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.ready.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    /// Whether a notification is pending (tests drive the core without tasks).
    pub fn take(&self) -> bool {
        self.ready.replace(false)
    }
}

/// Wakes a parked shard: the park/ring decision ([`ParkFlag`], which
/// `checks/loom/` model-checks) and the shard's ring to post the wake-up
/// to. The consumer parks, re-checks its rings, then waits in
/// `io_uring_enter`; a producer that pushed and then finds it parked sends
/// one `MSG_RING`. SeqCst fences on both sides order "push, check parked"
/// against "set parked, check rings", so a wake-up is never lost.
pub struct Doorbell {
    parked: CachePadded<ParkFlag>,
    /// A duplicate of the shard ring's fd: the ring stays a valid target
    /// for as long as any producer can ring.
    target: OwnedFd,
}

/// The shard's ring, made (disabled) with its doorbell; the shard's thread
/// enables it and runs on it (`reactor::Ring::enable`). Tests that drive a
/// core without a reactor look at it with [`ShardRing::take_rung`].
pub struct ShardRing {
    uring: IoUring,
    enabled: bool,
}

impl ShardRing {
    pub fn into_inner(self) -> IoUring {
        self.uring
    }

    /// Whether a doorbell arrived since the last call (enables the ring on
    /// this thread at the first call).
    pub fn take_rung(&mut self) -> bool {
        if !self.enabled {
            self.enabled = self.uring.submitter().register_enable_rings().is_ok();
        }
        // SAFETY: a plain GETEVENTS enter on our own ring.
        let _ = unsafe {
            self.uring
                .submitter()
                .enter::<libc::sigset_t>(0, 0, ring::ENTER_GETEVENTS, None)
        };
        let mut rung = false;
        for cqe in self.uring.completion() {
            rung |= cqe.user_data() == DOORBELL;
        }
        rung
    }
}

impl Doorbell {
    /// The doorbell and the shard ring it rings.
    pub fn new() -> io::Result<(Doorbell, ShardRing)> {
        let uring = ring::new_disabled()?;
        // SAFETY: the ring's fd is open for as long as `uring` lives, and
        // is only borrowed to duplicate it.
        let target = unsafe { BorrowedFd::borrow_raw(uring.as_raw_fd()) }.try_clone_to_owned()?;
        Ok((
            Doorbell {
                parked: CachePadded::new(ParkFlag::new()),
                target,
            },
            ShardRing {
                uring,
                enabled: false,
            },
        ))
    }

    /// Called by a producer after pushing.
    #[inline]
    pub fn ring(&self) {
        if self.parked.ring() {
            self.force();
        }
    }

    /// Posts the wake-up unconditionally (shutdown). From a shard thread
    /// it goes through that shard's own ring, submitted at once; from any
    /// other thread through a small ring of that thread's.
    pub fn force(&self) {
        let entry = opcode::MsgRingData::new(types::Fd(self.target.as_raw_fd()), 0, DOORBELL, None)
            .build()
            .user_data(IGNORED);
        let sent = super::reactor::try_with_ring(|ring| {
            ring.push(entry.clone().flags(squeue::Flags::SKIP_SUCCESS));
            // A failed doorbell (its shard gone) is ignored by user_data.
            let _ = ring.uring.submit();
        });
        if sent.is_none() {
            send_from_any_thread(&entry);
        }
    }

    /// Called by the consumer with nothing to do: parks unless `pending`
    /// (its re-check of the rings, after the park is announced) finds work.
    /// True: parked, wait for the doorbell, then [`Doorbell::unpark`].
    #[inline]
    pub fn park_unless(&self, pending: impl FnOnce() -> bool) -> bool {
        self.parked.park_unless(pending)
    }

    pub fn unpark(&self) {
        self.parked.unpark();
    }

    /// Whether the shard has announced a park (see [`ParkFlag::is_parked`]).
    pub fn is_parked(&self) -> bool {
        self.parked.is_parked()
    }
}

thread_local! {
    /// The ring a thread without a reactor (main, tests) sends doorbells
    /// through; made at its first doorbell.
    static SENDER: RefCell<Option<IoUring>> = const { RefCell::new(None) };
}

/// Makes this thread's doorbell sender now. The thread that starts the
/// gateway calls it, so a shutdown rung later needs no new fd (it may come
/// when the process is at its fd limit).
pub fn prepare_sender() {
    let _ = SENDER.try_with(|sender| {
        let mut sender = sender.borrow_mut();
        if sender.is_none() {
            *sender = IoUring::new(8).ok();
        }
    });
}

fn send_from_any_thread(entry: &squeue::Entry) {
    prepare_sender();
    let _ = SENDER.try_with(|sender| {
        let mut sender = sender.borrow_mut();
        let Some(uring) = sender.as_mut() else {
            tracing::error!("doorbell: cannot make an io_uring to send it");
            return;
        };
        // SAFETY: MSG_RING reads no memory of ours.
        if unsafe { uring.submission().push(entry) }.is_ok() {
            let _ = uring.submit_and_wait(1);
        }
        uring.completion().for_each(drop);
    });
}
