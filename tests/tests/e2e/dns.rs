//! `TestDns` over real sockets: what a resolver (hickory-resolver, as the server uses) and raw
//! UDP/TCP queries see. Needs neither the server nor the CLI.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use auth4agent_testkit::TestDns;
use auth4agent_testkit::dns::{Behavior, Transport, TxtRecord};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;

const NAME: &str = "_auth4agent.example.com";
const VALUE: &str = "auth4agent-verification=0123456789abcdef0123456789abcdef";

/// TXT records as a fresh hickory resolver (UDP, falling back to TCP on truncation) sees them:
/// one `Vec` of character-strings per record. A new resolver per call: no cache in between.
fn resolve_txt(addr: SocketAddr, name: &str) -> Result<Vec<Vec<Vec<u8>>>, NetError> {
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(2);
    options.attempts = 1;
    let resolver = Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .expect("build the resolver");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lookup = runtime.block_on(resolver.txt_lookup(format!("{name}.")))?;
    Ok(lookup
        .answers()
        .iter()
        .filter_map(|record| txt_strings(&record.data))
        .collect())
}

fn txt_strings(data: &RData) -> Option<Vec<Vec<u8>>> {
    match data {
        RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
        _ => None,
    }
}

fn query(name: &str, record_type: RecordType, edns: Option<u16>) -> Message {
    let mut message = Message::query();
    message.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).expect("name"),
        record_type,
    ));
    message.metadata.recursion_desired = true;
    if let Some(size) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(size);
        message.set_edns(opt);
    }
    message
}

/// One raw query over UDP; returns the answer and its size on the wire.
fn udp_exchange(addr: SocketAddr, message: &Message) -> std::io::Result<(Message, usize)> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    socket.send_to(&message.to_vec().expect("encode"), addr)?;
    let mut buf = [0u8; 65535];
    let (len, _) = socket.recv_from(&mut buf)?;
    let answer = Message::from_vec(&buf[..len]).expect("decode the answer");
    assert_eq!(answer.id, message.id, "the answer carries the query id");
    Ok((answer, len))
}

/// One raw query over TCP (length-prefixed).
fn tcp_exchange(addr: SocketAddr, message: &Message) -> Message {
    let mut stream = TcpStream::connect(addr).expect("connect over TCP");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let wire = message.to_vec().expect("encode");
    let len = u16::try_from(wire.len()).expect("small query");
    stream.write_all(&len.to_be_bytes()).expect("write length");
    stream.write_all(&wire).expect("write query");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("read length");
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).expect("read answer");
    Message::from_vec(&answer).expect("decode the answer")
}

fn answer_strings(message: &Message) -> Vec<Vec<Vec<u8>>> {
    message
        .answers
        .iter()
        .filter_map(|record| txt_strings(&record.data))
        .collect()
}

fn bytes(strings: &[&str]) -> Vec<Vec<u8>> {
    strings.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn resolver_sees_a_txt_record() {
    let dns = TestDns::start();
    assert!(dns.addr().ip().is_loopback());
    dns.add_txt(NAME, VALUE);
    assert_eq!(
        resolve_txt(dns.addr(), NAME).expect("lookup"),
        vec![bytes(&[VALUE])]
    );
    let logged = dns.queries();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].name, NAME);
    assert_eq!(logged[0].record_type, RecordType::TXT);
    assert_eq!(logged[0].transport, Transport::Udp);
}

#[test]
fn split_record_keeps_its_character_strings() {
    let dns = TestDns::start();
    let (head, tail) = VALUE.split_at(30);
    dns.set_txt(NAME, vec![TxtRecord::strings([head, tail])]);
    let records = resolve_txt(dns.addr(), NAME).expect("lookup");
    assert_eq!(records, vec![bytes(&[head, tail])]);
    assert_eq!(records[0].concat(), VALUE.as_bytes());
}

#[test]
fn several_records_at_one_name() {
    let dns = TestDns::start();
    dns.add_txt(NAME, "v=spf1 -all");
    dns.add_txt(NAME, VALUE);
    dns.add_txt("other.example.com", "unrelated");
    let mut records = resolve_txt(dns.addr(), NAME).expect("lookup");
    records.sort();
    assert_eq!(records, vec![bytes(&[VALUE]), bytes(&["v=spf1 -all"])]);
}

#[test]
fn long_value_is_served_in_255_byte_strings() {
    let dns = TestDns::start();
    let long = "x".repeat(600);
    dns.add_txt(NAME, long.as_str());
    let records = resolve_txt(dns.addr(), NAME).expect("lookup");
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].iter().map(Vec::len).collect::<Vec<_>>(),
        vec![255, 255, 90]
    );
    assert_eq!(records[0].concat(), long.as_bytes());
}

