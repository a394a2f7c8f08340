//! Opening a shard's journal: replay every good record, cut a torn tail,
//! refuse (or, when asked, cut at) corruption, and leave a writer
//! positioned after the last good record.

use std::cell::Cell;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{JournalConfig, SyncPolicy};

use super::head::{self, Missing};
use super::layout::*;
use super::scan::{check_config_epoch, check_header, list_segments, scan_records, CorruptReason};
use super::segment::{ActivateError, Segment};
use super::writer::{lock_dir, JournalStats, JournalWriter};
use super::{io_error, JournalError, Record, RecoveryReport, TruncatedCorruption};

impl JournalWriter {
    /// Opens (creating if missing) the journal in `shard_dir`, calls
    /// `replay` for every good record in order, and returns the writer
    /// ready to append the next sequence number.
    ///
    /// On `Err(Corrupt)` the records already passed to `replay` are the
    /// good ones before the damage, but the journal goes on past it: the
    /// caller must not serve from what it rebuilt. With
    /// `truncate_corrupt_journal` (`serve --truncate-corrupt-journal`) the
    /// journal is instead cut at the damage (the damaged segment is copied
    /// to `*.corrupt` first, later segments are renamed to `*.corrupt`)
    /// and the cut is in the report.
    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    pub fn open(
        shard_dir: &Path,
        shard: u16,
        cfg: &JournalConfig,
        truncate_corrupt_journal: bool,
        mut replay: impl FnMut(&Record),
    ) -> Result<(JournalWriter, RecoveryReport), JournalError> {
        let started = Instant::now();
        if cfg.segment_bytes < MIN_SEGMENT_BYTES {
            return Err(JournalError::InvalidConfig {
                field: "journal.segment_bytes",
                reason: "must be at least 4096",
            });
        }
        fs::create_dir_all(shard_dir).map_err(io_error(shard_dir, "create directory"))?;
        let lock = lock_dir(shard_dir)?;
        let files = list_segments(shard_dir).map_err(io_error(shard_dir, "list"))?;
        for spare in &files.spares {
            // A spare never activated holds no records.
            fs::remove_file(spare).map_err(io_error(spare, "remove spare"))?;
        }

        let mut report = RecoveryReport {
            records: 0,
            segments: 0,
            last_seq: 0,
            torn_tail: None,
            truncated_corruption: None,
            elapsed: Default::default(),
        };
        let mut expected_seq = 1;
        let mut active: Option<(Segment, usize)> = None;
        let count = files.segments.len();
        for (i, (name_seq, path)) in files.segments.iter().enumerate() {
            let later = &files.segments[i + 1..];
            let header = read_segment_header(path, shard, *name_seq, expected_seq)?;
            let header = match header {
                Ok(found) => found,
                Err(reason) => {
                    // Nothing in this file is readable: it and every later
                    // one go aside; the previous segment (if any) stays active.
                    let cut = Cut {
                        file: path,
                        offset: 0,
                        reason,
                        keep_copy: false,
                    };
                    cut_here(cut, later, truncate_corrupt_journal, &mut report)?;
                    break;
                }
            };
            // Segments chain: each starts where the one before ended.
            assert_eq!(header.first_seq, expected_seq);
            let mut segment = Segment::open_existing(path, header.first_seq, header.segment_bytes)
                .map_err(io_error(path, "map"))?;
            let scan = scan_records(segment.bytes(), expected_seq, |_, _, r| {
                check_config_epoch(shard_dir, r)?;
                replay(r);
                Ok(())
            });
            assert!(HEADER_BYTES <= scan.end, "records end in the header");
            assert!(
                scan.end <= segment.data_end(),
                "records end past the segment"
            );
            if cfg.sync != SyncPolicy::None {
                // A previous run with `sync = none` may have left these
                // records only in the page cache; they are about to be
                // built on. The last two segments (the only ones a failed
                // sync of the previous run can have touched: the active one
                // and at most one retired) are re-dirtied first, because
                // after a writeback error the kernel marks pages clean that
                // never reached the disk, and a plain msync would skip them.
                let from = HEADER_BYTES.min(scan.end);
                let synced = if i + 2 >= count {
                    segment.rewrite_range(from, scan.end)
                } else {
                    segment.sync_range(from, scan.end)
                };
                synced.map_err(io_error(path, "msync"))?;
            }
            report.records += scan.records;
            report.segments += 1;
            expected_seq = scan.next_seq;
            let Some(damage) = scan.damage else {
                active = Some((segment, scan.end));
                continue;
            };
            let offset = damage.offset as u64;
            if i + 1 == count && damage.tail_only {
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    reason = %damage.reason,
                    "journal: torn tail (an append that never completed) truncated"
                );
                segment
                    .zero_range(damage.offset, damage.zone_end)
                    .map_err(io_error(path, "truncate torn tail"))?;
                report.torn_tail = Some((path.clone(), offset));
                active = Some((segment, damage.offset));
                break;
            }
            let cut = Cut {
                file: path,
                offset,
                reason: damage.reason,
                keep_copy: true,
            };
            cut_here(cut, later, truncate_corrupt_journal, &mut report)?;
            let end = segment.bytes().len();
            segment
                .zero_range(damage.offset, end)
                .map_err(io_error(path, "truncate corruption"))?;
            active = Some((segment, damage.offset));
            break;
        }
        let head = head::read(shard_dir, Some(shard)).map_err(io_error(shard_dir, "read head"))?;
        if report.truncated_corruption.is_none() {
            // Every segment present was read (a cut sets the later ones
            // aside, and the marker is rewritten below): are there more?
            let newest = files.segments.last().map(|(seq, _)| *seq);
            let missing =
                head::check(shard_dir, head, newest).map_err(io_error(shard_dir, "list"))?;
            if let Some((file, missing)) = missing {
                cut_missing(file, missing, truncate_corrupt_journal, &mut report)?;
            }
        }
        report.last_seq = expected_seq - 1;
        // Seqs run from 1 without a gap, so the count is the last one.
        assert_eq!(report.records, report.last_seq, "records replayed");

