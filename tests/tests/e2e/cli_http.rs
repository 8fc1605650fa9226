//! The CLI's HTTP hygiene against a hostile server: a response over the size cap is refused (announced
//! with `Content-Length` or streamed chunked), and a redirect to another origin is never followed.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tempfile::TempDir;

use auth4agent_e2e::Cli;

/// A loopback HTTP server that answers every request with `answer(request line, stream)`; counts requests.
fn scripted_server(
    answer: impl Fn(&str, &mut TcpStream) + Send + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            answer(&first, &mut stream);
        }
    });
    (url, count)
}

fn cli(homes: &TempDir, server: &str) -> Cli {
    Cli::new(homes.path().join("home"), server)
}

#[test]
fn an_announced_huge_jwks_is_refused_unread() {
    let (url, _) = scripted_server(|_, stream| {
        // Claims 400 MiB, sends a little, and keeps the connection open.
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 419430400\r\n\r\n{{\"keys\":["
        );
        std::thread::sleep(std::time::Duration::from_secs(5));
    });
    let homes = tempfile::tempdir().unwrap();
    // Reading on would end in a timeout (the server sends a few bytes and stalls): the code shows it was
    // refused from the announced length.
    let refused = cli(&homes, &url).fail_with(["--server", &url, "jwks"], "response_too_large");
    assert_eq!(refused.code(), Some(3), "{refused}");
}

#[test]
fn a_streamed_body_over_the_cap_is_refused() {
    let (url, _) = scripted_server(|_, stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..16 {
            if write!(stream, "{:x}\r\n", chunk.len()).is_err()
                || stream.write_all(&chunk).is_err()
                || stream.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    let homes = tempfile::tempdir().unwrap();
    cli(&homes, &url).fail_with(["--server", &url, "jwks"], "response_too_large");
}

#[test]
fn a_redirect_to_another_origin_is_not_followed() {
    let (elsewhere, visits) = scripted_server(|_, stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
    });
    let target = elsewhere.clone();
    let (url, _) = scripted_server(move |_, stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}/.well-known/jwks.json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    });
    let homes = tempfile::tempdir().unwrap();
    let refused = cli(&homes, &url).fail_with(["--server", &url, "jwks"], "redirect_refused");
    assert!(refused.text().contains(&elsewhere), "{refused}");
    cli(&homes, &url).fail_with(["--server", &url, "health"], "redirect_refused");
    assert_eq!(
        visits.load(Ordering::SeqCst),
        0,
        "the other origin saw no request"
    );
}
