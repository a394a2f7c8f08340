//! Latency capture allocates nothing on the shard: two shard cores (joined
//! by the real rtrb rings, with their journals) trade locally and across
//! the mesh with capture on, and tick past their swap interval every round,
//! so every stage records and every histogram is swapped and handed over
//! many times; the admin side (this thread too, so its allocations would
//! be counted as well) drains the rings and sends clean histograms back.
//! Then, with the admin side stopped, the shards keep recording and count
//! missed swaps, still allocating nothing. The same holds for the pictures
//! of the market state the admin side asks for (`/api/v1/*`): painted on
//! the tick and handed over every round, then asked for with none handed
//! back, allocating nothing.

use std::rc::Rc;
use std::sync::Arc;

use crate::support::alloc_counter::allocations_in;
use crate::support::shards::two_shard_cores_with_admin_links;
use tradsys::admin::LatencyStore;
use tradsys::engine::*;
use tradsys::market_data::{MarketPicture, RECENT_TRADES};
use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Now, Output, ShardCore};
use tradsys::shard::mesh::{SessionRef, ShardRing};
use tradsys::shard::notify::LocalNotify;
use tradsys::shard::shared::Shared;
use tradsys::telemetry::market_link::PICTURES_PER_SHARD;
use tradsys::telemetry::{clock, AdminLink, MarketAdminLink, Stage};

const BTC: SymbolId = 1; // shard 0
const ETH: SymbolId = 2; // shard 1

/// Two started cores with telemetry attached (1 ms intervals), the admin
/// ends of their rings, and the doorbells' receiving ends (keep them).
fn cores(
    dir: &std::path::Path,
) -> (
    ShardCore,
    ShardCore,
    Vec<AdminLink>,
    Vec<MarketAdminLink>,
    Vec<ShardRing>,
) {
    let (mut a, mut b, admin, market, receivers) =
        two_shard_cores_with_admin_links(1024, |config| {
            config.journal.dir = dir.to_path_buf();
            config.journal.segment_bytes = 64 << 20;
            config.engine.order_capacity = 1 << 12;
            config.telemetry.interval_ms = 1;
        });
    a.start().unwrap();
    b.start().unwrap();
    (a, b, admin, market, receivers)
}

struct Peer {
    id: SessionRef,
    seq: u32,
    wire: [u8; 256],
    spare: Vec<u8>,
}

impl Peer {
    fn logon(core: &mut ShardCore, account: AccountId, token: &[u8], now: Now) -> Peer {
        let mut wire = [0u8; 256];
        let logon = LogonMsg::new(account, token, 0, false).unwrap();
        let len = encode(&logon, 1, &mut wire).unwrap();
        let id = match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), now) {
            FirstMessage::LoggedOn(id) => id,
            other => panic!("logon: {other:?}"),
        };
        let mut peer = Peer {
            id,
            seq: 2,
            wire: [0; 256],
            spare: Vec::with_capacity(2 << 20),
        };
        peer.drain(core);
        peer
    }

    fn send(&mut self, core: &mut ShardCore, order: &NewOrder, now: Now) {
        let len = encode(&NewOrderMsg::from_order(order), self.seq, &mut self.wire).unwrap();
        self.seq += 1;
        let intake = core.on_bytes(self.id, &self.wire[..len], now);
        assert_eq!((intake.consumed, intake.blocked), (len, false));
    }

    /// Hands over everything queued (as the writer would); returns the
    /// number of fills in it.
    fn drain(&mut self, core: &mut ShardCore) -> u32 {
        let mut fills = 0;
        while core.take_output(self.id, &mut self.spare) == Output::Data {
            let mut at = 0;
            while at < self.spare.len() {
                let decoded = decode_gateway(&self.spare[at..]).expect("well-formed output");
                fills += u32::from(decoded.message.header().msg_type == msg_type::FILL);
                at += decoded.len;
            }
            self.spare.clear();
        }
        fills
    }
}

fn order(account: AccountId, symbol: SymbolId, id: u64, side: Side, tif: TimeInForce) -> NewOrder {
    let (price, qty) = if symbol == BTC {
        (5_000_000, 1)
    } else {
        (300_000, 10)
    };
    NewOrder {
        account,
        symbol,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: None,
        price,
        qty,
    }
}

fn pump(a: &mut ShardCore, b: &mut ShardCore, now: Now) {
    while a.poll_mesh(now) + b.poll_mesh(now) > 0 {}
}

/// Alice (shard 0) rests a sell on each symbol, Bob (shard 1) takes both;
/// then both shards tick once their 1 ms interval has passed (waiting on
/// the clock, not sleeping). Returns the fills seen.
fn round(cores: &mut (ShardCore, ShardCore), alice: &mut Peer, bob: &mut Peer, i: u64) -> u32 {
    let (a, b) = cores;
    let now = Now {
        mono_ns: i * 1_000_000,
        wall_ns: i,
    };
    for symbol in [BTC, ETH] {
        alice.send(a, &order(1, symbol, i, Side::Sell, TimeInForce::Gtc), now);
        pump(a, b, now);
        bob.send(b, &order(2, symbol, i, Side::Buy, TimeInForce::Ioc), now);
        pump(a, b, now);
    }
    let fills = alice.drain(a) + bob.drain(b);
    let due = clock::mono_ns() + 1_000_000;
    while clock::mono_ns() < due {
        std::hint::spin_loop();
    }
    a.tick(now);
    b.tick(now);
    fills
}

