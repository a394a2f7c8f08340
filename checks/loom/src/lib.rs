//! loom model checks of the gateway's lock-free cross-shard protocols, the
//! analogue of the Disruptor's jcstress tests. loom runs a test's closure
//! once for every interleaving of its threads (and every value a weak
//! memory model lets a load return), up to a bound on preemptions.
//!
//! The code under test is the gateway's own: the modules below are
//! `src/shard/park.rs` and `src/shard/quiescence.rs`, included by path, and
//! under `--cfg loom` they take their atomics from loom. The ring is
//! rtrb's, which cannot run under loom (it uses `core` atomics), so
//! [`spsc`] models its protocol line for line over loom atomics.
//!
//! Run (`-p` keeps `--cfg loom` away from the gateway and its dependencies,
//! some of which, crossbeam-utils for one, have `cfg(loom)` code that
//! expects loom as their own dependency; the `loom` profile builds into its
//! own directory, target/loom, so the flag never mixes with another build):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p tradsys-loom-checks --profile loom
//! ```
//!
//! Without `--cfg loom` the crate builds the two modules over std atomics
//! and runs nothing.

#[path = "../../../src/shard/park.rs"]
pub mod park;
#[path = "../../../src/shard/quiescence.rs"]
pub mod quiescence;
#[cfg(loom)]
pub mod spsc;

/// A loom model builder with the environment's settings
/// (`LOOM_MAX_PREEMPTIONS`, ...) but at most `max_preemptions` preemptions:
/// for models too big for more in CI's time, or (the doorbell) where loom
/// itself reports a false lost wake-up with more (see `tests/doorbell.rs`).
#[cfg(loom)]
pub fn builder(max_preemptions: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(max_preemptions);
    builder.preemption_bound = Some(bound.min(max_preemptions));
    builder
}

/// Runs `test`, an `#[ignore]`d test of this test binary that model-checks a
/// protocol broken on purpose, in a child process (loom cannot always
/// unwind cleanly from a deadlock it found, so `should_panic` would abort
/// the whole binary), and asserts that loom failed it with `expected` in
/// its message. Returns loom's message, which is printed as well.
#[cfg(loom)]
pub fn expect_model_failure(test: &str, expected: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "loom did not find the broken protocol in {test}:\n{stdout}\n{stderr}"
    );
    let found: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|line| line.contains(expected))
        .collect();
    assert!(
        !found.is_empty(),
        "{test} failed, but not with {expected:?}:\n{stdout}\n{stderr}"
    );
    let message = found.join("\n");
    println!("{test}: loom found it: {message}");
    message
}
