//! What the replication tests share: the primary's config with shipping
//! on, a seeded random order flow through the real gateway, and the
//! oracle: each journal replayed offline with the recovery code into
//! fresh engines, compared book by book, order by order and position by
//! position.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::support::gateway::*;
use crate::support::nats::NatsCluster;
use tradsys::client::{Client, Received};
use tradsys::config::Config;
use tradsys::engine::*;
use tradsys::journal::{shard_dir, JournalWriter, Record, Replay};

/// What most replication tests begin with, in their turn
/// ([`serial`](super::serial)): a NATS cluster, a primary shipping to it
/// (started), and a follower's directory and config (the follower is not
/// started). Fields drop in order: the primary, then the cluster, then
/// the turn.
pub struct Replicated {
    pub gateway: Gateway,
    pub cluster: NatsCluster,
    pub dir: PathBuf,
    /// The primary's config.
    pub config: Config,
    pub primary_dir: PathBuf,
    /// The primary's journal root.
    pub primary_root: PathBuf,
    pub follower_dir: PathBuf,
    pub follower_text: String,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Replicated {
    pub fn start() -> Replicated {
        let turn = super::serial();
        let dir = Gateway::new_dir();
        let cluster = NatsCluster::start(&dir.join("nats"));
        let primary_dir = dir.join("primary");
        let text = replicated_config(&primary_dir, &cluster);
        let config = Config::parse(&text).unwrap();
        let gateway = Gateway::start_config(&primary_dir, &text, None).expect("primary starts");
        let follower_dir = dir.join("follower");
        let follower_text = replicated_config(&follower_dir, &cluster);
        assert_ne!(text, follower_text, "each its own journal");
        Replicated {
            gateway,
            cluster,
            primary_root: primary_dir.join("journal"),
            dir,
            config,
            primary_dir,
            follower_dir,
            follower_text,
            _turn: turn,
        }
    }
}

/// The test gateway config (two shards: BTC on 0, ETH on 1) with shipping
/// to `cluster`, a state checksum every 20 ms, journal under `dir`.
pub fn replicated_config(dir: &Path, cluster: &NatsCluster) -> String {
    config(
        &format!(
            "[server]\n\n[replication]\nnats_urls = {}\nreplicas = 3\nchecksum_interval_ms = 20\n",
            cluster.urls_toml()
        ),
        dir,
    )
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random command: mostly resting and crossing limit orders around
/// the reference prices, some IOC, now and then a mass cancel.
fn random_command(client: &mut Client, account: AccountId, id: u64, rng: &mut Rng) {
    if rng.below(40) == 0 {
        client.mass_cancel(id, None).expect("send mass cancel");
        return;
    }
    let (symbol, reference, tick, lot) = if rng.below(2) == 0 {
        (BTC, 10_000, 1, 1)
    } else {
        (ETH, 3_000, 5, 10)
    };
    let side = if rng.below(2) == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let offset = (rng.below(21) as i64 - 10) * tick;
    let order = NewOrder {
        account,
        symbol,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif: if rng.below(5) == 0 {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        },
        post_only: false,
        stp: None,
        price: reference + offset,
        qty: (1 + rng.below(5)) * lot,
    };
    client.new_order(&order).expect("send order");
}

/// The request ids of the order-status barrier that ends a flow, one per
/// symbol (far above the flow's client order ids).
const BARRIER: [(SymbolId, ClientOrderId); 2] = [(BTC, u64::MAX - 1), (ETH, u64::MAX - 2)];

/// Reads a flow session's answers until the barrier's, then tells `done`,
/// then reads on until the session ends.
fn read_answers(mut reader: Client, done: mpsc::Sender<()>) {
    let mut answered = 0;
    while let Ok(received) = reader.recv() {
        let Received::OrderStatus(status) = received else {
            continue;
        };
        if BARRIER
            .iter()
            .any(|&(_, id)| id == status.client_order_id.get())
        {
            assert_eq!(
                status.reject_reason.get(),
                0,
                "the barrier's order status was refused: {status:?}"
            );
            answered += 1;
            if answered == BARRIER.len() {
                let _ = done.send(());
            }
        }
    }
}

/// Sends `count` random commands from Alice and Bob (seeded), paced so
/// the rate limiter lets them through, reads every answer, and returns
/// once every command is journaled: each session ends with an order status
/// per symbol, which its owner shard answers only after every command the
/// session sent it before (one FIFO ring per pair of shards, the engine
/// batch flushed before a query). Without it a session could log out
/// while its commands for the other shard still waited in that shard's
/// ring (a starved shard, seconds on a loaded host), and the journal the
/// caller reads next would not be the flow's last.
pub fn random_flow(gateway: &Gateway, seed: u64, count: u64) {
    let mut rng = Rng(seed | 1);
    let mut clients = [gateway.logon(ALICE), gateway.logon(BOB)];
    let (done, answered) = mpsc::channel();
    let readers: Vec<_> = clients
        .iter()
        .map(|c| {
            let reader = c.try_clone_for_reading();
            let done = done.clone();
            thread::spawn(move || read_answers(reader, done))
        })
        .collect();
    // Only the readers hold senders now: one that ends early is seen at once.
    drop(done);
    for i in 0..count {
        let which = rng.below(2) as usize;
        let account = [ALICE, BOB][which];
        random_command(
            &mut clients[which],
            account,
            seed * 1_000_000 + i + 1,
            &mut rng,
        );
        if i % 50 == 49 {
            thread::sleep(Duration::from_millis(5));
        }
    }
    for client in &mut clients {
        for (symbol, request_id) in BARRIER {
            client
                .order_status(request_id, symbol, 0)
                .expect("send the barrier");
        }
    }
    // Waiting may take seconds on a loaded host (the other shard starved):
    // the sessions heartbeat meanwhile, as a client must, or the gateway
    // ends them for idleness before the answers come.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut waiting = clients.len();
    while waiting > 0 {
        match answered.recv_timeout(Duration::from_millis(250)) {
            Ok(()) => waiting -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "every session's barrier answered"
                );
                for client in &mut clients {
                    client.heartbeat().expect("heartbeat");
                }
            }
            Err(e) => panic!("a session ended before its barrier's answers: {e}"),
        }
    }
    for client in &mut clients {
        client.logout().expect("logout");
    }
    drop(clients);
    for reader in readers {
        reader.join().expect("the answers read");
    }
}

