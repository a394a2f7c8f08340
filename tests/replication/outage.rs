//! NATS down for a while: the primary keeps trading and acknowledging (the
//! journal is the buffer), its admin endpoint shows the lag growing and the
//! shipper disconnected; once the cluster is back the shipper resumes from
//! the stream's last record and the follower catches up with no gap and no
//! duplicate (its journal is the primary's, record for record).

use std::time::{Duration, Instant};

use super::flow::*;
use crate::support::follower::Follower;
use crate::support::gateway::*;
use crate::support::nats::NatsCluster;
use tradsys::config::Config;
use tradsys::engine::*;

/// `/metrics` of the gateway's admin endpoint at `addr`.
pub fn metrics(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

fn gauge(metrics: &str, line_start: &str) -> Option<u64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn nats_down_then_back_the_follower_catches_up_without_gap_or_duplicate() {
    let _turn = super::serial();
    let dir = Gateway::new_dir();
    let mut cluster = NatsCluster::start(&dir.join("nats"));
    let primary_dir = dir.join("primary");
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let text = replicated_config(&primary_dir, &cluster)
        .replace("admin = \"127.0.0.1:0\"", &format!("admin = \"{admin}\""));
    assert!(text.contains(&admin.to_string()));
    let gateway = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
    let follower_dir = dir.join("follower");
    let follower_text = replicated_config(&follower_dir, &cluster);
    let follower = Follower::start(&follower_dir, &follower_text);
    random_flow(&gateway, 0x5eed_0004, 500);

    cluster.kill_all();
    // Trading goes on and is acknowledged without NATS.
    let mut alice = gateway.logon(ALICE);
    let order = NewOrder {
        account: ALICE,
        symbol: BTC,
        client_order_id: 77,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price: 9_000,
        qty: 1,
    };
    alice.new_order(&order).unwrap();
    accepted(&mut alice);
    drop(alice);
    random_flow(&gateway, 0x5eed_0005, 500);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics(admin);
        let lag = gauge(&text, "tradsys_replication_lag_records{shard=\"0\"}");
        let down = text.contains("tradsys_replication_state{shard=\"0\",state=\"disconnected\"} 1")
            || text.contains("tradsys_replication_state{shard=\"0\",state=\"connecting\"} 1");
        if lag.is_some_and(|lag| lag > 0) && down {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no lag shown while NATS is down:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    cluster.start_all();
    cluster.wait_ready(Duration::from_secs(60));
    let config = Config::parse(&text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = metrics(admin);
        let caught_up = (0..2).all(|s| {
            gauge(
                &text,
                &format!("tradsys_replication_lag_records{{shard=\"{s}\"}}"),
            ) == Some(0)
                && text.contains(&format!(
                    "tradsys_replication_state{{shard=\"{s}\",state=\"shipping\"}} 1"
                ))
        });
        if caught_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shipping did not resume:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let primary_root = primary_dir.join("journal");
    stop_and_compare(
        gateway,
        follower,
        &config,
        &primary_root,
        &follower_text,
        Duration::from_secs(90),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
