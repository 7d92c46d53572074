//! One film's scene: both hands posed and placed on the film, every object the
//! rasteriser draws, the exposure, and the ground truth of the 20 scored joints.
//!
//! Hands are built in a hand frame (millimetres, x towards the thumb, y proximal, origin
//! near MCP3: the frame of `pipeline::naming::TEMPLATE`), bone by bone along each finger:
//! each bone starts where the joint before it puts its base, so flexion, deviation,
//! subluxation and fusion move everything distal with it. The hand frame is then mirrored
//! for the left hand, rotated and translated onto the film.

use super::film::{self, Exposure};
use super::math::{dir_from_deg, sin_cos, smoothstep};
use super::patient::{
    AnatomyV2, Dims, Displacement, HandAnatomy, HandDisease, JointImplant, JointState, Patient,
    Site,
};
use super::raster::{
    Blob, BoneShape, Cup, Ellipsoid, Erosion, HalfPlane, HeadKind, LongBone, Materials, Remnant,
    Ring, Rod, Slab, Tube, mu,
};
use super::rng::Rng;
use super::soft::{self, Bulge, Finger, HandTissue, Limb};
use crate::annotations::LandmarkKind;
use crate::pipeline::naming::{JointId, Level, Side};

/// Film size of the paper's images (columns x rows).
pub const WIDTH: usize = 2010;
pub const HEIGHT: usize = 1670;

/// Ground-truth box side over the joint's width (twice the wider articular half-width):
/// about 19 mm for MCP3 and 14 mm for PIP3 of an average hand.
const BOX_OVER_WIDTH: f64 = 1.25;

/// Largest tilt of a bone out of the film plane (degrees). Beyond it a phalanx is seen
/// nearly end-on, which the open-cylinder path model would make unboundedly dense.
const MAX_PITCH: f64 = 62.0;

/// What a joint shows, for the documentation's pictures and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Normal,
    Narrowing,
    Erosion,
    Ankylosis,
    Subluxation,
    Dislocation,
    /// Silicone MCP arthroplasty (MCP joints only).
    Implant,
}

/// Ground truth and geometry of one scored joint on the film.
#[derive(Debug, Clone)]
pub struct JointTruth {
    pub id: JointId,
    /// Centre of the joint space, film mm.
    pub centre: [f64; 2],
    /// Unit vector along the distal bone, proximal to distal, film frame.
    pub axis: [f64; 2],
    /// Side of the square box, mm.
    pub side: f64,
    /// Healthy-looking joint-space width at the centre (mm, projected); 0 when fused or
    /// displaced.
    pub gap: f64,
    pub ankylosis: bool,
    pub subluxation: Option<bool>,
    pub conditions: Vec<Condition>,
    /// The joint's bones overlap in projection, or another finger's bone crosses its box,
    /// without a subluxation label (the look-alike of a dislocation).
    pub overlap: bool,
}

/// A place that looks like a scored joint but is not one (DIP and CMC joints, the distal
/// radius and ulna, the carpus), with the box a joint there would have.
#[derive(Debug, Clone)]
pub struct LandmarkTruth {
    pub kind: crate::annotations::LandmarkKind,
    /// e.g. `R-DIP3`.
    pub name: String,
    /// Centre, film mm.
    pub centre: [f64; 2],
    /// Side of the square box, mm.
    pub side: f64,
}

/// A text label burned into the processed image: lines of text in a box whose top-left
/// corner is at `at` (pixels), glyph cells `scale` pixels wide.
#[derive(Debug, Clone)]
pub struct TextLabel {
    pub at: [usize; 2],
    pub scale: usize,
    pub lines: Vec<String>,
    pub inverse: bool,
}

/// Everything drawn on one film.
pub struct Scene {
    /// Size of the rendered film (columns, rows).
    pub width: usize,
    pub height: usize,
    pub spacing: f64,
    pub bones: Vec<LongBone>,
    pub blobs: Vec<Blob>,
    pub rods: Vec<Rod>,
    pub slabs: Vec<Slab>,
    pub rings: Vec<Ring>,
    pub ellipsoids: Vec<Ellipsoid>,
    pub tubes: Vec<Tube>,
    /// Lead letters: top-left corner, height, letter.
    pub glyphs: Vec<([f64; 2], f64, char)>,
    pub tissue: Vec<HandTissue>,
    pub exposure: Exposure,
    pub materials: Materials,
    pub label: Option<TextLabel>,
    pub joints: Vec<JointTruth>,
    pub landmarks: Vec<LandmarkTruth>,
    /// Draw the lead letters mirror-written (the film will be shown mirrored).
    pub mirror_glyphs: bool,
    /// Where the two hands of a two-hand film part (None on other films).
    pub split: Option<Split>,
}

impl Scene {
    /// A film of `size` (columns, rows) pixels with nothing on it yet.
    pub fn empty(
        size: [usize; 2],
        spacing: f64,
        exposure: Exposure,
        materials: Materials,
    ) -> Scene {
        Scene {
            width: size[0],
            height: size[1],
            spacing,
            bones: Vec::new(),
            blobs: Vec::new(),
            rods: Vec::new(),
            slabs: Vec::new(),
            rings: Vec::new(),
            ellipsoids: Vec::new(),
            tubes: Vec::new(),
            glyphs: Vec::new(),
            tissue: Vec::new(),
            exposure,
            materials,
            label: None,
            joints: Vec::new(),
            landmarks: Vec::new(),
            mirror_glyphs: false,
            split: None,
        }
    }
}

/// Film x (mm) of the two hands' nearest parts: the right hand (image left) ends at
/// `right_end`, the left hand begins at `left_start`; the same for their joint boxes.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    pub right_end: f64,
    pub left_start: f64,
    pub right_boxes_end: f64,
    pub left_boxes_start: f64,
}

impl Split {
    /// The x (mm) that parts the hands: the middle of the gap, moved where needed so that
    /// every joint box lies wholly on its own hand's side.
    pub fn parting(&self) -> f64 {
        (0.5 * (self.right_end + self.left_start)).clamp(
            self.right_boxes_end,
            self.left_boxes_start.max(self.right_boxes_end),
        )
    }
}

/// Per-image posture of one hand.
struct Pose {
    rotation: f64,
    spread: [f64; 5],
    /// Pitch of the metacarpal and flexion at MCP, PIP/IP, DIP (degrees).
    mc_pitch: [f64; 5],
    flex: [[f64; 3]; 5],
}

/// A hand's posture on the film when it is not the usual flat PA hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Posture {
    /// Fingers closed together, touching.
    Closed,
    /// Fingers spread wide.
    Wide,
    /// Some fingers flexed: foreshortened, the bases projected over the heads.
    Flexed,
    /// A finger crossed over its neighbour.
    Crossed,
}

/// Key of the stream that draws unusual postures (`Mix::posture_rate`), so that the
/// image's own stream is not touched.
const POSTURE_STREAM: u64 = 0x0090_570E;

/// Turns `pose` into an unusual posture (drawn when `kind` is None).
fn unusual_posture(pose: &mut Pose, rng: &mut Rng, kind: Option<Posture>) -> Posture {
    let kind = kind.unwrap_or(
        [
            Posture::Closed,
            Posture::Wide,
            Posture::Flexed,
            Posture::Crossed,
        ][rng.below(4)],
    );
    match kind {
        Posture::Closed => {
            pose.spread = [
                rng.range(-10.0, 0.0),
                rng.range(-6.0, -2.5),
                rng.range(-1.0, 1.0),
                rng.range(2.0, 4.5),
                rng.range(5.0, 9.0),
            ];
        }
        Posture::Wide => {
            pose.spread = [
                rng.range(8.0, 16.0),
                rng.range(8.0, 14.0),
                rng.range(-1.5, 2.5),
                rng.range(-10.0, -5.0),
                rng.range(-24.0, -14.0),
            ];
        }
        Posture::Flexed => {
            let first = 1 + rng.below(4);
            for f in 1..5 {
                if f == first || rng.chance(0.6) {
                    pose.flex[f] = [
                        rng.range(20.0, 55.0),
                        rng.range(50.0, 90.0),
                        rng.range(25.0, 60.0),
                    ];
                }
            }
            if rng.chance(0.5) {
                pose.flex[0][1] = rng.range(30.0, 60.0);
            }
        }
        Posture::Crossed => {
            // Index, middle or ring finger over its ulnar neighbour, or middle or ring
            // over its radial one.
            let f = 1 + rng.below(3);
            let towards_thumb = f > 1 && rng.chance(0.35);
            let angle = rng.range(16.0, 26.0);
            pose.spread[f] += if towards_thumb { angle } else { -angle };
            pose.flex[f][1] = rng.range(5.0, 25.0);
        }
    }
    kind
}

fn sample_pose(rng: &mut Rng, max_rotation: f64) -> Pose {
    let s = rng.normal_clamped(1.0, 0.35, 0.2, 2.0);
    let thumb = rng.normal_clamped(0.0, 6.0, -12.0, 14.0);
    let spread = [
        thumb,
        5.0 * (s - 0.6) + rng.normal_clamped(0.0, 1.5, -3.0, 3.0),
        rng.normal_clamped(0.0, 1.5, -3.0, 3.0),
        -3.0 * (s - 0.6) + rng.normal_clamped(0.0, 1.5, -3.0, 3.0),
        -7.0 * (s - 0.6) + rng.normal_clamped(0.0, 2.0, -4.0, 4.0),
    ];
    let mut mc_pitch = [0.0; 5];
    let mut flex = [[0.0; 3]; 5];
    for f in 0..5 {
        mc_pitch[f] = if f == 0 {
            rng.range(22.0, 45.0)
        } else {
            rng.range(3.0, 12.0)
        };
        flex[f] = [
            (7.0 * rng.normal()).abs().min(30.0),
            (8.0 * rng.normal()).abs().min(35.0),
            (6.0 * rng.normal()).abs().min(30.0),
        ];
    }
    // Today's hands turn by sigma 4 degrees, at most 10; wider mixes by a third of their
    // largest rotation (the same draw).
    let rotation_sd = if max_rotation <= 10.0 {
        4.0
    } else {
        max_rotation / 3.0
    };
    Pose {
        rotation: rng.normal_clamped(0.0, rotation_sd, -max_rotation, max_rotation),
        spread,
        mc_pitch,
        flex,
    }
}

/// A hand in its own frame, before placement on the film.
#[derive(Default)]
struct HandModel {
    bones: Vec<LongBone>,
    blobs: Vec<Blob>,
    rods: Vec<Rod>,
    slabs: Vec<Slab>,
    rings: Vec<Ring>,
    ellipsoids: Vec<Ellipsoid>,
    tissue: HandTissue,
    /// (finger 1-5, level 0 MCP / 1 PIP-IP, truth without id).
    joints: Vec<(u8, u8, JointTruth)>,
    landmarks: Vec<LandmarkTruth>,
}

fn add(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] + b[0], a[1] + b[1]]
}

fn scale(a: [f64; 2], s: f64) -> [f64; 2] {
    [a[0] * s, a[1] * s]
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1])
}

fn perp(d: [f64; 2]) -> [f64; 2] {
    [-d[1], d[0]]
}

fn norm(d: [f64; 2]) -> [f64; 2] {
    let l = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-12);
    [d[0] / l, d[1] / l]
}

fn cosd(deg: f64) -> f64 {
    sin_cos(deg.to_radians()).1
}

/// Which long bone of a ray: its ends' shapes.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum BoneKind {
    Mc,
    Pp,
    Mp,
    Dp,
}

/// A long bone of the hand from its dimensions.
#[allow(clippy::too_many_arguments)]
pub(super) fn hand_bone(
    dm: &Dims,
    kind: BoneKind,
    origin: [f64; 2],
    dir: [f64; 2],
    fore: f64,
    a: &HandAnatomy,
    osteo: f32,
    seed: u64,
) -> LongBone {
    let (base_flare, head_flare, head, depth) = match kind {
        BoneKind::Mc => (
            0.2 * dm.len,
            0.24 * dm.len,
            HeadKind::Cap { len: dm.cap },
            0.9,
        ),
        BoneKind::Pp | BoneKind::Mp => (
            0.24 * dm.len,
            0.26 * dm.len,
            HeadKind::Cap { len: dm.cap },
            0.82,
        ),
        BoneKind::Dp => (
            0.32 * dm.len,
            0.38 * dm.len,
            HeadKind::Tuft { hw: dm.cap },
            0.72,
        ),
    };
    LongBone {
        shape: BoneShape {
            length: dm.len,
            base_hw: dm.base,
            shaft_hw: dm.shaft,
            head_hw: dm.head.max(dm.shaft),
            base_flare,
            head_flare,
            head,
            cup: None,
            cortex: a.cortex * dm.shaft * (1.0 - 0.35 * osteo as f64),
            plate: 0.55 * a.scale,
            trab_end: 1.0,
            trab_mid: 0.22,
            osteopenia_base: 0.0,
            osteopenia_head: 0.0,
            extend_base: 0.0,
            extend_head: 0.0,
            bridge_hw: 0.0,
            notch: 0.0,
            refined: false,
            seed,
        },
        origin,
        dir,
        fore,
        depth,
        density: a.density * (1.0 - 0.3 * osteo),
        clips: Vec::new(),
        erosions: Vec::new(),
        remnants: Vec::new(),
    }
}

