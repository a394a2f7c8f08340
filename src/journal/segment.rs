//! One segment file: preallocated, memory-mapped, prefaulted. New segments
//! are made from a [`SegmentRequest`] (on a blocking thread, ahead of need)
//! under a temporary `.spare` name and become `{first_seq:020}.seg` when the
//! writer activates them, since the first sequence number they hold is
//! only known then.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use memmap2::{Advice, MmapMut, MmapOptions};

use super::layout::*;

/// A mapped segment file, owned by one writer (or on its way to one).
pub struct Segment {
    path: PathBuf,
    // No file descriptor is kept: the mapping outlives it.
    map: MmapMut,
    /// `None` while a spare (not yet holding records).
    first_seq: Option<u64>,
    segment_bytes: u64,
}

/// Everything needed to create the next segment off the shard thread.
/// `create` does the slow part: file creation, every block allocated,
/// written with a pattern that is read back from the device (proving the
/// blocks exist below the file system), then written with zeros; the file
/// and its directory synced; then mapping and faulting every page in
/// writable (so appends never take a page fault).
///
/// Why write the blocks rather than trust `posix_fallocate`: on ext4 and
/// xfs fallocate leaves *unwritten* extents, and the first writeback of a
/// page in one converts its extent, a metadata update that can fail on
/// thin or failing storage after msync of the data has already returned
/// success (seen here: "failed to convert unwritten extents to written
/// extents -- potential data loss!", records acknowledged after a good
/// msync unreadable after a remount). Once every block has been written
/// and fsynced, a store through the map is an overwrite in place: its
/// writeback needs no allocation and no extent change, so a later msync
/// error can only be a real device error, which fail-stops the gateway.
/// A disk that cannot hold the segment fails here, off the order path,
/// where a refusal loses nothing.
#[derive(Debug)]
pub struct SegmentRequest {
    pub(crate) dir: PathBuf,
    pub(crate) file_name: String,
    pub(crate) shard: u16,
    pub(crate) segment_bytes: u64,
    /// msync the new header before handing it over (sync policy not
    /// `none`); the file's blocks are synced whatever the policy.
    pub(crate) durable: bool,
    /// The first seq of the writer's newest segment when it asked: `create`
    /// records it in the head marker first ([`super::head`]), so the marker
    /// follows each roll-over off the order path. `None` when the writer
    /// has no segment yet (a start writes the marker itself).
    pub(crate) newest_first_seq: Option<u64>,
}

impl SegmentRequest {
    pub fn create(self) -> io::Result<Segment> {
        // Made under a name no reader takes for a segment, until activated.
        assert!(self.file_name.ends_with(SPARE_SUFFIX), "{}", self.file_name);
        if let Some(newest) = self.newest_first_seq {
            super::head::write(&self.dir, self.shard, newest)?;
        }
        let path = self.dir.join(&self.file_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        match self.fill(&file) {
            Ok(map) => Ok(Segment {
                path,
                map,
                first_seq: None,
                segment_bytes: self.segment_bytes,
            }),
            Err(e) => {
                // Leave nothing half-made behind; the error is what matters.
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    fn fill(&self, file: &File) -> io::Result<MmapMut> {
        assert!(self.segment_bytes >= MIN_SEGMENT_BYTES);
        // fallocate first: a disk without room fails fast, before a single
        // block is written, and the extents come out contiguous.
        fallocate(file, self.segment_bytes)?;
        prove_blocks_exist(file, self.segment_bytes)?;
        write_fill(file, self.segment_bytes, 0)?;
        // Blocks written and their extents converted on disk before the
        // segment is used, whatever the sync policy: this is what makes a
        // store through the map an overwrite in place (see above).
        file.sync_all()?;
        sync_dir(&self.dir)?;
        let mut map = map_file(file, self.segment_bytes)?;
        write_header_prefix(&mut map, self.shard, self.segment_bytes, wall_clock_ns());
        let len = map.len();
        prefault(&mut map, 0, len);
        if self.durable {
            map.flush_range(0, HEADER_BYTES)?;
        }
        debug_assert_eq!(map.len() as u64, self.segment_bytes);
        Ok(map)
    }
}

/// The byte [`prove_blocks_exist`] writes and reads back: not 0, because a
/// block that was never stored (a hole) also reads as zeros.
const PROOF_BYTE: u8 = 0xA5;

/// Writes a non-zero pattern over the whole file, fsyncs it, drops it from
/// the page cache and reads it back from the device. A device that
/// acknowledged a write it did not store fails here, at creation, instead
/// of losing acknowledged records later. (Seen here: ext4 on a loop device
/// over a full tmpfs returned success from fsync with half of a new file
/// missing on the device, the loop driver counting a short write as done.)
/// Once the pattern is on the device every block exists below the file
/// system too, so the zeros written next, and every record after them, are
/// overwrites of stored blocks.
fn prove_blocks_exist(file: &File, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    // Zeros could not tell a stored block from a hole.
    const _: () = assert!(PROOF_BYTE != 0);
    assert!(len >= MIN_SEGMENT_BYTES);
    write_fill(file, len, PROOF_BYTE)?;
    file.sync_all()?;
    // SAFETY: fadvise on a descriptor we own; it only drops clean pages.
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            0,
            len as libc::off_t,
            libc::POSIX_FADV_DONTNEED,
        );
    }
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], off)?;
        debug_assert!(n > 0, "no progress");
        if let Some(bad) = buf[..n].iter().position(|&b| b != PROOF_BYTE) {
            return Err(io::Error::other(format!(
                "segment block at offset {} did not reach the device (read back {:#04x}, wrote {PROOF_BYTE:#04x}): the storage acknowledged a write it did not keep",
                off + bad as u64,
                buf[bad]
            )));
        }
        off += n as u64;
    }
    Ok(())
}

