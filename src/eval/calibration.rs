//! Calibration of the node's finding probability (issue 17, Table 8): over detected joints
//! with a label for the finding, how well the predicted probability q matches how often the
//! finding is present. A reliability diagram of 10 equal-width bins, the expected
//! calibration error (ECE) and the Brier score.
//!
//! Bin i holds q in [i/10, (i+1)/10); the last bin also holds q = 1. With n_b joints in
//! bin b and N in all,
//!
//! ```text
//! ECE   = sum_b (n_b / N) |observed_rate_b - mean_probability_b|
//! Brier = mean over joints of (q - y)^2,  y = 1 when the finding is present
//! ```

use serde::Serialize;

use super::Predicted;
use crate::annotations::AnnotatedImage;

/// Bins of the reliability diagram.
pub const BINS: usize = 10;

/// Running sums of one finding's (q, y) pairs; merged sums give the same result as one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reliability {
    count: [u64; BINS],
    /// Sum of q per bin.
    sum_q: [f64; BINS],
    /// Joints with the finding present per bin.
    positives: [u64; BINS],
    /// Sum of (q - y)^2.
    squared_error: f64,
}

impl Reliability {
    /// The bin of q in [0, 1]: floor(10 q), with q = 1 in the last.
    pub fn bin(q: f64) -> usize {
        ((q * BINS as f64).floor() as usize).min(BINS - 1)
    }

    /// Adds one joint: predicted probability `q`, finding present `y`. A q outside [0, 1]
    /// is clamped into it; a q that is not a number is not counted.
    pub fn add(&mut self, q: f32, y: bool) {
        if q.is_nan() {
            return;
        }
        let q = f64::from(q).clamp(0.0, 1.0);
        let b = Self::bin(q);
        self.count[b] += 1;
        self.sum_q[b] += q;
        self.positives[b] += u64::from(y);
        self.squared_error += (q - f64::from(u8::from(y))).powi(2);
    }

    pub fn merge(&mut self, o: &Reliability) {
        for b in 0..BINS {
            self.count[b] += o.count[b];
            self.sum_q[b] += o.sum_q[b];
            self.positives[b] += o.positives[b];
        }
        self.squared_error += o.squared_error;
    }

    /// N: joints counted.
    pub fn n(&self) -> u64 {
        self.count.iter().sum()
    }

    pub fn summary(&self) -> FindingCalibration {
        let n = self.n();
        let bins: Vec<CalibrationBin> = (0..BINS)
            .map(|b| {
                let c = self.count[b];
                let of = |x: f64| (c > 0).then(|| x / c as f64);
                CalibrationBin {
                    lower: b as f64 / BINS as f64,
                    upper: (b + 1) as f64 / BINS as f64,
                    count: c,
                    mean_probability: of(self.sum_q[b]),
                    observed_rate: of(self.positives[b] as f64),
                }
            })
            .collect();
        let ece = (n > 0).then(|| {
            bins.iter()
                .filter_map(|b| {
                    let gap = (b.observed_rate? - b.mean_probability?).abs();
                    Some(b.count as f64 / n as f64 * gap)
                })
                .sum()
        });
        FindingCalibration {
            n,
            ece,
            brier: (n > 0).then(|| self.squared_error / n as f64),
            bins,
        }
    }
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// q from `lower` (included) to `upper` (excluded, but for the last bin).
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
    /// Mean q of the bin; `null` when it is empty.
    pub mean_probability: Option<f64>,
    /// Fraction of the bin's joints with the finding present; `null` when it is empty.
    pub observed_rate: Option<f64>,
}

/// The calibration of one finding's probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingCalibration {
    /// Joints counted.
    pub n: u64,
    /// Expected calibration error; `null` when n = 0.
    pub ece: Option<f64>,
    /// Brier score; `null` when n = 0.
    pub brier: Option<f64>,
    pub bins: Vec<CalibrationBin>,
}

/// Running sums of both findings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reliabilities {
    pub ankylosis: Reliability,
    pub subluxation: Reliability,
}

impl Reliabilities {
    /// Adds the detected joints of one image (`matches`: truth index, prediction index, as
    /// `measure_image` matched them) whose prediction carries a probability for a finding
    /// and whose truth has a label for it.
    pub fn add_image(
        &mut self,
        truth: &AnnotatedImage,
        pred: &[Predicted],
        matches: &[(usize, usize, f32)],
    ) {
        for &(g, k, _) in matches {
            let (gt, pr) = (&truth.joints[g], &pred[k]);
            if let (Some(_), Some(q)) = (pr.ankylosis, pr.ankylosis_probability) {
                self.ankylosis.add(q, gt.ankylosis);
            }
            if let (Some(_), Some(q), Some(y)) =
                (pr.subluxation, pr.subluxation_probability, gt.subluxation)
            {
                self.subluxation.add(q, y);
            }
        }
    }

    pub fn summary(&self) -> CalibrationTable {
        CalibrationTable {
            ankylosis: self.ankylosis.summary(),
            subluxation: self.subluxation.summary(),
        }
    }
}

