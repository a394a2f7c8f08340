//! rtrb 0.3's single-producer single-consumer ring over loom atomics.
//!
//! The gateway's mesh uses `rtrb::RingBuffer`, which takes its atomics from
//! `core` and so cannot run under loom. This is its protocol, line for line
//! (rtrb 0.3.6 `src/lib.rs`: `push`, `next_tail`, `slots`, `pop`,
//! `next_head`, `is_empty`, and the position arithmetic): positions run in
//! `0 .. 2 * capacity` so that full and empty differ; each side caches the
//! other's position and reloads it (`Acquire`) only when the cache says
//! full / empty; the producer writes the slot and then publishes the tail
//! (`Release`); the consumer reads the slot and then publishes the head
//! (`Release`). The slots are loom `UnsafeCell`s, so a slot read that is
//! not ordered after its write (or a write that races a read) fails the
//! model.

use std::cell::Cell;
use std::mem::MaybeUninit;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

struct RingBuffer<T> {
    head: AtomicUsize,
    tail: AtomicUsize,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    capacity: usize,
}

impl<T> RingBuffer<T> {
    fn collapse_position(&self, pos: usize) -> usize {
        debug_assert!(pos == 0 || pos < 2 * self.capacity);
        if pos < self.capacity {
            pos
        } else {
            pos - self.capacity
        }
    }

    fn increment1(&self, pos: usize) -> usize {
        debug_assert!(pos < 2 * self.capacity);
        if pos < 2 * self.capacity - 1 {
            pos + 1
        } else {
            0
        }
    }

    fn distance(&self, a: usize, b: usize) -> usize {
        debug_assert!(a == 0 || a < 2 * self.capacity);
        debug_assert!(b == 0 || b < 2 * self.capacity);
        if a <= b {
            b - a
        } else {
            2 * self.capacity - a + b
        }
    }
}

/// `rtrb::RingBuffer::new`.
pub fn new<T: Copy>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0);
    let buffer = Arc::new(RingBuffer {
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
        slots: (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
        capacity,
    });
    let producer = Producer {
        buffer: Arc::clone(&buffer),
        cached_head: Cell::new(0),
        cached_tail: Cell::new(0),
    };
    let consumer = Consumer {
        buffer,
        cached_head: Cell::new(0),
        cached_tail: Cell::new(0),
    };
    (producer, consumer)
}

pub struct Producer<T> {
    buffer: Arc<RingBuffer<T>>,
    cached_head: Cell<usize>,
    cached_tail: Cell<usize>,
}

impl<T: Copy> Producer<T> {
    /// `rtrb::Producer::push`: `Err(value)` when full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if let Some(tail) = self.next_tail() {
            let slot = &self.buffer.slots[self.buffer.collapse_position(tail)];
            // SAFETY: the slot is empty (the consumer is past it) and only
            // the producer writes; loom checks that claim.
            slot.with_mut(|p| unsafe {
                (*p).write(value);
            });
            let tail = self.buffer.increment1(tail);
            self.buffer.tail.store(tail, Ordering::Release);
            self.cached_tail.set(tail);
            Ok(())
        } else {
            Err(value)
        }
    }

    /// `rtrb::Producer::slots`: free slots (what `Links::has_room` asks).
    pub fn slots(&self) -> usize {
        let head = self.buffer.head.load(Ordering::Acquire);
        self.cached_head.set(head);
        self.buffer.capacity - self.buffer.distance(head, self.cached_tail.get())
    }

    fn next_tail(&self) -> Option<usize> {
        let tail = self.cached_tail.get();
        // Possibly full: refresh the head and check again.
        if self.buffer.distance(self.cached_head.get(), tail) == self.buffer.capacity {
            let head = self.buffer.head.load(Ordering::Acquire);
            self.cached_head.set(head);
            if self.buffer.distance(head, tail) == self.buffer.capacity {
                return None;
            }
        }
        Some(tail)
    }
}

pub struct Consumer<T> {
    buffer: Arc<RingBuffer<T>>,
    cached_head: Cell<usize>,
    cached_tail: Cell<usize>,
}

impl<T: Copy> Consumer<T> {
    /// `rtrb::Consumer::pop`: `None` when empty.
    pub fn pop(&mut self) -> Option<T> {
        let head = self.next_head()?;
        let slot = &self.buffer.slots[self.buffer.collapse_position(head)];
        // SAFETY: the slot was written before the tail that made it
        // visible was published; loom checks that claim.
        let value = slot.with(|p| unsafe { (*p).assume_init() });
        let head = self.buffer.increment1(head);
        self.buffer.head.store(head, Ordering::Release);
        self.cached_head.set(head);
        Some(value)
    }

    /// `rtrb::Consumer::is_empty` (what `Links::inbound_pending`, the
    /// parked shard's re-check, asks).
    pub fn is_empty(&self) -> bool {
        self.next_head().is_none()
    }

    fn next_head(&self) -> Option<usize> {
        let head = self.cached_head.get();
        // Possibly empty: refresh the tail and check again.
        if head == self.cached_tail.get() {
            let tail = self.buffer.tail.load(Ordering::Acquire);
            self.cached_tail.set(tail);
            if head == tail {
                return None;
            }
        }
        Some(head)
    }
}