#[test]
fn unknown_name_is_nxdomain() {
    let dns = TestDns::start();
    dns.add_txt("_auth4agent.other.example", VALUE);
    let error = resolve_txt(dns.addr(), NAME).expect_err("no such name");
    assert!(error.is_nx_domain(), "{error:?}");

    let (answer, _) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert_eq!(answer.response_code, ResponseCode::NXDomain);
    assert!(answer.answers.is_empty());
    assert!(answer.authoritative, "answers are authoritative");
    assert!(
        answer
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA),
        "negative answers carry an SOA (negative TTL): {answer:?}"
    );
}

#[test]
fn known_name_without_txt_is_nodata() {
    let dns = TestDns::start();
    dns.set_txt(NAME, Vec::new());
    dns.add_txt("_auth4agent.sub.example.org", VALUE);

    let error = resolve_txt(dns.addr(), NAME).expect_err("no TXT");
    assert!(
        error.is_no_records_found() && !error.is_nx_domain(),
        "{error:?}"
    );

    for (name, record_type) in [
        (NAME, RecordType::TXT),
        // A name with TXT records has no A records.
        ("_auth4agent.sub.example.org", RecordType::A),
        // An empty non-terminal exists (RFC 8020).
        ("sub.example.org", RecordType::TXT),
    ] {
        let (answer, _) =
            udp_exchange(dns.addr(), &query(name, record_type, None)).expect("answer");
        assert_eq!(
            answer.response_code,
            ResponseCode::NoError,
            "{name} {record_type}"
        );
        assert!(
            answer.answers.is_empty(),
            "{name} {record_type}: {answer:?}"
        );
        assert!(
            answer
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::SOA)
        );
    }
}

#[test]
fn records_change_at_runtime() {
    let dns = TestDns::start();
    assert!(
        resolve_txt(dns.addr(), NAME)
            .expect_err("empty zone")
            .is_nx_domain()
    );

    dns.add_txt(NAME, VALUE);
    assert_eq!(
        resolve_txt(dns.addr(), NAME).expect("added"),
        vec![bytes(&[VALUE])]
    );

    dns.set_txt(NAME, vec![TxtRecord::from("auth4agent-verification=wrong")]);
    assert_eq!(
        resolve_txt(dns.addr(), NAME).expect("replaced"),
        vec![bytes(&["auth4agent-verification=wrong"])]
    );
    assert_eq!(
        dns.txt(NAME),
        Some(vec![TxtRecord::from("auth4agent-verification=wrong")])
    );

    dns.remove(NAME);
    assert!(
        resolve_txt(dns.addr(), NAME)
            .expect_err("removed")
            .is_nx_domain()
    );
    assert_eq!(dns.txt(NAME), None);

    dns.add_txt(NAME, VALUE);
    dns.clear();
    assert!(
        resolve_txt(dns.addr(), NAME)
            .expect_err("cleared")
            .is_nx_domain()
    );
    assert_eq!(dns.query_count(NAME), 5);
}

#[test]
fn names_match_case_insensitively() {
    let dns = TestDns::start();
    dns.add_txt("_Auth4Agent.Example.COM.", VALUE);
    assert_eq!(
        resolve_txt(dns.addr(), "_AUTH4AGENT.example.com").expect("lookup"),
        vec![bytes(&[VALUE])]
    );
}

#[test]
fn tcp_serves_the_same_answers() {
    let dns = TestDns::start();
    dns.add_txt(NAME, VALUE);
    let answer = tcp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None));
    assert_eq!(answer.response_code, ResponseCode::NoError);
    assert_eq!(answer_strings(&answer), vec![bytes(&[VALUE])]);
    let missing = tcp_exchange(dns.addr(), &query("nothing.example", RecordType::TXT, None));
    assert_eq!(missing.response_code, ResponseCode::NXDomain);
    assert_eq!(
        dns.queries()
            .iter()
            .filter(|q| q.transport == Transport::Tcp)
            .count(),
        2
    );
}

