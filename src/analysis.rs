//! The result of analysing one radiograph: plain data handed from the pipeline to the
//! reports (JSON, overlay PNG, SR, GSPS), so that reports never reach back into the pipeline.
//!
//! Serialised as the `rajoints analyze` JSON contract (issue 2): field names are part of it.

use serde::{Deserialize, Serialize};

use crate::model::calibration::{DEFAULT_PRESENT_THRESHOLD, DEFAULT_TEMPERATURE};
use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::JointId;

/// Everything known about one analysed radiograph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    pub source: SourceInfo,
    pub models: ModelsInfo,
    /// Whether the film could be read, and why not (issue 14). A film that is not
    /// assessable has no joints.
    #[serde(default)]
    pub assessment: Assessment,
    /// Final joints after Algorithm 1 and naming, most confident first: named joints only.
    pub joints: Vec<Joint>,
    /// The hands found, left to right on the image, with how their side was decided.
    #[serde(default)]
    pub hands: Vec<HandReport>,
    /// Where the film's attributes and the image disagree (reported, not silently resolved).
    #[serde(default)]
    pub conflicts: Vec<String>,
    /// Final boxes that are not scored joints (DIP, CMC, carpus, radius, ulna, or placed
    /// nowhere by the hand model), with the reason: in the JSON only, never in the SR.
    #[serde(default)]
    pub dropped: Vec<DroppedBox>,
    /// The pixel spacing the detectors' scale came from; `null` with `scale = "fixed"`.
    #[serde(default)]
    pub scale: Option<ScaleInfo>,
    /// The film at a glance: per hand, the joints with each finding (the SR's report-level
    /// Qualitative Evaluations say the same). Made from the fields above by
    /// [`Summary::of`]; refresh it with [`Analysis::refresh_summary`] after changing them.
    #[serde(default)]
    pub summary: Summary,
    /// The film's Study Date, `YYYY-MM-DD`, when known: a later film's comparison with
    /// this one needs it for the interval.
    #[serde(default)]
    pub study_date: Option<String>,
    /// The comparison with the patient's prior result (issue 19); `null` when none was
    /// looked for.
    #[serde(default)]
    pub change: Option<crate::change::Change>,
    pub timing_ms: Timing,
}

impl Analysis {
    /// The analysis of one image from the pipeline's outcome.
    pub fn new(source: SourceInfo, models: ModelsInfo, o: crate::pipeline::Outcome) -> Self {
        Analysis {
            source,
            models,
            assessment: o.assessment,
            joints: o.joints,
            hands: o.hands,
            conflicts: o.conflicts,
            dropped: o.dropped,
            scale: o.scale,
            summary: Summary::default(),
            study_date: None,
            change: None,
            timing_ms: o.timing,
        }
        .with_summary()
    }

    /// This analysis with its summary made from its joints and assessment.
    pub fn with_summary(mut self) -> Self {
        self.refresh_summary();
        self
    }

    pub fn refresh_summary(&mut self) {
        self.summary = Summary::of(self);
    }
}

/// The film at a glance (issue 18): whether it was assessable, and for each hand the
/// joints with ankylosis and with subluxation/dislocation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub assessable: bool,
    /// Why the film was not assessed (as `assessment.reason`); `null` when it was.
    pub not_assessable_reason: Option<String>,
    /// The hands in the order of `hands` (left to right on the film), then any side that
    /// only the joints name.
    pub hands: Vec<HandSummary>,
}

/// One hand of the summary; the lists hold joint names in anatomical order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HandSummary {
    /// `R` or `L`.
    pub side: String,
    /// Named joints of this hand in the result.
    pub joints: usize,
    pub ankylosis: Vec<String>,
    pub subluxation: Vec<String>,
}

impl Summary {
    pub fn of(a: &Analysis) -> Summary {
        let mut sides: Vec<String> = a.hands.iter().map(|h| h.side.clone()).collect();
        let mut named: Vec<(JointId, &Joint)> =
            a.joints.iter().filter_map(|j| Some((j.id?, j))).collect();
        named.sort_by_key(|(id, _)| *id);
        for (id, _) in &named {
            let side = id.side.letter().to_string();
            if !sides.contains(&side) {
                sides.push(side);
            }
        }
        sides.dedup();
        let hands = sides
            .into_iter()
            .map(|side| {
                let mine: Vec<&(JointId, &Joint)> = named
                    .iter()
                    .filter(|(id, _)| id.side.letter().to_string() == side)
                    .collect();
                let with = |f: fn(&Joint) -> bool| -> Vec<String> {
                    mine.iter()
                        .filter(|(_, j)| f(j))
                        .map(|(id, _)| id.to_string())
                        .collect()
                };
                HandSummary {
                    joints: mine.len(),
                    ankylosis: with(|j| j.ankylosis.present),
                    subluxation: with(|j| j.subluxation.is_some_and(|l| l.present)),
                    side,
                }
            })
            .collect();
        Summary {
            assessable: a.assessment.assessable,
            not_assessable_reason: a.assessment.reason.clone(),
            hands,
        }
    }
}