fn missed(shared: &Shared) -> u64 {
    shared
        .telemetry
        .shards
        .iter()
        .map(|s| {
            s.latency_swaps_missed
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum()
}

#[test]
fn recording_and_swapping_histograms_allocate_nothing_on_the_shard() {
    let dir = std::env::temp_dir().join(format!("tradsys-admin-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (a, b, mut admin, _market, _receivers) = cores(&dir);
    let shared = Arc::clone(a.shared());
    let mut cores = (a, b);
    let now = Now {
        mono_ns: 1,
        wall_ns: 1,
    };
    let mut alice = Peer::logon(&mut cores.0, 1, b"alice-demo-token", now);
    let mut bob = Peer::logon(&mut cores.1, 2, b"bob-demo-token", now);
    let mut store = LatencyStore::new(2);
    round(&mut cores, &mut alice, &mut bob, 1);
    store.drain(&mut admin, |_| {});
    let rounds = 200;
    let (allocations, fills) = allocations_in(|| {
        let mut fills = 0;
        for i in 2..2 + rounds {
            fills += round(&mut cores, &mut alice, &mut bob, i);
            store.drain(&mut admin, |_| {});
        }
        fills
    });
    assert_eq!(fills, 4 * rounds as u32, "two trades a round, both sides");
    assert_eq!(allocations, 0, "allocations while recording and swapping");
    let intervals = store.get(0, Stage::Engine).intervals + store.get(1, Stage::Engine).intervals;
    assert!(
        intervals >= rounds,
        "a swap a round on each shard: {intervals}"
    );
    let engine = store.get(0, Stage::Engine).total.len() + store.get(1, Stage::Engine).total.len();
    assert!(engine >= 4 * rounds, "every command timed: {engine}");
    assert_eq!(missed(&shared), 0, "the admin side kept up");

    // The admin side stops: the shards keep recording, counting misses.
    let (allocations, fills) = allocations_in(|| {
        (0..50)
            .map(|i| round(&mut cores, &mut alice, &mut bob, 1_000 + i))
            .sum::<u32>()
    });
    assert_eq!(fills, 4 * 50);
    assert_eq!(allocations, 0, "allocations while swaps are missed");
    assert!(missed(&shared) > 0, "missed swaps counted");
    drop(cores);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The admin side's part: asks every shard for a picture answering
/// `request`, ticks the shards' market timers, and takes what they handed
/// over, keeping the newest of each (`held`) and sending the one it
/// replaces back. Returns the pictures taken.
fn ask_and_take(
    cores: &mut (ShardCore, ShardCore),
    market: &mut [MarketAdminLink],
    held: &mut [Option<MarketPicture>; 2],
    request: u64,
    now: Now,
) -> usize {
    for link in market.iter() {
        link.ask(request);
    }
    cores.0.market_tick(now);
    cores.1.market_tick(now);
    let mut taken = 0;
    for (link, held) in market.iter_mut().zip(held.iter_mut()) {
        while let Ok(picture) = link.full.pop() {
            assert_eq!(picture.request, request, "answers the request asked");
            taken += 1;
            if let Some(old) = held.replace(picture) {
                let _ = link.clean.push(old);
            }
        }
    }
    taken
}

#[test]
fn painting_market_pictures_allocates_nothing_on_the_shard() {
    let dir = std::env::temp_dir().join(format!("tradsys-picture-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (a, b, _latency, mut market, _receivers) = cores(&dir);
    let mut cores = (a, b);
    let now = Now {
        mono_ns: 1,
        wall_ns: 1,
    };
    let mut alice = Peer::logon(&mut cores.0, 1, b"alice-demo-token", now);
    let mut bob = Peer::logon(&mut cores.1, 2, b"bob-demo-token", now);
    let mut held: [Option<MarketPicture>; 2] = [None, None];
    let at = |i: u64| Now {
        mono_ns: i * 1_000_000,
        wall_ns: i,
    };
    round(&mut cores, &mut alice, &mut bob, 1);
    assert_eq!(
        ask_and_take(&mut cores, &mut market, &mut held, 1, at(1)),
        2
    );
    let rounds = 100;
    let (allocations, taken) = allocations_in(|| {
        let mut taken = 0;
        for i in 2..2 + rounds {
            round(&mut cores, &mut alice, &mut bob, i);
            taken += ask_and_take(&mut cores, &mut market, &mut held, i, at(i));
        }
        taken
    });
    assert_eq!(
        allocations, 0,
        "allocations while painting and handing over"
    );
    assert_eq!(
        taken,
        2 * rounds as usize,
        "every request answered by both shards"
    );
    let btc = held[0]
        .as_ref()
        .unwrap()
        .symbol(BTC)
        .expect("shard 0 owns BTC");
    let eth = held[1]
        .as_ref()
        .unwrap()
        .symbol(ETH)
        .expect("shard 1 owns ETH");
    for symbol in [btc, eth] {
        assert_eq!(symbol.ticker.trade_count, 1 + rounds, "a trade a round");
        assert_eq!(symbol.trades.len(), RECENT_TRADES.min(1 + rounds as usize));
        assert!(
            symbol.bids.is_empty() && symbol.asks.is_empty(),
            "each taken"
        );
        assert!(symbol.seq > 0);
    }

    // The admin side asks but hands nothing back: once the spares are
    // used, the shards paint nothing, still allocating nothing.
    let (allocations, painted) = allocations_in(|| {
        let mut painted = 0;
        for i in 0..10 {
            round(&mut cores, &mut alice, &mut bob, 1_000 + i);
            for link in &market {
                link.ask(1_000 + i);
            }
            cores.0.market_tick(at(1_000 + i));
            cores.1.market_tick(at(1_000 + i));
            painted = market.iter().map(|l| l.full.slots()).sum::<usize>();
        }
        painted
    });
    assert_eq!(allocations, 0, "allocations with no picture handed back");
    assert_eq!(
        painted,
        2 * (PICTURES_PER_SHARD - 1),
        "the spares, then none"
    );
    drop(cores);
    let _ = std::fs::remove_dir_all(&dir);
}
