//! Films the node must refuse that are not PA hands: a dorsoplantar foot, a PA chest and
//! an exposed field with nothing on it. They go through the same film (exposure, scatter,
//! noise, blur, processing) as the hands, so only their anatomy tells them apart.
//! (Lateral and oblique hands are squeezed hands, `scene::build`; a turned film is a
//! hand film turned, `frame.rs`.)

use super::math::{dir_from_deg, sin_cos};
use super::patient::{Dims, Patient};
use super::raster::{Blob, LongBone, Slab, Tube, mu};
use super::rng::Rng;
use super::scene::{self, BoneKind, Scene, hand_bone};
use super::soft::{self, Finger, HandTissue};
use crate::pipeline::naming::Side;

/// An empty scene of `width` x `height` pixels with the site's exposure and a collimated
/// field a few millimetres inside the film.
fn blank(patient: &Patient, tp: usize, rng: &mut Rng, size: [usize; 2], spacing: f64) -> Scene {
    let site = &patient.sites[tp];
    let (w, h) = (size[0] as f64 * spacing, size[1] as f64 * spacing);
    let m: [f64; 4] = std::array::from_fn(|_| rng.range(-5.0, 12.0));
    let field = [m[0], m[1], w - m[2], h - m[3]];
    let angle = rng.range(-0.8, 0.8).to_radians();
    // Exposure, then materials: the order they draw from `rng` in.
    let exposure = scene::exposure(site, rng, field, angle);
    Scene::empty(size, spacing, exposure, scene::materials(site, rng))
}

/// The side's lead letter in the first free corner of the field (top corners first).
fn marker(s: &mut Scene, side: Side, rng: &mut Rng) {
    let lh = rng.range(9.0, 14.0);
    let lw = lh * 5.0 / 7.0;
    let (w, h) = (s.width as f64 * s.spacing, s.height as f64 * s.spacing);
    let [fx0, fy0, fx1, fy1] = s.exposure.field;
    let (x0, y0) = (fx0.max(0.0) + 6.0, fy0.max(0.0) + 6.0);
    let (x1, y1) = (fx1.min(w) - 6.0 - lw, fy1.min(h) - 6.0 - lh);
    let corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]];
    let start = rng.below(2);
    let ch = if side == Side::Right { 'R' } else { 'L' };
    for k in 0..4 {
        let c = corners[(start + k) % 4];
        if scene::free(
            s,
            [c[0] - 3.0, c[1] - 3.0, c[0] + lw + 3.0, c[1] + lh + 3.0],
        ) {
            s.glyphs.push((c, lh, ch));
            return;
        }
    }
}

/// A long bone from `origin` along `dir` with the dimensions `d` (mm).
fn bone(
    p: &Patient,
    d: Dims,
    kind: BoneKind,
    origin: [f64; 2],
    dir: [f64; 2],
    seed: u64,
) -> LongBone {
    hand_bone(&d, kind, origin, dir, 1.0, &p.hands[0], 0.0, seed)
}

fn blob(c: [f64; 2], angle: f64, a: f64, b: f64, depth: f64, square: f32, seed: u64) -> Blob {
    Blob {
        centre: c,
        dir: dir_from_deg(angle),
        a,
        b,
        c: depth,
        cortex: 0.5,
        trab: 1.0,
        density: 0.9,
        square,
        seed,
    }
}

