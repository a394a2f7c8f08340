//! The opening handshake (RFC 6455 section 4.2), sans I/O: an HTTP/1.1
//! upgrade request in, an accept or a refusal out. The request is parsed
//! with `httparse`; `Sec-WebSocket-Accept` is base64(SHA-1(key + GUID)).
//!
//! Checks, in order; the first failing one decides the HTTP answer
//! (`docs/MARKET_DATA.md`, "Handshake"):
//!
//! | check | refusal |
//! |---|---|
//! | the request ends (`\r\n\r\n`) within [`MAX_REQUEST_LEN`] | 431 (bigger) or wait (shorter) |
//! | it parses as HTTP/1.1 with at most [`MAX_HEADERS`] headers | 400 |
//! | method `GET` | 405 |
//! | path (before `?`) is the configured one (or the echo or order-entry path, when set) | 404 |
//! | `Upgrade` has the token `websocket`, `Connection` the token `Upgrade` | 400 |
//! | `Sec-WebSocket-Version: 13`, given once | 426 with `Sec-WebSocket-Version: 13` |
//! | `Sec-WebSocket-Key`, given once, is base64 of 16 bytes | 400 |
//! | `Origin`, when sent (once), is allowed by the configuration | 403 |
//! | the format (`?format=` or subprotocol) is known and not contradictory | 400 |

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Longest upgrade request read.
pub const MAX_REQUEST_LEN: usize = 8192;
/// Most header lines in a request.
pub const MAX_HEADERS: usize = 32;
/// RFC 6455's GUID for `Sec-WebSocket-Accept`.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Subprotocols (`Sec-WebSocket-Protocol`) that choose the format.
pub const SUBPROTOCOL_BINARY: &str = "tradsys.bin.v1";
pub const SUBPROTOCOL_JSON: &str = "tradsys.json.v1";
/// The subprotocol of the order-entry path (`docs/PROTOCOL.md`, "WebSocket
/// transport"): confirmed when offered there, never required.
pub const SUBPROTOCOL_ORDER_ENTRY: &str = "tradsys.oe.v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Binary,
    Json,
}

#[derive(Clone, Copy, Debug)]
pub struct HandshakeConfig<'a> {
    /// The one path the endpoint serves (e.g. `/md`).
    pub path: &'a str,
    /// A second path whose clients are echoed (`market_data.echo_path`, a
    /// conformance-test aid); empty: none.
    pub echo_path: &'a str,
    /// The path whose clients speak the order-entry protocol in binary
    /// messages (`market_data.order_entry_path`); empty: none.
    pub trade_path: &'a str,
    /// `Origin` values accepted from browsers; `"*"` accepts any. A request
    /// without `Origin` (not from a browser) is always accepted.
    pub allowed_origins: &'a [&'a str],
    /// The format when the client names none.
    pub default_format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not an error: the request has not ended yet.
    Incomplete,
    TooLarge,
    BadRequest,
    NotGet,
    WrongPath,
    NotUpgrade,
    BadVersion,
    BadKey,
    OriginNotAllowed,
    BadFormat,
}

impl HandshakeError {
    /// HTTP status and reason phrase of the refusal.
    pub fn status(self) -> (u16, &'static str) {
        use HandshakeError::*;
        match self {
            Incomplete | BadRequest | NotUpgrade | BadKey | BadFormat => (400, "Bad Request"),
            TooLarge => (431, "Request Header Fields Too Large"),
            NotGet => (405, "Method Not Allowed"),
            WrongPath => (404, "Not Found"),
            BadVersion => (426, "Upgrade Required"),
            OriginNotAllowed => (403, "Forbidden"),
        }
    }

    /// The one-line body of the refusal.
    pub fn explanation(self) -> &'static str {
        use HandshakeError::*;
        match self {
            Incomplete => "incomplete request",
            TooLarge => "request over 8192 bytes",
            BadRequest => "not an HTTP/1.1 request",
            NotGet => "the upgrade must be a GET",
            WrongPath => "no WebSocket endpoint at this path",
            NotUpgrade => "not a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)",
            BadVersion => "Sec-WebSocket-Version must be 13",
            BadKey => "Sec-WebSocket-Key must be base64 of 16 bytes",
            OriginNotAllowed => "Origin not allowed",
            BadFormat => "unknown or contradictory format",
        }
    }
}

