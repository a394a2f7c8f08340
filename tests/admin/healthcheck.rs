//! The Docker image's `HEALTHCHECK` works: its exact command (taken from
//! the Dockerfile, with the test gateway's admin port for 9090) exits 0
//! against a ready gateway and non-zero where nothing listens.

use std::net::SocketAddr;
use std::process::Command;

use crate::http::*;
use crate::support::gateway::*;

/// The shell command of the Dockerfile's HEALTHCHECK (its exec-form
/// `["bash", "-c", "..."]`), JSON-unescaped.
fn healthcheck_command() -> String {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("the Dockerfile");
    let start = dockerfile.find("HEALTHCHECK").expect("a HEALTHCHECK");
    let cmd = &dockerfile[start..];
    let cmd = &cmd[cmd.find("CMD [").expect("exec form") + 4..];
    let cmd = &cmd[..=cmd.find("]\n").expect("one line")];
    let argv: Vec<String> = serde_json::from_str(cmd).expect("a JSON array");
    assert_eq!(&argv[..2], ["bash", "-c"]);
    argv[2].clone()
}

fn run(command: &str, admin: SocketAddr) -> bool {
    let command = command.replace("127.0.0.1/9090", &format!("127.0.0.1/{}", admin.port()));
    Command::new("bash")
        .arg("-c")
        .arg(&command)
        .status()
        .expect("bash runs")
        .success()
}

#[test]
fn docker_healthcheck_command_passes_on_a_ready_gateway_and_fails_without_one() {
    let command = healthcheck_command();
    assert!(command.contains("127.0.0.1/9090") && command.contains("GET /ready"));
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gateway = Gateway::start_config(&dir, &admin_config("", &dir, admin, ""), None)
        .expect("gateway starts");
    assert!(run(&command, admin), "healthy when ready");
    let (status, _) = gateway.stop();
    assert!(status.success());
    assert!(!run(&command, admin), "unhealthy with nothing listening");
    let _ = std::fs::remove_dir_all(&dir);
}
