//! Issue 9, defect 1, on real failing storage: the journal on ext4 on a
//! loop device whose backing file is sparse on a small tmpfs ("thin"
//! storage). When the tmpfs fills, the block layer fails writeback with a
//! real EIO/ENOSPC, which is what lost acknowledged orders before
//! (RELIABILITY_NOTES.md 3(n)): records acknowledged after a successful
//! msync were unreadable once the page cache was dropped.
//!
//! The assertion: after the storage fills, then gets room, the gateway is
//! stopped (or has failed-stop by itself, exit 3), the file system is
//! unmounted and mounted again (so every read comes from the device), and
//! then the journal is intact and holds at least every acknowledged order,
//! with `every` and with `interval`.
//!
//! Needs root (mount, losetup); skips itself without it and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::gateway::*;
use tradsys::client::{Client, Received};
use tradsys::engine::*;

const FAST: &str = "rate_limit_per_sec = 10000000\nrate_limit_burst = 100000";

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// ext4 on a loop device backed by a sparse file on a 48 MiB tmpfs.
struct ThinDisk {
    backing: PathBuf,
    mount: PathBuf,
    loop_dev: String,
}

impl ThinDisk {
    fn new(root: &Path) -> Result<ThinDisk, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let backing = root.join("backing");
        let mount = root.join("ext4");
        std::fs::create_dir_all(&backing).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                "size=48m",
                "tmpfs",
                backing.to_str().unwrap(),
            ],
        )?;
        let image = backing.join("disk.img");
        let mut disk = ThinDisk {
            backing,
            mount,
            loop_dev: String::new(),
        };
        run("truncate", &["-s", "256M", image.to_str().unwrap()])?;
        disk.loop_dev = run("losetup", &["-f", "--show", image.to_str().unwrap()])?;
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-O",
                "^has_journal",
                "-E",
                "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                &disk.loop_dev,
            ],
        )?;
        disk.mount_fs()?;
        Ok(disk)
    }

    fn mount_fs(&self) -> Result<(), String> {
        run(
            "mount",
            &[
                "-o",
                "errors=continue",
                &self.loop_dev,
                self.mount.to_str().unwrap(),
            ],
        )
        .map(drop)
    }

    /// Unmount and mount: the page cache of the file system is gone, every
    /// later read comes from the device.
    fn remount(&self) -> Result<(), String> {
        run("umount", &[self.mount.to_str().unwrap()])?;
        self.mount_fs()
    }

    /// Fills the backing tmpfs until `left` bytes are free.
    fn fill_backing(&self, left: u64) {
        let stat = nix_statvfs(&self.backing);
        let free = stat.0 * stat.1;
        let size = free.saturating_sub(left);
        let filler = self.backing.join("filler");
        let file = std::fs::File::create(&filler).unwrap();
        // Real pages (tmpfs allocates on write, not on set_len).
        use std::io::Write;
        let mut w = std::io::BufWriter::new(file);
        let chunk = vec![0xA5u8; 1 << 20];
        let mut written = 0;
        while written < size {
            let n = (size - written).min(chunk.len() as u64) as usize;
            if w.write_all(&chunk[..n]).is_err() {
                break;
            }
            written += n as u64;
        }
        let _ = w.flush();
        let after = nix_statvfs(&self.backing);
        eprintln!(
            "backing filled: {written} bytes written, {} bytes free (asked {left})",
            after.0 * after.1
        );
    }

    fn empty_backing(&self) {
        let _ = std::fs::remove_file(self.backing.join("filler"));
    }
}

fn nix_statvfs(path: &Path) -> (u64, u64) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: statvfs into a zeroed local struct.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        assert_eq!(libc::statvfs(c.as_ptr(), &mut s), 0);
        (s.f_bavail, s.f_frsize)
    }
}

impl Drop for ThinDisk {
    fn drop(&mut self) {
        let _ = run("umount", &[self.mount.to_str().unwrap()]);
        if !self.loop_dev.is_empty() {
            let _ = run("losetup", &["-d", &self.loop_dev]);
        }
        let _ = run("umount", &[self.backing.to_str().unwrap()]);
    }
}

