//! RLIMIT_MEMLOCK against what glommio pins.
//!
//! glommio refuses to start below 512 KiB. Then each shard registers its
//! io buffer (`[server] io_memory_bytes`) with three rings (main, poll, latency); the
//! kernel charges every registration to the user's locked memory unless the
//! process has CAP_IPC_LOCK. When that does not fit, glommio logs a warning
//! and runs with unregistered buffers: it works, slower (a page pin per I/O).

use super::check::Check;
use super::host;

pub const GLOMMIO_MIN_MEMLOCK_BYTES: u64 = 512 * 1024;
/// glommio rounds the io buffer up to 4 KiB pages and at least 64 KiB.
pub const GLOMMIO_MIN_IO_MEMORY_BYTES: u64 = 64 * 1024;
pub const REGISTRATIONS_PER_SHARD: u64 = 3;
/// Ring memory on kernels < 5.12 and the membarrier page glommio mlocks.
pub const SLACK_BYTES_PER_SHARD: u64 = 1 << 20;

/// Locked memory needed to register every shard's `io_memory_bytes`.
pub fn memlock_needed_bytes(shards: usize, io_memory_bytes: u64) -> u64 {
    let buffer = io_memory_bytes
        .saturating_add(4095)
        .max(GLOMMIO_MIN_IO_MEMORY_BYTES)
        & !4095;
    let per_shard = buffer
        .saturating_mul(REGISTRATIONS_PER_SHARD)
        .saturating_add(SLACK_BYTES_PER_SHARD);
    per_shard.saturating_mul(shards.max(1) as u64)
}

/// The effective capability mask from `/proc/self/status` (`CapEff:` line).
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

const CAP_IPC_LOCK: u32 = 14;

pub fn has_cap_ipc_lock(cap_eff: u64) -> bool {
    cap_eff & (1 << CAP_IPC_LOCK) != 0
}

/// `soft_limit`: `None` when the limit could not be read, `Some(None)` when
/// unlimited, `Some(Some(bytes))` otherwise.
pub fn check_memlock(
    soft_limit: Option<Option<u64>>,
    cap_ipc_lock: bool,
    shards: usize,
    io_memory_bytes: u64,
) -> Check {
    const NAME: &str = "memlock";
    let fix = "LimitMEMLOCK=infinity in the unit (shipped), `ulimit -l unlimited` in a shell, or `memlock unlimited` in /etc/security/limits.d/";
    let needed = memlock_needed_bytes(shards, io_memory_bytes);
    match soft_limit {
        None => Check::skip(NAME, "getrlimit(RLIMIT_MEMLOCK) failed"),
        Some(None) => Check::ok(NAME, "RLIMIT_MEMLOCK unlimited"),
        Some(Some(limit)) if limit < GLOMMIO_MIN_MEMLOCK_BYTES => Check::fail(
            NAME,
            format!("RLIMIT_MEMLOCK {}: glommio refuses to start below 512 KiB", size(limit)),
            fix,
        ),
        Some(Some(limit)) if cap_ipc_lock => Check::ok(
            NAME,
            format!(
                "RLIMIT_MEMLOCK {} but CAP_IPC_LOCK (root?) skips the accounting; the service user needs {} (the unit sets infinity)",
                size(limit),
                size(needed)
            ),
        ),
        Some(Some(limit)) if limit < needed => Check::warn(
            NAME,
            format!(
                "RLIMIT_MEMLOCK {} < {} for {shards} shard(s): glommio falls back to unregistered buffers",
                size(limit),
                size(needed)
            ),
            fix,
        ),
        Some(Some(limit)) => Check::ok(
            NAME,
            format!("RLIMIT_MEMLOCK {} >= {} for {shards} shard(s)", size(limit), size(needed)),
        ),
    }
}

fn size(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes >= MIB && bytes & (MIB - 1) == 0 {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

pub(crate) fn probe(shards: usize, io_memory_bytes: u64) -> Check {
    let cap = host::read("/proc/self/status")
        .as_deref()
        .and_then(parse_cap_eff)
        .is_some_and(has_cap_ipc_lock);
    check_memlock(host::memlock_soft_limit(), cap, shards, io_memory_bytes)
}
