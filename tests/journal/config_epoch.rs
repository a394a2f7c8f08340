//! Config epochs: the journal records which engine config each command ran
//! under (a `config_epoch` record naming a config file beside the
//! segments), and `journal::restore` replays each command under it, then
//! applies the current config from the restart on.

use std::fs;
use std::path::Path;

use crate::support::journal::*;
use proptest::prelude::*;
use tradsys::config::{JournalConfig, SyncPolicy};
use tradsys::engine::*;
use tradsys::journal::{
    self, config_file, ConfigEpoch, ConfigFileProblem, CorruptReason, JournalError, JournalWriter,
    Restored,
};

const SYM: SymbolId = 7;
const ALICE: AccountId = 1;
const BOB: AccountId = 2;

/// Config A: Alice may send 100 lots. `config_b` lowers that to 10.
fn config_a() -> EngineConfig {
    EngineConfig {
        symbols: vec![SymbolSpec {
            id: SYM,
            tick_size: 1,
            lot_size: 1,
            reference_price: 1_000,
            price_band_bps: 1_000,
        }],
        accounts: [ALICE, BOB]
            .into_iter()
            .map(|id| AccountSpec {
                id,
                limits: RiskLimits {
                    max_order_qty: 100,
                    ..RiskLimits::UNLIMITED
                },
                default_stp: StpMode::CancelResting,
            })
            .collect(),
        order_capacity: 64,
        max_levels_per_side: 16,
    }
}

fn config_b() -> EngineConfig {
    let mut config = config_a();
    config.accounts[0].limits.max_order_qty = 10;
    config
}

fn order(account: AccountId, client_order_id: u64, side: Side, price: Price, qty: Qty) -> Command {
    Command::New(NewOrder {
        account,
        symbol: SYM,
        client_order_id,
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: None,
        price,
        qty,
    })
}

/// A shard as the gateway runs it: restored from its journal under
/// `config`, then every command journaled before the engine sees it.
struct Shard {
    writer: JournalWriter,
    engine: Engine,
    restored: Restored,
    /// Events of the replay.
    replayed: Vec<Event>,
}

fn start(dir: &Path, cfg: &JournalConfig, config: &EngineConfig) -> Result<Shard, JournalError> {
    start_cut(dir, cfg, config, false)
}

fn start_cut(
    dir: &Path,
    cfg: &JournalConfig,
    config: &EngineConfig,
    truncate_corrupt_journal: bool,
) -> Result<Shard, JournalError> {
    let mut engine = Engine::new(config);
    let mut replayed = Vec::new();
    let (writer, restored) = journal::restore(
        dir,
        0,
        cfg,
        truncate_corrupt_journal,
        &mut engine,
        config,
        42,
        &mut replayed,
    )?;
    engine.check_invariants();
    Ok(Shard {
        writer,
        engine,
        restored,
        replayed,
    })
}

impl Shard {
    fn run(&mut self, command: Command) -> Vec<Event> {
        self.writer.append(7, &command).unwrap();
        let mut events = Vec::new();
        self.engine.process(&command, &mut events);
        events
    }
}

fn accepted_id(events: &[Event]) -> OrderId {
    match events.first() {
        Some(Event::Accepted { order_id, .. }) => *order_id,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

fn reject_reason(events: &[Event]) -> Option<RejectReason> {
    match events {
        [Event::Rejected { reason, .. }] => Some(*reason),
        _ => None,
    }
}

fn config_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("engine-config-"))
        .collect();
    names.sort();
    names
}

