//! The shard's own reactor: one io_uring per pinned shard thread and a
//! small executor for the shard's tasks, driven together in one loop.
//!
//! - `ring`: the ring (`SINGLE_ISSUER | DEFER_TASKRUN`) and the table of
//!   operations in flight;
//! - `bufring`: the provided buffer ring receives land in;
//! - `executor`: tasks and wakers (no allocation per wake-up);
//! - `ops`: the futures the runtime awaits (accept, receive, send, sleep,
//!   doorbell).
//!
//! The loop ([`block_on`]): run every ready task, then enter the kernel
//! once with `GETEVENTS`, which submits what the tasks queued, runs the
//! deferred task work and posts completions, which wake tasks. With a task
//! ready (the mesh loop yields every turn under `idle = "spin"`) the enter
//! does not wait: the shard spins in `io_uring_enter(GETEVENTS, 0)`, the
//! fastest way found to see a socket's input (issue 11). With none (`idle =
//! "park"`: the mesh loop waits for its doorbell), it waits in the kernel
//! for one completion: a socket, a timer or another shard's `MSG_RING`.

pub mod bufring;
pub mod executor;
pub mod ops;
pub mod ring;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use executor::{spawn, yield_now};
pub use ring::Ring;

thread_local! {
    static RING: RefCell<Option<Ring>> = const { RefCell::new(None) };
    /// Turns of this thread's loop so far (see [`turn`]).
    static TURN: Cell<u64> = const { Cell::new(0) };
    /// When order entry last had input here (see [`order_entry_input`]).
    static ORDER_ENTRY_INPUT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Sends and receives into the owner's memory dropped before their
    /// completion (see [`dropped_in_flight`]).
    static DROPPED_IN_FLIGHT: Cell<u64> = const { Cell::new(0) };
}

/// How many sends and receives into their owner's memory this thread
/// dropped before they completed. Each such drop cancels the operation and
/// then waits, on this thread, until the kernel gives the memory back: a
/// wait on a client, which a send the kernel runs in one of its worker
/// threads was seen to make last until the client read. The shard gives up
/// on a send by shutting its socket down (`ops::give_up_on_socket`) and on
/// a receive by cancelling it and awaiting its end (`ops::receive_until`)
/// instead, so this stays 0; it is published as
/// `tradsys_io_dropped_in_flight_total`. (Tasks dropped with the shard at
/// its exit count too, after the last publication.)
pub fn dropped_in_flight() -> u64 {
    DROPPED_IN_FLIGHT.with(Cell::get)
}

/// Counts one drop for [`dropped_in_flight`].
fn note_dropped_in_flight() {
    DROPPED_IN_FLIGHT.with(|dropped| {
        debug_assert!(dropped.get() < u64::MAX, "a count that cannot wrap");
        dropped.set(dropped.get() + 1);
    });
}

/// Notes that order entry has input now: called by the loop after an enter
/// that completed an order-entry receive (`ops::recv_pooled`,
/// `ops::recv_order_entry`), so the note is there before the turn that
/// handles the input runs any task, and by the shard's mesh loop when it
/// took order-entry messages from other shards.
pub fn note_order_entry_input() {
    let now = Instant::now();
    ORDER_ENTRY_INPUT.with(|last| {
        debug_assert!(
            last.get().is_none_or(|last| last <= now),
            "the clock is monotonic"
        );
        last.set(Some(now));
    });
}

/// How long ago order entry last had input on this thread (`None`: never).
/// Market data's share of a turn depends on it (`md/turn_share.rs`).
pub fn order_entry_input() -> Option<Duration> {
    debug_assert!(
        RING.with(|ring| ring.try_borrow().map_or(true, |ring| ring.is_some())),
        "only a reactor's thread has order-entry input"
    );
    ORDER_ENTRY_INPUT.with(Cell::get).map(|last| last.elapsed())
}

/// Whether order entry ever had input on this thread: what
/// [`order_entry_input`] says without its clock read, for a question asked
/// per market-data send (`md/turn_share.rs`: a shard that never had order
/// entry flushes to every client at once).
pub fn had_order_entry_input() -> bool {
    debug_assert!(
        RING.with(|ring| ring.try_borrow().map_or(true, |ring| ring.is_some())),
        "only a reactor's thread has order-entry input"
    );
    ORDER_ENTRY_INPUT.with(Cell::get).is_some()
}

