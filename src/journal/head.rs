//! The head marker: a small file, `HEAD`, in each shard directory, naming
//! the first sequence number of the newest segment the writer has moved
//! into. Its one job is to let recovery and `verify` see segment files
//! that something other than the gateway removed: the segments that remain
//! read as a whole journal (each chains to the one before it), so without a
//! witness a start would go on without the records of a removed newest
//! segment, acknowledged orders among them, and reuse their sequence
//! numbers.
//!
//! The marker is a lower bound, never ahead of the files: it is written
//! only after the segment it names was activated and the directory synced
//! (at the end of each start, and by the helper thread that makes the next
//! spare after each roll-over, off the order path), so a crash at any point
//! leaves it naming a segment that is on disk. A journal whose marker is
//! older than its newest segment is normal; one whose newest segment is
//! older than its marker has lost files.
//!
//! A journal from before the marker, or whose marker went with its
//! segments, still has the engine config files its `config_epoch` records
//! named: config files with no segment at all are refused too.
//!
//! The byte layout is in `FORMAT.md` ("Head marker").

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::layout::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use super::segment::sync_dir;

/// The marker's file name in a shard directory.
pub const HEAD_FILE: &str = "HEAD";
/// Written under this name, then renamed over `HEAD`.
pub const HEAD_TMP_FILE: &str = "HEAD.tmp";
pub const HEAD_MAGIC: [u8; 8] = *b"TRDSHEAD";
pub const HEAD_VERSION: u16 = 1;
pub const HEAD_BYTES: usize = 32;
/// Field offsets.
pub const HD_MAGIC: usize = 0;
pub const HD_VERSION: usize = 8;
pub const HD_SHARD: usize = 10;
pub const HD_NEWEST_FIRST_SEQ: usize = 16;
/// CRC32C of bytes `0..28`.
pub const HD_CRC: usize = 28;

const _: () = assert!(HD_MAGIC + HEAD_MAGIC.len() <= HD_VERSION);
const _: () = assert!(HD_NEWEST_FIRST_SEQ + 8 <= HD_CRC);
const _: () = assert!(HD_CRC + 4 == HEAD_BYTES);

/// Why a marker file cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadProblem {
    /// A length other than [`HEAD_BYTES`].
    Length(u64),
    BadMagic,
    BadCrc,
    UnsupportedVersion(u16),
    /// It names another shard.
    ShardMismatch {
        expected: u16,
        found: u16,
    },
    /// A sequence number of 0, which no segment starts at.
    ZeroSeq,
}

impl std::fmt::Display for HeadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            HeadProblem::Length(n) => write!(f, "{n} bytes, not {HEAD_BYTES}"),
            HeadProblem::BadMagic => write!(f, "not a head marker (magic)"),
            HeadProblem::BadCrc => write!(f, "CRC mismatch"),
            HeadProblem::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            HeadProblem::ShardMismatch { expected, found } => {
                write!(f, "names shard {found}, expected shard {expected}")
            }
            HeadProblem::ZeroSeq => write!(f, "names seq 0"),
        }
    }
}

/// The marker's bytes for shard `shard` whose newest segment starts at
/// `newest_first_seq`.
pub fn encode(shard: u16, newest_first_seq: u64) -> [u8; HEAD_BYTES] {
    assert!(newest_first_seq >= 1, "sequence numbers start at 1");
    let mut bytes = [0u8; HEAD_BYTES];
    bytes[HD_MAGIC..HD_MAGIC + 8].copy_from_slice(&HEAD_MAGIC);
    put_u16(&mut bytes, HD_VERSION, HEAD_VERSION);
    put_u16(&mut bytes, HD_SHARD, shard);
    put_u64(&mut bytes, HD_NEWEST_FIRST_SEQ, newest_first_seq);
    let crc = crc32c::crc32c(&bytes[..HD_CRC]);
    put_u32(&mut bytes, HD_CRC, crc);
    debug_assert_eq!(decode(&bytes, Some(shard)), Ok(newest_first_seq));
    bytes
}

