//! The shard's io_uring and the table of its operations in flight.
//!
//! One ring per shard thread, made with `IORING_SETUP_SINGLE_ISSUER |
//! IORING_SETUP_DEFER_TASKRUN`: completions are posted only when this thread
//! enters the kernel with `GETEVENTS`, so no other CPU interrupts the shard
//! to run io_uring task work (about 11 to 13 us per cross-CPU wake-up in the
//! development guest, see issue 11). The ring is created disabled
//! (`IORING_SETUP_R_DISABLED`) wherever the shard's doorbell is made, and
//! enabled by the thread that drives it, which makes that thread its single
//! issuer.
//!
//! Every operation owns one [`Slot`] until its last completion arrives; the
//! slot's index is the SQE's `user_data`. Slots are boxed so that what the
//! kernel reads at submission (a timeout's timespec) stays put while the
//! table grows; freed slots are reused, so after warm-up no operation
//! allocates.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::task::Waker;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::bufring::BufRing;

/// `user_data` of a doorbell: a `MSG_RING` completion posted by another
/// thread (see `notify.rs`).
pub const DOORBELL: u64 = u64::MAX;
/// `user_data` of operations whose completion nobody waits for (cancels,
/// doorbells this shard sends).
pub const IGNORED: u64 = u64::MAX - 1;

/// Submission queue entries per ring; completions get four times as many
/// (every connection has a receive in flight, plus sends and timers; the
/// kernel keeps overflow beyond that, `IORING_FEAT_NODROP`).
pub const SQ_ENTRIES: u32 = 1024;
pub const CQ_ENTRIES: u32 = 4 * SQ_ENTRIES;

/// What an operation's leftovers need when its owner went away first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Nothing to clean up (timers).
    Plain,
    /// Reads or writes memory of its owner: dropping the owner waits for
    /// the completion (see `ops.rs`).
    UserMemory,
    /// A receive into the shard's buffer ring: a late completion returns
    /// its buffer.
    Pooled,
    /// An accept: a late connection is closed.
    Accept,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Free,
    /// Submitted; its owner waits.
    Waiting,
    /// Its last completion is in `result`.
    Done,
    /// Its owner is gone; the completion is cleaned up and frees the slot.
    Orphan,
}

pub struct Slot {
    pub state: State,
    pub kind: Kind,
    pub result: i32,
    pub flags: u32,
    pub waker: Option<Waker>,
    pub timespec: types::Timespec,
    /// An order-entry receive: its completion tells the shard that order
    /// entry has input this turn (see [`Ring::order_entry_completed`]).
    pub order_entry: bool,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: State::Free,
            kind: Kind::Plain,
            result: 0,
            flags: 0,
            waker: None,
            timespec: types::Timespec::new(),
            order_entry: false,
        }
    }
}

/// The flags the shard's ring is made with (also what `doctor` probes).
pub fn builder() -> io_uring::Builder {
    let mut builder = IoUring::builder();
    builder
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_r_disabled()
        .setup_cqsize(CQ_ENTRIES);
    builder
}

/// Makes a shard's ring, disabled until its thread enables it. The error
/// names what the kernel refused (see docs/OPERATIONS.md "Kernel").
pub fn new_disabled() -> io::Result<IoUring> {
    builder().build(SQ_ENTRIES).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "io_uring_setup with SINGLE_ISSUER|DEFER_TASKRUN|R_DISABLED: {e} ({})",
                setup_hint(&e, "needs Linux >= 6.1; see docs/OPERATIONS.md")
            ),
        )
    })
}

