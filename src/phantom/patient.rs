//! A synthetic patient: the anatomy of both hands (fixed for life), the course of the
//! disease over the two time points, the surgery and jewellery they carry, and the site
//! that films them.
//!
//! Labels are drawn first, per joint and time point, so that their prevalence is exactly
//! the requested rate in expectation; the rest of the disease follows the patient's
//! severity. Within a patient, findings are correlated through a shared latent severity
//! (a Gaussian copula), and they never regress between the time points: what is ankylosed
//! or subluxed at time point 0 still is at time point 1.

use super::math::{inv_norm_cdf, norm_cdf};
use super::preset::Mix;
use super::rng::Rng;

/// Latent correlation of a patient's joints (copula). 0.3 gives the clustering of real
/// cohorts, where a few patients carry most of the ankylosed joints.
const LATENT_RHO: f64 = 0.3;

/// How much rarer findings are at time point 0 than at time point 1 (relative change of
/// the rate around its mean), so that the disease progresses between the studies.
const PROGRESSION: f64 = 0.15;

/// Dimensions of a long bone (mm, scale 1): length, half-widths of base, shaft and head,
/// length of the head's cap (or tuft half-width for distal phalanges).
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub len: f64,
    pub base: f64,
    pub shaft: f64,
    pub head: f64,
    pub cap: f64,
}

const fn d(len: f64, base: f64, shaft: f64, head: f64, cap: f64) -> Dims {
    Dims {
        len,
        base,
        shaft,
        head,
        cap,
    }
}

/// Average adult bones, index 0 = thumb. Lengths follow standard anthropometric tables;
/// widths are half-widths. The thumb has no middle phalanx (its entry is unused).
const MC: [Dims; 5] = [
    d(45.0, 7.2, 4.6, 7.0, 5.0),
    d(66.0, 7.0, 4.3, 7.3, 6.5),
    d(63.0, 7.0, 4.3, 7.4, 6.5),
    d(56.0, 5.7, 3.6, 6.4, 5.8),
    d(52.0, 6.0, 3.8, 6.2, 5.5),
];
const PP: [Dims; 5] = [
    d(31.0, 8.0, 4.6, 6.6, 3.6),
    d(41.0, 7.6, 4.3, 5.7, 3.2),
    d(45.0, 7.9, 4.5, 5.9, 3.3),
    d(42.0, 7.3, 4.1, 5.5, 3.1),
    d(33.0, 6.4, 3.5, 4.7, 2.8),
];
const MP: [Dims; 5] = [
    d(0.0, 0.0, 0.0, 0.0, 0.0),
    d(23.0, 5.6, 3.4, 4.6, 2.6),
    d(27.0, 5.9, 3.6, 4.8, 2.7),
    d(25.0, 5.5, 3.3, 4.5, 2.5),
    d(18.0, 4.8, 2.9, 3.9, 2.2),
];
const DP: [Dims; 5] = [
    d(23.0, 6.4, 3.2, 0.0, 4.0),
    d(17.0, 4.7, 2.6, 0.0, 3.0),
    d(19.0, 4.9, 2.7, 0.0, 3.2),
    d(18.0, 4.7, 2.6, 0.0, 3.0),
    d(16.0, 4.1, 2.3, 0.0, 2.6),
];

/// Metacarpal bases (hand frame, mm at scale 1: x towards the thumb, y proximal, origin
/// near MCP3) and directions (degrees from "up" towards the thumb). With the lengths above
/// they put the MCP joints close to the layout of `pipeline::naming::TEMPLATE` (the
/// template is the mean layout these hands take on film).
const MC_BASE: [[f64; 2]; 5] = [
    [24.0, 80.0],
    [11.0, 67.5],
    [0.0, 65.0],
    [-12.0, 62.5],
    [-21.0, 65.5],
];
const MC_ANGLE: [f64; 5] = [22.0, 7.8, 0.0, -5.9, -14.0];
/// Resting direction of the proximal phalanx relative to its metacarpal (degrees): the
/// fingers converge slightly towards the middle finger.
const PP_REST: [f64; 5] = [6.0, 0.0, 2.5, 6.0, 12.0];

/// Key of the stream that draws hands of version 2 (from the patient's anatomy seed).
const ANATOMY_V2_STREAM: u64 = 0x0A2A_7012;

