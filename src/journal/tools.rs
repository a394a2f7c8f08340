//! `tradsys journal verify|dump|stats DIR`: read-only inspection of a
//! journal directory (all shards) or of one shard directory. Nothing here
//! writes to the journal; a torn tail is reported, not cut (recovery cuts
//! it). Running against a live gateway reads a moving tail: a record in
//! the middle of being appended may show as a torn tail.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use memmap2::Mmap;

use super::codec::{self, KINDS, MAX_KIND};
use super::layout::*;
use super::scan::{check_config_epoch, check_header, list_segments, scan_records, CorruptReason};
use super::{config_file, head, io_error, Entry, JournalError, Record};
use crate::engine::{CancelReason, Command, OrderKind, Side, StpMode, TimeInForce};

/// What a read of one shard's journal found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardSummary {
    pub dir: PathBuf,
    pub shard: Option<u16>,
    /// Segments read (up to any corruption).
    pub segments: u32,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Records per kind, indexed by kind number (index 0 unused).
    pub records_by_kind: [u64; MAX_KIND as usize + 1],
    /// Header and record bytes in the segments read.
    pub bytes_used: u64,
    /// Length of every segment file of the shard.
    pub bytes_allocated: u64,
    /// Segment files of the shard, including any past a corruption.
    pub segment_files: u32,
    /// Spare files not yet activated (removed at the next start).
    pub spares: u32,
    /// A partial last record recovery will cut: file and offset.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// The first unreadable place: recovery refuses to start here.
    pub corruption: Option<(PathBuf, u64, CorruptReason)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalSummary {
    pub shards: Vec<ShardSummary>,
}

impl JournalSummary {
    /// No shard has corruption (torn tails are expected after a crash).
    pub fn is_intact(&self) -> bool {
        self.shards.iter().all(|s| s.corruption.is_none())
    }

    pub fn records(&self) -> u64 {
        self.shards.iter().map(|s| s.records).sum()
    }
}

/// Reads every shard under `dir` and reports torn tails and corruption
/// with file and offset. Never writes.
pub fn verify(dir: &Path) -> Result<JournalSummary, JournalError> {
    walk(dir, |_, _, _| Ok(()))
}

/// Segments, records per kind, bytes used and allocated, first and last
/// sequence number per shard.
pub fn stats(dir: &Path) -> Result<JournalSummary, JournalError> {
    walk(dir, |_, _, _| Ok(()))
}

/// Writes every readable record as one JSON object per line, shard by
/// shard in sequence order; what stopped the reading is in the summary.
pub fn dump(dir: &Path, out: &mut impl Write) -> Result<JournalSummary, JournalError> {
    walk(dir, |shard, _, record| write_json(out, shard, record))
}

/// The shard directories under `dir`: its `shard-N` children, or `dir`
/// itself if it holds segments (or is named `shard-N`).
fn shard_dirs(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut shards = Vec::new();
    let mut is_shard_dir = false;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir, "read directory"))? {
        let entry = entry.map_err(io_error(dir, "read directory"))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = parse_shard_dir_name(&name) {
            if entry.path().is_dir() {
                shards.push((id, entry.path()));
            }
        } else if parse_segment_file_name(&name).is_some()
            || name == head::HEAD_FILE
            || config_file::is_file_name(&name)
        {
            // A shard directory, even with every segment removed.
            is_shard_dir = true;
        }
    }
    let own_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if is_shard_dir || own_name.as_deref().and_then(parse_shard_dir_name).is_some() {
        return Ok(vec![dir.to_path_buf()]);
    }
    shards.sort();
    Ok(shards.into_iter().map(|(_, path)| path).collect())
}

fn walk(
    dir: &Path,
    mut on_record: impl FnMut(u16, u16, &Record) -> io::Result<()>,
) -> Result<JournalSummary, JournalError> {
    let mut summary = JournalSummary::default();
    for shard_dir in shard_dirs(dir)? {
        summary.shards.push(walk_shard(&shard_dir, &mut on_record)?);
    }
    Ok(summary)
}

// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
fn walk_shard(
    dir: &Path,
    on_record: &mut impl FnMut(u16, u16, &Record) -> io::Result<()>,
) -> Result<ShardSummary, JournalError> {
    // The marker first: a live writer writes it only after the segment it
    // names exists, so read before the listing it is never ahead of it.
    let own_shard = dir
        .file_name()
        .and_then(|n| parse_shard_dir_name(&n.to_string_lossy()));
    let head = head::read(dir, own_shard).map_err(io_error(dir, "read head"))?;
    let files = list_segments(dir).map_err(io_error(dir, "list"))?;
    let mut summary = ShardSummary {
        dir: dir.to_path_buf(),
        shard: own_shard,
        segment_files: files.segments.len() as u32,
        spares: files.spares.len() as u32,
        ..ShardSummary::default()
    };
    for (_, path) in &files.segments {
        let len = std::fs::metadata(path)
            .map_err(io_error(path, "stat"))?
            .len();
        summary.bytes_allocated += len;
    }
    // Removed segments: what remains may read as a whole journal.
    let newest = files.segments.last().map(|(seq, _)| *seq);
    let missing = head::check(dir, head, newest).map_err(io_error(dir, "list"))?;
    let mut expected_seq = 1;
    let count = files.segments.len();
    for (i, (name_seq, path)) in files.segments.iter().enumerate() {
        let file = File::open(path).map_err(io_error(path, "open"))?;
        let len = file.metadata().map_err(io_error(path, "stat"))?.len();
        if len < HEADER_BYTES as u64 {
            let reason = CorruptReason::Header(HeaderError::TooShort(len));
            summary.corruption = Some((path.clone(), 0, reason));
            break;
        }
        // SAFETY: read-only map of a segment. A writer never shrinks a
        // mapped segment; an operator truncating one while this runs could
        // make a read fault, which this tool accepts.
        let map = unsafe { Mmap::map(&file) }.map_err(io_error(path, "map"))?;
        let header = check_header(&map, summary.shard, *name_seq, len).and_then(|h| {
            if h.first_seq == expected_seq {
                Ok(h)
            } else {
                Err(CorruptReason::SequenceGap {
                    expected: expected_seq,
                    found: h.first_seq,
                })
            }
        });
        let header = match header {
            Ok(h) => h,
            Err(reason) => {
                summary.corruption = Some((path.clone(), 0, reason));
                break;
            }
        };
        let shard = *summary.shard.get_or_insert(header.shard);
        let mut failed = Ok(());
        let area = &map[..map.len().min(header.segment_bytes as usize)];
        let scan = scan_records(area, expected_seq, |_, kind, record| {
            check_config_epoch(dir, record)?;
            summary.records_by_kind[kind as usize] += 1;
            if failed.is_ok() {
                failed = on_record(shard, kind, record);
            }
            Ok(())
        });
        failed.map_err(io_error("<output>", "write"))?;
        summary.segments += 1;
        summary.records += scan.records;
        summary.bytes_used += scan.end as u64;
        if scan.records > 0 {
            summary.first_seq.get_or_insert(expected_seq);
            summary.last_seq = Some(scan.next_seq - 1);
        }
        expected_seq = scan.next_seq;
        if let Some(damage) = scan.damage {
            let at = (path.clone(), damage.offset as u64);
            if i + 1 == count && damage.tail_only {
                summary.torn_tail = Some(at);
            } else {
                summary.corruption = Some((at.0, at.1, damage.reason));
            }
            break;
        }
    }
    if let Some((file, missing)) = missing.filter(|_| summary.corruption.is_none()) {
        // Recovery checks this after reading every segment, as here.
        summary.corruption = Some((file, 0, CorruptReason::SegmentsMissing(missing)));
    }
    // Every record counted once by kind, and seqs run from 1 without a
    // gap (a gap is corruption, where the walk stops).
    assert_eq!(summary.records_by_kind.iter().sum::<u64>(), summary.records);
    assert!(summary.segments <= summary.segment_files);
    if summary.records > 0 {
        assert_eq!(summary.first_seq, Some(1));
        assert_eq!(summary.last_seq, Some(summary.records));
    }
    Ok(summary)
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn order_kind_name(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::Limit => "limit",
        OrderKind::Market => "market",
    }
}

