//! The control messages a market-data client sends, JSON text in both
//! formats (`docs/MARKET_DATA.md`, "Control messages"), and their parser:
//! strict, allocation-free, borrowing names from the message. Every way a
//! message can be wrong has one [`ErrorCode`]; the first problem met while
//! reading decides.
//!
//! ```json
//! {"op":"subscribe","req_id":7,"symbols":["BTC-USD",2],"channels":["book","trades"],"depth":10}
//! {"op":"unsubscribe","req_id":8,"symbols":["BTC-USD"],"channels":["book"]}
//! ```

use super::json_scan::{Kind, Number, Scanner};
use crate::market_data::{depth_index, Channel, DEFAULT_DEPTH};

/// Longest control message accepted (bytes of the WebSocket message).
pub const MAX_CONTROL_LEN: usize = 4096;
/// Most symbols one request may name.
pub const MAX_SYMBOLS_PER_REQUEST: usize = 32;
/// Largest `req_id`: integers up to 2^53 - 1 survive a JavaScript number.
pub const MAX_REQ_ID: u64 = (1 << 53) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Subscribe,
    Unsubscribe,
}

/// A symbol as the client named it: by configured name or by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolRef<'a> {
    Id(u32),
    /// The raw bytes between the quotes (escapes are not expanded, so a
    /// name written with an escape matches no symbol).
    Name(&'a [u8]),
}

/// The channels of one request, as a bit set (bit = channel code).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelSet(u8);

impl ChannelSet {
    pub fn insert(&mut self, channel: Channel) {
        self.0 |= 1 << channel as u8;
    }

    pub fn contains(&self, channel: Channel) -> bool {
        self.0 & (1 << channel as u8) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Channel> + '_ {
        Channel::ALL.into_iter().filter(|c| self.contains(*c))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRequest<'a> {
    pub op: Op,
    pub req_id: Option<u64>,
    symbols: [SymbolRef<'a>; MAX_SYMBOLS_PER_REQUEST],
    symbol_count: usize,
    pub channels: ChannelSet,
    /// For the book channels; [`DEFAULT_DEPTH`] when not given. Ignored by
    /// `unsubscribe`, which removes the channel at whatever depth.
    pub depth: u16,
}

impl<'a> ControlRequest<'a> {
    pub fn symbols(&self) -> &[SymbolRef<'a>] {
        &self.symbols[..self.symbol_count]
    }
}

/// Every documented reason a control request (or one symbol of it) is
/// refused. The names are the `code` of the JSON `error` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Not JSON, or not a JSON object.
    BadJson,
    /// Longer than [`MAX_CONTROL_LEN`].
    TooLarge,
    UnknownField,
    DuplicateField,
    MissingField,
    /// A field of the wrong type or out of range (the answer names it).
    BadField,
    UnknownOp,
    UnknownChannel,
    /// `depth` not in the offered set.
    BadDepth,
    TooManySymbols,
    /// One symbol of the request: the others are answered normally.
    UnknownSymbol,
    /// The connection's subscription limit (the shard's table).
    TooManySubscriptions,
    /// An `unsubscribe` of a (symbol, channel) the connection does not have.
    NotSubscribed,
    /// A binary message where JSON text was expected.
    NotText,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = {
        use ErrorCode::*;
        [
            BadJson,
            TooLarge,
            UnknownField,
            DuplicateField,
            MissingField,
            BadField,
            UnknownOp,
            UnknownChannel,
            BadDepth,
            TooManySymbols,
            UnknownSymbol,
            TooManySubscriptions,
            NotSubscribed,
            NotText,
        ]
    };

    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadJson => "bad_json",
            TooLarge => "too_large",
            UnknownField => "unknown_field",
            DuplicateField => "duplicate_field",
            MissingField => "missing_field",
            BadField => "bad_field",
            UnknownOp => "unknown_op",
            UnknownChannel => "unknown_channel",
            BadDepth => "bad_depth",
            TooManySymbols => "too_many_symbols",
            UnknownSymbol => "unknown_symbol",
            TooManySubscriptions => "too_many_subscriptions",
            NotSubscribed => "not_subscribed",
            NotText => "not_text",
        }
    }
}

