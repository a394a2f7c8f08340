//! The shard's market-data fan-out allocates nothing per event: engine
//! events through a shard's `MdHub` (its replica feed, its backlog and
//! pump) to 40 WebSocket clients in both formats and every channel,
//! conflation ticks, heartbeats, the writers taking their queues, and clients unsubscribing
//! and subscribing again between rounds (the per-stream subscriber sets,
//! `shard/md/streams.rs`, are sized at start), all under the counting
//! allocator, which must read 0 once the clients exist and have subscribed;
//! and an echo client (`market_data.echo_path`) echoing its messages.

use crate::support::alloc_counter::allocations_in;
use crate::support::ws_client::client_text;
use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::engine::*;
use tradsys::market_data::FeedEpoch;
use tradsys::protocol::market_data::DataFormat;
use tradsys::shard::md::{ClientId, MdHub, Take, Transport};
use tradsys::websocket::encode::write_frame;
use tradsys::websocket::frame::Opcode;

fn config() -> Config {
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.engine.max_levels_per_side = 64;
    config.market_data.send_budget_bytes = 1 << 20;
    config
}

/// Hands each engine event to the hub, as the shard's router does.
struct ToHub<'a> {
    hub: &'a mut MdHub,
    ts: u64,
}

impl EventSink for ToHub<'_> {
    fn emit(&mut self, event: &Event) {
        if tradsys::shard::core::is_feed_event(event) {
            self.hub.on_public(event, self.ts);
        }
    }
}

/// Orders on symbol 1 that rest, cross and cancel.
fn flow(engine: &mut Engine, hub: &mut MdHub, round: u64) {
    let mut sink = ToHub {
        hub,
        ts: 1_700_000_000_000_000_000 + round,
    };
    for k in 0..20i64 {
        let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = if side == Side::Buy {
            4_999_990 - k
        } else {
            5_000_010 + k
        };
        let order = NewOrder {
            account: 1 + (k as u32 % 2),
            symbol: 1,
            client_order_id: round * 100 + k as u64,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price,
            qty: 1 + k as u64,
        };
        engine.process(&Command::New(order), &mut sink);
    }
    let sweep = NewOrder {
        account: 2,
        symbol: 1,
        client_order_id: round * 100 + 99,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: Some(StpMode::CancelIncoming),
        price: 5_000_015,
        qty: 20,
    };
    engine.process(&Command::New(sweep), &mut sink);
    for account in [1, 2] {
        let cancel = Command::MassCancel {
            account,
            symbol: Some(1),
            reason: CancelReason::MassCancel,
        };
        engine.process(&cancel, &mut sink);
    }
}

