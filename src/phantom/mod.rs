//! Synthetic RA hand radiographs with ground truth (`rajoints phantom`, issue 3).
//!
//! Each image is a PA computed radiograph of both hands on one film (2010 x 1670 pixels,
//! 10 bits), formed physically: the path lengths of X-rays through soft tissue, cortical
//! and trabecular bone and metal are accumulated (Beer-Lambert), then the exposure is
//! scattered, made noisy, blurred, logged and processed like a CR reader does
//! (docs/phantom.md). Its ground truth is the box and the findings of each of the 20
//! scored joints (`rajoints-annotations/1`, [`crate::annotations`]).
//!
//! Patients come in pairs of studies (time points 0 and 1) like the paper's: same
//! anatomy, new positioning, the disease a little further on. Image `i` is time point
//! `i % 2` of patient `i / 2`.
//!
//! Everything random is drawn from streams derived from the seed and the image's indices
//! (`rng.rs`), and every pixel is computed with IEEE-exact operations (`math.rs`), so the
//! same options give byte-identical files on any machine and any number of threads.
//!
//! Modules: `patient` draws anatomy, disease and labels; `scene` poses and places the
//! hands and computes the ground truth; `raster` and `soft` accumulate attenuation;
//! `film` forms the image; `dicom` writes the CR file.

mod dicom;
mod film;
mod math;
mod patient;
mod raster;
mod rng;
mod scene;
mod soft;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use snafu::{ResultExt, Snafu, ensure};

use crate::annotations::{AnnotatedImage, AnnotatedJoint, Annotations, FORMAT};
use crate::image::Radiograph;
use crate::pipeline::bbox::BBox;
use crate::pipeline::laterality::FilmAttributes;
use crate::pipeline::naming::JointId;

pub use scene::Condition;

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
}

impl Default for PhantomOptions {
    fn default() -> Self {
        PhantomOptions {
            count: 260,
            seed: 0,
            ankylosis_rate: ANKYLOSIS_RATE,
            subluxation_rate: SUBLUXATION_RATE,
            monochrome1: false,
        }
    }
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    /// A rate is not a probability.
    #[snafu(display("{name} must be a probability in [0, 1], got {value}"))]
    InvalidRate { name: &'static str, value: f64 },
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
    pub pixel_spacing_mm: f64,
    pub monochrome1: bool,
    pub joints: Vec<JointGeometry>,
}

impl Phantom {
    /// The image in display space (bone bright), as the decoder would give it.
    pub fn radiograph(&self) -> Radiograph {
        let pixels = self
            .stored
            .iter()
            .map(|&v| {
                let v = f32::from(v) / 1023.0;
                if self.monochrome1 { 1.0 - v } else { v }
            })
            .collect();
        Radiograph {
            width: self.width,
            height: self.height,
            pixels,
            pixel_spacing_mm: Some((self.pixel_spacing_mm, self.pixel_spacing_mm)),
            attributes: FilmAttributes::default(),
        }
    }
}

fn check(opts: &PhantomOptions) -> Result<(), Error> {
    for (name, value) in [
        ("ankylosis rate", opts.ankylosis_rate),
        ("subluxation rate", opts.subluxation_rate),
    ] {
        ensure!(
            (0.0..=1.0).contains(&value),
            InvalidRateSnafu { name, value }
        );
    }
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
    )
}

/// The scene and the annotation of image `index`, without pixels.
fn plan(
    opts: &PhantomOptions,
    index: usize,
    overrides: scene::Overrides,
) -> (patient::Patient, scene::Scene, AnnotatedImage) {
    let (p, tp) = (index / 2, index % 2);
    let patient = patient_of(opts, p);
    let mut rng = rng::Rng::new(rng::derive(
        opts.seed,
        &[rng::tag::IMAGE, p as u64, tp as u64],
    ));
    let scene = scene::build(&patient, tp, &mut rng, overrides);
    let (w, h) = (scene::WIDTH as f32, scene::HEIGHT as f32);
    let sp = scene.spacing;
    let round = |v: f64| ((v * 100.0).round() / 100.0) as f32;
    let joints = scene
        .joints
        .iter()
        .map(|j| {
            let (cx, cy, half) = (j.centre[0] / sp, j.centre[1] / sp, j.side / sp / 2.0);
            AnnotatedJoint {
                joint: j.id,
                bbox: BBox::new(
                    round(cx - half),
                    round(cy - half),
                    round(cx + half),
                    round(cy + half),
                )
                .clamp_to(w, h),
                ankylosis: j.ankylosis,
                subluxation: j.subluxation,
            }
        })
        .collect();
    let image = AnnotatedImage {
        file: format!("images/{}", file_name(index)),
        sop_instance_uid: dicom::sop_instance_uid(opts.seed, p, tp),
        patient_id: dicom::patient_id(p),
        timepoint: tp as u32,
        width: scene::WIDTH as u32,
        height: scene::HEIGHT as u32,
        annotator: annotator(),
        joints,
    };
    (patient, scene, image)
}

