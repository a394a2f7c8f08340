//! `tradsys admin ...`: the command line for the admin endpoint. Reads
//! (`health`, `ready`, `metrics`, `stats`, `latency`) and operator controls
//! (`halt`, `resume`, `kill`, `unkill`, `reference-price`, `end-of-day`,
//! `latency-reset`),
//! each one HTTP request to `--addr`. The token comes from
//! `TRADSYS_ADMIN_TOKEN` or `--token-file`, never from an argument (which
//! any user could read in the process list). The answer's body is printed;
//! the exit status is 0 for a 2xx answer, 1 otherwise, 2 if the request
//! could not be made.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The admin endpoint (`[server] admin`).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub addr: SocketAddr,
    /// A file holding the bearer token of an admin account (first line).
    /// Without it, TRADSYS_ADMIN_TOKEN.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(clap::Subcommand)]
pub enum AdminAction {
    /// GET /health.
    Health,
    /// GET /ready.
    Ready,
    /// GET /metrics.
    Metrics,
    /// GET /stats.
    Stats,
    /// GET /latency: a stage's percentile distribution (.hgrm).
    Latency {
        stage: String,
        /// A shard number, or all (merged).
        #[arg(long, default_value = "all")]
        shard: String,
        #[arg(long, default_value = "us", value_parser = ["ns", "us", "ms"])]
        unit: String,
        /// Since start, or since the last `latency-reset`.
        #[arg(long, default_value = "start", value_parser = ["start", "reset"])]
        since: String,
    },
    /// Halt trading on a symbol (id or name).
    Halt { symbol: String },
    /// Resume trading on a symbol.
    Resume { symbol: String },
    /// Kill switch on: cancel the account's orders, refuse new ones.
    Kill { account: u32 },
    /// Kill switch off.
    Unkill { account: u32 },
    /// Move a symbol's reference price (its price band follows).
    ReferencePrice { symbol: String, price: i64 },
    /// End of day: expire every resting Day order.
    EndOfDay,
    /// Begin the latency since-reset view again (the shards never reset).
    LatencyReset,
}

/// A value as one query parameter's value: percent-encoded, so that what
/// it holds (`&`, `=`, spaces) cannot make another parameter or break the
/// request line.
fn q(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl AdminAction {
    /// (method, path and query).
    fn target(&self) -> (&'static str, String) {
        match self {
            AdminAction::Health => ("GET", "/health".into()),
            AdminAction::Ready => ("GET", "/ready".into()),
            AdminAction::Metrics => ("GET", "/metrics".into()),
            AdminAction::Stats => ("GET", "/stats".into()),
            AdminAction::Latency {
                stage,
                shard,
                unit,
                since,
            } => (
                "GET",
                format!(
                    "/latency?stage={}&shard={}&unit={unit}&since={since}",
                    q(stage),
                    q(shard)
                ),
            ),
            AdminAction::Halt { symbol } => ("POST", format!("/admin/halt?symbol={}", q(symbol))),
            AdminAction::Resume { symbol } => {
                ("POST", format!("/admin/resume?symbol={}", q(symbol)))
            }
            AdminAction::Kill { account } => ("POST", format!("/admin/kill?account={account}")),
            AdminAction::Unkill { account } => ("POST", format!("/admin/unkill?account={account}")),
            AdminAction::ReferencePrice { symbol, price } => (
                "POST",
                format!("/admin/reference-price?symbol={}&price={price}", q(symbol)),
            ),
            AdminAction::EndOfDay => ("POST", "/admin/end-of-day".into()),
            AdminAction::LatencyReset => ("POST", "/admin/latency-reset".into()),
        }
    }
}

/// The token, from `--token-file`'s first line or TRADSYS_ADMIN_TOKEN;
/// one that is not 1 to 32 printable ASCII bytes (as every configured
/// token is) is refused here, so it never puts its bytes in the request
/// head (a CR LF in it would add a header).
fn token(args: &AdminArgs) -> Result<Option<String>, String> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|text| text.lines().next().map(|l| l.trim().to_string()))
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => std::env::var("TRADSYS_ADMIN_TOKEN").ok(),
    };
    match token {
        Some(token)
            if token.is_empty()
                || token.len() > crate::protocol::client::TOKEN_LEN
                || !token.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
        {
            Err("the admin token must be 1 to 32 printable ASCII bytes (as in the config)".into())
        }
        token => Ok(token),
    }
}

pub fn run(args: &AdminArgs) -> ExitCode {
    let (method, target) = args.action.target();
    let token = match token(args) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match exchange(args.addr, method, &target, token.as_deref()) {
        Ok((status, body)) => {
            print!("{body}");
            if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("{method} {target}: HTTP {status}");
                if status == 401 && token.is_none() {
                    eprintln!(
                        "operator controls need an admin account's token: TRADSYS_ADMIN_TOKEN=... or --token-file FILE (the demo config's is ops-demo-token)"
                    );
                }
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("{method} {target} at {}: {e}", args.addr);
            ExitCode::from(2)
        }
    }
}

/// One request; the answer's status and body (parsed by httparse).
fn exchange(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(10);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| match e.kind() {
        // What a read past its timeout reports on Linux (EAGAIN), which
        // says nothing to an operator.
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer within {} s", timeout.as_secs())
        }
        _ => e.to_string(),
    })?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&raw) {
        Ok(httparse::Status::Complete(head)) => Ok((
            response.code.unwrap_or(0),
            String::from_utf8_lossy(&raw[head..]).into_owned(),
        )),
        Ok(httparse::Status::Partial) => Err("incomplete answer".into()),
        Err(e) => Err(format!("bad answer: {e}")),
    }
}
