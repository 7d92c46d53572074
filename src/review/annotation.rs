//! A reviewer's annotation of one film: what the browser sends, checked and stored as
//! `rajoints-annotations/1`, and what changed against the work it replaces (the audit
//! log says who changed what).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BadAnnotationSnafu, FilmRecord, Result};
use crate::analysis::Analysis;
use crate::annotations::{AnnotatedImage, AnnotatedJoint};
use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::JointId;

/// Where an annotator's work stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Saved, not signed off: the annotator may go on.
    Draft,
    /// Signed off by a reviewer: a VERIFIED SR was sent.
    Signed,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Draft => "draft",
            ReviewStatus::Signed => "signed",
        }
    }
}

/// The status recorded in a saved annotation.
pub fn status_of(image: &AnnotatedImage) -> ReviewStatus {
    match image.status.as_deref() {
        Some("signed") => ReviewStatus::Signed,
        _ => ReviewStatus::Draft,
    }
}

/// The annotation the browser sends (`PUT /api/films/{id}/annotation`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submitted {
    pub assessable: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub joints: Vec<SubmittedJoint>,
}

/// One joint as the browser sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedJoint {
    pub joint: String,
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
    pub ankylosis: bool,
    pub subluxation: Option<bool>,
}

/// Longest reason text kept.
const MAX_REASON: usize = 500;

/// Checks a submission and makes the stored form. Boxes are clipped to the image; a box
/// left empty, a joint named twice, an unknown joint name or a subluxation label on the
/// thumb IP joint (or none on another joint) is refused with a message for the reviewer.
pub fn to_image(
    sub: &Submitted,
    film: &FilmRecord,
    annotator: &str,
    time: &str,
) -> Result<AnnotatedImage> {
    let bad = |problem: String| BadAnnotationSnafu { problem }.build();
    let mut joints = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for j in &sub.joints {
        let id: JointId = j
            .joint
            .parse()
            .map_err(|_| bad(format!("`{}` is not a joint name", j.joint)))?;
        if !seen.insert(id) {
            return Err(bad(format!("{id} is marked twice")));
        }
        if !j.bbox.iter().all(|v| v.is_finite()) {
            return Err(bad(format!("{id}: the box is not a number")));
        }
        let b = BBox::new(
            j.bbox[0] as f32,
            j.bbox[1] as f32,
            j.bbox[2] as f32,
            j.bbox[3] as f32,
        )
        .clamp_to(film.width as f32, film.height as f32);
        if !(b.is_proper() && b.width() >= 2.0 && b.height() >= 2.0) {
            return Err(bad(format!("{id}: the box is empty or outside the image")));
        }
        let subluxation = match (id.is_thumb_ip(), j.subluxation) {
            (true, None) => None,
            (false, Some(v)) => Some(v),
            (true, Some(_)) => {
                return Err(bad(format!(
                    "{id}: the thumb IP joint has no subluxation label"
                )));
            }
            (false, None) => return Err(bad(format!("{id}: subluxation must be true or false"))),
        };
        joints.push(AnnotatedJoint {
            joint: id,
            bbox: b,
            ankylosis: j.ankylosis,
            subluxation,
            jsn: None,
            erosion: None,
            overlap: false,
        });
    }
    joints.sort_by_key(|j| j.joint.to_string());
    let reason = sub
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON).collect::<String>());
    Ok(AnnotatedImage {
        file: format!("images/{}.dcm", film.id),
        patient_id: film.patient_key.clone(),
        width: film.width,
        height: film.height,
        annotator: annotator.to_string(),
        // A film that is not assessable has no joints to learn from.
        joints: if sub.assessable { joints } else { Vec::new() },
        assessable: sub.assessable,
        time: Some(time.to_string()),
        status: Some(ReviewStatus::Draft.as_str().to_string()),
        reason: if sub.assessable { None } else { reason },
        ..Default::default()
    })
}

/// The AI's named joints in the stored form: where a review starts.
pub fn ai_joints(analysis: &Analysis) -> Vec<AnnotatedJoint> {
    analysis
        .joints
        .iter()
        .filter_map(|j| {
            Some(AnnotatedJoint {
                joint: j.id?,
                bbox: j.bbox,
                ankylosis: j.ankylosis.present,
                subluxation: j.subluxation.map(|l| l.present),
                jsn: None,
                erosion: None,
                overlap: false,
            })
        })
        .collect()
}

/// One change of an annotation, for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Edit {
    Added {
        joint: JointId,
    },
    Deleted {
        joint: JointId,
    },
    /// The box moved or changed size (pixels, rounded).
    Box {
        joint: JointId,
        from: [i64; 4],
        to: [i64; 4],
    },
    Ankylosis {
        joint: JointId,
        present: bool,
    },
    Subluxation {
        joint: JointId,
        present: bool,
    },
    Assessable {
        assessable: bool,
    },
}

fn rounded(b: &BBox) -> [i64; 4] {
    [b.x0, b.y0, b.x1, b.y1].map(|v| v.round() as i64)
}