/// Joint-space width (mm, scale 1) of healthy joints: MCP, PIP/IP, DIP.
pub const GAP: [f64; 3] = [1.8, 1.2, 0.9];

/// The same for hands of version 2: the DIP joint in the PIP's class (1.0-1.2 mm), so that
/// only its place along the finger tells a DIP from a PIP.
pub const GAP_V2: [f64; 3] = [1.8, 1.2, 1.2];

/// Adult bone lengths (mm) on PA radiographs, mean and standard deviation, both sexes
/// pooled, [MC, PP, MP, DP] per ray (index 0 thumb, which has no middle phalanx): the
/// lengths of hands of version 2 (Buryanov and Kotiuk 2010, docs/phantom.md).
pub const LENGTHS_V2: [[(f64, f64); 4]; 5] = [
    [(46.2, 3.0), (31.6, 2.3), (0.0, 0.0), (21.7, 1.9)],
    [(68.1, 4.0), (39.8, 2.6), (22.4, 1.8), (15.8, 1.4)],
    [(64.6, 3.8), (44.6, 2.8), (26.3, 2.0), (17.4, 1.5)],
    [(58.0, 3.4), (41.4, 2.7), (25.7, 2.0), (17.3, 1.5)],
    [(53.7, 3.2), (32.7, 2.4), (18.1, 1.7), (16.0, 1.4)],
];

/// Size of men's and women's hands relative to the pooled table (about 9 % sexual
/// dimorphism of hand-bone lengths).
pub const SEX_FACTOR_V2: [f64; 2] = [1.045, 0.955];

/// Spread of a person's overall hand size within a sex (relative), shared by all bones;
/// the rest of each bone's standard deviation is its own.
const SIZE_SD_V2: f64 = 0.035;

/// Extra anatomy of hands of version 2.
#[derive(Debug, Clone)]
pub struct AnatomyV2 {
    /// Depth of the intercondylar notch at the tip of the heads of MC, PP, MP (mm).
    pub notch: [f64; 3],
    /// Nail plate: length over the distal phalanx's length, thickness (mm, keratin as
    /// tissue-equivalent) and how far its free edge reaches past the pulp (mm).
    pub nail_len: f64,
    pub nail_thickness: f64,
    pub nail_overhang: f64,
    /// Skin creases: radius lost at a finger's fold, tissue lost along a palmar crease
    /// (mm), width of a fold (mm).
    pub crease_finger: f64,
    pub crease_palm: f64,
    pub crease_width: f64,
    /// Width of the carpometacarpal joint spaces (mm).
    pub cmc_gap: f64,
}

/// The anatomy of one hand.
#[derive(Debug, Clone)]
pub struct HandAnatomy {
    pub scale: f64,
    /// [MC, PP, MP, DP] per finger (index 0 thumb), scaled.
    pub bones: [[Dims; 4]; 5],
    pub mc_base: [[f64; 2]; 5],
    pub mc_angle: [f64; 5],
    pub pp_rest: [f64; 5],
    /// Shaft cortex as a fraction of the shaft half-width.
    pub cortex: f64,
    /// Mineral density of the skeleton (1 = young adult).
    pub density: f32,
    /// Extra soft tissue around the bones (mm, each side) and palm thickness (mm).
    pub tissue: f64,
    pub palm: f64,
    /// Ulnar variance: how far the ulna ends proximal (+) to the radius (mm).
    pub ulnar_variance: f64,
    /// Carpal bones jitter.
    pub carpal_jitter: [[f64; 2]; 9],
    /// Healthy joint-space widths (mm at scale 1): MCP, PIP/IP, DIP.
    pub gap: [f64; 3],
    /// Hands of version 2 (`Mix::anatomy_v2`); None: the paper-era hands.
    pub v2: Option<AnatomyV2>,
}

/// One finding's course at a joint: a latent value compared with per-time-point
/// thresholds, so later time points only add findings.
#[derive(Debug, Clone, Copy)]
pub enum Displacement {
    None,
    /// Surfaces partly in contact: lateral shift and axial shift as fractions of the
    /// joint's width and of the head's cap.
    Partial {
        lateral: f64,
        axial: f64,
    },
    /// Surfaces no longer meet; the bones overlap side by side.
    Dislocated {
        lateral: f64,
        axial: f64,
    },
}

