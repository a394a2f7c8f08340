//! One connection's subscriptions and what a control request does to them:
//! the glue the shard calls when a market-data client's text message
//! arrives. It resolves symbols, applies `subscribe` / `unsubscribe` to the
//! connection's fixed-capacity set, and writes, in request order, each
//! (symbol, channel)'s answer and, after a `subscribed`, the stream's
//! snapshot or current value in the connection's format. Increments are
//! not its business (the shard's fan-out sends a stream's frames to the
//! connections whose set has it), and it allocates nothing.

use super::answers::{render_error, render_subscribed, render_unsubscribed};
use super::control::{
    ControlError, ControlRequest, ErrorCode, Op, SymbolRef, MAX_SYMBOLS_PER_REQUEST,
};
use super::encode::{encode_current, encode_snapshot, BufferTooSmall};
use super::json::{render_current, render_snapshot};
use crate::market_data::{Channel, Feed};

/// Most (symbol, channel) subscriptions of one connection.
pub const MAX_SUBSCRIPTIONS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub symbol: u32,
    pub channel: Channel,
    /// For the book channels; 0 (whole book) stands for "not applicable" too.
    pub depth: u16,
}

/// The data format a connection chose at its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    Binary,
    Json,
}

/// What goes to the client: JSON text, or binary data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

/// Names and ids of the symbols the gateway serves.
pub trait SymbolDirectory {
    /// The id of a configured symbol name.
    fn by_name(&self, name: &[u8]) -> Option<u32>;
    /// The configured name of a symbol id (printable ASCII, no `"` or `\`:
    /// the config validates it), for the `subscribed` answer.
    fn name_of(&self, id: u32) -> Option<&str>;
}

pub struct Subscriptions {
    items: Vec<Subscription>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            items: Vec::with_capacity(MAX_SUBSCRIPTIONS),
        }
    }
}

impl Subscriptions {
    pub fn get(&self, symbol: u32, channel: Channel) -> Option<&Subscription> {
        self.items
            .iter()
            .find(|s| s.symbol == symbol && s.channel == channel)
    }

