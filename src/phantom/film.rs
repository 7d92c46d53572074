//! From the attenuation map to stored pixel values: what the X-ray tube, the scatter, the
//! storage-phosphor plate and the CR reader's image processing do.
//!
//! 1. Primary intensity I = I0(x, y) exp(-A), with the heel effect in I0 and the
//!    collimator's shadow (only a little leakage reaches the plate outside the field).
//! 2. Scatter: a broad, low blur of what the object absorbed, added to the primary.
//! 3. Quantum noise: Poisson statistics of the absorbed photons, standard deviation
//!    sqrt(I / N0) per pixel, larger relative to the signal under bone.
//! 4. Unsharpness: focal spot and phosphor spread, one Gaussian of 0.1-0.2 mm.
//! 5. The reader's log amplifier: L = -ln(I), plus faint line artefacts of the scanner.
//! 6. Processing: unsharp masking (edge enhancement, halos at bone edges) and dynamic
//!    range compression, then a sigmoid tone curve to 10 bits.

use super::math::{exp32, ln32, smoothstep};
use super::raster::Canvas;
use super::rng::Rng;

/// The exposure and processing of one film.
#[derive(Debug, Clone)]
pub struct Exposure {
    /// Absorbed photons per pixel in the open field (sets the noise).
    pub photons: f32,
    /// Heel effect: relative intensity change across the film, along x (or y).
    pub heel: f32,
    pub heel_along_x: bool,
    /// Scatter-to-primary scale and the scatter kernel's width (mm).
    pub scatter: f32,
    pub scatter_sigma_mm: f64,
    /// Focal spot and detector blur (mm, Gaussian sigma).
    pub blur_mm: f64,
    /// Collimated field: a rectangle (film mm) rotated by `field_angle` radians around its
    /// centre, edge penumbra (mm), and the fraction of exposure leaking outside.
    pub field: [f64; 4],
    pub field_angle: f64,
    pub penumbra_mm: f64,
    pub leak: f32,
    /// Unsharp mask: amount and kernel sigma (mm).
    pub usm_amount: f32,
    pub usm_sigma_mm: f64,
    /// Dynamic range compression: amount and kernel sigma (mm).
    pub drc_amount: f32,
    pub drc_sigma_mm: f64,
    /// Tone curve: log-exposure value mapped to mid-grey, its width, and the output range.
    pub tone_centre: f32,
    pub tone_width: f32,
    pub black: f32,
    pub white: f32,
    /// Scanner line artefacts (standard deviation of a per-row offset in L).
    pub row_noise: f32,
}

