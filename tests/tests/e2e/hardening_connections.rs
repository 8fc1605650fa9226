//! Silent connections cannot take the server down: 5,000 sockets that never send a byte, from 250
//! loopback source addresses, against a server capped at 1,000 connections. `/health` and token
//! issuance keep answering while they are open, the server's descriptors stay under the cap, every
//! silent socket is closed by the server (evicted at the cap or after the idle timeout), and a client
//! over its per-client share is answered `503 too_many_connections` with `Retry-After`.
//!
//! Latency under this flood is measured with `auth4agent-loadgen --idle-connections 5000` (BENCHMARKS.md),
//! not asserted here.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::hardening_support::{NO_RATE_LIMIT, active_agent, addr, try_token, verified_operator};
use crate::support::World;

const MAX_CONNECTIONS: usize = 1000;
const PER_CLIENT: usize = 100;
const IDLE_TIMEOUT_SECS: u64 = 2;
/// Descriptors a server holds besides connections (database, DNS, log, listener).
const SERVER_OVERHEAD: usize = 128;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A TCP connection to `server` from the loopback source address `source`.
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(server).await
}

/// Open descriptors of process `pid`.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the server's /proc fd directory")
        .count()
}

/// Whether the server closed `stream`: its read side is at end of file (or reset).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => closed_by_server_after_answer(stream).await,
        Err(_) => false,
    }
}

async fn closed_by_server_after_answer(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_millis(200), stream.read_to_end(&mut rest))
        .await
        .is_ok()
}

#[test]
fn five_thousand_silent_connections_leave_health_and_issuance_answering() {
    let world = World::with(|builder| {
        builder.args(NO_RATE_LIMIT).args([
            "--idle-timeout".to_owned(),
            format!("{IDLE_TIMEOUT_SECS}s"),
            "--max-connections".to_owned(),
            MAX_CONNECTIONS.to_string(),
            "--max-connections-per-client".to_owned(),
            PER_CLIENT.to_string(),
        ])
    });
    let http = world.server.http();
    let operator = verified_operator(&world, "idle.example.com");
    let agent = active_agent(&world, &operator, &["read"]);
    let issuer = world.server.issuer();
    let server = addr(&world);
    let pid = world.server.pid().expect("server pid");
    let rt = runtime();

    // 250 source addresses × 20 silent sockets, opened as fast as the kernel accepts them.
    let mut silent: Vec<TcpStream> = rt.block_on(async {
        let mut opened = Vec::new();
        for host in 1..=250u8 {
            for _ in 0..20 {
                let source = Ipv4Addr::new(127, 0, 1, host);
                opened.push(connect_from(source, server).await.expect("connect"));
            }
        }
        opened
    });
    assert_eq!(silent.len(), 5000);

    // While they are open: /health and issuance answer, and the server holds no more than its cap.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let health = http
            .get("/health")
            .expect("GET /health under the idle flood");
        assert_eq!(health.status, 200, "{health:?}");
    }
    for _ in 0..5 {
        let token = try_token(http, &issuer, &agent, "read").expect("token under the idle flood");
        assert_eq!(token.status, 200, "{token:?}");
    }
    let held = descriptors(pid);
    assert!(
        held <= MAX_CONNECTIONS + SERVER_OVERHEAD,
        "the server holds {held} descriptors with a cap of {MAX_CONNECTIONS} connections"
    );

    // Past the idle timeout every silent socket has been closed by the server.
    std::thread::sleep(Duration::from_secs(IDLE_TIMEOUT_SECS + 2));
    let still_open = rt.block_on(async {
        let mut open = 0;
        for stream in &mut silent {
            if !closed_by_server(stream).await {
                open += 1;
            }
        }
        open
    });
    assert_eq!(still_open, 0, "silent sockets the server did not close");
    drop(silent);
    let after = descriptors(pid);
    assert!(
        after < SERVER_OVERHEAD,
        "{after} descriptors after the flood"
    );

    // One client over its share gets a readable 503 with Retry-After.
    let source = Ipv4Addr::new(127, 0, 2, 1);
    let (held, answers) = rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..PER_CLIENT {
            // Opened well within the idle timeout: all of them are still held below.
            held.push(connect_from(source, server).await.expect("connect"));
        }
        let mut answers = Vec::new();
        for _ in 0..3 {
            let mut stream = connect_from(source, server).await.expect("connect");
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
                .await
                .expect("the refusal arrives")
                .expect("read the refusal");
            answers.push(String::from_utf8_lossy(&answer).into_owned());
        }
        (held, answers)
    });
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("Retry-After: 1"), "{answer}");
        assert!(answer.contains("\"too_many_connections\""), "{answer}");
    }
    let health = http.get("/health").expect("GET /health");
    assert_eq!(
        health.status, 200,
        "another client is unaffected: {health:?}"
    );
    drop(held);
}
