//! The standalone `auth4agent-testdns` binary: flags, printed address, served records.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// Kills the child even when an assertion fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth4agent-testdns"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn auth4agent-testdns");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the bound address");
    let addr: SocketAddr = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{line:?} is not an address: {e}"));
    (running, addr)
}

fn txt(addr: SocketAddr, name: &str) -> (ResponseCode, Vec<Vec<Vec<u8>>>) {
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::TXT,
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket
        .send_to(&query.to_vec().expect("encode"), addr)
        .expect("send");
    let mut buf = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buf).expect("answer");
    let answer = Message::from_vec(&buf[..len]).expect("decode");
    let records = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect();
    (answer.response_code, records)
}

#[test]
fn serves_records_given_on_the_command_line() {
    let (_dns, addr) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--txt",
        "_auth4agent.example.com=auth4agent-verification=00112233445566778899aabbccddeeff",
        "--txt",
        "_auth4agent.example.com=v=spf1 -all",
        "--txt",
        "plain.example=a=b=c",
    ]);
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "the real port is printed");

    let (code, mut records) = txt(addr, "_AUTH4AGENT.example.com.");
    assert_eq!(code, ResponseCode::NoError);
    records.sort();
    assert_eq!(
        records,
        vec![
            vec![b"auth4agent-verification=00112233445566778899aabbccddeeff".to_vec()],
            vec![b"v=spf1 -all".to_vec()],
        ]
    );
    // Only the first `=` separates the name from the value.
    assert_eq!(txt(addr, "plain.example.").1, vec![vec![b"a=b=c".to_vec()]]);
    assert_eq!(txt(addr, "missing.example.").0, ResponseCode::NXDomain);
}

#[test]
fn chunk_serves_split_records() {
    let (_dns, addr) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--chunk",
        "10",
        "--txt",
        "x.example=0123456789abcdefghij-",
    ]);
    assert_eq!(
        txt(addr, "x.example.").1,
        vec![vec![
            b"0123456789".to_vec(),
            b"abcdefghij".to_vec(),
            b"-".to_vec()
        ]]
    );
}

#[test]
fn refuses_a_malformed_record() {
    let output = Command::new(env!("CARGO_BIN_EXE_auth4agent-testdns"))
        .args(["--listen", "127.0.0.1:0", "--txt", "no-equals-sign"])
        .output()
        .expect("run auth4agent-testdns");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("NAME=VALUE"),
        "{output:?}"
    );
}
