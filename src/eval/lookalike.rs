//! Where the detectors fail as they fail on real films (issue 16; docs: models/README.md,
//! "Evaluation"): the measures of Table 1 per joint type, false boxes by the look-alike they
//! land on (DIP, CMC, radius, ulna, carpus), false findings on matched joints without a
//! finding by the truth's JSN grade and on overlapping bones, and the JSN-4 joints found and
//! flagged.
//!
//! Rules:
//! - A false box (a prediction matched to no joint) *lands on* a landmark when the centre of
//!   the box lies inside the landmark's box (edges included); where several landmark boxes
//!   hold it, the one with the highest IoU with the false box (then the first annotated).
//!   A false box that lands on none is `other`; on a film without landmarks, it counts as
//!   `without_landmarks`.
//! - A matched joint is *flagged* when its prediction says ankylosis present, or says
//!   subluxation present on a joint that has a subluxation label (not the thumb IP).
//! - A joint *without a finding*: ankylosis false and subluxation not true.

use serde::Serialize;

use super::Predicted;
use super::metrics::{Confusion, Measures};
use crate::annotations::{AnnotatedImage, AnnotatedJoint, LandmarkKind};
use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::{JointId, Level};

/// The joint types measured separately: MCP (thumb and fingers), PIP (fingers 2-5) and the
/// thumb IP joint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JointType {
    Mcp,
    Pip,
    Ip,
}

impl JointType {
    pub const ALL: [JointType; 3] = [JointType::Mcp, JointType::Pip, JointType::Ip];

    pub fn of(j: JointId) -> JointType {
        match j.level {
            Level::Mcp => JointType::Mcp,
            Level::Pip if j.finger == 1 => JointType::Ip,
            Level::Pip => JointType::Pip,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            JointType::Mcp => "MCP",
            JointType::Pip => "PIP",
            JointType::Ip => "thumb IP",
        }
    }
}

/// Table 1's measures restricted to one joint type (false boxes have no type: see
/// [`FalseBoxes`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeMeasures {
    pub joints: u64,
    pub detected: u64,
    /// Detected joints whose predicted name is the true one.
    pub named: u64,
    /// Over detected joints, as Tables 2-3.
    pub ankylosis: Confusion,
    pub subluxation: Confusion,
    /// Joints with a finding present, and those found and flagged with a finding they have.
    pub finding_joints: u64,
    pub finding_flagged: u64,
}

impl TypeMeasures {
    pub fn merge(&mut self, o: &TypeMeasures) {
        self.joints += o.joints;
        self.detected += o.detected;
        self.named += o.named;
        self.ankylosis.merge(&o.ankylosis);
        self.subluxation.merge(&o.subluxation);
        self.finding_joints += o.finding_joints;
        self.finding_flagged += o.finding_flagged;
    }

    pub fn detection_rate(&self) -> Option<f64> {
        ratio(self.detected, self.joints)
    }

    pub fn named_rate(&self) -> Option<f64> {
        ratio(self.named, self.detected)
    }

    pub fn finding_recall(&self) -> Option<f64> {
        ratio(self.finding_flagged, self.finding_joints)
    }
}

/// [`TypeMeasures`] of MCP, PIP and thumb IP joints (JSON `by_joint_type`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ByJointType {
    pub mcp: TypeMeasures,
    pub pip: TypeMeasures,
    pub ip: TypeMeasures,
}

impl ByJointType {
    pub fn get(&self, t: JointType) -> &TypeMeasures {
        match t {
            JointType::Mcp => &self.mcp,
            JointType::Pip => &self.pip,
            JointType::Ip => &self.ip,
        }
    }

    fn get_mut(&mut self, t: JointType) -> &mut TypeMeasures {
        match t {
            JointType::Mcp => &mut self.mcp,
            JointType::Pip => &mut self.pip,
            JointType::Ip => &mut self.ip,
        }
    }

    pub fn merge(&mut self, o: &ByJointType) {
        for t in JointType::ALL {
            self.get_mut(t).merge(o.get(t));
        }
    }
}

