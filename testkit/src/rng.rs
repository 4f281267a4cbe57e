//! A small seeded random number generator, so that a run is repeatable and
//! a test or a benchmark needs no extra crate for a few random numbers.

/// xorshift64*: fast, and more than random enough to pick positions,
/// letters and arrival times.
pub struct Rng(u64);

impl Rng {
    /// Different `stream`s of one `seed` give unrelated sequences.
    pub fn new(seed: u64, stream: u64) -> Rng {
        // splitmix64 spreads nearby seeds apart; the state must not be 0.
        let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `(0, 1]`.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean: the gaps between the
    /// events of a Poisson process.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_averages_right() {
        let mut rng = Rng::new(7, 3);
        assert!((0..10_000).all(|_| rng.below(10) < 10));
        let mean = (0..100_000).map(|_| rng.exponential(2.0)).sum::<f64>() / 100_000.0;
        assert!((mean - 2.0).abs() < 0.05, "mean {mean}");
    }
}
