//! Path lengths through the phantom's objects, accumulated into an attenuation map.
//!
//! The map holds A = sum(mu_i * L_i) per pixel (PS: Beer-Lambert, I = I0 exp(-A)). Every
//! object adds its own materials: bone as an excess over the soft tissue it displaces
//! (cortical and trabecular coefficients are given net of soft tissue), metal and silicone
//! likewise. Geometry is in film millimetres (x right, y down, origin at the image's
//! top-left corner); a pixel (c, r) is sampled at its centre ((c + 0.5) s, (r + 0.5) s).
//!
//! Objects are bodies whose projected path length has a closed form: bodies of revolution
//! about an axis in the film plane (long bones, fingers), ellipsoids (carpals, sesamoids),
//! cylinders (wires, screws), slabs (plates) and tori seen side-on (rings, grommets). Each
//! is drawn only over the pixels its footprint can touch, row by row.

use super::math::smoothstep;

/// Linear attenuation coefficients (1/mm) at the effective energy of a 50-60 kVp hand
/// exposure (about 30 keV). Bone values are net of the soft tissue the bone displaces.
pub mod mu {
    /// Soft tissue (ICRU muscle at 30 keV: 0.356 cm^2/g x 1.05 g/cm^3).
    pub const SOFT: f32 = 0.037;
    /// Compact bone (1.33 cm^2/g x 1.92 g/cm^3) minus soft tissue.
    pub const CORTICAL: f32 = 0.218;
    /// Trabecular bone of the epiphyses (about 25 % bone volume) minus soft tissue, at
    /// relative density 1; marrow-filled shafts use a fraction of it.
    pub const TRABECULAR: f32 = 0.052;
    /// Stainless steel (K-wires, screws).
    pub const STEEL: f32 = 6.5;
    /// Titanium (plates, grommets).
    pub const TITANIUM: f32 = 1.6;
    /// Gold/silver alloy of rings.
    pub const RING: f32 = 12.0;
    /// Silicone elastomer of Swanson spacers, net of the soft tissue it replaces.
    pub const SILICONE: f32 = 0.03;
    /// Lead of the side marker.
    pub const LEAD: f32 = 30.0;
    /// Acrylic of the marker holder.
    pub const ACRYLIC: f32 = 0.03;
}

/// The attenuation map being built.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    /// Pixel size in mm.
    pub spacing: f64,
    /// A per pixel, row-major.
    pub a: Vec<f32>,
}

/// Scales for the materials of one exposure (beam energy changes bone/soft contrast).
#[derive(Debug, Clone, Copy)]
pub struct Materials {
    pub soft: f32,
    pub cortical: f32,
    pub trabecular: f32,
}

impl Canvas {
    pub fn new(width: usize, height: usize, spacing: f64) -> Canvas {
        Canvas {
            width,
            height,
            spacing,
            a: vec![0.0; width * height],
        }
    }

    /// Rows whose centres lie within [y0, y1] mm, clamped to the image.
    fn rows(&self, y0: f64, y1: f64) -> std::ops::Range<usize> {
        let s = self.spacing;
        let r0 = ((y0 / s) - 0.5).ceil().max(0.0) as usize;
        let r1 = ((y1 / s) - 0.5).floor() + 1.0;
        let r1 = (r1.max(0.0) as usize).min(self.height);
        r0.min(r1)..r1
    }

    /// Columns whose centres lie within [x0, x1] mm, clamped.
    fn cols(&self, x0: f64, x1: f64) -> std::ops::Range<usize> {
        let s = self.spacing;
        let c0 = ((x0 / s) - 0.5).ceil().max(0.0) as usize;
        let c1 = ((x1 / s) - 0.5).floor() + 1.0;
        let c1 = (c1.max(0.0) as usize).min(self.width);
        c0.min(c1)..c1
    }

    /// Calls `f(x, y, &mut a)` for every pixel centre inside the oriented rectangle
    /// `origin + u * dir + v * n`, u in [u0, u1], v in [-hw, hw] (n = dir rotated +90 deg).
    pub fn for_oriented(
        &mut self,
        origin: [f64; 2],
        dir: [f64; 2],
        u0: f64,
        u1: f64,
        hw: f64,
        mut f: impl FnMut(f32, f32, &mut f32),
    ) {
        let n = [-dir[1], dir[0]];
        let corners = [(u0, -hw), (u0, hw), (u1, -hw), (u1, hw)].map(|(u, v)| {
            [
                origin[0] + u * dir[0] + v * n[0],
                origin[1] + u * dir[1] + v * n[1],
            ]
        });
        let ymin = corners.iter().map(|c| c[1]).fold(f64::INFINITY, f64::min);
        let ymax = corners
            .iter()
            .map(|c| c[1])
            .fold(f64::NEG_INFINITY, f64::max);
        let s = self.spacing;
        let w = self.width;
        for r in self.rows(ymin, ymax) {
            let y = (r as f64 + 0.5) * s;
            // Both slab conditions are linear in x: u = (x - ox) dx + (y - oy) dy.
            let (mut xa, mut xb) = (f64::NEG_INFINITY, f64::INFINITY);
            for (d, lo, hi) in [(dir, u0, u1), (n, -hw, hw)] {
                let base = (y - origin[1]) * d[1] - origin[0] * d[0];
                if d[0].abs() < 1e-12 {
                    if base < lo || base > hi {
                        xa = 1.0;
                        xb = 0.0;
                    }
                } else {
                    let (p, q) = ((lo - base) / d[0], (hi - base) / d[0]);
                    xa = xa.max(p.min(q));
                    xb = xb.min(p.max(q));
                }
            }
            if xa > xb {
                continue;
            }
            let yf = y as f32;
            let cols = self.cols(xa, xb);
            let row = &mut self.a[r * w..(r + 1) * w];
            for c in cols {
                f(((c as f64 + 0.5) * s) as f32, yf, &mut row[c]);
            }
        }
    }

