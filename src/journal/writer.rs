//! The append side: one writer per shard, on the shard's thread. `append`
//! is a bounds check, a ~72-byte copy and a CRC into a prefaulted map: no
//! allocation, no lock, and no syscall unless the sync policy is `every` or
//! the active segment is full (roll-over: a rename, once per segment).

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::config::SyncPolicy;
use crate::engine::{Command, EngineConfig};

use super::layout::*;
use super::scan;
use super::segment::{self, ActivateError, Segment, SegmentRequest};
use super::{config_file, io_error, ConfigEpoch, Entry, JournalError, Record, StateChecksum};

/// After a failed synchronous segment creation, appends that need a new
/// segment are refused without retrying for this long (of `ts_ns`), so a
/// full disk costs the shard one failed attempt per second, not one per
/// order. An installed spare ends the wait at once.
pub const FULL_RETRY_NS: u64 = 1_000_000_000;

/// How far ahead of the write position [`JournalWriter::prefault_ahead`]
/// keeps pages writable: about 3,600 new-order records.
pub const PREFAULT_AHEAD_BYTES: usize = 256 << 10;

/// Counters for the admin thread; plain integers, read by copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub records_appended: u64,
    pub bytes_appended: u64,
    /// Moves into a new segment.
    pub segments_rolled: u64,
    pub spares_installed: u64,
    /// Segments created on the shard thread because no spare was ready.
    pub sync_segment_creations: u64,
    /// msync calls made by `sync_now`/`sync_if_due` (not per-append ones).
    pub syncs: u64,
    /// Appends refused with `JournalError::Full`.
    pub full_refusals: u64,
}

pub struct JournalWriter {
    pub(super) dir: PathBuf,
    pub(super) shard: u16,
    pub(super) sync: SyncPolicy,
    pub(super) sync_interval_ns: u64,
    pub(super) segment_bytes: u64,
    pub(super) active: Segment,
    /// Where the next record goes in `active`.
    pub(super) write_off: usize,
    /// `active` is durable up to here.
    pub(super) synced_off: usize,
    /// The previous segment and the part of it still to be synced.
    pub(super) retired: Option<(Segment, usize, usize)>,
    /// A rename whose directory entry is not yet durable (interval policy).
    pub(super) dir_unsynced: bool,
    pub(super) spare: Option<Segment>,
    pub(super) spare_requested: Cell<bool>,
    pub(super) spare_names: Cell<u64>,
    pub(super) next_seq: u64,
    pub(super) last_sync_ns: u64,
    /// `ts_ns` and seq of the last `state_checksum` record appended.
    pub(super) last_checksum: (u64, u64),
    /// `ts_ns` and errno of the last failed synchronous creation.
    pub(super) creation_failed: Option<(u64, i32)>,
    /// The first sync failure (file, offset, errno): once set, the writer
    /// refuses everything with it and never syncs again.
    pub(super) failed: Option<(PathBuf, u64, i32)>,
    pub(super) stats: JournalStats,
    /// Holds the shard directory's flock for the writer's lifetime.
    pub(super) _lock: File,
}

impl JournalWriter {
    /// Appends one command and returns its sequence number. With
    /// `sync = every` the record is durable (msync) when this returns.
    ///
    /// Errors: [`JournalError::Full`] (no segment for it: nothing appended,
    /// try again later) or [`JournalError::SyncFailed`] (fatal: this and
    /// every later call fail with it).
    #[inline]
    pub fn append(&mut self, ts_ns: u64, command: &Command) -> Result<u64, JournalError> {
        let appended = self.append_entry(ts_ns, &Entry::Command(*command));
        // The seq returned is the one taken; a refusal takes none.
        debug_assert!(
            appended.as_ref().is_err() || appended.as_ref().ok() == Some(&(self.next_seq - 1))
        );
        appended
    }

    /// Appends the `feed_epoch` record of a start (after recovery, before
    /// its first command); returns its seq.
    pub fn append_feed_epoch(
        &mut self,
        ts_ns: u64,
        epoch: crate::market_data::FeedEpoch,
    ) -> Result<u64, JournalError> {
        assert!(epoch.0 > 0, "epoch 0 is never derived");
        self.append_entry(ts_ns, &Entry::FeedEpoch(epoch))
    }

