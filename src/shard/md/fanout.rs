//! The shard's market-data fan-out: the feed's sink. Each stream message is
//! encoded at most once per format on this shard (binary frame, JSON text
//! frame: servers' frames are unmasked, so the bytes are the same for every
//! subscriber), and only if some client here wants its stream, then put in
//! the backlog (`backlog.rs`): that is all the order path pays. The pump
//! ([`FanOut::pump`], a task of the shard, a bounded amount per loop turn)
//! copies each message into the queue of every client that wants it, found
//! through the stream's subscriber set (`streams.rs`), not by asking every
//! client. A client whose queue cannot take it is closed with 4001 on the
//! spot, and so is one the pump had not reached when the backlog had to
//! drop the message: a message is never dropped for a client that stays
//! connected. Before a client's control message is answered (and before a
//! heartbeat) it is caught up ([`catch_up`]), so its queue holds exactly
//! what it would have held had every message been copied at once.
//!
//! Nothing here allocates: the clients' queues and the frame buffers are
//! sized when made.

use std::ops::Range;

use std::rc::Rc;

use super::backlog::{record_len, Backlog, Meta, Record};
use super::client::{ClientState, CloseReason, MdClient, SendQueue};
use super::counters::MdCounters;
use super::raw::Transport;
use super::slot_set::SlotSet;
use super::streams::StreamSubscribers;
use crate::engine::SymbolId;
use crate::market_data::{Channel, FeedMessage, FeedSink};
use crate::protocol::market_data::{
    encode_feed_message, render_feed_message, BufferTooSmall, DataFormat, Subscriptions,
};
use crate::shard::notify::LocalNotify;
use crate::shard::peer_counts::PeerCounts;
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
    /// The clients that must subscribe by a deadline, and who they are.
    pub awaiting: Unsubscribed,
    /// Per peer address, every connection that holds a slot: handshaking
    /// ones (counted by the hub) and clients (their `peer`).
    pub(crate) connected: PeerCounts,
    pub binary: FrameBuf,
    pub json: FrameBuf,
    pub counters: MdCounters,
    /// Messages framed and waiting for the pump.
    pub backlog: Backlog,
    /// Woken by each append: the shard's pump task waits on it when the
    /// backlog is empty.
    pub pump_wake: Rc<LocalNotify>,
    /// Open clients per data format (binary, JSON): a message is encoded
    /// only in the formats some client of the shard takes.
    formats: [usize; 2],
}

/// The clients with no subscription yet.
pub struct Unsubscribed {
    /// Those that must subscribe by a deadline: the ticker's
    /// subscribe-timeout check visits these, not every client.
    pub slots: SlotSet,
    /// Per peer address, its connections that hold a slot without a
    /// subscription: handshaking ones (counted by the hub) and clients
    /// with none yet (their `counted_peer`).
    pub(crate) peers: PeerCounts,
}

impl Unsubscribed {
    /// The client in `slot` has its first subscription: no deadline any
    /// more, and no longer counted against its address.
    pub fn subscribed(
        &mut self,
        slot: usize,
        subscribe_by_ns: &mut u64,
        counted_peer: &mut Option<u128>,
    ) {
        debug_assert!(
            counted_peer.is_none() || *subscribe_by_ns != 0,
            "a client counts against its address only while it has a deadline"
        );
        *subscribe_by_ns = 0;
        self.slots.remove(slot);
        if let Some(peer) = counted_peer.take() {
            self.peers.remove(peer);
        }
    }
}

/// Bytes the pump copies into clients' queues per call (one per loop
/// turn), at least one message whatever its size: the order path's turns
/// stay short however many clients a message goes to.
pub const PUMP_BYTES_PER_TURN: usize = 64 * 1024;

/// What a message costs the pump's budget before any copy (its look at
/// the stream's subscribers).
const PUMP_RECORD_COST: usize = 64;

/// Bytes of the backlog of each shard (more if two of the largest
/// messages need more): past it the oldest message not yet fanned out
/// goes, and the clients that wanted it are closed with 4001.
pub const BACKLOG_BYTES: usize = 4 << 20;

impl FanOut {
    pub fn new(slots: usize, frame_payload: usize, symbols: &[crate::engine::SymbolId]) -> FanOut {
        assert!(slots > 0, "at least one client slot");
        FanOut {
            clients: (0..slots).map(|_| None).collect(),
            streams: StreamSubscribers::new(symbols, slots),
            awaiting: Unsubscribed {
                slots: SlotSet::new(slots),
                peers: PeerCounts::new(slots),
            },
            connected: PeerCounts::new(slots),
            binary: FrameBuf::with_payload_capacity(frame_payload),
            json: FrameBuf::with_payload_capacity(frame_payload),
            counters: MdCounters::default(),
            backlog: Backlog::new(BACKLOG_BYTES, frame_payload + HEADER_ROOM),
            pump_wake: Rc::new(LocalNotify::default()),
            formats: [0; 2],
        }
    }

