//! The doctor's memlock figure against the kernel: the real gateway,
//! started as an unprivileged user (no CAP_IPC_LOCK, so the kernel charges
//! the rings to RLIMIT_MEMLOCK), starts with exactly the limit
//! `memlock_needed_bytes` asks for, and with half of it refuses to start
//! with exit 1 and a message that names RLIMIT_MEMLOCK, not the kernel
//! version. The kernel counts locked memory per user and frees a ring's
//! after its process is gone, so each start runs as a user id of its own
//! that nothing else uses (no passwd entry needed). Needs root (to switch
//! users); without it the test says so and skips.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use tradsys::doctor::memlock::memlock_needed_bytes;

const SHARDS: usize = 2;
const IO_MEMORY_BYTES: u64 = 4 << 20;

fn config(dir: &Path) -> String {
    format!(
        r#"
[server]
order_entry = "127.0.0.1:0"
market_data = "127.0.0.1:0"
admin = "127.0.0.1:0"
cores = [0, 1]
idle = "park"
io_memory_bytes = {IO_MEMORY_BYTES}

[journal]
dir = "{}"
segment_bytes = 262144

[[symbols]]
id = 1
name = "BTC-USD"
tick_size = 1
lot_size = 1
reference_price = 10000
price_band_bps = 1000

[[accounts]]
id = 1
name = "alice"
token = "alice-token"
role = "trader"
cancel_on_disconnect = false
default_stp = "cancel_resting"
max_order_qty = 1000
max_order_notional = 100000000
max_open_orders = 100
max_position = 1000
"#,
        dir.join("journal").display()
    )
}

/// What the gateway did as user `uid` under `limit`, on a fresh directory:
/// `Ok(())` when it reported ready (it is then stopped), `Err((exit code,
/// stderr))` when it exited.
fn start_as(uid: u32, limit: u64) -> Result<(), (Option<i32>, String)> {
    let dir = std::env::temp_dir().join(format!("tradsys-memlock-{}-{uid}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tradsys.toml"), config(&dir)).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();
    let outcome = run_as(uid, limit, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
    outcome
}

fn run_as(uid: u32, limit: u64, dir: &Path) -> Result<(), (Option<i32>, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradsys"));
    child
        .args(["serve", "--config"])
        .arg(dir.join("tradsys.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec. Giving
    // up root drops every capability, CAP_IPC_LOCK with them.
    unsafe {
        child.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlimit) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = child.spawn().expect("start tradsys");
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if line.contains(" ready ") {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            child.wait().unwrap();
            return Ok(());
        }
        log.push_str(&line);
        log.push('\n');
    }
    Err((child.wait().unwrap().code(), log))
}

#[test]
fn the_gateway_starts_at_the_memlock_the_doctor_asks_for_and_not_at_half() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root to start the gateway as an unprivileged user");
        return;
    }
    // Unused user ids, one per start, different in each run of the test.
    let uid = 200_000 + (std::process::id() % 100_000) * 2;
    let needed = memlock_needed_bytes(SHARDS, IO_MEMORY_BYTES);

    let refused = start_as(uid, needed / 2);
    let (code, log) = refused.expect_err("started with half the memlock the doctor asks for");
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("RLIMIT_MEMLOCK"), "{log}");

    let started = start_as(uid + 1, needed);
    if let Err((code, log)) = started {
        panic!("refused at the {needed} bytes the doctor asks for: exit {code:?}\n{log}");
    }
}