/// Every shard's journal under `root` replayed offline into fresh engines
/// with the recovery code, and its records.
pub fn replay_journal(config: &Config, root: &Path) -> Vec<(Engine, Vec<Record>)> {
    (0..config.shard_count())
        .map(|shard| {
            let dir = shard_dir(root, shard as u16);
            let mut engine = Engine::new(&config.engine_config(shard));
            let mut replay = Replay::replica(&dir);
            let mut records = Vec::new();
            let mut events = Vec::new();
            let (writer, _) =
                JournalWriter::open(&dir, shard as u16, &config.journal, false, |r| {
                    replay.apply(&mut engine, r, &mut events);
                    records.push(*r);
                })
                .expect("journal opens");
            drop(writer);
            assert!(
                replay.take_failure().is_none(),
                "replay of {}",
                dir.display()
            );
            (engine, records)
        })
        .collect()
}

/// Every event of every shard's journal under `root` replayed offline:
/// `(shard, record seq, event)`.
pub fn replay_journal_events(config: &Config, root: &Path) -> Vec<(u16, u64, Event)> {
    let mut all = Vec::new();
    for shard in 0..config.shard_count() {
        let dir = shard_dir(root, shard as u16);
        let mut engine = Engine::new(&config.engine_config(shard));
        let mut replay = Replay::replica(&dir);
        let mut events = Vec::new();
        let (writer, _) = JournalWriter::open(&dir, shard as u16, &config.journal, false, |r| {
            events.clear();
            replay.apply(&mut engine, r, &mut events);
            all.extend(events.iter().map(|e| (shard as u16, r.seq, *e)));
        })
        .expect("journal opens");
        drop(writer);
        assert!(replay.take_failure().is_none());
    }
    all
}

/// The last seq of each shard's journal under `root`.
pub fn last_seqs(config: &Config, root: &Path) -> Vec<u64> {
    replay_journal(config, root)
        .iter()
        .map(|(_, records)| records.last().map_or(0, |r| r.seq))
        .collect()
}

