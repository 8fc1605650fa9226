//! A cached verification side by side with an uncached one (the same token, the same verifier).
//!
//! `cargo bench -p auth4agent-verifier --bench cache`

use std::hint::black_box;

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, Did, Domain, KeySet, SigningKey, UnixTime, Verifier,
    issue_token,
};
use auth4agent_verifier::{Config, RemoteKeySet, SystemClock, TokenVerifier};
use criterion::{Criterion, criterion_group, criterion_main};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://api.example.com";

fn token(now: UnixTime) -> (String, KeySet) {
    let issuer_key = SigningKey::from_seed(&[7; 32]);
    let kid = issuer_key.public_key().thumbprint();
    let keys = KeySet::from_keys([(kid.clone(), issuer_key.public_key())]).unwrap();
    let agent = Did::from_key(
        &Domain::parse("agents.example.com").unwrap(),
        &SigningKey::from_seed(&[9; 32]).public_key(),
    );
    let token = issue_token(
        &issuer_key,
        &kid,
        &AccessTokenClaims {
            iss: ISSUER.into(),
            sub: agent.to_string(),
            client_id: agent.to_string(),
            aud: Audience::One(AUDIENCE.into()),
            scope: "files:read files:write".into(),
            iat: now.as_secs(),
            nbf: None,
            exp: now.as_secs() + 900,
            jti: "tok_0123456789abcdef".into(),
            cnf: Confirmation {
                jkt: "agent-key-thumbprint".into(),
            },
            status: None,
        },
    )
    .unwrap();
    (token, keys)
}

fn verifier(keys: &KeySet, cache_capacity: usize) -> TokenVerifier {
    let config = Config {
        cache_capacity,
        ..Config::default()
    };
    let remote =
        RemoteKeySet::new("https://auth.example.com/.well-known/jwks.json", config).unwrap();
    remote.seed(keys.clone());
    TokenVerifier::from_parts(Verifier::new(ISSUER, AUDIENCE), remote, cache_capacity)
}

fn bench(c: &mut Criterion) {
    let now = <SystemClock as auth4agent_verifier::Clock>::now(&SystemClock);
    let (token, keys) = token(now);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cached = verifier(&keys, 10_000);
    let uncached = verifier(&keys, 0);
    runtime.block_on(cached.verify(&token)).unwrap();
    assert!(cached.cached(&token).is_some());
    println!("token length: {} bytes", token.len());

    let mut group = c.benchmark_group("verifier");
    group.bench_function("uncached (TokenVerifier::verify, cache off)", |b| {
        b.iter(|| {
            runtime
                .block_on(uncached.verify(black_box(&token)))
                .unwrap()
        })
    });
    group.bench_function("cached (TokenVerifier::verify)", |b| {
        b.iter(|| runtime.block_on(cached.verify(black_box(&token))).unwrap())
    });
    group.bench_function("cached (TokenVerifier::cached, no runtime)", |b| {
        b.iter(|| cached.cached(black_box(&token)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
