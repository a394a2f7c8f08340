//! The shard's market-data fan-out: the feed's sink. Each stream message is
//! encoded at most once per format on this shard (binary frame, JSON text
//! frame: servers' frames are unmasked, so the bytes are the same for every
//! subscriber), and only if some client here wants its stream; the frame is
//! then copied into the queue of every client that wants it, found through
//! the stream's subscriber set (`streams.rs`), not by asking every client. A client whose
//! queue cannot take it is closed with 4001 on the spot: the message is not
//! dropped for it while it stays connected.
//!
//! Nothing here allocates: the clients' queues and the frame buffers are
//! sized when made.

use std::ops::Range;

use super::client::{ClientState, CloseReason, MdClient, SendQueue};
use super::counters::MdCounters;
use super::raw::Transport;
use super::streams::StreamSubscribers;
use crate::market_data::{FeedMessage, FeedSink};
use crate::protocol::market_data::{
    encode_feed_message, render_feed_message, BufferTooSmall, DataFormat,
};
use crate::websocket::close::code;
use crate::websocket::frame::{write_header, Opcode, MAX_HEADER_LEN};

/// Bytes kept before a payload for the longest server frame header.
const HEADER_ROOM: usize = 10;

/// A frame built in place: the payload at `HEADER_ROOM`, its header just
/// before it, so framing costs no copy of the payload.
pub struct FrameBuf {
    buf: Vec<u8>,
}

impl FrameBuf {
    pub fn with_payload_capacity(payload: usize) -> FrameBuf {
        FrameBuf {
            buf: vec![0; payload + HEADER_ROOM],
        }
    }

    /// Encodes a payload with `encode` and frames it; returns where the
    /// frame is in [`bytes`](Self::bytes).
    pub fn frame(
        &mut self,
        opcode: Opcode,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
    ) -> Result<Range<usize>, BufferTooSmall> {
        let n = encode(&mut self.buf[HEADER_ROOM..])?;
        let mut header = [0u8; MAX_HEADER_LEN];
        let header_len = write_header(true, opcode, n as u64, None, &mut header);
        assert!(header_len <= HEADER_ROOM, "a server header has no mask");
        let start = HEADER_ROOM - header_len;
        self.buf[start..HEADER_ROOM].copy_from_slice(&header[..header_len]);
        Ok(start..HEADER_ROOM + n)
    }

    /// The payload of a frame (what a raw-TCP client is sent).
    pub fn payload(&self, range: Range<usize>) -> &[u8] {
        debug_assert!(range.start <= HEADER_ROOM && range.end <= self.buf.len());
        &self.buf[HEADER_ROOM..range.end]
    }

    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        debug_assert!(range.end <= self.buf.len());
        &self.buf[range]
    }
}

/// The clients of one shard and the frames shared between them.
pub struct FanOut {
    /// Fixed slots; a client's id is its slot and generation. Filled and
    /// emptied only through [`FanOut::occupy`] and [`FanOut::vacate`].
    pub clients: Vec<Option<MdClient>>,
    /// Per stream, the slots of the clients subscribed to it; kept in step
    /// with each client's `subs` by the hub.
    pub streams: StreamSubscribers,
    pub binary: FrameBuf,
    pub json: FrameBuf,
    pub counters: MdCounters,
}

impl FanOut {
    pub fn new(slots: usize, frame_payload: usize, symbols: &[crate::engine::SymbolId]) -> FanOut {
        assert!(slots > 0, "at least one client slot");
        FanOut {
            clients: (0..slots).map(|_| None).collect(),
            streams: StreamSubscribers::new(symbols, slots),
            binary: FrameBuf::with_payload_capacity(frame_payload),
            json: FrameBuf::with_payload_capacity(frame_payload),
            counters: MdCounters::default(),
        }
    }

    /// Puts a new client in the free `slot` (subscribed to nothing yet,
    /// so in no stream's set).
    pub fn occupy(&mut self, slot: usize, client: MdClient) {
        assert!(self.clients[slot].is_none(), "slot {slot} is free");
        self.clients[slot] = Some(client);
    }

    /// Empties `slot`, and takes it out of every stream's set.
    pub fn vacate(&mut self, slot: usize) {
        assert!(slot < self.clients.len(), "slot {slot} exists");
        let client = self.clients[slot].take();
        let client = client.unwrap_or_else(|| panic!("slot {slot} held a client"));
        self.streams.unlist(slot, &client.subs);
    }

