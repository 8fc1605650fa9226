//! Raw HTTP/1.1 over a `TcpStream`, for requests no well-behaved client sends: malformed framing,
//! non-UTF-8 bytes, oversized headers, and bodies trickled slower than the server's timeout.
//!
//! Every read has a deadline, so a server that hangs makes the caller fail with `TimedOut` instead of
//! blocking the test forever.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A response read off the wire.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server did with a raw request.
#[derive(Clone, Debug)]
pub enum RawOutcome {
    /// A complete response.
    Response(RawResponse),
    /// The server closed (or reset) the connection before a complete response.
    Closed,
}

impl RawOutcome {
    /// The response, if there was one.
    pub fn response(&self) -> Option<&RawResponse> {
        match self {
            RawOutcome::Response(r) => Some(r),
            RawOutcome::Closed => None,
        }
    }
}

/// How a trickled request ended.
#[derive(Clone, Debug)]
pub struct Trickled {
    pub outcome: RawOutcome,
    /// From the end of the headers to the response (or close).
    pub elapsed: Duration,
    /// Body bytes written before the server answered or closed.
    pub body_bytes_sent: usize,
}

/// An HTTP/1.1 request: request line, `Host`, `Connection: close`, `headers` (raw value bytes, so
/// non-ASCII values are possible), then `Content-Length` and `body` when there is one.
pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
        .into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `bytes` as they are and reads one response. Write errors are ignored (the server may
/// answer and close before reading everything); `Err(TimedOut)` means no answer within `timeout`.
pub fn exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> io::Result<RawOutcome> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
    read_response(&mut stream, deadline)
}

/// Sends `head` (request line and headers, ending with the blank line), then `body` one byte every
/// `interval` until the server answers or closes. `Err(TimedOut)` means it did neither within
/// `give_up` (the server hung).
pub fn trickle(
    addr: SocketAddr,
    head: &[u8],
    body: &[u8],
    interval: Duration,
    give_up: Duration,
) -> io::Result<Trickled> {
    let mut stream = TcpStream::connect_timeout(&addr, give_up)?;
    stream.set_write_timeout(Some(give_up))?;
    stream.write_all(head)?;
    let started = Instant::now();
    let deadline = started + give_up;
    let mut reader = stream.try_clone()?;
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(read_response(&mut reader, deadline));
    });
    let mut sent = 0;
    for byte in body {
        match outcome.recv_timeout(interval) {
            Ok(result) => return finish(result, started, sent),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stream.write_all(std::slice::from_ref(byte)).is_err() {
            break;
        }
        sent += 1;
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    match outcome.recv_timeout(remaining + Duration::from_millis(100)) {
        Ok(result) => finish(result, started, sent),
        Err(_) => Err(io::Error::new(
            ErrorKind::TimedOut,
            "no response and no close",
        )),
    }
}

fn finish(
    result: io::Result<RawOutcome>,
    started: Instant,
    body_bytes_sent: usize,
) -> io::Result<Trickled> {
    Ok(Trickled {
        outcome: result?,
        elapsed: started.elapsed(),
        body_bytes_sent,
    })
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

/// Reads into `buf` once, honouring `deadline`. `Ok(0)` is end of stream.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<usize> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(io::Error::new(ErrorKind::TimedOut, "deadline passed"));
    }
    stream.set_read_timeout(Some(remaining))?;
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk) {
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            Err(io::Error::new(ErrorKind::TimedOut, "read timed out"))
        }
        Err(e) => Err(e),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one response: head, then a `Content-Length` body, a chunked body, or everything to EOF.
fn read_response(stream: &mut TcpStream, deadline: Instant) -> io::Result<RawOutcome> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        match read_some(stream, &mut buf, deadline) {
            Ok(0) => return Ok(RawOutcome::Closed),
            Ok(_) => {}
            Err(e) if is_closed(&e) => return Ok(RawOutcome::Closed),
            Err(e) => return Err(e),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidData, format!("bad status line: {head}"))
        })?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = buf.split_off(head_end + 4);
    let complete = |body: &mut Vec<u8>, stream: &mut TcpStream, done: &dyn Fn(&[u8]) -> bool| {
        while !done(body) {
            match read_some(stream, body, deadline) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if is_closed(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    };
    if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if !complete(&mut body, stream, &|b| b.len() >= length)? {
            return Ok(RawOutcome::Closed);
        }
        body.truncate(length);
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        if !complete(&mut body, stream, &|b| find(b, b"0\r\n\r\n").is_some())? {
            return Ok(RawOutcome::Closed);
        }
        body = dechunk(&body);
    } else {
        // Neither: the body runs to the end of the stream.
        complete(&mut body, stream, &|_| false)?;
    }
    Ok(RawOutcome::Response(RawResponse {
        status,
        headers,
        body,
    }))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size = std::str::from_utf8(&data[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = data.get(end + 2..).unwrap_or_default();
    }
    out
}
