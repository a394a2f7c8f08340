//! Reading segments: listing a shard directory, checking headers, and
//! walking the records of one segment while classifying how its data ends.
//! Recovery (which may repair) and the tools (which never write) share it,
//! so `verify` says exactly what `open` would do.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::codec::{self, CodecError, MAX_PAYLOAD};
use super::config_file::{self, ConfigFileProblem};
use super::head::Missing;
use super::layout::*;
use super::{io_error, ConfigEpoch, Entry, JournalError, Record};

/// What makes a journal unreadable at some offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    Header(HeaderError),
    /// The header names another shard.
    ShardMismatch {
        expected: u16,
        found: u16,
    },
    /// The file name and the header disagree on the first sequence number.
    NameMismatch {
        name_seq: u64,
        header_seq: u64,
    },
    /// A segment or record does not carry the next sequence number (a
    /// segment file is missing, or a record is out of place).
    SequenceGap {
        expected: u64,
        found: u64,
    },
    /// A zero `len` word (end of data) followed by non-zero bytes.
    DataAfterEnd,
    /// A `len` word no record can have.
    BadLength(u32),
    /// The file ends inside a record (it was cut short).
    Truncated,
    CrcMismatch,
    /// The CRC holds but the payload is not a command this version knows.
    Undecodable(CodecError),
    /// The CRC holds but the frame's reserved field is not zero.
    ReservedNotZero(u16),
    /// A `config_epoch` record whose config file (named by its digest)
    /// is missing or damaged: what follows cannot be replayed faithfully.
    ConfigFile {
        digest: u64,
        problem: ConfigFileProblem,
    },
    /// The file's length is not its header's `segment_bytes`. The writer
    /// makes every segment that long and never changes it, so something
    /// else cut it short (records lost) or wrote past it.
    LengthMismatch {
        header: u64,
        file: u64,
    },
    /// Segment files were removed (see [`super::head`]).
    SegmentsMissing(Missing),
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CorruptReason::Header(HeaderError::TooShort(n)) => {
                write!(f, "file of {n} bytes is shorter than a segment header")
            }
            CorruptReason::Header(HeaderError::BadMagic) => {
                write!(f, "not a journal segment (magic)")
            }
            CorruptReason::Header(HeaderError::BadCrc) => write!(f, "segment header CRC mismatch"),
            CorruptReason::Header(HeaderError::UnsupportedVersion(v)) => {
                write!(f, "unsupported format version {v}")
            }
            CorruptReason::Header(HeaderError::BadSegmentBytes(n)) => {
                write!(f, "header segment_bytes {n} is below the minimum")
            }
            CorruptReason::ShardMismatch { expected, found } => {
                write!(
                    f,
                    "segment belongs to shard {found}, expected shard {expected}"
                )
            }
            CorruptReason::NameMismatch {
                name_seq,
                header_seq,
            } => write!(
                f,
                "file name says first seq {name_seq}, header says {header_seq}"
            ),
            CorruptReason::SequenceGap { expected, found } => {
                write!(f, "expected seq {expected}, found {found}")
            }
            CorruptReason::DataAfterEnd => write!(f, "non-zero bytes after the end of data"),
            CorruptReason::BadLength(len) => write!(f, "bad record length {len}"),
            CorruptReason::Truncated => write!(f, "the file ends inside a record"),
            CorruptReason::CrcMismatch => write!(f, "record CRC mismatch"),
            CorruptReason::Undecodable(e) => write!(f, "undecodable record: {e}"),
            CorruptReason::ReservedNotZero(v) => write!(f, "record reserved field is {v}"),
            CorruptReason::ConfigFile { digest, problem } => write!(
                f,
                "config_epoch record names {}: {problem}",
                config_file::file_name(digest)
            ),
            CorruptReason::LengthMismatch { header, file } => write!(
                f,
                "file of {file} bytes, its header says {header}: resized by something other \
                 than the gateway"
            ),
            CorruptReason::SegmentsMissing(Missing::PastNewest { head, newest }) => {
                write!(f, "the head marker names segment {head} as written, but ")?;
                match newest {
                    Some(newest) => write!(f, "the newest segment present is {newest}")?,
                    None => write!(f, "there is no segment")?,
                }
                write!(f, ": segment files were removed")
            }
            CorruptReason::SegmentsMissing(Missing::ConfigFileWithoutSegments) => write!(
                f,
                "an engine config file, which a start writes just before its first record, \
                 but no segment and no head marker: segment files were removed"
            ),
            CorruptReason::SegmentsMissing(Missing::Unreadable(problem)) => {
                write!(f, "the head marker cannot be read: {problem}")
            }
        }
    }
}