#[test]
fn replay_keeps_what_config_a_accepted_and_config_b_applies_from_the_restart() {
    let tmp = TempDir::new("epoch-replay");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let epoch_a = ConfigEpoch::of(&config_a());
    let epoch_b = ConfigEpoch::of(&config_b());
    assert_ne!(epoch_a, epoch_b);

    // A fresh journal starts with the epoch of the config it runs under.
    let mut shard = start(tmp.path(), &cfg, &config_a()).unwrap();
    assert_eq!(shard.restored.new_epoch, Some((epoch_a, 1)));
    assert_eq!(shard.restored.first_epoch, None);
    let mut live = Vec::new();
    let commands = [
        order(ALICE, 1, Side::Buy, 990, 50),
        order(BOB, 2, Side::Sell, 990, 20),
        order(ALICE, 3, Side::Buy, 989, 60),
    ];
    for command in commands {
        live.extend(shard.run(command));
    }
    let first = accepted_id(&live);
    let third = shard
        .engine
        .level_orders(SYM, Side::Buy, 989)
        .next()
        .unwrap();
    assert_eq!(
        shard.engine.order(ALICE, SYM, first).unwrap().leaves_qty,
        30
    );
    drop(shard);

    // What a replay without epochs does under B (the defect): the 50-lot
    // order is refused, so the book and every later id differ.
    let mut naive = Engine::new(&config_b());
    for command in commands {
        naive.process(&command, &mut Vec::new());
    }
    assert_eq!(naive.order(ALICE, SYM, first), None);

    // Restart under B: the replay gives the same events as the live run,
    // then B is in force and recorded.
    let mut shard = start(tmp.path(), &cfg, &config_b()).unwrap();
    assert_eq!(
        shard.replayed, live,
        "replay answers as the live engine did"
    );
    assert_eq!(shard.restored.first_epoch, Some(epoch_a));
    assert_eq!(shard.restored.epochs_replayed, 1);
    assert_eq!(shard.restored.new_epoch, Some((epoch_b, 5)));
    assert_eq!(
        shard.engine.order(ALICE, SYM, first).unwrap().leaves_qty,
        30
    );
    assert_eq!(
        shard.engine.order(ALICE, SYM, third).unwrap().leaves_qty,
        60
    );
    let refused = shard.run(order(ALICE, 4, Side::Buy, 988, 50));
    assert_eq!(reject_reason(&refused), Some(RejectReason::MaxOrderQty));
    let fourth = accepted_id(&shard.run(order(ALICE, 5, Side::Buy, 988, 10)));
    assert_eq!(fourth, third + 1, "ids continue after the replayed ones");
    drop(shard);
    assert_eq!(
        config_files(tmp.path()),
        vec![
            config_file::file_name(epoch_a.digest),
            config_file::file_name(epoch_b.digest)
        ]
    );

    // Same config again: nothing new is recorded; the reject under B
    // replays as a reject.
    let shard = start(tmp.path(), &cfg, &config_b()).unwrap();
    assert_eq!(shard.restored.new_epoch, None);
    assert_eq!(shard.restored.epochs_replayed, 2);
    assert_eq!(
        shard.engine.order(ALICE, SYM, fourth).unwrap().leaves_qty,
        10
    );
    assert_eq!(
        shard
            .replayed
            .iter()
            .filter(|e| matches!(e, Event::Rejected { .. }))
            .count(),
        1
    );
    drop(shard);

    // Back to A: a third epoch (A's file is reused), and A's limit is back.
    let mut shard = start(tmp.path(), &cfg, &config_a()).unwrap();
    assert_eq!(shard.restored.new_epoch, Some((epoch_a, 8)));
    assert_eq!(shard.engine.resting_orders(), 3);
    accepted_id(&shard.run(order(ALICE, 6, Side::Buy, 987, 50)));
    drop(shard);

    // The tools see the epochs: stats counts them, dump prints the digest.
    let stats = journal::stats(tmp.path()).unwrap();
    assert!(stats.is_intact());
    let by_kind = &stats.shards[0].records_by_kind;
    assert_eq!(by_kind[journal::codec::kind::CONFIG_EPOCH as usize], 3);
    let mut out = Vec::new();
    journal::dump(tmp.path(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let first_line = text.lines().next().unwrap();
    assert_eq!(
        first_line,
        format!(
            r#"{{"shard":0,"seq":1,"ts_ns":42,"kind":"config_epoch","digest":"{:016x}","config_bytes":{},"file":"engine-config-{:016x}.bin"}}"#,
            epoch_a.digest, epoch_a.config_bytes, epoch_a.digest
        )
    );
}

#[test]
fn a_restart_that_changes_the_account_set_is_refused_with_the_fix() {
    let tmp = TempDir::new("epoch-shape");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let mut shard = start(tmp.path(), &cfg, &config_a()).unwrap();
    let id = accepted_id(&shard.run(order(ALICE, 1, Side::Buy, 990, 50)));
    drop(shard);
    let segment = segment_files(tmp.path())[0].clone();
    let before = fs::read(&segment).unwrap();

    let mut added = config_b();
    added.accounts.push(AccountSpec {
        id: 9,
        limits: RiskLimits::UNLIMITED,
        default_stp: StpMode::CancelBoth,
    });
    let mut removed = config_a();
    removed.accounts.retain(|a| a.id != BOB);
    let mut bigger = config_a();
    bigger.order_capacity = 128;
    for (config, change) in [
        (added, "accounts changed: added [9]"),
        (removed, "accounts changed: removed [2]"),
        (bigger, "engine.order_capacity changed from 64 to 128"),
    ] {
        let error = match start(tmp.path(), &cfg, &config) {
            Err(error) => error,
            Ok(_) => panic!("{change}: the start must be refused"),
        };
        assert!(
            matches!(error, JournalError::ConfigChange { seq: None, .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(change), "{message}");
        assert!(message.contains("fresh journal directory"), "{message}");
        // Refused before anything was written.
        assert_eq!(fs::read(&segment).unwrap(), before);
    }
    assert_eq!(config_files(tmp.path()).len(), 1);
    let shard = start(tmp.path(), &cfg, &config_a()).unwrap();
    assert_eq!(shard.restored.new_epoch, None);
    assert!(shard.engine.order(ALICE, SYM, id).is_some());
}

#[test]
fn a_journal_begun_before_epochs_replays_under_its_first_epoch() {
    let tmp = TempDir::new("epoch-legacy");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    // Written as before this change: commands only.
    let (mut writer, _) = JournalWriter::open(tmp.path(), 0, &cfg, false, |_| {}).unwrap();
    writer
        .append(1, &order(ALICE, 1, Side::Buy, 990, 50))
        .unwrap();
    drop(writer);
    // The first start after the upgrade replays it under its config (A)
    // and records A after it.
    let shard = start(tmp.path(), &cfg, &config_a()).unwrap();
    assert_eq!(shard.restored.first_epoch, None);
    assert_eq!(
        shard.restored.new_epoch,
        Some((ConfigEpoch::of(&config_a()), 2))
    );
    let id = shard
        .engine
        .level_orders(SYM, Side::Buy, 990)
        .next()
        .unwrap();
    drop(shard);
    // Under B later, the old command still replays under A, the config it
    // was replayed under when the first epoch was written.
    let shard = start(tmp.path(), &cfg, &config_b()).unwrap();
    assert_eq!(
        shard.restored.first_epoch,
        Some(ConfigEpoch::of(&config_a()))
    );
    assert_eq!(shard.engine.order(ALICE, SYM, id).unwrap().leaves_qty, 50);
}

#[test]
fn a_missing_or_damaged_config_file_is_corruption_at_its_record() {
    let tmp = TempDir::new("epoch-file");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::Every);
    let mut shard = start(tmp.path(), &cfg, &config_a()).unwrap();
    shard.run(order(ALICE, 1, Side::Buy, 990, 50));
    drop(shard);
    let mut shard = start(tmp.path(), &cfg, &config_b()).unwrap();
    shard.run(order(ALICE, 2, Side::Buy, 989, 5));
    drop(shard);
    let epoch_b = ConfigEpoch::of(&config_b());
    let file_b = tmp.path().join(config_file::file_name(epoch_b.digest));
    let segment = segment_files(tmp.path())[0].clone();
    // B's record: after A's epoch (a 48-byte frame) and one new order (72).
    let offset = 64 + 48 + 72;

    let bytes = fs::read(&file_b).unwrap();
    let mut flipped = bytes.clone();
    flipped[40] ^= 1;
    for (damage, problem) in [
        (None, ConfigFileProblem::Missing),
        (Some(flipped), ConfigFileProblem::BadCrc),
        (Some(bytes[..20].to_vec()), ConfigFileProblem::TooShort(20)),
    ] {
        match &damage {
            None => fs::remove_file(&file_b).unwrap(),
            Some(b) => fs::write(&file_b, b).unwrap(),
        }
        let reason = CorruptReason::ConfigFile {
            digest: epoch_b.digest,
            problem,
        };
        match start(tmp.path(), &cfg, &config_b()) {
            Err(JournalError::Corrupt {
                file,
                offset: at,
                reason: found,
            }) => assert_eq!((file, at, found), (segment.clone(), offset, reason)),
            Err(other) => panic!("{problem:?}: {other}"),
            Ok(_) => panic!("{problem:?}: the start must be refused"),
        }
        let message = journal::verify(tmp.path()).unwrap().shards[0]
            .corruption
            .clone()
            .expect("verify reports it");
        assert_eq!(message, (segment.clone(), offset, reason));
        assert!(reason
            .to_string()
            .contains(&config_file::file_name(epoch_b.digest)));
    }
    // Cut there on request: the order under B is gone, A's is kept, and
    // B is recorded anew (its file rewritten).
    let shard = start_cut(tmp.path(), &cfg, &config_b(), true).unwrap();
    assert!(shard.restored.report.truncated_corruption.is_some());
    assert_eq!(shard.engine.resting_orders(), 1);
    assert_eq!(shard.restored.new_epoch, Some((epoch_b, 3)));
    assert_eq!(fs::read(&file_b).unwrap(), bytes);
}

fn symbol_spec() -> impl Strategy<Value = SymbolSpec> {
    (
        any::<u32>(),
        1i64..=i64::MAX,
        1u64..=u64::MAX,
        any::<i64>(),
        any::<u32>(),
    )
        .prop_map(
            |(id, tick_size, lot_size, reference_price, price_band_bps)| SymbolSpec {
                id,
                tick_size,
                lot_size,
                reference_price,
                price_band_bps,
            },
        )
}

fn account_spec() -> impl Strategy<Value = AccountSpec> {
    (
        any::<u32>(),
        (any::<u64>(), any::<u128>(), any::<u32>(), any::<u64>()),
        1u8..=3,
    )
        .prop_map(|(id, (qty, notional, open, position), stp)| AccountSpec {
            id,
            limits: RiskLimits {
                max_order_qty: qty,
                max_order_notional: notional,
                max_open_orders: open,
                max_position: position,
            },
            default_stp: StpMode::from_u8(stp).unwrap(),
        })
}

fn engine_config() -> impl Strategy<Value = EngineConfig> {
    (
        proptest::collection::vec(symbol_spec(), 0..6),
        proptest::collection::vec(account_spec(), 0..6),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(mut symbols, mut accounts, order_capacity, max_levels_per_side)| {
                symbols.sort_by_key(|s| s.id);
                symbols.dedup_by_key(|s| s.id);
                accounts.sort_by_key(|a| a.id);
                accounts.dedup_by_key(|a| a.id);
                // Config order is kept, not sorted: shuffle it back.
                symbols.reverse();
                EngineConfig {
                    symbols,
                    accounts,
                    order_capacity,
                    max_levels_per_side,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_engine_config_round_trips_through_its_encoding(config in engine_config()) {
        let body = config_file::encode(&config);
        prop_assert_eq!(config_file::decode(&body), Ok(config.clone()));
        prop_assert_eq!(
            ConfigEpoch::of(&config),
            ConfigEpoch { digest: config_file::digest(&body), config_bytes: body.len() as u32 }
        );
    }

    #[test]
    fn any_body_decodes_to_a_config_that_encodes_back_or_to_an_error(
        config in engine_config(),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let mut body = config_file::encode(&config);
        let at = at % body.len();
        if cut {
            body.truncate(at);
        } else {
            body[at] = byte;
        }
        if let Ok(decoded) = config_file::decode(&body) {
            // Canonical: one config, one encoding.
            prop_assert_eq!(config_file::encode(&decoded), body);
        }
    }
}

#[test]
fn configs_that_differ_in_anything_the_engine_reads_have_other_epochs() {
    let base = config_a();
    let mut changed = Vec::new();
    let mut c = base.clone();
    c.symbols[0].tick_size = 2;
    changed.push(c);
    let mut c = base.clone();
    c.symbols[0].reference_price = 1_002;
    changed.push(c);
    let mut c = base.clone();
    c.symbols[0].price_band_bps = 1;
    changed.push(c);
    let mut c = base.clone();
    c.accounts[1].limits.max_order_notional = 5;
    changed.push(c);
    let mut c = base.clone();
    c.accounts[1].limits.max_position = 5;
    changed.push(c);
    let mut c = base.clone();
    c.accounts[1].default_stp = StpMode::CancelBoth;
    changed.push(c);
    let mut c = base.clone();
    c.accounts.reverse();
    changed.push(c);
    let mut epochs: Vec<ConfigEpoch> = changed.iter().map(ConfigEpoch::of).collect();
    epochs.push(ConfigEpoch::of(&base));
    let count = epochs.len();
    epochs.sort_by_key(|e| e.digest);
    epochs.dedup();
    assert_eq!(epochs.len(), count);
}

/// `state_checksum` records (replication): a restart checks each against
/// the state its replay reached there; the right one passes (and its
/// digest is what a fresh replay gives), a wrong one refuses the start
/// with the seq and both digests.
#[test]
fn a_restart_verifies_state_checksums_and_refuses_a_diverged_journal() {
    for wrong in [false, true] {
        let tmp = TempDir::new("state-checksum");
        let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
        let mut shard = start(tmp.path(), &cfg, &config_a()).unwrap();
        shard.run(order(ALICE, 1, Side::Buy, 990, 5));
        shard.run(order(BOB, 2, Side::Sell, 990, 2));
        let right = journal::StateChecksum::of(&shard.engine);
        assert_eq!(right.resting_orders, 1);
        let checksum = if wrong {
            journal::StateChecksum {
                digest: right.digest.wrapping_add(1),
                ..right
            }
        } else {
            right
        };
        let seq = shard.writer.append_state_checksum(9, checksum).unwrap();
        assert_eq!(seq, 4, "epoch, two orders, then the checksum");
        drop(shard);
        match start(tmp.path(), &cfg, &config_a()) {
            Ok(restarted) => {
                assert!(!wrong, "a wrong checksum passed");
                assert_eq!(restarted.engine.state_digest(), right.digest);
            }
            Err(JournalError::Diverged {
                seq,
                expected,
                found,
            }) => {
                assert!(wrong, "the right checksum was refused");
                assert_eq!((seq, expected, found), (4, checksum, right));
            }
            Err(other) => panic!("{other}"),
        }
    }
}
