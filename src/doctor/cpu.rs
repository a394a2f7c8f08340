//! The shard cores themselves: they exist, are online and allowed; they run
//! at full clock; they do not share a physical core or a NUMA node boundary.

use super::check::{Check, Findings};
use super::cpulist::{format_cpu_list, missing_from, parse_cpu_list};
use super::host;

const SYS_CPU: &str = "/sys/devices/system/cpu";

/// `present` and `online` are the contents of `/sys/devices/system/cpu/{present,online}`;
/// `allowed` is this process's affinity mask.
// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
pub fn check_cores(
    cores: &[usize],
    present: Option<&str>,
    online: Option<&str>,
    allowed: Option<&[usize]>,
) -> Check {
    let mut findings = Findings::new("cores");
    let edit = "edit [server] cores in the config";
    if cores.is_empty() {
        findings.fail("no shard cores configured", edit);
        return findings.finish("");
    }
    let shard_list = format_cpu_list(cores);
    match present.map(parse_cpu_list) {
        Some(Ok(present)) => {
            let absent = missing_from(cores, &present);
            if !absent.is_empty() {
                findings.fail(
                    format!(
                        "cpu {} not present (host has {})",
                        format_cpu_list(&absent),
                        format_cpu_list(&present)
                    ),
                    edit,
                );
            }
        }
        Some(Err(e)) => findings.warn(
            format!("cannot parse {SYS_CPU}/present: {e}"),
            "report this host",
        ),
        None => {}
    }
    let mut housekeeping = None;
    match online.map(parse_cpu_list) {
        Some(Ok(online)) => {
            let offline = missing_from(cores, &online);
            if !offline.is_empty() {
                let first = offline[0];
                findings.fail(
                    format!("cpu {} offline", format_cpu_list(&offline)),
                    format!("echo 1 > {SYS_CPU}/cpu{first}/online (each offline core)"),
                );
            }
            housekeeping = Some(missing_from(&online, cores));
        }
        Some(Err(e)) => findings.warn(
            format!("cannot parse {SYS_CPU}/online: {e}"),
            "report this host",
        ),
        None => {}
    }
    if let Some(allowed) = allowed {
        let denied = missing_from(cores, allowed);
        if !denied.is_empty() {
            findings.fail(
                format!(
                    "cpu {} outside this process's affinity {} (cpuset, taskset, docker --cpuset-cpus): shards cannot pin there",
                    format_cpu_list(&denied),
                    format_cpu_list(allowed)
                ),
                "widen the cpuset to include every shard core (docker --cpuset-cpus, systemd AllowedCPUs=)",
            );
        }
    }
    match &housekeeping {
        Some(rest) if rest.is_empty() => findings.warn(
            format!("shards take every online cpu ({shard_list}): admin thread, kernel and IRQs compete with them"),
            "leave at least one core out of [server] cores for housekeeping",
        ),
        Some(rest) if cores.contains(&0) => findings.warn(
            format!("cpu 0 is a shard core: it takes timekeeping and most unmovable IRQs (housekeeping {})", format_cpu_list(rest)),
            "move shards off cpu 0 in [server] cores",
        ),
        Some(rest) => findings.ok(format!("shards on {shard_list}, housekeeping {}", format_cpu_list(rest))),
        None => findings.ok(format!("shards on {shard_list}")),
    }
    findings.finish("")
}

/// `per_core`: each shard core with the contents of its
/// `cpufreq/scaling_governor`, `None` when the file is absent.
pub fn check_governor(per_core: &[(usize, Option<String>)]) -> Check {
    const NAME: &str = "cpu_governor";
    if per_core.iter().all(|(_, g)| g.is_none()) {
        return Check::skip(
            NAME,
            "no cpufreq on the shard cores (usual in VMs: the hypervisor owns the clock; on bare metal check the BIOS power profile)",
        );
    }
    let slow: Vec<String> = per_core
        .iter()
        .filter_map(|(core, g)| match g.as_deref().map(str::trim) {
            Some("performance") | None => None,
            Some(other) => Some(format!("cpu{core}={other}")),
        })
        .collect();
    if slow.is_empty() {
        Check::ok(NAME, "performance on every shard core with cpufreq")
    } else {
        Check::warn(
            NAME,
            format!("{}: the core ramps its clock up only after load arrives", slow.join(", ")),
            "tuning/apply.sh, or echo performance > /sys/devices/system/cpu/cpuN/cpufreq/scaling_governor",
        )
    }
}