    /// Calls `f(x, y, &mut a)` for every pixel centre in the axis-aligned box.
    pub fn for_box(
        &mut self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        mut f: impl FnMut(f32, f32, &mut f32),
    ) {
        let s = self.spacing;
        let w = self.width;
        let cols = self.cols(x0, x1);
        for r in self.rows(y0, y1) {
            let yf = ((r as f64 + 0.5) * s) as f32;
            let row = &mut self.a[r * w..(r + 1) * w];
            for c in cols.clone() {
                f(((c as f64 + 0.5) * s) as f32, yf, &mut row[c]);
            }
        }
    }
}

/// Value noise on a square lattice, hashed from `seed`: smooth, in [0, 1).
#[inline]
pub fn value_noise(seed: u64, x: f32, y: f32) -> f32 {
    let (fx, fy) = (super::math::floor32(x), super::math::floor32(y));
    let (ix, iy) = (fx as i32 as u32, fy as i32 as u32);
    let (tx, ty) = (x - fx, y - fy);
    let s = (seed ^ (seed >> 32)) as u32;
    // A cheap integer hash (two multiply-xorshift rounds) is plenty for texture.
    let h = |i: u32, j: u32| -> f32 {
        let mut k = i.wrapping_mul(0x27D4_EB2D) ^ j.wrapping_mul(0x1656_67B1) ^ s;
        k = (k ^ (k >> 15)).wrapping_mul(0x2C1B_3C6D);
        k = (k ^ (k >> 12)).wrapping_mul(0x297A_2D39);
        k ^= k >> 15;
        (k >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    };
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let (h00, h10, h01, h11) = (
        h(ix, iy),
        h(ix.wrapping_add(1), iy),
        h(ix, iy.wrapping_add(1)),
        h(ix.wrapping_add(1), iy.wrapping_add(1)),
    );
    let a = h00 + (h10 - h00) * sx;
    let b = h01 + (h11 - h01) * sx;
    a + (b - a) * sy
}

/// One-dimensional value noise in [-1, 1).
pub fn noise1(seed: u64, x: f64) -> f64 {
    2.0 * value_noise(seed, x as f32, 0.5) as f64 - 1.0
}

/// What ends a long bone at its distal end (u = length).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeadKind {
    /// A rounded articular head: an elliptical cap of this length.
    Cap { len: f64 },
    /// The distal phalanx's tuft: the shaft narrows, then flares to `hw` with a short
    /// rounded tip.
    Tuft { hw: f64 },
    /// A head whittled to a point (pencil-in-cup): a slightly convex cone of this length.
    Point { len: f64 },
}

/// A concave articular base: a paraboloid recess of `depth` over radius `radius`,
/// matching the convex head of the bone before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cup {
    pub radius: f64,
    pub depth: f64,
    /// A median ridge that fits the intercondylar notch of the head before it: the
    /// recess is this much shallower on the axis (mm; 0 for none).
    pub ridge: f64,
}

/// The parameters of a long bone (metacarpal, phalanx, radius, ulna) in its own frame:
/// u along the axis from the base (u = 0) to the head (u = length), true millimetres.
#[derive(Debug, Clone, PartialEq)]
pub struct BoneShape {
    pub length: f64,
    pub base_hw: f64,
    pub shaft_hw: f64,
    pub head_hw: f64,
    /// Length of the metaphyseal flare at each end (the head's includes its cap).
    pub base_flare: f64,
    pub head_flare: f64,
    pub head: HeadKind,
    pub cup: Option<Cup>,
    /// Cortical thickness of the shaft, each side.
    pub cortex: f64,
    /// Thickness of the subchondral plates and of the cortex over the ends.
    pub plate: f64,
    /// Relative trabecular density at the ends and in the middle of the shaft (marrow).
    pub trab_end: f32,
    pub trab_mid: f32,
    /// Periarticular osteopenia: fractional loss of trabecular density and cortex near
    /// the base and the head.
    pub osteopenia_base: f32,
    pub osteopenia_head: f32,
    /// Ankylosis: the bone continues this far beyond its base (negative u) or head, with
    /// half-width `bridge_hw`, until a clip plane meets the fused neighbour.
    pub extend_base: f64,
    pub extend_head: f64,
    pub bridge_hw: f64,
    /// Depth of the intercondylar notch at the tip of a bicondylar head seen PA (mm; 0
    /// for a plain rounded cap): the tip recedes between the two condyles.
    pub notch: f64,
    /// Hands of version 2: the distal phalanx's shaft narrows smoothly into the waist
    /// below its tuft (the paper-era bones step there).
    pub refined: bool,
    /// Seed for the small irregularities of the endosteal surface and trabeculae.
    pub seed: u64,
}

/// A half-plane in film mm: points with (p - point) . normal >= 0 are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalfPlane {
    pub point: [f64; 2],
    pub normal: [f64; 2],
}