/// Where and why a segment's records stop being readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Damage {
    pub offset: usize,
    pub reason: CorruptReason,
    /// Only zeros follow the damaged frame in this segment and no intact
    /// record follows it: what an append that never finished leaves. In the
    /// last segment that is a torn tail, not corruption.
    pub tail_only: bool,
    /// End of the bytes the damaged frame may occupy (zeroed on repair).
    pub zone_end: usize,
}

/// The outcome of walking one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordScan {
    pub records: u64,
    pub next_seq: u64,
    /// Offset just past the last good record: where the next one goes.
    pub end: usize,
    pub damage: Option<Damage>,
}

/// Walks the records of one segment, calling `on_record(offset, kind,
/// record)` for each good one in order. `bytes` is the segment from its
/// start to the end of its record area (the header's `segment_bytes`, or
/// the file's end if that comes first). A record `on_record` refuses is
/// damage no append leaves (its CRC held): the scan stops there, and the
/// record is not counted.
pub fn scan_records(
    bytes: &[u8],
    first_seq: u64,
    mut on_record: impl FnMut(usize, u16, &Record) -> Result<(), CorruptReason>,
) -> RecordScan {
    assert!(first_seq >= 1, "sequence numbers start at 1");
    let data_end = bytes.len() & !(RECORD_ALIGN - 1);
    let mut off = HEADER_BYTES.min(data_end);
    let mut seq = first_seq;
    let mut records = 0;
    let damage = loop {
        // Frames are whole multiples of the alignment: each starts aligned.
        debug_assert_eq!(off % RECORD_ALIGN, 0);
        if off >= data_end {
            break past_record_area(bytes, off);
        }
        match read_frame(bytes, off, data_end, seq) {
            Frame::Record {
                kind,
                record,
                frame_bytes,
            } => {
                if let Err(reason) = on_record(off, kind, &record) {
                    break Some(Damage {
                        offset: off,
                        reason,
                        tail_only: false,
                        zone_end: (off + MAX_RECORD_BYTES).min(bytes.len()),
                    });
                }
                records += 1;
                seq += 1;
                off += frame_bytes;
            }
            Frame::End => {
                if all_zero(&bytes[off..]) {
                    break None;
                }
                break Some(soft_damage(
                    bytes,
                    off,
                    data_end,
                    seq,
                    CorruptReason::DataAfterEnd,
                    MAX_RECORD_BYTES,
                ));
            }
            Frame::Soft {
                reason,
                frame_bytes,
            } => {
                break Some(soft_damage(bytes, off, data_end, seq, reason, frame_bytes));
            }
            Frame::Hard(reason) => {
                break Some(Damage {
                    offset: off,
                    reason,
                    tail_only: false,
                    zone_end: (off + MAX_RECORD_BYTES).min(bytes.len()),
                })
            }
        }
    };
    debug_assert!(off <= data_end || damage.is_some());
    // One sequence number per record, none skipped.
    assert_eq!(seq, first_seq + records, "sequence continuity");
    if let Some(damage) = &damage {
        // Damage starts where the good records end, inside the segment.
        assert_eq!(damage.offset, off);
        assert!(damage.offset < damage.zone_end && damage.zone_end <= bytes.len());
    }
    RecordScan {
        records,
        next_seq: seq,
        end: off,
        damage,
    }
}

/// What lies past the last aligned frame start: nothing, or (in a file
/// cut at an unaligned length) part of a frame in its last few bytes.
fn past_record_area(bytes: &[u8], off: usize) -> Option<Damage> {
    assert!(off <= bytes.len(), "past the segment: {off}");
    if all_zero(&bytes[off..]) {
        return None;
    }
    Some(Damage {
        offset: off,
        reason: CorruptReason::Truncated,
        tail_only: true,
        zone_end: bytes.len(),
    })
}

enum Frame {
    Record {
        kind: u16,
        record: Record,
        frame_bytes: usize,
    },
    /// A zero `len` word.
    End,
    /// Damage an unfinished append can leave: bad length or CRC.
    Soft {
        reason: CorruptReason,
        frame_bytes: usize,
    },
    /// Damage no append leaves: the CRC holds but the content is wrong.
    Hard(CorruptReason),
}