/// False boxes (predictions matched to no joint) by the landmark they land on (JSON
/// `false_boxes`); the kinds, `other` and `without_landmarks` add up to `false_detections`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FalseBoxes {
    pub dip: u64,
    pub cmc: u64,
    pub radius: u64,
    pub ulna: u64,
    pub carpus: u64,
    /// On a film with landmarks, on none of them.
    pub other: u64,
    /// On a film without landmarks: nowhere to say where it landed.
    pub without_landmarks: u64,
    /// Films that carry at least one landmark: the denominator of the per-film rates of the
    /// landmark kinds and `other`.
    pub landmark_images: u64,
    /// Films of one hand (`laterality` R or L) and the false boxes on them.
    pub one_hand_images: u64,
    pub one_hand_false_boxes: u64,
}

impl FalseBoxes {
    pub fn get(&self, k: Option<LandmarkKind>) -> u64 {
        match k {
            Some(LandmarkKind::Dip) => self.dip,
            Some(LandmarkKind::Cmc) => self.cmc,
            Some(LandmarkKind::Radius) => self.radius,
            Some(LandmarkKind::Ulna) => self.ulna,
            Some(LandmarkKind::Carpus) => self.carpus,
            None => self.other,
        }
    }

    fn get_mut(&mut self, k: Option<LandmarkKind>) -> &mut u64 {
        match k {
            Some(LandmarkKind::Dip) => &mut self.dip,
            Some(LandmarkKind::Cmc) => &mut self.cmc,
            Some(LandmarkKind::Radius) => &mut self.radius,
            Some(LandmarkKind::Ulna) => &mut self.ulna,
            Some(LandmarkKind::Carpus) => &mut self.carpus,
            None => &mut self.other,
        }
    }

    /// The distal radius, the distal ulna and the carpus together.
    pub fn wrist(&self) -> u64 {
        self.radius + self.ulna + self.carpus
    }

    pub fn merge(&mut self, o: &FalseBoxes) {
        for k in LandmarkKind::ALL.map(Some).into_iter().chain([None]) {
            *self.get_mut(k) += o.get(k);
        }
        self.without_landmarks += o.without_landmarks;
        self.landmark_images += o.landmark_images;
        self.one_hand_images += o.one_hand_images;
        self.one_hand_false_boxes += o.one_hand_false_boxes;
    }
}

/// Joints of a group and how many of them a prediction flagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Flags {
    pub joints: u64,
    pub flagged: u64,
}

impl Flags {
    fn add(&mut self, flagged: bool) {
        self.joints += 1;
        self.flagged += u64::from(flagged);
    }

    pub fn merge(&mut self, o: &Flags) {
        self.joints += o.joints;
        self.flagged += o.flagged;
    }

    /// flagged / joints.
    pub fn rate(&self) -> Option<f64> {
        ratio(self.flagged, self.joints)
    }
}

/// False findings: matched joints without a finding, and those the prediction flagged,
/// by the truth's JSN grade (JSN 4 joints without a finding count in `all` only), and the
/// joints with overlapping bones (also counted in their grade) (JSON `false_findings`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FalseFindings {
    pub jsn0: Flags,
    pub jsn1: Flags,
    pub jsn2: Flags,
    pub jsn3: Flags,
    /// `jsn` absent from the annotation.
    pub ungraded: Flags,
    pub overlap: Flags,
    pub all: Flags,
}

impl FalseFindings {
    pub fn merge(&mut self, o: &FalseFindings) {
        for (a, b) in [
            (&mut self.jsn0, &o.jsn0),
            (&mut self.jsn1, &o.jsn1),
            (&mut self.jsn2, &o.jsn2),
            (&mut self.jsn3, &o.jsn3),
            (&mut self.ungraded, &o.ungraded),
            (&mut self.overlap, &o.overlap),
            (&mut self.all, &o.all),
        ] {
            a.merge(b);
        }
    }

    /// The groups as (label, JSON name, counts), in table order.
    pub fn rows(&self) -> [(&'static str, &'static str, Flags); 7] {
        [
            ("JSN 0", "jsn0", self.jsn0),
            ("JSN 1", "jsn1", self.jsn1),
            ("JSN 2", "jsn2", self.jsn2),
            ("JSN 3", "jsn3", self.jsn3),
            ("ungraded", "ungraded", self.ungraded),
            ("overlap", "overlap", self.overlap),
            ("all", "all", self.all),
        ]
    }
}

