//! One shard's market data: its replica of the whole gateway's feed (every
//! symbol, fed by the owner shards' public events), its WebSocket clients
//! and the fan-out between them. The runtime's tasks call it with bytes
//! and time; it does no I/O.
//!
//! Every shard applies the same events in the same order per symbol (the
//! owner's engine order, one SPSC ring from the owner), so sequences,
//! snapshots and checksums are the same whichever shard a client lands on,
//! and a snapshot is cut locally between two events: the increments that
//! follow it in the client's queue start exactly after it.

use std::net::IpAddr;

use super::client::{ClientState, CloseReason, MdClient, SendQueue, Take};
use super::counters::MdCounters;
use super::fanout::{catch_up, FanOut};
use super::heartbeat_sweep::HeartbeatSweep;
use super::raw::Transport;
use crate::config::Config;
use crate::engine::{Event, SymbolId};
use crate::market_data::{Feed, FeedEpoch};
use crate::protocol::market_data::{
    encode_heartbeat, parse_control, render_heartbeat, Answer, ControlError, DataFormat, ErrorCode,
    HeartbeatInfo, Outgoing, Subscriptions, SymbolDirectory,
};
use crate::shard::peer_counts::peer_key;
use crate::shard::rate_limit::{LogThrottle, TokenBucket};
use crate::websocket::close::code;
use crate::websocket::frame::{Opcode, MAX_HEADER_LEN};
use crate::websocket::WsEvent;

/// How often every stream of every client gets a heartbeat (each client at
/// its own phase of it: `heartbeat_sweep.rs`).
pub const HEARTBEAT_INTERVAL_NS: u64 = 1_000_000_000;

/// Names one client: its slot and the generation of the slot's occupant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientId {
    pub slot: u32,
    pub generation: u32,
}

/// A connection between accept and the end of its handshake: it holds a
/// client slot and counts against its peer's address. Given back by
/// [`MdHub::end_handshake`], [`MdHub::abandon_handshake`] or
/// [`MdHub::hand_off_handshake`].
#[derive(Debug)]
#[must_use = "a handshake not ended keeps its slot taken"]
pub struct Handshake {
    peer: u128,
}

/// Why a connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRoom {
    /// Every client slot of the shard is held (HTTP 503).
    Shard,
    /// Its address holds `market_data.max_unsubscribed_per_ip` connections
    /// with no subscription on the shard (HTTP 429).
    Peer,
    /// Its address holds `market_data.max_clients_per_ip` connections on
    /// the shard, subscribed or not (HTTP 429).
    PeerTotal,
}

/// What a reader learns from handing bytes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Input {
    /// Keep reading (false once the connection is closing).
    pub keep_reading: bool,
}

/// Symbol names to ids, for `subscribe` by name.
pub struct SymbolNames(Vec<(String, u32)>);

impl SymbolDirectory for SymbolNames {
    fn by_name(&self, name: &[u8]) -> Option<u32> {
        self.0
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, id)| *id)
    }

    fn name_of(&self, id: u32) -> Option<&str> {
        debug_assert!(id != 0, "0 is never a symbol id");
        self.0.iter().find(|(_, i)| *i == id).map(|(n, _)| &**n)
    }
}

pub struct MdHub {
    feed: Feed,
    pub(super) fan: FanOut,
    names: SymbolNames,
    /// Each symbol and its owner shard (end of day is per owner).
    owners: Vec<(SymbolId, u16)>,
    /// Answers, snapshots, heartbeats: written here, then framed into the
    /// client's queue.
    scratch: Vec<u8>,
    budget: usize,
    /// `market_data.echo_max_message_bytes`: an echo client's budget and
    /// largest message.
    echo_budget: usize,
    subscribe_timeout_ns: u64,
    control_rate: (u32, u32),
    /// Connections between accept and the end of their handshake.
    handshaking: usize,
    /// `market_data.max_unsubscribed_per_ip`.
    per_peer: u32,
    /// `market_data.max_clients_per_ip`.
    per_peer_total: u32,
    /// At most one log line a second for refusals by address.
    peer_limit_log: LogThrottle,
    next_generation: u32,
    /// Which client slots get their heartbeats at a tick.
    sweep: HeartbeatSweep,
    /// The tick time of heartbeats that wait for the pump to empty the
    /// backlog: a heartbeat's `stream_last` is the feed's, so it must not
    /// overtake an increment still in the backlog.
    heartbeat_due_ns: Option<u64>,
    /// `market_data.allowed_origins`, kept for every handshake of the
    /// shard's life (made once per start).
    pub origins: &'static [&'static str],
}

