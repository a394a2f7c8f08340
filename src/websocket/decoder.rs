//! The receiving side of a WebSocket connection, sans I/O: bytes in, whole
//! messages and control frames out, every RFC 6455 rule checked as soon as
//! the bytes that break it arrive. Allocation-free: the message buffer is
//! allocated once at the message size limit, control payloads sit in a
//! 125-byte array, and a frame may arrive in any number of pieces.
//!
//! Rules (section numbers of RFC 6455), each a [`WsError`] with its close code:
//! - no extension is negotiated, so RSV1-3 must be 0 (5.2);
//! - opcodes 0x3-0x7 and 0xB-0xF are reserved (5.2);
//! - frames from a client must be masked, frames from a server must not (5.1);
//! - control frames have at most 125 bytes and are never fragmented (5.5);
//!   they may arrive between the fragments of a message (5.4);
//! - a continuation needs a message in progress, and a new text or binary
//!   frame must not start while one is (5.4);
//! - text is UTF-8 across fragments, checked as it arrives (8.1);
//! - a close payload is empty or a valid code plus a UTF-8 reason (5.5.1, 7.4);
//! - the 64-bit length has its top bit clear (5.2);
//! - frames and messages above [`Limits`] are refused (10.4).

use super::close::{code, read_close, ClosePayloadError};
use super::frame::{
    apply_mask, read_header, FrameHeader, HeaderError, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
use super::utf8::Utf8Validator;

/// Size limits of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest data frame payload.
    pub max_frame: usize,
    /// Largest message (all fragments together).
    pub max_message: usize,
}

impl Limits {
    /// Market data: clients send only small JSON control messages.
    pub const MARKET_DATA: Limits = Limits {
        max_frame: 4096,
        max_message: 4096,
    };
}

/// Which end this decoder reads for: a server reads client frames (masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    ReservedBits,
    ReservedOpcode,
    UnmaskedClientFrame,
    MaskedServerFrame,
    FragmentedControl,
    ControlTooLong,
    UnexpectedContinuation,
    ExpectedContinuation,
    BadClosePayload,
    LengthTooLarge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsError {
    Protocol(Violation),
    InvalidUtf8,
    TooBig,
}

impl WsError {
    /// The close code the connection is closed with.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::Protocol(_) => code::PROTOCOL_ERROR,
            WsError::InvalidUtf8 => code::INVALID_PAYLOAD,
            WsError::TooBig => code::TOO_BIG,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A whole text message, valid UTF-8.
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// `code` is `None` for an empty close payload. The decoder reads
    /// nothing after it.
    Close {
        code: Option<u16>,
        reason: &'a [u8],
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// Bytes of the input used; the caller drops them and calls again with
    /// the rest (plus whatever arrives) while an event comes out. Without
    /// an event it is the whole input: a frame header split between two
    /// reads waits inside the decoder, so a caller never keeps bytes.
    pub consumed: usize,
    pub event: Option<WsEvent<'a>>,
}

#[derive(Clone, Copy, Debug)]
struct Payload {
    opcode: Opcode,
    fin: bool,
    mask: Option<[u8; 4]>,
    remaining: u64,
    offset: u64,
}

pub struct Decoder {
    role: Role,
    limits: Limits,
    frame: Option<Payload>,
    /// The data message in progress (`Text` or `Binary`).
    message: Option<Opcode>,
    buf: Vec<u8>,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
    /// The first bytes of a frame header whose rest has not arrived.
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    utf8: Utf8Validator,
    clear_on_next: bool,
    closed: bool,
    failed: Option<WsError>,
}

impl Decoder {
    pub fn new(role: Role, limits: Limits) -> Decoder {
        Decoder {
            role,
            limits,
            frame: None,
            message: None,
            buf: Vec::with_capacity(limits.max_message),
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            utf8: Utf8Validator::default(),
            clear_on_next: false,
            closed: false,
            failed: None,
        }
    }

