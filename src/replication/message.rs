//! One journal record as a JetStream message (docs/OPERATIONS.md,
//! "Replication"): the body is the record's frame exactly as the journal
//! holds it (len, crc, seq, ts_ns, kind, reserved, payload, padding), so the
//! record's own CRC travels with it and a follower checks the bytes the
//! primary wrote; a `config_epoch` record is followed by the body of the
//! engine config file it names, which a follower needs to replay what
//! follows. Headers: `Nats-Msg-Id: {shard}:{seq}` (JetStream drops a
//! duplicate of it), `Tradsys-Shard`, `Tradsys-Seq`.

use std::fmt;

use crate::journal::codec::{self, MAX_PAYLOAD};
use crate::journal::config_file;
use crate::journal::layout::{
    get_u16, get_u32, get_u64, record_bytes, R_CRC, R_KIND, R_LEN, R_PAYLOAD, R_RESERVED, R_SEQ,
    R_TS,
};
use crate::journal::{Entry, Record};

/// The `Nats-Msg-Id` of a record: unique per shard and seq, so a record
/// published twice (a retry, a restarted shipper) is stored once.
pub fn message_id(shard: u16, seq: u64) -> String {
    format!("{shard}:{seq}")
}

/// A record read back from a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipped {
    pub record: Record,
    /// The engine config body a `config_epoch` record names.
    pub config_body: Option<Vec<u8>>,
}

/// Why a message is not a record of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageError {
    TooShort(usize),
    BadLength(u32),
    /// The record's CRC does not match its bytes.
    Crc {
        seq: u64,
    },
    /// The CRC holds but the payload does not decode (an unknown kind:
    /// a primary newer than this follower).
    Undecodable {
        seq: u64,
        reason: String,
    },
    /// A `config_epoch` record without the config it names, or another.
    ConfigBody {
        seq: u64,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::TooShort(n) => write!(f, "message of {n} bytes is not a record"),
            MessageError::BadLength(n) => write!(f, "record length {n}"),
            MessageError::Crc { seq } => write!(f, "record CRC mismatch (seq field {seq})"),
            MessageError::Undecodable { seq, reason } => {
                write!(f, "record {seq} does not decode: {reason}")
            }
            MessageError::ConfigBody { seq } => write!(
                f,
                "config_epoch record {seq} without the config file it names"
            ),
        }
    }
}

/// The journal frame a message body carries (a `config_epoch`'s config
/// body left out), of a body [`decode`] accepted: what a journal holding
/// the same record has at its seq.
pub fn frame(body: &[u8]) -> &[u8] {
    let frame = record_bytes(get_u32(body, R_LEN) as usize);
    assert!(frame <= body.len(), "a body decode accepted");
    &body[..frame]
}

/// Decodes a message body (see the module doc), checking the record's CRC,
/// its kind and, for a `config_epoch`, that the config body is the one it
/// names.
pub fn decode(body: &[u8]) -> Result<Shipped, MessageError> {
    if body.len() < R_PAYLOAD + 8 {
        return Err(MessageError::TooShort(body.len()));
    }
    let len = get_u32(body, R_LEN);
    if len == 0 || len as usize > MAX_PAYLOAD {
        return Err(MessageError::BadLength(len));
    }
    let frame = record_bytes(len as usize);
    if body.len() < frame {
        return Err(MessageError::TooShort(body.len()));
    }
    let seq = get_u64(body, R_SEQ);
    let payload_end = R_PAYLOAD + len as usize;
    if crc32c::crc32c(&body[R_SEQ..payload_end]) != get_u32(body, R_CRC)
        || get_u16(body, R_RESERVED) != 0
    {
        return Err(MessageError::Crc { seq });
    }
    let entry =
        codec::decode(get_u16(body, R_KIND), &body[R_PAYLOAD..payload_end]).map_err(|e| {
            MessageError::Undecodable {
                seq,
                reason: e.to_string(),
            }
        })?;
    let rest = &body[frame..];
    let config_body = match entry {
        Entry::ConfigEpoch(epoch) => {
            let named = rest.len() == epoch.config_bytes as usize
                && config_file::digest(rest) == epoch.digest;
            if !named {
                return Err(MessageError::ConfigBody { seq });
            }
            Some(rest.to_vec())
        }
        _ if rest.is_empty() => None,
        _ => return Err(MessageError::TooShort(body.len())),
    };
    let record = Record {
        seq,
        ts_ns: get_u64(body, R_TS),
        entry,
    };
    assert!(record.seq >= 1 || config_body.is_none());
    Ok(Shipped {
        record,
        config_body,
    })
}