    /// Closes `client` with `code`, counted under `why`.
    pub fn close(
        counters: &mut MdCounters,
        out: &mut SendQueue,
        code: u16,
        reason: &str,
        why: CloseReason,
    ) {
        if out.state == ClientState::Open {
            counters.count_close(why);
            out.close(code, reason, why);
        }
        debug_assert_eq!(out.state, ClientState::Closing);
    }
}

/// A frame of one message, encoded on first use.
enum Lazy {
    NotYet,
    Ready(Range<usize>),
    Failed,
}

impl Lazy {
    fn get(
        &mut self,
        buf: &mut FrameBuf,
        opcode: Opcode,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
    ) -> Option<Range<usize>> {
        debug_assert!(opcode == Opcode::Binary || opcode == Opcode::Text);
        if let Lazy::NotYet = self {
            *self = match buf.frame(opcode, encode) {
                Ok(range) => Lazy::Ready(range),
                Err(e) => {
                    tracing::error!(needed = e.needed, "market data: frame buffer too small");
                    Lazy::Failed
                }
            };
        }
        match self {
            Lazy::Ready(range) => Some(range.clone()),
            _ => None,
        }
    }
}

impl FeedSink for FanOut {
    fn publish(&mut self, message: &FeedMessage<'_>) {
        let stamp = *message.stamp();
        debug_assert!(
            stamp.prev < stamp.seq,
            "a stream message follows its previous one"
        );
        let (channel, depth) = message.stream();
        let mut binary = Lazy::NotYet;
        let mut json = Lazy::NotYet;
        let FanOut {
            clients,
            streams,
            binary: binary_buf,
            json: json_buf,
            counters,
        } = self;
        debug_assert!(
            listed_as_subscribed(clients, streams, stamp.symbol, channel),
            "the stream's set holds exactly the clients subscribed to it"
        );
        for slot in streams.of(stamp.symbol, channel) {
            let Some(client) = clients[slot].as_mut() else {
                debug_assert!(false, "slot {slot} listed but empty");
                continue;
            };
            if !client.is_open() || !client.subs.wants(stamp.symbol, channel, depth) {
                continue;
            }
            let (frame, buf) = match client.format {
                DataFormat::Binary => (
                    binary.get(binary_buf, Opcode::Binary, |b| {
                        encode_feed_message(message, b)
                    }),
                    &*binary_buf,
                ),
                DataFormat::Json => (
                    json.get(json_buf, Opcode::Text, |b| render_feed_message(message, b)),
                    &*json_buf,
                ),
            };
            let Some(frame) = frame else {
                FanOut::close(
                    counters,
                    &mut client.out,
                    code::INTERNAL_ERROR,
                    "encoding failed",
                    CloseReason::Internal,
                );
                continue;
            };
            let pushed = match client.out.transport {
                Transport::WebSocket | Transport::Echo => client.out.push_framed(buf.bytes(frame)),
                Transport::RawTcp => client.out.push_frame(Opcode::Binary, buf.payload(frame)),
            };
            if pushed {
                counters.frames_queued += 1;
            } else {
                FanOut::close(
                    counters,
                    &mut client.out,
                    code::SLOW_CONSUMER,
                    "slow consumer",
                    CloseReason::SlowConsumer,
                );
            }
        }
        if !matches!(binary, Lazy::NotYet) || !matches!(json, Lazy::NotYet) {
            counters.messages_encoded += 1;
        }
    }
}

/// Debug builds: the set of (symbol, channel) is exactly the clients whose
/// subscriptions have it (what the fan-out asked every client before).
fn listed_as_subscribed(
    clients: &[Option<MdClient>],
    streams: &StreamSubscribers,
    symbol: crate::engine::SymbolId,
    channel: crate::market_data::Channel,
) -> bool {
    debug_assert!(!clients.is_empty(), "a shard has client slots");
    let mut listed = streams.of(symbol, channel).peekable();
    for (slot, client) in clients.iter().enumerate() {
        let subscribed = client
            .as_ref()
            .is_some_and(|c| c.subs.get(symbol, channel).is_some());
        let is_listed = listed.next_if_eq(&slot).is_some();
        if subscribed != is_listed {
            return false;
        }
    }
    listed.next().is_none()
}