/// Where the joint after `prox` puts the next bone, and the joint's truth. Modifies
/// `prox` (osteopenia, erosions, fusion) and returns the distal bone.
#[allow(clippy::too_many_arguments)]
fn articulate(
    prox: &mut LongBone,
    pd: &Dims,
    dd: &Dims,
    kind: BoneKind,
    js: &JointState,
    level: usize,
    dir: [f64; 2],
    fore: f64,
    a: &HandAnatomy,
    osteo: f32,
    seed: u64,
    tuck: f64,
    extras: &mut HandModel,
) -> (LongBone, JointTruth) {
    let cap = pd.cap;
    let centre = prox.at(pd.len - cap);
    let gap = a.gap[level] * a.scale.sqrt() * js.gap;
    // The head projects foreshortened by its own bone's tilt; the next bone's base rests
    // on that projected outline (a flexed finger's joint space narrows, it is not
    // overrun).
    let contact = add(centre, scale(dir, cap * prox.fore));
    // The base's socket: shallower than the head is round (real sockets are shallow and
    // their rims thin), so the joint space stays visible in projection.
    let cup_r = (0.95 * dd.base).min(1.02 * pd.head);
    let cup_d = cap * 0.3 * (cup_r / pd.head) * (cup_r / pd.head);
    let n = perp(dir);
    // `tuck`: a strongly flexed joint seen PA, the base's lip projected over the head
    // (hands of version 2).
    let mut base_pt = add(contact, scale(dir, (gap - tuck) * fore));
    let silicone = js.implant == JointImplant::Silicone;
    // Displacement of the distal bone.
    let (lat, ax) = match js.displacement {
        Displacement::None => (js.jitter * pd.head, 0.0),
        Displacement::Partial { lateral, axial } => (lateral * pd.head, axial * cap),
        Displacement::Dislocated { lateral, axial } => (
            lateral * 0.72 * (pd.head + dd.base),
            axial * (cap + 4.0 * a.scale),
        ),
    };
    let silicone_gap = if silicone { 9.0 * a.scale } else { 0.0 };
    base_pt = add(
        add(base_pt, scale(n, lat)),
        scale(dir, ax * fore + silicone_gap * fore),
    );
    let origin = add(base_pt, scale(dir, -cup_d * fore));
    let mut dist = hand_bone(dd, kind, origin, dir, fore, a, osteo, seed);
    if a.v2.is_some() && (js.gap < 0.76 || !js.erosions.is_empty()) {
        // RA thins the subchondral plate of a narrowed or eroded joint before it breaks
        // it (the "dot-dash" line): the base's bright line fades.
        let u = (super::rng::mix64(seed ^ 0x0051_A7E5) >> 11) as f64 / (1u64 << 53) as f64;
        dist.shape.plate *= 0.3 + 0.35 * u;
    }
    // Hands of version 2: bicondylar heads with a shallow intercondylar notch, and bases
    // with the median ridge that fits it.
    let ridge = if a.v2.is_some() {
        0.8 * prox.shape.notch
    } else {
        0.0
    };
    if let (Some(v), BoneKind::Pp | BoneKind::Mp) = (&a.v2, kind) {
        dist.shape.notch = v.notch[if kind == BoneKind::Pp { 1 } else { 2 }];
    }
    dist.shape.refined = a.v2.is_some();
    if a.v2.is_some() && kind == BoneKind::Dp {
        // A distal phalanx's base is as round as a middle phalanx's.
        dist.depth = 0.8;
    }
    dist.shape.cup = Some(Cup {
        radius: cup_r,
        depth: cup_d,
        ridge,
    });
    prox.shape.osteopenia_head = js.osteopenia;
    dist.shape.osteopenia_base = js.osteopenia;
    // The visible joint space runs from the head's tip to about the middle of the
    // socket's depth: in projection the socket's rim fills its outer half.
    let socket = add(base_pt, scale(dir, -0.5 * cup_d * fore));
    let mut joint_centre = scale(add(contact, socket), 0.5);
    if silicone {
        // Swanson arthroplasty: head and base resected, a silicone hinge with stems in
        // both medullary canals, titanium grommets at the resection surfaces.
        prox.shape.length -= cap + 1.5 * a.scale;
        prox.shape.head = HeadKind::Cap { len: 0.8 };
        prox.shape.head_hw = pd.shaft * 1.25;
        prox.shape.head_flare = (0.15 * prox.shape.length).max(1.0);
        dist.origin = add(dist.origin, scale(dir, 2.5 * a.scale * fore));
        dist.shape.length -= 2.5 * a.scale;
        dist.shape.cup = None;
        dist.shape.base_hw = dd.shaft * 1.3;
        let p_end = prox.at(prox.shape.length);
        let d_start = dist.at(0.0);
        joint_centre = scale(add(p_end, d_start), 0.5);
        let pdir = prox.dir;
        extras.rods.push(Rod {
            a: prox.at(prox.shape.length - 24.0 * a.scale),
            b: p_end,
            radius: 1.2,
            radius_b: 2.6,
            mu: mu::SILICONE,
            thread: 0.0,
        });
        extras.rods.push(Rod {
            a: d_start,
            b: dist.at(17.0 * a.scale),
            radius: 2.4,
            radius_b: 1.1,
            mu: mu::SILICONE,
            thread: 0.0,
        });
        let len = dist2(d_start, p_end).sqrt();
        extras.ellipsoids.push(Ellipsoid {
            centre: joint_centre,
            dir: norm(add(pdir, dir)),
            a: (len * 0.5 + 0.5).max(3.0),
            b: 6.5 * a.scale,
            c: 5.5 * a.scale,
            mu: mu::SILICONE,
        });
        for (p, d) in [(p_end, pdir), (d_start, dir)] {
            extras.rings.push(Ring {
                centre: p,
                dir: d,
                half_width: 1.4,
                r_in: 2.7,
                r_out: 3.05,
                mu: mu::TITANIUM,
            });
        }
    }
    // Erosions and subchondral cysts.
    for e in &js.erosions {
        if e.distal {
            let u = cup_d + 0.4 + 2.0 * e.depth;
            let v = if e.side == 0.0 {
                0.3 * dd.base * (2.0 * e.depth - 1.0)
            } else {
                e.side * dd.base * 0.92
            };
            dist.erosions.push(Erosion { u, v, r: e.r });
        } else {
            let u = pd.len - cap * (0.45 + 0.35 * e.depth);
            let v = if e.side == 0.0 {
                0.3 * pd.head * (2.0 * e.depth - 1.0)
            } else {
                e.side * pd.head * 0.9
            };
            prox.erosions.push(Erosion { u, v, r: e.r });
        }
    }
    let mut pencil_disp = None;
    if js.pencil && !js.ankylosis && !silicone {
        // Pencil-in-cup: the head resorbed and whittled to a tapered point (no plate left
        // to speak of), the base widened and hollowed into a deep cup around it; the
        // joint telescoped, the point inside the cup, a little to one side.
        let keep = pd.len - 0.5 * cap;
        let taper = 1.4 * cap + 5.0 * a.scale;
        prox.shape.length = keep;
        prox.shape.head = HeadKind::Point { len: taper };
        prox.shape.head_hw = 0.95 * pd.shaft;
        prox.shape.head_flare = taper + 2.0 * a.scale;
        prox.shape.plate *= 0.6;
        prox.shape.notch = 0.0;
        let tip = prox.at(keep);
        // The cup: about as wide as the pencil's shoulders, deep enough to take its point.
        let cup_r = 0.95 * pd.shaft + 1.5 * a.scale;
        let cup_depth = 0.35 * taper + 1.0;
        dist.shape.base_hw = (1.15 * dd.base).max(cup_r + 1.2 * a.scale);
        dist.shape.base_flare = 0.34 * dd.len;
        dist.shape.cup = Some(Cup {
            radius: cup_r,
            depth: cup_depth,
            ridge: 0.0,
        });
        let side = if lat < 0.0 { -1.0 } else { 1.0 };
        dist.origin = add(
            add(tip, scale(dir, -(cup_depth - 0.8) * fore)),
            scale(n, side * 0.15 * pd.head),
        );
        joint_centre = scale(add(tip, dist.origin), 0.5);
        pencil_disp = Some(dist2(tip, dist.origin).sqrt() + 0.5 * cup_depth);
    }
    if js.ankylosis {
        // The joint space is bridged by trabecular bone: both bones continue to a shared
        // plane through the joint centre, as one body of revolution; the old plates
        // remain as faint broken lines.
        let bridge = (0.78 + 0.15 * ((seed >> 8) % 100) as f64 / 100.0) * pd.head.min(dd.base);
        prox.shape.extend_head = cap + gap + 3.0;
        prox.shape.bridge_hw = bridge;
        dist.shape.extend_base = cap + gap + cup_d + 3.0;
        dist.shape.bridge_hw = bridge;
        let m = norm(add(prox.dir, dir));
        let centre_j = scale(add(contact, base_pt), 0.5);
        prox.clips.push(HalfPlane {
            point: centre_j,
            normal: [-m[0], -m[1]],
        });
        dist.clips.push(HalfPlane {
            point: centre_j,
            normal: m,
        });
        let strength = 0.25 + 0.35 * (seed % 100) as f32 / 100.0;
        prox.remnants.push(Remnant {
            u0: pd.len,
            k: -cap / (2.0 * pd.head * pd.head),
            hw: 0.9 * bridge,
            strength,
        });
        dist.remnants.push(Remnant {
            u0: cup_d,
            k: -cup_d / (cup_r * cup_r),
            hw: 0.9 * bridge,
            strength,
        });
    }
    let displaced = (lat.abs() > 0.25 * pd.head) || ax < -0.5 || pencil_disp.is_some();
    let width = 2.0 * pd.head.max(dd.base);
    let disp = pencil_disp.unwrap_or_else(|| dist2(base_pt, contact).sqrt());
    let side = BOX_OVER_WIDTH * width + if displaced { 0.6 * disp } else { 0.0 };
    // The base's lip over the head in projection: no joint space to see, no label.
    let tucked = tuck > 0.0 && tuck >= 0.7 * gap && !js.subluxed() && !js.ankylosis;
    let mut conditions = Vec::new();
    match js.displacement {
        Displacement::Partial { .. } => conditions.push(Condition::Subluxation),
        Displacement::Dislocated { .. } => conditions.push(Condition::Dislocation),
        Displacement::None => {}
    }
    if js.ankylosis {
        conditions.push(Condition::Ankylosis);
    }
    if silicone {
        conditions.push(Condition::Implant);
    }
    if !js.erosions.is_empty() {
        conditions.push(Condition::Erosion);
    }
    if js.gap < 0.8 && !js.ankylosis {
        conditions.push(Condition::Narrowing);
    }
    if conditions.is_empty() {
        conditions.push(Condition::Normal);
    }
    if a.v2.is_some() && !displaced && !js.ankylosis && !silicone && gap > 0.0 {
        // PA rays through the joint space still cross the base's dorsal and volar lips
        // and the condyles' flanks: on a real film the space is a grey band, not an
        // empty line between two bright plates. How much bone they cross varies per
        // joint (drawn from its seed: no new draw on any stream).
        let u = (super::rng::mix64(seed ^ 0x0011_9A11) >> 11) as f64 / (1u64 << 53) as f64;
        let fill = 0.3 + 0.5 * u;
        extras.ellipsoids.push(Ellipsoid {
            centre: joint_centre,
            dir,
            a: 0.5 * (gap - tuck).max(0.0) * fore + 0.15,
            b: 0.8 * pd.head.min(dd.base),
            c: 0.5 * fill * LIP_MM * (1.0 - 0.6 * f64::from(osteo)),
            mu: mu::CORTICAL,
        });
    }
    let truth = JointTruth {
        id: JointId {
            side: Side::Right,
            finger: 1,
            level: Level::Mcp,
        },
        centre: joint_centre,
        axis: dir,
        side,
        gap: if js.ankylosis || displaced || silicone {
            0.0
        } else {
            (gap - tuck).max(0.0) * fore
        },
        ankylosis: js.ankylosis,
        subluxation: Some(js.subluxed()),
        conditions,
        overlap: tucked,
    };
    (dist, truth)
}

