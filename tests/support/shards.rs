//! Two I/O-free shard cores on the demo config (BTC-USD on shard 0, ETH-USD
//! and SOL-USD on shard 1), joined by real rtrb rings, for tests that drive
//! the gateway's logic without sockets.

#![allow(dead_code)]

use std::sync::Arc;

use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::shard::core::ShardCore;
use tradsys::shard::mesh::{self, Doorbell, ShardRing};
use tradsys::shard::shared::Shared;
use tradsys::telemetry::{AdminLink, MarketAdminLink};

/// What [`build`] makes: the cores, the admin ends (empty unless asked
/// for) and the doorbells' rings.
struct Built {
    a: ShardCore,
    b: ShardCore,
    latency: Vec<AdminLink>,
    market: Vec<MarketAdminLink>,
    receivers: Vec<ShardRing>,
}

/// The cores and the shard rings their doorbells ring (keep them alive).
pub fn two_shard_cores(
    ring_capacity: usize,
    tweak: impl FnOnce(&mut Config),
) -> (ShardCore, ShardCore, Vec<ShardRing>) {
    let built = build(ring_capacity, tweak, false);
    (built.a, built.b, built.receivers)
}

/// As [`two_shard_cores`], with latency capture linked to an admin side
/// (the returned ends of the telemetry rings, as the admin thread holds).
pub fn two_shard_cores_with_telemetry(
    ring_capacity: usize,
    tweak: impl FnOnce(&mut Config),
) -> (ShardCore, ShardCore, Vec<AdminLink>, Vec<ShardRing>) {
    let built = build(ring_capacity, tweak, true);
    (built.a, built.b, built.latency, built.receivers)
}

/// As [`two_shard_cores_with_telemetry`], with the market-state picture
/// links too (the admin thread's ends of both).
pub fn two_shard_cores_with_admin_links(
    ring_capacity: usize,
    tweak: impl FnOnce(&mut Config),
) -> (
    ShardCore,
    ShardCore,
    Vec<AdminLink>,
    Vec<MarketAdminLink>,
    Vec<ShardRing>,
) {
    let built = build(ring_capacity, tweak, true);
    (
        built.a,
        built.b,
        built.latency,
        built.market,
        built.receivers,
    )
}

fn build(ring_capacity: usize, tweak: impl FnOnce(&mut Config), telemetry: bool) -> Built {
    let mut config = Config::parse(DEFAULT_TOML).unwrap();
    config.server.cores = vec![0, 1];
    config.symbols[0].shard = Some(0);
    config.symbols[1].shard = Some(1);
    config.symbols[2].shard = Some(1);
    tweak(&mut config);
    config.validate().unwrap();
    let mut doorbells = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let (bell, rx) = Doorbell::new().unwrap();
        doorbells.push(bell);
        receivers.push(rx);
    }
    let shared = Arc::new(Shared::new(config, doorbells));
    let mut links = mesh::build(2, ring_capacity);
    let mut latency = Vec::new();
    let mut market = Vec::new();
    if telemetry {
        for (id, link) in links.iter_mut().enumerate() {
            let (shard_end, admin_end) = tradsys::telemetry::link::link(id as u16);
            link.telemetry = Some(shard_end);
            latency.push(admin_end);
            let (shard_end, admin_end) =
                tradsys::telemetry::market_link::market_link_for(&shared.config, id as u16);
            link.market = Some(shard_end);
            market.push(admin_end);
        }
    }
    let mut links = links.into_iter();
    let a = ShardCore::new(0, Arc::clone(&shared), links.next().unwrap());
    let b = ShardCore::new(1, shared, links.next().unwrap());
    Built {
        a,
        b,
        latency,
        market,
        receivers,
    }
}
