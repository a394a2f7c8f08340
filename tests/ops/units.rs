//! The deployment files agree with what the binary needs and with each
//! other: io_uring stays allowed, locked memory is unlimited, paths match
//! between the units, the tuning scripts, the Dockerfile and the default
//! config. (systemd-analyze and hadolint run in ci/ops-checks.sh.)

use std::fs;

fn repo_file(path: &str) -> String {
    fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `Key=Value` of a unit file's `[section]`, in order, repeated keys
/// kept (systemd accumulates SystemCallFilter= and friends).
fn unit_values(unit: &str, section: &str, key: &str) -> Vec<String> {
    let mut current = String::new();
    let mut values = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            if current == section && k.trim() == key && !line.starts_with('#') {
                values.push(v.trim().to_owned());
            }
        }
    }
    values
}

fn service(key: &str) -> Vec<String> {
    unit_values(&repo_file("systemd/tradsys.service"), "Service", key)
}

fn one(values: Vec<String>, key: &str) -> String {
    assert_eq!(values.len(), 1, "{key}: {values:?}");
    values.into_iter().next().unwrap()
}

#[test]
fn gateway_unit_keeps_io_uring_syscalls_allowed() {
    let filters = service("SystemCallFilter");
    let allow: Vec<&String> = filters.iter().filter(|f| !f.starts_with('~')).collect();
    assert!(!allow.is_empty(), "{filters:?}");
    for syscall in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(
            allow
                .iter()
                .any(|f| f.split_whitespace().any(|s| s == syscall)),
            "{syscall} not allowed: {filters:?}"
        );
    }
    for deny in filters.iter().filter(|f| f.starts_with('~')) {
        for group in deny.trim_start_matches('~').split_whitespace() {
            // @aio holds io_uring_*; @resources holds sched_setaffinity (shard pinning).
            assert!(
                ![
                    "@aio",
                    "@resources",
                    "@memlock",
                    "io_uring_setup",
                    "io_uring_enter",
                    "io_uring_register",
                    "sched_setaffinity"
                ]
                .contains(&group),
                "{deny}"
            );
        }
    }
}

#[test]
fn gateway_unit_gives_unlimited_locked_memory() {
    assert_eq!(one(service("LimitMEMLOCK"), "LimitMEMLOCK"), "infinity");
}

#[test]
fn gateway_unit_runs_serve_on_the_configuration_directory() {
    let exec = one(service("ExecStart"), "ExecStart");
    assert_eq!(
        exec,
        "/usr/local/bin/tradsys serve --config /etc/tradsys/tradsys.toml"
    );
    assert_eq!(
        one(service("ConfigurationDirectory"), "ConfigurationDirectory"),
        "tradsys"
    );
    assert_eq!(one(service("StateDirectory"), "StateDirectory"), "tradsys");
    assert_eq!(one(service("User"), "User"), "tradsys");
}

#[test]
fn gateway_unit_stops_with_sigterm_and_has_no_reload() {
    // SIGTERM is the graceful drain; SIGHUP is not handled, so no ExecReload.
    assert_eq!(one(service("KillSignal"), "KillSignal"), "SIGTERM");
    assert!(service("ExecReload").is_empty());
    assert_eq!(one(service("Restart"), "Restart"), "on-failure");
}

#[test]
fn gateway_unit_does_not_fence_shards_off_their_cores() {
    // Shards pin themselves; a cpuset (AllowedCPUs=) narrower than the shard
    // cores would make that fail. See the comment in the unit.
    assert!(service("AllowedCPUs").is_empty());
    assert!(service("CPUAffinity").is_empty());
}

#[test]
fn tuning_unit_runs_the_shipped_script_before_the_gateway() {
    let unit = repo_file("systemd/tradsys-tuning.service");
    assert_eq!(unit_values(&unit, "Unit", "Before"), ["tradsys.service"]);
    assert_eq!(unit_values(&unit, "Service", "Type"), ["oneshot"]);
    let exec = one(unit_values(&unit, "Service", "ExecStart"), "ExecStart");
    assert_eq!(
        exec,
        "/usr/local/lib/tradsys/tuning/apply.sh --config /etc/tradsys/tradsys.toml"
    );
    assert!(!unit_values(&unit, "Install", "WantedBy").is_empty());
    let gateway = repo_file("systemd/tradsys.service");
    for key in ["Wants", "After"] {
        let values = unit_values(&gateway, "Unit", key).join(" ");
        assert!(
            values
                .split_whitespace()
                .any(|u| u == "tradsys-tuning.service"),
            "{key}={values}"
        );
    }
}

#[test]
fn docker_image_matches_the_unit_and_the_default_config() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("COPY --from=builder /out/tradsys /usr/local/bin/tradsys"));
    assert!(dockerfile.contains("CMD [\"serve\", \"--config\", \"/etc/tradsys/tradsys.toml\"]"));
    assert!(dockerfile.contains("EXPOSE 7001 7002 9090"));
    // The Dockerfile rewrites these lines of the default config; if they
    // change, its build-time test fails, and this test says why first.
    let config = repo_file("configs/tradsys.toml");
    for line in [
        "order_entry = \"127.0.0.1:7001\"",
        "market_data = \"127.0.0.1:7002\"",
        "admin = \"127.0.0.1:9090\"",
        "dir = \"./data\"",
    ] {
        assert_eq!(
            config.lines().filter(|l| *l == line).count(),
            1,
            "configs/tradsys.toml: `{line}`"
        );
    }
}

#[test]
fn dockerignore_keeps_build_output_and_journals_out_of_the_context() {
    let ignore = repo_file(".dockerignore");
    for entry in ["target/", "data/", "fuzz/"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), "{entry}");
    }
    assert!(
        !ignore.lines().any(|l| l.trim().starts_with("configs")),
        "the image copies configs/"
    );
}
