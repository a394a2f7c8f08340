//! The JSON answers to control messages: one `subscribed` or `unsubscribed`
//! per (symbol, channel), or an `error` (per request, or per symbol for
//! `unknown_symbol`), each echoing the request's `req_id` (a number: it is
//! at most 2^53 - 1, so JavaScript reads it exactly).

use super::control::{ControlError, ErrorCode, SymbolRef};
use super::encode::BufferTooSmall;
use super::json_out::JsonOut;
use crate::market_data::{Channel, FeedEpoch};

/// A short human explanation of each code (the `message` field).
pub fn error_message(code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        BadJson => "not a JSON object",
        TooLarge => "control message over 4096 bytes",
        UnknownField => "a field this version does not define",
        DuplicateField => "a field given twice",
        MissingField => "a required field is missing",
        BadField => "a field has the wrong type or is out of range",
        UnknownOp => "op is not subscribe or unsubscribe",
        UnknownChannel => "a channel this version does not offer",
        BadDepth => "depth is not 10, 25, 100 or 0",
        TooManySymbols => "more than 32 symbols in one request",
        UnknownSymbol => "no such symbol",
        TooManySubscriptions => "the connection's subscription limit is reached",
        NotSubscribed => "not subscribed to that channel of that symbol",
        NotText => "control messages are JSON text",
    }
}

fn req_id(out: &mut JsonOut<'_>, req_id: Option<u64>) {
    match req_id {
        Some(id) => out.exact("req_id", id),
        None => out.null("req_id"),
    }
}

/// `{"type":"subscribed",...}`: the stream starts after `seq` (the
/// snapshot, for the book channels, is the book at `seq`). The symbol's
/// `name` comes last, so a client that subscribed by name learns its id.
pub fn render_subscribed(
    id: Option<u64>,
    (symbol, name): (u32, Option<&str>),
    channel: Channel,
    depth: u16,
    seq: u64,
    epoch: FeedEpoch,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut out = JsonOut::new(buf);
    out.open();
    out.name("type", "subscribed");
    req_id(&mut out, id);
    out.small("symbol", symbol);
    out.name("channel", channel.name());
    if channel.is_book() {
        out.small("depth", u32::from(depth));
    }
    out.big("seq", seq);
    out.big("epoch", epoch.0);
    if let Some(name) = name {
        out.name("name", name);
    }
    out.close();
    out.finish()
}

pub fn render_unsubscribed(
    id: Option<u64>,
    symbol: u32,
    channel: Channel,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut out = JsonOut::new(buf);
    out.open();
    out.name("type", "unsubscribed");
    req_id(&mut out, id);
    out.small("symbol", symbol);
    out.name("channel", channel.name());
    out.close();
    out.finish()
}

/// `{"type":"error",...}`; `symbol` for the per-symbol codes, and
/// `channel` too for the per-stream ones (`too_many_subscriptions`,
/// `not_subscribed`).
pub fn render_error(
    error: &ControlError<'_>,
    symbol: Option<SymbolRef<'_>>,
    channel: Option<Channel>,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut out = JsonOut::new(buf);
    out.open();
    out.name("type", "error");
    req_id(&mut out, error.req_id);
    out.name("code", error.code.name());
    match (error.field, error.unknown_field) {
        (Some(field), _) => out.name("field", field),
        // Checked by the scanner: valid JSON string contents.
        (None, Some(given)) => out.scanned_string("field", given),
        (None, None) => out.null("field"),
    }
    match symbol {
        Some(SymbolRef::Id(id)) => out.small("symbol", id),
        Some(SymbolRef::Name(name)) => out.scanned_string("symbol", name),
        None => {}
    }
    if let Some(channel) = channel {
        out.name("channel", channel.name());
    }
    out.name("message", error_message(error.code));
    out.close();
    out.finish()
}