/// Joints the truth grades JSN 4 (ankylosed or completely luxated): found, and found and
/// flagged with either finding (the real films' "scored JSN 4, found and flagged") (JSON
/// `jsn4`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Jsn4 {
    pub joints: u64,
    pub detected: u64,
    pub flagged: u64,
}

impl Jsn4 {
    pub fn merge(&mut self, o: &Jsn4) {
        self.joints += o.joints;
        self.detected += o.detected;
        self.flagged += o.flagged;
    }
}

/// The look-alikes in brief, from the ensemble over all images (JSON `lookalikes`). Per-film
/// rates of a landmark kind are over the films that carry landmarks; rates are `null` where
/// their denominator is zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lookalikes {
    pub images: u64,
    pub landmark_images: u64,
    pub one_hand_images: u64,
    /// All false boxes per film, and per one-hand film.
    pub false_boxes_per_film: Option<f64>,
    pub false_boxes_per_one_hand_film: Option<f64>,
    /// False boxes on DIP joints, CMC joints, and the wrist (radius, ulna, carpus) per film
    /// with landmarks.
    pub dip_per_film: Option<f64>,
    pub cmc_per_film: Option<f64>,
    pub wrist_per_film: Option<f64>,
    /// False-finding rates on matched joints without a finding: JSN 0, JSN 2, overlap.
    pub jsn0_false_finding_rate: Option<f64>,
    pub jsn2_false_finding_rate: Option<f64>,
    pub overlap_false_finding_rate: Option<f64>,
    /// JSN-4 joints found, and found and flagged, over all JSN-4 joints.
    pub jsn4_found_rate: Option<f64>,
    pub jsn4_found_flagged_rate: Option<f64>,
}

impl Lookalikes {
    pub fn of(m: &Measures) -> Lookalikes {
        let fb = &m.false_boxes;
        let per = |n: u64| ratio(n, fb.landmark_images);
        Lookalikes {
            images: m.images,
            landmark_images: fb.landmark_images,
            one_hand_images: fb.one_hand_images,
            false_boxes_per_film: ratio(m.false_detections, m.images),
            false_boxes_per_one_hand_film: ratio(fb.one_hand_false_boxes, fb.one_hand_images),
            dip_per_film: per(fb.dip),
            cmc_per_film: per(fb.cmc),
            wrist_per_film: per(fb.wrist()),
            jsn0_false_finding_rate: m.false_findings.jsn0.rate(),
            jsn2_false_finding_rate: m.false_findings.jsn2.rate(),
            overlap_false_finding_rate: m.false_findings.overlap.rate(),
            jsn4_found_rate: ratio(m.jsn4.detected, m.jsn4.joints),
            jsn4_found_flagged_rate: ratio(m.jsn4.flagged, m.jsn4.joints),
        }
    }
}

pub(crate) fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Whether `pr` flags `gt` with a finding (see the module rules).
pub fn flags(gt: &AnnotatedJoint, pr: &Predicted) -> bool {
    pr.ankylosis == Some(true) || (gt.subluxation.is_some() && pr.subluxation == Some(true))
}

/// The kind of landmark a false box lands on (see the module rules), `None` for other.
pub fn lands_on(img: &AnnotatedImage, b: &BBox) -> Option<LandmarkKind> {
    let (cx, cy) = b.centre();
    let mut best: Option<(f32, LandmarkKind)> = None;
    for l in &img.landmarks {
        let inside = l.bbox.x0 <= cx && cx <= l.bbox.x1 && l.bbox.y0 <= cy && cy <= l.bbox.y1;
        if !inside {
            continue;
        }
        let iou = l.bbox.iou(b);
        if best.is_none_or(|(i, _)| iou > i) {
            best = Some((iou, l.kind));
        }
    }
    best.map(|(_, k)| k)
}

