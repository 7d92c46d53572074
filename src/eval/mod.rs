//! Paper-style evaluation (Tables 1-3): predictions against ground truth, per fold and
//! averaged over folds; then where the detectors fail as on real films (issue 16, Tables 4-7,
//! [`lookalike`]); then how well the finding probability is calibrated (issue 17, Table 8,
//! [`calibration`]).

pub mod calibration;
pub mod folds;
pub mod lookalike;
pub mod matching;
pub mod metrics;

use std::fmt::Write as _;

use serde::Serialize;

use crate::analysis::Joint;
use crate::annotations::{AnnotatedImage, Annotations};
use crate::model::calibration::Calibration;
use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::JointId;
use crate::pipeline::select::Detection;
use calibration::Reliabilities;
use folds::Split;
use lookalike::{JointType, Lookalikes};
use metrics::{Confusion, Measures};

/// One predicted joint as evaluation sees it: a box and the labels it carries (`None`: this
/// prediction does not label that finding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Predicted {
    pub bbox: BBox,
    /// The joint name the node gave the box (`None`: unnamed, or a detector's raw box).
    pub joint: Option<JointId>,
    pub ankylosis: Option<bool>,
    pub subluxation: Option<bool>,
    /// The calibrated probability behind each label (`None`: no label, or not known).
    pub ankylosis_probability: Option<f32>,
    pub subluxation_probability: Option<f32>,
}

impl From<&Joint> for Predicted {
    fn from(j: &Joint) -> Self {
        Predicted {
            bbox: j.bbox,
            joint: j.id,
            ankylosis: Some(j.ankylosis.present),
            subluxation: j.subluxation.map(|s| s.present),
            ankylosis_probability: Some(j.ankylosis.probability),
            subluxation_probability: j.subluxation.map(|s| s.probability),
        }
    }
}

impl Predicted {
    /// A box of one detector alone, labelling only its own finding as the detector's
    /// calibration `cal` does.
    pub fn from_detector(d: &Detection, ankylosis: bool, cal: &Calibration) -> Predicted {
        let label = Some(cal.is_present(d.absent, d.present));
        let q = Some(cal.probability(d.absent, d.present));
        Predicted {
            bbox: d.bbox,
            joint: None,
            ankylosis: if ankylosis { label } else { None },
            subluxation: if ankylosis { None } else { label },
            ankylosis_probability: if ankylosis { q } else { None },
            subluxation_probability: if ankylosis { None } else { q },
        }
    }
}

/// The predictions for one image: the ensemble's, and each detector's alone when known.
#[derive(Debug, Clone, Default)]
pub struct ImagePrediction {
    pub ensemble: Vec<Predicted>,
    pub ankylosis_ssd: Option<Vec<Predicted>>,
    pub subluxation_ssd: Option<Vec<Predicted>>,
}

/// Measures one image: detection by one-to-one matching at IoU > 0.45, then the names and
/// labels of the matched joints. Joints whose ground truth or prediction has no label for a finding
/// (thumb IP for subluxation) do not count for that finding. A joint with a finding present
/// counts as found-and-flagged when it is matched and its prediction says present for one
/// of the findings the joint has.
pub fn measure_image(truth: &AnnotatedImage, pred: &[Predicted]) -> Measures {
    measure_matched(truth, pred, &matches_of(truth, pred))
}

/// The one-to-one matches (truth index, prediction index, IoU) at IoU > 0.45.
pub fn matches_of(truth: &AnnotatedImage, pred: &[Predicted]) -> Vec<(usize, usize, f32)> {
    let t: Vec<BBox> = truth.joints.iter().map(|j| j.bbox).collect();
    let p: Vec<BBox> = pred.iter().map(|j| j.bbox).collect();
    matching::match_boxes(&t, &p, matching::DETECTION_IOU)
}