    /// Starts a config epoch: makes `config`'s file durable in the shard
    /// directory ([`config_file::write`]), then appends a `config_epoch`
    /// record naming it, synced at once unless the policy is `none` (every
    /// command after it depends on it, and with `every` each of them is
    /// synced alone). Returns the epoch and its sequence number. Called at
    /// start-up, never on the order path: it allocates and does file I/O.
    pub fn append_config_epoch(
        &mut self,
        ts_ns: u64,
        config: &EngineConfig,
    ) -> Result<(ConfigEpoch, u64), JournalError> {
        self.check_not_failed()?;
        let epoch = config_file::write(&self.dir, &config_file::encode(config))?;
        let seq = self.append_entry(ts_ns, &Entry::ConfigEpoch(epoch))?;
        if self.sync != SyncPolicy::None {
            self.sync_now()?;
            // Durable before any command that runs under it.
            assert_eq!(self.synced_off, self.write_off);
        }
        Ok((epoch, seq))
    }

    /// Whether a `state_checksum` record is due: `interval_ns` of `now_ns`
    /// passed since the last one, and something was appended since (an
    /// idle shard's journal does not grow).
    pub fn checksum_due(&self, now_ns: u64, interval_ns: u64) -> bool {
        assert!(interval_ns > 0, "checksums off: never due");
        let (last_ns, last_seq) = self.last_checksum;
        now_ns.saturating_sub(last_ns) >= interval_ns && self.next_seq > last_seq + 1
    }

    /// Appends a `state_checksum` record: `checksum` must be the engine's
    /// state after every record appended so far (the shard computes it on
    /// its timer, between commands). Same errors as [`Self::append`].
    pub fn append_state_checksum(
        &mut self,
        ts_ns: u64,
        checksum: StateChecksum,
    ) -> Result<u64, JournalError> {
        let seq = self.append_entry(ts_ns, &Entry::StateChecksum(checksum))?;
        self.last_checksum = (ts_ns, seq);
        assert_eq!(seq + 1, self.next_seq);
        Ok(seq)
    }

    /// Appends a record a primary journaled, with its own seq and ts_ns: how
    /// a follower keeps a journal a promotion can start from. The record
    /// must carry the next seq (the follower checks contiguity first); a
    /// `config_epoch` record's config file must already be in the directory
    /// (`config_file::write`).
    pub fn append_replica(&mut self, record: &Record) -> Result<u64, JournalError> {
        assert_eq!(record.seq, self.next_seq, "replica records arrive in order");
        if let Entry::ConfigEpoch(epoch) = record.entry {
            // The file a restart will read for it is already there.
            debug_assert!(config_file::read(&self.dir, epoch).is_ok());
        }
        let seq = self.append_entry(record.ts_ns, &record.entry)?;
        assert_eq!(seq, record.seq);
        Ok(seq)
    }

