//! Per-thread CPU time from `/proc/<pid>/task/<tid>/schedstat`: how long
//! each thread ran and how long it waited runnable for a core. On a host
//! where the load generator shares cores with the shards, these say whose
//! CPU time a throughput figure is made of, and how much the client's own
//! time limits it.

use std::collections::BTreeMap;

/// One thread's scheduler totals since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskTime {
    /// The thread's name (`comm`: `shard-0`, `admin`, ...).
    pub name: String,
    /// Nanoseconds on a CPU.
    pub run_ns: u64,
    /// Nanoseconds runnable, waiting for a CPU.
    pub wait_ns: u64,
}

/// `schedstat`'s first two fields: run and run-queue wait, in ns.
pub fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

/// The calling thread's (run, wait) ns so far; (0, 0) where /proc does
/// not say. A load thread reads it at its start and end: its own time,
/// which a snapshot after the thread ended could no longer see.
pub fn this_thread() -> (u64, u64) {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .as_deref()
        .and_then(parse_schedstat)
        .unwrap_or((0, 0))
}

/// Every thread of `pid` (`None`: this process), by thread id. Threads
/// that end while being read are left out.
pub fn snapshot(pid: Option<u32>) -> BTreeMap<u32, TaskTime> {
    let base = match pid {
        Some(pid) => format!("/proc/{pid}/task"),
        None => "/proc/self/task".to_string(),
    };
    let mut tasks = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&base) else {
        return tasks;
    };
    for entry in entries.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let dir = entry.path();
        let stat = std::fs::read_to_string(dir.join("schedstat")).ok();
        let Some((run_ns, wait_ns)) = stat.as_deref().and_then(parse_schedstat) else {
            continue;
        };
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        tasks.insert(
            tid,
            TaskTime {
                name: name.trim().to_string(),
                run_ns,
                wait_ns,
            },
        );
    }
    tasks
}

/// What each thread used between two snapshots (a thread that started in
/// between counts from zero; one that ended is left out).
pub fn delta(before: &BTreeMap<u32, TaskTime>, after: &BTreeMap<u32, TaskTime>) -> Vec<TaskTime> {
    after
        .iter()
        .map(|(tid, now)| {
            let was = before.get(tid).cloned().unwrap_or_default();
            assert!(now.run_ns >= was.run_ns, "a thread's run time only grows");
            TaskTime {
                name: now.name.clone(),
                run_ns: now.run_ns - was.run_ns,
                wait_ns: now.wait_ns.saturating_sub(was.wait_ns),
            }
        })
        .collect()
}

/// The sum over `tasks` whose name `keep` accepts.
pub fn total(tasks: &[TaskTime], keep: impl Fn(&str) -> bool) -> TaskTime {
    let mut sum = TaskTime::default();
    for task in tasks.iter().filter(|t| keep(&t.name)) {
        sum.run_ns += task.run_ns;
        sum.wait_ns += task.wait_ns;
    }
    sum
}

/// A shard's thread (`shard-<id>`), not its file helper (`shard-files`).
pub fn shard_of(name: &str) -> Option<usize> {
    name.strip_prefix("shard-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, run_ns: u64, wait_ns: u64) -> TaskTime {
        TaskTime {
            name: name.into(),
            run_ns,
            wait_ns,
        }
    }

    #[test]
    fn schedstat_gives_run_and_wait_and_refuses_garbage() {
        assert_eq!(parse_schedstat("123456 7890 42\n"), Some((123_456, 7_890)));
        assert_eq!(parse_schedstat("12"), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn this_process_has_a_thread_with_a_time() {
        let me = snapshot(None);
        assert!(!me.is_empty(), "/proc/self/task lists this thread");
        let (run_before, _) = this_thread();
        let (run_after, _) = this_thread();
        assert!(run_after >= run_before, "a thread's run time only grows");
    }

    #[test]
    fn deltas_are_per_thread_and_new_threads_count_from_zero() {
        let before = BTreeMap::from([(1, task("shard-0", 100, 10)), (2, task("admin", 5, 0))]);
        let after = BTreeMap::from([
            (1, task("shard-0", 350, 30)),
            (2, task("admin", 6, 0)),
            (3, task("shard-1", 40, 4)),
        ]);
        let used = delta(&before, &after);
        assert_eq!(
            used,
            vec![
                task("shard-0", 250, 20),
                task("admin", 1, 0),
                task("shard-1", 40, 4)
            ]
        );
        let shards = total(&used, |n| shard_of(n).is_some());
        assert_eq!((shards.run_ns, shards.wait_ns), (290, 24));
    }

    #[test]
    fn only_numbered_shard_threads_are_shards() {
        assert_eq!(shard_of("shard-0"), Some(0));
        assert_eq!(shard_of("shard-12"), Some(12));
        assert_eq!(shard_of("shard-files"), None);
        assert_eq!(shard_of("admin"), None);
    }
}
