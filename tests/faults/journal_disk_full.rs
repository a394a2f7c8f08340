//! A full disk: when the next segment cannot be created, `append` returns
//! `Full`, nothing is appended, everything appended before replays intact,
//! and appends resume once a segment can be created again.
//!
//! Two ways to make the disk full: RLIMIT_FSIZE (any user; in a child
//! process so no other test runs under the limit) and a 1 MiB tmpfs
//! (needs root and a mount namespace that allows it; skipped otherwise).

use std::path::Path;
use std::process::Command as Process;

use crate::support::journal::*;
use tradsys::config::SyncPolicy;
use tradsys::journal::{Entry, JournalError, Record};

const SEGMENT: u64 = 64 * KIB;
const CHILD_ENV: &str = "TRADSYS_JOURNAL_FULL_CHILD";

fn set_file_size_limit(bytes: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

fn expect_full(result: Result<u64, JournalError>, errno: i32) -> u64 {
    match result {
        Err(JournalError::Full { seq, source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(errno), "{source}");
            seq
        }
        other => panic!("expected Full, got {other:?}"),
    }
}

/// Runs in the child: appends until the file size limit refuses a new
/// segment, checks the refusal, lifts the limit and appends again. Writes
/// how many records it appended to `appended` for the parent.
fn child(dir: &Path) {
    // SAFETY: ignoring SIGXFSZ makes an over-limit write fail with EFBIG
    // instead of killing the process.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let cfg = config(dir, SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(dir, &cfg, false).unwrap();
    let commands = mixed_commands(10_000);
    let mut appended = 0;
    // A spare made before the disk fills is used: it is already allocated.
    while writer.spare_needed().is_none() {
        writer.append(0, &commands[appended]).unwrap();
        appended += 1;
    }
    let spare = writer.spare_needed();
    assert!(spare.is_none(), "already requested");
    writer.spare_creation_failed();
    let spare = writer.spare_needed().unwrap().create().unwrap();
    writer.install_spare(spare);

    set_file_size_limit(4096);
    let request = writer.spare_needed();
    let seq = loop {
        match writer.append(1, &commands[appended]) {
            Ok(_) => appended += 1,
            Err(e) => break expect_full(Err(e), libc::EFBIG),
        }
    };
    assert_eq!(
        seq,
        appended as u64 + 1,
        "the refused record had the next seq"
    );
    assert_eq!(writer.next_seq(), seq, "nothing was appended");
    let stats = writer.stats();
    assert_eq!(stats.segments_rolled, 1, "the spare was used");
    assert_eq!(stats.sync_segment_creations, 1);
    // Within a second of the failure the shard does not retry on every order.
    expect_full(writer.append(2, &commands[appended]), libc::EFBIG);
    assert_eq!(writer.stats().sync_segment_creations, 1);
    assert_eq!(writer.stats().full_refusals, 2);
    // Spare creation off the shard fails the same way.
    if let Some(request) = request {
        assert_eq!(
            request.create().err().and_then(|e| e.raw_os_error()),
            Some(libc::EFBIG)
        );
        writer.spare_creation_failed();
    }
    assert!(
        tradsys_files_ending_spare(dir).is_empty(),
        "no half-made spare left"
    );

    // Room again: the next append after the retry pause goes through.
    set_file_size_limit(u64::MAX);
    assert_eq!(
        writer.append(2_000_000_000, &commands[appended]).unwrap(),
        seq
    );
    appended += 1;
    drop(writer);
    std::fs::write(dir.join("appended"), appended.to_string()).unwrap();
}

fn tradsys_files_ending_spare(dir: &Path) -> Vec<std::path::PathBuf> {
    files_ending(dir, ".spare")
}

#[test]
fn appends_are_refused_when_the_file_size_limit_stops_a_new_segment() {
    let _machine = crate::own_machine(); // alone, as in a binary of its own
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let tmp = TempDir::new("full-rlimit");
    let status = Process::new(std::env::current_exe().unwrap())
        .args([
            "journal_disk_full::appends_are_refused_when_the_file_size_limit_stops_a_new_segment",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, tmp.path())
        .status()
        .unwrap();
    assert!(status.success(), "child: {status}");
    let appended: usize = std::fs::read_to_string(tmp.path().join("appended"))
        .unwrap()
        .parse()
        .unwrap();
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (_writer, replayed, report) = open(tmp.path(), &cfg, false).unwrap();
    assert_eq!(report.torn_tail, None);
    assert_eq!(replayed.len(), appended);
    let commands = mixed_commands(10_000);
    for (i, record) in replayed.iter().enumerate() {
        assert_eq!(
            (record.seq, record.entry),
            (i as u64 + 1, Entry::Command(commands[i]))
        );
    }
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Tmpfs<'a>(&'a Path);

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg(self.0).status();
    }
}

#[test]
fn appends_are_refused_when_a_small_tmpfs_is_full() {
    // Alone: it drops its writer and reopens at once, which a child another
    // test forks in between would make fail with `Locked` (see main.rs).
    let _machine = crate::own_machine();
    let tmp = TempDir::new("full-tmpfs");
    let mounted = Process::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(tmp.path())
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipped: cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: no mount command: {e}");
            return;
        }
    }
    let _unmount = Tmpfs(tmp.path());
    let cfg = config(tmp.path(), SEGMENT, SyncPolicy::None);
    let (mut writer, _, _) = open(tmp.path(), &cfg, false).unwrap();
    let commands = mixed_commands(40_000);
    let mut expected = Vec::new();
    let seq = loop {
        let command = commands[expected.len()];
        match writer.append(0, &command) {
            Ok(seq) => expected.push(Record {
                seq,
                ts_ns: 0,
                entry: Entry::Command(command),
            }),
            Err(e) => break expect_full(Err(e), libc::ENOSPC),
        }
    };
    assert_eq!(seq, expected.len() as u64 + 1);
    // 1 MiB holds at most 16 segments of 64 KiB (less the LOCK file).
    assert!(writer.stats().segments_rolled >= 10, "{:?}", writer.stats());
    assert!(files_ending(tmp.path(), ".spare").is_empty());
    drop(writer);
    let (_writer, replayed, report) = open(tmp.path(), &cfg, false).unwrap();
    assert_eq!(report.torn_tail, None);
    assert!(
        replayed == expected,
        "everything appended before the refusal replays"
    );
}