        let (mut active, write_off) = match active {
            Some(found) => found,
            None => (
                first_segment(shard_dir, shard, cfg, expected_seq)?,
                HEADER_BYTES,
            ),
        };
        // The writer resumes at a frame boundary of a segment that holds
        // the next seq's predecessors, never past its record area.
        assert_eq!(write_off % RECORD_ALIGN, 0);
        assert!(HEADER_BYTES <= write_off);
        assert!(write_off <= active.data_end());
        assert!(active
            .first_seq()
            .is_some_and(|first| first <= expected_seq));
        active.prefault_from(write_off);
        let active_first = active.first_seq().expect("an activated segment");
        if head != Some(Ok(active_first)) {
            // The segment this start writes into, on disk since activated.
            // A marker left behind stays a lower bound, so a failure (a
            // full disk) only delays it, except after a cut, where the old
            // marker may name a segment set aside and would refuse the
            // next start.
            match head::write(shard_dir, shard, active_first) {
                Ok(()) => {}
                Err(source) if report.truncated_corruption.is_none() => tracing::warn!(
                    dir = %shard_dir.display(),
                    error = %source,
                    "journal: head marker not updated; the thread that makes the next spare writes it"
                ),
                Err(source) => return Err(io_error(shard_dir, "write head")(source)),
            }
        }
        let writer = JournalWriter {
            dir: shard_dir.to_path_buf(),
            shard,
            sync: cfg.sync,
            sync_interval_ns: cfg.sync_interval_us.saturating_mul(1_000),
            segment_bytes: cfg.segment_bytes,
            active,
            write_off,
            synced_off: write_off,
            retired: None,
            dir_unsynced: false,
            spare: None,
            spare_requested: Cell::new(false),
            spare_names: Cell::new(0),
            next_seq: expected_seq,
            last_sync_ns: 0,
            last_checksum: (0, 0),
            creation_failed: None,
            failed: None,
            stats: JournalStats::default(),
            _lock: lock,
        };
        report.elapsed = started.elapsed();
        Ok((writer, report))
    }
}

/// The segment a journal starts with when recovery kept none.
fn first_segment(
    shard_dir: &Path,
    shard: u16,
    cfg: &JournalConfig,
    first_seq: u64,
) -> Result<Segment, JournalError> {
    let request = super::segment::SegmentRequest {
        dir: shard_dir.to_path_buf(),
        file_name: format!("open-{}{SPARE_SUFFIX}", std::process::id()),
        shard,
        segment_bytes: cfg.segment_bytes,
        durable: cfg.sync != SyncPolicy::None,
        newest_first_seq: None,
    };
    let path = shard_dir.join(&request.file_name);
    let mut segment = request
        .create()
        .map_err(io_error(&path, "create segment"))?;
    segment
        .activate(first_seq, cfg.sync != SyncPolicy::None)
        .map_err(|e| match e {
            ActivateError::Rename(source) | ActivateError::Sync(source) => {
                io_error(&path, "activate segment")(source)
            }
        })?;
    assert_eq!(segment.first_seq(), Some(first_seq));
    Ok(segment)
}

