//! Synthetic RA hand radiographs with ground truth (`rajoints phantom`, issue 3).
//!
//! By default each image is a PA computed radiograph of both hands on one film (2010 x
//! 1670 pixels, 10 bits), formed physically: the path lengths of X-rays through soft tissue, cortical
//! and trabecular bone and metal are accumulated (Beer-Lambert), then the exposure is
//! scattered, made noisy, blurred, logged and processed like a CR reader does
//! (docs/phantom.md). Its ground truth is the box and the findings of each of the 20
//! scored joints (`rajoints-annotations/1`, [`crate::annotations`]).
//!
//! Films can also be hung as real ones are (`Convention`: both hands as acquired, or one
//! hand seen from the dorsum, cropped from the two-hand exposure), digitised (resampled,
//! 8 bits), written without their spacing, or be of a kind the node must
//! refuse (`Kind`: lateral, oblique, foot, chest, empty, rotated); `frame.rs` maps the
//! rendered film and its ground truth to the stored image, `kinds.rs` draws the non-hand
//! films.
//!
//! Patients come in pairs of studies (time points 0 and 1) like the paper's: same
//! anatomy, new positioning, the disease a little further on. Image `i` is time point
//! `i % 2` of patient `i / 2`.
//!
//! Everything random is drawn from streams derived from the seed and the image's indices
//! (`rng.rs`), and every pixel is computed with IEEE-exact operations (`math.rs`), so the
//! same options give byte-identical files on any machine and any number of threads.
//!
//! Presets (`preset.rs`, issue 16) mix all this: `paper` is the generator as it was;
//! `clinic` and `hard` draw hands of version 2, disease graded by Sharp/van der Heijde,
//! and films digitised as clinics do.
//!
//! Modules: `preset` names the mixes; `patient` draws anatomy, disease and labels, `svdh`
//! the graded disease and the scores; `scene` poses and places the hands and computes the
//! ground truth; `kinds` builds the films to refuse; `raster` and `soft` accumulate
//! attenuation, `unsharp` softens the joint spaces; `film` forms the image; `frame`
//! hangs, crops, turns and resamples it; `digitiser` scans it (tone, grain, scanner,
//! JPEG); `dicom` writes the CR file.

mod dicom;
mod digitiser;
mod film;
mod frame;
mod kinds;
mod math;
mod patient;
mod preset;
mod raster;
mod rng;
mod scene;
mod soft;
mod svdh;
mod unsharp;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use snafu::{ResultExt, Snafu, ensure};

use crate::annotations::{AnnotatedImage, AnnotatedJoint, Annotations, FORMAT, Landmark};
use crate::image::Radiograph;
use crate::pipeline::bbox::BBox;
use crate::pipeline::laterality::FilmAttributes;
use crate::pipeline::naming::{JointId, Level, Side};

pub use frame::Turn;
pub use preset::{Mix, Preset};
pub use scene::Condition;

/// How a hand film is hung (real-films.md, "Display conventions"; docs/phantom.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convention {
    /// Both hands, flipped for reading: the right hand on the image left, thumbs towards
    /// the middle.
    #[default]
    TwoHandsReading,
    /// Both hands as acquired, seen from the tube: the right hand on the image right.
    TwoHandsAcquired,
    /// One hand per film, fingers up, seen from the dorsum (a right hand's thumb on the
    /// image left), cropped from a two-hand exposure.
    OneHand,
    /// Each image one of the three above, drawn from the seed.
    Mixed,
}

impl Convention {
    pub const ALL: [Convention; 4] = [
        Convention::TwoHandsReading,
        Convention::TwoHandsAcquired,
        Convention::OneHand,
        Convention::Mixed,
    ];

    /// The name of the CLI flag's value and of the annotation's `convention` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Convention::TwoHandsReading => "two-hands-reading",
            Convention::TwoHandsAcquired => "two-hands-acquired",
            Convention::OneHand => "one-hand",
            Convention::Mixed => "mixed",
        }
    }
}

/// What a film shows. Anything but `Hand` is a film the node must refuse; all are written
/// with the tags of a one-hand PA film, so only the pixels tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// A PA hand (the convention decides the hanging).
    #[default]
    Hand,
    /// A lateral hand: the fingers superimposed in one narrow band.
    Lateral,
    /// A hand turned about 45 degrees: the rays partly overlapping.
    Oblique,
    /// A dorsoplantar foot.
    Foot,
    /// A PA chest.
    Chest,
    /// An exposed field with no anatomy.
    Empty,
    /// A one-hand film turned by 90 degrees (fingers to the left or right).
    Rotated,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Hand,
        Kind::Lateral,
        Kind::Oblique,
        Kind::Foot,
        Kind::Chest,
        Kind::Empty,
        Kind::Rotated,
    ];

    /// The name of the CLI flag's value and of the annotation's `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hand => "hand",
            Kind::Lateral => "lateral",
            Kind::Oblique => "oblique",
            Kind::Foot => "foot",
            Kind::Chest => "chest",
            Kind::Empty => "empty",
            Kind::Rotated => "rotated",
        }
    }

    /// Whether the node should analyse such a film.
    pub fn assessable(self) -> bool {
        self == Kind::Hand
    }
}

