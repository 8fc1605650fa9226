//! The rate limiter's cost per request (issue 17 §8): this server's token buckets (one mutex over a map, the
//! clock passed in) against `governor`'s keyed GCRA limiter (a sharded `DashMap`, the crate the issue names), on
//! the same keys: one client flooding (every call refused after the burst), and 10,000 clients in turn. Run on
//! one thread and on two at once (contention on this 2-core machine).
//!
//! `cargo bench -p auth4agent-server --bench ratelimit`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auth4agent_server::client_addr::{ClientAddressing, ClientKey};
use auth4agent_server::ratelimit::RateLimiter;
use criterion::{Criterion, criterion_group, criterion_main};
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter as Governor};

const RATE: u32 = 20;
const BURST: u32 = 40;
const CLIENTS: u32 = 10_000;

fn keys() -> Vec<ClientKey> {
    let addressing = ClientAddressing::default();
    (0..CLIENTS)
        .map(|i| addressing.key(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))))
        .collect()
}

type Keyed = Governor<
    ClientKey,
    governor::state::keyed::DefaultKeyedStateStore<ClientKey>,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<<FakeRelativeClock as governor::clock::Clock>::Instant>,
>;

fn governor() -> (Keyed, FakeRelativeClock) {
    let quota = Quota::per_second(NonZeroU32::new(RATE).unwrap())
        .allow_burst(NonZeroU32::new(BURST).unwrap());
    let clock = FakeRelativeClock::default();
    (Governor::dashmap_with_clock(quota, clock.clone()), clock)
}

/// One call of each limiter per iteration, time advancing 1 ms every 64 calls (as the server's clock would).
fn bench(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("ratelimit");

    let ours = RateLimiter::new(f64::from(RATE), BURST);
    let now = AtomicU64::new(0);
    group.bench_function("ours, one client flooding", |b| {
        b.iter(|| {
            let t = now.fetch_add(1, Ordering::Relaxed) / 64;
            black_box(ours.check(keys[0], t).is_ok())
        })
    });
    let (theirs, clock) = governor();
    let mut calls = 0u64;
    group.bench_function("governor, one client flooding", |b| {
        b.iter(|| {
            calls += 1;
            if calls.is_multiple_of(64) {
                clock.advance(std::time::Duration::from_millis(1));
            }
            black_box(theirs.check_key(&keys[0]).is_ok())
        })
    });

    let ours = RateLimiter::new(f64::from(RATE), BURST);
    let mut i = 0usize;
    group.bench_function("ours, 10k clients", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(ours.check(keys[i], (i / 64) as u64).is_ok())
        })
    });
    let (theirs, _clock) = governor();
    let mut i = 0usize;
    group.bench_function("governor, 10k clients", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(theirs.check_key(&keys[i]).is_ok())
        })
    });

    // Two threads on distinct keys at once: the single mutex against the sharded map.
    let keys = Arc::new(keys);
    let ours = Arc::new(RateLimiter::new(f64::from(RATE), BURST));
    let (theirs, _clock) = governor();
    let theirs = Arc::new(theirs);
    group.bench_function("ours, 2 threads", |b| {
        b.iter_custom(|iters| two_threads(iters, &keys, |k, n| ours.check(*k, n).is_ok()))
    });
    group.bench_function("governor, 2 threads", |b| {
        b.iter_custom(|iters| two_threads(iters, &keys, |k, _| theirs.check_key(k).is_ok()))
    });
    group.finish();
}

/// Runs `iters` calls on each of two threads (even and odd keys) and returns the wall time per pair of calls.
fn two_threads(
    iters: u64,
    keys: &Arc<Vec<ClientKey>>,
    check: impl Fn(&ClientKey, u64) -> bool + Sync,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for half in 0..2usize {
            let keys = keys.clone();
            let check = &check;
            s.spawn(move || {
                for n in 0..iters as usize {
                    let k = &keys[(n * 2 + half) % keys.len()];
                    black_box(check(k, (n / 64) as u64));
                }
            });
        }
    });
    start.elapsed()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