    /// Fans backlog messages out, oldest first, to every client of their
    /// stream that has not had them (a catch-up may have run ahead), until
    /// about `budget` bytes were queued; true if messages remain.
    pub fn pump(&mut self, budget: usize) -> bool {
        assert!(budget > 0, "the pump moves");
        let FanOut {
            clients,
            streams,
            backlog,
            counters,
            ..
        } = self;
        let mut spent = 0;
        while spent < budget {
            let Some(record) = backlog.next_unpumped() else {
                break;
            };
            spent += PUMP_RECORD_COST;
            for slot in streams.of(record.meta.symbol, record.meta.channel) {
                let Some(client) = clients[slot].as_mut() else {
                    debug_assert!(false, "slot {slot} listed but empty");
                    continue;
                };
                if client.caught_up_to <= record.pos {
                    let MdClient {
                        subs, out, format, ..
                    } = client;
                    spent += deliver(counters, subs, out, *format, &record);
                }
            }
            let next = record.next;
            backlog.pumped_to(next);
        }
        backlog.has_unpumped()
    }

    /// Puts a new client in the free `slot` (subscribed to nothing yet,
    /// so in no stream's set).
    pub fn occupy(&mut self, slot: usize, mut client: MdClient) {
        assert!(self.clients[slot].is_none(), "slot {slot} is free");
        // What the backlog holds went out before this client existed.
        client.caught_up_to = self.backlog.head();
        self.formats[usize::from(client.format == DataFormat::Json)] += 1;
        if client.subscribe_by_ns != 0 {
            self.awaiting.slots.insert(slot);
        }
        self.clients[slot] = Some(client);
    }

