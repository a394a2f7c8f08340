//! RLIMIT_MEMLOCK against what the shards' io_uring reactors lock.
//!
//! Without CAP_IPC_LOCK the kernel charges each ring's memory (its
//! submission entries, and the completion and submission rings with their
//! header page) and the pages of the provided-buffer ring's descriptors to
//! the user's locked memory, and `io_uring_setup` or
//! `IORING_REGISTER_PBUF_RING` fails with ENOMEM when they do not fit: the
//! shard refuses to start; there is no fallback. The receive buffers
//! themselves are not registered (the kernel copies into them), so
//! `io_memory_bytes` only counts through the number of descriptors.
//!
//! Measured on Linux 6.18 as an unprivileged user, default
//! `io_memory_bytes`: one shard starts at 148 KiB and not at 144 KiB; two
//! at 288 KiB and not at 280 KiB. That is 140 KiB per shard plus 8 KiB
//! per process, which is what [`memlock_needed_bytes`] computes
//! (`tests/ops/memlock_start.rs` starts the gateway at that limit).

use super::check::Check;
use super::host;
use crate::shard::reactor::ring::{CQ_ENTRIES, SQ_ENTRIES};
use crate::shard::runtime::receive_buffer_count;

const PAGE: u64 = 4096;
/// `io_uring_sqe` (without SQE128).
const SQE_BYTES: u64 = 64;
/// `io_uring_cqe` (without CQE32).
const CQE_BYTES: u64 = 16;
/// One `u32` index per submission entry.
const SQ_ARRAY_BYTES: u64 = 4;
/// `struct io_rings` before the completion entries; under a page.
const RINGS_HEADER_BYTES: u64 = PAGE;
/// `io_uring_buf` descriptor in the provided-buffer ring.
const BUF_DESCRIPTOR_BYTES: u64 = 16;
/// Charged once per process beyond the shards' rings (measured above).
pub const PROCESS_SLACK_BYTES: u64 = 8 * 1024;

fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE) * PAGE
}

/// Locked memory one shard's reactor needs: its ring and its buffer ring.
pub fn shard_locked_bytes(io_memory_bytes: u64) -> u64 {
    let sq = u64::from(SQ_ENTRIES);
    let cq = u64::from(CQ_ENTRIES);
    let ring =
        pages(sq * SQE_BYTES) + pages(RINGS_HEADER_BYTES + cq * CQE_BYTES + sq * SQ_ARRAY_BYTES);
    let buffers = u64::from(receive_buffer_count(
        usize::try_from(io_memory_bytes).unwrap_or(usize::MAX),
    ));
    let bytes = ring + pages(buffers * BUF_DESCRIPTOR_BYTES);
    debug_assert!(bytes.is_multiple_of(PAGE) && bytes > 0);
    bytes
}

/// Locked memory the whole gateway needs to start `shards` shards.
pub fn memlock_needed_bytes(shards: usize, io_memory_bytes: u64) -> u64 {
    (shards.max(1) as u64)
        .saturating_mul(shard_locked_bytes(io_memory_bytes))
        .saturating_add(PROCESS_SLACK_BYTES)
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
        Some(Some(limit)) if cap_ipc_lock => Check::ok(
            NAME,
            format!(
                "RLIMIT_MEMLOCK {} but CAP_IPC_LOCK (root?) skips the accounting; the service user needs {} (the unit sets infinity)",
                size(limit),
                size(needed)
            ),
        ),
        Some(Some(limit)) if limit < needed => Check::fail(
            NAME,
            format!(
                "RLIMIT_MEMLOCK {} < {} for {shards} shard(s): the shards' io_uring rings do not fit and the gateway will not start (ENOMEM)",
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
