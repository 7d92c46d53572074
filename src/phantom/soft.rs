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

/// A nail plate over a fingertip, seen face-on: a band of keratin from `base` along
/// `dir` for `len`, `hw` wide each side, rounded at the free edge. It curves across the
/// finger, so rays near its sides cross it obliquely (longer paths, up to 3 times).
/// `thickness` is tissue-equivalent (keratin is about 1.25 times as attenuating).
#[derive(Debug, Clone)]
pub struct Nail {
    /// Index of the finger in `HandTissue::fingers`.
    pub finger: usize,
    pub base: [f64; 2],
    pub dir: [f64; 2],
    pub len: f64,
    pub hw: f64,
    pub thickness: f64,
}

/// A skin crease: a narrow fold along a polyline. Across a finger (`finger` Some) the
/// finger's radius is `depth` smaller at the fold (a notch in the outline, a faint lucent
/// line across); in the palm (`finger` None) the body is `depth` thinner. The fold's
/// profile is a smooth bump of half-width `width`.
#[derive(Debug, Clone)]
pub struct Crease {
    pub finger: Option<usize>,
    pub points: Vec<[f64; 2]>,
    pub width: f64,
    pub depth: f64,
}

/// One hand's soft tissue.
#[derive(Debug, Clone, Default)]
pub struct HandTissue {
    pub palm: Option<Slab>,
    pub bulges: Vec<Bulge>,
    pub limb: Option<Limb>,
    pub fingers: Vec<Finger>,
    pub nails: Vec<Nail>,
    pub creases: Vec<Crease>,
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
        for c in hand.creases.iter().filter(|c| c.finger.is_none()) {
            draw_palm_crease(&mut body, c);
        }
        for (i, f) in hand.fingers.iter().enumerate() {
            let (mut x0, mut y0, mut x1, mut y1) = finger_box(f, s2, w2, h2);
            for n in hand.nails.iter().filter(|n| n.finger == i) {
                // The nail's free edge may reach past the pulp.
                let tip = Finger {
                    nodes: vec![
                        (n.base, n.hw),
                        (
                            [n.base[0] + n.len * n.dir[0], n.base[1] + n.len * n.dir[1]],
                            n.hw,
                        ),
                    ],
                    depth: 1.0,
                };
                let b = finger_box(&tip, s2, w2, h2);
                (x0, y0, x1, y1) = (x0.min(b.0), y0.min(b.1), x1.max(b.2), y1.max(b.3));
            }
            for r in y0..y1 {
                scratch.a[r * w2 + x0..r * w2 + x1].fill(0.0);
            }
            let folds: Vec<&Crease> = hand
                .creases
                .iter()
                .filter(|c| c.finger == Some(i))
                .collect();
            draw_finger(&mut scratch, f, &folds);
            for n in hand.nails.iter().filter(|n| n.finger == i) {
                draw_nail(&mut scratch, n);
            }
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

/// Distance from (x, y) to a polyline, squared.
fn dist2_polyline(pts: &[[f32; 2]], x: f32, y: f32) -> f32 {
    let mut d2 = f32::INFINITY;
    for w in pts.windows(2) {
        let (dx, dy) = (w[1][0] - w[0][0], w[1][1] - w[0][1]);
        let l2 = (dx * dx + dy * dy).max(1e-9);
        let t = (((x - w[0][0]) * dx + (y - w[0][1]) * dy) / l2).clamp(0.0, 1.0);
        let (ex, ey) = (x - w[0][0] - t * dx, y - w[0][1] - t * dy);
        d2 = d2.min(ex * ex + ey * ey);
    }
    d2
}

/// A fold's profile at squared distance `d2` from its line: 1 on the line, 0 beyond
/// `width`.
fn fold(d2: f32, inv_w2: f32) -> f32 {
    let q = 1.0 - d2 * inv_w2;
    if q > 0.0 { q * q } else { 0.0 }
}

/// A finger: capsules of elliptical cross-section between its nodes, whose radius dips at
/// its creases (none on the paper's hands, which then draw as they always did).
fn draw_finger(c: &mut Canvas, f: &Finger, folds: &[&Crease]) {
    let k = f.depth as f32;
    let folds: Vec<(Vec<[f32; 2]>, f32, f32)> = folds
        .iter()
        .map(|c| {
            (
                c.points
                    .iter()
                    .map(|p| [p[0] as f32, p[1] as f32])
                    .collect(),
                1.0 / (c.width * c.width) as f32,
                c.depth as f32,
            )
        })
        .collect();
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
            let mut r = ra + (rb - ra) * (uc / l);
            for (pts, inv_w2, depth) in &folds {
                r -= depth * fold(dist2_polyline(pts, x, y), *inv_w2);
            }
            let d2 = (u - uc) * (u - uc) + v * v;
            if r > 0.0 && d2 < r * r {
                let t = 2.0 * k * (r * r - d2).sqrt();
                if t > *acc {
                    *acc = t;
                }
            }
        });
    }
}

/// A palmar crease: the body thinner along a line.
fn draw_palm_crease(c: &mut Canvas, cr: &Crease) {
    let Some(first) = cr.points.first() else {
        return;
    };
    let mut b = [first[0], first[1], first[0], first[1]];
    for p in &cr.points {
        b = [
            b[0].min(p[0]),
            b[1].min(p[1]),
            b[2].max(p[0]),
            b[3].max(p[1]),
        ];
    }
    let w = cr.width;
    let pts: Vec<[f32; 2]> = cr
        .points
        .iter()
        .map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let (inv_w2, depth) = (1.0 / (w * w) as f32, cr.depth as f32);
    c.for_box(b[0] - w, b[1] - w, b[2] + w, b[3] + w, |x, y, acc| {
        if *acc > 0.0 {
            *acc = (*acc - depth * fold(dist2_polyline(&pts, x, y), inv_w2)).max(0.0);
        }
    });
}

/// A nail plate, added to its finger.
fn draw_nail(c: &mut Canvas, n: &Nail) {
    let (bx, by, dx, dy) = (
        n.base[0] as f32,
        n.base[1] as f32,
        n.dir[0] as f32,
        n.dir[1] as f32,
    );
    let (l, hw, t) = (n.len as f32, n.hw as f32, n.thickness as f32);
    c.for_oriented(n.base, n.dir, 0.0, n.len, n.hw, |x, y, acc| {
        let (rx, ry) = (x - bx, y - by);
        let u = rx * dx + ry * dy;
        let v = (-rx * dy + ry * dx) / hw;
        // The free edge is rounded: the plate narrows over its last half-width.
        let edge = ((l - u) / hw).min(1.0);
        let reach = if edge < 1.0 {
            (1.0 - (1.0 - edge) * (1.0 - edge)).max(0.0).sqrt()
        } else {
            1.0
        };
        if v.abs() >= reach {
            return;
        }
        let q = v / reach;
        // Seen through a curved plate: 1 / cos of the surface's slope, at most 3.
        let path = (1.0 / (1.0 - q * q).max(1.0 / 9.0).sqrt()).min(3.0);
        // The proximal end is thin under the nail fold.
        let grow = (u / (0.15 * l)).min(1.0);
        *acc += t * path * grow;
    });
}

fn draw_limb(c: &mut Canvas, l: &Limb) {
    let f = Finger {
        nodes: vec![(l.a, l.radius), (l.b, l.radius)],
        depth: l.depth,
    };
    draw_finger(c, &f, &[]);
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
