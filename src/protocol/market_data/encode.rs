//! Feed messages, snapshots, current values and heartbeats into their
//! binary form, written into a caller-provided buffer (nothing allocates).
//! A book message with more than [`MAX_ENTRIES_PER_MESSAGE`] entries is
//! written as consecutive parts, each a whole message, all but the last
//! flagged [`flags::CONTINUED`]; the whole is meant to travel in one
//! WebSocket message (or back to back on a TCP stream).

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::IntoBytes;

use super::messages::*;
use crate::engine::Side;
use crate::market_data::{
    BookUpdate, Channel, FeedMessage, ImageLevel, LevelChange, Snapshot, Stamp, StatusUpdate,
    SymbolState, TickerUpdate, TradePrint, TradingStatus,
};

/// The buffer given was shorter than the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    pub needed: usize,
}

fn header(msg_type: u8, len: usize, flags: u8, symbol: u32, entries: usize, seq: u64) -> MdHeader {
    debug_assert!(entries <= MAX_ENTRIES_PER_MESSAGE);
    MdHeader {
        length: U32::new(len as u32),
        msg_type,
        version: MD_VERSION,
        flags,
        _reserved: 0,
        symbol: U32::new(symbol),
        entry_count: U16::new(entries as u16),
        _reserved2: [0; 2],
        seq: U64::new(seq),
    }
}

/// Bytes of a book message (all its parts) with `entries` level entries.
pub fn book_message_len<M: MdMessage>(entries: usize) -> usize {
    let parts = entries.div_ceil(MAX_ENTRIES_PER_MESSAGE).max(1);
    parts * M::LEN + entries * LEVEL_ENTRY_LEN
}

fn entry(side: Side, level: &ImageLevel) -> LevelEntry {
    LevelEntry {
        price: I64::new(level.price),
        qty: U64::new(level.qty),
        order_count: U32::new(level.order_count),
        side: side as u8,
        _reserved: [0; 3],
    }
}

fn change_entry(change: &LevelChange) -> LevelEntry {
    let level = ImageLevel {
        price: change.price,
        qty: change.qty,
        order_count: change.order_count,
    };
    entry(change.side, &level)
}

fn fixed<M: MdMessage>(msg: &M, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let dst = out
        .get_mut(..M::LEN)
        .ok_or(BufferTooSmall { needed: M::LEN })?;
    dst.copy_from_slice(msg.as_bytes());
    Ok(M::LEN)
}

/// Writes `blocks(part, entries_in_part)` then the part's entries, for every
/// part of a group of `count` entries.
fn parts<M: MdMessage>(
    count: usize,
    entry_at: impl Fn(usize) -> LevelEntry,
    block: impl Fn(u8, usize, usize) -> M,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let needed = book_message_len::<M>(count);
    if out.len() < needed {
        return Err(BufferTooSmall { needed });
    }
    let mut at = 0;
    let mut first = 0;
    loop {
        let n = (count - first).min(MAX_ENTRIES_PER_MESSAGE);
        let last = first + n == count;
        let flags = if last { 0 } else { flags::CONTINUED };
        at += fixed(&block(flags, first, n), &mut out[at..])?;
        for i in first..first + n {
            out[at..at + LEVEL_ENTRY_LEN].copy_from_slice(entry_at(i).as_bytes());
            at += LEVEL_ENTRY_LEN;
        }
        first += n;
        if last {
            debug_assert_eq!(at, needed);
            return Ok(at);
        }
    }
}

pub fn encode_book_update(
    update: &BookUpdate<'_>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let s = update.stamp;
    let block = |flags, _first, n| BookUpdateMsg {
        header: header(
            md_type::BOOK_UPDATE,
            BookUpdateMsg::LEN + n * LEVEL_ENTRY_LEN,
            flags,
            s.symbol,
            n,
            s.seq,
        ),
        prev: U64::new(s.prev),
        ts_ns: U64::new(s.ts_ns),
        checksum: U32::new(update.checksum),
        channel: update.channel as u8,
        _reserved: 0,
        depth: U16::new(update.depth),
    };
    parts(
        update.changes.len(),
        |i| change_entry(&update.changes[i]),
        block,
        out,
    )
}

pub fn encode_snapshot(snapshot: &Snapshot<'_>, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let bids = snapshot.bids.len();
    let count = bids + snapshot.asks.len();
    let entry_at = |i: usize| match i.checked_sub(bids) {
        None => entry(Side::Buy, snapshot.bids.get(i).expect("bid index")),
        Some(j) => entry(Side::Sell, snapshot.asks.get(j).expect("ask index")),
    };
    let block = |flags, first: usize, n: usize| {
        let bid_count = bids.saturating_sub(first).min(n);
        BookSnapshotMsg {
            header: header(
                md_type::BOOK_SNAPSHOT,
                BookSnapshotMsg::LEN + n * LEVEL_ENTRY_LEN,
                flags,
                snapshot.symbol,
                n,
                snapshot.seq,
            ),
            epoch: U64::new(snapshot.epoch.0),
            ts_ns: U64::new(snapshot.ts_ns),
            checksum: U32::new(snapshot.checksum),
            channel: snapshot.channel as u8,
            status: snapshot.status as u8,
            depth: U16::new(snapshot.depth),
            bid_count: U32::new(bid_count as u32),
            ask_count: U32::new((n - bid_count) as u32),
        }
    };
    parts(count, entry_at, block, out)
}