macro_rules! parse_by_name {
    ($t:ty, $what:literal) => {
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} `{s}` (one of {})", $what, names.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
parse_by_name!(Convention, "convention");
parse_by_name!(Kind, "film kind");
parse_by_name!(Preset, "preset");

/// Range of the effective pixel spacing of digitised films (mm), drawn uniformly.
pub const DIGITISED_SPACING_MM: (f64, f64) = (0.08, 0.30);

/// The longest side of a scanned film, pixels (`clinic` and `hard` presets).
const MAX_SCAN_PIXELS: f64 = 3000.0;

/// Crops `frame` to the hand of `side` and its margins (mm; left, top, right, bottom):
/// a film digitised from a one-hand crop. Every joint box of the hand stays whole.
fn tighten(frame: &mut frame::Frame, scene: &scene::Scene, side: Side, margins: [f64; 4]) {
    let sp = scene.spacing;
    let ours = |name: &str| name.starts_with(side.letter());
    let joint = |finger: u8, level: Level| {
        scene
            .joints
            .iter()
            .find(|j| j.id.side == side && j.id.finger == finger && j.id.level == level)
    };
    let landmark = |name: String| scene.landmarks.iter().find(|l| l.name == name);
    let mut pts: Vec<[f64; 2]> = Vec::new();
    for j in scene.joints.iter().filter(|j| j.id.side == side) {
        let h = j.side / 2.0;
        pts.push([j.centre[0] - h, j.centre[1] - h]);
        pts.push([j.centre[0] + h, j.centre[1] + h]);
    }
    let ext =
        |a: [f64; 2], b: [f64; 2], k: f64| [b[0] + (b[0] - a[0]) * k, b[1] + (b[1] - a[1]) * k];
    // Fingertips: beyond the DIP by about the middle phalanx's length (or beyond the PIP
    // when the DIPs are not known); the thumb's beyond its IP.
    for f in 2..=5u8 {
        if let (Some(mcp), Some(pip)) = (joint(f, Level::Mcp), joint(f, Level::Pip)) {
            let tip = match landmark(format!("{}-DIP{f}", side.letter())) {
                Some(dip) => ext(pip.centre, dip.centre, 1.0),
                None => ext(mcp.centre, pip.centre, 1.35),
            };
            pts.push(tip);
        }
    }
    if let (Some(mcp), Some(ip)) = (joint(1, Level::Mcp), joint(1, Level::Pip)) {
        pts.push(ext(mcp.centre, ip.centre, 0.9));
    }
    // The wrist: the distal radius and ulna and a little forearm, or 95 mm below the
    // MCPs.
    let wrist: Vec<[f64; 2]> = scene
        .landmarks
        .iter()
        .filter(|l| ours(&l.name))
        .map(|l| [l.centre[0], l.centre[1] + 20.0])
        .collect();
    if wrist.is_empty() {
        if let Some(m) = joint(3, Level::Mcp) {
            pts.push([m.centre[0], m.centre[1] + 95.0]);
        }
    } else {
        pts.extend(wrist);
    }
    if pts.is_empty() {
        return;
    }
    // Soft tissue reaches about 10 mm beyond the bones and the joint boxes.
    let pad = 10.0;
    let lo_x = pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min) - pad - margins[0];
    let hi_x = pts.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max) + pad + margins[2];
    let lo_y = pts.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min) - pad - margins[1];
    let hi_y = pts.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max) + pad + margins[3];
    let x0 = ((lo_x / sp).floor().max(0.0) as usize).clamp(frame.x0, frame.x1 - 1);
    let x1 = ((hi_x / sp).ceil().max(0.0) as usize).clamp(x0 + 1, frame.x1);
    let y0 = ((lo_y / sp).floor().max(0.0) as usize).min(frame.y0 + frame.rows - 1);
    let y1 = ((hi_y / sp).ceil().max(0.0) as usize).clamp(y0 + 1, frame.y0 + frame.rows);
    frame.x0 = x0;
    frame.x1 = x1;
    frame.y0 = y0;
    frame.rows = y1 - y0;
}

/// What one image of a dataset is, as drawn from the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Format {
    /// The hanging used (never `Mixed`; `OneHand` for every kind but `Hand`).
    pub convention: Convention,
    /// The hand of a one-hand film (and the side a refused film claims); `None` for both.
    pub side: Option<Side>,
    pub kind: Kind,
    pub turn: Turn,
    /// The effective pixel spacing of a digitised film.
    pub digitised_mm: Option<f64>,
    /// Whether the file carries Pixel Spacing and Imager Pixel Spacing.
    pub spacing_in_file: bool,
    /// What digitising did to a scanned film beyond resampling (`clinic` and `hard`).
    pub scan: Option<Scan>,
    /// Margins (mm: left, top, right, bottom of the hand as seen on the film) of a
    /// one-hand film cropped tightly around the hand.
    pub tight: Option<[f64; 4]>,
}

/// How a film was digitised: scanned from film, then perhaps JPEG-compressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scan {
    /// Quality (IJG scale) of the JPEG the film went through, if any.
    pub jpeg_quality: Option<u8>,
    /// Film grain amplitude (display units).
    pub grain: f32,
    /// Scanner lines, banding and dust (0: none, 1: strong).
    pub scanner: f32,
    /// The film's tone: scanner gamma, clear-film black level, white level.
    pub tone: (f32, f32, f32),
}

impl Format {
    /// Patient Orientation of the film: fingers up, seen from the dorsum unless hung for
    /// reading (PS3.17 Annex A).
    pub fn patient_orientation(&self) -> &'static str {
        if self.convention == Convention::TwoHandsReading {
            dicom::PATIENT_ORIENTATION
        } else {
            dicom::PATIENT_ORIENTATION_DORSAL
        }
    }

    /// The attributes the file carries that say which hand it shows, as the decoder
    /// reads them (`dicom::dataset` writes the same).
    pub fn attributes(&self) -> FilmAttributes {
        let side = self.side.map(|s| s.letter().to_string());
        FilmAttributes {
            image_laterality: side.is_none().then(|| "B".to_string()),
            laterality: side,
            patient_orientation: self
                .patient_orientation()
                .split_once('\\')
                .map(|(r, c)| (r.to_string(), c.to_string())),
            view_position: Some("PA".into()),
            body_part_examined: Some("HAND".into()),
        }
    }
}

