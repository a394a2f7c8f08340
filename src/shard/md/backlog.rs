//! The fan-out's backlog: every stream message the shard's clients want,
//! framed once, waiting for the pump (`fanout.rs`) to copy it into their
//! queues. The order path only appends here (one copy per message, however
//! many subscribers), and the pump runs a bounded amount per loop turn, so
//! matching and acknowledgements never wait for a thousand clients' copies
//! (issue 13).
//!
//! A ring of bytes allocated once: positions are `u64` byte offsets that
//! only grow (a record's position names it for good), the physical offset
//! is the position modulo the capacity. A record never wraps: one that
//! does not fit before the end is put at the start, the end filled by a
//! pad record (or, if not even a header fits there, skipped by writer and
//! reader alike). Three positions: `tail` (oldest record kept), `pumped`
//! (next record to fan out) and `head` (where the next record goes);
//! `tail <= pumped <= head` and `head - tail <= capacity`.

use crate::engine::SymbolId;
use crate::market_data::Channel;

/// Bytes of a record's header.
const HEADER: usize = 24;

/// Records start at multiples of this.
const ALIGN: usize = 8;

/// What a record says about its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub symbol: SymbolId,
    pub channel: Channel,
    pub depth: u16,
}

/// One record, borrowed from the ring.
pub struct Record<'a> {
    /// Its position (where it starts).
    pub pos: u64,
    /// The position of the record after it.
    pub next: u64,
    pub meta: Meta,
    /// The binary frame (empty if no client wanted binary).
    pub binary: &'a [u8],
    /// Bytes of `binary`'s WebSocket header (raw TCP sends the rest).
    pub binary_header: usize,
    /// The JSON text frame (empty if no client wanted JSON).
    pub json: &'a [u8],
}

pub struct Backlog {
    buf: Vec<u8>,
    tail: u64,
    pumped: u64,
    head: u64,
}

impl Record<'_> {
    /// A pad (the end of the ring skipped), not a message.
    pub fn is_pad(&self) -> bool {
        debug_assert!(self.next > self.pos, "a record has bytes");
        self.binary.is_empty() && self.json.is_empty()
    }
}

/// The bytes a record of these frames takes, header and padding included.
pub fn record_len(binary: usize, json: usize) -> usize {
    debug_assert!(binary + json > 0, "a record carries a frame");
    (HEADER + binary + json).next_multiple_of(ALIGN)
}

impl Backlog {
    /// A backlog of at least `capacity` bytes that holds at least two of the
    /// largest records (frames of `largest_frame` bytes in both formats).
    pub fn new(capacity: usize, largest_frame: usize) -> Backlog {
        let floor = 2 * record_len(largest_frame, largest_frame);
        let capacity = capacity.max(floor).next_multiple_of(ALIGN);
        assert!(capacity >= HEADER * 2, "a backlog holds records");
        Backlog {
            buf: vec![0; capacity],
            tail: 0,
            pumped: 0,
            head: 0,
        }
    }

    pub fn head(&self) -> u64 {
        debug_assert!(self.head - self.tail <= self.capacity());
        self.head
    }

    pub fn pumped(&self) -> u64 {
        debug_assert!(self.tail <= self.pumped && self.pumped <= self.head);
        self.pumped
    }

    /// Records the pump has not fanned out yet.
    pub fn has_unpumped(&self) -> bool {
        debug_assert!(self.pumped <= self.head);
        self.pumped < self.head
    }

    fn capacity(&self) -> u64 {
        debug_assert!(
            self.buf.len().is_multiple_of(ALIGN),
            "records tile the ring"
        );
        self.buf.len() as u64
    }

    /// `pos`, or the next wrap if not even a header fits before the end.
    fn skip_gap(&self, pos: u64) -> u64 {
        let room = self.capacity() - pos % self.capacity();
        debug_assert!(pos.is_multiple_of(ALIGN as u64), "records are aligned");
        if room < HEADER as u64 {
            pos + room
        } else {
            pos
        }
    }

    /// Where a record of `len` bytes would start if appended now, and the
    /// head after it.
    fn placement(&self, len: usize) -> (u64, u64) {
        debug_assert!(
            len.is_multiple_of(ALIGN) && len >= HEADER,
            "a record's length"
        );
        let at = self.skip_gap(self.head);
        let room = self.capacity() - at % self.capacity();
        let at = if room < len as u64 { at + room } else { at };
        (at, at + len as u64)
    }