/// A marginal erosion or subchondral cyst: a sphere of bone removed, centred at (u, v) in
/// the bone's frame (true mm) in the plane of the axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Erosion {
    pub u: f64,
    pub v: f64,
    pub r: f64,
}

/// A faint remnant of a subchondral plate across a fused joint: u = u0 + k v^2 for
/// |v| < hw, drawn as a thin band of extra density `strength`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Remnant {
    pub u0: f64,
    pub k: f64,
    pub hw: f64,
    pub strength: f32,
}

/// A long bone placed on the film.
#[derive(Debug, Clone)]
pub struct LongBone {
    pub shape: BoneShape,
    /// Film mm of the axis point at u = 0.
    pub origin: [f64; 2],
    /// Unit vector of the projected axis, base to head.
    pub dir: [f64; 2],
    /// Cosine of the axis' tilt out of the film plane (flexion): the projected length is
    /// u * fore and rays cross the bone obliquely, 1 / fore longer.
    pub fore: f64,
    /// Depth of the cross-section over its width (phalanges are slightly flattened).
    pub depth: f64,
    /// Mineral density factor of the whole bone (generalised osteoporosis).
    pub density: f32,
    pub clips: Vec<HalfPlane>,
    pub erosions: Vec<Erosion>,
    pub remnants: Vec<Remnant>,
}

impl LongBone {
    /// Film position of the axis point at true u.
    pub fn at(&self, u: f64) -> [f64; 2] {
        [
            self.origin[0] + u * self.fore * self.dir[0],
            self.origin[1] + u * self.fore * self.dir[1],
        ]
    }

    /// Film position of (u, v) in the bone's frame.
    pub fn at_uv(&self, u: f64, v: f64) -> [f64; 2] {
        let p = self.at(u);
        [p[0] - v * self.dir[1], p[1] + v * self.dir[0]]
    }
}

/// The radial profile of a long bone sampled along u.
struct Profile {
    u0: f32,
    inv_du: f32,
    r_out: Vec<f32>,
    r_in: Vec<f32>,
    trab: Vec<f32>,
}

const PROFILE_STEP: f64 = 0.05;

impl Profile {
    fn build(s: &BoneShape) -> Profile {
        let u_lo = -s.extend_base;
        let u_hi = s.length + s.extend_head;
        let n = (((u_hi - u_lo) / PROFILE_STEP).ceil() as usize + 2).max(2);
        let mut p = Profile {
            u0: u_lo as f32,
            inv_du: (1.0 / PROFILE_STEP) as f32,
            r_out: Vec::with_capacity(n),
            r_in: Vec::with_capacity(n),
            trab: Vec::with_capacity(n),
        };
        let l = s.length;
        let (cap_len, tuft) = match s.head {
            HeadKind::Cap { len } => (len.min(0.45 * l), None),
            HeadKind::Tuft { hw } => (0.8 * hw, Some(hw)),
            HeadKind::Point { len } => (len.min(0.6 * l), None),
        };
        let pointed = matches!(s.head, HeadKind::Point { .. });
        let shaft_lo = s.base_flare;
        let shaft_hi = l - s.head_flare;
        for i in 0..n {
            let u = u_lo + i as f64 * PROFILE_STEP;
            // Outer radius.
            let shaft = {
                let t = ((u - shaft_lo) / (shaft_hi - shaft_lo).max(1e-6)).clamp(0.0, 1.0);
                // A slight waist in mid-shaft.
                s.shaft_hw * (1.0 - 0.12 * t * (1.0 - t))
            };
            let mut r = if u < 0.0 {
                0.0
            } else if u < shaft_lo {
                // A concave metaphyseal flare that rounds off into the base.
                let t = 1.0 - u / shaft_lo;
                let flare = 0.5 * t * t + 0.5 * smoothstep(t as f32) as f64;
                let mut r = shaft + (s.base_hw - shaft) * flare;
                // Rounded rim of the base.
                let rim = (0.3 * s.base_hw).min(1.8);
                if u < rim {
                    let d = rim - u;
                    r -= rim - (rim * rim - d * d).max(0.0).sqrt();
                }
                r
            } else if u <= shaft_hi {
                shaft
            } else if let Some(tuft_hw) = tuft {
                // Distal phalanx: narrow waist, then the tuft and a rounded tip.
                let t = ((u - shaft_hi) / (s.head_flare - cap_len).max(1e-6)).clamp(0.0, 1.0);
                let waist = shaft * 0.8;
                let mut r = if s.refined {
                    // The shaft is the waist; the tuft flares out of it.
                    shaft + (tuft_hw - shaft) * smoothstep(t as f32) as f64
                } else {
                    waist + (tuft_hw - waist) * smoothstep(t as f32) as f64
                };
                if u > l - cap_len {
                    // A blunt arrowhead: between a circle and a cone.
                    let q = ((u - (l - cap_len)) / cap_len).min(1.0);
                    r *= 0.5 * (1.0 - q * q).max(0.0).sqrt() + 0.5 * (1.0 - q);
                }
                if u > l {
                    r = 0.0;
                }
                r
            } else if u <= l - cap_len {
                let t = (u - shaft_hi) / (s.head_flare - cap_len).max(1e-6);
                shaft + (s.head_hw - shaft) * smoothstep(t as f32) as f64
            } else if u <= l && pointed {
                let q = (u - (l - cap_len)) / cap_len;
                s.head_hw * (1.0 - q) * (1.0 + 0.5 * q)
            } else if u <= l {
                let q = (u - (l - cap_len)) / cap_len;
                s.head_hw * (1.0 - q * q).max(0.0).sqrt()
            } else {
                0.0
            };
            // Fusion: the bone narrows smoothly to the bridge's waist at the former joint and
            // continues through it (an hourglass, no ledge).
            if s.extend_head > 0.0 {
                let span = cap_len + 2.0;
                let t = smoothstep((((l - u) / span).clamp(0.0, 1.0)) as f32) as f64;
                if u > l - span {
                    let end = if u <= l { r } else { s.bridge_hw };
                    r = s.bridge_hw + (end.max(s.bridge_hw) - s.bridge_hw) * t;
                }
            }
            if s.extend_base > 0.0 {
                let span = (0.6 * s.base_flare).max(1.0);
                if u < span {
                    let t = smoothstep(((u / span).clamp(0.0, 1.0)) as f32) as f64;
                    r = s.bridge_hw + (r.max(s.bridge_hw) - s.bridge_hw) * t;
                }
            }
            // Cortex: thick in the shaft, thin over the ends; thinner near an osteopenic
            // joint; with a slightly irregular endosteal surface.
            let w_shaft = if shaft_hi > shaft_lo {
                let a = smoothstep(((u - 0.5 * shaft_lo) / (0.8 * shaft_lo).max(1e-6)) as f32);
                let b = 1.0
                    - smoothstep(
                        ((u - (shaft_hi - 0.3 * s.head_flare)) / (0.8 * s.head_flare).max(1e-6))
                            as f32,
                    );
                (a * b) as f64
            } else {
                0.0
            };
            let near_base = super::math::exp(-(u.max(0.0)) / 8.0) as f32;
            let near_head = super::math::exp(-((l - u).max(0.0)) / 8.0) as f32;
            let op = s.osteopenia_base * near_base + s.osteopenia_head * near_head;
            let irregular = 1.0 + 0.07 * noise1(s.seed, u / 4.0);
            let cortex =
                (s.plate + (s.cortex - s.plate) * w_shaft) * irregular * (1.0 - 0.6 * op as f64);
            let mut r_in = (r - cortex.max(0.12)).max(0.0);
            // The end plates: the inner surface stops `plate` short of each end.
            if u < s.plate && s.extend_base <= 0.0 {
                r_in = 0.0;
            }
            if pointed && u > l - cap_len {
                r_in = r_in.min((r - s.plate).max(0.0));
            } else if tuft.is_none() && s.extend_head <= 0.0 && u > l - cap_len {
                let c = (cap_len - s.plate).max(0.1);
                let q = (u - (l - cap_len)) / c;
                r_in = r_in.min((s.head_hw - s.plate).max(0.0) * (1.0 - q * q).max(0.0).sqrt());
            }
            if tuft.is_some() && u > l - s.plate {
                r_in = 0.0;
            }
            // Trabecular density: dense ends, marrow in mid-shaft.
            let trab = (s.trab_mid + (s.trab_end - s.trab_mid) * (1.0 - w_shaft as f32))
                * (1.0 - op).max(0.2);
            p.r_out.push(r as f32);
            p.r_in.push(r_in as f32);
            p.trab.push(trab);
        }
        p
    }