/// A dorsoplantar foot, toes up, seen from the dorsum like a one-hand film: the hallux of
/// a right foot on the image left. Five metatarsals (63-74 mm), the hallux in line with
/// the other rays, short toes, the tarsus as blocky blobs, the heel cut off by the film.
pub fn foot(patient: &Patient, tp: usize, rng: &mut Rng, side: Side) -> Scene {
    let spacing = rng.range(0.15, 0.19);
    let mut s = blank(patient, tp, rng, [1100, 1750], spacing);
    let k = patient.hands[0].scale;
    let (w, h) = (1100.0 * spacing, 1750.0 * spacing);
    // Foot frame: x towards the hallux, y proximal, origin between the metatarsal heads.
    let sgn = if side == Side::Right { -1.0 } else { 1.0 };
    let rot = rng.range(-6.0, 6.0).to_radians();
    let (sn, cs) = sin_cos(rot);
    let (ox, oy) = (
        0.5 * w + rng.range(-8.0, 8.0),
        0.36 * h + rng.range(-6.0, 6.0),
    );
    let pt = move |q: [f64; 2]| {
        let (x, y) = (sgn * q[0] * k, q[1] * k);
        [ox + cs * x - sn * y, oy + sn * x + cs * y]
    };
    let vec = move |v: [f64; 2]| {
        let x = sgn * v[0];
        [cs * x - sn * v[1], sn * x + cs * v[1]]
    };
    let mut seeds = rng.fork(21);
    // Metatarsal heads, lengths and angles (from the foot's axis, towards the hallux).
    let heads = [
        [28.0, 0.0],
        [10.0, -6.0],
        [-5.0, -4.0],
        [-19.0, 0.0],
        [-32.0, 7.0],
    ];
    let mt_len = [63.0, 74.0, 69.0, 66.0, 67.0];
    let angle = [4.0, 2.0, -1.0, -5.0, -11.0];
    let toe: [[Dims; 3]; 5] = [
        [
            Dims {
                len: 30.0,
                base: 9.5,
                shaft: 6.2,
                head: 8.0,
                cap: 3.2,
            },
            Dims {
                len: 0.0,
                base: 0.0,
                shaft: 0.0,
                head: 0.0,
                cap: 0.0,
            },
            Dims {
                len: 24.0,
                base: 8.5,
                shaft: 5.0,
                head: 0.0,
                cap: 6.5,
            },
        ],
        [
            Dims {
                len: 27.0,
                base: 5.8,
                shaft: 3.4,
                head: 4.6,
                cap: 2.4,
            },
            Dims {
                len: 11.0,
                base: 4.6,
                shaft: 3.6,
                head: 4.2,
                cap: 1.8,
            },
            Dims {
                len: 10.0,
                base: 4.4,
                shaft: 2.8,
                head: 0.0,
                cap: 3.6,
            },
        ],
        [
            Dims {
                len: 24.0,
                base: 5.6,
                shaft: 3.3,
                head: 4.5,
                cap: 2.3,
            },
            Dims {
                len: 10.0,
                base: 4.5,
                shaft: 3.5,
                head: 4.0,
                cap: 1.8,
            },
            Dims {
                len: 9.0,
                base: 4.2,
                shaft: 2.7,
                head: 0.0,
                cap: 3.4,
            },
        ],
        [
            Dims {
                len: 22.0,
                base: 5.4,
                shaft: 3.2,
                head: 4.3,
                cap: 2.2,
            },
            Dims {
                len: 9.0,
                base: 4.4,
                shaft: 3.4,
                head: 3.9,
                cap: 1.7,
            },
            Dims {
                len: 8.5,
                base: 4.0,
                shaft: 2.6,
                head: 0.0,
                cap: 3.2,
            },
        ],
        [
            Dims {
                len: 20.0,
                base: 5.2,
                shaft: 3.1,
                head: 4.1,
                cap: 2.1,
            },
            Dims {
                len: 8.0,
                base: 4.2,
                shaft: 3.3,
                head: 3.7,
                cap: 1.6,
            },
            Dims {
                len: 8.0,
                base: 3.9,
                shaft: 2.5,
                head: 0.0,
                cap: 3.0,
            },
        ],
    ];
    let mut fingers = Vec::new();
    for r in 0..5 {
        let len = mt_len[r] * rng.range(0.96, 1.04);
        let a = angle[r] + rng.range(-2.0, 2.0);
        let dir = dir_from_deg(a);
        let mt = Dims {
            len,
            base: if r == 0 { 11.0 } else { 7.0 },
            shaft: if r == 0 { 6.8 } else { 4.0 },
            head: if r == 0 { 9.5 } else { 5.6 },
            cap: if r == 0 { 4.5 } else { 3.6 },
        };
        let head = pt(heads[r]);
        let d = vec(dir);
        let origin = [head[0] - d[0] * len * k, head[1] - d[1] * len * k];
        let mut prev = bone(
            patient,
            scaled(mt, k),
            BoneKind::Mc,
            origin,
            d,
            seeds.next_u64(),
        );
        let mut nodes = vec![(
            prev.at(0.35 * prev.shape.length),
            if r == 0 { 10.0 } else { 8.0 },
        )];
        s.bones.push(prev.clone());
        // Toes: each phalanx starts a joint space past the head before it, tilted a
        // little out of the film (toes rest curled), which shortens it.
        let mut tdir = dir_from_deg(a + rng.range(-4.0, 4.0));
        for (p, dm) in toe[r].iter().enumerate() {
            if dm.len == 0.0 {
                continue;
            }
            let gap = if p == 0 { 2.0 } else { 1.4 };
            let d = vec(tdir);
            let end = prev.at(prev.shape.length);
            let start = [end[0] + d[0] * gap, end[1] + d[1] * gap];
            let kind = match p {
                0 => BoneKind::Pp,
                1 => BoneKind::Mp,
                _ => BoneKind::Dp,
            };
            let mut b = bone(patient, scaled(*dm, k), kind, start, d, seeds.next_u64());
            b.fore = if p == 0 {
                rng.range(0.88, 1.0)
            } else {
                rng.range(0.7, 0.95)
            };
            nodes.push((b.at(0.0), if r == 0 { 11.0 } else { 7.0 }));
            s.bones.push(b.clone());
            prev = b;
            tdir = dir_from_deg(a + rng.range(-6.0, 6.0));
        }
        let tip = prev.at(prev.shape.length);
        nodes.push((tip, if r == 0 { 9.0 } else { 5.5 }));
        fingers.push(Finger { nodes, depth: 0.8 });
    }
    // Sesamoids under the first metatarsal head.
    for x in [24.0, 33.0] {
        s.blobs.push(blob(
            pt([x, -3.0]),
            0.0,
            4.5 * k,
            4.0 * k,
            3.5,
            0.0,
            seeds.next_u64(),
        ));
    }
    // Tarsus: cuneiforms, cuboid, navicular, talus and calcaneus.
    for (c, ang, a, b, depth, sq) in [
        ([25.0, 77.0], 0.0, 12.0, 8.0, 10.0, 0.75),
        ([9.0, 80.0], 0.0, 9.0, 6.5, 9.0, 0.75),
        ([-6.0, 80.0], 0.0, 10.0, 7.0, 9.0, 0.75),
        ([-24.0, 86.0], 20.0, 14.0, 11.5, 11.0, 0.7),
        ([13.0, 101.0], 80.0, 16.0, 8.0, 11.0, 0.4),
        ([10.0, 127.0], 10.0, 19.0, 16.0, 14.0, 0.2),
        ([-14.0, 152.0], 0.0, 32.0, 20.0, 18.0, 0.3),
    ] {
        s.blobs.push(blob(
            pt(c),
            sgn * ang,
            a * k,
            b * k,
            depth,
            sq,
            seeds.next_u64(),
        ));
    }
    let outline = [
        [46.0, 200.0],
        [48.0, 90.0],
        [44.0, 10.0],
        [36.0, -10.0],
        [0.0, -14.0],
        [-38.0, -2.0],
        [-45.0, 20.0],
        [-44.0, 110.0],
        [-38.0, 200.0],
    ];
    s.tissue.push(HandTissue {
        palm: Some(soft::Slab {
            polygon: outline.iter().map(|q| pt(*q)).collect(),
            thickness: rng.range(34.0, 44.0),
            edge: 12.0,
        }),
        bulges: Vec::new(),
        limb: None,
        fingers,
        ..HandTissue::default()
    });
    marker(&mut s, side, rng);
    s
}

