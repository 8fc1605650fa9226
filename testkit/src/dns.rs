//! `TestDns`: a real, authoritative-looking DNS server on loopback that serves TXT records from a
//! map the test changes at runtime.
//!
//! It listens on UDP and TCP (same port) on 127.0.0.1 and runs on its own thread with its own
//! tokio runtime, so plain `#[test]` functions and `#[tokio::test]`s alike can use it (its methods
//! never block on the caller's runtime). Messages are decoded and encoded with
//! hickory-proto. Answers:
//! - a name with TXT records: NOERROR with every record (each record keeps its character-strings);
//! - a known name without TXT (empty record list, or an empty non-terminal above a known name),
//!   or a non-TXT question: NOERROR with no data and an SOA in the authority section;
//! - an unknown name: NXDOMAIN with an SOA (whose `minimum` is the negative TTL).
//!
//! UDP answers larger than the client's payload size (512 bytes, or its EDNS size) are sent
//! truncated (TC bit, question only) so the client retries over TCP, where the full answer is sent.
//! [`Behavior`] makes the server fail on purpose (SERVFAIL, REFUSED, or silence) or truncate every
//! UDP answer, for error tests; [`TestDns::fail`] makes one name fail while others answer.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// Default TTL of served records and of negative answers (SOA minimum). Deliberately long, like a
/// real zone's, so that a resolver cache that hides a freshly added record shows up in tests.
pub const DEFAULT_TTL: u32 = 300;

/// Largest UDP payload this server sends, whatever a client advertises (the DNS flag day value).
const MAX_UDP_PAYLOAD: u16 = 1232;

/// One TXT record: its character-strings, in order (each at most 255 bytes on the wire). Verifiers
/// are expected to concatenate them.
#[derive(Clone, PartialEq, Eq)]
pub struct TxtRecord(Vec<Vec<u8>>);

impl TxtRecord {
    /// A record made of the given character-strings (a "split" record when there are several).
    ///
    /// # Panics
    /// If a string is longer than 255 bytes: use [`TxtRecord::chunked`] for long values.
    pub fn strings<S: AsRef<[u8]>>(strings: impl IntoIterator<Item = S>) -> TxtRecord {
        let strings: Vec<Vec<u8>> = strings.into_iter().map(|s| s.as_ref().to_vec()).collect();
        for s in &strings {
            assert!(
                s.len() <= 255,
                "a TXT character-string holds at most 255 bytes, got {}",
                s.len()
            );
        }
        TxtRecord(strings)
    }

    /// A record holding `value` cut into character-strings of at most `chunk` bytes (1..=255).
    pub fn chunked(value: &str, chunk: usize) -> TxtRecord {
        assert!(
            (1..=255).contains(&chunk),
            "chunk size must be 1..=255, got {chunk}"
        );
        if value.is_empty() {
            return TxtRecord(vec![Vec::new()]);
        }
        TxtRecord(value.as_bytes().chunks(chunk).map(<[u8]>::to_vec).collect())
    }

    /// The character-strings of this record.
    pub fn parts(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// The character-strings concatenated, as a verifier compares them.
    pub fn joined(&self) -> Vec<u8> {
        self.0.concat()
    }

    fn to_rdata(&self) -> RData {
        RData::TXT(TXT::from_bytes(self.0.iter().map(Vec::as_slice).collect()))
    }
}

impl From<&str> for TxtRecord {
    /// A single-value record; values over 255 bytes are split into 255-byte strings, as zone
    /// files and DNS providers do.
    fn from(value: &str) -> TxtRecord {
        TxtRecord::chunked(value, 255)
    }
}

impl From<String> for TxtRecord {
    fn from(value: String) -> TxtRecord {
        TxtRecord::from(value.as_str())
    }
}

impl fmt::Debug for TxtRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| String::from_utf8_lossy(s)))
            .finish()
    }
}

/// How the server answers every query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Serve the records (the normal case).
    #[default]
    Answer,
    /// Answer every query with this response code and nothing else (e.g. SERVFAIL, REFUSED).
    Fail(ResponseCode),
    /// Read queries but never answer (the client times out).
    Silent,
    /// Serve the records, but truncate every UDP answer (TC bit, question only), however small,
    /// so the client has to retry over TCP.
    TruncateUdp,
}

/// Transport a query came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A query the server received, for assertions (e.g. "the server really asked DNS again").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedQuery {
    /// Lowercase name without the trailing dot.
    pub name: String,
    pub record_type: RecordType,
    pub transport: Transport,
    /// Whether the UDP answer had to be truncated.
    pub truncated: bool,
}

#[derive(Default)]
struct ZoneState {
    records: BTreeMap<String, Vec<TxtRecord>>,
    /// Names answered with a response code of their own, whatever `records` holds.
    failing: BTreeMap<String, ResponseCode>,
    behavior: Behavior,
    ttl: Option<u32>,
    log: Vec<LoggedQuery>,
}