    #[inline]
    fn sample(&self, u: f32) -> Option<(f32, f32, f32)> {
        let x = (u - self.u0) * self.inv_du;
        if x < 0.0 {
            return None;
        }
        let i = x as usize;
        if i + 1 >= self.r_out.len() {
            return None;
        }
        let t = x - i as f32;
        let l = |v: &[f32]| v[i] + (v[i + 1] - v[i]) * t;
        Some((l(&self.r_out), l(&self.r_in), l(&self.trab)))
    }
}

/// Trabecular texture in a bone's frame: a mesh of thin plates crossing at about 60
/// degrees around the axis (trabeculae follow the lines of stress), over a fine mottle.
/// Returns a multiplier around 1.
#[inline]
fn trabecular_texture(seed: u64, u: f32, v: f32) -> f32 {
    // cos 30 and sin 30: two families of streaks, 1.3 mm long and 0.45 mm apart.
    let (c, s) = (0.866_f32, 0.5_f32);
    let a = value_noise(
        seed,
        (c * u + s * v) * (1.0 / 1.3),
        (-s * u + c * v) * (1.0 / 0.45),
    );
    let b = value_noise(
        seed ^ 0xA5A5_5A5A,
        (c * u - s * v) * (1.0 / 1.3),
        (s * u + c * v) * (1.0 / 0.45),
    );
    // Ridges where the noise crosses its middle are thin bright lines.
    let ra = 1.0 - (2.0 * a - 1.0).abs();
    let rb = 1.0 - (2.0 * b - 1.0).abs();
    let m = ra.max(rb);
    0.45 + 0.9 * m * m * m + 0.25 * (a * b - 0.25)
}

