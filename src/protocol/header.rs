//! The common 8-byte header, message type codes, and the trait every
//! message struct implements.

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{HEADER_LEN, PROTOCOL_VERSION};

/// Starts every message in both directions.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct Header {
    /// Total bytes of the message, this header included. Fixed per message
    /// type; a receiver checks it before trusting anything else.
    pub length: U16,
    pub msg_type: u8,
    pub version: u8,
    /// Per-direction sequence number: 1 for the first message a side sends
    /// on a connection, then +1 for every message (heartbeats included),
    /// wrapping from `u32::MAX` to 0.
    pub seq: U32,
}

const _: () = assert!(core::mem::size_of::<Header>() == HEADER_LEN);

impl Header {
    pub fn new(msg_type: u8, length: u16, seq: u32) -> Header {
        Header {
            length: U16::new(length),
            msg_type,
            version: PROTOCOL_VERSION,
            seq: U32::new(seq),
        }
    }
}

/// Message type codes. Client-to-gateway types are `0x01..=0x7F`,
/// gateway-to-client types `0x81..=0xFF`, so a message sent in the wrong
/// direction is an unknown type rather than a misread.
pub mod msg_type {
    pub const LOGON: u8 = 0x01;
    pub const LOGOUT: u8 = 0x02;
    pub const CLIENT_HEARTBEAT: u8 = 0x03;
    pub const NEW_ORDER: u8 = 0x04;
    pub const CANCEL_ORDER: u8 = 0x05;
    pub const REPLACE_ORDER: u8 = 0x06;
    pub const MASS_CANCEL: u8 = 0x07;
    pub const ORDER_STATUS_REQUEST: u8 = 0x08;
    pub const ORDER_QUERY: u8 = 0x09;
    pub const OPEN_ORDERS_REQUEST: u8 = 0x0A;
    pub const POSITIONS_REQUEST: u8 = 0x0B;
    pub const REPLAY_REQUEST: u8 = 0x0C;
    pub const DONE_ORDERS_REQUEST: u8 = 0x0D;

    pub const LOGON_ACCEPTED: u8 = 0x81;
    pub const LOGON_REJECTED: u8 = 0x82;
    pub const GATEWAY_HEARTBEAT: u8 = 0x83;
    pub const ORDER_ACCEPTED: u8 = 0x84;
    pub const ORDER_REJECTED: u8 = 0x85;
    pub const FILL: u8 = 0x86;
    pub const ORDER_CANCELED: u8 = 0x87;
    pub const ORDER_REPLACED: u8 = 0x88;
    pub const CANCEL_REJECTED: u8 = 0x89;
    pub const MASS_CANCEL_DONE: u8 = 0x8A;
    pub const ORDER_STATUS: u8 = 0x8B;
    pub const SESSION_END: u8 = 0x8C;
    pub const POSITION: u8 = 0x8D;
    pub const QUERY_DONE: u8 = 0x8E;
    pub const REPLAY_STARTED: u8 = 0x8F;
    pub const REPLAY_DONE: u8 = 0x90;
    pub const DONE_ORDER: u8 = 0x91;
}

/// A fixed-layout message: its bytes are its wire form. Implemented (via
/// `wire_message!`) only for structs whose first field is the [`Header`].
pub trait WireMessage: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned + Sized {
    /// The `msg_type` this struct is sent under.
    const MSG_TYPE: u8;
    /// The name used in `docs/PROTOCOL.md`.
    const NAME: &'static str;
    /// The exact `length` every message of this type carries.
    const LEN: usize = core::mem::size_of::<Self>();

    fn header(&self) -> &Header;

    /// The header [`encode`](fn@super::encode::encode) writes for this type at `seq`.
    fn header_for(seq: u32) -> Header {
        // LEN <= MAX_MESSAGE_LEN is asserted at compile time per type.
        Header::new(Self::MSG_TYPE, Self::LEN as u16, seq)
    }
}

/// Implements [`WireMessage`] and asserts at compile time the layout rules
/// of `docs/PROTOCOL.md`: header first, size a multiple of 8, within the
/// maximum length.
macro_rules! wire_message {
    ($ty:ident, $code:expr, $name:literal) => {
        const _: () = {
            let size = core::mem::size_of::<$ty>();
            assert!(core::mem::offset_of!($ty, header) == 0);
            assert!(size % 8 == 0);
            assert!(size >= $crate::protocol::HEADER_LEN);
            assert!(size <= $crate::protocol::MAX_MESSAGE_LEN);
        };
        impl $crate::protocol::header::WireMessage for $ty {
            const MSG_TYPE: u8 = $code;
            const NAME: &'static str = $name;
            fn header(&self) -> &$crate::protocol::header::Header {
                &self.header
            }
        }
    };
}
pub(crate) use wire_message;
