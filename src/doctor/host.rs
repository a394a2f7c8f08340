//! Everything the doctor reads from the running host: files under /proc and
//! /sys, and the few syscalls it needs. The checks themselves are pure
//! functions over what these return, so they are testable with fixtures.
//! Nothing here panics on an odd host: absence is `None`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// File contents, or `None` when the file is absent or unreadable (a VM
/// without cpufreq, a kernel without the feature, a container hiding /sys).
pub fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Like [`read`], trimmed.
pub fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    read(path).map(|text| text.trim().to_owned())
}

/// The soft RLIMIT_MEMLOCK in bytes; `Some(None)` means unlimited.
pub fn memlock_soft_limit() -> Option<Option<u64>> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 {
        return None;
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        Some(None)
    } else {
        // rlim_t is 32 bits on some 32-bit targets.
        #[allow(clippy::unnecessary_cast)]
        Some(Some(limit.rlim_cur as u64))
    }
}

/// The cpus this process may run on (its affinity mask, narrowed by any
/// cpuset: `taskset`, `docker --cpuset-cpus`, systemd `AllowedCPUs=`).
pub fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: cpu_set_t is plain bits; all-zero is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes of size_of::<cpu_set_t>() bytes.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu < CPU_SETSIZE, within the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Some(cpus)
}

/// `struct io_uring_params` from <linux/io_uring.h>: 120 bytes, stable ABI.
#[repr(C)]
struct IoUringParams {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: [u32; 10],
    cq_off: [u32; 10],
}

const _: () = assert!(std::mem::size_of::<IoUringParams>() == 120);

/// Creates (and closes) a 4-entry io_uring, the plain setup any io_uring user makes
/// first. `Ok(features)` is the kernel's IORING_FEAT_* bitmask; `Err(errno)`
/// says why the kernel or a seccomp filter refused.
pub fn io_uring_probe() -> Result<u32, i32> {
    let mut params = IoUringParams {
        sq_entries: 0,
        cq_entries: 0,
        flags: 0,
        sq_thread_cpu: 0,
        sq_thread_idle: 0,
        features: 0,
        wq_fd: 0,
        resv: [0; 3],
        sq_off: [0; 10],
        cq_off: [0; 10],
    };
    // SAFETY: io_uring_setup reads and writes exactly one io_uring_params,
    // which `params` is (size asserted above); 4 entries is the smallest
    // useful ring.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            4 as libc::c_uint,
            &mut params as *mut IoUringParams,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `fd` is a ring file descriptor we own and close exactly once.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(params.features)
}

/// Capacity and type of the filesystem holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsSpace {
    /// Bytes an unprivileged writer can still use.
    pub avail_bytes: u64,
    pub total_bytes: u64,
    /// `statfs.f_type`, e.g. 0xEF53 for ext2/3/4.
    pub fs_magic: u64,
}

pub fn fs_space(path: &Path) -> Option<FsSpace> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a plain C struct; all-zero is valid before the kernel fills it.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated; `vfs` and `fs` are writable.
    let ok = unsafe {
        libc::statvfs(c_path.as_ptr(), &mut vfs) == 0 && libc::statfs(c_path.as_ptr(), &mut fs) == 0
    };
    if !ok {
        return None;
    }
    let fragment = vfs.f_frsize as u64;
    Some(FsSpace {
        avail_bytes: (vfs.f_bavail as u64).saturating_mul(fragment),
        total_bytes: (vfs.f_blocks as u64).saturating_mul(fragment),
        // Magic numbers are 32-bit; f_type's width and sign vary by arch.
        fs_magic: (fs.f_type as u64) & 0xffff_ffff,
    })
}

/// Whether the real user may write into `path` (access(2), W_OK).
pub fn writable(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// Whether a process named `comm` is running (scans /proc/*/comm).
pub fn process_running(comm: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        is_pid && read_trimmed(entry.path().join("comm")).is_some_and(|c| c == comm)
    })
}
