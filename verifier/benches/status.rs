//! Token Status Lists at scale (issue 16): a list of 1,000,000 agents with 0.1% revoked — its compressed size, the
//! time to build, compress and sign it (what the server does per list and window, after its database query), the
//! time to verify and decompress it (what a verifier does per fetch) — and what the status check adds to a token
//! verification once the list is cached (target ≤ 1 µs).
//!
//! `cargo bench -p auth4agent-verifier --bench status`

use std::hint::black_box;
use std::time::{Duration, Instant};

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, Did, Domain, KeySet, STATUS_BITS, SigningKey,
    StatusClaim, StatusList, StatusListRef, StatusListTokenClaims, UnixTime, Verifier,
    b64url_decode, issue_status_list, issue_token, verify_status_list,
};
use auth4agent_verifier::{Clock, Config, RemoteKeySet, SystemClock, TokenVerifier};
use criterion::{Criterion, criterion_group, criterion_main};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://api.example.com";
const URI: &str = "https://auth.example.com/status-lists/1";
const AGENTS: u64 = 1_000_000;
const REVOKED: u64 = AGENTS / 1000;

/// 1,000 distinct pseudo-random entries of 1,000,000 (a fixed LCG: the same list every run).
fn revoked_entries() -> Vec<u64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    while (seen.len() as u64) < REVOKED {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seen.insert((x >> 33) % AGENTS);
    }
    seen.into_iter().collect()
}

fn build(revoked: &[u64]) -> StatusList {
    let mut list = StatusList::new(STATUS_BITS, AGENTS).unwrap();
    for &idx in revoked {
        list.set(idx, 1).unwrap();
    }
    list
}

fn sign(key: &SigningKey, kid: &str, list: &StatusList, now: UnixTime) -> String {
    issue_status_list(
        key,
        kid,
        &StatusListTokenClaims {
            sub: URI.into(),
            iat: now.as_secs(),
            exp: now.as_secs() + 7200,
            // Long enough that the seeded list stays fresh for the whole run (no fetch is ever attempted).
            ttl: 3600,
            status_list: list.encode(),
        },
    )
    .unwrap()
}

fn token(key: &SigningKey, kid: &str, now: UnixTime, status: Option<StatusClaim>) -> String {
    let agent = Did::from_key(
        &Domain::parse("agents.example.com").unwrap(),
        &SigningKey::from_seed(&[9; 32]).public_key(),
    );
    issue_token(
        key,
        kid,
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
            status,
        },
    )
    .unwrap()
}

/// A verifier with the keys seeded and no verified-token cache (every call is a full verification), checking
/// status lists or not.
fn uncached_verifier(keys: &KeySet, check_status: bool) -> TokenVerifier {
    let config = Config {
        cache_capacity: 0,
        check_status,
        ..Config::default()
    };
    let remote =
        RemoteKeySet::new("https://auth.example.com/.well-known/jwks.json", config).unwrap();
    remote.seed(keys.clone());
    TokenVerifier::from_parts(Verifier::new(ISSUER, AUDIENCE), remote, 0)
}

/// Mean time of `f` over `n` calls.
fn mean(n: u32, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed() / n
}

