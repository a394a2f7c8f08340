//! The doctor's classifications, from fixture file contents: each test
//! names the host condition and the verdict it must get. Nothing here
//! depends on the machine running the tests except the last test, which
//! only checks the shape of a real report.

use std::path::{Path, PathBuf};

use tradsys::doctor::check::Status::{self, Fail, Ok as Pass, Skip, Warn};
use tradsys::doctor::cpulist::{format_cpu_list, parse_cpu_list, parse_hex_mask};
use tradsys::doctor::host::FsSpace;
use tradsys::doctor::journal::{check_journal_dir, check_journal_space, JournalDir};
use tradsys::doctor::report::json_string;
use tradsys::doctor::{
    clock, cpu, irq, isolation, memlock, memory, sysctl, uring, Check, DoctorInput, Report,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn assert_status(check: &Check, status: Status) {
    assert_eq!(check.status, status, "{check:?}");
    assert_eq!(
        check.fix.is_some(),
        matches!(status, Warn | Fail),
        "{check:?}"
    );
}

fn fix(check: &Check) -> &str {
    check.fix.as_deref().unwrap_or("")
}

// ---- cpu lists -------------------------------------------------------------

#[test]
fn cpu_list_parses_ranges_singles_and_trailing_newline() {
    assert_eq!(
        parse_cpu_list("0-3,8,10-11\n").unwrap(),
        vec![0, 1, 2, 3, 8, 10, 11]
    );
    assert_eq!(parse_cpu_list("5,2,2-3").unwrap(), vec![2, 3, 5]);
}

#[test]
fn cpu_list_empty_and_null_are_the_empty_set() {
    assert!(parse_cpu_list("\n").unwrap().is_empty());
    assert!(parse_cpu_list("(null)\n").unwrap().is_empty());
}

#[test]
fn cpu_list_rejects_garbage_backward_ranges_and_absurd_cpus() {
    assert!(parse_cpu_list("x").is_err());
    assert!(parse_cpu_list("3-1").is_err());
    assert!(parse_cpu_list("0-4294967295").is_err());
}

#[test]
fn hex_mask_reads_32_bit_groups_most_significant_first() {
    assert_eq!(
        parse_hex_mask("00000000,0000000f\n").unwrap(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(parse_hex_mask("3").unwrap(), vec![0, 1]);
    assert_eq!(parse_hex_mask("1,00000000").unwrap(), vec![32]);
    assert!(parse_hex_mask("zz").is_err());
}

#[test]
fn cpu_list_formats_like_the_kernel() {
    assert_eq!(format_cpu_list(&[8, 0, 1, 2, 5, 7]), "0-2,5,7-8");
    assert_eq!(format_cpu_list(&[]), "");
}

// ---- kernel and io_uring ---------------------------------------------------

#[test]
fn kernel_release_versions_are_compared_numerically() {
    assert_eq!(
        uring::parse_kernel_version("6.18.44-fc-v669\n"),
        Some((6, 18))
    );
    assert_eq!(
        uring::parse_kernel_version("5.15.0-91-generic"),
        Some((5, 15))
    );
    assert_status(&uring::check_kernel(Some("5.4.0-150-generic")), Fail);
    // The shard reactor's DEFER_TASKRUN came with 6.1.
    assert_status(&uring::check_kernel(Some("5.10.0")), Fail);
    assert_status(&uring::check_kernel(Some("6.0.9")), Fail);
    assert_status(&uring::check_kernel(Some("6.1.0")), Pass);
    assert_status(&uring::check_kernel(Some("weird")), Skip);
    assert_status(&uring::check_kernel(None), Skip);
}

#[test]
fn io_uring_that_sets_up_is_ok() {
    let check = uring::check_io_uring(Some("0\n"), Ok(0x3fff));
    assert_status(&check, Pass);
    assert!(check.found.contains("0x3fff"), "{}", check.found);
    assert_status(&uring::check_io_uring(None, Ok(1)), Pass);
}

#[test]
fn io_uring_restricted_to_a_group_warns_even_when_this_user_may() {
    let check = uring::check_io_uring(Some("1"), Ok(1));
    assert_status(&check, Warn);
    assert!(fix(&check).contains("io_uring_group"));
}

#[test]
fn io_uring_disabled_by_sysctl_fails_with_the_sysctl_fix() {
    let check = uring::check_io_uring(Some("2"), Err(libc::EPERM));
    assert_status(&check, Fail);
    assert!(fix(&check).contains("sysctl -w kernel.io_uring_disabled=0"));
}

#[test]
fn io_uring_eperm_without_sysctl_blames_seccomp() {
    let check = uring::check_io_uring(Some("0"), Err(libc::EPERM));
    assert_status(&check, Fail);
    assert!(check.found.contains("seccomp"));
    assert!(fix(&check).contains("seccomp"));
}

#[test]
fn io_uring_missing_from_kernel_fails() {
    assert_status(&uring::check_io_uring(None, Err(libc::ENOSYS)), Fail);
    assert_status(&uring::check_io_uring(None, Err(libc::EINVAL)), Fail);
}

// ---- memlock ---------------------------------------------------------------

#[test]
fn memlock_needs_each_shards_ring_and_buffer_ring_pages() {
    const KIB: u64 = 1024;
    // The default 4 MiB of receive buffers is 64 descriptors, one page:
    // 64 KiB of submission entries + 72 KiB of rings + 4 KiB = 140 KiB a
    // shard, and 8 KiB for the process (measured: one shard starts at
    // 148 KiB, two at 288 KiB).
    assert_eq!(memlock::shard_locked_bytes(4 * MIB), 140 * KIB);
    assert_eq!(memlock::memlock_needed_bytes(1, 4 * MIB), 148 * KIB);
    assert_eq!(memlock::memlock_needed_bytes(2, 4 * MIB), 288 * KIB);
    // Receive buffers are not registered: only their descriptors count.
    // 2 GiB is 32768 of them, 512 KiB of descriptors.
    assert_eq!(memlock::shard_locked_bytes(2048 * MIB), (136 + 512) * KIB);
    assert_eq!(memlock::shard_locked_bytes(1), 140 * KIB);
}

#[test]
fn memlock_unlimited_is_ok() {
    assert_status(
        &memlock::check_memlock(Some(None), false, 8, 10 * MIB),
        Pass,
    );
}

#[test]
fn memlock_too_small_for_the_shards_rings_fails() {
    let needed = memlock::memlock_needed_bytes(4, 10 * MIB);
    let check = memlock::check_memlock(Some(Some(needed - 4096)), false, 4, 10 * MIB);
    assert_status(&check, Fail);
    assert!(fix(&check).contains("LimitMEMLOCK=infinity"));
    assert!(check.found.contains("will not start"), "{check:?}");
    assert_status(
        &memlock::check_memlock(Some(Some(needed)), false, 4, 10 * MIB),
        Pass,
    );
    // Docker's default 64 KiB is too small for even one shard.
    assert_status(
        &memlock::check_memlock(Some(Some(64 * 1024)), false, 1, 4 * MIB),
        Fail,
    );
}

#[test]
fn memlock_is_not_enforced_with_cap_ipc_lock() {
    assert_status(
        &memlock::check_memlock(Some(Some(8 * MIB)), true, 4, 10 * MIB),
        Pass,
    );
    assert_status(&memlock::check_memlock(None, false, 1, 10 * MIB), Skip);
}

#[test]
fn cap_eff_is_read_from_proc_status() {
    let root = "Name:\ttradsys\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
    let user = "Name:\ttradsys\nCapEff:\t0000000000000000\n";
    assert!(memlock::has_cap_ipc_lock(
        memlock::parse_cap_eff(root).unwrap()
    ));
    assert!(!memlock::has_cap_ipc_lock(
        memlock::parse_cap_eff(user).unwrap()
    ));
    assert_eq!(memlock::parse_cap_eff("Name:\tx\n"), None);
}

// ---- cores, governor, SMT, NUMA --------------------------------------------

#[test]
fn cores_present_online_allowed_with_housekeeping_are_ok() {
    let all: Vec<usize> = (0..8).collect();
    let check = cpu::check_cores(&[2, 3], Some("0-7\n"), Some("0-7\n"), Some(&all));
    assert_status(&check, Pass);
    assert!(
        check.found.contains("housekeeping 0-1,4-7"),
        "{}",
        check.found
    );
}

#[test]
fn core_that_does_not_exist_fails() {
    let check = cpu::check_cores(&[8], Some("0-3"), Some("0-3"), None);
    assert_status(&check, Fail);
    assert!(check.found.contains("cpu 8 not present"), "{}", check.found);
}

#[test]
fn offline_core_fails_with_the_online_command() {
    let check = cpu::check_cores(&[2], Some("0-3"), Some("0-1,3"), None);
    assert_status(&check, Fail);
    assert!(fix(&check).contains("echo 1 > /sys/devices/system/cpu/cpu2/online"));
}

#[test]
fn core_outside_the_cpuset_fails() {
    let check = cpu::check_cores(&[2], Some("0-3"), Some("0-3"), Some(&[0, 1]));
    assert_status(&check, Fail);
    assert!(check.found.contains("outside this process's affinity"));
}

#[test]
fn shards_on_every_core_or_on_cpu0_warn() {
    assert_status(
        &cpu::check_cores(&[0, 1], Some("0-1"), Some("0-1"), None),
        Warn,
    );
    let check = cpu::check_cores(&[0], Some("0-3"), Some("0-3"), None);
    assert_status(&check, Warn);
    assert!(check.found.contains("cpu 0 is a shard core"));
}

#[test]
fn no_cores_configured_fails() {
    assert_status(&cpu::check_cores(&[], Some("0-3"), Some("0-3"), None), Fail);
}

#[test]
fn governor_absent_everywhere_is_a_skip_not_a_warning() {
    assert_status(&cpu::check_governor(&[(2, None), (3, None)]), Skip);
}

#[test]
fn governor_other_than_performance_warns_and_names_the_core() {
    let check = cpu::check_governor(&[
        (2, Some("performance".into())),
        (3, Some("powersave\n".into())),
    ]);
    assert_status(&check, Warn);
    assert!(check.found.contains("cpu3=powersave"), "{}", check.found);
    assert_status(
        &cpu::check_governor(&[(2, Some("performance\n".into()))]),
        Pass,
    );
}

#[test]
fn busy_smt_sibling_of_a_shard_warns() {
    let check = cpu::check_smt(&[2], &[(2, Some("2,6".into()))], &[2]);
    assert_status(&check, Warn);
    assert!(check.found.contains("cpu6, sibling of shard cpu2"));
    assert_status(
        &cpu::check_smt(&[2], &[(2, Some("2,6".into()))], &[2, 6]),
        Pass,
    );
}

#[test]
fn two_shards_on_one_physical_core_warn_once() {
    let siblings = [(2, Some("2,6".to_string())), (6, Some("2,6".to_string()))];
    let check = cpu::check_smt(&[2, 6], &siblings, &[]);
    assert_status(&check, Warn);
    assert_eq!(check.found.matches("share a physical core").count(), 1);
}

#[test]
fn no_smt_siblings_is_ok_and_no_topology_is_skip() {
    assert_status(
        &cpu::check_smt(
            &[2, 3],
            &[(2, Some("2".into())), (3, Some("3".into()))],
            &[],
        ),
        Pass,
    );
    assert_status(&cpu::check_smt(&[2], &[(2, None)], &[]), Skip);
}

#[test]
fn shards_across_numa_nodes_warn() {
    assert_status(&cpu::check_numa(&[(2, Some(0)), (3, Some(0))], 2), Pass);
    assert_status(&cpu::check_numa(&[(2, Some(0)), (40, Some(1))], 2), Warn);
    assert_status(&cpu::check_numa(&[(2, None)], 1), Skip);
}

// ---- isolation ---------------------------------------------------------------

const CMDLINE: &str = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro isolcpus=managed_irq,domain,2-5 \
nohz_full=2-5 rcu_nocbs=2-3 quiet -- nohz_full=0";

#[test]
fn cmdline_params_take_the_kernel_part_only() {
    assert_eq!(isolation::cmdline_param(CMDLINE, "nohz_full"), Some("2-5"));
    assert_eq!(isolation::cmdline_param(CMDLINE, "rcu_nocbs"), Some("2-3"));
    assert_eq!(
        isolation::cmdline_param(CMDLINE, "isolcpus"),
        Some("managed_irq,domain,2-5")
    );
    assert_eq!(isolation::cmdline_param(CMDLINE, "nosmt"), None);
}

#[test]
fn isolcpus_flags_are_not_cpus() {
    assert_eq!(
        isolation::isolcpus_list("managed_irq,domain,2-5,7"),
        "2-5,7"
    );
    assert_eq!(isolation::isolcpus_list("3"), "3");
}

#[test]
fn isolation_covering_every_shard_core_is_ok() {
    let check = isolation::check_isolated_set(
        "nohz_full",
        "cmdline",
        Some("2-5"),
        &[2, 3],
        "nohz_full=2-3",
    );
    assert_status(&check, Pass);
    assert_status(
        &isolation::check_isolated_set("rcu_nocbs", "cmdline", Some("all"), &[2], "x"),
        Pass,
    );
}

#[test]
fn isolation_missing_a_shard_core_warns_with_the_boot_parameter() {
    let check = isolation::check_isolated_set(
        "rcu_nocbs",
        "cmdline",
        Some("2-3"),
        &[2, 3, 4],
        "rcu_nocbs=2-4",
    );
    assert_status(&check, Warn);
    assert!(
        check.found.contains("shard cpu 4 not covered"),
        "{}",
        check.found
    );
    assert!(fix(&check).contains("rcu_nocbs=2-4"));
    let unset = isolation::check_isolated_set("isolcpus", "sysfs", Some("\n"), &[2], "isolcpus=2");
    assert_status(&unset, Warn);
    assert!(unset.found.contains("not set"));
}

#[test]
fn isolation_source_unreadable_is_skip() {
    assert_status(
        &isolation::check_isolated_set("isolcpus", "sysfs", None, &[2], "x"),
        Skip,
    );
}

// ---- IRQs --------------------------------------------------------------------

#[test]
fn irqs_kept_on_housekeeping_cores_are_ok() {
    let irqs = [(24, "0-1".to_string()), (25, "0".to_string())];
    let check = irq::check_irq_affinity(&irqs, Some("00000003\n"), &[2, 3], false);
    assert_status(&check, Pass);
}

#[test]
fn irqs_that_may_fire_on_shard_cores_warn_and_are_named() {
    let irqs = [
        (24, "0-7".to_string()),
        (25, "0".to_string()),
        (30, "3".to_string()),
    ];
    let check = irq::check_irq_affinity(&irqs, Some("03"), &[2, 3], false);
    assert_status(&check, Warn);
    assert!(check.found.contains("2 of 3 IRQs"), "{}", check.found);
    assert!(check.found.contains("IRQ 24, 30"), "{}", check.found);
    assert!(fix(&check).contains("tuning/apply.sh --cores 2-3"));
}

#[test]
fn default_irq_affinity_on_shard_cores_warns() {
    let check = irq::check_irq_affinity(&[], Some("ff"), &[2], false);
    assert_status(&check, Warn);
    assert!(check.found.contains("default_smp_affinity"));
}

#[test]
fn running_irqbalance_warns_with_the_ban_list() {
    let irqs = [(24, "0".to_string())];
    let check = irq::check_irq_affinity(&irqs, Some("1"), &[2, 3], true);
    assert_status(&check, Warn);
    assert!(fix(&check).contains("IRQBALANCE_BANNED_CPULIST=2-3"));
}

#[test]
fn no_irq_information_is_skip() {
    assert_status(&irq::check_irq_affinity(&[], None, &[2], false), Skip);
}

// ---- sysctls -----------------------------------------------------------------

#[test]
fn rt_unthrottled_is_dangerous_only_on_non_isolated_cores() {
    assert_status(&sysctl::check_sched_rt(Some("-1\n"), &[2, 3], &[2]), Warn);
    assert_status(
        &sysctl::check_sched_rt(Some("-1\n"), &[2, 3], &[2, 3]),
        Pass,
    );
    assert_status(&sysctl::check_sched_rt(Some("950000\n"), &[2], &[]), Pass);
    assert_status(&sysctl::check_sched_rt(None, &[2], &[]), Skip);
}

#[test]
fn timer_migration_on_warns() {
    assert_status(&sysctl::check_timer_migration(Some("1\n")), Warn);
    assert_status(&sysctl::check_timer_migration(Some("0\n")), Pass);
    assert_status(&sysctl::check_timer_migration(None), Skip);
}

#[test]
fn busy_polling_needs_both_knobs() {
    assert_status(&sysctl::check_busy_poll(Some("50"), Some("50")), Pass);
    let check = sysctl::check_busy_poll(Some("50"), Some("0"));
    assert_status(&check, Warn);
    assert!(fix(&check).contains("net.core.busy_read=50"));
    assert_status(&sysctl::check_busy_poll(None, None), Skip);
}

#[test]
fn small_listen_backlog_warns() {
    assert_status(&sysctl::check_somaxconn(Some("128\n")), Warn);
    assert_status(&sysctl::check_somaxconn(Some("4096\n")), Pass);
}

// ---- memory --------------------------------------------------------------------

#[test]
fn thp_selector_reads_the_bracketed_mode() {
    assert_eq!(
        memory::selected_mode("always [madvise] never\n"),
        Some("madvise")
    );
    assert_eq!(
        memory::selected_mode("always defer [defer+madvise] madvise never"),
        Some("defer+madvise")
    );
    assert_eq!(memory::selected_mode("no brackets"), None);
}

#[test]
fn thp_madvise_or_always_is_ok_never_warns() {
    assert_status(
        &memory::check_thp_enabled(Some("always [madvise] never")),
        Pass,
    );
    assert_status(
        &memory::check_thp_enabled(Some("[always] madvise never")),
        Pass,
    );
    assert_status(
        &memory::check_thp_enabled(Some("always madvise [never]")),
        Warn,
    );
    assert_status(&memory::check_thp_enabled(None), Skip);
}

#[test]
fn thp_defrag_always_warns() {
    let check = memory::check_thp_defrag(Some("[always] defer defer+madvise madvise never"));
    assert_status(&check, Warn);
    assert!(fix(&check).contains("defer+madvise"));
    assert_status(
        &memory::check_thp_defrag(Some("always defer [defer+madvise] madvise never")),
        Pass,
    );
}

const SWAPS_HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

#[test]
fn swap_with_high_swappiness_warns() {
    let swaps = format!(
        "{SWAPS_HEADER}/swapfile                               file\t\t2097148\t\t0\t\t-2\n"
    );
    assert_eq!(memory::active_swaps(&swaps), 1);
    assert_status(&memory::check_swap(Some(&swaps), Some("60\n")), Warn);
    assert_status(&memory::check_swap(Some(&swaps), Some("1\n")), Pass);
}

#[test]
fn no_swap_is_ok_whatever_the_swappiness() {
    assert_eq!(memory::active_swaps(SWAPS_HEADER), 0);
    assert_status(&memory::check_swap(Some(SWAPS_HEADER), Some("60")), Pass);
    assert_status(&memory::check_swap(None, Some("60")), Skip);
}

// ---- clocksource -----------------------------------------------------------------

#[test]
fn tsc_clocksource_is_ok() {
    assert_status(
        &clock::check_clocksource(Some("tsc\n"), Some("tsc hpet acpi_pm\n")),
        Pass,
    );
    assert_status(
        &clock::check_clocksource(Some("kvm-clock\n"), Some("kvm-clock tsc\n")),
        Pass,
    );
}

#[test]
fn slow_clocksource_warns_with_the_way_to_tsc() {
    let check = clock::check_clocksource(Some("hpet\n"), Some("tsc hpet acpi_pm\n"));
    assert_status(&check, Warn);
    assert!(fix(&check).contains("echo tsc >"));
    let check = clock::check_clocksource(Some("acpi_pm"), Some("hpet acpi_pm"));
    assert_status(&check, Warn);
    assert!(fix(&check).contains("tsc=reliable"));
    assert_status(&clock::check_clocksource(None, None), Skip);
}

// ---- journal ----------------------------------------------------------------------

#[test]
fn journal_dir_states_are_classified() {
    let dir = Path::new("/var/lib/tradsys");
    assert_status(
        &check_journal_dir(dir, &JournalDir::Directory { write: Ok(()) }),
        Pass,
    );
    let denied = check_journal_dir(
        dir,
        &JournalDir::Directory {
            write: Err("Permission denied".into()),
        },
    );
    assert_status(&denied, Fail);
    assert!(fix(&denied).contains("install -d -o tradsys"));
    assert_status(&check_journal_dir(dir, &JournalDir::NotADirectory), Fail);
    let creatable = JournalDir::Missing {
        ancestor: PathBuf::from("/var/lib"),
        ancestor_writable: true,
    };
    assert_status(&check_journal_dir(dir, &creatable), Pass);
    let stuck = JournalDir::Missing {
        ancestor: PathBuf::from("/var/lib"),
        ancestor_writable: false,
    };
    assert_status(&check_journal_dir(dir, &stuck), Fail);
}

fn space(avail_bytes: u64, fs_magic: u64) -> Option<FsSpace> {
    Some(FsSpace {
        avail_bytes,
        total_bytes: 500 * GIB,
        fs_magic,
    })
}

#[test]
fn journal_space_thresholds_and_filesystems() {
    let dir = Path::new("/var/lib/tradsys");
    const EXT4: u64 = 0xEF53;
    const TMPFS: u64 = 0x0102_1994;
    const OVERLAY: u64 = 0x794C_7630;
    assert_status(&check_journal_space(dir, space(100 * GIB, EXT4)), Pass);
    assert_status(&check_journal_space(dir, space(4 * GIB, EXT4)), Warn);
    assert_status(&check_journal_space(dir, space(512 * MIB, EXT4)), Fail);
    let tmpfs = check_journal_space(dir, space(100 * GIB, TMPFS));
    assert_status(&tmpfs, Warn);
    assert!(tmpfs.found.contains("tmpfs"));
    assert_status(&check_journal_space(dir, space(100 * GIB, OVERLAY)), Warn);
    assert_status(&check_journal_space(dir, None), Skip);
}

// ---- report -----------------------------------------------------------------------

fn sample_report() -> Report {
    Report::new(vec![
        Check::ok("kernel", "Linux 6.1.0"),
        Check::warn(
            "thp",
            "enabled=never",
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled",
        ),
        Check::skip("cpu_governor", "no cpufreq"),
    ])
}

#[test]
fn table_has_one_line_per_check_then_the_summary() {
    let table = sample_report().render_table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("ok    kernel "), "{}", lines[0]);
    assert!(lines[1].starts_with("warn  thp "), "{}", lines[1]);
    assert!(
        lines[1].ends_with("-> fix: echo madvise > /sys/kernel/mm/transparent_hugepage/enabled")
    );
    assert_eq!(lines[3], "doctor: 1 ok, 1 warn, 0 fail (1 skipped)");
}

#[test]
fn warnings_pass_failures_do_not() {
    assert!(sample_report().passed());
    let mut report = sample_report();
    report.checks.push(Check::fail(
        "io_uring",
        "EPERM",
        "sysctl -w kernel.io_uring_disabled=0",
    ));
    assert!(!report.passed());
    assert_eq!(
        report.summary_line(),
        "doctor: 1 ok, 1 warn, 1 fail (1 skipped)"
    );
}

#[test]
fn json_is_escaped_and_complete() {
    assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    let json = sample_report().render_json();
    assert!(json.starts_with("{\"checks\":[\n"));
    assert!(json.contains(
        "{\"name\":\"thp\",\"status\":\"warn\",\"found\":\"enabled=never\",\"fix\":\"echo madvise > /sys/kernel/mm/transparent_hugepage/enabled\"}"
    ));
    assert!(json.contains("\"fix\":null"));
    assert!(json
        .ends_with("\"summary\":{\"ok\":1,\"warn\":1,\"fail\":0,\"skip\":1},\"passed\":true}\n"));
}

/// Runs the real probes: whatever this host is, every check appears exactly
/// once, in order, and nothing panics. (Statuses are the host's business.)
#[test]
fn collect_reports_every_check_once_on_any_host() {
    let journal_dir =
        std::env::temp_dir().join(format!("tradsys-ops-doctor-{}", std::process::id()));
    let input = DoctorInput {
        cores: vec![0],
        journal_dir,
        io_memory_bytes: 4 << 20,
    };
    let report = tradsys::doctor::collect(&input);
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "kernel",
            "io_uring",
            "reactor",
            "memlock",
            "cores",
            "cpu_governor",
            "smt",
            "numa",
            "isolcpus",
            "nohz_full",
            "rcu_nocbs",
            "irq_affinity",
            "sched_rt",
            "timer_migration",
            "busy_poll",
            "somaxconn",
            "thp",
            "thp_defrag",
            "swap",
            "clocksource",
            "journal_dir",
            "journal_space",
        ]
    );
    assert!(
        !input.journal_dir.exists(),
        "the doctor must not create the journal dir"
    );
}
