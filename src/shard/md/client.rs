//! One market-data WebSocket connection as its shard sees it: the frame
//! decoder, its subscriptions, and its send queue with a fixed byte budget.
//!
//! The queue is a buffer allocated once, at the handshake, to the budget
//! plus room for a close frame, and never grown: a frame that would take the
//! queued bytes past the budget is not queued, the client is closed with
//! 4001 (slow consumer) instead. So a client is either sent every message of
//! its streams or closed; never thinned, and never the cause of more memory.
//! The writer takes the whole queue at once (one send for everything that
//! accumulated since its last one) by swapping it with a spare of the same
//! capacity.

use std::rc::Rc;

use super::raw::{close_line, LineBuf, Transport};
use crate::protocol::market_data::{DataFormat, Subscriptions};
use crate::shard::notify::LocalNotify;
use crate::shard::rate_limit::TokenBucket;
use crate::websocket::encode::write_server_close;
use crate::websocket::frame::{write_header, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::websocket::{Decoder, Limits, Role};

/// Room kept past the budget for the close frame that ends a connection
/// (2 header bytes, a code and a reason of at most 123 bytes).
pub const CLOSE_RESERVE: usize = 2 + MAX_CONTROL_PAYLOAD;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Subscribing and receiving.
    Open,
    /// A close frame is queued: nothing more is queued, the writer sends
    /// what is left and closes the socket.
    Closing,
}

/// What the writer should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// The queue was swapped into the spare: send it.
    Data,
    /// Nothing to send: wait for the client's notify.
    Idle,
    /// Closing and everything is sent: close the socket.
    Done,
}

/// Why a connection was closed by the gateway (counted per reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed first; the gateway answered.
    ClientClosed,
    /// A frame or message broke RFC 6455 or a size limit.
    Protocol,
    /// Past its send budget (4001).
    SlowConsumer,
    /// No subscription within the subscribe timeout (1008).
    SubscribeTimeout,
    /// Control messages faster than the rate limit (1008).
    RateLimit,
    /// Graceful shutdown (1001).
    Shutdown,
    /// The gateway could not encode a message (1011; never expected).
    Internal,
    /// The shard's replica of a subscribed symbol fell behind its owner
    /// and was resynced (4002).
    Resync,
}

/// A connection's send queue: bytes for the writer, bounded by the budget.
pub struct SendQueue {
    pub state: ClientState,
    pub closed_for: Option<CloseReason>,
    /// Wakes the connection's writer.
    pub writer: Rc<LocalNotify>,
    pub transport: Transport,
    queue: Vec<u8>,
    budget: usize,
}

pub struct MdClient {
    pub generation: u32,
    pub format: DataFormat,
    pub decoder: Decoder,
    /// Control lines of a raw-TCP client.
    pub lines: LineBuf,
    pub subs: Subscriptions,
    pub out: SendQueue,
    /// Monotonic time by which a first subscription must exist (0: one did).
    pub subscribe_by_ns: u64,
    /// The peer address this client counts against in the shard's table
    /// of unsubscribed connections (`fanout::Unsubscribed`), until
    /// its first subscription or until its slot is emptied.
    pub counted_peer: Option<u128>,
    /// The peer address this client counts against in the shard's table
    /// of all its connections (`FanOut::connected`), until its slot is
    /// emptied.
    pub peer: u128,
    pub rate: TokenBucket,
    /// Set by the reader when it stops (the writer may then finish).
    pub reader_done: bool,
    /// Backlog position up to which this client has had every message it
    /// wants (`fanout::catch_up` may run it ahead of the pump, which then
    /// skips it for those).
    pub caught_up_to: u64,
}

