//! A single-threaded wake-up flag: one task waits, any code on the same
//! shard sets it. No allocation, no lock; a notification that arrives before
//! the wait is remembered, so none is lost.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Poll, Waker};

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
