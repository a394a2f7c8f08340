//! A session's bounded send buffer. Messages are encoded straight into it
//! with the session's next sequence number; the writer task swaps it for an
//! empty buffer of the same capacity and writes it out, so the steady state
//! allocates nothing. The bound is `send_buffer_bytes`; room for one final
//! `SessionEnd` is reserved beyond it.
//!
//! Bulk cancels are the one burst a reading client cannot keep up with: a
//! MassCancel, cancel-on-disconnect, kill switch or end of day makes one
//! `OrderCanceled` per order of the account in one engine command, so in
//! one turn of the shard, in every session of the account, with no write
//! in between. Their reports do not count against the bound; they have
//! one of their own, `bulk_limit`: one report per order the account may
//! have open (`bulk_cancel_bytes`). What does not fit the buffer waits
//! behind it in `spill`, in order, and everything queued after waits
//! there too. Spilled messages get their sequence number only when they
//! move into the buffer (at each hand-over to the writer). The spill
//! grows (allocates) only in a burst larger than the buffer and keeps its
//! capacity for the next one; the bound on it is the account's config.

use crate::engine::CancelReason;
use crate::protocol::{
    encode_append, msg_type, OrderCanceledMsg, SessionEndMsg, SessionReport, WireMessage,
    MAX_MESSAGE_LEN,
};
use zerocopy::FromBytes;

/// Where the header's `seq` is (docs/PROTOCOL.md section 2).
const SEQ_OFFSET: usize = 4;

pub struct Outbox {
    buf: Vec<u8>,
    limit: usize,
    /// Messages queued behind a full `buf`, encoded with `seq` 0; those
    /// before `spill_at` have moved into `buf` already.
    spill: Vec<u8>,
    spill_at: usize,
    /// Bytes of bulk-cancel reports in `buf` and in the spill (past
    /// `spill_at`): they count against `bulk_limit`, the rest against
    /// `limit`.
    buf_bulk: usize,
    spill_bulk: usize,
    bulk_limit: usize,
    next_seq: u32,
    /// Set once the final SessionEnd is queued: nothing follows it.
    sealed: bool,
    /// Latency capture: stamp the first message queued into an empty
    /// buffer (the `report_out` stage runs from it to the hand-over).
    stamping: bool,
    /// When the oldest message still queued was queued (telemetry::clock);
    /// 0: empty, or not stamping.
    first_queued_ns: u64,
    /// Times the client was seen taking bytes (wrapping): each hand-over
    /// to the writer after the first (the writer takes the next only once
    /// the client took the last), and each part of a long write the
    /// socket took ([`Outbox::note_taken`]).
    taken: u32,
}

/// The buffer would pass its bound: the client is not reading.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// The bulk-cancel allowance of a session whose account may have
/// `max_open_orders` open in each of `symbols` symbols, plus
/// `over_limit` more that rested before a restart lowered the limit: one
/// `OrderCanceled` each (at most 1 GiB).
pub fn bulk_cancel_bytes(max_open_orders: u32, symbols: usize, over_limit: u64) -> usize {
    let orders = u64::from(max_open_orders)
        .saturating_mul(symbols as u64)
        .saturating_add(over_limit);
    let bytes = orders.saturating_mul(OrderCanceledMsg::LEN as u64);
    let capped = bytes.min(1 << 30) as usize;
    debug_assert!(capped <= 1 << 30);
    capped
}

/// Whether an encoded message is a bulk cancel's report.
fn is_bulk_cancel(message: &[u8]) -> bool {
    debug_assert!(message.len() >= SEQ_OFFSET + 4, "a whole message");
    if message[2] != msg_type::ORDER_CANCELED {
        return false;
    }
    OrderCanceledMsg::ref_from_prefix(message).is_ok_and(|(m, _)| is_bulk_reason(m.reason))
}

fn is_bulk_reason(reason: u8) -> bool {
    debug_assert!(
        CancelReason::from_u8(reason).is_some(),
        "an engine's reason"
    );
    matches!(
        CancelReason::from_u8(reason),
        Some(
            CancelReason::MassCancel
                | CancelReason::KillSwitch
                | CancelReason::Disconnect
                | CancelReason::Expired
        )
    )
}

