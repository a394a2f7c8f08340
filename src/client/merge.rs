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