/// An erosion: on the proximal bone's head or the distal bone's base, at the margin on
/// one side (side = +-1) or central (side = 0, a subchondral cyst), radius in mm.
#[derive(Debug, Clone, Copy)]
pub struct ErosionSpec {
    pub distal: bool,
    pub side: f64,
    pub depth: f64,
    pub r: f64,
}

/// What surgery left at a joint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JointImplant {
    None,
    /// Swanson silicone MCP arthroplasty.
    Silicone,
    /// Arthrodesis with a K-wire (DIP joints only, so scored labels stay unambiguous).
    KWire,
}

/// The state of one joint at one time point.
#[derive(Debug, Clone)]
pub struct JointState {
    pub ankylosis: bool,
    pub displacement: Displacement,
    /// Lateral offset of healthy or mildly deformed joints (fraction of the width); far
    /// below what counts as subluxation.
    pub jitter: f64,
    /// Joint-space width relative to healthy.
    pub gap: f64,
    pub erosions: Vec<ErosionSpec>,
    pub osteopenia: f32,
    /// Soft-tissue swelling (mm added to the radius).
    pub swelling: f64,
    /// Flexion of the distal bone at this joint in its fixed or deformed position
    /// (degrees; negative = hyperextension); added to the pose.
    pub flexion: f64,
    pub implant: JointImplant,
    /// Pencil-in-cup destruction (a luxated joint): the head whittled to a point, the
    /// base hollowed into a cup around it.
    pub pencil: bool,
}

impl JointState {
    pub(super) fn healthy() -> JointState {
        JointState {
            ankylosis: false,
            displacement: Displacement::None,
            jitter: 0.0,
            gap: 1.0,
            erosions: Vec::new(),
            osteopenia: 0.0,
            swelling: 0.0,
            flexion: 0.0,
            implant: JointImplant::None,
            pencil: false,
        }
    }

    pub fn subluxed(&self) -> bool {
        !matches!(self.displacement, Displacement::None)
    }
}

/// One hand at one time point: joints [finger][0 = MCP, 1 = PIP/IP, 2 = DIP].
#[derive(Debug, Clone)]
pub struct HandDisease {
    pub joints: [[JointState; 3]; 5],
    /// Ulnar deviation of fingers 2-5 at the MCPs (degrees).
    pub ulnar_deviation: [f64; 5],
    /// Generalised osteoporosis (0..1).
    pub osteoporosis: f32,
    /// Carpal destruction (0: none; 1: the carpus collapsed to about half its height and
    /// fused into one block with the CMC joints).
    pub carpal: f64,
}

/// Jewellery and hardware that are not joint findings.
#[derive(Debug, Clone)]
pub struct Extras {
    /// Rings: (hand, finger, position along the proximal phalanx 0..1, band width mm).
    pub rings: Vec<(usize, usize, f64, f64)>,
    /// Plate on a metacarpal shaft: (hand, finger), or on the distal radius: (hand, 0).
    pub plates: Vec<(usize, usize)>,
    /// Intramedullary K-wire in a metacarpal: (hand, finger).
    pub mc_wires: Vec<(usize, usize)>,
    /// Sesamoids beside MCP2 and MCP5 (MCP1 always has two).
    pub sesamoid2: bool,
    pub sesamoid5: bool,
}

/// Acquisition habits of the site that films the patient.
#[derive(Debug, Clone)]
pub struct Site {
    pub spacing: f64,
    pub photons: f32,
    pub blur_mm: f64,
    pub scatter: f32,
    pub usm_amount: f32,
    pub usm_sigma_mm: f64,
    pub drc_amount: f32,
    pub tone_centre: f32,
    pub tone_width: f32,
    pub black: f32,
    pub white: f32,
    pub bone_contrast: f32,
    pub collimation: f64,
    pub label: bool,
    pub markers: u8,
    pub row_noise: f32,
    pub name: &'static str,
}

#[derive(Debug, Clone)]
pub struct Patient {
    pub index: usize,
    pub female: bool,
    pub hands: [HandAnatomy; 2],
    pub disease: [[HandDisease; 2]; 2],
    pub extras: Extras,
    pub sites: [Site; 2],
    /// Days since 1970-01-01 of birth and of the two studies, and the studies' times of day
    /// in seconds.
    pub birth_days: i64,
    pub study_days: [i64; 2],
    pub study_secs: [u32; 2],
    /// The preset's mix (anatomy version, posture) for the scene.
    pub mix: Mix,
}

