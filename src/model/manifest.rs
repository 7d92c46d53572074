//! The model manifest `models/<name>.toml`: what a detector is, how its input is prepared,
//! and the sha256 that ties the manifest to exactly one `.onnx` file (models/README.md).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use snafu::{ResultExt, Snafu, ensure};

use super::calibration::Calibration;
use crate::analysis::ModelInfo;

/// Which special finding a detector labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finding {
    Ankylosis,
    Subluxation,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Ankylosis => "ankylosis",
            Finding::Subluxation => "subluxation",
        }
    }
}

/// The class order every detector must output (softmax over these three).
pub const CLASSES: [&str; 3] = ["background", "absent", "present"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub finding: Finding,
    pub architecture: String,
    /// The `.onnx` file, relative to the manifest.
    pub file: PathBuf,
    pub sha256: String,
    /// Side of the square input window, pixels (300 for SSD300).
    pub input_size: u32,
    /// Per-channel normalisation of display values in [0, 1]: (v - mean) / std.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub classes: Vec<String>,
    /// Pixel spacing (mm) of the training images at model input; 0 when unknown.
    pub training_pixel_spacing_mm: f64,
    /// Temperature T of the finding probability (`calibration`); 1 when absent.
    #[serde(default = "crate::model::calibration::default_temperature")]
    pub temperature: f64,
    /// The finding is flagged when its calibrated probability is above this; 0.5 when absent.
    #[serde(default = "crate::model::calibration::default_present_threshold")]
    pub present_threshold: f64,
    pub provenance: String,
    pub intended_use: String,
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read model manifest {}", path.display()))]
    ReadManifest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("invalid model manifest {}", path.display()))]
    ParseManifest {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[snafu(display("could not read model file {}", path.display()))]
    ReadModel {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display(
        "model file {} does not match its manifest: sha256 is {actual}, manifest says {expected}",
        path.display()
    ))]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[snafu(display("model manifest {}: {problem}", path.display()))]
    Invalid { path: PathBuf, problem: String },
}

/// A manifest together with the verified bytes of its model.
#[derive(Debug, Clone)]
pub struct VerifiedModel {
    pub manifest: Manifest,
    pub onnx_path: PathBuf,
    pub onnx: Vec<u8>,
}

impl Manifest {
    /// Reads and validates a manifest; `path` may name the `.toml` or the `.onnx` beside it.
    pub fn load(path: &Path) -> Result<(Manifest, PathBuf), Error> {
        let path = if path.extension().is_some_and(|e| e == "onnx") {
            path.with_extension("toml")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).context(ReadManifestSnafu { path: &path })?;
        let m: Manifest = toml::from_str(&text).context(ParseManifestSnafu { path: &path })?;
        m.validate(&path)?;
        Ok((m, path))
    }

    fn validate(&self, path: &Path) -> Result<(), Error> {
        let bad = |problem: String| InvalidSnafu { path, problem };
        ensure!(
            self.classes == CLASSES,
            bad(format!(
                "classes must be {CLASSES:?}, found {:?}",
                self.classes
            ))
        );
        ensure!(
            self.input_size >= 32 && self.input_size <= 4096,
            bad(format!("input_size {} out of range", self.input_size))
        );
        ensure!(
            self.std.iter().all(|s| s.is_finite() && *s > 0.0)
                && self.mean.iter().all(|m| m.is_finite()),
            bad("mean must be finite and std positive".into())
        );
        ensure!(
            self.training_pixel_spacing_mm.is_finite() && self.training_pixel_spacing_mm >= 0.0,
            bad("training_pixel_spacing_mm must be >= 0".into())
        );
        if let Some(problem) = self.calibration().problem() {
            return bad(problem).fail();
        }
        ensure!(
            self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
            bad("sha256 must be 64 hex digits".into())
        );
        Ok(())
    }

