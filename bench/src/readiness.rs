//! Which of a load thread's connections have bytes to read, without
//! touching the others: an epoll set polled with a zero timeout.
//!
//! Polling every socket with `recv` each turn costs a syscall per idle
//! socket and takes its lock, which the gateway's sends into that socket
//! then wait for: with 4 connections at 50,000 orders/s perf showed lock
//! slow paths in the client's `recv`. epoll reads one ready list instead,
//! so the generator's cost per turn does not grow with idle connections.
//! (It did not move the 4-connection p50 measurably: that varies between
//! about 37 and 72 us from run to run, with either polling.)

use std::io;
use std::os::fd::RawFd;

pub struct Readiness {
    epoll: RawFd,
    events: Vec<libc::epoll_event>,
}

impl Readiness {
    pub fn new(capacity: usize) -> io::Result<Readiness> {
        // SAFETY: plain syscall; the fd is owned by this struct.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Readiness {
            epoll,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    /// Watches `fd` for input; `token` comes back when it is readable.
    pub fn add(&mut self, fd: RawFd, token: usize) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token as u64,
        };
        // SAFETY: valid epoll fd and event pointer.
        if unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Calls `ready` with the token of every readable fd, without waiting.
    /// Level-triggered: a connection not drained to empty comes back.
    pub fn poll(&mut self, ready: impl FnMut(usize)) -> io::Result<()> {
        self.wait(0, ready)
    }

    /// As [`Readiness::poll`], but blocks up to `timeout_ms` for the first
    /// readable fd (the `md` bench's readers, which share a core with the
    /// trade driver and must not spin against it).
    pub fn wait(&mut self, timeout_ms: i32, mut ready: impl FnMut(usize)) -> io::Result<()> {
        debug_assert!(timeout_ms >= 0, "a bounded wait");
        // SAFETY: the buffer holds `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        for event in &self.events[..n as usize] {
            ready(event.u64 as usize);
        }
        Ok(())
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        // SAFETY: closing the fd this struct owns.
        unsafe { libc::close(self.epoll) };
    }
}