    #[inline]
    fn append_entry(&mut self, ts_ns: u64, entry: &Entry) -> Result<u64, JournalError> {
        self.check_not_failed()?;
        let frame = entry_record_bytes(entry);
        if self.write_off + frame > self.active.data_end() {
            self.roll_over(ts_ns)?;
        }
        let off = self.write_off;
        let seq = self.next_seq;
        assert!(frame <= MAX_RECORD_BYTES, "a frame over the largest");
        debug_assert_eq!(off % RECORD_ALIGN, 0);
        assert!(off >= HEADER_BYTES, "writing into the header");
        assert!(
            off + frame <= self.active.data_end(),
            "frame past the segment"
        );
        assert!(self.synced_off <= self.write_off);
        // The active segment holds this seq's range, and the place is
        // still the end of its data (a non-zero `len` is a record).
        debug_assert!(self.active.first_seq().is_some_and(|first| first <= seq));
        assert!(
            get_u32(self.active.bytes(), off + R_LEN) == 0,
            "overwriting a record"
        );
        write_record(
            &mut self.active.bytes_mut()[off..off + frame],
            seq,
            ts_ns,
            entry,
        );
        // Written, then read back as recovery will read it (debug builds
        // only: a second CRC and decode of every record, on the order path).
        debug_assert_eq!(
            scan::record_at(self.active.bytes(), off, seq).map(|r| (r.ts_ns, r.entry)),
            Some((ts_ns, *entry)),
            "record {seq} does not read back"
        );
        if self.sync == SyncPolicy::Every {
            if let Err(source) = self.active.sync_range(off, off + frame) {
                // Not known durable, so not appended: erase it (a restart
                // from this page cache must not replay what nobody was
                // told) and stop for good.
                self.active.bytes_mut()[off..off + frame].fill(0);
                return Err(self.fail(off as u64, source));
            }
            self.synced_off = off + frame;
        }
        self.write_off = off + frame;
        self.next_seq = seq + 1;
        self.stats.records_appended += 1;
        self.stats.bytes_appended += frame as u64;
        Ok(seq)
    }

    /// Whether a sync has failed (the writer refuses everything).
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    fn check_not_failed(&self) -> Result<(), JournalError> {
        match &self.failed {
            None => Ok(()),
            Some((file, offset, errno)) => Err(JournalError::SyncFailed {
                file: file.clone(),
                offset: *offset,
                source: std::io::Error::from_raw_os_error(*errno),
            }),
        }
    }

    /// Records the first sync failure of the active segment at `offset`.
    fn fail(&mut self, offset: u64, source: std::io::Error) -> JournalError {
        assert!(
            offset <= self.active.bytes().len() as u64,
            "offset {offset}"
        );
        let file = self.active.path().to_path_buf();
        self.fail_at(file, offset, source)
    }

    fn fail_at(&mut self, file: PathBuf, offset: u64, source: std::io::Error) -> JournalError {
        debug_assert!(self.failed.is_none(), "a failed writer syncs no more");
        let errno = source.raw_os_error().unwrap_or(libc::EIO);
        self.failed = Some((file.clone(), offset, errno));
        JournalError::SyncFailed {
            file,
            offset,
            source,
        }
    }

    /// Moves into the spare (or a segment made now). On a refusal (`Full`)
    /// nothing changes: the active segment stays, the spare (if any)
    /// stays. A sync failure poisons the writer.
    fn roll_over(&mut self, ts_ns: u64) -> Result<(), JournalError> {
        let mut next = match self.spare.take() {
            Some(spare) => spare,
            None => self.create_now(ts_ns)?,
        };
        let durable = self.sync == SyncPolicy::Every;
        match next.activate(self.next_seq, durable) {
            Ok(()) => {}
            Err(ActivateError::Rename(source)) => {
                self.spare = Some(next);
                self.stats.full_refusals += 1;
                return Err(self.full(source));
            }
            Err(ActivateError::Sync(source)) => {
                let file = next.path().to_path_buf();
                // `next` is dropped: the start after the fail-stop sees it
                // as the last segment (header sealed or not).
                return Err(self.fail_at(file, 0, source));
            }
        }
        // Sequence continuity across segments: the new one starts where
        // the old one ends.
        assert_eq!(next.first_seq(), Some(self.next_seq));
        assert!(self.active.first_seq() < next.first_seq());
        self.dir_unsynced |= self.sync == SyncPolicy::Interval;
        let old = std::mem::replace(&mut self.active, next);
        let unsynced = (self.synced_off, self.write_off);
        self.write_off = HEADER_BYTES;
        self.synced_off = HEADER_BYTES;
        self.stats.segments_rolled += 1;
        // At most one retired segment: an older one is finished now (with
        // sync = interval that means an msync here, which only happens if
        // a whole segment filled between two syncs).
        if let Some((older, from, to)) = self.retired.take() {
            if self.sync == SyncPolicy::Interval {
                if let Err(source) = older.sync_range(from, to) {
                    let file = older.path().to_path_buf();
                    self.retired = Some((old, unsynced.0, unsynced.1));
                    return Err(self.fail_at(file, from as u64, source));
                }
            }
        }
        self.retired = Some((old, unsynced.0, unsynced.1));
        Ok(())
    }

