//! Where a restarted follower resumes each shard's subject: a hint file
//! beside the replica's journal (`stream-position`: the seq of a record
//! the replica holds and that record's stream sequence), so a restart asks
//! the stream for the records after it instead of rereading the subject
//! from its start and skipping what it has.
//!
//! The hint is only ever a shortcut, never a source of truth: it is
//! written after its record is in the local journal, so it can be behind
//! the journal (a few records are then skipped as duplicates) but ahead of
//! it only when the journal lost its unsynced tail (a power loss with
//! `sync = none`) or the file is damaged; then it is ignored and the
//! subject is read from its start. A stream recreated under the follower
//! (stream sequences start again) shows as a gap at the first record after
//! the hinted position; the follower then drops the hint and reads from
//! the start once; one that lands in a recreated stream right at the seq
//! the replica expects is caught by the follower's origin check (record 1
//! of the stream against the replica's, `follower.rs`).

use std::path::{Path, PathBuf};

/// The file name, in the replica's shard directory.
pub const FILE_NAME: &str = "stream-position";

/// A record the replica holds and its stream sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub record_seq: u64,
    pub stream_seq: u64,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The stream sequence to start the shard's consumer at, for a replica
/// whose next record is `next_seq`: after the hinted record when the
/// replica holds it, `None` (the subject's start) otherwise.
pub fn start_after(hint: Option<Position>, next_seq: u64) -> Option<u64> {
    debug_assert!(next_seq >= 1, "record seqs start at 1");
    let hint = hint?;
    if hint.record_seq == 0 || hint.record_seq >= next_seq || hint.stream_seq == 0 {
        return None;
    }
    Some(hint.stream_seq + 1)
}

/// The hint in `dir`, if there is a well-formed one.
pub fn load(dir: &Path) -> Option<Position> {
    let text = std::fs::read_to_string(path(dir)).ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    let position = Position {
        record_seq: fields.next()?.ok()?,
        stream_seq: fields.next()?.ok()?,
    };
    fields.next().is_none().then_some(position)
}

/// Replaces the hint in `dir` (write then rename, so a crash leaves the
/// old hint or the new one). Not synced: a lost hint costs a reread.
pub fn store(dir: &Path, position: Position) -> std::io::Result<()> {
    assert!(position.record_seq > 0 && position.stream_seq > 0);
    let line = format!("{} {}\n", position.record_seq, position.stream_seq);
    replace_file(dir, FILE_NAME, &line)
}

/// Replaces `dir/name` with `text`: written under `name.tmp`, then renamed,
/// so a crash leaves the old file or the new one. Not synced: the
/// follower's files beside its journal are hints a loss only makes
/// costlier (this one, and the drop copy's acknowledged position).
pub(super) fn replace_file(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    debug_assert!(!name.contains('/'), "a file name: {name}");
    let temporary = dir.join(format!("{name}.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, dir.join(name))
}

/// Drops the hint (it led to a gap: the stream is not the one it named).
pub fn forget(dir: &Path) {
    let _ = std::fs::remove_file(path(dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_used_only_for_a_record_the_replica_holds() {
        let hint = Position {
            record_seq: 10,
            stream_seq: 30,
        };
        assert_eq!(start_after(Some(hint), 11), Some(31));
        assert_eq!(start_after(Some(hint), 50), Some(31), "behind: duplicates");
        assert_eq!(start_after(Some(hint), 10), None, "ahead: a lost tail");
        assert_eq!(start_after(None, 11), None);
    }

    #[test]
    fn a_hint_round_trips_and_a_damaged_one_is_ignored() {
        let dir = std::env::temp_dir().join(format!("tradsys-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir), None);
        let position = Position {
            record_seq: 7,
            stream_seq: 99,
        };
        store(&dir, position).unwrap();
        assert_eq!(load(&dir), Some(position));
        std::fs::write(path(&dir), "7 x\n").unwrap();
        assert_eq!(load(&dir), None);
        forget(&dir);
        assert_eq!(load(&dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
