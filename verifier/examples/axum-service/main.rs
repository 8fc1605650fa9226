//! A small API protected by auth4agent tokens: `GET /files` needs `files:read`, `POST /files` needs
//! `files:write`, `GET /vault` needs `files:read` and DPoP (RFC 9449: `Authorization: DPoP` with a proof of the
//! token's key); `GET /health` reports the key source; `GET /.well-known/oauth-protected-resource` is the RFC
//! 9728 metadata.
//!
//! ```sh
//! cargo run -p auth4agent-verifier --example axum-service -- \
//!     --issuer https://auth.example.com --audience https://files.example.com --listen 127.0.0.1:3000
//! ```
//!
//! Prints `listening on http://ADDR` once it serves. `--refresh-cooldown SECS` sets the unknown-kid cooldown;
//! `--public-origin URL` the origin DPoP proofs name in `htu` (default: the audience's origin).

use std::time::Duration;

use auth4agent_verifier::middleware::{AgentToken, BearerAuth, ProtectedResource};
use auth4agent_verifier::{Config, DpopOptions, TokenVerifier};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

struct Args {
    issuer: String,
    audience: String,
    listen: String,
    cooldown: u64,
    public_origin: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        issuer: String::new(),
        audience: String::new(),
        listen: "127.0.0.1:3000".into(),
        cooldown: 30,
        public_origin: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--issuer" => args.issuer = value,
            "--audience" => args.audience = value,
            "--listen" => args.listen = value,
            "--refresh-cooldown" => args.cooldown = value.parse().expect("seconds"),
            "--public-origin" => args.public_origin = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        !args.issuer.is_empty() && !args.audience.is_empty(),
        "usage: axum-service --issuer URL --audience URL [--listen ADDR] [--refresh-cooldown SECS] \
         [--public-origin URL]"
    );
    args
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = args();
    let config = Config {
        refresh_cooldown: Duration::from_secs(args.cooldown),
        ..Config::default()
    };
    let verifier = TokenVerifier::discover_with(&args.issuer, &args.audience, config)
        .await
        .expect("discovery of the issuer");
    let resource = ProtectedResource::new(&args.audience, &args.issuer)
        .scopes_supported(["files:read", "files:write"]);
    let auth = BearerAuth::new(verifier.clone(), &resource).with_dpop(DpopOptions {
        public_origin: args.public_origin.clone(),
        ..DpopOptions::default()
    });

    let app = Router::new()
        // One layer per method: a MethodRouter's `layer` wraps every method added before it.
        .route("/files", get(list).layer(auth.require_scope("files:read")))
        .route(
            "/files",
            post(upload).layer(auth.require_scope("files:write")),
        )
        .route(
            "/vault",
            get(vault).layer(auth.require_scope("files:read").require_dpop()),
        )
        .route(
            "/health",
            get(move || {
                let verifier = verifier.clone();
                async move { Json(json!({ "keys": verifier.keys().status() })) }
            }),
        )
        .merge(resource.router());

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("address")
    );
    axum::serve(listener, app).await.expect("serve");
}

async fn list(token: AgentToken) -> Json<serde_json::Value> {
    Json(json!({
        "agent": token.did().to_string(),
        "scopes": token.scopes().to_vec(),
        "jti": token.jti(),
        "exp": token.expires_at().as_secs(),
        "jkt": token.jkt(),
        "files": ["report.txt"],
    }))
}

async fn upload(token: AgentToken) -> Json<serde_json::Value> {
    Json(json!({ "stored": true, "by": token.did().to_string() }))
}

async fn vault(token: AgentToken) -> Json<serde_json::Value> {
    Json(
        json!({ "secret": "only with the agent key", "agent": token.did().to_string(), "jkt": token.jkt() }),
    )
}
