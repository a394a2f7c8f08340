//! The admin thread's cores: `telemetry.admin_core` if set (validation
//! keeps it off the shard cores), else every core this process may use
//! that no shard is pinned to. A thread inherits its creator's affinity,
//! so the admin thread sets its own, first thing.

use crate::config::Config;

/// The cores the admin thread may run on.
pub fn housekeeping_cores(config: &Config) -> Vec<usize> {
    if let Some(core) = config.telemetry.admin_core {
        assert!(!config.server.cores.contains(&core), "config validation");
        return vec![core];
    }
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let free: Vec<usize> = available
        .iter()
        .copied()
        .filter(|c| !config.server.cores.contains(c))
        .collect();
    if free.is_empty() {
        // Every helper thread asks (admin, journal helpers, shipper): the
        // operator is told once.
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                shard_cores = ?config.server.cores,
                "helper threads: every core is a shard's; the admin thread and the journal's helpers share them (set telemetry.admin_core on a host with a spare core)"
            );
        }
        available
    } else {
        free
    }
}

/// `cores` as a CPU set (cores at or above `CPU_SETSIZE` left out).
pub fn cpu_set(cores: &[usize]) -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays within it
    // for every core below CPU_SETSIZE, checked before.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &core in cores {
            if core < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(core, &mut set);
            }
        }
        debug_assert!(libc::CPU_COUNT(&set) as usize <= cores.len());
        set
    }
}

/// Pins the calling thread to `cores` (a failure is logged, not fatal:
/// the admin thread still works, only less isolated).
pub fn pin(cores: &[usize]) {
    let set = cpu_set(cores);
    // SAFETY: sched_setaffinity reads the set of the size given.
    let result =
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if result != 0 {
        tracing::warn!(?cores, error = %std::io::Error::last_os_error(), "admin thread: cannot set its cores");
    } else {
        tracing::info!(?cores, "admin thread cores");
    }
}
