//! What a film digitiser and a PACS leave on a clinic film (issue 16; real-films.md,
//! "Digitised and clinic films"): the film's own tone curve and silver grain, the
//! scanner's lines, lamp banding and dust, 8-bit levels and a baseline-JPEG history.
//!
//! Images are row-major display values in [0, 1] (bone bright). Like the rest of the
//! phantom, every pixel is computed with IEEE-exact operations only (`+ - * /`, `sqrt`,
//! comparisons; transcendental functions through `math.rs` or hard-coded tables), and every
//! random draw comes from the [`Rng`] passed in, so the output is byte-identical on any
//! machine.

use super::math;
use super::rng::Rng;

// ---------------------------------------------------------------------------------------
// 8-bit levels
// ---------------------------------------------------------------------------------------

/// Round half away from zero by truncation (`f64::round` is a libm call; exact either way).
/// |x| must be far below 2^63.
#[inline]
fn round64(x: f64) -> f64 {
    (if x >= 0.0 { x + 0.5 } else { x - 0.5 }) as i64 as f64
}

/// A display value to its 8-bit level 0..=255 (clamped, rounded).
#[inline]
fn to_level(v: f32) -> f64 {
    // NaN stays NaN here and becomes level 0 in the saturating cast of `round64`.
    let v = (v as f64).clamp(0.0, 1.0);
    round64(v * 255.0)
}

// ---------------------------------------------------------------------------------------
// Baseline JPEG round trip
// ---------------------------------------------------------------------------------------

/// The JPEG standard's example luminance quantisation table (ITU T.81 Annex K, Table
/// K.1), in natural order: row = vertical frequency, column = horizontal frequency. It is
/// what libjpeg (and so most digitisers and PACS) scales for its quality setting.
const LUMA_Q: [[u16; 8]; 8] = [
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
];

/// The quantisation table for an IJG quality 1..=100 (out-of-range values are clamped):
/// scale s = 5000 / q below 50, else 200 - 2q; entry (T s + 50) / 100 in integers, kept
/// within 1..=255 as baseline JPEG requires. Row-major like [`LUMA_Q`].
fn quant_table(quality: u8) -> [u16; 64] {
    let q = quality.clamp(1, 100) as u32;
    let s = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let mut t = [0u16; 64];
    for (i, e) in t.iter_mut().enumerate() {
        let base = LUMA_Q[i / 8][i % 8] as u32;
        *e = ((base * s + 50) / 100).clamp(1, 255) as u16;
    }
    t
}

// 0.5 cos(k pi / 16), k = 1..7 (k = 4 is also sqrt(1/8), the DC weight), to 17 significant
// digits (computed in 50-digit decimal arithmetic): the orthonormal 8-point DCT-II. Each
// literal parses to the correctly rounded double.
#[allow(clippy::excessive_precision)]
const C1: f64 = 0.490_392_640_201_615_22;
#[allow(clippy::excessive_precision)]
const C2: f64 = 0.461_939_766_255_643_38;
#[allow(clippy::excessive_precision)]
const C3: f64 = 0.415_734_806_151_272_62;
#[allow(clippy::excessive_precision)]
const C4: f64 = 0.353_553_390_593_273_76;
#[allow(clippy::excessive_precision)]
const C5: f64 = 0.277_785_116_509_801_11;
#[allow(clippy::excessive_precision)]
const C6: f64 = 0.191_341_716_182_544_89;
#[allow(clippy::excessive_precision)]
const C7: f64 = 0.097_545_161_008_064_134;

/// DCT matrix M[u][x] = c(u) cos((2x + 1) u pi / 16), c(0) = sqrt(1/8), c(u > 0) = 1/2,
/// for x = 0..3; the other half follows from M[u][7 - x] = (-1)^u M[u][x], which the
/// transforms below use to halve their multiplications.
const DCT: [[f64; 4]; 8] = [
    [C4, C4, C4, C4],
    [C1, C3, C5, C7],
    [C2, C6, -C6, -C2],
    [C3, -C7, -C1, -C5],
    [C4, -C4, -C4, C4],
    [C5, -C1, C7, C3],
    [C6, -C2, C2, -C6],
    [C7, -C5, C3, -C1],
];