/// A carpal bone at scale 1: centre (x, y), half-axes `a` (along the angle) and `b`,
/// depth `c`, angle (degrees from the y axis towards +x), cortex (mm), squareness.
struct Carpal {
    x: f64,
    y: f64,
    a: f64,
    b: f64,
    c: f64,
    angle: f64,
    cortex: f64,
    square: f32,
}

#[allow(clippy::too_many_arguments)]
const fn carpal(
    x: f64,
    y: f64,
    a: f64,
    b: f64,
    c: f64,
    angle: f64,
    cortex: f64,
    square: f32,
) -> Carpal {
    Carpal {
        x,
        y,
        a,
        b,
        c,
        angle,
        cortex,
        square,
    }
}

/// The carpus, packed with 1-2 mm joint spaces.
const CARPALS: [Carpal; 9] = [
    carpal(12.8, 72.6, 5.2, 5.0, 8.0, 8.0, 0.35, 0.6), // trapezoid
    carpal(22.5, 85.2, 6.8, 6.0, 9.0, 35.0, 0.35, 0.5), // trapezium
    carpal(0.3, 76.0, 10.3, 6.4, 10.0, -2.0, 0.4, 0.5), // capitate
    carpal(-13.8, 73.6, 8.8, 7.2, 10.0, -14.0, 0.4, 0.4), // hamate
    carpal(14.8, 93.0, 11.5, 5.9, 9.0, 48.0, 0.4, 0.3), // scaphoid
    carpal(1.2, 94.5, 7.6, 7.0, 10.0, 0.0, 0.4, 0.35), // lunate
    carpal(-12.6, 89.2, 6.6, 5.6, 9.0, -32.0, 0.35, 0.4), // triquetrum
    carpal(-15.8, 88.0, 5.0, 4.3, 7.0, -20.0, 0.35, 0.1), // pisiform
    carpal(-10.5, 75.3, 2.8, 2.2, 6.0, -10.0, 0.8, 0.0), // hook of the hamate, seen end-on
];

/// Indices in `CARPALS`.
const TRAPEZOID: usize = 0;
const TRAPEZIUM: usize = 1;
const CAPITATE: usize = 2;
const HAMATE: usize = 3;
const HOOK: usize = 8;

/// Which distal carpal each metacarpal's base meets (carpometacarpal joints).
const CMC_PAIRS: [(usize, &[usize]); 4] = [
    (TRAPEZIUM, &[0]),
    (TRAPEZOID, &[1]),
    (CAPITATE, &[2]),
    (HAMATE, &[3, 4]),
];

/// The carpal a metacarpal's base meets.
const CMC_OF_RAY: [usize; 5] = [TRAPEZIUM, TRAPEZOID, CAPITATE, HAMATE, HAMATE];

/// Tag of bones that belong to no ray (radius, ulna).
const NO_RAY: u8 = u8::MAX;

/// How far from a metacarpal's base `p` (its axis at the base, running along `d`) the
/// carpal `i` (centre `c`, half-axes `size`) begins, going proximally (mm; negative
/// where they overlap); None when the axis misses it.
fn carpal_entry(p: [f64; 2], d: [f64; 2], c: [f64; 2], size: [f64; 2], i: usize) -> Option<f64> {
    let k = &CARPALS[i];
    let bd = dir_from_deg(180.0 - k.angle);
    let sq = k.square as f64;
    let inside = |t: f64| {
        let q = [p[0] - t * d[0] - c[0], p[1] - t * d[1] - c[1]];
        let x = (q[0] * bd[0] + q[1] * bd[1]) / size[0];
        let y = (-q[0] * bd[1] + q[1] * bd[0]) / size[1];
        let (x2, y2) = (x * x, y * y);
        (1.0 - sq) * (x2 + y2) + sq * (x2 * x2 + y2 * y2) < 1.0
    };
    (0..=500)
        .map(|k| -10.0 + 0.05 * k as f64)
        .find(|&t| inside(t))
}

/// Cortical-equivalent path (mm) through the lips and condyles at the middle of a joint
/// space seen PA, at the fullest (hands of version 2).
const LIP_MM: f64 = 1.4;

/// How far a flexed joint's base projects over the head (mm), hands of version 2 only.
/// The base's volar lip swings proximally by about half the cap times sin(flexion), so
/// a finger resting 20-30 degrees flexed shows a joint space narrowed in projection (the
/// reader's pitfall of "false narrowing"); beyond 35 degrees the base rides over the
/// head, the whole cap and joint space at 80.
fn tuck(a: &HandAnatomy, flexion: f64, cap: f64, level: usize) -> f64 {
    if a.v2.is_none() || flexion <= 0.0 {
        return 0.0;
    }
    let lip = 0.5 * cap * sin_cos(flexion.min(90.0).to_radians()).0;
    let over = ((flexion - 35.0) / 45.0).clamp(0.0, 1.0) * (cap + a.gap[level] * a.scale.sqrt());
    lip.max(over)
}

