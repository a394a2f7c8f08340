//! Framing: from a byte buffer to a typed, zero-copy view of one message.
//!
//! The checks run in a fixed order, each on bytes already proven present:
//! 1. fewer than 8 bytes: `Incomplete`;
//! 2. `length` outside `8..=MAX_MESSAGE_LEN`: `BadLength`;
//! 3. `version` not `PROTOCOL_VERSION`: `WrongVersion`;
//! 4. `msg_type` unknown for the direction: `UnknownType`;
//! 5. `length` not the type's fixed size: `LengthMismatch`;
//! 6. fewer than `length` bytes: `Incomplete`.
//!
//! Everything a header can reveal is reported as soon as the header is in,
//! so a receiver never waits for bytes that a broken peer will not send.
//! Field values are not checked here (see [`convert`](super::convert)).

use core::fmt;

use super::client::*;
use super::done_orders::*;
use super::gateway::*;
use super::header::{msg_type, Header, WireMessage};
use super::queries::*;
use super::reasons::SessionEndReason;
use super::replay::*;
use super::{HEADER_LEN, MAX_MESSAGE_LEN, PROTOCOL_VERSION};
use zerocopy::FromBytes;

/// A decoded message and how many bytes of the buffer it occupied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<T> {
    pub message: T,
    /// Bytes consumed from the start of the buffer; always the header's
    /// `length`, never more than the buffer held.
    pub len: usize,
}

/// Why a buffer does not start with a decodable message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not an error: the buffer must hold at least `needed` bytes (counted
    /// from its start) before decoding can go on. Read more and retry.
    Incomplete {
        needed: usize,
    },
    /// `length` below the header size or above `MAX_MESSAGE_LEN`.
    BadLength {
        length: u16,
    },
    UnknownType {
        msg_type: u8,
    },
    WrongVersion {
        version: u8,
    },
    /// `length` is not the fixed size of `msg_type`.
    LengthMismatch {
        msg_type: u8,
        expected: u16,
        got: u16,
    },
}

