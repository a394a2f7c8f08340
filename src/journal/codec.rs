//! The fixed binary encoding of each record payload: every [`Command`]
//! variant, the `config_epoch` marker ([`ConfigEpoch`]) and the
//! `state_checksum` marker ([`StateChecksum`]). Every field is explicit little-endian at a fixed offset; the
//! tables are in `FORMAT.md`. Reserved bytes are written as zero and must
//! read as zero, and every enum byte must name a known value: a payload
//! that passed its CRC but still fails here was written by something else
//! (another format version), and the reader says so instead of guessing.
//!
//! Payloads are never empty: a zero `len` word marks the end of a
//! segment's data, so `EndOfDay` carries four reserved bytes.

use std::fmt;

use crate::engine::{
    CancelOrder, CancelReason, Command, NewOrder, OrderKind, ReplaceOrder, Side, StpMode,
    TimeInForce,
};

use super::{ConfigEpoch, Entry, StateChecksum};

/// Record `kind` values. Published numbers never change meaning.
pub mod kind {
    pub const NEW: u16 = 1;
    pub const CANCEL: u16 = 2;
    pub const REPLACE: u16 = 3;
    pub const MASS_CANCEL: u16 = 4;
    pub const KILL_SWITCH: u16 = 5;
    pub const HALT: u16 = 6;
    pub const SET_REFERENCE_PRICE: u16 = 7;
    pub const END_OF_DAY: u16 = 8;
    /// Not a command: the engine config in force from here on.
    pub const CONFIG_EPOCH: u16 = 9;
    /// Not a command: the market-data feed epoch of a start.
    pub const FEED_EPOCH: u16 = 10;
    /// Not a command: a digest of the engine state after every record
    /// before this one (replication: a follower proves it has not diverged).
    pub const STATE_CHECKSUM: u16 = 11;
}

const _: () = assert!(
    kind::FEED_EPOCH == crate::market_data::epoch::FEED_EPOCH_RECORD_KIND,
    "the market-data feed names the same kind"
);

/// Every kind, in number order, with its name in `dump` output.
pub const KINDS: [(u16, &str); 11] = [
    (kind::NEW, "new"),
    (kind::CANCEL, "cancel"),
    (kind::REPLACE, "replace"),
    (kind::MASS_CANCEL, "mass_cancel"),
    (kind::KILL_SWITCH, "kill_switch"),
    (kind::HALT, "halt"),
    (kind::SET_REFERENCE_PRICE, "set_reference_price"),
    (kind::END_OF_DAY, "end_of_day"),
    (kind::CONFIG_EPOCH, "config_epoch"),
    (kind::FEED_EPOCH, "feed_epoch"),
    (kind::STATE_CHECKSUM, "state_checksum"),
];

/// The highest kind number: `stats` counts records in an array indexed by
/// kind, this long plus one.
pub const MAX_KIND: u16 = KINDS[KINDS.len() - 1].0;

/// The largest payload of any kind (`New`, `Replace`).
pub const MAX_PAYLOAD: usize = 40;

// Every kind is listed in `KINDS` in ascending number order (`dump` names
// kinds and `stats` counts them by that number; a number may be left out
// while the branch that publishes it is not merged), has a payload that is never
// empty (a zero `len` word ends a segment's data) and at most
// `MAX_PAYLOAD` bytes; and some kind's payload is that long.
const _: () = {
    let mut longest = 0;
    let mut i = 0;
    while i < KINDS.len() {
        let kind = KINDS[i].0;
        assert!(kind >= 1, "kinds are numbered from 1");
        assert!(i == 0 || KINDS[i - 1].0 < kind, "KINDS in number order");
        let Some(len) = payload_len(kind) else {
            panic!("a kind without a payload length");
        };
        assert!(len > 0, "an empty payload would read as the end of data");
        assert!(len <= MAX_PAYLOAD, "MAX_PAYLOAD below a payload");
        if len > longest {
            longest = len;
        }
        i += 1;
    }
    assert!(longest == MAX_PAYLOAD, "MAX_PAYLOAD above every payload");
};