/// The paper's prevalence of ankylosis: 157 of 5200 joints (260 images x 20 joints).
pub const ANKYLOSIS_RATE: f64 = 157.0 / 5200.0;
/// The paper's prevalence of subluxation/dislocation: 60 of 4680 joints (the thumb IP
/// joints carry no label: 260 x 18).
pub const SUBLUXATION_RATE: f64 = 60.0 / 4680.0;

/// The value of the `annotator` field.
pub fn annotator() -> String {
    format!("rajoints-phantom {}", env!("CARGO_PKG_VERSION"))
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomOptions {
    /// Number of images (patients = count / 2, rounded up; an odd count leaves the last
    /// patient with time point 0 only).
    pub count: usize,
    pub seed: u64,
    /// Probability that a joint is ankylosed (all 20 joints), averaged over time points.
    pub ankylosis_rate: f64,
    /// Probability that a joint is subluxed or dislocated (the 18 joints other than the
    /// thumb IP joints), averaged over time points.
    pub subluxation_rate: f64,
    /// Store MONOCHROME1 (inverted values) instead of MONOCHROME2.
    pub monochrome1: bool,
    /// How hand films are hung.
    pub convention: Convention,
    /// Resample each film to a spacing drawn in [`DIGITISED_SPACING_MM`] and store 8 bits,
    /// as a digitised clinic film.
    pub digitised: bool,
    /// Write neither Pixel Spacing nor Imager Pixel Spacing (pixels unchanged).
    pub no_spacing: bool,
    /// What the films show (`Hand`, or a kind the node must refuse).
    pub kind: Kind,
    /// Anatomy, disease and acquisition beyond the above ([`Mix::of`] a preset).
    pub mix: Mix,
}

impl Default for PhantomOptions {
    fn default() -> Self {
        PhantomOptions {
            count: 260,
            seed: 0,
            ankylosis_rate: ANKYLOSIS_RATE,
            subluxation_rate: SUBLUXATION_RATE,
            monochrome1: false,
            convention: Convention::default(),
            digitised: false,
            no_spacing: false,
            kind: Kind::default(),
            mix: Mix::default(),
        }
    }
}

impl PhantomOptions {
    /// The defaults of a preset: its label rates, hanging and mix.
    pub fn preset(preset: Preset) -> PhantomOptions {
        let (ankylosis_rate, subluxation_rate) = Mix::rates(preset);
        PhantomOptions {
            ankylosis_rate,
            subluxation_rate,
            convention: Mix::convention(preset),
            mix: Mix::of(preset),
            ..PhantomOptions::default()
        }
    }
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    /// A rate is not a probability.
    #[snafu(display("{name} must be a probability in [0, 1], got {value}"))]
    InvalidRate { name: &'static str, value: f64 },
    /// A mix setting that is not a rate is out of its range.
    #[snafu(display("{name}: {problem}"))]
    InvalidMix { name: &'static str, problem: String },
    #[snafu(display("could not create directory {}", path.display()))]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not write DICOM file {}", path.display()))]
    WriteDicom {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[snafu(display("could not write {}", path.display()))]
    WriteAnnotations {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not serialise the annotations"))]
    SerializeAnnotations { source: serde_json::Error },
    /// A worker thread panicked: a bug, reported rather than propagated.
    #[snafu(display("phantom worker thread panicked"))]
    Worker,
}

/// Geometry of one scored joint in pixels, beyond what the annotation holds (tests and
/// pictures use it).
#[derive(Debug, Clone, PartialEq)]
pub struct JointGeometry {
    pub id: JointId,
    /// Centre of the joint space, (column, row), pixel-edge coordinates.
    pub centre: (f32, f32),
    /// Unit vector along the distal bone, pointing distally, (x, y).
    pub axis: (f32, f32),
    /// Projected joint-space width in pixels (0 when fused, displaced or replaced).
    pub gap: f32,
    pub conditions: Vec<Condition>,
}

/// One rendered image with its ground truth.
#[derive(Debug, Clone)]
pub struct Phantom {
    pub annotation: AnnotatedImage,
    /// Stored pixel values as written to the file (inverted when MONOCHROME1), row-major.
    pub stored: Vec<u16>,
    pub width: u32,
    pub height: u32,
    /// The true pixel spacing (the digitiser's when digitised), whether or not the file
    /// carries it.
    pub pixel_spacing_mm: f64,
    /// Whether the file carries Pixel Spacing and Imager Pixel Spacing.
    pub spacing_in_file: bool,
    /// 10, or 8 when digitised.
    pub bits_stored: u16,
    pub monochrome1: bool,
    pub joints: Vec<JointGeometry>,
    pub format: Format,
    /// Whether a text label is burned into the pixels.
    pub burned_in_label: bool,
}

impl Phantom {
    /// The image in display space (bone bright), as the decoder would give it.
    pub fn radiograph(&self) -> Radiograph {
        let max = ((1u32 << self.bits_stored) - 1) as f32;
        let pixels = self
            .stored
            .iter()
            .map(|&v| {
                let v = f32::from(v) / max;
                if self.monochrome1 { 1.0 - v } else { v }
            })
            .collect();
        Radiograph {
            width: self.width,
            height: self.height,
            pixels,
            pixel_spacing_mm: self
                .spacing_in_file
                .then_some((self.pixel_spacing_mm, self.pixel_spacing_mm)),
            attributes: self.format.attributes(),
        }
    }
}

fn check(opts: &PhantomOptions) -> Result<(), Error> {
    let m = &opts.mix;
    for (name, value) in [
        ("ankylosis rate", opts.ankylosis_rate),
        ("subluxation rate", opts.subluxation_rate),
        ("JSN 1 rate", m.jsn_rates[0]),
        ("JSN 2 rate", m.jsn_rates[1]),
        ("JSN 3 rate", m.jsn_rates[2]),
        ("sum of the JSN rates", m.jsn_rates.iter().sum()),
        ("erosion rate", m.erosion_rate),
        ("dislocation share", m.dislocation_share),
        ("destroyed-hand rate", m.destroyed_hand_rate),
        ("pencil-in-cup share", m.pencil_share),
        ("DIP osteoarthritis rate", m.dip_oa_rate),
        ("posture rate", m.posture_rate),
        ("digitised share", m.digitised_share),
        ("no-spacing share", m.no_spacing_share),
        ("JPEG share", m.jpeg_share),
        ("tight-crop share", m.tight_crop_share),
        ("acquisition-extremes rate", m.acquisition_extremes),
        ("latent correlation", m.rho),
    ] {
        ensure!(
            (0.0..=1.0).contains(&value),
            InvalidRateSnafu { name, value }
        );
    }
    let shares = m.conventions;
    ensure!(
        shares.iter().all(|s| *s >= 0.0) && shares.iter().sum::<f64>() > 0.0,
        InvalidMixSnafu {
            name: "convention shares",
            problem: format!("must be non-negative and not all zero, got {shares:?}"),
        }
    );
    let (lo, hi) = m.digitised_mm;
    ensure!(
        lo > 0.0 && lo <= hi && hi.is_finite(),
        InvalidMixSnafu {
            name: "digitised spacing range",
            problem: format!("must satisfy 0 < low <= high, got {lo}-{hi} mm"),
        }
    );
    let (ulo, uhi) = m.joint_unsharpness_mm;
    ensure!(
        (0.0..=3.0).contains(&ulo) && (ulo..=3.0).contains(&uhi),
        InvalidMixSnafu {
            name: "joint unsharpness",
            problem: format!("must satisfy 0 <= low <= high <= 3 mm, got {ulo}-{uhi} mm"),
        }
    );
    ensure!(
        m.deformity >= 0.0 && m.max_rotation_deg >= 0.0 && m.max_rotation_deg <= 90.0,
        InvalidMixSnafu {
            name: "deformity or rotation",
            problem: format!(
                "deformity must be >= 0 and the rotation within 0-90 degrees, got {} and {}",
                m.deformity, m.max_rotation_deg
            ),
        }
    );
    Ok(())
}

/// File name (without folder) of image `index`.
pub fn file_name(index: usize) -> String {
    format!("{}-T{}.dcm", dicom::patient_id(index / 2), index % 2)
}

fn patient_of(opts: &PhantomOptions, p: usize) -> patient::Patient {
    patient::sample(
        p,
        rng::derive(opts.seed, &[rng::tag::ANATOMY, p as u64]),
        rng::derive(opts.seed, &[rng::tag::DISEASE, p as u64]),
        patient::Rates {
            ankylosis: opts.ankylosis_rate,
            subluxation: opts.subluxation_rate,
        },
        opts.mix,
    )
}

/// What image `index` is: hanging, side, kind, turn and digitiser pitch. Every draw is
/// made whatever the options, so that e.g. `--digitised` does not change the sides.
fn format_of(opts: &PhantomOptions, index: usize) -> Format {
    let (p, tp) = (index / 2, index % 2);
    let mut rng = rng::Rng::new(rng::derive(
        opts.seed,
        &[rng::tag::FORMAT, p as u64, tp as u64],
    ));
    let pick = rng.below(3);
    let right = rng.chance(0.5);
    let clockwise = rng.chance(0.5);
    let mix = &opts.mix;
    let (lo, hi) = mix.digitised_mm;
    let uniform_pitch = rng.range(lo, hi);
    // Draws added with the presets come after the original ones, so that the paper
    // preset's films do not change.
    let u_convention = rng.f64();
    let u_digitised = rng.f64();
    let u_pitch = rng.f64();
    let u_no_spacing = rng.f64();
    let u_jpeg = rng.f64();
    let quality = rng.range(25.0, 92.0).round() as u8;
    let u_tight = rng.f64();
    let margins: [f64; 4] = std::array::from_fn(|_| rng.range(3.0, 20.0));
    let scan = Scan {
        jpeg_quality: (u_jpeg < mix.jpeg_share).then_some(quality),
        grain: rng.range(0.004, 0.03) as f32,
        scanner: if rng.chance(0.5) {
            rng.range(0.1, 1.0) as f32
        } else {
            0.0
        },
        tone: (
            rng.range(0.8, 1.25) as f32,
            rng.range(0.0, 0.12) as f32,
            rng.range(0.88, 1.0) as f32,
        ),
    };
    const ALIKE: [Convention; 3] = [
        Convention::TwoHandsReading,
        Convention::TwoHandsAcquired,
        Convention::OneHand,
    ];
    let convention = match (opts.kind, opts.convention) {
        // Equal shares keep the original draw (the paper preset).
        (Kind::Hand, Convention::Mixed) if mix.conventions == [1.0 / 3.0; 3] => ALIKE[pick],
        (Kind::Hand, Convention::Mixed) => {
            let total: f64 = mix.conventions.iter().sum();
            let mut u = u_convention * total;
            let mut chosen = Convention::OneHand;
            for (c, share) in ALIKE.into_iter().zip(mix.conventions) {
                if u < share {
                    chosen = c;
                    break;
                }
                u -= share;
            }
            chosen
        }
        (Kind::Hand, c) => c,
        _ => Convention::OneHand,
    };
    let is_digitised = opts.digitised || u_digitised < mix.digitised_share;
    let pitch = if mix.scanned {
        // Log-uniform: as many films at 0.06-0.12 mm as at 0.25-0.5 mm.
        lo * math::exp(u_pitch * math::ln(hi / lo))
    } else {
        uniform_pitch
    };
    let spacing_in_file =
        !(opts.no_spacing || (is_digitised && u_no_spacing < mix.no_spacing_share));
    let side =
        (convention == Convention::OneHand).then_some(if right { Side::Right } else { Side::Left });
    Format {
        convention,
        side,
        kind: opts.kind,
        turn: match (opts.kind, clockwise) {
            (Kind::Rotated, true) => Turn::Clockwise,
            (Kind::Rotated, false) => Turn::Counter,
            _ => Turn::None,
        },
        digitised_mm: is_digitised.then_some(pitch),
        spacing_in_file,
        scan: (is_digitised && mix.scanned).then_some(scan),
        tight: (convention == Convention::OneHand && u_tight < mix.tight_crop_share)
            .then_some(margins),
    }
}

/// An image's scene, how it is framed, and its ground truth, without pixels.
struct Plan {
    scene: scene::Scene,
    frame: frame::Frame,
    format: Format,
    annotation: AnnotatedImage,
    joints: Vec<JointGeometry>,
    /// Whether the site's text label survives the framing.
    label_kept: bool,
}

/// The scene and the annotation of image `index`, without pixels.
fn plan(opts: &PhantomOptions, index: usize, overrides: scene::Overrides) -> Plan {
    let (p, tp) = (index / 2, index % 2);
    let patient = patient_of(opts, p);
    let format = format_of(opts, index);
    let mut rng = rng::Rng::new(rng::derive(
        opts.seed,
        &[rng::tag::IMAGE, p as u64, tp as u64],
    ));
    let side = format.side.unwrap_or(Side::Right);
    let mut scene = match format.kind {
        Kind::Hand | Kind::Rotated => scene::build(&patient, tp, &mut rng, overrides, 1.0),
        // A lateral hand's rays fall within about a quarter of their PA spread; at 45
        // degrees within about 0.6 (cos 45 degrees, plus the palm's curve).
        Kind::Lateral => scene::build(&patient, tp, &mut rng, overrides, 0.25),
        Kind::Oblique => scene::build(&patient, tp, &mut rng, overrides, 0.6),
        Kind::Foot => kinds::foot(&patient, tp, &mut rng, side),
        Kind::Chest => kinds::chest(&patient, tp, &mut rng, side),
        Kind::Empty => kinds::empty(&patient, tp, &mut rng, side),
    };
    let sp = scene.spacing;
    let mut frame = frame::Frame::whole(scene.width, scene.height);
    match (format.convention, scene.split) {
        (Convention::TwoHandsAcquired, _) => frame.mirror = true,
        (Convention::OneHand, Some(split)) => {
            // The reading hanging shows each hand from its palm side; seen from the dorsum,
            // a one-hand film is the crop mirrored.
            let cut = ((split.parting() / sp).round() as usize).clamp(1, scene.width - 1);
            if side == Side::Right {
                frame.x1 = cut;
            } else {
                frame.x0 = cut;
            }
            frame.mirror = true;
        }
        _ => {}
    }
    let mut format = format;
    if let Some(m) = format.tight {
        tighten(&mut frame, &scene, side, m);
    }
    frame.turn = format.turn;
    if let Some(d) = format.digitised_mm {
        // Scanned films are at most about 3000 pixels wide (real-films.md: 342-2968);
        // a fine pitch on a large crop is scanned coarser.
        let d = match format.scan {
            Some(_) => {
                let longest = (frame.x1 - frame.x0).max(frame.rows) as f64 * sp;
                d.max(longest / MAX_SCAN_PIXELS)
            }
            None => d,
        };
        format.digitised_mm = Some(d);
        frame.scale = sp / d;
    }
    // A mirrored film needs mirror-written lead letters to read right.
    scene.mirror_glyphs = frame.mirror;
    let label_kept = match &mut scene.label {
        Some(l) => {
            if let Some(s) = format.side {
                let name = if s == Side::Right { "RIGHT" } else { "LEFT" };
                for line in &mut l.lines {
                    *line = line.replace("BOTH HANDS", &format!("{name} HAND"));
                }
            }
            let (w, h) = label_size(l);
            l.at[0] >= frame.x0
                && l.at[0] + w <= frame.x1
                && l.at[1] >= frame.y0
                && l.at[1] + h <= frame.y0 + frame.rows
        }
        None => true,
    };
    let (w, h) = frame.size();
    let round = |v: f64| ((v * 100.0).round() / 100.0) as f32;
    let shown: Vec<&scene::JointTruth> = if format.kind == Kind::Hand {
        scene
            .joints
            .iter()
            .filter(|j| format.side.is_none_or(|s| j.id.side == s))
            .collect()
    } else {
        Vec::new()
    };
    let joints = shown
        .iter()
        .map(|j| {
            let (cx, cy, half) = (j.centre[0] / sp, j.centre[1] / sp, j.side / sp / 2.0);
            let r = frame.rect([cx - half, cy - half, cx + half, cy + half]);
            let state = &patient.disease[tp][usize::from(j.id.side == Side::Left)].joints
                [usize::from(j.id.finger - 1)][usize::from(j.id.level != Level::Mcp)];
            // A joint forced into a condition (pictures, tests) is graded by its labels.
            let forced = j.ankylosis != state.ankylosis
                || j.subluxation.is_some_and(|s| s != state.subluxed());
            let jsn = if forced {
                Some(if j.ankylosis { 4 } else { 3 })
            } else {
                svdh::jsn(state)
            };
            AnnotatedJoint {
                joint: j.id,
                bbox: BBox::new(round(r[0]), round(r[1]), round(r[2]), round(r[3]))
                    .clamp_to(w as f32, h as f32),
                ankylosis: j.ankylosis,
                subluxation: j.subluxation,
                jsn,
                erosion: Some(svdh::erosion(state, j.side / 1.25)),
                overlap: j.overlap,
            }
        })
        .collect();
    let landmarks = scene
        .landmarks
        .iter()
        .filter(|l| {
            format.kind == Kind::Hand && format.side.is_none_or(|s| l.name.starts_with(s.letter()))
        })
        .filter_map(|l| {
            let (cx, cy, half) = (l.centre[0] / sp, l.centre[1] / sp, l.side / sp / 2.0);
            let c = frame.point((cx, cy));
            // Landmarks the crop cut off are not on the film.
            if c.0 < 0.0 || c.1 < 0.0 || c.0 > w as f64 || c.1 > h as f64 {
                return None;
            }
            let r = frame.rect([cx - half, cy - half, cx + half, cy + half]);
            Some(Landmark {
                kind: l.kind,
                name: l.name.clone(),
                bbox: BBox::new(round(r[0]), round(r[1]), round(r[2]), round(r[3]))
                    .clamp_to(w as f32, h as f32),
            })
        })
        .collect();
    let geometry = shown
        .iter()
        .map(|j| {
            let c = frame.point((j.centre[0] / sp, j.centre[1] / sp));
            let a = frame.vec((j.axis[0], j.axis[1]));
            JointGeometry {
                id: j.id,
                centre: (c.0 as f32, c.1 as f32),
                axis: (a.0 as f32, a.1 as f32),
                gap: (j.gap / sp * frame.scale) as f32,
                conditions: j.conditions.clone(),
            }
        })
        .collect();
    let annotation = AnnotatedImage {
        file: format!("images/{}", file_name(index)),
        sop_instance_uid: dicom::sop_instance_uid(opts.seed, p, tp),
        patient_id: dicom::patient_id(p),
        timepoint: tp as u32,
        width: w as u32,
        height: h as u32,
        annotator: annotator(),
        joints,
        convention: Some(format.convention.as_str().to_string()),
        laterality: Some(
            match format.side {
                None => "B",
                Some(Side::Right) => "R",
                Some(Side::Left) => "L",
            }
            .to_string(),
        ),
        kind: (format.kind != Kind::Hand).then(|| format.kind.as_str().to_string()),
        assessable: format.kind.assessable(),
        true_spacing_mm: Some(format.digitised_mm.unwrap_or(sp)),
        preset: Some(opts.mix.preset.as_str().to_string()),
        landmarks,
        ..Default::default()
    };
    Plan {
        scene,
        frame,
        format,
        annotation,
        joints: geometry,
        label_kept,
    }
}

/// The ground truth of every image, without rendering (fast: geometry only, whatever the
/// convention, kind or digitising: the framing and the digitiser's pitch are drawn before
/// any pixel). Equal to what [`generate`] writes.
pub fn annotate(opts: &PhantomOptions) -> Result<Annotations, Error> {
    check(opts)?;
    Ok(Annotations {
        format: FORMAT.to_string(),
        images: (0..opts.count)
            .map(|i| plan(opts, i, &[]).annotation)
            .collect(),
    })
}

/// Renders image `index` of the dataset `opts` describes (`opts.count` is not used).
pub fn render_one(opts: &PhantomOptions, index: usize) -> Result<Phantom, Error> {
    render_with(opts, index, &[])
}

/// Renders image `index` with some joints forced into a condition (documentation
/// pictures, tests). Forced joints keep their labels consistent with the condition.
pub fn render_with(
    opts: &PhantomOptions,
    index: usize,
    overrides: &[(JointId, Condition)],
) -> Result<Phantom, Error> {
    check(opts)?;
    let plan = plan(opts, index, overrides);
    let (p, tp) = (index / 2, index % 2);
    let mut rng = rng::Rng::new(rng::derive(
        opts.seed,
        &[rng::tag::PIXELS, p as u64, tp as u64],
    ));
    let scene = &plan.scene;
    let fr = plan.frame;
    let sites = unsharp_sites(opts, index, scene);
    let display = render_scene(scene, &sites, &mut rng);
    let mut img = fr.crop(&display, scene.width);
    drop(display);
    if let (Some(l), true) = (&scene.label, plan.label_kept) {
        // The label is printed on the image as shown: never mirror-written.
        let lw = label_size(l).0;
        let x = if fr.mirror {
            fr.x1 - l.at[0] - lw
        } else {
            l.at[0] - fr.x0
        };
        let l = scene::TextLabel {
            at: [x, l.at[1]],
            ..l.clone()
        };
        burn_label(&mut img, fr.x1 - fr.x0, fr.rows, &l);
    }
    let mut img = fr.resample(fr.turn_image(img));
    let (w, h) = fr.size();
    let digitised = plan.format.digitised_mm.is_some();
    if let (Some(scan), Some(pitch)) = (plan.format.scan, plan.format.digitised_mm) {
        let mut rng = rng::Rng::new(rng::derive(
            opts.seed,
            &[rng::tag::SCAN, p as u64, tp as u64],
        ));
        digitise(&mut img, w, h, pitch, &scan, &mut rng);
    }
    let bits: u16 = if digitised { 8 } else { 10 };
    let max = ((1u32 << bits) - 1) as f32;
    let stored = img
        .iter()
        .map(|&v| {
            // Display values are already clamped to [0, 1]; +0.5 and truncation round.
            let s = (v.clamp(0.0, 1.0) * max + 0.5) as u16;
            if opts.monochrome1 { max as u16 - s } else { s }
        })
        .collect();
    Ok(Phantom {
        annotation: plan.annotation,
        stored,
        width: w as u32,
        height: h as u32,
        pixel_spacing_mm: plan.format.digitised_mm.unwrap_or(scene.spacing),
        spacing_in_file: plan.format.spacing_in_file,
        bits_stored: bits,
        monochrome1: opts.monochrome1,
        joints: plan.joints,
        format: plan.format,
        // What was drawn above: a label that found no free corner is not on the film.
        burned_in_label: scene.label.is_some() && plan.label_kept,
    })
}

/// A film scanned as clinics digitise them: the film's tone, its grain, the scanner's
/// lines, 8-bit levels, then perhaps a JPEG round trip (`digitiser.rs`).
fn digitise(img: &mut [f32], w: usize, h: usize, pitch: f64, scan: &Scan, rng: &mut rng::Rng) {
    let (gamma, black, white) = scan.tone;
    digitiser::film_tone(img, w, h, gamma, black, white);
    digitiser::film_grain(img, w, h, pitch, scan.grain, rng);
    digitiser::scanner_artifacts(img, w, h, rng, scan.scanner);
    if let Some(q) = scan.jpeg_quality {
        digitiser::jpeg_history(img, w, h, q);
    }
}

/// The joints whose spaces `unsharp::soften` spreads: every scored joint and every DIP
/// and CMC joint on the film, each with its own spread drawn from the mix's range.
fn unsharp_sites(opts: &PhantomOptions, index: usize, scene: &scene::Scene) -> Vec<unsharp::Site> {
    let (lo, hi) = opts.mix.joint_unsharpness_mm;
    if hi <= 0.0 {
        return Vec::new();
    }
    let (p, tp) = (index / 2, index % 2);
    let centre_of = |name: &str| {
        scene
            .joints
            .iter()
            .find(|j| j.id.to_string() == name)
            .map(|j| j.centre)
            .or_else(|| {
                scene
                    .landmarks
                    .iter()
                    .find(|l| l.name == name)
                    .map(|l| l.centre)
            })
    };
    let unit = |from: [f64; 2], to: [f64; 2]| {
        let d = [to[0] - from[0], to[1] - from[1]];
        let n = (d[0] * d[0] + d[1] * d[1]).sqrt();
        (n > 1e-6).then(|| [d[0] / n, d[1] / n])
    };
    let mut sites: Vec<([f64; 2], [f64; 2], f64)> = scene
        .joints
        .iter()
        .map(|j| (j.centre, j.axis, j.side))
        .collect();
    for l in &scene.landmarks {
        // A DIP's axis runs from its PIP, a CMC's to its MCP.
        let (side, finger) = (&l.name[..1], l.name.chars().last().unwrap_or('0'));
        let axis = match l.kind {
            crate::annotations::LandmarkKind::Dip => {
                centre_of(&format!("{side}-PIP{finger}")).and_then(|pip| unit(pip, l.centre))
            }
            crate::annotations::LandmarkKind::Cmc => {
                centre_of(&format!("{side}-MCP{finger}")).and_then(|mcp| unit(l.centre, mcp))
            }
            _ => None,
        };
        if let Some(axis) = axis {
            sites.push((l.centre, axis, l.side));
        }
    }
    sites
        .into_iter()
        .enumerate()
        .map(|(k, (centre, axis, side))| {
            let mut r = rng::Rng::new(rng::derive(
                opts.seed,
                &[rng::tag::UNSHARP, p as u64, tp as u64, k as u64],
            ));
            unsharp::Site {
                centre,
                axis,
                radius: 0.6 * side,
                sigma: r.range(lo, hi),
            }
        })
        .collect()
}

/// Attenuation, film and processing: display values in [0, 1].
fn render_scene(s: &scene::Scene, sites: &[unsharp::Site], rng: &mut rng::Rng) -> Vec<f32> {
    let mut canvas = raster::Canvas::new(s.width, s.height, s.spacing);
    soft::draw(&mut canvas, &s.tissue, s.materials.soft);
    for b in &s.bones {
        raster::draw_bone(&mut canvas, b, s.materials);
    }
    for b in &s.blobs {
        raster::draw_blob(&mut canvas, b, s.materials);
    }
    for e in &s.ellipsoids {
        raster::draw_ellipsoid(&mut canvas, e);
    }
    for r in &s.rods {
        raster::draw_rod(&mut canvas, r);
    }
    for t in &s.tubes {
        raster::draw_tube(&mut canvas, t);
    }
    for sl in &s.slabs {
        raster::draw_slab(&mut canvas, sl);
    }
    for r in &s.rings {
        raster::draw_ring(&mut canvas, r);
    }
    for &(at, h, ch) in &s.glyphs {
        raster::draw_glyph(
            &mut canvas,
            at,
            h,
            ch,
            1.5,
            raster::mu::LEAD,
            s.mirror_glyphs,
        );
    }
    unsharp::soften(&mut canvas, sites);
    film::expose(&mut canvas, &s.exposure, rng);
    canvas.a
}

/// Size of a printed label's box in pixels (columns, rows).
fn label_size(l: &scene::TextLabel) -> (usize, usize) {
    let cols = l.lines.iter().map(|s| s.len()).max().unwrap_or(0);
    ((cols * 6 + 4) * l.scale, (l.lines.len() * 9 + 2) * l.scale)
}

/// A printed label: a filled box with text, in display values.
fn burn_label(img: &mut [f32], w: usize, h: usize, l: &scene::TextLabel) {
    let sc = l.scale;
    let (bw, bh) = label_size(l);
    let (bg, fg) = if l.inverse {
        (0.02, 0.98)
    } else {
        (0.98, 0.02)
    };
    for y in l.at[1]..(l.at[1] + bh).min(h) {
        for x in l.at[0]..(l.at[0] + bw).min(w) {
            img[y * w + x] = bg;
        }
    }
    for (k, line) in l.lines.iter().enumerate() {
        for (i, ch) in line.chars().enumerate() {
            let rows = crate::render::font::glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) == 0 {
                        continue;
                    }
                    let (x0, y0) = (
                        l.at[0] + (2 + i * 6 + c) * sc,
                        l.at[1] + (1 + k * 9 + r) * sc,
                    );
                    for y in y0..(y0 + sc).min(h) {
                        for x in x0..(x0 + sc).min(w) {
                            img[y * w + x] = fg;
                        }
                    }
                }
            }
        }
    }
}

/// Writes `out/images/<id>.dcm` for every image and `out/annotations.json`, and returns
/// the annotations. Images are rendered on all available cores; the output does not
/// depend on their number.
pub fn generate(opts: &PhantomOptions, out: &Path) -> Result<Annotations, Error> {
    check(opts)?;
    let images_dir = out.join("images");
    std::fs::create_dir_all(&images_dir).context(CreateDirSnafu { path: &images_dir })?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(opts.count)
        .max(1);
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<AnnotatedImage, Error>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= opts.count {
                            break;
                        }
                        done.push((i, write_image(opts, i, &images_dir)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec![(usize::MAX, Err(Error::Worker))])
            })
            .collect()
    });
    results.sort_by_key(|r| r.0);
    let mut images = Vec::with_capacity(opts.count);
    for (_, r) in results {
        images.push(r?);
    }
    let annotations = Annotations {
        format: FORMAT.to_string(),
        images,
    };
    let json = serde_json::to_string_pretty(&annotations).context(SerializeAnnotationsSnafu)?;
    let path = out.join("annotations.json");
    std::fs::write(&path, json + "\n").context(WriteAnnotationsSnafu { path: &path })?;
    Ok(annotations)
}