/// Reads and checks a segment header: `Ok(Err(reason))` when the header
/// itself says the segment is unusable, `Err` for I/O failures.
fn read_segment_header(
    path: &Path,
    shard: u16,
    name_seq: u64,
    expected_seq: u64,
) -> Result<Result<SegmentHeader, CorruptReason>, JournalError> {
    let file = File::open(path).map_err(io_error(path, "open"))?;
    let file_len = file.metadata().map_err(io_error(path, "stat"))?.len();
    let mut bytes = [0u8; HEADER_BYTES];
    if file_len < HEADER_BYTES as u64 {
        return Ok(Err(CorruptReason::Header(HeaderError::TooShort(file_len))));
    }
    file.read_exact_at(&mut bytes, 0)
        .map_err(io_error(path, "read header"))?;
    let checked = check_header(&bytes, Some(shard), name_seq, file_len).and_then(|header| {
        if header.first_seq != expected_seq {
            return Err(CorruptReason::SequenceGap {
                expected: expected_seq,
                found: header.first_seq,
            });
        }
        Ok(header)
    });
    // A header let through is one `Segment::open_existing` can map: a
    // size the writer makes, and the file's length.
    if let Ok(header) = &checked {
        assert!(header.segment_bytes >= MIN_SEGMENT_BYTES);
        assert_eq!(file_len, header.segment_bytes);
    }
    Ok(checked)
}

struct Cut<'a> {
    file: &'a Path,
    offset: u64,
    reason: CorruptReason,
    /// Copy the damaged file aside before it is cut (its header is sound,
    /// so it stays as the active segment); otherwise it is renamed aside.
    keep_copy: bool,
}

/// Refuses corruption, or (when asked) sets aside what follows it.
fn cut_here(
    cut: Cut<'_>,
    later: &[(u64, PathBuf)],
    truncate_corrupt_journal: bool,
    report: &mut RecoveryReport,
) -> Result<(), JournalError> {
    if !truncate_corrupt_journal {
        return Err(JournalError::Corrupt {
            file: cut.file.to_path_buf(),
            offset: cut.offset,
            reason: cut.reason,
        });
    }
    let mut set_aside = Vec::new();
    let aside = aside_name(cut.file);
    if cut.keep_copy {
        fs::copy(cut.file, &aside).map_err(io_error(cut.file, "copy aside"))?;
    } else {
        fs::rename(cut.file, &aside).map_err(io_error(cut.file, "rename aside"))?;
    }
    set_aside.push(aside);
    for (_, path) in later {
        let aside = aside_name(path);
        fs::rename(path, &aside).map_err(io_error(path, "rename aside"))?;
        set_aside.push(aside);
    }
    let dir = cut.file.parent().expect("segment in a directory");
    super::segment::sync_dir(dir).map_err(io_error(dir, "fsync"))?;
    tracing::warn!(
        file = %cut.file.display(),
        offset = cut.offset,
        reason = %cut.reason,
        set_aside = set_aside.len(),
        "journal: corruption cut as requested; later records are not replayed"
    );
    // The damaged file (or its copy) and every later one.
    assert_eq!(set_aside.len(), later.len() + 1);
    report.truncated_corruption = Some(TruncatedCorruption {
        file: cut.file.to_path_buf(),
        offset: cut.offset,
        reason: cut.reason,
        set_aside,
    });
    Ok(())
}

/// Refuses a journal whose segment files were removed, or (when asked to
/// cut) goes on with what remains and reports it: nothing is set aside,
/// since the missing files are the damage.
fn cut_missing(
    file: PathBuf,
    missing: Missing,
    truncate_corrupt_journal: bool,
    report: &mut RecoveryReport,
) -> Result<(), JournalError> {
    // Checked only when no other cut was made: one cut a start.
    assert!(report.truncated_corruption.is_none(), "already cut");
    let reason = CorruptReason::SegmentsMissing(missing);
    if !truncate_corrupt_journal {
        return Err(JournalError::Corrupt {
            file,
            offset: 0,
            reason,
        });
    }
    tracing::warn!(
        file = %file.display(),
        %reason,
        "journal: starting without the removed segments as requested; their records are lost"
    );
    report.truncated_corruption = Some(TruncatedCorruption {
        file,
        offset: 0,
        reason,
        set_aside: Vec::new(),
    });
    Ok(())
}

/// `{file}.corrupt`, or `{file}.corrupt.N` if an earlier cut used that.
fn aside_name(file: &Path) -> PathBuf {
    let base = format!("{}{CORRUPT_SUFFIX}", file.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}
