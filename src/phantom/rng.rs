//! A small seeded generator: SplitMix64 (Steele, Lea and Flood 2014).
//!
//! Written here rather than taken from a crate so that the stream for a given seed can
//! never change under us with a dependency update: a dataset is named by its seed. Every
//! image draws from its own stream, derived from the dataset seed and the image's indices,
//! so images can be rendered in any order, on any number of threads, with the same result.

use super::math;

/// SplitMix64's output mix: a bijection of u64 with good avalanche.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives a seed from a parent seed and a path of keys (image index, purpose tag...).
pub fn derive(seed: u64, keys: &[u64]) -> u64 {
    keys.iter()
        .fold(mix64(seed ^ 0x005E_ED0F_4A9D_5EED), |h, &k| {
            mix64(h ^ mix64(k.wrapping_add(0x9E37_79B9_7F4A_7C15)))
        })
}

/// Purpose tags for [`derive`], so that streams for different uses never coincide.
pub mod tag {
    pub const ANATOMY: u64 = 1;
    pub const DISEASE: u64 = 2;
    pub const IMAGE: u64 = 3;
    pub const PIXELS: u64 = 5;
    /// How the film is hung, cropped, digitised (and which kind of film it is).
    pub const FORMAT: u64 = 6;
    /// The graded disease of the `clinic` and `hard` presets (`svdh.rs`).
    pub const GRADED: u64 = 7;
    /// A digitised film's grain, scanner lines and dust.
    pub const SCAN: u64 = 8;
    /// Sites at the edges of clinical practice (`clinic` and `hard` presets).
    pub const EXTREMES: u64 = 9;
    /// The anatomical unsharpness of each joint space (`unsharp.rs`).
    pub const UNSHARP: u64 = 10;
}

#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: the bias for n far below 2^64 is negligible here.
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Marsaglia's polar method, with this module's own logarithm).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.f64() - 1.0;
            let v = 2.0 * self.f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * math::ln(s) / s).sqrt();
            }
        }
    }

    /// Normal with mean and standard deviation, clamped to [lo, hi] (anatomy must stay
    /// anatomical however far the tail reaches).
    pub fn normal_clamped(&mut self, mean: f64, sd: f64, lo: f64, hi: f64) -> f64 {
        (mean + sd * self.normal()).clamp(lo, hi)
    }

    /// Approximately standard normal, cheap enough for one draw per pixel: the sum of four
    /// 16-bit uniforms (Irwin-Hall), centred and scaled to unit variance. Its tails stop at
    /// +-3.46, which is invisible in film noise.
    #[inline]
    pub fn fast_normal(&mut self) -> f32 {
        let r = self.next_u64();
        let s = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48);
        // Mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12.
        (s as f32 - 131_070.0) * (1.0 / 37_837.2)
    }

    /// A child generator for a sub-task, independent of how much this one is used later.
    pub fn fork(&mut self, key: u64) -> Rng {
        Rng::new(derive(self.next_u64(), &[key]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_derived_streams_differ() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(derive(7, &[1, 2]), derive(7, &[2, 1]));
        assert_ne!(derive(7, &[1]), derive(8, &[1]));
    }

    #[test]
    fn normal_draws_have_unit_moments() {
        let mut r = Rng::new(42);
        let n = 40_000;
        let (mut s, mut s2, mut f, mut f2) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let x = r.normal();
            s += x;
            s2 += x * x;
            let y = r.fast_normal() as f64;
            f += y;
            f2 += y * y;
        }
        let n = n as f64;
        assert!((s / n).abs() < 0.02 && (s2 / n - 1.0).abs() < 0.03);
        assert!((f / n).abs() < 0.02 && (f2 / n - 1.0).abs() < 0.03);
    }
}