/// What to tell the operator when setting a ring up failed: ENOMEM means
/// the user's RLIMIT_MEMLOCK (the kernel charges ring memory to it), not
/// an old kernel.
pub fn setup_hint(error: &io::Error, otherwise: &'static str) -> &'static str {
    let hint = if error.raw_os_error() == Some(libc::ENOMEM) {
        "RLIMIT_MEMLOCK is too small for the shards' rings: run `tradsys doctor` (memlock), set LimitMEMLOCK=infinity or `ulimit -l unlimited`"
    } else {
        otherwise
    };
    debug_assert!(!hint.is_empty());
    hint
}

pub struct Ring {
    pub uring: IoUring,
    /// Boxed on purpose: a queued timeout points the kernel at its slot's
    /// timespec, which must not move when the table grows.
    #[allow(clippy::vec_box)]
    slots: Vec<Box<Slot>>,
    free: Vec<u32>,
    /// A doorbell arrived since the shard last looked.
    pub rung: bool,
    pub doorbell_waker: Option<Waker>,
    pub bufs: BufRing,
    /// An order-entry receive completed since the shard last looked
    /// (`reactor::block_on` takes it after each enter).
    pub order_entry_completed: bool,
}

impl Ring {
    /// Takes over a ring made by [`new_disabled`] on the thread that will
    /// drive it: enabling makes this thread its single issuer.
    pub fn enable(uring: IoUring, bufs: BufRing) -> io::Result<Ring> {
        uring.submitter().register_enable_rings()?;
        bufs.register(&uring)?;
        Ok(Ring {
            uring,
            slots: Vec::with_capacity(256),
            free: Vec::with_capacity(256),
            rung: false,
            doorbell_waker: None,
            bufs,
            order_entry_completed: false,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.uring.as_raw_fd()
    }

    pub fn slot(&mut self, index: u32) -> &mut Slot {
        &mut self.slots[index as usize]
    }

    /// A free slot, set up for an operation of `kind`.
    pub fn take_slot(&mut self, kind: Kind) -> u32 {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Box::new(Slot::new()));
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        debug_assert_eq!(slot.state, State::Free);
        slot.state = State::Waiting;
        slot.kind = kind;
        slot.order_entry = false;
        index
    }

    pub fn release_slot(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.state = State::Free;
        slot.waker = None;
        self.free.push(index);
    }

    /// Queues an SQE, first submitting what is queued if the queue is full.
    pub fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry's buffers and timespec outlive the
            // operation: they belong to a boxed slot, to the buffer ring, or
            // to an owner that waits for the completion before it lets go
            // of them (`Kind::UserMemory`).
            let pushed = unsafe { self.uring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            let _ = self.enter(0);
        }
    }

    /// Asks the kernel to cancel the operation in `index` (its completion
    /// still arrives, with `-ECANCELED` or its result).
    pub fn cancel(&mut self, index: u32) {
        let entry = opcode::AsyncCancel::new(u64::from(index))
            .build()
            .user_data(IGNORED);
        self.push(entry);
    }

    /// Submits what is queued and runs deferred task work (`GETEVENTS`);
    /// waits for at least `min_complete` completions. Then dispatches every
    /// completion.
    pub fn enter(&mut self, min_complete: u32) -> io::Result<()> {
        let to_submit = self.uring.submission().len() as u32;
        let flags = ENTER_GETEVENTS;
        // SAFETY: a plain io_uring_enter on our own ring with no argument.
        let entered = unsafe {
            self.uring
                .submitter()
                .enter::<libc::sigset_t>(to_submit, min_complete, flags, None)
        };
        match entered {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
                ) => {}
            Err(e) => return Err(e),
        }
        self.dispatch();
        Ok(())
    }

    fn dispatch(&mut self) {
        loop {
            let Some(cqe) = self.uring.completion().next() else {
                return;
            };
            self.complete(cqe.user_data(), cqe.result(), cqe.flags());
        }
    }

    fn complete(&mut self, user_data: u64, result: i32, flags: u32) {
        match user_data {
            DOORBELL => {
                self.rung = true;
                if let Some(waker) = self.doorbell_waker.take() {
                    waker.wake();
                }
                return;
            }
            IGNORED => return,
            _ => {}
        }
        let index = user_data as u32;
        let more = cqueue::more(flags);
        let slot = &mut self.slots[index as usize];
        match slot.state {
            State::Waiting | State::Done => {
                self.order_entry_completed |= slot.order_entry;
                slot.result = result;
                slot.flags = flags;
                slot.state = State::Done;
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
            State::Orphan => {
                let kind = slot.kind;
                self.clean_up(kind, result, flags);
                if !more {
                    self.release_slot(index);
                }
            }
            State::Free => debug_assert!(false, "completion for a free slot {index}"),
        }
    }

    /// What a completion nobody waits for leaves behind.
    pub fn clean_up(&mut self, kind: Kind, result: i32, flags: u32) {
        match kind {
            Kind::Pooled => {
                if let Some(bid) = cqueue::buffer_select(flags) {
                    self.bufs.give_back(bid);
                }
            }
            Kind::Accept if result >= 0 => {
                // SAFETY: an accepted connection nobody will ever see.
                unsafe { libc::close(result) };
            }
            _ => {}
        }
    }

    /// Operations still owned by someone (shutdown checks and tests).
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// `IORING_ENTER_GETEVENTS` (not in the libc crate): run deferred task
/// work and post completions.
pub const ENTER_GETEVENTS: u32 = 1;

/// Makes a ring exactly as a shard does (flags, the opcodes it uses, the
/// buffer ring), on the calling thread, and drops it: what `tradsys
/// doctor` checks. The error names the step the kernel refused.
pub fn probe() -> Result<(), String> {
    let uring = new_disabled().map_err(|e| e.to_string())?;
    let mut supported = io_uring::Probe::new();
    uring
        .submitter()
        .register_probe(&mut supported)
        .map_err(|e| format!("IORING_REGISTER_PROBE: {e}"))?;
    let opcodes = [
        ("IORING_OP_MSG_RING (Linux 5.18)", opcode::MsgRingData::CODE),
        ("IORING_OP_ACCEPT (Linux 5.5)", opcode::Accept::CODE),
        ("IORING_OP_RECV (Linux 5.6)", opcode::Recv::CODE),
        ("IORING_OP_SEND (Linux 5.6)", opcode::Send::CODE),
        ("IORING_OP_TIMEOUT (Linux 5.4)", opcode::Timeout::CODE),
        (
            "IORING_OP_ASYNC_CANCEL (Linux 5.5)",
            opcode::AsyncCancel::CODE,
        ),
    ];
    if let Some((name, _)) = opcodes
        .iter()
        .find(|(_, code)| !supported.is_supported(*code))
    {
        return Err(format!("{name} not supported"));
    }
    Ring::enable(uring, BufRing::new(8, 4096))
        .map(drop)
        .map_err(|e| e.to_string())
}
