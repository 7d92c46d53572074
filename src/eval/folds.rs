//! Patient-level folds for cross-validation, like the paper's five folds: no patient in
//! two folds, images with positive findings spread evenly. The split is written to a file
//! so that training uses the same folds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu, ensure};

use crate::annotations::Annotations;

pub const FORMAT: &str = "rajoints-folds/1";

/// `folds.json`: fold k holds these patients and their images (dataset-relative paths).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub format: String,
    pub folds: Vec<Fold>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fold {
    pub patients: Vec<String>,
    pub images: Vec<String>,
    /// Positive ankylosis and subluxation joints in the fold.
    pub ankylosis_positive: u64,
    pub subluxation_positive: u64,
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("cannot make {k} folds from {patients} patients"))]
    TooFewPatients { k: usize, patients: usize },
    #[snafu(display("patient {patient} is in folds {a} and {b}: folds must be patient-level"))]
    PatientInTwoFolds { patient: String, a: usize, b: usize },
    #[snafu(display("image {file} is in no fold of the split"))]
    ImageMissing { file: String },
    #[snafu(display("image {file} of the split is not in the dataset or in two folds"))]
    ImageUnknown { file: String },
    #[snafu(display("could not read split {}", path.display()))]
    ReadSplit {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("{} is not a valid split file", path.display()))]
    ParseSplit {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[snafu(display("could not write split {}", path.display()))]
    WriteSplit {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Positive joints and images of one patient.
#[derive(Debug, Default)]
struct Tally<'a> {
    ankylosis: u64,
    subluxation: u64,
    images: Vec<&'a str>,
}

/// Assigns patients to `k` folds: patients with the most positive joints first, each to
/// the fold with the fewest positives so far (then fewest images, then lowest index), so
/// the rare findings spread evenly. Deterministic for a given dataset.
pub fn make(ann: &Annotations, k: usize) -> Result<Split, Error> {
    let mut per: BTreeMap<&str, Tally> = BTreeMap::new();
    for img in &ann.images {
        let e = per.entry(img.patient_id.as_str()).or_default();
        e.ankylosis += img.joints.iter().filter(|j| j.ankylosis).count() as u64;
        e.subluxation += img
            .joints
            .iter()
            .filter(|j| j.subluxation == Some(true))
            .count() as u64;
        e.images.push(img.file.as_str());
    }
    ensure!(
        k >= 1 && per.len() >= k,
        TooFewPatientsSnafu {
            k,
            patients: per.len()
        }
    );
    let mut patients: Vec<(&str, Tally)> = per.into_iter().collect();
    // Subluxation is the rarer finding: it leads the order.
    patients.sort_by(|(pa, a), (pb, b)| {
        (b.subluxation, b.ankylosis, b.images.len())
            .cmp(&(a.subluxation, a.ankylosis, a.images.len()))
            .then(pa.cmp(pb))
    });
    let mut folds: Vec<Fold> = (0..k)
        .map(|_| Fold {
            patients: vec![],
            images: vec![],
            ankylosis_positive: 0,
            subluxation_positive: 0,
        })
        .collect();
    for (
        pid,
        Tally {
            ankylosis: ank,
            subluxation: sub,
            images,
        },
    ) in patients
    {
        let target = (0..k)
            .min_by_key(|&f| {
                let fo = &folds[f];
                // Balance the finding the patient carries (the rarer one first), then size.
                let primary = if sub > 0 {
                    fo.subluxation_positive
                } else if ank > 0 {
                    fo.ankylosis_positive
                } else {
                    0
                };
                (primary, fo.images.len(), f)
            })
            .unwrap_or(0);
        let f = &mut folds[target];
        f.patients.push(pid.to_string());
        f.images.extend(images.iter().map(|s| s.to_string()));
        f.ankylosis_positive += ank;
        f.subluxation_positive += sub;
    }
    Ok(Split {
        format: FORMAT.into(),
        folds,
    })
}

/// Checks a split against a dataset: patient-level, every image in exactly one fold.
pub fn validate(split: &Split, ann: &Annotations) -> Result<(), Error> {
    let mut patient_fold: BTreeMap<&str, usize> = BTreeMap::new();
    let dataset: BTreeMap<&str, &str> = ann
        .images
        .iter()
        .map(|i| (i.file.as_str(), i.patient_id.as_str()))
        .collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (f, fold) in split.folds.iter().enumerate() {
        for p in &fold.patients {
            if let Some(&a) = patient_fold.get(p.as_str()) {
                return PatientInTwoFoldsSnafu {
                    patient: p.clone(),
                    a,
                    b: f,
                }
                .fail();
            }
            patient_fold.insert(p, f);
        }
        for img in &fold.images {
            let patient = dataset.get(img.as_str()).copied();
            ensure!(
                patient.is_some() && seen.insert(img),
                ImageUnknownSnafu { file: img.clone() }
            );
            // An image's patient must belong to the fold that holds the image.
            if let Some(p) = patient
                && let Some(&a) = patient_fold.get(p)
                && a != f
            {
                return PatientInTwoFoldsSnafu {
                    patient: p.to_string(),
                    a,
                    b: f,
                }
                .fail();
            }
            if let Some(p) = patient {
                patient_fold.entry(p).or_insert(f);
            }
        }
    }
    for img in &ann.images {
        ensure!(
            seen.contains(img.file.as_str()),
            ImageMissingSnafu {
                file: img.file.clone()
            }
        );
    }
    Ok(())
}

impl Split {
    pub fn load(path: &Path) -> Result<Split, Error> {
        let text = std::fs::read_to_string(path).context(ReadSplitSnafu { path })?;
        serde_json::from_str(&text).context(ParseSplitSnafu { path })
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text).context(WriteSplitSnafu { path })
    }

    /// Fold index of each image file.
    pub fn fold_of(&self) -> BTreeMap<&str, usize> {
        self.folds
            .iter()
            .enumerate()
            .flat_map(|(f, fold)| fold.images.iter().map(move |i| (i.as_str(), f)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::{AnnotatedImage, AnnotatedJoint};
    use crate::pipeline::bbox::BBox;

    fn image(patient: &str, t: u32, ank: usize, sub: usize) -> AnnotatedImage {
        let ids = ["R-MCP2", "R-MCP3", "R-MCP4", "R-MCP5", "R-PIP2", "R-PIP3"];
        AnnotatedImage {
            file: format!("images/{patient}-{t}.dcm"),
            sop_instance_uid: format!("2.25.{}{t}", patient.len()),
            patient_id: patient.into(),
            timepoint: t,
            width: 100,
            height: 100,
            annotator: "test".into(),
            joints: ids
                .iter()
                .enumerate()
                .map(|(k, id)| AnnotatedJoint {
                    joint: id.parse().unwrap(),
                    bbox: BBox::new(k as f32 * 10.0, 0.0, k as f32 * 10.0 + 5.0, 5.0),
                    ankylosis: k < ank,
                    subluxation: Some(k < sub),
                    jsn: None,
                    erosion: None,
                    overlap: false,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn dataset() -> Annotations {
        // 10 patients, two images each; patients p0 and p1 carry subluxations, p2-p4
        // ankylosis.
        let mut images = Vec::new();
        for p in 0..10 {
            let (ank, sub) = match p {
                0 | 1 => (0, 2),
                2..=4 => (1, 0),
                _ => (0, 0),
            };
            images.push(image(&format!("p{p}"), 0, ank, sub));
            images.push(image(&format!("p{p}"), 1, ank, sub));
        }
        Annotations {
            format: crate::annotations::FORMAT.into(),
            images,
        }
    }

    #[test]
    fn folds_are_patient_level_and_spread_positives() {
        let ann = dataset();
        let split = make(&ann, 5).unwrap();
        validate(&split, &ann).unwrap();
        // Both timepoints of each patient in one fold, two patients per fold.
        assert!(
            split
                .folds
                .iter()
                .all(|f| f.patients.len() == 2 && f.images.len() == 4)
        );
        // 2 subluxation patients (4 positives each over 2 images) in different folds.
        let with_sub = split
            .folds
            .iter()
            .filter(|f| f.subluxation_positive > 0)
            .count();
        assert_eq!(with_sub, 2);
        // 3 ankylosis patients (2 positives each) in three different folds.
        let with_ank = split
            .folds
            .iter()
            .filter(|f| f.ankylosis_positive > 0)
            .count();
        assert_eq!(with_ank, 3);
        assert_eq!(make(&ann, 5).unwrap(), split, "deterministic");
    }

    #[test]
    fn a_patient_in_two_folds_is_refused() {
        let ann = dataset();
        let mut split = make(&ann, 5).unwrap();
        // Move p0's second image to another fold.
        let f0 = split
            .folds
            .iter()
            .position(|f| f.images.iter().any(|i| i == "images/p0-1.dcm"))
            .unwrap();
        split.folds[f0].images.retain(|i| i != "images/p0-1.dcm");
        split.folds[(f0 + 1) % 5]
            .images
            .push("images/p0-1.dcm".into());
        let err = validate(&split, &ann).unwrap_err();
        assert!(matches!(err, Error::PatientInTwoFolds { .. }), "{err}");
        assert!(err.to_string().contains("p0"));
    }

    #[test]
    fn a_patient_listed_in_two_folds_is_refused_and_missing_images_too() {
        let ann = dataset();
        let mut split = make(&ann, 5).unwrap();
        let p = split.folds[0].patients[0].clone();
        split.folds[1].patients.push(p);
        assert!(matches!(
            validate(&split, &ann),
            Err(Error::PatientInTwoFolds { .. })
        ));
        let mut split = make(&ann, 5).unwrap();
        split.folds[0].images.pop();
        assert!(matches!(
            validate(&split, &ann),
            Err(Error::ImageMissing { .. })
        ));
    }

    #[test]
    fn too_few_patients_is_an_error() {
        let ann = dataset();
        assert!(matches!(make(&ann, 11), Err(Error::TooFewPatients { .. })));
    }
}