/// The newest segment's first seq a marker names, checked against the
/// shard when it is known.
pub fn decode(bytes: &[u8], shard: Option<u16>) -> Result<u64, HeadProblem> {
    if bytes.len() != HEAD_BYTES {
        return Err(HeadProblem::Length(bytes.len() as u64));
    }
    if bytes[HD_MAGIC..HD_MAGIC + 8] != HEAD_MAGIC {
        return Err(HeadProblem::BadMagic);
    }
    if crc32c::crc32c(&bytes[..HD_CRC]) != get_u32(bytes, HD_CRC) {
        return Err(HeadProblem::BadCrc);
    }
    let version = get_u16(bytes, HD_VERSION);
    if version != HEAD_VERSION {
        return Err(HeadProblem::UnsupportedVersion(version));
    }
    let found = get_u16(bytes, HD_SHARD);
    if let Some(expected) = shard {
        if found != expected {
            return Err(HeadProblem::ShardMismatch { expected, found });
        }
    }
    let seq = get_u64(bytes, HD_NEWEST_FIRST_SEQ);
    if seq == 0 {
        return Err(HeadProblem::ZeroSeq);
    }
    Ok(seq)
}

/// The marker in `dir`: `None` if there is none.
pub fn read(dir: &Path, shard: Option<u16>) -> io::Result<Option<Result<u64, HeadProblem>>> {
    match fs::read(dir.join(HEAD_FILE)) {
        Ok(bytes) => Ok(Some(decode(&bytes, shard))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records that the segment starting at `newest_first_seq` exists and is
/// the newest, durably: the directory is synced first (so the segment's
/// own rename is on disk before anything names it), then the marker is
/// written under a temporary name, fsynced, renamed over the old one and
/// the directory synced again. Never on the order path.
pub(crate) fn write(dir: &Path, shard: u16, newest_first_seq: u64) -> io::Result<()> {
    let bytes = encode(shard, newest_first_seq);
    sync_dir(dir)?;
    let tmp = dir.join(HEAD_TMP_FILE);
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(HEAD_FILE))?;
    sync_dir(dir)?;
    // Written, then read back as recovery will (debug builds only).
    debug_assert_eq!(
        read(dir, Some(shard)).ok().flatten(),
        Some(Ok(newest_first_seq))
    );
    Ok(())
}

/// What says segment files are missing from `dir`, whose newest segment
/// present starts at `newest` (`None`: no segment at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The marker names a segment newer than any present.
    PastNewest { head: u64, newest: Option<u64> },
    /// No segment, no marker, but an engine config file: records were
    /// written (a config file is made just before the record naming it).
    ConfigFileWithoutSegments,
    /// The marker cannot be read, so nothing can be said.
    Unreadable(HeadProblem),
}

/// Checks `dir` for removed segments: the file that shows it and why, or
/// `None`. `head` is what [`read`] found.
pub fn check(
    dir: &Path,
    head: Option<Result<u64, HeadProblem>>,
    newest: Option<u64>,
) -> io::Result<Option<(PathBuf, Missing)>> {
    // Segments are named by a first seq, and seqs start at 1.
    assert!(newest != Some(0), "a segment named 0");
    let at_head = dir.join(HEAD_FILE);
    match head {
        Some(Err(problem)) => Ok(Some((at_head, Missing::Unreadable(problem)))),
        Some(Ok(head)) if newest.is_none_or(|newest| newest < head) => {
            Ok(Some((at_head, Missing::PastNewest { head, newest })))
        }
        Some(Ok(_)) => Ok(None),
        None if newest.is_some() => Ok(None),
        None => Ok(first_config_file(dir)?.map(|f| (f, Missing::ConfigFileWithoutSegments))),
    }
}

/// An `engine-config-*.bin` file in `dir`, the first by name.
fn first_config_file(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut found: Option<PathBuf> = None;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let is_config = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(super::config_file::is_file_name);
        if is_config && found.as_ref().is_none_or(|f| path < *f) {
            found = Some(path);
        }
    }
    debug_assert!(found.as_ref().is_none_or(|f| f.parent() == Some(dir)));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_and_any_changed_byte_is_refused() {
        let bytes = encode(3, 0x0102_0304_0506_0708);
        assert_eq!(decode(&bytes, Some(3)), Ok(0x0102_0304_0506_0708));
        assert_eq!(decode(&bytes, None), Ok(0x0102_0304_0506_0708));
        assert_eq!(
            decode(&bytes, Some(4)),
            Err(HeadProblem::ShardMismatch {
                expected: 4,
                found: 3
            })
        );
        for at in 0..HEAD_BYTES {
            for bit in 0..8 {
                let mut changed = bytes;
                changed[at] ^= 1 << bit;
                assert!(decode(&changed, Some(3)).is_err(), "byte {at} bit {bit}");
            }
        }
        assert_eq!(decode(&bytes[..31], None), Err(HeadProblem::Length(31)));
    }
}
