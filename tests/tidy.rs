//! Tidy checks, rust-analyzer's `tidy.rs` habit: rules about the source
//! text itself that keep today's good habits from eroding, run by `cargo
//! test` like any other test. Each test names the rule, reads the files,
//! and lists every place that breaks it (file:line), so a failure says what
//! to fix. The rules (ARCHITECTURE.md, "Code health"):
//!
//! - every `.rs` file under `src/` and `bench/src/` opens with a `//!`
//!   comment that says what the module is for;
//! - `src/engine/` imports nothing from the rest of the crate: its only
//!   `crate::` paths are `crate::engine::...`, it has no `super::super`, and
//!   `engine/mod.rs` has no top-level `super::` (both reach past the
//!   engine); the engine stays a leaf that can be tested, replayed and
//!   benchmarked alone;
//! - every `unsafe {` block and `unsafe impl` in `src/` and `bench/src/`
//!   has a `// SAFETY:` comment whose block ends within the 3 lines above
//!   it (clippy's `undocumented_unsafe_blocks` checks the same at build
//!   time; this also covers code behind a `cfg` clippy did not compile);
//! - the crate roots keep the lints that hold these rules
//!   (`undocumented_unsafe_blocks`, `unsafe_op_in_unsafe_fn`,
//!   `too_many_lines`);
//! - the functions allowed over `too_many_lines` are exactly the ones
//!   listed below: a new long function fails (split it), and a function
//!   split below the limit must leave the list, so the list only shrinks.

use std::fs;
use std::path::{Path, PathBuf};

/// The functions over clippy.toml's `too-many-lines-threshold` (70) when
/// the lint was turned on, each with `#[allow(clippy::too_many_lines)]` and
/// a `TODO(issue 10): split`. Remove an entry with its allow; never add one.
const LONG_FUNCTIONS_ALLOWED: &[&str] = &[
    "bench/src/load.rs queue",
    "bench/src/load.rs run_thread",
    "bench/src/report_bench.rs run",
    "bench/src/soak/mod.rs run",
    "bench/src/soak/trader.rs await_answer",
    "src/doctor/cpu.rs check_cores",
    "src/engine/matcher.rs accept_new",
    "src/engine/matcher.rs apply_replace",
    "src/engine/matcher.rs match_incoming",
    "src/engine/matcher.rs new",
    "src/journal/codec.rs decode",
    "src/journal/codec.rs encode",
    "src/journal/recovery.rs open",
    "src/journal/tools.rs walk_shard",
    "src/protocol/encode.rs from_event",
    "src/server.rs start_with",
];

/// The lints every crate root (`src/lib.rs`, `src/main.rs`,
/// `bench/src/main.rs`) sets.
const ROOT_LINTS: &[&str] = &[
    "#![deny(clippy::undocumented_unsafe_blocks)]",
    "#![deny(unsafe_op_in_unsafe_fn)]",
    "#![warn(clippy::too_many_lines)]",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` (relative to the repository), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(dir), &mut files);
    assert!(!files.is_empty(), "no .rs file under {dir}");
    files.sort();
    files
}

/// `(path relative to the repository, text)` of every source file the
/// rules cover.
fn sources() -> Vec<(String, String)> {
    ["src", "bench/src"]
        .iter()
        .flat_map(|dir| rust_files(dir))
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let relative = path.strip_prefix(root()).unwrap();
            (relative.to_string_lossy().into_owned(), text)
        })
        .collect()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

fn report(rule: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{rule}; {} violation(s):\n  {}",
        violations.len(),
        violations.join("\n  ")
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc_comment() {
    let violations: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(path, _)| format!("{path}:1"))
        .collect();
    report(
        "every .rs file under src/ and bench/src/ opens with a `//!` comment",
        &violations,
    );
}

#[test]
fn the_engine_imports_nothing_from_the_rest_of_the_crate() {
    let mut violations = Vec::new();
    for (path, text) in sources() {
        if !path.starts_with("src/engine/") {
            continue;
        }
        let is_mod_rs = path == "src/engine/mod.rs";
        for (i, line) in text.lines().enumerate() {
            if is_comment(line) {
                continue;
            }
            let at = format!("{path}:{}: {}", i + 1, line.trim());
            let escapes = line.match_indices("crate::").any(|(start, _)| {
                let rest = &line[start + "crate::".len()..];
                let after = rest.strip_prefix("engine").and_then(|r| r.chars().next());
                !matches!(after, Some(c) if !c.is_alphanumeric() && c != '_')
            });
            let top_level_super = is_mod_rs && line.starts_with("use super::");
            if escapes || line.contains("super::super") || top_level_super {
                violations.push(at);
            }
        }
    }
    report(
        "src/engine/ uses no crate:: path but crate::engine::..., no super::super, \
         and engine/mod.rs no top-level super::",
        &violations,
    );
}

