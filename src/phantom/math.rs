//! Elementary functions built from IEEE-754 `+ - * / sqrt` only.
//!
//! `f32::exp`, `f64::ln`, `sin` and friends call the platform's libm, whose last bit
//! differs between C libraries and versions; the phantom promises byte-identical output for
//! the same arguments on every platform, so everything that feeds a pixel or an attribute
//! goes through these instead. Basic operations and `sqrt` are correctly rounded by IEEE
//! 754 and Rust never fuses them into FMA on its own, so the results below are the same
//! everywhere. Accuracy (a few ulp) is far better than the model needs.

use std::f64::consts::{FRAC_PI_2, LN_2, PI};

/// e^x for f32; saturates to 0 below -87 and to f32::MAX-ish above 88.
#[inline]
pub fn exp32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = round32(x * std::f32::consts::LOG2_E);
    // Cody-Waite split of ln 2 keeps r exact enough for the polynomial.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// Round half away from zero, by truncation: `f32::round` is an out-of-line libm call, too
/// slow per pixel (and exact either way). |x| must be below 2^31.
#[inline]
pub fn round32(x: f32) -> f32 {
    (if x >= 0.0 { x + 0.5 } else { x - 0.5 }) as i32 as f32
}

/// Floor by truncation, for |x| below 2^31 (see [`round32`]).
#[inline]
pub fn floor32(x: f32) -> f32 {
    let t = x as i32 as f32;
    if t > x { t - 1.0 } else { t }
}

/// Natural logarithm for f32; values below 1e-30 (and non-positive ones) are taken as 1e-30.
#[inline]
pub fn ln32(x: f32) -> f32 {
    let x = if x > 1e-30 { x } else { 1e-30 };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xFF) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let lnm = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 / 9.0))));
    e as f32 * std::f32::consts::LN_2 + lnm
}

/// Natural logarithm for f64 (x > 0; non-positive values give a large negative number).
pub fn ln(x: f64) -> f64 {
    let x = if x > 1e-300 { x } else { 1e-300 };
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    // atanh series; |s| <= 0.1716 so s^2 <= 0.0295 and 12 terms reach 1e-18.
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..12 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    e as f64 * LN_2 + 2.0 * sum
}

/// e^x for f64 (|x| < 700).
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let n = (x / LN_2).round();
    let r = x - n * LN_2;
    // Taylor series on |r| <= 0.347: 16 terms reach double precision.
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..17 {
        term *= r / k as f64;
        sum += term;
    }
    sum * f64::from_bits(((n as i64 + 1023) as u64) << 52)
}

/// (sin x, cos x).
pub fn sin_cos(x: f64) -> (f64, f64) {
    // Reduce to [-pi, pi], then to a quadrant q and |r| <= pi/4.
    let x = x - (x / (2.0 * PI)).round() * (2.0 * PI);
    let q = (x / FRAC_PI_2).round();
    let r = x - q * FRAC_PI_2;
    let r2 = r * r;
    let mut s = r;
    let mut c = 1.0;
    let (mut ts, mut tc) = (r, 1.0);
    for k in 1..9 {
        let k = k as f64;
        ts *= -r2 / ((2.0 * k) * (2.0 * k + 1.0));
        tc *= -r2 / ((2.0 * k - 1.0) * (2.0 * k));
        s += ts;
        c += tc;
    }
    match (q as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// Degrees to a unit vector rotated from `up` (0, -1) towards +x: the hand frame's
/// convention for finger angles (positive towards the thumb of the image-left hand).
pub fn dir_from_deg(deg: f64) -> [f64; 2] {
    let (s, c) = sin_cos(deg.to_radians());
    [s, -c]
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, refined by one
/// Halley step; relative error below 1e-9), for p in (0, 1).
pub fn inv_norm_cdf(p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * ln(p)).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * ln(1.0 - p)).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Phi(x) - p.
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * PI).sqrt() * exp(x * x / 2.0);
    x - u / (1.0 + x * u / 2.0)
}

/// Standard normal CDF via erfc (W. J. Cody's rational approximations are overkill here:
/// Numerical Recipes' erfc with fractional error below 1.2e-7 suffices for the Halley step).
pub fn norm_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * exp(poly);
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Hermite smoothstep of t clamped to [0, 1].
#[inline]
pub fn smoothstep(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementary_functions_match_libm_closely() {
        for i in -400..400 {
            let x = i as f64 * 0.037;
            assert!((exp(x) - x.exp()).abs() <= 1e-13 * x.exp(), "exp {x}");
            let (s, c) = sin_cos(x);
            assert!(
                (s - x.sin()).abs() < 1e-13 && (c - x.cos()).abs() < 1e-13,
                "sincos {x}"
            );
            let xf = x as f32;
            assert!((exp32(xf) - xf.exp()).abs() <= 1e-6 * xf.exp(), "exp32 {x}");
        }
        for i in 1..2000 {
            let x = i as f64 * 0.013;
            assert!((ln(x) - x.ln()).abs() < 1e-13, "ln {x}");
            let xf = x as f32;
            assert!((ln32(xf) - xf.ln()).abs() < 2e-6, "ln32 {x}");
        }
    }

    #[test]
    fn truncating_round_and_floor_match_std() {
        for i in -2000..2000 {
            let x = i as f32 * 0.25 + 0.001 * (i % 7) as f32;
            assert_eq!(round32(x), x.round(), "{x}");
            assert_eq!(floor32(x), x.floor(), "{x}");
        }
    }

    #[test]
    fn inverse_normal_cdf_inverts_the_cdf() {
        for p in [1e-6, 0.001, 0.03, 0.2, 0.5, 0.77, 0.99, 0.999_9] {
            assert!(
                (norm_cdf(inv_norm_cdf(p)) - p).abs() < 1e-6 * p.max(1e-3),
                "{p}"
            );
        }
        assert!((inv_norm_cdf(0.975) - 1.959_964).abs() < 1e-5);
    }
}