/// Bytes of the largest answer a client can be sent at once: a JSON
/// snapshot of the whole book (both sides full) and its frame header.
pub fn largest_answer_bytes(levels_per_side: u32) -> usize {
    // A JSON level: {"price":"<i64>","qty":"<u64>","orders":<u32>}, plus a comma.
    const JSON_LEVEL: usize = 96;
    debug_assert!(levels_per_side > 0, "a book has levels");
    2 * levels_per_side as usize * JSON_LEVEL + 1024
}

impl MdHub {
    pub fn new(config: &Config, epoch: FeedEpoch) -> MdHub {
        let ids: Vec<SymbolId> = config.symbols.iter().map(|s| s.id).collect();
        let levels = config.engine.max_levels_per_side;
        let md = &config.market_data;
        let origins: Vec<&'static str> = md
            .allowed_origins
            .iter()
            .map(|o| &*Box::leak(o.clone().into_boxed_str()))
            .collect();
        let payload = largest_answer_bytes(levels);
        assert!(
            md.send_budget_bytes >= payload,
            "validated: a snapshot fits the budget"
        );
        MdHub {
            feed: Feed::new(epoch, &ids, levels),
            fan: FanOut::new(md.max_clients_per_shard, payload, &ids),
            names: SymbolNames(
                config
                    .symbols
                    .iter()
                    .map(|s| (s.name.clone(), s.id))
                    .collect(),
            ),
            owners: config
                .symbols
                .iter()
                .map(|s| (s.id, config.owner_shard(s) as u16))
                .collect(),
            scratch: vec![0; payload],
            budget: md.send_budget_bytes,
            echo_budget: md.echo_max_message_bytes,
            subscribe_timeout_ns: md.subscribe_timeout_ms * 1_000_000,
            control_rate: (md.control_rate_per_sec, md.control_burst),
            handshaking: 0,
            per_peer: u32::try_from(md.max_unsubscribed_per_ip).expect("validated: at most 65535"),
            per_peer_total: u32::try_from(md.max_clients_per_ip).expect("validated: at most 65535"),
            peer_limit_log: LogThrottle::new(1_000_000_000),
            next_generation: 1,
            sweep: HeartbeatSweep::new(md.max_clients_per_shard, HEARTBEAT_INTERVAL_NS),
            heartbeat_due_ns: None,
            origins: Box::leak(origins.into_boxed_slice()),
        }
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    pub fn feed_mut(&mut self) -> &mut Feed {
        &mut self.feed
    }

    pub fn counters(&self) -> &super::MdCounters {
        &self.fan.counters
    }

    /// Client slots held: connected clients and connections in their
    /// handshake (what `begin_handshake` counts against the limit).
    pub fn slots_held(&self) -> u64 {
        let held = self.fan.counters.clients() + self.handshaking as u64;
        debug_assert!(
            held as usize <= self.fan.clients.len(),
            "slots are never overbooked"
        );
        held
    }

    /// A public engine event (here or from its owner shard over the mesh).
    pub fn on_public(&mut self, event: &Event, ts_ns: u64) {
        if let Err(error) = self.feed.apply(event, ts_ns, &mut self.fan) {
            // The feed is built from the config every engine is built from.
            debug_assert!(false, "market data: {error:?}");
            tracing::error!(?error, "market data: event not applied");
        }
    }

    /// This replica's copy of `state.symbol()` fell behind its owner and
    /// `state` is the owner's (`resync.rs`): it takes its place (`state`
    /// gets the old one, to go back to the owner), and every client
    /// subscribed to the symbol here is closed with 4002, since its
    /// streams skip what this replica never got; it resubscribes for a
    /// fresh snapshot.
    pub fn resync(&mut self, state: &mut crate::market_data::symbol_feed::SymbolFeed) {
        let symbol = state.symbol();
        let swapped = self.feed.swap_symbol(state);
        assert!(swapped, "every configured symbol is in the feed");
        let FanOut {
            clients,
            streams,
            counters,
            ..
        } = &mut self.fan;
        for channel in crate::market_data::Channel::ALL {
            for slot in streams.of(symbol, channel) {
                let Some(client) = clients[slot].as_mut() else {
                    continue;
                };
                let why = CloseReason::Resync;
                FanOut::close(counters, &mut client.out, code::FEED_RESYNC, "resync", why);
            }
        }
        counters.replica_resyncs += 1;
    }

    /// Shard `owner`'s engine ran `EndOfDay` at `ts_ns`.
    pub fn end_of_day_of(&mut self, owner: u16, ts_ns: u64) {
        for &(symbol, _) in self.owners.iter().filter(|(_, o)| *o == owner) {
            let applied = self.feed.end_of_day_symbol(symbol, ts_ns, &mut self.fan);
            debug_assert!(applied.is_ok(), "every configured symbol is in the feed");
        }
    }

    /// A connection from `peer` was accepted: may it start a handshake?
    /// It holds a client slot from now on, and counts against its address
    /// until its first subscription.
    pub fn begin_handshake(&mut self, peer: IpAddr, now_ns: u64) -> Result<Handshake, NoRoom> {
        let used = self.fan.counters.clients() as usize + self.handshaking;
        debug_assert!(used <= self.fan.clients.len(), "slots are never overbooked");
        if used >= self.fan.clients.len() {
            self.fan.counters.handshakes_refused += 1;
            return Err(NoRoom::Shard);
        }
        let key = peer_key(peer);
        let refusal = if !self.fan.connected.try_add(key, self.per_peer_total) {
            Some((NoRoom::PeerTotal, self.per_peer_total))
        } else if !self.fan.awaiting.peers.try_add(key, self.per_peer) {
            self.fan.connected.remove(key);
            Some((NoRoom::Peer, self.per_peer))
        } else {
            None
        };
        if let Some((why, limit)) = refusal {
            let counters = &mut self.fan.counters;
            counters.peer_limit_refused += 1;
            if let Some(suppressed) = self.peer_limit_log.event(now_ns) {
                let total = counters.peer_limit_refused;
                let held = match why {
                    NoRoom::PeerTotal => "connections",
                    _ => "connections with no subscription",
                };
                tracing::warn!(
                    %peer, limit, suppressed, total,
                    "market data: connection refused: its address holds its maximum of {held}"
                );
            }
            return Err(why);
        }
        self.handshaking += 1;
        Ok(Handshake { peer: key })
    }

    /// The handshake ended (`format` if it was accepted): the client's id.
    pub fn end_handshake(
        &mut self,
        handshake: Handshake,
        format: Option<DataFormat>,
        transport: Transport,
        now_ns: u64,
    ) -> Option<ClientId> {
        assert!(self.handshaking > 0, "a handshake was begun");
        self.handshaking -= 1;
        let slot = self.fan.clients.iter().position(Option::is_none);
        let (Some(format), Some(slot)) = (format, slot) else {
            self.fan.awaiting.peers.remove(handshake.peer);
            self.fan.connected.remove(handshake.peer);
            self.fan.counters.handshakes_refused += u64::from(format.is_none());
            debug_assert!(format.is_none(), "a handshaking connection holds a slot");
            return None;
        };
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let (per_sec, burst) = self.control_rate;
        // An echo client subscribes to nothing: no timeout, its own budget
        // (frames are the echo's, so the room for a frame header too), and
        // it no longer counts against its address.
        let (budget, subscribe_by_ns) = match transport {
            Transport::Echo => (self.echo_budget + MAX_HEADER_LEN, 0),
            _ => (self.budget, now_ns + self.subscribe_timeout_ns),
        };
        let mut client = MdClient::new(
            generation,
            format,
            budget,
            subscribe_by_ns,
            TokenBucket::new(per_sec, burst, now_ns),
            transport,
        );
        if subscribe_by_ns == 0 {
            self.fan.awaiting.peers.remove(handshake.peer);
        } else {
            client.counted_peer = Some(handshake.peer);
        }
        client.peer = handshake.peer;
        self.fan.occupy(slot, client);
        self.fan.counters.clients_opened += 1;
        Some(ClientId {
            slot: slot as u32,
            generation,
        })
    }

    /// The connection went (closed, reset, or timed out) before its
    /// upgrade request was complete: counted as abandoned, not refused.
    pub fn abandon_handshake(&mut self, handshake: Handshake) {
        assert!(self.handshaking > 0, "a handshake was begun");
        self.handshaking -= 1;
        self.fan.awaiting.peers.remove(handshake.peer);
        self.fan.connected.remove(handshake.peer);
        self.fan.counters.handshakes_abandoned += 1;
    }

    /// The handshake ended on the order-entry path: the connection leaves
    /// market data (it becomes an order-entry connection, bounded by the
    /// session admission instead) and frees its handshake slot, counted
    /// neither as a client nor as a refusal.
    pub fn hand_off_handshake(&mut self, handshake: Handshake) {
        assert!(self.handshaking > 0, "a handshake was begun");
        self.handshaking -= 1;
        self.fan.awaiting.peers.remove(handshake.peer);
        self.fan.connected.remove(handshake.peer);
    }

    /// Whether the client is closing (or gone).
    pub fn is_closing(&self, id: ClientId) -> bool {
        self.fan
            .clients
            .get(id.slot as usize)
            .and_then(Option::as_ref)
            .filter(|c| c.generation == id.generation)
            .is_none_or(|c| !c.is_open())
    }

    pub fn client_mut(&mut self, id: ClientId) -> Option<&mut MdClient> {
        self.fan
            .clients
            .get_mut(id.slot as usize)?
            .as_mut()
            .filter(|c| c.generation == id.generation)
    }

    /// The writer's wake-up and the capacity of its spare buffer.
    pub fn writer(
        &mut self,
        id: ClientId,
    ) -> Option<(std::rc::Rc<crate::shard::notify::LocalNotify>, usize)> {
        let client = self.client_mut(id)?;
        debug_assert!(client.out.capacity() > 0);
        Some((
            std::rc::Rc::clone(&client.out.writer),
            client.out.capacity(),
        ))
    }

    /// Queues bytes already framed (the handshake's answer).
    pub fn push_framed(&mut self, id: ClientId, bytes: &[u8]) -> bool {
        debug_assert!(!bytes.is_empty(), "an answer has bytes");
        self.client_mut(id)
            .is_some_and(|c| c.out.push_framed(bytes))
    }

    /// The reader stopped (the peer closed, or the connection is closing).
    pub fn reader_done(&mut self, id: ClientId) {
        let counters = &mut self.fan.counters;
        let Some(client) = self.fan.clients[id.slot as usize]
            .as_mut()
            .filter(|c| c.generation == id.generation)
        else {
            return;
        };
        client.reader_done = true;
        debug_assert!(client.generation == id.generation);
        FanOut::close(
            counters,
            &mut client.out,
            code::NORMAL,
            "",
            CloseReason::ClientClosed,
        );
    }

    /// The writer is done: the slot is free.
    pub fn remove(&mut self, id: ClientId) {
        if let Some(client) = self.client_mut(id) {
            debug_assert!(!client.is_open(), "a client is removed only once closing");
            self.fan.vacate(id.slot as usize);
            self.fan.counters.clients_closed += 1;
        }
    }

    pub fn take(&mut self, id: ClientId, spare: &mut Vec<u8>) -> Take {
        debug_assert!(spare.is_empty(), "the last batch was sent");
        match self.client_mut(id) {
            Some(client) => {
                debug_assert!(
                    spare.capacity() >= client.out.capacity(),
                    "the spare fits the queue"
                );
                client.out.take(spare)
            }
            None => Take::Done,
        }
    }

    /// Graceful shutdown: every client is closed with 1001.
    pub fn shut_down(&mut self) {
        let counters = &mut self.fan.counters;
        for client in self.fan.clients.iter_mut().flatten() {
            FanOut::close(
                counters,
                &mut client.out,
                code::GOING_AWAY,
                "shutdown",
                CloseReason::Shutdown,
            );
        }
        debug_assert!(self.fan.clients.iter().flatten().all(|c| !c.is_open()));
    }

    /// Conflation ticks, heartbeats and subscribe timeouts (the shard's
    /// ticker, every few milliseconds). Only the clients with a timer due
    /// are visited: those still without a subscription, and the few whose
    /// heartbeat phase came (`heartbeat_sweep.rs`).
    pub fn tick(&mut self, now_ns: u64, wall_ns: u64) {
        self.feed.tick(now_ns, &mut self.fan);
        self.close_unsubscribed(now_ns);
        if self.fan.backlog.has_unpumped() {
            self.heartbeat_due_ns = Some(now_ns);
        } else {
            self.heartbeat_due_ns = None;
            self.heartbeats(now_ns, wall_ns);
        }
        debug_assert!(self.heartbeat_due_ns.is_none_or(|due| due == now_ns));
    }

    /// Closes with 1008 the clients whose subscribe deadline passed with no
    /// subscription (the set holds only clients that have a deadline).
    fn close_unsubscribed(&mut self, now_ns: u64) {
        let FanOut {
            clients,
            awaiting,
            counters,
            ..
        } = &mut self.fan;
        awaiting.slots.retain(|slot| {
            let Some(client) = clients[slot].as_mut().filter(|c| c.is_open()) else {
                return false;
            };
            debug_assert!(client.subscribe_by_ns != 0, "only clients with a deadline");
            if now_ns < client.subscribe_by_ns {
                return true;
            }
            let why = CloseReason::SubscribeTimeout;
            FanOut::close(
                counters,
                &mut client.out,
                code::POLICY,
                "no subscription",
                why,
            );
            false
        });
    }

    /// The pump's turn (`fanout.rs`): backlog messages into their
    /// clients' queues, about `budget` bytes; then, once the backlog is
    /// empty, the heartbeats that were waiting for it. True if messages
    /// remain (the caller comes back next turn).
    pub fn pump(&mut self, budget: usize, wall_ns: u64) -> bool {
        let more = self.fan.pump(budget);
        if !more {
            if let Some(due_ns) = self.heartbeat_due_ns.take() {
                self.heartbeats(due_ns, wall_ns);
            }
        }
        debug_assert_eq!(more, self.fan.backlog.has_unpumped());
        more
    }

    /// Whether the backlog holds messages the pump has not copied yet (the
    /// writers keep to the small send share meanwhile: `turn_share.rs`).
    pub fn pump_pending(&self) -> bool {
        let backlog = &self.fan.backlog;
        debug_assert!(
            backlog.pumped() <= backlog.head(),
            "the pump trails the head"
        );
        backlog.has_unpumped()
    }

    /// What wakes the pump when a message enters the backlog.
    pub fn pump_waker(&self) -> std::rc::Rc<crate::shard::notify::LocalNotify> {
        debug_assert!(std::rc::Rc::strong_count(&self.fan.pump_wake) >= 1);
        std::rc::Rc::clone(&self.fan.pump_wake)
    }

    /// One heartbeat per stream of each open client whose phase came by
    /// `now_ns` (a bounded number a call: `heartbeat_sweep.rs`).
    fn heartbeats(&mut self, now_ns: u64, wall_ns: u64) {
        debug_assert!(wall_ns > 0, "heartbeats carry the send time");
        let MdHub {
            feed,
            fan,
            scratch,
            sweep,
            ..
        } = self;
        let FanOut {
            clients, counters, ..
        } = fan;
        sweep.visit_due(now_ns, |slot| {
            if let Some(client) = clients[slot].as_mut() {
                beat(feed, scratch, counters, client, wall_ns);
            }
        });
    }

    /// Bytes a client sent: frames decoded, control messages answered
    /// (subscribe: `subscribed`, then the snapshot, in the client's queue
    /// ahead of every increment that follows).
    pub fn on_input(&mut self, id: ClientId, input: &[u8], now_ns: u64) -> Input {
        debug_assert!((id.slot as usize) < self.fan.clients.len());
        match self.client_mut(id).map(|c| c.out.transport) {
            Some(Transport::WebSocket) => self.on_frames(id, input, now_ns),
            Some(Transport::RawTcp) => self.on_lines(id, input, now_ns),
            Some(Transport::Echo) => self.on_echo(id, input),
            None => Input {
                keep_reading: false,
            },
        }
    }

    /// A raw-TCP client's bytes: one control message per line.
    fn on_lines(&mut self, id: ClientId, mut input: &[u8], now_ns: u64) -> Input {
        let MdHub {
            feed,
            fan,
            names,
            scratch,
            ..
        } = self;
        let counters = &mut fan.counters;
        let client = fan.clients[id.slot as usize]
            .as_mut()
            .expect("looked up by on_input");
        let MdClient {
            lines,
            subs,
            out,
            rate,
            format,
            subscribe_by_ns,
            counted_peer,
            caught_up_to,
            ..
        } = client;
        while out.state == ClientState::Open && !input.is_empty() {
            let Ok((taken, complete)) = lines.feed(input) else {
                let why = CloseReason::Protocol;
                FanOut::close(counters, out, code::TOO_BIG, "line too long", why);
                break;
            };
            debug_assert!(taken > 0, "every call takes a byte");
            input = &input[taken..];
            if !complete {
                continue;
            }
            if !rate.try_take(now_ns) {
                let why = CloseReason::RateLimit;
                FanOut::close(
                    counters,
                    out,
                    code::POLICY,
                    "control messages too fast",
                    why,
                );
                break;
            }
            // The WebSocket decoder checks UTF-8; here it is the line's turn.
            let text = std::str::from_utf8(lines.line()).map_or(&b"\xff"[..], str::as_bytes);
            let slot = id.slot as usize;
            catch_up(&fan.backlog, counters, caught_up_to, subs, out, *format);
            fan.streams.unlist(slot, subs);
            answer(
                feed,
                names,
                scratch,
                counters,
                subs,
                out,
                *format,
                Some(text),
            );
            fan.streams.list(slot, subs);
            lines.clear();
            if !subs.is_empty() {
                fan.awaiting.subscribed(slot, subscribe_by_ns, counted_peer);
            }
        }
        Input {
            keep_reading: out.state == ClientState::Open,
        }
    }

    /// An echo client's bytes: every text or binary message sent back
    /// (same opcode, one frame), pings answered, the close handshake; no
    /// rate limit. A message that does not fit the queue closes it (4001).
    fn on_echo(&mut self, id: ClientId, mut input: &[u8]) -> Input {
        let counters = &mut self.fan.counters;
        let Some(client) = self.fan.clients[id.slot as usize]
            .as_mut()
            .filter(|c| c.generation == id.generation)
        else {
            return Input {
                keep_reading: false,
            };
        };
        debug_assert!(
            client.subs.is_empty(),
            "an echo client subscribes to nothing"
        );
        let MdClient { decoder, out, .. } = client;
        while out.state == ClientState::Open {
            let step = match decoder.decode(input) {
                Ok(step) => step,
                Err(error) => {
                    let why = CloseReason::Protocol;
                    FanOut::close(counters, out, error.close_code(), "protocol error", why);
                    break;
                }
            };
            input = &input[step.consumed..];
            let Some(event) = step.event else {
                return Input { keep_reading: true };
            };
            let echoed = match event {
                WsEvent::Text(text) => out.push_frame(Opcode::Text, text),
                WsEvent::Binary(bytes) => out.push_frame(Opcode::Binary, bytes),
                control => {
                    control_frame(counters, out, control);
                    true
                }
            };
            if !echoed {
                let why = CloseReason::SlowConsumer;
                FanOut::close(counters, out, code::SLOW_CONSUMER, "slow consumer", why);
            }
        }
        Input {
            keep_reading: false,
        }
    }

    /// A WebSocket client's bytes: frames, control messages in text ones.
    fn on_frames(&mut self, id: ClientId, mut input: &[u8], now_ns: u64) -> Input {
        let MdHub {
            feed,
            fan,
            names,
            scratch,
            ..
        } = self;
        let (counters, slot) = (&mut fan.counters, id.slot as usize);
        let Some(client) = fan.clients[slot]
            .as_mut()
            .filter(|c| c.generation == id.generation)
        else {
            return Input {
                keep_reading: false,
            };
        };
        let MdClient {
            decoder,
            subs,
            out,
            rate,
            format,
            subscribe_by_ns,
            counted_peer,
            caught_up_to,
            ..
        } = client;
        while out.state == ClientState::Open {
            let step = match decoder.decode(input) {
                Ok(step) => step,
                Err(error) => {
                    FanOut::close(
                        counters,
                        out,
                        error.close_code(),
                        "protocol error",
                        CloseReason::Protocol,
                    );
                    break;
                }
            };
            input = &input[step.consumed..];
            let Some(event) = step.event else {
                debug_assert!(input.is_empty(), "the decoder takes every byte it is given");
                return Input { keep_reading: true };
            };
            let Some(text) = control_frame(counters, out, event) else {
                continue;
            };
            if !rate.try_take(now_ns) {
                FanOut::close(
                    counters,
                    out,
                    code::POLICY,
                    "control messages too fast",
                    CloseReason::RateLimit,
                );
                break;
            }
            catch_up(&fan.backlog, counters, caught_up_to, subs, out, *format);
            fan.streams.unlist(slot, subs);
            answer(feed, names, scratch, counters, subs, out, *format, text);
            fan.streams.list(slot, subs);
            if !subs.is_empty() {
                fan.awaiting.subscribed(slot, subscribe_by_ns, counted_peer);
            }
        }
        Input {
            keep_reading: false,
        }
    }
}

/// One heartbeat per stream of `client` (none once it is closing); a
/// client whose queue has no room for them is closed with 4001.
fn beat(
    feed: &Feed,
    scratch: &mut [u8],
    counters: &mut MdCounters,
    client: &mut MdClient,
    wall_ns: u64,
) {
    debug_assert!(wall_ns > 0, "heartbeats carry the send time");
    let mut over = false;
    for sub in client.subs.iter() {
        if over || !client.out.state.eq(&ClientState::Open) {
            break;
        }
        let (Some(state), Some(stream_last)) = (
            feed.state(sub.symbol),
            feed.stream_last(sub.symbol, sub.channel, sub.depth),
        ) else {
            continue;
        };
        let info = HeartbeatInfo {
            channel: sub.channel,
            depth: sub.depth,
            stream_last,
            send_ts_ns: wall_ns,
        };
        let (encoded, opcode) = match client.format {
            DataFormat::Binary => (encode_heartbeat(&state, &info, scratch), Opcode::Binary),
            DataFormat::Json => (render_heartbeat(&state, &info, scratch), Opcode::Text),
        };
        let n = encoded.expect("a heartbeat fits the scratch");
        over = !client.out.push_frame(opcode, &scratch[..n]);
    }
    if over {
        FanOut::close(
            counters,
            &mut client.out,
            code::SLOW_CONSUMER,
            "slow consumer",
            CloseReason::SlowConsumer,
        );
    }
}

/// Handles a frame that is not a data message (ping, pong, close): `None`.
/// A data message comes back: `Some(Some(text))`, or `Some(None)` for
/// binary.
fn control_frame<'a>(
    counters: &mut MdCounters,
    out: &mut SendQueue,
    event: WsEvent<'a>,
) -> Option<Option<&'a [u8]>> {
    match event {
        WsEvent::Ping(payload) => {
            if !out.push_frame(Opcode::Pong, payload) {
                let why = CloseReason::SlowConsumer;
                FanOut::close(counters, out, code::SLOW_CONSUMER, "slow consumer", why);
            }
            None
        }
        WsEvent::Pong(_) => None,
        WsEvent::Close { code: their, .. } => {
            // Echoed (RFC 6455 5.5.1); 1000 for a close without a code.
            let answer = their.unwrap_or(code::NORMAL);
            FanOut::close(counters, out, answer, "", CloseReason::ClientClosed);
            debug_assert_eq!(out.state, ClientState::Closing);
            None
        }
        WsEvent::Text(text) => Some(Some(text)),
        WsEvent::Binary(_) => Some(None),
    }
}