impl Outbox {
    /// `limit`: `send_buffer_bytes`; `bulk_limit`: the bulk-cancel
    /// allowance ([`bulk_cancel_bytes`]; 0: none, bulk reports count
    /// against `limit`).
    pub fn new(limit: usize, bulk_limit: usize, stamping: bool) -> Outbox {
        // Config validation: send_buffer_bytes >= 4096, room for any message.
        assert!(
            limit >= MAX_MESSAGE_LEN,
            "an outbox holds at least one message"
        );
        Outbox {
            buf: Vec::with_capacity(limit + MAX_MESSAGE_LEN),
            limit,
            spill: Vec::new(),
            spill_at: 0,
            buf_bulk: 0,
            spill_bulk: 0,
            bulk_limit,
            next_seq: 1,
            sealed: false,
            stamping,
            first_queued_ns: 0,
            taken: 0,
        }
    }

    /// When the oldest queued message was queued (0: not stamped).
    pub fn first_queued_ns(&self) -> u64 {
        self.first_queued_ns
    }

    fn spilled(&self) -> usize {
        debug_assert!(self.spill_at <= self.spill.len());
        self.spill.len() - self.spill_at
    }

    /// Queued bytes that count against `limit`.
    fn ordinary_bytes(&self) -> usize {
        debug_assert!(self.buf_bulk <= self.buf.len() && self.spill_bulk <= self.spilled());
        self.buf.len() - self.buf_bulk + self.spilled() - self.spill_bulk
    }

    /// Appends one message of `len` bytes if its class has room; `write`
    /// appends exactly those bytes (`encode_append`: copied once, no zero
    /// fill first) given the sequence number it carries.
    fn append(
        &mut self,
        len: usize,
        bulk: bool,
        write: impl FnOnce(u32, &mut Vec<u8>) -> usize,
    ) -> Result<(), Full> {
        if self.sealed {
            return Ok(()); // after SessionEnd nothing more is sent
        }
        let bulk = bulk && self.bulk_limit > 0;
        let room = if bulk {
            self.buf_bulk + self.spill_bulk + len <= self.bulk_limit
        } else {
            self.ordinary_bytes() + len <= self.limit
        };
        if !room {
            return Err(Full);
        }
        if self.spilled() == 0 && self.buf.len() + len <= self.limit {
            self.append_to_buf(len, write);
            if bulk {
                self.buf_bulk += len;
            }
        } else {
            // Behind a full buffer: numbered when it moves in.
            let start = self.spill.len();
            let written = write(0, &mut self.spill);
            assert_eq!(written, len, "the length that was checked");
            debug_assert_eq!(self.spill.len(), start + len);
            if bulk {
                self.spill_bulk += len;
            }
        }
        Ok(())
    }

    fn append_to_buf(&mut self, len: usize, write: impl FnOnce(u32, &mut Vec<u8>) -> usize) {
        let start = self.buf.len();
        assert!(
            start + len <= self.capacity_bytes(),
            "never past the reserved capacity"
        );
        if start == 0 && self.stamping {
            self.first_queued_ns = crate::telemetry::clock::mono_ns();
        }
        let written = write(self.next_seq, &mut self.buf);
        assert_eq!(written, len, "the length that was checked");
        debug_assert_eq!(self.buf.len(), start + len);
        self.next_seq = self.next_seq.wrapping_add(1);
        // The buffer was reserved whole: appending never reallocates.
        debug_assert!(self.buf.len() <= self.buf.capacity());
    }

    pub fn push<M: WireMessage>(&mut self, msg: &M) -> Result<(), Full> {
        self.append(M::LEN, false, |seq, out| encode_append(msg, seq, out))
    }

    pub fn push_report(&mut self, report: &SessionReport) -> Result<(), Full> {
        let bulk = matches!(report, SessionReport::Canceled(m) if is_bulk_reason(m.reason));
        self.append(report.encoded_len(), bulk, |seq, out| {
            report.encode_append(seq, out)
        })
    }

    /// Queues the last message of the session, after everything queued
    /// (the client has the linger to take it all, PROTOCOL 5.3); with
    /// nothing spilled it takes the room reserved past `limit`.
    pub fn push_final(&mut self, msg: &SessionEndMsg) {
        if self.sealed {
            return;
        }
        if self.spilled() == 0 {
            // The room past `limit` is kept for exactly this message.
            self.append_to_buf(SessionEndMsg::LEN, |seq, out| encode_append(msg, seq, out));
        } else {
            encode_append(msg, 0, &mut self.spill);
        }
        self.sealed = true;
        debug_assert!(self.buf.len() <= self.capacity_bytes());
    }

    /// Times the client was seen taking bytes (wrapping): a change means
    /// it reads, however slowly.
    pub fn taken(&self) -> u32 {
        self.taken
    }

    /// The socket took part of a write that waits on the client (a slow
    /// reader of a long burst takes one hand-over in many seconds).
    pub fn note_taken(&mut self) {
        self.taken = self.taken.wrapping_add(1);
    }

