//! DNS verification against a small authoritative DNS server running in-process on 127.0.0.1
//! (hickory-proto for the wire format, a tokio UDP socket for transport).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth4agent_protocol::Domain;
use auth4agent_server::dns::{DnsVerifier, TxtVerification};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const EXPECTED: &str = "auth4agent-verification=0123456789abcdef0123456789abcdef";

/// What the test server holds for one name.
#[derive(Clone)]
enum Entry {
    /// TXT records, each as its character-strings.
    Txt(Vec<Vec<&'static str>>),
    /// The name exists but has no TXT record (NOERROR, empty answer).
    NoData,
    /// Answer SERVFAIL.
    ServFail,
    /// Over UDP answer empty with the TC bit set; over TCP answer these TXT records.
    Truncated(Vec<Vec<&'static str>>),
}

type Zone = Arc<Mutex<HashMap<String, Entry>>>;

struct TestDns {
    addr: SocketAddr,
    zone: Zone,
    queries: Arc<Mutex<u32>>,
}

impl TestDns {
    async fn start() -> TestDns {
        // UDP and TCP share one port; the UDP port chosen may be taken for TCP, so retry.
        let (socket, tcp) = 'bind: {
            for _ in 0..50 {
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                if let Ok(tcp) = TcpListener::bind(socket.local_addr().unwrap()).await {
                    break 'bind (socket, tcp);
                }
            }
            panic!("no loopback port free for both UDP and TCP");
        };
        let addr = socket.local_addr().unwrap();
        let zone: Zone = Arc::default();
        let queries = Arc::new(Mutex::new(0));
        let (z, q) = (Arc::clone(&zone), Arc::clone(&queries));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let (z, q) = (Arc::clone(&z), Arc::clone(&q));
                tokio::spawn(async move {
                    // RFC 1035 4.2.2: each message is prefixed with its 2-byte length.
                    loop {
                        let Ok(len) = stream.read_u16().await else {
                            return;
                        };
                        let mut buf = vec![0u8; usize::from(len)];
                        if stream.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let Ok(request) = Message::from_vec(&buf) else {
                            return;
                        };
                        *q.lock().unwrap() += 1;
                        let bytes = answer(&request, &z, Transport::Tcp).to_vec().unwrap();
                        let len = u16::try_from(bytes.len()).unwrap();
                        if stream.write_u16(len).await.is_err()
                            || stream.write_all(&bytes).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        let (z, q) = (Arc::clone(&zone), Arc::clone(&queries));
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(request) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                *q.lock().unwrap() += 1;
                let response = answer(&request, &z, Transport::Udp);
                let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
            }
        });
        TestDns {
            addr,
            zone,
            queries,
        }
    }

    fn set(&self, name: &str, entry: Entry) {
        self.zone.lock().unwrap().insert(name.to_owned(), entry);
    }

    fn queries(&self) -> u32 {
        *self.queries.lock().unwrap()
    }

    fn verifier(&self) -> DnsVerifier {
        DnsVerifier::new(vec![self.addr]).with_timeout(Duration::from_secs(2))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

fn answer(request: &Message, zone: &Zone, transport: Transport) -> Message {
    let mut response = Message::response(request.id, request.op_code);
    response.metadata.recursion_desired = request.recursion_desired;
    response.metadata.authoritative = true;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    response.add_query(query.clone());
    let qname = query.name().clone();
    let key = qname.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let entry = zone.lock().unwrap().get(&key).cloned();
    match entry {
        Some(Entry::ServFail) => response.metadata.response_code = ResponseCode::ServFail,
        Some(Entry::Truncated(_)) if transport == Transport::Udp => {
            response.metadata.truncation = true;
        }
        Some(Entry::Txt(records) | Entry::Truncated(records))
            if query.query_type() == RecordType::TXT =>
        {
            add_txt(&mut response, &qname, records);
        }
        Some(_) => {
            response.add_authority(soa());
        }
        None => {
            response.metadata.response_code = ResponseCode::NXDomain;
            // A long negative TTL: a caching resolver would remember this NXDOMAIN.
            response.add_authority(soa());
        }
    }
    response
}

fn add_txt(response: &mut Message, name: &Name, records: Vec<Vec<&'static str>>) {
    for strings in records {
        let txt = TXT::from_bytes(strings.iter().map(|s| s.as_bytes()).collect());
        response.add_answer(Record::from_rdata(name.clone(), 300, RData::TXT(txt)));
    }
}

fn soa() -> Record {
    let zone = Name::from_ascii("example.com.").unwrap();
    let soa = SOA::new(
        Name::from_ascii("ns.example.com.").unwrap(),
        Name::from_ascii("hostmaster.example.com.").unwrap(),
        1,
        3600,
        600,
        86_400,
        3600,
    );
    Record::from_rdata(zone, 3600, RData::SOA(soa))
}

fn domain() -> Domain {
    Domain::parse("example.com").unwrap()
}

const NAME: &str = "_auth4agent.example.com";

#[tokio::test]
async fn correct_record_verifies() {
    let dns = TestDns::start().await;
    dns.set(NAME, Entry::Txt(vec![vec!["v=spf1 -all"], vec![EXPECTED]]));
    assert_eq!(
        dns.verifier().verify(&domain(), TOKEN).await,
        TxtVerification::Verified
    );
}

#[tokio::test]
async fn wrong_record_is_reported_with_what_was_found() {
    let dns = TestDns::start().await;
    dns.set(
        NAME,
        Entry::Txt(vec![vec![
            "auth4agent-verification=ffffffffffffffffffffffffffffffff",
        ]]),
    );
    assert_eq!(
        dns.verifier().verify(&domain(), TOKEN).await,
        TxtVerification::WrongValue {
            found: vec!["auth4agent-verification=ffffffffffffffffffffffffffffffff".into()]
        }
    );
}

#[tokio::test]
async fn record_split_into_two_strings_is_concatenated() {
    let dns = TestDns::start().await;
    let (head, tail) = EXPECTED.split_at(20);
    dns.set(NAME, Entry::Txt(vec![vec![head, tail]]));
    assert_eq!(
        dns.verifier().verify(&domain(), TOKEN).await,
        TxtVerification::Verified
    );
}

#[tokio::test]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let dns = TestDns::start().await;
    dns.set(NAME, Entry::Truncated(vec![vec![EXPECTED]]));
    assert_eq!(
        dns.verifier().verify(&domain(), TOKEN).await,
        TxtVerification::Verified
    );
    assert!(dns.queries() >= 2, "one UDP and one TCP query");
}

#[tokio::test]
async fn nxdomain_and_nodata_are_both_no_record() {
    let dns = TestDns::start().await;
    assert_eq!(
        dns.verifier().verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord,
        "NXDOMAIN"
    );
    dns.set(NAME, Entry::NoData);
    assert_eq!(
        dns.verifier().verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord,
        "NOERROR without data"
    );
}

#[tokio::test]
async fn record_added_after_a_failed_attempt_is_found_next_time() {
    let dns = TestDns::start().await;
    let verifier = dns.verifier();
    assert_eq!(
        verifier.verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord
    );
    let before = dns.queries();
    dns.set(NAME, Entry::Txt(vec![vec![EXPECTED]]));
    assert_eq!(
        verifier.verify(&domain(), TOKEN).await,
        TxtVerification::Verified,
        "the cached NXDOMAIN (SOA minimum 3600 s) must not hide the new record"
    );
    assert!(
        dns.queries() > before,
        "the second check asked the server again"
    );

    // And the reverse: a removed record is no longer seen.
    dns.zone.lock().unwrap().remove(NAME);
    assert_eq!(
        verifier.verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord
    );
}

#[tokio::test]
async fn servfail_is_a_lookup_failure() {
    let dns = TestDns::start().await;
    dns.set(NAME, Entry::ServFail);
    match dns.verifier().verify(&domain(), TOKEN).await {
        TxtVerification::LookupFailed(msg) => assert!(!msg.is_empty()),
        other => panic!("expected LookupFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_a_lookup_failure() {
    // Bind then drop a socket to get a loopback port with nobody listening.
    let port = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let verifier = DnsVerifier::new(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        .with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    match verifier.verify(&domain(), TOKEN).await {
        TxtVerification::LookupFailed(msg) => assert!(!msg.is_empty()),
        other => panic!("expected LookupFailed, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );
}

#[tokio::test]
async fn silent_server_times_out_as_lookup_failure() {
    // A socket that receives queries and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let verifier = DnsVerifier::new(vec![silent.local_addr().unwrap()])
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    match verifier.verify(&domain(), TOKEN).await {
        TxtVerification::LookupFailed(msg) => assert!(msg.contains("timed out"), "{msg}"),
        other => panic!("expected LookupFailed, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(silent);
}
