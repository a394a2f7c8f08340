//! Roll-over: records span many small segments in order, with the next
//! segment prepared ahead (off the appending thread) or created when
//! needed; segment files are named by their first sequence number and the
//! tools agree with replay.

use std::path::Path;

use crate::support::journal::*;
use tradsys::config::SyncPolicy;
use tradsys::engine::Command;
use tradsys::journal::{self, Entry, Record};

const SEGMENT: u64 = 64 * KIB;
const RECORDS: usize = 20_000;

fn first_seqs(dir: &Path) -> Vec<u64> {
    segment_files(dir)
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect()
}

/// Replays, checks order and the tools' view, returns the segment count.
fn check_journal(dir: &Path, expected: &[Record]) -> usize {
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (_writer, replayed, report) = open(dir, &cfg, false).unwrap();
    assert_eq!(replayed.len(), expected.len());
    assert!(replayed == expected, "replay returns every record in order");
    let files = segment_files(dir);
    assert_eq!(report.segments as usize, files.len());

    // Each file is named by the seq of its first record: the seqs where a
    // record no longer fit in the previous segment.
    let seqs = first_seqs(dir);
    assert_eq!(seqs[0], 1);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let mut used = 64usize;
    let mut starts = vec![1u64];
    for r in expected {
        let frame = frame_bytes(r.command().unwrap());
        if used + frame > SEGMENT as usize {
            starts.push(r.seq);
            used = 64;
        }
        used += frame;
    }
    assert_eq!(seqs, starts);

    let summary = journal::verify(dir).unwrap();
    assert_eq!(summary, journal::stats(dir).unwrap());
    let shard = &summary.shards[0];
    assert!(summary.is_intact());
    assert_eq!(shard.torn_tail, None);
    assert_eq!(shard.records, expected.len() as u64);
    assert_eq!(shard.segments as usize, files.len());
    assert_eq!(
        (shard.first_seq, shard.last_seq),
        (Some(1), Some(expected.len() as u64))
    );
    assert_eq!(shard.bytes_allocated, files.len() as u64 * SEGMENT);
    let frames: usize = expected
        .iter()
        .map(|r| frame_bytes(r.command().unwrap()))
        .sum();
    assert_eq!(shard.bytes_used as usize, frames + 64 * files.len());
    files.len()
}

#[test]
fn records_span_many_segments_in_order_without_a_spare() {
    let tmp = TempDir::new("roll-sync");
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let expected = append_all(&mut writer, 1, &mixed_commands(RECORDS));
    let stats = writer.stats();
    assert!(stats.segments_rolled >= 15, "{stats:?}");
    assert_eq!(stats.sync_segment_creations, stats.segments_rolled);
    assert_eq!(stats.spares_installed, 0);
    drop(writer);
    let segments = check_journal(tmp.path(), &expected);
    assert_eq!(segments as u64, stats.segments_rolled + 1);
}

#[test]
fn with_a_spare_prepared_ahead_no_segment_is_created_on_the_append_path() {
    let tmp = TempDir::new("roll-spare");
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let commands = mixed_commands(RECORDS);
    let mut expected = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let seq = writer.append(i as u64, command).unwrap();
        expected.push(Record {
            seq,
            ts_ns: i as u64,
            entry: Entry::Command(*command),
        });
        // As the gateway does: create on another thread, install on this.
        if let Some(request) = writer.spare_needed() {
            let segment = std::thread::spawn(move || request.create())
                .join()
                .unwrap()
                .unwrap();
            writer.install_spare(segment);
        }
    }
    let stats = writer.stats();
    assert!(stats.segments_rolled >= 15, "{stats:?}");
    assert_eq!(stats.sync_segment_creations, 0);
    assert!(stats.spares_installed >= stats.segments_rolled);
    assert!(files_ending(tmp.path(), ".spare").len() <= 1);
    drop(writer);
    assert!(
        files_ending(tmp.path(), ".spare").is_empty(),
        "an unused spare is removed"
    );
    check_journal(tmp.path(), &expected);
}

#[test]
fn a_spare_is_asked_for_at_open_and_again_after_each_roll_over() {
    let tmp = TempDir::new("spare-timing");
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let request = writer.spare_needed().expect("asked for at open");
    assert!(writer.spare_needed().is_none(), "one request at a time");
    drop(request);
    writer.spare_creation_failed();
    let request = writer.spare_needed().expect("asks again after a failure");
    writer.install_spare(request.create().unwrap());
    assert!(writer.spare_needed().is_none(), "a spare is ready");
    assert_eq!(files_ending(tmp.path(), ".spare").len(), 1);
    // Fill the active segment: the roll-over uses the spare, and the next
    // one is asked for at once.
    let records = (SEGMENT as usize - 64) / 72 + 1;
    for _ in 0..records {
        writer.append(0, &every_kind(1)[0]).unwrap();
    }
    assert!(
        files_ending(tmp.path(), ".spare").is_empty(),
        "the spare became the active segment"
    );
    assert!(
        writer.spare_needed().is_some(),
        "the next spare is asked for right after the roll-over"
    );
}

#[test]
fn a_spare_left_by_a_crash_is_removed_at_open() {
    let tmp = TempDir::new("spare-left");
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let expected = append_all(&mut writer, 1, &mixed_commands(1_000));
    let request = writer.spare_needed().expect("past half");
    // The process stops with the spare created but not yet installed.
    let spare = request.create().unwrap();
    drop(spare);
    drop(writer);
    assert_eq!(files_ending(tmp.path(), ".spare").len(), 1);
    let (_writer, replayed, _) = open(tmp.path(), &cfg, false).unwrap();
    assert_eq!(replayed, expected);
    assert!(files_ending(tmp.path(), ".spare").is_empty());
}

#[test]
fn a_new_segment_size_applies_to_new_segments_only() {
    let tmp = TempDir::new("resize");
    let small = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &small, false).unwrap();
    let mut expected = append_all(&mut writer, 1, &mixed_commands(2_000));
    drop(writer);
    let large = config(tmp.path(), 4 * SEGMENT, SyncPolicy::None);
    let (mut writer, replayed, _) = open(tmp.path(), &large, false).unwrap();
    assert_eq!(replayed, expected);
    let more: Vec<Command> = mixed_commands(6_000);
    let appended = append_all(&mut writer, 10_000, &more);
    expected.extend(appended);
    drop(writer);
    let (_writer, replayed, _) = open(tmp.path(), &large, false).unwrap();
    assert_eq!(replayed, expected);
    let sizes: Vec<u64> = segment_files(tmp.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    assert_eq!(sizes.first(), Some(&SEGMENT));
    assert_eq!(sizes.last(), Some(&(4 * SEGMENT)));
    assert!(journal::verify(tmp.path()).unwrap().is_intact());
}

#[test]
fn interval_sync_also_covers_the_segment_just_left() {
    let tmp = TempDir::new("roll-interval");
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::Interval);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let expected = append_all(&mut writer, 1, &mixed_commands(2_000));
    assert!(writer.stats().segments_rolled >= 1);
    assert!(
        writer.take_retired().is_none(),
        "its tail still needs a sync"
    );
    assert!(writer.sync_if_due(10_000_000).unwrap());
    assert!(writer.take_retired().is_none(), "synced and released");
    drop(writer);
    assert_eq!(open(tmp.path(), &cfg, false).unwrap().1, expected);
}
