//! `tradsys doctor`: what on this host is not ready for low-latency
//! operation, and the exact command or kernel parameter that fixes it.
//!
//! Each module owns one concern and exposes pure `check_*` functions over
//! file contents (testable with fixtures, see `tests/ops/doctor.rs`) plus a
//! `probe` that reads this host through [`host`]:
//!
//! - `uring`: kernel version, `io_uring_setup` really works.
//! - `reactor`: a shard's ring (its flags, opcodes and buffer ring) works.
//! - `memlock`: RLIMIT_MEMLOCK against what the shards' io_uring rings lock.
//! - `cpu`: shard cores exist, are online and allowed; governor; SMT; NUMA.
//! - `isolation`: isolcpus, nohz_full, rcu_nocbs.
//! - `irq`: interrupts kept off the shard cores.
//! - `sysctl`: RT throttling, timer migration, busy polling, somaxconn.
//! - `memory`: transparent huge pages, swap.
//! - `clock`: the clocksource behind every timestamp.
//! - `journal`: the journal directory is writable and has room.
//!
//! The doctor only reads, except for one probe file it creates and removes
//! in the journal directory, one 4-entry io_uring and one shard ring it
//! opens and closes.

pub mod check;
pub mod clock;
pub mod cpu;
pub mod cpulist;
pub mod host;
pub mod irq;
pub mod isolation;
pub mod journal;
pub mod memlock;
pub mod memory;
pub mod reactor;
pub mod report;
pub mod sysctl;
pub mod uring;

use std::path::PathBuf;
use std::process::ExitCode;

pub use check::{Check, Status};
pub use report::Report;

/// What the doctor needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorInput {
    /// `[server] cores`: one pinned shard per core.
    pub cores: Vec<usize>,
    /// `[journal] dir`.
    pub journal_dir: PathBuf,
    /// `[server] io_memory_bytes`: what each shard registers with io_uring.
    pub io_memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Runs every check against this host, in the order an operator fixes
/// things: can it start at all, then the cores, then the tail latency.
pub fn collect(input: &DoctorInput) -> Report {
    let mut cores = input.cores.clone();
    cores.sort_unstable();
    cores.dedup();

    let (isolation_checks, isolated) = isolation::probe(&cores);
    let mut checks = uring::probe();
    checks.push(reactor::probe());
    checks.push(memlock::probe(cores.len(), input.io_memory_bytes));
    checks.extend(cpu::probe(&cores, &isolated));
    checks.extend(isolation_checks);
    checks.push(irq::probe(&cores));
    checks.extend(sysctl::probe(&cores, &isolated));
    checks.extend(memory::probe());
    checks.push(clock::probe());
    checks.extend(journal::probe(&input.journal_dir));
    Report::new(checks)
}

/// `tradsys doctor`: prints the report to stdout; exit 0 when no check
/// failed, 1 otherwise.
pub fn run(input: &DoctorInput, format: Format) -> ExitCode {
    let report = collect(input);
    match format {
        Format::Table => {
            println!(
                "tradsys doctor: shard cores {}, journal {}",
                cpulist::format_cpu_list(&input.cores),
                input.journal_dir.display()
            );
            print!("{}", report.render_table());
        }
        Format::Json => print!("{}", report.render_json()),
    }
    report.exit_code()
}