/// Per-joint prevalence rates.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub ankylosis: f64,
    pub subluxation: f64,
}

/// Thresholds on a standard-normal latent whose probabilities are the rate at time points
/// 0 and 1, moved apart by [`PROGRESSION`] around it so that later films only add; their
/// mean probability is exactly the rate.
pub(super) fn thresholds(rate: f64) -> [f64; 2] {
    let rate = rate.clamp(0.0, 1.0);
    let hi = (rate * (1.0 + PROGRESSION)).min(1.0);
    let lo = 2.0 * rate - hi;
    [prob_to_threshold(lo), prob_to_threshold(hi)]
}

fn prob_to_threshold(p: f64) -> f64 {
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else {
        inv_norm_cdf(p)
    }
}

/// Standard normal latent for one joint, sharing `z` with the patient's other joints.
/// One to three erosion sites of a joint: (on the distal bone, side, size and depth
/// quantiles, a central cyst rather than a marginal erosion).
pub(super) fn erosion_sites(rng: &mut Rng) -> Vec<(bool, f64, f64, f64, bool)> {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| {
            (
                rng.chance(0.5),
                if rng.chance(0.5) { 1.0 } else { -1.0 },
                rng.f64(),
                rng.f64(),
                rng.chance(0.2),
            )
        })
        .collect()
}

fn latent(z: f64, rng: &mut Rng) -> f64 {
    LATENT_RHO.sqrt() * z + (1.0 - LATENT_RHO).sqrt() * rng.normal()
}

