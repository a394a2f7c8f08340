//! Memory behaviour: transparent huge pages (the engine's tables madvise
//! MADV_HUGEPAGE) and swap (a swapped-out page is a millisecond stall).

use super::check::Check;

const THP: &str = "/sys/kernel/mm/transparent_hugepage";

/// The bracketed choice in a sysfs selector such as `always [madvise] never`.
pub fn selected_mode(selector: &str) -> Option<&str> {
    let start = selector.find('[')? + 1;
    let end = start + selector[start..].find(']')?;
    Some(&selector[start..end])
}

pub fn check_thp_enabled(enabled: Option<&str>) -> Check {
    const NAME: &str = "thp";
    let Some(mode) = enabled.and_then(selected_mode) else {
        return Check::skip(NAME, format!("{THP}/enabled absent (kernel without THP)"));
    };
    match mode {
        "madvise" => Check::ok(NAME, "enabled=madvise: huge pages where we ask for them"),
        "always" => Check::ok(NAME, "enabled=always: our madvised tables get huge pages (so does everything else)"),
        other => Check::warn(
            NAME,
            format!("enabled={other}: the engine's madvised tables fall back to 4 KiB pages (more TLB misses)"),
            format!("echo madvise > {THP}/enabled (tuning/apply.sh)"),
        ),
    }
}

pub fn check_thp_defrag(defrag: Option<&str>) -> Check {
    const NAME: &str = "thp_defrag";
    let Some(mode) = defrag.and_then(selected_mode) else {
        return Check::skip(NAME, format!("{THP}/defrag absent (kernel without THP)"));
    };
    match mode {
        "always" => Check::warn(
            NAME,
            "defrag=always: any page fault on the host may stall in direct compaction",
            format!("echo defer+madvise > {THP}/defrag (tuning/apply.sh)"),
        ),
        other => Check::ok(
            NAME,
            format!("defrag={other}: no direct compaction outside madvised regions"),
        ),
    }
}

/// Active swap devices in `/proc/swaps` (header line excluded).
pub fn active_swaps(proc_swaps: &str) -> usize {
    proc_swaps
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .count()
}

/// Swap is fine when absent, or when `vm.swappiness` is low enough that
/// anonymous memory is swapped only under real pressure.
pub fn check_swap(proc_swaps: Option<&str>, swappiness: Option<&str>) -> Check {
    const NAME: &str = "swap";
    let Some(swaps) = proc_swaps else {
        return Check::skip(NAME, "/proc/swaps unreadable");
    };
    let devices = active_swaps(swaps);
    let swappiness: Option<u32> = swappiness.and_then(|s| s.trim().parse().ok());
    let shown = swappiness.map_or("unknown".to_owned(), |s| s.to_string());
    match (devices, swappiness) {
        (0, _) => Check::ok(NAME, format!("no swap active (vm.swappiness={shown})")),
        (n, Some(s)) if s <= 10 => Check::ok(NAME, format!("{n} swap device(s), vm.swappiness={s}")),
        (n, _) => Check::warn(
            NAME,
            format!("{n} swap device(s) with vm.swappiness={shown}: idle gateway pages can be swapped out"),
            "sysctl -w vm.swappiness=1 (tuning/apply.sh), or swapoff -a",
        ),
    }
}

pub(crate) fn probe() -> Vec<Check> {
    use super::host::read;
    vec![
        check_thp_enabled(read(format!("{THP}/enabled")).as_deref()),
        check_thp_defrag(read(format!("{THP}/defrag")).as_deref()),
        check_swap(
            read("/proc/swaps").as_deref(),
            read("/proc/sys/vm/swappiness").as_deref(),
        ),
    ]
}
