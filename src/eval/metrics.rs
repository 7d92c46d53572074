//! The paper's measures (Tables 1-3): detection rate, and for each finding accuracy,
//! precision, recall, specificity, F-value and the mean IoU of the matched boxes.

use serde::Serialize;

use super::lookalike::{ByJointType, FalseBoxes, FalseFindings, Jsn4};

/// Confusion counts of one finding over matched joints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Confusion {
    pub fn add(&mut self, predicted: bool, truth: bool) {
        match (predicted, truth) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    pub fn merge(&mut self, o: &Confusion) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.tn += o.tn;
        self.fn_ += o.fn_;
    }

    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// Ratios; a ratio whose denominator is zero is `None` (shown as "-"), not 0 or NaN.
    pub fn scores(&self) -> Scores {
        let r = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        let precision = r(self.tp, self.tp + self.fp);
        let recall = r(self.tp, self.tp + self.fn_);
        let f_value = match (precision, recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        Scores {
            accuracy: r(self.tp + self.tn, self.total()),
            precision,
            recall,
            specificity: r(self.tn, self.tn + self.fp),
            f_value,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub specificity: Option<f64>,
    pub f_value: Option<f64>,
}

/// Everything measured on a set of images.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measures {
    pub images: u64,
    pub joints: u64,
    pub detected: u64,
    /// Predictions that matched no ground-truth joint.
    pub false_detections: u64,
    /// Detected joints whose predicted name is the true one (beyond the paper: the node
    /// names every box, and a wrong name puts a finding on the wrong joint of the report).
    pub named: u64,
    pub ankylosis: Confusion,
    pub subluxation: Confusion,
    /// Annotated joints with ankylosis present, and with subluxation present (detected or
    /// not), so that a finding's recall can be taken over all its joints, not only over the
    /// detected ones that the confusion counts see.
    pub ankylosis_positive: u64,
    pub subluxation_positive: u64,
    /// Annotated joints with a finding present (ankylosis or subluxation: the destroyed
    /// joints that a detector trained on mostly normal joints tends to miss) ...
    pub finding_joints: u64,
    /// ... and those of them that a prediction matched and flagged with a finding the
    /// joint has.
    pub finding_flagged: u64,
    /// Sum of the IoU of matched boxes (mean = iou_sum / detected).
    pub iou_sum: f64,
    /// Issue 16 (src/eval/lookalike.rs): the measures above per joint type, ...
    pub by_joint_type: ByJointType,
    /// ... the false boxes by the look-alike they land on, ...
    pub false_boxes: FalseBoxes,
    /// ... flags on matched joints without a finding by JSN grade and overlap, ...
    pub false_findings: FalseFindings,
    /// ... and the JSN-4 joints found and flagged.
    pub jsn4: Jsn4,
}

impl Measures {
    pub fn merge(&mut self, o: &Measures) {
        self.images += o.images;
        self.joints += o.joints;
        self.detected += o.detected;
        self.false_detections += o.false_detections;
        self.named += o.named;
        self.ankylosis.merge(&o.ankylosis);
        self.subluxation.merge(&o.subluxation);
        self.ankylosis_positive += o.ankylosis_positive;
        self.subluxation_positive += o.subluxation_positive;
        self.finding_joints += o.finding_joints;
        self.finding_flagged += o.finding_flagged;
        self.iou_sum += o.iou_sum;
        self.by_joint_type.merge(&o.by_joint_type);
        self.false_boxes.merge(&o.false_boxes);
        self.false_findings.merge(&o.false_findings);
        self.jsn4.merge(&o.jsn4);
    }

    pub fn detection_rate(&self) -> Option<f64> {
        (self.joints > 0).then(|| self.detected as f64 / self.joints as f64)
    }

    /// Recall over the joints with a finding: found and flagged with a finding they have,
    /// over all annotated joints with a finding (missed joints count against it).
    pub fn finding_recall(&self) -> Option<f64> {
        (self.finding_joints > 0).then(|| self.finding_flagged as f64 / self.finding_joints as f64)
    }

    /// Share of the detected joints that carry their true name.
    pub fn named_rate(&self) -> Option<f64> {
        (self.detected > 0).then(|| self.named as f64 / self.detected as f64)
    }

    pub fn mean_iou(&self) -> Option<f64> {
        (self.detected > 0).then(|| self.iou_sum / self.detected as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_from_hand_counted_confusion() {
        // tp 8, fp 2, tn 85, fn 5: accuracy 93/100, precision 0.8, recall 8/13,
        // specificity 85/87, F = 2 * 0.8 * (8/13) / (0.8 + 8/13) = 16/23.
        let c = Confusion {
            tp: 8,
            fp: 2,
            tn: 85,
            fn_: 5,
        };
        let s = c.scores();
        assert_eq!(s.accuracy, Some(0.93));
        assert_eq!(s.precision, Some(0.8));
        assert!((s.recall.unwrap() - 8.0 / 13.0).abs() < 1e-12);
        assert!((s.specificity.unwrap() - 85.0 / 87.0).abs() < 1e-12);
        assert!((s.f_value.unwrap() - 16.0 / 23.0).abs() < 1e-12);
    }

    #[test]
    fn undefined_ratios_are_none() {
        let s = Confusion {
            tp: 0,
            fp: 0,
            tn: 10,
            fn_: 0,
        }
        .scores();
        assert_eq!((s.precision, s.recall, s.f_value), (None, None, None));
        assert_eq!(s.specificity, Some(1.0));
        assert_eq!(Confusion::default().scores().accuracy, None);
    }
}
