//! The channels a client subscribes to, and the depths the book channels
//! offer. One (channel, depth) of one symbol is a *stream*: its messages are
//! encoded once per shard and shared by every subscriber, and each carries
//! `prev`, the sequence of the stream's previous message.

use crate::engine::wire_enum::wire_enum;

wire_enum! {
    /// A channel of a symbol. The numbers travel on the wire
    /// (`docs/MARKET_DATA.md`, "Channel"); the names in JSON.
    pub enum Channel: u8 (from_u8) {
        /// Every level change, at a depth from [`BOOK_DEPTHS`].
        Book = 1,
        /// The book conflated at [`CONFLATION_INTERVAL_NS`]: per level the
        /// latest value of the interval.
        BookConflated = 2,
        /// Best bid and offer, on every change.
        Bbo = 3,
        Trades = 4,
        /// Session open/high/low/last, volume, VWAP: after every trade and at
        /// end of day.
        Ticker = 5,
        /// Halts, resumes, end of day.
        Status = 6,
    }
}

impl Channel {
    /// The name clients use in `subscribe` and see in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Book => "book",
            Channel::BookConflated => "book@100ms",
            Channel::Bbo => "bbo",
            Channel::Trades => "trades",
            Channel::Ticker => "ticker",
            Channel::Status => "status",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.name().as_bytes() == name)
    }

    /// Whether the channel carries book levels (and so takes a depth).
    pub fn is_book(self) -> bool {
        matches!(self, Channel::Book | Channel::BookConflated)
    }
}

/// Depth 0 means the whole book.
pub const FULL_DEPTH: u16 = 0;

/// The depths a book channel offers, in the order streams are numbered.
/// Every limited depth is at least [`CHECKSUM_LEVELS`](super::CHECKSUM_LEVELS),
/// so the checksum never covers a level the client was not sent.
pub const BOOK_DEPTHS: [u16; 4] = [10, 25, 100, FULL_DEPTH];

/// The depth of a subscription that names none.
pub const DEFAULT_DEPTH: u16 = 10;

/// Cadence of [`Channel::BookConflated`].
pub const CONFLATION_INTERVAL_NS: u64 = 100_000_000;

/// Index of `depth` in [`BOOK_DEPTHS`].
pub fn depth_index(depth: u16) -> Option<usize> {
    BOOK_DEPTHS.iter().position(|d| *d == depth)
}

const _: () = {
    let mut i = 0;
    while i < BOOK_DEPTHS.len() {
        let d = BOOK_DEPTHS[i];
        assert!(d == FULL_DEPTH || d as usize >= super::checksum::CHECKSUM_LEVELS);
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::from_u8(channel as u8), Some(channel));
            assert_eq!(Channel::from_name(channel.name().as_bytes()), Some(channel));
        }
        assert_eq!(Channel::from_u8(0), None);
        assert_eq!(Channel::from_name(b"Book"), None);
        assert_eq!(depth_index(DEFAULT_DEPTH), Some(0));
        assert_eq!(depth_index(7), None);
    }
}