/// Draws a long bone.
pub fn draw_bone(canvas: &mut Canvas, bone: &LongBone, mat: Materials) {
    let s = &bone.shape;
    let prof = Profile::build(s);
    let hw = s.base_hw.max(s.head_hw).max(s.shaft_hw).max(s.bridge_hw) + 0.2;
    let fore = bone.fore.clamp(0.05, 1.0);
    let u0 = -s.extend_base * fore - 0.1;
    let u1 = (s.length + s.extend_head) * fore + 0.1;
    let (ox, oy) = (bone.origin[0] as f32, bone.origin[1] as f32);
    let (dx, dy) = (bone.dir[0] as f32, bone.dir[1] as f32);
    let inv_fore = (1.0 / fore) as f32;
    let k = (2.0 * bone.depth / fore) as f32;
    let cup = s
        .cup
        .filter(|_| s.extend_base <= 0.0)
        .map(|c| (c.radius as f32, c.depth as f32));
    // The median ridge of a base and the intercondylar notch of a head: a bump across
    // the axis, (1 - (v / w)^2)^2 within |v| < w (polynomial: no libm in the pixel loop).
    let ridge = s
        .cup
        .filter(|c| c.ridge > 0.0 && s.extend_base <= 0.0)
        .map(|c| {
            let w = 0.35 * c.radius as f32;
            (c.ridge as f32, 1.0 / (w * w))
        });
    let notch = match s.head {
        HeadKind::Cap { len } if s.notch > 0.0 && s.extend_head <= 0.0 => {
            let cap_len = len.min(0.45 * s.length);
            Some((
                (s.length - cap_len) as f32,
                1.0 / cap_len as f32,
                s.notch as f32,
                {
                    let w = 0.35 * s.head_hw as f32;
                    1.0 / (w * w)
                },
            ))
        }
        _ => None,
    };
    let bump = |v2: f32, inv_w2: f32| {
        let q = 1.0 - v2 * inv_w2;
        if q > 0.0 { q * q } else { 0.0 }
    };
    let plate = s.plate as f32;
    let clips: Vec<[f32; 4]> = bone
        .clips
        .iter()
        .map(|h| {
            [
                h.point[0] as f32,
                h.point[1] as f32,
                h.normal[0] as f32,
                h.normal[1] as f32,
            ]
        })
        .collect();
    let erosions: Vec<[f32; 3]> = bone
        .erosions
        .iter()
        .map(|e| [e.u as f32, e.v as f32, e.r as f32])
        .collect();
    let remnants: Vec<[f32; 4]> = bone
        .remnants
        .iter()
        .map(|r| [r.u0 as f32, r.k as f32, r.hw as f32, r.strength])
        .collect();
    let mc = mat.cortical * bone.density;
    let mt = mat.trabecular * bone.density;
    let seed = s.seed;
    canvas.for_oriented(bone.origin, bone.dir, u0, u1, hw, |x, y, a| {
        for c in &clips {
            if (x - c[0]) * c[2] + (y - c[1]) * c[3] < 0.0 {
                return;
            }
        }
        let (rx, ry) = (x - ox, y - oy);
        let u = (rx * dx + ry * dy) * inv_fore;
        let v = -rx * dy + ry * dx;
        let v2 = v * v;
        // A notched head: near the tip the profile is read further along, so the tip
        // recedes between the condyles (outline and subchondral plate alike).
        let u_prof = match notch {
            Some((u_cap, inv_cap, depth, inv_w2)) if u > u_cap => {
                u + depth * ((u - u_cap) * inv_cap).min(1.0) * bump(v2, inv_w2)
            }
            _ => u,
        };
        let Some((ro, ri, trab)) = prof.sample(u_prof) else {
            return;
        };
        if v2 >= ro * ro {
            return;
        }
        let mut h_out = (ro * ro - v2).sqrt();
        let mut h_in = if ri * ri > v2 {
            (ri * ri - v2).sqrt()
        } else {
            0.0
        };
        if let Some((cr, cd)) = cup {
            // A median ridge: the recess is shallower on the axis.
            let u = match ridge {
                Some((h, inv_w2)) => u + h * bump(v2, inv_w2),
                None => u,
            };
            // Paraboloid recess: points with rho^2 < cr^2 (1 - u / cd) are not bone.
            if u < cd {
                let z2 = cr * cr * (1.0 - u / cd) - v2;
                if z2 > 0.0 {
                    h_out -= z2.sqrt().min(h_out);
                }
            }
            let ui = u - plate;
            if ui < cd {
                let z2 = (cr + plate) * (cr + plate) * (1.0 - ui / cd) - v2;
                if z2 > 0.0 {
                    h_in -= z2.sqrt().min(h_in);
                }
            }
        }
        let mut cort = (h_out - h_in).max(0.0) * k;
        let mut trab_len = h_in * k;
        for e in &erosions {
            let d2 = (u - e[0]) * (u - e[0]) + (v - e[1]) * (v - e[1]);
            if d2 < e[2] * e[2] {
                let mut chord = 2.0 * (e[2] * e[2] - d2).sqrt() * inv_fore;
                let c = chord.min(cort);
                cort -= c;
                chord -= c;
                trab_len -= chord.min(trab_len);
            }
        }
        let mut t = if trab_len > 0.0 {
            trab * trabecular_texture(seed, u, v)
        } else {
            0.0
        };
        for r in &remnants {
            if v.abs() < r[2] {
                let d = (u - (r[0] + r[1] * v2)).abs();
                if d < 0.35 {
                    // A broken line: the old plate is partly resorbed.
                    let gate = value_noise(seed ^ 0x77, v * 0.8, r[0]);
                    t += r[3] * (1.0 - d / 0.35) * smoothstep((gate - 0.35) * 4.0);
                }
            }
        }
        *a += mc * cort + mt * t * trab_len;
    });
}