/// Adds one image's per-type measures, false boxes, false findings and JSN-4 joints to `m`,
/// given the one-to-one `matches` (truth index, prediction index, IoU) of `measure_image`.
pub(super) fn add_image(
    m: &mut Measures,
    truth: &AnnotatedImage,
    pred: &[Predicted],
    matches: &[(usize, usize, f32)],
) {
    let mut match_of = vec![None; truth.joints.len()];
    let mut matched_pred = vec![false; pred.len()];
    for &(g, k, _) in matches {
        match_of[g] = Some(k);
        matched_pred[k] = true;
    }
    for (gt, k) in truth.joints.iter().zip(&match_of) {
        let pr = k.map(|k| &pred[k]);
        let has_finding = gt.ankylosis || gt.subluxation == Some(true);
        let t = m.by_joint_type.get_mut(JointType::of(gt.joint));
        t.joints += 1;
        t.finding_joints += u64::from(has_finding);
        if gt.jsn == Some(4) {
            m.jsn4.joints += 1;
            m.jsn4.detected += u64::from(pr.is_some());
            m.jsn4.flagged += u64::from(pr.is_some_and(|p| flags(gt, p)));
        }
        let Some(pr) = pr else { continue };
        t.detected += 1;
        t.named += u64::from(pr.joint == Some(gt.joint));
        if let Some(a) = pr.ankylosis {
            t.ankylosis.add(a, gt.ankylosis);
        }
        if let (Some(s), Some(truth_s)) = (pr.subluxation, gt.subluxation) {
            t.subluxation.add(s, truth_s);
        }
        t.finding_flagged += u64::from(
            (gt.ankylosis && pr.ankylosis == Some(true))
                || (gt.subluxation == Some(true) && pr.subluxation == Some(true)),
        );
        if !has_finding {
            let f = flags(gt, pr);
            let ff = &mut m.false_findings;
            ff.all.add(f);
            match gt.jsn {
                Some(0) => ff.jsn0.add(f),
                Some(1) => ff.jsn1.add(f),
                Some(2) => ff.jsn2.add(f),
                Some(3) => ff.jsn3.add(f),
                Some(_) => {}
                None => ff.ungraded.add(f),
            }
            if gt.overlap {
                ff.overlap.add(f);
            }
        }
    }
    let fb = &mut m.false_boxes;
    fb.landmark_images += u64::from(!truth.landmarks.is_empty());
    let one_hand = matches!(truth.laterality.as_deref(), Some("R" | "L"));
    fb.one_hand_images += u64::from(one_hand);
    for (p, _) in pred.iter().zip(&matched_pred).filter(|(_, m)| !**m) {
        if truth.landmarks.is_empty() {
            fb.without_landmarks += 1;
        } else {
            *fb.get_mut(lands_on(truth, &p.bbox)) += 1;
        }
        fb.one_hand_false_boxes += u64::from(one_hand);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::{Annotations, FORMAT, Landmark};
    use crate::eval::{ImagePrediction, evaluate, measure_image};

    fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
        BBox::new(x, y, x + w, y + h)
    }

    /// A right hand, worked by hand. Joints in a row (10 px boxes, 20 px apart), with
    /// (JSN, finding, overlap): MCP2 (0), MCP3 (0), PIP3 (2), PIP4 (2), PIP5 (4, ankylosis),
    /// MCP5 (4, subluxation), IP1 (ungraded, overlap), MCP4 (1, overlap), MCP1 (3).
    /// Landmarks: R-DIP3, R-CMC2, R-RADIUS, the carpus (a large box) and R-CMC1 inside it.
    fn hand() -> AnnotatedImage {
        let j = |id: &str, x: f32, jsn: Option<u8>, ank: bool, sub: bool, overlap: bool| {
            let joint: JointId = id.parse().unwrap();
            AnnotatedJoint {
                jsn,
                overlap,
                ..AnnotatedJoint::new(
                    joint,
                    b(x, 0.0, 10.0, 10.0),
                    ank,
                    (!joint.is_thumb_ip()).then_some(sub),
                )
            }
        };
        let l = |kind, name: &str, bbox| Landmark {
            kind,
            name: name.into(),
            bbox,
        };
        AnnotatedImage {
            file: "images/r.dcm".into(),
            width: 300,
            height: 300,
            laterality: Some("R".into()),
            joints: vec![
                j("R-MCP2", 0.0, Some(0), false, false, false),
                j("R-MCP3", 20.0, Some(0), false, false, false),
                j("R-PIP3", 40.0, Some(2), false, false, false),
                j("R-PIP4", 60.0, Some(2), false, false, false),
                j("R-PIP5", 80.0, Some(4), true, false, false),
                j("R-MCP5", 100.0, Some(4), false, true, false),
                j("R-IP1", 120.0, None, false, false, true),
                j("R-MCP4", 140.0, Some(1), false, false, true),
                j("R-MCP1", 160.0, Some(3), false, false, false),
            ],
            landmarks: vec![
                l(LandmarkKind::Dip, "R-DIP3", b(0.0, 100.0, 10.0, 10.0)),
                l(LandmarkKind::Cmc, "R-CMC2", b(20.0, 100.0, 10.0, 10.0)),
                l(LandmarkKind::Radius, "R-RADIUS", b(40.0, 100.0, 20.0, 20.0)),
                l(LandmarkKind::Carpus, "R-CARPUS", b(0.0, 130.0, 60.0, 30.0)),
                l(LandmarkKind::Cmc, "R-CMC1", b(5.0, 135.0, 10.0, 10.0)),
            ],
            ..Default::default()
        }
    }

    /// Predictions for [`hand`]: every joint but MCP5 found, MCP1 misnamed as MCP2; flags:
    /// subluxation on MCP3 and MCP4, ankylosis on PIP3 (JSN 2) and PIP5 (its finding),
    /// subluxation on the thumb IP (no such label: ignored). Seven false boxes: on the DIP,
    /// on CMC2, on the radius, on CMC1 inside the carpus box, on the carpus alone, on nothing,
    /// and one overlapping the DIP box whose centre lies outside every landmark.
    fn predictions() -> Vec<Predicted> {
        let truth = hand();
        let mut p: Vec<Predicted> = truth
            .joints
            .iter()
            .filter(|j| j.joint.to_string() != "R-MCP5")
            .map(|j| {
                let name = j.joint.to_string();
                Predicted {
                    bbox: j.bbox,
                    joint: Some(if name == "R-MCP1" {
                        "R-MCP2".parse().unwrap()
                    } else {
                        j.joint
                    }),
                    ankylosis: Some(name == "R-PIP3" || name == "R-PIP5"),
                    subluxation: Some(matches!(name.as_str(), "R-MCP3" | "R-MCP4" | "R-IP1")),
                    ankylosis_probability: None,
                    subluxation_probability: None,
                }
            })
            .collect();
        for bbox in [
            b(1.0, 101.0, 10.0, 10.0),   // DIP
            b(20.0, 100.0, 10.0, 10.0),  // CMC2
            b(45.0, 105.0, 10.0, 10.0),  // radius
            b(5.0, 135.0, 10.0, 10.0),   // CMC1, inside the carpus box too
            b(40.0, 140.0, 10.0, 10.0),  // carpus
            b(200.0, 200.0, 10.0, 10.0), // nothing
            b(8.0, 100.0, 10.0, 10.0),   // overlaps the DIP, centre (13, 105) outside
        ] {
            p.push(Predicted {
                bbox,
                joint: Some("R-PIP2".parse().unwrap()),
                ankylosis: Some(true),
                subluxation: Some(false),
                ankylosis_probability: None,
                subluxation_probability: None,
            });
        }
        p
    }

    #[test]
    fn per_joint_type_worked_by_hand() {
        let m = measure_image(&hand(), &predictions());
        let t = &m.by_joint_type;
        // MCP: MCP1-5, MCP5 missed, MCP1 misnamed; MCP5's subluxation missed.
        assert_eq!((t.mcp.joints, t.mcp.detected, t.mcp.named), (5, 4, 3));
        assert_eq!((t.mcp.finding_joints, t.mcp.finding_flagged), (1, 0));
        assert_eq!(
            t.mcp.ankylosis,
            Confusion {
                tp: 0,
                fp: 0,
                tn: 4,
                fn_: 0
            }
        );
        assert_eq!(
            t.mcp.subluxation,
            Confusion {
                tp: 0,
                fp: 2,
                tn: 2,
                fn_: 0
            }
        );
        // PIP: PIP3-5 found and named; ankylosis tp on PIP5, fp on PIP3.
        assert_eq!((t.pip.joints, t.pip.detected, t.pip.named), (3, 3, 3));
        assert_eq!((t.pip.finding_joints, t.pip.finding_flagged), (1, 1));
        assert_eq!(
            t.pip.ankylosis,
            Confusion {
                tp: 1,
                fp: 1,
                tn: 1,
                fn_: 0
            }
        );
        assert_eq!(t.pip.subluxation.tn, 3);
        // Thumb IP: found, named; no subluxation label, so its flag is not counted.
        assert_eq!((t.ip.joints, t.ip.detected, t.ip.named), (1, 1, 1));
        assert_eq!(t.ip.ankylosis.tn, 1);
        assert_eq!(t.ip.subluxation.total(), 0);
        // The types add up to the whole.
        assert_eq!(t.mcp.joints + t.pip.joints + t.ip.joints, m.joints);
        assert_eq!(t.mcp.detected + t.pip.detected + t.ip.detected, m.detected);
        assert_eq!(t.mcp.named + t.pip.named + t.ip.named, m.named);
    }

    #[test]
    fn false_boxes_land_on_landmarks_by_their_centre() {
        let m = measure_image(&hand(), &predictions());
        assert_eq!(m.false_detections, 7);
        let fb = &m.false_boxes;
        assert_eq!(
            (fb.dip, fb.cmc, fb.radius, fb.ulna, fb.carpus, fb.other),
            (1, 2, 1, 0, 1, 2)
        );
        assert_eq!((fb.wrist(), fb.without_landmarks), (2, 0));
        assert_eq!(
            (
                fb.landmark_images,
                fb.one_hand_images,
                fb.one_hand_false_boxes
            ),
            (1, 1, 7)
        );
        // The rule itself: a box on CMC1 inside the carpus box goes to the better IoU.
        let img = hand();
        assert_eq!(
            lands_on(&img, &b(5.0, 135.0, 10.0, 10.0)),
            Some(LandmarkKind::Cmc)
        );
        // A large box centred in the carpus, larger than CMC1 around it: the carpus.
        assert_eq!(
            lands_on(&img, &b(0.0, 130.0, 60.0, 30.0)),
            Some(LandmarkKind::Carpus)
        );
        // Centre on the DIP box's edge: inside.
        assert_eq!(
            lands_on(&img, &b(5.0, 100.0, 10.0, 10.0)),
            Some(LandmarkKind::Dip)
        );
        assert_eq!(lands_on(&img, &b(8.0, 100.0, 10.0, 10.0)), None);
    }

    #[test]
    fn false_findings_by_jsn_grade_and_overlap() {
        let m = measure_image(&hand(), &predictions());
        let ff = &m.false_findings;
        let f = |joints, flagged| Flags { joints, flagged };
        assert_eq!(ff.jsn0, f(2, 1)); // MCP2, MCP3 (subluxation flag)
        assert_eq!(ff.jsn1, f(1, 1)); // MCP4
        assert_eq!(ff.jsn2, f(2, 1)); // PIP3 (false ankylosis), PIP4
        assert_eq!(ff.jsn3, f(1, 0)); // MCP1
        assert_eq!(ff.ungraded, f(1, 0)); // IP1: its subluxation flag does not count
        assert_eq!(ff.overlap, f(2, 1)); // IP1, MCP4
        assert_eq!(ff.all, f(7, 3));
        assert_eq!(ff.jsn2.rate(), Some(0.5));
        // JSN 4: PIP5 found and flagged, MCP5 missed.
        assert_eq!(
            m.jsn4,
            Jsn4 {
                joints: 2,
                detected: 1,
                flagged: 1
            }
        );
        // MCP5 found but flagged with ankylosis, not its subluxation: JSN 4 counts it
        // flagged (either finding), found-and-flagged of Table 1 does not.
        let mut p = predictions();
        p.push(Predicted {
            bbox: b(100.0, 0.0, 10.0, 10.0),
            joint: Some("R-MCP5".parse().unwrap()),
            ankylosis: Some(true),
            subluxation: Some(false),
            ankylosis_probability: None,
            subluxation_probability: None,
        });
        let m = measure_image(&hand(), &p);
        assert_eq!((m.jsn4.detected, m.jsn4.flagged), (2, 2));
        assert_eq!(m.by_joint_type.mcp.finding_flagged, 0);
        assert_eq!(m.finding_flagged, 1);
    }

    #[test]
    fn summary_over_films_and_json_names() {
        // A second film: two hands, no landmarks, no joints, one false box.
        let both = AnnotatedImage {
            file: "images/b.dcm".into(),
            laterality: Some("B".into()),
            ..Default::default()
        };
        let ann = Annotations {
            format: FORMAT.into(),
            images: vec![hand(), both],
        };
        let preds = vec![
            ImagePrediction {
                ensemble: predictions(),
                ..Default::default()
            },
            ImagePrediction {
                ensemble: vec![Predicted {
                    bbox: b(0.0, 0.0, 10.0, 10.0),
                    joint: None,
                    ankylosis: Some(false),
                    subluxation: Some(false),
                    ankylosis_probability: None,
                    subluxation_probability: None,
                }],
                ..Default::default()
            },
        ];
        let r = evaluate(&ann, &preds, None);
        let l = &r.lookalikes;
        assert_eq!((l.images, l.landmark_images, l.one_hand_images), (2, 1, 1));
        assert_eq!(l.false_boxes_per_film, Some(4.0)); // 8 over 2 films
        assert_eq!(l.false_boxes_per_one_hand_film, Some(7.0));
        // Per film with landmarks: the second film cannot say where its box landed.
        assert_eq!(
            (l.dip_per_film, l.cmc_per_film, l.wrist_per_film),
            (Some(1.0), Some(2.0), Some(2.0))
        );
        let fb = &r.overall.ensemble.false_boxes;
        assert_eq!((fb.other, fb.without_landmarks), (2, 1));
        assert_eq!(
            (
                l.jsn0_false_finding_rate,
                l.jsn2_false_finding_rate,
                l.overlap_false_finding_rate
            ),
            (Some(0.5), Some(0.5), Some(0.5))
        );
        assert_eq!(
            (l.jsn4_found_rate, l.jsn4_found_flagged_rate),
            (Some(0.5), Some(0.5))
        );

        // JSON: the existing fields unchanged, the new ones under their documented names.
        let v = serde_json::to_value(&r).unwrap();
        let e = &v["overall"]["ensemble"];
        for k in [
            "images",
            "joints",
            "detected",
            "false_detections",
            "named",
            "ankylosis",
            "subluxation",
            "ankylosis_positive",
            "subluxation_positive",
            "finding_joints",
            "finding_flagged",
            "iou_sum",
        ] {
            assert!(e.get(k).is_some(), "{k}");
        }
        assert_eq!(e["by_joint_type"]["mcp"]["joints"], 5);
        assert_eq!(e["by_joint_type"]["ip"]["subluxation"]["fn_"], 0);
        assert_eq!(e["false_boxes"]["cmc"], 2);
        assert_eq!(e["false_boxes"]["one_hand_false_boxes"], 7);
        assert_eq!(e["false_findings"]["jsn2"]["flagged"], 1);
        assert_eq!(e["false_findings"]["overlap"]["joints"], 2);
        assert_eq!(e["jsn4"]["detected"], 1);
        assert_eq!(v["lookalikes"]["dip_per_film"], 1.0);
        assert_eq!(v["lookalikes"]["jsn2_false_finding_rate"], 0.5);
        assert_eq!(
            v["folds"][0]["ensemble"]["false_boxes"]["without_landmarks"],
            1
        );

        let t = r.tables();
        for want in [
            "Table 4", "Table 5", "Table 6", "Table 7", "thumb IP", "carpus",
        ] {
            assert!(t.contains(want), "{want}:\n{t}");
        }
        assert!(t.find("Table 3").unwrap() < t.find("Table 4").unwrap());
        println!("{t}");
    }

    #[test]
    fn no_landmarks_no_grades_gives_dashes_not_zeros() {
        let mut img = hand();
        img.landmarks.clear();
        for j in &mut img.joints {
            j.jsn = None;
            j.overlap = false;
        }
        let ann = Annotations {
            format: FORMAT.into(),
            images: vec![img],
        };
        let r = evaluate(
            &ann,
            &[ImagePrediction {
                ensemble: predictions(),
                ..Default::default()
            }],
            None,
        );
        let l = &r.lookalikes;
        assert_eq!((l.dip_per_film, l.jsn2_false_finding_rate), (None, None));
        assert_eq!(l.jsn4_found_rate, None);
        assert_eq!(r.overall.ensemble.false_boxes.without_landmarks, 7);
        assert_eq!(r.overall.ensemble.false_boxes.other, 0);
        assert_eq!(r.overall.ensemble.false_findings.ungraded.joints, 7);
        assert!(!r.tables().contains("NaN"));
    }
}
