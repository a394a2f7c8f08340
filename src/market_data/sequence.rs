//! The per-symbol feed sequence: one 64-bit counter per symbol, shared by
//! every public event of that symbol (book level changes, trades, status),
//! so that a client can merge the channels of a symbol into one total
//! order, as ITCH's per-stock message stream allows. Every message derived
//! from an event carries that event's number; a message of a stream also
//! carries `prev`, the number of the stream's previous message, so that a
//! client who takes only some channels still sees every gap.
//!
//! The counter never wraps: at a billion events a second a `u64` lasts 584
//! years, so reaching the end is a broken invariant, not an input.

/// The last sequence number given to an event of one symbol (0: none yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SymbolSeq {
    last: u64,
}

impl SymbolSeq {
    /// A counter that continues after `last` (as replay rebuilds it).
    pub fn after(last: u64) -> SymbolSeq {
        SymbolSeq { last }
    }

    /// Numbers the next event: the previous number plus one.
    #[inline]
    pub fn advance(&mut self) -> u64 {
        self.last = self
            .last
            .checked_add(1)
            .expect("a u64 feed sequence does not run out");
        self.last
    }

    #[inline]
    pub fn last(&self) -> u64 {
        self.last
    }
}

/// The `prev` chain of one stream (one channel at one depth of one symbol):
/// the sequence number of the stream's last message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSeq {
    last: u64,
}

impl StreamSeq {
    /// Records that the stream sends a message at `seq`; returns its `prev`.
    #[inline]
    pub fn send(&mut self, seq: u64) -> u64 {
        debug_assert!(seq > self.last, "stream sequence must rise");
        core::mem::replace(&mut self.last, seq)
    }

    #[inline]
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_one_and_rise_by_one() {
        let mut seq = SymbolSeq::default();
        assert_eq!(seq.last(), 0);
        assert_eq!((seq.advance(), seq.advance()), (1, 2));
        assert_eq!(SymbolSeq::after(41).advance(), 42);
    }

    #[test]
    fn a_stream_chains_its_previous_number() {
        let mut stream = StreamSeq::default();
        assert_eq!(stream.send(3), 0);
        assert_eq!(stream.send(7), 3);
        assert_eq!(stream.last(), 7);
    }
}