/// Answers one data message: a control request (its answers and
/// snapshots into the client's queue), or `not_text` for binary.
#[allow(clippy::too_many_arguments)]
fn answer(
    feed: &Feed,
    names: &SymbolNames,
    scratch: &mut [u8],
    counters: &mut MdCounters,
    subs: &mut Subscriptions,
    out: &mut SendQueue,
    format: DataFormat,
    text: Option<&[u8]>,
) {
    debug_assert_eq!(
        out.state,
        ClientState::Open,
        "a closing client is not answered"
    );
    let mut over = false;
    let mut answer = Answer {
        format,
        scratch,
        write: |o: Outgoing<'_>| {
            over = over
                || !match o {
                    Outgoing::Text(b) => out.push_frame(Opcode::Text, b),
                    Outgoing::Binary(b) => out.push_frame(Opcode::Binary, b),
                };
        },
    };
    let answered = match text.map(parse_control) {
        Some(Ok(request)) => subs.apply(&request, feed, names, &mut answer),
        Some(Err(error)) => answer.refuse(&error),
        None => answer.refuse(&ControlError {
            code: ErrorCode::NotText,
            field: None,
            unknown_field: None,
            req_id: None,
        }),
    };
    if answered.is_err() {
        FanOut::close(
            counters,
            out,
            code::INTERNAL_ERROR,
            "answer too large",
            CloseReason::Internal,
        );
    } else if over {
        FanOut::close(
            counters,
            out,
            code::SLOW_CONSUMER,
            "slow consumer",
            CloseReason::SlowConsumer,
        );
    }
}
