//! Writing messages into caller-provided buffers. Nothing here allocates:
//! a message is built on the stack (at most 88 bytes) and copied once into
//! the send buffer, header last so it is always the one the protocol needs.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::IntoBytes;

use super::gateway::*;
use super::header::WireMessage;
use super::HEADER_LEN;
use crate::engine::Event;

/// Writes `msg` with a fresh header (its type, length, `PROTOCOL_VERSION`
/// and `seq`; whatever header `msg` carried is ignored) to the start of
/// `out`. Returns the bytes written, or `None` if `out` is too short.
pub fn encode<M: WireMessage>(msg: &M, seq: u32, out: &mut [u8]) -> Option<usize> {
    let dst = out.get_mut(..M::LEN)?;
    dst.copy_from_slice(msg.as_bytes());
    dst[..HEADER_LEN].copy_from_slice(M::header_for(seq).as_bytes());
    Some(M::LEN)
}

/// Appends `msg` to `out` exactly as [`encode`] writes it (a fresh header
/// at `seq`), and returns the bytes appended. For a send buffer that grows
/// within its reserved capacity: the message is copied once into the spare
/// room, where `encode` would need the room zero-filled first.
#[inline]
pub fn encode_append<M: WireMessage>(msg: &M, seq: u32, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(msg.as_bytes());
    out[start..start + HEADER_LEN].copy_from_slice(M::header_for(seq).as_bytes());
    debug_assert_eq!(out.len(), start + M::LEN);
    M::LEN
}

/// An engine event in the form it is sent to the session that owns the
/// order (the event's `account`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionReport {
    Accepted(OrderAcceptedMsg),
    Rejected(OrderRejectedMsg),
    Fill(FillMsg),
    Canceled(OrderCanceledMsg),
    Replaced(OrderReplacedMsg),
    CancelRejected(CancelRejectedMsg),
}

impl SessionReport {
    /// The report for `event` with its place in the account's report
    /// streams (`ReportNumber::NONE` for a report no engine numbered), or
    /// `None` for events that are not about one account's order (book
    /// levels, trades, halts, kill switches, reference prices: those are
    /// public and go to market data, or are audit only) and for
    /// `MassCancelDone`, which the gateway aggregates itself. The number is
    /// written here, not patched in after, so that the order path builds
    /// each report once.
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    // Inlined where the order path encodes a report (the session table), so
    // that the report is built where the outbox copies it from, not built,
    // returned and copied again.
    #[inline]
    pub fn from_event(
        event: &Event,
        timestamp_ns: u64,
        number: ReportNumber,
    ) -> Option<SessionReport> {
        debug_assert!(
            number.report_seq > 0 || number.stream == 0,
            "0 is no stream"
        );
        let ts = U64::new(timestamp_ns);
        let (report_seq, stream) = (U64::new(number.report_seq), U32::new(number.stream));
        let report = match *event {
            Event::Accepted {
                order_id,
                account,
                symbol,
                client_order_id,
                side,
                kind,
                tif,
                price,
                qty,
            } => SessionReport::Accepted(OrderAcceptedMsg {
                header: OrderAcceptedMsg::header_for(0),
                order_id: U64::new(order_id),
                client_order_id: U64::new(client_order_id),
                symbol: U32::new(symbol),
                side: side as u8,
                order_kind: kind as u8,
                tif: tif as u8,
                _reserved: [0; 1],
                price: I64::new(price),
                qty: U64::new(qty),
                timestamp_ns: ts,
                report_seq,
                stream,
                account: U32::new(account),
            }),
            Event::Rejected {
                account,
                symbol,
                client_order_id,
                reason,
            } => SessionReport::Rejected(OrderRejectedMsg {
                header: OrderRejectedMsg::header_for(0),
                client_order_id: U64::new(client_order_id),
                symbol: U32::new(symbol),
                reason: U16::new(reason.code()),
                _reserved: [0; 2],
                timestamp_ns: ts,
                report_seq,
                stream,
                account: U32::new(account),
            }),
            Event::Fill {
                exec_id,
                order_id,
                account,
                symbol,
                client_order_id,
                side,
                price,
                qty,
                leaves_qty,
                liquidity,
            } => SessionReport::Fill(FillMsg {
                header: FillMsg::header_for(0),
                exec_id: U64::new(exec_id),
                order_id: U64::new(order_id),
                client_order_id: U64::new(client_order_id),
                symbol: U32::new(symbol),
                side: side as u8,
                liquidity: liquidity as u8,
                _reserved: [0; 2],
                price: I64::new(price),
                qty: U64::new(qty),
                leaves_qty: U64::new(leaves_qty),
                timestamp_ns: ts,
                report_seq,
                stream,
                account: U32::new(account),
            }),
            Event::Canceled {
                order_id,
                account,
                symbol,
                client_order_id,
                canceled_qty,
                reason,
            } => SessionReport::Canceled(OrderCanceledMsg {
                header: OrderCanceledMsg::header_for(0),
                order_id: U64::new(order_id),
                client_order_id: U64::new(client_order_id),
                symbol: U32::new(symbol),
                reason: reason as u8,
                _reserved: [0; 3],
                canceled_qty: U64::new(canceled_qty),
                timestamp_ns: ts,
                report_seq,
                stream,
                account: U32::new(account),
            }),
            Event::Replaced {
                order_id,
                account,
                symbol,
                client_order_id,
                price,
                qty,
                leaves_qty,
                kept_priority,
            } => SessionReport::Replaced(OrderReplacedMsg {
                header: OrderReplacedMsg::header_for(0),
                order_id: U64::new(order_id),
                client_order_id: U64::new(client_order_id),
                symbol: U32::new(symbol),
                kept_priority: u8::from(kept_priority),
                _reserved: [0; 3],
                price: I64::new(price),
                qty: U64::new(qty),
                leaves_qty: U64::new(leaves_qty),
                timestamp_ns: ts,
                report_seq,
                stream,
                account: U32::new(account),
            }),
            Event::CancelRejected {
                order_id,
                account,
                symbol,
                client_order_id,
                reason,
            } => SessionReport::CancelRejected(CancelRejectedMsg {
                header: CancelRejectedMsg::header_for(0),
                order_id: U64::new(order_id),
                client_order_id: U64::new(client_order_id),
                symbol: U32::new(symbol),
                reason: U16::new(reason.code()),
                _reserved: [0; 2],
                timestamp_ns: ts,
                report_seq,
                stream,
                account: U32::new(account),
            }),
            // The gateway answers a MassCancel itself (MassCancelDoneMsg):
            // it holds the request's client_order_id and, for "all
            // symbols", sums the counts of every shard it asked.
            Event::MassCancelDone { .. }
            | Event::BookLevel { .. }
            | Event::Trade { .. }
            | Event::KillSwitchSet { .. }
            | Event::HaltSet { .. }
            | Event::ReferencePriceSet { .. } => return None,
        };
        Some(report)
    }