/// Bytes written or read at once when a segment is filled or checked.
const CHUNK: usize = 1 << 20;

/// Writes `byte` over the whole file with plain `pwrite`s, a chunk at a
/// time, so every block is allocated and written.
fn write_fill(file: &File, len: u64, byte: u8) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let chunk = vec![byte; CHUNK.min(len as usize)];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(chunk.len() as u64) as usize;
        debug_assert!(n > 0, "no progress");
        file.write_all_at(&chunk[..n], off)?;
        off += n as u64;
    }
    // Every byte, not one past the end: the file keeps its length.
    assert_eq!(off, len);
    Ok(())
}

impl Segment {
    /// Maps an existing segment (recovery), whose file is as long as its
    /// header's `segment_bytes` (a resized one is refused before this).
    pub(crate) fn open_existing(
        path: &Path,
        first_seq: u64,
        segment_bytes: u64,
    ) -> io::Result<Segment> {
        // What the header check let through: a sealed header, a size the
        // writer makes (and the file's length, `check_header` saw).
        assert!(first_seq >= 1, "sequence numbers start at 1");
        assert!(segment_bytes >= MIN_SEGMENT_BYTES, "{segment_bytes} bytes");
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let map = map_file(&file, segment_bytes)?;
        Ok(Segment {
            path: path.to_path_buf(),
            map,
            first_seq: Some(first_seq),
            segment_bytes,
        })
    }

    /// Re-dirties `from..to` and msyncs it (see [`redirty`]).
    pub(crate) fn rewrite_range(&mut self, from: usize, to: usize) -> io::Result<()> {
        // Records only: the header was made durable when sealed.
        assert!(HEADER_BYTES <= from, "rewriting the header");
        redirty(&mut self.map, from, to);
        self.sync_range(from, to)
    }

    /// Faults in the pages appends will write from `from` on.
    pub(crate) fn prefault_from(&mut self, from: usize) {
        let len = self.map.len();
        assert!(from <= len, "prefault from {from} of {len}");
        prefault(&mut self.map, from, len);
    }