fn fixed_header<M: MdMessage>(stamp: &Stamp, flags: u8) -> MdHeader {
    header(M::MSG_TYPE, M::LEN, flags, stamp.symbol, 0, stamp.seq)
}

fn trade_msg(t: &TradePrint) -> TradeMsg {
    TradeMsg {
        header: fixed_header::<TradeMsg>(&t.stamp, 0),
        prev: U64::new(t.stamp.prev),
        ts_ns: U64::new(t.stamp.ts_ns),
        trade_id: U64::new(t.trade_id),
        price: I64::new(t.price),
        qty: U64::new(t.qty),
        aggressor_side: t.aggressor_side as u8,
        _reserved: [0; 7],
    }
}

fn bbo_msg(stamp: &Stamp, flags: u8, bbo: &crate::market_data::Bbo) -> BboMsg {
    BboMsg {
        header: fixed_header::<BboMsg>(stamp, flags),
        prev: U64::new(stamp.prev),
        ts_ns: U64::new(stamp.ts_ns),
        bid_price: I64::new(bbo.bid_price),
        bid_qty: U64::new(bbo.bid_qty),
        ask_price: I64::new(bbo.ask_price),
        ask_qty: U64::new(bbo.ask_qty),
        bid_orders: U32::new(bbo.bid_orders),
        ask_orders: U32::new(bbo.ask_orders),
    }
}

fn ticker_msg(update: &TickerUpdate, flags: u8) -> TickerMsg {
    let (t, stamp) = (&update.ticker, &update.stamp);
    TickerMsg {
        header: fixed_header::<TickerMsg>(stamp, flags),
        prev: U64::new(stamp.prev),
        ts_ns: U64::new(stamp.ts_ns),
        trade_count: U64::new(t.trade_count),
        open: I64::new(t.open),
        high: I64::new(t.high),
        low: I64::new(t.low),
        last: I64::new(t.last),
        last_qty: U64::new(t.last_qty),
        volume: U64::new(t.volume),
        notional_lo: U64::new(t.notional as u64),
        notional_hi: I64::new((t.notional >> 64) as i64),
        vwap: I64::new(t.vwap().unwrap_or(0)),
    }
}

/// `event` 0: no event, the current status (a subscription's first message).
fn status_msg(stamp: &Stamp, status: TradingStatus, event: u8, flags: u8) -> StatusMsg {
    StatusMsg {
        header: fixed_header::<StatusMsg>(stamp, flags),
        prev: U64::new(stamp.prev),
        ts_ns: U64::new(stamp.ts_ns),
        status: status as u8,
        event,
        _reserved: [0; 6],
    }
}

/// One feed message in binary.
pub fn encode_feed_message(
    message: &FeedMessage<'_>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    match message {
        FeedMessage::Book(update) => encode_book_update(update, out),
        FeedMessage::Trade(trade) => fixed(&trade_msg(trade), out),
        FeedMessage::Bbo(update) => fixed(&bbo_msg(&update.stamp, 0, &update.bbo), out),
        FeedMessage::Ticker(update) => fixed(&ticker_msg(update, 0), out),
        FeedMessage::Status(StatusUpdate {
            stamp,
            status,
            event,
        }) => fixed(&status_msg(stamp, *status, *event as u8, 0), out),
    }
}

/// The current value of a non-book `channel` that a new subscriber is sent
/// (flag [`flags::SNAPSHOT`], `prev` 0, `seq` the symbol's sequence).
/// Returns `Ok(0)` for channels that have none (`trades`) or take a book
/// snapshot instead.
pub fn encode_current(
    state: &SymbolState,
    channel: Channel,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let stamp = Stamp {
        symbol: state.symbol,
        seq: state.seq,
        prev: 0,
        ts_ns: state.ts_ns,
    };
    match channel {
        Channel::Bbo => fixed(&bbo_msg(&stamp, flags::SNAPSHOT, &state.bbo), out),
        Channel::Ticker => {
            let update = TickerUpdate {
                stamp,
                ticker: state.ticker,
            };
            fixed(&ticker_msg(&update, flags::SNAPSHOT), out)
        }
        Channel::Status => fixed(&status_msg(&stamp, state.status, 0, flags::SNAPSHOT), out),
        Channel::Trades | Channel::Book | Channel::BookConflated => Ok(0),
    }
}

/// What a heartbeat reports about one subscribed stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatInfo {
    pub channel: Channel,
    pub depth: u16,
    /// [`Feed::stream_last`](crate::market_data::Feed::stream_last).
    pub stream_last: u64,
    pub send_ts_ns: u64,
}

pub fn encode_heartbeat(
    state: &SymbolState,
    info: &HeartbeatInfo,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let msg = HeartbeatMsg {
        header: header(
            md_type::HEARTBEAT,
            HeartbeatMsg::LEN,
            0,
            state.symbol,
            0,
            state.seq,
        ),
        epoch: U64::new(state.epoch.0),
        send_ts_ns: U64::new(info.send_ts_ns),
        stream_last: U64::new(info.stream_last),
        channel: info.channel as u8,
        status: state.status as u8,
        depth: U16::new(info.depth),
        _reserved: [0; 4],
    };
    fixed(&msg, out)
}
