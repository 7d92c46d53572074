//! The soft-tissue envelope: thickness (mm) of the hand's and forearm's tissue along each
//! ray, on a half-resolution grid (the skin outline is a smooth sqrt profile, and the
//! film's blur is wider than the grid's interpolation error).
//!
//! The palm and forearm are one body: their shapes are combined by maximum (a union).
//! Fingers are separate bodies: their thicknesses add, so a finger crossing another one (a
//! very deformed hand) is as dense as both. The union of the fingers with the palm is again
//! a maximum, which leaves the finger webs where the palm's outline ends.

use super::raster::Canvas;

/// A finger (or thumb) as a chain of nodes with radii: a capsule per segment, rounded at
/// the ends. Cross-sections are ellipses of depth `depth` x width.
#[derive(Debug, Clone)]
pub struct Finger {
    pub nodes: Vec<([f64; 2], f64)>,
    pub depth: f64,
}

/// A body seen side-on with a rounded edge: the polygon's interior has `thickness`, falling
/// to 0 at the outline as a quarter circle of radius `edge`.
#[derive(Debug, Clone)]
pub struct Slab {
    pub polygon: Vec<[f64; 2]>,
    pub thickness: f64,
    pub edge: f64,
}

/// An ellipsoidal bulge (thenar and hypothenar eminences).
#[derive(Debug, Clone)]
pub struct Bulge {
    pub centre: [f64; 2],
    pub dir: [f64; 2],
    pub a: f64,
    pub b: f64,
    /// Full thickness at the centre.
    pub thickness: f64,
}

/// A forearm: a capsule of `radius` between two points, depth ratio `depth`.
#[derive(Debug, Clone)]
pub struct Limb {
    pub a: [f64; 2],
    pub b: [f64; 2],
    pub radius: f64,
    pub depth: f64,
}

/// One hand's soft tissue.
#[derive(Debug, Clone, Default)]
pub struct HandTissue {
    pub palm: Option<Slab>,
    pub bulges: Vec<Bulge>,
    pub limb: Option<Limb>,
    pub fingers: Vec<Finger>,
}

/// Renders the soft-tissue thickness of all hands on a half-resolution grid and adds
/// `mu_soft * thickness` to the full-resolution map.
pub fn draw(canvas: &mut Canvas, hands: &[HandTissue], mu_soft: f32) {
    let (w2, h2) = (canvas.width.div_ceil(2), canvas.height.div_ceil(2));
    let s2 = canvas.spacing * 2.0;
    let mut body = Canvas::new(w2, h2, s2);
    let mut fingers = Canvas::new(w2, h2, s2);
    let mut scratch = Canvas::new(w2, h2, s2);
    for hand in hands {
        if let Some(limb) = &hand.limb {
            draw_limb(&mut body, limb);
        }
        if let Some(slab) = &hand.palm {
            draw_slab(&mut body, slab);
        }
        for b in &hand.bulges {
            draw_bulge(&mut body, b);
        }
        for f in &hand.fingers {
            let (x0, y0, x1, y1) = finger_box(f, s2, w2, h2);
            for r in y0..y1 {
                scratch.a[r * w2 + x0..r * w2 + x1].fill(0.0);
            }
            draw_finger(&mut scratch, f);
            for r in y0..y1 {
                for c in x0..x1 {
                    fingers.a[r * w2 + c] += scratch.a[r * w2 + c];
                }
            }
        }
    }
    for (b, f) in body.a.iter_mut().zip(&fingers.a) {
        *b = b.max(*f);
    }
    // Bilinear upsampling: full-resolution pixel c lies at half-resolution c / 2 - 0.25.
    let (w, h) = (canvas.width, canvas.height);
    for r in 0..h {
        let fy = (r as f32 * 0.5 - 0.25).max(0.0);
        let j = (fy as usize).min(h2 - 1);
        let j1 = (j + 1).min(h2 - 1);
        let ty = fy - j as f32;
        let (row0, row1) = (&body.a[j * w2..(j + 1) * w2], &body.a[j1 * w2..(j1 + 1) * w2]);
        let out = &mut canvas.a[r * w..(r + 1) * w];
        for (c, o) in out.iter_mut().enumerate() {
            let fx = (c as f32 * 0.5 - 0.25).max(0.0);
            let i = (fx as usize).min(w2 - 1);
            let i1 = (i + 1).min(w2 - 1);
            let tx = fx - i as f32;
            let top = row0[i] + (row0[i1] - row0[i]) * tx;
            let bot = row1[i] + (row1[i1] - row1[i]) * tx;
            let t = top + (bot - top) * ty;
            if t > 0.0 {
                *o += mu_soft * t;
            }
        }
    }
}