fn tif_name(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Day => "day",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

fn stp_name(stp: StpMode) -> &'static str {
    match stp {
        StpMode::CancelResting => "cancel_resting",
        StpMode::CancelIncoming => "cancel_incoming",
        StpMode::CancelBoth => "cancel_both",
    }
}

fn cancel_reason_name(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Requested => "requested",
        CancelReason::ImmediateRemainder => "immediate_remainder",
        CancelReason::FillOrKill => "fill_or_kill",
        CancelReason::SelfTrade => "self_trade",
        CancelReason::MassCancel => "mass_cancel",
        CancelReason::KillSwitch => "kill_switch",
        CancelReason::Disconnect => "disconnect",
        CancelReason::Expired => "expired",
    }
}

/// The fields of a record that holds no command, and the line's end.
fn write_marker_json(out: &mut impl Write, entry: &Entry) -> io::Result<()> {
    match *entry {
        Entry::ConfigEpoch(epoch) => {
            // The digest as the hex of the file name: a JSON number would
            // lose its low bits in most readers.
            writeln!(
                out,
                r#","digest":"{:016x}","config_bytes":{},"file":"{}"}}"#,
                epoch.digest,
                epoch.config_bytes,
                config_file::file_name(epoch.digest)
            )
        }
        Entry::StateChecksum(checksum) => writeln!(
            out,
            r#","digest":"{:016x}","resting_orders":{}}}"#,
            checksum.digest, checksum.resting_orders
        ),
        Entry::FeedEpoch(epoch) => writeln!(out, r#","epoch":"{}"}}"#, epoch.0),
        Entry::Command(_) => unreachable!("commands are written by write_json"),
    }
}

/// One record as a JSON line. Every value is a number, a boolean, null or
/// one of the fixed lowercase names above, so nothing needs escaping.
fn write_json(out: &mut impl Write, shard: u16, r: &Record) -> io::Result<()> {
    // Only records the scan accepted are printed.
    debug_assert!(r.seq >= 1);
    let kind = codec::kind_name(codec::kind_of(&r.entry));
    write!(
        out,
        r#"{{"shard":{shard},"seq":{},"ts_ns":{},"kind":"{kind}""#,
        r.seq, r.ts_ns
    )?;
    let command = match r.entry {
        Entry::Command(command) => command,
        Entry::ConfigEpoch(_) | Entry::StateChecksum(_) | Entry::FeedEpoch(_) => {
            return write_marker_json(out, &r.entry)
        }
    };
    match command {
        Command::New(o) => {
            write!(
                out,
                r#","account":{},"symbol":{},"client_order_id":{},"side":"{}","order_kind":"{}","tif":"{}","post_only":{},"stp":"#,
                o.account,
                o.symbol,
                o.client_order_id,
                side_name(o.side),
                order_kind_name(o.kind),
                tif_name(o.tif),
                o.post_only
            )?;
            match o.stp {
                Some(stp) => write!(out, r#""{}""#, stp_name(stp))?,
                None => write!(out, "null")?,
            }
            write!(out, r#","price":{},"qty":{}"#, o.price, o.qty)?;
        }
        Command::Cancel(c) => write!(
            out,
            r#","account":{},"symbol":{},"order_id":{},"client_order_id":{}"#,
            c.account, c.symbol, c.order_id, c.client_order_id
        )?,
        Command::Replace(c) => write!(
            out,
            r#","account":{},"symbol":{},"order_id":{},"client_order_id":{},"new_price":{},"new_qty":{}"#,
            c.account, c.symbol, c.order_id, c.client_order_id, c.new_price, c.new_qty
        )?,
        Command::MassCancel {
            account,
            symbol,
            reason,
        } => {
            write!(out, r#","account":{account},"symbol":"#)?;
            match symbol {
                Some(s) => write!(out, "{s}")?,
                None => write!(out, "null")?,
            }
            write!(out, r#","reason":"{}""#, cancel_reason_name(reason))?;
        }
        Command::KillSwitch { account, on } => write!(out, r#","account":{account},"on":{on}"#)?,
        Command::Halt { symbol, on } => write!(out, r#","symbol":{symbol},"on":{on}"#)?,
        Command::SetReferencePrice { symbol, price } => {
            write!(out, r#","symbol":{symbol},"price":{price}"#)?
        }
        Command::EndOfDay => {}
    }
    writeln!(out, "}}")
}

/// `tradsys journal <action> DIR`. Exit status: 0 readable (a torn tail
/// is normal after a crash), 1 corruption found, 2 usage or I/O error.
pub fn run_cli(action: &str, dir: &Path) -> ExitCode {
    let result = match action {
        "verify" => verify(dir).inspect(print_verify),
        "stats" => stats(dir).inspect(print_stats),
        "dump" => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let result = dump(dir, &mut out);
            let flushed = out.flush();
            match (result, flushed) {
                (Ok(s), Ok(())) => {
                    print_problems(&s);
                    Ok(s)
                }
                // `dump | head`: the reader has what it wanted.
                (Err(JournalError::Io { source, .. }), _) | (Ok(_), Err(source))
                    if source.kind() == io::ErrorKind::BrokenPipe =>
                {
                    return ExitCode::SUCCESS;
                }
                (Err(e), _) => Err(e),
                (Ok(_), Err(source)) => Err(JournalError::Io {
                    path: PathBuf::from("<stdout>"),
                    op: "write",
                    source,
                }),
            }
        }
        other => {
            eprintln!("unknown journal action {other:?}: expected verify, dump or stats");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(summary) if summary.shards.is_empty() => {
            eprintln!("no journal found in {}", dir.display());
            ExitCode::from(2)
        }
        Ok(summary) if summary.is_intact() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn shard_label(s: &ShardSummary) -> String {
    match s.shard {
        Some(id) => format!("shard {id} ({})", s.dir.display()),
        None => format!("{}", s.dir.display()),
    }
}

fn seq_range(s: &ShardSummary) -> String {
    match (s.first_seq, s.last_seq) {
        (Some(first), Some(last)) => {
            assert!(first <= last, "seq {first}..={last}");
            format!("seq {first}..={last}")
        }
        _ => "no records".to_string(),
    }
}

fn print_verify(summary: &JournalSummary) {
    for s in &summary.shards {
        let verdict = match (&s.corruption, &s.torn_tail) {
            (Some(_), _) => "CORRUPT",
            (None, Some(_)) => "ok (torn tail)",
            (None, None) => "ok",
        };
        println!(
            "{}: {verdict}: {} segments, {} records, {}",
            shard_label(s),
            s.segments,
            s.records,
            seq_range(s)
        );
    }
    print_problems(summary);
}

fn print_problems(summary: &JournalSummary) {
    for s in &summary.shards {
        if let Some((file, offset)) = &s.torn_tail {
            eprintln!(
                "{}: torn tail at {} offset {offset}: a partial last record; the next start truncates it",
                shard_label(s),
                file.display()
            );
        }
        if let Some((file, offset, reason)) = &s.corruption {
            let consequence = match reason {
                CorruptReason::SegmentsMissing(_) => {
                    "records after the newest segment present are gone; a start refuses"
                }
                _ => "records after it are not readable; a start refuses",
            };
            eprintln!(
                "{}: corrupt at {} offset {offset}: {reason}; {consequence}",
                shard_label(s),
                file.display()
            );
        }
    }
}

fn print_stats(summary: &JournalSummary) {
    for s in &summary.shards {
        println!("{}", shard_label(s));
        println!(
            "  segments: {} ({} files, {} spares)",
            s.segments, s.segment_files, s.spares
        );
        println!("  records: {}, {}", s.records, seq_range(s));
        let by_kind: Vec<String> = KINDS
            .iter()
            .map(|&(kind, name)| format!("{name} {}", s.records_by_kind[kind as usize]))
            .collect();
        println!("  by kind: {}", by_kind.join(", "));
        println!(
            "  bytes: {} used of {} allocated",
            s.bytes_used, s.bytes_allocated
        );
    }
    print_problems(summary);
}
