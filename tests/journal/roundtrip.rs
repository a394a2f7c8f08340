//! Journal round trip: what is appended is what replay returns, in order,
//! with sequence numbers that continue across restarts; the tools read the
//! same records.

use crate::support::journal::*;
use tradsys::config::SyncPolicy;
use tradsys::engine::*;
use tradsys::journal::{self, CorruptReason, JournalError, JournalWriter};

#[test]
fn replay_returns_every_kind_in_order_and_seq_continues_after_reopen() {
    let tmp = TempDir::new("roundtrip");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let commands = mixed_commands(8 * 25);

    let (mut writer, replayed, report) = open(tmp.path(), &cfg, false).unwrap();
    assert!(replayed.is_empty());
    assert_eq!(
        (report.records, report.last_seq, report.segments),
        (0, 0, 0)
    );
    assert_eq!(writer.next_seq(), 1);
    let expected = append_all(&mut writer, 1_000, &commands);
    assert_eq!(
        expected.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=commands.len() as u64).collect::<Vec<_>>()
    );
    drop(writer);

    let (mut writer, replayed, report) = open(tmp.path(), &cfg, false).unwrap();
    assert_eq!(replayed, expected);
    assert_eq!(report.records, commands.len() as u64);
    assert_eq!(report.last_seq, commands.len() as u64);
    assert_eq!(report.segments, 1);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.truncated_corruption, None);
    assert_eq!(writer.next_seq(), commands.len() as u64 + 1);
    let more = append_all(&mut writer, 9_000, &commands[..10]);
    assert_eq!(more[0].seq, commands.len() as u64 + 1);
    drop(writer);

    let (_writer, replayed, _) = open(tmp.path(), &cfg, false).unwrap();
    assert_eq!(replayed, [expected, more].concat());
}

#[test]
fn reopening_without_appending_changes_nothing() {
    let tmp = TempDir::new("reopen-idle");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let expected = append_all(&mut writer, 5, &mixed_commands(30));
    drop(writer);
    for _ in 0..3 {
        let (writer, replayed, report) = open(tmp.path(), &cfg, false).unwrap();
        assert_eq!(replayed, expected);
        assert_eq!(report.torn_tail, None);
        assert_eq!(writer.next_seq(), 31);
    }
    assert_eq!(segment_files(tmp.path()).len(), 1);
}

#[test]
fn every_and_interval_sync_policies_round_trip_and_sync_when_due() {
    for sync in [SyncPolicy::Every, SyncPolicy::Interval] {
        let tmp = TempDir::new("sync-policies");
        let cfg = config(tmp.path(), 64 * KIB, sync);
        let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
        let expected = append_all(&mut writer, 1, &mixed_commands(40));
        if sync == SyncPolicy::Interval {
            // Interval is 1 ms; time is an input.
            assert!(
                writer.sync_if_due(2_000_000).unwrap(),
                "pending data is synced when due"
            );
            assert!(!writer.sync_if_due(2_500_000).unwrap(), "not due yet");
            assert!(
                !writer.sync_if_due(9_000_000).unwrap(),
                "due but nothing pending"
            );
            writer.append(9_000_001, &Command::EndOfDay).unwrap();
            assert!(!writer.sync_if_due(9_500_000).unwrap(), "not due yet");
            assert!(writer.sync_if_due(10_000_000).unwrap());
            assert_eq!(writer.stats().syncs, 2);
        } else {
            assert!(
                !writer.sync_if_due(u64::MAX).unwrap(),
                "every: nothing left to sync"
            );
        }
        drop(writer);
        let (_writer, replayed, _) = open(tmp.path(), &cfg, false).unwrap();
        assert_eq!(replayed[..expected.len()], expected[..]);
    }
}