fn build_hand(
    a: &HandAnatomy,
    d: &HandDisease,
    p: &Patient,
    hand: usize,
    pose: &Pose,
    rng: &mut Rng,
) -> HandModel {
    let mut m = HandModel::default();
    let osteo = d.osteoporosis;
    let s = a.scale;
    let mut seeds = rng.fork(11);
    // The carpus: centres and half-axes at scale 1 with the patient's jitter, then
    // carpal collapse and fusion, then the carpometacarpal joint spaces (hands of
    // version 2, and a collapsed carpus); the proximal row and the forearm follow the
    // distal row.
    let mut cpos: [[f64; 2]; 9] = std::array::from_fn(|i| {
        let j = scale(a.carpal_jitter[i], 0.5);
        [(CARPALS[i].x + j[0]) * s, (CARPALS[i].y + j[1]) * s]
    });
    let mut csize: [[f64; 2]; 9] = std::array::from_fn(|i| [CARPALS[i].a * s, CARPALS[i].b * s]);
    let mut ccortex: [f64; 9] = std::array::from_fn(|i| CARPALS[i].cortex);
    let mut forearm = [0.0f64; 2];
    let mc_dirs: [[f64; 2]; 5] = std::array::from_fn(|f| {
        dir_from_deg(a.mc_angle[f] + if f == 0 { pose.spread[0] } else { 0.0 })
    });
    if a.v2.is_some() {
        // An adult carpus is packed: 1-2 mm between its bones, not the 3-5 mm of the
        // paper's blobs (which read as a child's wrist).
        for c in csize.iter_mut() {
            *c = [c[0] * 1.12, c[1] * 1.12];
        }
    }
    let collapse = d.carpal.clamp(0.0, 1.0);
    let fused = smoothstep(((collapse - 0.6) / 0.3) as f32) as f64;
    if collapse > 0.0 {
        // The carpus loses up to half its height; its bones crowd and, past 0.6, merge
        // into one block (bones grown into each other, their shells faded).
        let y_ref = (1..5).map(|f| a.mc_base[f][1]).sum::<f64>() / 4.0;
        let h = 1.0 - 0.5 * collapse;
        for i in 0..9 {
            cpos[i][1] = y_ref + h * (cpos[i][1] - y_ref);
            csize[i] = [
                csize[i][0] * (1.0 - 0.2 * collapse) + 1.2 * s * fused,
                csize[i][1] * (1.0 - 0.1 * collapse) + 1.2 * s * fused,
            ];
            ccortex[i] *= 1.0 - 0.7 * fused;
        }
        forearm[1] -= (1.0 - h) * (103.0 * s - y_ref);
    }
    let cmc_gap = match &a.v2 {
        Some(v) => Some(v.cmc_gap),
        None if collapse > 0.0 => Some(0.5 * s),
        None => None,
    };
    if let Some(g) = cmc_gap {
        // Fused, the bases run into the distal row.
        let target = g * (1.0 - fused) - s * fused;
        let (mut moved, mut n_moved) = ([0.0f64; 2], 0.0);
        for (i, rays) in CMC_PAIRS {
            let mut need: Option<(f64, [f64; 2])> = None;
            for &f in rays {
                // The thumb's saddle: the trapezium sits in the metacarpal's socket.
                let want = if f == 0 { target - 0.8 * s } else { target };
                if let Some(t) = carpal_entry(a.mc_base[f], mc_dirs[f], cpos[i], csize[i], i) {
                    let shift = want - t;
                    if need.is_none_or(|(sh, _)| shift > sh) {
                        need = Some((shift, mc_dirs[f]));
                    }
                }
            }
            if let Some((shift, dir)) = need {
                let dv = scale(dir, -shift);
                cpos[i] = add(cpos[i], dv);
                if i == HAMATE {
                    cpos[HOOK] = add(cpos[HOOK], dv);
                }
                if i != TRAPEZIUM {
                    moved = add(moved, dv);
                    n_moved += 1.0;
                }
            }
        }
        if n_moved > 0.0 {
            let dv = scale(moved, 1.0 / n_moved);
            for c in cpos.iter_mut().take(8).skip(4) {
                *c = add(*c, dv);
            }
            forearm = add(forearm, dv);
        }
    }
    // Forearm and carpus.
    let radius_dims = Dims {
        len: 170.0,
        base: 9.0 * s,
        shaft: 9.0 * s,
        head: 13.5 * s,
        cap: 2.5 * s,
    };
    let mut radius = hand_bone(
        &radius_dims,
        BoneKind::Mc,
        add([7.0 * s, 103.0 * s + 170.0], forearm),
        [0.0, -1.0],
        1.0,
        a,
        osteo,
        seeds.next_u64(),
    );
    radius.shape.head_flare = 30.0 * s;
    radius.shape.base_flare = 1.0;
    radius.shape.cortex = 2.2 * s;
    radius.depth = 0.7;
    let ulna_dims = Dims {
        len: 170.0,
        base: 6.0 * s,
        shaft: 6.0 * s,
        head: 8.0 * s,
        cap: 5.0 * s,
    };
    let uy = 104.5 * s + a.ulnar_variance;
    let mut ulna = hand_bone(
        &ulna_dims,
        BoneKind::Mc,
        add([-17.0 * s, uy + 170.0], forearm),
        [0.0, -1.0],
        1.0,
        a,
        osteo,
        seeds.next_u64(),
    );
    ulna.shape.head_flare = 18.0 * s;
    ulna.shape.base_flare = 1.0;
    ulna.shape.cortex = 1.8 * s;
    ulna.depth = 0.85;
    let density = a.density * (1.0 - 0.3 * osteo);
    let blob = |c: [f64; 2], ax: f64, b: f64, depth: f64, ang: f64, cortex: f64, seed: u64| Blob {
        centre: c,
        dir: dir_from_deg(180.0 - ang),
        a: ax,
        b,
        c: depth * 0.5,
        cortex,
        trab: 1.1,
        density,
        square: 0.0,
        seed,
    };
    for (i, k) in CARPALS.iter().enumerate() {
        m.blobs.push(Blob {
            square: k.square,
            ..blob(
                cpos[i],
                csize[i][0],
                csize[i][1],
                k.c * s,
                k.angle,
                ccortex[i],
                seeds.next_u64(),
            )
        });
    }
    m.blobs.push(blob(
        add([19.5 * s, 99.5 * s], forearm),
        5.0 * s,
        3.2 * s,
        6.0 * s,
        8.0,
        0.5,
        seeds.next_u64(),
    )); // radial styloid
    m.blobs.push(blob(
        add([-23.0 * s, uy - 2.5 * s], forearm),
        4.0 * s,
        2.0 * s,
        4.0 * s,
        -15.0,
        0.5,
        seeds.next_u64(),
    )); // ulnar styloid
    // Landmarks of the forearm and the carpus (their boxes' sides are set below, like
    // the MCP3's).
    let radius_mark = radius.at(170.0 - 2.0 * s);
    let ulna_mark = ulna.at(170.0 - 0.5 * ulna_dims.cap);
    let carpus_mark = scale(
        cpos.iter().take(8).fold([0.0, 0.0], |acc, c| add(acc, *c)),
        1.0 / 8.0,
    );
    let radius_idx = m.bones.len();
    m.bones.push(radius);
    m.bones.push(ulna);
    let mut tags: Vec<(u8, u8)> = vec![(NO_RAY, 0), (NO_RAY, 0)];

    let mut finger_nodes: Vec<Vec<([f64; 2], f64)>> = Vec::new();
    let mut mcp_points: [[f64; 2]; 5] = [[0.0; 2]; 5];
    let mut pp_points: [[f64; 2]; 5] = [[0.0; 2]; 5];
    let mut pp_dirs: [[f64; 2]; 5] = [[0.0; 2]; 5];
    let mut mc_refs: Vec<(usize, f64)> = Vec::new();
    let mut mcp3_side = 0.0;
    let mut nails: Vec<soft::Nail> = Vec::new();
    let mut creases: Vec<soft::Crease> = Vec::new();
    for f in 0..5 {
        let dims = a.bones[f];
        let joints = &d.joints[f];
        let mc_dir = dir_from_deg(a.mc_angle[f] + if f == 0 { pose.spread[0] } else { 0.0 });
        let mc_fore = cosd(pose.mc_pitch[f]);
        let mut mc = hand_bone(
            &dims[0],
            BoneKind::Mc,
            a.mc_base[f],
            mc_dir,
            mc_fore,
            a,
            osteo,
            seeds.next_u64(),
        );
        if f == 0 {
            mc.shape.cup = Some(Cup {
                radius: 4.5 * s,
                depth: 1.2 * s,
                ridge: 0.0,
            });
        }
        if let Some(v) = &a.v2 {
            mc.shape.notch = v.notch[0];
        }
        // The carpometacarpal joint: midway between the base and the carpal it meets.
        let ci = CMC_OF_RAY[f];
        let t_cmc = carpal_entry(a.mc_base[f], mc_dir, cpos[ci], csize[ci], ci).unwrap_or(0.0);
        m.landmarks.push(landmark(
            LandmarkKind::Cmc,
            hand,
            &format!("CMC{}", f + 1),
            add(a.mc_base[f], scale(mc_dir, -0.5 * t_cmc)),
            BOX_OVER_WIDTH * 2.0 * dims[0].base,
        ));
        // Proximal phalanx direction: rest angle, posture, ulnar drift at the MCP.
        let pp_angle = a.mc_angle[f] + a.pp_rest[f] + pose.spread[f] - d.ulnar_deviation[f];
        let pp_dir = dir_from_deg(pp_angle);
        let mut pitch = pose.mc_pitch[f] + pose.flex[f][0] + joints[0].flexion;
        let pp_fore = cosd(pitch.clamp(-MAX_PITCH, MAX_PITCH));
        let (mut pp, t_mcp) = articulate(
            &mut mc,
            &dims[0],
            &dims[1],
            BoneKind::Pp,
            &joints[0],
            0,
            pp_dir,
            pp_fore,
            a,
            osteo,
            seeds.next_u64(),
            tuck(a, pose.flex[f][0] + joints[0].flexion, dims[0].cap, 0),
            &mut m,
        );
        mcp_points[f] = t_mcp.centre;
        if f == 2 {
            mcp3_side = BOX_OVER_WIDTH * 2.0 * dims[0].head.max(dims[1].base);
        }
        m.joints.push((f as u8 + 1, 0, t_mcp.clone()));
        // Sesamoids over the metacarpal heads.
        let head_c = mc.at(dims[0].len - dims[0].cap);
        let sesamoids: Vec<f64> = match f {
            0 => vec![-0.5, 0.5],
            1 if p.extras.sesamoid2 => vec![0.75],
            4 if p.extras.sesamoid5 => vec![-0.75],
            _ => vec![],
        };
        for side in sesamoids {
            let c = add(
                add(head_c, scale(perp(mc_dir), side * dims[0].head)),
                scale(mc_dir, 0.3 * dims[0].cap),
            );
            let sz = if f == 0 { 1.0 } else { 0.7 };
            m.blobs.push(Blob {
                centre: c,
                dir: mc_dir,
                a: 2.6 * s * sz,
                b: 2.0 * s * sz,
                c: 1.6 * s * sz,
                cortex: 0.4,
                trab: 0.9,
                density,
                square: 0.0,
                seed: seeds.next_u64(),
            });
        }
        let mut chain: Vec<LongBone> = Vec::new();
        let mut nodes = Vec::new();
        let tissue = a.tissue;
        if f == 0 {
            nodes.push((mc.at(0.15 * dims[0].len), dims[0].shaft + 9.0 * s));
            nodes.push((mc.at(0.6 * dims[0].len), dims[0].shaft + 7.5 * s));
        } else {
            nodes.push((mc.at(0.55 * dims[0].len), dims[0].shaft + 6.0 * s));
        }
        nodes.push((
            t_mcp.centre,
            dims[0].head.max(dims[1].base) + tissue * 0.9 + 0.5 * joints[0].swelling,
        ));
        pp_points[f] = pp.at(0.0);
        pp_dirs[f] = pp_dir;
        // The rest of the finger.
        let mut prev_dims = dims[1];
        let mut prev_dir = pp_dir;
        let levels: &[(usize, BoneKind)] = if f == 0 {
            &[(3, BoneKind::Dp)]
        } else {
            &[(2, BoneKind::Mp), (3, BoneKind::Dp)]
        };
        for (k, &(bi, kind)) in levels.iter().enumerate() {
            let level = k + 1;
            let js = &joints[level];
            pitch += pose.flex[f][level] + js.flexion;
            let fore = cosd(pitch.clamp(-MAX_PITCH, MAX_PITCH));
            // Interphalangeal joints deviate little in the film plane.
            let dev = if js.subluxed() {
                rng.range(-8.0, 8.0)
            } else {
                rng.range(-3.0, 3.0)
            };
            let dirn = norm(add(
                scale(prev_dir, 1.0),
                scale(perp(prev_dir), dev.to_radians()),
            ));
            nodes.push((pp.at(0.5 * prev_dims.len), prev_dims.shaft + tissue + 0.3));
            let (next, t) = articulate(
                &mut pp,
                &prev_dims,
                &dims[bi],
                kind,
                js,
                level,
                dirn,
                fore,
                a,
                osteo,
                seeds.next_u64(),
                tuck(a, pose.flex[f][level] + js.flexion, prev_dims.cap, level),
                &mut m,
            );
            let sw = if level == 1 { js.swelling } else { 0.0 };
            if level == 2 {
                m.landmarks.push(landmark(
                    LandmarkKind::Dip,
                    hand,
                    &format!("DIP{}", f + 1),
                    t.centre,
                    t.side,
                ));
                if let Some(v) = &a.v2 {
                    // The DIP's palmar crease, just proximal to the joint.
                    creases.push(finger_crease(
                        f,
                        add(t.centre, scale(prev_dir, -1.0)),
                        prev_dir,
                        prev_dims.head + tissue + 1.0,
                        v,
                    ));
                }
            } else if let Some(v) = &a.v2 {
                // The PIP's (or thumb IP's) two palmar creases.
                for off in [-1.8, 0.4] {
                    creases.push(finger_crease(
                        f,
                        add(t.centre, scale(prev_dir, off)),
                        prev_dir,
                        prev_dims.head + tissue + 1.5,
                        v,
                    ));
                }
            }
            nodes.push((
                t.centre,
                prev_dims.head.max(dims[bi].base) + tissue * 0.85 + sw,
            ));
            if level == 1 {
                m.joints.push((f as u8 + 1, 1, t));
            }
            if js.implant == JointImplant::KWire {
                // Arthrodesis wire from the fingertip through the fused joint.
                let tip = next.at(dims[bi].len + 1.5);
                let r = rng.range(0.5, 0.75);
                m.rods.push(Rod {
                    a: tip,
                    b: pp.at(0.3 * prev_dims.len),
                    radius: r,
                    radius_b: r,
                    mu: mu::STEEL,
                    thread: 0.0,
                });
            }
            chain.push(std::mem::replace(&mut pp, next));
            prev_dims = dims[bi];
            prev_dir = dirn;
        }
        // pp now holds the distal phalanx.
        let dp_len = prev_dims.len;
        nodes.push((pp.at(0.6 * dp_len), prev_dims.cap + tissue * 0.95));
        nodes.push((pp.at(dp_len + 1.8), prev_dims.cap + tissue * 0.5));
        if let Some(v) = &a.v2 {
            // The nail plate over the distal phalanx, its free edge about the pulp's tip.
            let from = pp.at(dp_len * (1.0 - v.nail_len));
            let to = pp.at(dp_len + 1.0 + v.nail_overhang);
            nails.push(soft::Nail {
                finger: f,
                base: from,
                dir: pp.dir,
                len: dist2(from, to).sqrt(),
                hw: 0.72 * (prev_dims.cap + tissue * 0.95),
                thickness: v.nail_thickness,
            });
        }
        chain.push(pp);
        mc_refs.push((m.bones.len(), dims[0].len));
        m.bones.push(mc);
        tags.push((f as u8, 0));
        tags.extend(
            std::iter::once(1u8)
                .chain(levels.iter().map(|&(bi, _)| bi as u8))
                .map(|seg| (f as u8, seg)),
        );
        // Rings sit on the proximal phalanx (chain[0]).
        for &(h, rf, pos, width) in &p.extras.rings {
            if h == hand && rf == f {
                let pb = &chain[0];
                let c = pb.at(pos * dims[1].len);
                let r_out = dims[1].shaft + tissue + 0.1;
                m.rings.push(Ring {
                    centre: c,
                    dir: pb.dir,
                    half_width: width / 2.0,
                    r_in: r_out - 1.6,
                    r_out,
                    mu: mu::RING,
                });
            }
        }
        m.bones.extend(chain);
        finger_nodes.push(nodes);
    }
    // Hardware on metacarpals and the radius.
    for &(h, f) in &p.extras.mc_wires {
        if h == hand
            && let Some(&(i, len)) = mc_refs.get(f)
        {
            {
                let b = &m.bones[i];
                for side in [-1.0, 1.0] {
                    let r = 0.6;
                    let mut rod = Rod {
                        a: b.at_uv(0.08 * len, side * 1.2),
                        b: b.at_uv(0.9 * len, side * 0.6),
                        radius: r,
                        radius_b: r,
                        mu: mu::STEEL,
                        thread: 0.0,
                    };
                    // The proximal end is bent over outside the cortex.
                    rod.a = b.at_uv(0.05 * len, side * (b.shape.shaft_hw + 3.0));
                    m.rods.push(rod);
                }
            }
        }
    }
    for &(h, f) in &p.extras.plates {
        if h != hand {
            continue;
        }
        if f == 0 {
            let r = m.bones[radius_idx].clone();
            let l = r.shape.length;
            plate(&mut m, r.at(l - 42.0 * s), r.dir, 22.0 * s, 5.0 * s, 3, 1.8);
            plate(
                &mut m,
                r.at(l - 13.0 * s),
                perp(r.dir),
                12.0 * s,
                4.2 * s,
                4,
                1.8,
            );
        } else if let Some(&(i, len)) = mc_refs.get(f) {
            let (c, dir) = (m.bones[i].at(0.5 * len), m.bones[i].dir);
            plate(&mut m, c, dir, 0.32 * len, 3.2 * s, 4, 1.3);
        }
    }

    // Soft tissue: palm outline from the bones, bulges, the forearm, the fingers.
    let thumb_n = perp(pp_dirs[0]);
    let mc5 = &m.bones[mc_refs[4].0];
    let mc1 = &m.bones[mc_refs[0].0];
    let mc5_out = scale(perp(mc5.dir), -1.0);
    let mc1_out = perp(mc1.dir);
    let l5 = mc_refs[4].1;
    let l1 = mc_refs[0].1;
    let web = |i: usize, j: usize, t: f64| -> [f64; 2] {
        let a_ = add(pp_points[i], scale(pp_dirs[i], t * a.bones[i][1].len));
        let b_ = add(pp_points[j], scale(pp_dirs[j], t * a.bones[j][1].len));
        scale(add(a_, b_), 0.5)
    };
    let polygon = vec![
        [-30.0 * s, 118.0 * s],
        add(
            mc5.at(0.1 * l5),
            scale(mc5_out, a.bones[4][0].base + 9.0 * s),
        ),
        add(
            mc5.at(0.6 * l5),
            scale(mc5_out, a.bones[4][0].shaft + 9.5 * s),
        ),
        add(mcp_points[4], scale(mc5_out, a.bones[4][0].head + 5.0 * s)),
        web(4, 3, 0.3),
        web(3, 2, 0.32),
        web(2, 1, 0.32),
        add(
            mcp_points[1],
            scale(perp(pp_dirs[1]), a.bones[1][0].head + 3.0 * s),
        ),
        add(
            scale(add(mcp_points[1], mcp_points[0]), 0.5),
            [0.0, 6.0 * s],
        ),
        add(
            mc1.at(0.55 * l1),
            scale(mc1_out, a.bones[0][0].shaft + 6.0 * s),
        ),
        add(
            mc1.at(0.1 * l1),
            scale(mc1_out, a.bones[0][0].base + 8.0 * s),
        ),
        [32.0 * s, 104.0 * s],
        [33.0 * s, 118.0 * s],
    ];
    let _ = thumb_n;
    m.tissue.palm = Some(soft::Slab {
        polygon,
        thickness: a.palm,
        edge: 9.0 * s,
    });
    m.tissue.bulges.push(Bulge {
        centre: add(mc1.at(0.4 * l1), scale(mc1_out, -3.0 * s)),
        dir: mc1.dir,
        a: 24.0 * s,
        b: 14.0 * s,
        thickness: a.palm * 1.25,
    });
    m.tissue.bulges.push(Bulge {
        centre: add(mc5.at(0.35 * l5), scale(mc5_out, 2.0 * s)),
        dir: mc5.dir,
        a: 26.0 * s,
        b: 11.0 * s,
        thickness: a.palm * 1.1,
    });
    m.tissue.limb = Some(Limb {
        a: [0.0, 100.0 * s],
        b: [0.0, 400.0],
        radius: 29.0 * s,
        depth: 0.68,
    });
    for nodes in finger_nodes {
        m.tissue.fingers.push(Finger { nodes, depth: 0.86 });
    }
    if let Some(v) = &a.v2 {
        // Palmar creases: the distal and proximal transverse creases and the thenar
        // crease round the thenar eminence.
        let at = |f: usize, t: f64, side: f64| {
            let (i, len) = mc_refs[f];
            m.bones[i].at_uv(t * len, side)
        };
        let hw = |f: usize| a.bones[f][0].shaft;
        let lines = [
            vec![
                at(4, 0.7, -(hw(4) + 9.0 * s)),
                at(4, 0.76, 0.0),
                at(3, 0.8, 0.0),
                at(2, 0.85, 0.0),
                at(1, 0.9, -0.6 * hw(1)),
            ],
            vec![
                at(1, 0.72, hw(1) + 6.0 * s),
                at(2, 0.62, 0.0),
                at(3, 0.55, 0.0),
                at(4, 0.5, -0.5 * hw(4)),
            ],
            vec![
                at(1, 0.7, hw(1) + 4.0 * s),
                at(1, 0.45, hw(1) + 6.5 * s),
                at(1, 0.2, hw(1) + 5.0 * s),
                [8.0 * s, 97.0 * s],
            ],
        ];
        for points in lines {
            creases.push(soft::Crease {
                finger: None,
                points,
                width: 1.3 * v.crease_width,
                depth: v.crease_palm,
            });
        }
    }
    m.tissue.nails = nails;
    m.tissue.creases = creases;
    for (kind, name, centre) in [
        (LandmarkKind::Radius, "RADIUS", radius_mark),
        (LandmarkKind::Ulna, "ULNA", ulna_mark),
        (LandmarkKind::Carpus, "CARPUS", carpus_mark),
    ] {
        m.landmarks
            .push(landmark(kind, hand, name, centre, mcp3_side));
    }
    flag_overlaps(&mut m, &tags);
    m
}

