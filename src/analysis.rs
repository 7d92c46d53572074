//! The result of analysing one radiograph: plain data handed from the pipeline to the
//! reports (JSON, overlay PNG, SR, GSPS), so that reports never reach back into the pipeline.
//!
//! Serialised as the `rajoints analyze` JSON contract (issue 2): field names are part of it.

use serde::{Deserialize, Serialize};

use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::JointId;

/// Everything known about one analysed radiograph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    pub source: SourceInfo,
    pub models: ModelsInfo,
    /// Final joints after Algorithm 1 and naming, most confident first.
    pub joints: Vec<Joint>,
    pub timing_ms: Timing,
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
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
    /// Softmax probability of the "present" class; 0 when the label is the ensemble's
    /// negative class c_neg (the detector for this finding did not see the joint).
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
