//! Following one shard's journal from another thread, read-only: the
//! frames from a given seq on, in order, as the shard appends them. It maps
//! segments read-only and never takes the shard's `LOCK`, so it cannot
//! slow, block or change the writer.
//!
//! The writer stores a record's `len` word last, so a frame with a zero
//! `len` is not there yet. A frame whose CRC does not hold yet may be one
//! being written: the tail waits for it (it never ships a frame whose CRC
//! fails). A record with another seq than the next one is a journal the
//! tail cannot follow ([`TailError`]).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::journal::codec::MAX_PAYLOAD;
use crate::journal::layout::{
    get_u32, get_u64, parse_segment_file_name, read_header, record_bytes, HEADER_BYTES,
    RECORD_ALIGN, R_CRC, R_LEN, R_PAYLOAD, R_SEQ,
};

/// Why the tail cannot go on.
#[derive(Debug)]
pub enum TailError {
    Io(PathBuf, io::Error),
    /// The journal has no record `expected` where it should be: the stream
    /// is ahead of this journal or the segments were replaced.
    Gap {
        expected: u64,
        found: u64,
    },
}

impl std::fmt::Display for TailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TailError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            TailError::Gap { expected, found } => {
                write!(f, "journal has seq {found} where {expected} was expected")
            }
        }
    }
}

struct Mapped {
    first_seq: u64,
    map: Mmap,
    /// End of the record area (the header's segment_bytes, or the file's).
    end: usize,
}

/// A read-only cursor over one shard directory.
pub struct JournalTail {
    dir: PathBuf,
    /// The seq of the last frame returned (0: none yet).
    returned_seq: u64,
    /// The seq of the last frame the cursor passed in `segment`.
    cursor_seq: u64,
    segment: Option<Mapped>,
    /// Offset of the next frame in `segment`.
    offset: usize,
}

impl JournalTail {
    /// A tail that returns records from `next_seq` on (1: from the start).
    pub fn new(dir: &Path, next_seq: u64) -> JournalTail {
        assert!(next_seq >= 1, "seqs start at 1");
        JournalTail {
            dir: dir.to_path_buf(),
            returned_seq: next_seq - 1,
            cursor_seq: 0,
            segment: None,
            offset: 0,
        }
    }

    /// The seq of the next frame to return.
    pub fn next_seq(&self) -> u64 {
        self.returned_seq + 1
    }

    /// The next frame, if it is in the journal yet.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, TailError> {
        loop {
            if self.segment.is_none() && !self.open_segment()? {
                return Ok(None);
            }
            let Some(frame_len) = self.frame_here()? else {
                // At the end of this segment's data: the next segment may
                // have begun (the writer rolled over).
                if self.next_segment_exists()? {
                    self.segment = None;
                    continue;
                }
                return Ok(None);
            };
            let at = self.offset;
            self.offset += frame_len;
            self.cursor_seq += 1;
            if self.cursor_seq <= self.returned_seq {
                // Before the first record asked for: skipped.
                continue;
            }
            self.returned_seq += 1;
            debug_assert_eq!(self.cursor_seq, self.returned_seq);
            let segment = self.segment.as_ref().expect("mapped above");
            return Ok(Some(&segment.map[at..at + frame_len]));
        }
    }

    /// The length of the complete frame at the cursor with the next seq,
    /// `None` if there is none yet.
    fn frame_here(&self) -> Result<Option<usize>, TailError> {
        let segment = self.segment.as_ref().expect("a mapped segment");
        // The cursor is on a frame boundary past the header.
        debug_assert!(self.offset >= HEADER_BYTES);
        debug_assert_eq!(self.offset % RECORD_ALIGN, 0);
        let bytes = &segment.map[..segment.end];
        if self.offset + R_PAYLOAD > bytes.len() {
            return Ok(None);
        }
        let len = get_u32(bytes, self.offset + R_LEN) as usize;
        if len == 0 || len > MAX_PAYLOAD || self.offset + record_bytes(len) > bytes.len() {
            return Ok(None);
        }
        let at = self.offset;
        let crc = crc32c::crc32c(&bytes[at + R_SEQ..at + R_PAYLOAD + len]);
        if crc != get_u32(bytes, at + R_CRC) {
            // Being written, or damaged: never shipped either way.
            return Ok(None);
        }
        let seq = get_u64(bytes, at + R_SEQ);
        if seq != self.cursor_seq + 1 {
            return Err(TailError::Gap {
                expected: self.cursor_seq + 1,
                found: seq,
            });
        }
        Ok(Some(record_bytes(len)))
    }

    /// Maps the segment holding `next_seq` with the cursor at its first
    /// frame; `false` if the journal has no such segment yet.
    fn open_segment(&mut self) -> Result<bool, TailError> {
        let segments = self.segments()?;
        let Some((first_seq, path)) = segments
            .into_iter()
            .rfind(|(first, _)| *first <= self.returned_seq + 1)
        else {
            return Ok(false);
        };
        let io = |e| TailError::Io(path.clone(), e);
        let file = File::open(&path).map_err(io)?;
        // SAFETY: a read-only shared map of a segment the shard writes
        // through its own map: every byte read is checked (len bounds, CRC,
        // seq) before use, and the file is never truncated while it lives.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let Ok(header) = read_header(&map) else {
            return Ok(false);
        };
        assert_eq!(header.first_seq, first_seq, "the name is the header's");
        let end = map.len().min(header.segment_bytes as usize);
        self.segment = Some(Mapped {
            first_seq,
            map,
            end,
        });
        self.offset = HEADER_BYTES;
        // The cursor's seq is the one before the segment's first frame.
        self.cursor_seq = first_seq - 1;
        Ok(true)
    }

    fn next_segment_exists(&self) -> Result<bool, TailError> {
        debug_assert!(
            self.segment.is_some(),
            "asked at the end of a mapped segment"
        );
        let current = self.segment.as_ref().map_or(0, |s| s.first_seq);
        Ok(self
            .segments()?
            .iter()
            .any(|(first, _)| *first > current && *first <= self.cursor_seq + 1))
    }

    /// `(first_seq, path)` of every segment, in seq order.
    fn segments(&self) -> Result<Vec<(u64, PathBuf)>, TailError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TailError::Io(self.dir.clone(), e)),
        };
        let mut segments: Vec<(u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                parse_segment_file_name(name.to_str()?).map(|seq| (seq, e.path()))
            })
            .collect();
        segments.sort_unstable();
        Ok(segments)
    }
}