/// Why a payload could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    UnknownKind(u16),
    /// The payload length is not the one this kind always has.
    BadLength {
        kind: u16,
        expected: usize,
        actual: usize,
    },
    /// A field holds a value outside its domain (an unknown enum number, a
    /// boolean other than 0/1, a non-zero reserved byte).
    BadField {
        field: &'static str,
        value: u64,
    },
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CodecError::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            CodecError::BadLength {
                kind,
                expected,
                actual,
            } => write!(
                f,
                "kind {kind} payload is {actual} bytes, expected {expected}"
            ),
            CodecError::BadField { field, value } => write!(f, "bad {field} value {value}"),
        }
    }
}

impl std::error::Error for CodecError {}

/// The record kind of an entry.
#[inline]
pub fn kind_of(entry: &Entry) -> u16 {
    let kind = match entry {
        Entry::Command(command) => command_kind(command),
        Entry::ConfigEpoch(_) => kind::CONFIG_EPOCH,
        Entry::FeedEpoch(_) => kind::FEED_EPOCH,
        Entry::StateChecksum(_) => kind::STATE_CHECKSUM,
    };
    // Listed, so it has a name, a counter and (checked above) a length.
    debug_assert!(KINDS.iter().any(|(k, _)| *k == kind));
    kind
}

/// The record kind of a command.
#[inline]
pub fn command_kind(command: &Command) -> u16 {
    match command {
        Command::New(_) => kind::NEW,
        Command::Cancel(_) => kind::CANCEL,
        Command::Replace(_) => kind::REPLACE,
        Command::MassCancel { .. } => kind::MASS_CANCEL,
        Command::KillSwitch { .. } => kind::KILL_SWITCH,
        Command::Halt { .. } => kind::HALT,
        Command::SetReferencePrice { .. } => kind::SET_REFERENCE_PRICE,
        Command::EndOfDay => kind::END_OF_DAY,
    }
}

/// The payload length of a kind; `None` for an unknown kind.
pub const fn payload_len(kind: u16) -> Option<usize> {
    Some(match kind {
        kind::NEW => 40,
        kind::CANCEL => 24,
        kind::REPLACE => 40,
        kind::MASS_CANCEL => 12,
        kind::KILL_SWITCH => 8,
        kind::HALT => 8,
        kind::SET_REFERENCE_PRICE => 16,
        kind::END_OF_DAY => 4,
        kind::CONFIG_EPOCH => 16,
        kind::FEED_EPOCH => crate::market_data::epoch::FEED_EPOCH_PAYLOAD_LEN,
        kind::STATE_CHECKSUM => 16,
        _ => return None,
    })
}

/// The name of a kind in `dump` and `stats` output.
pub fn kind_name(kind: u16) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("unknown", |(_, name)| name)
}

