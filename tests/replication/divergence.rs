//! A follower stops loudly (exit 5, the reason in its log) when the stream
//! would make it differ from the primary: a `state_checksum` its own state
//! does not match (a record changed with its CRC recomputed, or another
//! build's matching rules), and a record whose CRC does not hold.

use std::time::Duration;

use crate::support::follower::Follower;
use crate::support::gateway::*;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;
use tradsys::engine::*;
use tradsys::journal::layout::{entry_record_bytes, write_record};
use tradsys::journal::{config_file, ConfigEpoch, Entry, StateChecksum};

/// A record as the shipper publishes it.
fn message(seq: u64, entry: &Entry, config_body: Option<&[u8]>) -> Vec<u8> {
    let mut frame = vec![0u8; entry_record_bytes(entry)];
    write_record(&mut frame, seq, 1_000 + seq, entry);
    if let Some(body) = config_body {
        frame.extend_from_slice(body);
    }
    frame
}

/// Shard 0's first records: its config epoch and a resting order.
fn first_records(config: &Config) -> Vec<Vec<u8>> {
    let engine_config = config.engine_config(0);
    let body = config_file::encode(&engine_config);
    let epoch = Entry::ConfigEpoch(ConfigEpoch::of(&engine_config));
    let order = Entry::Command(Command::New(NewOrder {
        account: ALICE,
        symbol: BTC,
        client_order_id: 1,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price: 10_000,
        qty: 3,
    }));
    vec![message(1, &epoch, Some(&body)), message(2, &order, None)]
}

fn config_with(dir: &std::path::Path, cluster: &NatsCluster, stream: &str, prefix: &str) -> String {
    config(
        &format!(
            "[server]\n\n[replication]\nnats_urls = {}\nreplicas = 3\nstream = \"{stream}\"\n\
             subject_prefix = \"{prefix}\"\ndrop_copy_stream = \"\"\n",
            cluster.urls_toml()
        ),
        dir,
    )
}

#[test]
fn a_follower_stops_with_exit_5_on_a_wrong_checksum_or_a_corrupt_record() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let cluster = NatsCluster::start(&dir.join("nats"));

    // A checksum that is not the state the records before it make.
    let text = config_with(
        &dir.join("diverged"),
        &cluster,
        "DIVERGED",
        "diverged.journal",
    );
    let config = Config::parse(&text).unwrap();
    let mut bodies = first_records(&config);
    let mut engine = Engine::new(&config.engine_config(0));
    engine.process(
        &match tradsys::replication::message::decode(&bodies[1])
            .unwrap()
            .record
            .entry
        {
            Entry::Command(command) => command,
            other => panic!("{other:?}"),
        },
        &mut Vec::new(),
    );
    let right = StateChecksum::of(&engine);
    let wrong = StateChecksum {
        digest: right.digest ^ 1,
        ..right
    };
    bodies.push(message(3, &Entry::StateChecksum(wrong), None));
    cluster.publish_all(
        "DIVERGED",
        "diverged.journal",
        "diverged.journal.shard.0",
        &bodies,
    );
    let follower = Follower::start(&dir.join("diverged"), &text);
    let (status, _, lines) = follower.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(5), "{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("state diverged at seq 3")),
        "{}",
        lines.join("\n")
    );

    // The right checksum passes; a record with a flipped byte does not.
    let text = config_with(&dir.join("corrupt"), &cluster, "CORRUPT", "corrupt.journal");
    let mut bodies = first_records(&config);
    bodies.push(message(3, &Entry::StateChecksum(right), None));
    // Seq 4: the order again (its seq field rewritten), one payload byte
    // flipped, its CRC left as it was.
    let mut damaged = bodies[1].clone();
    damaged[8] = 4;
    damaged[40] ^= 0x01;
    bodies.push(damaged);
    cluster.publish_all(
        "CORRUPT",
        "corrupt.journal",
        "corrupt.journal.shard.0",
        &bodies,
    );
    let follower = Follower::start(&dir.join("corrupt"), &text);
    let (status, _, lines) = follower.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(5), "{}", lines.join("\n"));
    let log = lines.join("\n");
    assert!(log.contains("corrupt record in the stream"), "{log}");
    assert!(log.contains("CRC mismatch"), "{log}");
    assert!(
        log.contains("checksums_verified=1"),
        "the right checksum passed first: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
