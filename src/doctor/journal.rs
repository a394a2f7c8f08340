//! The journal directory: the gateway acknowledges an order only after its
//! record is in the journal, so an unwritable or full journal stops trading.

use std::path::{Path, PathBuf};

use super::check::Check;
use super::host::{self, FsSpace};

/// Below this the journal cannot preallocate its next segments: fail.
pub const MIN_FREE_BYTES: u64 = 1 << 30;
/// Below this a busy day can fill the disk: warn.
pub const LOW_FREE_BYTES: u64 = 8 << 30;

/// What the doctor found at the journal path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalDir {
    /// A directory; the result of creating and removing a probe file in it.
    Directory { write: Result<(), String> },
    /// Something other than a directory is at the path.
    NotADirectory,
    /// Absent: `serve` creates it if the nearest existing ancestor is writable.
    Missing {
        ancestor: PathBuf,
        ancestor_writable: bool,
    },
    /// stat failed for another reason (permissions on a parent, I/O error).
    Unreadable(String),
}

pub fn check_journal_dir(dir: &Path, state: &JournalDir) -> Check {
    const NAME: &str = "journal_dir";
    let shown = dir.display();
    let chown = format!("install -d -o tradsys -g tradsys -m 0750 {shown}");
    match state {
        JournalDir::Directory { write: Ok(()) } => Check::ok(NAME, format!("{shown} writable")),
        JournalDir::Directory { write: Err(e) } => Check::fail(
            NAME,
            format!("{shown} not writable by this user: {e}"),
            chown,
        ),
        JournalDir::NotADirectory => Check::fail(
            NAME,
            format!("{shown} exists and is not a directory"),
            "point [journal] dir at a directory",
        ),
        JournalDir::Missing {
            ancestor,
            ancestor_writable: true,
        } => Check::ok(
            NAME,
            format!(
                "{shown} absent; serve creates it under writable {}",
                ancestor.display()
            ),
        ),
        JournalDir::Missing {
            ancestor,
            ancestor_writable: false,
        } => Check::fail(
            NAME,
            format!(
                "{shown} absent and {} not writable by this user",
                ancestor.display()
            ),
            chown,
        ),
        JournalDir::Unreadable(e) => Check::fail(NAME, format!("cannot stat {shown}: {e}"), chown),
    }
}

/// Name of a filesystem from its `statfs` magic, and whether it is a poor
/// home for a journal (and why).
pub fn filesystem(magic: u64) -> (String, Option<&'static str>) {
    match magic {
        0xEF53 => ("ext4".into(), None),
        0x5846_5342 => ("xfs".into(), None),
        0x9123_683E => ("btrfs".into(), None),
        0x2FC1_2FC1 => ("zfs".into(), None),
        0xF2F5_2010 => ("f2fs".into(), None),
        0x0102_1994 => (
            "tmpfs".into(),
            Some("lost at reboot, so sync=every protects nothing"),
        ),
        0x8584_58F6 => (
            "ramfs".into(),
            Some("lost at reboot, so sync=every protects nothing"),
        ),
        0x794C_7630 => (
            "overlayfs".into(),
            Some("a container's writable layer: mount a volume at the journal dir"),
        ),
        0x6969 => (
            "nfs".into(),
            Some("mmap and msync over NFS neither are fast nor survive a server crash"),
        ),
        other => (format!("fs magic {other:#x}"), None),
    }
}

pub fn check_journal_space(dir: &Path, space: Option<FsSpace>) -> Check {
    const NAME: &str = "journal_space";
    let Some(space) = space else {
        return Check::skip(
            NAME,
            format!("statvfs on {} (or its ancestors) failed", dir.display()),
        );
    };
    let (fs_name, concern) = filesystem(space.fs_magic);
    let free = format!(
        "{} free of {} on {fs_name}",
        gib(space.avail_bytes),
        gib(space.total_bytes)
    );
    let fix_space = "free space or point [journal] dir at a bigger filesystem";
    if space.avail_bytes < MIN_FREE_BYTES {
        Check::fail(
            NAME,
            format!(
                "{free}: under {} the journal cannot preallocate",
                gib(MIN_FREE_BYTES)
            ),
            fix_space,
        )
    } else if let Some(concern) = concern {
        Check::warn(
            NAME,
            format!("{free}: {concern}"),
            "put [journal] dir on a local disk filesystem (ext4, xfs)",
        )
    } else if space.avail_bytes < LOW_FREE_BYTES {
        Check::warn(
            NAME,
            format!("{free}: under {}", gib(LOW_FREE_BYTES)),
            fix_space,
        )
    } else {
        Check::ok(NAME, free)
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Looks at the path, writing and removing one probe file if it is a
/// directory (so "writable" means writable, not "mode bits say so").
fn inspect(dir: &Path) -> JournalDir {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let probe = dir.join(format!(".tradsys-doctor-{}", std::process::id()));
            let write = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .map(|_| ())
                .map_err(|e| e.to_string());
            if write.is_ok() {
                let _ = std::fs::remove_file(&probe);
            }
            JournalDir::Directory { write }
        }
        Ok(_) => JournalDir::NotADirectory,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ancestor = nearest_existing(dir);
            JournalDir::Missing {
                ancestor_writable: host::writable(&ancestor),
                ancestor,
            }
        }
        Err(e) => JournalDir::Unreadable(e.to_string()),
    }
}

/// The closest ancestor of `dir` that exists (`.` for a relative path with
/// none, `/` at worst).
fn nearest_existing(dir: &Path) -> PathBuf {
    dir.ancestors()
        .skip(1)
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

pub(crate) fn probe(dir: &Path) -> Vec<Check> {
    let state = inspect(dir);
    let measured = match &state {
        JournalDir::Missing { ancestor, .. } => ancestor.clone(),
        _ => dir.to_path_buf(),
    };
    vec![
        check_journal_dir(dir, &state),
        check_journal_space(dir, host::fs_space(&measured)),
    ]
}