/// Writes the payload of `entry` into `out`, which must be exactly
/// `payload_len(kind_of(entry))` bytes (every byte is written, reserved
/// ones as zero). Returns the kind.
// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
// Inlined into the journal's append, its one caller on the order path.
#[inline]
pub fn encode(entry: &Entry, out: &mut [u8]) -> u16 {
    let kind = kind_of(entry);
    assert_eq!(Some(out.len()), payload_len(kind), "payload buffer size");
    let mut w = Writer { out, at: 0 };
    let command = match entry {
        Entry::Command(command) => command,
        Entry::ConfigEpoch(epoch) => {
            w.u64(epoch.digest);
            w.u32(epoch.config_bytes);
            w.zeros(4);
            debug_assert_eq!(w.at, w.out.len(), "every payload byte written");
            return kind;
        }
        Entry::FeedEpoch(epoch) => {
            w.out.copy_from_slice(&epoch.to_payload());
            return kind;
        }
        Entry::StateChecksum(checksum) => {
            w.u64(checksum.digest);
            w.u32(checksum.resting_orders);
            w.zeros(4);
            debug_assert_eq!(w.at, w.out.len(), "every payload byte written");
            return kind;
        }
    };
    // The order path's three kinds write through a writer of their constant
    // length, so that the field writes' bounds checks fold away.
    let w = match *command {
        Command::New(o) => {
            let mut w = Writer::exactly::<40>(w.out);
            w.u32(o.account);
            w.u32(o.symbol);
            w.u64(o.client_order_id);
            w.u8(o.side as u8);
            w.u8(o.kind as u8);
            w.u8(o.tif as u8);
            w.u8(o.post_only as u8);
            w.u8(o.stp.map_or(0, |s| s as u8));
            w.zeros(3);
            w.i64(o.price);
            w.u64(o.qty);
            w
        }
        Command::Cancel(c) => {
            let mut w = Writer::exactly::<24>(w.out);
            w.u32(c.account);
            w.u32(c.symbol);
            w.u64(c.order_id);
            w.u64(c.client_order_id);
            w
        }
        Command::Replace(r) => {
            let mut w = Writer::exactly::<40>(w.out);
            w.u32(r.account);
            w.u32(r.symbol);
            w.u64(r.order_id);
            w.u64(r.client_order_id);
            w.i64(r.new_price);
            w.u64(r.new_qty);
            w
        }
        Command::MassCancel {
            account,
            symbol,
            reason,
        } => {
            w.u32(account);
            w.u32(symbol.unwrap_or(0));
            w.u8(symbol.is_some() as u8);
            w.u8(reason as u8);
            w.zeros(2);
            w
        }
        Command::KillSwitch { account, on } => {
            w.u32(account);
            w.u8(on as u8);
            w.zeros(3);
            w
        }
        Command::Halt { symbol, on } => {
            w.u32(symbol);
            w.u8(on as u8);
            w.zeros(3);
            w
        }
        Command::SetReferencePrice { symbol, price } => {
            w.u32(symbol);
            w.zeros(4);
            w.i64(price);
            w
        }
        Command::EndOfDay => {
            w.zeros(4);
            w
        }
    };
    debug_assert_eq!(w.at, w.out.len(), "every payload byte written");
    kind
}

/// Reads a payload of `kind`. Never panics: any input is either an entry
/// or a [`CodecError`].
// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
pub fn decode(kind: u16, payload: &[u8]) -> Result<Entry, CodecError> {
    let expected = payload_len(kind).ok_or(CodecError::UnknownKind(kind))?;
    if payload.len() != expected {
        return Err(CodecError::BadLength {
            kind,
            expected,
            actual: payload.len(),
        });
    }
    let mut r = Reader {
        bytes: payload,
        at: 0,
    };
    let command = match kind {
        kind::NEW => {
            let account = r.u32();
            let symbol = r.u32();
            let client_order_id = r.u64();
            let side = r.enum_u8("side", Side::from_u8)?;
            let order_kind = r.enum_u8("order_kind", OrderKind::from_u8)?;
            let tif = r.enum_u8("tif", TimeInForce::from_u8)?;
            let post_only = r.bool("post_only")?;
            let stp = match r.u8() {
                0 => None,
                v => Some(StpMode::from_u8(v).ok_or(CodecError::BadField {
                    field: "stp",
                    value: v as u64,
                })?),
            };
            r.reserved(3)?;
            Command::New(NewOrder {
                account,
                symbol,
                client_order_id,
                side,
                kind: order_kind,
                tif,
                post_only,
                stp,
                price: r.i64(),
                qty: r.u64(),
            })
        }
        kind::CANCEL => Command::Cancel(CancelOrder {
            account: r.u32(),
            symbol: r.u32(),
            order_id: r.u64(),
            client_order_id: r.u64(),
        }),
        kind::REPLACE => Command::Replace(ReplaceOrder {
            account: r.u32(),
            symbol: r.u32(),
            order_id: r.u64(),
            client_order_id: r.u64(),
            new_price: r.i64(),
            new_qty: r.u64(),
        }),
        kind::MASS_CANCEL => {
            let account = r.u32();
            let symbol_value = r.u32();
            let has_symbol = r.bool("has_symbol")?;
            let reason = r.enum_u8("reason", CancelReason::from_u8)?;
            r.reserved(2)?;
            if !has_symbol && symbol_value != 0 {
                return Err(CodecError::BadField {
                    field: "symbol",
                    value: symbol_value as u64,
                });
            }
            Command::MassCancel {
                account,
                symbol: has_symbol.then_some(symbol_value),
                reason,
            }
        }
        kind::KILL_SWITCH => {
            let account = r.u32();
            let on = r.bool("on")?;
            r.reserved(3)?;
            Command::KillSwitch { account, on }
        }
        kind::HALT => {
            let symbol = r.u32();
            let on = r.bool("on")?;
            r.reserved(3)?;
            Command::Halt { symbol, on }
        }
        kind::SET_REFERENCE_PRICE => {
            let symbol = r.u32();
            r.reserved(4)?;
            Command::SetReferencePrice {
                symbol,
                price: r.i64(),
            }
        }
        kind::END_OF_DAY => {
            r.reserved(4)?;
            Command::EndOfDay
        }
        kind::CONFIG_EPOCH => {
            let digest = r.u64();
            let config_bytes = r.u32();
            r.reserved(4)?;
            debug_assert_eq!(r.at, payload.len(), "every payload byte read");
            let entry = Entry::ConfigEpoch(ConfigEpoch {
                digest,
                config_bytes,
            });
            debug_assert_eq!(kind_of(&entry), kind);
            return Ok(entry);
        }
        kind::FEED_EPOCH => {
            use crate::market_data::epoch::{EpochPayloadError, FeedEpoch};
            let epoch = FeedEpoch::from_payload(payload).map_err(|e| match e {
                EpochPayloadError::NonZeroReserved => CodecError::BadField {
                    field: "reserved",
                    value: le_u64(&payload[8..]),
                },
                EpochPayloadError::Zero | EpochPayloadError::WrongLength => CodecError::BadField {
                    field: "epoch",
                    value: 0,
                },
            })?;
            return Ok(Entry::FeedEpoch(epoch));
        }
        kind::STATE_CHECKSUM => {
            let digest = r.u64();
            let resting_orders = r.u32();
            r.reserved(4)?;
            debug_assert_eq!(r.at, payload.len(), "every payload byte read");
            return Ok(Entry::StateChecksum(StateChecksum {
                digest,
                resting_orders,
            }));
        }
        _ => return Err(CodecError::UnknownKind(kind)),
    };
    debug_assert_eq!(r.at, payload.len(), "every payload byte read");
    // Decoded as the kind it was stored as: `kind_of` gives it back.
    debug_assert_eq!(command_kind(&command), kind);
    Ok(Entry::Command(command))
}

