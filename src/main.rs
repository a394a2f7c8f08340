//! The `tradsys` binary: `serve` runs the gateway, `check-config` validates
//! a configuration file, `default-config` prints the embedded one, `doctor`
//! checks the host, `journal verify|dump|stats` reads a journal, and
//! `admin ...` calls a running gateway's admin endpoint.

// Code health (ARCHITECTURE.md): every `unsafe` block and impl says why it
// is sound in a `// SAFETY:` comment, and an `unsafe fn` spells out its own
// unsafe operations.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
// Functions stay under clippy.toml's too-many-lines-threshold (70); the
// longer ones of today carry an allow and a TODO(issue 10), and
// tests/tidy.rs keeps that list from growing.
#![warn(clippy::too_many_lines)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tradsys::config::{Config, DEFAULT_TOML};
use tradsys::server::{Server, StartOptions};

#[derive(Parser)]
#[command(
    name = "tradsys",
    version = tradsys::VERSION,
    about = "Thread-per-core io_uring trading gateway"
)]
struct Cli {
    /// Log line format on stderr: `text` (default) or `json` (one JSON
    /// object per line, for log shippers). Also TRADSYS_LOG_FORMAT.
    #[arg(long, global = true, env = "TRADSYS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded demo configuration without --config).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// If a journal is corrupt in the middle, cut it there (the damaged
        /// and later segments are kept as *.corrupt) instead of refusing to
        /// start. Everything after the damage is lost: use after `tradsys
        /// journal verify` and a decision.
        #[arg(long)]
        truncate_corrupt_journal: bool,
    },
    /// Follow a primary: consume its journal from NATS JetStream
    /// (`[replication]`) into identical engines and a local journal under
    /// this config's journal.dir (a promotion is `serve` on it); publish
    /// drop copy. Exit 5 if the replica can no longer equal the primary,
    /// 1 if it cannot start (relay port taken, journal held elsewhere).
    Follow {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Journal tools: verify (read-only check), dump (JSON lines), stats.
    Journal {
        #[arg(value_parser = ["verify", "dump", "stats"])]
        action: String,
        /// The journal directory (all shards) or one shard's directory.
        dir: PathBuf,
    },
    /// Validate a configuration file (the embedded default without
    /// --config) and that its cores exist here; print its shard layout.
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the embedded default configuration.
    DefaultConfig,
    /// Call the admin endpoint of a running gateway: health, ready,
    /// metrics, stats, latency, and the operator controls (halt, resume,
    /// kill, unkill, reference-price, end-of-day; token from
    /// TRADSYS_ADMIN_TOKEN or --token-file).
    Admin(tradsys::admin::cli::AdminArgs),
    /// Check this host for low-latency operation; exit 1 if a check fails.
    Doctor {
        /// The configuration whose cores and journal to check (the embedded
        /// default without it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// Log lines on stderr, `text` or `json` (`--log-format`), filtered by
/// `RUST_LOG` (default `info`).
fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        logs.json().flatten_event(true).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    match cli.command {
        Command::Serve {
            config,
            truncate_corrupt_journal,
        } => serve(
            config,
            StartOptions {
                truncate_corrupt_journal,
            },
        ),
        Command::Follow { config } => follow(config.as_deref()),
        Command::Journal { action, dir } => tradsys::journal::run_cli(&action, &dir),
        Command::CheckConfig { config: path } => match Config::load(path.as_deref()) {
            Ok(config) => {
                describe(&config, false);
                let which = path.map_or("the embedded default".to_string(), |p| {
                    p.display().to_string()
                });
                match tradsys::server::check_cores(&config) {
                    Ok(()) => {
                        println!("config ok: {which}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{which}: valid, but not runnable on this host: {e}");
                        ExitCode::from(2)
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Admin(args) => tradsys::admin::cli::run(&args),
        Command::DefaultConfig => {
            print!("{DEFAULT_TOML}");
            ExitCode::SUCCESS
        }
        Command::Doctor { config, json } => match Config::load(config.as_deref()) {
            Ok(config) => {
                let input = tradsys::doctor::DoctorInput {
                    cores: config.server.cores.clone(),
                    journal_dir: config.journal.dir.clone(),
                    io_memory_bytes: config.server.io_memory_bytes as u64,
                };
                let format = if json {
                    tradsys::doctor::Format::Json
                } else {
                    tradsys::doctor::Format::Table
                };
                tradsys::doctor::run(&input, format)
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Logs the layout: shards, cores, symbols per shard, accounts.
fn describe(config: &Config, print_demo_tokens: bool) {
    for (shard, core) in config.server.cores.iter().enumerate() {
        let symbols: Vec<&str> = config
            .symbols
            .iter()
            .filter(|s| config.owner_shard(s) == shard)
            .map(|s| s.name.as_str())
            .collect();
        let listeners = config.listeners(shard);
        tracing::info!(
            shard,
            core,
            ?symbols,
            order_entry = listeners.order_entry,
            market_data = listeners.market_data,
            "shard layout"
        );
    }
    for account in &config.accounts {
        if print_demo_tokens {
            // Only for the embedded demo config: its tokens are public.
            tracing::info!(account = account.id, name = %account.name, role = ?account.role, token = %account.token, "demo account");
        } else {
            tracing::info!(account = account.id, name = %account.name, role = ?account.role, "account");
        }
    }
}

/// Signals that by default end a process but must not end this one:
/// SIGHUP (a reload, by convention, or a closed terminal) and the user
/// signals. There is no reload; a stray one is logged and ignored
/// (docs/OPERATIONS.md, "Signals").
const IGNORED_SIGNALS: [i32; 3] = [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];

/// Blocks SIGINT, SIGTERM and the [`IGNORED_SIGNALS`] in every thread (the
/// shards inherit the mask) so that only `sigwait` here receives them.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM]
            .into_iter()
            .chain(IGNORED_SIGNALS)
        {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// `tradsys follow`: a config error exits 2, like `serve`.
fn follow(path: Option<&std::path::Path>) -> ExitCode {
    match Config::load(path) {
        Ok(config) => tradsys::replication::follower::run_cli(&config),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn serve(path: Option<PathBuf>, options: StartOptions) -> ExitCode {
    let config = match Config::load(path.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let signals = block_stop_signals();
    // A journal segment that would pass RLIMIT_FSIZE must fail with EFBIG
    // (the journal then refuses orders with JournalUnavailable), not kill
    // the gateway with SIGXFSZ.
    // SAFETY: setting a signal's disposition to ignore.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    tracing::info!(
        version = tradsys::VERSION,
        pid = std::process::id(),
        "tradsys starting"
    );
    describe(&config, path.is_none());
    let server_cfg = config.server.clone();
    let server = match Server::start_with(config, options) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        order_entry = %server.order_entry_addr(),
        market_data = %server.market_data_addr(),
        admin = %server.admin_addr().map_or("-".to_string(), |a| a.to_string()),
        shards = server_cfg.cores.len(),
        cores = ?server_cfg.cores,
        idle = ?server_cfg.idle,
        "ready"
    );
    let signal = wait_for_stop(&signals, &server);
    match signal {
        Some(signal) => tracing::info!(signal, "stop requested: draining"),
        None => tracing::error!("fail-stop: draining"),
    }
    let shared = std::sync::Arc::clone(server.shared());
    server.shutdown();
    let joined = server.join();
    if let Some(why) = shared.fail_stop_reason() {
        // Exit 3: the gateway stopped itself because it could no longer
        // keep its promise (docs/OPERATIONS.md, "Fail-stop").
        tracing::error!(reason = why, "stopped: journal failure");
        eprintln!("tradsys stopped: journal failure: {why}");
        return ExitCode::from(3);
    }
    match joined {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Waits for SIGINT/SIGTERM (returns it; the [`IGNORED_SIGNALS`] are
/// logged) or for a shard to begin a
/// fail-stop (returns `None`), checking the latter every 50 ms. Meanwhile,
/// housekeeping of this (unpinned) thread: gives freed heap memory back to
/// the OS every few seconds.
fn wait_for_stop(signals: &libc::sigset_t, server: &Server) -> Option<i32> {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 50_000_000,
    };
    let mut last_trim = std::time::Instant::now();
    loop {
        // SAFETY: waits on the blocked set built by block_stop_signals;
        // no siginfo is asked for.
        let signal = unsafe { libc::sigtimedwait(signals, std::ptr::null_mut(), &timeout) };
        if IGNORED_SIGNALS.contains(&signal) {
            tracing::warn!(
                signal,
                "signal ignored: there is no reload (restart to apply a config change; SIGTERM or SIGINT stops)"
            );
            continue;
        }
        if signal > 0 {
            debug_assert!(signal == libc::SIGINT || signal == libc::SIGTERM);
            return Some(signal);
        }
        if server.shared().shutting_down() {
            return None;
        }
        if last_trim.elapsed() >= tradsys::server::MEMORY_TRIM_INTERVAL {
            last_trim = std::time::Instant::now();
            tradsys::server::trim_freed_memory();
        }
    }
}