    /// Faults in (again) the pages of `from..from + len`.
    pub(crate) fn prefault_range(&mut self, from: usize, len: usize) {
        // A write position: never past the record area.
        assert!(from <= self.data_end(), "prefault at {from}");
        let end = from.saturating_add(len).min(self.map.len());
        prefault(&mut self.map, from, end);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first sequence number this segment holds; `None` for a spare.
    pub fn first_seq(&self) -> Option<u64> {
        // A spare keeps its `.spare` name until `activate` renames it.
        let spare_name = self
            .path
            .as_os_str()
            .as_encoded_bytes()
            .ends_with(SPARE_SUFFIX.as_bytes());
        debug_assert_eq!(
            self.first_seq.is_none(),
            spare_name,
            "{}",
            self.path.display()
        );
        self.first_seq
    }

    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Where the record area ends (the map already stops at the header's
    /// `segment_bytes` or the file's end).
    pub(crate) fn data_end(&self) -> usize {
        let end = self.map.len() & !(RECORD_ALIGN - 1);
        // Every map holds at least a header, which is aligned.
        debug_assert!(end >= HEADER_BYTES);
        end
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// msync(MS_SYNC) of `from..to` (widened to pages by the kernel).
    pub(crate) fn sync_range(&self, from: usize, to: usize) -> io::Result<()> {
        assert!(from <= to, "sync of a negative range");
        assert!(to <= self.map.len(), "sync past the map");
        if to > from {
            self.map.flush_range(from, to - from)?;
        }
        Ok(())
    }

    /// Zeroes `from..to` and makes that durable: how a torn tail or a
    /// corrupt stretch is cut off.
    pub(crate) fn zero_range(&mut self, from: usize, to: usize) -> io::Result<()> {
        // Cuts happen at record offsets, after the header, never before it.
        assert!(HEADER_BYTES <= from, "zeroing the header from {from}");
        assert_eq!(from % RECORD_ALIGN, 0, "a cut inside a frame");
        self.map[from..to].fill(0);
        self.sync_range(from, to)
    }

    /// Makes a spare the segment that holds records from `first_seq` on:
    /// seals the header and gives the file its final name. A failed rename
    /// leaves the spare a spare (under its old name), to be activated
    /// later: nothing was lost. A failed sync is [`ActivateError::Sync`]:
    /// the writer must stop, never retry it (a retried fsync can succeed
    /// without the data having reached the disk).
    pub(crate) fn activate(&mut self, first_seq: u64, durable: bool) -> Result<(), ActivateError> {
        assert!(self.first_seq.is_none(), "only a spare is activated");
        assert!(first_seq >= 1, "sequence numbers start at 1");
        seal_header(&mut self.map, first_seq);
        let dir = self
            .path
            .parent()
            .expect("segment path has a directory")
            .to_path_buf();
        let final_path = dir.join(segment_file_name(first_seq));
        if durable {
            self.map
                .flush_range(0, HEADER_BYTES)
                .map_err(ActivateError::Sync)?;
        }
        fs::rename(&self.path, &final_path).map_err(ActivateError::Rename)?;
        // Renamed: a retry (same or later seq) renames from here.
        self.path = final_path;
        self.first_seq = Some(first_seq);
        if durable {
            sync_dir(&dir).map_err(ActivateError::Sync)?;
        }
        // Its name and its sealed header say the same first seq.
        debug_assert_eq!(read_header(&self.map).map(|h| h.first_seq), Ok(first_seq));
        Ok(())
    }

    /// Removes an unused spare's file.
    pub(crate) fn discard(self) {
        debug_assert!(self.first_seq.is_none());
        let _ = fs::remove_file(&self.path);
    }
}

/// Why [`Segment::activate`] failed.
#[derive(Debug)]
pub(crate) enum ActivateError {
    /// The rename failed: the spare is still a spare; retry later.
    Rename(io::Error),
    /// An msync or fsync failed: fatal for the writer.
    Sync(io::Error),
}

/// fsync of a directory: makes a rename in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn map_file(file: &File, len: u64) -> io::Result<MmapMut> {
    // Never a map shorter than the header every reader reads first.
    assert!(len >= HEADER_BYTES as u64, "map of {len} bytes");
    // SAFETY: the mapping is of a file in a shard directory that one
    // writer owns (it holds the directory's lock); nothing else writes or
    // truncates the file while it is mapped. Reads through the map see the
    // file's bytes; every access is bounds checked against the map length.
    unsafe { MmapOptions::new().len(len as usize).map_mut(file) }
}

/// Reserves every block of the file so that stores through the mapping
/// cannot fail for lack of space.
fn fallocate(file: &File, len: u64) -> io::Result<()> {
    // posix_fallocate returns the error number instead of setting errno.
    // SAFETY: a plain syscall on a descriptor `file` owns and keeps open for
    // the call; no memory is passed.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Marks every page of `from..to` dirty again by writing back the byte it
/// holds, so the next msync writes those pages to disk again. After a
/// writeback error the kernel marks a page clean although its data never
/// reached the disk (fsyncgate): recovery re-dirties what it is about to
/// build on, so a page the cache still holds is written once more or the
/// sync fails and the start refuses.
pub(crate) fn redirty(map: &mut MmapMut, from: usize, to: usize) {
    assert!(from <= to && to <= map.len());
    let page = page_size();
    let base = map.as_mut_ptr();
    let mut off = from / page * page;
    while off < to {
        // SAFETY: `off` is inside the mapping (off < to <= len); the
        // writer owns the mapping exclusively (it holds the directory
        // lock), and writing back the byte just read changes no data.
        unsafe {
            let p = base.add(off);
            p.write_volatile(p.read_volatile());
        }
        off += page;
    }
}

/// Faults the pages of `from..to` in writable, so the first store to a
/// page on the append path is not a page fault (a few microseconds, and a
/// filesystem callback on ext4/xfs). MADV_POPULATE_WRITE (Linux 5.14) does
/// it without touching data; older kernels get a read-and-write-back of one
/// byte per page, which is just as harmless to the contents.
fn prefault(map: &mut MmapMut, from: usize, to: usize) {
    assert!(to <= map.len(), "prefault past the map: {to}");
    let page = page_size();
    let from = from / page * page;
    if from >= to {
        return;
    }
    if map
        .advise_range(Advice::PopulateWrite, from, to - from)
        .is_ok()
    {
        return;
    }
    // The same touch as `redirty`: a write fault makes each page writable.
    redirty(map, from, to);
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = if n > 0 { n as usize } else { 4096 };
    // `redirty` and `prefault` round offsets down to a page with it.
    assert!(page.is_power_of_two(), "page size {page}");
    page
}

pub(crate) fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