    /// Raises the size limits (never lowers them), keeping any frame or
    /// message in progress: a WebSocket order-entry connection reads its
    /// Logon with small limits and grows them once it is a session.
    /// Allocates the larger message buffer here, once.
    pub fn raise_limits(&mut self, limits: Limits) {
        assert!(
            limits.max_frame >= self.limits.max_frame
                && limits.max_message >= self.limits.max_message,
            "limits only grow"
        );
        self.limits = limits;
        self.buf
            .reserve_exact(limits.max_message.saturating_sub(self.buf.len()));
        debug_assert!(self.buf.capacity() >= limits.max_message);
    }

    fn fail(&mut self, error: WsError) -> WsError {
        self.failed = Some(error);
        error
    }

    /// Checks a header against the rules and the connection's state.
    fn start(&self, h: &FrameHeader) -> Result<Payload, WsError> {
        let violation = |v| Err(WsError::Protocol(v));
        if h.rsv != 0 {
            return violation(Violation::ReservedBits);
        }
        let Some(opcode) = Opcode::from_u8(h.opcode) else {
            return violation(Violation::ReservedOpcode);
        };
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return violation(Violation::UnmaskedClientFrame),
            (Role::Client, true) => return violation(Violation::MaskedServerFrame),
            _ => {}
        }
        if opcode.is_control() {
            if !h.fin {
                return violation(Violation::FragmentedControl);
            }
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return violation(Violation::ControlTooLong);
            }
        } else {
            match (opcode, self.message) {
                (Opcode::Continuation, None) => {
                    return violation(Violation::UnexpectedContinuation)
                }
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    return violation(Violation::ExpectedContinuation)
                }
                _ => {}
            }
            let message_len = self.buf.len() as u64 + h.payload_len;
            if h.payload_len > self.limits.max_frame as u64
                || message_len > self.limits.max_message as u64
            {
                return Err(WsError::TooBig);
            }
        }
        Ok(Payload {
            opcode,
            fin: h.fin,
            mask: h.mask,
            remaining: h.payload_len,
            offset: 0,
        })
    }

    /// Copies (and unmasks) up to the frame's remaining bytes of `input`.
    fn take(&mut self, frame: &mut Payload, input: &[u8]) -> Result<usize, WsError> {
        let n = (frame.remaining.min(input.len() as u64)) as usize;
        let chunk = if frame.opcode.is_control() {
            let at = self.control_len;
            self.control_len += n;
            &mut self.control[at..at + n]
        } else {
            let at = self.buf.len();
            self.buf.extend_from_slice(&input[..n]);
            &mut self.buf[at..]
        };
        if frame.opcode.is_control() {
            chunk.copy_from_slice(&input[..n]);
        }
        if let Some(mask) = frame.mask {
            apply_mask(chunk, mask, frame.offset);
        }
        let text = frame.opcode == Opcode::Text
            || frame.opcode == Opcode::Continuation && self.message == Some(Opcode::Text);
        if text {
            self.utf8.feed(chunk).map_err(|_| WsError::InvalidUtf8)?;
        }
        frame.remaining -= n as u64;
        frame.offset += n as u64;
        Ok(n)
    }

    /// A frame's payload is complete: the event it makes, if any.
    fn complete(&mut self, frame: Payload) -> Result<Option<Done>, WsError> {
        match frame.opcode {
            Opcode::Ping => Ok(Some(Done::Ping)),
            Opcode::Pong => Ok(Some(Done::Pong)),
            Opcode::Close => {
                let (code, _) =
                    read_close(&self.control[..self.control_len]).map_err(|e| match e {
                        ClosePayloadError::BadReason => WsError::InvalidUtf8,
                        _ => WsError::Protocol(Violation::BadClosePayload),
                    })?;
                self.closed = true;
                Ok(Some(Done::Close(code)))
            }
            data => {
                let kind = if data == Opcode::Continuation {
                    self.message.expect("checked at the header")
                } else {
                    data
                };
                if !frame.fin {
                    self.message = Some(kind);
                    return Ok(None);
                }
                self.message = None;
                self.clear_on_next = true;
                if kind == Opcode::Text {
                    self.utf8.finish().map_err(|_| WsError::InvalidUtf8)?;
                    return Ok(Some(Done::Text));
                }
                Ok(Some(Done::Binary))
            }
        }
    }

    fn event(&self, done: Done) -> WsEvent<'_> {
        let control = &self.control[..self.control_len];
        match done {
            Done::Ping => WsEvent::Ping(control),
            Done::Pong => WsEvent::Pong(control),
            Done::Close(code) => WsEvent::Close {
                code,
                reason: control.get(2..).unwrap_or(&[]),
            },
            Done::Text => WsEvent::Text(&self.buf),
            Done::Binary => WsEvent::Binary(&self.buf),
        }
    }

    /// The next frame header, from the bytes kept from the last call and
    /// then `input`; `Ok((header, bytes of input used))`. When it is still
    /// incomplete every byte of `input` is kept (a header is at most 14).
    fn next_header(&mut self, input: &[u8]) -> Result<(FrameHeader, usize), HeaderError> {
        let kept = self.head_len;
        if kept == 0 {
            let parsed = read_header(input);
            if let Err(HeaderError::Incomplete { .. }) = parsed {
                debug_assert!(input.len() < MAX_HEADER_LEN);
                self.head[..input.len()].copy_from_slice(input);
                self.head_len = input.len();
            }
            return parsed;
        }
        let take = input.len().min(MAX_HEADER_LEN - kept);
        self.head[kept..kept + take].copy_from_slice(&input[..take]);
        match read_header(&self.head[..kept + take]) {
            Ok((header, len)) => {
                // The kept bytes alone were incomplete: some of input's count.
                assert!(len > kept && len <= kept + take);
                self.head_len = 0;
                Ok((header, len - kept))
            }
            Err(error) => {
                self.head_len = kept + take;
                Err(error)
            }
        }
    }

    /// Reads from `input` until an event is complete or the input runs out.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step<'_>, WsError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.closed {
            return Ok(Step {
                consumed: input.len(),
                event: None,
            });
        }
        if self.clear_on_next {
            self.buf.clear();
            self.clear_on_next = false;
        }
        let mut consumed = 0;
        loop {
            let mut frame = match self.frame {
                Some(frame) => frame,
                None => match self.next_header(&input[consumed..]) {
                    Err(HeaderError::Incomplete { .. }) => {
                        debug_assert!(self.head_len > 0 || consumed == input.len());
                        return Ok(Step {
                            consumed: input.len(),
                            event: None,
                        });
                    }
                    Err(HeaderError::LengthTooLarge) => {
                        return Err(self.fail(WsError::Protocol(Violation::LengthTooLarge)))
                    }
                    Ok((header, len)) => {
                        let frame = self.start(&header).map_err(|e| self.fail(e))?;
                        consumed += len;
                        self.control_len = 0;
                        frame
                    }
                },
            };
            let n = self
                .take(&mut frame, &input[consumed..])
                .map_err(|e| self.fail(e))?;
            consumed += n;
            if frame.remaining > 0 {
                self.frame = Some(frame);
                return Ok(Step {
                    consumed,
                    event: None,
                });
            }
            self.frame = None;
            if let Some(done) = self.complete(frame).map_err(|e| self.fail(e))? {
                return Ok(Step {
                    consumed,
                    event: Some(self.event(done)),
                });
            }
        }
    }
}

/// What a completed frame produced (the event, before borrowing its bytes).
#[derive(Clone, Copy, Debug)]
enum Done {
    Ping,
    Pong,
    Close(Option<u16>),
    Text,
    Binary,
}
