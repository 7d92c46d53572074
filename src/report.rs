//! The `rajoints analyze` JSON report (issue 2 contract) and its file names.

use std::path::{Path, PathBuf};

use snafu::{ResultExt, Snafu};

use crate::analysis::Analysis;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not write {}", path.display()))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not serialise the report"))]
    Serialise { source: serde_json::Error },
}

/// Writes `analysis` as pretty JSON to `path` (through a temporary file and a rename, so
/// a reader never sees half a report).
pub fn write_json(path: &Path, analysis: &Analysis) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(analysis).context(SerialiseSnafu)?;
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Writes `bytes` to a temporary sibling of `path`, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    // The process's own temporary name: two processes may write the same result (a batch
    // shard analysing another shard's prior), and each must rename only what it wrote.
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.part", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).context(WriteSnafu { path: &tmp })?;
    std::fs::rename(&tmp, path).context(WriteSnafu { path })
}

#[cfg(test)]
mod tests {
    use crate::analysis::*;
    use crate::pipeline::bbox::BBox;

    #[test]
    fn json_follows_the_contract() {
        let info = ModelInfo {
            name: "a".into(),
            version: "1".into(),
            sha256: "00".into(),
            temperature: 1.0,
            present_threshold: 0.5,
        };
        let a = Analysis {
            source: SourceInfo {
                file: "x.dcm".into(),
                sop_instance_uid: None,
                rows: 10,
                columns: 20,
            },
            models: ModelsInfo {
                ankylosis: info.clone(),
                subluxation: info,
            },
            joints: vec![Joint {
                id: "L-IP1".parse().ok(),
                bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
                score: 0.5,
                ankylosis: FindingLabel {
                    present: true,
                    probability: 0.5,
                },
                subluxation: None,
            }],
            assessment: Default::default(),
            hands: Vec::new(),
            conflicts: Vec::new(),
            dropped: Vec::new(),
            scale: None,
            summary: Default::default(),
            study_date: None,
            change: None,
            timing_ms: Timing::default(),
        };
        let v: serde_json::Value = serde_json::to_value(&a).unwrap();
        assert_eq!(v["source"]["sop_instance_uid"], serde_json::Value::Null);
        assert_eq!(v["joints"][0]["id"], "L-IP1");
        assert_eq!(
            v["joints"][0]["box"],
            serde_json::json!([1.0, 2.0, 3.0, 4.0])
        );
        assert_eq!(v["joints"][0]["ankylosis"]["present"], true);
        assert_eq!(v["joints"][0]["subluxation"], serde_json::Value::Null);
        for k in ["decode", "preprocess", "inference", "postprocess", "total"] {
            assert!(v["timing_ms"][k].is_number(), "{k}");
        }
        assert_eq!(v["models"]["ankylosis"]["temperature"], 1.0);
        assert_eq!(v["models"]["ankylosis"]["present_threshold"], 0.5);
        let mut old = v.clone();
        let back: Analysis = serde_json::from_value(v).unwrap();
        assert_eq!(back.joints, a.joints);
        // A report written before issue 17 has no calibration: it reads as the defaults.
        for m in ["ankylosis", "subluxation"] {
            let m = old["models"][m].as_object_mut().unwrap();
            m.remove("temperature");
            m.remove("present_threshold");
        }
        let back: Analysis = serde_json::from_value(old).unwrap();
        assert_eq!(back.models.subluxation, a.models.subluxation);
        assert!(!back.models.ankylosis.is_calibrated());
    }
}