/// Draws patient `index`: anatomy from `anatomy_seed`, disease and labels from
/// `disease_seed` (so other rates change the labels, not the hands).
// The loops index parallel arrays [time point][hand][finger][level]; iterators over one of
// them would hide the others.
#[allow(clippy::needless_range_loop)]
pub fn sample(
    index: usize,
    anatomy_seed: u64,
    disease_seed: u64,
    rates: Rates,
    mix: Mix,
) -> Patient {
    let mut rng = Rng::new(anatomy_seed);
    let female = rng.chance(0.72);
    let age = rng.normal_clamped(60.0, 12.0, 25.0, 88.0) as u32;
    let scale = if female {
        rng.normal_clamped(0.93, 0.04, 0.82, 1.05)
    } else {
        rng.normal_clamped(1.0, 0.04, 0.9, 1.12)
    };
    let robust = rng.normal_clamped(1.0, 0.05, 0.88, 1.12);
    let cortex = rng.normal_clamped(if age > 60 { 0.36 } else { 0.44 }, 0.05, 0.25, 0.55);
    let density = rng.normal_clamped(
        if female && age > 55 { 0.85 } else { 0.95 },
        0.07,
        0.65,
        1.1,
    ) as f32;
    let tissue = rng.normal_clamped(4.3, 0.6, 3.0, 6.0);
    let palm = rng.normal_clamped(27.0, 2.5, 21.0, 34.0) * scale;
    let ulnar_variance = rng.normal_clamped(0.5, 1.5, -3.0, 4.0);
    let mut lens = [[1.0f64; 4]; 5];
    for f in lens.iter_mut() {
        for l in f.iter_mut() {
            *l = rng.normal_clamped(1.0, 0.03, 0.92, 1.08);
        }
    }
    let base_jit: Vec<[f64; 2]> = (0..5)
        .map(|_| {
            [
                rng.normal_clamped(0.0, 0.8, -2.0, 2.0),
                rng.normal_clamped(0.0, 1.0, -2.5, 2.5),
            ]
        })
        .collect();
    let ang_jit: Vec<f64> = (0..5)
        .map(|_| rng.normal_clamped(0.0, 1.2, -3.0, 3.0))
        .collect();
    let mut carpal = [[0.0; 2]; 9];
    for c in carpal.iter_mut() {
        *c = [
            rng.normal_clamped(0.0, 0.7, -1.5, 1.5),
            rng.normal_clamped(0.0, 0.7, -1.5, 1.5),
        ];
    }
    // Hands of version 2 draw from a stream of their own, so that the paper-era hands
    // above stay as they were: overall size by sex, each bone's length from the
    // anthropometric table (its own share of the table's spread), widths that grow a
    // little with age (periosteal apposition).
    let v2 = mix.anatomy_v2.then(|| {
        let mut r = Rng::new(super::rng::derive(anatomy_seed, &[ANATOMY_V2_STREAM]));
        let size = SEX_FACTOR_V2[female as usize]
            * (1.0 + SIZE_SD_V2 * r.normal_clamped(0.0, 1.0, -2.5, 2.5));
        let sex_sd = 0.5 * (SEX_FACTOR_V2[0] - SEX_FACTOR_V2[1]);
        let mut lens = [[0.0f64; 4]; 5];
        for (f, row) in lens.iter_mut().enumerate() {
            for (b, l) in row.iter_mut().enumerate() {
                let (mean, sd) = LENGTHS_V2[f][b];
                if mean > 0.0 {
                    let cv = sd / mean;
                    let own = (cv * cv - sex_sd * sex_sd - SIZE_SD_V2 * SIZE_SD_V2)
                        .max(0.015 * 0.015)
                        .sqrt();
                    *l = mean * size * (1.0 + own * r.normal_clamped(0.0, 1.0, -2.5, 2.5));
                }
            }
        }
        let widen = 1.0 + 0.001 * (age as f64 - 40.0).max(0.0);
        let extra = AnatomyV2 {
            notch: [
                r.range(0.45, 0.7) * size,
                r.range(0.35, 0.55) * size,
                r.range(0.25, 0.45) * size,
            ],
            nail_len: r.range(0.55, 0.7),
            nail_thickness: r.range(0.5, 0.8) * 1.25,
            nail_overhang: r.range(0.0, 2.5),
            crease_finger: r.range(0.4, 0.9),
            crease_palm: r.range(0.8, 2.0),
            crease_width: r.range(0.5, 0.9),
            cmc_gap: r.range(0.8, 1.4),
        };
        (size, lens, widen, extra)
    });
    let hands: [HandAnatomy; 2] = std::array::from_fn(|h| {
        // Hands differ a little: the dominant hand is slightly larger.
        let side = 1.0 + if h == 0 { 0.008 } else { -0.008 };
        let hs = v2.as_ref().map_or(scale, |v| v.0) * side;
        let bones = std::array::from_fn(|f| {
            let sc = |dm: Dims, l: f64| Dims {
                len: dm.len * hs * l,
                base: dm.base * hs * robust,
                shaft: dm.shaft * hs * robust,
                head: dm.head * hs * robust,
                cap: dm.cap * hs * robust,
            };
            match &v2 {
                None => [
                    sc(MC[f], lens[f][0]),
                    sc(PP[f], lens[f][1]),
                    sc(MP[f], lens[f][2]),
                    sc(DP[f], lens[f][3]),
                ],
                Some((_, v2_lens, widen, _)) => {
                    let tables = [MC[f], PP[f], MP[f], DP[f]];
                    std::array::from_fn(|b| {
                        let dm = sc(tables[b], 1.0);
                        Dims {
                            len: v2_lens[f][b] * side,
                            base: dm.base * widen,
                            shaft: dm.shaft * widen,
                            head: dm.head * widen,
                            cap: dm.cap,
                        }
                    })
                }
            }
        });
        HandAnatomy {
            scale: hs,
            bones,
            mc_base: std::array::from_fn(|f| {
                [
                    (MC_BASE[f][0] + base_jit[f][0]) * hs,
                    (MC_BASE[f][1] + base_jit[f][1]) * hs,
                ]
            }),
            mc_angle: std::array::from_fn(|f| MC_ANGLE[f] + ang_jit[f]),
            pp_rest: PP_REST,
            cortex,
            density,
            tissue,
            palm: v2.as_ref().map_or(palm, |v| palm / scale * v.0),
            ulnar_variance,
            carpal_jitter: carpal,
            gap: if v2.is_some() { GAP_V2 } else { GAP },
            v2: v2.as_ref().map(|v| v.3.clone()),
        }
    });

    let mut rng = Rng::new(disease_seed);
    // Latent severity; labels and the rest of the disease follow it.
    let z = rng.normal();
    let severity = norm_cdf(z);
    let ta = thresholds(rates.ankylosis);
    let ts = thresholds(rates.subluxation);
    let mut disease: [[HandDisease; 2]; 2] = std::array::from_fn(|_| {
        std::array::from_fn(|_| HandDisease {
            joints: std::array::from_fn(|_| std::array::from_fn(|_| JointState::healthy())),
            ulnar_deviation: [0.0; 5],
            osteoporosis: 0.0,
            carpal: 0.0,
        })
    });
    for h in 0..2 {
        let hand_scale = hands[h].scale;
        let drift = (rng.normal() * 8.0 + severity * 28.0 - 8.0).max(0.0);
        let drift_more = rng.range(0.0, 5.0);
        let finger_drift: [f64; 5] = std::array::from_fn(|f| {
            if f == 0 {
                0.0
            } else {
                drift * rng.range(0.6, 1.3)
            }
        });
        let osteo = (0.1 + 0.5 * severity + 0.1 * rng.normal()).clamp(0.0, 0.8) as f32;
        // Finger deformities: swan-neck (PIP hyperextended, DIP flexed) or boutonniere
        // (PIP flexed, DIP hyperextended), appearing at time point 0 or 1.
        let deform: [(u8, f64, f64); 5] = std::array::from_fn(|f| {
            let u = rng.f64();
            let kind = if f == 0 {
                0
            } else if u < 0.12 * severity * mix.deformity {
                1
            } else if u < 0.2 * severity * mix.deformity {
                2
            } else {
                0
            };
            (kind, rng.f64(), rng.f64())
        });
        for f in 0..5 {
            for level in 0..3 {
                if f == 0 && level == 2 {
                    continue;
                }
                let scored = level < 2;
                // Label latents (drawn for every scored joint so the stream does not
                // depend on the rates).
                let xa = latent(z, &mut rng);
                let xs = latent(z, &mut rng);
                let thumb_ip = f == 0 && level == 1;
                let sub_kind = rng.f64();
                let sub_side = if rng.chance(if level == 0 { 0.75 } else { 0.5 }) {
                    -1.0
                } else {
                    1.0
                };
                let sub_mag = rng.f64();
                let sub_ax = rng.f64();
                let fix_flex = rng.normal_clamped(12.0, 12.0, -5.0, 40.0);
                let jitter = rng.normal_clamped(0.0, 0.04, -0.1, 0.1);
                // Other findings: per-joint uniforms against severity-driven rates.
                let q_jsn = rng.f64();
                let r_jsn = rng.f64();
                let q_er = rng.f64();
                let er = erosion_sites(&mut rng);
                let q_new_er = rng.f64();
                let op = rng.f64() as f32;
                let sw = rng.f64();
                let dip_fuse = rng.chance(0.01);
                let oa = rng.f64();
                for t in 0..2 {
                    let js = &mut disease[t][h].joints[f][level];
                    let tf = t as f64;
                    js.jitter = jitter;
                    if scored {
                        js.ankylosis = xa < ta[t];
                        if !thumb_ip && xs < ts[t] {
                            // Dislocations are the severe end; some partial ones
                            // progress to dislocation at time point 1.
                            let dislocated = sub_kind < 0.3 + 0.15 * tf;
                            let axial = -sub_ax * if dislocated { 1.0 } else { 0.5 };
                            js.displacement = if dislocated {
                                Displacement::Dislocated {
                                    lateral: sub_side * (1.15 + 0.5 * sub_mag),
                                    axial,
                                }
                            } else {
                                Displacement::Partial {
                                    lateral: sub_side * (0.42 + 0.3 * sub_mag + 0.05 * tf),
                                    axial,
                                }
                            };
                        }
                    } else {
                        // DIPs: osteoarthritic narrowing with age, rare fusion.
                        js.ankylosis = dip_fuse;
                    }
                    let p_jsn = if scored {
                        0.08 + 0.6 * severity + 0.1 * tf
                    } else {
                        (age as f64 - 40.0).max(0.0) / 60.0
                    };
                    if q_jsn < p_jsn || (!scored && oa < 0.3) {
                        js.gap = (1.0 - (0.25 + 0.6 * r_jsn) * (1.0 + 0.2 * tf)).clamp(0.12, 1.0);
                    }
                    if js.ankylosis {
                        js.gap = 0.25;
                        js.flexion = fix_flex;
                    }
                    let p_er = if scored {
                        0.03 + 0.5 * severity + 0.08 * tf
                    } else {
                        0.02
                    };
                    if q_er < p_er && !js.ankylosis {
                        let grow = 1.0 + 0.3 * tf;
                        let count = if t == 1 && q_new_er < 0.4 {
                            er.len()
                        } else {
                            er.len().div_ceil(2)
                        };
                        js.erosions = er[..count]
                            .iter()
                            .map(|&(distal, side, size, depth, cyst)| ErosionSpec {
                                distal,
                                side: if cyst { 0.0 } else { side },
                                depth,
                                r: (0.5 + (0.7 + 1.5 * severity) * size) * grow * hand_scale,
                            })
                            .collect();
                    }
                    js.osteopenia =
                        ((0.1 + 0.35 * severity as f32) * (0.5 + op) * (1.0 + 0.2 * tf as f32))
                            .min(0.6);
                    js.swelling = if scored { sw * 2.5 * severity } else { 0.0 };
                    if !js.ankylosis && f > 0 {
                        let (kind, onset, amount) = deform[f];
                        if kind != 0 && (t == 1 || onset < 0.6) {
                            js.flexion += match (kind, level) {
                                (1, 1) => -10.0 - 15.0 * amount,
                                (1, 2) => 30.0 + 25.0 * amount,
                                (2, 1) => 40.0 + 30.0 * amount,
                                (2, 2) => -10.0 - 10.0 * amount,
                                _ => 0.0,
                            };
                        }
                    }
                }
            }
        }
        for t in 0..2 {
            let hd = &mut disease[t][h];
            hd.osteoporosis = (osteo + 0.05 * t as f32).min(0.85);
            for (f, d) in finger_drift.iter().enumerate() {
                hd.ulnar_deviation[f] = d + if *d > 0.0 { t as f64 * drift_more } else { 0.0 };
            }
        }
    }

    if mix.graded {
        super::svdh::grade(
            &mut disease,
            &hands,
            z,
            rates,
            &mix,
            super::rng::derive(disease_seed, &[super::rng::tag::GRADED]),
        );
    }

    // Surgery and jewellery. Silicone MCP arthroplasties replace MCP2-5 of one hand, but
    // only where no label is set at either time point, so label prevalence stays exact.
    let silicone = rng.chance(0.03);
    let silicone_hand = rng.below(2);
    let silicone_t0 = rng.chance(0.7);
    if silicone {
        for f in 1..5 {
            let clean = (0..2).all(|t| {
                let j = &disease[t][silicone_hand].joints[f][0];
                !j.ankylosis && !j.subluxed()
            });
            if clean {
                for t in 0..2 {
                    if t == 1 || silicone_t0 {
                        let j = &mut disease[t][silicone_hand].joints[f][0];
                        j.implant = JointImplant::Silicone;
                        j.erosions.clear();
                        j.gap = 1.0;
                    }
                }
            }
        }
    }
    if rng.chance(0.05) {
        let (h, f) = (rng.below(2), 1 + rng.below(4));
        for t in 0..2 {
            let j = &mut disease[t][h].joints[f][2];
            j.implant = JointImplant::KWire;
            j.ankylosis = true;
            j.gap = 0.25;
            j.flexion = 5.0;
            j.erosions.clear();
        }
    }
    let mut extras = Extras {
        rings: Vec::new(),
        plates: Vec::new(),
        mc_wires: Vec::new(),
        sesamoid2: rng.chance(0.4),
        sesamoid5: rng.chance(0.6),
    };
    if rng.chance(0.25) {
        let u = rng.f64();
        let f = if u < 0.6 {
            3
        } else if u < 0.8 {
            2
        } else if u < 0.9 {
            4
        } else {
            1
        };
        extras
            .rings
            .push((rng.below(2), f, rng.range(0.3, 0.55), rng.range(2.0, 6.0)));
    }
    if rng.chance(0.04) {
        extras.plates.push((
            rng.below(2),
            if rng.chance(0.5) { 0 } else { 1 + rng.below(4) },
        ));
    }
    if rng.chance(0.03) {
        extras.mc_wires.push((rng.below(2), 1 + rng.below(4)));
    }

    let mut site = sample_site(&mut rng);
    let mut second = if rng.chance(0.15) {
        sample_site(&mut rng)
    } else {
        site.clone()
    };
    if mix.acquisition_extremes > 0.0 {
        // From a stream of its own, so the paper preset's sites stay as they were.
        let mut x = Rng::new(super::rng::derive(
            disease_seed,
            &[super::rng::tag::EXTREMES],
        ));
        for s in [&mut site, &mut second] {
            if x.chance(mix.acquisition_extremes) {
                extreme_site(s, &mut x);
            }
        }
    }
    // The paper's cohort was filmed in 2015-2016 (16436 = 2015-01-01); follow-up after
    // six months to two years.
    let t0 = 16436 + rng.below(600) as i64;
    let t1 = t0 + 180 + rng.below(540) as i64;
    let birth_days = t0 - age as i64 * 365 - rng.below(365) as i64;
    let study_secs = [
        8 * 3600 + rng.below(9 * 3600) as u32,
        8 * 3600 + rng.below(9 * 3600) as u32,
    ];
    Patient {
        index,
        female,
        hands,
        disease,
        extras,
        sites: [site, second],
        birth_days,
        study_days: [t0, t1],
        study_secs,
        mix,
    }
}