fn landmark(
    kind: LandmarkKind,
    hand: usize,
    name: &str,
    centre: [f64; 2],
    side: f64,
) -> LandmarkTruth {
    LandmarkTruth {
        kind,
        name: format!("{}-{name}", if hand == 0 { "R" } else { "L" }),
        centre,
        side,
    }
}

/// A palmar crease across finger `f` at `centre`, the finger running along `dir`,
/// reaching `half` either side.
fn finger_crease(
    f: usize,
    centre: [f64; 2],
    dir: [f64; 2],
    half: f64,
    v: &AnatomyV2,
) -> soft::Crease {
    let n = perp(dir);
    soft::Crease {
        finger: Some(f),
        points: vec![
            add(centre, scale(n, -half)),
            add(centre, scale(dir, 0.3)),
            add(centre, scale(n, half)),
        ],
        width: v.crease_width,
        depth: v.crease_finger,
    }
}

/// Whether the bone comes within `reach` of `p`: its outline, sampled every 0.5 mm
/// along its axis (base, shaft, head and the head's rounded cap), seen in projection.
fn bone_near(b: &LongBone, p: [f64; 2], reach: f64) -> bool {
    let sh = &b.shape;
    let cap = match sh.head {
        HeadKind::Cap { len } | HeadKind::Point { len } => len.min(0.45 * sh.length),
        HeadKind::Tuft { hw } => 0.8 * hw,
    };
    let n = (sh.length / 0.5).ceil().max(1.0) as usize;
    (0..=n).any(|k| {
        let u = sh.length * k as f64 / n as f64;
        let r = if u < 0.5 * sh.base_flare {
            sh.base_hw
        } else if u > sh.length - cap {
            let q = (u - (sh.length - cap)) / cap.max(1e-6);
            sh.head_hw * (1.0 - q * q).max(0.0).sqrt()
        } else if u > sh.length - cap - 0.5 * sh.head_flare {
            sh.head_hw
        } else {
            sh.shaft_hw
        };
        dist2(p, b.at(u)).sqrt() < reach + r
    })
}

/// Sets `overlap` on the scored joints without a subluxation label that another bone
/// crosses in projection (a crossed or displaced neighbour's phalanx inside the box).
/// `tags` names each bone's ray (0 thumb) and segment (0 MC, 1 PP, 2 MP, 3 DP).
fn flag_overlaps(m: &mut HandModel, tags: &[(u8, u8)]) {
    let HandModel { joints, bones, .. } = m;
    for (f, level, t) in joints.iter_mut() {
        if t.subluxation == Some(true) || t.overlap {
            continue;
        }
        let ray = *f - 1;
        let (prox, dist) = match (*level, ray) {
            (0, _) => (0, 1),
            (_, 0) => (1, 3),
            _ => (1, 2),
        };
        let reach = 0.3 * t.side;
        t.overlap = bones.iter().zip(tags).any(|(b, &(bf, seg))| {
            bf != NO_RAY
                && !(bf == ray && (seg == prox || seg == dist))
                && bone_near(b, t.centre, reach)
        });
    }
}

/// A titanium plate with `screws` screws seen end-on.
fn plate(
    m: &mut HandModel,
    centre: [f64; 2],
    dir: [f64; 2],
    half_len: f64,
    half_width: f64,
    screws: usize,
    thickness: f64,
) {
    let mut holes = Vec::new();
    for i in 0..screws {
        let t = if screws > 1 {
            -0.78 + 1.56 * i as f64 / (screws - 1) as f64
        } else {
            0.0
        };
        let c = add(centre, scale(dir, t * half_len));
        holes.push((c, 1.6));
        // Screw head and shank, both seen along their axis.
        m.slabs.push(Slab {
            centre: c,
            dir,
            half_len: 1.6,
            half_width: 1.6,
            corner: 1.6,
            thickness: 2.0,
            mu: mu::TITANIUM,
            holes: vec![],
        });
        m.slabs.push(Slab {
            centre: c,
            dir,
            half_len: 1.0,
            half_width: 1.0,
            corner: 1.0,
            thickness: 12.0,
            mu: mu::TITANIUM,
            holes: vec![],
        });
    }
    m.slabs.push(Slab {
        centre,
        dir,
        half_len,
        half_width,
        corner: half_width * 0.8,
        thickness,
        mu: mu::TITANIUM,
        holes,
    });
}

/// A rigid placement of a hand frame on the film: p' = R M p + t (M mirrors x for the
/// left hand).
#[derive(Clone, Copy)]
struct Placement {
    cos: f64,
    sin: f64,
    mirror: bool,
    t: [f64; 2],
}

impl Placement {
    fn vec(&self, d: [f64; 2]) -> [f64; 2] {
        let x = if self.mirror { -d[0] } else { d[0] };
        [
            self.cos * x - self.sin * d[1],
            self.sin * x + self.cos * d[1],
        ]
    }

    fn point(&self, p: [f64; 2]) -> [f64; 2] {
        add(self.vec(p), self.t)
    }
}

/// How a hand frame is carried onto the film (or squeezed): where a point goes, where a
/// unit direction goes and how much a length along it scales, where a surface normal goes,
/// the sign of the bones' lateral axis, and the palm's thickness.
trait HandMap {
    fn point(&self, p: [f64; 2]) -> [f64; 2];
    fn dir(&self, d: [f64; 2]) -> ([f64; 2], f64);
    fn normal(&self, n: [f64; 2]) -> [f64; 2];
    fn lateral_sign(&self) -> f64;
    fn palm_thickness(&self, t: f64) -> f64;
}

impl HandMap for Placement {
    fn point(&self, p: [f64; 2]) -> [f64; 2] {
        Placement::point(self, p)
    }
    fn dir(&self, d: [f64; 2]) -> ([f64; 2], f64) {
        (self.vec(d), 1.0)
    }
    fn normal(&self, n: [f64; 2]) -> [f64; 2] {
        self.vec(n)
    }
    fn lateral_sign(&self) -> f64 {
        // Mirroring flips the bone's lateral axis.
        if self.mirror { -1.0 } else { 1.0 }
    }
    fn palm_thickness(&self, t: f64) -> f64 {
        t
    }
}

/// A hand seen turned about its long axis: everything moves towards the hand's axis by
/// the factor across the fingers (x of the hand frame), while bones, blobs and fingers keep
/// their widths, so the rays overlap in projection as in an oblique or lateral view. The palm,
/// seen through its width rather than its thickness, gets thicker.
struct Squeeze(f64);

impl HandMap for Squeeze {
    fn point(&self, q: [f64; 2]) -> [f64; 2] {
        [q[0] * self.0, q[1]]
    }
    fn dir(&self, v: [f64; 2]) -> ([f64; 2], f64) {
        let w = [v[0] * self.0, v[1]];
        let l = (w[0] * w[0] + w[1] * w[1]).sqrt().max(1e-12);
        ([w[0] / l, w[1] / l], l)
    }
    fn normal(&self, n: [f64; 2]) -> [f64; 2] {
        // Normals transform with the inverse transpose.
        norm([n[0] / self.0, n[1]])
    }
    fn lateral_sign(&self) -> f64 {
        1.0
    }
    fn palm_thickness(&self, t: f64) -> f64 {
        (t / self.0).min(80.0)
    }
}

fn place(m: &HandModel, pl: &Placement) -> HandModel {
    map_hand(m, pl)
}

fn squeeze_hand(m: &HandModel, c: f64) -> HandModel {
    map_hand(m, &Squeeze(c))
}

/// The hand model carried through `map`.
fn map_hand(m: &HandModel, map: &impl HandMap) -> HandModel {
    let pt = |p: [f64; 2]| map.point(p);
    let dir = |d: [f64; 2]| map.dir(d).0;
    let bones = m
        .bones
        .iter()
        .map(|b| {
            let mut b = b.clone();
            let (d, l) = map.dir(b.dir);
            b.origin = pt(b.origin);
            b.dir = d;
            b.fore *= l;
            for c in &mut b.clips {
                c.point = pt(c.point);
                c.normal = map.normal(c.normal);
            }
            for e in &mut b.erosions {
                e.v *= map.lateral_sign();
            }
            b
        })
        .collect();
    let blobs = m
        .blobs
        .iter()
        .map(|b| Blob {
            centre: pt(b.centre),
            dir: dir(b.dir),
            ..b.clone()
        })
        .collect();
    let rods = m
        .rods
        .iter()
        .map(|r| Rod {
            a: pt(r.a),
            b: pt(r.b),
            ..r.clone()
        })
        .collect();
    let slabs = m
        .slabs
        .iter()
        .map(|s| Slab {
            centre: pt(s.centre),
            dir: dir(s.dir),
            holes: s.holes.iter().map(|(p, r)| (pt(*p), *r)).collect(),
            ..s.clone()
        })
        .collect();
    let rings = m
        .rings
        .iter()
        .map(|r| Ring {
            centre: pt(r.centre),
            dir: dir(r.dir),
            ..r.clone()
        })
        .collect();
    let ellipsoids = m
        .ellipsoids
        .iter()
        .map(|e| Ellipsoid {
            centre: pt(e.centre),
            dir: dir(e.dir),
            ..e.clone()
        })
        .collect();
    let t = &m.tissue;
    let tissue = HandTissue {
        palm: t.palm.as_ref().map(|s| soft::Slab {
            polygon: s.polygon.iter().map(|p| pt(*p)).collect(),
            thickness: map.palm_thickness(s.thickness),
            ..s.clone()
        }),
        bulges: t
            .bulges
            .iter()
            .map(|b| Bulge {
                centre: pt(b.centre),
                dir: dir(b.dir),
                ..b.clone()
            })
            .collect(),
        limb: t.limb.as_ref().map(|l| Limb {
            a: pt(l.a),
            b: pt(l.b),
            ..l.clone()
        }),
        fingers: t
            .fingers
            .iter()
            .map(|f| Finger {
                nodes: f.nodes.iter().map(|(p, r)| (pt(*p), *r)).collect(),
                depth: f.depth,
            })
            .collect(),
        nails: t
            .nails
            .iter()
            .map(|n| soft::Nail {
                base: pt(n.base),
                dir: dir(n.dir),
                ..n.clone()
            })
            .collect(),
        creases: t
            .creases
            .iter()
            .map(|c| soft::Crease {
                points: c.points.iter().map(|p| pt(*p)).collect(),
                ..c.clone()
            })
            .collect(),
    };
    let landmarks = m
        .landmarks
        .iter()
        .map(|l| LandmarkTruth {
            centre: pt(l.centre),
            ..l.clone()
        })
        .collect();
    let joints = m
        .joints
        .iter()
        .map(|(f, l, j)| {
            (
                *f,
                *l,
                JointTruth {
                    centre: pt(j.centre),
                    axis: dir(j.axis),
                    ..j.clone()
                },
            )
        })
        .collect();
    HandModel {
        bones,
        blobs,
        rods,
        slabs,
        rings,
        ellipsoids,
        tissue,
        joints,
        landmarks,
    }
}