    fn create_now(&mut self, ts_ns: u64) -> Result<Segment, JournalError> {
        if let Some((failed_ns, errno)) = self.creation_failed {
            if ts_ns.saturating_sub(failed_ns) < FULL_RETRY_NS {
                self.stats.full_refusals += 1;
                return Err(self.full(std::io::Error::from_raw_os_error(errno)));
            }
        }
        self.stats.sync_segment_creations += 1;
        match self.request().create() {
            Ok(segment) => {
                assert!(segment.first_seq().is_none(), "a new segment is a spare");
                self.creation_failed = None;
                Ok(segment)
            }
            Err(source) => {
                let errno = source.raw_os_error().unwrap_or(libc::EIO);
                self.creation_failed = Some((ts_ns, errno));
                self.stats.full_refusals += 1;
                Err(self.full(source))
            }
        }
    }

    fn full(&self, source: std::io::Error) -> JournalError {
        JournalError::Full {
            shard: self.shard,
            seq: self.next_seq,
            source,
        }
    }

    pub(super) fn request(&self) -> SegmentRequest {
        // `open` refused anything smaller.
        assert!(self.segment_bytes >= MIN_SEGMENT_BYTES);
        let n = self.spare_names.get() + 1;
        self.spare_names.set(n);
        SegmentRequest {
            dir: self.dir.clone(),
            file_name: format!("next-{}-{n}{SPARE_SUFFIX}", std::process::id()),
            shard: self.shard,
            segment_bytes: self.segment_bytes,
            durable: self.sync != SyncPolicy::None,
            newest_first_seq: self.active.first_seq(),
        }
    }

    /// Asks for the next segment as soon as no spare is ready or requested:
    /// right after opening and right after each roll-over. (Waiting for the
    /// active segment to be half full was measured too late: at 5 M appends
    /// per second the second half of a 64 MiB segment fills in about 75 ms,
    /// and creating a spare takes 160 - 180 ms here since its blocks are
    /// proven on the device, 50 - 135 ms before.) Run
    /// `create()` off the shard thread
    /// (a helper thread, `shard/runtime.rs` `off_shard`), then hand the segment to
    /// [`install_spare`](Self::install_spare), or call
    /// [`spare_creation_failed`](Self::spare_creation_failed) so a later
    /// call asks again.
    pub fn spare_needed(&self) -> Option<SegmentRequest> {
        // At most one spare at a time: one ready or one on its way.
        assert!(!(self.spare.is_some() && self.spare_requested.get()));
        if self.spare.is_some() || self.spare_requested.get() {
            return None;
        }
        self.spare_requested.set(true);
        Some(self.request())
    }

    pub fn install_spare(&mut self, spare: Segment) {
        assert!(spare.first_seq().is_none(), "a spare holds no records yet");
        assert_eq!(
            spare.path().parent(),
            Some(self.dir.as_path()),
            "spare of this shard"
        );
        self.spare_requested.set(false);
        self.creation_failed = None;
        if self.spare.is_some() {
            spare.discard();
        } else {
            self.spare = Some(spare);
            self.stats.spares_installed += 1;
        }
        assert!(self.spare.is_some());
        assert!(!self.spare_requested.get());
    }

    pub fn spare_creation_failed(&mut self) {
        // Only a request made by `spare_needed` can fail.
        assert!(self.spare_requested.get(), "no spare was requested");
        self.spare_requested.set(false);
    }

    /// With `sync = interval`: if `sync_interval_us` has passed since the
    /// last sync, msyncs what was written since. Returns whether it synced.
    /// Other policies: nothing to do. A failure is fatal (see
    /// [`JournalError::SyncFailed`]).
    pub fn sync_if_due(&mut self, now_ns: u64) -> Result<bool, JournalError> {
        self.check_not_failed()?;
        if self.sync != SyncPolicy::Interval
            || now_ns.saturating_sub(self.last_sync_ns) < self.sync_interval_ns
        {
            return Ok(false);
        }
        self.last_sync_ns = now_ns;
        if !self.sync_pending() {
            return Ok(false);
        }
        self.sync_now()?;
        assert_eq!(self.synced_off, self.write_off, "synced all appended");
        Ok(true)
    }

