//! A shard's heartbeats and subscribe timeouts with many idle subscribers
//! (`docs/MARKET_DATA.md` 4.4; issue 13: order entry with 1,000 subscribers
//! attached to another symbol lost its p99 to them). Driven by hand as the
//! shard's 5 ms ticker drives the hub: every subscriber still gets one
//! heartbeat per stream at most an interval (and a tick) apart, each
//! carrying its stream's last sequence, but the shard spreads them over the
//! interval, each client at its own phase, so no tick queues heartbeats
//! for more clients than one busy turn may send to (section 9.3), instead
//! of all of them in one tick once a second.

use std::collections::HashMap;

use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::market_data::FeedEpoch;
use tradsys::protocol::market_data::{DataFormat, MdView};
use tradsys::shard::md::hub::HEARTBEAT_INTERVAL_NS;
use tradsys::shard::md::send_budget::{SEND_BYTES_PER_TURN, SEND_COST_FLOOR_BYTES};
use tradsys::shard::md::{ClientId, MdHub, Take, Transport};
use tradsys::websocket::frame::{read_header, Opcode};

use crate::replica::messages;
use crate::support::ws_client::client_text;

const WALL: u64 = 1_700_000_000_000_000_000;
/// The shard's ticker period (`shard/runtime.rs` `TICK`).
const TICK_NS: u64 = 5_000_000;

fn hub(timeout_ms: u64) -> MdHub {
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.engine.max_levels_per_side = 64;
    config.market_data.subscribe_timeout_ms = timeout_ms;
    // Every client here comes from 127.0.0.1.
    config.market_data.max_clients_per_ip = config.market_data.max_clients_per_shard;
    MdHub::new(&config, FeedEpoch(7))
}

fn connect(hub: &mut MdHub, now_ns: u64) -> ClientId {
    let handshake = hub
        .begin_handshake(std::net::IpAddr::from([127, 0, 0, 1]), 0)
        .expect("room");
    hub.end_handshake(
        handshake,
        Some(DataFormat::Binary),
        Transport::WebSocket,
        now_ns,
    )
    .unwrap()
}

/// The binary payloads queued for `id` (taken as its writer would).
fn take(hub: &mut MdHub, id: ClientId, spare: &mut Vec<u8>) -> (Vec<Vec<u8>>, Option<u16>) {
    let (mut payloads, mut close) = (Vec::new(), None);
    while hub.take(id, spare) == Take::Data {
        let mut rest = &spare[..];
        while !rest.is_empty() {
            let (header, len) = read_header(rest).unwrap();
            let end = len + header.payload_len as usize;
            match Opcode::from_u8(header.opcode).unwrap() {
                Opcode::Binary => payloads.push(rest[len..end].to_vec()),
                Opcode::Close => close = Some(u16::from_be_bytes([rest[len], rest[len + 1]])),
                _ => {}
            }
            rest = &rest[end..];
        }
        spare.clear();
    }
    (payloads, close)
}

#[test]
fn heartbeats_are_spread_over_the_interval_never_a_burst_a_tick() {
    let mut hub = hub(10_000);
    let subscribe = client_text(r#"{"op":"subscribe","symbols":[1],"channels":["book","trades"]}"#);
    let clients: Vec<ClientId> = (0..1_000)
        .map(|_| {
            let id = connect(&mut hub, 0);
            assert!(hub.on_input(id, &subscribe, 1).keep_reading);
            id
        })
        .collect();
    let capacity = hub.client_mut(clients[0]).unwrap().out.capacity();
    let mut spare = Vec::with_capacity(capacity);
    for &id in &clients {
        take(&mut hub, id, &mut spare); // the answers and the snapshot
    }
    // The sends one busy turn may make (section 9.3), at the floor a send costs.
    let sends_per_turn = SEND_BYTES_PER_TURN / SEND_COST_FLOOR_BYTES;
    let start = 1_000_000;
    let ticks = (2 * HEARTBEAT_INTERVAL_NS + HEARTBEAT_INTERVAL_NS / 2) / TICK_NS;
    // Per client, per channel: the tick times of its heartbeats.
    let mut seen: HashMap<(usize, u8), Vec<u64>> = HashMap::new();
    for tick in 0..ticks {
        let now = start + tick * TICK_NS;
        hub.tick(now, WALL + now);
        let mut beaten = 0;
        for (i, &id) in clients.iter().enumerate() {
            let (payloads, close) = take(&mut hub, id, &mut spare);
            assert_eq!(close, None, "no subscriber is closed");
            if payloads.is_empty() {
                continue;
            }
            beaten += 1;
            for payload in &payloads {
                for message in messages(payload) {
                    let MdView::Heartbeat(h) = message else {
                        panic!("only heartbeats on an idle symbol");
                    };
                    assert_eq!(h.header.symbol.get(), 1);
                    assert_eq!(h.header.seq.get(), 0, "nothing traded");
                    assert_eq!(h.stream_last.get(), 0, "no increment yet");
                    assert_eq!(h.send_ts_ns.get(), WALL + now, "sent at its tick");
                    seen.entry((i, h.channel)).or_default().push(now);
                }
            }
        }
        assert!(
            beaten <= sends_per_turn,
            "tick at {now} ns queued heartbeats for {beaten} clients: more than the {sends_per_turn} sends a busy turn makes"
        );
    }
    let last = start + (ticks - 1) * TICK_NS;
    let most_apart = HEARTBEAT_INTERVAL_NS + TICK_NS;
    for i in 0..clients.len() {
        for channel in [1u8, 4] {
            let times = &seen[&(i, channel)];
            assert!(
                times[0] - start <= most_apart,
                "client {i}'s first heartbeat within an interval"
            );
            for pair in times.windows(2) {
                let apart = pair[1] - pair[0];
                assert!(
                    apart <= most_apart && apart + most_apart >= 2 * HEARTBEAT_INTERVAL_NS,
                    "client {i} channel {channel}: heartbeats {apart} ns apart"
                );
            }
            assert!(
                last - times[times.len() - 1] < most_apart,
                "client {i} channel {channel}: no heartbeat since {}",
                times[times.len() - 1]
            );
        }
    }
}

#[test]
fn a_client_with_no_subscription_by_its_deadline_is_closed_and_only_it() {
    let mut hub = hub(200);
    let subscribe = client_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    // Connected at 0 and never subscribes: closed at 200 ms.
    let idle = connect(&mut hub, 0);
    let capacity = hub.client_mut(idle).unwrap().out.capacity();
    let mut spare = Vec::with_capacity(capacity);
    // Connected at 50 ms and subscribes at 150 ms: kept.
    let late = connect(&mut hub, 50_000_000);
    // Connected at 100 ms, never subscribes: closed at 300 ms, not before.
    let later = connect(&mut hub, 100_000_000);
    let mut closed_at: HashMap<u32, u64> = HashMap::new();
    for tick in 1..=80 {
        let now = tick * TICK_NS;
        if now == 150_000_000 {
            assert!(hub.on_input(late, &subscribe, now).keep_reading);
        }
        hub.tick(now, WALL + now);
        for id in [idle, late, later] {
            let (_, close) = take(&mut hub, id, &mut spare);
            if let Some(code) = close {
                assert_eq!(code, 1008, "closed for policy");
                assert!(closed_at.insert(id.slot, now).is_none(), "closed once");
            }
        }
    }
    assert_eq!(closed_at.get(&idle.slot), Some(&200_000_000));
    assert_eq!(closed_at.get(&later.slot), Some(&300_000_000));
    assert_eq!(closed_at.get(&late.slot), None, "it subscribed in time");
    assert!(!hub.is_closing(late));
}
