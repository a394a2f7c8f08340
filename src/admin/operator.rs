//! Operator controls: `POST /admin/halt`, `/admin/resume`, `/admin/kill`,
//! `/admin/unkill`, `/admin/reference-price`, `/admin/end-of-day`.
//!
//! Each needs `Authorization: Bearer <token>` with the token of an account
//! of role `admin` (401 without a known token, 403 for any other role);
//! tokens are compared in constant time and never logged. A request is
//! checked here (ids known, price on the tick), pushed onto the ring of
//! every shard it concerns (the symbol's owner; every trading shard for the
//! kill switch and end of day), and confirmed once those shards report it
//! ran (journaled, then executed) or that their journal refused it. The
//! admin thread waits for that, never the shards.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtrb::Producer;

use super::http::{Request, Response};
use crate::config::{AccountConfig, Role};
use crate::engine::{Command, SymbolId};
use crate::shard::operator::OperatorRequest;
use crate::shard::shared::Shared;

/// The `operator` of a command the gateway's own schedule gave (no account
/// has id 0: config validation).
pub const SCHEDULE: u32 = 0;

/// How long a request waits for the shards to confirm (they take operator
/// commands on their 5 ms tick).
const CONFIRM_WITHIN: Duration = Duration::from_secs(2);

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(usize::from(x ^ y));
    }
    diff == 0
}

/// The account whose token the request bears, if it is an admin.
pub(super) fn authorize<'a>(
    request: &Request,
    shared: &'a Shared,
) -> Result<&'a AccountConfig, Response> {
    let token = request
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Response::text(401, "a bearer token is required"))?;
    // Every account is compared, matched or not: the time taken does not
    // say which (or whether) one matched.
    let mut found = None;
    for account in &shared.config.accounts {
        if constant_time_eq(token.as_bytes(), account.token.as_bytes()) {
            found = Some(account);
        }
    }
    match found {
        None => Err(Response::text(401, "unknown token")),
        Some(account) if account.role != Role::Admin => {
            tracing::warn!(account = account.id, name = %account.name, path = %request.path, "admin: operator command refused: not an admin account");
            Err(Response::text(403, "this token's account is not an admin"))
        }
        Some(account) => Ok(account),
    }
}

/// `symbol=` as an id or a name, known to the config.
fn symbol(request: &Request, shared: &Shared) -> Result<(SymbolId, i64), Response> {
    let wanted = request
        .param("symbol")
        .ok_or_else(|| Response::text(400, "symbol= is required"))?;
    shared
        .config
        .symbols
        .iter()
        .find(|s| s.name == wanted || wanted.parse() == Ok(s.id))
        .map(|s| (s.id, s.tick_size))
        .ok_or_else(|| Response::text(400, format!("unknown symbol {wanted}")))
}

/// What the request asks for, and which shards run it.
fn command(request: &Request, shared: &Shared) -> Result<(Command, Vec<u16>), Response> {
    let owner = |symbol| vec![shared.owner_of(symbol).expect("a configured symbol") as u16];
    let everywhere = || shared.trading_shards.clone();
    let account = || {
        let id: u32 = request
            .param("account")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| Response::text(400, "account= an account id is required"))?;
        match shared.account_index(id) {
            Some(_) => Ok(id),
            None => Err(Response::text(400, format!("unknown account {id}"))),
        }
    };
    let taken: &[&str] = match request.path.as_str() {
        "/admin/halt" | "/admin/resume" => &["symbol"],
        "/admin/kill" | "/admin/unkill" => &["account"],
        "/admin/reference-price" => &["symbol", "price"],
        _ => &[],
    };
    request.only_params(taken)?;
    Ok(match request.path.as_str() {
        "/admin/halt" | "/admin/resume" => {
            let (symbol, _) = symbol(request, shared)?;
            let on = request.path == "/admin/halt";
            (Command::Halt { symbol, on }, owner(symbol))
        }
        "/admin/kill" | "/admin/unkill" => {
            let on = request.path == "/admin/kill";
            (
                Command::KillSwitch {
                    account: account()?,
                    on,
                },
                everywhere(),
            )
        }
        "/admin/reference-price" => {
            let (symbol, tick) = symbol(request, shared)?;
            let price: i64 = request
                .param("price")
                .and_then(|p| p.parse().ok())
                .filter(|&p: &i64| p > 0 && p % tick == 0)
                .ok_or_else(|| {
                    Response::text(
                        400,
                        format!("price= a positive multiple of the tick ({tick})"),
                    )
                })?;
            (Command::SetReferencePrice { symbol, price }, owner(symbol))
        }
        "/admin/end-of-day" => (Command::EndOfDay, everywhere()),
        _ => return Err(Response::text(404, "no such operator command")),
    })
}

/// Runs one operator request (see the module comment).
pub fn answer(
    request: &Request,
    shared: &Shared,
    rings: &mut [Producer<OperatorRequest>],
) -> Response {
    if request.method != "POST" {
        return Response::text(405, "operator commands are POST");
    }
    let operator = match authorize(request, shared) {
        Ok(account) => account,
        Err(response) => return response,
    };
    let (command, shards) = match command(request, shared) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    tracing::info!(operator = %operator.name, account = operator.id, ?command, ?shards, "admin: operator command");
    dispatch(shared, rings, command, &shards, operator.id)
}

/// Pushes `command` to every shard of `shards` and waits (bounded) for
/// them to report it ran. `operator` is the admin account that gave it, or
/// [`SCHEDULE`].
pub fn dispatch(
    shared: &Shared,
    rings: &mut [Producer<OperatorRequest>],
    command: Command,
    shards: &[u16],
    operator: u32,
) -> Response {
    let done = |shard: u16| {
        let board = shared.telemetry.shard(shard as usize);
        (
            board.operator_applied.load(Ordering::Acquire),
            board.operator_refused.load(Ordering::Acquire),
        )
    };
    let before: Vec<(u64, u64)> = shards.iter().map(|&s| done(s)).collect();
    for &shard in shards {
        let pushed = rings[shard as usize].push(OperatorRequest { command, operator });
        if pushed.is_err() {
            return Response::text(503, format!("shard {shard}: operator queue full; retry"));
        }
    }
    let deadline = Instant::now() + CONFIRM_WITHIN;
    loop {
        let now: Vec<(u64, u64)> = shards.iter().map(|&s| done(s)).collect();
        let finished = now.iter().zip(&before).all(|(n, b)| n.0 + n.1 > b.0 + b.1);
        if finished {
            let refused = now.iter().zip(&before).any(|(n, b)| n.1 > b.1);
            return if refused {
                Response::text(503, "refused: the journal cannot take it (see the log)")
            } else {
                Response::text(200, format!("applied: {command:?} on shards {shards:?}"))
            };
        }
        if Instant::now() >= deadline {
            return Response::text(202, "queued; the shards have not confirmed it yet");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