    /// Size of the encoded report in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            SessionReport::Accepted(_) => OrderAcceptedMsg::LEN,
            SessionReport::Rejected(_) => OrderRejectedMsg::LEN,
            SessionReport::Fill(_) => FillMsg::LEN,
            SessionReport::Canceled(_) => OrderCanceledMsg::LEN,
            SessionReport::Replaced(_) => OrderReplacedMsg::LEN,
            SessionReport::CancelRejected(_) => CancelRejectedMsg::LEN,
        }
    }

    /// See [`encode_append`].
    #[inline]
    pub fn encode_append(&self, seq: u32, out: &mut Vec<u8>) -> usize {
        match self {
            SessionReport::Accepted(m) => encode_append(m, seq, out),
            SessionReport::Rejected(m) => encode_append(m, seq, out),
            SessionReport::Fill(m) => encode_append(m, seq, out),
            SessionReport::Canceled(m) => encode_append(m, seq, out),
            SessionReport::Replaced(m) => encode_append(m, seq, out),
            SessionReport::CancelRejected(m) => encode_append(m, seq, out),
        }
    }

    /// See [`encode`].
    pub fn encode(&self, seq: u32, out: &mut [u8]) -> Option<usize> {
        match self {
            SessionReport::Accepted(m) => encode(m, seq, out),
            SessionReport::Rejected(m) => encode(m, seq, out),
            SessionReport::Fill(m) => encode(m, seq, out),
            SessionReport::Canceled(m) => encode(m, seq, out),
            SessionReport::Replaced(m) => encode(m, seq, out),
            SessionReport::CancelRejected(m) => encode(m, seq, out),
        }
    }
}

/// Encodes an engine event for the session that owns the order. `None` if
/// the event is not a session report (see [`SessionReport::from_event`]) or
/// if `out` is too short; a buffer of `MAX_MESSAGE_LEN` bytes never is.
///
/// The gateway's own order-level refusals (rate limit, viewer, shard busy)
/// go through here too, as a `Rejected` or `CancelRejected` event it builds
/// itself, so they are encoded exactly like the engine's.
pub fn encode_event(event: &Event, seq: u32, timestamp_ns: u64, out: &mut [u8]) -> Option<usize> {
    SessionReport::from_event(event, timestamp_ns, ReportNumber::NONE)?.encode(seq, out)
}
