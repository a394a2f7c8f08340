//! tuning/apply.sh and tuning/check.sh against a fake /proc and /sys tree
//! (`--root`): what they change, what they leave alone, and that a second
//! run changes nothing. The real host is never touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const APPLY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/apply.sh");
const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/check.sh");

/// A 4-cpu host as the kernel shows it before tuning.
const UNTUNED: &[(&str, &str)] = &[
    ("sys/devices/system/cpu/online", "0-3"),
    (
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
        "powersave",
    ),
    (
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "powersave",
    ),
    (
        "sys/devices/system/cpu/cpu2/cpufreq/scaling_governor",
        "powersave",
    ),
    (
        "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor",
        "schedutil",
    ),
    (
        "sys/kernel/mm/transparent_hugepage/enabled",
        "always madvise [never]",
    ),
    (
        "sys/kernel/mm/transparent_hugepage/defrag",
        "[always] defer defer+madvise madvise never",
    ),
    ("sys/devices/virtual/workqueue/cpumask", "f"),
    ("proc/sys/vm/swappiness", "60"),
    ("proc/sys/kernel/timer_migration", "1"),
    ("proc/sys/kernel/sched_rt_runtime_us", "950000"),
    ("proc/sys/net/core/busy_poll", "0"),
    ("proc/sys/net/core/busy_read", "0"),
    ("proc/sys/net/core/somaxconn", "128"),
    ("proc/irq/default_smp_affinity", "f"),
    ("proc/irq/24/smp_affinity_list", "0-3"),
    ("proc/irq/25/smp_affinity_list", "0"),
    ("proc/irq/26/smp_affinity_list", "3"),
    (
        "proc/cmdline",
        "BOOT_IMAGE=/vmlinuz ro isolcpus=managed_irq,domain,2-3 quiet",
    ),
];

struct FakeHost {
    root: PathBuf,
}

