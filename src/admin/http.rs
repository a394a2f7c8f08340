//! One HTTP/1.1 exchange per connection: the request head is parsed by
//! `httparse` (no hand-written parser), the body read by its
//! Content-Length, one response written with `Connection: close`. Admin
//! traffic is a scrape a second and an operator now and then; one request
//! at a time, each bounded in size and time, is all it needs.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::CONNECTION_TIMEOUT;

/// The most a request head may take.
const MAX_HEAD_BYTES: usize = 16 << 10;
/// The most a request body may take.
const MAX_BODY_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 32;

/// A parsed request.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string without `?` (empty if none).
    pub query: String,
    /// The `Authorization` header's value, if any (a secret: never logged).
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
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
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Reads one request from `stream`, answers it with `handler`, closes.
pub fn serve_one(mut stream: TcpStream, handler: impl FnOnce(&Request) -> Response) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(CONNECTION_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(CONNECTION_TIMEOUT)).is_err()
    {
        return;
    }
    let response = match read_request(&mut stream) {
        Ok(request) => handler(&request),
        Err(response) => response,
    };
    let _ = write_response(&mut stream, &response);
}

fn write_response(stream: &mut TcpStream, response: &Response) -> std::io::Result<()> {
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
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

fn read_request(stream: &mut TcpStream) -> Result<Request, Response> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let mut filled = 0;
    loop {
        let n = stream
            .read(&mut buf[filled..])
            .map_err(|_| Response::text(408, "request not received in time"))?;
        if n == 0 {
            return Err(Response::text(400, "connection closed mid-request"));
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf[..filled]) {
            Ok(httparse::Status::Complete(head_len)) => {
                let request = head(&parsed)?;
                let length = content_length(&parsed)?;
                return with_body(stream, request, &buf[head_len..filled], length);
            }
            Ok(httparse::Status::Partial) if filled < buf.len() => continue,
            Ok(httparse::Status::Partial) => {
                return Err(Response::text(413, "request head too large"))
            }
            Err(error) => return Err(Response::text(400, format!("bad request: {error}"))),
        }
    }
}

fn head(parsed: &httparse::Request<'_, '_>) -> Result<Request, Response> {
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let authorization = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::to_string);
    Ok(Request {
        authorization,
        method: parsed.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        body: Vec::new(),
    })
}

fn content_length(parsed: &httparse::Request<'_, '_>) -> Result<usize, Response> {
    let Some(value) = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    else {
        return Ok(0);
    };
    let length: usize = std::str::from_utf8(value.value)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Response::text(400, "bad Content-Length"))?;
    if length > MAX_BODY_BYTES {
        return Err(Response::text(413, "request body too large"));
    }
    Ok(length)
}

fn with_body(
    stream: &mut TcpStream,
    mut request: Request,
    already: &[u8],
    length: usize,
) -> Result<Request, Response> {
    let mut body = already[..already.len().min(length)].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let want = (length - body.len()).min(chunk.len());
        let n = stream
            .read(&mut chunk[..want])
            .map_err(|_| Response::text(408, "request body not received in time"))?;
        if n == 0 {
            return Err(Response::text(400, "connection closed mid-body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    request.body = body;
    Ok(request)
}
