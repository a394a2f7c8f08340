//! Drop copy: the message layout docs/OPERATIONS.md shows is the one the
//! follower writes, and a follower publishes every fill of a random flow,
//! each once, to its account's subject.

use std::collections::HashSet;
use std::time::Duration;

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::Gateway;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;
use tradsys::engine::*;
use tradsys::replication::drop_copy::fill_json;

#[test]
fn the_documented_fill_message_is_the_one_published() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OPERATIONS.md"))
        .unwrap();
    let section = doc
        .split("### Drop copy")
        .nth(1)
        .expect("a Drop copy section");
    let example = section
        .lines()
        .find(|l| l.starts_with("{\"shard\""))
        .expect("a JSON example");
    let fill = Event::Fill {
        exec_id: 57,
        order_id: 88,
        account: 1,
        symbol: 1,
        client_order_id: 9001,
        side: Side::Buy,
        price: 10_000,
        qty: 3,
        leaves_qty: 0,
        liquidity: Liquidity::Aggressor,
    };
    assert_eq!(fill_json(0, 1234, &fill), example);
}

#[test]
fn a_follower_publishes_every_fill_once_per_account() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    let text = replicated_config(&primary_dir, &cluster);
    let config = Config::parse(&text).unwrap();
    let gateway = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
    let follower_dir = dir.join("follower");
    let mut follower = Follower::start(&follower_dir, &replicated_config(&follower_dir, &cluster));
    random_flow(&gateway, 0x5eed_0007, 1_000);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let primary = replay_journal_events(&config, &primary_dir.join("journal"));
    let seqs = last_seqs(&config, &primary_dir.join("journal"));
    follower.wait_applied(&seqs, Duration::from_secs(60));
    let (status, _, _) = follower.stop();
    assert!(status.success());

    let expected: Vec<String> = primary
        .iter()
        .flat_map(|(shard, seq, event)| match event {
            Event::Fill { .. } => Some(fill_json(*shard, *seq, event)),
            _ => None,
        })
        .collect();
    assert!(expected.len() > 10, "the flow traded");
    let published = cluster.read_all("TRADSYS_DROPCOPY", expected.len());
    let mut seen = HashSet::new();
    for (subject, body) in &published {
        let account = body
            .split("\"account\":")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap();
        assert_eq!(subject, &format!("tradsys.dropcopy.{account}"));
        assert!(seen.insert(body.clone()), "published twice: {body}");
    }
    let expected: HashSet<String> = expected.into_iter().collect();
    assert_eq!(seen, expected, "every fill of the primary's journal, once");
    let _ = std::fs::remove_dir_all(&dir);
}