    /// The oldest record that must go for a record of `len` bytes to fit,
    /// if one must; `None` once it fits.
    pub fn oldest_in_the_way(&self, len: usize) -> Option<Record<'_>> {
        assert!(
            len as u64 <= self.capacity() / 2,
            "a record fits the backlog twice"
        );
        let (_, end) = self.placement(len);
        (end - self.tail > self.capacity()).then(|| self.record_at(self.tail))
    }

    /// Drops the oldest record (after [`oldest_in_the_way`](Self::oldest_in_the_way));
    /// if the pump had not reached it, it moves past it.
    pub fn drop_oldest(&mut self) {
        assert!(self.tail < self.head, "a record to drop");
        let next = self.record_at(self.tail).next;
        self.tail = next;
        self.pumped = self.pumped.max(next);
        debug_assert!(self.tail <= self.pumped && self.pumped <= self.head);
    }

    /// Appends a record (room was made: `oldest_in_the_way` said `None`).
    pub fn append(&mut self, meta: Meta, binary: &[u8], binary_header: usize, json: &[u8]) {
        let len = record_len(binary.len(), json.len());
        let (at, end) = self.placement(len);
        assert!(end - self.tail <= self.capacity(), "room was made");
        let gap = self.skip_gap(self.head);
        if gap != at {
            // A pad record from the gap to the end of the ring.
            let p = (gap % self.capacity()) as usize;
            self.write_header(p, (at - gap) as u32, 0, None, 0, 0, 0);
        }
        let p = (at % self.capacity()) as usize;
        self.write_header(
            p,
            len as u32,
            1,
            Some(meta),
            binary.len() as u32,
            json.len() as u32,
            binary_header as u8,
        );
        let body = p + HEADER;
        self.buf[body..body + binary.len()].copy_from_slice(binary);
        let json_at = body + binary.len();
        self.buf[json_at..json_at + json.len()].copy_from_slice(json);
        self.head = end;
        debug_assert_eq!(self.record_at(at).next, end);
    }

    #[allow(clippy::too_many_arguments)]
    fn write_header(
        &mut self,
        p: usize,
        len: u32,
        kind: u8,
        meta: Option<Meta>,
        binary: u32,
        json: u32,
        binary_header: u8,
    ) {
        debug_assert!(p + HEADER <= self.buf.len(), "a header fits where it goes");
        let h = &mut self.buf[p..p + HEADER];
        h[0..4].copy_from_slice(&len.to_le_bytes());
        h[4] = kind;
        let (channel, depth, symbol) =
            meta.map_or((0, 0, 0), |m| (m.channel as u8, m.depth, m.symbol));
        h[5] = channel;
        h[6..8].copy_from_slice(&depth.to_le_bytes());
        h[8..12].copy_from_slice(&symbol.to_le_bytes());
        h[12..16].copy_from_slice(&binary.to_le_bytes());
        h[16..20].copy_from_slice(&json.to_le_bytes());
        h[20] = binary_header;
    }

    /// The message record at or after `pos` (pads skipped), if one is
    /// before the head.
    pub fn record_from(&self, mut pos: u64) -> Option<Record<'_>> {
        assert!(pos >= self.tail, "record {pos} was dropped");
        loop {
            pos = self.skip_gap(pos);
            if pos >= self.head {
                return None;
            }
            let record = self.record_at(pos);
            if record.is_pad() {
                pos = record.next;
                continue;
            }
            return Some(record);
        }
    }

    /// The record the pump fans out next.
    pub fn next_unpumped(&self) -> Option<Record<'_>> {
        debug_assert!(self.pumped >= self.tail, "the pump never trails the tail");
        self.record_from(self.pumped)
    }

    /// The pump is done with everything before `next`.
    pub fn pumped_to(&mut self, next: u64) {
        assert!(next > self.pumped && next <= self.head, "the pump moves on");
        self.pumped = next;
    }

    fn record_at(&self, pos: u64) -> Record<'_> {
        let pos = self.skip_gap(pos);
        let p = (pos % self.capacity()) as usize;
        let h = &self.buf[p..p + HEADER];
        let word = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
        let len = word(0) as usize;
        assert!(len >= ALIGN && p + len <= self.buf.len(), "a sane record");
        let channel = Channel::ALL.into_iter().find(|c| *c as u8 == h[5]);
        let (binary, json) = (word(12) as usize, word(16) as usize);
        let body = p + HEADER;
        Record {
            pos,
            next: pos + len as u64,
            meta: Meta {
                symbol: word(8),
                channel: channel.unwrap_or(Channel::Book),
                depth: u16::from_le_bytes([h[6], h[7]]),
            },
            binary: &self.buf[body..body + binary],
            binary_header: h[20] as usize,
            json: &self.buf[body + binary..body + binary + json],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(symbol: u32) -> Meta {
        Meta {
            symbol,
            channel: Channel::Trades,
            depth: 0,
        }
    }

    /// Appends, dropping what is in the way; the positions dropped unpumped.
    fn push(b: &mut Backlog, symbol: u32, bytes: usize) -> Vec<u64> {
        let frame = vec![symbol as u8; bytes];
        let mut lapped = Vec::new();
        while let Some(old) = b.oldest_in_the_way(record_len(bytes, 0)) {
            if old.pos >= b.pumped() && !old.is_pad() {
                lapped.push(old.pos);
            }
            b.drop_oldest();
        }
        b.append(meta(symbol), &frame, 2, &[]);
        lapped
    }

    #[test]
    fn records_come_back_in_order_across_the_wrap() {
        let mut b = Backlog::new(256, 40);
        let mut expected = Vec::new();
        for symbol in 1..=40u32 {
            let lapped = push(&mut b, symbol, 10 + symbol as usize % 30);
            assert!(lapped.is_empty(), "the pump kept up");
            // The pump keeps up: everything is fanned out at once.
            while let Some(r) = b.next_unpumped() {
                assert_eq!(r.binary.len(), 10 + r.meta.symbol as usize % 30);
                assert!(r.binary.iter().all(|&x| x == r.meta.symbol as u8));
                expected.push(r.meta.symbol);
                let next = r.next;
                b.pumped_to(next);
            }
        }
        assert_eq!(expected, (1..=40).collect::<Vec<_>>());
        assert!(b.head() > 256, "the ring wrapped");
    }

    #[test]
    fn a_record_dropped_before_the_pump_reached_it_is_reported() {
        let mut b = Backlog::new(256, 40);
        let mut lapped = Vec::new();
        for symbol in 1..=20u32 {
            lapped.extend(push(&mut b, symbol, 40));
        }
        assert!(
            !lapped.is_empty(),
            "the pump never ran: records were lapped"
        );
        let first = b.next_unpumped().expect("the newest are kept");
        assert!(first.pos > *lapped.last().unwrap());
        assert!(b.head() - first.pos <= 256);
    }
}