    fn sync_pending(&self) -> bool {
        assert!(self.synced_off <= self.write_off, "synced past the data");
        self.synced_off < self.write_off || self.retired.is_some() || self.dir_unsynced
    }

    /// Makes everything appended so far durable, whatever the policy. The
    /// first failure is fatal and returned again by every later call: a
    /// failed sync is never retried.
    pub fn sync_now(&mut self) -> Result<(), JournalError> {
        self.check_not_failed()?;
        if let Some((older, from, to)) = self.retired.take() {
            if let Err(source) = older.sync_range(from, to) {
                let file = older.path().to_path_buf();
                self.retired = Some((older, from, to));
                return Err(self.fail_at(file, from as u64, source));
            }
        }
        if let Err(source) = self.active.sync_range(self.synced_off, self.write_off) {
            return Err(self.fail(self.synced_off as u64, source));
        }
        self.synced_off = self.write_off;
        if self.dir_unsynced {
            if let Err(source) = segment::sync_dir(&self.dir) {
                let dir = self.dir.clone();
                return Err(self.fail_at(dir, 0, source));
            }
            self.dir_unsynced = false;
        }
        self.stats.syncs += 1;
        debug_assert!(!self.sync_pending());
        // msync left the page being filled clean, hence write-protected.
        self.prefault_ahead();
        Ok(())
    }

    /// Housekeeping for the shard's idle or timer path, never per message:
    /// once the kernel writes a dirty page back (msync, or the flusher
    /// after `vm.dirty_expire_centisecs`, 30 s by default) it
    /// write-protects it, and the next store to it takes a fault through
    /// the filesystem (microseconds on ext4/xfs). This faults the next
    /// [`PREFAULT_AHEAD_BYTES`] back in (one madvise; cheap when nothing
    /// needs doing), so the appends that follow do not.
    pub fn prefault_ahead(&mut self) {
        assert!(self.write_off >= HEADER_BYTES);
        self.active
            .prefault_range(self.write_off, PREFAULT_AHEAD_BYTES);
    }

    /// The previous segment, once nothing in it awaits a sync, so the
    /// caller can unmap it off the shard thread; otherwise it is unmapped
    /// at the next sync or roll-over.
    pub fn take_retired(&mut self) -> Option<Segment> {
        let retired = match self.retired {
            Some((_, from, to)) if from >= to || self.sync != SyncPolicy::Interval => {
                self.retired.take().map(|(segment, _, _)| segment)
            }
            _ => None,
        };
        // Retired means older: it ends where the active segment begins.
        assert!(retired
            .as_ref()
            .is_none_or(|old| old.first_seq() < self.active.first_seq()));
        retired
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn stats(&self) -> JournalStats {
        self.stats
    }

    pub fn shard(&self) -> u16 {
        self.shard
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn active_segment(&self) -> &Path {
        self.active.path()
    }

    /// Bytes of the active segment in use (header and records).
    pub fn active_bytes_used(&self) -> u64 {
        assert!(self.write_off <= self.active.data_end());
        self.write_off as u64
    }

    pub fn has_spare(&self) -> bool {
        self.spare.is_some()
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        // A failed writer is not synced again: the failure was reported.
        if self.sync != SyncPolicy::None && self.failed.is_none() {
            if let Err(e) = self.sync_now() {
                tracing::warn!(dir = %self.dir.display(), error = %e, "journal: final sync failed");
            }
        }
        if let Some(spare) = self.spare.take() {
            spare.discard();
        }
    }
}

/// Takes the shard directory's lock: two writers on one journal would
/// interleave records.
pub(super) fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error(&path, "open"))?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(JournalError::Locked {
                dir: dir.to_path_buf(),
            });
        }
        return Err(io_error(&path, "flock")(e));
    }
    Ok(file)
}