fn bench(c: &mut Criterion) {
    let now = SystemClock.now();
    let key = SigningKey::from_seed(&[7; 32]);
    let kid = key.public_key().thumbprint();
    let keys = KeySet::from_keys([(kid.clone(), key.public_key())]).unwrap();
    let revoked = revoked_entries();
    let list = build(&revoked);
    let encoded = list.encode();
    let compressed = b64url_decode(&encoded.lst).unwrap().len();
    let signed = sign(&key, &kid, &list, now);
    println!(
        "status list: {AGENTS} entries, {REVOKED} revoked (0.1%): {} bytes uncompressed, {compressed} bytes ZLIB, \
         lst {} characters, statuslist+jwt {} bytes",
        list.as_bytes().len(),
        encoded.lst.len(),
        signed.len()
    );

    let mut group = c.benchmark_group("status_list_1m");
    group.sample_size(20);
    group.bench_function("build (1,000 entries set)", |b| {
        b.iter(|| build(black_box(&revoked)))
    });
    group.bench_function("build + compress + sign", |b| {
        b.iter(|| sign(&key, &kid, &build(black_box(&revoked)), now))
    });
    group.bench_function("verify + decompress", |b| {
        b.iter(|| verify_status_list(black_box(&signed), &keys, URI, now).unwrap())
    });
    group.finish();

    // What the status check adds to an uncached verification, with the list cached.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let idx = revoked[0] + 1;
    let plain = token(&key, &kid, now, None);
    let with_status = token(&key, &kid, now, Some(StatusClaim::new(URI, idx)));
    let verifier = uncached_verifier(&keys, true);
    let unchecked = uncached_verifier(&keys, false);
    verifier
        .status_lists()
        .unwrap()
        .seed(verify_status_list(&signed, &keys, URI, now).unwrap(), now);
    runtime.block_on(verifier.verify(&with_status)).unwrap();
    assert_eq!(
        verifier.status_lists().unwrap().fetches(),
        0,
        "the list is the seeded one"
    );
    let entry = StatusListRef {
        idx,
        uri: URI.into(),
    };
    let lists = verifier.status_lists().unwrap().clone();
    let protocol = Verifier::new(ISSUER, AUDIENCE);

    let mut group = c.benchmark_group("status_check");
    group.bench_function("TokenVerifier::verify, no status claim", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(black_box(&plain)))
                .unwrap()
        })
    });
    group.bench_function("TokenVerifier::verify, status claim, check off", |b| {
        b.iter(|| {
            runtime
                .block_on(unchecked.verify(black_box(&with_status)))
                .unwrap()
        })
    });
    group.bench_function("TokenVerifier::verify, status checked (list cached)", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(black_box(&with_status)))
                .unwrap()
        })
    });
    group.bench_function("StatusLists::check (list cached)", |b| {
        b.iter(|| {
            runtime
                .block_on(lists.check(black_box(&entry), now))
                .unwrap()
        })
    });
    group.bench_function("Verifier::verify, no status claim", |b| {
        b.iter(|| protocol.verify(black_box(&plain), &keys, now).unwrap())
    });
    group.bench_function("Verifier::verify, status claim parsed", |b| {
        b.iter(|| {
            protocol
                .verify(black_box(&with_status), &keys, now)
                .unwrap()
        })
    });
    group.finish();

    // Paired rounds (interleaved in short bursts, the order alternating, so drift and noisy neighbours hit both
    // sides alike; the median of the per-round differences resists the rounds a neighbour disturbed): the same
    // token verified with the status check off and on (the check's added cost), and a token without the claim
    // (the claim's own cost: a longer token to decode and hash, one more member to parse).
    let rounds = 2000;
    let burst = 50;
    let time = |verifier: &TokenVerifier, token: &str| {
        mean(burst, || {
            runtime.block_on(verifier.verify(black_box(token))).unwrap();
        })
        .as_secs_f64()
            * 1e6
    };
    let (mut added, mut claim, mut on_all, mut off_all) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (off, on, bare) = if round % 2 == 0 {
            let off = time(&unchecked, &with_status);
            let on = time(&verifier, &with_status);
            (off, on, time(&verifier, &plain))
        } else {
            let bare = time(&verifier, &plain);
            let on = time(&verifier, &with_status);
            (time(&unchecked, &with_status), on, bare)
        };
        added.push(on - off);
        claim.push(off - bare);
        on_all.push(on);
        off_all.push(off);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let check = mean(200_000, || {
        runtime
            .block_on(lists.check(black_box(&entry), now))
            .unwrap();
    });
    println!(
        "paired ({rounds} rounds of {burst}, medians): uncached verification of a token with a status claim \
         {:.2} µs with the check off, {:.2} µs with it on (list cached); added by the check {:+.2} µs; added by \
         carrying the claim (vs a token without it) {:+.2} µs; StatusLists::check alone {:.0} ns",
        median(&mut off_all),
        median(&mut on_all),
        median(&mut added),
        median(&mut claim),
        check.as_secs_f64() * 1e9
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
