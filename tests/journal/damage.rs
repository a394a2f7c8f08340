//! Damaged journals: a torn tail (the last record cut at any byte, or with
//! a bad CRC) is cut and its sequence number reused; damage in the middle
//! is refused with file and offset, or cut there when asked.

use std::fs;
use std::path::Path;

use crate::support::journal::*;
use tradsys::config::SyncPolicy;
use tradsys::engine::*;
use tradsys::journal::{self, CorruptReason, Entry, HeaderError, JournalError, Record};

const SEGMENT: u64 = 64 * KIB;

/// A one-segment journal whose last record is a new order (72 bytes).
fn journal_ending_in_a_new_order(dir: &Path) -> (Vec<Command>, Vec<Record>) {
    let mut commands = mixed_commands(23);
    commands.push(every_kind(99)[0]);
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    let records = append_all(&mut writer, 100, &commands);
    (commands, records)
}

fn expect_clean_reopen_after_cut(dir: &Path, kept: &[Record], next: Command) {
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, replayed, report) = open(dir, &cfg, false).unwrap();
    assert_eq!(replayed, kept);
    assert_eq!(report.torn_tail, None, "the cut tail is gone");
    let seq = writer.append(5, &next).unwrap();
    assert_eq!(seq, kept.len() as u64 + 1);
    drop(writer);
    let (_writer, replayed, _) = open(dir, &cfg, false).unwrap();
    assert_eq!(replayed.len(), kept.len() + 1);
    assert_eq!(replayed.last().unwrap().entry, Entry::Command(next));
}

#[test]
fn last_record_zeroed_from_any_byte_is_a_torn_tail_and_its_seq_is_reused() {
    let tmp = TempDir::new("torn-zero");
    let dir = tmp.path();
    let (commands, records) = journal_ending_in_a_new_order(dir);
    let segment = segment_files(dir)[0].clone();
    let pristine = fs::read(&segment).unwrap();
    let last = *record_offsets(&commands).last().unwrap();
    let written = 28 + 40; // header and payload; the rest is zero padding
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let kept = &records[..records.len() - 1];
    for cut in last..last + written {
        let mut bytes = pristine.clone();
        bytes[cut..].fill(0);
        fs::write(&segment, &bytes).unwrap();

        let (mut writer, replayed, report) = open(dir, &cfg, false).unwrap();
        assert_eq!(replayed, kept, "cut at {cut}");
        assert_eq!(report.last_seq, kept.len() as u64);
        if cut == last {
            // Nothing of the record is left: the data simply ends there.
            assert_eq!(report.torn_tail, None);
        } else {
            assert_eq!(
                report.torn_tail,
                Some((segment.clone(), last as u64)),
                "cut at {cut}"
            );
        }
        assert_eq!(
            writer.next_seq(),
            commands.len() as u64,
            "the torn record's seq is reused"
        );
        assert_eq!(
            writer.append(1, &commands[0]).unwrap(),
            commands.len() as u64
        );
        drop(writer);
        let (_writer, replayed, report) = open(dir, &cfg, false).unwrap();
        assert_eq!(replayed.len(), commands.len());
        assert_eq!(replayed.last().unwrap().entry, Entry::Command(commands[0]));
        assert_eq!(report.torn_tail, None);
    }
}

#[test]
fn a_segment_file_cut_short_is_refused_even_inside_its_last_record() {
    // A crash cannot shorten a segment: it is made `segment_bytes` long and
    // synced before it holds a record, and never resized. A shorter one was
    // cut by something else, and what was cut may have been acknowledged
    // (this once read as a torn tail: the records past the cut were lost
    // without a word).
    let tmp = TempDir::new("torn-short");
    let dir = tmp.path();
    let (commands, _) = journal_ending_in_a_new_order(dir);
    let segment = segment_files(dir)[0].clone();
    let pristine = fs::read(&segment).unwrap();
    let last = *record_offsets(&commands).last().unwrap();
    for cut in last..last + 72 {
        fs::write(&segment, &pristine[..cut]).unwrap();
        let reason = CorruptReason::LengthMismatch {
            header: SEGMENT,
            file: cut as u64,
        };
        // verify reads it the same way, without changing it.
        let summary = journal::verify(dir).unwrap();
        assert_eq!(
            summary.shards[0].corruption,
            Some((segment.clone(), 0, reason)),
            "cut at {cut}"
        );
        assert_eq!(fs::read(&segment).unwrap(), &pristine[..cut]);
        assert_eq!(expect_corrupt(dir, &segment, 0), reason, "cut at {cut}");
    }
}

