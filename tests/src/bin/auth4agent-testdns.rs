//! `auth4agent-testdns`: the testkit's loopback DNS server (`auth4agent_testkit::TestDns`),
//! standalone, for manual runs and the demo.
//!
//! ```text
//! auth4agent-testdns --listen 127.0.0.1:5353 --txt _auth4agent.example.com=auth4agent-verification=…
//! ```
//! Prints the bound address (one line on stdout), then serves until killed (Ctrl-C).

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use auth4agent_testkit::dns::{TestDns, TxtRecord, default_listen};
use clap::Parser;

/// Serve TXT records over UDP and TCP on loopback, for auth4agent DNS verification tests.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to bind for both UDP and TCP (port 0 picks a free port).
    #[arg(long, default_value_t = default_listen())]
    listen: SocketAddr,

    /// A TXT record as NAME=VALUE (repeatable; several for one name make several records).
    #[arg(long = "txt", value_name = "NAME=VALUE")]
    txt: Vec<String>,

    /// Cut each value into character-strings of at most this many bytes (1..=255), to serve
    /// "split" multi-string records.
    #[arg(long, value_name = "BYTES", default_value_t = 255, value_parser = clap::value_parser!(u8).range(1..))]
    chunk: u8,

    /// TTL of records and of negative answers, in seconds.
    #[arg(long, default_value_t = auth4agent_testkit::dns::DEFAULT_TTL)]
    ttl: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut records = Vec::new();
    for spec in &args.txt {
        let Some((name, value)) = spec.split_once('=') else {
            bail!(
                "--txt {spec:?}: expected NAME=VALUE, e.g. _auth4agent.example.com=auth4agent-verification=…"
            );
        };
        if name.is_empty() {
            bail!("--txt {spec:?}: the name is empty");
        }
        records.push((
            name.to_owned(),
            TxtRecord::chunked(value, usize::from(args.chunk)),
        ));
    }

    let dns = TestDns::bind(args.listen)
        .with_context(|| format!("cannot bind {} (UDP and TCP)", args.listen))?;
    dns.set_ttl(args.ttl);
    for (name, record) in records {
        dns.add_txt(&name, record);
    }

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", dns.addr())?;
    stdout.flush()?;
    drop(stdout);

    // The server runs on its own thread; the default signal dispositions end the process.
    loop {
        std::thread::park();
    }
}