#[test]
fn every_unsafe_block_and_impl_has_a_safety_comment() {
    let mut violations = Vec::new();
    let mut seen = 0;
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if is_comment(line) || !(line.contains("unsafe {") || line.contains("unsafe impl")) {
                continue;
            }
            seen += 1;
            // A comment line among the 3 above, whose comment block (the
            // comment lines run together) holds `// SAFETY:`.
            let documented = (i.saturating_sub(3)..i).any(|end| {
                if !is_comment(lines[end]) {
                    return false;
                }
                let mut start = end;
                while start > 0 && is_comment(lines[start - 1]) {
                    start -= 1;
                }
                lines[start..=end]
                    .iter()
                    .any(|l| l.trim_start().starts_with("// SAFETY:"))
            });
            if !documented {
                violations.push(format!("{path}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(seen > 0, "found no unsafe at all: is the scan broken?");
    report(
        "every `unsafe {` and `unsafe impl` has a `// SAFETY:` comment within 3 lines above",
        &violations,
    );
}

#[test]
fn the_crate_roots_keep_the_code_health_lints() {
    let mut violations = Vec::new();
    for root_file in ["src/lib.rs", "src/main.rs", "bench/src/main.rs"] {
        let text = fs::read_to_string(root().join(root_file)).unwrap();
        for lint in ROOT_LINTS {
            if !text.lines().any(|l| l.trim() == *lint) {
                violations.push(format!("{root_file}: {lint}"));
            }
        }
    }
    let clippy_toml = fs::read_to_string(root().join("clippy.toml")).unwrap();
    if !clippy_toml
        .lines()
        .any(|l| l.trim() == "too-many-lines-threshold = 70")
    {
        violations.push("clippy.toml: too-many-lines-threshold = 70".to_string());
    }
    report("the crate roots set the code-health lints", &violations);
}

#[test]
fn long_functions_allowed_are_exactly_the_listed_ones() {
    let mut allowed = Vec::new();
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() != "#[allow(clippy::too_many_lines)]" {
                continue;
            }
            let name = lines[i + 1..]
                .iter()
                .find_map(|l| {
                    let (_, rest) = l.split_once("fn ")?;
                    Some(
                        rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap()
                            .to_string(),
                    )
                })
                .unwrap_or_else(|| panic!("{path}:{}: an allow on no function", i + 1));
            allowed.push(format!("{path} {name}"));
        }
    }
    allowed.sort();
    let mut listed: Vec<String> = LONG_FUNCTIONS_ALLOWED
        .iter()
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    let added: Vec<String> = allowed
        .iter()
        .filter(|f| !listed.contains(f))
        .cloned()
        .collect();
    let gone: Vec<String> = listed
        .iter()
        .filter(|f| !allowed.contains(f))
        .cloned()
        .collect();
    report(
        "no new #[allow(clippy::too_many_lines)]: split the function instead",
        &added,
    );
    report(
        "listed in LONG_FUNCTIONS_ALLOWED without #[allow(clippy::too_many_lines)]: \
         once one is under the limit, take it off the list",
        &gone,
    );
}

// ---------------------------------------------------------------------------
// Assertion density (issue 10 item 1; TigerBeetle asserts pre- and
// postconditions in every function, "a force multiplier for discovering
// bugs by fuzzing"). In the directories of `ASSERTED_DIRS` the assertion
// macros per non-test function stay at or above the floor, counted per
// directory; and every function without an assertion of its own is named
// below with the reason it may rely on the assertions around it, so a new
// function either asserts something or says why it does not.

/// Directories held to a floor of (assertion macros) / (non-test
/// functions). The target is 1.0 everywhere; `src/shard` is held where it
/// stands (its io_uring reactor and runtime came with few), as is
/// `src/replication` (new with issue 16: the shipper and follower, whose
/// async glue asserts little yet), and the floor only rises.
const ASSERTED_DIRS: &[(&str, f64)] = &[
    ("src/engine", 1.0),
    ("src/journal", 1.0),
    ("src/shard", 0.55),
    ("src/replication", 0.3),
];

/// The macros counted. `unreachable!`, `panic!`, `expect` and `unwrap` are
/// not: they say what failed, not what must hold. Compile-time
/// `const _: () = assert!(...)` counts for its file.
const ASSERTION_MACROS: &[&str] = &[
    "assert!",
    "assert_eq!",
    "assert_ne!",
    "debug_assert!",
    "debug_assert_eq!",
    "debug_assert_ne!",
];

/// Functions with no assertion of their own, grouped by why. A function
/// that gains one, or goes, must leave the list: it only shrinks.
const ASSERTION_FREE_ALLOWED: &[(&str, &[&str])] = &[
    (
        "a counter's read: its increment (note_dropped_in_flight) asserts it cannot wrap",
        &["src/shard/reactor/mod.rs dropped_in_flight"],
    ),
    (
        "a race of two futures, all of it futures_lite::future::or; the give-ups built \
         on it are checked by tests/gateway/give_up_send.rs",
        &["src/shard/reactor/ops.rs before"],
    ),
    (
        "a pure match naming the session a mesh answer is for: every arm is a field read",
        &["src/shard/core/mesh_input.rs answered_session"],
    ),
    (
        "a ring read whose arms are pops; its race with a source that ends is covered by \
         replay::tests::a_source_that_finished_is_never_taken_for_one_that_failed",
        &["src/shard/core/replay.rs next_item"],
    ),
    (
        "the journal's head marker: a reason's text, a parser whose every check is a \
         refusal (encode asserts that it reads back what it wrote), a file read, a name \
         predicate (file_name asserts it holds for every name it makes)",
        &[
            "src/journal/head.rs HeadProblem::fmt",
            "src/journal/head.rs decode",
            "src/journal/head.rs read",
            "src/journal/config_file.rs is_file_name",
        ],
    ),
    (
        "the drop copy's acknowledged position: a file read whose every failure is \
         \"none known\"",
        &["src/replication/drop_copy.rs load_acked"],
    ),
    (
        "feed relays and the follower's resume hint (issue 16): getters, the accessors \
         the market-data tasks need of their host (a shard or a relay), the relay's async \
         glue, the hint file's I/O",
        &[
            "src/shard/core/market.rs ShardCore::market_mut",
            "src/shard/md/relay.rs RelayTap::new",
            "src/shard/runtime/relay.rs RelayTasks::hub",
            "src/shard/runtime/relay.rs RelayTasks::config",
            "src/shard/runtime/relay.rs RelayTasks::shutting_down",
            "src/shard/runtime/relay.rs RelayTasks::md_stop",
            "src/shard/runtime/relay.rs RelayTasks::md_connections",
            "src/shard/runtime/relay.rs RelayTasks::md_acceptor_running",
            "src/shard/runtime/relay.rs RelayTasks::trade_path",
            "src/shard/runtime.rs ShardTasks::trade_path",
            "src/shard/runtime/relay.rs RelayTasks::pending",
            "src/shard/runtime/relay.rs feed_loop",
            "src/shard/runtime.rs ShardTasks::hub",
            "src/shard/runtime.rs ShardTasks::config",
            "src/shard/runtime.rs ShardTasks::shutting_down",
            "src/shard/runtime.rs ShardTasks::md_stop",
            "src/shard/runtime.rs ShardTasks::md_connections",
            "src/shard/runtime.rs ShardTasks::md_acceptor_running",
            "src/replication/relay.rs seed_hub",
            "src/replication/replica.rs ShardReplica::feed_epoch",
            "src/replication/replica.rs ShardReplica::dir",
            "src/replication/resume.rs path",
            "src/replication/resume.rs load",
            "src/replication/resume.rs forget",
            "src/replication/follower.rs next_message",
        ],
    ),
    (
        "src/replication, not yet asserted: getters, the async glue of the shipper and the \
         follower, formatting; each entry leaves when its function asserts what it relies on",
        &[
            "src/replication/board.rs ShipState::name",
            "src/replication/board.rs ShipState::from_u8",
            "src/replication/board.rs ShippingSnapshot::lag_records",
            "src/replication/board.rs ShardShipping::set_journal_seq",
            "src/replication/board.rs ShardShipping::set_shipped_seq",
            "src/replication/board.rs ShardShipping::set_state",
            "src/replication/board.rs ShardShipping::count_error",
            "src/replication/board.rs ShardShipping::snapshot",
            "src/replication/board.rs ShipperBoard::new",
            "src/replication/drop_copy.rs DropCopy::new",
            "src/replication/drop_copy.rs DropCopy::enabled",
            "src/replication/drop_copy.rs DropCopy::connect",
            "src/replication/drop_copy.rs DropCopy::publish",
            "src/replication/drop_copy.rs liquidity_name",
            "src/replication/follower.rs run_cli",
            "src/replication/follower.rs follow",
            "src/replication/follower.rs Signals::new",
            "src/replication/follower.rs Signals::recv",
            "src/replication/follower.rs follow_shard",
            "src/replication/follower.rs Progress::new",
            "src/replication/follower.rs Progress::applied",
            "src/replication/follower.rs Progress::lag_us",
            "src/replication/follower.rs consume",
            "src/replication/message.rs message_id",
            "src/replication/message.rs MessageError::fmt",
            "src/replication/nats.rs runtime",
            "src/replication/nats.rs journal_stream",
            "src/replication/replica.rs ReplicaError::fmt",
            "src/replication/replica.rs ShardReplica::next_seq",
            "src/replication/replica.rs ShardReplica::engine",
            "src/replication/replica.rs ShardReplica::checksums_verified",
            "src/replication/replica.rs ShardReplica::sync",
            "src/replication/shipper.rs Shipper::stop",
            "src/replication/shipper.rs run",
            "src/replication/shipper.rs ship_shard",
            "src/replication/shipper.rs ShardShipper::advance_probe",
            "src/replication/tail.rs TailError::fmt",
            "src/replication/tail.rs JournalTail::next_seq",
            "src/replication/tail.rs JournalTail::segments",
        ],
    ),
    (
        "src/shard, not yet asserted: the shard is below the 1.0 target (its floor in \
         ASSERTED_DIRS); each entry leaves when its function asserts what it relies on",
        &[
            "src/shard/admission.rs Refusal::message",
            "src/shard/admission.rs Refusal::is_capacity",
            "src/shard/admission.rs Refusal::index",
            "src/shard/admission.rs Admission::admit",
            "src/shard/admission.rs Admission::release",
            "src/shard/admission.rs Admission::waiting",
            "src/shard/admission.rs Admission::waiting_fds",
            "src/shard/admission.rs Admission::refused",
            "src/shard/admission.rs Admission::flush",
            "src/shard/admission.rs Admission::count",
            "src/shard/admission.rs Admission::total",
            "src/shard/admission.rs Peer::fmt",
            "src/shard/admission.rs AcceptBackoff::default",
            "src/shard/admission.rs AcceptBackoff::after_error",
            "src/shard/admission.rs AcceptBackoff::after_success",
            "src/shard/admission.rs one_connections_error",
            "src/shard/peer_counts.rs peer_key",
            "src/shard/core/intake.rs PreLogonEnd::no_room",
            "src/shard/core/intake.rs PreLogonEnd::fmt",
            "src/shard/core/mesh_input.rs ShardCore::traffic",
            "src/shard/core/mesh_input.rs ShardCore::mesh_pending",
            "src/shard/core/mod.rs ShardCore::shared",
            "src/shard/core/mod.rs ShardCore::engine",
            "src/shard/core/mod.rs wall_clock_ns",
            "src/shard/core/operator.rs ShardCore::run_operator_requests",
            "src/shard/core/order_entry.rs ShardCore::order_entry",
            "src/shard/core/order_entry.rs refusal_of",
            "src/shard/core/output.rs ShardCore::session_ended",
            "src/shard/core/telemetry.rs ShardCore::stamp",
            "src/shard/core/telemetry.rs ShardCore::record_span",
            "src/shard/core/telemetry.rs ShardCore::loop_turn_begins",
            "src/shard/core/telemetry.rs ShardCore::loop_turn_ends",
            "src/shard/core/telemetry.rs ShardCore::telemetry_tick",
            "src/shard/core/telemetry.rs ShardCore::publish_up",
            "src/shard/core/write_ahead.rs ShardCore::journal_retired",
            "src/shard/core/write_ahead.rs ShardCore::run_engine",
            "src/shard/counters.rs ShardCounters::default",
            "src/shard/counters.rs ShardCounters::count_report",
            "src/shard/directory.rs unpack",
            "src/shard/directory.rs SessionDirectory::for_each",
            "src/shard/lifecycle_log.rs LifecycleLog::new",
            "src/shard/lifecycle_log.rs LifecycleLog::allow",
            "src/shard/mesh.rs MeshInbox::shards",
            "src/shard/mesh.rs MeshInbox::pending",
            "src/shard/mesh.rs MeshInbox::received",
            "src/shard/notify.rs LocalNotify::notify",
            "src/shard/notify.rs LocalNotify::wait",
            "src/shard/notify.rs LocalNotify::take",
            "src/shard/notify.rs ShardRing::into_inner",
            "src/shard/notify.rs ShardRing::take_rung",
            "src/shard/notify.rs Doorbell::new",
            "src/shard/notify.rs Doorbell::ring",
            "src/shard/notify.rs Doorbell::force",
            "src/shard/notify.rs Doorbell::park_unless",
            "src/shard/notify.rs Doorbell::unpark",
            "src/shard/notify.rs Doorbell::is_parked",
            "src/shard/notify.rs prepare_sender",
            "src/shard/notify.rs send_from_any_thread",
            "src/shard/operator.rs operator_rings",
            "src/shard/outbox.rs Outbox::first_queued_ns",
            "src/shard/outbox.rs Outbox::push",
            "src/shard/outbox.rs Outbox::push_report",
            "src/shard/outbox.rs Outbox::next_seq",
            "src/shard/outbox.rs Outbox::taken",
            "src/shard/outbox.rs Outbox::note_taken",
            "src/shard/outbox.rs Outbox::over_half_full",
            "src/shard/outbox.rs Outbox::is_sealed",
            "src/shard/outbox.rs Outbox::capacity_bytes",
            "src/shard/park.rs ParkFlag::default",
            "src/shard/park.rs ParkFlag::new",
            "src/shard/park.rs ParkFlag::ring",
            "src/shard/park.rs ParkFlag::park_unless",
            "src/shard/park.rs ParkFlag::park",
            "src/shard/park.rs ParkFlag::unpark",
            "src/shard/park.rs ParkFlag::is_parked",
            "src/shard/quiescence.rs ShutdownBoard::new",
            "src/shard/quiescence.rs ShutdownBoard::publish",
            "src/shard/quiescence.rs ShutdownBoard::all_reached",
            "src/shard/quiescence.rs ShutdownBoard::wave",
            "src/shard/quiescence.rs QuiescenceWave::confirms",
            "src/shard/quiescence.rs QuiescenceWave::is_superseded_by",
            "src/shard/quiescence.rs Quiescence::check",
            "src/shard/rate_limit.rs TokenBucket::try_take",
            "src/shard/rate_limit.rs LogThrottle::new",
            "src/shard/rate_limit.rs LogThrottle::event",
            "src/shard/rate_limit.rs LogThrottle::overdue",
            "src/shard/reactor/bufring.rs BufRing::register",
            "src/shard/reactor/bufring.rs BufRing::buffer_size",
            "src/shard/reactor/bufring.rs BufRing::bytes",
            "src/shard/reactor/bufring.rs BufRing::drop",
            "src/shard/reactor/executor.rs pack",
            "src/shard/reactor/executor.rs unpack",
            "src/shard/reactor/executor.rs clone_waker",
            "src/shard/reactor/executor.rs wake",
            "src/shard/reactor/executor.rs drop_waker",
            "src/shard/reactor/executor.rs waker_for",
            "src/shard/reactor/executor.rs Executor::schedule",
            "src/shard/reactor/executor.rs Executor::spawn",
            "src/shard/reactor/executor.rs Executor::poll",
            "src/shard/reactor/executor.rs Executor::run_ready",
            "src/shard/reactor/executor.rs Executor::clear",
            "src/shard/reactor/executor.rs spawn",
            "src/shard/reactor/executor.rs yield_now",
            "src/shard/reactor/executor.rs has_ready",
            "src/shard/reactor/executor.rs run_ready",
            "src/shard/reactor/executor.rs clear",
            "src/shard/reactor/mod.rs with_ring",
            "src/shard/reactor/mod.rs try_with_ring",
            "src/shard/reactor/mod.rs drain",
            "src/shard/reactor/ops.rs Op::submit",
            "src/shard/reactor/ops.rs Op::poll",
            "src/shard/reactor/ops.rs Op::drop",
            "src/shard/reactor/ops.rs result",
            "src/shard/reactor/ops.rs sleep",
            "src/shard/reactor/ops.rs recv",
            "src/shard/reactor/ops.rs send",
            "src/shard/reactor/ops.rs send_all",
            "src/shard/reactor/ops.rs Pooled::deref",
            "src/shard/reactor/ops.rs Pooled::drop",
            "src/shard/reactor/ops.rs recv_pooled",
            "src/shard/reactor/ops.rs doorbell",
            "src/shard/reactor/ops.rs Acceptor::new",
            "src/shard/reactor/ops.rs Acceptor::next",
            "src/shard/reactor/ring.rs Slot::new",
            "src/shard/reactor/ring.rs builder",
            "src/shard/reactor/ring.rs new_disabled",
            "src/shard/reactor/ring.rs Ring::enable",
            "src/shard/reactor/ring.rs Ring::fd",
            "src/shard/reactor/ring.rs Ring::slot",
            "src/shard/reactor/ring.rs Ring::release_slot",
            "src/shard/reactor/ring.rs Ring::push",
            "src/shard/reactor/ring.rs Ring::cancel",
            "src/shard/reactor/ring.rs Ring::enter",
            "src/shard/reactor/ring.rs Ring::dispatch",
            "src/shard/reactor/ring.rs Ring::clean_up",
            "src/shard/reactor/ring.rs Ring::in_flight",
            "src/shard/reactor/ring.rs probe",
            "src/shard/router.rs Router::emit",
            "src/shard/runtime.rs now",
            "src/shard/runtime.rs run",
            "src/shard/runtime.rs buffer_ring",
            "src/shard/runtime.rs mesh_loop",
            "src/shard/runtime.rs accept_loop",
            "src/shard/runtime.rs admit",
            "src/shard/runtime.rs Conn::fd",
            "src/shard/runtime.rs Conn::peer_addr",
            "src/shard/runtime.rs Conn::read",
            "src/shard/runtime.rs Conn::write_all",
            "src/shard/runtime.rs refuse_at_accept",
            "src/shard/runtime.rs discard_pending_input",
            "src/shard/runtime.rs pre_logon",
            "src/shard/runtime.rs logon",
            "src/shard/runtime.rs RefusedLogon::fmt",
            "src/shard/runtime.rs set_socket_options",
            "src/shard/runtime.rs serve",
            "src/shard/runtime.rs feed_carry",
            "src/shard/runtime.rs feed",
            "src/shard/runtime.rs write_loop",
            "src/shard/runtime.rs linger_close",
            "src/shard/runtime.rs tick_loop",
            "src/shard/runtime.rs graceful_shutdown",
            "src/shard/runtime.rs quiesce",
            "src/shard/runtime.rs wait_until_every_shard_confirmed",
            "src/shard/runtime.rs publish",
            "src/shard/runtime.rs off_shard",
            "src/shard/runtime/helper_cpus.rs CpuSet::apply",
            "src/shard/sender.rs MeshSender::command",
            "src/shard/sender.rs MeshSender::report",
            "src/shard/sender.rs MeshSender::processed",
            "src/shard/sender.rs MeshSender::status_request",
            "src/shard/sender.rs MeshSender::status",
            "src/shard/sender.rs MeshSender::mass_cancel_done",
            "src/shard/sender.rs MeshSender::overflow_pending",
            "src/shard/sender.rs MeshSender::sent",
            "src/shard/sender.rs MeshSender::overflowed",
            "src/shard/session.rs Session::is_active",
            "src/shard/session.rs Session::is_ended",
            "src/shard/session_table.rs SessionTable::capacity",
            "src/shard/session_table.rs SessionTable::live",
            "src/shard/session_table.rs SessionTable::has_room",
            "src/shard/session_table.rs SessionTable::get",
            "src/shard/session_table.rs SessionTable::get_mut",
            "src/shard/session_table.rs SessionTable::get_slot",
            "src/shard/session_table.rs SessionTable::get_slot_mut",
            "src/shard/session_table.rs SessionTable::ends_deferred",
            "src/shard/shared.rs Shared::shutting_down",
            "src/shard/shared.rs Shared::shutdown_end_reason",
            "src/shard/shared.rs Shared::fail_stop_reason",
        ],
    ),
    (
        "getters and one-line views: what they read is asserted where it changes",
        &[
            "src/shard/core/market.rs ShardCore::market",
            "src/shard/md/client.rs MdClient::is_open",
            "src/shard/md/client.rs SendQueue::capacity",
            "src/shard/md/client.rs SendQueue::queued",
            "src/shard/md/hub.rs SymbolNames::by_name",
            "src/shard/md/hub.rs MdHub::feed",
            "src/shard/md/hub.rs MdHub::feed_mut",
            "src/shard/md/hub.rs MdHub::counters",
            "src/shard/md/hub.rs MdHub::is_closing",
            "src/shard/md/hub.rs MdHub::client_mut",
            "src/engine/matcher.rs Engine::next_ids",
            "src/journal/restore.rs Replay::checksums_verified",
            "src/engine/book.rs Book::best_bid",
            "src/engine/book.rs Book::best_ask",
            "src/engine/query.rs Engine::best_bid",
            "src/shard/session.rs Phase::account",
            "src/engine/query.rs Engine::best_ask",
            "src/engine/query.rs Engine::is_halted",
            "src/engine/query.rs Engine::is_killed",
            "src/engine/query.rs Engine::resting_orders",
            "src/engine/query.rs Engine::owns_symbol",
            "src/engine/slab.rs OrderNode::is_post_only",
            "src/engine/slab.rs OrderNode::is_day",
            "src/engine/slab.rs OrderNode::stp",
            "src/engine/slab.rs OrderSlab::capacity",
            "src/engine/slab.rs OrderSlab::get",
            "src/engine/slab.rs OrderSlab::get_mut",
            "src/engine/slab.rs OrderSlab::bytes_per_order",
            // One-line delegations to `prefetch::unchecked_address`, which asserts.
            "src/engine/slab.rs OrderSlab::get_unchecked_hint",
            "src/engine/account_links.rs AccountLinks::hint",
            "src/engine/prefetch.rs prefetch_at",
            "src/engine/order_index.rs OrderIndex::is_empty",
            // One-line delegations to `slot_table.rs`, which asserts.
            "src/engine/order_index.rs OrderIndex::with_capacity",
            "src/engine/order_index.rs OrderIndex::find",
            "src/engine/order_index.rs OrderIndex::check_table",
            "src/engine/order_index.rs OrderIndex::bytes_per_order",
            "src/engine/client_index.rs ClientIndex::with_capacity",
            "src/engine/client_index.rs ClientIndex::is_empty",
            "src/engine/client_index.rs ClientIndex::bytes_per_order",
            "src/engine/id_index.rs IdIndex::iter",
            "src/engine/id_index.rs IdIndex::len",
            "src/engine/id_index.rs IdIndex::is_empty",
            "src/journal/mod.rs Record::command",
            "src/journal/segment.rs Segment::path",
            "src/journal/segment.rs Segment::segment_bytes",
            "src/journal/segment.rs Segment::bytes",
            "src/journal/segment.rs Segment::bytes_mut",
            "src/journal/tools.rs JournalSummary::is_intact",
            "src/journal/tools.rs JournalSummary::records",
            "src/journal/writer.rs JournalWriter::failed",
            "src/journal/writer.rs JournalWriter::next_seq",
            "src/journal/writer.rs JournalWriter::stats",
            "src/journal/writer.rs JournalWriter::shard",
            "src/journal/writer.rs JournalWriter::dir",
            "src/journal/writer.rs JournalWriter::active_segment",
            "src/journal/writer.rs JournalWriter::has_spare",
        ],
    ),
    (
        "one-line wrappers: the function they call asserts",
        &[
            "src/journal/restore.rs restore",
            "src/journal/restore.rs EventsOnly::emit",
            "src/shard/core/market.rs ShardCore::md_shut_down",
            "src/shard/core/market.rs ShardCore::market_tick",
            "src/engine/config.rs SymbolSpec::band",
            "src/engine/reconfigure.rs EngineConfig::reconfigurable_to",
            "src/engine/prefetch.rs Engine::process_batch",
            "src/journal/mod.rs Entry::from",
            "src/journal/scan.rs check_config_epoch",
            "src/journal/tools.rs verify",
            "src/journal/tools.rs stats",
            "src/journal/tools.rs dump",
            "src/journal/tools.rs walk",
        ],
    ),
    (
        "exhaustive matches, bit packing and arithmetic the compiler or the \
         file's const asserts check",
        &[
            "src/shard/core/market.rs is_feed_event",
            "src/shard/md/counters.rs MdCounters::count_close",
            "src/engine/types.rs Side::opposite",
            "src/engine/types.rs Side::sign",
            "src/engine/types.rs TimeInForce::rests",
            "src/engine/wire_enum.rs ::code",
            "src/engine/order_index.rs tag",
            "src/engine/client_index.rs hash",
            "src/engine/slot_table.rs tag_of",
            "src/engine/slot_table.rs slot_of",
            "src/engine/book.rs crosses",
            "src/engine/book.rs BookSide::at_least_as_good",
            "src/journal/codec.rs command_kind",
            "src/journal/codec.rs payload_len",
            "src/journal/codec.rs kind_name",
            "src/journal/config_file.rs digest",
            "src/journal/tools.rs side_name",
            "src/journal/tools.rs order_kind_name",
            "src/journal/tools.rs tif_name",
            "src/journal/tools.rs stp_name",
            "src/journal/tools.rs cancel_reason_name",
        ],
    ),
    (
        "constructors, comparisons and setters whose callers assert what they rely on",
        &[
            "src/shard/md/raw.rs LineBuf::default",
            "src/shard/md/fanout.rs FrameBuf::with_payload_capacity",
            "src/journal/mod.rs StateChecksum::of",
            "src/journal/restore.rs Replay::new",
            "src/journal/restore.rs Replay::replica",
            "src/engine/book.rs Book::new",
            "src/engine/reconfigure.rs compare",
            "src/engine/reconfigure.rs shape_of",
            "src/engine/operator.rs Engine::halt",
            "src/engine/event.rs Vec::emit",
            "src/engine/event.rs CountingSink::emit",
            "src/engine/event.rs command_begins",
            "src/shard/router.rs CommandOrigin::of",
            "src/journal/recovery.rs aside_name",
        ],
    ),
    (
        "prefetch hints: a wrong guess costs a wasted cache line, never a wrong result",
        &[
            "src/engine/prefetch.rs prefetch",
            "src/engine/prefetch.rs Engine::target",
            "src/engine/prefetch.rs Engine::prefetch_index",
        ],
    ),
    (
        "byte helpers over buffers whose length the caller checked (slices are \
         bounds-checked; encode and decode assert every byte written and read)",
        &[
            "src/engine/digest.rs Fnv::bytes",
            "src/engine/digest.rs Fnv::u64",
            "src/engine/digest.rs Fnv::i128",
            "src/journal/codec.rs Writer::bytes",
            "src/journal/codec.rs Writer::u8",
            "src/journal/codec.rs Writer::u32",
            "src/journal/codec.rs Writer::u64",
            "src/journal/codec.rs Writer::i64",
            "src/journal/codec.rs Writer::zeros",
            "src/journal/codec.rs Reader::array",
            "src/journal/codec.rs Reader::u8",
            "src/journal/codec.rs Reader::u32",
            "src/journal/codec.rs Reader::u64",
            "src/journal/codec.rs Reader::i64",
            "src/journal/codec.rs Reader::bool",
            "src/journal/codec.rs Reader::enum_u8",
            "src/journal/codec.rs Reader::reserved",
            "src/journal/layout.rs put_u16",
            "src/journal/layout.rs put_u32",
            "src/journal/layout.rs put_u64",
            "src/journal/layout.rs get_u16",
            "src/journal/layout.rs get_u32",
            "src/journal/layout.rs get_u64",
        ],
    ),
    (
        "readers of names and bytes from disk: damage is an error they return, \
         never an assertion",
        &[
            "src/journal/layout.rs parse_segment_file_name",
            "src/journal/layout.rs parse_shard_dir_name",
            "src/journal/layout.rs read_header",
            "src/journal/scan.rs check_header",
            "src/journal/tools.rs shard_dirs",
        ],
    ),
    (
        "system call wrappers and error constructors: a failure is an error returned",
        &[
            "src/journal/mod.rs io_error",
            "src/journal/segment.rs sync_dir",
            "src/journal/segment.rs fallocate",
            "src/journal/segment.rs wall_clock_ns",
            "src/journal/writer.rs JournalWriter::check_not_failed",
            "src/journal/writer.rs JournalWriter::full",
            "src/journal/writer.rs JournalWriter::drop",
            "src/journal/writer.rs lock_dir",
        ],
    ),
    (
        "formatting: error messages and the journal tool's output",
        &[
            "src/journal/tools.rs write_marker_json",
            "src/engine/reconfigure.rs ReconfigureError::fmt",
            "src/engine/reconfigure.rs IdChange::fmt",
            "src/journal/codec.rs CodecError::fmt",
            "src/journal/config_file.rs ConfigFileProblem::fmt",
            "src/journal/mod.rs JournalError::fmt",
            "src/journal/mod.rs JournalError::source",
            "src/journal/scan.rs CorruptReason::fmt",
            "src/journal/tools.rs run_cli",
            "src/journal/tools.rs shard_label",
            "src/journal/tools.rs print_verify",
            "src/journal/tools.rs print_problems",
            "src/journal/tools.rs print_stats",
        ],
    ),
];

/// Blanks comments, string and char literals (keeping every newline, so
/// line numbers hold), so that braces, `fn` and macro names inside them
/// are not code.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            loop {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) && {
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            // Raw string: r"..", r#".."#, br#".."#.
            let start = i + if c[i] == 'b' { 2 } else { 1 };
            let mut j = start;
            while c[j] == '#' {
                j += 1;
            }
            let hashes = j - start;
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            loop {
                if c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // Escaped char literal: '\n', '\'', '\u{7f}'.
            out.push_str("  ");
            i += 2;
            while c[i] != '\'' {
                blank(&mut out, c[i]);
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            // Plain char literal; anything else after `'` is a lifetime.
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// One function definition (a body, not a trait method's signature).
struct FnDef {
    /// `Type::name` inside an `impl`, else `name`.
    name: String,
    line: usize,
    /// Byte range of the body, braces included.
    body: std::ops::Range<usize>,
}

/// The type an `impl` block header is for (`impl<T> Trait for Type<T>`
/// gives `Type`); `None` when the header is no `impl`.
fn impl_type(header: &str) -> Option<String> {
    let mut h = header.trim();
    while let Some(rest) = h.strip_prefix("#[") {
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, ch)| {
                depth += match ch {
                    '[' => 1,
                    ']' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(at, _)| at)?;
        h = rest[end + 1..].trim_start();
    }
    let h = h.strip_prefix("unsafe ").unwrap_or(h);
    let rest = h.strip_prefix("impl")?;
    if !rest.starts_with(['<', ' ', '\n']) {
        return None;
    }
    let target = match rest.rfind(" for ") {
        Some(at) => &rest[at + 5..],
        None => {
            // Skip the impl's own generic parameters.
            let rest = rest.trim_start();
            if let Some(generics) = rest.strip_prefix('<') {
                let mut depth = 1;
                let end = generics.char_indices().find(|&(_, ch)| {
                    depth += match ch {
                        '<' => 1,
                        '>' => -1,
                        _ => 0,
                    };
                    depth == 0
                })?;
                &generics[end.0 + 1..]
            } else {
                rest
            }
        }
    };
    let path: String = target
        .trim()
        .chars()
        .take_while(|&ch| ch.is_alphanumeric() || ch == '_' || ch == ':')
        .collect();
    Some(path.rsplit("::").next()?.to_string())
}

/// Every function definition in `code` (the output of `code_only`),
/// leaving out items under `#[cfg(test)]`.
fn functions(code: &str) -> Vec<FnDef> {
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    // `(position of '{', impl type if the block is an impl)` of the open
    // blocks; `(name, line, depth of its body)` of the open functions.
    let mut blocks: Vec<(usize, Option<String>)> = Vec::new();
    let mut header_start = 0;
    let mut found = Vec::new();
    let mut open_fns: Vec<(String, usize, usize)> = Vec::new();
    let mut pending: Option<(String, usize)> = None;
    let mut skip_test_item = false;
    let mut skip_until_depth: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"#[cfg(test)]") {
            skip_test_item = true;
        }
        let b = bytes[i];
        if b == b'f'
            && bytes[i..].starts_with(b"fn")
            && (i == 0 || !ident(bytes[i - 1]))
            && bytes.get(i + 2).is_some_and(|b| b.is_ascii_whitespace())
            && skip_until_depth.is_none()
        {
            let rest = code[i + 2..].trim_start();
            let name: String = rest
                .chars()
                .take_while(|&ch| ch.is_alphanumeric() || ch == '_')
                .collect();
            if !name.is_empty() {
                let impl_of = blocks.iter().rev().find_map(|(_, t)| t.clone());
                let full = match impl_of {
                    Some(t) => format!("{t}::{name}"),
                    None => name,
                };
                pending = Some((full, code[..i].lines().count().max(1)));
                // Find the body: the first `{` or `;` outside the
                // signature's parentheses and brackets.
                let mut depth = 0i32;
                let mut j = i + 2;
                while j < bytes.len() {
                    match bytes[j] {
                        b'(' | b'[' => depth += 1,
                        b')' | b']' => depth -= 1,
                        b';' if depth == 0 => {
                            pending = None;
                            break;
                        }
                        b'{' if depth == 0 => break,
                        _ => {}
                    }
                    j += 1;
                }
                header_start = i;
                i = j;
                continue;
            }
        }
        match b {
            b'{' => {
                let header = &code[header_start..i];
                if skip_test_item && skip_until_depth.is_none() {
                    skip_until_depth = Some(blocks.len());
                    skip_test_item = false;
                }
                if let Some((name, line)) = pending.take() {
                    blocks.push((i, None));
                    if skip_until_depth.is_none() {
                        open_fns.push((name, line, blocks.len()));
                    }
                } else {
                    blocks.push((i, impl_type(header)));
                }
                header_start = i + 1;
            }
            b'}' => {
                let (start, _) = blocks.pop().expect("unbalanced braces");
                if skip_until_depth == Some(blocks.len()) {
                    skip_until_depth = None;
                }
                if open_fns
                    .last()
                    .is_some_and(|(_, _, depth)| *depth == blocks.len() + 1)
                {
                    let (name, line, _) = open_fns.pop().unwrap();
                    found.push(FnDef {
                        name,
                        line,
                        body: start..i + 1,
                    });
                }
                header_start = i + 1;
            }
            b';' => {
                if skip_test_item && skip_until_depth.is_none() {
                    skip_test_item = false;
                }
                header_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    assert!(blocks.is_empty(), "unbalanced braces");
    found.sort_by_key(|f| f.body.start);
    found
}

/// Start offsets of the assertion macros in `code`.
fn assertions(code: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    let mut at = Vec::new();
    for mac in ASSERTION_MACROS {
        for (i, _) in code.match_indices(mac) {
            let whole_word =
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            if whole_word {
                at.push(i);
            }
        }
    }
    at.sort_unstable();
    at
}

/// What one directory holds: its functions, its assertion macros, and
/// the functions with none of their own (`path Type::name` and
/// `path:line` for messages).
struct Density {
    functions: usize,
    assertions: usize,
    bare: Vec<(String, String)>,
}

fn assertion_density(dir: &str) -> Density {
    let mut density = Density {
        functions: 0,
        assertions: 0,
        bare: Vec::new(),
    };
    for path in rust_files(dir) {
        let relative = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let code = code_only(&fs::read_to_string(&path).unwrap());
        let fns = functions(&code);
        let asserts = assertions(&code);
        // Each assertion belongs to the innermost function around it.
        let mut own = vec![0usize; fns.len()];
        for &at in &asserts {
            let innermost = (0..fns.len())
                .filter(|&k| fns[k].body.contains(&at))
                .max_by_key(|&k| fns[k].body.start);
            if let Some(k) = innermost {
                own[k] += 1;
            }
        }
        println!(
            "  {relative}: {} functions, {} assertions",
            fns.len(),
            asserts.len()
        );
        density.functions += fns.len();
        density.assertions += asserts.len();
        for (f, _) in fns.iter().zip(&own).filter(|(_, &n)| n == 0) {
            density.bare.push((
                format!("{relative} {}", f.name),
                format!("{relative}:{}", f.line),
            ));
        }
    }
    density
}

#[test]
fn assertions_per_function_stay_at_or_above_the_floor() {
    let mut low = Vec::new();
    let mut bare = Vec::new();
    for &(dir, floor) in ASSERTED_DIRS {
        let density = assertion_density(dir);
        let ratio = density.assertions as f64 / density.functions.max(1) as f64;
        println!(
            "{dir}: {} assertions / {} functions = {ratio:.2} per function",
            density.assertions, density.functions
        );
        if ratio < floor {
            low.push(format!(
                "{dir}: {ratio:.2} ({} / {})",
                density.assertions, density.functions
            ));
        }
        bare.extend(density.bare);
    }
    report(
        "assertion macros per non-test function, below the directory's floor: \
         assert the invariants where they live",
        &low,
    );
    let listed: Vec<&str> = ASSERTION_FREE_ALLOWED
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    let added: Vec<String> = bare
        .iter()
        .filter(|(name, _)| !listed.contains(&name.as_str()))
        .map(|(name, at)| format!("{at}: {name}"))
        .collect();
    let gone: Vec<String> = listed
        .iter()
        .filter(|name| !bare.iter().any(|(b, _)| b == *name))
        .map(|name| name.to_string())
        .collect();
    report(
        "a function without an assertion of its own: assert its pre- or \
         postconditions, or list it in ASSERTION_FREE_ALLOWED with the reason",
        &added,
    );
    report(
        "listed in ASSERTION_FREE_ALLOWED but asserts now (or is gone): take it \
         off the list",
        &gone,
    );
}

#[test]
fn the_assertion_count_reads_code_only() {
    let code = code_only(
        r##"//! assert!(in a doc comment)
/// fn documented() {}
fn one() { assert!(x); let s = "assert!(in a string) fn fake() {"; }
impl<T> Thing<T> { fn two(&self) -> [u8; 2] { let c = '{'; debug_assert_eq!(a, b); [0; 2] } }
trait Sink { fn emit(&mut self); }
fn three<'a>(s: &'a str) { let r = r#"}"#; }
"##,
    );
    let names: Vec<String> = functions(&code).into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["one", "Thing::two", "three"]);
    assert_eq!(assertions(&code).len(), 2);
}
