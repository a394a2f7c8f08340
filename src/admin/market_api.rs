//! `GET /api/v1/orderbook`, `/api/v1/trades` and `/api/v1/tickers`
//! (docs/OPERATIONS.md, "Market state"): JSON answers from pictures the
//! owner shards paint on request (`market.rs`), each symbol's as of its feed
//! sequence `seq`, so an answer can be laid beside the WebSocket feed at the
//! same sequence. As in the feed's JSON (docs/MARKET_DATA.md), every 64-bit
//! integer (prices in ticks, quantities in lots, sequences, times) is a
//! decimal string, exact; 32-bit values are numbers.

use serde_json::{json, Value};

use super::http::{Request, Response};
use super::market::MarketStore;
use crate::config::SymbolConfig;
use crate::market_data::{ImageLevel, MarketPicture, SymbolPicture, RECENT_TRADES};
use crate::protocol::market_data::json::side_name;
use crate::shard::shared::Shared;

/// Levels per side when `depth=` is not given.
pub const DEFAULT_DEPTH: usize = 20;
/// Trades when `limit=` is not given.
pub const DEFAULT_LIMIT: usize = 50;

/// Answers a path under `/api/v1/`, or `None` if it names no endpoint.
pub fn answer(request: &Request, shared: &Shared, store: &mut MarketStore) -> Option<Response> {
    let rest = request.path.strip_prefix("/api/v1/")?;
    let (endpoint, named) = match rest.split_once('/') {
        Some((endpoint, symbol)) => (endpoint, Some(symbol)),
        None => (rest, None),
    };
    // The parameters each endpoint takes (`symbol=` where the path names
    // none); any other is a bad query.
    let params: &[&str] = match (endpoint, named.is_some()) {
        ("orderbook", true) => &["depth"],
        ("orderbook", false) => &["symbol", "depth"],
        ("trades", true) => &["limit"],
        ("trades", false) => &["symbol", "limit"],
        ("tickers", false) => &[],
        _ => return None,
    };
    if let Err(response) = request.only_params(params) {
        return Some(response);
    }
    // A name in the path is percent-decoded, as the query's values are.
    let named = match named.map(super::http::percent_decoded) {
        None => None,
        Some(Some(name)) => Some(name),
        Some(None) => return Some(Response::text(400, "bad percent-encoding in the path")),
    };
    let response = match endpoint {
        "orderbook" => with_symbol(request, named.as_deref(), shared, store, orderbook),
        "trades" => with_symbol(request, named.as_deref(), shared, store, trades),
        _ => tickers(shared, store),
    };
    Some(response)
}

type Render = fn(&Request, &SymbolConfig, &MarketPicture, &SymbolPicture) -> Response;

/// The symbol named in the path or by `symbol=` (a name or an id), its
/// owner's fresh picture, then `render`.
fn with_symbol(
    request: &Request,
    named: Option<&str>,
    shared: &Shared,
    store: &mut MarketStore,
    render: Render,
) -> Response {
    let Some(wanted) = named.or_else(|| request.param("symbol")) else {
        return Response::text(400, "symbol: /api/v1/<endpoint>/<symbol> or symbol=");
    };
    let Some(config) = shared
        .config
        .symbols
        .iter()
        .find(|s| s.name == wanted || wanted.parse() == Ok(s.id))
    else {
        return Response::text(404, format!("unknown symbol {wanted}"));
    };
    let owner = shared.config.owner_shard(config) as u16;
    if let Err(shard) = store.refresh(&[owner]) {
        return not_answered(shard);
    }
    let (picture, symbol) = store
        .symbol(owner, config.id)
        .expect("the owner's picture holds its symbols");
    render(request, config, picture, symbol)
}

fn not_answered(shard: u16) -> Response {
    Response::text(
        503,
        format!("shard {shard} has not published its market state in time; try again"),
    )
}

/// `name=` as a count in `1..=max`, or `default`.
fn count(request: &Request, name: &str, default: usize, max: usize) -> Result<usize, Response> {
    match request.param(name).map(str::parse::<usize>) {
        None => Ok(default.min(max)),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(Response::text(400, format!("{name}= 1 to {max}"))),
    }
}

