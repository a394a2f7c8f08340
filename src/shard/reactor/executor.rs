//! The shard's task executor: a table of local futures and a run queue,
//! driven in one loop with the ring.
//!
//! A task is spawned per connection (and per long-lived job), never per
//! message. A waker is the task's index and generation packed in a word,
//! so cloning and waking allocate nothing and a waker of a finished task
//! (whose slot was reused) wakes nobody. Wakers never leave the shard's
//! thread: only its own code (ring completions, `LocalNotify`) holds them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Polls between two looks at the ring, at most.
const MAX_POLLS_PER_TURN: usize = 4096;

struct Entry {
    generation: u32,
    future: Option<Task>,
    queued: bool,
    live: bool,
}

#[derive(Default)]
pub struct Executor {
    tasks: RefCell<Vec<Entry>>,
    free: RefCell<Vec<u32>>,
    ready: RefCell<VecDeque<u32>>,
    /// Tasks that yielded: run again after the ring was looked at.
    yielded: RefCell<Vec<u32>>,
    /// The task being polled (to tell a yield from a wake-up).
    current: Cell<Option<u32>>,
}

thread_local! {
    static EXECUTOR: Executor = Executor::default();
}

fn pack(index: u32, generation: u32) -> usize {
    ((generation as usize) << 32) | index as usize
}

fn unpack(word: usize) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

const VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake, drop_waker);

fn clone_waker(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    let (index, generation) = unpack(data as usize);
    // A waker used on another thread (never done) finds that thread's
    // executor, where the index is not this task: at worst a spurious poll.
    let _ = EXECUTOR.try_with(|executor| executor.schedule(index, generation));
}

fn drop_waker(_: *const ()) {}

fn waker_for(index: u32, generation: u32) -> Waker {
    // SAFETY: the data word is plain bits, never dereferenced; every
    // vtable function is sound for any value.
    unsafe { Waker::from_raw(RawWaker::new(pack(index, generation) as *const (), &VTABLE)) }
}

impl Executor {
    fn schedule(&self, index: u32, generation: u32) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(entry) = tasks.get_mut(index as usize) else {
            return;
        };
        if entry.live && entry.generation == generation && !entry.queued {
            entry.queued = true;
            self.ready.borrow_mut().push_back(index);
        }
    }

    fn spawn(&self, future: Task) {
        let mut tasks = self.tasks.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(index) => index,
            None => {
                tasks.push(Entry {
                    generation: 0,
                    future: None,
                    queued: false,
                    live: false,
                });
                (tasks.len() - 1) as u32
            }
        };
        let entry = &mut tasks[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.future = Some(future);
        entry.live = true;
        entry.queued = true;
        self.ready.borrow_mut().push_back(index);
    }

    /// Polls one task; true if it finished.
    fn poll(&self, index: u32) -> bool {
        let (future, generation) = {
            let mut tasks = self.tasks.borrow_mut();
            let entry = &mut tasks[index as usize];
            entry.queued = false;
            match entry.future.take() {
                Some(future) => (future, entry.generation),
                None => return false,
            }
        };
        let mut future = future;
        let waker = waker_for(index, generation);
        self.current.set(Some(index));
        let done = future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        self.current.set(None);
        let mut tasks = self.tasks.borrow_mut();
        let entry = &mut tasks[index as usize];
        if done {
            entry.live = false;
            entry.queued = false;
            drop(tasks);
            self.free.borrow_mut().push(index);
            // Dropped outside every borrow: its drop may run the ring.
            drop(future);
        } else {
            entry.future = Some(future);
        }
        done
    }

    /// Runs every ready task (and those they wake) once; yielded tasks are
    /// queued again for the next turn. Returns how many ran.
    fn run_ready(&self) -> usize {
        let mut ran = 0;
        // Bounded, so a task that keeps waking itself cannot starve the ring.
        while ran < MAX_POLLS_PER_TURN {
            let next = self.ready.borrow_mut().pop_front();
            let Some(index) = next else { break };
            self.poll(index);
            ran += 1;
        }
        let mut yielded = self.yielded.borrow_mut();
        let mut ready = self.ready.borrow_mut();
        ready.extend(yielded.drain(..));
        ran
    }

    /// Drops every task left (at the end of `block_on`).
    fn clear(&self) {
        loop {
            let next = {
                let mut tasks = self.tasks.borrow_mut();
                tasks.iter_mut().find_map(|entry| {
                    entry.live = false;
                    entry.future.take()
                })
            };
            match next {
                Some(future) => drop(future),
                None => break,
            }
        }
        self.tasks.borrow_mut().clear();
        self.free.borrow_mut().clear();
        self.ready.borrow_mut().clear();
        self.yielded.borrow_mut().clear();
    }
}

/// Starts `future` as a task of this thread's executor.
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    EXECUTOR.with(|executor| executor.spawn(Box::pin(future)));
}

/// Lets the other tasks and the ring run, then continues.
pub fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |_| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        EXECUTOR.with(|executor| {
            if let Some(index) = executor.current.get() {
                let mut tasks = executor.tasks.borrow_mut();
                let entry = &mut tasks[index as usize];
                if !entry.queued {
                    entry.queued = true;
                    executor.yielded.borrow_mut().push(index);
                }
            }
        });
        Poll::Pending
    })
}

/// Whether any task is ready to run.
pub fn has_ready() -> bool {
    EXECUTOR.with(|executor| !executor.ready.borrow().is_empty())
}

/// Runs ready tasks once (see [`Executor::run_ready`]).
pub fn run_ready() -> usize {
    EXECUTOR.with(Executor::run_ready)
}

/// Drops every remaining task of this thread.
pub fn clear() {
    EXECUTOR.with(Executor::clear);
}
