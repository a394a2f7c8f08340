//! The fan-out's backlog and pump on one shard's `MdHub` (`shard/md/`,
//! issue 13), driven by hand as the shard's tasks drive it: the order path
//! (`on_public`) only appends to the backlog and copies into no client's
//! queue; each pump call copies about its budget; a control message
//! catches its client up first, so its answer follows every increment
//! queued before it and nothing comes twice; and a client the backlog laps
//! before the pump reaches it is closed with 4001 after a gap-free stream.

use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::engine::*;
use tradsys::market_data::FeedEpoch;
use tradsys::protocol::market_data::{DataFormat, MdView};
use tradsys::shard::md::fanout::BACKLOG_BYTES;
use tradsys::shard::md::{ClientId, MdHub, Take, Transport};
use tradsys::websocket::frame::{read_header, Opcode};

use crate::replica::messages;
use crate::support::ws_client::client_text;

const WALL: u64 = 1_700_000_000_000_000_000;

fn hub() -> MdHub {
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.engine.max_levels_per_side = 64;
    MdHub::new(&config, FeedEpoch(7))
}

/// A binary client subscribed to `trades` of symbol 1.
fn trades_client(hub: &mut MdHub) -> ClientId {
    let handshake = hub
        .begin_handshake(std::net::IpAddr::from([127, 0, 0, 1]), 0)
        .expect("room");
    let id = hub
        .end_handshake(handshake, Some(DataFormat::Binary), Transport::WebSocket, 0)
        .unwrap();
    let subscribe = client_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    assert!(hub.on_input(id, &subscribe, 1).keep_reading);
    id
}

/// Hands each engine event to the hub, as the shard's router does.
struct ToHub<'a> {
    hub: &'a mut MdHub,
}

impl EventSink for ToHub<'_> {
    fn emit(&mut self, event: &Event) {
        if tradsys::shard::core::is_feed_event(event) {
            self.hub.on_public(event, WALL);
        }
    }
}

/// `n` one-lot trades on symbol 1 (a sell rests, a buy IOC takes it).
fn trade(engine: &mut Engine, hub: &mut MdHub, first_id: u64, n: u64) {
    let mut sink = ToHub { hub };
    for i in first_id..first_id + n {
        let order = |account, side, tif, id| NewOrder {
            account,
            symbol: 1,
            client_order_id: id,
            side,
            kind: OrderKind::Limit,
            tif,
            post_only: false,
            stp: None,
            price: 5_000_000,
            qty: 1,
        };
        let rest = order(1, Side::Sell, TimeInForce::Gtc, 2 * i);
        engine.process(&Command::New(rest), &mut sink);
        let take = order(2, Side::Buy, TimeInForce::Ioc, 2 * i + 1);
        engine.process(&Command::New(take), &mut sink);
    }
}

/// Everything in a client's queue: (bytes, frames).
fn take(hub: &mut MdHub, id: ClientId) -> (usize, Vec<(Opcode, Vec<u8>)>) {
    let capacity = hub.client_mut(id).unwrap().out.capacity();
    let mut spare = Vec::with_capacity(capacity);
    let mut frames = Vec::new();
    let mut bytes = 0;
    while hub.take(id, &mut spare) == Take::Data {
        bytes += spare.len();
        let mut rest = &spare[..];
        while !rest.is_empty() {
            let (header, len) = read_header(rest).unwrap();
            let end = len + header.payload_len as usize;
            frames.push((
                Opcode::from_u8(header.opcode).unwrap(),
                rest[len..end].to_vec(),
            ));
            rest = &rest[end..];
        }
        spare.clear();
    }
    (bytes, frames)
}

/// The trades' (seq, prev) in `frames`, checked to chain from `last`;
/// the close code if the frames end with one.
fn trade_chain(frames: &[(Opcode, Vec<u8>)], mut last: u64) -> (u64, u64, Option<u16>) {
    let mut count = 0;
    for (opcode, payload) in frames {
        match opcode {
            Opcode::Binary => {
                for message in messages(payload) {
                    if let MdView::Trade(t) = message {
                        assert_eq!(t.prev.get(), last, "trades chain with no gap");
                        last = t.header.seq.get();
                        count += 1;
                    }
                }
            }
            Opcode::Close => {
                return (
                    count,
                    last,
                    Some(u16::from_be_bytes([payload[0], payload[1]])),
                )
            }
            _ => {}
        }
    }
    (count, last, None)
}

#[test]
fn the_order_path_queues_nothing_and_each_pump_call_about_its_budget() {
    let mut hub = hub();
    let mut engine = Engine::new(&Config::parse(DEFAULT_TOML).unwrap().engine_config(0));
    let clients: Vec<ClientId> = (0..50).map(|_| trades_client(&mut hub)).collect();
    for &id in &clients {
        take(&mut hub, id); // the answers
    }
    let queued_before = hub.counters().frames_queued;
    trade(&mut engine, &mut hub, 1, 200);
    assert_eq!(
        hub.counters().frames_queued,
        queued_before,
        "the order path copied into no client's queue"
    );
    let budget = 4096;
    assert!(hub.pump(budget, WALL), "more than one call's worth");
    let mut seen: Vec<Vec<(Opcode, Vec<u8>)>> = Vec::new();
    let mut bytes = 0;
    for &id in &clients {
        let (n, frames) = take(&mut hub, id);
        bytes += n;
        seen.push(frames);
    }
    // The budget is checked between messages: one message's copies past it.
    let one_message = 74 * clients.len();
    assert!(bytes > 0 && bytes <= budget + one_message, "{bytes}");
    while hub.pump(budget, WALL) {}
    for (&id, frames) in clients.iter().zip(&mut seen) {
        frames.extend(take(&mut hub, id).1);
        assert_eq!(
            trade_chain(frames, 0),
            (200, trade_chain(frames, 0).1, None)
        );
    }
    assert_eq!(
        hub.counters().frames_queued - queued_before,
        200 * clients.len() as u64,
        "every trade to every client, once"
    );
}