#[test]
fn a_second_writer_on_the_same_shard_is_refused() {
    let tmp = TempDir::new("locked");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let (_writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    match JournalWriter::open(tmp.path(), 0, &cfg, false, |_| {}) {
        Err(JournalError::Locked { dir }) => assert_eq!(dir, tmp.path()),
        other => panic!("expected Locked, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn a_segment_of_another_shard_is_refused() {
    let tmp = TempDir::new("other-shard");
    let cfg = config(tmp.path(), 64 * KIB, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    append_all(&mut writer, 1, &mixed_commands(3));
    drop(writer);
    match JournalWriter::open(tmp.path(), 3, &cfg, false, |_| {}) {
        Err(JournalError::Corrupt {
            file,
            offset: 0,
            reason:
                CorruptReason::ShardMismatch {
                    expected: 3,
                    found: 0,
                },
        }) => assert_eq!(file, segment_files(tmp.path())[0]),
        other => panic!("expected ShardMismatch, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn segment_bytes_below_the_minimum_is_a_config_error() {
    let tmp = TempDir::new("tiny-segment");
    let cfg = config(tmp.path(), 1024, SyncPolicy::None);
    assert!(matches!(
        JournalWriter::open(tmp.path(), 0, &cfg, false, |_| {}),
        Err(JournalError::InvalidConfig {
            field: "journal.segment_bytes",
            ..
        })
    ));
}

#[test]
fn dump_writes_one_json_line_per_record() {
    let tmp = TempDir::new("dump");
    let root = tmp.path();
    let cfg = config(root, 64 * KIB, SyncPolicy::None);
    let (mut writer, _) =
        JournalWriter::open(&journal::shard_dir(root, 2), 2, &cfg, false, |_| {}).unwrap();
    let commands = [
        Command::New(NewOrder {
            account: 1,
            symbol: 1,
            client_order_id: 77,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: None,
            price: 100_000,
            qty: 10,
        }),
        Command::New(NewOrder {
            account: 2,
            symbol: 3,
            client_order_id: 78,
            side: Side::Sell,
            kind: OrderKind::Market,
            tif: TimeInForce::Ioc,
            post_only: true,
            stp: Some(StpMode::CancelBoth),
            price: -5,
            qty: 1,
        }),
        Command::Cancel(CancelOrder {
            account: 1,
            symbol: 1,
            order_id: 4,
            client_order_id: 79,
        }),
        Command::Replace(ReplaceOrder {
            account: 1,
            symbol: 1,
            order_id: 4,
            client_order_id: 80,
            new_price: 99,
            new_qty: 5,
        }),
        Command::MassCancel {
            account: 1,
            symbol: None,
            reason: CancelReason::Disconnect,
        },
        Command::MassCancel {
            account: 1,
            symbol: Some(9),
            reason: CancelReason::MassCancel,
        },
        Command::KillSwitch {
            account: 3,
            on: true,
        },
        Command::Halt {
            symbol: 1,
            on: false,
        },
        Command::SetReferencePrice {
            symbol: 1,
            price: 12_345,
        },
        Command::EndOfDay,
    ];
    append_all(&mut writer, 1_718_000_000_000_000_000, &commands);
    drop(writer);

    let mut out = Vec::new();
    let summary = journal::dump(root, &mut out).unwrap();
    assert!(summary.is_intact());
    let text = String::from_utf8(out).unwrap();
    let expected = [
        r#"{"shard":2,"seq":1,"ts_ns":1718000000000000000,"kind":"new","account":1,"symbol":1,"client_order_id":77,"side":"buy","order_kind":"limit","tif":"gtc","post_only":false,"stp":null,"price":100000,"qty":10}"#,
        r#"{"shard":2,"seq":2,"ts_ns":1718000000000000001,"kind":"new","account":2,"symbol":3,"client_order_id":78,"side":"sell","order_kind":"market","tif":"ioc","post_only":true,"stp":"cancel_both","price":-5,"qty":1}"#,
        r#"{"shard":2,"seq":3,"ts_ns":1718000000000000002,"kind":"cancel","account":1,"symbol":1,"order_id":4,"client_order_id":79}"#,
        r#"{"shard":2,"seq":4,"ts_ns":1718000000000000003,"kind":"replace","account":1,"symbol":1,"order_id":4,"client_order_id":80,"new_price":99,"new_qty":5}"#,
        r#"{"shard":2,"seq":5,"ts_ns":1718000000000000004,"kind":"mass_cancel","account":1,"symbol":null,"reason":"disconnect"}"#,
        r#"{"shard":2,"seq":6,"ts_ns":1718000000000000005,"kind":"mass_cancel","account":1,"symbol":9,"reason":"mass_cancel"}"#,
        r#"{"shard":2,"seq":7,"ts_ns":1718000000000000006,"kind":"kill_switch","account":3,"on":true}"#,
        r#"{"shard":2,"seq":8,"ts_ns":1718000000000000007,"kind":"halt","symbol":1,"on":false}"#,
        r#"{"shard":2,"seq":9,"ts_ns":1718000000000000008,"kind":"set_reference_price","symbol":1,"price":12345}"#,
        r#"{"shard":2,"seq":10,"ts_ns":1718000000000000009,"kind":"end_of_day"}"#,
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);

    // One shard directory on its own gives the same lines.
    let mut out = Vec::new();
    journal::dump(&journal::shard_dir(root, 2), &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), text);
}

#[test]
fn verify_and_stats_count_every_shard_and_kind() {
    let tmp = TempDir::new("stats");
    let root = tmp.path();
    let cfg = config(root, 64 * KIB, SyncPolicy::None);
    let counts = [17usize, 40];
    for (shard, &count) in counts.iter().enumerate() {
        let dir = journal::shard_dir(root, shard as u16);
        let (mut writer, _) = JournalWriter::open(&dir, shard as u16, &cfg, false, |_| {}).unwrap();
        append_all(&mut writer, 1, &mixed_commands(count));
    }
    let verified = journal::verify(root).unwrap();
    let stats = journal::stats(root).unwrap();
    assert_eq!(verified, stats);
    assert!(verified.is_intact());
    assert_eq!(verified.shards.len(), 2);
    for (shard, s) in verified.shards.iter().enumerate() {
        let commands = mixed_commands(counts[shard]);
        assert_eq!(s.shard, Some(shard as u16));
        assert_eq!(s.records, commands.len() as u64);
        assert_eq!(
            (s.first_seq, s.last_seq),
            (Some(1), Some(commands.len() as u64))
        );
        assert_eq!((s.segments, s.segment_files), (1, 1));
        assert_eq!(s.bytes_allocated, 64 * KIB);
        let used: usize = 64 + commands.iter().map(frame_bytes).sum::<usize>();
        assert_eq!(s.bytes_used, used as u64);
        for (kind, name) in tradsys::journal::codec::KINDS {
            let n = commands
                .iter()
                .filter(|c| tradsys::journal::codec::command_kind(c) == kind)
                .count();
            assert_eq!(s.records_by_kind[kind as usize], n as u64, "{name}");
        }
        assert_eq!((s.torn_tail.clone(), s.corruption.clone()), (None, None));
    }
}

#[test]
fn cli_exit_status_says_whether_the_journal_is_readable() {
    let tmp = TempDir::new("cli");
    let root = tmp.path();
    let cfg = config(root, 64 * KIB, SyncPolicy::None);
    let dir = journal::shard_dir(root, 0);
    let (mut writer, _) = JournalWriter::open(&dir, 0, &cfg, false, |_| {}).unwrap();
    let commands = mixed_commands(20);
    append_all(&mut writer, 1, &commands);
    drop(writer);
    use std::process::ExitCode;
    assert_eq!(journal::run_cli("verify", root), ExitCode::SUCCESS);
    assert_eq!(journal::run_cli("stats", &dir), ExitCode::SUCCESS);
    assert_eq!(journal::run_cli("frobnicate", root), ExitCode::from(2));
    assert_eq!(
        journal::run_cli("verify", &root.join("missing")),
        ExitCode::from(2)
    );
    // Damage in the middle: corruption.
    let offsets = record_offsets(&commands);
    flip_bit(&segment_files(&dir)[0], offsets[3] + 30, 0);
    assert_eq!(journal::run_cli("verify", root), ExitCode::from(1));
}

#[test]
fn segments_and_requests_cross_threads_and_the_writer_can_move_to_its_shard() {
    fn assert_send<T: Send>() {}
    assert_send::<journal::Segment>();
    assert_send::<journal::SegmentRequest>();
    assert_send::<JournalWriter>();
}