/// An ellipsoidal bone (carpal, sesamoid, styloid, the hook of the hamate): half-axes
/// `a` (along `dir`) and `b` in the film plane, `c` in depth, with a cortical shell.
#[derive(Debug, Clone)]
pub struct Blob {
    pub centre: [f64; 2],
    pub dir: [f64; 2],
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub cortex: f64,
    pub trab: f32,
    pub density: f32,
    /// 0 for an ellipse, towards 1 for a rounded rectangle (carpals are blocky).
    pub square: f32,
    pub seed: u64,
}

pub fn draw_blob(canvas: &mut Canvas, blob: &Blob, mat: Materials) {
    let (cx, cy) = (blob.centre[0] as f32, blob.centre[1] as f32);
    let (dx, dy) = (blob.dir[0] as f32, blob.dir[1] as f32);
    let (a, b, c) = (blob.a as f32, blob.b as f32, blob.c as f32);
    let t = blob.cortex as f32;
    let (ai, bi, ci) = ((a - t).max(0.1), (b - t).max(0.1), (c - t).max(0.1));
    let mc = mat.cortical * blob.density;
    let mt = mat.trabecular * blob.density * blob.trab;
    let seed = blob.seed;
    let sq = blob.square;
    // A blend of the ellipse's and a superellipse's (exponent 4) implicit functions.
    let shape = move |x: f32, y: f32| {
        let (x2, y2) = (x * x, y * y);
        (1.0 - sq) * (x2 + y2) + sq * (x2 * x2 + y2 * y2)
    };
    let origin = [
        blob.centre[0] - blob.a * blob.dir[0],
        blob.centre[1] - blob.a * blob.dir[1],
    ];
    canvas.for_oriented(origin, blob.dir, 0.0, 2.0 * blob.a, blob.b, |x, y, acc| {
        let (rx, ry) = (x - cx, y - cy);
        let u = rx * dx + ry * dy;
        let v = -rx * dy + ry * dx;
        let q = shape(u / a, v / b);
        if q >= 1.0 {
            return;
        }
        let out = 2.0 * c * (1.0 - q).sqrt();
        let qi = shape(u / ai, v / bi);
        let inn = if qi < 1.0 {
            2.0 * ci * (1.0 - qi).sqrt()
        } else {
            0.0
        };
        let tex = trabecular_texture(seed, u * 0.7, v);
        *acc += mc * (out - inn).max(0.0) + mt * tex * inn;
    });
}

/// A cylinder of `radius` between two film points (a K-wire, a silicone stem, a screw
/// seen from the side): path 2 sqrt(r^2 - d^2) at distance d from the axis, with rounded
/// ends. `mu` is the net coefficient.
#[derive(Debug, Clone)]
pub struct Rod {
    pub a: [f64; 2],
    pub b: [f64; 2],
    pub radius: f64,
    /// Radius at `b` (tapered stems); equal to `radius` for a plain cylinder.
    pub radius_b: f64,
    pub mu: f32,
    /// Screw threads: amplitude of the radius modulation (mm) and pitch; 0 for none.
    pub thread: f64,
}

pub fn draw_rod(canvas: &mut Canvas, rod: &Rod) {
    let d = [rod.b[0] - rod.a[0], rod.b[1] - rod.a[1]];
    let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-6);
    let dir = [d[0] / len, d[1] / len];
    let rmax = rod.radius.max(rod.radius_b) + rod.thread;
    let (ax, ay) = (rod.a[0] as f32, rod.a[1] as f32);
    let (dx, dy) = (dir[0] as f32, dir[1] as f32);
    let (r0, r1, l) = (rod.radius as f32, rod.radius_b as f32, len as f32);
    let thread = rod.thread as f32;
    let mu = rod.mu;
    canvas.for_oriented(rod.a, dir, -rmax, len + rmax, rmax, |x, y, acc| {
        let (rx, ry) = (x - ax, y - ay);
        let u = rx * dx + ry * dy;
        let v = -rx * dy + ry * dx;
        let uc = u.clamp(0.0, l);
        let mut r = r0 + (r1 - r0) * (uc / l);
        if thread > 0.0 && u > 0.0 && u < l {
            // A saw-tooth thread profile, period 1 mm.
            let f = u - u.floor();
            r += thread * (1.0 - 2.0 * (f - 0.5).abs());
        }
        let d2 = (u - uc) * (u - uc) + v * v;
        if d2 < r * r {
            *acc += mu * 2.0 * (r * r - d2).sqrt();
        }
    });
}

/// A hollow tube of bone along a polyline (a rib): cortex between `radius` and `inner`,
/// seen side-on, with no seams where its pieces meet (each ray takes its distance to the
/// nearest piece).
#[derive(Debug, Clone)]
pub struct Tube {
    pub points: Vec<[f64; 2]>,
    pub radius: f64,
    pub inner: f64,
    /// Depth over width of the cross-section (a flat rib is thinner than it is wide).
    pub depth: f64,
    pub mu: f32,
}