/// Forward 8-point DCT-II (orthonormal) of `a[o], a[o + st], ...` in place.
#[inline(always)]
fn fdct8(a: &mut [f64; 64], o: usize, st: usize) {
    let mut s = [0.0; 4];
    let mut d = [0.0; 4];
    for k in 0..4 {
        let (p, q) = (a[o + k * st], a[o + (7 - k) * st]);
        s[k] = p + q;
        d[k] = p - q;
    }
    for u in 0..8 {
        let m = &DCT[u];
        let v = if u.is_multiple_of(2) { &s } else { &d };
        a[o + u * st] = m[0] * v[0] + m[1] * v[1] + m[2] * v[2] + m[3] * v[3];
    }
}

/// Inverse of [`fdct8`] (the transpose, DCT-III) in place.
#[inline(always)]
fn idct8(a: &mut [f64; 64], o: usize, st: usize) {
    let f: [f64; 8] = std::array::from_fn(|u| a[o + u * st]);
    for x in 0..4 {
        let even = DCT[0][x] * f[0] + DCT[2][x] * f[2] + DCT[4][x] * f[4] + DCT[6][x] * f[6];
        let odd = DCT[1][x] * f[1] + DCT[3][x] * f[3] + DCT[5][x] * f[5] + DCT[7][x] * f[7];
        a[o + x * st] = even + odd;
        a[o + (7 - x) * st] = even - odd;
    }
}

/// 2-D forward DCT of a row-major 8x8 block: rows, then columns.
fn fdct_block(b: &mut [f64; 64]) {
    for r in 0..8 {
        fdct8(b, 8 * r, 1);
    }
    for c in 0..8 {
        fdct8(b, c, 8);
    }
}

/// 2-D inverse DCT of a row-major 8x8 block of coefficients (row = vertical frequency).
fn idct_block(b: &mut [f64; 64]) {
    for c in 0..8 {
        idct8(b, c, 8);
    }
    for r in 0..8 {
        idct8(b, 8 * r, 1);
    }
}

