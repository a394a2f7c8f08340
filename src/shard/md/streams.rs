//! Who on this shard subscribes to each stream: per (symbol, channel) the
//! set of client slots whose subscriptions name it, so the fan-out visits
//! only those clients instead of asking every client's subscription list
//! about every message (with 1,000 clients on 4 symbols, a trade on one
//! of them used to cost 1,000 list scans whoever wanted it).
//!
//! The set is a bitmap over the shard's client slots, one per stream, all
//! in one array sized at start (symbols x channels x slots / 8 bytes: 768
//! bytes a symbol at the default 1,024 clients). Subscribing and
//! unsubscribing set and clear a bit: nothing is allocated after start,
//! whatever clients do. Walking a stream's subscribers costs one word per
//! 64 slots plus one step per subscriber, in slot order (the order the
//! fan-out used before).
//!
//! The book channels' depth is not in the key: a client subscribed to
//! `book` at depth 10 is in the `book` set and the fan-out still checks
//! its depth against the message's (`Subscriptions::wants`).

use crate::engine::SymbolId;
use crate::market_data::Channel;
use crate::protocol::market_data::Subscriptions;

/// Channel codes are 1..=CHANNELS (`market_data::Channel`).
const CHANNELS: usize = 6;

pub struct StreamSubscribers {
    /// The feed's symbols, sorted: a symbol's position is its row.
    symbols: Vec<SymbolId>,
    /// Words of one stream's bitmap.
    words: usize,
    /// `[symbol row][channel - 1][word]`.
    bits: Vec<u64>,
    /// `[symbol row][channel - 1]`: how many bits of that stream's bitmap
    /// are set, so "does anyone here want it" is one load, not a walk of
    /// every word: the order path asks it for every message of every
    /// event, and usually the answer is no.
    counts: Vec<u32>,
}

impl StreamSubscribers {
    pub fn new(symbols: &[SymbolId], slots: usize) -> StreamSubscribers {
        assert!(slots > 0, "client slots");
        let mut sorted = symbols.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let words = slots.div_ceil(64);
        StreamSubscribers {
            bits: vec![0; sorted.len() * CHANNELS * words],
            counts: vec![0; sorted.len() * CHANNELS],
            symbols: sorted,
            words,
        }
    }

    /// The index of (symbol, channel) among the streams, if the feed has
    /// the symbol: its bitmap starts at `index * words`.
    fn index(&self, symbol: SymbolId, channel: Channel) -> Option<usize> {
        let row = self.symbols.binary_search(&symbol).ok()?;
        let column = channel as usize - 1;
        debug_assert!(column < CHANNELS, "a channel code is 1..=6");
        Some(row * CHANNELS + column)
    }

    /// Where the bitmap of (symbol, channel) starts, if the feed has the
    /// symbol.
    fn stream(&self, symbol: SymbolId, channel: Channel) -> Option<usize> {
        let at = self.index(symbol, channel)? * self.words;
        debug_assert!(at + self.words <= self.bits.len(), "a bitmap of the array");
        Some(at)
    }

    /// Whether any slot subscribes to (symbol, channel).
    pub fn any(&self, symbol: SymbolId, channel: Channel) -> bool {
        let Some(index) = self.index(symbol, channel) else {
            return false; // not a feed symbol: nobody can subscribe to it
        };
        debug_assert!(
            self.counts[index] as usize <= self.words * 64,
            "at most one subscription per slot"
        );
        self.counts[index] > 0
    }

    fn set(&mut self, symbol: SymbolId, channel: Channel, slot: usize, on: bool) {
        assert!(slot < self.words * 64, "slot {slot} is a client slot");
        // Subscriptions hold only symbols the feed has (`resolve`).
        let Some(index) = self.index(symbol, channel) else {
            debug_assert!(false, "subscribed to symbol {symbol} the feed lacks");
            return;
        };
        let (word, bit) = (index * self.words + slot / 64, 1u64 << (slot % 64));
        let was = self.bits[word] & bit != 0;
        if on && !was {
            self.bits[word] |= bit;
            self.counts[index] += 1;
        } else if !on && was {
            self.bits[word] &= !bit;
            self.counts[index] -= 1;
        }
        debug_assert_eq!(
            self.counts[index] as usize,
            self.bits[index * self.words..(index + 1) * self.words]
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>(),
            "a stream's count is the number of its set bits"
        );
    }

    /// Adds `slot` to the set of every stream in `subs`.
    pub fn list(&mut self, slot: usize, subs: &Subscriptions) {
        debug_assert!(slot < self.words * 64, "slot {slot} is a client slot");
        for sub in subs.iter() {
            self.set(sub.symbol, sub.channel, slot, true);
        }
        debug_assert!(
            self.lists_exactly(slot, |symbol, channel| subs.get(symbol, channel).is_some()),
            "slot {slot} is in exactly the sets of its subscriptions"
        );
    }

