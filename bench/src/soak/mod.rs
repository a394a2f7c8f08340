//! `tradsys-bench soak`: a seeded random schedule of faults against a real
//! gateway while many sessions trade, checked continuously, in the style of
//! TigerBeetle's Vortex.
//!
//! Faults (each printed with its time, so a run is replayed by its seed):
//! SIGKILL and an immediate restart; SIGSTOP for 0.1-3 s; the journal's disk
//! full for 1-4 s (RLIMIT_FSIZE lowered under the running gateway by
//! prlimit, then lifted); a sync failure (msync/fsync EIO through the
//! preloaded shim of `tests/fault/failmsync.c`), after which the gateway
//! must fail-stop with exit 3 and restart clean; a CPU hog (stress-ng, when
//! installed); an abrupt disconnect of the cancel-on-disconnect account.
//! Network partitions and loss need a network namespace and root; they are
//! in `tests/faults/env_faults.rs`, not in this schedule.
//!
//! Checked: after every stop of the gateway, the journal-replay oracle
//! (everything a client was told is in the journal, for the account it was
//! told to: nothing acknowledged lost, no cross-account leak, no fill
//! twice in the journal); in the sessions, no fill reported twice and
//! fills of a symbol in execution order; after each heal, requests are
//! answered again within 10 s; after a disconnect, the account's resting
//! orders are canceled; at the end, descriptors and memory back to their
//! baseline and a graceful stop exits 0. Exit status 1 if anything failed.

mod gateway;
mod oracle;
mod trader;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tradsys::client::{Client, Received};
use tradsys::protocol::OrderState;

