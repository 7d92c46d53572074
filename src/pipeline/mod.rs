//! The paper's method on one radiograph: scale, tile, detect (two SSDs), select per
//! detector, merge (Algorithm 1), then name the joints.

pub mod bbox;
pub mod detector;
pub mod ensemble;
pub mod naming;
pub mod recover;
pub mod scale;
pub mod select;
pub mod window;

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu};

use crate::analysis::{FindingLabel, Joint, ModelsInfo, Timing};
use crate::image::Radiograph;
use crate::model::manifest::Finding;
use detector::{Detector, SessionOptions};
use select::{Detection, SelectParams};

/// Parameters of the method; defaults are the paper's (see `rajoints.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineParams {
    pub stride: usize,
    pub t_conf: f32,
    pub t_iou1: f32,
    pub m1: usize,
    pub m2: usize,
    pub t_iou2: f32,
    pub batch_size: usize,
    pub scale: ScaleMode,
    pub scale_factor: f64,
    pub max_pixels: u64,
    /// Put back joints that NMS removed behind an overlapping joint, where the hand model
    /// has an empty place for them (`recover`; the paper's proposed remedy for its Fig. 5b).
    pub recover_overlapped: bool,
}

impl Default for PipelineParams {
    fn default() -> Self {
        PipelineParams {
            stride: 150,
            t_conf: 0.9,
            t_iou1: 0.15,
            m1: 20,
            m2: 18,
            t_iou2: 0.45,
            batch_size: 8,
            scale: ScaleMode::Spacing,
            scale_factor: 0.5,
            max_pixels: crate::dicom::decode::DEFAULT_MAX_PIXELS,
            recover_overlapped: true,
        }
    }
}

impl PipelineParams {
    /// The parameters as `key=value` strings, for the SR's Algorithm Parameters (TID 4019).
    pub fn algorithm_parameters(&self) -> Vec<String> {
        vec![
            format!("stride={}", self.stride),
            format!("t_conf={}", self.t_conf),
            format!("t_iou1={}", self.t_iou1),
            format!("m1={}", self.m1),
            format!("m2={}", self.m2),
            format!("t_iou2={}", self.t_iou2),
            format!(
                "scale={}",
                match self.scale {
                    ScaleMode::Spacing => "spacing",
                    ScaleMode::Fixed => "fixed",
                }
            ),
            format!("scale_factor={}", self.scale_factor),
            format!("recover_overlapped={}", self.recover_overlapped),
        ]
    }
}