#[test]
fn last_record_with_a_flipped_crc_or_payload_bit_is_a_torn_tail() {
    let tmp = TempDir::new("torn-crc");
    let dir = tmp.path();
    let (commands, records) = journal_ending_in_a_new_order(dir);
    let segment = segment_files(dir)[0].clone();
    let pristine = fs::read(&segment).unwrap();
    let last = *record_offsets(&commands).last().unwrap();
    let kept = &records[..records.len() - 1];
    for byte in [last + 4, last + 7, last + 8, last + 30, last + 67] {
        fs::write(&segment, &pristine).unwrap();
        flip_bit(&segment, byte, 5);
        let summary = journal::verify(dir).unwrap();
        assert_eq!(
            summary.shards[0].torn_tail,
            Some((segment.clone(), last as u64))
        );
        let cfg = config(dir, SEGMENT, SyncPolicy::None);
        let (writer, replayed, report) = open(dir, &cfg, false).unwrap();
        assert_eq!(replayed, kept);
        assert_eq!(report.torn_tail, Some((segment.clone(), last as u64)));
        drop(writer);
        expect_clean_reopen_after_cut(dir, kept, Command::EndOfDay);
    }
}

/// A journal of 60 records in one segment; record 5 is a kill switch (its
/// `len` is 8, a single bit from 0).
fn journal_with_a_kill_switch_at_5(dir: &Path) -> (Vec<Command>, Vec<Record>) {
    let mut commands = mixed_commands(60);
    commands[5] = Command::KillSwitch {
        account: 2,
        on: true,
    };
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    let records = append_all(&mut writer, 100, &commands);
    (commands, records)
}

