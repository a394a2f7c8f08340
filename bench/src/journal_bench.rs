//! `tradsys-bench journal`: the write-ahead journal alone, pinned to one
//! core. For each sync policy it appends new-order commands and records
//! every append's latency (an `Instant` pair around the call, so about
//! 20-40 ns of clock reads are included); spares are created on a helper
//! thread as the gateway does. Then it reopens the `none` journal and times
//! recovery: scan + CRC + decode into a counting callback, and again into
//! a matching engine. The page cache is warm (the files were just written):
//! this is the journal's cost, not the disk's.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tradsys::config::{JournalConfig, SyncPolicy};
use tradsys::engine::*;
use tradsys::journal::{self, JournalWriter, Segment};

use crate::engine_bench;
use crate::report::{histogram, Figure, Unit};
use crate::rng::Rng;

#[derive(clap::Args)]
pub struct JournalArgs {
    /// Records appended with sync = none and interval (and replayed).
    #[arg(long, default_value_t = 2_000_000)]
    pub records: usize,
    /// Records appended with sync = every (each one msyncs).
    #[arg(long, default_value_t = 2_000)]
    pub every_records: usize,
    /// Scratch directory (removed afterwards).
    #[arg(long, default_value = "data/bench-journal")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 64 << 20)]
    pub segment_bytes: u64,
    /// Core to pin the benchmark thread to.
    #[arg(long, default_value_t = 1)]
    pub core: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const SYMBOLS: u32 = 100;
const ACCOUNTS: u32 = engine_bench::ACCOUNTS;
const MID: Price = engine_bench::REFERENCE_PRICE;

/// New orders around the mid of 100 symbols, both sides, mostly resting
/// limits with some marketable IOCs: what the journal sees most.
fn new_orders(count: usize, seed: u64) -> Vec<Command> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let side = if rng.percent(50) {
                Side::Buy
            } else {
                Side::Sell
            };
            let ioc = rng.percent(10);
            let away = if ioc { -2 } else { 1 + rng.below(20) as i64 };
            Command::New(NewOrder {
                account: 1 + rng.below(ACCOUNTS as u64) as u32,
                symbol: 1 + rng.below(SYMBOLS as u64) as u32,
                client_order_id: i as u64 + 1,
                side,
                kind: OrderKind::Limit,
                tif: if ioc {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                },
                post_only: false,
                stp: None,
                price: MID - side.sign() * away,
                qty: 1 + rng.below(100),
            })
        })
        .collect()
}

fn policy_name(sync: &SyncPolicy) -> &'static str {
    match sync {
        SyncPolicy::None => "none",
        SyncPolicy::Interval => "interval",
        SyncPolicy::Every => "every",
    }
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Appends `commands` under `sync`, creating spares off-thread, and prints
/// the latency line.
fn append_run(
    args: &JournalArgs,
    sync: SyncPolicy,
    commands: &[Command],
    figures: &mut Vec<Figure>,
) -> PathBuf {
    let name = policy_name(&sync);
    let cfg = JournalConfig {
        dir: args.dir.clone(),
        sync,
        sync_interval_us: 1_000,
        segment_bytes: args.segment_bytes,
    };
    let shard_dir = args.dir.join(name);
    let _ = std::fs::remove_dir_all(&shard_dir);
    let (mut writer, _) =
        JournalWriter::open(&shard_dir, 0, &cfg, false, |_| {}).expect("open journal");
    let mut latency = histogram();
    let mut pending: Option<JoinHandle<(std::io::Result<Segment>, Duration)>> = None;
    let mut slowest_spare = Duration::ZERO;
    let base_ns = wall_ns();
    let started = Instant::now();
    for (i, command) in commands.iter().enumerate() {
        let ts_ns = base_ns + i as u64;
        let t0 = Instant::now();
        writer.append(ts_ns, command).expect("append");
        let ns = t0.elapsed().as_nanos() as u64;
        latency.record(ns.max(1)).unwrap();
        // The gateway's housekeeping between messages, untimed.
        if let Some(request) = writer.spare_needed() {
            pending = Some(std::thread::spawn(move || {
                let t0 = Instant::now();
                (request.create(), t0.elapsed())
            }));
        }
        if pending.as_ref().is_some_and(|p| p.is_finished()) {
            let (created, took) = pending.take().unwrap().join().unwrap();
            writer.install_spare(created.expect("create spare"));
            slowest_spare = slowest_spare.max(took);
        }
        if i % 1024 == 0 {
            writer
                .sync_if_due(started.elapsed().as_nanos() as u64)
                .expect("sync");
            drop(writer.take_retired());
            writer.prefault_ahead();
        }
    }
    let elapsed = started.elapsed();
    if let Some(p) = pending {
        if let Ok((Ok(segment), _)) = p.join() {
            writer.install_spare(segment);
        }
    }
    let stats = writer.stats();
    // An msync per append is tens of microseconds; the others are tens of ns.
    let unit = if name == "every" { Unit::Us } else { Unit::Ns };
    figures.push(Figure::latency(format!("journal-append[{name}]"), &latency, unit).print());
    println!(
        "  {name}: {} records in {:.1} ms, {} segments rolled ({} created on the append path, spares took up to {:.1} ms off-thread), {} interval syncs",
        commands.len(),
        elapsed.as_secs_f64() * 1e3,
        stats.segments_rolled,
        stats.sync_segment_creations,
        slowest_spare.as_secs_f64() * 1e3,
        stats.syncs
    );
    shard_dir
}