impl MdClient {
    pub fn new(
        generation: u32,
        format: DataFormat,
        budget: usize,
        subscribe_by_ns: u64,
        rate: TokenBucket,
        transport: Transport,
    ) -> MdClient {
        debug_assert!(transport != Transport::RawTcp || format == DataFormat::Binary);
        // An echo client's budget is `echo_max_message_bytes` and one
        // frame header: that is its largest message and frame too.
        let limits = match transport {
            Transport::Echo => Limits {
                max_frame: budget - MAX_HEADER_LEN,
                max_message: budget - MAX_HEADER_LEN,
            },
            _ => Limits::MARKET_DATA,
        };
        MdClient {
            generation,
            format,
            decoder: Decoder::new(Role::Server, limits),
            lines: LineBuf::default(),
            subs: Subscriptions::default(),
            out: SendQueue::new(budget, transport),
            subscribe_by_ns,
            counted_peer: None,
            peer: 0,
            rate,
            reader_done: false,
            caught_up_to: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.out.state == ClientState::Open
    }
}

impl SendQueue {
    pub fn new(budget: usize, transport: Transport) -> SendQueue {
        assert!(budget > 0, "a client can be sent something");
        SendQueue {
            state: ClientState::Open,
            closed_for: None,
            writer: Rc::new(LocalNotify::default()),
            transport,
            queue: Vec::with_capacity(budget + CLOSE_RESERVE),
            budget,
        }
    }

    /// The capacity the writer's spare buffer must have.
    pub fn capacity(&self) -> usize {
        self.budget + CLOSE_RESERVE
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues bytes already framed (the fan-out's shared frames, the
    /// handshake answer). `false`: they would pass the budget, nothing was
    /// queued, and the caller must close the client as a slow consumer.
    pub fn push_framed(&mut self, bytes: &[u8]) -> bool {
        debug_assert_eq!(
            self.state,
            ClientState::Open,
            "nothing is queued after a close"
        );
        if self.queue.len() + bytes.len() > self.budget {
            return false;
        }
        self.queue.extend_from_slice(bytes);
        self.writer.notify();
        debug_assert!(self.queue.len() <= self.budget);
        true
    }

    /// Frames `payload` as one final, unmasked frame and queues it (same
    /// budget rule as [`push_framed`](Self::push_framed)).
    pub fn push_frame(&mut self, opcode: Opcode, payload: &[u8]) -> bool {
        debug_assert_eq!(
            self.state,
            ClientState::Open,
            "nothing is queued after a close"
        );
        let mut header = [0u8; MAX_HEADER_LEN];
        // Raw TCP: binary as it is, text as a line.
        let (header, trailer): (&[u8], &[u8]) = match (self.transport, opcode) {
            (Transport::WebSocket | Transport::Echo, _) => {
                let n = write_header(true, opcode, payload.len() as u64, None, &mut header);
                (&header[..n], b"")
            }
            (Transport::RawTcp, Opcode::Text) => (b"", b"\n"),
            (Transport::RawTcp, _) => (b"", b""),
        };
        if self.queue.len() + header.len() + payload.len() + trailer.len() > self.budget {
            return false;
        }
        self.queue.extend_from_slice(header);
        self.queue.extend_from_slice(payload);
        self.queue.extend_from_slice(trailer);
        self.writer.notify();
        true
    }

    /// Queues a close frame (in the reserve past the budget, so it always
    /// fits) and stops queueing anything else. A second close does nothing.
    pub fn close(&mut self, code: u16, reason: &str, why: CloseReason) {
        if self.state == ClientState::Closing {
            return;
        }
        self.state = ClientState::Closing;
        self.closed_for = Some(why);
        let at = self.queue.len();
        debug_assert!(at <= self.budget, "the reserve is untouched while open");
        self.queue.resize(at + CLOSE_RESERVE, 0);
        let n = match self.transport {
            Transport::WebSocket | Transport::Echo => {
                write_server_close(code, reason, &mut self.queue[at..])
                    .expect("a close frame fits its reserve")
            }
            Transport::RawTcp => close_line(code, reason, &mut self.queue[at..]),
        };
        self.queue.truncate(at + n);
        assert!(self.queue.len() <= self.capacity(), "the queue never grows");
        self.writer.notify();
    }

    /// Hands the writer everything queued (swapped into `spare`, which must
    /// be empty and as large as the queue).
    pub fn take(&mut self, spare: &mut Vec<u8>) -> Take {
        debug_assert!(spare.is_empty(), "the writer sent its last batch");
        if !self.queue.is_empty() {
            std::mem::swap(&mut self.queue, spare);
            debug_assert!(self.queue.capacity() >= self.capacity());
            return Take::Data;
        }
        match self.state {
            ClientState::Open => Take::Idle,
            ClientState::Closing => Take::Done,
        }
    }
}