/// Sequential little-endian writes into a buffer whose size was checked
/// against the kind's layout before the first write.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> Writer<'a> {
    /// A writer over exactly `N` bytes (`out` must be that long): with the
    /// length a constant the compiler sees, the bounds checks of writes at
    /// constant offsets fold away.
    #[inline]
    fn exactly<const N: usize>(out: &'a mut [u8]) -> Writer<'a> {
        debug_assert_eq!(out.len(), N, "the caller checked the kind's length");
        let out: &mut [u8; N] = out.try_into().expect("the kind's payload length");
        Writer { out, at: 0 }
    }

    fn bytes<const N: usize>(&mut self, b: [u8; N]) {
        self.out[self.at..self.at + N].copy_from_slice(&b);
        self.at += N;
    }
    fn u8(&mut self, v: u8) {
        self.bytes([v]);
    }
    fn u32(&mut self, v: u32) {
        self.bytes(v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(v.to_le_bytes());
    }
    fn zeros(&mut self, n: usize) {
        self.out[self.at..self.at + n].fill(0);
        self.at += n;
    }
}

/// Sequential little-endian reads from a payload whose length was checked
/// against the kind's layout first, so the slicing cannot go out of range.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        b
    }
    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.array())
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, CodecError> {
        match self.u8() {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(CodecError::BadField {
                field,
                value: v as u64,
            }),
        }
    }
    fn enum_u8<T>(
        &mut self,
        field: &'static str,
        from: impl Fn(u8) -> Option<T>,
    ) -> Result<T, CodecError> {
        let v = self.u8();
        from(v).ok_or(CodecError::BadField {
            field,
            value: v as u64,
        })
    }
    fn reserved(&mut self, n: usize) -> Result<(), CodecError> {
        for _ in 0..n {
            let v = self.u8();
            if v != 0 {
                return Err(CodecError::BadField {
                    field: "reserved",
                    value: v as u64,
                });
            }
        }
        Ok(())
    }
}

/// A little-endian `u64` of 8 bytes (a field the length check covered).
fn le_u64(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() >= 8, "checked by the kind's length");
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(b)
}
