//! Listener placement (`server.order_entry_shards`,
//! `server.market_data_shards`) on the real binary: with order entry on
//! shard 0 and market data on shard 1 only, every market-data connection
//! is served by shard 1 and every order-entry session by shard 0 (as
//! `/stats` and the start-up log say), and shard 1's clients get the feed
//! of shard 0's symbol, snapshot then increments with no gap, equal to
//! what the orders made; a set that names a shard that does not exist is
//! refused at start, naming the key.

use std::time::{Duration, Instant};

use tradsys::engine::Side::{Buy, Sell};

use crate::admin_api::json;
use crate::endpoint::{read_until, subscribe_both};
use crate::support::gateway::{accepted, fill, limit, Gateway, ALICE, BOB, BTC, ETH};
use crate::support::ws_client::WsClient;

/// Order entry and the engine of BTC (shard 0) on one shard, the fan-out
/// on the other (ETH, owned by shard 1, stays there).
const SPLIT: &str = "[server]\norder_entry_shards = [0]\nmarket_data_shards = [1]\n";

/// Each shard's `counter` once their sum reaches `total` (shards publish
/// their counters on their own tick).
fn per_shard(admin: std::net::SocketAddr, counter: &str, total: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = json(admin, "/stats");
        let counts: Vec<u64> = stats["shards"]
            .as_array()
            .expect("shards")
            .iter()
            .map(|s| s["counters"][counter].as_u64().expect(counter))
            .collect();
        if counts.iter().sum::<u64>() >= total {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "{counter} never {total}: {stats}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn market_data_on_shard_1_serves_every_client_the_feed_of_shard_0() {
    let gateway = Gateway::start_with(SPLIT);
    let admin = gateway.admin_addr.expect("an admin endpoint");
    let placement = gateway
        .startup_log
        .iter()
        .find(|line| line.contains("listeners bound"))
        .expect("the start-up log says which shard binds what");
    assert!(
        placement.contains("order_entry_shards=[0]")
            && placement.contains("market_data_shards=[1]"),
        "{placement}"
    );
    let stats = json(admin, "/stats");
    for (shard, order_entry, market_data) in [(0, true, false), (1, false, true)] {
        let listeners = &stats["shards"][shard]["listeners"];
        assert_eq!(
            listeners["order_entry"], order_entry,
            "shard {shard}: {listeners}"
        );
        assert_eq!(
            listeners["market_data"], market_data,
            "shard {shard}: {listeners}"
        );
    }

    let mut alice = gateway.logon(ALICE);
    let mut bob = gateway.logon(BOB);
    alice
        .new_order(&limit(ALICE, BTC, 1, Sell, 10_010, 5))
        .unwrap();
    accepted(&mut alice);
    // Enough connections that the kernel would put some on shard 0 if
    // shard 0 listened (it spreads them by a hash of the peer's port).
    let mut clients: Vec<WsClient> = (0..8)
        .map(|_| WsClient::connect(gateway.md_addr, "/md"))
        .collect();
    let mut views: Vec<_> = clients.iter_mut().map(subscribe_both).collect();
    assert_eq!(per_shard(admin, "ws_clients_opened", 8), vec![0, 8]);
    assert_eq!(per_shard(admin, "sessions_opened", 2), vec![2, 0]);
    for view in &views {
        assert_eq!(view[&BTC].book.asks_best_first(), vec![(10_010, 5, 1)]);
    }

    // Orders on shard 0's symbol, and one on shard 1's (a hop there).
    bob.new_order(&limit(BOB, BTC, 11, Buy, 10_010, 2)).unwrap();
    accepted(&mut bob);
    let trade = fill(&mut bob);
    fill(&mut alice);
    alice
        .new_order(&limit(ALICE, BTC, 2, Buy, 9_990, 4))
        .unwrap();
    accepted(&mut alice);
    alice
        .new_order(&limit(ALICE, ETH, 3, Sell, 3_010, 20))
        .unwrap();
    accepted(&mut alice);
    for (client, view) in clients.iter_mut().zip(&mut views) {
        // `read_until` checks each trade's `prev`, and the replica each
        // book update's `prev` and checksum: no gap, the same book.
        read_until(client, view, |v| {
            v[&BTC].trades.len() == 1
                && v[&BTC].book.asks_best_first() == vec![(10_010, 3, 1)]
                && v[&BTC].book.bids_best_first() == vec![(9_990, 4, 1)]
                && v[&ETH].book.asks_best_first() == vec![(3_010, 20, 1)]
        });
        assert_eq!(view[&BTC].trades, vec![(trade.exec_id.get(), 10_010, 2)]);
    }
    for view in &views[1..] {
        assert_eq!(view[&BTC].frames, views[0][&BTC].frames);
    }
    let (exit, _) = gateway.stop();
    assert!(exit.success());
}

#[test]
fn a_listener_set_naming_a_shard_that_does_not_exist_is_refused_at_start() {
    for (set, key) in [
        ("market_data_shards = [2]", "server.market_data_shards[0]"),
        (
            "order_entry_shards = [0, 5]",
            "server.order_entry_shards[1]",
        ),
        ("market_data_shards = []", "server.market_data_shards"),
    ] {
        let dir = Gateway::new_dir();
        let refused = Gateway::start_in(&dir, &format!("[server]\n{set}\n"));
        let log = refused
            .err()
            .unwrap_or_else(|| panic!("{set}: started"))
            .join("\n");
        assert!(log.contains(key), "{set}: {log}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The owner sends its public events and end of day only to the replicas
/// of shards that bind the market-data listener: a shard that serves no
/// client is not made to apply another owner's events (on 3 shards, so
/// at the mesh: this host has 2 cores).
#[test]
fn public_events_cross_only_to_shards_that_serve_market_data() {
    use tradsys::engine::Event;
    use tradsys::shard::mesh::{self, MeshMsg};

    let mut links = mesh::build(3, 16);
    links[0].sender.feed_only_to(1 << 1);
    let halt = Event::HaltSet {
        symbol: BTC,
        on: true,
    };
    links[0].sender.public(halt, 7);
    links[0].sender.end_of_day(8);
    assert_eq!(links[0].sender.sent(), &[0, 2, 0]);
    let received: Vec<MeshMsg> = std::iter::from_fn(|| links[1].inbox.pop(0)).collect();
    assert!(
        matches!(
            received[..],
            [
                MeshMsg::Public {
                    event: Event::HaltSet { .. },
                    ts_ns: 7
                },
                MeshMsg::EndOfDay { owner: 0, ts_ns: 8 }
            ]
        ),
        "{received:?}"
    );
    assert!(
        links[2].inbox.pop(0).is_none(),
        "shard 2 serves no market data"
    );
    // The default: every other shard.
    links[2].sender.public(halt, 9);
    assert_eq!(links[2].sender.sent(), &[1, 1, 0]);
}