#[test]
fn large_answer_is_truncated_over_udp_and_complete_over_tcp() {
    let dns = TestDns::start();
    let records: Vec<TxtRecord> = (0..20)
        .map(|i| TxtRecord::from(format!("{i:02}-{}", "y".repeat(200))))
        .collect();
    dns.set_txt(NAME, records.clone());

    let (truncated, size) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert!(truncated.truncation, "TC must be set: {truncated:?}");
    assert!(
        size <= 512,
        "a client without EDNS gets at most 512 bytes, got {size}"
    );
    assert!(truncated.answers.is_empty());
    assert_eq!(truncated.queries.len(), 1, "the question is echoed");

    let full = tcp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None));
    assert!(!full.truncation);
    assert_eq!(full.answers.len(), 20);

    // The resolver retries over TCP by itself and sees every record.
    let mut seen = resolve_txt(dns.addr(), NAME).expect("lookup through TCP fallback");
    seen.sort();
    let mut expected: Vec<Vec<Vec<u8>>> = records.iter().map(|r| r.parts().to_vec()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert!(
        dns.queries()
            .iter()
            .any(|q| q.transport == Transport::Udp && q.truncated)
    );
    assert!(dns.queries().iter().any(|q| q.transport == Transport::Tcp));
}

#[test]
fn edns_clients_get_larger_udp_answers() {
    let dns = TestDns::start();
    // About 800 bytes of answer: over 512, under 1232.
    let records: Vec<TxtRecord> = (0..4)
        .map(|i| TxtRecord::from(format!("{i}-{}", "z".repeat(180))))
        .collect();
    dns.set_txt(NAME, records);

    let (plain, _) = udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert!(plain.truncation, "without EDNS the 512-byte limit applies");

    let (edns, size) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, Some(1232))).expect("answer");
    assert!(!edns.truncation, "{size} bytes fit in 1232");
    assert!(size > 512);
    assert_eq!(edns.answers.len(), 4);
    assert!(
        edns.edns.is_some(),
        "an EDNS query gets an OPT record back (RFC 6891)"
    );
}

#[test]
fn failure_behaviors() {
    let dns = TestDns::start();
    dns.add_txt(NAME, VALUE);

    dns.set_behavior(Behavior::Fail(ResponseCode::ServFail));
    let (answer, _) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert_eq!(answer.response_code, ResponseCode::ServFail);
    assert!(answer.answers.is_empty());
    assert!(resolve_txt(dns.addr(), NAME).is_err());

    dns.set_behavior(Behavior::Fail(ResponseCode::Refused));
    let (answer, _) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert_eq!(answer.response_code, ResponseCode::Refused);

    dns.set_behavior(Behavior::Silent);
    let silent = udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None));
    assert!(
        silent.is_err(),
        "a silent server does not answer: {silent:?}"
    );
    assert_eq!(
        dns.queries().last().map(|q| q.name.as_str()),
        Some(NAME),
        "silent queries are still logged"
    );

    dns.set_behavior(Behavior::Answer);
    assert_eq!(
        resolve_txt(dns.addr(), NAME).expect("answers again"),
        vec![bytes(&[VALUE])]
    );
}

#[test]
fn ttl_is_served_and_configurable() {
    let dns = TestDns::start();
    dns.add_txt(NAME, VALUE);
    let (answer, _) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert_eq!(answer.answers[0].ttl, auth4agent_testkit::dns::DEFAULT_TTL);
    dns.set_ttl(0);
    let (answer, _) =
        udp_exchange(dns.addr(), &query(NAME, RecordType::TXT, None)).expect("answer");
    assert_eq!(answer.answers[0].ttl, 0);
}

#[test]
fn garbage_gets_formerr_and_the_server_keeps_serving() {
    let dns = TestDns::start();
    dns.add_txt(NAME, VALUE);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    socket
        .send_to(&[0xab, 0xcd, 0xff], dns.addr())
        .expect("send");
    let mut buf = [0u8; 512];
    let (len, _) = socket.recv_from(&mut buf).expect("an answer to garbage");
    let answer = Message::from_vec(&buf[..len]).expect("decode");
    assert_eq!(answer.id, 0xabcd);
    assert_eq!(answer.response_code, ResponseCode::FormErr);
    assert_eq!(
        resolve_txt(dns.addr(), NAME).expect("still serving"),
        vec![bytes(&[VALUE])]
    );
}

#[test]
fn binds_a_given_port_and_frees_it_on_drop() {
    let first = TestDns::start();
    let addr = first.addr();
    assert!(
        TestDns::bind(addr).is_err(),
        "the port is taken while the first server runs"
    );
    drop(first);
    // The server thread closes its sockets as it stops; give it a moment rather than racing it.
    let mut second = TestDns::bind(addr);
    for _ in 0..100 {
        if second.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        second = TestDns::bind(addr);
    }
    let second = second.expect("the port is free again after drop");
    assert_eq!(second.addr(), addr);
    second.add_txt(NAME, VALUE);
    assert_eq!(
        resolve_txt(addr, NAME).expect("lookup"),
        vec![bytes(&[VALUE])]
    );
}
