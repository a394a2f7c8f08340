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