/// The number of the loop turn running now: it changes once per turn
/// (every ready task run, then one enter). A budget per turn keyed by it
/// (`md::MdHub::take_send_budget`) needs no task of its own to reset it.
pub fn turn() -> u64 {
    debug_assert!(
        RING.with(|ring| ring.try_borrow().map_or(true, |ring| ring.is_some())),
        "only a reactor's thread has turns"
    );
    TURN.with(Cell::get)
}

/// Runs `f` on this thread's ring. Panics if the thread has none: only the
/// shard's own tasks (inside [`block_on`]) call it.
pub fn with_ring<R>(f: impl FnOnce(&mut Ring) -> R) -> R {
    RING.with(|ring| {
        let mut ring = ring.borrow_mut();
        f(ring.as_mut().expect("no reactor on this thread"))
    })
}

/// Runs `f` on this thread's ring if it has one that is not in use.
pub fn try_with_ring<R>(f: impl FnOnce(&mut Ring) -> R) -> Option<R> {
    RING.try_with(|ring| {
        let mut ring = ring.try_borrow_mut().ok()?;
        ring.as_mut().map(f)
    })
    .ok()
    .flatten()
}

/// How many enters in a row may fail before the loop gives up. One failure
/// that the next enter does not repeat is survivable; a ring that fails
/// every enter (its fd gone bad, the kernel refusing it) can neither read
/// orders nor send reports, and spinning on it would only log.
pub const ENTER_FAILURES_BEFORE_STOP: u32 = 1_000;

/// Drives `future` and every task it spawns on `ring` until `future`
/// completes; then drops the tasks left and the ring. Returns the error if
/// [`ENTER_FAILURES_BEFORE_STOP`] enters in a row failed: the tasks are
/// dropped unfinished and the caller must stop the gateway.
pub fn block_on(ring: Ring, future: impl Future<Output = ()> + 'static) -> std::io::Result<()> {
    RING.with(|slot| *slot.borrow_mut() = Some(ring));
    let done = Rc::new(Cell::new(false));
    let finished = Rc::clone(&done);
    spawn(async move {
        future.await;
        finished.set(true);
    });
    let mut failures = 0u32;
    let outcome = loop {
        TURN.with(|turn| turn.set(turn.get() + 1));
        executor::run_ready();
        if done.get() {
            break Ok(());
        }
        let wait = u32::from(!executor::has_ready());
        let entered = with_ring(|ring| ring.enter(wait));
        if with_ring(|ring| std::mem::take(&mut ring.order_entry_completed)) {
            note_order_entry_input();
        }
        match entered {
            Ok(()) => failures = 0,
            Err(error) => {
                if failures == 0 {
                    tracing::error!(%error, "io_uring_enter failed");
                }
                failures += 1;
                if failures >= ENTER_FAILURES_BEFORE_STOP {
                    break Err(error);
                }
            }
        }
    };
    debug_assert!(outcome.is_ok() || failures == ENTER_FAILURES_BEFORE_STOP);
    executor::clear();
    drain();
    RING.with(|slot| drop(slot.borrow_mut().take()));
    outcome
}

/// Waits (at most a second) for the completions of the operations the
/// dropped tasks cancelled. Closing the ring would not cancel them: the
/// shard's doorbell keeps a duplicate of its fd, so the ring outlives this
/// thread, and a receive still pending could pick one of the buffers
/// dropped with it.
fn drain() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while with_ring(|ring| ring.in_flight()) > 0 && std::time::Instant::now() < deadline {
        let timeout = io_uring::types::Timespec::new().nsec(1_000_000);
        let args = io_uring::types::SubmitArgs::new().timespec(&timeout);
        let waited = with_ring(|ring| {
            let waited = ring.uring.submitter().submit_with_args(1, &args);
            ring.enter(0).and(waited.map(drop))
        });
        if let Err(error) = waited {
            if error.raw_os_error() != Some(libc::ETIME) {
                tracing::warn!(%error, "draining the shard's ring");
                return;
            }
        }
    }
}
