//! Anatomical unsharpness of joint spaces (`clinic` and `hard`).
//!
//! The generator's bone ends are bodies of revolution, so a PA ray grazes a joint's
//! articular surfaces along one line and the joint space has razor edges. Real articular
//! surfaces are saddles: the base's dorsal and volar lips project at different levels,
//! the condyles give double contours, and the palmar tilt of a resting finger means the
//! beam is never quite tangent. On the film the space fades in over 0.5-1.5 mm along the
//! finger. We model that as a Gaussian spread of the attenuation along the joint's axis,
//! inside a disc around the joint that fades out at its rim, applied before the exposure
//! (so noise and processing come on top, unsoftened). Every articulation gets it, scored
//! or not (DIP and CMC joints too), so it tells no joint from another.

use super::math::exp;
use super::raster::Canvas;

/// One joint to soften: centre and unit axis (film mm), disc radius and the spread's
/// standard deviation along the axis (mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub centre: [f64; 2],
    pub axis: [f64; 2],
    pub radius: f64,
    pub sigma: f64,
}

/// Spreads the attenuation along each site's axis. Sites are applied in order, each
/// reading the canvas as the previous ones left it.
pub fn soften(canvas: &mut Canvas, sites: &[Site]) {
    let (w, h) = (canvas.width, canvas.height);
    let sp = canvas.spacing;
    for s in sites {
        let sigma_px = s.sigma / sp;
        if sigma_px < 0.3 {
            continue;
        }
        let reach = (3.0 * sigma_px).ceil() as i64;
        let weights: Vec<f32> = (-reach..=reach)
            .map(|k| exp(-0.5 * (k as f64 / sigma_px) * (k as f64 / sigma_px)) as f32)
            .collect();
        let total: f32 = weights.iter().sum();
        let (cx, cy, r) = (s.centre[0] / sp, s.centre[1] / sp, s.radius / sp);
        let (ax, ay) = (s.axis[0] as f32, s.axis[1] as f32);
        let x0 = ((cx - r).floor().max(0.0) as usize).min(w);
        let x1 = ((cx + r).ceil().max(0.0) as usize).min(w);
        let y0 = ((cy - r).floor().max(0.0) as usize).min(h);
        let y1 = ((cy + r).ceil().max(0.0) as usize).min(h);
        if x0 >= x1 || y0 >= y1 {
            continue;
        }
        // Read from a copy of the region plus the kernel's reach, clamped to the canvas.
        let m = reach as usize + 1;
        let (rx0, ry0) = (x0.saturating_sub(m), y0.saturating_sub(m));
        let (rx1, ry1) = ((x1 + m).min(w), (y1 + m).min(h));
        let rw = rx1 - rx0;
        let src: Vec<f32> = (ry0..ry1)
            .flat_map(|y| canvas.a[y * w + rx0..y * w + rx1].iter().copied())
            .collect();
        let sample = |x: f32, y: f32| -> f32 {
            // Bilinear, clamped to the copied region.
            let xf = (x - rx0 as f32).clamp(0.0, (rw - 1) as f32);
            let yf = (y - ry0 as f32).clamp(0.0, (ry1 - ry0 - 1) as f32);
            let (xi, yi) = (xf as usize, yf as usize);
            let (fx, fy) = (xf - xi as f32, yf - yi as f32);
            let (xj, yj) = ((xi + 1).min(rw - 1), (yi + 1).min(ry1 - ry0 - 1));
            let at = |x: usize, y: usize| src[y * rw + x];
            (at(xi, yi) * (1.0 - fx) + at(xj, yi) * fx) * (1.0 - fy)
                + (at(xi, yj) * (1.0 - fx) + at(xj, yj) * fx) * fy
        };
        let (cxf, cyf, rf) = (cx as f32, cy as f32, r as f32);
        for y in y0..y1 {
            for x in x0..x1 {
                // Pixel centres; full strength within 0.6 of the radius, none at the rim.
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let d = ((px - cxf) * (px - cxf) + (py - cyf) * (py - cyf)).sqrt() / rf;
                if d >= 1.0 {
                    continue;
                }
                let t = ((1.0 - d) / 0.4).min(1.0);
                let strength = t * t * (3.0 - 2.0 * t);
                let mut acc = 0.0f32;
                for (k, wk) in (-reach..=reach).zip(&weights) {
                    let k = k as f32;
                    acc += wk * sample(px - 0.5 + k * ax, py - 0.5 + k * ay);
                }
                let spread = acc / total;
                let v = &mut canvas.a[y * w + x];
                *v += strength * (spread - *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: usize, h: usize, f: impl Fn(usize, usize) -> f32) -> Canvas {
        let mut c = Canvas::new(w, h, 0.1);
        for y in 0..h {
            for x in 0..w {
                c.a[y * w + x] = f(x, y);
            }
        }
        c
    }

    #[test]
    fn a_constant_stays_and_an_edge_across_the_axis_spreads() {
        // A constant is unchanged (the weights sum to one).
        let mut c = canvas(60, 60, |_, _| 0.7);
        let site = Site {
            centre: [3.0, 3.0],
            axis: [0.0, 1.0],
            radius: 2.5,
            sigma: 0.3,
        };
        soften(&mut c, &[site]);
        assert!(c.a.iter().all(|v| (v - 0.7).abs() < 1e-5));
        // A gap of zeros across the axis (rows 28-31) between bone (1): at the centre the
        // gap fills in, the edges soften; outside the disc nothing changes.
        let gap = |_: usize, y: usize| if (28..32).contains(&y) { 0.0 } else { 1.0 };
        let mut c = canvas(60, 60, gap);
        soften(&mut c, &[site]);
        let at = |x: usize, y: usize| c.a[y * 60 + x];
        assert!(at(30, 29) > 0.2 && at(30, 29) < 0.8, "{}", at(30, 29));
        assert!(at(30, 26) < 1.0);
        assert_eq!(at(2, 29), 0.0);
        assert_eq!(at(59, 10), 1.0);
        // Along the axis of the gap (axis across it) nothing changes in its middle row:
        // spreading along x keeps a horizontal band.
        let mut c = canvas(60, 60, gap);
        soften(
            &mut c,
            &[Site {
                axis: [1.0, 0.0],
                ..site
            }],
        );
        assert!((c.a[29 * 60 + 30]).abs() < 1e-6);
    }
}
