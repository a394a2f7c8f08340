//! A session's bounded send buffer. Messages are encoded straight into it
//! with the session's next sequence number; the writer task swaps it for an
//! empty buffer of the same capacity and writes it out, so the steady state
//! allocates nothing. The bound is `send_buffer_bytes`; room for one final
//! `SessionEnd` is reserved beyond it.

use crate::protocol::{encode_append, SessionEndMsg, SessionReport, WireMessage, MAX_MESSAGE_LEN};

pub struct Outbox {
    buf: Vec<u8>,
    limit: usize,
    next_seq: u32,
    /// Set once the final SessionEnd is queued: nothing follows it.
    sealed: bool,
    /// Latency capture: stamp the first message queued into an empty
    /// buffer (the `report_out` stage runs from it to the hand-over).
    stamping: bool,
    /// When the oldest message still queued was queued (telemetry::clock);
    /// 0: empty, or not stamping.
    first_queued_ns: u64,
}

/// The buffer would pass its bound: the client is not reading.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Outbox {
    pub fn new(limit: usize, stamping: bool) -> Outbox {
        // Config validation: send_buffer_bytes >= 4096, room for any message.
        assert!(
            limit >= MAX_MESSAGE_LEN,
            "an outbox holds at least one message"
        );
        Outbox {
            buf: Vec::with_capacity(limit + MAX_MESSAGE_LEN),
            limit,
            next_seq: 1,
            sealed: false,
            stamping,
            first_queued_ns: 0,
        }
    }

    /// When the oldest queued message was queued (0: not stamped).
    pub fn first_queued_ns(&self) -> u64 {
        self.first_queued_ns
    }

    /// Appends one message of `len` bytes if it fits within `within`;
    /// `write` appends exactly those bytes (`encode_append`: copied once,
    /// no zero fill first) given the sequence number it carries.
    fn append(
        &mut self,
        len: usize,
        within: usize,
        write: impl FnOnce(u32, &mut Vec<u8>) -> usize,
    ) -> Result<(), Full> {
        if self.sealed {
            return Ok(()); // after SessionEnd nothing more is sent
        }
        let start = self.buf.len();
        assert!(
            within <= self.capacity_bytes(),
            "never past the reserved capacity"
        );
        if start + len > within {
            return Err(Full);
        }
        if start == 0 && self.stamping {
            self.first_queued_ns = crate::telemetry::clock::mono_ns();
        }
        let written = write(self.next_seq, &mut self.buf);
        assert_eq!(written, len, "the length that was checked");
        debug_assert_eq!(self.buf.len(), start + len);
        self.next_seq = self.next_seq.wrapping_add(1);
        // The buffer was reserved whole: appending never reallocates.
        debug_assert!(self.buf.len() <= self.buf.capacity());
        Ok(())
    }

    pub fn push<M: WireMessage>(&mut self, msg: &M) -> Result<(), Full> {
        self.append(M::LEN, self.limit, |seq, out| encode_append(msg, seq, out))
    }

    pub fn push_report(&mut self, report: &SessionReport) -> Result<(), Full> {
        self.append(report.encoded_len(), self.limit, |seq, out| {
            report.encode_append(seq, out)
        })
    }

    /// Queues the last message of the session, using the reserved room.
    pub fn push_final(&mut self, msg: &SessionEndMsg) {
        let within = self.limit + MAX_MESSAGE_LEN;
        let appended = self.append(SessionEndMsg::LEN, within, |seq, out| {
            encode_append(msg, seq, out)
        });
        // The room past `limit` is kept for exactly this message.
        assert!(appended.is_ok() || self.sealed, "SessionEnd always fits");
        self.sealed = true;
    }

    /// Sequence number the next message will carry.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Over half its bound: the session's reader pauses (own back-pressure).
    pub fn over_half_full(&self) -> bool {
        self.buf.len() > self.limit / 2
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Hands the queued bytes to the writer: swaps with `spare`, which must
    /// be empty (the writer clears it after writing).
    pub fn swap_out(&mut self, spare: &mut Vec<u8>) {
        debug_assert!(spare.is_empty());
        std::mem::swap(&mut self.buf, spare);
        debug_assert!(self.buf.is_empty());
        self.first_queued_ns = 0;
        if self.buf.capacity() < self.limit + MAX_MESSAGE_LEN {
            // Only the first swap meets a spare made without capacity.
            self.buf.reserve_exact(self.limit + MAX_MESSAGE_LEN);
        }
    }

    pub fn capacity_bytes(&self) -> usize {
        self.limit + MAX_MESSAGE_LEN
    }
}