fn read_frame(bytes: &[u8], off: usize, data_end: usize, seq: u64) -> Frame {
    // An aligned frame start before the aligned end has its `len` word.
    debug_assert_eq!(off % RECORD_ALIGN, 0);
    debug_assert!(off + RECORD_ALIGN <= data_end && data_end <= bytes.len());
    let len = get_u32(bytes, off + R_LEN);
    if len == 0 {
        return Frame::End;
    }
    if len as usize > MAX_PAYLOAD {
        return Frame::Soft {
            reason: CorruptReason::BadLength(len),
            frame_bytes: MAX_RECORD_BYTES,
        };
    }
    if off + record_bytes(len as usize) > data_end {
        return Frame::Soft {
            reason: CorruptReason::Truncated,
            frame_bytes: MAX_RECORD_BYTES,
        };
    }
    let len = len as usize;
    let frame_bytes = record_bytes(len);
    let crc = super::record_crc::record_crc(&bytes[off + R_SEQ..off + R_PAYLOAD + len]);
    if crc != get_u32(bytes, off + R_CRC) {
        return Frame::Soft {
            reason: CorruptReason::CrcMismatch,
            frame_bytes,
        };
    }
    let found = get_u64(bytes, off + R_SEQ);
    if found != seq {
        return Frame::Hard(CorruptReason::SequenceGap {
            expected: seq,
            found,
        });
    }
    let reserved = get_u16(bytes, off + R_RESERVED);
    if reserved != 0 {
        return Frame::Hard(CorruptReason::ReservedNotZero(reserved));
    }
    let kind = get_u16(bytes, off + R_KIND);
    debug_assert!(frame_bytes <= MAX_RECORD_BYTES && off + frame_bytes <= data_end);
    match codec::decode(kind, &bytes[off + R_PAYLOAD..off + R_PAYLOAD + len]) {
        Ok(entry) => Frame::Record {
            kind,
            record: Record {
                seq,
                ts_ns: get_u64(bytes, off + R_TS),
                entry,
            },
            frame_bytes,
        },
        Err(e) => Frame::Hard(CorruptReason::Undecodable(e)),
    }
}

/// The record with `seq` whose frame starts at `off`, if that is what is
/// there: how the writer reads back what it has just written.
pub(super) fn record_at(bytes: &[u8], off: usize, seq: u64) -> Option<Record> {
    let data_end = bytes.len() & !(RECORD_ALIGN - 1);
    assert!(HEADER_BYTES <= off && off < data_end, "no frame at {off}");
    match read_frame(bytes, off, data_end, seq) {
        Frame::Record { record, .. } => Some(record),
        _ => None,
    }
}

/// Damage of the kind an unfinished append leaves, classified: it is only
/// a tail if nothing but zeros follows its frame and no intact record with
/// the next sequence number starts inside the frame's reach (which would
/// mean a record was lost in the middle, not at the end).
fn soft_damage(
    bytes: &[u8],
    off: usize,
    data_end: usize,
    seq: u64,
    reason: CorruptReason,
    frame_bytes: usize,
) -> Damage {
    let zone_end = (off + frame_bytes.max(MAX_RECORD_BYTES)).min(bytes.len());
    let after = (off + frame_bytes).min(bytes.len());
    let successor = (off + RECORD_ALIGN..zone_end)
        .step_by(RECORD_ALIGN)
        .filter(|&p| p < data_end)
        .any(|p| {
            matches!(
                read_frame(bytes, p, data_end, seq + 1),
                Frame::Record { .. }
            )
        });
    // The zone covers the damaged frame and stays inside the segment.
    debug_assert!(off < after && after <= zone_end && zone_end <= bytes.len());
    Damage {
        offset: off,
        reason,
        tail_only: !successor && all_zero(&bytes[after..]),
        zone_end,
    }
}

/// Whether every byte is zero; word at a time, since recovery runs it over
/// the unused rest of the active segment.
pub fn all_zero(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        let mut acc = 0u64;
        for word in chunk.chunks_exact(8) {
            acc |= u64::from_ne_bytes(word.try_into().expect("8-byte chunk"));
        }
        if acc != 0 {
            debug_assert!(bytes.iter().any(|&b| b != 0));
            return false;
        }
    }
    let zero = chunks.remainder().iter().all(|&b| b == 0);
    // The word-at-a-time answer is the byte-at-a-time one (debug builds
    // only: it reads every byte a second time, up to a whole segment).
    debug_assert_eq!(zero, bytes.iter().all(|&b| b == 0));
    zero
}