/// A refused request: the code, the field it is about (if one), and the
/// request's `req_id` if it was read before the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlError<'a> {
    pub code: ErrorCode,
    /// A field this version defines.
    pub field: Option<&'static str>,
    /// For `unknown_field`: the name the client gave, as written (the raw
    /// contents of the JSON string, escapes unexpanded), if it is at most
    /// [`MAX_NAMED_FIELD_LEN`] bytes; the answer's `field` names it.
    pub unknown_field: Option<&'a [u8]>,
    pub req_id: Option<u64>,
}

/// The longest unknown field name an answer repeats (as written); a longer
/// one is answered with `"field":null`, so an error answer stays small
/// whatever the client sent.
pub const MAX_NAMED_FIELD_LEN: usize = 64;

const FIELDS: [&str; 5] = ["op", "req_id", "symbols", "channels", "depth"];

struct Parse<'a> {
    scan: Scanner<'a>,
    seen: u8,
    op: Option<Op>,
    req_id: Option<u64>,
    symbols: [SymbolRef<'a>; MAX_SYMBOLS_PER_REQUEST],
    symbol_count: usize,
    channels: ChannelSet,
    depth: Option<u16>,
}

impl<'a> Parse<'a> {
    fn fail(&self, code: ErrorCode, field: Option<&'static str>) -> ControlError<'a> {
        ControlError {
            code,
            field,
            unknown_field: None,
            req_id: self.req_id,
        }
    }

    /// `unknown_field`, naming `key` if it is short enough to repeat.
    fn unknown(&self, key: &'a [u8]) -> ControlError<'a> {
        let named = (key.len() <= MAX_NAMED_FIELD_LEN).then_some(key);
        debug_assert!(!FIELDS.iter().any(|f| f.as_bytes() == key), "a known field");
        ControlError {
            unknown_field: named,
            ..self.fail(ErrorCode::UnknownField, None)
        }
    }

    fn not_json(&self) -> ControlError<'a> {
        self.fail(ErrorCode::BadJson, None)
    }

    fn integer(&mut self, field: &'static str) -> Result<u64, ControlError<'a>> {
        if self.scan.kind().map_err(|_| self.not_json())? != Kind::Number {
            return Err(self.fail(ErrorCode::BadField, Some(field)));
        }
        match self.scan.number().map_err(|_| self.not_json())? {
            Number::Integer(v) => Ok(v),
            Number::Other => Err(self.fail(ErrorCode::BadField, Some(field))),
        }
    }

    /// Walks the elements of an array field, calling `element` for each.
    fn array(
        &mut self,
        field: &'static str,
        mut element: impl FnMut(&mut Self) -> Result<(), ControlError<'a>>,
    ) -> Result<(), ControlError<'a>> {
        if self.scan.kind().map_err(|_| self.not_json())? != Kind::Array {
            return Err(self.fail(ErrorCode::BadField, Some(field)));
        }
        self.scan.expect(b'[').map_err(|_| self.not_json())?;
        if self.scan.eat(b']') {
            return Err(self.fail(ErrorCode::BadField, Some(field)));
        }
        loop {
            element(self)?;
            if self.scan.eat(b']') {
                return Ok(());
            }
            self.scan.expect(b',').map_err(|_| self.not_json())?;
        }
    }

    fn symbol(&mut self) -> Result<(), ControlError<'a>> {
        let symbol = match self.scan.kind().map_err(|_| self.not_json())? {
            Kind::String => {
                let name = self.scan.string().map_err(|_| self.not_json())?;
                if name.is_empty() {
                    return Err(self.fail(ErrorCode::BadField, Some("symbols")));
                }
                SymbolRef::Name(name)
            }
            Kind::Number => match self.integer("symbols")? {
                id @ 1..=0xFFFF_FFFF => SymbolRef::Id(id as u32),
                _ => return Err(self.fail(ErrorCode::BadField, Some("symbols"))),
            },
            _ => return Err(self.fail(ErrorCode::BadField, Some("symbols"))),
        };
        if self.symbol_count == MAX_SYMBOLS_PER_REQUEST {
            return Err(self.fail(ErrorCode::TooManySymbols, Some("symbols")));
        }
        self.symbols[self.symbol_count] = symbol;
        self.symbol_count += 1;
        Ok(())
    }

