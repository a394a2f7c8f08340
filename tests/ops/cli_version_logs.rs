//! What an operator reads: `--version` names the commit, and
//! `--log-format json` (or TRADSYS_LOG_FORMAT=json) makes every log line
//! one JSON object.

use std::process::Command;

fn tradsys() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tradsys"))
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let out = tradsys().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("tradsys {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let commit = text
        .trim()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
}

fn log_lines(envs: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let out = tradsys()
        .args(args)
        .arg("check-config")
        .envs(envs.iter().copied())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn json_log_format_prints_one_object_per_line() {
    for lines in [
        log_lines(&[], &["--log-format", "json"]),
        log_lines(&[("TRADSYS_LOG_FORMAT", "json")], &[]),
    ] {
        assert!(lines.len() >= 2, "{lines:?}");
        for line in &lines {
            assert!(
                line.starts_with('{')
                    && line.ends_with('}')
                    && line.contains("\"level\":\"INFO\"")
                    && line.contains("\"message\":"),
                "not a JSON log line: {line}"
            );
        }
    }
    let text = log_lines(&[], &[]);
    assert!(text.iter().all(|l| !l.starts_with('{')), "{text:?}");
}

/// `check-config` checks that the config's cores exist here, the admin
/// thread's too (found by a hostile pass: an absent `admin_core` passed,
/// and `serve` then ran the admin thread unpinned after a warning).
#[test]
fn check_config_refuses_cores_that_do_not_exist_here() {
    let dir = std::env::temp_dir().join(format!("tradsys-cores-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to, field) in [
        ("cores = [0]", "cores = [4095]", "server.cores[0]"),
        (
            "# admin_core = 1",
            "admin_core = 4095",
            "telemetry.admin_core",
        ),
    ] {
        let default = tradsys::config::DEFAULT_TOML;
        assert!(default.contains(from), "default config has `{from}`");
        let path = dir.join("absent-core.toml");
        std::fs::write(&path, default.replacen(from, to, 1)).unwrap();
        let out = tradsys()
            .arg("check-config")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "`{to}` passed: {stderr}");
        assert!(
            stderr.contains(field) && stderr.contains("4095"),
            "`{to}`: the error names {field} and the core: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