/// Whether the film could be assessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub assessable: bool,
    /// Machine-readable reason when not assessable (`gate::Reason::code`).
    pub code: Option<String>,
    /// The reason in words.
    pub reason: Option<String>,
}

impl Default for Assessment {
    fn default() -> Self {
        Assessment::assessable()
    }
}

impl Assessment {
    pub fn assessable() -> Self {
        Assessment {
            assessable: true,
            code: None,
            reason: None,
        }
    }

    pub fn not_assessable(reason: &crate::pipeline::gate::Reason) -> Self {
        Assessment {
            assessable: false,
            code: Some(reason.code().to_string()),
            reason: Some(reason.to_string()),
        }
    }
}

/// One hand on the film.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandReport {
    /// `R` or `L`.
    pub side: String,
    /// What decided the side, e.g. "Laterality (0020,0060)".
    pub side_from: String,
    /// Named joints of this hand in the result.
    pub joints: usize,
    /// Rotation from fingers-up, degrees, positive clockwise.
    pub rotation_deg: f32,
    /// Root mean square distance of its joints from the hand model, model millimetres.
    pub fit_rms_mm: f32,
    /// Size relative to the model's adult hand, when the film has a pixel spacing.
    pub size: Option<f32>,
    /// How much worse the hand model fits mirrored (squared model mm): the evidence for
    /// the thumb side; `null` where the layout imposed it (two hands, thumbs to the middle).
    pub thumb_margin: Option<f32>,
    /// Width over length of the joints' layout against the hand model's (about 1).
    pub aspect: f32,
}

/// A final box that is not a scored joint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedBox {
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
    pub reason: String,
}

/// The pixel spacing used to scale the film for the detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleInfo {
    pub pixel_spacing_mm: f64,
    pub from: String,
    /// Detection passes run (more than one when the spacing was estimated).
    pub passes: usize,
}

/// The input image as read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The path given on the command line (or the spool file name in the node).
    pub file: String,
    /// SOP Instance UID for DICOM input; `null` for PNG.
    pub sop_instance_uid: Option<String>,
    pub rows: u32,
    pub columns: u32,
}

/// Identity of the two detectors that produced the result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelsInfo {
    pub ankylosis: ModelInfo,
    pub subluxation: ModelInfo,
}

/// Identity of one detector, copied from its manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// The manifest's `temperature` (issue 17); 1 in reports written before it.
    #[serde(default = "crate::model::calibration::default_temperature")]
    pub temperature: f64,
    /// The manifest's `present_threshold` (issue 17); 0.5 in reports written before it.
    #[serde(default = "crate::model::calibration::default_present_threshold")]
    pub present_threshold: f64,
}

impl ModelInfo {
    /// Whether the finding probabilities are calibrated other than by the defaults.
    pub fn is_calibrated(&self) -> bool {
        self.temperature != DEFAULT_TEMPERATURE
            || self.present_threshold != DEFAULT_PRESENT_THRESHOLD
    }
}

/// One finger joint found on the image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Joint {
    /// Anatomical name (`R-PIP2`, `L-MCP1`, `R-IP1`, ...) or `null` when naming was not confident.
    pub id: Option<JointId>,
    /// `[x0, y0, x1, y1]` in full-resolution source pixels, pixel-edge convention.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Confidence ĉ = max(c_absent, c_present) of the box kept (paper, "Individual SSD predictions").
    pub score: f32,
    pub ankylosis: FindingLabel,
    /// `null` for the thumb IP joint, which the paper's subluxation detector does not score.
    pub subluxation: Option<FindingLabel>,
}

/// One special-finding label of a joint.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct FindingLabel {
    pub present: bool,
    /// Calibrated probability that the finding is present (`model::calibration`: the
    /// detector's present/absent scores, temperature-scaled); `present` is this above the
    /// manifest's `present_threshold`. 0 when the label is the ensemble's negative class
    /// c_neg (the detector for this finding did not see the joint).
    pub probability: f32,
}

/// Wall time of each stage, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Timing {
    pub decode: f64,
    pub preprocess: f64,
    pub inference: f64,
    pub postprocess: f64,
    pub total: f64,
}