fn scaled(d: Dims, k: f64) -> Dims {
    Dims {
        len: d.len * k,
        base: d.base * k,
        shaft: d.shaft * k,
        head: d.head * k,
        cap: d.cap * k,
    }
}

/// A PA chest on a 35 x 43 cm plate: the thorax's soft tissue, darker lungs, the spine as
/// a column of vertebral blocks, ribs as arcs of thin bone, clavicles.
pub fn chest(patient: &Patient, tp: usize, rng: &mut Rng, side: Side) -> Scene {
    let spacing = rng.range(0.19, 0.21);
    let mut s = blank(patient, tp, rng, [1720, 2100], spacing);
    let (w, _h) = (1720.0 * spacing, 2100.0 * spacing);
    let k = rng.range(0.85, 1.0);
    let (cx, top) = (0.5 * w + rng.range(-10.0, 10.0), rng.range(0.0, 25.0));
    let pt = move |q: [f64; 2]| [cx + q[0] * k, top + q[1] * k];
    let poly = |v: &[[f64; 2]], t: f64, edge: f64| HandTissue {
        palm: Some(soft::Slab {
            polygon: v.iter().map(|q| pt(*q)).collect(),
            thickness: t,
            edge,
        }),
        ..HandTissue::default()
    };
    // The lungs are what the thin torso keeps where nothing thicker covers it.
    let body = 45.0 * rng.range(0.9, 1.1);
    s.tissue.push(poly(
        &[
            [-150.0, 30.0],
            [-60.0, -20.0],
            [60.0, -20.0],
            [150.0, 30.0],
            [165.0, 460.0],
            [-165.0, 460.0],
        ],
        body * 0.35,
        25.0,
    ));
    s.tissue.push(poly(
        &[
            [-40.0, -20.0],
            [40.0, -20.0],
            [38.0, 150.0],
            [115.0, 260.0],
            [120.0, 330.0],
            [-55.0, 330.0],
            [-40.0, 150.0],
        ],
        body,
        18.0,
    ));
    s.tissue.push(poly(
        &[
            [-170.0, 320.0],
            [-135.0, 300.0],
            [-85.0, 285.0],
            [-45.0, 300.0],
            [0.0, 318.0],
            [50.0, 306.0],
            [95.0, 300.0],
            [140.0, 315.0],
            [170.0, 335.0],
            [170.0, 470.0],
            [-170.0, 470.0],
        ],
        body,
        20.0,
    ));
    for sg in [-1.0, 1.0] {
        s.tissue.push(poly(
            &[
                [sg * 150.0, 30.0],
                [sg * 125.0, 60.0],
                [sg * 135.0, 300.0],
                [sg * 150.0, 460.0],
                [sg * 168.0, 460.0],
                [sg * 160.0, 30.0],
            ],
            body * 0.85,
            15.0,
        ));
        s.tissue.push(poly(
            &[
                [sg * 40.0, -20.0],
                [sg * 150.0, 20.0],
                [sg * 155.0, 50.0],
                [sg * 40.0, 40.0],
            ],
            body * 0.8,
            20.0,
        ));
    }
    let mut seeds = rng.fork(22);
    // Spine: vertebral bodies, larger going down.
    let mut y = -10.0;
    for v in 0..17 {
        let g = 1.0 + 0.02 * v as f64;
        let hh = 9.0 * g;
        s.blobs.push(Blob {
            density: 0.6,
            cortex: 1.0,
            ..blob(
                pt([0.0, y + hh]),
                180.0,
                hh * k,
                17.0 * g * k,
                14.0,
                0.75,
                seeds.next_u64(),
            )
        });
        y += 2.0 * hh + 5.0;
    }
    // Ribs: posterior arcs from the spine out to the chest wall and down, hollow tubes
    // of thin cortex.
    for r in 0..10 {
        let y0 = 15.0 + 25.0 * r as f64;
        let reach = 70.0 + 60.0 * (std::f64::consts::PI * (r as f64 + 1.5) / 12.0).sin();
        let drop = rng.range(24.0, 32.0);
        for sg in [-1.0, 1.0] {
            let points = (0..=16)
                .map(|step| {
                    let th = 0.11 * step as f64;
                    let (st, ct) = sin_cos(th);
                    pt([sg * (14.0 + reach * st), y0 + drop * (1.0 - ct) + 9.0 * th])
                })
                .collect();
            s.tubes.push(Tube {
                points,
                radius: 4.5 * k,
                inner: 3.6 * k,
                depth: 0.6,
                mu: mu::CORTICAL * 0.8,
            });
        }
    }
    // Clavicles.
    for sg in [-1.0, 1.0] {
        let a = pt([sg * 18.0, 28.0]);
        let b = pt([sg * 150.0, 12.0]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        let c = Dims {
            len,
            base: 9.0,
            shaft: 6.0,
            head: 8.0,
            cap: 3.0,
        };
        s.bones.push(bone(
            patient,
            c,
            BoneKind::Mc,
            a,
            [dx / len, dy / len],
            seeds.next_u64(),
        ));
    }
    marker(&mut s, side, rng);
    s
}

/// An exposed field with nothing on it but the lead letter, sometimes in its holder.
pub fn empty(patient: &Patient, tp: usize, rng: &mut Rng, side: Side) -> Scene {
    let site = &patient.sites[tp];
    let mut s = blank(patient, tp, rng, [1100, 1600], site.spacing);
    marker(&mut s, side, rng);
    if rng.chance(0.5)
        && let Some(&(at, h, _)) = s.glyphs.first()
    {
        let w = h * 5.0 / 7.0;
        s.slabs.push(Slab {
            centre: [at[0] + w / 2.0, at[1] + h / 2.0],
            dir: [1.0, 0.0],
            half_len: w / 2.0 + 2.5,
            half_width: h / 2.0 + 2.5,
            corner: 2.5,
            thickness: 4.0,
            mu: mu::ACRYLIC,
            holes: vec![],
        });
    }
    s
}
