//! The ground-truth annotation format `rajoints-annotations/1` (models/README.md): written
//! by `rajoints phantom`, read by `rajoints eval` and the training code.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu, ensure};

use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::JointId;

/// The value of the `format` field.
pub const FORMAT: &str = "rajoints-annotations/1";

/// `annotations.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotations {
    pub format: String,
    pub images: Vec<AnnotatedImage>,
}

/// One radiograph and its joints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatedImage {
    /// Path relative to the dataset folder, e.g. `images/<id>.dcm`.
    pub file: String,
    pub sop_instance_uid: String,
    pub patient_id: String,
    /// Time point of the patient's study (0, 1, ...): the paper's image pairs.
    pub timepoint: u32,
    pub width: u32,
    pub height: u32,
    /// Who or what made the annotation (`rajoints-phantom <version>` for phantoms).
    pub annotator: String,
    pub joints: Vec<AnnotatedJoint>,
    /// How the film is hung (`two-hands-reading`, `two-hands-acquired`, `one-hand`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convention: Option<String>,
    /// Which hands the film shows: `R`, `L` or `B` (both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub laterality: Option<String>,
    /// What the film shows when it is not a PA hand (`lateral`, `oblique`, `foot`,
    /// `chest`, `empty`, `rotated`); absent for a hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether the node should analyse the film; absent when true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub assessable: bool,
    /// The film's true pixel spacing in mm, also when the file carries none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_spacing_mm: Option<f64>,
    /// When the annotator last saved, RFC 3339 UTC (annotations made in the review UI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Review UI: `draft` while the annotator works, `signed` once a reviewer signed it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why the annotator marked the film not assessable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The VERIFIED SR made at sign-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_sr: Option<String>,
    /// The phantom preset that drew the film (`paper`, `clinic`, `hard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Places on the film that are not scored joints but look like them (DIP and
    /// carpometacarpal joints, the distal radius and ulna, the carpus): evaluation names
    /// the false boxes that land on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub landmarks: Vec<Landmark>,
}

/// What a landmark is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LandmarkKind {
    /// A distal interphalangeal joint (fingers 2-5).
    Dip,
    /// A carpometacarpal joint.
    Cmc,
    /// The distal radius (its styloid and articular surface).
    Radius,
    /// The distal ulna.
    Ulna,
    /// The carpal bones.
    Carpus,
}

impl LandmarkKind {
    pub const ALL: [LandmarkKind; 5] = [
        LandmarkKind::Dip,
        LandmarkKind::Cmc,
        LandmarkKind::Radius,
        LandmarkKind::Ulna,
        LandmarkKind::Carpus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LandmarkKind::Dip => "dip",
            LandmarkKind::Cmc => "cmc",
            LandmarkKind::Radius => "radius",
            LandmarkKind::Ulna => "ulna",
            LandmarkKind::Carpus => "carpus",
        }
    }
}

/// A place a detector may mistake for a scored joint, with the box a joint there would
/// have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Landmark {
    pub kind: LandmarkKind,
    /// e.g. `R-DIP3`, `L-CMC1`, `R-RADIUS`.
    pub name: String,
    #[serde(rename = "box")]
    pub bbox: BBox,
}

fn yes() -> bool {
    true
}

/// An assessable film with no joints and none of the optional fields: the base that
/// writers fill with `..Default::default()`.
impl Default for AnnotatedImage {
    fn default() -> Self {
        AnnotatedImage {
            file: String::new(),
            sop_instance_uid: String::new(),
            patient_id: String::new(),
            timepoint: 0,
            width: 0,
            height: 0,
            annotator: String::new(),
            joints: Vec::new(),
            convention: None,
            laterality: None,
            kind: None,
            assessable: true,
            true_spacing_mm: None,
            time: None,
            status: None,
            reason: None,
            verified_sr: None,
            preset: None,
            landmarks: Vec::new(),
        }
    }
}

fn is_true(v: &bool) -> bool {
    *v
}