/// Extent of a placed-at-origin hand: joint boxes and the body's thumb side.
struct Extent {
    joints: [f64; 4],
    /// Outermost soft tissue towards the middle of the film (x), and fingertip top (y).
    thumb_x: f64,
    tip_y: f64,
}

fn extent(m: &HandModel, pl: &Placement) -> Extent {
    let mut e = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for (_, _, j) in &m.joints {
        let c = pl.point(j.centre);
        let h = j.side / 2.0;
        e = [
            e[0].min(c[0] - h),
            e[1].min(c[1] - h),
            e[2].max(c[0] + h),
            e[3].max(c[1] + h),
        ];
    }
    let mut thumb_x = if pl.mirror {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    };
    let mut tip_y = f64::INFINITY;
    for f in &m.tissue.fingers {
        for (p, r) in &f.nodes {
            let q = pl.point(*p);
            thumb_x = if pl.mirror {
                thumb_x.min(q[0] - r)
            } else {
                thumb_x.max(q[0] + r)
            };
            tip_y = tip_y.min(q[1] - r);
        }
    }
    Extent {
        joints: e,
        thumb_x,
        tip_y,
    }
}

/// Overrides of joint states for demonstrations and tests.
pub type Overrides<'a> = &'a [(JointId, Condition)];

pub fn apply_override(js: &mut JointState, c: Condition, finger: u8) {
    *js = JointState {
        flexion: 0.0,
        ..js.clone()
    };
    js.erosions.clear();
    js.displacement = Displacement::None;
    js.ankylosis = false;
    js.implant = JointImplant::None;
    js.gap = 1.0;
    js.jitter = 0.0;
    match c {
        Condition::Normal => {}
        Condition::Narrowing => js.gap = 0.3,
        Condition::Erosion => {
            js.erosions = vec![
                super::patient::ErosionSpec {
                    distal: false,
                    side: 1.0,
                    depth: 0.4,
                    r: 1.8,
                },
                super::patient::ErosionSpec {
                    distal: true,
                    side: -1.0,
                    depth: 0.2,
                    r: 1.4,
                },
                super::patient::ErosionSpec {
                    distal: false,
                    side: 0.0,
                    depth: 0.6,
                    r: 1.2,
                },
            ];
            js.gap = 0.75;
        }
        Condition::Ankylosis => {
            js.ankylosis = true;
            js.gap = 0.25;
            js.flexion = 10.0;
        }
        Condition::Subluxation => {
            js.displacement = Displacement::Partial {
                lateral: -0.55,
                axial: -0.3,
            }
        }
        Condition::Dislocation => {
            js.displacement = Displacement::Dislocated {
                lateral: -1.3,
                axial: -0.6,
            }
        }
        Condition::Implant => {
            if finger > 1 {
                js.implant = JointImplant::Silicone;
            }
        }
    }
}

/// Builds the scene of image `tp` of `patient`; `rng` is the image's own stream.
/// `squeeze` scales each hand across its fingers (1 for a PA hand; less for a hand turned
/// towards lateral, whose rays then overlap in projection).
pub fn build(
    patient: &Patient,
    tp: usize,
    rng: &mut Rng,
    overrides: Overrides,
    squeeze: f64,
) -> Scene {
    let site: &Site = &patient.sites[tp];
    let mut disease = patient.disease[tp].clone();
    for &(id, c) in overrides {
        let h = if id.side == Side::Right { 0 } else { 1 };
        let level = if id.level == Level::Mcp { 0 } else { 1 };
        apply_override(
            &mut disease[h].joints[id.finger as usize - 1][level],
            c,
            id.finger,
        );
    }
    let mix = &patient.mix;
    let mut poses = [
        sample_pose(rng, mix.max_rotation_deg),
        sample_pose(rng, mix.max_rotation_deg),
    ];
    if mix.posture_rate > 0.0 {
        // Unusual postures come from a stream of their own, keyed by the image's stream
        // (which is left where it was).
        let key = rng.clone().next_u64();
        let mut pr = Rng::new(super::rng::derive(key, &[POSTURE_STREAM]));
        for pose in &mut poses {
            if pr.chance(mix.posture_rate) {
                unusual_posture(pose, &mut pr, None);
            }
        }
    }
    let models: Vec<HandModel> = (0..2)
        .map(|h| build_hand(&patient.hands[h], &disease[h], patient, h, &poses[h], rng))
        .map(|m| {
            if squeeze < 1.0 {
                squeeze_hand(&m, squeeze)
            } else {
                m
            }
        })
        .collect();
    let mut spacing = (site.spacing + rng.range(-0.004, 0.004)).clamp(0.12, 0.18);
    let margins: [f64; 4] = std::array::from_fn(|_| {
        if rng.chance(0.3) {
            -15.0
        } else {
            site.collimation * rng.range(0.5, 1.5) + rng.range(0.0, 6.0)
        }
    });
    let field_angle = rng.range(-0.8, 0.8).to_radians();
    let gap_pref = rng.range(-2.0, 30.0);
    let lr_split = rng.f64();
    let gap_share = rng.f64();
    let tip_off = [rng.range(-8.0, 20.0), rng.range(-8.0, 20.0)];
    let y_jit = rng.f64();
    let mut rotations = [poses[0].rotation, poses[1].rotation];
    let (placements, field) = loop {
        let (w, h) = (WIDTH as f64 * spacing, HEIGHT as f64 * spacing);
        let field = [margins[0], margins[1], w - margins[2], h - margins[3]];
        // Boxes must stay inside the field even where it is rotated.
        let slack_rot = field_angle.abs() * w.max(h) * 0.5 + 1.5;
        let inner = [
            field[0].max(0.0) + slack_rot,
            field[1].max(0.0) + slack_rot,
            field[2].min(w) - slack_rot,
            field[3].min(h) - slack_rot,
        ];
        let mut pls = [0, 1].map(|hnd| {
            let (sn, cs) = sin_cos(rotations[hnd].to_radians() * if hnd == 0 { 1.0 } else { -1.0 });
            Placement {
                cos: cs,
                sin: sn,
                mirror: hnd == 1,
                t: [0.0, 0.0],
            }
        });
        let ex = [extent(&models[0], &pls[0]), extent(&models[1], &pls[1])];
        let need_r = ex[0].thumb_x - ex[0].joints[0];
        let need_l = ex[1].joints[2] - ex[1].thumb_x;
        let avail = inner[2] - inner[0];
        let mut gap = gap_pref;
        let mut slack = avail - need_r - need_l - gap;
        if slack < 0.0 {
            gap = (gap + slack).max(-4.0);
            slack = avail - need_r - need_l - gap;
        }
        let mut ok = slack >= 0.0;
        // The slack goes partly into the gap between the hands, the rest around them.
        let gap_extra = slack * 0.35 * gap_share;
        let left = (slack - gap_extra) * (0.3 + 0.4 * lr_split);
        let tx_r = inner[0] - ex[0].joints[0] + left;
        let tx_l = tx_r + ex[0].thumb_x + gap + gap_extra - ex[1].thumb_x;
        for (hnd, tx) in [(0, tx_r), (1, tx_l)] {
            let e = &ex[hnd];
            let lo = inner[1] - e.joints[1];
            let hi = inner[3] - e.joints[3];
            if lo > hi {
                ok = false;
            }
            let pref = field[1].max(0.0) + tip_off[hnd] - e.tip_y;
            let ty = pref.clamp(lo, hi.max(lo)) + (hi - lo).max(0.0) * 0.1 * (y_jit - 0.5);
            pls[hnd].t = [tx, ty.clamp(lo, hi.max(lo))];
        }
        if ok || spacing > 0.3 {
            break (pls, field);
        }
        // The hands do not fit: a larger plate (coarser pixels), straighter hands.
        spacing += 0.006;
        rotations = [rotations[0] * 0.7, rotations[1] * 0.7];
    };
    let placed: Vec<HandModel> = (0..2).map(|h| place(&models[h], &placements[h])).collect();

    // Exposure, then materials: the order they draw from `rng` in.
    let exposure = exposure(site, rng, field, field_angle);
    let mut scene = Scene::empty([WIDTH, HEIGHT], spacing, exposure, materials(site, rng));
    scene.split = Some(split(&placed));
    for (h, m) in placed.into_iter().enumerate() {
        let side = if h == 0 { Side::Right } else { Side::Left };
        for (f, l, mut j) in m.joints {
            j.id = JointId {
                side,
                finger: f,
                level: if l == 0 { Level::Mcp } else { Level::Pip },
            };
            if j.id.is_thumb_ip() {
                j.subluxation = None;
            }
            scene.joints.push(j);
        }
        scene.landmarks.extend(m.landmarks);
        scene.bones.extend(m.bones);
        scene.blobs.extend(m.blobs);
        scene.rods.extend(m.rods);
        scene.slabs.extend(m.slabs);
        scene.rings.extend(m.rings);
        scene.ellipsoids.extend(m.ellipsoids);
        scene.tissue.push(m.tissue);
    }
    // The 20 joints in `JointId::all()` order.
    scene
        .joints
        .sort_by_key(|j| (j.id.side, j.id.level, j.id.finger));
    place_markers(&mut scene, site, patient, tp, rng);
    scene
}

/// The site's exposure and processing of one film, with the image's own variation.
pub(super) fn exposure(site: &Site, rng: &mut Rng, field: [f64; 4], field_angle: f64) -> Exposure {
    Exposure {
        photons: site.photons * rng.range(0.7, 1.4) as f32,
        heel: rng.range(-0.15, 0.15) as f32,
        heel_along_x: rng.chance(0.5),
        scatter: site.scatter,
        scatter_sigma_mm: rng.range(10.0, 25.0),
        blur_mm: site.blur_mm,
        field,
        field_angle,
        penumbra_mm: rng.range(0.4, 1.5),
        leak: rng.range(0.015, 0.06) as f32,
        usm_amount: site.usm_amount,
        usm_sigma_mm: site.usm_sigma_mm,
        drc_amount: site.drc_amount,
        drc_sigma_mm: rng.range(12.0, 30.0),
        tone_centre: site.tone_centre + rng.range(-0.08, 0.08) as f32,
        tone_width: site.tone_width,
        black: site.black,
        white: site.white,
        row_noise: site.row_noise,
    }
}

/// The site's beam: bone and tissue attenuation, with the image's own variation.
pub(super) fn materials(site: &Site, rng: &mut Rng) -> Materials {
    Materials {
        soft: mu::SOFT * rng.range(0.95, 1.05) as f32,
        cortical: mu::CORTICAL * site.bone_contrast,
        trabecular: mu::TRABECULAR * site.bone_contrast,
    }
}

