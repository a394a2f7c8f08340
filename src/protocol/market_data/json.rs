//! The `json` rendering of every market-data message, for browsers and
//! people: one JSON object per binary message, field for field, with
//! nothing lost. Every 64-bit integer (sequences, prices, quantities,
//! timestamps, ids) is a decimal string, since a JavaScript number holds
//! integers exactly only up to 2^53; 32-bit values are plain numbers.
//! Names of sides, channels and states replace their codes. A book message
//! is one object however many levels it has (no parts in JSON).

use super::encode::{BufferTooSmall, HeartbeatInfo};
use super::json_out::JsonOut;
use crate::engine::Side;
use crate::market_data::{
    Bbo, BookUpdate, Channel, FeedMessage, ImageLevel, Snapshot, Stamp, SymbolState, Ticker,
};

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn stamp(out: &mut JsonOut<'_>, kind: &str, stamp: &Stamp) {
    out.open();
    out.name("type", kind);
    out.small("symbol", stamp.symbol);
    out.big("seq", stamp.seq);
    out.big("prev", stamp.prev);
    out.big("ts", stamp.ts_ns);
}

fn level(out: &mut JsonOut<'_>, side: Option<Side>, level: &ImageLevel) {
    out.open();
    if let Some(side) = side {
        out.name("side", side_name(side));
    }
    out.big("price", level.price);
    out.big("qty", level.qty);
    out.small("orders", level.order_count);
    out.close();
}

fn book(out: &mut JsonOut<'_>, update: &BookUpdate<'_>) {
    stamp(out, "book", &update.stamp);
    out.name("channel", update.channel.name());
    out.small("depth", u32::from(update.depth));
    out.small("checksum", update.checksum);
    out.open_array("changes");
    for change in update.changes {
        let l = ImageLevel {
            price: change.price,
            qty: change.qty,
            order_count: change.order_count,
        };
        level(out, Some(change.side), &l);
    }
    out.close_array();
    out.close();
}

fn bbo_side(out: &mut JsonOut<'_>, key: &str, price: i64, qty: u64, orders: u32) {
    if qty == 0 {
        out.null(key);
        return;
    }
    out.key(key);
    level(
        out,
        None,
        &ImageLevel {
            price,
            qty,
            order_count: orders,
        },
    );
}

fn bbo(out: &mut JsonOut<'_>, s: &Stamp, bbo: &Bbo, snapshot: bool) {
    stamp(out, "bbo", s);
    if snapshot {
        out.bool("snapshot", true);
    }
    bbo_side(out, "bid", bbo.bid_price, bbo.bid_qty, bbo.bid_orders);
    bbo_side(out, "ask", bbo.ask_price, bbo.ask_qty, bbo.ask_orders);
    out.close();
}

fn price_or_null(out: &mut JsonOut<'_>, key: &str, value: Option<i64>) {
    match value {
        Some(v) => out.big(key, v),
        None => out.null(key),
    }
}

fn ticker(out: &mut JsonOut<'_>, s: &Stamp, t: &Ticker, snapshot: bool) {
    stamp(out, "ticker", s);
    if snapshot {
        out.bool("snapshot", true);
    }
    let traded = t.trade_count > 0;
    out.big("trade_count", t.trade_count);
    for (key, value) in [
        ("open", t.open),
        ("high", t.high),
        ("low", t.low),
        ("last", t.last),
    ] {
        price_or_null(out, key, traded.then_some(value));
    }
    out.big("last_qty", t.last_qty);
    out.big("volume", t.volume);
    out.big("notional", t.notional);
    price_or_null(out, "vwap", t.vwap());
    out.close();
}

fn status(out: &mut JsonOut<'_>, s: &Stamp, status: &str, event: Option<&str>) {
    stamp(out, "status", s);
    match event {
        Some(event) => {
            out.name("status", status);
            out.name("event", event);
        }
        None => {
            out.bool("snapshot", true);
            out.name("status", status);
            out.null("event");
        }
    }
    out.close();
}

/// One feed message as JSON.
pub fn render_feed_message(
    message: &FeedMessage<'_>,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut out = JsonOut::new(buf);
    match message {
        FeedMessage::Book(update) => book(&mut out, update),
        FeedMessage::Trade(t) => {
            stamp(&mut out, "trade", &t.stamp);
            out.big("trade_id", t.trade_id);
            out.big("price", t.price);
            out.big("qty", t.qty);
            out.name("aggressor", side_name(t.aggressor_side));
            out.close();
        }
        FeedMessage::Bbo(u) => bbo(&mut out, &u.stamp, &u.bbo, false),
        FeedMessage::Ticker(u) => ticker(&mut out, &u.stamp, &u.ticker, false),
        FeedMessage::Status(u) => status(&mut out, &u.stamp, u.status.name(), Some(u.event.name())),
    }
    out.finish()
}

fn levels<'a>(out: &mut JsonOut<'_>, key: &str, levels: impl Iterator<Item = &'a ImageLevel>) {
    out.open_array(key);
    for l in levels {
        level(out, None, l);
    }
    out.close_array();
}

pub fn render_snapshot(s: &Snapshot<'_>, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let mut out = JsonOut::new(buf);
    out.open();
    out.name("type", "snapshot");
    out.small("symbol", s.symbol);
    out.big("seq", s.seq);
    out.big("epoch", s.epoch.0);
    out.big("ts", s.ts_ns);
    out.name("channel", s.channel.name());
    out.small("depth", u32::from(s.depth));
    out.small("checksum", s.checksum);
    out.name("status", s.status.name());
    levels(&mut out, "bids", s.bids.iter());
    levels(&mut out, "asks", s.asks.iter());
    out.close();
    out.finish()
}

/// The current value of a non-book channel (see
/// [`encode_current`](super::encode::encode_current)); `Ok(0)` for channels without one.
pub fn render_current(
    state: &SymbolState,
    channel: Channel,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let s = Stamp {
        symbol: state.symbol,
        seq: state.seq,
        prev: 0,
        ts_ns: state.ts_ns,
    };
    let mut out = JsonOut::new(buf);
    match channel {
        Channel::Bbo => bbo(&mut out, &s, &state.bbo, true),
        Channel::Ticker => ticker(&mut out, &s, &state.ticker, true),
        Channel::Status => status(&mut out, &s, state.status.name(), None),
        Channel::Trades | Channel::Book | Channel::BookConflated => return Ok(0),
    }
    out.finish()
}

pub fn render_heartbeat(
    state: &SymbolState,
    info: &HeartbeatInfo,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut out = JsonOut::new(buf);
    out.open();
    out.name("type", "heartbeat");
    out.small("symbol", state.symbol);
    out.big("seq", state.seq);
    out.big("epoch", state.epoch.0);
    out.big("ts", info.send_ts_ns);
    out.name("channel", info.channel.name());
    out.small("depth", u32::from(info.depth));
    out.big("stream_last", info.stream_last);
    out.name("status", state.status.name());
    out.close();
    out.finish()
}
