//! Scheduler and network sysctls that shape the tail.

use super::check::Check;
use super::cpulist::missing_from;
use super::host;

fn parse_i64(value: Option<&str>) -> Option<i64> {
    value.and_then(|v| v.trim().parse().ok())
}

/// `kernel.sched_rt_runtime_us`: -1 lets a SCHED_FIFO thread run forever.
/// tradsys does not use SCHED_FIFO itself (the unit sets RestrictRealtime);
/// the risk is an operator `chrt`-ing a spinning shard: on a core that is
/// not isolated, that starves the kernel threads pinned there.
pub fn check_sched_rt(runtime_us: Option<&str>, cores: &[usize], isolated: &[usize]) -> Check {
    const NAME: &str = "sched_rt";
    match parse_i64(runtime_us) {
        None => Check::skip(NAME, "kernel.sched_rt_runtime_us unreadable"),
        Some(-1) if !missing_from(cores, isolated).is_empty() => Check::warn(
            NAME,
            "kernel.sched_rt_runtime_us=-1 on non-isolated shard cores: a SCHED_FIFO spinning shard would starve kernel threads",
            "sysctl -w kernel.sched_rt_runtime_us=950000, or isolate the shard cores",
        ),
        Some(-1) => Check::ok(NAME, "kernel.sched_rt_runtime_us=-1 (RT unthrottled, shard cores isolated)"),
        Some(us) => Check::ok(
            NAME,
            format!("kernel.sched_rt_runtime_us={us}: RT throttling on (shards run SCHED_OTHER; see docs before chrt)"),
        ),
    }
}

pub fn check_timer_migration(value: Option<&str>) -> Check {
    const NAME: &str = "timer_migration";
    match parse_i64(value) {
        None => Check::skip(NAME, "kernel.timer_migration absent (kernel without NO_HZ_COMMON)"),
        Some(0) => Check::ok(NAME, "kernel.timer_migration=0: timers stay on the cpu that armed them"),
        Some(v) => Check::warn(
            NAME,
            format!("kernel.timer_migration={v}: idle housekeeping cpus push timers onto busy shard cores"),
            "sysctl -w kernel.timer_migration=0 (tuning/apply.sh)",
        ),
    }
}

/// `net.core.busy_poll` / `busy_read` (microseconds): a socket read or
/// poll spins on the NIC queue instead of waiting for the interrupt. It
/// matters for NIC traffic, not loopback.
pub fn check_busy_poll(busy_poll: Option<&str>, busy_read: Option<&str>) -> Check {
    const NAME: &str = "busy_poll";
    match (parse_i64(busy_poll), parse_i64(busy_read)) {
        (None, None) => Check::skip(
            NAME,
            "net.core.busy_poll/busy_read absent (kernel without CONFIG_NET_RX_BUSY_POLL)",
        ),
        (Some(p), Some(r)) if p > 0 && r > 0 => {
            Check::ok(NAME, format!("net.core.busy_poll={p} busy_read={r} us"))
        }
        (p, r) => Check::warn(
            NAME,
            format!(
                "net.core.busy_poll={} busy_read={}: packets wait for the NIC interrupt",
                p.map_or("?".into(), |v| v.to_string()),
                r.map_or("?".into(), |v| v.to_string())
            ),
            "sysctl -w net.core.busy_poll=50 net.core.busy_read=50 (tuning/apply.sh)",
        ),
    }
}

/// The kernel caps every listen backlog at `net.core.somaxconn`; a burst
/// of bot reconnects after a restart must not be dropped.
pub const MIN_SOMAXCONN: i64 = 1024;

pub fn check_somaxconn(value: Option<&str>) -> Check {
    const NAME: &str = "somaxconn";
    match parse_i64(value) {
        None => Check::skip(NAME, "net.core.somaxconn unreadable"),
        Some(v) if v < MIN_SOMAXCONN => Check::warn(
            NAME,
            format!("net.core.somaxconn={v}: reconnect bursts overflow the accept queue"),
            "sysctl -w net.core.somaxconn=4096 (tuning/apply.sh)",
        ),
        Some(v) => Check::ok(NAME, format!("net.core.somaxconn={v}")),
    }
}

pub(crate) fn probe(cores: &[usize], isolated: &[usize]) -> Vec<Check> {
    let sysctl = |path: &str| host::read(format!("/proc/sys/{path}"));
    vec![
        check_sched_rt(
            sysctl("kernel/sched_rt_runtime_us").as_deref(),
            cores,
            isolated,
        ),
        check_timer_migration(sysctl("kernel/timer_migration").as_deref()),
        check_busy_poll(
            sysctl("net/core/busy_poll").as_deref(),
            sysctl("net/core/busy_read").as_deref(),
        ),
        check_somaxconn(sysctl("net/core/somaxconn").as_deref()),
    ]
}
