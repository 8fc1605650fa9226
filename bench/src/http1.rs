//! The measured loop's HTTP/1.1 client: one dedicated keep-alive connection per task over a `TCP_NODELAY`
//! socket, made for exactly what the loop does, `POST` a JSON body and read a `Content-Length`-framed answer
//! (any other framing is refused as [`ConnError::BadResponse`]). Buffers are reused; a request is one `write`
//! and a response usually one `read`, headers parsed with `httparse` (hyper's parser).
//!
//! A transport error drops the connection, as do a `Connection: close` answer and a close by the server while
//! the connection was idle (keep-alive or header-read timeout); the next exchange opens a new one and counts it.

use std::io::Write as _;
use std::net::SocketAddr;
use std::task::Poll;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const MAX_HEADERS: usize = 32;
/// Initial read buffer: every answer of the measured endpoints fits many times over.
const READ_BUF: usize = 16 * 1024;
/// Largest answer accepted, head and body.
const MAX_RESPONSE: usize = 1 << 20;

/// Where the measured loop connects: a socket address, the `Host` header, and the base URL's path prefix.
#[derive(Clone, Debug)]
pub struct Target {
    addr: SocketAddr,
    host: String,
    prefix: String,
}

impl Target {
    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resolves a base URL such as `http://127.0.0.1:8080` (plain HTTP only) once.
    pub async fn resolve(base: &str) -> anyhow::Result<Target> {
        let Some(rest) = base.trim_end_matches('/').strip_prefix("http://") else {
            bail!("the measured loop speaks plain http:// only, not {base}");
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            bail!("base URL without host: {base}");
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        });
        let with_port = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(with_port.as_str())
            .await
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .with_context(|| format!("{authority} resolves to no address"))?;
        Ok(Target {
            addr,
            host: authority.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnError {
    /// Connect, write or read failed, or the server closed the connection before answering in full.
    Transport,
    /// The answer was not a well-formed, `Content-Length`-framed HTTP/1.x response.
    BadResponse,
}

/// One keep-alive connection, (re)opened on demand.
pub struct Conn {
    target: Target,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    buf: Vec<u8>,
    opened: bool,
    /// Connections opened after the first one (after a failure or a close by the server).
    pub reconnects: u64,
}

impl Conn {
    /// A connection to `target`, opened by the first exchange.
    pub fn new(target: Target) -> Conn {
        Conn {
            target,
            stream: None,
            request: Vec::with_capacity(2048),
            buf: vec![0; READ_BUF],
            opened: false,
            reconnects: 0,
        }
    }

    async fn open(&mut self) -> Result<TcpStream, ConnError> {
        if self.opened {
            self.reconnects += 1;
        }
        self.opened = true;
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|_| ConnError::Transport)?;
        stream.set_nodelay(true).map_err(|_| ConnError::Transport)?;
        Ok(stream)
    }

    /// `POST path` (under the base URL's prefix) with a JSON `body`; returns the status and the response body.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> Result<(u16, &[u8]), ConnError> {
        self.post(path, "application/json", body).await
    }

    /// `POST path` with a `body` of media type `content_type`; returns the status and the response body.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, &[u8]), ConnError> {
        let mut stream = match self.stream.take() {
            Some(s) if !readable_while_idle(&s).await => s,
            _ => self.open().await?,
        };
        let r = &mut self.request;
        r.clear();
        r.extend_from_slice(b"POST ");
        r.extend_from_slice(self.target.prefix.as_bytes());
        r.extend_from_slice(path.as_bytes());
        r.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        r.extend_from_slice(self.target.host.as_bytes());
        r.extend_from_slice(b"\r\ncontent-type: ");
        r.extend_from_slice(content_type.as_bytes());
        r.extend_from_slice(b"\r\ncontent-length: ");
        write!(r, "{}\r\n\r\n", body.len()).map_err(|_| ConnError::Transport)?;
        r.extend_from_slice(body);
        stream
            .write_all(r)
            .await
            .map_err(|_| ConnError::Transport)?;
        let answer = read_response(&mut stream, &mut self.buf).await?;
        if answer.keep_alive {
            self.stream = Some(stream);
        }
        Ok((answer.status, &self.buf[answer.body]))
    }
}

/// Whether an idle connection has something to read, which can only be the server's close (or garbage):
/// either way it is not reused. Costs no syscall: the reactor tracks readiness, and the previous answer's
/// last short read cleared it.
async fn readable_while_idle(stream: &TcpStream) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(stream.poll_read_ready(cx).is_ready())).await
}

struct Answer {
    status: u16,
    body: std::ops::Range<usize>,
    keep_alive: bool,
}

/// Reads one response into `buf` (grown as needed).
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Answer, ConnError> {
    let mut filled = 0;
    let mut framed: Option<Answer> = None;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_RESPONSE {
                return Err(ConnError::BadResponse);
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .map_err(|_| ConnError::Transport)?;
        if n == 0 {
            return Err(ConnError::Transport);
        }
        filled += n;
        if framed.is_none() {
            framed = parse_head(&buf[..filled])?;
        }
        if let Some(answer) = &mut framed
            && filled >= answer.body.end
        {
            // Bytes after the answer were never asked for: do not reuse the connection.
            answer.keep_alive &= filled == answer.body.end;
            return framed.ok_or(ConnError::BadResponse);
        }
    }
}