    /// Sequence number the next message moved into the buffer will carry.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Over half its bound, or anything spilled: the session's reader
    /// pauses (own back-pressure).
    pub fn over_half_full(&self) -> bool {
        self.buf.len() > self.limit / 2 || self.spilled() > 0
    }

    pub fn is_empty(&self) -> bool {
        // Every hand-over refills the buffer from the spill.
        debug_assert!(!self.buf.is_empty() || self.spilled() == 0);
        self.buf.is_empty()
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Hands the queued bytes to the writer: swaps with `spare`, which must
    /// be empty (the writer clears it after writing), then moves what the
    /// spill holds into the emptied buffer.
    pub fn swap_out(&mut self, spare: &mut Vec<u8>) {
        debug_assert!(spare.is_empty());
        std::mem::swap(&mut self.buf, spare);
        debug_assert!(self.buf.is_empty());
        self.taken = self.taken.wrapping_add(1);
        self.buf_bulk = 0;
        self.first_queued_ns = 0;
        if self.buf.capacity() < self.limit + MAX_MESSAGE_LEN {
            // Only the first swap meets a spare made without capacity.
            self.buf.reserve_exact(self.limit + MAX_MESSAGE_LEN);
        }
        self.refill();
    }

    /// Moves whole spilled messages into the buffer, up to `limit` (the
    /// final SessionEnd may take the reserved room), numbering each.
    fn refill(&mut self) {
        // Taken out while its bytes are copied (no allocation: an empty
        // Vec takes its place).
        let spill = std::mem::take(&mut self.spill);
        while self.spill_at < spill.len() {
            let at = self.spill_at;
            let len = usize::from(u16::from_le_bytes([spill[at], spill[at + 1]]));
            assert!((8..=MAX_MESSAGE_LEN).contains(&len), "a spilled message");
            let message = &spill[at..at + len];
            let last = at + len == spill.len();
            let fits = self.buf.len() + len <= self.limit
                || (last && self.sealed && self.buf.len() + len <= self.capacity_bytes());
            if !fits {
                break;
            }
            self.append_to_buf(len, |seq, out| {
                let start = out.len();
                out.extend_from_slice(message);
                out[start + SEQ_OFFSET..start + SEQ_OFFSET + 4].copy_from_slice(&seq.to_le_bytes());
                len
            });
            if self.bulk_limit > 0 && is_bulk_cancel(message) {
                self.buf_bulk += len;
                self.spill_bulk -= len;
            }
            self.spill_at += len;
        }
        self.spill = spill;
        if self.spilled() == 0 {
            debug_assert_eq!(self.spill_bulk, 0);
            self.spill.clear(); // keeps its capacity for the next burst
            self.spill_at = 0;
        }
    }

    pub fn capacity_bytes(&self) -> usize {
        self.limit + MAX_MESSAGE_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Event;
    use crate::protocol::{GatewayHeartbeatMsg, ReportNumber, SessionEndMsg, SessionEndReason};

    const LIMIT: usize = 4096;

    fn canceled(order_id: u64, reason: CancelReason) -> SessionReport {
        let event = Event::Canceled {
            account: 1,
            symbol: 1,
            order_id,
            client_order_id: order_id,
            canceled_qty: 1,
            reason,
        };
        SessionReport::from_event(&event, 0, ReportNumber::NONE).expect("a report")
    }

    /// Hands everything over; returns the messages' (seq, msg_type).
    fn drain(outbox: &mut Outbox) -> Vec<(u32, u8)> {
        let mut out = Vec::new();
        let mut spare = Vec::new();
        while !outbox.is_empty() {
            outbox.swap_out(&mut spare);
            assert!(spare.len() <= outbox.capacity_bytes());
            let mut at = 0;
            while at < spare.len() {
                let len = usize::from(u16::from_le_bytes([spare[at], spare[at + 1]]));
                let seq = u32::from_le_bytes(spare[at + 4..at + 8].try_into().unwrap());
                out.push((seq, spare[at + 2]));
                at += len;
            }
            spare.clear();
        }
        out
    }

    fn seqs_follow_on(messages: &[(u32, u8)]) {
        for (i, (seq, _)) in messages.iter().enumerate() {
            assert_eq!(*seq, i as u32 + 1, "seq without a gap");
        }
    }

    #[test]
    fn a_bulk_cancel_past_the_bound_waits_behind_it_and_keeps_its_order() {
        let bulk = bulk_cancel_bytes(400, 1, 0);
        let mut outbox = Outbox::new(LIMIT, bulk, false);
        for id in 0..300 {
            outbox
                .push_report(&canceled(id, CancelReason::MassCancel))
                .unwrap();
        }
        // An ordinary message queued after the burst comes after it.
        outbox.push(&GatewayHeartbeatMsg::new()).unwrap();
        assert!(outbox.over_half_full(), "the reader pauses meanwhile");
        let got = drain(&mut outbox);
        assert_eq!(got.len(), 301);
        seqs_follow_on(&got);
        assert!(got[..300].iter().all(|m| m.1 == msg_type::ORDER_CANCELED));
        assert_ne!(got[300].1, msg_type::ORDER_CANCELED);
        assert!(!outbox.over_half_full());
    }

    #[test]
    fn ordinary_messages_still_end_a_client_at_the_bound() {
        let mut outbox = Outbox::new(LIMIT, bulk_cancel_bytes(400, 1, 0), false);
        let fits = LIMIT / OrderCanceledMsg::LEN;
        for id in 0..fits as u64 {
            outbox
                .push_report(&canceled(id, CancelReason::Requested))
                .unwrap();
        }
        assert_eq!(
            outbox.push_report(&canceled(0, CancelReason::Requested)),
            Err(Full)
        );
        // Bulk reports have their own room, but what follows them is
        // ordinary and the ordinary bound is reached.
        outbox
            .push_report(&canceled(0, CancelReason::Disconnect))
            .unwrap();
        assert_eq!(outbox.push(&GatewayHeartbeatMsg::new()), Err(Full));
    }

    #[test]
    fn bulk_reports_past_their_allowance_are_refused() {
        let mut outbox = Outbox::new(LIMIT, bulk_cancel_bytes(100, 1, 0), false);
        for id in 0..100 {
            outbox
                .push_report(&canceled(id, CancelReason::KillSwitch))
                .unwrap();
        }
        assert_eq!(
            outbox.push_report(&canceled(100, CancelReason::KillSwitch)),
            Err(Full)
        );
        // Without an allowance they are ordinary.
        let mut plain = Outbox::new(LIMIT, 0, false);
        let fits = LIMIT / OrderCanceledMsg::LEN;
        for id in 0..fits as u64 {
            plain
                .push_report(&canceled(id, CancelReason::Expired))
                .unwrap();
        }
        assert_eq!(
            plain.push_report(&canceled(0, CancelReason::Expired)),
            Err(Full)
        );
    }

    #[test]
    fn a_slow_consumers_end_comes_after_everything_queued_too() {
        // PROTOCOL 5.3: a session ended gets the grace to take what is
        // queued, SessionEnd last; the spill used to be dropped here.
        let mut outbox = Outbox::new(LIMIT, bulk_cancel_bytes(400, 1, 0), false);
        for id in 0..300 {
            outbox
                .push_report(&canceled(id, CancelReason::Disconnect))
                .unwrap();
        }
        outbox.push_final(&SessionEndMsg::new(SessionEndReason::SlowConsumer, 2));
        assert!(outbox.is_sealed());
        let got = drain(&mut outbox);
        assert_eq!(got.len(), 301);
        seqs_follow_on(&got);
        assert_eq!(got.last().unwrap().1, msg_type::SESSION_END);
    }

    #[test]
    fn any_other_end_comes_after_everything_queued() {
        let mut outbox = Outbox::new(LIMIT, bulk_cancel_bytes(400, 1, 0), false);
        for id in 0..300 {
            outbox
                .push_report(&canceled(id, CancelReason::MassCancel))
                .unwrap();
        }
        outbox.push_final(&SessionEndMsg::new(SessionEndReason::Logout, 2));
        outbox.push(&GatewayHeartbeatMsg::new()).unwrap(); // ignored: sealed
        let got = drain(&mut outbox);
        assert_eq!(got.len(), 301);
        seqs_follow_on(&got);
        assert_eq!(got.last().unwrap().1, msg_type::SESSION_END);
    }

    #[test]
    fn the_allowance_is_one_cancel_per_order_the_account_may_have_open() {
        assert_eq!(
            bulk_cancel_bytes(10_000, 3, 0),
            30_000 * OrderCanceledMsg::LEN
        );
        assert_eq!(bulk_cancel_bytes(0, 3, 0), 0);
        assert_eq!(bulk_cancel_bytes(u32::MAX, usize::MAX, 0), 1 << 30);
        // Orders left open beyond a lowered limit count on top.
        assert_eq!(bulk_cancel_bytes(10, 2, 280), 300 * OrderCanceledMsg::LEN);
        assert_eq!(bulk_cancel_bytes(u32::MAX, 2, u64::MAX), 1 << 30);
    }
}