/// Where the placed hands part (index 0 the right hand, on the image left).
fn split(placed: &[HandModel]) -> Split {
    // Bones sampled along their length, widened by their half-width.
    let span = |m: &HandModel| {
        let mut x = [f64::INFINITY, f64::NEG_INFINITY];
        for b in &m.bones {
            let hw = b.shape.base_hw.max(b.shape.head_hw);
            for k in 0..=8 {
                let p = b.at(b.shape.length * k as f64 / 8.0);
                x = [x[0].min(p[0] - hw), x[1].max(p[0] + hw)];
            }
        }
        for b in &m.blobs {
            x = [x[0].min(b.centre[0] - b.a), x[1].max(b.centre[0] + b.a)];
        }
        let mut j = [f64::INFINITY, f64::NEG_INFINITY];
        for (_, _, t) in &m.joints {
            j = [
                j[0].min(t.centre[0] - t.side / 2.0),
                j[1].max(t.centre[0] + t.side / 2.0),
            ];
        }
        (x, j)
    };
    let (rx, rj) = span(&placed[0]);
    let (lx, lj) = span(&placed[1]);
    Split {
        right_end: rx[1],
        left_start: lx[0],
        right_boxes_end: rj[1],
        left_boxes_start: lj[0],
    }
}

/// Whether a film rectangle (mm) stays clear of every joint box and inside the field.
pub(super) fn free(scene: &Scene, r: [f64; 4]) -> bool {
    let e = &scene.exposure;
    let inside = [[r[0], r[1]], [r[2], r[1]], [r[0], r[3]], [r[2], r[3]]]
        .iter()
        .all(|p| film::in_field(e, p[0], p[1], 1.0));
    let (w, h) = (
        scene.width as f64 * scene.spacing,
        scene.height as f64 * scene.spacing,
    );
    let on_film = r[0] > 0.0 && r[1] > 0.0 && r[2] < w && r[3] < h;
    // Radiographers put markers beside the anatomy, not on it.
    let off = |p: [f64; 2], pad: f64| {
        p[0] < r[0] - pad || p[0] > r[2] + pad || p[1] < r[1] - pad || p[1] > r[3] + pad
    };
    let clear_of_bones = scene.bones.iter().all(|b| {
        let pad = b.shape.base_hw.max(b.shape.head_hw) + 2.0;
        let n = (b.shape.length / 3.0).ceil() as usize;
        (0..=n).all(|k| off(b.at(b.shape.length * k as f64 / n as f64), pad))
    }) && scene
        .blobs
        .iter()
        .all(|b| off(b.centre, b.a.max(b.b) + 2.0));
    inside
        && on_film
        && clear_of_bones
        && scene.joints.iter().all(|j| {
            let hs = j.side / 2.0 + 4.0;
            r[2] < j.centre[0] - hs
                || r[0] > j.centre[0] + hs
                || r[3] < j.centre[1] - hs
                || r[1] > j.centre[1] + hs
        })
}