fn json_response(value: &Value) -> Response {
    let mut body = value.to_string();
    body.push('\n');
    Response::new(200, "application/json", body)
}

/// What every answer about one symbol begins with.
fn head(config: &SymbolConfig, picture: &MarketPicture, symbol: &SymbolPicture) -> Value {
    debug_assert_eq!(config.id, symbol.symbol);
    json!({
        "symbol": config.name,
        "symbol_id": config.id,
        "epoch": picture.epoch.0.to_string(),
        "seq": symbol.seq.to_string(),
        "ts": symbol.ts_ns.to_string(),
        "status": symbol.status.name(),
    })
}

fn level(level: &ImageLevel) -> Value {
    json!({
        "price": level.price.to_string(),
        "qty": level.qty.to_string(),
        "orders": level.order_count,
    })
}

fn orderbook(
    request: &Request,
    config: &SymbolConfig,
    picture: &MarketPicture,
    symbol: &SymbolPicture,
) -> Response {
    let room = symbol.bids.capacity().min(symbol.asks.capacity());
    let depth = match count(request, "depth", DEFAULT_DEPTH, room) {
        Ok(depth) => depth,
        Err(response) => return response,
    };
    let mut answer = head(config, picture, symbol);
    answer["checksum"] = json!(symbol.checksum);
    answer["depth"] = json!(depth);
    answer["bid_levels"] = json!(symbol.bid_levels);
    answer["ask_levels"] = json!(symbol.ask_levels);
    answer["bids"] = symbol.bids.iter().take(depth).map(level).collect();
    answer["asks"] = symbol.asks.iter().take(depth).map(level).collect();
    json_response(&answer)
}

fn trades(
    request: &Request,
    config: &SymbolConfig,
    picture: &MarketPicture,
    symbol: &SymbolPicture,
) -> Response {
    let limit = match count(request, "limit", DEFAULT_LIMIT, RECENT_TRADES) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let skip = symbol.trades.len().saturating_sub(limit);
    let mut answer = head(config, picture, symbol);
    answer["trades"] = symbol.trades[skip..]
        .iter()
        .map(|t| {
            json!({
                "seq": t.seq.to_string(),
                "ts": t.ts_ns.to_string(),
                "trade_id": t.trade_id.to_string(),
                "price": t.price.to_string(),
                "qty": t.qty.to_string(),
                "aggressor_side": side_name(t.aggressor_side),
            })
        })
        .collect();
    json_response(&answer)
}

/// A price, or null before the first trade of the session.
fn traded_price(symbol: &SymbolPicture, price: i64) -> Value {
    if symbol.ticker.trade_count == 0 {
        Value::Null
    } else {
        json!(price.to_string())
    }
}

fn ticker(config: &SymbolConfig, picture: &MarketPicture, symbol: &SymbolPicture) -> Value {
    let t = &symbol.ticker;
    let mut answer = head(config, picture, symbol);
    answer["bid"] = symbol.bids.first().map_or(Value::Null, level);
    answer["ask"] = symbol.asks.first().map_or(Value::Null, level);
    answer["trade_count"] = json!(t.trade_count.to_string());
    for (key, price) in [
        ("open", t.open),
        ("high", t.high),
        ("low", t.low),
        ("last", t.last),
    ] {
        answer[key] = traded_price(symbol, price);
    }
    answer["last_qty"] = json!(t.last_qty.to_string());
    answer["volume"] = json!(t.volume.to_string());
    answer["notional"] = json!(t.notional.to_string());
    answer["vwap"] = t.vwap().map_or(Value::Null, |v| json!(v.to_string()));
    answer
}

/// Every symbol's ticker and best bid and ask, in config order.
fn tickers(shared: &Shared, store: &mut MarketStore) -> Response {
    if let Err(shard) = store.refresh(&shared.trading_shards) {
        return not_answered(shard);
    }
    let tickers: Vec<Value> = shared
        .config
        .symbols
        .iter()
        .map(|config| {
            let owner = shared.config.owner_shard(config) as u16;
            let (picture, symbol) = store
                .symbol(owner, config.id)
                .expect("the owner's picture holds its symbols");
            ticker(config, picture, symbol)
        })
        .collect();
    json_response(&json!({ "tickers": tickers }))
}
