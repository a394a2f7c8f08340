//! Merging replayed and live reports (docs/PROTOCOL.md 5.9) into one
//! sequence per stream with no gap and no duplicate: a report numbered one
//! above the last delivered is delivered, one at or below it is a
//! duplicate and dropped, one further above is held until the gap is
//! filled. The client keeps a merge across reconnects: its cursors are
//! what it asks to replay after.

use std::collections::BTreeMap;

use super::Received;
use crate::protocol::ReportNumber;

/// One stream: the last number delivered, and reports held above a gap.
#[derive(Debug, Default)]
struct Stream {
    last: u64,
    held: BTreeMap<u64, Received>,
}

/// Per-stream cursors and the reports held above a gap.
#[derive(Debug, Default)]
pub struct ReportMerge {
    streams: BTreeMap<u32, Stream>,
}

impl ReportMerge {
    pub fn new() -> ReportMerge {
        ReportMerge::default()
    }

    /// Starts (or moves) `stream` at `last`: the number of the last report
    /// the client has. Held reports at or below it are dropped, and those
    /// it makes contiguous go to `deliver`.
    pub fn resume(&mut self, stream: u32, last: u64, deliver: impl FnMut(Received)) {
        let state = self.streams.entry(stream).or_default();
        state.last = last;
        state.held.retain(|&seq, _| seq > last);
        Self::release(state, deliver);
        debug_assert!(state.held.keys().all(|&seq| seq > state.last + 1));
    }

    /// Forgets a stream (its replay was refused as unknown).
    pub fn forget(&mut self, stream: u32) {
        self.streams.remove(&stream);
    }

    /// Takes one received message: a report of a known stream is delivered
    /// in order (or held, or dropped as a duplicate); the first report of
    /// a stream the merge does not know starts it; anything else (answers,
    /// unnumbered refusals) is delivered at once.
    pub fn offer(&mut self, received: Received, mut deliver: impl FnMut(Received)) {
        let Some(number) = received.report_number().filter(|n| n.report_seq > 0) else {
            return deliver(received);
        };
        let ReportNumber { stream, report_seq } = number;
        let state = self.streams.entry(stream).or_insert_with(|| Stream {
            last: report_seq - 1,
            held: BTreeMap::new(),
        });
        if report_seq <= state.last {
            return; // a duplicate: delivered before
        }
        state.held.insert(report_seq, received);
        Self::release(state, deliver);
    }

    fn release(state: &mut Stream, mut deliver: impl FnMut(Received)) {
        while let Some(entry) = state.held.first_entry() {
            if *entry.key() != state.last + 1 {
                break;
            }
            state.last += 1;
            deliver(entry.remove());
        }
        debug_assert!(state.held.keys().all(|&seq| seq > state.last + 1));
    }

    /// The last number delivered of `stream`.
    pub fn last(&self, stream: u32) -> Option<u64> {
        self.streams.get(&stream).map(|s| s.last)
    }

    /// `(stream, last delivered)` of every stream, streams ascending: what
    /// a client saves and asks to replay after when it reconnects.
    pub fn cursors(&self) -> Vec<(u32, u64)> {
        self.streams
            .iter()
            .map(|(&s, state)| (s, state.last))
            .collect()
    }

    /// Reports held above a gap (0 once every replay is done).
    pub fn held(&self) -> usize {
        self.streams.values().map(|s| s.held.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Event, OrderKind, Side, TimeInForce};
    use crate::protocol::SessionReport;
    use zerocopy::FromZeros;

    /// An OrderAccepted numbered `report_seq` in `stream`.
    fn report(stream: u32, report_seq: u64) -> Received {
        let event = Event::Accepted {
            order_id: report_seq,
            account: 1,
            symbol: 1,
            client_order_id: report_seq,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: 1,
            qty: 1,
        };
        let number = ReportNumber { stream, report_seq };
        match SessionReport::from_event(&event, 0, number).unwrap() {
            SessionReport::Accepted(m) => Received::OrderAccepted(m),
            _ => unreachable!(),
        }
    }

    fn numbers(delivered: &[Received]) -> Vec<(u32, u64)> {
        delivered
            .iter()
            .map(|r| {
                r.report_number()
                    .map_or((0, 0), |n| (n.stream, n.report_seq))
            })
            .collect()
    }

    #[test]
    fn replayed_and_live_reports_merge_in_order_without_gap_or_duplicate() {
        let mut merge = ReportMerge::new();
        let mut out = Vec::new();
        merge.resume(0, 3, |r| out.push(r));
        // Live 6 and 7 arrive before the replay (they were on their way),
        // then the replay's 4..=7, then live 8; stream 1 starts live at 10.
        for (stream, seq) in [
            (0, 6),
            (0, 7),
            (1, 10),
            (0, 4),
            (0, 5),
            (0, 6),
            (0, 7),
            (0, 8),
        ] {
            merge.offer(report(stream, seq), |r| out.push(r));
        }
        assert_eq!(
            numbers(&out),
            vec![(1, 10), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8)]
        );
        assert_eq!(merge.held(), 0);
        assert_eq!(merge.cursors(), vec![(0, 8), (1, 10)]);
        // A refusal (number 0) passes at once, whatever is held.
        merge.offer(report(0, 10), |r| out.push(r));
        assert_eq!(merge.held(), 1);
        let refusal = Received::OrderRejected(crate::protocol::OrderRejectedMsg::new_zeroed());
        merge.offer(refusal, |r| out.push(r));
        assert_eq!(numbers(&out[6..]), vec![(0, 0)]);
        // Moving the cursor past a gap releases what it makes contiguous.
        merge.resume(0, 9, |r| out.push(r));
        assert_eq!(numbers(&out[7..]), vec![(0, 10)]);
        assert_eq!(merge.held(), 0);
    }
}