/// Sends up to `n` IOC orders (one at a time); returns how many were
/// acknowledged and refused, and whether the session ended (fail-stop).
/// Stops after 200 refusals.
fn send_iocs(client: &mut Client, first_id: u64, n: u64) -> (u64, u64, bool) {
    let (mut acked, mut refused) = (0, 0);
    for i in 0..n {
        let order = NewOrder {
            tif: TimeInForce::Ioc,
            ..limit(ALICE, BTC, first_id + i, Side::Buy, 9_500, 1)
        };
        if client.new_order(&order).is_err() {
            return (acked, refused, true);
        }
        match client.recv_skip_heartbeats() {
            Ok(Received::OrderAccepted(_)) => {
                acked += 1;
                match client.recv_skip_heartbeats() {
                    Ok(Received::OrderCanceled(_)) => {}
                    Ok(Received::SessionEnd(_)) | Err(_) => return (acked, refused, true),
                    Ok(other) => panic!("unexpected {other:?}"),
                }
            }
            Ok(Received::OrderRejected(m)) => {
                assert_eq!(m.reason.get(), RejectReason::JournalUnavailable.code());
                refused += 1;
                if refused == 200 {
                    break; // the journal is full: enough seen
                }
            }
            Ok(Received::SessionEnd(_)) | Err(_) => return (acked, refused, true),
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    (acked, refused, false)
}

fn thin_storage_trial(sync: &str) {
    let root = Gateway::new_dir();
    let disk = match ThinDisk::new(&root) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!(
                "SKIPPED: thin-storage trial needs root, tmpfs, losetup and mkfs.ext4: {why}"
            );
            let _ = std::fs::remove_dir_all(&root);
            return;
        }
    };
    let dir = disk.mount.join("gw");
    let overrides = format!(
        "{FAST}\n[journal]\nsync = \"{sync}\"\nsync_interval_us = 1000\nsegment_bytes = 262144"
    );
    let mut gateway = Gateway::start_in(&dir, &overrides).expect("starts on the thin disk");
    let mut alice = gateway.logon(ALICE);
    let (mut acked, _, ended) = send_iocs(&mut alice, 1, 3_000);
    assert!(!ended);
    assert_eq!(acked, 3_000);
    disk.fill_backing(128 << 10);
    let (more, refused, ended) = send_iocs(&mut alice, 10_000, 20_000);
    acked += more;
    disk.empty_backing();
    let (status, log) = if ended {
        gateway
            .wait_exit(Duration::from_secs(30))
            .expect("a gateway that ended its sessions exits")
    } else {
        gateway.stop()
    };
    assert!(
        refused > 0 || ended,
        "the storage never failed ({more} acknowledged after the fill): the trial tested nothing"
    );
    let code = status.code();
    assert!(
        code == Some(0) || code == Some(3),
        "a graceful stop or a fail-stop, got {status:?}\n{}",
        log.join("\n")
    );
    eprintln!(
        "sync={sync}: {acked} acknowledged, {refused} refused, exit {code:?}, fail-stop: {}",
        log.iter().any(|l| l.contains("fail-stop"))
    );
    drop(alice);

    disk.remount().expect("remount");
    let summary = tradsys::journal::verify(&dir.join("journal")).expect("readable");
    assert!(
        summary.is_intact(),
        "journal corrupt after the remount: {summary:#?}\n{}",
        log.join("\n")
    );
    // Commands only: each shard's journal also starts with a config epoch,
    // and every start records a feed epoch.
    let epoch = tradsys::journal::codec::kind::CONFIG_EPOCH as usize;
    let feed = tradsys::journal::codec::kind::FEED_EPOCH as usize;
    let records: u64 = summary
        .shards
        .iter()
        .map(|s| s.records - s.records_by_kind[epoch] - s.records_by_kind[feed])
        .sum();
    assert!(
        records >= acked,
        "{acked} acknowledged but only {records} records on the device"
    );
    // And the gateway starts on it again.
    let gateway = Gateway::start_in(&dir, &overrides).expect("restarts on the remounted disk");
    let (status, log) = gateway.stop();
    assert!(status.success(), "{}", log.join("\n"));
    drop(disk);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn thin_storage_write_errors_lose_nothing_acknowledged_with_sync_every() {
    let _machine = crate::own_machine(); // alone, as in a binary of its own
    thin_storage_trial("every");
}

#[test]
fn thin_storage_write_errors_lose_nothing_acknowledged_with_sync_interval() {
    let _machine = crate::own_machine(); // alone, as in a binary of its own
    thin_storage_trial("interval");
}