/// Lead side markers near their hand, in a free corner; sometimes a text label.
fn place_markers(scene: &mut Scene, site: &Site, patient: &Patient, tp: usize, rng: &mut Rng) {
    let (w, h) = (
        scene.width as f64 * scene.spacing,
        scene.height as f64 * scene.spacing,
    );
    let [fx0, fy0, fx1, fy1] = scene.exposure.field;
    let (x0, y0, x1, y1) = (
        fx0.max(0.0) + 4.0,
        fy0.max(0.0) + 4.0,
        fx1.min(w) - 4.0,
        fy1.min(h) - 4.0,
    );
    let letter_h = rng.range(9.0, 14.0);
    let letter_w = letter_h * 5.0 / 7.0;
    let holder = rng.chance(0.6);
    for (bit, ch) in [(1u8, 'R'), (2u8, 'L')] {
        if site.markers & bit == 0 {
            continue;
        }
        // Candidates on this hand's half of the film, top and bottom, outer and inner.
        let left = ch == 'R';
        let xs = if left {
            [x0, x0 + 0.3 * (x1 - x0), x0 + 0.15 * (x1 - x0)]
        } else {
            [
                x1 - letter_w,
                x1 - letter_w - 0.3 * (x1 - x0),
                x1 - letter_w - 0.15 * (x1 - x0),
            ]
        };
        let ys = [y0, y1 - letter_h, 0.5 * (y0 + y1)];
        let start = rng.below(9);
        for k in 0..9 {
            let i = (start + k) % 9;
            let (x, y) = (xs[i % 3], ys[i / 3]);
            let pad = letter_h * 0.25;
            if free(
                scene,
                [x - pad, y - pad, x + letter_w + pad, y + letter_h + pad],
            ) {
                if holder {
                    scene.slabs.push(Slab {
                        centre: [x + letter_w / 2.0, y + letter_h / 2.0],
                        dir: [1.0, 0.0],
                        half_len: letter_w / 2.0 + pad,
                        half_width: letter_h / 2.0 + pad,
                        corner: pad,
                        thickness: 4.0,
                        mu: mu::ACRYLIC,
                        holes: vec![],
                    });
                }
                scene.glyphs.push(([x, y], letter_h, ch));
                break;
            }
        }
    }
    if site.label {
        let date = super::dicom::study_date(patient, tp);
        let lines = vec![
            format!("{} PHANTOM {:04}", site.name, patient.index + 1),
            format!(
                "{}.{}.{} BOTH HANDS PA",
                &date[0..4],
                &date[4..6],
                &date[6..8]
            ),
        ];
        let sc = ((3.0 / 7.0) / scene.spacing).round().max(2.0) as usize;
        let cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let (lw, lh) = ((cols * 6 + 4) * sc, (lines.len() * 9 + 2) * sc);
        let (lw_mm, lh_mm) = (lw as f64 * scene.spacing, lh as f64 * scene.spacing);
        let corners = [
            [x0, y0],
            [x1 - lw_mm, y0],
            [x0, y1 - lh_mm],
            [x1 - lw_mm, y1 - lh_mm],
            [0.5 * (x0 + x1 - lw_mm), y1 - lh_mm],
        ];
        let start = rng.below(corners.len());
        for k in 0..corners.len() {
            let c = corners[(start + k) % corners.len()];
            if free(scene, [c[0], c[1], c[0] + lw_mm, c[1] + lh_mm]) {
                scene.label = Some(TextLabel {
                    at: [
                        (c[0] / scene.spacing) as usize,
                        (c[1] / scene.spacing) as usize,
                    ],
                    scale: sc,
                    lines,
                    inverse: rng.chance(0.5),
                });
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::patient::{self, JointState, Rates};
    use super::super::preset::{Mix, Preset};
    use super::super::raster::{self, Canvas};
    use super::super::rng::{self, tag};
    use super::*;

    /// The scored joint at `level` of a DIP landmark's finger (names like `R-DIP3`).
    fn finger_joint<'a>(s: &'a Scene, l: &LandmarkTruth, level: Level) -> &'a JointTruth {
        let side = if l.name.starts_with('R') {
            Side::Right
        } else {
            Side::Left
        };
        let finger: u8 = l.name[5..].parse().unwrap();
        s.joints
            .iter()
            .find(|j| j.id.side == side && j.id.level == level && j.id.finger == finger)
            .unwrap()
    }

    /// Patient `i` of dataset seed `seed` under a preset's mix, drawn with no labels.
    pub(super) fn unlabelled_patient(seed: u64, preset: Preset, i: usize) -> Patient {
        patient::sample(
            i,
            rng::derive(seed, &[tag::ANATOMY, i as u64]),
            rng::derive(seed, &[tag::DISEASE, i as u64]),
            Rates {
                ankylosis: 0.0,
                subluxation: 0.0,
            },
            Mix::of(preset),
        )
    }

    /// Patient `i` of a preset's mix, with every joint healthy and the carpus intact.
    fn healthy_patient(preset: Preset, i: usize) -> Patient {
        let mut p = unlabelled_patient(17, preset, i);
        for hands in &mut p.disease {
            for hd in hands.iter_mut() {
                hd.joints = std::array::from_fn(|_| std::array::from_fn(|_| JointState::healthy()));
                hd.ulnar_deviation = [0.0; 5];
                hd.carpal = 0.0;
            }
        }
        p.extras.rings.clear();
        p.extras.plates.clear();
        p.extras.mc_wires.clear();
        p
    }

    fn scene_of(p: &Patient, i: usize) -> Scene {
        let mut rng = Rng::new(rng::derive(17, &[tag::IMAGE, i as u64, 0]));
        build(p, 0, &mut rng, &[], 1.0)
    }

    /// The bones' attenuation alone.
    fn bones_only(s: &Scene) -> Canvas {
        let mut c = Canvas::new(s.width, s.height, s.spacing);
        for b in &s.bones {
            raster::draw_bone(&mut c, b, s.materials);
        }
        c
    }

    /// Width (mm) of the dark band through `centre` along `axis`: where the bones'
    /// attenuation stays under half of the bone on both sides (within 3.5 mm).
    fn measured_gap(c: &Canvas, centre: [f64; 2], axis: [f64; 2]) -> Option<f64> {
        let at = |t: f64| {
            let p = add(centre, scale(axis, t));
            let (x, y) = ((p[0] / c.spacing) as usize, (p[1] / c.spacing) as usize);
            c.a[y.min(c.height - 1) * c.width + x.min(c.width - 1)] as f64
        };
        let step = 0.05;
        let n = (3.5 / step) as i32;
        let prof: Vec<f64> = (-n..=n).map(|k| at(k as f64 * step)).collect();
        let mid = n as usize;
        let lo = prof[..mid].iter().cloned().fold(0.0, f64::max);
        let hi = prof[mid..].iter().cloned().fold(0.0, f64::max);
        let thr = 0.5 * lo.min(hi);
        // The darkest point near the centre, then the band around it.
        let (k0, _) =
            prof[mid - 30..=mid + 30]
                .iter()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |b, (k, &v)| if v < b.1 { (k, v) } else { b },
                );
        let k0 = mid - 30 + k0;
        if prof[k0] >= thr {
            return None;
        }
        let (mut a, mut b) = (k0, k0);
        while a > 0 && prof[a - 1] < thr {
            a -= 1;
        }
        while b + 1 < prof.len() && prof[b + 1] < thr {
            b += 1;
        }
        Some((b - a + 1) as f64 * step)
    }

    #[test]
    fn v2_dip_joint_spaces_look_like_pip_joint_spaces() {
        let (mut dip, mut pip) = (Vec::new(), Vec::new());
        for i in 0..6 {
            let p = healthy_patient(Preset::Clinic, i);
            let s = scene_of(&p, i);
            let c = bones_only(&s);
            for l in s.landmarks.iter().filter(|l| l.kind == LandmarkKind::Dip) {
                let j = finger_joint(&s, l, Level::Pip);
                let axis = norm([l.centre[0] - j.centre[0], l.centre[1] - j.centre[1]]);
                if let (Some(d), Some(g)) = (
                    measured_gap(&c, l.centre, axis),
                    measured_gap(&c, j.centre, j.axis),
                ) {
                    dip.push(d);
                    pip.push(g);
                }
            }
        }
        assert!(dip.len() >= 40, "{} joints measured", dip.len());
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let ratio = mean(&dip) / mean(&pip);
        println!(
            "DIP {:.2} mm, PIP {:.2} mm over {} joints",
            mean(&dip),
            mean(&pip),
            dip.len()
        );
        assert!(
            (0.75..=1.25).contains(&ratio),
            "DIP {:.2} mm, PIP {:.2} mm",
            mean(&dip),
            mean(&pip)
        );
        assert!(
            (0.6..1.8).contains(&mean(&pip)),
            "PIP gap {:.2} mm",
            mean(&pip)
        );
    }

    #[test]
    fn landmarks_are_complete_and_dips_lie_beyond_the_pips() {
        for preset in [Preset::Paper, Preset::Clinic] {
            for i in 0..4 {
                let p = healthy_patient(preset, i);
                let s = scene_of(&p, i);
                let count = |k: LandmarkKind| s.landmarks.iter().filter(|l| l.kind == k).count();
                assert_eq!(count(LandmarkKind::Dip), 8);
                assert_eq!(count(LandmarkKind::Cmc), 10);
                assert_eq!(count(LandmarkKind::Radius), 2);
                assert_eq!(count(LandmarkKind::Ulna), 2);
                assert_eq!(count(LandmarkKind::Carpus), 2);
                for l in &s.landmarks {
                    assert!(l.side > 7.0 && l.side < 30.0, "{} side {}", l.name, l.side);
                }
                for l in s.landmarks.iter().filter(|l| l.kind == LandmarkKind::Dip) {
                    let (pip, mcp) = (
                        finger_joint(&s, l, Level::Pip),
                        finger_joint(&s, l, Level::Mcp),
                    );
                    let along = (l.centre[0] - pip.centre[0]) * pip.axis[0]
                        + (l.centre[1] - pip.centre[1]) * pip.axis[1];
                    assert!(along > 8.0, "{}: {along:.1} mm beyond the PIP", l.name);
                    assert!(
                        dist2(l.centre, mcp.centre) > dist2(pip.centre, mcp.centre),
                        "{}",
                        l.name
                    );
                }
                // Each hand's CMC landmarks lie proximal to its MCPs, the radius and the
                // carpus further still.
                for hand in ["R-", "L-"] {
                    let y = |name: &str| {
                        s.landmarks
                            .iter()
                            .find(|l| l.name == format!("{hand}{name}"))
                            .unwrap()
                            .centre[1]
                    };
                    assert!(y("CMC3") < y("CARPUS") && y("CARPUS") < y("RADIUS") + 5.0);
                }
            }
        }
    }

    /// Joints flagged as overlapping in one hand of patient `i` posed `posture`.
    fn overlaps(preset: Preset, i: usize, posture: Option<Posture>) -> usize {
        let p = healthy_patient(preset, i);
        let mut rng = Rng::new(rng::derive(5, &[i as u64]));
        let mut pose = sample_pose(&mut rng, 10.0);
        if let Some(k) = posture {
            unusual_posture(&mut pose, &mut rng, Some(k));
        }
        let m = build_hand(&p.hands[0], &p.disease[0][0], &p, 0, &pose, &mut rng);
        m.joints.iter().filter(|(_, _, t)| t.overlap).count()
    }

    #[test]
    fn crossed_and_flexed_fingers_overlap_their_joints() {
        let n = 12;
        let usual: usize = (0..n).map(|i| overlaps(Preset::Clinic, i, None)).sum();
        let crossed = (0..n)
            .filter(|&i| overlaps(Preset::Clinic, i, Some(Posture::Crossed)) > 0)
            .count();
        let flexed = (0..n)
            .filter(|&i| overlaps(Preset::Clinic, i, Some(Posture::Flexed)) > 0)
            .count();
        assert_eq!(usual, 0, "flat healthy hands with overlapping joints");
        assert!(crossed >= n / 2, "{crossed} of {n} crossed hands overlap");
        assert!(flexed >= n / 2, "{flexed} of {n} flexed hands overlap");
        // The paper's hands never tuck a flexed joint.
        let paper: usize = (0..n)
            .map(|i| overlaps(Preset::Paper, i, Some(Posture::Flexed)))
            .sum();
        assert!(paper < usual + n, "paper hands: {paper}");
    }

    #[test]
    fn wide_rotations_and_unusual_postures_keep_every_joint_box_in_the_field() {
        let opts = super::super::PhantomOptions::preset(Preset::Hard);
        let (mut turned, mut boxes) = (0, 0);
        for i in 0..40 {
            let p = super::super::patient_of(&opts, i / 2);
            let mut rng = Rng::new(rng::derive(
                3,
                &[tag::IMAGE, (i / 2) as u64, (i % 2) as u64],
            ));
            let s = build(&p, i % 2, &mut rng, &[], 1.0);
            for j in &s.joints {
                let h = j.side / 2.0;
                for (x, y) in [(-h, -h), (h, -h), (-h, h), (h, h)] {
                    assert!(
                        film::in_field(&s.exposure, j.centre[0] + x, j.centre[1] + y, 0.0),
                        "image {i}: {} outside the field",
                        j.id
                    );
                }
                boxes += 1;
            }
            // How much the right hand's MCP2-MCP5 line is turned.
            let mcp = |f: u8| {
                s.joints
                    .iter()
                    .find(|j| {
                        j.id.side == Side::Right && j.id.level == Level::Mcp && j.id.finger == f
                    })
                    .unwrap()
                    .centre
            };
            let (a, b) = (mcp(2), mcp(5));
            let angle = ((b[1] - a[1]) / (b[0] - a[0]).abs()).atan().to_degrees();
            if angle.abs() > 15.0 {
                turned += 1;
            }
        }
        assert_eq!(boxes, 800);
        assert!(turned > 0, "no hand turned by more than 15 degrees");
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn v2_bone_lengths_follow_the_table() {
        let n = 240;
        // Sums per sex of each bone's length over its table value.
        let mut sum = [[[0.0f64; 4]; 5]; 2];
        let mut count = [0usize; 2];
        for i in 0..n {
            let p = healthy_patient(Preset::Clinic, i);
            let sex = p.female as usize;
            count[sex] += 2;
            for hand in &p.hands {
                for f in 0..5 {
                    for b in 0..4 {
                        let (mean, _) = patient::LENGTHS_V2[f][b];
                        if mean > 0.0 {
                            sum[sex][f][b] += hand.bones[f][b].len / mean;
                        }
                    }
                }
            }
        }
        assert!(count[0] > 100 && count[1] > 200, "{count:?}");
        for sex in 0..2 {
            for f in 0..5 {
                for b in 0..4 {
                    if patient::LENGTHS_V2[f][b].0 == 0.0 {
                        continue;
                    }
                    let rel = sum[sex][f][b] / count[sex] as f64 / patient::SEX_FACTOR_V2[sex];
                    assert!(
                        (rel - 1.0).abs() < 0.02,
                        "sex {sex} ray {f} bone {b}: {rel:.3}"
                    );
                }
            }
        }
        // Women's hands are smaller, by about the table's dimorphism.
        let mc3 = |sex: usize| sum[sex][2][0] / count[sex] as f64;
        assert!(mc3(1) < 0.94 * mc3(0));
    }
}

/// Pictures of hands of version 2 for looking at (`cargo test --lib pictures_v2 --
/// --ignored`; PNGs in $V2_PICS or /tmp/v2pics): DIP and PIP joints, nails and creases,
/// CMC joints, crossed and flexed fingers, pencil-in-cup, a collapsed and fused carpus.
#[cfg(test)]
mod pictures {
    use super::super::patient::{Displacement, JointState};
    use super::super::preset::Preset;
    use super::super::rng::{self, tag};
    use super::tests::unlabelled_patient;
    use super::*;

    fn save(path: &std::path::Path, w: usize, h: usize, px: Vec<f32>) {
        let img = crate::image::Radiograph {
            width: w as u32,
            height: h as u32,
            pixels: px,
            pixel_spacing_mm: None,
            attributes: Default::default(),
        };
        crate::render::png::write_gray(path, &img, false).unwrap();
    }

    #[test]
    #[ignore]
    fn pictures_v2() {
        let dir = std::path::PathBuf::from(
            std::env::var("V2_PICS").unwrap_or_else(|_| "/tmp/v2pics".into()),
        );
        std::fs::create_dir_all(&dir).unwrap();
        for (name, i, posture, pencil, carpal) in [
            ("plain", 1usize, None, false, 0.0),
            ("crossed", 2, Some(Posture::Crossed), false, 0.0),
            ("flexed", 3, Some(Posture::Flexed), false, 0.0),
            ("pencil", 4, None, true, 0.5),
            ("fused", 5, None, false, 1.0),
        ] {
            let mut p = unlabelled_patient(23, Preset::Clinic, i);
            for hd in p.disease[0].iter_mut() {
                hd.joints = std::array::from_fn(|_| std::array::from_fn(|_| JointState::healthy()));
                hd.ulnar_deviation = [0.0; 5];
                hd.carpal = carpal;
                if pencil {
                    for (f, level) in [(2, 0), (3, 1), (1, 1)] {
                        let j = &mut hd.joints[f][level];
                        j.displacement = Displacement::Dislocated {
                            lateral: 1.2,
                            axial: -0.5,
                        };
                        j.pencil = true;
                    }
                }
            }
            p.mix.posture_rate = 0.0;
            let mut rng = Rng::new(rng::derive(23, &[tag::IMAGE, i as u64, 0]));
            let mut s = build(&p, 0, &mut rng, &[], 1.0);
            let mut posed_centre = None;
            if let Some(k) = posture {
                // Rebuild the right hand in the posture.
                let mut r2 = Rng::new(99 + i as u64);
                let mut pose = sample_pose(&mut r2, 10.0);
                unusual_posture(&mut pose, &mut r2, Some(k));
                let m = build_hand(&p.hands[0], &p.disease[0][0], &p, 0, &pose, &mut r2);
                let n_over = m.joints.iter().filter(|(_, _, t)| t.overlap).count();
                eprintln!("{name}: {n_over} joints overlap");
                let pl = Placement {
                    cos: 1.0,
                    sin: 0.0,
                    mirror: false,
                    t: [90.0, 135.0],
                };
                let m = place(&m, &pl);
                let find = |f: u8, l: u8| {
                    m.joints
                        .iter()
                        .find(|j| j.0 == f && j.1 == l)
                        .unwrap()
                        .2
                        .centre
                };
                posed_centre = Some(scale(add(find(3, 1), find(3, 0)), 0.5));
                s.bones = m.bones;
                s.blobs = m.blobs;
                s.tissue = vec![m.tissue];
                s.rods.clear();
                s.rings.clear();
                s.slabs.clear();
                s.ellipsoids.clear();
                s.label = None;
            }
            let mut r = Rng::new(5);
            let t = std::time::Instant::now();
            let px = super::super::render_scene(&s, &[], &mut r);
            eprintln!("{name}: rendered in {:?}", t.elapsed());
            // Crops around the right hand's joints and landmarks (mm, zoom 2).
            let mut crops: Vec<(String, [f64; 2], f64)> = Vec::new();
            let jc = |id: &str| -> [f64; 2] {
                if let Some(j) = s.joints.iter().find(|j| j.id.to_string() == id) {
                    return j.centre;
                }
                s.landmarks
                    .iter()
                    .find(|l| l.name == id)
                    .map(|l| l.centre)
                    .unwrap_or([0.0, 0.0])
            };
            if let Some(c) = posed_centre {
                crops.push(("fingers".into(), c, 55.0));
            } else {
                crops.push(("middle".into(), jc("R-DIP3"), 22.0));
                crops.push(("cmc".into(), jc("R-CMC3"), 28.0));
                crops.push(("carpus".into(), jc("R-CARPUS"), 30.0));
                if pencil {
                    crops.push(("mcp3".into(), jc("R-MCP3"), 16.0));
                    crops.push(("pip4".into(), jc("R-PIP4"), 14.0));
                }
            }
            for (cn, c, half) in crops {
                let sp = s.spacing;
                let z = if half > 40.0 { 1 } else { 2 };
                let (x0, y0) = (
                    ((c[0] - half) / sp).max(0.0) as usize,
                    ((c[1] - half) / sp).max(0.0) as usize,
                );
                let n = (2.0 * half / sp) as usize;
                let mut out = Vec::new();
                for r in 0..n * z {
                    for q in 0..n * z {
                        let (x, y) = (
                            (x0 + q / z).min(s.width - 1),
                            (y0 + r / z).min(s.height - 1),
                        );
                        out.push(px[y * s.width + x]);
                    }
                }
                save(&dir.join(format!("{name}-{cn}.png")), n * z, n * z, out);
            }
            save(&dir.join(format!("{name}.png")), s.width, s.height, px);
        }
    }
}

#[cfg(test)]
mod timing {
    use super::super::rng::{self, tag};
    use super::super::{PhantomOptions, Preset};
    use super::*;

    /// Scene build and render time per preset (`-- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn render_time_per_preset() {
        for preset in [Preset::Paper, Preset::Clinic, Preset::Hard] {
            let opts = PhantomOptions::preset(preset);
            let t = std::time::Instant::now();
            let n = 12;
            for i in 0..n {
                let p = super::super::patient_of(&opts, i / 2);
                let mut rng = Rng::new(rng::derive(
                    opts.seed,
                    &[tag::IMAGE, (i / 2) as u64, (i % 2) as u64],
                ));
                let s = build(&p, i % 2, &mut rng, &[], 1.0);
                let mut r = Rng::new(1);
                let px = super::super::render_scene(&s, &[], &mut r);
                assert!(!px.is_empty());
            }
            eprintln!(
                "{}: {:.0} ms per film",
                preset.as_str(),
                t.elapsed().as_secs_f64() * 1000.0 / n as f64
            );
        }
        for preset in [Preset::Paper, Preset::Clinic, Preset::Hard] {
            let mut opts = PhantomOptions::preset(preset);
            opts.seed = 9;
            let (mut over, mut sub, mut all) = (0, 0, 0);
            for i in 0..200 {
                let p = super::super::patient_of(&opts, i / 2);
                let mut rng = Rng::new(rng::derive(
                    opts.seed,
                    &[tag::IMAGE, (i / 2) as u64, (i % 2) as u64],
                ));
                let s = build(&p, i % 2, &mut rng, &[], 1.0);
                over += s.joints.iter().filter(|j| j.overlap).count();
                sub += s
                    .joints
                    .iter()
                    .filter(|j| j.subluxation == Some(true))
                    .count();
                all += s.joints.len();
            }
            eprintln!(
                "{}: overlap {over} subluxed {sub} of {all}",
                preset.as_str()
            );
        }
    }
}
