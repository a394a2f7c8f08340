//! Interrupt affinity: a device interrupt landing on a shard core preempts
//! the shard for the handler and its softirq (tens of microseconds).

use super::check::{Check, Findings};
use super::cpulist::{format_cpu_list, parse_cpu_list, parse_hex_mask};
use super::host;

/// IRQs named in the finding before it says "and N more".
const IRQS_SHOWN: usize = 8;

/// `irqs`: each `/proc/irq/N` with its `smp_affinity_list`;
/// `default_affinity`: `/proc/irq/default_smp_affinity` (a hex mask) that
/// new IRQs get; `irqbalance_running`: whether the daemon would undo a fix.
pub fn check_irq_affinity(
    irqs: &[(u32, String)],
    default_affinity: Option<&str>,
    cores: &[usize],
    irqbalance_running: bool,
) -> Check {
    let mut findings = Findings::new("irq_affinity");
    let fix = format!(
        "tuning/apply.sh --cores {} (moves IRQs to the housekeeping cores)",
        format_cpu_list(cores)
    );
    let mut on_shards: Vec<u32> = irqs
        .iter()
        .filter(|(_, list)| {
            parse_cpu_list(list).is_ok_and(|cpus| cpus.iter().any(|c| cores.contains(c)))
        })
        .map(|(irq, _)| *irq)
        .collect();
    on_shards.sort_unstable();
    if !irqs.is_empty() {
        if on_shards.is_empty() {
            findings.ok(format!(
                "none of {} IRQs may fire on a shard core",
                irqs.len()
            ));
        } else {
            let mut shown: Vec<String> = on_shards
                .iter()
                .take(IRQS_SHOWN)
                .map(u32::to_string)
                .collect();
            if on_shards.len() > IRQS_SHOWN {
                shown.push(format!("and {} more", on_shards.len() - IRQS_SHOWN));
            }
            findings.warn(
                format!(
                    "{} of {} IRQs may fire on a shard core (IRQ {})",
                    on_shards.len(),
                    irqs.len(),
                    shown.join(", ")
                ),
                fix.clone(),
            );
        }
    }
    if let Some(mask) = default_affinity {
        match parse_hex_mask(mask) {
            Ok(cpus) if cpus.iter().any(|c| cores.contains(c)) => findings.warn(
                format!(
                    "default_smp_affinity {} includes shard cores (new IRQs land there)",
                    format_cpu_list(&cpus)
                ),
                fix.clone(),
            ),
            Ok(_) => findings.ok("default_smp_affinity excludes shard cores"),
            Err(e) => findings.warn(
                format!("cannot parse default_smp_affinity: {e}"),
                "report this host",
            ),
        }
    }
    if irqbalance_running {
        findings.warn(
            "irqbalance is running and will move IRQs back onto shard cores",
            format!(
                "systemctl disable --now irqbalance, or IRQBALANCE_BANNED_CPULIST={} in /etc/default/irqbalance",
                format_cpu_list(cores)
            ),
        );
    }
    findings.finish("/proc/irq unreadable")
}

pub(crate) fn probe(cores: &[usize]) -> Check {
    let mut irqs = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc/irq") {
        for entry in entries.flatten() {
            let Some(irq) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(list) = host::read_trimmed(entry.path().join("smp_affinity_list")) {
                irqs.push((irq, list));
            }
        }
    }
    check_irq_affinity(
        &irqs,
        host::read("/proc/irq/default_smp_affinity").as_deref(),
        cores,
        host::process_running("irqbalance"),
    )
}