/// Checks a header against the shard, the file name and the file's length.
pub fn check_header(
    bytes: &[u8],
    shard: Option<u16>,
    name_seq: u64,
    file_len: u64,
) -> Result<SegmentHeader, CorruptReason> {
    let header = read_header(bytes).map_err(CorruptReason::Header)?;
    if let Some(expected) = shard {
        if header.shard != expected {
            return Err(CorruptReason::ShardMismatch {
                expected,
                found: header.shard,
            });
        }
    }
    if header.first_seq != name_seq {
        return Err(CorruptReason::NameMismatch {
            name_seq,
            header_seq: header.first_seq,
        });
    }
    if header.segment_bytes != file_len {
        return Err(CorruptReason::LengthMismatch {
            header: header.segment_bytes,
            file: file_len,
        });
    }
    Ok(header)
}

/// The files of one shard directory.
#[derive(Debug, Default)]
pub struct SegmentFiles {
    /// `(first_seq, path)`, in sequence order.
    pub segments: Vec<(u64, PathBuf)>,
    /// Spares that were never activated (left by a stop or a crash).
    pub spares: Vec<PathBuf>,
}

pub fn list_segments(dir: &Path) -> io::Result<SegmentFiles> {
    let mut files = SegmentFiles::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_segment_file_name(name) {
            files.segments.push((seq, entry.path()));
        } else if name.ends_with(SPARE_SUFFIX) {
            files.spares.push(entry.path());
        }
    }
    files.segments.sort_unstable();
    // One file per first sequence number (names are canonical).
    debug_assert!(files.segments.windows(2).all(|w| w[0].0 < w[1].0));
    Ok(files)
}

/// Checks the config file a `config_epoch` record names (recovery and the
/// tools both refuse a record whose file is missing or damaged).
pub fn check_config_epoch(dir: &Path, record: &Record) -> Result<(), CorruptReason> {
    match record.entry {
        Entry::Command(_) | Entry::FeedEpoch(_) | Entry::StateChecksum(_) => Ok(()),
        Entry::ConfigEpoch(epoch) => {
            config_file::read(dir, epoch)
                .map(drop)
                .map_err(|problem| CorruptReason::ConfigFile {
                    digest: epoch.digest,
                    problem,
                })
        }
    }
}

/// The first `config_epoch` record of a shard's journal and its sequence
/// number, reading segments in order and stopping at the first one, at
/// the end of the data or at the first damage (recovery decides what
/// damage means; this only looks). Read-only; `None` for a missing
/// directory. A fresh journal starts with its epoch, so this reads one
/// record; a journal begun before epochs existed is read up to the first.
pub fn first_config_epoch(
    dir: &Path,
    shard: u16,
) -> Result<Option<(u64, ConfigEpoch)>, JournalError> {
    let files = match list_segments(dir) {
        Ok(files) => files,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir, "list")(e)),
    };
    let mut seq = 1;
    for (name_seq, path) in &files.segments {
        let file = File::open(path).map_err(io_error(path, "open"))?;
        let len = file.metadata().map_err(io_error(path, "stat"))?.len();
        if len < HEADER_BYTES as u64 {
            return Ok(None);
        }
        // SAFETY: read-only map of a segment, before the writer opens the
        // journal (nothing writes it meanwhile but an operator's mistake,
        // which could at worst make a read fault).
        let map = unsafe { Mmap::map(&file) }.map_err(io_error(path, "map"))?;
        let Ok(header) = check_header(&map, Some(shard), *name_seq, len) else {
            return Ok(None);
        };
        if header.first_seq != seq {
            return Ok(None);
        }
        let area = &map[..map.len().min(header.segment_bytes as usize)];
        let data_end = area.len() & !(RECORD_ALIGN - 1);
        let mut off = HEADER_BYTES.min(data_end);
        while off < data_end {
            match read_frame(area, off, data_end, seq) {
                Frame::Record {
                    record,
                    frame_bytes,
                    ..
                } => {
                    debug_assert_eq!(record.seq, seq, "read_frame checks the sequence");
                    if let Entry::ConfigEpoch(epoch) = record.entry {
                        return Ok(Some((seq, epoch)));
                    }
                    seq += 1;
                    off += frame_bytes;
                }
                Frame::End => break,
                Frame::Soft { .. } | Frame::Hard(_) => return Ok(None),
            }
        }
    }
    Ok(None)
}