impl DecodeError {
    /// The reason the gateway ends a session with after this error; `None`
    /// for `Incomplete`, which only means "read more".
    pub fn session_end_reason(&self) -> Option<SessionEndReason> {
        match self {
            DecodeError::Incomplete { .. } => None,
            DecodeError::BadLength { .. } => Some(SessionEndReason::BadLength),
            DecodeError::UnknownType { .. } => Some(SessionEndReason::UnknownMessageType),
            DecodeError::WrongVersion { .. } => Some(SessionEndReason::WrongVersion),
            DecodeError::LengthMismatch { .. } => Some(SessionEndReason::LengthMismatch),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => write!(f, "incomplete: need {needed} bytes"),
            DecodeError::BadLength { length } => write!(
                f,
                "bad length {length} (must be {HEADER_LEN}..={MAX_MESSAGE_LEN})"
            ),
            DecodeError::UnknownType { msg_type } => write!(f, "unknown type {msg_type:#04x}"),
            DecodeError::WrongVersion { version } => {
                write!(f, "wrong version {version} (expected {PROTOCOL_VERSION})")
            }
            DecodeError::LengthMismatch {
                msg_type,
                expected,
                got,
            } => write!(
                f,
                "type {msg_type:#04x} has length {expected}, header says {got}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A client-to-gateway message, borrowed from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    Logon(&'a LogonMsg),
    Logout(&'a LogoutMsg),
    Heartbeat(&'a ClientHeartbeatMsg),
    NewOrder(&'a NewOrderMsg),
    CancelOrder(&'a CancelOrderMsg),
    ReplaceOrder(&'a ReplaceOrderMsg),
    MassCancel(&'a MassCancelMsg),
    OrderStatusRequest(&'a OrderStatusRequestMsg),
    OrderQuery(&'a OrderQueryMsg),
    OpenOrdersRequest(&'a OpenOrdersRequestMsg),
    PositionsRequest(&'a PositionsRequestMsg),
    ReplayRequest(&'a ReplayRequestMsg),
    DoneOrdersRequest(&'a DoneOrdersRequestMsg),
}

/// A gateway-to-client message, borrowed from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayMessage<'a> {
    LogonAccepted(&'a LogonAcceptedMsg),
    LogonRejected(&'a LogonRejectedMsg),
    Heartbeat(&'a GatewayHeartbeatMsg),
    OrderAccepted(&'a OrderAcceptedMsg),
    OrderRejected(&'a OrderRejectedMsg),
    Fill(&'a FillMsg),
    OrderCanceled(&'a OrderCanceledMsg),
    OrderReplaced(&'a OrderReplacedMsg),
    CancelRejected(&'a CancelRejectedMsg),
    MassCancelDone(&'a MassCancelDoneMsg),
    OrderStatus(&'a OrderStatusMsg),
    SessionEnd(&'a SessionEndMsg),
    Position(&'a PositionMsg),
    QueryDone(&'a QueryDoneMsg),
    ReplayStarted(&'a ReplayStartedMsg),
    ReplayDone(&'a ReplayDoneMsg),
    DoneOrder(&'a DoneOrderMsg),
}

impl ClientMessage<'_> {
    pub fn header(&self) -> &Header {
        match self {
            ClientMessage::Logon(m) => m.header(),
            ClientMessage::Logout(m) => m.header(),
            ClientMessage::Heartbeat(m) => m.header(),
            ClientMessage::NewOrder(m) => m.header(),
            ClientMessage::CancelOrder(m) => m.header(),
            ClientMessage::ReplaceOrder(m) => m.header(),
            ClientMessage::MassCancel(m) => m.header(),
            ClientMessage::OrderStatusRequest(m) => m.header(),
            ClientMessage::OrderQuery(m) => m.header(),
            ClientMessage::OpenOrdersRequest(m) => m.header(),
            ClientMessage::PositionsRequest(m) => m.header(),
            ClientMessage::ReplayRequest(m) => m.header(),
            ClientMessage::DoneOrdersRequest(m) => m.header(),
        }
    }
}

impl GatewayMessage<'_> {
    pub fn header(&self) -> &Header {
        match self {
            GatewayMessage::LogonAccepted(m) => m.header(),
            GatewayMessage::LogonRejected(m) => m.header(),
            GatewayMessage::Heartbeat(m) => m.header(),
            GatewayMessage::OrderAccepted(m) => m.header(),
            GatewayMessage::OrderRejected(m) => m.header(),
            GatewayMessage::Fill(m) => m.header(),
            GatewayMessage::OrderCanceled(m) => m.header(),
            GatewayMessage::OrderReplaced(m) => m.header(),
            GatewayMessage::CancelRejected(m) => m.header(),
            GatewayMessage::MassCancelDone(m) => m.header(),
            GatewayMessage::OrderStatus(m) => m.header(),
            GatewayMessage::SessionEnd(m) => m.header(),
            GatewayMessage::Position(m) => m.header(),
            GatewayMessage::QueryDone(m) => m.header(),
            GatewayMessage::ReplayStarted(m) => m.header(),
            GatewayMessage::ReplayDone(m) => m.header(),
            GatewayMessage::DoneOrder(m) => m.header(),
        }
    }
}

/// Decodes the message at the start of `buf`, sent by a client.
pub fn decode_client(buf: &[u8]) -> Result<Decoded<ClientMessage<'_>>, DecodeError> {
    let header = read_header(buf)?;
    let message = match header.msg_type {
        msg_type::LOGON => ClientMessage::Logon(view(buf, header)?),
        msg_type::LOGOUT => ClientMessage::Logout(view(buf, header)?),
        msg_type::CLIENT_HEARTBEAT => ClientMessage::Heartbeat(view(buf, header)?),
        msg_type::NEW_ORDER => ClientMessage::NewOrder(view(buf, header)?),
        msg_type::CANCEL_ORDER => ClientMessage::CancelOrder(view(buf, header)?),
        msg_type::REPLACE_ORDER => ClientMessage::ReplaceOrder(view(buf, header)?),
        msg_type::MASS_CANCEL => ClientMessage::MassCancel(view(buf, header)?),
        msg_type::ORDER_STATUS_REQUEST => ClientMessage::OrderStatusRequest(view(buf, header)?),
        msg_type::ORDER_QUERY => ClientMessage::OrderQuery(view(buf, header)?),
        msg_type::OPEN_ORDERS_REQUEST => ClientMessage::OpenOrdersRequest(view(buf, header)?),
        msg_type::POSITIONS_REQUEST => ClientMessage::PositionsRequest(view(buf, header)?),
        msg_type::REPLAY_REQUEST => ClientMessage::ReplayRequest(view(buf, header)?),
        msg_type::DONE_ORDERS_REQUEST => ClientMessage::DoneOrdersRequest(view(buf, header)?),
        other => return Err(DecodeError::UnknownType { msg_type: other }),
    };
    Ok(decoded(message, header))
}

/// Decodes the message at the start of `buf`, sent by the gateway.
pub fn decode_gateway(buf: &[u8]) -> Result<Decoded<GatewayMessage<'_>>, DecodeError> {
    let header = read_header(buf)?;
    let message = match header.msg_type {
        msg_type::LOGON_ACCEPTED => GatewayMessage::LogonAccepted(view(buf, header)?),
        msg_type::LOGON_REJECTED => GatewayMessage::LogonRejected(view(buf, header)?),
        msg_type::GATEWAY_HEARTBEAT => GatewayMessage::Heartbeat(view(buf, header)?),
        msg_type::ORDER_ACCEPTED => GatewayMessage::OrderAccepted(view(buf, header)?),
        msg_type::ORDER_REJECTED => GatewayMessage::OrderRejected(view(buf, header)?),
        msg_type::FILL => GatewayMessage::Fill(view(buf, header)?),
        msg_type::ORDER_CANCELED => GatewayMessage::OrderCanceled(view(buf, header)?),
        msg_type::ORDER_REPLACED => GatewayMessage::OrderReplaced(view(buf, header)?),
        msg_type::CANCEL_REJECTED => GatewayMessage::CancelRejected(view(buf, header)?),
        msg_type::MASS_CANCEL_DONE => GatewayMessage::MassCancelDone(view(buf, header)?),
        msg_type::ORDER_STATUS => GatewayMessage::OrderStatus(view(buf, header)?),
        msg_type::SESSION_END => GatewayMessage::SessionEnd(view(buf, header)?),
        msg_type::POSITION => GatewayMessage::Position(view(buf, header)?),
        msg_type::QUERY_DONE => GatewayMessage::QueryDone(view(buf, header)?),
        msg_type::REPLAY_STARTED => GatewayMessage::ReplayStarted(view(buf, header)?),
        msg_type::REPLAY_DONE => GatewayMessage::ReplayDone(view(buf, header)?),
        msg_type::DONE_ORDER => GatewayMessage::DoneOrder(view(buf, header)?),
        other => return Err(DecodeError::UnknownType { msg_type: other }),
    };
    Ok(decoded(message, header))
}

/// Checks 1-3: the header is present, its length plausible, its version ours.
fn read_header(buf: &[u8]) -> Result<Header, DecodeError> {
    let Ok((header, _)) = Header::read_from_prefix(buf) else {
        return Err(DecodeError::Incomplete { needed: HEADER_LEN });
    };
    let length = header.length.get();
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&usize::from(length)) {
        return Err(DecodeError::BadLength { length });
    }
    if header.version != PROTOCOL_VERSION {
        return Err(DecodeError::WrongVersion {
            version: header.version,
        });
    }
    Ok(header)
}

/// Checks 5-6 for a type already identified as `M`, then the cast itself.
fn view<M: WireMessage>(buf: &[u8], header: Header) -> Result<&M, DecodeError> {
    let got = header.length.get();
    if usize::from(got) != M::LEN {
        return Err(DecodeError::LengthMismatch {
            msg_type: header.msg_type,
            expected: M::LEN as u16,
            got,
        });
    }
    // `M` is `Unaligned`, so the cast can fail only on size: exactly the
    // incomplete case.
    M::ref_from_prefix(buf)
        .map(|(message, _rest)| message)
        .map_err(|_| DecodeError::Incomplete { needed: M::LEN })
}

fn decoded<T>(message: T, header: Header) -> Decoded<T> {
    let len = usize::from(header.length.get());
    debug_assert!((HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len));
    Decoded { message, len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode::encode;
    use zerocopy::FromZeros;

    #[test]
    fn decode_reports_header_errors_before_the_body_arrives() {
        let mut buf = [0u8; 64];
        let n = encode(&NewOrderMsg::new_zeroed(), 1, &mut buf).unwrap();
        assert_eq!(n, 48);
        buf[3] = 1; // version 1: this build speaks 2
        assert_eq!(
            decode_client(&buf[..HEADER_LEN]),
            Err(DecodeError::WrongVersion { version: 1 })
        );
    }

    #[test]
    fn a_gateway_type_sent_to_the_gateway_is_unknown() {
        let mut buf = [0u8; 16];
        encode(&GatewayHeartbeatMsg::new(), 1, &mut buf).unwrap();
        assert_eq!(
            decode_client(&buf),
            Err(DecodeError::UnknownType { msg_type: 0x83 })
        );
        assert!(matches!(
            decode_gateway(&buf),
            Ok(Decoded {
                message: GatewayMessage::Heartbeat(_),
                len: 8
            })
        ));
    }

    #[test]
    fn only_incomplete_keeps_the_session_open() {
        assert_eq!(
            DecodeError::Incomplete { needed: 8 }.session_end_reason(),
            None
        );
        assert_eq!(
            DecodeError::BadLength { length: 3 }.session_end_reason(),
            Some(SessionEndReason::BadLength)
        );
    }
}