#[test]
fn fan_out_to_forty_clients_allocates_nothing_per_event() {
    let config = config();
    let mut engine = Engine::new(&config.engine_config(0));
    let mut hub = MdHub::new(&config, FeedEpoch(7));
    let subscribe = client_text(
        r#"{"op":"subscribe","symbols":[1,2],"channels":["book","book@100ms","bbo","trades","ticker","status"],"depth":0}"#,
    );
    let unsubscribe =
        client_text(r#"{"op":"unsubscribe","symbols":[1],"channels":["book","bbo","trades"]}"#);
    let resubscribe = client_text(
        r#"{"op":"subscribe","symbols":[1],"channels":["book","bbo","trades"],"depth":0}"#,
    );
    let clients: Vec<ClientId> = (0..40)
        .map(|i| {
            let handshake = hub
                .begin_handshake(std::net::IpAddr::from([127, 0, 0, 1]), 0)
                .expect("room");
            let format = if i % 2 == 0 {
                DataFormat::Binary
            } else {
                DataFormat::Json
            };
            let id = hub
                .end_handshake(handshake, Some(format), Transport::WebSocket, 0)
                .unwrap();
            assert!(hub.on_input(id, &subscribe, 1).keep_reading);
            id
        })
        .collect();
    let capacity = hub.client_mut(clients[0]).unwrap().out.capacity();
    let mut spares: Vec<Vec<u8>> = clients
        .iter()
        .map(|_| Vec::with_capacity(capacity))
        .collect();
    let drain = |hub: &mut MdHub, spares: &mut [Vec<u8>]| take_all(hub, &clients, spares);
    // Warm-up: every stream has sent, every buffer has its size.
    for round in 0..3 {
        flow(&mut engine, &mut hub, round);
        hub.tick(round * 200_000_000, 1_700_000_000_000_000_000);
        drain(&mut hub, &mut spares);
    }
    let encoded_before = hub.counters().messages_encoded;
    let (allocations, bytes) = allocations_in(|| {
        let mut bytes = 0;
        for round in 3..40 {
            // One client leaves three streams of symbol 1 and comes back.
            let churn = clients[round as usize % clients.len()];
            let now = round * 200_000_000;
            assert!(hub.on_input(churn, &unsubscribe, now).keep_reading);
            flow(&mut engine, &mut hub, round);
            assert!(hub.on_input(churn, &resubscribe, now + 1).keep_reading);
            hub.tick(round * 200_000_000, 1_700_000_000_000_000_000 + round);
            bytes += drain(&mut hub, &mut spares);
        }
        bytes
    });
    let encoded = hub.counters().messages_encoded - encoded_before;
    assert!(
        encoded > 1_000 && bytes > 40 * 100_000,
        "the flow went out: {encoded} messages, {bytes} bytes"
    );
    assert_eq!(allocations, 0, "allocations on the fan-out path");
}

/// A masked client frame of any opcode.
/// Runs the fan-out pump until the backlog is empty (the shard's pump task
/// does it a turn's share at a time: busy and quiet turns alternate here,
/// as order entry comes and goes), then takes every client's queue as its
/// writer would (into its spare buffer, once the turn's send budget lets
/// it); the bytes taken. No client may have been cut.
pub(crate) fn take_all(hub: &mut MdHub, clients: &[ClientId], spares: &mut [Vec<u8>]) -> usize {
    use tradsys::shard::md::turn_share::{share, ORDER_ENTRY_QUIET};
    assert_eq!(clients.len(), spares.len(), "a spare buffer per client");
    let mut since_order_entry = Some(std::time::Duration::ZERO);
    while hub.pump(
        share(since_order_entry).pump_bytes,
        1_700_000_000_000_000_000,
    ) {
        since_order_entry = match since_order_entry {
            Some(_) => None,
            None => Some(ORDER_ENTRY_QUIET / 2),
        };
    }
    let budget = tradsys::shard::md::SendBudget::default();
    let mut turn = 0;
    let mut bytes = 0;
    for (id, spare) in clients.iter().zip(spares.iter_mut()) {
        let quiet = share(None);
        while !budget.take(turn, quiet.send_bytes, quiet.send_floor, 1) {
            turn += 1;
        }
        if hub.take(*id, spare) == Take::Data {
            bytes += spare.len();
            spare.clear();
        }
        assert!(!hub.is_closing(*id), "no client is cut");
    }
    bytes
}

fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + 14];
    let n = write_frame(fin, opcode, payload, Some([9, 8, 7, 6]), &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn an_echo_client_allocates_nothing_per_message() {
    let mut config = config();
    config.market_data.echo_max_message_bytes = 1 << 20;
    let mut hub = MdHub::new(&config, FeedEpoch(7));
    let handshake = hub
        .begin_handshake(std::net::IpAddr::from([127, 0, 0, 1]), 0)
        .expect("room");
    let id = hub
        .end_handshake(handshake, Some(DataFormat::Binary), Transport::Echo, 0)
        .unwrap();
    let capacity = hub.client_mut(id).unwrap().out.capacity();
    let mut spare = Vec::with_capacity(capacity);
    // Text, binary up to the limit, a fragmented message with a ping in
    // it; the writer takes each echo before the next (the queue holds one
    // message of the largest size).
    let mut fragmented = client_frame(false, Opcode::Text, b"frag");
    fragmented.extend(client_frame(true, Opcode::Ping, b"ping"));
    fragmented.extend(client_frame(true, Opcode::Continuation, b"ment"));
    let inputs = [
        client_frame(true, Opcode::Text, "hello ✓".as_bytes()),
        client_frame(true, Opcode::Binary, &vec![5u8; 1 << 20]),
        fragmented,
    ];
    let (allocations, bytes) = allocations_in(|| {
        let mut bytes = 0;
        for round in 0..20u64 {
            for input in &inputs {
                // In pieces, as reads bring them.
                for piece in input.chunks(4096) {
                    assert!(hub.on_input(id, piece, round).keep_reading);
                }
                assert_eq!(hub.take(id, &mut spare), Take::Data);
                bytes += spare.len();
                spare.clear();
            }
            // A second a round: past the 10 s subscribe timeout feed clients have.
            hub.tick(round * 1_000_000_000, 1_700_000_000_000_000_000 + round);
        }
        bytes
    });
    let per_round = (2 + 9) + (10 + (1 << 20)) + (2 + 8) + (2 + 4);
    assert_eq!(
        bytes,
        20 * per_round,
        "every message echoed, every ping answered"
    );
    assert!(!hub.is_closing(id), "no subscribe timeout, no rate limit");
    assert_eq!(allocations, 0, "allocations on the echo path");
}
