//! Kernel version and io_uring availability: without io_uring no shard
//! starts at all, so these (and `reactor`'s) are the only checks that fail
//! on a stock host.

use super::check::Check;
use super::host;

/// The shard reactor needs `IORING_SETUP_DEFER_TASKRUN`, Linux 6.1 (see
/// `reactor.rs` for each feature).
pub const MIN_KERNEL: (u32, u32) = super::reactor::MIN_KERNEL;

/// Parses the leading `major.minor` of `/proc/sys/kernel/osrelease`
/// (`6.1.0-18-amd64`, `5.15.0-91-generic`, `6.18.44-fc-v669`).
pub fn parse_kernel_version(osrelease: &str) -> Option<(u32, u32)> {
    let mut parts = osrelease.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub fn check_kernel(osrelease: Option<&str>) -> Check {
    const NAME: &str = "kernel";
    let Some(release) = osrelease else {
        return Check::skip(NAME, "/proc/sys/kernel/osrelease unreadable");
    };
    let release = release.trim();
    match parse_kernel_version(release) {
        None => Check::skip(NAME, format!("cannot parse kernel release `{release}`")),
        Some(version) if version < MIN_KERNEL => Check::fail(
            NAME,
            format!(
                "Linux {release}: the shard reactor needs >= {}.{} (IORING_SETUP_DEFER_TASKRUN)",
                MIN_KERNEL.0, MIN_KERNEL.1
            ),
            "upgrade the kernel (Debian 12 ships 6.1, Ubuntu 22.04 ships 5.15)",
        ),
        Some(_) => Check::ok(NAME, format!("Linux {release}")),
    }
}

/// Classifies io_uring from `kernel.io_uring_disabled` (absent before Linux
/// 6.6, where io_uring cannot be disabled by sysctl) and the result of a
/// real `io_uring_setup` (`Ok(features)` or `Err(errno)`).
///
/// The probe is the verdict; the sysctl explains it. Mode 1 allows only
/// members of `kernel.io_uring_group` (and CAP_SYS_ADMIN), so a probe that
/// succeeds as root can still fail as the service user: that is a warn.
pub fn check_io_uring(io_uring_disabled: Option<&str>, probe: Result<u32, i32>) -> Check {
    const NAME: &str = "io_uring";
    let mode = io_uring_disabled.map(str::trim);
    let sysctl = match mode {
        Some(m) => format!("kernel.io_uring_disabled={m}"),
        None => "no kernel.io_uring_disabled (kernel < 6.6)".to_owned(),
    };
    let enable = "sysctl -w kernel.io_uring_disabled=0 (persist in /etc/sysctl.d/)";
    match probe {
        Ok(features) if mode == Some("1") => Check::warn(
            NAME,
            format!(
                "io_uring_setup works for this user (features {features:#x}) but {sysctl} restricts it to kernel.io_uring_group"
            ),
            format!("{enable}, or add the service user to the group in kernel.io_uring_group"),
        ),
        Ok(features) => Check::ok(NAME, format!("io_uring_setup works (features {features:#x}); {sysctl}")),
        Err(libc::ENOSYS) => Check::fail(
            NAME,
            format!("io_uring_setup: ENOSYS, kernel built without CONFIG_IO_URING or a seccomp filter returns ENOSYS; {sysctl}"),
            "use a kernel with CONFIG_IO_URING=y; in a container allow io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile",
        ),
        Err(libc::EPERM) if mode == Some("2") => Check::fail(
            NAME,
            format!("io_uring_setup: EPERM, io_uring disabled system-wide ({sysctl})"),
            enable,
        ),
        Err(libc::EPERM) if mode == Some("1") => Check::fail(
            NAME,
            format!("io_uring_setup: EPERM, this user is not in kernel.io_uring_group ({sysctl})"),
            format!("{enable}, or add the service user to the group in kernel.io_uring_group"),
        ),
        Err(libc::EPERM) => Check::fail(
            NAME,
            format!("io_uring_setup: EPERM with {sysctl}: a seccomp filter (container runtime, systemd SystemCallFilter=) blocks it"),
            "docker run --security-opt seccomp=unconfined (or a profile allowing io_uring_*); in systemd keep io_uring_* in SystemCallFilter=",
        ),
        Err(libc::ENOMEM) => Check::fail(
            NAME,
            format!("io_uring_setup: ENOMEM, the ring does not fit in RLIMIT_MEMLOCK (the kernel charges ring memory to it without CAP_IPC_LOCK); {sysctl}"),
            "ulimit -l unlimited, or LimitMEMLOCK=infinity in the unit",
        ),
        Err(errno) => Check::fail(
            NAME,
            format!("io_uring_setup failed: {}; {sysctl}", std::io::Error::from_raw_os_error(errno)),
            "see dmesg; no shard can start without io_uring",
        ),
    }
}

pub(crate) fn probe() -> Vec<Check> {
    vec![
        check_kernel(host::read("/proc/sys/kernel/osrelease").as_deref()),
        check_io_uring(
            host::read("/proc/sys/kernel/io_uring_disabled").as_deref(),
            host::io_uring_probe(),
        ),
    ]
}
