//! Which endpoint answers which request (docs/OPERATIONS.md, "Admin
//! endpoints"). Nothing here touches a shard: everything read comes from
//! the shards' boards (atomics), the admin thread's own histograms and the
//! market-state pictures shards paint when asked (`market.rs`).

use std::sync::atomic::Ordering;

use super::http::{Request, Response};
use super::store::{LatencyStore, View};
use super::AdminState;
use super::{hgrm, market_api, metrics, operator, stats};
use crate::shard::shared::Shared;
use crate::telemetry::Stage;

/// The dashboard page: self-contained (no CDN), it reads `/stats` and
/// `/latency` every second.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The live book page (docs/MARKET_DATA.md, "Example clients"): the
/// example client `examples/md.html`, which reads the market-data
/// WebSocket feed itself; served here so an operator has it at hand.
const BOOK_PAGE: &str = include_str!("../../examples/md.html");

/// The tag of `BOOK_PAGE` that `/book` fills with the `market_data` port.
const BOOK_PAGE_PORT: &str = r#"<meta name="tradsys-md-port" content="">"#;

/// Ready: start-up finished (every listener bound, every shard recovered
/// its journal), every shard is up, and no shutdown has begun.
pub fn ready(shared: &Shared) -> bool {
    shared.telemetry.started.load(Ordering::Acquire)
        && !shared.shutting_down()
        && shared
            .telemetry
            .shards
            .iter()
            .all(|b| b.up.load(Ordering::Acquire))
}

/// Whether `host` (a `Host` header: a name or address, and maybe a port)
/// names the loopback: `localhost` or a loopback address.
fn names_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:9090`.
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    debug_assert!(!loopback || !name.is_empty());
    loopback
}

/// An endpoint listening on the loopback answers only requests that name
/// the loopback in `Host`: a web page whose name an attacker resolves to
/// 127.0.0.1 (DNS rebinding) reaches it from the operator's browser with
/// its own name there, and would read every GET endpoint.
fn host_refusal(request: &Request, shared: &Shared) -> Option<Response> {
    let listens_on_loopback = shared.config.server.admin.ip().is_loopback();
    let host = request.host.as_deref()?;
    (listens_on_loopback && !names_loopback(host)).then(|| {
        Response::text(
            403,
            "the admin endpoint listens on the loopback: Host must be localhost or a loopback address",
        )
    })
}

pub fn answer(request: &Request, shared: &Shared, state: &mut AdminState) -> Response {
    if let Some(refusal) = host_refusal(request, shared) {
        return refusal;
    }
    if request.path == "/admin/latency-reset" {
        return latency_reset(request, shared, &mut state.store);
    }
    if request.path.starts_with("/admin/") {
        return operator::answer(request, shared, &mut state.operator_rings);
    }
    let get = request.method == "GET";
    if get {
        if let Some(response) = market_api::answer(request, shared, &mut state.market) {
            return response;
        }
    }
    let store = &state.store;
    match request.path.as_str() {
        _ if !get => Response::text(405, "only GET is served here"),
        "/health" => Response::text(200, "ok"),
        "/ready" => {
            if ready(shared) {
                Response::text(200, "ready")
            } else {
                Response::text(503, "not ready")
            }
        }
        "/metrics" => Response::new(200, metrics::CONTENT_TYPE, metrics::render(shared, store)),
        "/dashboard" => Response::new(200, "text/html; charset=utf-8", DASHBOARD),
        "/book" => Response::new(
            200,
            "text/html; charset=utf-8",
            book_page(shared.config.server.market_data.port()),
        ),
        "/stats" => Response::new(200, "application/json", stats::render(shared, store)),
        "/latency" => latency(request, store),
        "/latency/log" => match state.log.as_mut().map(|log| log.contents()) {
            Some(Ok(bytes)) => Response::new(200, "text/plain; charset=utf-8", bytes),
            Some(Err(error)) => Response::text(503, format!("interval log: {error}")),
            None => Response::text(404, "no interval log (telemetry.interval_log)"),
        },
        _ => Response::text(404, "no such endpoint (see docs/OPERATIONS.md)"),
    }
}

/// `POST /admin/latency-reset` (admin token, as the operator controls):
/// restarts the since-reset view of every shard and stage. Admin-side
/// only: nothing is journaled, the shards never reset, and `/metrics`
/// stays cumulative.
fn latency_reset(request: &Request, shared: &Shared, store: &mut LatencyStore) -> Response {
    if request.method != "POST" {
        return Response::text(405, "latency-reset is POST");
    }
    let operator = match operator::authorize(request, shared) {
        Ok(account) => account,
        Err(response) => return response,
    };
    if let Err(response) = request.only_params(&[]) {
        return response;
    }
    store.reset(crate::shard::core::wall_clock_ns());
    tracing::info!(operator = %operator.name, account = operator.id, resets = store.resets, "admin: latency since-reset view reset");
    Response::new(
        200,
        "application/json",
        format!(
            "{{\"reset_at_ns\":{},\"resets\":{}}}\n",
            store.reset_at_ns, store.resets
        ),
    )
}

/// The book page with the configured `market_data` port filled in; an
/// ephemeral port (0) is left out, and the page then needs its `ws=`
/// parameter.
fn book_page(port: u16) -> String {
    assert!(
        BOOK_PAGE.contains(BOOK_PAGE_PORT),
        "examples/md.html lost its port tag"
    );
    if port == 0 {
        return BOOK_PAGE.to_string();
    }
    let filled = format!(r#"<meta name="tradsys-md-port" content="{port}">"#);
    BOOK_PAGE.replacen(BOOK_PAGE_PORT, &filled, 1)
}

/// `GET /latency?stage=NAME[&shard=N|all][&unit=ns|us|ms][&ticks=5]
/// [&format=hgrm|base64][&since=start|reset]`: the `.hgrm` text, or the histogram itself in
/// HdrHistogram's V2 compressed encoding, base64 (what `hdrh`'s
/// `HdrHistogram.decode` and the Java `Histogram.fromString` read).
fn latency(request: &Request, store: &LatencyStore) -> Response {
    let taken = ["stage", "shard", "unit", "ticks", "since", "format"];
    if let Err(response) = request.only_params(&taken) {
        return response;
    }
    let Some(stage) = request.param("stage").and_then(Stage::from_name) else {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        return Response::text(400, format!("stage= one of {}", names.join(", ")));
    };
    let shards: Vec<usize> = match request.param("shard").unwrap_or("all") {
        "all" => (0..store.shard_count()).collect(),
        n => match n.parse::<usize>() {
            Ok(n) if n < store.shard_count() => vec![n],
            _ => return Response::text(400, "shard= a shard number or all"),
        },
    };
    let unit_ratio = match request.param("unit").unwrap_or("us") {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        _ => return Response::text(400, "unit= ns, us or ms"),
    };
    let ticks = match request.param("ticks").map(str::parse::<u32>) {
        None => 5,
        Some(Ok(t)) if (1..=100).contains(&t) => t,
        Some(_) => return Response::text(400, "ticks= 1 to 100"),
    };
    let view = match request.param("since").unwrap_or("start") {
        "start" => View::SinceStart,
        "reset" => View::SinceReset,
        _ => return Response::text(400, "since= start or reset"),
    };
    let (merged, _) = store.merged(stage, &shards, view);
    match request.param("format").unwrap_or("hgrm") {
        "hgrm" => Response::text(
            200,
            hgrm::percentile_distribution(&merged, ticks, unit_ratio),
        ),
        "base64" => Response::text(200, hgrm::encoded(&merged)),
        _ => Response::text(400, "format= hgrm or base64"),
    }
}