pub fn draw_tube(canvas: &mut Canvas, t: &Tube) {
    let Some(first) = t.points.first() else {
        return;
    };
    let mut b = [first[0], first[1], first[0], first[1]];
    for p in &t.points {
        b = [
            b[0].min(p[0]),
            b[1].min(p[1]),
            b[2].max(p[0]),
            b[3].max(p[1]),
        ];
    }
    let r = t.radius;
    let segs: Vec<[f32; 4]> = t
        .points
        .windows(2)
        .map(|w| {
            [
                w[0][0] as f32,
                w[0][1] as f32,
                w[1][0] as f32,
                w[1][1] as f32,
            ]
        })
        .collect();
    let (ro, ri, k) = (t.radius as f32, t.inner as f32, (t.depth as f32) * t.mu);
    canvas.for_box(b[0] - r, b[1] - r, b[2] + r, b[3] + r, |x, y, acc| {
        let mut d2 = f32::INFINITY;
        for s in &segs {
            let (dx, dy) = (s[2] - s[0], s[3] - s[1]);
            let l2 = (dx * dx + dy * dy).max(1e-6);
            let u = (((x - s[0]) * dx + (y - s[1]) * dy) / l2).clamp(0.0, 1.0);
            let (ex, ey) = (x - s[0] - u * dx, y - s[1] - u * dy);
            d2 = d2.min(ex * ex + ey * ey);
        }
        if d2 < ro * ro {
            let inner = if d2 < ri * ri {
                (ri * ri - d2).sqrt()
            } else {
                0.0
            };
            *acc += k * 2.0 * ((ro * ro - d2).sqrt() - inner);
        }
    });
}

/// A flat slab of uniform `thickness` over a rounded rectangle (a plate), minus round
/// holes (where screws pass, drawn separately), with edges softened over 0.1 mm.
#[derive(Debug, Clone)]
pub struct Slab {
    pub centre: [f64; 2],
    pub dir: [f64; 2],
    pub half_len: f64,
    pub half_width: f64,
    pub corner: f64,
    pub thickness: f64,
    pub mu: f32,
    pub holes: Vec<([f64; 2], f64)>,
}

pub fn draw_slab(canvas: &mut Canvas, slab: &Slab) {
    let origin = [
        slab.centre[0] - slab.half_len * slab.dir[0],
        slab.centre[1] - slab.half_len * slab.dir[1],
    ];
    let (cx, cy) = (slab.centre[0] as f32, slab.centre[1] as f32);
    let (dx, dy) = (slab.dir[0] as f32, slab.dir[1] as f32);
    let (hl, hw) = (slab.half_len as f32, slab.half_width as f32);
    let rc = (slab.corner as f32).min(hl).min(hw);
    let val = slab.mu * slab.thickness as f32;
    let holes: Vec<[f32; 3]> = slab
        .holes
        .iter()
        .map(|(p, r)| [p[0] as f32, p[1] as f32, *r as f32])
        .collect();
    canvas.for_oriented(
        origin,
        slab.dir,
        0.0,
        2.0 * slab.half_len,
        slab.half_width,
        |x, y, acc| {
            let (rx, ry) = (x - cx, y - cy);
            let u = (rx * dx + ry * dy).abs();
            let v = (-rx * dy + ry * dx).abs();
            // Signed distance to the rounded rectangle (negative inside).
            let qx = u - (hl - rc);
            let qy = v - (hw - rc);
            let outside = (qx.max(0.0) * qx.max(0.0) + qy.max(0.0) * qy.max(0.0)).sqrt();
            let sd = outside + qx.max(qy).min(0.0) - rc;
            let mut cover = (0.5 - sd / 0.1).clamp(0.0, 1.0);
            for h in &holes {
                let d = ((x - h[0]) * (x - h[0]) + (y - h[1]) * (y - h[1])).sqrt();
                cover *= ((d - h[2]) / 0.1 + 0.5).clamp(0.0, 1.0);
            }
            *acc += val * cover;
        },
    );
}

/// A ring (finger ring, grommet) around an axis in the film plane, seen side-on: a band
/// `half_width` long along `dir`, a tube of radii `r_in`..`r_out` across it.
#[derive(Debug, Clone)]
pub struct Ring {
    pub centre: [f64; 2],
    pub dir: [f64; 2],
    pub half_width: f64,
    pub r_in: f64,
    pub r_out: f64,
    pub mu: f32,
}

pub fn draw_ring(canvas: &mut Canvas, ring: &Ring) {
    let origin = [
        ring.centre[0] - ring.half_width * ring.dir[0],
        ring.centre[1] - ring.half_width * ring.dir[1],
    ];
    let (cx, cy) = (ring.centre[0] as f32, ring.centre[1] as f32);
    let (dx, dy) = (ring.dir[0] as f32, ring.dir[1] as f32);
    let (hw, ri, ro) = (ring.half_width as f32, ring.r_in as f32, ring.r_out as f32);
    let mu = ring.mu;
    canvas.for_oriented(
        origin,
        ring.dir,
        0.0,
        2.0 * ring.half_width,
        ring.r_out,
        |x, y, acc| {
            let (rx, ry) = (x - cx, y - cy);
            let u = rx * dx + ry * dy;
            let v = -rx * dy + ry * dx;
            let v2 = v * v;
            if v2 >= ro * ro {
                return;
            }
            // The band's edges along the axis are rounded (a comfort-fit ring).
            let edge = (1.0 - (u / hw) * (u / hw)).max(0.0).sqrt();
            let path = 2.0
                * ((ro * ro - v2).sqrt()
                    - if ri * ri > v2 {
                        (ri * ri - v2).sqrt()
                    } else {
                        0.0
                    });
            *acc += mu * path * edge;
        },
    );
}

/// An ellipsoid of uniform material (thenar eminence, silicone hinge body): path
/// 2 c sqrt(1 - q).
#[derive(Debug, Clone)]
pub struct Ellipsoid {
    pub centre: [f64; 2],
    pub dir: [f64; 2],
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub mu: f32,
}