    /// Takes `slot` out of the set of every stream in `subs`.
    pub fn unlist(&mut self, slot: usize, subs: &Subscriptions) {
        debug_assert!(slot < self.words * 64, "slot {slot} is a client slot");
        for sub in subs.iter() {
            self.set(sub.symbol, sub.channel, slot, false);
        }
        debug_assert!(
            self.lists_exactly(slot, |_, _| false),
            "slot {slot} was in the sets of its subscriptions only"
        );
    }

    /// Whether `slot` is in the set of exactly the streams `wanted` names:
    /// what debug builds check after [`list`](Self::list) and
    /// [`unlist`](Self::unlist), the only places the sets and the clients'
    /// subscriptions can part. (Checking every slot on every published
    /// message instead cost a debug shard two thirds of its time under
    /// order flow, with no market-data client at all.)
    pub fn lists_exactly(&self, slot: usize, wanted: impl Fn(SymbolId, Channel) -> bool) -> bool {
        assert!(slot < self.words * 64, "slot {slot} is a client slot");
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        self.symbols.iter().all(|&symbol| {
            (1..=CHANNELS as u8)
                .filter_map(Channel::from_u8)
                .all(|channel| {
                    let listed = self
                        .stream(symbol, channel)
                        .is_some_and(|at| self.bits[at + word] & bit != 0);
                    listed == wanted(symbol, channel)
                })
        })
    }

    /// The slots subscribed to (symbol, channel), in slot order.
    pub fn of(&self, symbol: SymbolId, channel: Channel) -> Slots<'_> {
        let words = match self.stream(symbol, channel) {
            Some(at) => &self.bits[at..at + self.words],
            None => &[],
        };
        debug_assert!(words.is_empty() || words.len() == self.words);
        Slots {
            words,
            next_base: 0,
            base: 0,
            current: 0,
        }
    }
}

/// The set bits of one stream's bitmap, lowest first.
pub struct Slots<'a> {
    /// Words not yet read.
    words: &'a [u64],
    /// Slot of bit 0 of the next word to read.
    next_base: usize,
    /// Slot of bit 0 of `current`.
    base: usize,
    /// The bits of the word being walked that are still to come.
    current: u64,
}

impl Iterator for Slots<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.current == 0 {
            let (&word, rest) = self.words.split_first()?;
            self.current = word;
            self.base = self.next_base;
            self.next_base += 64;
            self.words = rest;
        }
        let bit = self.current.trailing_zeros() as usize;
        debug_assert!(bit < 64 && self.base.is_multiple_of(64));
        self.current &= self.current - 1;
        Some(self.base + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_lists_exactly_its_subscribers_in_slot_order() {
        let mut s = StreamSubscribers::new(&[7, 3, 9], 130);
        for slot in [129, 0, 64, 63, 5] {
            s.set(3, Channel::Trades, slot, true);
        }
        s.set(9, Channel::Book, 5, true);
        s.set(9, Channel::Book, 5, true); // listed twice, counted once
        assert!(s.any(3, Channel::Trades) && s.any(9, Channel::Book));
        assert!(!s.any(7, Channel::Trades) && !s.any(8, Channel::Trades));
        let trades: Vec<usize> = s.of(3, Channel::Trades).collect();
        assert_eq!(trades, vec![0, 5, 63, 64, 129]);
        assert_eq!(s.of(9, Channel::Book).collect::<Vec<_>>(), vec![5]);
        assert_eq!(s.of(7, Channel::Trades).count(), 0);
        assert_eq!(s.of(8, Channel::Trades).count(), 0, "not a feed symbol");
        s.set(3, Channel::Trades, 64, false);
        let trades: Vec<usize> = s.of(3, Channel::Trades).collect();
        assert_eq!(trades, vec![0, 5, 63, 129]);
        s.set(9, Channel::Book, 5, false);
        s.set(9, Channel::Book, 5, false); // unlisted twice, counted once
        assert!(!s.any(9, Channel::Book), "its only subscriber left");
        assert!(s.any(3, Channel::Trades));
    }

    #[test]
    fn a_slot_is_checked_against_exactly_the_streams_it_wants() {
        let mut s = StreamSubscribers::new(&[3, 9], 130);
        s.set(3, Channel::Trades, 70, true);
        s.set(9, Channel::Book, 70, true);
        s.set(9, Channel::Book, 71, true);
        let wanted = |symbol, channel| {
            (symbol, channel) == (3, Channel::Trades) || (symbol, channel) == (9, Channel::Book)
        };
        assert!(s.lists_exactly(70, wanted));
        assert!(
            !s.lists_exactly(70, |symbol, _| symbol == 3),
            "listed beyond"
        );
        assert!(!s.lists_exactly(71, wanted), "missing from a wanted stream");
        s.set(9, Channel::Book, 71, false);
        assert!(s.lists_exactly(71, |_, _| false));
    }
}
