//! The binary market-data messages: a 24-byte header, a fixed block per
//! message type, and for the book messages a group of 24-byte level
//! entries (SBE's repeating group: `entry_count` in the header says how
//! many). Little-endian, naturally aligned, multiples of 8 bytes, no
//! implicit padding: the same rules as the order-entry messages, checked at
//! compile time by [`md_message!`], and `tests/market_data/protocol_doc.rs` holds
//! every table of `docs/MARKET_DATA.md` to these structs.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The version this build speaks.
pub const MD_VERSION: u8 = 1;

/// Size of the header that starts every market-data message.
pub const MD_HEADER_LEN: usize = 24;

/// Most level entries one message carries; a longer snapshot or conflated
/// update is sent in parts (flag [`flags::CONTINUED`] on all but the last).
pub const MAX_ENTRIES_PER_MESSAGE: usize = 1024;

/// Message type codes. `0xC1..=0xCF`: apart from the order-entry codes
/// (`0x01..=0x7F`, `0x81..=0x8C`), so a market-data message on an
/// order-entry stream (or the reverse) is an unknown type, not a misread.
pub mod md_type {
    pub const BOOK_UPDATE: u8 = 0xC1;
    pub const BOOK_SNAPSHOT: u8 = 0xC2;
    pub const TRADE: u8 = 0xC3;
    pub const BBO: u8 = 0xC4;
    pub const TICKER: u8 = 0xC5;
    pub const STATUS: u8 = 0xC6;
    pub const HEARTBEAT: u8 = 0xC7;
}

/// Header `flags` bits; the others are 0.
pub mod flags {
    /// More parts of this message follow (same type, symbol and seq);
    /// apply the changes only after the part without this bit.
    pub const CONTINUED: u8 = 0x01;
    /// The current value sent right after a subscription, not an increment:
    /// `prev` is 0 and `seq` is the symbol's sequence it is valid at.
    pub const SNAPSHOT: u8 = 0x02;
    pub const ALL: u8 = CONTINUED | SNAPSHOT;
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct MdHeader {
    /// Total bytes of the message: header, block and entries.
    pub length: U32,
    pub msg_type: u8,
    pub version: u8,
    pub flags: u8,
    pub _reserved: u8,
    pub symbol: U32,
    /// Level entries after the block (0 for messages without a group).
    pub entry_count: U16,
    pub _reserved2: [u8; 2],
    /// The symbol's sequence this message is valid at.
    pub seq: U64,
}

const _: () = assert!(core::mem::size_of::<MdHeader>() == MD_HEADER_LEN);

/// One price level in a book message.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct LevelEntry {
    pub price: I64,
    /// The level's total; 0 deletes it (never 0 in a snapshot).
    pub qty: U64,
    pub order_count: U32,
    /// `Side`: 1 buy (bid), 2 sell (ask).
    pub side: u8,
    pub _reserved: [u8; 3],
}

pub const LEVEL_ENTRY_LEN: usize = 24;
const _: () = assert!(core::mem::size_of::<LevelEntry>() == LEVEL_ENTRY_LEN);

/// A fixed-layout market-data message (the block the entries follow).
pub trait MdMessage: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned + Sized {
    const MSG_TYPE: u8;
    /// The name used in `docs/MARKET_DATA.md`.
    const NAME: &'static str;
    /// Header plus block: the length with no entries.
    const LEN: usize = core::mem::size_of::<Self>();
    /// Whether level entries may follow.
    const HAS_ENTRIES: bool;
    fn header(&self) -> &MdHeader;
}

/// Implements [`MdMessage`] and asserts the layout rules at compile time.
macro_rules! md_message {
    ($ty:ident, $code:expr, $name:literal, $entries:literal) => {
        const _: () = {
            let size = core::mem::size_of::<$ty>();
            assert!(core::mem::offset_of!($ty, header) == 0);
            assert!(size % 8 == 0);
            assert!(size > MD_HEADER_LEN);
        };
        impl MdMessage for $ty {
            const MSG_TYPE: u8 = $code;
            const NAME: &'static str = $name;
            const HAS_ENTRIES: bool = $entries;
            fn header(&self) -> &MdHeader {
                &self.header
            }
        }
    };
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct BookUpdateMsg {
    pub header: MdHeader,
    pub prev: U64,
    pub ts_ns: U64,
    pub checksum: U32,
    /// `Channel`: 1 book, 2 book@100ms.
    pub channel: u8,
    pub _reserved: u8,
    /// The stream's depth; 0 = whole book.
    pub depth: U16,
}
md_message!(BookUpdateMsg, md_type::BOOK_UPDATE, "BookUpdate", true);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct BookSnapshotMsg {
    pub header: MdHeader,
    pub epoch: U64,
    pub ts_ns: U64,
    pub checksum: U32,
    pub channel: u8,
    /// `TradingStatus`.
    pub status: u8,
    pub depth: U16,
    /// Entries of this part that are bids (they come first); the rest are asks.
    pub bid_count: U32,
    pub ask_count: U32,
}
md_message!(
    BookSnapshotMsg,
    md_type::BOOK_SNAPSHOT,
    "BookSnapshot",
    true
);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct TradeMsg {
    pub header: MdHeader,
    pub prev: U64,
    pub ts_ns: U64,
    pub trade_id: U64,
    pub price: I64,
    pub qty: U64,
    pub aggressor_side: u8,
    pub _reserved: [u8; 7],
}
md_message!(TradeMsg, md_type::TRADE, "Trade", false);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct BboMsg {
    pub header: MdHeader,
    pub prev: U64,
    pub ts_ns: U64,
    pub bid_price: I64,
    pub bid_qty: U64,
    pub ask_price: I64,
    pub ask_qty: U64,
    pub bid_orders: U32,
    pub ask_orders: U32,
}
md_message!(BboMsg, md_type::BBO, "Bbo", false);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct TickerMsg {
    pub header: MdHeader,
    pub prev: U64,
    pub ts_ns: U64,
    pub trade_count: U64,
    pub open: I64,
    pub high: I64,
    pub low: I64,
    pub last: I64,
    pub last_qty: U64,
    pub volume: U64,
    /// Low 64 bits of the signed 128-bit notional.
    pub notional_lo: U64,
    /// High 64 bits (two's complement) of the notional.
    pub notional_hi: I64,
    pub vwap: I64,
}
md_message!(TickerMsg, md_type::TICKER, "Ticker", false);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct StatusMsg {
    pub header: MdHeader,
    pub prev: U64,
    pub ts_ns: U64,
    /// `TradingStatus` after the event.
    pub status: u8,
    /// `StatusEvent`.
    pub event: u8,
    pub _reserved: [u8; 6],
}
md_message!(StatusMsg, md_type::STATUS, "Status", false);

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct HeartbeatMsg {
    pub header: MdHeader,
    pub epoch: U64,
    /// Gateway clock when the heartbeat was sent.
    pub send_ts_ns: U64,
    /// Sequence of the last message of the subscribed stream (0: none yet).
    pub stream_last: U64,
    pub channel: u8,
    pub status: u8,
    pub depth: U16,
    pub _reserved: [u8; 4],
}
md_message!(HeartbeatMsg, md_type::HEARTBEAT, "Heartbeat", false);
