//! Helpers shared by the journal tests (the `journal` binary and the
//! journal test of the `alloc` binary): temp dirs, configs, command streams.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tradsys::config::{JournalConfig, SyncPolicy};
use tradsys::engine::*;
use tradsys::journal::{codec, Entry, JournalError, JournalWriter, Record, RecoveryReport};

/// A directory under the system temp dir, unique per test and process,
/// removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "tradsys-journal-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub const KIB: u64 = 1024;

pub fn config(dir: &Path, segment_bytes: u64, sync: SyncPolicy) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        sync,
        sync_interval_us: 1_000,
        segment_bytes,
    }
}

/// Opens shard 0 of `dir` and collects what replay delivers.
pub fn open(
    dir: &Path,
    cfg: &JournalConfig,
    truncate_corrupt_journal: bool,
) -> Result<(JournalWriter, Vec<Record>, RecoveryReport), JournalError> {
    let mut records = Vec::new();
    let (writer, report) =
        JournalWriter::open(dir, 0, cfg, truncate_corrupt_journal, |r| records.push(*r))?;
    Ok((writer, records, report))
}

/// One command of every kind, fields varied by `i` (including extremes).
pub fn every_kind(i: u64) -> [Command; 8] {
    let account = 1 + (i % 3) as u32;
    let symbol = 7 + (i % 2) as u32 * 2;
    [
        Command::New(NewOrder {
            account,
            symbol,
            client_order_id: u64::MAX - i,
            side: if i.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            kind: if i.is_multiple_of(5) {
                OrderKind::Market
            } else {
                OrderKind::Limit
            },
            tif: [
                TimeInForce::Gtc,
                TimeInForce::Day,
                TimeInForce::Ioc,
                TimeInForce::Fok,
            ][(i % 4) as usize],
            post_only: i.is_multiple_of(3),
            stp: [
                None,
                Some(StpMode::CancelResting),
                Some(StpMode::CancelIncoming),
                Some(StpMode::CancelBoth),
            ][(i % 4) as usize],
            price: if i.is_multiple_of(7) {
                i64::MIN
            } else {
                1_000 + i as i64
            },
            qty: if i.is_multiple_of(11) {
                u64::MAX
            } else {
                1 + i
            },
        }),
        Command::Cancel(CancelOrder {
            account,
            symbol,
            order_id: i * 3 + 1,
            client_order_id: i,
        }),
        Command::Replace(ReplaceOrder {
            account,
            symbol,
            order_id: i + 9,
            client_order_id: i << 32,
            new_price: -(i as i64),
            new_qty: i * 2 + 1,
        }),
        Command::MassCancel {
            account,
            symbol: i.is_multiple_of(2).then_some(symbol),
            reason: CancelReason::from_u8(1 + (i % 8) as u8).unwrap(),
        },
        Command::KillSwitch {
            account,
            on: i % 2 == 1,
        },
        Command::Halt {
            symbol,
            on: i.is_multiple_of(2),
        },
        Command::SetReferencePrice {
            symbol,
            price: 1_000 * i as i64,
        },
        Command::EndOfDay,
    ]
}

/// `count` commands cycling through every kind.
pub fn mixed_commands(count: usize) -> Vec<Command> {
    (0..count)
        .map(|n| every_kind(n as u64 / 8)[n % 8])
        .collect()
}

/// Appends `commands` with `ts_ns = base_ts + index`; returns the records
/// the journal must give back.
pub fn append_all(writer: &mut JournalWriter, base_ts: u64, commands: &[Command]) -> Vec<Record> {
    commands
        .iter()
        .enumerate()
        .map(|(i, command)| {
            let ts_ns = base_ts + i as u64;
            let seq = writer.append(ts_ns, command).unwrap();
            Record {
                seq,
                ts_ns,
                entry: Entry::Command(*command),
            }
        })
        .collect()
}

/// The frame size of a command's record, computed from the format
/// description (header 28 bytes + payload, padded to 8) rather than taken
/// from the writer.
pub fn frame_bytes(command: &Command) -> usize {
    let len = codec::payload_len(codec::command_kind(command)).unwrap();
    (28 + len + 7) & !7
}

/// Offsets of each record in a single-segment journal.
pub fn record_offsets(commands: &[Command]) -> Vec<usize> {
    let mut off = 64;
    commands
        .iter()
        .map(|c| {
            let at = off;
            off += frame_bytes(c);
            at
        })
        .collect()
}

/// The segment files of a shard directory, in sequence order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Files in `dir` whose name ends with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Flips one bit of a file in place.
pub fn flip_bit(path: &Path, offset: usize, bit: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 1 << bit;
    fs::write(path, bytes).unwrap();
}
