//! One HTTP/1.1 exchange per connection: the request head is parsed by
//! `httparse` (no hand-written parser), the body taken by its
//! Content-Length, one response written with `Connection: close`. The
//! bytes come and go through `conns.rs`, which reads every connection
//! without waiting on any one of them.

/// The most a request head may take.
const MAX_HEAD_BYTES: usize = 16 << 10;
/// The most a request body may take.
const MAX_BODY_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 32;

/// A parsed request.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query's parameters, percent-decoded, each name once (a name
    /// given twice is refused at parse).
    pub params: Vec<(String, String)>,
    /// The `Authorization` header's value, if any (a secret: never logged).
    pub authorization: Option<String>,
    /// The `Host` header's value, if any (HTTP/1.0 may leave it out).
    pub host: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `Err(400)` naming the first parameter that is not in `allowed`: an
    /// endpoint answers the query it was given or none.
    pub fn only_params(&self, allowed: &[&str]) -> Result<(), Response> {
        match self
            .params
            .iter()
            .find(|(key, _)| !allowed.contains(&key.as_str()))
        {
            None => Ok(()),
            Some((key, _)) => Err(Response::text(
                400,
                format!(
                    "unknown parameter {key} (this endpoint takes: {})",
                    allowed.join(", ")
                ),
            )),
        }
    }
}

/// `s` percent-decoded, or `None` if a `%` is not followed by two hex
/// digits or the bytes are not UTF-8.
pub fn percent_decoded(s: &str) -> Option<String> {
    let malformed = s
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'%')
        .any(|(i, _)| {
            s.as_bytes()
                .get(i + 1..i + 3)
                .is_none_or(|hex| !hex.iter().all(u8::is_ascii_hexdigit))
        });
    if malformed {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    Some(decoded.into_owned())
}

/// A query's parameters (`a=1&b=2`; `a` alone has the value ""),
/// percent-decoded; `Err(400)` for a bad escape or a name given twice.
fn query_params(query: &str) -> Result<Vec<(String, String)>, Response> {
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(key), Some(value)) = (percent_decoded(key), percent_decoded(value)) else {
            return Err(Response::text(
                400,
                format!("bad percent-encoding in {pair}"),
            ));
        };
        if params.iter().any(|(k, _)| *k == key) {
            return Err(Response::text(400, format!("parameter {key} given twice")));
        }
        params.push((key, value));
    }
    Ok(params)
}

/// A response to write.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Response::new(status, "text/plain; charset=utf-8", body)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// What the bytes received so far make.
pub enum Parsed {
    /// A whole request (head and body).
    Complete(Request),
    /// Not yet a whole request: read more.
    Partial,
    /// Never a request: answer this and close.
    Refused(Response),
}

/// The most a request may take, head and body: a connection's buffer.
pub const MAX_REQUEST_BYTES: usize = MAX_HEAD_BYTES + MAX_BODY_BYTES;

/// Parses the bytes a connection sent so far (`httparse` for the head,
/// then `Content-Length` bytes of body).
pub fn parse(received: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(received) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) if received.len() < MAX_HEAD_BYTES => return Parsed::Partial,
        Ok(httparse::Status::Partial) => {
            return Parsed::Refused(Response::text(431, "request head too large"))
        }
        Err(error) => return Parsed::Refused(Response::text(400, format!("bad request: {error}"))),
    };
    debug_assert!(head_len <= received.len());
    let length = match content_length(&parsed) {
        Ok(length) => length,
        Err(response) => return Parsed::Refused(response),
    };
    let Some(body) = received.get(head_len..head_len + length) else {
        return Parsed::Partial;
    };
    let mut request = match request(&parsed) {
        Ok(request) => request,
        Err(response) => return Parsed::Refused(response),
    };
    request.body = body.to_vec();
    Parsed::Complete(request)
}

/// The bytes of `response` on the wire.
pub fn encode(response: &Response) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    if response.status == 401 {
        head.push_str("WWW-Authenticate: Bearer realm=\"tradsys\"\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    debug_assert!(bytes.len() > response.body.len());
    bytes
}

/// The request a parsed head makes (its body is added once it is in), or
/// `Err(400)` for a bad query.
fn request(parsed: &httparse::Request<'_, '_>) -> Result<Request, Response> {
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let authorization = single_header(parsed, "Authorization")?
        .and_then(|value| std::str::from_utf8(value).ok())
        .map(str::to_string);
    let host = single_header(parsed, "Host")?
        .and_then(|value| std::str::from_utf8(value).ok())
        .map(str::to_string);
    Ok(Request {
        authorization,
        host,
        method: parsed.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        params: query_params(query)?,
        body: Vec::new(),
    })
}

/// The one header named `name` (case-insensitive), `None` if absent, or
/// `Err(400)` if it is given twice: which would count is a guess, and a
/// proxy in front may guess the other way.
fn single_header<'h>(
    parsed: &httparse::Request<'_, 'h>,
    name: &str,
) -> Result<Option<&'h [u8]>, Response> {
    debug_assert!(!name.is_empty() && !name.contains(':'), "a header name");
    let mut named = parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name));
    let first = named.next().map(|h| h.value);
    if named.next().is_some() {
        return Err(Response::text(400, format!("{name} given twice")));
    }
    Ok(first)
}

