//! The paper's method on one radiograph: scale, tile, detect (two SSDs), select per
//! detector, merge (Algorithm 1), then name the joints.

pub mod bbox;
pub mod detector;
pub mod ensemble;
pub mod gate;
pub mod laterality;
pub mod naming;
pub mod recover;
pub mod scale;
pub mod select;
pub mod window;

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu};

use crate::analysis::{
    Assessment, DroppedBox, FindingLabel, HandReport, Joint, ModelsInfo, ScaleInfo, Timing,
};
use crate::image::Radiograph;
use crate::model::calibration::Calibration;
use crate::model::manifest::Finding;
use bbox::BBox;
use detector::{Detector, SessionOptions};
use ensemble::Merged;
use laterality::View;
use naming::{BoxRole, HandCount, JointId};
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
    /// How a hand is displayed when no attribute says (`laterality`).
    pub default_view: View,
    /// Refuse films that are not frontal hand films or that the hand model does not fit.
    pub quality_gate: bool,
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
            default_view: View::Dorsal,
            quality_gate: true,
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
            format!("default_view={}", self.default_view.as_str()),
            format!("quality_gate={}", self.quality_gate),
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
    /// Named joints only; none when the film is not assessable.
    pub joints: Vec<Joint>,
    /// Each detector's own selection (B¹ and B² of Algorithm 1), for evaluation.
    pub ankylosis_ssd: Vec<Detection>,
    pub subluxation_ssd: Vec<Detection>,
    pub timing: Timing,
    pub assessment: Assessment,
    /// The hands found, left to right on the image.
    pub hands: Vec<HandReport>,
    /// Where the film's attributes and the image disagree.
    pub conflicts: Vec<String>,
    /// Final boxes that are not joints, with the reason.
    pub dropped: Vec<DroppedBox>,
    /// The pixel spacing used, and where it came from.
    pub scale: Option<ScaleInfo>,
}

impl Outcome {
    /// A film the gate refused: no joints, the reason.
    fn refused(reason: gate::Reason, timing: Timing, scale: Option<ScaleInfo>) -> Outcome {
        Outcome {
            joints: Vec::new(),
            ankylosis_ssd: Vec::new(),
            subluxation_ssd: Vec::new(),
            timing,
            assessment: Assessment::not_assessable(&reason),
            hands: Vec::new(),
            conflicts: Vec::new(),
            dropped: Vec::new(),
            scale,
        }
    }
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
        let t0 = Instant::now();
        let mut timing = Timing {
            decode: decode_ms,
            ..Timing::default()
        };
        let plan = laterality::plan(&img.attributes);
        if p.quality_gate
            && let Some(reason) = plan.refusal.clone()
        {
            timing.total = decode_ms + ms(t0);
            return Ok(Outcome::refused(reason, timing, None));
        }
        // A one-hand film has half the joints: M1 and M2 per hand.
        let (m1, m2) = match plan.hands {
            HandCount::One => (p.m1.div_ceil(2), p.m2.div_ceil(2)),
            _ => (p.m1, p.m2),
        };
        let target = self.ankylosis.manifest.training_pixel_spacing_mm;
        let mut spacing = match (p.scale, img.pixel_spacing_mm) {
            (ScaleMode::Spacing, _) if target <= 0.0 => Spacing::Fixed,
            (ScaleMode::Fixed, _) => Spacing::Fixed,
            (ScaleMode::Spacing, Some(s)) => Spacing::Known(s),
            (ScaleMode::Spacing, None) => Spacing::Estimated(
                (scale::HAND_FILM_HEIGHT_MM / f64::from(img.height.max(1)))
                    .clamp(scale::ESTIMATE_RANGE_MM.0, scale::ESTIMATE_RANGE_MM.1),
            ),
        };
        let mut passes = 0;
        let (cand_a, cand_s, b1, b2, mut merged, mut layout) = loop {
            passes += 1;
            let (fx, fy) = scale::factors(spacing.mm(), target, p.scale_factor);
            let (cand_a, cand_s) = self.detect(img, fx, fy, &mut timing)?;
            let t = Instant::now();
            let sel = |cand: &[Detection], top_m| {
                select::select(
                    cand,
                    &SelectParams {
                        t_conf: p.t_conf,
                        t_iou: p.t_iou1,
                        top_m,
                    },
                )
            };
            let (b1, b2) = (sel(&cand_a, m1), sel(&cand_s, m2));
            let merged = ensemble::merge(&b1, &b2, p.t_iou2, m1);
            let layout = naming::fit_hands(&boxes_of(&merged), plan.hands);
            timing.postprocess += ms(t);
            // Without spacing the hand's fitted size gives it; detect again at that
            // scale when the guess was off by more than the detectors tolerate.
            if let Spacing::Estimated(mm) = spacing
                && passes < scale::MAX_PASSES
                && let Some(est) = scale::spacing_from_hands(&layout.hands)
                && !scale::close_enough(est, mm)
            {
                spacing = Spacing::Estimated(est);
                continue;
            }
            break (cand_a, cand_s, b1, b2, merged, layout);
        };