/// The status and framing of a response once its head is complete; `None` while it is not.
fn parse_head(bytes: &[u8]) -> Result<Option<Answer>, ConnError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ConnError::BadResponse),
    };
    let status = resp.code.ok_or(ConnError::BadResponse)?;
    if status < 200 {
        return Err(ConnError::BadResponse);
    }
    let mut keep_alive = resp.version == Some(1);
    let mut len = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(ConnError::BadResponse)?;
            if len.is_some_and(|l| l != v) {
                return Err(ConnError::BadResponse);
            }
            len = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ConnError::BadResponse);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && resp.version == Some(0) {
                    keep_alive = true;
                }
            }
        }
    }
    let len = match len {
        Some(len) if len <= MAX_RESPONSE => len,
        None if status == 204 || status == 304 => 0,
        _ => return Err(ConnError::BadResponse),
    };
    Ok(Some(Answer {
        status,
        body: head..head + len,
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    /// How the test server treats one connection.
    #[derive(Clone, Copy, PartialEq)]
    enum Behaviour {
        /// Close without answering.
        HangUp,
        /// One `200` with `connection: close`.
        OnceThenClose,
        /// Keep-alive `200`s to two requests (the second answer split in two writes), then close: the client
        /// sees the close while idle.
        TwiceThenIdleClose,
    }

    fn read_request(s: &mut std::net::TcpStream, addr: SocketAddr) {
        let mut req = Vec::new();
        let mut buf = [0; 1024];
        while !req.windows(6).any(|w| w == b"\r\n\r\n{}") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "request cut short");
            req.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&req).to_ascii_lowercase();
        assert!(head.starts_with("post /p/v1/x http/1.1\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: application/json\r\n"));
        assert!(head.contains("\r\ncontent-length: 2\r\n"));
        assert!(head.contains(&format!("\r\nhost: {addr}\r\n")));
    }

    /// A server treating its `i`-th connection as `behaviours[i]` says.
    fn server(behaviours: Vec<Behaviour>) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for behaviour in behaviours {
                let (mut s, _) = listener.accept().unwrap();
                match behaviour {
                    Behaviour::HangUp => {}
                    Behaviour::OnceThenClose => {
                        read_request(&mut s, addr);
                        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n{\"a\"")
                            .unwrap();
                    }
                    Behaviour::TwiceThenIdleClose => {
                        read_request(&mut s, addr);
                        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n{\"a\"")
                            .unwrap();
                        read_request(&mut s, addr);
                        s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n")
                            .unwrap();
                        std::thread::sleep(Duration::from_millis(20));
                        s.write_all(b"\r\n{\"b\"").unwrap();
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        });
        Target {
            addr,
            host: addr.to_string(),
            prefix: "/p".into(),
        }
    }

    async fn post(conn: &mut Conn) -> Result<(u16, Vec<u8>), ConnError> {
        conn.post_json("/v1/x", b"{}")
            .await
            .map(|(s, b)| (s, b.to_vec()))
    }

    #[tokio::test]
    async fn reuses_the_connection_and_reopens_after_a_close_without_failing() {
        use Behaviour::*;
        let mut conn = Conn::new(server(vec![
            OnceThenClose,
            TwiceThenIdleClose,
            OnceThenClose,
        ]));
        assert_eq!(post(&mut conn).await, Ok((200, b"{\"a\"".to_vec())));
        assert_eq!(post(&mut conn).await, Ok((200, b"{\"a\"".to_vec())));
        assert_eq!(post(&mut conn).await, Ok((404, b"{\"b\"".to_vec())));
        assert_eq!(conn.reconnects, 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(post(&mut conn).await, Ok((200, b"{\"a\"".to_vec())));
        assert_eq!(conn.reconnects, 2);
    }

    #[tokio::test]
    async fn a_dropped_connection_fails_one_exchange_then_reconnects() {
        let mut conn = Conn::new(server(vec![Behaviour::HangUp, Behaviour::OnceThenClose]));
        assert_eq!(post(&mut conn).await, Err(ConnError::Transport));
        assert_eq!(post(&mut conn).await, Ok((200, b"{\"a\"".to_vec())));
        assert_eq!(conn.reconnects, 1);
    }

    #[test]
    fn refuses_answers_it_cannot_frame() {
        let framed =
            |s: &str| parse_head(s.as_bytes()).map(|a| a.map(|a| (a.status, a.body, a.keep_alive)));
        assert_eq!(framed("HTTP/1.1 200 OK\r\ncontent-le"), Ok(None));
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"),
            Ok(Some((200, 38..41, true)))
        );
        assert_eq!(
            framed("HTTP/1.0 204 No\r\n\r\n"),
            Ok(Some((204, 19..19, false)))
        );
        assert_eq!(
            framed("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n")
                .map(|a| a.map(|a| a.2)),
            Ok(Some(true))
        );
        for bad in [
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert_eq!(framed(bad), Err(ConnError::BadResponse), "{bad}");
        }
    }

    #[tokio::test]
    async fn resolves_plain_http_only() {
        let t = Target::resolve("http://127.0.0.1:8080/").await.unwrap();
        assert_eq!(t.addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!((t.host.as_str(), t.prefix.as_str()), ("127.0.0.1:8080", ""));
        let t = Target::resolve("http://127.0.0.1/api").await.unwrap();
        assert_eq!(t.addr.port(), 80);
        assert_eq!((t.host.as_str(), t.prefix.as_str()), ("127.0.0.1", "/api"));
        assert!(Target::resolve("https://127.0.0.1:8443").await.is_err());
    }
}
