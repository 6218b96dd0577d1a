//! The answer delays of the benchmarks' sinks, shared by `fanout.rs` and
//! `websub.rs` (each includes this file as a module).

use std::time::Duration;

/// The answer delay of sink `n`: 50–500 ms, a pure function of the seed.
/// A hand-written xorshift64 rather than the `rand` crate: four lines, and
/// no dependency to build for a benchmark.
pub fn latency(seed: u64, n: usize) -> Duration {
    let mut x = seed ^ (n as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    Duration::from_millis(50 + x % 451)
}
