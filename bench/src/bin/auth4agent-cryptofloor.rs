//! `auth4agent-cryptofloor`: the signature work one token costs the server, timed bare on one thread: ed25519-dalek
//! `verify_strict` of a proof's signing input (the agent's signature the server checks) and `sign` of an access
//! token's signing input (the server's signature), both built with the protocol crate as in a load run. Prints one
//! JSON document; `floor_us_per_token` (verify + sign) is the CPU no implementation of the issuance path can go
//! below, to compare `server_cpu_us_per_op` of a load run with, measured on the same machine in the same run.
//!
//! Each loop is timed twice: by the wall clock (`*_us`) and by this thread's CPU time (`*_cpu_us`, from
//! `/proc/thread-self/stat`, 10 ms ticks over seconds of work). `floor_cpu_us_per_token` is the one to divide a
//! load run's CPU time by: on a virtual machine both exclude the time the host steals, which the wall clock does not.

use std::hint::black_box;
use std::time::{Duration, Instant};

use auth4agent_bench::identity::Identities;
use auth4agent_bench::server::thread_cpu_seconds;
use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, ProofClaims, ReceivedChallenge, RequestedToken,
    ScopeSet, SigningKey, StatusClaim, UnixTime, b64url_decode, b64url_encode, issue_token,
    sign_proof,
};
use clap::Parser;
use ed25519_dalek::Signer as _;
use serde::Serialize;

/// What the load generator's issuer looks like (a spawned server on a loopback port).
const ISSUER: &str = "http://127.0.0.1:43127";
/// The load generator's token audience and scope.
const TOKEN_AUD: &str = "https://api.bench.example";
const SCOPE: &str = "bench:read";

/// Bare Ed25519 cost per token (verify the proof, sign the token), single-threaded.
#[derive(Debug, Parser)]
#[command(name = "auth4agent-cryptofloor", version)]
struct Args {
    /// Seconds each of the two loops runs.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    verify_per_s: f64,
    verify_us: f64,
    sign_per_s: f64,
    sign_us: f64,
    floor_us_per_token: f64,
    verify_cpu_us: f64,
    sign_cpu_us: f64,
    /// verify + sign in this thread's CPU time.
    floor_cpu_us_per_token: f64,
    /// Bytes verified (the proof's `header.payload`) and signed (the token's `header.payload`).
    verify_message_bytes: usize,
    sign_message_bytes: usize,
}

/// The signing input (`header.payload`) and decoded signature of a compact JWS.
fn split(jws: &str) -> (Vec<u8>, ed25519_dalek::Signature) {
    let dot = jws.rfind('.').expect("compact JWS");
    let sig = b64url_decode(&jws[dot + 1..]).expect("base64url signature");
    (
        jws.as_bytes()[..dot].to_vec(),
        ed25519_dalek::Signature::from_slice(&sig).expect("64-byte signature"),
    )
}

/// Per-call cost of a loop.
struct Timing {
    per_s: f64,
    wall_us: f64,
    cpu_us: f64,
}

fn cpu() -> anyhow::Result<f64> {
    thread_cpu_seconds().ok_or_else(|| anyhow::anyhow!("cannot read /proc/thread-self/stat"))
}

/// Runs `f` in batches until `seconds` have passed.
fn time(seconds: f64, mut f: impl FnMut()) -> anyhow::Result<Timing> {
    const BATCH: u32 = 64;
    let budget = Duration::from_secs_f64(seconds.max(0.01));
    for _ in 0..BATCH {
        f(); // warm caches and the CPU clock
    }
    let cpu_start = cpu()?;
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for _ in 0..BATCH {
            f();
        }
        calls += u64::from(BATCH);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu()? - cpu_start;
    Ok(Timing {
        per_s: calls as f64 / secs,
        wall_us: secs * 1e6 / calls as f64,
        cpu_us: cpu * 1e6 / calls as f64,
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ids = Identities::random();
    let agent = ids.agent(0);
    let now = UnixTime::from_secs(auth4agent_bench::clock::now());
    let scope = ScopeSet::parse(SCOPE)?;

    // The proof an agent of a load run sends: challenge id and nonce as long as the server's.
    let challenge_id = b64url_encode(&[0x5a; 16]);
    let nonce = b64url_encode(&[0xa5; 32]);
    let claims = ProofClaims::answer(
        &agent.did,
        ReceivedChallenge {
            id: &challenge_id,
            nonce: &nonce,
        },
        ISSUER,
        RequestedToken {
            scope: &scope,
            audience: TOKEN_AUD,
            ttl: None,
        },
        now,
    );
    let (proof_input, proof_sig) = split(&sign_proof(&agent.key, &claims)?);
    let agent_key = ed25519_dalek::VerifyingKey::from_bytes(agent.public.as_bytes())?;
    agent_key.verify_strict(&proof_input, &proof_sig)?;

    // The access token the server answers with, status list reference included.
    let server_key = SigningKey::from_seed(&rand::random());
    let kid = server_key.public_key().thumbprint();
    let token_claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: agent.did.as_str().into(),
        client_id: agent.did.as_str().into(),
        aud: Audience::One(TOKEN_AUD.into()),
        scope: SCOPE.into(),
        iat: now.as_secs(),
        nbf: None,
        exp: now.as_secs() + 900,
        jti: b64url_encode(&[0x3c; 16]),
        cnf: Confirmation {
            jkt: agent.public.thumbprint(),
        },
        status: Some(StatusClaim::new(format!("{ISSUER}/v1/status/1"), 123_456)),
    };
    let (token_input, _) = split(&issue_token(&server_key, &kid, &token_claims)?);
    let dalek_server_key = ed25519_dalek::SigningKey::from_bytes(&rand::random());

    let verify = time(args.seconds, || {
        agent_key
            .verify_strict(black_box(&proof_input), black_box(&proof_sig))
            .expect("valid signature");
    })?;
    let sign = time(args.seconds, || {
        black_box(dalek_server_key.sign(black_box(&token_input)));
    })?;
    let report = Report {
        verify_per_s: round(verify.per_s, 0),
        verify_us: round(verify.wall_us, 2),
        sign_per_s: round(sign.per_s, 0),
        sign_us: round(sign.wall_us, 2),
        floor_us_per_token: round(verify.wall_us + sign.wall_us, 2),
        verify_cpu_us: round(verify.cpu_us, 2),
        sign_cpu_us: round(sign.cpu_us, 2),
        floor_cpu_us_per_token: round(verify.cpu_us + sign.cpu_us, 2),
        verify_message_bytes: proof_input.len(),
        sign_message_bytes: token_input.len(),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