/// Ground truth of one joint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnnotatedJoint {
    pub joint: JointId,
    /// `[x0, y0, x1, y1]`, full-resolution pixels, pixel-edge convention, centred on the
    /// joint space.
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub ankylosis: bool,
    /// Subluxation or dislocation; `null` for the thumb IP joint.
    pub subluxation: Option<bool>,
    /// Sharp/van der Heijde joint-space narrowing score, 0-4 (4: ankylosis or complete
    /// luxation), where the annotator graded it (phantoms always do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsn: Option<u8>,
    /// Sharp/van der Heijde erosion score, 0-5, where graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erosion: Option<u8>,
    /// The joint's bones overlap in projection, or another finger crosses it, without a
    /// subluxation: the look-alike of a dislocation.
    #[serde(default, skip_serializing_if = "is_false")]
    pub overlap: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl AnnotatedJoint {
    /// A joint with its box and labels, ungraded.
    pub fn new(
        joint: JointId,
        bbox: BBox,
        ankylosis: bool,
        subluxation: Option<bool>,
    ) -> AnnotatedJoint {
        AnnotatedJoint {
            joint,
            bbox,
            ankylosis,
            subluxation,
            jsn: None,
            erosion: None,
            overlap: false,
        }
    }
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read {}", path.display()))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("{} is not valid annotation JSON", path.display()))]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[snafu(display("{}: format is `{found}`, expected `{FORMAT}`", path.display()))]
    Format { path: PathBuf, found: String },
    #[snafu(display("{}: image {file}: {problem}", path.display()))]
    Invalid {
        path: PathBuf,
        file: String,
        problem: String,
    },
}

impl Annotations {
    /// Reads and checks `annotations.json` (or the file inside a dataset folder).
    pub fn load(path: &Path) -> Result<Annotations, Error> {
        let path = if path.is_dir() {
            path.join("annotations.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).context(ReadSnafu { path: &path })?;
        let a: Annotations = serde_json::from_str(&text).context(ParseSnafu { path: &path })?;
        ensure!(
            a.format == FORMAT,
            FormatSnafu {
                path: &path,
                found: a.format.clone()
            }
        );
        for img in &a.images {
            let bad = |problem: String| InvalidSnafu {
                path: &path,
                file: img.file.clone(),
                problem,
            };
            let mut seen = std::collections::HashSet::new();
            for j in &img.joints {
                ensure!(
                    seen.insert(j.joint),
                    bad(format!("joint {} annotated twice", j.joint))
                );
                ensure!(
                    j.bbox.is_proper(),
                    bad(format!("joint {} has an empty box", j.joint))
                );
                ensure!(
                    j.joint.is_thumb_ip() == j.subluxation.is_none(),
                    bad(format!(
                        "joint {}: subluxation must be null exactly for the thumb IP joint",
                        j.joint
                    ))
                );
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_format_and_refuses_inconsistent_subluxation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("annotations.json");
        let good = r#"{"format": "rajoints-annotations/1", "images": [{"file": "images/a.dcm",
            "sop_instance_uid": "2.25.1", "patient_id": "P1", "timepoint": 0, "width": 10,
            "height": 10, "annotator": "x", "joints": [
            {"joint": "R-IP1", "box": [1, 1, 4, 4], "ankylosis": false, "subluxation": null},
            {"joint": "R-PIP2", "box": [5, 5, 8, 8], "ankylosis": true, "subluxation": false}]}]}"#;
        std::fs::write(&p, good).unwrap();
        let a = Annotations::load(dir.path()).unwrap();
        assert_eq!(a.images[0].joints[1].joint.to_string(), "R-PIP2");
        // Files without the optional fields load with their defaults, and the defaults are
        // not written back.
        let img = &a.images[0];
        assert!(img.assessable && img.convention.is_none() && img.true_spacing_mm.is_none());
        let text = serde_json::to_string(&a).unwrap();
        assert!(
            !text.contains("assessable") && !text.contains("kind"),
            "{text}"
        );
        let refused = good.replace(
            "\"annotator\": \"x\",",
            "\"annotator\": \"x\", \"kind\": \"foot\", \"assessable\": false, \"laterality\": \"R\",",
        );
        std::fs::write(&p, &refused).unwrap();
        let r = Annotations::load(&p).unwrap();
        assert!(!r.images[0].assessable);
        assert_eq!(r.images[0].kind.as_deref(), Some("foot"));
        assert!(
            serde_json::to_string(&r)
                .unwrap()
                .contains("\"assessable\":false")
        );
        std::fs::write(
            &p,
            good.replace("\"subluxation\": null", "\"subluxation\": false"),
        )
        .unwrap();
        assert!(matches!(Annotations::load(&p), Err(Error::Invalid { .. })));
        std::fs::write(&p, good.replace("annotations/1", "annotations/9")).unwrap();
        assert!(matches!(Annotations::load(&p), Err(Error::Format { .. })));
    }
}