/// `siblings`: each shard core with its `topology/thread_siblings_list`;
/// `isolated`: the isolated cpus. A shard's hyperthread sibling shares its
/// L1/L2 and execution ports, so it must be idle: isolated and shard-free.
pub fn check_smt(
    cores: &[usize],
    siblings: &[(usize, Option<String>)],
    isolated: &[usize],
) -> Check {
    let mut findings = Findings::new("smt");
    let fix = "echo off > /sys/devices/system/cpu/smt/control (or boot with nosmt), or isolate and leave idle each shard's sibling";
    for (core, list) in siblings {
        let Some(Ok(list)) = list.as_deref().map(parse_cpu_list) else {
            continue;
        };
        for sibling in list.into_iter().filter(|s| s != core) {
            if cores.contains(&sibling) {
                if sibling > *core {
                    findings.warn(
                        format!("shards on cpu{core} and cpu{sibling} share a physical core"),
                        fix,
                    );
                }
            } else if !isolated.contains(&sibling) {
                findings.warn(
                    format!("cpu{sibling}, sibling of shard cpu{core}, runs other work"),
                    fix,
                );
            } else {
                findings.ok(format!(
                    "cpu{sibling}, sibling of shard cpu{core}, is isolated"
                ));
            }
        }
    }
    let readable = siblings.iter().any(|(_, l)| l.is_some());
    if readable && findings.is_empty() {
        findings.ok("no SMT siblings on the shard cores");
    }
    findings.finish("topology/thread_siblings_list absent")
}

/// `per_core`: each shard core with its NUMA node (`None` if unknown);
/// `node_count`: nodes on the host.
pub fn check_numa(per_core: &[(usize, Option<usize>)], node_count: usize) -> Check {
    const NAME: &str = "numa";
    let mut nodes: Vec<usize> = per_core.iter().filter_map(|(_, n)| *n).collect();
    if nodes.is_empty() {
        return Check::skip(NAME, "no NUMA topology in sysfs");
    }
    nodes.sort_unstable();
    nodes.dedup();
    let names: Vec<String> = nodes.iter().map(|n| format!("node{n}")).collect();
    if nodes.len() == 1 {
        Check::ok(
            NAME,
            format!(
                "all shard cores on {} ({node_count} node(s) on host)",
                names[0]
            ),
        )
    } else {
        Check::warn(
            NAME,
            format!("shard cores span {}: cross-node rings and journal pages pay remote-memory latency", names.join(", ")),
            "put every shard core on one node, the NIC's (cat /sys/class/net/IFACE/device/numa_node; lscpu -e)",
        )
    }
}

pub(crate) fn probe(cores: &[usize], isolated: &[usize]) -> Vec<Check> {
    let allowed = host::allowed_cpus();
    let per_core = |file: &str| -> Vec<(usize, Option<String>)> {
        cores
            .iter()
            .map(|&c| (c, host::read_trimmed(format!("{SYS_CPU}/cpu{c}/{file}"))))
            .collect()
    };
    let numa: Vec<(usize, Option<usize>)> = cores.iter().map(|&c| (c, node_of(c))).collect();
    vec![
        check_cores(
            cores,
            host::read(format!("{SYS_CPU}/present")).as_deref(),
            host::read(format!("{SYS_CPU}/online")).as_deref(),
            allowed.as_deref(),
        ),
        check_governor(&per_core("cpufreq/scaling_governor")),
        check_smt(cores, &per_core("topology/thread_siblings_list"), isolated),
        check_numa(&numa, node_count()),
    ]
}

/// The `nodeN` link inside `/sys/devices/system/cpu/cpuC/`.
fn node_of(core: usize) -> Option<usize> {
    std::fs::read_dir(format!("{SYS_CPU}/cpu{core}"))
        .ok()?
        .flatten()
        .find_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok())
}

fn node_count() -> usize {
    host::read("/sys/devices/system/node/online")
        .and_then(|l| parse_cpu_list(&l).ok())
        .map_or(1, |nodes| nodes.len().max(1))
}
