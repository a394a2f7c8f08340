//! Reading binary market-data messages: what a client does (and what the
//! tests, the fuzz target and the doc checks do). A framing check plus a
//! pointer cast, as for order entry; the checks and their order are those of
//! `docs/MARKET_DATA.md`, "Framing".

use zerocopy::FromBytes;

use super::messages::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdDecodeError {
    /// Not an error: `needed` bytes are required to go on.
    Incomplete {
        needed: usize,
    },
    /// `length` below the header or above the largest message.
    BadLength,
    WrongVersion,
    UnknownType,
    /// `length` or `entry_count` disagrees with the type's layout.
    LengthMismatch,
    /// A flag bit the type does not use.
    BadFlags,
}

/// Largest message: a book snapshot part with the most entries.
pub const MAX_MD_MESSAGE_LEN: usize =
    core::mem::size_of::<BookSnapshotMsg>() + MAX_ENTRIES_PER_MESSAGE * LEVEL_ENTRY_LEN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdView<'a> {
    BookUpdate(&'a BookUpdateMsg, &'a [LevelEntry]),
    BookSnapshot(&'a BookSnapshotMsg, &'a [LevelEntry]),
    Trade(&'a TradeMsg),
    Bbo(&'a BboMsg),
    Ticker(&'a TickerMsg),
    Status(&'a StatusMsg),
    Heartbeat(&'a HeartbeatMsg),
}

impl MdView<'_> {
    pub fn header(&self) -> &MdHeader {
        match self {
            MdView::BookUpdate(m, _) => &m.header,
            MdView::BookSnapshot(m, _) => &m.header,
            MdView::Trade(m) => &m.header,
            MdView::Bbo(m) => &m.header,
            MdView::Ticker(m) => &m.header,
            MdView::Status(m) => &m.header,
            MdView::Heartbeat(m) => &m.header,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdDecoded<'a> {
    pub message: MdView<'a>,
    /// Bytes the message took.
    pub len: usize,
}

/// `(fixed length, takes entries, allowed flags)` of a message type.
fn layout(msg_type: u8) -> Option<(usize, bool, u8)> {
    Some(match msg_type {
        md_type::BOOK_UPDATE => (BookUpdateMsg::LEN, true, flags::CONTINUED),
        md_type::BOOK_SNAPSHOT => (BookSnapshotMsg::LEN, true, flags::CONTINUED),
        md_type::TRADE => (TradeMsg::LEN, false, 0),
        md_type::BBO => (BboMsg::LEN, false, flags::SNAPSHOT),
        md_type::TICKER => (TickerMsg::LEN, false, flags::SNAPSHOT),
        md_type::STATUS => (StatusMsg::LEN, false, flags::SNAPSHOT),
        md_type::HEARTBEAT => (HeartbeatMsg::LEN, false, 0),
        _ => return None,
    })
}

fn read<M: MdMessage>(bytes: &[u8]) -> &M {
    M::ref_from_prefix(bytes).expect("length checked").0
}

fn entries(bytes: &[u8]) -> &[LevelEntry] {
    <[LevelEntry]>::ref_from_bytes(bytes).expect("length is a multiple of the entry size")
}

/// Decodes the message at the start of `bytes`.
pub fn decode_md(bytes: &[u8]) -> Result<MdDecoded<'_>, MdDecodeError> {
    let Ok((header, _)) = MdHeader::ref_from_prefix(bytes) else {
        return Err(MdDecodeError::Incomplete {
            needed: MD_HEADER_LEN,
        });
    };
    let len = header.length.get() as usize;
    if !(MD_HEADER_LEN..=MAX_MD_MESSAGE_LEN).contains(&len) {
        return Err(MdDecodeError::BadLength);
    }
    if header.version != MD_VERSION {
        return Err(MdDecodeError::WrongVersion);
    }
    let (fixed, has_entries, allowed) =
        layout(header.msg_type).ok_or(MdDecodeError::UnknownType)?;
    let count = header.entry_count.get() as usize;
    let count_ok = if has_entries {
        count <= MAX_ENTRIES_PER_MESSAGE
    } else {
        count == 0
    };
    if !count_ok || len != fixed + count * LEVEL_ENTRY_LEN {
        return Err(MdDecodeError::LengthMismatch);
    }
    if header.flags & !allowed != 0 {
        return Err(MdDecodeError::BadFlags);
    }
    let bytes = bytes
        .get(..len)
        .ok_or(MdDecodeError::Incomplete { needed: len })?;
    let message = match header.msg_type {
        md_type::BOOK_UPDATE => MdView::BookUpdate(read(bytes), entries(&bytes[fixed..])),
        md_type::BOOK_SNAPSHOT => {
            let msg: &BookSnapshotMsg = read(bytes);
            if msg.bid_count.get() as usize + msg.ask_count.get() as usize != count {
                return Err(MdDecodeError::LengthMismatch);
            }
            MdView::BookSnapshot(msg, entries(&bytes[fixed..]))
        }
        md_type::TRADE => MdView::Trade(read(bytes)),
        md_type::BBO => MdView::Bbo(read(bytes)),
        md_type::TICKER => MdView::Ticker(read(bytes)),
        md_type::STATUS => MdView::Status(read(bytes)),
        _ => MdView::Heartbeat(read(bytes)),
    };
    Ok(MdDecoded { message, len })
}