/// An accepted upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub format: Format,
    /// The subprotocol to confirm, if the client offered one of ours.
    pub subprotocol: Option<&'static str>,
    pub accept_key: [u8; 28],
    /// Upgraded on the echo path.
    pub echo: bool,
    /// Upgraded on the order-entry path (`format` is then meaningless).
    pub trade: bool,
    /// Bytes of the request (what follows is the first frame).
    pub request_len: usize,
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(digest, &mut out)
        .expect("20 bytes encode to 28");
    debug_assert_eq!(n, 28);
    out
}

/// Whether a comma-separated header value has `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The header `name` where the request may give it once: `Err` when it
/// is given twice (one of two keys, versions or origins is not picked).
fn single_header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Result<Option<&'a [u8]>, ()> {
    let mut named = headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
    let first = named.next().map(|h| h.value);
    match named.next() {
        Some(_) => Err(()),
        None => Ok(first),
    }
}

/// The format the query asks for (`format=json|binary`), if any.
fn query_format(query: &str) -> Result<Option<Format>, HandshakeError> {
    let mut format = None;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("format=") {
            let f = match value {
                "json" => Format::Json,
                "binary" => Format::Binary,
                _ => return Err(HandshakeError::BadFormat),
            };
            if format.is_some_and(|g| g != f) {
                return Err(HandshakeError::BadFormat);
            }
            format = Some(f);
        }
    }
    Ok(format)
}

/// The subprotocol of ours the client offered first, if any.
fn offered_subprotocol(value: Option<&[u8]>) -> Option<(&'static str, Format)> {
    let value = value?;
    value
        .split(|b| *b == b',')
        .find_map(|t| match t.trim_ascii() {
            t if t == SUBPROTOCOL_BINARY.as_bytes() => Some((SUBPROTOCOL_BINARY, Format::Binary)),
            t if t == SUBPROTOCOL_JSON.as_bytes() => Some((SUBPROTOCOL_JSON, Format::Json)),
            _ => None,
        })
}