/// Film processing; `canvas.a` holds A on entry and display values in [0, 1] on return.
pub fn expose(canvas: &mut Canvas, e: &Exposure, rng: &mut Rng) {
    let (w, h) = (canvas.width, canvas.height);
    let s = canvas.spacing;
    let field = FieldMask::new(e, s);
    // 1-2. Primary and the scatter source, both under the collimator's shadow.
    let mut absorbed = vec![0f32; w * h];
    let heel_x: Vec<f32> = (0..w)
        .map(|c| {
            if e.heel_along_x {
                e.heel * ((c as f32 + 0.5) / w as f32 - 0.5)
            } else {
                0.0
            }
        })
        .collect();
    for r in 0..h {
        let y = (r as f64 + 0.5) * s;
        let heel_y = if e.heel_along_x {
            0.0
        } else {
            e.heel * ((r as f32 + 0.5) / h as f32 - 0.5)
        };
        // Pixels well inside the field need no penumbra computation.
        let (xa, xb) = field.open_span(y);
        let (ca, cb) = (
            (xa / s - 0.5).ceil().max(0.0) as usize,
            ((xb / s - 0.5).floor() + 1.0).clamp(0.0, w as f64) as usize,
        );
        let row = &mut canvas.a[r * w..(r + 1) * w];
        let abs_row = &mut absorbed[r * w..(r + 1) * w];
        for c in 0..w {
            let m = if c >= ca && c < cb {
                1.0
            } else {
                field.at((c as f64 + 0.5) * s, y)
            };
            let i0 = (1.0 + heel_y + heel_x[c]) * m;
            let t = exp32(-row[c]);
            row[c] = i0 * t;
            abs_row[c] = i0 * (1.0 - t);
        }
    }
    let scatter = LowRes::blur(&absorbed, w, h, e.scatter_sigma_mm / s);
    // 3. Quantum noise, scaled up by the noise's loss of variance in the blur that follows
    // (white noise through a Gaussian of sigma px keeps 1 / (2 sqrt(pi) sigma) of its sd).
    let sigma_px = (e.blur_mm / s) as f32;
    let gain = (2.0 * std::f32::consts::PI.sqrt() * sigma_px).max(1.0);
    let inv_n0 = 1.0 / e.photons;
    let mut buf = vec![0f32; w];
    for r in 0..h {
        scatter.row(r, &mut buf);
        for (v, sc) in canvas.a[r * w..(r + 1) * w].iter_mut().zip(&buf) {
            let total = *v + e.scatter * sc;
            let sd = (total.max(1e-6) * inv_n0).sqrt() * gain;
            *v = total + sd * rng.fast_normal();
        }
    }
    // 4. Unsharpness, and 5. the log amplifier with the scanner's line artefacts, applied
    // to each row as the blur completes it.
    let mut row_off = 0.0f32;
    gaussian_blur_then(&mut canvas.a, w, h, sigma_px, &mut absorbed, |_, row| {
        // Artefacts come as slowly varying bands with occasional lines.
        row_off = 0.97 * row_off + 0.24 * e.row_noise * rng.fast_normal();
        let line = if rng.chance(0.002) {
            3.0 * e.row_noise * rng.fast_normal()
        } else {
            0.0
        };
        for v in row.iter_mut() {
            *v = -ln32(v.max(1e-5)) + row_off + line;
        }
    });
    drop(absorbed);
    // 6. Processing: unsharp mask and dynamic range compression in the log domain.
    let small = LowRes::blur(&canvas.a, w, h, e.usm_sigma_mm / s);
    let large = LowRes::blur(&canvas.a, w, h, e.drc_sigma_mm / s);
    let mean_large = large.mean();
    let mut buf2 = vec![0f32; w];
    for r in 0..h {
        small.row(r, &mut buf);
        large.row(r, &mut buf2);
        for ((v, sm), lg) in canvas.a[r * w..(r + 1) * w].iter_mut().zip(&buf).zip(&buf2) {
            let u = *v + e.usm_amount * (*v - sm) - e.drc_amount * (lg - mean_large);
            // An algebraic sigmoid: toe and shoulder without a transcendental function.
            let x = (u - e.tone_centre) / e.tone_width;
            let sig = 0.5 + 0.5 * x / (1.0 + x * x).sqrt();
            *v = (e.black + (e.white - e.black) * sig).clamp(0.0, 1.0);
        }
    }
}

/// The collimated field with its penumbra.
struct FieldMask {
    centre: [f64; 2],
    half: [f64; 2],
    cos: f64,
    sin: f64,
    pen: f64,
    leak: f32,
}

impl FieldMask {
    fn new(e: &Exposure, _s: f64) -> FieldMask {
        let [x0, y0, x1, y1] = e.field;
        let (sin, cos) = super::math::sin_cos(e.field_angle);
        FieldMask {
            centre: [(x0 + x1) / 2.0, (y0 + y1) / 2.0],
            half: [(x1 - x0) / 2.0, (y1 - y0) / 2.0],
            cos,
            sin,
            pen: e.penumbra_mm.max(0.05),
            leak: e.leak,
        }
    }

    #[inline]
    fn at(&self, x: f64, y: f64) -> f32 {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        let u = dx * self.cos + dy * self.sin;
        let v = -dx * self.sin + dy * self.cos;
        let inside_u = (self.half[0] - u.abs()) / self.pen;
        let inside_v = (self.half[1] - v.abs()) / self.pen;
        let m = smoothstep((inside_u.min(inside_v) as f32 + 1.0) * 0.5);
        self.leak + (1.0 - self.leak) * m
    }

    /// The x interval of row y where the mask is exactly 1 (inside by more than the
    /// penumbra); empty when none.
    fn open_span(&self, y: f64) -> (f64, f64) {
        let m = self.pen + 1e-6;
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        let dy = y - self.centre[1];
        // u = dx cos + dy sin, v = -dx sin + dy cos; both bounded by half - pen.
        for (a, b, half) in [
            (self.cos, dy * self.sin, self.half[0]),
            (-self.sin, dy * self.cos, self.half[1]),
        ] {
            let lim = half - m;
            if a.abs() < 1e-12 {
                if b.abs() > lim {
                    return (0.0, -1.0);
                }
            } else {
                let (p, q) = ((-lim - b) / a, (lim - b) / a);
                lo = lo.max(p.min(q));
                hi = hi.min(p.max(q));
            }
        }
        (lo + self.centre[0], hi + self.centre[0])
    }