fn content_length(parsed: &httparse::Request<'_, '_>) -> Result<usize, Response> {
    let Some(value) = single_header(parsed, "Content-Length")? else {
        return Ok(0);
    };
    let length: usize = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Response::text(400, "bad Content-Length"))?;
    if length > MAX_BODY_BYTES {
        return Err(Response::text(413, "request body too large"));
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::{parse, Parsed, MAX_BODY_BYTES, MAX_HEAD_BYTES};
    use proptest::prelude::*;

    fn status(parsed: Parsed) -> Option<u16> {
        match parsed {
            Parsed::Complete(_) => Some(200),
            Parsed::Partial => None,
            Parsed::Refused(response) => Some(response.status),
        }
    }

    #[test]
    fn oversized_heads_and_bodies_are_refused_with_their_codes() {
        let mut head = b"GET /ready HTTP/1.1\r\n".to_vec();
        head.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(status(parse(&head)), Some(431));
        let body = format!(
            "POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(status(parse(body.as_bytes())), Some(413));
        assert_eq!(
            status(parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")),
            Some(400)
        );
        assert_eq!(status(parse(b"\x00\x01 garbage\r\n\r\n")), Some(400));
    }

    #[test]
    fn a_token_or_a_length_given_twice_is_a_bad_request() {
        // Which of two would count is the server's guess, and a proxy in
        // front may guess the other way: neither is taken.
        for twice in [
            "Authorization: Bearer a\r\nAuthorization: Bearer b",
            "authorization: Bearer a\r\nAUTHORIZATION: Bearer a",
            "Content-Length: 0\r\nContent-Length: 0",
        ] {
            let bytes = format!("POST /admin/halt?symbol=1 HTTP/1.1\r\n{twice}\r\n\r\n");
            assert_eq!(status(parse(bytes.as_bytes())), Some(400), "{twice}");
        }
        let once = b"POST /x HTTP/1.1\r\nAuthorization: Bearer a\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(status(parse(once)), Some(200));
    }

    #[test]
    fn a_name_twice_or_a_bad_escape_is_a_bad_query() {
        for query in ["a=1&a=2", "a=1&b&b", "a=%", "a=%2", "a=%zz", "a=%ff"] {
            let bytes = format!("GET /x?{query} HTTP/1.1\r\n\r\n");
            assert_eq!(status(parse(bytes.as_bytes())), Some(400), "{query}");
        }
        let Parsed::Complete(request) = parse(b"GET /x?a=B%54C%2DUSD&b=&&c HTTP/1.1\r\n\r\n")
        else {
            panic!("a good query");
        };
        assert_eq!(request.param("a"), Some("BTC-USD"));
        assert_eq!(request.param("b"), Some(""));
        assert_eq!(request.param("c"), Some(""));
        assert_eq!(request.params.len(), 3);
        assert!(request.only_params(&["a", "b", "c"]).is_ok());
        assert_eq!(request.only_params(&["a"]).unwrap_err().status, 400);
    }

    proptest! {
        /// Every proper prefix of a request asks for more, the whole is
        /// the request (path, query, body), whatever the bytes of the body.
        #[test]
        fn a_request_is_whole_exactly_when_all_its_bytes_are_in(
            path in "/[a-z]{0,12}",
            params in proptest::collection::btree_map("[a-z]{1,4}", "[a-zA-Z0-9 ./&=%-]{0,6}", 0..4),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let encode = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
            };
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
            let query = query.join("&");
            let mut bytes = format!(
                "POST {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&body);
            for end in 0..bytes.len() {
                prop_assert!(matches!(parse(&bytes[..end]), Parsed::Partial), "prefix of {end}");
            }
            let Parsed::Complete(request) = parse(&bytes) else {
                panic!("a whole request");
            };
            prop_assert_eq!(request.method, "POST");
            prop_assert_eq!(request.path, path);
            let decoded: Vec<(String, String)> = params.into_iter().collect();
            prop_assert_eq!(request.params, decoded);
            prop_assert_eq!(request.body, body);
        }

        /// Any query at all: parameters or a 400, never a panic; a name
        /// is never there twice.
        #[test]
        fn any_query_is_parameters_or_a_bad_request(query in "[a-z%0-9A-F=&+]{0,24}") {
            let bytes = format!("GET /x?{query} HTTP/1.1\r\n\r\n");
            match parse(bytes.as_bytes()) {
                Parsed::Complete(request) => {
                    let mut names: Vec<&String> = request.params.iter().map(|(k, _)| k).collect();
                    names.sort();
                    names.dedup();
                    prop_assert_eq!(names.len(), request.params.len());
                }
                Parsed::Refused(response) => prop_assert_eq!(response.status, 400),
                Parsed::Partial => prop_assert!(false, "a whole head"),
            }
        }

        /// Any bytes at all: an answer or a wait, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
        }
    }
}