/// Asserts two engines hold the same books (every level, every order id
/// in time priority), the same positions and the same state digest.
pub fn assert_same_state(config: &Config, shard: usize, primary: &Engine, replica: &Engine) {
    for symbol in config
        .symbols
        .iter()
        .filter(|s| config.owner_shard(s) == shard)
    {
        for side in [Side::Buy, Side::Sell] {
            let levels: Vec<LevelView> = primary.depth(symbol.id, side, usize::MAX).collect();
            let replica_levels: Vec<LevelView> =
                replica.depth(symbol.id, side, usize::MAX).collect();
            assert_eq!(
                levels, replica_levels,
                "symbol {} {side:?} levels",
                symbol.id
            );
            for level in &levels {
                let orders: Vec<OrderId> =
                    primary.level_orders(symbol.id, side, level.price).collect();
                let replica_orders: Vec<OrderId> =
                    replica.level_orders(symbol.id, side, level.price).collect();
                assert_eq!(
                    orders, replica_orders,
                    "symbol {} {side:?} @ {}",
                    symbol.id, level.price
                );
            }
        }
        for account in &config.accounts {
            assert_eq!(
                primary.position(account.id, symbol.id),
                replica.position(account.id, symbol.id),
                "account {} symbol {}",
                account.id,
                symbol.id
            );
        }
    }
    // Done orders (PROTOCOL.md 5.8) are not in the digest (old journals'
    // checksums would change): compared here, every account's whole window.
    for account in &config.accounts {
        let done = |engine: &Engine| {
            let mut listed = Vec::new();
            engine.done_orders_page(
                account.id,
                None,
                PageCursor::default(),
                usize::MAX,
                |s, d| listed.push((s, *d)),
            );
            listed
        };
        assert_eq!(
            done(primary),
            done(replica),
            "shard {shard} account {} done orders",
            account.id
        );
    }
    assert_eq!(
        primary.done_orders_recorded(),
        replica.done_orders_recorded(),
        "shard {shard} done orders recorded"
    );
    assert_eq!(
        primary.state_digest(),
        replica.state_digest(),
        "shard {shard} digest"
    );
}

/// The follower's journal holds exactly the primary's records, and both
/// replay to the same state; the follower's own final digests agree.
/// The end of a trial: the primary stops (exit 0), the follower applies
/// every record of the primary's journal within `timeout`, stops (exit 0),
/// and equals the primary.
pub fn stop_and_compare(
    gateway: Gateway,
    mut follower: crate::support::follower::Follower,
    config: &Config,
    primary_root: &Path,
    follower_text: &str,
    timeout: Duration,
) {
    let (status, _) = gateway.stop();
    assert!(status.success());
    let seqs = last_seqs(config, primary_root);
    follower.wait_applied(&seqs, timeout);
    let (status, digests, _) = follower.stop();
    assert!(status.success(), "{status:?}");
    assert_replica_equals_primary(
        config,
        primary_root,
        &Config::parse(follower_text).unwrap().journal.dir,
        &digests,
    );
}

pub fn assert_replica_equals_primary(
    config: &Config,
    primary_root: &Path,
    follower_root: &Path,
    follower_digests: &std::collections::HashMap<u16, String>,
) {
    let primary = replay_journal(config, primary_root);
    let follower = replay_journal(config, follower_root);
    for (shard, ((p_engine, p_records), (f_engine, f_records))) in
        primary.iter().zip(&follower).enumerate()
    {
        assert!(
            p_records.len() > 2,
            "shard {shard}: the flow journaled something"
        );
        assert_eq!(
            p_records.len(),
            f_records.len(),
            "shard {shard}: record count"
        );
        assert!(
            p_records == f_records,
            "shard {shard}: the follower's records differ"
        );
        assert_same_state(config, shard, p_engine, f_engine);
        let digest = format!("{:016x}", p_engine.state_digest());
        assert_eq!(
            follower_digests.get(&(shard as u16)),
            Some(&digest),
            "shard {shard}: the follower's live engine"
        );
    }
}

/// The last seq of each shard's journal under `root`, read-only, as the
/// shipper reads it (the primary may be running).
pub fn live_last_seqs(config: &Config, root: &Path) -> Vec<u64> {
    (0..config.shard_count())
        .map(|shard| {
            let dir = shard_dir(root, shard as u16);
            let mut tail = tradsys::replication::tail::JournalTail::new(&dir, 1);
            while let Ok(Some(_)) = tail.next_frame() {}
            tail.next_seq() - 1
        })
        .collect()
}