/// The shared, mutable content of the server.
#[derive(Default)]
struct Zone(Mutex<ZoneState>);

impl Zone {
    fn lock(&self) -> MutexGuard<'_, ZoneState> {
        // A test that panicked while holding the lock must not poison every later query.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A DNS server on 127.0.0.1 serving TXT records; stops when dropped.
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Zone>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestDns {
    /// Starts on a free port of 127.0.0.1 (the same port for UDP and TCP).
    ///
    /// # Panics
    /// If no port can be bound (a test cannot go on without its DNS server).
    pub fn start() -> TestDns {
        TestDns::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("TestDns: bind 127.0.0.1")
    }

    /// Starts on `addr` (port 0 picks a free port usable for both UDP and TCP).
    pub fn bind(addr: SocketAddr) -> io::Result<TestDns> {
        let (udp, tcp) = bind_pair(addr)?;
        let addr = udp.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let zone = Arc::new(Zone::default());
        let (shutdown, stop) = oneshot::channel();
        let server_zone = Arc::clone(&zone);
        let thread = std::thread::Builder::new()
            .name(format!("test-dns-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let udp =
                        tokio::net::UdpSocket::from_std(udp).expect("TestDns: register UDP socket");
                    let tcp = tokio::net::TcpListener::from_std(tcp)
                        .expect("TestDns: register TCP listener");
                    tokio::select! {
                        () = serve_udp(udp, Arc::clone(&server_zone)) => {}
                        () = serve_tcp(tcp, server_zone) => {}
                        _ = stop => {}
                    }
                });
                // Dropping the runtime here cancels every open TCP connection task.
            })?;
        Ok(TestDns {
            addr,
            zone,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address both UDP and TCP listen on, e.g. `127.0.0.1:40123`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces every TXT record at `name` (and any [`TestDns::fail`] there). An empty list keeps
    /// the name known (NOERROR, no data).
    pub fn set_txt(&self, name: &str, records: Vec<TxtRecord>) {
        let name = normalize(name);
        let mut zone = self.zone.lock();
        zone.failing.remove(&name);
        zone.records.insert(name, records);
    }

    /// Adds one TXT record at `name`, next to those already there (and ends any failure there).
    pub fn add_txt(&self, name: &str, record: impl Into<TxtRecord>) {
        let name = normalize(name);
        let mut zone = self.zone.lock();
        zone.failing.remove(&name);
        zone.records.entry(name).or_default().push(record.into());
    }

    /// Answers every query for `name` with `code` (e.g. SERVFAIL) and nothing else, until
    /// [`TestDns::set_txt`], [`TestDns::add_txt`] or [`TestDns::remove`] changes that name.
    pub fn fail(&self, name: &str, code: ResponseCode) {
        self.zone.lock().failing.insert(normalize(name), code);
    }

    /// Forgets `name` entirely: it answers NXDOMAIN again (unless a name below it is still known).
    pub fn remove(&self, name: &str) {
        let name = normalize(name);
        let mut zone = self.zone.lock();
        zone.failing.remove(&name);
        zone.records.remove(&name);
    }

    /// Forgets every name.
    pub fn clear(&self) {
        let mut zone = self.zone.lock();
        zone.failing.clear();
        zone.records.clear();
    }

    /// The TXT records currently served at `name` (`None` if the name is not set).
    pub fn txt(&self, name: &str) -> Option<Vec<TxtRecord>> {
        self.zone.lock().records.get(&normalize(name)).cloned()
    }

    /// Changes how every following query is answered.
    pub fn set_behavior(&self, behavior: Behavior) {
        self.zone.lock().behavior = behavior;
    }

    /// TTL of records and of negative answers from now on (default [`DEFAULT_TTL`]).
    pub fn set_ttl(&self, ttl: u32) {
        self.zone.lock().ttl = Some(ttl);
    }

    /// Every query received so far, oldest first.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        self.zone.lock().log.clone()
    }

    /// How many queries (any type, any transport) were received for `name`.
    pub fn query_count(&self, name: &str) -> usize {
        let name = normalize(name);
        self.zone
            .lock()
            .log
            .iter()
            .filter(|q| q.name == name)
            .count()
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for TestDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDns")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Lowercase, no trailing dot: the key of the record map and of the query log.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Binds UDP and TCP on one port; with port 0, retries until a port is free for both.
fn bind_pair(addr: SocketAddr) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let attempts = if addr.port() == 0 { 50 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = std::net::UdpSocket::bind(addr)?;
        let port = udp.local_addr()?.port();
        let tcp_addr = SocketAddr::new(addr.ip(), port);
        match std::net::TcpListener::bind(tcp_addr) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok((udp, tcp));
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")))
}

async fn serve_udp(socket: tokio::net::UdpSocket, zone: Arc<Zone>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = respond(&zone, &buf[..len], Transport::Udp) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: tokio::net::TcpListener, zone: Arc<Zone>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_connection(stream, Arc::clone(&zone)));
    }
}

/// RFC 1035 §4.2.2 framing: each message is preceded by its length as a big-endian u16.
async fn serve_tcp_connection(mut stream: tokio::net::TcpStream, zone: Arc<Zone>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut request).await.is_err() {
            return;
        }
        let Some(reply) = respond(&zone, &request, Transport::Tcp) else {
            continue;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// The wire answer to one wire query, or `None` to stay silent.
fn respond(zone: &Zone, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let request = match Message::from_vec(request) {
        Ok(request) => request,
        Err(_) => {
            // Not a DNS message we can read: FORMERR if there is at least an id to answer to.
            let id = u16::from_be_bytes([*request.first()?, *request.get(1)?]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        }
    };
    if request.message_type != MessageType::Query {
        return None;
    }

    let mut state = zone.lock();
    let mut response = Message::response(request.id, request.op_code);
    response.metadata.recursion_desired = request.recursion_desired;
    response.metadata.checking_disabled = request.checking_disabled;
    response.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        response.set_edns(edns);
    }

    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response.to_vec().ok();
    };
    if request.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return response.to_vec().ok();
    }