fn check_headers(
    headers: &[httparse::Header<'_>],
    config: &HandshakeConfig<'_>,
) -> Result<(), HandshakeError> {
    let upgrade = header(headers, "Upgrade").is_some_and(|v| has_token(v, "websocket"));
    let connection = header(headers, "Connection").is_some_and(|v| has_token(v, "upgrade"));
    if !upgrade || !connection {
        return Err(HandshakeError::NotUpgrade);
    }
    let version = single_header(headers, "Sec-WebSocket-Version");
    if version.map(|v| v.map(<[u8]>::trim_ascii)) != Ok(Some(b"13")) {
        return Err(HandshakeError::BadVersion);
    }
    let key = single_header(headers, "Sec-WebSocket-Key")
        .ok()
        .flatten()
        .ok_or(HandshakeError::BadKey)?;
    let mut decoded = [0u8; 18];
    match base64::engine::general_purpose::STANDARD.decode_slice(key.trim_ascii(), &mut decoded) {
        Ok(16) => {}
        _ => return Err(HandshakeError::BadKey),
    }
    let origin = single_header(headers, "Origin").map_err(|()| HandshakeError::OriginNotAllowed)?;
    if let Some(origin) = origin {
        let allowed = config
            .allowed_origins
            .iter()
            .any(|o| *o == "*" || o.as_bytes() == origin);
        if !allowed {
            return Err(HandshakeError::OriginNotAllowed);
        }
    }
    Ok(())
}

/// Reads an upgrade request.
pub fn accept(request: &[u8], config: &HandshakeConfig<'_>) -> Result<Accepted, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let request_len = match parsed.parse(request) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if request.len() >= MAX_REQUEST_LEN => {
            return Err(HandshakeError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Err(HandshakeError::Incomplete),
        Err(_) => return Err(HandshakeError::BadRequest),
    };
    if request_len > MAX_REQUEST_LEN {
        return Err(HandshakeError::TooLarge);
    }
    if parsed.version != Some(1) {
        return Err(HandshakeError::BadRequest);
    }
    if parsed.method != Some("GET") {
        return Err(HandshakeError::NotGet);
    }
    let target = parsed.path.unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let echo = !config.echo_path.is_empty() && path == config.echo_path;
    let trade = !config.trade_path.is_empty() && path == config.trade_path;
    if path != config.path && !echo && !trade {
        return Err(HandshakeError::WrongPath);
    }
    check_headers(parsed.headers, config)?;
    let key = header(parsed.headers, "Sec-WebSocket-Key")
        .expect("checked")
        .trim_ascii();
    if trade {
        // Order entry has one format, the protocol's bytes; the market-data
        // format choices (query, subprotocols) do not apply and are ignored.
        let offered = header(parsed.headers, "Sec-WebSocket-Protocol")
            .is_some_and(|v| has_token(v, SUBPROTOCOL_ORDER_ENTRY));
        return Ok(Accepted {
            format: Format::Binary,
            subprotocol: offered.then_some(SUBPROTOCOL_ORDER_ENTRY),
            accept_key: accept_key(key),
            echo: false,
            trade: true,
            request_len,
        });
    }
    let from_query = query_format(query)?;
    let offered = offered_subprotocol(header(parsed.headers, "Sec-WebSocket-Protocol"));
    let format = match (from_query, offered) {
        (Some(q), Some((_, p))) if q != p => return Err(HandshakeError::BadFormat),
        (Some(q), _) => q,
        (None, Some((_, p))) => p,
        (None, None) => config.default_format,
    };
    Ok(Accepted {
        format,
        subprotocol: offered.map(|(name, _)| name),
        accept_key: accept_key(key),
        echo,
        trade: false,
        request_len,
    })
}

fn put(out: &mut [u8], at: &mut usize, bytes: &[u8]) -> Option<()> {
    out.get_mut(*at..*at + bytes.len())?.copy_from_slice(bytes);
    *at += bytes.len();
    Some(())
}

/// The `101 Switching Protocols` answer; `None` if `out` is too short (256
/// bytes always suffice).
pub fn write_accept(accepted: &Accepted, out: &mut [u8]) -> Option<usize> {
    let mut at = 0;
    put(out, &mut at, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")?;
    put(out, &mut at, &accepted.accept_key)?;
    if let Some(protocol) = accepted.subprotocol {
        put(out, &mut at, b"\r\nSec-WebSocket-Protocol: ")?;
        put(out, &mut at, protocol.as_bytes())?;
    }
    put(out, &mut at, b"\r\n\r\n")?;
    Some(at)
}

/// The refusal for `error` (the connection is then closed); `None` if `out`
/// is too short (512 bytes always suffice).
pub fn write_refusal(error: HandshakeError, out: &mut [u8]) -> Option<usize> {
    use core::fmt::Write as _;
    let (status, phrase) = error.status();
    let body = error.explanation();
    let mut head = Head {
        buf: [0; 160],
        len: 0,
    };
    let _ = write!(
        head,
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len() + 1
    );
    let mut at = 0;
    put(out, &mut at, &head.buf[..head.len])?;
    if error == HandshakeError::BadVersion {
        put(out, &mut at, b"Sec-WebSocket-Version: 13\r\n")?;
    }
    put(out, &mut at, b"\r\n")?;
    put(out, &mut at, body.as_bytes())?;
    put(out, &mut at, b"\n")?;
    Some(at)
}

/// A fixed buffer for the refusal's status line (`core::fmt`, no allocation).
struct Head {
    buf: [u8; 160],
    len: usize,
}

impl core::fmt::Write for Head {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let dst = self
            .buf
            .get_mut(self.len..self.len + s.len())
            .ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}
