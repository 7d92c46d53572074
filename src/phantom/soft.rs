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
    // Full-resolution pixel c lies at half-resolution c / 2 - 0.25.
    let up = super::film::LowRes::new(&body.a, w2, h2, 2, canvas.width);
    let w = canvas.width;
    let mut buf = vec![0f32; w];
    for r in 0..canvas.height {
        up.row(r, &mut buf);
        for (o, t) in canvas.a[r * w..(r + 1) * w].iter_mut().zip(&buf) {
            *o += mu_soft * t.max(0.0);
        }
    }
}

fn finger_box(f: &Finger, s: f64, w: usize, h: usize) -> (usize, usize, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for (p, r) in &f.nodes {
        x0 = x0.min(p[0] - r);
        y0 = y0.min(p[1] - r);
        x1 = x1.max(p[0] + r);
        y1 = y1.max(p[1] + r);
    }
    let cl = |v: f64, n: usize| ((v / s).floor().max(0.0) as usize).min(n);
    (
        cl(x0 - s, w),
        cl(y0 - s, h),
        cl(x1 + 2.0 * s, w),
        cl(y1 + 2.0 * s, h),
    )
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
    let f = Finger {
        nodes: vec![(l.a, l.radius), (l.b, l.radius)],
        depth: l.depth,
    };
    draw_finger(c, &f);
}

fn draw_bulge(c: &mut Canvas, b: &Bulge) {
    let origin = [b.centre[0] - b.a * b.dir[0], b.centre[1] - b.a * b.dir[1]];
    let (cx, cy, dx, dy) = (
        b.centre[0] as f32,
        b.centre[1] as f32,
        b.dir[0] as f32,
        b.dir[1] as f32,
    );
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
    let poly: Vec<[f64; 2]> = s.polygon.clone();
    let n = poly.len();
    if n < 3 {
        return;
    }
    let (t, e) = (s.thickness as f32, s.edge);
    let sp = c.spacing;
    let w = c.width;
    for r in 0..c.height {
        let y = (r as f64 + 0.5) * sp;
        // Crossings of the row with the outline give the inside spans; only edges within
        // `edge` of the row can be nearer than `edge` to its pixels.
        let mut xs = Vec::new();
        let mut near: Vec<([f32; 2], [f32; 2])> = Vec::new();
        for i in 0..n {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            if (a[1] > y) != (b[1] > y) {
                xs.push(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
            }
            if y >= a[1].min(b[1]) - e && y <= a[1].max(b[1]) + e {
                near.push((
                    [a[0] as f32, a[1] as f32],
                    [(b[0] - a[0]) as f32, (b[1] - a[1]) as f32],
                ));
            }
        }
        if xs.is_empty() {
            continue;
        }
        xs.sort_by(f64::total_cmp);
        let yf = y as f32;
        let ef = e as f32;
        for span in xs.chunks_exact(2) {
            let c0 = ((span[0] / sp) - 0.5).ceil().max(0.0) as usize;
            let c1 = ((((span[1] / sp) - 0.5).floor() + 1.0).max(0.0) as usize).min(w);
            for col in c0..c1 {
                let x = ((col as f64 + 0.5) * sp) as f32;
                let mut d2 = ef * ef;
                for (a, ed) in &near {
                    let (px, py) = (x - a[0], yf - a[1]);
                    let tt = ((px * ed[0] + py * ed[1])
                        / (ed[0] * ed[0] + ed[1] * ed[1]).max(1e-9))
                    .clamp(0.0, 1.0);
                    let (qx, qy) = (px - tt * ed[0], py - tt * ed[1]);
                    d2 = d2.min(qx * qx + qy * qy);
                }
                let q = 1.0 - (d2.sqrt() / ef).min(1.0);
                let th = t * (1.0 - q * q).sqrt();
                let acc = &mut c.a[r * w + col];
                if th > *acc {
                    *acc = th;
                }
            }
        }
    }
}