    fn channel(&mut self) -> Result<(), ControlError<'a>> {
        if self.scan.kind().map_err(|_| self.not_json())? != Kind::String {
            return Err(self.fail(ErrorCode::BadField, Some("channels")));
        }
        let name = self.scan.string().map_err(|_| self.not_json())?;
        let channel = Channel::from_name(name)
            .ok_or(self.fail(ErrorCode::UnknownChannel, Some("channels")))?;
        self.channels.insert(channel);
        Ok(())
    }

    fn op(&mut self) -> Result<(), ControlError<'a>> {
        if self.scan.kind().map_err(|_| self.not_json())? != Kind::String {
            return Err(self.fail(ErrorCode::BadField, Some("op")));
        }
        self.op = Some(match self.scan.string().map_err(|_| self.not_json())? {
            b"subscribe" => Op::Subscribe,
            b"unsubscribe" => Op::Unsubscribe,
            _ => return Err(self.fail(ErrorCode::UnknownOp, Some("op"))),
        });
        Ok(())
    }

    fn member(&mut self) -> Result<(), ControlError<'a>> {
        let key = self.scan.string().map_err(|_| self.not_json())?;
        self.scan.expect(b':').map_err(|_| self.not_json())?;
        let index = FIELDS
            .iter()
            .position(|f| f.as_bytes() == key)
            .ok_or_else(|| self.unknown(key))?;
        let field = FIELDS[index];
        if self.seen & (1 << index) != 0 {
            return Err(self.fail(ErrorCode::DuplicateField, Some(field)));
        }
        self.seen |= 1 << index;
        match field {
            "op" => self.op(),
            "req_id" => match self.integer(field)? {
                id @ 0..=MAX_REQ_ID => {
                    self.req_id = Some(id);
                    Ok(())
                }
                _ => Err(self.fail(ErrorCode::BadField, Some(field))),
            },
            "symbols" => self.array(field, Self::symbol),
            "channels" => self.array(field, Self::channel),
            _ => {
                let depth = self.integer(field)?;
                match u16::try_from(depth)
                    .ok()
                    .filter(|d| depth_index(*d).is_some())
                {
                    Some(d) => {
                        self.depth = Some(d);
                        Ok(())
                    }
                    None => Err(self.fail(ErrorCode::BadDepth, Some(field))),
                }
            }
        }
    }

    fn object(&mut self) -> Result<(), ControlError<'a>> {
        self.scan.expect(b'{').map_err(|_| self.not_json())?;
        if !self.scan.eat(b'}') {
            loop {
                self.member()?;
                if self.scan.eat(b'}') {
                    break;
                }
                self.scan.expect(b',').map_err(|_| self.not_json())?;
            }
        }
        if !self.scan.at_end() {
            return Err(self.not_json());
        }
        Ok(())
    }
}

/// Parses one control message (the payload of a text message).
pub fn parse_control(bytes: &[u8]) -> Result<ControlRequest<'_>, ControlError<'_>> {
    let mut p = Parse {
        scan: Scanner::new(bytes),
        seen: 0,
        op: None,
        req_id: None,
        symbols: [SymbolRef::Id(0); MAX_SYMBOLS_PER_REQUEST],
        symbol_count: 0,
        channels: ChannelSet::default(),
        depth: None,
    };
    if bytes.len() > MAX_CONTROL_LEN {
        return Err(p.fail(ErrorCode::TooLarge, None));
    }
    p.object()?;
    let op = p.op.ok_or(p.fail(ErrorCode::MissingField, Some("op")))?;
    if p.symbol_count == 0 {
        return Err(p.fail(ErrorCode::MissingField, Some("symbols")));
    }
    if p.channels.is_empty() {
        return Err(p.fail(ErrorCode::MissingField, Some("channels")));
    }
    Ok(ControlRequest {
        op,
        req_id: p.req_id,
        symbols: p.symbols,
        symbol_count: p.symbol_count,
        channels: p.channels,
        depth: p.depth.unwrap_or(DEFAULT_DEPTH),
    })
}
