//! Segment files removed or resized by something other than the gateway
//! (an operator's `rm`, a clean-up script, a bad restore). Recovery sees
//! the records that remain and nothing else, so without a witness of what
//! was written it would start without acknowledged orders and hand their
//! sequence numbers to new ones. The head marker (`HEAD`, FORMAT.md) is
//! that witness for the newest segment; a segment's length is checked
//! against its header. Recovery and `verify` refuse, naming the file; a
//! start asked to cut (`--truncate-corrupt-journal`) goes on and says so.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::journal::*;
use tradsys::config::{JournalConfig, SyncPolicy};
use tradsys::engine::*;
use tradsys::journal::{self, JournalError, Record};

const SEGMENT: u64 = 64 * KIB;

/// A journal over several segments, written as a shard writes one: the
/// next segment prepared ahead of need and handed over before each batch
/// (so the head marker follows every roll-over), and the writer dropped
/// as by a crash.
fn journal_over_segments(dir: &Path, cfg: &JournalConfig) -> Vec<Record> {
    let (mut writer, _, _) = open(dir, cfg, false).unwrap();
    let mut records = Vec::new();
    for batch in mixed_commands(3_000).chunks(50) {
        if let Some(request) = writer.spare_needed() {
            writer.install_spare(request.create().unwrap());
        }
        records.extend(append_all(&mut writer, 100, batch));
    }
    if let Some(request) = writer.spare_needed() {
        writer.install_spare(request.create().unwrap());
    }
    assert!(segment_files(dir).len() >= 3, "{:?}", segment_files(dir));
    records
}

/// The file, offset and reason of a refused open.
fn expect_refused(dir: &Path, cfg: &JournalConfig) -> (PathBuf, u64, String) {
    match open(dir, cfg, false) {
        Err(JournalError::Corrupt {
            file,
            offset,
            reason,
        }) => (file, offset, reason.to_string()),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok((_, replayed, report)) => panic!(
            "expected Corrupt, opened with {} records: {report:?}",
            replayed.len()
        ),
    }
}

/// What `verify` says about shard 0 of `dir`: the corruption it found.
fn verify_corruption(dir: &Path) -> Option<(PathBuf, u64, String)> {
    let summary = journal::verify(dir).unwrap();
    summary.shards[0]
        .corruption
        .as_ref()
        .map(|(file, offset, reason)| (file.clone(), *offset, reason.to_string()))
}

#[test]
fn a_removed_newest_segment_is_refused_by_recovery_and_verify() {
    let tmp = TempDir::new("lost-newest");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    journal_over_segments(dir, &cfg);
    let segments = segment_files(dir);
    let newest = segments.last().unwrap();
    let newest_seq =
        journal::layout::parse_segment_file_name(newest.file_name().unwrap().to_str().unwrap())
            .unwrap();
    fs::remove_file(newest).unwrap();

    let (file, offset, reason) = expect_refused(dir, &cfg);
    assert_eq!((file.as_path(), offset), (dir.join("HEAD").as_path(), 0));
    assert!(
        reason.contains(&format!("segment {newest_seq}")) && reason.contains("removed"),
        "{reason}"
    );
    assert_eq!(verify_corruption(dir), Some((file, offset, reason)));
}

#[test]
fn every_segment_removed_is_refused() {
    let tmp = TempDir::new("lost-all");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    journal_over_segments(dir, &cfg);
    for segment in segment_files(dir) {
        fs::remove_file(segment).unwrap();
    }
    let (file, offset, reason) = expect_refused(dir, &cfg);
    assert_eq!((file.as_path(), offset), (dir.join("HEAD").as_path(), 0));
    assert!(reason.contains("no segment"), "{reason}");
    assert_eq!(verify_corruption(dir), Some((file, offset, reason)));
    assert!(
        segment_files(dir).is_empty(),
        "a refused start creates none"
    );
}

fn small_engine_config() -> EngineConfig {
    EngineConfig {
        symbols: vec![SymbolSpec {
            id: 7,
            tick_size: 1,
            lot_size: 1,
            reference_price: 1_000,
            price_band_bps: 1_000,
        }],
        accounts: vec![AccountSpec {
            id: 1,
            limits: RiskLimits::UNLIMITED,
            default_stp: StpMode::CancelResting,
        }],
        order_capacity: 64,
        max_levels_per_side: 16,
    }
}