    /// True when (x, y) lies inside the field by at least `margin` mm.
    fn contains(&self, x: f64, y: f64, margin: f64) -> bool {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        let u = dx * self.cos + dy * self.sin;
        let v = -dx * self.sin + dy * self.cos;
        u.abs() <= self.half[0] - margin && v.abs() <= self.half[1] - margin
    }
}

/// True when the film point lies inside the exposure's collimated field by `margin` mm.
pub fn in_field(e: &Exposure, x: f64, y: f64, margin: f64) -> bool {
    FieldMask::new(e, 1.0).contains(x, y, margin)
}

/// Separable Gaussian blur in place (`tmp` is scratch of the same size).
pub fn gaussian_blur(img: &mut [f32], w: usize, h: usize, sigma: f32, tmp: &mut [f32]) {
    gaussian_blur_then(img, w, h, sigma, tmp, |_, _| {});
}

/// Gaussian blur that hands each finished row to `then(row_index, row)` while it is still
/// in cache.
pub fn gaussian_blur_then(
    img: &mut [f32],
    w: usize,
    h: usize,
    sigma: f32,
    tmp: &mut [f32],
    mut then: impl FnMut(usize, &mut [f32]),
) {
    if sigma < 0.2 {
        for r in 0..h {
            then(r, &mut img[r * w..(r + 1) * w]);
        }
        return;
    }
    let radius = (2.5 * sigma).ceil() as usize;
    let mut k: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            exp32(-d * d / (2.0 * sigma * sigma))
        })
        .collect();
    let sum: f32 = k.iter().sum();
    for v in &mut k {
        *v /= sum;
    }
    // Rows into tmp, clamping at the borders.
    for r in 0..h {
        let row = &img[r * w..(r + 1) * w];
        let out = &mut tmp[r * w..(r + 1) * w];
        for (c, o) in out.iter_mut().enumerate() {
            if c >= radius && c + radius < w {
                let win = &row[c - radius..=c + radius];
                *o = win.iter().zip(&k).map(|(a, b)| a * b).sum();
            } else {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let cc = (c + j).saturating_sub(radius).min(w - 1);
                    acc += kv * row[cc];
                }
                *o = acc;
            }
        }
    }
    // Columns back into img, a row at a time for cache locality.
    for r in 0..h {
        let out = &mut img[r * w..(r + 1) * w];
        out.fill(0.0);
        for (j, kv) in k.iter().enumerate() {
            let rr = (r + j).saturating_sub(radius).min(h - 1);
            let src = &tmp[rr * w..(rr + 1) * w];
            for (o, s) in out.iter_mut().zip(src) {
                *o += kv * s;
            }
        }
        then(r, out);
    }
}

/// An image kept at an integer fraction `f` of the full resolution, read back bilinearly
/// (full-resolution pixel c samples the low grid at (c + 0.5) / f - 0.5, clamped) one row
/// at a time, so wide blurs cost little memory traffic.
pub struct LowRes {
    /// Each low-resolution row, already widened to the full width.
    wide: Vec<f32>,
    hl: usize,
    f: usize,
    w: usize,
    mean: f32,
}

impl LowRes {
    /// Wraps a low-resolution image of `wl x hl` for a full image of width `w`.
    pub fn new(low: &[f32], wl: usize, hl: usize, f: usize, w: usize) -> LowRes {
        let ff = f as f32;
        let cols: Vec<(usize, usize, f32)> = (0..w).map(|c| position(c, wl, ff)).collect();
        let mut wide = vec![0f32; hl * w];
        for j in 0..hl {
            let src = &low[j * wl..(j + 1) * wl];
            for (o, &(i, i1, t)) in wide[j * w..(j + 1) * w].iter_mut().zip(&cols) {
                *o = src[i] + (src[i1] - src[i]) * t;
            }
        }
        let mean = (low.iter().map(|&v| v as f64).sum::<f64>() / low.len().max(1) as f64) as f32;
        LowRes {
            wide,
            hl,
            f,
            w,
            mean,
        }
    }