pub fn draw_ellipsoid(canvas: &mut Canvas, e: &Ellipsoid) {
    let origin = [e.centre[0] - e.a * e.dir[0], e.centre[1] - e.a * e.dir[1]];
    let (cx, cy) = (e.centre[0] as f32, e.centre[1] as f32);
    let (dx, dy) = (e.dir[0] as f32, e.dir[1] as f32);
    let (a, b, c) = (e.a as f32, e.b as f32, e.c as f32);
    let mu = e.mu;
    canvas.for_oriented(origin, e.dir, 0.0, 2.0 * e.a, e.b, |x, y, acc| {
        let (rx, ry) = (x - cx, y - cy);
        let u = rx * dx + ry * dy;
        let v = -rx * dy + ry * dx;
        let q = (u / a) * (u / a) + (v / b) * (v / b);
        if q < 1.0 {
            *acc += mu * 2.0 * c * (1.0 - q).sqrt();
        }
    });
}

/// A lead letter of the 5 x 7 overlay font, `height` mm tall, upright, with its top-left
/// corner at `origin`; strokes slightly rounded by sampling 3 x 3 per pixel.
pub fn draw_glyph(
    canvas: &mut Canvas,
    origin: [f64; 2],
    height: f64,
    ch: char,
    thickness: f64,
    mu: f32,
    mirror: bool,
) {
    let rows = crate::render::font::glyph(ch);
    let cell = height / 7.0;
    let val = mu * thickness as f32;
    let (ox, oy, cellf) = (origin[0] as f32, origin[1] as f32, cell as f32);
    let s = canvas.spacing as f32;
    canvas.for_box(
        origin[0],
        origin[1],
        origin[0] + 5.0 * cell,
        origin[1] + height,
        |x, y, acc| {
            let mut hits = 0;
            for sy in [-1.0f32, 0.0, 1.0] {
                for sx in [-1.0f32, 0.0, 1.0] {
                    let mut cx = ((x + sx * s / 3.0 - ox) / cellf).floor();
                    // A film that will be shown mirrored gets a mirror-written letter, so
                    // that it reads correctly on display.
                    if mirror {
                        cx = 4.0 - cx;
                    }
                    let cy = ((y + sy * s / 3.0 - oy) / cellf).floor();
                    if (0.0..5.0).contains(&cx)
                        && (0.0..7.0).contains(&cy)
                        && rows[cy as usize] & (0x10 >> cx as usize) != 0
                    {
                        hits += 1;
                    }
                }
            }
            *acc += val * hits as f32 / 9.0;
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaft(cortex: f64) -> LongBone {
        LongBone {
            shape: BoneShape {
                length: 40.0,
                base_hw: 6.0,
                shaft_hw: 4.0,
                head_hw: 5.0,
                base_flare: 8.0,
                head_flare: 10.0,
                head: HeadKind::Cap { len: 3.0 },
                cup: None,
                cortex,
                plate: 0.5,
                trab_end: 1.0,
                trab_mid: 0.2,
                osteopenia_base: 0.0,
                osteopenia_head: 0.0,
                extend_base: 0.0,
                extend_head: 0.0,
                bridge_hw: 0.0,
                notch: 0.0,
                refined: false,
                seed: 1,
            },
            origin: [10.0, 45.0],
            dir: [0.0, -1.0],
            fore: 1.0,
            depth: 1.0,
            density: 1.0,
            clips: Vec::new(),
            erosions: Vec::new(),
            remnants: Vec::new(),
        }
    }

    fn row_across(bone: &LongBone, y_mm: f64) -> Vec<f32> {
        let mut c = Canvas::new(200, 500, 0.1);
        let mat = Materials {
            soft: mu::SOFT,
            cortical: mu::CORTICAL,
            trabecular: mu::TRABECULAR,
        };
        draw_bone(&mut c, bone, mat);
        let r = (y_mm / 0.1) as usize;
        c.a[r * 200..(r + 1) * 200].to_vec()
    }

    #[test]
    fn a_shaft_projects_tram_lines() {
        // Mid-shaft, 20 mm from the base: the path through the cortical tube is longest
        // just inside its outer edge, so the profile peaks near both edges and dips in the
        // middle (the medulla), and is zero outside.
        let p = row_across(&shaft(1.2), 25.0);
        let centre = p[100];
        let (left, right) = (
            p[60..100].iter().cloned().fold(0.0, f32::max),
            p[100..140].iter().cloned().fold(0.0, f32::max),
        );
        assert!(
            left > 1.5 * centre && right > 1.5 * centre,
            "edges {left} {right}, centre {centre}"
        );
        assert_eq!(p[10], 0.0);
        // The chord through the tube is longest where the ray grazes the medulla: at the
        // inner radius, 3.88 mm (waisted shaft) - 1.2 mm cortex = 2.7 mm from the axis.
        let peak = p.iter().position(|&v| v == left).unwrap();
        assert!((71..=75).contains(&peak), "left tram line at column {peak}");
    }

    #[test]
    fn an_erosion_removes_bone_at_the_margin() {
        let mut b = shaft(1.2);
        let before = row_across(&b, 25.0);
        b.erosions.push(Erosion {
            u: 20.0,
            v: -3.6,
            r: 1.5,
        });
        let after = row_across(&b, 25.0);
        let lost: f32 = before.iter().zip(&after).map(|(x, y)| x - y).sum();
        assert!(lost > 0.5, "erosion removed {lost}");
        assert!(after.iter().zip(&before).all(|(a, b)| a <= b));
    }
}
