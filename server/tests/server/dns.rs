//! DNS verification (`DnsVerifier`) against the testkit's loopback DNS server: records found,
//! wrong, split, truncated over UDP, absent, freshly added or removed, failing, unreachable, silent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use auth4agent_protocol::Domain;
use auth4agent_server::dns::{DnsVerifier, TxtVerification};
use auth4agent_testkit::dns::{Behavior, Transport};
use auth4agent_testkit::{TestDns, TxtRecord};
use hickory_proto::op::ResponseCode;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const EXPECTED: &str = "auth4agent-verification=0123456789abcdef0123456789abcdef";

fn verifier(dns: &TestDns) -> DnsVerifier {
    DnsVerifier::new(vec![dns.addr()]).with_timeout(Duration::from_secs(2))
}

fn txt(strings: &[&str]) -> TxtRecord {
    TxtRecord::strings(strings)
}

fn domain() -> Domain {
    Domain::parse("example.com").unwrap()
}

const NAME: &str = "_auth4agent.example.com";

#[tokio::test]
async fn correct_record_verifies() {
    let dns = TestDns::start();
    dns.set_txt(NAME, vec![txt(&["v=spf1 -all"]), txt(&[EXPECTED])]);
    assert_eq!(
        verifier(&dns).verify(&domain(), TOKEN).await,
        TxtVerification::Verified
    );
}

#[tokio::test]
async fn wrong_record_is_reported_with_what_was_found() {
    let dns = TestDns::start();
    dns.add_txt(
        NAME,
        "auth4agent-verification=ffffffffffffffffffffffffffffffff",
    );
    assert_eq!(
        verifier(&dns).verify(&domain(), TOKEN).await,
        TxtVerification::WrongValue {
            found: vec!["auth4agent-verification=ffffffffffffffffffffffffffffffff".into()]
        }
    );
}

#[tokio::test]
async fn record_split_into_two_strings_is_concatenated() {
    let dns = TestDns::start();
    let (head, tail) = EXPECTED.split_at(20);
    dns.set_txt(NAME, vec![txt(&[head, tail])]);
    assert_eq!(
        verifier(&dns).verify(&domain(), TOKEN).await,
        TxtVerification::Verified
    );
}

#[tokio::test]
async fn truncated_udp_answer_is_retried_over_tcp() {
    let dns = TestDns::start();
    dns.add_txt(NAME, EXPECTED);
    dns.set_behavior(Behavior::TruncateUdp);
    assert_eq!(
        verifier(&dns).verify(&domain(), TOKEN).await,
        TxtVerification::Verified
    );
    let queries = dns.queries();
    assert!(queries.len() >= 2, "one UDP and one TCP query: {queries:?}");
    assert!(
        queries
            .iter()
            .any(|q| q.transport == Transport::Udp && q.truncated)
    );
    assert!(queries.iter().any(|q| q.transport == Transport::Tcp));
}

#[tokio::test]
async fn nxdomain_and_nodata_are_both_no_record() {
    let dns = TestDns::start();
    assert_eq!(
        verifier(&dns).verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord,
        "NXDOMAIN"
    );
    dns.set_txt(NAME, Vec::new());
    assert_eq!(
        verifier(&dns).verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord,
        "NOERROR without data"
    );
}

#[tokio::test]
async fn record_added_after_a_failed_attempt_is_found_next_time() {
    let dns = TestDns::start();
    // A long negative TTL: a caching resolver would remember the NXDOMAIN.
    dns.set_ttl(3600);
    let verifier = verifier(&dns);
    assert_eq!(
        verifier.verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord
    );
    let before = dns.query_count(NAME);
    dns.add_txt(NAME, EXPECTED);
    assert_eq!(
        verifier.verify(&domain(), TOKEN).await,
        TxtVerification::Verified,
        "the cached NXDOMAIN (SOA minimum 3600 s) must not hide the new record"
    );
    assert!(
        dns.query_count(NAME) > before,
        "the second check asked the server again"
    );

    // And the reverse: a removed record is no longer seen.
    dns.remove(NAME);
    assert_eq!(
        verifier.verify(&domain(), TOKEN).await,
        TxtVerification::NoRecord
    );
}

#[tokio::test]
async fn servfail_is_a_lookup_failure() {
    let dns = TestDns::start();
    dns.fail(NAME, ResponseCode::ServFail);
    match verifier(&dns).verify(&domain(), TOKEN).await {
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
    // A server that receives queries and never answers.
    let silent = TestDns::start();
    silent.set_behavior(Behavior::Silent);
    let verifier = DnsVerifier::new(vec![silent.addr()]).with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    match verifier.verify(&domain(), TOKEN).await {
        TxtVerification::LookupFailed(msg) => assert!(msg.contains("timed out"), "{msg}"),
        other => panic!("expected LookupFailed, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(silent);
}