    /// Empties `slot`, and takes it out of every stream's set.
    pub fn vacate(&mut self, slot: usize) {
        assert!(slot < self.clients.len(), "slot {slot} exists");
        let client = self.clients[slot].take();
        let client = client.unwrap_or_else(|| panic!("slot {slot} held a client"));
        self.streams.unlist(slot, &client.subs);
        self.awaiting.slots.remove(slot);
        if let Some(peer) = client.counted_peer {
            self.awaiting.peers.remove(peer);
        }
        self.connected.remove(client.peer);
        let format = usize::from(client.format == DataFormat::Json);
        assert!(self.formats[format] > 0, "the client was counted");
        self.formats[format] -= 1;
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

impl FeedSink for FanOut {
    /// A client of this shard subscribes to the stream: with none, the
    /// feed skips what only the messages need (the book checksum).
    fn wants(&self, symbol: SymbolId, channel: Channel) -> bool {
        let wanted = self.streams.any(symbol, channel);
        debug_assert_eq!(
            wanted,
            self.streams.of(symbol, channel).next().is_some(),
            "a stream's count agrees with its bitmap"
        );
        wanted
    }

    /// The order path's share of a message: encoded once per format some
    /// client of the shard takes, appended to the backlog, the pump woken.
    /// No client is visited here (only the stream's set, to see that it has
    /// one); the copies into their queues are the pump's.
    fn publish(&mut self, message: &FeedMessage<'_>) {
        let stamp = *message.stamp();
        debug_assert!(
            stamp.prev < stamp.seq,
            "a stream message follows its previous one"
        );
        let (channel, depth) = message.stream();
        if !self.streams.any(stamp.symbol, channel) {
            return;
        }
        let binary = (self.formats[0] > 0)
            .then(|| {
                encoded(&mut self.binary, Opcode::Binary, |b| {
                    encode_feed_message(message, b)
                })
            })
            .flatten();
        let json = (self.formats[1] > 0)
            .then(|| {
                encoded(&mut self.json, Opcode::Text, |b| {
                    render_feed_message(message, b)
                })
            })
            .flatten();
        let FanOut {
            clients,
            streams,
            binary: binary_buf,
            json: json_buf,
            counters,
            backlog,
            pump_wake,
            ..
        } = self;
        let binary_bytes = binary.clone().map_or(&[][..], |r| binary_buf.bytes(r));
        let json_bytes = json.map_or(&[][..], |r| json_buf.bytes(r));
        if binary_bytes.is_empty() && json_bytes.is_empty() {
            return; // logged by `encoded`; the clients are closed with 1011 below
        }
        counters.messages_encoded += 1;
        let len = record_len(binary_bytes.len(), json_bytes.len());
        while let Some(old) = backlog.oldest_in_the_way(len) {
            if !old.is_pad() && old.pos >= backlog.pumped() {
                lap(clients, streams, counters, &old);
            }
            backlog.drop_oldest();
        }
        let binary_header = binary.map_or(0, |r| HEADER_ROOM - r.start);
        let meta = Meta {
            symbol: stamp.symbol,
            channel,
            depth,
        };
        backlog.append(meta, binary_bytes, binary_header, json_bytes);
        pump_wake.notify();
    }
}

/// Frames one message in `buf`; `None` (logged) if it does not fit.
fn encoded(
    buf: &mut FrameBuf,
    opcode: Opcode,
    encode: impl FnOnce(&mut [u8]) -> Result<usize, BufferTooSmall>,
) -> Option<Range<usize>> {
    debug_assert!(opcode == Opcode::Binary || opcode == Opcode::Text);
    match buf.frame(opcode, encode) {
        Ok(range) => Some(range),
        Err(e) => {
            tracing::error!(needed = e.needed, "market data: frame buffer too small");
            None
        }
    }
}

/// The backlog is about to drop `record` before the pump reached it: every
/// client that wants it and has not had it is closed with 4001 (its
/// stream would have a hole otherwise).
fn lap(
    clients: &mut [Option<MdClient>],
    streams: &StreamSubscribers,
    counters: &mut MdCounters,
    record: &Record<'_>,
) {
    debug_assert!(!record.is_pad(), "a pad has no subscribers");
    let Meta {
        symbol,
        channel,
        depth,
    } = record.meta;
    for slot in streams.of(symbol, channel) {
        let Some(client) = clients[slot].as_mut() else {
            continue;
        };
        if client.caught_up_to > record.pos
            || !client.is_open()
            || !client.subs.wants(symbol, channel, depth)
        {
            continue;
        }
        counters.fanout_lapped += 1;
        let why = CloseReason::SlowConsumer;
        FanOut::close(
            counters,
            &mut client.out,
            code::SLOW_CONSUMER,
            "slow consumer",
            why,
        );
    }
}

/// Copies `record` into one client's queue if its subscriptions want it;
/// the bytes queued. A queue past its budget closes the client (4001).
pub fn deliver(
    counters: &mut MdCounters,
    subs: &Subscriptions,
    out: &mut SendQueue,
    format: DataFormat,
    record: &Record<'_>,
) -> usize {
    debug_assert!(!record.is_pad(), "only messages are delivered");
    let Meta {
        symbol,
        channel,
        depth,
    } = record.meta;
    if out.state != ClientState::Open || !subs.wants(symbol, channel, depth) {
        return 0;
    }
    let frame = match (format, out.transport) {
        (DataFormat::Json, _) => record.json,
        (DataFormat::Binary, Transport::RawTcp) if !record.binary.is_empty() => {
            &record.binary[record.binary_header..]
        }
        (DataFormat::Binary, _) => record.binary,
    };
    if frame.is_empty() {
        let why = CloseReason::Internal;
        FanOut::close(counters, out, code::INTERNAL_ERROR, "encoding failed", why);
        return 0;
    }
    let pushed = match out.transport {
        Transport::WebSocket | Transport::Echo => out.push_framed(frame),
        Transport::RawTcp => out.push_frame(Opcode::Binary, frame),
    };
    if !pushed {
        let why = CloseReason::SlowConsumer;
        FanOut::close(counters, out, code::SLOW_CONSUMER, "slow consumer", why);
        return 0;
    }
    counters.frames_queued += 1;
    frame.len()
}

/// Copies into one client's queue every backlog record it wants and has
/// not had (from the pump's position, or from where its last catch-up
/// ended), so what is queued next for it (the answer to a control
/// message) comes after them, as if the pump had kept up.
pub fn catch_up(
    backlog: &Backlog,
    counters: &mut MdCounters,
    caught_up_to: &mut u64,
    subs: &Subscriptions,
    out: &mut SendQueue,
    format: DataFormat,
) {
    debug_assert!(
        *caught_up_to <= backlog.head(),
        "no client is ahead of the head"
    );
    let mut pos = backlog.pumped().max(*caught_up_to);
    while let Some(record) = backlog.record_from(pos) {
        deliver(counters, subs, out, format, &record);
        pos = record.next;
    }
    *caught_up_to = backlog.head();
}