#[test]
fn segments_and_head_removed_are_refused_while_a_config_file_remains() {
    // A journal from before the head marker, or one whose marker went
    // with its segments: the config file its first record named shows
    // that records were written.
    let tmp = TempDir::new("lost-all-and-head");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    let (epoch, _) = writer
        .append_config_epoch(1, &small_engine_config())
        .unwrap();
    append_all(&mut writer, 100, &mixed_commands(20));
    drop(writer);
    for file in segment_files(dir) {
        fs::remove_file(file).unwrap();
    }
    let _ = fs::remove_file(dir.join("HEAD"));

    let (file, offset, reason) = expect_refused(dir, &cfg);
    let config_file = dir.join(journal::config_file::file_name(epoch.digest));
    assert_eq!((file.as_path(), offset), (config_file.as_path(), 0));
    assert!(reason.contains("no segment"), "{reason}");
    assert_eq!(verify_corruption(dir), Some((file, offset, reason)));
}

#[test]
fn a_segment_shorter_or_longer_than_its_header_says_is_refused() {
    let tmp = TempDir::new("resized");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    journal_over_segments(dir, &cfg);
    let segments = segment_files(dir);
    // The oldest, the newest, and the newest cut inside its records, where
    // the old rule saw a torn tail.
    let newest = segments.last().unwrap();
    let cases = [
        (&segments[0], SEGMENT - 4 * KIB),
        (&segments[0], SEGMENT + 8),
        (newest, SEGMENT / 2),
        (newest, 200),
    ];
    for (segment, len) in cases {
        let pristine = fs::read(segment).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(segment)
            .unwrap()
            .set_len(len)
            .unwrap();
        let (file, offset, reason) = expect_refused(dir, &cfg);
        assert_eq!((file.as_path(), offset), (segment.as_path(), 0), "{len}");
        assert!(
            reason.contains(&format!("{len} bytes")) && reason.contains(&SEGMENT.to_string()),
            "{reason}"
        );
        assert_eq!(verify_corruption(dir), Some((file, offset, reason)));
        fs::write(segment, pristine).unwrap();
    }
    assert!(journal::verify(dir).unwrap().is_intact());
}

#[test]
fn a_start_asked_to_cut_goes_on_without_the_removed_segment_and_says_so() {
    let tmp = TempDir::new("lost-cut");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let records = journal_over_segments(dir, &cfg);
    let segments = segment_files(dir);
    fs::remove_file(segments.last().unwrap()).unwrap();

    let (mut writer, replayed, report) = open(dir, &cfg, true).unwrap();
    assert!(replayed.len() < records.len());
    assert_eq!(replayed, records[..replayed.len()]);
    let cut = report.truncated_corruption.expect("the cut is reported");
    assert_eq!(
        (cut.file.as_path(), cut.offset),
        (dir.join("HEAD").as_path(), 0)
    );
    assert!(cut.reason.to_string().contains("removed"), "{}", cut.reason);
    assert!(cut.set_aside.is_empty(), "{:?}", cut.set_aside);
    let next = replayed.len() as u64 + 1;
    assert_eq!(writer.append(1, &Command::EndOfDay).unwrap(), next);
    drop(writer);

    // The marker now names what the start kept: the next start is clean.
    let (_writer, replayed, report) = open(dir, &cfg, false).unwrap();
    assert_eq!(replayed.len() as u64, next);
    assert_eq!(report.truncated_corruption, None);
    assert!(journal::verify(dir).unwrap().is_intact());
}

#[test]
fn a_fresh_journal_and_an_intact_one_open_as_before() {
    let tmp = TempDir::new("head-intact");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::Every);
    let records = journal_over_segments(dir, &cfg);
    let (_writer, replayed, report) = open(dir, &cfg, false).unwrap();
    assert_eq!(replayed, records);
    assert_eq!(report.truncated_corruption, None);
    assert!(journal::verify(dir).unwrap().is_intact());
}
