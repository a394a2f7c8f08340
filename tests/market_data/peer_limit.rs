//! The bound on one address's connections with no subscription
//! (`market_data.max_unsubscribed_per_ip`), on one shard's `MdHub` driven
//! by hand: handshaking connections and upgraded clients with no
//! subscription count against their address; a first subscription, the
//! end of a handshake that made no client, a hand-off to order entry, an
//! echo client and an emptied slot give the place back; other addresses
//! are never refused for it (found by a hostile pass: one address held
//! every client slot of a shard with silent connections).

use std::net::IpAddr;

use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::market_data::FeedEpoch;
use tradsys::protocol::market_data::DataFormat;
use tradsys::shard::md::{MdHub, NoRoom, Transport};

use crate::support::ws_client::client_text;

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [192, 0, 2, 2];

fn hub(per_ip: usize) -> MdHub {
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.engine.max_levels_per_side = 64;
    config.market_data.max_clients_per_shard = 16;
    config.market_data.max_unsubscribed_per_ip = per_ip;
    config.validate().expect("a valid config");
    MdHub::new(&config, FeedEpoch(7))
}

fn ip(octets: [u8; 4]) -> IpAddr {
    IpAddr::from(octets)
}

#[test]
fn an_address_holds_at_most_its_bound_of_unsubscribed_connections() {
    let mut hub = hub(2);
    let first = hub.begin_handshake(ip(A), 0).expect("room");
    let second = hub.begin_handshake(ip(A), 0).expect("room");
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);
    // IPv4 and its IPv4-mapped IPv6 form are one address.
    let mapped = IpAddr::from(std::net::Ipv4Addr::from(A).to_ipv6_mapped());
    assert_eq!(hub.begin_handshake(mapped, 0).unwrap_err(), NoRoom::Peer);
    // Another address is not refused for it.
    let other = hub.begin_handshake(ip(B), 0).expect("room");
    assert_eq!(hub.counters().peer_limit_refused, 2);
    assert_eq!(hub.counters().handshakes_refused, 0, "counted apart");
    assert_eq!(hub.slots_held(), 3, "refused connections hold no slot");

    // A handshake that made no client gives its place back.
    assert!(hub
        .end_handshake(first, None, Transport::WebSocket, 0)
        .is_none());
    let again = hub.begin_handshake(ip(A), 0).expect("room");
    // An upgraded client with no subscription still counts...
    let client = hub
        .end_handshake(again, Some(DataFormat::Binary), Transport::WebSocket, 0)
        .unwrap();
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);
    // ...until its first subscription.
    let subscribe = client_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    assert!(hub.on_input(client, &subscribe, 1).keep_reading);
    let third = hub.begin_handshake(ip(A), 0).expect("room");
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);

    // A subscribed client does not count, so an address may hold many
    // subscribed clients (here two more beside the first).
    let mut subscribed = vec![client];
    for handshake in [second, third] {
        let id = hub
            .end_handshake(handshake, Some(DataFormat::Binary), Transport::RawTcp, 0)
            .unwrap();
        let line = br#"{"op":"subscribe","symbols":[1],"channels":["trades"]}
"#;
        assert!(hub.on_input(id, line, 1).keep_reading);
        subscribed.push(id);
    }
    let more: Vec<_> = (0..2)
        .map(|_| hub.begin_handshake(ip(A), 0).expect("room"))
        .collect();
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);

    // A hand-off to order entry and an echo client give the place back.
    let [to_trade, to_echo] = <[_; 2]>::try_from(more).unwrap();
    hub.hand_off_handshake(to_trade);
    let echo = hub
        .end_handshake(to_echo, Some(DataFormat::Binary), Transport::Echo, 0)
        .unwrap();
    let two: Vec<_> = (0..2)
        .map(|_| hub.begin_handshake(ip(A), 0).expect("room"))
        .collect();
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);

    // A client closed with no subscription gives its place back when its
    // slot is emptied.
    let [keep, unsubscribed] = <[_; 2]>::try_from(two).unwrap();
    let unsubscribed = hub
        .end_handshake(
            unsubscribed,
            Some(DataFormat::Binary),
            Transport::WebSocket,
            0,
        )
        .unwrap();
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);
    hub.reader_done(unsubscribed);
    hub.remove(unsubscribed);
    let last = hub.begin_handshake(ip(A), 0).expect("room");
    assert_eq!(hub.begin_handshake(ip(A), 0).unwrap_err(), NoRoom::Peer);
    assert_eq!(hub.counters().peer_limit_refused, 8);

    // The other address never met the bound.
    assert!(hub
        .end_handshake(other, None, Transport::WebSocket, 0)
        .is_none());
    for handshake in [keep, last] {
        assert!(hub
            .end_handshake(handshake, None, Transport::WebSocket, 0)
            .is_none());
    }
    assert_eq!(
        hub.slots_held(),
        subscribed.len() as u64 + 1,
        "and the echo"
    );
    let _ = echo;
}