/// How the radiograph is scaled before tiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleMode {
    /// To the model's training pixel spacing when both it and the image's are known.
    Spacing,
    /// Always by `scale_factor`.
    Fixed,
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not load the {finding} detector from {path}"))]
    LoadDetector {
        finding: &'static str,
        path: String,
        #[snafu(source(from(detector::Error, Box::new)))]
        source: Box<detector::Error>,
    },
    #[snafu(display("the two detectors disagree on {what}; they must share one input format"))]
    Mismatch { what: &'static str },
    #[snafu(display("detection failed"))]
    Detect {
        #[snafu(source(from(detector::Error, Box::new)))]
        source: Box<detector::Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The two detectors and the parameters of the method.
#[derive(Debug)]
pub struct Pipeline {
    pub ankylosis: Detector,
    pub subluxation: Detector,
    pub params: PipelineParams,
    pub concurrent: bool,
}

/// The joints found on one radiograph, with stage timings.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub joints: Vec<Joint>,
    /// Each detector's own selection (B¹ and B² of Algorithm 1), for evaluation.
    pub ankylosis_ssd: Vec<Detection>,
    pub subluxation_ssd: Vec<Detection>,
    pub timing: Timing,
}

impl Pipeline {
    /// Loads both detectors. They must share input size, normalisation and training
    /// spacing, so that each batch of windows is prepared once and fed to both.
    pub fn load(
        ankylosis: &Path,
        subluxation: &Path,
        ort_library: Option<&Path>,
        session: SessionOptions,
        params: PipelineParams,
        concurrent: bool,
    ) -> Result<Pipeline> {
        let load = |p: &Path, f: Finding| {
            Detector::load(p, f, ort_library, session).context(LoadDetectorSnafu {
                finding: f.as_str(),
                path: p.display().to_string(),
            })
        };
        let a = load(ankylosis, Finding::Ankylosis)?;
        let s = load(subluxation, Finding::Subluxation)?;
        let (ma, ms) = (&a.manifest, &s.manifest);
        snafu::ensure!(
            ma.input_size == ms.input_size,
            MismatchSnafu { what: "input_size" }
        );
        snafu::ensure!(
            ma.mean == ms.mean && ma.std == ms.std,
            MismatchSnafu { what: "mean/std" }
        );
        snafu::ensure!(
            ma.training_pixel_spacing_mm == ms.training_pixel_spacing_mm,
            MismatchSnafu {
                what: "training_pixel_spacing_mm"
            }
        );
        Ok(Pipeline {
            ankylosis: a,
            subluxation: s,
            params,
            concurrent,
        })
    }

    pub fn models(&self) -> ModelsInfo {
        ModelsInfo {
            ankylosis: self.ankylosis.manifest.info(),
            subluxation: self.subluxation.manifest.info(),
        }
    }

    /// Runs the method on `img`. `decode_ms` is added to the timings as given.
    pub fn analyze(&self, img: &Radiograph, decode_ms: f64) -> Result<Outcome> {
        let p = &self.params;
        let m = &self.ankylosis.manifest;
        let t0 = Instant::now();
        let target = match p.scale {
            ScaleMode::Spacing => m.training_pixel_spacing_mm,
            ScaleMode::Fixed => 0.0,
        };
        let (fx, fy) = scale::factors(img.pixel_spacing_mm, target, p.scale_factor);
        let scaled = scale::resample(img, fx, fy);
        let size = m.input_size as usize;
        let windows = window::windows(scaled.width, scaled.height, size, p.stride);
        let mut prep_ms = ms(t0);
        let mut infer_ms = 0.0;

        // Zero padding in display space (black), as the paper pads the X-ray image.
        let pad = 0.0f32;
        let mut input = Vec::with_capacity(p.batch_size * 3 * size * size);
        let (mut cand_a, mut cand_s) = (Vec::new(), Vec::new());
        for batch in windows.chunks(p.batch_size) {
            let t = Instant::now();
            input.clear();
            for w in batch {
                window::append_normalised(
                    &scaled.pixels,
                    scaled.width,
                    scaled.height,
                    *w,
                    size,
                    pad,
                    &m.mean,
                    &m.std,
                    &mut input,
                );
            }
            prep_ms += ms(t);
            let t = Instant::now();
            let (a, s) = if self.concurrent {
                std::thread::scope(|sc| {
                    let h = sc.spawn(|| self.subluxation.run_batch(&input, batch, p.t_conf));
                    let a = self.ankylosis.run_batch(&input, batch, p.t_conf);
                    // A panic in ONNX Runtime's thread is a bug, not input: surface it.
                    let s = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                    (a, s)
                })
            } else {
                (
                    self.ankylosis.run_batch(&input, batch, p.t_conf),
                    self.subluxation.run_batch(&input, batch, p.t_conf),
                )
            };
            cand_a.extend(a.context(DetectSnafu)?);
            cand_s.extend(s.context(DetectSnafu)?);
            infer_ms += ms(t);
        }

        let t = Instant::now();
        let (w, h) = (img.width as f32, img.height as f32);
        // Scaled-image pixels to source pixels, clipped to the film.
        let to_source = |d: &mut Detection| d.bbox = scaled.to_source(d.bbox, w, h);
        cand_a.iter_mut().for_each(to_source);
        cand_s.iter_mut().for_each(to_source);
        let b1 = select::select(
            &cand_a,
            &SelectParams {
                t_conf: p.t_conf,
                t_iou: p.t_iou1,
                top_m: p.m1,
            },
        );
        let b2 = select::select(
            &cand_s,
            &SelectParams {
                t_conf: p.t_conf,
                t_iou: p.t_iou1,
                top_m: p.m2,
            },
        );
        let mut merged = ensemble::merge(&b1, &b2, p.t_iou2, p.m1);
        let boxes: Vec<bbox::BBox> = merged.iter().map(|m| m.bbox).collect();
        let mut names = naming::name_joints(&boxes, w, img.orientation);
        if p.recover_overlapped {
            recover::recover(
                &mut merged,
                &mut names,
                &cand_a,
                &cand_s,
                &recover::RecoverParams {
                    t_conf: p.t_conf,
                    t_iou1: p.t_iou1,
                    t_iou2: p.t_iou2,
                    m1: p.m1,
                },
                w,
                img.orientation,
            );
        }
        let joints = merged
            .iter()
            .zip(names)
            .map(|(m, id)| {
                let label = |d: Option<Detection>| match d {
                    Some(d) => FindingLabel {
                        present: d.is_present(),
                        probability: d.present,
                    },
                    None => FindingLabel {
                        present: false,
                        probability: 0.0,
                    },
                };
                Joint {
                    id,
                    bbox: m.bbox,
                    score: m.score,
                    ankylosis: label(m.ankylosis),
                    subluxation: if id.is_some_and(|i| i.is_thumb_ip()) {
                        None
                    } else {
                        Some(label(m.subluxation))
                    },
                }
            })
            .collect();
        let post_ms = ms(t);
        Ok(Outcome {
            joints,
            ankylosis_ssd: b1,
            subluxation_ssd: b2,
            timing: Timing {
                decode: decode_ms,
                preprocess: prep_ms,
                inference: infer_ms,
                postprocess: post_ms,
                total: decode_ms + ms(t0),
            },
        })
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
