//! The clocksource behind `clock_gettime`: every latency timestamp (several
//! per order) reads it. `tsc` is read in user space through the vDSO in
//! ~20 ns; `hpet` or `acpi_pm` costs a syscall and a slow bus read, about a
//! microsecond, which alone would eat the latency budget.

use super::check::Check;

const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0";

pub fn check_clocksource(current: Option<&str>, available: Option<&str>) -> Check {
    const NAME: &str = "clocksource";
    let Some(current) = current.map(str::trim) else {
        return Check::skip(
            NAME,
            format!("{CLOCKSOURCE}/current_clocksource unreadable"),
        );
    };
    let tsc_available = available.is_some_and(|a| a.split_whitespace().any(|c| c == "tsc"));
    match current {
        "tsc" => Check::ok(NAME, "tsc (vDSO, no syscall)"),
        "kvm-clock" | "hyperv_clocksource_tsc_page" | "arch_sys_counter" => Check::ok(
            NAME,
            format!("{current}: paravirtual or architected counter, readable through the vDSO"),
        ),
        other if tsc_available => Check::warn(
            NAME,
            format!("{other}, tsc available but not selected"),
            format!("echo tsc > {CLOCKSOURCE}/current_clocksource, or boot with clocksource=tsc"),
        ),
        other => Check::warn(
            NAME,
            format!("{other}, tsc not offered: timestamps may cost a syscall each"),
            "boot with tsc=reliable if the CPU has an invariant TSC (grep -w constant_tsc /proc/cpuinfo)",
        ),
    }
}

pub(crate) fn probe() -> Check {
    use super::host::read;
    check_clocksource(
        read(format!("{CLOCKSOURCE}/current_clocksource")).as_deref(),
        read(format!("{CLOCKSOURCE}/available_clocksource")).as_deref(),
    )
}