fn expect_corrupt(dir: &Path, file: &Path, offset: usize) -> CorruptReason {
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    match open(dir, &cfg, false) {
        Err(JournalError::Corrupt {
            file: f,
            offset: o,
            reason,
        }) => {
            assert_eq!((f.as_path(), o), (file, offset as u64));
            reason
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok((_, _, report)) => panic!("expected Corrupt, opened: {report:?}"),
    }
}

#[test]
fn a_flipped_bit_in_an_early_record_is_corruption_naming_file_and_offset() {
    let tmp = TempDir::new("mid-flip");
    let dir = tmp.path();
    let (commands, _) = journal_with_a_kill_switch_at_5(dir);
    let segment = segment_files(dir)[0].clone();
    let pristine = fs::read(&segment).unwrap();
    let offsets = record_offsets(&commands);
    for record in [3, 5] {
        let at = offsets[record];
        let len_word = (0..4).flat_map(|b| (0..8).map(move |bit| (b, bit)));
        let payload = (28..32).map(|b| (b, 0u8));
        for (byte, bit) in len_word.chain(payload) {
            fs::write(&segment, &pristine).unwrap();
            flip_bit(&segment, at + byte, bit);
            let reason = expect_corrupt(dir, &segment, at);
            assert!(
                matches!(
                    reason,
                    CorruptReason::CrcMismatch
                        | CorruptReason::BadLength(_)
                        | CorruptReason::Truncated
                        | CorruptReason::DataAfterEnd
                ),
                "record {record} byte {byte} bit {bit}: {reason:?}"
            );
            let summary = journal::verify(dir).unwrap();
            assert_eq!(
                summary.shards[0].corruption,
                Some((segment.clone(), at as u64, reason))
            );
            assert_eq!(summary.shards[0].records, record as u64);
        }
    }
    // The kill switch's len flipped to 0 looks like the end of the data,
    // but data follows.
    fs::write(&segment, &pristine).unwrap();
    flip_bit(&segment, offsets[5], 3);
    assert_eq!(
        expect_corrupt(dir, &segment, offsets[5]),
        CorruptReason::DataAfterEnd
    );
}

#[test]
fn corruption_is_cut_when_asked_and_the_rest_set_aside() {
    let tmp = TempDir::new("mid-cut");
    let dir = tmp.path();
    // Enough records for several segments.
    let commands = mixed_commands(3_000);
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    let records = append_all(&mut writer, 100, &commands);
    drop(writer);
    let segments = segment_files(dir);
    assert!(segments.len() >= 3, "{} segments", segments.len());

    let offsets = record_offsets(&commands);
    let damaged = segments[0].clone();
    flip_bit(&damaged, offsets[10] + 40, 1);
    let damaged_bytes = fs::read(&damaged).unwrap();
    expect_corrupt(dir, &damaged, offsets[10]);

    let (mut writer, replayed, report) = open(dir, &cfg, true).unwrap();
    assert_eq!(replayed, records[..10]);
    let cut = report.truncated_corruption.expect("cut reported");
    assert_eq!(
        (cut.file.as_path(), cut.offset),
        (damaged.as_path(), offsets[10] as u64)
    );
    assert_eq!(cut.reason, CorruptReason::CrcMismatch);
    let mut expected_aside = vec![format!("{}.corrupt", damaged.display())];
    expected_aside.extend(
        segments[1..]
            .iter()
            .map(|p| format!("{}.corrupt", p.display())),
    );
    let aside: Vec<String> = cut
        .set_aside
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(aside, expected_aside);
    assert_eq!(
        fs::read(&cut.set_aside[0]).unwrap(),
        damaged_bytes,
        "the copy is as found"
    );
    assert_eq!(segment_files(dir), vec![damaged.clone()]);
    assert_eq!(writer.next_seq(), 11);
    assert_eq!(writer.append(1, &Command::EndOfDay).unwrap(), 11);
    drop(writer);

    let (_writer, replayed, report) = open(dir, &cfg, false).unwrap();
    assert_eq!(replayed.len(), 11);
    assert_eq!(replayed[..10], records[..10]);
    assert_eq!(report.truncated_corruption, None);
    assert!(journal::verify(dir).unwrap().is_intact());
}

#[test]
fn a_damaged_segment_header_is_corruption_at_offset_0() {
    let tmp = TempDir::new("bad-header");
    let dir = tmp.path();
    let commands = mixed_commands(3_000);
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    let records = append_all(&mut writer, 100, &commands);
    drop(writer);
    let segments = segment_files(dir);
    flip_bit(&segments[1], 20, 0); // first_seq
    assert_eq!(
        expect_corrupt(dir, &segments[1], 0),
        CorruptReason::Header(HeaderError::BadCrc)
    );

    let mut in_first = 0;
    let (writer, replayed, report) = open(dir, &cfg, true).unwrap();
    for (i, r) in replayed.iter().enumerate() {
        assert_eq!(*r, records[i]);
        in_first += 1;
    }
    let cut = report.truncated_corruption.unwrap();
    assert_eq!((cut.file.as_path(), cut.offset), (segments[1].as_path(), 0));
    assert_eq!(cut.set_aside.len(), segments.len() - 1);
    assert_eq!(writer.next_seq(), in_first + 1);
    assert_eq!(segment_files(dir), vec![segments[0].clone()]);
}

#[test]
fn a_missing_segment_is_a_sequence_gap() {
    let tmp = TempDir::new("gap");
    let dir = tmp.path();
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    append_all(&mut writer, 100, &mixed_commands(3_000));
    drop(writer);
    let segments = segment_files(dir);
    fs::remove_file(&segments[1]).unwrap();
    let reason = expect_corrupt(dir, &segments[2], 0);
    assert!(
        matches!(reason, CorruptReason::SequenceGap { .. }),
        "{reason:?}"
    );
    let summary = journal::verify(dir).unwrap();
    assert_eq!(
        summary.shards[0].corruption,
        Some((segments[2].clone(), 0, reason))
    );
}