    let name = normalize(&query.name().to_ascii());
    let mut logged = LoggedQuery {
        name,
        record_type: query.query_type(),
        transport,
        truncated: false,
    };

    match state.behavior {
        Behavior::Silent => {
            state.log.push(logged);
            return None;
        }
        Behavior::Fail(code) => response.metadata.response_code = code,
        Behavior::Answer | Behavior::TruncateUdp => {
            if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
                // RFC 6891 §6.1.3: only EDNS version 0 exists.
                response.metadata.response_code = ResponseCode::BADVERS;
            } else if let Some(&code) = state.failing.get(&logged.name) {
                response.metadata.response_code = code;
            } else {
                answer(&state, query, &logged.name, &mut response);
            }
        }
    }

    let mut wire = response.to_vec().ok()?;
    if transport == Transport::Udp {
        let limit = usize::from(request.max_payload().min(MAX_UDP_PAYLOAD));
        if wire.len() > limit || state.behavior == Behavior::TruncateUdp {
            wire = response.truncate().to_vec().ok()?;
            logged.truncated = true;
        }
    }
    state.log.push(logged);
    Some(wire)
}

/// Fills the answer (or the negative answer) for one question from the zone.
fn answer(state: &ZoneState, query: &Query, name: &str, response: &mut Message) {
    response.metadata.authoritative = true;
    let ttl = state.ttl.unwrap_or(DEFAULT_TTL);
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        response.metadata.response_code = ResponseCode::Refused;
        return;
    }
    let wants_txt = matches!(query.query_type(), RecordType::TXT | RecordType::ANY);
    match state.records.get(name) {
        Some(records) if wants_txt && !records.is_empty() => {
            for record in records {
                response.add_answer(Record::from_rdata(
                    query.name().clone(),
                    ttl,
                    record.to_rdata(),
                ));
            }
        }
        Some(_) => {
            response.add_authority(soa(ttl));
        }
        None if is_empty_non_terminal(state, name) => {
            response.add_authority(soa(ttl));
        }
        None => {
            response.metadata.response_code = ResponseCode::NXDomain;
            response.add_authority(soa(ttl));
        }
    }
}

/// RFC 8020: a name with known names below it exists, even without records of its own.
fn is_empty_non_terminal(state: &ZoneState, name: &str) -> bool {
    let suffix = format!(".{name}");
    name.is_empty() || state.records.keys().any(|known| known.ends_with(&suffix))
}

/// The SOA of the pretend root zone; its `minimum` is the negative-caching TTL (RFC 2308).
fn soa(ttl: u32) -> Record {
    let name = |s: &str| Name::from_ascii(s).expect("static SOA name");
    let soa = SOA::new(
        name("ns.testdns.invalid."),
        name("hostmaster.testdns.invalid."),
        1,
        3600,
        600,
        86400,
        ttl,
    );
    Record::from_rdata(Name::root(), ttl, RData::SOA(soa))
}

/// The address a standalone server listens on by default (see the `auth4agent-testdns` binary).
pub fn default_listen() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5353))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_record_splits_and_joins() {
        let record = TxtRecord::chunked("auth4agent-verification=0123456789abcdef", 10);
        assert_eq!(record.parts().len(), 4);
        assert_eq!(record.joined(), b"auth4agent-verification=0123456789abcdef");
        assert_eq!(TxtRecord::from("x".repeat(300)).parts().len(), 2);
        assert_eq!(TxtRecord::from("").parts(), &[Vec::<u8>::new()]);
    }

    #[test]
    fn names_are_case_and_dot_insensitive() {
        assert_eq!(
            normalize("_Auth4Agent.Example.COM."),
            "_auth4agent.example.com"
        );
    }

    #[test]
    #[should_panic(expected = "at most 255 bytes")]
    fn long_string_is_refused() {
        let _ = TxtRecord::strings(["y".repeat(256)]);
    }
}
