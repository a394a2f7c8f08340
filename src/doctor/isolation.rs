//! Core isolation from the kernel command line: `isolcpus` keeps the
//! scheduler's other tasks off the shard cores, `nohz_full` stops the tick
//! on a core running one task, `rcu_nocbs` moves RCU callbacks elsewhere.
//! Without them a spinning shard still gets preempted by kworkers, the
//! scheduler tick (every 1-4 ms) and RCU softirqs: the p99.9 tail.

use super::check::Check;
use super::cpulist::{format_cpu_list, missing_from, parse_cpu_list};
use super::host;

/// The value of the last `key=value` on a kernel command line, ignoring
/// everything after `--` (those are arguments for init, not the kernel).
pub fn cmdline_param<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .take_while(|token| *token != "--")
        .filter_map(|token| token.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .last()
}

/// The cpu list of an `isolcpus=` value, without its flags
/// (`managed_irq,domain,2-5` gives `2-5`).
pub fn isolcpus_list(value: &str) -> String {
    value
        .split(',')
        .filter(|part| !part.starts_with(|c: char| c.is_ascii_alphabetic()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether every shard core is in `set` (a cpu list; `all` counts as every
/// cpu, as `rcu_nocbs=all` does). `set` is `None` when the source could not
/// be read at all; `source` names where the list came from.
pub fn check_isolated_set(
    name: &'static str,
    source: &str,
    set: Option<&str>,
    cores: &[usize],
    param: &str,
) -> Check {
    let Some(set) = set else {
        return Check::skip(name, format!("{source} unreadable"));
    };
    let fix = format!(
        "boot with {param} (GRUB_CMDLINE_LINUX in /etc/default/grub, update-grub, reboot; see docs/OPERATIONS.md)"
    );
    if set.trim() == "all" {
        return Check::ok(name, format!("all cpus ({source})"));
    }
    let set = match parse_cpu_list(set) {
        Ok(set) => set,
        Err(e) => return Check::warn(name, format!("cannot parse {source}: {e}"), fix),
    };
    let missing = missing_from(cores, &set);
    if missing.is_empty() {
        Check::ok(
            name,
            format!(
                "shard cores {} covered ({source} = {})",
                format_cpu_list(cores),
                format_cpu_list(&set)
            ),
        )
    } else if set.is_empty() {
        Check::warn(name, format!("not set ({source})"), fix)
    } else {
        Check::warn(
            name,
            format!(
                "shard cpu {} not covered ({source} = {})",
                format_cpu_list(&missing),
                format_cpu_list(&set)
            ),
            fix,
        )
    }
}

/// The three isolation checks, plus the isolated cpus other checks need.
pub(crate) fn probe(cores: &[usize]) -> (Vec<Check>, Vec<usize>) {
    let cmdline = host::read("/proc/cmdline");
    let from_cmdline = |key: &str| -> Option<String> {
        cmdline
            .as_deref()
            .map(|c| cmdline_param(c, key).unwrap_or("").to_owned())
    };
    let list = format_cpu_list(cores);

    let (isolated_source, isolated) = match host::read("/sys/devices/system/cpu/isolated") {
        Some(text) => ("/sys/devices/system/cpu/isolated", Some(text)),
        None => (
            "isolcpus= in /proc/cmdline",
            from_cmdline("isolcpus").map(|v| isolcpus_list(&v)),
        ),
    };
    // The sysfs file exists only with CONFIG_NO_HZ_FULL; it is then the
    // truth (a cmdline value the kernel rejected does not show there).
    let (nohz_source, nohz) = match host::read("/sys/devices/system/cpu/nohz_full") {
        Some(text) => ("/sys/devices/system/cpu/nohz_full", Some(text)),
        None => ("nohz_full= in /proc/cmdline", from_cmdline("nohz_full")),
    };
    let checks = vec![
        check_isolated_set(
            "isolcpus",
            isolated_source,
            isolated.as_deref(),
            cores,
            &format!("isolcpus=managed_irq,domain,{list}"),
        ),
        check_isolated_set(
            "nohz_full",
            nohz_source,
            nohz.as_deref(),
            cores,
            &format!("nohz_full={list}"),
        ),
        check_isolated_set(
            "rcu_nocbs",
            "rcu_nocbs= in /proc/cmdline",
            from_cmdline("rcu_nocbs").as_deref(),
            cores,
            &format!("rcu_nocbs={list}"),
        ),
    ];
    let isolated_cpus = isolated
        .and_then(|text| parse_cpu_list(&text).ok())
        .unwrap_or_default();
    (checks, isolated_cpus)
}