    /// Loads the manifest and its model, refusing a model whose sha256 differs.
    pub fn load_verified(path: &Path) -> Result<VerifiedModel, Error> {
        let (manifest, manifest_path) = Manifest::load(path)?;
        let onnx_path = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&manifest.file);
        let onnx = std::fs::read(&onnx_path).context(ReadModelSnafu { path: &onnx_path })?;
        let actual = sha256_hex(&onnx);
        ensure!(
            actual.eq_ignore_ascii_case(&manifest.sha256),
            ChecksumSnafu {
                path: &onnx_path,
                expected: manifest.sha256.clone(),
                actual,
            }
        );
        Ok(VerifiedModel {
            manifest,
            onnx_path,
            onnx,
        })
    }

    /// How the detector's finding probability is calibrated and thresholded.
    pub fn calibration(&self) -> Calibration {
        Calibration {
            temperature: self.temperature,
            present_threshold: self.present_threshold,
        }
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.name.clone(),
            version: self.version.clone(),
            sha256: self.sha256.to_ascii_lowercase(),
            temperature: self.temperature,
            present_threshold: self.present_threshold,
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, onnx: &[u8], sha: &str, classes: &str) -> PathBuf {
        std::fs::write(dir.join("m.onnx"), onnx).unwrap();
        let toml = format!(
            r#"name = "m"
version = "1"
finding = "ankylosis"
architecture = "test"
file = "m.onnx"
sha256 = "{sha}"
input_size = 300
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]
classes = {classes}
training_pixel_spacing_mm = 0.0
provenance = "unit test"
intended_use = "tests"
"#
        );
        let p = dir.join("m.toml");
        std::fs::write(&p, toml).unwrap();
        p
    }

    const CLASSES_TOML: &str = r#"["background", "absent", "present"]"#;

    #[test]
    fn sha256_of_abc_is_the_fips_180_example() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn accepts_matching_model_by_either_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), b"abc", &sha256_hex(b"abc"), CLASSES_TOML);
        let m = Manifest::load_verified(&p).unwrap();
        assert_eq!(m.manifest.finding, Finding::Ankylosis);
        assert!(Manifest::load_verified(&dir.path().join("m.onnx")).is_ok());
    }

    #[test]
    fn refuses_model_whose_sha256_differs() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), b"abd", &sha256_hex(b"abc"), CLASSES_TOML);
        let err = Manifest::load_verified(&p).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("does not match its manifest"));
    }

    #[test]
    fn refuses_other_class_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            b"abc",
            &sha256_hex(b"abc"),
            r#"["background", "present", "absent"]"#,
        );
        assert!(matches!(Manifest::load(&p), Err(Error::Invalid { .. })));
    }

    /// The test manifest with `extra` lines after `training_pixel_spacing_mm`.
    fn with_calibration(dir: &Path, extra: &str) -> PathBuf {
        let p = write(dir, b"abc", &sha256_hex(b"abc"), CLASSES_TOML);
        let text = std::fs::read_to_string(&p).unwrap().replace(
            "training_pixel_spacing_mm = 0.0\n",
            &format!("training_pixel_spacing_mm = 0.0\n{extra}"),
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn calibration_keys_are_optional_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        // A manifest from before issue 17 loads with T = 1 and threshold 0.5.
        let (m, _) = Manifest::load(&with_calibration(dir.path(), "")).unwrap();
        assert_eq!((m.temperature, m.present_threshold), (1.0, 0.5));
        assert_eq!(m.calibration(), Calibration::default());
        let info = m.info();
        assert_eq!((info.temperature, info.present_threshold), (1.0, 0.5));
        let p = with_calibration(dir.path(), "temperature = 1.5\npresent_threshold = 0.35\n");
        let (m, _) = Manifest::load(&p).unwrap();
        assert_eq!(
            m.calibration(),
            Calibration {
                temperature: 1.5,
                present_threshold: 0.35
            }
        );
        for (extra, what) in [
            ("temperature = 0.0\n", "temperature"),
            ("temperature = -2.0\n", "temperature"),
            ("temperature = inf\n", "temperature"),
            ("present_threshold = 1.0\n", "present_threshold"),
            ("present_threshold = 0.0\n", "present_threshold"),
        ] {
            let err = Manifest::load(&with_calibration(dir.path(), extra)).unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{extra}: {err}");
            assert!(err.to_string().contains(what), "{extra}: {err}");
        }
    }
}