/// A site at the edges of what clinics do: low dose or heavy edge enhancement, strong
/// dynamic range compression, a soft focal spot or a moving hand, a steep or flat tone
/// curve, a harder or softer beam. Each is drawn on its own, so a site has one or several.
fn extreme_site(s: &mut Site, rng: &mut Rng) {
    if rng.chance(0.5) {
        // Under-exposed: a quarter to a half of the dose, so quantum noise doubles.
        s.photons = (s.photons as f64 * rng.range(0.25, 0.5)) as f32;
    }
    if rng.chance(0.5) {
        // Heavy unsharp masking: dark halos along every cortex and plate.
        s.usm_amount = rng.range(1.3, 2.6) as f32;
        s.usm_sigma_mm = rng.range(0.5, 2.5);
    }
    if rng.chance(0.4) {
        s.drc_amount = rng.range(0.45, 0.75) as f32;
    }
    if rng.chance(0.4) {
        // A large focal spot, a thick phosphor or a hand that moved.
        s.blur_mm = rng.range(0.2, 0.4);
    }
    if rng.chance(0.5) {
        s.tone_width = if rng.chance(0.5) {
            rng.range(0.6, 0.85)
        } else {
            rng.range(1.4, 1.9)
        } as f32;
        s.tone_centre = rng.range(1.0, 1.7) as f32;
    }
    if rng.chance(0.4) {
        s.bone_contrast = if rng.chance(0.5) {
            rng.range(0.72, 0.85)
        } else {
            rng.range(1.15, 1.25)
        } as f32;
    }
    if rng.chance(0.3) {
        s.row_noise = rng.range(0.012, 0.03) as f32;
    }
}