        let t = Instant::now();
        let sides_of =
            |hands: &[naming::FittedHand]| laterality::decide(&plan, hands, p.default_view);
        if p.recover_overlapped {
            let namer = |boxes: &[BBox]| {
                let layout = naming::fit_hands(boxes, plan.hands);
                layout.names(&sides_of(&layout.hands).sides)
            };
            let mut names = layout.names(&sides_of(&layout.hands).sides);
            let added = recover::recover(
                &mut merged,
                &mut names,
                &cand_a,
                &cand_s,
                &recover::RecoverParams {
                    t_conf: p.t_conf,
                    t_iou1: p.t_iou1,
                    t_iou2: p.t_iou2,
                    m1,
                    max_joints: match plan.hands {
                        HandCount::One => JointId::all().count() / 2,
                        _ => JointId::all().count(),
                    },
                },
                &namer,
            );
            // Recovery adds boxes (and may drop some): refit only then.
            if added > 0 {
                layout = naming::fit_hands(&boxes_of(&merged), plan.hands);
            }
        }
        let known = spacing.known_mm();
        let sides = sides_of(&layout.hands);
        let refusal = sides
            .refusal
            .clone()
            .or_else(|| gate::check(&layout.hands, known).err());
        let scale_info = spacing.info(passes);
        if p.quality_gate
            && let Some(reason) = refusal
        {
            timing.postprocess += ms(t);
            timing.total = decode_ms + ms(t0);
            let mut out = Outcome::refused(reason, timing, scale_info);
            out.ankylosis_ssd = b1;
            out.subluxation_ssd = b2;
            return Ok(out);
        }
        let names = layout.names(&sides.sides);
        let cal_a = self.ankylosis.manifest.calibration();
        let cal_s = self.subluxation.manifest.calibration();
        let mut joints = Vec::new();
        let mut dropped = Vec::new();
        for ((m, id), role) in merged.iter().zip(names).zip(&layout.roles) {
            let Some(id) = id else {
                dropped.push(DroppedBox {
                    bbox: m.bbox,
                    score: m.score,
                    reason: match role {
                        BoxRole::Landmark { landmark, .. } => {
                            format!("off the MCP and PIP/IP rows: {}", landmark.describe())
                        }
                        _ => "not placed on a joint by the hand model".to_string(),
                    },
                });
                continue;
            };
            joints.push(joint(m, id, &cal_a, &cal_s));
        }
        let hands = layout
            .hands
            .iter()
            .zip(&sides.sides)
            .zip(&sides.from)
            .map(|((h, side), from)| HandReport {
                side: side.letter().to_string(),
                side_from: from.clone(),
                joints: joints
                    .iter()
                    .filter(|j| j.id.is_some_and(|i| i.side == *side))
                    .count(),
                rotation_deg: h.rotation_deg,
                fit_rms_mm: h.rms_mm,
                size: known.map(|sp| h.relative_size(sp)),
                thumb_margin: h.chirality_margin.is_finite().then_some(h.chirality_margin),
                aspect: h.aspect,
            })
            .collect();
        timing.postprocess += ms(t);
        timing.total = decode_ms + ms(t0);
        Ok(Outcome {
            joints,
            ankylosis_ssd: b1,
            subluxation_ssd: b2,
            timing,
            assessment: Assessment::assessable(),
            hands,
            conflicts: sides.conflicts,
            dropped,
            scale: scale_info,
        })
    }

    /// Tiles the image scaled by (fx, fy) and runs both detectors on every window: each
    /// detector's candidates above t_conf, in source pixels.
    fn detect(
        &self,
        img: &Radiograph,
        fx: f64,
        fy: f64,
        timing: &mut Timing,
    ) -> Result<(Vec<Detection>, Vec<Detection>)> {
        let p = &self.params;
        let m = &self.ankylosis.manifest;
        let t0 = Instant::now();
        let scaled = scale::resample(img, fx, fy);
        let size = m.input_size as usize;
        let windows = window::windows(scaled.width, scaled.height, size, p.stride);
        timing.preprocess += ms(t0);

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
            timing.preprocess += ms(t);
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
            timing.inference += ms(t);
        }
        let t = Instant::now();
        let (w, h) = (img.width as f32, img.height as f32);
        // Scaled-image pixels to source pixels, clipped to the film.
        let to_source = |d: &mut Detection| d.bbox = scaled.to_source(d.bbox, w, h);
        cand_a.iter_mut().for_each(to_source);
        cand_s.iter_mut().for_each(to_source);
        timing.postprocess += ms(t);
        Ok((cand_a, cand_s))
    }
}