fn write_image(opts: &PhantomOptions, index: usize, dir: &Path) -> Result<AnnotatedImage, Error> {
    let (p, tp) = (index / 2, index % 2);
    let phantom = render_one(opts, index)?;
    let patient = patient_of(opts, p);
    let site = &patient.sites[tp];
    let f = phantom.format;
    let id = dicom::Identity {
        seed: opts.seed,
        patient: &patient,
        timepoint: tp,
        patient_id: phantom.annotation.patient_id.clone(),
        sop_instance_uid: phantom.annotation.sop_instance_uid.clone(),
        spacing: phantom.spacing_in_file.then_some(phantom.pixel_spacing_mm),
        kvp: (50.0 + (1.15 - site.bone_contrast as f64) * 40.0).round(),
        monochrome1: opts.monochrome1,
        burned_in_label: phantom.burned_in_label,
        bits_stored: phantom.bits_stored,
        side: f.side,
        patient_orientation: f.patient_orientation(),
    };
    let ds = dicom::dataset(
        &id,
        phantom.width as u16,
        phantom.height as u16,
        phantom.stored,
    );
    dicom::write(&dir.join(file_name(index)), ds)?;
    Ok(phantom.annotation)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-hand film keeps its own side's lead letter whole, and no letter is cut in
    /// two by the crop.
    #[test]
    fn one_hand_crops_keep_their_own_letter() {
        let opts = PhantomOptions {
            convention: Convention::OneHand,
            ..Default::default()
        };
        let (mut kept, mut with_letter) = (0, 0);
        for i in 0..80 {
            let p = plan(&opts, i, &[]);
            let (f, s) = (p.frame, &p.scene);
            assert!(f.mirror && s.mirror_glyphs);
            let own = if p.format.side == Some(Side::Right) {
                'R'
            } else {
                'L'
            };
            for &(at, h, ch) in &s.glyphs {
                let (x0, x1) = (at[0] / s.spacing, (at[0] + h * 5.0 / 7.0) / s.spacing);
                let inside = x0 >= f.x0 as f64 && x1 <= f.x1 as f64;
                let outside = x1 <= f.x0 as f64 || x0 >= f.x1 as f64;
                assert!(inside || outside, "image {i}: letter {ch} cut by the crop");
                if ch == own {
                    with_letter += 1;
                    kept += inside as usize;
                } else {
                    assert!(
                        outside,
                        "image {i}: the other side's letter {ch} in the crop"
                    );
                }
            }
        }
        assert!(
            with_letter > 20 && kept == with_letter,
            "{kept} of {with_letter}"
        );
    }
}