#[test]
fn a_full_shard_refuses_before_the_address_bound_is_looked_at() {
    let mut hub = hub(16);
    let held: Vec<_> = (0..16u8)
        .map(|i| hub.begin_handshake(ip([10, 0, 0, i]), 0).expect("room"))
        .collect();
    assert_eq!(hub.begin_handshake(ip(B), 0).unwrap_err(), NoRoom::Shard);
    assert_eq!(hub.counters().handshakes_refused, 1);
    assert_eq!(hub.counters().peer_limit_refused, 0);
    for handshake in held {
        assert!(hub
            .end_handshake(handshake, None, Transport::WebSocket, 0)
            .is_none());
    }
    assert!(hub.begin_handshake(ip(B), 0).is_ok());
}

#[test]
fn an_address_holds_at_most_its_bound_of_connections_subscribed_or_not() {
    // `max_clients_per_ip`: every connection counts, from accept until its
    // slot is emptied, or its handshake made no client or was handed off.
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.engine.max_levels_per_side = 64;
    config.market_data.max_clients_per_shard = 16;
    config.market_data.max_clients_per_ip = 3;
    config.validate().expect("a valid config");
    let mut hub = MdHub::new(&config, FeedEpoch(7));
    let subscribe = client_text(r#"{"op":"subscribe","symbols":[1],"channels":["trades"]}"#);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let handshake = hub.begin_handshake(ip(A), 0).expect("room");
        let id = hub
            .end_handshake(handshake, Some(DataFormat::Json), Transport::WebSocket, 0)
            .unwrap();
        assert!(hub.on_input(id, &subscribe, 1).keep_reading);
        clients.push(id);
    }
    let third = hub.begin_handshake(ip(A), 0).expect("room");
    assert_eq!(
        hub.begin_handshake(ip(A), 0).unwrap_err(),
        NoRoom::PeerTotal
    );
    let other = hub.begin_handshake(ip(B), 0).expect("another address");
    // A handshake handed off to order entry, one abandoned and one that
    // made no client each give their place back.
    hub.hand_off_handshake(third);
    let abandoned = hub.begin_handshake(ip(A), 0).expect("room");
    hub.abandon_handshake(abandoned);
    let refused = hub.begin_handshake(ip(A), 0).expect("room");
    assert!(hub
        .end_handshake(refused, None, Transport::WebSocket, 0)
        .is_none());
    // A closed client's emptied slot gives its place back.
    let last = hub.begin_handshake(ip(A), 0).expect("room");
    assert_eq!(
        hub.begin_handshake(ip(A), 0).unwrap_err(),
        NoRoom::PeerTotal
    );
    hub.reader_done(clients[0]);
    hub.remove(clients[0]);
    let again = hub.begin_handshake(ip(A), 0).expect("room");
    assert_eq!(hub.counters().peer_limit_refused, 2);
    for handshake in [other, last, again] {
        assert!(hub
            .end_handshake(handshake, None, Transport::WebSocket, 0)
            .is_none());
    }
}