    /// A Gaussian blur of `sigma` pixels: box-downsampled, blurred, kept low.
    pub fn blur(img: &[f32], w: usize, h: usize, sigma: f64) -> LowRes {
        let f = ((sigma / 2.5).floor() as usize).clamp(1, 32);
        let (wl, hl) = (w.div_ceil(f), h.div_ceil(f));
        let mut low = vec![0f32; wl * hl];
        for lr in 0..hl {
            let (r0, r1) = (lr * f, ((lr + 1) * f).min(h));
            let acc = &mut low[lr * wl..(lr + 1) * wl];
            for r in r0..r1 {
                for (a, chunk) in acc.iter_mut().zip(img[r * w..(r + 1) * w].chunks(f)) {
                    *a += chunk.iter().sum::<f32>();
                }
            }
            for (i, a) in acc.iter_mut().enumerate() {
                let cw = f.min(w - i * f);
                *a /= ((r1 - r0) * cw) as f32;
            }
        }
        let mut tmp = vec![0f32; wl * hl];
        // The box filter already spread the signal by f / sqrt(12) px.
        let rest = (sigma * sigma - (f * f) as f64 / 12.0).max(0.0).sqrt() / f as f64;
        gaussian_blur(&mut low, wl, hl, rest as f32, &mut tmp);
        LowRes::new(&low, wl, hl, f, w)
    }

    /// Full-resolution row `r` into `out` (length w).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let (j, j1, t) = position(r, self.hl, self.f as f32);
        let w = self.w;
        let (a, b) = (
            &self.wide[j * w..(j + 1) * w],
            &self.wide[j1 * w..(j1 + 1) * w],
        );
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            *o = x + (y - x) * t;
        }
    }

    /// Mean of the low-resolution values.
    pub fn mean(&self) -> f32 {
        self.mean
    }
}

fn position(c: usize, n: usize, f: f32) -> (usize, usize, f32) {
    let x = ((c as f32 + 0.5) / f - 0.5).max(0.0);
    let i = (x as usize).min(n - 1);
    (i, (i + 1).min(n - 1), x - i as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blurs_keep_a_constant_image_constant() {
        let (w, h) = (64, 40);
        let mut img = vec![0.7f32; w * h];
        let mut tmp = vec![0f32; w * h];
        gaussian_blur(&mut img, w, h, 1.3, &mut tmp);
        assert!(img.iter().all(|v| (v - 0.7).abs() < 1e-5));
        let low = LowRes::blur(&img, w, h, 12.0);
        let mut row = vec![0f32; w];
        for r in 0..h {
            low.row(r, &mut row);
            assert!(row.iter().all(|v| (v - 0.7).abs() < 1e-5));
        }
    }

    #[test]
    fn a_wide_blur_spreads_a_step() {
        let (w, h) = (200, 8);
        let img: Vec<f32> = (0..w * h)
            .map(|i| if i % w < 100 { 0.0 } else { 1.0 })
            .collect();
        let low = LowRes::blur(&img, w, h, 10.0);
        let mut row = vec![0f32; w];
        low.row(4, &mut row);
        assert!(row[0] < 0.05 && row[199] > 0.95, "{} {}", row[0], row[199]);
        assert!(
            (row[99] - 0.5).abs() < 0.12 && row[90] > 0.1 && row[110] < 0.9,
            "{:?}",
            &row[85..115]
        );
    }

    #[test]
    fn the_field_mask_is_open_inside_and_leaks_outside() {
        let e = Exposure {
            photons: 1000.0,
            heel: 0.0,
            heel_along_x: true,
            scatter: 0.0,
            scatter_sigma_mm: 10.0,
            blur_mm: 0.1,
            field: [10.0, 10.0, 90.0, 60.0],
            field_angle: 0.01,
            penumbra_mm: 1.0,
            leak: 0.05,
            usm_amount: 0.0,
            usm_sigma_mm: 1.0,
            drc_amount: 0.0,
            drc_sigma_mm: 10.0,
            tone_centre: 1.0,
            tone_width: 1.0,
            black: 0.0,
            white: 1.0,
            row_noise: 0.0,
        };
        let f = FieldMask::new(&e, 0.1);
        assert_eq!(f.at(50.0, 35.0), 1.0);
        assert!((f.at(2.0, 35.0) - 0.05).abs() < 1e-6);
        let (a, b) = f.open_span(35.0);
        assert!(a > 10.0 && a < 12.5 && b < 90.0 && b > 87.5, "{a} {b}");
        assert!(in_field(&e, 50.0, 35.0, 5.0) && !in_field(&e, 50.0, 8.0, 0.0));
    }
}
