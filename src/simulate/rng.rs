//! The simulation's random stream and the draws it takes.

/// xoshiro256** seeded by SplitMix64: small, fast and good enough for load.
#[derive(Clone, Debug)]
pub(super) struct Rng([u64; 4]);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    pub(super) fn u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }
    /// Uniform in [0, 1).
    pub(super) fn f(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.f() * n as f64) as usize % n.max(1)
    }
    /// Exponential with the given mean (ms).
    pub(super) fn exp(&mut self, mean: f64) -> i64 {
        (-(1.0 - self.f()).ln() * mean) as i64
    }
    /// Log-normal with the given median (ms) and spread.
    pub(super) fn lognormal(&mut self, median: f64, sigma: f64) -> i64 {
        let (u1, u2) = (1.0 - self.f(), self.f());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median * (sigma * z).exp()) as i64
    }
    /// One of `xs` with the given weights.
    pub(super) fn weighted<'a, T>(&mut self, xs: &'a [(T, f64)]) -> &'a T {
        let total: f64 = xs.iter().map(|x| x.1).sum();
        let mut u = self.f() * total;
        for (x, w) in xs {
            if u < *w {
                return x;
            }
            u -= w;
        }
        &xs[xs.len() - 1].0
    }
}