/// [`measure_image`] with the matches already made.
fn measure_matched(
    truth: &AnnotatedImage,
    pred: &[Predicted],
    matches: &[(usize, usize, f32)],
) -> Measures {
    let mut m = Measures {
        images: 1,
        joints: truth.joints.len() as u64,
        detected: matches.len() as u64,
        false_detections: (pred.len() - matches.len()) as u64,
        ankylosis_positive: truth.joints.iter().filter(|j| j.ankylosis).count() as u64,
        subluxation_positive: truth
            .joints
            .iter()
            .filter(|j| j.subluxation == Some(true))
            .count() as u64,
        finding_joints: truth
            .joints
            .iter()
            .filter(|j| j.ankylosis || j.subluxation == Some(true))
            .count() as u64,
        ..Measures::default()
    };
    for &(g, k, iou) in matches {
        m.iou_sum += f64::from(iou);
        let (gt, pr) = (&truth.joints[g], &pred[k]);
        m.named += u64::from(pr.joint == Some(gt.joint));
        if let Some(a) = pr.ankylosis {
            m.ankylosis.add(a, gt.ankylosis);
        }
        if let (Some(s), Some(truth_s)) = (pr.subluxation, gt.subluxation) {
            m.subluxation.add(s, truth_s);
        }
        let flagged = (gt.ankylosis && pr.ankylosis == Some(true))
            || (gt.subluxation == Some(true) && pr.subluxation == Some(true));
        m.finding_flagged += u64::from(flagged);
    }
    lookalike::add_image(&mut m, truth, pred, matches);
    m
}

/// Results of one fold (or of the whole set).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FoldResult {
    pub ensemble: Measures,
    pub ankylosis_ssd: Option<Measures>,
    pub subluxation_ssd: Option<Measures>,
}

/// The evaluation report, as written with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub folds: Vec<FoldResult>,
    /// All images together.
    pub overall: FoldResult,
    /// The look-alikes in brief (issue 16), from `overall.ensemble`.
    pub lookalikes: Lookalikes,
    /// Calibration of the ensemble's finding probability over all images (issue 17).
    pub calibration: calibration::CalibrationTable,
}

