//! Diagnosis for the paired verification bench: both sides' throughput at 64-byte steps of extra stack depth in
//! one process (`cargo run --release -p auth4agent-bench --example stackdepth`). Where the frames land moves each
//! side by several percent, which is why the bench samples the stack offsets.

use std::hint::black_box;
use std::time::Instant;

use auth4agent_bench::fixture::TokenFixture;

const ITERS: usize = 2000;

#[inline(never)]
fn bare(fx: &TokenFixture) -> f64 {
    let start = Instant::now();
    for _ in 0..ITERS {
        fx.dalek_key
            .verify_strict(black_box(fx.signing_input()), &fx.dalek_signature)
            .expect("valid signature");
    }
    ITERS as f64 / start.elapsed().as_secs_f64()
}

#[inline(never)]
fn full(fx: &TokenFixture) -> f64 {
    let start = Instant::now();
    for _ in 0..ITERS {
        fx.verifier
            .verify(black_box(&fx.token), &fx.keys, fx.now)
            .expect("valid token");
    }
    ITERS as f64 / start.elapsed().as_secs_f64()
}

/// Runs `f` with `PAD` more bytes of stack below this frame.
#[inline(never)]
fn with_pad<const PAD: usize>(fx: &TokenFixture, f: fn(&TokenFixture) -> f64) -> f64 {
    let pad = black_box([0u8; PAD]);
    let per_s = f(fx);
    black_box(&pad);
    per_s
}

fn main() {
    let fx = TokenFixture::new();
    macro_rules! rows {
        ($($pad:literal)*) => { $(
            let (b1, f1) = (with_pad::<$pad>(&fx, bare), with_pad::<$pad>(&fx, full));
            let (f2, b2) = (with_pad::<$pad>(&fx, full), with_pad::<$pad>(&fx, bare));
            println!(
                "pad {:4} B: bare {b1:6.0} {b2:6.0}/s, full {f1:6.0} {f2:6.0}/s, ratio {:.3}",
                $pad,
                (f1 + f2) / (b1 + b2)
            );
        )* };
    }
    rows!(0 256 512 768 1024 1280 1536 1792 2048 2304 2560 2816 3072 3328 3584 3840);
}