/// Sites differ in plate size (pixel spacing), dose, and above all in their processing.
fn sample_site(rng: &mut Rng) -> Site {
    const NAMES: [&str; 6] = ["CR-A", "CR-B", "FCR", "REGIUS", "CR-DX", "KODAK"];
    Site {
        spacing: rng.range(0.125, 0.175),
        photons: rng.range(1500.0, 9000.0) as f32,
        blur_mm: rng.range(0.09, 0.2),
        scatter: rng.range(0.04, 0.14) as f32,
        usm_amount: if rng.chance(0.8) {
            rng.range(0.2, 1.3) as f32
        } else {
            0.0
        },
        usm_sigma_mm: rng.range(0.8, 4.0),
        drc_amount: rng.range(0.0, 0.45) as f32,
        tone_centre: rng.range(1.1, 1.5) as f32,
        tone_width: rng.range(0.9, 1.4) as f32,
        black: rng.range(-0.16, -0.04) as f32,
        white: rng.range(1.0, 1.1) as f32,
        bone_contrast: rng.range(0.85, 1.15) as f32,
        collimation: rng.range(0.0, 18.0),
        label: rng.chance(0.3),
        markers: [1u8, 2, 3, 3, 3, 0][rng.below(6)],
        row_noise: rng.range(0.0, 0.012) as f32,
        name: NAMES[rng.below(NAMES.len())],
    }
}
