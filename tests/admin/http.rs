//! What the admin tests share: a gateway whose admin endpoint listens on a
//! known port, and a minimal HTTP/1.1 client (one request per connection,
//! as the admin thread serves them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

pub use crate::support::ports::free_port;

/// The operator account added to the common test config (role admin).
pub const OPS: u32 = 9;
pub const OPS_TOKEN: &str = "ops-token";

/// The common test config with the admin endpoint on `admin`, an operator
/// account (`OPS`), and the telemetry overrides (`interval_ms` short, so
/// tests see intervals soon).
pub fn admin_config(
    session_overrides: &str,
    dir: &Path,
    admin: SocketAddr,
    telemetry: &str,
) -> String {
    let text = crate::support::gateway::config(session_overrides, dir);
    assert!(text.contains("admin = \"127.0.0.1:0\""));
    let text = text.replacen(
        "admin = \"127.0.0.1:0\"",
        &format!("admin = \"{admin}\""),
        1,
    );
    format!(
        r#"{text}
[[accounts]]
id = {OPS}
name = "ops"
token = "{OPS_TOKEN}"
role = "admin"
max_order_qty = 1000
max_order_notional = 100000000
max_open_orders = 50
max_position = 5000

[telemetry]
{telemetry}
"#
    )
}

/// A gateway on the common admin test config (`interval_ms = 20`): the
/// gateway, its admin address, its directory.
pub fn start_gateway() -> (
    crate::support::gateway::Gateway,
    SocketAddr,
    std::path::PathBuf,
) {
    use crate::support::gateway::Gateway;
    let dir = Gateway::new_dir();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = admin_config("", &dir, admin, "interval_ms = 20");
    let gateway = Gateway::start_config(&dir, &text, None).expect("gateway starts");
    (gateway, admin, dir)
}

/// `POST path` with `Authorization: Bearer token` (no header for `None`).
pub fn post(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    match token {
        Some(token) => {
            let bearer = format!("Bearer {token}");
            request(addr, "POST", path, &[("Authorization", &bearer)], "")
        }
        None => request(addr, "POST", path, &[], ""),
    }
}

/// One answer: status, headers (lower-case names) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request and reads the whole answer (the server closes).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("admin endpoint accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[], "")
}

/// The sum over shards of the samples of `metric` in a `/metrics` body.
pub fn total(body: &str, metric: &str) -> u64 {
    body.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Polls `GET path` until `done` holds for the answer (bounded: a test
/// that never sees it fails with the last answer).
pub fn poll_until(addr: SocketAddr, path: &str, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = get(addr, path);
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path}: never as expected; last:\n{}",
            answer.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A number from the `/stats` JSON: `shards[shard].latency[stage].total.count`.
pub fn stage_count(stats: &str, shard: usize, stage: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(stats).expect("JSON");
    json["shards"][shard]["latency"][stage]["total"]["count"]
        .as_u64()
        .unwrap_or(0)
}

/// Whether a tool is on PATH.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}