/// What changed from `before` to `after`, joint by joint, in joint order.
pub fn edits(
    before: &[AnnotatedJoint],
    before_assessable: bool,
    after: &[AnnotatedJoint],
    after_assessable: bool,
) -> Vec<Edit> {
    let key = |j: &AnnotatedJoint| j.joint.to_string();
    let a: BTreeMap<String, &AnnotatedJoint> = before.iter().map(|j| (key(j), j)).collect();
    let b: BTreeMap<String, &AnnotatedJoint> = after.iter().map(|j| (key(j), j)).collect();
    let mut out = Vec::new();
    if before_assessable != after_assessable {
        out.push(Edit::Assessable {
            assessable: after_assessable,
        });
    }
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        match (a.get(name), b.get(name)) {
            (Some(x), None) => out.push(Edit::Deleted { joint: x.joint }),
            (None, Some(y)) => out.push(Edit::Added { joint: y.joint }),
            (Some(x), Some(y)) => {
                let (from, to) = (rounded(&x.bbox), rounded(&y.bbox));
                if from != to {
                    out.push(Edit::Box {
                        joint: y.joint,
                        from,
                        to,
                    });
                }
                if x.ankylosis != y.ankylosis {
                    out.push(Edit::Ankylosis {
                        joint: y.joint,
                        present: y.ankylosis,
                    });
                }
                if let (Some(p), Some(q)) = (x.subluxation, y.subluxation)
                    && p != q
                {
                    out.push(Edit::Subluxation {
                        joint: y.joint,
                        present: q,
                    });
                }
            }
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::AiStatus;
    use super::*;

    fn film() -> FilmRecord {
        FilmRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            received: "2026-12-06T06:00:00Z".into(),
            study_date: None,
            study_description: None,
            modality: Some("DX".into()),
            width: 100,
            height: 80,
            pixel_spacing_mm: None,
            ai_status: AiStatus::Analysed,
            ai_reason: None,
            joints: 0,
            findings: 0,
            ai_sr: None,
            patient_key: "p".into(),
        }
    }

    fn joint(name: &str, bbox: [f64; 4], sub: Option<bool>) -> SubmittedJoint {
        SubmittedJoint {
            joint: name.into(),
            bbox,
            ankylosis: false,
            subluxation: sub,
        }
    }

    #[test]
    fn submissions_are_checked_and_clipped() {
        let sub = Submitted {
            assessable: true,
            reason: None,
            joints: vec![
                joint("R-PIP2", [90.0, 10.0, 130.0, 20.0], Some(false)),
                joint("R-IP1", [1.0, 1.0, 5.0, 5.0], None),
            ],
        };
        let img = to_image(&sub, &film(), "alice", "t").unwrap();
        // Sorted by name; the box that ran off the right edge is clipped at x = 100.
        assert_eq!(img.joints[1].joint.to_string(), "R-PIP2");
        assert_eq!(img.joints[1].bbox, BBox::new(90.0, 10.0, 100.0, 20.0));
        assert_eq!(img.status.as_deref(), Some("draft"));
        assert_eq!(img.file, "images/0123456789abcdef0123456789abcdef.dcm");
        for (joints, says) in [
            (
                vec![joint("R-PIP9", [1.0, 1.0, 5.0, 5.0], Some(false))],
                "not a joint",
            ),
            (
                vec![
                    joint("L-MCP2", [1.0, 1.0, 5.0, 5.0], Some(false)),
                    joint("L-MCP2", [9.0, 1.0, 15.0, 5.0], Some(false)),
                ],
                "twice",
            ),
            (
                vec![joint("L-IP1", [1.0, 1.0, 5.0, 5.0], Some(true))],
                "thumb IP",
            ),
            (
                vec![joint("L-MCP3", [1.0, 1.0, 5.0, 5.0], None)],
                "true or false",
            ),
            (
                vec![joint("L-MCP3", [120.0, 1.0, 150.0, 5.0], Some(false))],
                "outside",
            ),
        ] {
            let sub = Submitted {
                assessable: true,
                reason: None,
                joints,
            };
            let e = to_image(&sub, &film(), "alice", "t")
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e} lacks {says}");
        }
    }

    #[test]
    fn edits_name_each_change() {
        let j = |name: &str, x0: f32, ank: bool, sub: Option<bool>| AnnotatedJoint {
            joint: name.parse().unwrap(),
            bbox: BBox::new(x0, 0.0, x0 + 10.0, 10.0),
            ankylosis: ank,
            subluxation: sub,
            jsn: None,
            erosion: None,
            overlap: false,
        };
        let before = vec![
            j("R-PIP2", 0.0, false, Some(false)),
            j("R-MCP2", 50.0, false, Some(false)),
        ];
        let after = vec![
            j("R-PIP2", 40.0, true, Some(false)),
            j("L-MCP5", 70.0, false, Some(true)),
        ];
        let e = edits(&before, true, &after, true);
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"[{"change":"added","joint":"L-MCP5"},{"change":"deleted","joint":"R-MCP2"},{"change":"box","joint":"R-PIP2","from":[0,0,10,10],"to":[40,0,50,10]},{"change":"ankylosis","joint":"R-PIP2","present":true}]"#
        );
        assert_eq!(
            edits(&before, true, &before, false),
            vec![Edit::Assessable { assessable: false }]
        );
    }
}