/// The ground truth of every image, without rendering (fast: geometry only). Equal to
/// what [`generate`] writes.
pub fn annotate(opts: &PhantomOptions) -> Result<Annotations, Error> {
    check(opts)?;
    Ok(Annotations {
        format: FORMAT.to_string(),
        images: (0..opts.count).map(|i| plan(opts, i, &[]).2).collect(),
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
    let (patient, scene, annotation) = plan(opts, index, overrides);
    let (p, tp) = (index / 2, index % 2);
    let mut rng = rng::Rng::new(rng::derive(
        opts.seed,
        &[rng::tag::PIXELS, p as u64, tp as u64],
    ));
    let display = render_scene(&scene, &mut rng);
    let stored = display
        .iter()
        .map(|&v| {
            // Display values are already clamped to [0, 1]; +0.5 and truncation round.
            let s = (v.clamp(0.0, 1.0) * 1023.0 + 0.5) as u16;
            if opts.monochrome1 { 1023 - s } else { s }
        })
        .collect();
    let sp = scene.spacing;
    let joints = scene
        .joints
        .iter()
        .map(|j| JointGeometry {
            id: j.id,
            centre: ((j.centre[0] / sp) as f32, (j.centre[1] / sp) as f32),
            axis: (j.axis[0] as f32, j.axis[1] as f32),
            gap: (j.gap / sp) as f32,
            conditions: j.conditions.clone(),
        })
        .collect();
    let _ = patient;
    Ok(Phantom {
        annotation,
        stored,
        width: scene::WIDTH as u32,
        height: scene::HEIGHT as u32,
        pixel_spacing_mm: sp,
        monochrome1: opts.monochrome1,
        joints,
    })
}

/// Attenuation, film and processing: display values in [0, 1].
fn render_scene(s: &scene::Scene, rng: &mut rng::Rng) -> Vec<f32> {
    let mut canvas = raster::Canvas::new(scene::WIDTH, scene::HEIGHT, s.spacing);
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
    for sl in &s.slabs {
        raster::draw_slab(&mut canvas, sl);
    }
    for r in &s.rings {
        raster::draw_ring(&mut canvas, r);
    }
    for &(at, h, ch) in &s.glyphs {
        raster::draw_glyph(&mut canvas, at, h, ch, 1.5, raster::mu::LEAD);
    }
    film::expose(&mut canvas, &s.exposure, rng);
    if let Some(label) = &s.label {
        burn_label(&mut canvas.a, canvas.width, canvas.height, label);
    }
    canvas.a
}

/// A printed label: a filled box with text, in display values.
fn burn_label(img: &mut [f32], w: usize, h: usize, l: &scene::TextLabel) {
    let sc = l.scale;
    let cols = l.lines.iter().map(|s| s.len()).max().unwrap_or(0);
    let (bw, bh) = ((cols * 6 + 4) * sc, (l.lines.len() * 9 + 2) * sc);
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
    let id = dicom::Identity {
        seed: opts.seed,
        patient: &patient,
        timepoint: tp,
        patient_id: phantom.annotation.patient_id.clone(),
        sop_instance_uid: phantom.annotation.sop_instance_uid.clone(),
        spacing: phantom.pixel_spacing_mm,
        kvp: (50.0 + (1.15 - site.bone_contrast as f64) * 40.0).round(),
        monochrome1: opts.monochrome1,
        burned_in_label: site.label,
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