#[test]
fn a_control_message_catches_its_client_up_before_its_answer() {
    let mut hub = hub();
    let mut engine = Engine::new(&Config::parse(DEFAULT_TOML).unwrap().engine_config(0));
    let id = trades_client(&mut hub);
    let other = trades_client(&mut hub);
    take(&mut hub, id);
    trade(&mut engine, &mut hub, 1, 30);
    // Not pumped yet: the subscribe to another channel catches it up.
    let bbo = client_text(r#"{"op":"subscribe","symbols":[1],"channels":["bbo"]}"#);
    assert!(hub.on_input(id, &bbo, 2).keep_reading);
    trade(&mut engine, &mut hub, 100, 20);
    while hub.pump(1024, WALL) {}
    let (_, frames) = take(&mut hub, id);
    let answer = frames
        .iter()
        .position(|(opcode, payload)| {
            *opcode == Opcode::Text && payload.starts_with(br#"{"type":"subscribed""#)
        })
        .expect("the answer");
    let (before, last, _) = trade_chain(&frames[..answer], 0);
    assert_eq!(
        before, 30,
        "every trade made before the request precedes its answer"
    );
    let (after, _, close) = trade_chain(&frames[answer + 1..], last);
    assert_eq!(
        (after, close),
        (20, None),
        "the later ones after it, none twice"
    );
    let (_, frames) = take(&mut hub, other);
    assert_eq!(
        trade_chain(&frames, 0).0,
        50,
        "the other client got all of them from the pump"
    );
}

#[test]
fn a_client_the_backlog_laps_is_closed_with_4001_after_a_gap_free_stream() {
    let mut hub = hub();
    let mut engine = Engine::new(&Config::parse(DEFAULT_TOML).unwrap().engine_config(0));
    let id = trades_client(&mut hub);
    take(&mut hub, id);
    trade(&mut engine, &mut hub, 1, 100);
    while hub.pump(1 << 20, WALL) {}
    // The pump does not run while the backlog takes more trades than it
    // holds (a trade frame is 74 bytes, its record 104).
    let lapping = (BACKLOG_BYTES / 104 + 1_000) as u64;
    trade(&mut engine, &mut hub, 1_000, lapping);
    assert_eq!(hub.counters().fanout_lapped, 1);
    assert_eq!(hub.counters().closed_slow_consumer, 1);
    while hub.pump(1 << 20, WALL) {}
    let (_, frames) = take(&mut hub, id);
    let (count, _, close) = trade_chain(&frames, 0);
    assert_eq!(
        count, 100,
        "what the pump copied before the lap, and nothing after"
    );
    assert_eq!(close, Some(4001));
    // A client that arrives now gets the later trades from the pump.
    let fresh = trades_client(&mut hub);
    take(&mut hub, fresh);
    trade(&mut engine, &mut hub, 1_000_000, 5);
    while hub.pump(1 << 20, WALL) {}
    let (_, frames) = take(&mut hub, fresh);
    assert_eq!(
        frames.iter().filter(|(o, _)| *o == Opcode::Binary).count(),
        5
    );
}

#[test]
fn a_quiet_turn_pumps_sixteen_times_a_busy_one_and_every_stream_stays_whole() {
    use tradsys::shard::md::turn_share::{BUSY, IDLE};
    let mut hub = hub();
    let mut engine = Engine::new(&Config::parse(DEFAULT_TOML).unwrap().engine_config(0));
    let clients: Vec<ClientId> = (0..50).map(|_| trades_client(&mut hub)).collect();
    for &id in &clients {
        take(&mut hub, id); // the answers
    }
    // 7.4 MB of copies wanted: more than a few quiet turns' worth.
    trade(&mut engine, &mut hub, 1, 2_000);
    let mut seen: Vec<Vec<(Opcode, Vec<u8>)>> = vec![Vec::new(); clients.len()];
    let mut turn = |hub: &mut MdHub, budget: usize| {
        let more = hub.pump(budget, WALL);
        let mut bytes = 0;
        for (&id, frames) in clients.iter().zip(&mut seen) {
            let (n, more_frames) = take(hub, id);
            bytes += n;
            frames.extend(more_frames);
        }
        (more, bytes)
    };
    // A call copies its budget less what looking at each message costs
    // (64 bytes of it), plus at most the copies of the message it ends on.
    let one_message = 74 * clients.len();
    let copied = |budget: usize| budget - budget / 16..=budget + one_message;
    let (more, busy) = turn(&mut hub, BUSY.pump_bytes);
    assert!(more && copied(BUSY.pump_bytes).contains(&busy), "{busy}");
    let (more, idle) = turn(&mut hub, IDLE.pump_bytes);
    assert!(more && copied(IDLE.pump_bytes).contains(&idle), "{idle}");
    assert!(idle >= 15 * busy, "busy {busy}, idle {idle}");
    // Busy and quiet turns alternate as order entry comes and goes; the
    // clients' streams do not notice.
    let mut quiet = false;
    while turn(&mut hub, if quiet { IDLE } else { BUSY }.pump_bytes).0 {
        quiet = !quiet;
    }
    for (&id, frames) in clients.iter().zip(&mut seen) {
        frames.extend(take(&mut hub, id).1);
        let (count, _, close) = trade_chain(frames, 0);
        assert_eq!((count, close), (2_000, None), "client {id:?}");
    }
    assert_eq!(hub.counters().fanout_lapped, 0);
}