impl FakeHost {
    fn new(files: &[(&str, &str)]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "tradsys-ops-tuning-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        for (path, contents) in files {
            let file = root.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, format!("{contents}\n")).unwrap();
        }
        FakeHost { root }
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.root.join(path))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn write(&self, path: &str, contents: &str) {
        fs::write(self.root.join(path), format!("{contents}\n")).unwrap();
    }

    fn snapshot(&self) -> Vec<(String, String)> {
        UNTUNED
            .iter()
            .map(|(path, _)| (path.to_string(), self.read(path)))
            .collect()
    }

    fn run(&self, script: &str, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(script)
            .args(args)
            .arg("--root")
            .arg(&self.root)
            .env_remove("TRADSYS_CORES")
            .env_remove("TRADSYS_CONFIG")
            .env_remove("TRADSYS_TUNING_ROOT")
            .output()
            .expect("bash runs")
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

#[test]
fn dry_run_writes_nothing_and_lists_every_planned_change() {
    let host = FakeHost::new(UNTUNED);
    let before = host.snapshot();
    let output = host.run(APPLY, &["--cores", "2-3", "--dry-run"]);
    assert_success(&output);
    assert_eq!(host.snapshot(), before);
    let out = stdout(&output);
    for planned in [
        "would    /sys/devices/system/cpu/cpu2/cpufreq/scaling_governor: powersave -> performance",
        "would    /sys/kernel/mm/transparent_hugepage/enabled: always madvise [never] -> madvise",
        "would    /proc/sys/vm/swappiness: 60 -> 1",
        "would    /proc/sys/net/core/somaxconn: 128 -> 4096",
        "would    /proc/irq/default_smp_affinity: f -> 00000003",
        "would    /proc/irq/24/smp_affinity_list: 0-3 -> 0,1",
        "tuning: 0 changed, 0 failed (dry run: nothing written)",
    ] {
        assert!(out.contains(planned), "missing `{planned}` in:\n{out}");
    }
    assert!(
        !out.contains("/proc/irq/25/"),
        "IRQ 25 is already off the shard cores:\n{out}"
    );
}

#[test]
fn apply_tunes_shard_cores_and_moves_their_irqs_to_housekeeping() {
    let host = FakeHost::new(UNTUNED);
    assert_success(&host.run(APPLY, &["--cores", "2-3"]));

    assert_eq!(
        host.read("sys/devices/system/cpu/cpu2/cpufreq/scaling_governor"),
        "performance"
    );
    assert_eq!(
        host.read("sys/devices/system/cpu/cpu3/cpufreq/scaling_governor"),
        "performance"
    );
    assert_eq!(
        host.read("sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "powersave"
    );
    assert_eq!(
        host.read("sys/kernel/mm/transparent_hugepage/enabled"),
        "madvise"
    );
    assert_eq!(
        host.read("sys/kernel/mm/transparent_hugepage/defrag"),
        "defer+madvise"
    );
    assert_eq!(host.read("proc/sys/vm/swappiness"), "1");
    assert_eq!(host.read("proc/sys/kernel/timer_migration"), "0");
    assert_eq!(host.read("proc/sys/net/core/busy_poll"), "50");
    assert_eq!(host.read("proc/sys/net/core/busy_read"), "50");
    assert_eq!(host.read("proc/sys/net/core/somaxconn"), "4096");
    assert_eq!(
        host.read("sys/devices/virtual/workqueue/cpumask"),
        "00000003"
    );
    assert_eq!(host.read("proc/irq/default_smp_affinity"), "00000003");
    assert_eq!(host.read("proc/irq/24/smp_affinity_list"), "0,1");
    assert_eq!(host.read("proc/irq/25/smp_affinity_list"), "0");
    assert_eq!(host.read("proc/irq/26/smp_affinity_list"), "0,1");
    // RT throttling is only lifted on request.
    assert_eq!(host.read("proc/sys/kernel/sched_rt_runtime_us"), "950000");
}

#[test]
fn second_run_changes_nothing() {
    let host = FakeHost::new(UNTUNED);
    assert_success(&host.run(APPLY, &["--cores", "2-3"]));
    let after_first = host.snapshot();
    let second = host.run(APPLY, &["--cores", "2-3"]);
    assert_success(&second);
    assert_eq!(host.snapshot(), after_first);
    let out = stdout(&second);
    assert!(out.contains("tuning: 0 changed, 0 failed"), "{out}");
    assert!(!out.contains("set "), "{out}");
}

#[test]
fn somaxconn_is_raised_never_lowered() {
    let host = FakeHost::new(UNTUNED);
    host.write("proc/sys/net/core/somaxconn", "65535");
    assert_success(&host.run(APPLY, &["--cores", "2-3"]));
    assert_eq!(host.read("proc/sys/net/core/somaxconn"), "65535");
}

#[test]
fn rt_unthrottle_is_opt_in() {
    let host = FakeHost::new(UNTUNED);
    assert_success(&host.run(APPLY, &["--cores", "2-3", "--rt-unthrottle"]));
    assert_eq!(host.read("proc/sys/kernel/sched_rt_runtime_us"), "-1");
}

#[test]
fn explicit_housekeeping_and_busy_poll_are_honoured() {
    let host = FakeHost::new(UNTUNED);
    let args = ["--cores", "2-3", "--housekeeping", "0", "--busy-poll", "20"];
    assert_success(&host.run(APPLY, &args));
    assert_eq!(host.read("proc/irq/24/smp_affinity_list"), "0");
    assert_eq!(host.read("proc/irq/default_smp_affinity"), "00000001");
    assert_eq!(host.read("proc/sys/net/core/busy_poll"), "20");
}

#[test]
fn cores_are_read_from_the_server_table_of_the_config() {
    let host = FakeHost::new(UNTUNED);
    let config = host.root.join("tradsys.toml");
    fs::write(
        &config,
        "[server]\norder_entry = \"127.0.0.1:7001\"\ncores = [2, 3] # shards\n\n[other]\ncores = [0]\n",
    )
    .unwrap();
    let output = host.run(APPLY, &["--config", config.to_str().unwrap(), "--dry-run"]);
    assert_success(&output);
    assert!(
        stdout(&output).starts_with("tradsys tuning: shard cores 2,3, housekeeping 0,1 (dry run)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn absent_knobs_are_skipped_not_failed() {
    let without_cpufreq: Vec<(&str, &str)> = UNTUNED
        .iter()
        .copied()
        .filter(|(path, _)| !path.contains("cpufreq") && !path.contains("busy_"))
        .collect();
    let host = FakeHost::new(&without_cpufreq);
    let output = host.run(APPLY, &["--cores", "2-3"]);
    assert_success(&output);
    let out = stdout(&output);
    assert!(
        out.contains("skip     /sys/devices/system/cpu/cpu2/cpufreq/scaling_governor absent"),
        "{out}"
    );
    assert!(
        out.contains("skip     /proc/sys/net/core/busy_poll absent"),
        "{out}"
    );
}

#[test]
fn refuses_to_leave_no_housekeeping_core() {
    let host = FakeHost::new(UNTUNED);
    let output = host.run(APPLY, &["--cores", "0-3", "--dry-run"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no housekeeping core"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn refuses_offline_shard_cores_and_missing_cores() {
    let host = FakeHost::new(UNTUNED);
    let offline = host.run(APPLY, &["--cores", "7", "--dry-run"]);
    assert_eq!(offline.status.code(), Some(2));
    assert!(stderr(&offline).contains("shard core 7 is not online"));
    let unknown = host.run(APPLY, &["--dry-run"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("--cores LIST or --config FILE"));
    // Housekeeping cores must be online too: IRQs and kernel work moved to
    // a core the host lacks (a hostile pass planned every IRQ onto 7 on a
    // 4-cpu host).
    let housekeeping = host.run(APPLY, &["--cores", "1", "--housekeeping", "7", "--dry-run"]);
    assert_eq!(
        housekeeping.status.code(),
        Some(2),
        "{}",
        stdout(&housekeeping)
    );
    assert!(
        stderr(&housekeeping).contains("housekeeping core 7 is not online"),
        "{}",
        stderr(&housekeeping)
    );
}

#[test]
fn check_only_reads_and_names_irqs_on_shard_cores() {
    let host = FakeHost::new(UNTUNED);
    let before = host.snapshot();
    let output = host.run(CHECK, &["--cores", "2-3"]);
    assert_success(&output);
    assert_eq!(host.snapshot(), before);
    let out = stdout(&output);
    for line in [
        "shard_cores                  2,3",
        "cmdline.isolcpus             managed_irq,domain,2-3",
        "cmdline.nohz_full            (unset)",
        "cpu3.governor                schedutil",
        "vm.swappiness                60",
        "kernel.io_uring_disabled     (absent)",
        "irqs                         3, 2 may fire on shard cores (24 26)",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
}

#[test]
fn scripts_are_strict_bash() {
    for script in [APPLY, CHECK] {
        let text = fs::read_to_string(script).unwrap();
        assert!(text.starts_with("#!/usr/bin/env bash\n"), "{script}");
        assert!(text.contains("\nset -euo pipefail\n"), "{script}");
        assert!(Path::new(script).exists());
    }
}