fn finger_box(f: &Finger, s: f64, w: usize, h: usize) -> (usize, usize, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (p, r) in &f.nodes {
        x0 = x0.min(p[0] - r);
        y0 = y0.min(p[1] - r);
        x1 = x1.max(p[0] + r);
        y1 = y1.max(p[1] + r);
    }
    let cl = |v: f64, n: usize| ((v / s).floor().max(0.0) as usize).min(n);
    (cl(x0 - s, w), cl(y0 - s, h), cl(x1 + 2.0 * s, w), cl(y1 + 2.0 * s, h))
}

fn draw_finger(c: &mut Canvas, f: &Finger) {
    let k = f.depth as f32;
    for seg in f.nodes.windows(2) {
        let ((a, ra), (b, rb)) = (seg[0], seg[1]);
        let d = [b[0] - a[0], b[1] - a[1]];
        let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
        if len < 1e-6 {
            continue;
        }
        let dir = [d[0] / len, d[1] / len];
        let rmax = ra.max(rb);
        let (ax, ay, dx, dy) = (a[0] as f32, a[1] as f32, dir[0] as f32, dir[1] as f32);
        let (ra, rb, l) = (ra as f32, rb as f32, len as f32);
        c.for_oriented(a, dir, -rmax, len + rmax, rmax, |x, y, acc| {
            let (rx, ry) = (x - ax, y - ay);
            let u = rx * dx + ry * dy;
            let v = -rx * dy + ry * dx;
            let uc = u.clamp(0.0, l);
            let r = ra + (rb - ra) * (uc / l);
            let d2 = (u - uc) * (u - uc) + v * v;
            if d2 < r * r {
                let t = 2.0 * k * (r * r - d2).sqrt();
                if t > *acc {
                    *acc = t;
                }
            }
        });
    }
}

fn draw_limb(c: &mut Canvas, l: &Limb) {
    let f = Finger { nodes: vec![(l.a, l.radius), (l.b, l.radius)], depth: l.depth };
    draw_finger(c, &f);
}

fn draw_bulge(c: &mut Canvas, b: &Bulge) {
    let origin = [b.centre[0] - b.a * b.dir[0], b.centre[1] - b.a * b.dir[1]];
    let (cx, cy, dx, dy) = (b.centre[0] as f32, b.centre[1] as f32, b.dir[0] as f32, b.dir[1] as f32);
    let (a, bb, t) = (b.a as f32, b.b as f32, b.thickness as f32);
    c.for_oriented(origin, b.dir, 0.0, 2.0 * b.a, b.b, |x, y, acc| {
        let (rx, ry) = (x - cx, y - cy);
        let u = rx * dx + ry * dy;
        let v = -rx * dy + ry * dx;
        let q = (u / a) * (u / a) + (v / bb) * (v / bb);
        if q < 1.0 {
            let th = t * (1.0 - q).sqrt();
            if th > *acc {
                *acc = th;
            }
        }
    });
}

fn draw_slab(c: &mut Canvas, s: &Slab) {
    let poly: Vec<[f32; 2]> = s.polygon.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    if poly.len() < 3 {
        return;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in &s.polygon {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    let (t, e) = (s.thickness as f32, s.edge as f32);
    c.for_box(x0, y0, x1, y1, |x, y, acc| {
        let mut inside = false;
        let mut d2 = f32::INFINITY;
        let n = poly.len();
        for i in 0..n {
            let a = poly[i];
            let b = poly[(i + 1) % n];
            if (a[1] > y) != (b[1] > y) && x < a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]) {
                inside = !inside;
            }
            let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
            let (px, py) = (x - a[0], y - a[1]);
            let tt = ((px * ex + py * ey) / (ex * ex + ey * ey).max(1e-9)).clamp(0.0, 1.0);
            let (qx, qy) = (px - tt * ex, py - tt * ey);
            d2 = d2.min(qx * qx + qy * qy);
        }
        if inside {
            let q = 1.0 - (d2.sqrt() / e).min(1.0);
            let th = t * (1.0 - q * q).sqrt();
            if th > *acc {
                *acc = th;
            }
        }
    });
}