use crate::rng::Rng;
use gateway::{GatewayProcess, ACCOUNTS, COD_ACCOUNT};
use trader::Shared;

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Seed of the fault schedule and the order flow (default: the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// How long to run.
    #[arg(long, default_value_t = 1.0)]
    minutes: f64,
    /// Trading sessions (over the 4 soak accounts).
    #[arg(long, default_value_t = 12)]
    sessions: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Fault {
    Kill,
    Pause,
    DiskFull,
    SyncFailure,
    CpuHog,
    Disconnect,
}

struct Run {
    config: PathBuf,
    shim: Option<PathBuf>,
    flag: PathBuf,
    shared: Arc<Shared>,
    gateway: Option<GatewayProcess>,
    /// Longest time from a heal to the next answered request.
    worst_recovery: Duration,
    restart_attempts: u32,
    records: u64,
    oracle_runs: u32,
}

impl Run {
    fn t(&self) -> f64 {
        self.shared.started.elapsed().as_secs_f64()
    }

    fn gateway(&self) -> &GatewayProcess {
        self.gateway.as_ref().expect("the gateway is up")
    }

    fn start(&mut self) {
        let (gateway, attempts) =
            GatewayProcess::start(&self.config, self.shim.as_deref(), &self.flag).unwrap_or_else(
                |log| {
                    self.shared
                        .problem(format!("the gateway did not restart within 10 s:\n{log}"));
                    panic!("soak: cannot go on without a gateway");
                },
            );
        if attempts > 1 {
            println!("  restart took {attempts} attempts");
        }
        self.restart_attempts += attempts - 1;
        *self.shared.addr.lock().unwrap() = Some(gateway.addr);
        self.gateway = Some(gateway);
    }

    /// The gateway is down: replay its journal and check what clients saw.
    fn check_oracle(&mut self) {
        *self.shared.addr.lock().unwrap() = None;
        let seen: HashSet<_> = std::mem::take(&mut *self.shared.seen.lock().unwrap());
        match oracle::replay(&self.config) {
            Ok(truth) => {
                self.oracle_runs += 1;
                self.records = truth.records;
                for problem in truth.problems.iter().cloned().chain(truth.check(&seen)) {
                    self.shared.problem(problem);
                }
            }
            Err(e) => self.shared.problem(format!("journal replay failed: {e}")),
        }
    }

    /// Requests are answered again within 10 s of a heal.
    fn await_service(&mut self, what: &str) {
        let healed = Instant::now();
        let before = self.shared.answered.load(Ordering::Relaxed);
        while self.shared.answered.load(Ordering::Relaxed) <= before + 10 {
            if healed.elapsed() > Duration::from_secs(10) {
                self.shared
                    .problem(format!("t={:.1}: no service 10 s after {what}", self.t()));
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.worst_recovery = self.worst_recovery.max(healed.elapsed());
    }

    fn apply(&mut self, fault: Fault, rng: &mut Rng) {
        match fault {
            Fault::Kill => {
                let log = self.gateway.take().unwrap().kill();
                let panics = log.iter().filter(|l| l.contains("panicked")).count();
                if panics > 0 {
                    self.shared
                        .problem(format!("gateway log has {panics} panics"));
                }
                self.check_oracle();
                self.start();
                self.await_service("a kill and restart");
            }
            Fault::Pause => {
                let ms = 100 + rng.below(2900);
                println!("  for {ms} ms");
                self.gateway().signal(libc::SIGSTOP);
                std::thread::sleep(Duration::from_millis(ms));
                self.gateway().signal(libc::SIGCONT);
                self.await_service("a pause");
            }
            Fault::DiskFull => {
                let ms = 1000 + rng.below(3000);
                println!("  for {ms} ms");
                self.gateway().set_file_size_limit(Some(1));
                std::thread::sleep(Duration::from_millis(ms));
                self.gateway().set_file_size_limit(None);
                self.await_service("a full disk got room");
            }
            Fault::SyncFailure => {
                std::fs::write(&self.flag, b"").unwrap();
                let gateway = self.gateway.take().unwrap();
                match gateway.wait_exit(Duration::from_secs(10)) {
                    Ok((status, log)) => {
                        if status.code() != Some(3) {
                            self.shared.problem(format!(
                                "after a sync failure the gateway exited {status:?}, not 3 (fail-stop)"
                            ));
                        }
                        if !log.iter().any(|l| l.contains("journal sync failed")) {
                            self.shared
                                .problem("fail-stop without naming the failed sync".into());
                        }
                    }
                    Err(gateway) => {
                        self.shared
                            .problem("the gateway kept running after a sync failure".into());
                        drop(gateway.kill());
                    }
                }
                std::fs::remove_file(&self.flag).unwrap();
                self.check_oracle();
                self.start();
                self.await_service("a fail-stop and restart");
            }
            Fault::CpuHog => {
                let secs = 2 + rng.below(3);
                println!("  for {secs} s");
                let hog = std::process::Command::new("stress-ng")
                    .args(["--cpu", "2", "--quiet", "--timeout"])
                    .arg(format!("{secs}s"))
                    .status();
                if hog.is_err() {
                    println!("  (stress-ng not installed: skipped)");
                }
                self.await_service("a CPU hog");
            }
            Fault::Disconnect => self.disconnect_cod(),
        }
    }

    /// The cancel-on-disconnect session drops its connection; each of its
    /// resting orders must be canceled within 10 s.
    fn disconnect_cod(&mut self) {
        *self.shared.cod_dropped.lock().unwrap() = None;
        self.shared.drop_cod.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(10);
        let orders = loop {
            if let Some(orders) = self.shared.cod_dropped.lock().unwrap().take() {
                break orders;
            }
            if Instant::now() > deadline {
                println!("  (the session was not connected: skipped)");
                self.shared.drop_cod.store(false, Ordering::Release);
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        println!("  {} orders resting", orders.len());
        let addr = self.gateway().addr;
        let Ok(mut probe) = Client::connect(addr) else {
            self.shared.problem("probe cannot connect".into());
            return;
        };
        let _ = probe.set_read_timeout(Some(Duration::from_secs(5)));
        let token = gateway::token(COD_ACCOUNT);
        if probe
            .logon(COD_ACCOUNT, token.as_bytes(), 1000, false)
            .is_err()
        {
            self.shared.problem("probe logon refused".into());
            return;
        }
        let mut request = 0;
        for (symbol, order_id) in orders {
            loop {
                request += 1;
                if probe.order_status(request, symbol, order_id).is_err() {
                    return self.shared.problem("probe connection lost".into());
                }
                let state = loop {
                    match probe.recv_skip_heartbeats() {
                        Ok(Received::OrderStatus(m)) => break m.state,
                        Ok(_) => continue,
                        Err(e) => return self.shared.problem(format!("probe: {e}")),
                    }
                };
                if state != OrderState::Open as u8 {
                    break;
                }
                if Instant::now() > deadline {
                    return self.shared.problem(format!(
                        "order {order_id} (symbol {symbol}) of the disconnected account still open 10 s later"
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = probe.logout();
    }
}

// TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
#[allow(clippy::too_many_lines)]
pub fn run(args: &SoakArgs) -> i32 {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!(
        "soak: seed {seed}, {} min, {} sessions",
        args.minutes, args.sessions
    );
    let scratch = std::env::temp_dir().join(format!("tradsys-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("create the soak directory");
    let shim = gateway::build_shim(&scratch);
    if shim.is_none() {
        println!("soak: no C compiler: sync failures are not in the schedule");
    }
    let mut run = Run {
        config: gateway::write_config(&scratch),
        shim,
        flag: scratch.join("fail-syncs"),
        shared: Arc::new(Shared::new()),
        gateway: None,
        worst_recovery: Duration::ZERO,
        restart_attempts: 0,
        records: 0,
        oracle_runs: 0,
    };
    run.start();
    let baseline_fds = run.gateway().open_fds();
    let baseline_rss = run.gateway().rss_kib();
    let traders: Vec<_> = (0..args.sessions)
        .map(|i| {
            let shared = Arc::clone(&run.shared);
            let account = ACCOUNTS[i % ACCOUNTS.len()];
            std::thread::spawn(move || trader::run(i, account, seed, &shared))
        })
        .collect();
    let mut rng = Rng::new(seed);
    let end = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
    let mut counts = std::collections::BTreeMap::new();
    while Instant::now() < end {
        let wait = Duration::from_millis(1500 + rng.below(3500));
        std::thread::sleep(wait.min(end.saturating_duration_since(Instant::now())));
        if Instant::now() >= end {
            break;
        }
        let fault = match rng.below(100) {
            0..=19 => Fault::Kill,
            20..=37 => Fault::Pause,
            38..=57 => Fault::DiskFull,
            58..=71 if run.shim.is_some() => Fault::SyncFailure,
            58..=71 => Fault::Kill,
            72..=81 => Fault::CpuHog,
            _ => Fault::Disconnect,
        };
        println!(
            "t={:.1}s {fault:?} (answered {}, refused {})",
            run.t(),
            run.shared.answered.load(Ordering::Relaxed),
            run.shared.refused_journal.load(Ordering::Relaxed)
        );
        *counts.entry(format!("{fault:?}")).or_insert(0u32) += 1;
        run.apply(fault, &mut rng);
    }

    // The end: sessions go, descriptors and memory come back, a graceful
    // stop exits 0, and the oracle checks the rest.
    run.shared.stop.store(true, Ordering::Release);
    for trader in traders {
        let _ = trader.join();
    }
    settle(&run, baseline_fds, baseline_rss);
    let (status, _) = run.gateway.take().unwrap().stop();
    if !status.success() {
        run.shared
            .problem(format!("graceful stop at the end exited {status:?}"));
    }
    run.check_oracle();
    let problems = run.shared.problems.lock().unwrap().clone();
    println!(
        "soak: seed {seed}: {:.0} s, faults {counts:?}, answered {}, journal refusals {}, reconnects {}, journal records {}, oracle runs {}, worst recovery {} ms, restart retries {}",
        run.t(),
        run.shared.answered.load(Ordering::Relaxed),
        run.shared.refused_journal.load(Ordering::Relaxed),
        run.shared.reconnects.load(Ordering::Relaxed),
        run.records,
        run.oracle_runs,
        run.worst_recovery.as_millis(),
        run.restart_attempts
    );
    let _ = std::fs::remove_dir_all(&scratch);
    if problems.is_empty() {
        println!("soak: PASS");
        0
    } else {
        println!("soak: FAIL: {} problems (seed {seed})", problems.len());
        for p in problems.iter().take(20) {
            println!("  {p}");
        }
        1
    }
}

/// Descriptors back to baseline + 2 and RSS within 64 MiB of its baseline,
/// each within 12 s (the gateway trims freed memory every 5 s).
fn settle(run: &Run, baseline_fds: usize, baseline_rss: u64) {
    let deadline = Instant::now() + Duration::from_secs(12);
    let gateway = run.gateway();
    loop {
        let (fds, rss) = (gateway.open_fds(), gateway.rss_kib());
        if fds <= baseline_fds + 2 && rss <= baseline_rss + 64 * 1024 {
            println!("soak: settled: fds {fds} (baseline {baseline_fds}), rss {rss} KiB (baseline {baseline_rss})");
            return;
        }
        if Instant::now() > deadline {
            run.shared.problem(format!(
                "not back to baseline 12 s after the sessions closed: fds {fds} (baseline {baseline_fds}), rss {rss} KiB (baseline {baseline_rss})"
            ));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