    /// Whether a stream's messages go to this connection.
    pub fn wants(&self, symbol: u32, channel: Channel, depth: u16) -> bool {
        self.get(symbol, channel)
            .is_some_and(|s| !channel.is_book() || s.depth == depth)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The buffers and sinks one request is answered with.
pub struct Answer<'a, W: FnMut(Outgoing<'_>)> {
    pub format: DataFormat,
    /// Large enough for the biggest snapshot of the feed's symbols.
    pub scratch: &'a mut [u8],
    pub write: W,
}

impl<W: FnMut(Outgoing<'_>)> Answer<'_, W> {
    fn text(
        &mut self,
        render: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
    ) -> Result<(), BufferTooSmall> {
        let n = render(self.scratch)?;
        (self.write)(Outgoing::Text(&self.scratch[..n]));
        Ok(())
    }

    fn data(
        &mut self,
        binary: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
        json: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
    ) -> Result<(), BufferTooSmall> {
        let n = match self.format {
            DataFormat::Binary => binary(self.scratch)?,
            DataFormat::Json => json(self.scratch)?,
        };
        if n > 0 {
            let bytes = &self.scratch[..n];
            (self.write)(match self.format {
                DataFormat::Binary => Outgoing::Binary(bytes),
                DataFormat::Json => Outgoing::Text(bytes),
            });
        }
        Ok(())
    }

    /// Refuses a whole request (parse errors, `not_text`).
    pub fn refuse(&mut self, error: &ControlError<'_>) -> Result<(), BufferTooSmall> {
        self.text(|buf| render_error(error, None, None, buf))
    }
}

fn resolve(symbol: SymbolRef<'_>, directory: &impl SymbolDirectory, feed: &Feed) -> Option<u32> {
    let id = match symbol {
        SymbolRef::Id(id) => id,
        SymbolRef::Name(name) => directory.by_name(name)?,
    };
    feed.has_symbol(id).then_some(id)
}

impl Subscriptions {
    /// Applies `request`, answering each (symbol, channel) in order.
    pub fn apply<W: FnMut(Outgoing<'_>)>(
        &mut self,
        request: &ControlRequest<'_>,
        feed: &Feed,
        directory: &impl SymbolDirectory,
        answer: &mut Answer<'_, W>,
    ) -> Result<(), BufferTooSmall> {
        let error = |code| ControlError {
            code,
            field: Some("symbols"),
            unknown_field: None,
            req_id: request.req_id,
        };
        // A symbol named twice (by name, id or both) is answered once, as a
        // channel named twice is (the channels are a set).
        let mut answered = [0u32; MAX_SYMBOLS_PER_REQUEST];
        let mut answered_count = 0;
        for &symbol in request.symbols() {
            let Some(id) = resolve(symbol, directory, feed) else {
                answer.text(|buf| {
                    render_error(&error(ErrorCode::UnknownSymbol), Some(symbol), None, buf)
                })?;
                continue;
            };
            if answered[..answered_count].contains(&id) {
                continue;
            }
            debug_assert!(
                answered_count < MAX_SYMBOLS_PER_REQUEST,
                "one per symbol named"
            );
            answered[answered_count] = id;
            answered_count += 1;
            for channel in request.channels.iter() {
                let refused = match request.op {
                    Op::Subscribe => {
                        let name = directory.name_of(id);
                        self.subscribe(request, (id, name), channel, feed, answer)?
                    }
                    Op::Unsubscribe => self.unsubscribe(request, id, channel, answer)?,
                };
                if let Some(code) = refused {
                    let e = ControlError {
                        field: Some("channels"),
                        ..error(code)
                    };
                    answer.text(|buf| {
                        render_error(&e, Some(SymbolRef::Id(id)), Some(channel), buf)
                    })?;
                }
            }
        }
        Ok(())
    }

    fn subscribe<W: FnMut(Outgoing<'_>)>(
        &mut self,
        request: &ControlRequest<'_>,
        (symbol, name): (u32, Option<&str>),
        channel: Channel,
        feed: &Feed,
        answer: &mut Answer<'_, W>,
    ) -> Result<Option<ErrorCode>, BufferTooSmall> {
        let depth = if channel.is_book() { request.depth } else { 0 };
        let wanted = Subscription {
            symbol,
            channel,
            depth,
        };
        let full = self.items.len() == MAX_SUBSCRIPTIONS;
        match self
            .items
            .iter_mut()
            .find(|s| s.symbol == symbol && s.channel == channel)
        {
            // Again: a resync (fresh snapshot), at the depth asked now.
            Some(existing) => *existing = wanted,
            None if full => return Ok(Some(ErrorCode::TooManySubscriptions)),
            None => self.items.push(wanted),
        }
        let state = feed.state(symbol).expect("resolved against the feed");
        let snapshot = feed.snapshot(symbol, channel, depth);
        let seq = snapshot.as_ref().map_or(state.seq, |s| s.seq);
        answer.text(|buf| {
            render_subscribed(
                request.req_id,
                (symbol, name),
                channel,
                depth,
                seq,
                state.epoch,
                buf,
            )
        })?;
        match snapshot {
            Some(s) => answer.data(|b| encode_snapshot(&s, b), |b| render_snapshot(&s, b))?,
            None => answer.data(
                |b| encode_current(&state, channel, b),
                |b| render_current(&state, channel, b),
            )?,
        }
        Ok(None)
    }

    fn unsubscribe<W: FnMut(Outgoing<'_>)>(
        &mut self,
        request: &ControlRequest<'_>,
        symbol: u32,
        channel: Channel,
        answer: &mut Answer<'_, W>,
    ) -> Result<Option<ErrorCode>, BufferTooSmall> {
        let Some(i) = self
            .items
            .iter()
            .position(|s| s.symbol == symbol && s.channel == channel)
        else {
            return Ok(Some(ErrorCode::NotSubscribed));
        };
        self.items.swap_remove(i);
        answer.text(|buf| render_unsubscribed(request.req_id, symbol, channel, buf))?;
        Ok(None)
    }
}
