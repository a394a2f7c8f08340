//! The shard reactor's io_uring features (`src/shard/reactor/`): the ring
//! flags, opcodes and registrations a shard uses, each with the kernel
//! that brought it. The probe makes a ring exactly as a shard does; the
//! kernel version says which feature is missing when it fails.

use super::check::Check;
use super::{host, uring};

/// What a shard asks of io_uring, and the first Linux release with it.
pub const FEATURES: &[(&str, (u32, u32))] = &[
    ("IORING_SETUP_R_DISABLED", (5, 10)),
    ("IORING_OP_MSG_RING", (5, 18)),
    ("IORING_REGISTER_PBUF_RING", (5, 19)),
    ("IORING_SETUP_SINGLE_ISSUER", (6, 0)),
    ("IORING_SETUP_DEFER_TASKRUN", (6, 1)),
];

/// The oldest kernel the shard reactor starts on.
pub const MIN_KERNEL: (u32, u32) = (6, 1);

/// `kernel`: the running `major.minor` if known; `probe`: the result of
/// making a shard's ring on this host.
pub fn check_reactor(kernel: Option<(u32, u32)>, probe: Result<(), String>) -> Check {
    const NAME: &str = "reactor";
    const KERNEL_FIX: &str = "Linux >= 6.1 (Debian 12 ships 6.1, Ubuntu 24.04 ships 6.8); without it `tradsys serve` refuses to start and names the flag";
    const MEMLOCK_FIX: &str = "LimitMEMLOCK=infinity in the unit (shipped), `ulimit -l unlimited` in a shell (see the memlock check)";
    const POLICY_FIX: &str = "the kernel has every feature the reactor uses, so something refused the ring: a seccomp filter (a container runtime's default profile blocks io_uring), the sysctl kernel.io_uring_disabled, or an LSM; the error above names the call's answer";
    match probe {
        Ok(()) => Check::ok(
            NAME,
            "a shard ring (SINGLE_ISSUER|DEFER_TASKRUN, MSG_RING, provided buffer ring) works",
        ),
        Err(error) => {
            let missing: Vec<String> = match kernel {
                Some(version) => FEATURES
                    .iter()
                    .filter(|(_, since)| version < *since)
                    .map(|(name, (major, minor))| format!("{name} ({major}.{minor})"))
                    .collect(),
                None => Vec::new(),
            };
            let (detail, fix) = if !missing.is_empty() {
                let lacks = missing.join(", ");
                let detail =
                    format!("cannot make a shard ring: {error}; this kernel lacks {lacks}");
                (detail, KERNEL_FIX)
            } else if error.contains("RLIMIT_MEMLOCK") {
                (format!("cannot make a shard ring: {error}"), MEMLOCK_FIX)
            } else {
                (format!("cannot make a shard ring: {error}"), POLICY_FIX)
            };
            Check::fail(NAME, detail, fix)
        }
    }
}

pub(crate) fn probe() -> Check {
    let kernel = host::read("/proc/sys/kernel/osrelease")
        .as_deref()
        .and_then(uring::parse_kernel_version);
    check_reactor(kernel, crate::shard::reactor::ring::probe())
}