/// Gives a grey image the history of one baseline-JPEG encode and decode at an IJG
/// `quality` (1..=100), as a digitiser or PACS stored it: 8-bit levels, level shift,
/// 8x8 forward DCT, quantisation by the Annex K luminance table scaled for `quality`,
/// dequantisation, inverse DCT, rounding back to 8-bit levels. Blocks on the right and
/// bottom edges are padded by repeating the last column/row, as encoders do. At quality
/// 30-50 this leaves visible 8x8 blocking in smooth regions and ringing along edges, the
/// marks a detector trained only on clean films has never seen; at 100 values move by
/// about a level. The output is on the 1/255 grid.
pub(super) fn jpeg_history(img: &mut [f32], w: usize, h: usize, quality: u8) {
    assert_eq!(img.len(), w * h, "image size");
    if w == 0 || h == 0 {
        return;
    }
    let q: [f64; 64] = quant_table(quality).map(f64::from);
    let mut b = [0.0f64; 64];
    for by in (0..h).step_by(8) {
        let rows = (h - by).min(8);
        for bx in (0..w).step_by(8) {
            let cols = (w - bx).min(8);
            for y in 0..8 {
                let row = &img[(by + y.min(rows - 1)) * w + bx..][..cols];
                for x in 0..8 {
                    b[8 * y + x] = to_level(row[x.min(cols - 1)]) - 128.0;
                }
            }
            fdct_block(&mut b);
            for (c, &qk) in b.iter_mut().zip(q.iter()) {
                *c = round64(*c / qk) * qk;
            }
            idct_block(&mut b);
            for y in 0..rows {
                let row = &mut img[(by + y) * w + bx..][..cols];
                for (x, v) in row.iter_mut().enumerate() {
                    let l = round64(b[8 * y + x] + 128.0).clamp(0.0, 255.0);
                    *v = (l / 255.0) as f32;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Film grain
// ---------------------------------------------------------------------------------------

/// Adds the silver grain of a film that was then scanned. Grains (0.03-0.05 mm) are
/// smaller than a digitiser's pixel (0.06-0.5 mm), so the noise is nearly white per pixel,
/// with a little correlation between neighbours from grains and the scanner's spot
/// spanning pixel borders: white noise through a separable 3-tap kernel [k, 1, k] with
/// k = 0.02 mm / spacing (at most 0.35; neighbour correlation about 0.56 at 0.06 mm,
/// 0.08 at 0.5 mm), renormalised to unit variance. Its amplitude follows the density:
/// strongest at mid-grey and faint at clear film and full black, weight
/// 0.1 + 0.9 * 4v(1 - v), so `amount` is the standard deviation at v = 0.5 (0.005-0.03
/// is plausible). The mean is kept (zero-mean noise); results are clamped to [0, 1].
/// Draws w * h values from `rng`, row by row.
pub(super) fn film_grain(
    img: &mut [f32],
    w: usize,
    h: usize,
    spacing_mm: f64,
    amount: f32,
    rng: &mut Rng,
) {
    assert_eq!(img.len(), w * h, "image size");
    if w == 0 || h == 0 {
        return;
    }
    let k = if spacing_mm > 0.0 {
        (0.02 / spacing_mm).min(0.35)
    } else {
        0.35
    } as f32;
    // Variance of [k, 1, k] on unit white noise is 1 + 2k^2 per axis, so the separable
    // 2-D kernel has standard deviation 1 + 2k^2.
    let gain = amount / (1.0 + 2.0 * k * k);
    // Rolling window of three horizontally filtered noise rows (edges repeated).
    let mut rows = [vec![0f32; w], vec![0f32; w], vec![0f32; w]];
    let mut white = vec![0f32; w];
    let mut next_row = |out: &mut Vec<f32>, rng: &mut Rng| {
        for n in white.iter_mut() {
            *n = rng.fast_normal();
        }
        for x in 0..w {
            let l = white[x.saturating_sub(1)];
            let r = white[(x + 1).min(w - 1)];
            out[x] = k * l + white[x] + k * r;
        }
    };
    // rows[0] = row y - 1, rows[1] = row y, rows[2] = row y + 1.
    next_row(&mut rows[1], rng);
    rows[0] = rows[1].clone();
    for y in 0..h {
        if y + 1 < h {
            next_row(&mut rows[2], rng);
        } else {
            let (a, b) = rows.split_at_mut(2);
            b[0].copy_from_slice(&a[1]);
        }
        let line = &mut img[y * w..(y + 1) * w];
        for (x, v) in line.iter_mut().enumerate() {
            let n = k * rows[0][x] + rows[1][x] + k * rows[2][x];
            let c = v.clamp(0.0, 1.0);
            let weight = 0.1 + 0.9 * 4.0 * c * (1.0 - c);
            *v = (c + gain * weight * n).clamp(0.0, 1.0);
        }
        rows.rotate_left(1);
    }
}

// ---------------------------------------------------------------------------------------
// Scanner artefacts
// ---------------------------------------------------------------------------------------

/// Adds what a film scanner leaves, scaled by `strength` (1 is typical, 0 changes and draws
/// nothing). The scan direction is drawn (down the rows or along the columns); a line
/// sensor moving along it gives:
/// - 1-4 faint lines the whole length of the scan, 1-2 px wide, at a constant offset of
///   0.004-0.016 (1-4 levels; mostly darker, from dust on a sensor element, sometimes
///   brighter, from its gain), always at least one;
/// - a per-element gain spread across the scan (sd 0.15 %), a fixed pattern of faint
///   streaks;
/// - slow banding of the lamp along the scan: a gain 1 + two slow sinusoids, up to about
///   +-2 %;
/// - occasionally dust specks on the film (dark dots of 1-3 px) and scratches in the
///   emulsion (short bright lines, 1-2 px wide).
///
/// Display values are taken as proportional to transmitted light (clear film, bone, is
/// bright), so what blocks light darkens and what removes silver brightens. Results are
/// clamped to [0, 1].
pub(super) fn scanner_artifacts(img: &mut [f32], w: usize, h: usize, rng: &mut Rng, strength: f32) {
    assert_eq!(img.len(), w * h, "image size");
    if strength.is_nan() || strength <= 0.0 || w == 0 || h == 0 {
        return;
    }
    let s = strength as f64;
    let along_rows = rng.chance(0.5); // the sensor moves down the rows: lines are columns
    let (across, along) = if along_rows { (w, h) } else { (h, w) };

    // Per sensor element: gain and offset.
    let mut gain_x = vec![1f32; across];
    for g in gain_x.iter_mut() {
        *g = (1.0 + s * 0.0015 * rng.normal()) as f32;
    }
    let mut offset_x = vec![0f32; across];
    let lines = 1 + rng.below(4);
    for _ in 0..lines {
        let at = rng.below(across);
        let width = if rng.chance(0.25) { 2 } else { 1 };
        let sign = if rng.chance(0.7) { -1.0 } else { 1.0 };
        let off = (sign * s * rng.range(0.004, 0.016)) as f32;
        for o in offset_x.iter_mut().skip(at).take(width) {
            *o += off;
        }
    }

    // Lamp banding along the scan.
    let tau = 2.0 * std::f64::consts::PI;
    let waves: [(f64, f64, f64); 2] = [
        (
            rng.range(0.005, 0.013),
            rng.range(0.3, 1.5),
            rng.range(0.0, tau),
        ),
        (
            rng.range(0.002, 0.007),
            rng.range(2.0, 6.0),
            rng.range(0.0, tau),
        ),
    ];
    let gain_t: Vec<f32> = (0..along)
        .map(|t| {
            let u = t as f64 / along as f64;
            let g = waves.iter().fold(0.0, |acc, &(a, f, p)| {
                acc + a * math::sin_cos(tau * f * u + p).0
            });
            (1.0 + s * g) as f32
        })
        .collect();

    for y in 0..h {
        let line = &mut img[y * w..(y + 1) * w];
        for (x, v) in line.iter_mut().enumerate() {
            let (c, t) = if along_rows { (x, y) } else { (y, x) };
            *v = *v * (gain_t[t] * gain_x[c]) + offset_x[c];
        }
    }

    // Dust on the film: dark dots.
    if rng.chance(0.5) {
        for _ in 0..1 + rng.below(5) {
            let (cx, cy) = (rng.range(0.0, w as f64), rng.range(0.0, h as f64));
            let r = rng.range(0.5, 1.5);
            let d = (s * rng.range(0.05, 0.2)) as f32;
            stamp(img, w, h, cx, cy, r, -d);
        }
    }
    // Scratches in the emulsion: short bright lines.
    if rng.chance(0.3) {
        for _ in 0..1 + rng.below(2) {
            let (cx, cy) = (rng.range(0.0, w as f64), rng.range(0.0, h as f64));
            let len = rng.range(8.0, 60.0);
            let (sn, cs) = math::sin_cos(rng.range(0.0, tau));
            let r = if rng.chance(0.5) { 0.5 } else { 1.0 };
            let d = (s * rng.range(0.05, 0.2)) as f32;
            // Every pixel under the scratch is raised once, however many of its
            // half-pixel steps cover it.
            let mut under = Vec::new();
            for i in 0..=(len * 2.0) as usize {
                let t = i as f64 * 0.5;
                for_disc(w, h, cx + cs * t, cy + sn * t, r, |k| under.push(k));
            }
            under.sort_unstable();
            under.dedup();
            for k in under {
                img[k] += d;
            }
        }
    }
    for v in img.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
}

/// Adds `d` to the pixels whose centres lie within `r` of (cx, cy) (pixel centres at
/// integer + 0.5).
fn stamp(img: &mut [f32], w: usize, h: usize, cx: f64, cy: f64, r: f64, d: f32) {
    for_disc(w, h, cx, cy, r, |i| img[i] += d);
}

/// Calls `f` with the index of every pixel whose centre lies within `r` of (cx, cy).
fn for_disc(w: usize, h: usize, cx: f64, cy: f64, r: f64, mut f: impl FnMut(usize)) {
    let x0 = (cx - r - 0.5).max(0.0) as usize;
    let y0 = (cy - r - 0.5).max(0.0) as usize;
    let x1 = ((cx + r + 0.5).max(0.0) as usize).min(w.saturating_sub(1));
    let y1 = ((cy + r + 0.5).max(0.0) as usize).min(h.saturating_sub(1));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                f(y * w + x);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tone
// ---------------------------------------------------------------------------------------

/// How strongly the film's H&D curve flattens its toe and shoulder: the curve is
/// (1 - TOE) v + TOE (3v^2 - 2v^3), slope 1 - TOE at the ends and 1 + TOE / 2 in the middle.
const TOE: f64 = 0.5;

/// Segments of the tone look-up table.
const TONE_N: usize = 1024;

/// Maps display values as a scanned film shows them: first the film's characteristic (H&D)
/// curve, a sigmoid with less contrast in the toe and shoulder than in the straight part
/// ([`TOE`]), then the scanner's transfer t^`gamma` (above 1 darkens the mid-tones, below 1
/// lifts them), then onto [`black`, `white`]: clear base plus fog keeps the darkest film
/// from reading black (e.g. black 0.05-0.15) and the brightest from reading white (e.g.
/// white 0.85-0.97). Endpoints map exactly: 0 to `black`, 1 to `white`; the map is
/// monotonic (increasing when white >= black), inputs are clamped to [0, 1]. The power is
/// computed once per entry of a 1025-entry table with `math::exp`/`math::ln` and
/// interpolated linearly per pixel.
pub(super) fn film_tone(img: &mut [f32], w: usize, h: usize, gamma: f32, black: f32, white: f32) {
    assert_eq!(img.len(), w * h, "image size");
    let (g, b, wt) = (gamma as f64, black as f64, white as f64);
    let mut lut = [0f64; TONE_N + 1];
    for (i, e) in lut.iter_mut().enumerate() {
        let x = i as f64 / TONE_N as f64;
        let t = (1.0 - TOE) * x + TOE * (x * x * (3.0 - 2.0 * x));
        let p = if t <= 0.0 {
            0.0
        } else if t >= 1.0 {
            1.0
        } else {
            math::exp(g * math::ln(t)).min(1.0)
        };
        // Exact at p = 0 and p = 1.
        *e = (b * (1.0 - p) + wt * p) as f32 as f64;
    }
    // Make monotonic against rounding.
    for i in 1..=TONE_N {
        lut[i] = if wt >= b {
            lut[i].max(lut[i - 1])
        } else {
            lut[i].min(lut[i - 1])
        };
    }
    for v in img.iter_mut() {
        let x = (*v as f64).clamp(0.0, 1.0) * TONE_N as f64;
        *v = if x >= TONE_N as f64 {
            white
        } else {
            let i = x as usize;
            let f = x - i as f64;
            // Both entries are f32 values, so the difference is exact in f64, and the
            // sum cannot pass the next entry: monotonic.
            (lut[i] + (lut[i + 1] - lut[i]) * f) as f32
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(v: f32) -> i32 {
        to_level(v) as i32
    }

    fn block(f: impl Fn(usize, usize) -> i32) -> Vec<f32> {
        (0..64).map(|i| f(i % 8, i / 8) as f32 / 255.0).collect()
    }

    #[test]
    fn dct_is_orthonormal_and_round_trips() {
        // Rows of the full 8x8 matrix are orthonormal.
        let full = |u: usize, x: usize| {
            if x < 4 {
                DCT[u][x]
            } else {
                DCT[u][7 - x] * if u.is_multiple_of(2) { 1.0 } else { -1.0 }
            }
        };
        for u in 0..8 {
            for v in 0..8 {
                let dot: f64 = (0..8).map(|x| full(u, x) * full(v, x)).sum();
                let want = if u == v { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-15, "{u} {v} {dot}");
            }
        }
        let mut b: [f64; 64] = std::array::from_fn(|i| ((i * 37) % 101) as f64 - 50.0);
        let orig = b;
        fdct_block(&mut b);
        // DC = sum / 8.
        let sum: f64 = orig.iter().sum();
        assert!((b[0] - sum / 8.0).abs() < 1e-12);
        idct_block(&mut b);
        for (a, o) in b.iter().zip(orig.iter()) {
            assert!((a - o).abs() < 1e-12);
        }
    }

    #[test]
    fn quality_scales_the_annex_k_table_like_ijg() {
        assert_eq!(quant_table(50).to_vec(), LUMA_Q.concat());
        // q 75: s = 50, (16 * 50 + 50) / 100 = 8, (99 * 50 + 50) / 100 = 50.
        let t75 = quant_table(75);
        assert_eq!((t75[0], t75[63]), (8, 50));
        // q 30: s = 5000 / 30 = 166; (68 * 166 + 50) / 100 = 113, (16 * 166 + 50) / 100 = 27.
        let t30 = quant_table(30);
        assert_eq!((t30[4 * 8 + 4], t30[0]), (113, 27));
        // q 10: s = 500; (10 * 500 + 50) / 100 = 50. q 1: s = 5000, 500 -> 255.
        assert_eq!(quant_table(10)[2], 50);
        assert_eq!(quant_table(1)[2], 255);
        assert_eq!(quant_table(0), quant_table(1));
        assert!(quant_table(100).iter().all(|&q| q == 1));
        assert_eq!(quant_table(255), quant_table(100));
    }

    #[test]
    fn jpeg_keeps_a_constant_block() {
        // q 75: DC quantiser 8 and DC = 8 (L - 128): every level survives exactly.
        for l in 0..=255 {
            let mut b = block(|_, _| l);
            jpeg_history(&mut b, 8, 8, 75);
            assert!(b.iter().all(|&v| level(v) == l), "level {l}");
            assert!(b.iter().all(|&v| v == l as f32 / 255.0));
        }
        // q 50: DC quantiser 16, DC / 16 = (L - 128) / 2: even offsets survive exactly,
        // any level stays a flat block within one level.
        for l in 0..=255 {
            let mut b = block(|_, _| l);
            jpeg_history(&mut b, 8, 8, 50);
            let out = level(b[0]);
            assert!(b.iter().all(|&v| level(v) == out));
            if (l - 128) % 2 == 0 {
                assert_eq!(out, l);
            } else {
                assert!((out - l).abs() <= 1);
            }
        }
    }

    /// sign of cos((2x + 1) 4 pi / 16) for x = 0..7: the u = 4 basis is +-1/8 per pixel
    /// in 2-D (C4 * C4 = 1/8).
    const S4: [i32; 8] = [1, -1, -1, 1, 1, -1, -1, 1];

    #[test]
    fn jpeg_keeps_a_basis_pattern_on_the_quantiser_grid_and_rounds_others() {
        // Horizontal frequency 4, vertical 0: quantiser 24 at q 50. Amplitude 48 = 2 * 24
        // is kept: pixels 128 +- 48 / 8 = 128 +- 6.
        let pattern = |a: i32| block(move |x, _| 128 + a * S4[x]);
        let mut b = pattern(6);
        jpeg_history(&mut b, 8, 8, 50);
        assert_eq!(b, pattern(6));
        // Amplitude 40 (pixels +-5): 40 / 24 = 1.67 rounds to 2, so +-6 comes back.
        let mut b = pattern(5);
        jpeg_history(&mut b, 8, 8, 50);
        assert_eq!(b, pattern(6));
        // Amplitude 16 (pixels +-2): 16 / 24 = 0.67 rounds to 1, so 24 / 8 = +-3.
        let mut b = pattern(2);
        jpeg_history(&mut b, 8, 8, 50);
        assert_eq!(b, pattern(3));
        // Amplitude 8 (pixels +-1): 8 / 24 < 1/2 is quantised away: a flat block.
        let mut b = pattern(1);
        jpeg_history(&mut b, 8, 8, 50);
        assert_eq!(b, block(|_, _| 128));
    }

    #[test]
    fn jpeg_removes_a_faint_high_frequency_at_low_quality() {
        // Frequency (4, 4), amplitude 48: pixels 128 +- 6 in a checker of 2x2 cells. At
        // q 30 its quantiser is 113 and 48 / 113 < 1/2: the block comes back flat at 128.
        let checker = block(|x, y| 128 + 6 * S4[x] * S4[y]);
        let mut b = checker.clone();
        jpeg_history(&mut b, 8, 8, 30);
        assert_eq!(b, block(|_, _| 128));
        // At q 90 (quantiser (68 * 20 + 50) / 100 = 14) 48 / 14 = 3.43 -> 3 * 14 = 42:
        // pixels 128 +- 5.25, which round to 133 and 123.
        let mut b = checker;
        jpeg_history(&mut b, 8, 8, 90);
        assert_eq!(b, block(|x, y| 128 + 5 * S4[x] * S4[y]));
    }

    #[test]
    fn jpeg_at_quality_100_moves_a_smooth_image_at_most_a_level() {
        let (w, h) = (37, 29);
        let img: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                (0.2 + 0.01 * x + 0.004 * y + 0.0003 * x * y).min(1.0)
            })
            .collect();
        let mut out = img.clone();
        jpeg_history(&mut out, w, h, 100);
        for (a, b) in img.iter().zip(out.iter()) {
            assert!((level(*a) - level(*b)).abs() <= 1);
            assert_eq!(*b, level(*b) as f32 / 255.0);
        }
    }

    #[test]
    fn jpeg_blocks_a_gentle_ramp_and_rings_at_an_edge() {
        // A ramp of 0.4 level per pixel: its first horizontal coefficient is about
        // sqrt(8) * 0.4 * 6.44 = 7.3, below half the q 30 quantiser 18: every block turns
        // flat, and the ramp becomes steps of 3.2 levels at the block borders.
        let (w, h) = (64, 16);
        let mut img: Vec<f32> = (0..w * h)
            .map(|i| (100.0 + 0.4 * (i % w) as f32) / 255.0)
            .collect();
        jpeg_history(&mut img, w, h, 30);
        let (mut inside, mut border) = (0.0, 0.0);
        for y in 0..h {
            for x in 1..w {
                let d = (level(img[y * w + x]) - level(img[y * w + x - 1])).abs() as f64;
                if x.is_multiple_of(8) {
                    border += d
                } else {
                    inside += d
                }
            }
        }
        let inside = inside / (h * (w - w / 8)) as f64;
        let border = border / (h * (w / 8 - 1)) as f64;
        assert!(
            inside < 0.1 && border > 2.0,
            "inside {inside} border {border}"
        );

        // A sharp edge 60 | 200 in the middle of a block: the reconstruction overshoots
        // (ringing) on at least one side.
        let mut b = block(|x, _| if x < 4 { 60 } else { 200 });
        jpeg_history(&mut b, 8, 8, 40);
        assert!(b.iter().any(|&v| level(v) < 60 || level(v) > 200));
    }

    #[test]
    fn jpeg_pads_edges_stays_in_range_and_is_deterministic() {
        let (w, h) = (19, 13);
        let mut r = Rng::new(5);
        let img: Vec<f32> = (0..w * h).map(|_| r.range(-0.2, 1.2) as f32).collect();
        let mut a = img.clone();
        let mut b = img;
        jpeg_history(&mut a, w, h, 35);
        jpeg_history(&mut b, w, h, 35);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        // A 3x3 constant image (padded to 8x8 by repetition) survives at q 75.
        let mut c = vec![77.0 / 255.0; 9];
        jpeg_history(&mut c, 3, 3, 75);
        assert!(c.iter().all(|&v| level(v) == 77));
    }

    fn stats(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|&x| (x as f64 - m) * (x as f64 - m))
            .sum::<f64>()
            / n;
        (m, var.sqrt())
    }

    fn neighbour_corr(v: &[f32], w: usize) -> f64 {
        let (m, sd) = stats(v);
        let (mut s, mut n) = (0.0, 0);
        for (i, pair) in v.windows(2).enumerate() {
            if (i + 1) % w != 0 {
                s += (pair[0] as f64 - m) * (pair[1] as f64 - m);
                n += 1;
            }
        }
        s / n as f64 / (sd * sd)
    }

    #[test]
    fn grain_keeps_the_mean_and_is_strongest_at_mid_grey() {
        let (w, h) = (256, 256);
        let grain = |level: f32, spacing: f64, seed: u64| {
            let mut img = vec![level; w * h];
            film_grain(&mut img, w, h, spacing, 0.02, &mut Rng::new(seed));
            img
        };
        let mid = grain(0.5, 0.1, 1);
        let (m, sd) = stats(&mid);
        // Weight 1 at 0.5: sd = amount.
        assert!(
            (m - 0.5).abs() < 0.001 && (sd - 0.02).abs() < 0.002,
            "{m} {sd}"
        );
        for end in [0.05f32, 0.95] {
            let img = grain(end, 0.1, 2);
            let (m, sd_end) = stats(&img);
            // Weight 0.1 + 0.9 * 0.19 = 0.271: sd about 0.0054.
            assert!((m - end as f64).abs() < 0.0005, "{m}");
            assert!(
                sd_end < 0.5 * sd && (sd_end - 0.0054).abs() < 0.001,
                "{sd_end}"
            );
        }
        // Correlated at a fine pitch, nearly white at a coarse one: [k, 1, k] gives a
        // horizontal neighbour correlation 2k / (1 + 2k^2): k = 1/3 -> 0.55, k = 0.04 -> 0.08.
        let fine = neighbour_corr(&grain(0.5, 0.06, 3), w);
        let coarse = neighbour_corr(&grain(0.5, 0.5, 3), w);
        assert!(
            (fine - 0.545).abs() < 0.03 && (coarse - 0.08).abs() < 0.03,
            "{fine} {coarse}"
        );
        // The same seed gives the same grain; another seed another.
        assert_eq!(grain(0.5, 0.1, 1), mid);
        assert_ne!(grain(0.5, 0.1, 9), mid);
    }

    #[test]
    fn scanner_adds_nothing_at_strength_zero_and_full_length_lines_otherwise() {
        let (w, h) = (120, 90);
        let mut r = Rng::new(3);
        let img: Vec<f32> = (0..w * h).map(|_| r.range(0.2, 0.8) as f32).collect();
        let mut same = img.clone();
        let mut rng = Rng::new(11);
        scanner_artifacts(&mut same, w, h, &mut rng, 0.0);
        assert_eq!(same, img);
        assert_eq!(rng.next_u64(), Rng::new(11).next_u64(), "draws nothing");

        for seed in 0..20 {
            let mut a = vec![0.5f32; w * h];
            scanner_artifacts(&mut a, w, h, &mut Rng::new(seed), 1.0);
            let mut b = vec![0.5f32; w * h];
            scanner_artifacts(&mut b, w, h, &mut Rng::new(seed), 1.0);
            assert_eq!(a, b, "deterministic");
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
            // Column and row medians of (pixel - its row's / column's median) find a line
            // robustly, unmoved by banding (a gain of ~2 % of 0.5 along the other axis)
            // and specks.
            let median = |mut v: Vec<f32>| {
                v.sort_by(f32::total_cmp);
                v[v.len() / 2]
            };
            let line_offset = |n_lines: usize, n_along: usize, at: &dyn Fn(usize, usize) -> f32| {
                (0..n_lines)
                    .map(|c| {
                        median(
                            (0..n_along)
                                .map(|t| {
                                    let across: Vec<f32> = (0..n_lines).map(|k| at(k, t)).collect();
                                    at(c, t) - median(across)
                                })
                                .collect(),
                        )
                    })
                    .fold(0f32, |m, d| m.max(d.abs()))
            };
            let cols = line_offset(w, h, &|x, y| a[y * w + x]);
            let rows = line_offset(h, w, &|y, x| a[y * w + x]);
            // Lines are at least 0.004 off; the per-element gain spread is 0.0015 * 0.5.
            assert!(cols.max(rows) >= 0.0039, "seed {seed}: {cols} {rows}");
        }
    }

    #[test]
    fn film_tone_is_monotonic_with_exact_endpoints_and_flat_ends() {
        let n = 20_001;
        let xs: Vec<f32> = (0..n).map(|i| i as f32 / (n - 1) as f32).collect();
        for &(g, b, wt) in &[
            (1.0f32, 0.08f32, 0.93f32),
            (0.6, 0.12, 0.97),
            (1.8, 0.05, 0.9),
        ] {
            let mut y = xs.clone();
            film_tone(&mut y, n, 1, g, b, wt);
            assert_eq!((y[0], y[n - 1]), (b, wt));
            assert!(y.windows(2).all(|p| p[0] <= p[1]), "monotonic");
            // Clamped outside [0, 1].
            let mut o = vec![-1.0, 2.0];
            film_tone(&mut o, 2, 1, g, b, wt);
            assert_eq!(o, vec![b, wt]);
        }
        // gamma 1, black 0, white 1: the H&D curve alone, 0.5 x + 0.5 (3x^2 - 2x^3): slope
        // 0.5 at the ends, 1.25 in the middle; 0.5 -> 0.5, 0.25 -> 0.125 + 0.078125.
        let mut y = vec![0.5f32, 0.25, 0.75];
        film_tone(&mut y, 3, 1, 1.0, 0.0, 1.0);
        assert!(
            (y[0] - 0.5).abs() < 1e-6 && (y[1] - 0.203125).abs() < 1e-6,
            "{y:?}"
        );
        assert!((y[2] - 0.796875).abs() < 1e-6);
        // gamma 2 on 0.5: 0.25.
        let mut y = vec![0.5f32];
        film_tone(&mut y, 1, 1, 2.0, 0.0, 1.0);
        assert!((y[0] - 0.25).abs() < 1e-5, "{y:?}");
    }

    #[test]
    #[ignore = "timing; run with --ignored --nocapture"]
    fn timing_on_a_2000_by_3000_film() {
        let (w, h) = (2000, 3000);
        let mut r = Rng::new(1);
        let mut img: Vec<f32> = (0..w * h)
            .map(|i| {
                (0.3 + 0.3 * ((i % w) as f32 / w as f32) + 0.02 * r.fast_normal()).clamp(0.0, 1.0)
            })
            .collect();
        let t = std::time::Instant::now();
        film_tone(&mut img, w, h, 0.9, 0.08, 0.94);
        let t_tone = t.elapsed();
        let t = std::time::Instant::now();
        film_grain(&mut img, w, h, 0.1, 0.015, &mut r);
        let t_grain = t.elapsed();
        let t = std::time::Instant::now();
        scanner_artifacts(&mut img, w, h, &mut r, 1.0);
        let t_scan = t.elapsed();
        let t = std::time::Instant::now();
        jpeg_history(&mut img, w, h, 40);
        let t_jpeg = t.elapsed();
        eprintln!("tone {t_tone:?} grain {t_grain:?} scanner {t_scan:?} jpeg {t_jpeg:?}");
    }
}