/// Table 8, as written with `--json` (`calibration`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationTable {
    pub ankylosis: FindingCalibration,
    pub subluxation: FindingCalibration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::AnnotatedJoint;
    use crate::eval::matches_of;
    use crate::pipeline::bbox::BBox;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    #[test]
    fn four_predictions_worked_by_hand() {
        // q = 0.05, 0.15, 0.95, 0.85 with y = 0, 1, 1, 1: bins 0, 1, 9, 8, one each.
        // Gaps |observed - mean|: 0.05, 0.85, 0.05, 0.15; ECE = 1.1 / 4 = 0.275.
        // Brier = (0.0025 + 0.7225 + 0.0025 + 0.0225) / 4 = 0.75 / 4 = 0.1875.
        let mut r = Reliability::default();
        for (q, y) in [(0.05, false), (0.15, true), (0.95, true), (0.85, true)] {
            r.add(q, y);
        }
        let s = r.summary();
        assert_eq!(s.n, 4);
        let counts: Vec<u64> = s.bins.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert!(close(s.ece, 0.275), "{:?}", s.ece);
        assert!(close(s.brier, 0.1875), "{:?}", s.brier);
        assert!(close(s.bins[1].mean_probability, 0.15));
        assert_eq!(s.bins[1].observed_rate, Some(1.0));
        assert_eq!(s.bins[0].observed_rate, Some(0.0));
        assert_eq!(
            (s.bins[4].mean_probability, s.bins[4].observed_rate),
            (None, None)
        );
        assert_eq!((s.bins[9].lower, s.bins[9].upper), (0.9, 1.0));
    }

    #[test]
    fn a_bin_with_mixed_truth() {
        // q = 0.62, 0.66, 0.64 in bin 6, two of three present: mean 0.64, observed 2/3,
        // ECE = |2/3 - 0.64| = 0.026667; Brier = (0.1444 + 0.1156 + 0.4096) / 3 = 0.2232.
        let mut r = Reliability::default();
        for (q, y) in [(0.62, true), (0.66, true), (0.64, false)] {
            r.add(q, y);
        }
        let s = r.summary();
        assert_eq!(s.bins[6].count, 3);
        assert!(close(s.bins[6].mean_probability, 0.64));
        assert!(close(s.ece, 2.0 / 3.0 - 0.64));
        assert!(close(s.brier, 0.2232));
    }

    #[test]
    fn bin_edges() {
        assert_eq!(Reliability::bin(0.0), 0);
        assert_eq!(Reliability::bin(0.099_999), 0);
        assert_eq!(Reliability::bin(0.1), 1);
        assert_eq!(Reliability::bin(0.5), 5);
        assert_eq!(Reliability::bin(0.999_999), 9);
        assert_eq!(Reliability::bin(1.0), 9);
        let mut r = Reliability::default();
        r.add(1.0, true);
        r.add(f32::NAN, true);
        r.add(1.5, true);
        let s = r.summary();
        assert_eq!((s.n, s.bins[9].count), (2, 2));
        assert_eq!((s.ece, s.brier), (Some(0.0), Some(0.0)));
    }

    #[test]
    fn nothing_counted_is_null_and_merging_adds_up() {
        let s = Reliability::default().summary();
        assert_eq!((s.n, s.ece, s.brier), (0, None, None));
        assert_eq!(s.bins.len(), BINS);
        let (mut a, mut b, mut all) = Default::default();
        for (k, (q, y)) in [(0.05, false), (0.15, true), (0.95, true), (0.85, true)]
            .into_iter()
            .enumerate()
        {
            Reliability::add(if k % 2 == 0 { &mut a } else { &mut b }, q, y);
            Reliability::add(&mut all, q, y);
        }
        Reliability::merge(&mut a, &b);
        let (m, w) = (a.summary(), all.summary());
        assert_eq!(
            m.bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            w.bins.iter().map(|b| b.count).collect::<Vec<_>>()
        );
        // Sums in another order: equal up to rounding.
        assert!(close(m.ece, w.ece.unwrap()) && close(m.brier, w.brier.unwrap()));
    }

    #[test]
    fn only_detected_joints_with_labels_count() {
        let j = |id: &str, x: f32, ank: bool, sub: Option<bool>| AnnotatedJoint {
            joint: id.parse().unwrap(),
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            ankylosis: ank,
            subluxation: sub,
            jsn: None,
            erosion: None,
            overlap: false,
        };
        let truth = AnnotatedImage {
            joints: vec![
                j("R-MCP2", 0.0, true, Some(false)),
                j("R-IP1", 20.0, false, None),
                j("R-MCP3", 40.0, false, Some(true)),
            ],
            ..Default::default()
        };
        let p = |x: f32, qa: f32, qs: Option<f32>| Predicted {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            joint: None,
            ankylosis: Some(qa > 0.5),
            subluxation: qs.map(|q| q > 0.5),
            ankylosis_probability: Some(qa),
            subluxation_probability: qs,
        };
        // R-MCP2 and R-IP1 found (R-IP1 predicted with a subluxation label the truth does
        // not have), R-MCP3 missed, one false box.
        let pred = [
            p(0.0, 0.9, Some(0.2)),
            p(20.0, 0.3, Some(0.7)),
            p(80.0, 0.9, Some(0.9)),
        ];
        let mut r = Reliabilities::default();
        r.add_image(&truth, &pred, &matches_of(&truth, &pred));
        let s = r.summary();
        assert_eq!((s.ankylosis.n, s.subluxation.n), (2, 1));
        // Ankylosis: (0.9, 1) and (0.3, 0): Brier (0.01 + 0.09) / 2 = 0.05.
        assert!(close(s.ankylosis.brier, 0.05));
        // Subluxation: (0.2, 0): Brier 0.04, ECE 0.2.
        assert!(close(s.subluxation.brier, 0.04));
        assert!(close(s.subluxation.ece, 0.2));
        // A prediction without a probability (as from an old report) is not counted.
        let mut bare = pred;
        bare[0].ankylosis_probability = None;
        let mut r = Reliabilities::default();
        r.add_image(&truth, &bare, &matches_of(&truth, &bare));
        assert_eq!(r.ankylosis.n(), 1);
    }
}