fn replay_run(args: &JournalArgs, shard_dir: &Path, figures: &mut Vec<Figure>) {
    let cfg = JournalConfig {
        dir: args.dir.clone(),
        sync: SyncPolicy::None,
        sync_interval_us: 1_000,
        segment_bytes: args.segment_bytes,
    };
    let mut count = 0u64;
    let mut checksum = 0u64;
    let started = Instant::now();
    let (writer, report) = JournalWriter::open(shard_dir, 0, &cfg, false, |r| {
        count += 1;
        checksum = checksum.wrapping_add(r.seq ^ r.ts_ns);
    })
    .expect("reopen");
    let elapsed = started.elapsed();
    drop(writer);
    assert_eq!(count, report.records);
    std::hint::black_box(checksum);
    println!(
        "  replay: {} records, {} segments in {:.1} ms (open and prefault included)",
        count,
        report.segments,
        elapsed.as_secs_f64() * 1e3
    );
    figures.push(Figure::rate("replay", count as f64 / elapsed.as_secs_f64(), "records").print());

    let mut engine = Engine::new(&engine_bench::config(SYMBOLS, 1 << 22));
    let mut sink = CountingSink::default();
    let started = Instant::now();
    let (writer, report) = JournalWriter::open(shard_dir, 0, &cfg, false, |r| {
        // The bench writes commands only, no config epoch.
        engine.process(r.command().expect("a command"), &mut sink);
    })
    .expect("reopen");
    let elapsed = started.elapsed();
    drop(writer);
    figures.push(
        Figure::rate(
            "replay into engine",
            report.records as f64 / elapsed.as_secs_f64(),
            "records",
        )
        .print(),
    );
    println!(
        "  {} events, {} resting at end",
        sink.events,
        engine.resting_orders()
    );
}

pub fn run(args: &JournalArgs) -> Vec<Figure> {
    let mut figures = Vec::new();
    let pinned = crate::report::pin(args.core);
    println!(
        "journal bench: {} records (every: {}), segments of {} bytes in {}, pinned to core {}: {}",
        args.records,
        args.every_records,
        args.segment_bytes,
        args.dir.display(),
        args.core,
        pinned
    );
    let commands = new_orders(args.records.max(args.every_records), args.seed);
    let f = &mut figures;
    let none_dir = append_run(args, SyncPolicy::None, &commands[..args.records], f);
    let interval_dir = append_run(args, SyncPolicy::Interval, &commands[..args.records], f);
    let every_dir = append_run(args, SyncPolicy::Every, &commands[..args.every_records], f);
    for dir in [&interval_dir, &every_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let summary = journal::verify(&none_dir).expect("verify");
    assert!(summary.is_intact() && summary.records() == args.records as u64);
    replay_run(args, &none_dir, &mut figures);
    // Only what this bench made: `--dir` may name an existing directory.
    let _ = std::fs::remove_dir_all(&none_dir);
    let _ = std::fs::remove_dir(&args.dir);
    figures
}