/// Evaluates `preds` (one per image of `ann`, same order), grouped by the folds of
/// `split` when given, else as one fold.
pub fn evaluate(ann: &Annotations, preds: &[ImagePrediction], split: Option<&Split>) -> Report {
    let fold_of = split.map(Split::fold_of);
    let n_folds = split.map_or(1, |s| s.folds.len());
    let mut folds = vec![FoldResult::default(); n_folds];
    let mut overall = FoldResult::default();
    let mut reliability = Reliabilities::default();
    for (img, pred) in ann.images.iter().zip(preds) {
        let f = fold_of
            .as_ref()
            .and_then(|m| m.get(img.file.as_str()).copied())
            .unwrap_or(0);
        let matches = matches_of(img, &pred.ensemble);
        let e = measure_matched(img, &pred.ensemble, &matches);
        reliability.add_image(img, &pred.ensemble, &matches);
        let a = pred.ankylosis_ssd.as_ref().map(|p| measure_image(img, p));
        let s = pred.subluxation_ssd.as_ref().map(|p| measure_image(img, p));
        for target in [&mut folds[f], &mut overall] {
            target.ensemble.merge(&e);
            if let Some(a) = &a {
                target
                    .ankylosis_ssd
                    .get_or_insert_with(Measures::default)
                    .merge(a);
            }
            if let Some(s) = &s {
                target
                    .subluxation_ssd
                    .get_or_insert_with(Measures::default)
                    .merge(s);
            }
        }
    }
    let lookalikes = Lookalikes::of(&overall.ensemble);
    Report {
        folds,
        overall,
        lookalikes,
        calibration: reliability.summary(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.2}", v * 100.0))
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl Report {
    /// The paper's three tables as text: detection rates (Table 1), subluxation/dislocation
    /// (Table 2) and ankylosis (Table 3), one row per fold, then the mean over folds; then
    /// Tables 4-7 over all images (see `lookalike_tables`), then Table 8 (see
    /// `calibration_table`).
    pub fn tables(&self) -> String {
        let mut s = String::new();
        let many = self.folds.len() > 1;
        let rows: Vec<(String, &FoldResult)> = if many {
            self.folds
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("fold {}", i + 1), f))
                .collect()
        } else {
            vec![("all".into(), &self.overall)]
        };
        let _ = writeln!(
            s,
            "Table 1. Detection rate [%] of PIP/IP and MCP joints (IoU > 0.45); named: detected joints with their true name [%]; findings: joints with a finding present that were found and flagged with it [%]"
        );
        let _ = writeln!(
            s,
            "{:<8} {:>7} {:>7} {:>14} {:>16} {:>9} {:>9} {:>9} {:>9}",
            "",
            "images",
            "joints",
            "ankylosis SSD",
            "subluxation SSD",
            "ensemble",
            "false+",
            "named",
            "findings"
        );
        let line1 = |s: &mut String, name: &str, r: &FoldResult| {
            let _ = writeln!(
                s,
                "{:<8} {:>7} {:>7} {:>14} {:>16} {:>9} {:>9} {:>9} {:>9}",
                name,
                r.ensemble.images,
                r.ensemble.joints,
                pct(r.ankylosis_ssd.as_ref().and_then(Measures::detection_rate)),
                pct(r
                    .subluxation_ssd
                    .as_ref()
                    .and_then(Measures::detection_rate)),
                pct(r.ensemble.detection_rate()),
                r.ensemble.false_detections,
                pct(r.ensemble.named_rate()),
                pct(r.ensemble.finding_recall())
            );
        };
        for (name, r) in &rows {
            line1(&mut s, name, r);
        }
        if many {
            let _ = writeln!(
                s,
                "{:<8} {:>7} {:>7} {:>14} {:>16} {:>9} {:>9} {:>9} {:>9}",
                "mean",
                "",
                "",
                pct(mean_of(self.folds.iter().map(|f| {
                    f.ankylosis_ssd.as_ref().and_then(Measures::detection_rate)
                }))),
                pct(mean_of(self.folds.iter().map(|f| {
                    f.subluxation_ssd
                        .as_ref()
                        .and_then(Measures::detection_rate)
                }))),
                pct(mean_of(
                    self.folds.iter().map(|f| f.ensemble.detection_rate())
                )),
                "",
                pct(mean_of(self.folds.iter().map(|f| f.ensemble.named_rate()))),
                pct(mean_of(
                    self.folds.iter().map(|f| f.ensemble.finding_recall())
                )),
            );
        }
        for (title, pick) in [
            (
                "Table 2. Subluxation/dislocation classification (ensemble)",
                (|r: &Measures| r.subluxation) as fn(&Measures) -> Confusion,
            ),
            (
                "Table 3. Ankylosis classification (ensemble)",
                |r: &Measures| r.ankylosis,
            ),
        ] {
            let _ = writeln!(s, "\n{title}");
            let _ = writeln!(
                s,
                "{:<8} {:>9} {:>9} {:>9} {:>11} {:>9} {:>7} {:>6} {:>6}",
                "", "accuracy", "precision", "recall", "specificity", "F-value", "IoU", "TP", "FN"
            );
            let mut all = Vec::new();
            for (name, r) in &rows {
                let c = pick(&r.ensemble);
                let sc = c.scores();
                all.push((sc, r.ensemble.mean_iou()));
                let _ = writeln!(
                    s,
                    "{:<8} {:>9} {:>9} {:>9} {:>11} {:>9} {:>7} {:>6} {:>6}",
                    name,
                    ratio(sc.accuracy),
                    ratio(sc.precision),
                    ratio(sc.recall),
                    ratio(sc.specificity),
                    ratio(sc.f_value),
                    ratio(r.ensemble.mean_iou()),
                    c.tp,
                    c.fn_
                );
            }
            if many {
                let m = |f: fn(&metrics::Scores) -> Option<f64>| {
                    ratio(mean_of(all.iter().map(|(sc, _)| f(sc))))
                };
                let _ = writeln!(
                    s,
                    "{:<8} {:>9} {:>9} {:>9} {:>11} {:>9} {:>7}",
                    "mean",
                    m(|x| x.accuracy),
                    m(|x| x.precision),
                    m(|x| x.recall),
                    m(|x| x.specificity),
                    m(|x| x.f_value),
                    ratio(mean_of(all.iter().map(|(_, i)| *i))),
                );
            }
        }
        self.lookalike_tables(&mut s);
        self.calibration_table(&mut s);
        s
    }

    /// Table 8 (issue 17), over all images, ensemble: the reliability diagram of each
    /// finding's calibrated probability, its ECE and Brier score.
    fn calibration_table(&self, s: &mut String) {
        let (a, sub) = (&self.calibration.ankylosis, &self.calibration.subluxation);
        let _ = writeln!(
            s,
            "\nTable 8. Calibration of the finding probability (ensemble, all images): detected joints with a label for the finding, by the predicted probability q in 10 bins; observed: fraction with the finding present; ECE = sum over bins of (joints/N) |observed - mean q|; Brier = mean (q - y)^2"
        );
        let _ = writeln!(s, "{:<10} {:>28}  {:>28}", "", "ankylosis", "subluxation");
        let _ = writeln!(
            s,
            "{:<10} {:>8} {:>9} {:>9}  {:>8} {:>9} {:>9}",
            "q", "joints", "mean q", "observed", "joints", "mean q", "observed"
        );
        for (k, (ba, bs)) in a.bins.iter().zip(&sub.bins).enumerate() {
            let close = if k + 1 == a.bins.len() { ']' } else { ')' };
            let _ = writeln!(
                s,
                "{:<10} {:>8} {:>9} {:>9}  {:>8} {:>9} {:>9}",
                format!("[{:.1},{:.1}{close}", ba.lower, ba.upper),
                ba.count,
                ratio(ba.mean_probability),
                ratio(ba.observed_rate),
                bs.count,
                ratio(bs.mean_probability),
                ratio(bs.observed_rate),
            );
        }
        for (name, va, vs) in [
            ("N", a.n.to_string(), sub.n.to_string()),
            ("ECE", ratio(a.ece), ratio(sub.ece)),
            ("Brier", ratio(a.brier), ratio(sub.brier)),
        ] {
            let _ = writeln!(s, "{name:<10} {va:>28}  {vs:>28}");
        }
    }

    /// Tables 4-7 (issue 16), over all images, ensemble: per joint type, false boxes by
    /// the look-alike they land on, false findings by JSN grade, and the look-alikes in
    /// brief.
    fn lookalike_tables(&self, s: &mut String) {
        let m = &self.overall.ensemble;
        let _ = writeln!(
            s,
            "\nTable 4. Per joint type (ensemble, all images): detected [%] (IoU > 0.45); named: detected joints with their true name [%]; findings: joints with a finding found and flagged with it [%]; confusion over detected joints"
        );
        let _ = writeln!(
            s,
            "{:<9} {:>7} {:>9} {:>9} {:>9}  {:>21}  {:>23}",
            "",
            "joints",
            "detected",
            "named",
            "findings",
            "ankylosis TP/FP/FN/TN",
            "subluxation TP/FP/FN/TN"
        );
        let conf = |c: &Confusion, labelled: bool| {
            if labelled {
                format!("{}/{}/{}/{}", c.tp, c.fp, c.fn_, c.tn)
            } else {
                "-".into()
            }
        };
        for t in JointType::ALL {
            let r = m.by_joint_type.get(t);
            let _ = writeln!(
                s,
                "{:<9} {:>7} {:>9} {:>9} {:>9}  {:>21}  {:>23}",
                t.label(),
                r.joints,
                pct(r.detection_rate()),
                pct(r.named_rate()),
                pct(r.finding_recall()),
                conf(&r.ankylosis, true),
                conf(&r.subluxation, t != JointType::Ip),
            );
        }

        let fb = &m.false_boxes;
        let _ = writeln!(
            s,
            "\nTable 5. False boxes (unmatched predictions, ensemble) by where they land: on the landmark whose box holds the box's centre (best IoU among several), else other; per film: over the {} films with landmarks; no-lmk: on the {} films without landmarks; all: over all {} films",
            fb.landmark_images,
            m.images - fb.landmark_images,
            m.images
        );
        let kinds: Vec<Option<crate::annotations::LandmarkKind>> =
            crate::annotations::LandmarkKind::ALL
                .map(Some)
                .into_iter()
                .chain([None])
                .collect();
        let mut head = format!("{:<9}", "");
        let mut count = format!("{:<9}", "boxes");
        let mut per = format!("{:<9}", "per film");
        for k in &kinds {
            let _ = write!(head, " {:>7}", k.map_or("other", |k| k.as_str()));
            let _ = write!(count, " {:>7}", fb.get(*k));
            let _ = write!(
                per,
                " {:>7}",
                ratio(lookalike::ratio(fb.get(*k), fb.landmark_images))
            );
        }
        let _ = write!(head, " {:>7}", "no-lmk");
        let _ = write!(count, " {:>7}", fb.without_landmarks);
        let _ = write!(
            per,
            " {:>7}",
            ratio(lookalike::ratio(
                fb.without_landmarks,
                m.images - fb.landmark_images
            ))
        );
        let _ = write!(head, " {:>7}", "all");
        let _ = write!(count, " {:>7}", m.false_detections);
        let _ = write!(
            per,
            " {:>7}",
            ratio(lookalike::ratio(m.false_detections, m.images))
        );
        let _ = writeln!(s, "{head}\n{count}\n{per}");
        let _ = writeln!(
            s,
            "one-hand films (laterality R or L): {}, false boxes {}, per one-hand film {}",
            fb.one_hand_images,
            fb.one_hand_false_boxes,
            ratio(self.lookalikes.false_boxes_per_one_hand_film)
        );

        let _ = writeln!(
            s,
            "\nTable 6. False findings (ensemble): detected joints without a finding that the prediction flags with ankylosis or subluxation, by the truth's JSN grade and where bones overlap"
        );
        let _ = writeln!(
            s,
            "{:<9} {:>7} {:>9} {:>9}",
            "", "joints", "flagged", "rate [%]"
        );
        for (label, _, f) in m.false_findings.rows() {
            let _ = writeln!(
                s,
                "{:<9} {:>7} {:>9} {:>9}",
                label,
                f.joints,
                f.flagged,
                pct(f.rate())
            );
        }
        let _ = writeln!(
            s,
            "JSN 4 joints: {}, found {} ({} %), found and flagged {} ({} %)",
            m.jsn4.joints,
            m.jsn4.detected,
            pct(self.lookalikes.jsn4_found_rate),
            m.jsn4.flagged,
            pct(self.lookalikes.jsn4_found_flagged_rate)
        );

        let l = &self.lookalikes;
        let _ = writeln!(s, "\nTable 7. Look-alikes (ensemble, all images)");
        let _ = writeln!(s, "{:<9} {:<44} {:>15}", "", "measure", "value");
        for (name, what, v) in [
            ("DIP", "false boxes per film", ratio(l.dip_per_film)),
            ("CMC", "false boxes per film", ratio(l.cmc_per_film)),
            (
                "wrist",
                "false boxes per film (radius, ulna, carpus)",
                ratio(l.wrist_per_film),
            ),
            (
                "all",
                "false boxes per film / per one-hand film",
                format!(
                    "{} / {}",
                    ratio(l.false_boxes_per_film),
                    ratio(l.false_boxes_per_one_hand_film)
                ),
            ),
            (
                "JSN 2",
                "false-finding rate [%] (JSN 0 beside it)",
                format!(
                    "{} ({})",
                    pct(l.jsn2_false_finding_rate),
                    pct(l.jsn0_false_finding_rate)
                ),
            ),
            (
                "overlap",
                "false-finding rate [%]",
                pct(l.overlap_false_finding_rate),
            ),
            (
                "JSN 4",
                "found / found and flagged [%]",
                format!(
                    "{} / {}",
                    pct(l.jsn4_found_rate),
                    pct(l.jsn4_found_flagged_rate)
                ),
            ),
        ] {
            let _ = writeln!(s, "{name:<9} {what:<44} {v:>15}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::AnnotatedJoint;

    /// Three joints in a row: R-MCP2 (ankylosis), R-MCP3 (subluxation), R-IP1 (none).
    fn truth() -> AnnotatedImage {
        let j = |id: &str, x: f32, ank: bool, sub: Option<bool>| AnnotatedJoint {
            joint: id.parse().unwrap(),
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            ankylosis: ank,
            subluxation: sub,
            jsn: None,
            erosion: None,
            overlap: false,
        };
        AnnotatedImage {
            file: "images/a.dcm".into(),
            sop_instance_uid: "2.25.1".into(),
            patient_id: "P".into(),
            timepoint: 0,
            width: 100,
            height: 20,
            annotator: "test".into(),
            joints: vec![
                j("R-MCP2", 0.0, true, Some(false)),
                j("R-MCP3", 20.0, false, Some(true)),
                j("R-IP1", 40.0, false, None),
            ],
            ..Default::default()
        }
    }

    fn perfect() -> Vec<Predicted> {
        truth()
            .joints
            .iter()
            .map(|j| Predicted {
                bbox: j.bbox,
                joint: Some(j.joint),
                ankylosis: Some(j.ankylosis),
                subluxation: j.subluxation,
                ankylosis_probability: Some(f32::from(u8::from(j.ankylosis))),
                subluxation_probability: j.subluxation.map(|s| f32::from(u8::from(s))),
            })
            .collect()
    }

    #[test]
    fn a_wrong_or_missing_name_is_detected_but_not_named() {
        let mut p = perfect();
        // R-MCP2 and R-MCP3 swap names (one finger off); R-IP1 is left unnamed.
        p[0].joint = Some("R-MCP3".parse().unwrap());
        p[1].joint = Some("R-MCP2".parse().unwrap());
        p[2].joint = None;
        let m = measure_image(&truth(), &p);
        assert_eq!((m.detected, m.named, m.named_rate()), (3, 0, Some(0.0)));
        p[2].joint = Some("R-IP1".parse().unwrap());
        let m = measure_image(&truth(), &p);
        assert_eq!(m.named, 1);
        assert!((m.named_rate().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_prediction() {
        let m = measure_image(&truth(), &perfect());
        assert_eq!((m.joints, m.detected, m.false_detections), (3, 3, 0));
        assert_eq!((m.named, m.named_rate()), (3, Some(1.0)));
        assert_eq!(
            m.ankylosis,
            Confusion {
                tp: 1,
                fp: 0,
                tn: 2,
                fn_: 0
            }
        );
        // The thumb IP joint has no subluxation label: 2 joints count.
        assert_eq!(
            m.subluxation,
            Confusion {
                tp: 1,
                fp: 0,
                tn: 1,
                fn_: 0
            }
        );
        assert_eq!(m.mean_iou(), Some(1.0));
        assert_eq!(m.ankylosis.scores().f_value, Some(1.0));
    }

    #[test]
    fn empty_prediction() {
        let m = measure_image(&truth(), &[]);
        assert_eq!((m.detected, m.detection_rate()), (0, Some(0.0)));
        assert_eq!(m.ankylosis.total(), 0);
        assert_eq!(m.mean_iou(), None);
    }

    #[test]
    fn one_missed_joint() {
        let mut p = perfect();
        p.remove(0); // the ankylosis joint
        let m = measure_image(&truth(), &p);
        assert_eq!(m.detected, 2);
        assert!((m.detection_rate().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // Missed joints do not enter classification: no positive left for ankylosis.
        assert_eq!(
            m.ankylosis,
            Confusion {
                tp: 0,
                fp: 0,
                tn: 2,
                fn_: 0
            }
        );
    }

    #[test]
    fn one_false_positive_box() {
        let mut p = perfect();
        p.push(Predicted {
            bbox: BBox::new(70.0, 0.0, 80.0, 10.0),
            joint: None,
            ankylosis: Some(true),
            subluxation: Some(true),
            ankylosis_probability: None,
            subluxation_probability: None,
        });
        let m = measure_image(&truth(), &p);
        assert_eq!((m.detected, m.false_detections), (3, 1));
        assert_eq!(m.detection_rate(), Some(1.0));
        assert_eq!(
            m.ankylosis.fp, 0,
            "an unmatched box is a false detection, not a label error"
        );
    }

    #[test]
    fn swapped_labels() {
        // Ankylosis and subluxation labels exchanged on R-MCP2 and R-MCP3.
        let mut p = perfect();
        p[0].ankylosis = Some(false);
        p[0].subluxation = Some(true);
        p[1].ankylosis = Some(true);
        p[1].subluxation = Some(false);
        let m = measure_image(&truth(), &p);
        assert_eq!(
            m.ankylosis,
            Confusion {
                tp: 0,
                fp: 1,
                tn: 1,
                fn_: 1
            }
        );
        assert_eq!(
            m.subluxation,
            Confusion {
                tp: 0,
                fp: 1,
                tn: 0,
                fn_: 1
            }
        );
        let s = m.ankylosis.scores();
        assert_eq!(
            (s.precision, s.recall, s.f_value),
            (Some(0.0), Some(0.0), Some(0.0))
        );
        assert_eq!(s.accuracy, Some(1.0 / 3.0));
    }

    #[test]
    fn recall_over_joints_with_findings() {
        // Worked by hand. Truth: R-MCP2 ankylosis, R-MCP3 subluxation, R-IP1 none, plus
        // R-PIP2 with both findings: 3 joints with a finding. R-MCP2 is found and flagged;
        // R-MCP3 is found but said absent; R-PIP2 is found with only subluxation flagged,
        // which is one of its findings. Found-and-flagged: 2 of 3.
        let mut t = truth();
        t.joints.push(AnnotatedJoint {
            joint: "R-PIP2".parse().unwrap(),
            bbox: BBox::new(60.0, 0.0, 70.0, 10.0),
            ankylosis: true,
            subluxation: Some(true),
            jsn: None,
            erosion: None,
            overlap: false,
        });
        let mut p = perfect();
        p[1].subluxation = Some(false);
        p.push(Predicted {
            bbox: BBox::new(60.0, 0.0, 70.0, 10.0),
            joint: None,
            ankylosis: Some(false),
            subluxation: Some(true),
            ankylosis_probability: None,
            subluxation_probability: None,
        });
        let m = measure_image(&t, &p);
        assert_eq!((m.finding_joints, m.finding_flagged), (3, 2));
        assert_eq!((m.ankylosis_positive, m.subluxation_positive), (2, 2));
        assert!((m.finding_recall().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // Missing R-MCP2 altogether: 1 of 3; with no prediction at all: 0 of 3.
        p.remove(0);
        assert_eq!(measure_image(&t, &p).finding_flagged, 1);
        assert_eq!(measure_image(&t, &[]).finding_recall(), Some(0.0));
        // An image without findings has no such recall.
        let mut clean = truth();
        clean
            .joints
            .retain(|j| !j.ankylosis && j.subluxation != Some(true));
        assert_eq!(measure_image(&clean, &[]).finding_recall(), None);
    }

    #[test]
    fn shifted_box_still_detected_and_iou_averaged() {
        // Shift 2 px: IoU = 80 / 120 = 2/3.
        let mut p = perfect();
        p[2].bbox = BBox::new(42.0, 0.0, 52.0, 10.0);
        let m = measure_image(&truth(), &p);
        assert_eq!(m.detected, 3);
        assert!((m.mean_iou().unwrap() - (2.0 + 2.0 / 3.0) / 3.0).abs() < 1e-6);
    }

    #[test]
    fn tables_show_the_papers_measures() {
        let ann = Annotations {
            format: crate::annotations::FORMAT.into(),
            images: vec![truth()],
        };
        let preds = vec![ImagePrediction {
            ensemble: perfect(),
            ..Default::default()
        }];
        let r = evaluate(&ann, &preds, None);
        let t = r.tables();
        assert!(
            t.contains("Table 1") && t.contains("Table 2") && t.contains("Table 3"),
            "{t}"
        );
        assert!(t.contains("100.00"), "{t}");
        // Table 8: a perfect, certain prediction is perfectly calibrated. Ankylosis: 3
        // joints, q = 1 for the one with it and 0 for the others; subluxation: 2 (the
        // thumb IP has no label).
        assert!(
            t.find("Table 7").unwrap() < t.find("Table 8").unwrap(),
            "{t}"
        );
        let c = &r.calibration;
        assert_eq!((c.ankylosis.n, c.subluxation.n), (3, 2));
        assert_eq!(
            (c.ankylosis.bins[0].count, c.ankylosis.bins[9].count),
            (2, 1)
        );
        assert_eq!((c.ankylosis.ece, c.ankylosis.brier), (Some(0.0), Some(0.0)));
        assert!(t.contains("[0.9,1.0]"), "{t}");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["calibration"]["subluxation"]["n"], 2);
        assert_eq!(
            v["calibration"]["ankylosis"]["bins"][5]["mean_probability"],
            serde_json::Value::Null
        );
    }
}
