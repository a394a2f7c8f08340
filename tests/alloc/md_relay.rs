//! A follower's relay thread allocates nothing per relayed event: what it
//! does for each (`shard/runtime/relay.rs`: take the messages a replica
//! pushed into its SPSC ring, `MdHub::on_relay` each, tick, let the
//! writers take their queues) runs under the counting allocator, which
//! must read 0 once its 40 clients exist and have subscribed.

use crate::support::alloc_counter::allocations_in;
use crate::support::ws_client::client_text;
use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::engine::*;
use tradsys::market_data::FeedEpoch;
use tradsys::protocol::market_data::DataFormat;
use tradsys::shard::md::{ClientId, MdHub, RelayMsg, Transport};

/// A round of orders on symbol 1 that rest, then a sweep and cancels: the
/// relay messages of their public events, as a replica's tap makes them.
fn round_messages(engine: &mut Engine, round: u64) -> Vec<RelayMsg> {
    let mut events: Vec<Event> = Vec::new();
    for k in 0..20i64 {
        let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
        let order = NewOrder {
            account: 1 + (k as u32 % 2),
            symbol: 1,
            client_order_id: round * 100 + k as u64,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price: if side == Side::Buy {
                4_999_990 - k
            } else {
                5_000_010 + k
            },
            qty: 1 + k as u64,
        };
        engine.process(&Command::New(order), &mut events);
    }
    for account in [1, 2] {
        let cancel = Command::MassCancel {
            account,
            symbol: Some(1),
            reason: CancelReason::MassCancel,
        };
        engine.process(&cancel, &mut events);
    }
    let ts_ns = 1_700_000_000_000_000_000 + round;
    let mut messages: Vec<RelayMsg> = events
        .iter()
        .filter(|e| tradsys::shard::core::is_feed_event(e))
        .map(|event| RelayMsg::Public {
            event: *event,
            ts_ns,
        })
        .collect();
    messages.push(RelayMsg::EndOfDay { owner: 0, ts_ns });
    messages
}

fn subscribed_clients(hub: &mut MdHub, count: usize) -> Vec<ClientId> {
    let text = r#"{"op":"subscribe","symbols":[1,2],"channels":["book","book@100ms","bbo","trades","ticker","status"],"depth":0}"#;
    let frame = client_text(text);
    (0..count)
        .map(|i| {
            let handshake = hub
                .begin_handshake(std::net::IpAddr::from([127, 0, 0, 1]), 0)
                .expect("room");
            let format = [DataFormat::Binary, DataFormat::Json][i % 2];
            let id = hub
                .end_handshake(handshake, Some(format), Transport::WebSocket, 0)
                .unwrap();
            assert!(hub.on_input(id, &frame, 1).keep_reading);
            id
        })
        .collect()
}

#[test]
fn a_relay_allocates_nothing_per_relayed_event() {
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.engine.max_levels_per_side = 64;
    config.market_data.send_budget_bytes = 1 << 20;
    let mut engine = Engine::new(&config.engine_config(0));
    let mut hub = MdHub::new(&config, FeedEpoch(7));
    let clients = subscribed_clients(&mut hub, 40);
    let capacity = hub.client_mut(clients[0]).unwrap().out.capacity();
    let mut spares: Vec<Vec<u8>> = clients
        .iter()
        .map(|_| Vec::with_capacity(capacity))
        .collect();
    let rounds: Vec<Vec<RelayMsg>> = (0..40).map(|r| round_messages(&mut engine, r)).collect();
    let (mut producer, mut consumer) = rtrb::RingBuffer::<RelayMsg>::new(4096);
    let mut relay_round = |hub: &mut MdHub, round: usize, spares: &mut [Vec<u8>]| {
        for message in &rounds[round] {
            producer.push(*message).expect("the ring holds a round");
        }
        let chunk = consumer.read_chunk(consumer.slots()).unwrap();
        let (first, second) = chunk.as_slices();
        for message in first.iter().chain(second) {
            hub.on_relay(message);
        }
        chunk.commit_all();
        hub.tick(round as u64 * 200_000_000, 1_700_000_000_000_000_000);
        crate::md_fanout::take_all(hub, &clients, spares)
    };
    for round in 0..3 {
        relay_round(&mut hub, round, &mut spares);
    }
    let (allocations, bytes) = allocations_in(|| {
        (3..40)
            .map(|round| relay_round(&mut hub, round, &mut spares))
            .sum::<usize>()
    });
    assert!(
        bytes > 40 * 100_000,
        "the relayed flow went out: {bytes} bytes"
    );
    assert_eq!(allocations, 0, "allocations on the relay path");
}
