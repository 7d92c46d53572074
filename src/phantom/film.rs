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
    for r in 0..h {
        let y = (r as f64 + 0.5) * s;
        for c in 0..w {
            let x = (c as f64 + 0.5) * s;
            let i = r * w + c;
            let along = if e.heel_along_x { x / (w as f64 * s) } else { y / (h as f64 * s) };
            let i0 = (1.0 + e.heel * (along as f32 - 0.5)) * field.at(x, y);
            let t = exp32(-canvas.a[i]);
            canvas.a[i] = i0 * t;
            absorbed[i] = i0 * (1.0 - t);
        }
    }
    let scatter = blur_large(&absorbed, w, h, e.scatter_sigma_mm / s);
    // 3. Quantum noise, scaled up by the noise's loss of variance in the blur that follows
    // (white noise through a Gaussian of sigma px keeps 1 / (2 sqrt(pi) sigma) of its sd).
    let sigma_px = (e.blur_mm / s) as f32;
    let gain = (2.0 * std::f32::consts::PI.sqrt() * sigma_px).max(1.0);
    let inv_n0 = 1.0 / e.photons;
    for (i, v) in canvas.a.iter_mut().enumerate() {
        let total = *v + e.scatter * scatter[i];
        let sd = (total.max(1e-6) * inv_n0).sqrt() * gain;
        *v = total + sd * rng.fast_normal();
    }
    // 4. Unsharpness.
    gaussian_blur(&mut canvas.a, w, h, sigma_px, &mut absorbed);
    // 5. Log amplifier and line artefacts.
    let mut row_off = 0.0f32;
    for r in 0..h {
        // Artefacts come as slowly varying bands with occasional lines.
        row_off = 0.97 * row_off + 0.24 * e.row_noise * rng.fast_normal();
        let line = if rng.chance(0.002) { 3.0 * e.row_noise * rng.fast_normal() } else { 0.0 };
        for v in &mut canvas.a[r * w..(r + 1) * w] {
            *v = -ln32(v.max(1e-5)) + row_off + line;
        }
    }
    // 6. Processing: unsharp mask and dynamic range compression in the log domain.
    let small = blur_large(&canvas.a, w, h, e.usm_sigma_mm / s);
    let large = blur_large(&canvas.a, w, h, e.drc_sigma_mm / s);
    let mean_large = large.iter().map(|&v| v as f64).sum::<f64>() as f32 / large.len().max(1) as f32;
    for (i, v) in canvas.a.iter_mut().enumerate() {
        let u = *v + e.usm_amount * (*v - small[i]) - e.drc_amount * (large[i] - mean_large);
        // An algebraic sigmoid: toe and shoulder without a transcendental function.
        let x = (u - e.tone_centre) / e.tone_width;
        let sig = 0.5 + 0.5 * x / (1.0 + x * x).sqrt();
        *v = (e.black + (e.white - e.black) * sig).clamp(0.0, 1.0);
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
    if sigma < 0.2 {
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
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let cc = (c + j).saturating_sub(radius).min(w - 1);
                acc += kv * row[cc];
            }
            *o = acc;
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
    }
}

/// A wide Gaussian blur (sigma in pixels) computed on a box-downsampled grid and
/// upsampled bilinearly; returns a new full-size image.
pub fn blur_large(img: &[f32], w: usize, h: usize, sigma: f64) -> Vec<f32> {
    let f = ((sigma / 2.5).floor() as usize).clamp(1, 32);
    let (wl, hl) = (w.div_ceil(f), h.div_ceil(f));
    let mut low = vec![0f32; wl * hl];
    let mut cnt = vec![0f32; wl * hl];
    for r in 0..h {
        let lr = r / f;
        for c in 0..w {
            let i = lr * wl + c / f;
            low[i] += img[r * w + c];
            cnt[i] += 1.0;
        }
    }
    for (v, n) in low.iter_mut().zip(&cnt) {
        *v /= n.max(1.0);
    }
    let mut tmp = vec![0f32; wl * hl];
    // The box filter already spread the signal by f / sqrt(12) px.
    let rest = (sigma * sigma - (f * f) as f64 / 12.0).max(0.0).sqrt() / f as f64;
    gaussian_blur(&mut low, wl, hl, rest as f32, &mut tmp);
    let mut out = vec![0f32; w * h];
    let ff = f as f32;
    for r in 0..h {
        let fy = ((r as f32 + 0.5) / ff - 0.5).max(0.0);
        let j = (fy as usize).min(hl - 1);
        let j1 = (j + 1).min(hl - 1);
        let ty = fy - j as f32;
        for c in 0..w {
            let fx = ((c as f32 + 0.5) / ff - 0.5).max(0.0);
            let i = (fx as usize).min(wl - 1);
            let i1 = (i + 1).min(wl - 1);
            let tx = fx - i as f32;
            let a = low[j * wl + i] + (low[j * wl + i1] - low[j * wl + i]) * tx;
            let b = low[j1 * wl + i] + (low[j1 * wl + i1] - low[j1 * wl + i]) * tx;
            out[r * w + c] = a + (b - a) * ty;
        }
    }
    out
}