/// The pixel spacing the detectors' scale is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spacing {
    /// `scale = "fixed"`, or a model without a training spacing: `scale_factor`.
    Fixed,
    /// (row, column) mm from the file.
    Known((f64, f64)),
    /// Estimated: first from the image height, then from the hand.
    Estimated(f64),
}

impl Spacing {
    /// (row, column) mm, `None` for `Fixed`.
    fn mm(self) -> Option<(f64, f64)> {
        match self {
            Spacing::Fixed => None,
            Spacing::Known(s) => Some(s),
            Spacing::Estimated(mm) => Some((mm, mm)),
        }
    }

    /// The file's spacing, one value (what the hand's size is judged by).
    fn known_mm(self) -> Option<f64> {
        match self {
            Spacing::Known((row, col)) => Some(0.5 * (row + col)),
            _ => None,
        }
    }

    fn info(self, passes: usize) -> Option<ScaleInfo> {
        let (mm, from) = match self {
            Spacing::Fixed => return None,
            Spacing::Known(_) => (
                self.known_mm()?,
                "Pixel Spacing (0028,0030), else Imager Pixel Spacing (0018,1164)",
            ),
            Spacing::Estimated(mm) => (
                mm,
                "estimated from the hand's size (the film has no pixel spacing)",
            ),
        };
        Some(ScaleInfo {
            pixel_spacing_mm: mm,
            from: from.into(),
            passes,
        })
    }
}

/// The boxes of merged detections, in order.
fn boxes_of(merged: &[Merged]) -> Vec<BBox> {
    merged.iter().map(|m| m.bbox).collect()
}

/// A named joint of the result from its merged box; each finding's label and probability
/// come from the calibration of the detector that saw it (`cal_a`: ankylosis, `cal_s`:
/// subluxation).
fn joint(m: &Merged, id: JointId, cal_a: &Calibration, cal_s: &Calibration) -> Joint {
    let label = |d: Option<Detection>, cal: &Calibration| match d {
        Some(d) => FindingLabel {
            present: cal.is_present(d.absent, d.present),
            probability: cal.probability(d.absent, d.present),
        },
        None => FindingLabel {
            present: false,
            probability: 0.0,
        },
    };
    Joint {
        id: Some(id),
        bbox: m.bbox,
        score: m.score,
        ankylosis: label(m.ankylosis, cal_a),
        subluxation: if id.is_thumb_ip() {
            None
        } else {
            Some(label(m.subluxation, cal_s))
        },
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
