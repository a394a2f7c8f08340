//! Where a shard's helper threads run: the threads that create and unmap
//! journal segments and read replays, milliseconds of file work each
//! (creating a 64 MiB segment costs a core 20-30 ms). On a shard's core
//! such a thread takes the shard's place for a scheduler slice: in the
//! closed-loop order mix on the 2-core VM, every segment made on core 0
//! stalled the shard about 4 ms (its wire-to-wire p99.9 was 4.1 ms, 0.19
//! ms with no segment made during the run). So they run on the
//! housekeeping cores, as the admin thread and the journal shipper do:
//! every core the process may use that no shard is pinned to, or all of
//! them when the shards take every core.

use crate::config::Config;

/// A thread's CPU affinity, given to the helper threads.
#[derive(Clone, Copy)]
pub(super) struct CpuSet(libc::cpu_set_t);

impl CpuSet {
    /// The calling thread's affinity.
    #[cfg(test)]
    fn current() -> Option<CpuSet> {
        // SAFETY: cpu_set_t is plain bits; zeroed is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: sched_getaffinity writes at most the size given.
        let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
        // SAFETY: CPU_COUNT reads the set it is given.
        debug_assert!(rc != 0 || unsafe { libc::CPU_COUNT(&set) } > 0, "no CPU");
        (rc == 0).then_some(CpuSet(set))
    }

    /// Makes it the calling thread's affinity.
    pub(super) fn apply(&self) {
        // SAFETY: sched_setaffinity reads the set of the size given.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.0), &self.0) };
    }

    pub(super) fn as_raw(&self) -> libc::cpu_set_t {
        // SAFETY: CPU_COUNT reads the set it is given.
        debug_assert!(unsafe { libc::CPU_COUNT(&self.0) } > 0, "an empty set");
        self.0
    }

    /// The cores in the set, lowest first.
    #[cfg(test)]
    fn cores(&self) -> Vec<usize> {
        let cores: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            // SAFETY: CPU_ISSET reads within the set for indices below CPU_SETSIZE.
            .filter(|&core| unsafe { libc::CPU_ISSET(core, &self.0) })
            .collect();
        debug_assert!(cores.windows(2).all(|w| w[0] < w[1]));
        cores
    }
}

/// The CPUs a shard's helper threads get. Called on the shard's thread
/// before it pins itself.
pub(super) fn helper_cpus(config: &Config) -> Option<CpuSet> {
    let cores = crate::admin::housekeeping_cores(config);
    // Off every shard core, unless the shards take every core.
    debug_assert!(
        cores.iter().all(|c| !config.server.cores.contains(c))
            || cores.iter().all(|c| config.server.cores.contains(c))
    );
    // No core known (the affinity unreadable): leave the helpers' as it is.
    (!cores.is_empty()).then(|| CpuSet(crate::admin::cpu_set(&cores)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a core to spare the helpers leave the shard's core alone; on a
    /// host whose every core is a shard's they share them all.
    #[test]
    fn helper_threads_stay_off_the_shard_cores_when_another_core_is_free() {
        let process = CpuSet::current().expect("sched_getaffinity").cores();
        let mut config = Config::default();
        config.server.cores = vec![process[0]];
        let helpers = helper_cpus(&config).expect("a set").cores();
        if process.len() >= 2 {
            assert_eq!(helpers, process[1..].to_vec(), "process cores {process:?}");
        } else {
            assert_eq!(helpers, process, "a host with one core");
        }
    }
}
