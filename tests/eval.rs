//! `rajoints eval` on a small dataset of square-joint films whose answers are known:
//! every joint is found (detection rate 100 %), and the labels follow the squares'
//! brightness (1.0: both findings present for the blob test models). The sick joint is graded
//! JSN 4, the others JSN 0 (issue 16's tables).

mod common;

use std::path::Path;

use common::{CrImage, Square, film, paint};
use rajoints::annotations::{AnnotatedImage, AnnotatedJoint, Annotations, FORMAT};

/// Four films of two patients; patient B's R-PIP2 (film 2) has both findings.
fn dataset(dir: &Path) -> Annotations {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let mut images = Vec::new();
    for (k, patient) in ["A", "A", "B", "B"].iter().enumerate() {
        let sick = k == 2;
        let (w, h, joints) = film(|id| {
            if sick && id.to_string() == "R-PIP2" {
                1.0
            } else {
                0.5
            }
        });
        let mut squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
        squares.push(Square {
            x: 0,
            y: 0,
            side: 2,
            value: 1.0,
        });
        let file = format!("images/{k}.dcm");
        let uid = format!("2.25.{}", 500 + k);
        CrImage::from_display(w, h, &paint(w, h, &squares)).write(&dir.join(&file), &uid);
        images.push(AnnotatedImage {
            file,
            sop_instance_uid: uid,
            patient_id: patient.to_string(),
            timepoint: (k % 2) as u32,
            width: w,
            height: h,
            annotator: "test".into(),
            joints: joints
                .iter()
                .map(|(id, sq)| {
                    let present = sick && id.to_string() == "R-PIP2";
                    AnnotatedJoint {
                        joint: *id,
                        bbox: [
                            sq.x as f32,
                            sq.y as f32,
                            (sq.x + sq.side) as f32,
                            (sq.y + sq.side) as f32,
                        ]
                        .into(),
                        ankylosis: present,
                        subluxation: if id.is_thumb_ip() {
                            None
                        } else {
                            Some(present)
                        },
                        jsn: Some(if present { 4 } else { 0 }),
                        erosion: None,
                        overlap: false,
                    }
                })
                .collect(),
            ..Default::default()
        });
    }
    let ann = Annotations {
        format: FORMAT.into(),
        images,
    };
    std::fs::write(
        dir.join("annotations.json"),
        serde_json::to_string_pretty(&ann).unwrap(),
    )
    .unwrap();
    ann
}

fn eval(args: &[&str]) -> std::process::Output {
    let (a, s) = common::test_models();
    common::rajoints(&["eval"])
        .args(args)
        .args([
            "--ankylosis-model",
            a.to_str().unwrap(),
            "--subluxation-model",
            s.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn perfect_detection_on_known_films_with_folds_and_json() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let json = dir.path().join("m.json");
    let out = eval(&[
        "--dataset",
        dir.path().to_str().unwrap(),
        "--folds",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Table 1") && stdout.contains("Table 3"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let overall = &v["overall"]["ensemble"];
    assert_eq!(overall["joints"], 80);
    assert_eq!(overall["detected"], 80);
    assert_eq!(overall["false_detections"], 0);
    // Every detected joint carries its true name (a finding on the wrong joint is an error).
    assert_eq!(overall["named"], 80);
    // One ankylosis-positive joint, found and labelled: tp 1, fp 0, fn 0.
    assert_eq!(overall["ankylosis"]["tp"], 1);
    assert_eq!(overall["ankylosis"]["fp"], 0);
    assert_eq!(overall["ankylosis"]["fn_"], 0);
    // Per-detector rates: the ankylosis SSD keeps its top 20 of 20 joints.
    assert_eq!(v["overall"]["ankylosis_ssd"]["detected"], 80);
    // Two patient-level folds: both films of a patient in one fold.
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("folds.json")).unwrap())
            .unwrap();
    assert_eq!(split["folds"].as_array().unwrap().len(), 2);
    for f in split["folds"].as_array().unwrap() {
        assert_eq!(f["patients"].as_array().unwrap().len(), 1);
        assert_eq!(f["images"].as_array().unwrap().len(), 2);
    }
    assert_eq!(v["folds"].as_array().unwrap().len(), 2);
    // Issue 16: per joint type, false boxes, false findings by JSN grade, look-alikes.
    assert!(
        stdout.contains("Table 4") && stdout.contains("Table 7"),
        "{stdout}"
    );
    assert!(
        stdout.find("Table 3").unwrap() < stdout.find("Table 4").unwrap(),
        "{stdout}"
    );
    let t = &overall["by_joint_type"];
    for (ty, n) in [("mcp", 40), ("pip", 32), ("ip", 8)] {
        assert_eq!(t[ty]["joints"], n, "{ty}");
        assert_eq!(t[ty]["detected"], n, "{ty}");
        assert_eq!(t[ty]["named"], n, "{ty}");
    }
    assert_eq!(t["pip"]["finding_flagged"], 1);
    assert_eq!(t["pip"]["ankylosis"]["tp"], 1);
    // No landmarks in these films, and no false box: nothing lands anywhere.
    assert_eq!(overall["false_boxes"]["without_landmarks"], 0);
    assert_eq!(overall["false_boxes"]["landmark_images"], 0);
    // 79 JSN-0 joints, none flagged; the JSN-4 joint found and flagged.
    assert_eq!(overall["false_findings"]["jsn0"]["joints"], 79);
    assert_eq!(overall["false_findings"]["jsn0"]["flagged"], 0);
    assert_eq!(overall["false_findings"]["jsn2"]["joints"], 0);
    assert_eq!(overall["jsn4"]["joints"], 1);
    assert_eq!(overall["jsn4"]["flagged"], 1);
    let l = &v["lookalikes"];
    assert_eq!(l["images"], 4);
    assert_eq!(l["false_boxes_per_film"], 0.0);
    assert_eq!(l["jsn0_false_finding_rate"], 0.0);
    assert_eq!(l["jsn4_found_flagged_rate"], 1.0);
    // Rates without a denominator are null, not 0.
    assert_eq!(l["dip_per_film"], serde_json::Value::Null);
    assert_eq!(l["jsn2_false_finding_rate"], serde_json::Value::Null);
    // Issue 17: Table 8 after Table 7, and its JSON.
    assert!(
        stdout.find("Table 7").unwrap() < stdout.find("Table 8").unwrap(),
        "{stdout}"
    );
    let c = &v["calibration"];
    check_calibration(&c["ankylosis"], 80);
    // The thumb IP joints have no subluxation label: 80 - 8.
    check_calibration(&c["subluxation"], 72);
    for f in ["ankylosis", "subluxation"] {
        // The sick joint (q near 1) alone in the top bin, the 0.5 squares (q near 0) in
        // the bottom one: calibrated to within a percent.
        let bins = &c[f]["bins"];
        assert_eq!(bins[9]["count"], 1, "{f}");
        assert_eq!(bins[9]["observed_rate"], 1.0, "{f}");
        assert_eq!(bins[0]["observed_rate"], 0.0, "{f}");
        assert!(c[f]["ece"].as_f64().unwrap() < 0.01, "{f}: {}", c[f]);
        assert!(c[f]["brier"].as_f64().unwrap() < 0.01, "{f}: {}", c[f]);
    }
}

/// A finding's `calibration` entry: `n` joints, ten bins that add up to it, ECE and
/// Brier in [0, 1], per-bin means and rates in [0, 1] (null where the bin is empty).
fn check_calibration(c: &serde_json::Value, n: u64) {
    assert_eq!(c["n"], n, "{c}");
    let bins = c["bins"].as_array().unwrap();
    assert_eq!(bins.len(), 10, "{c}");
    let counts: u64 = bins.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counts, n, "{c}");
    for b in bins {
        for k in ["mean_probability", "observed_rate"] {
            if b["count"] == 0 {
                assert_eq!(b[k], serde_json::Value::Null, "{c}");
            } else {
                let v = b[k].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&v), "{c}");
            }
        }
    }
    for k in ["ece", "brier"] {
        let v = c[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k}: {c}");
    }
}

/// The test models with `extra` manifest lines, in `dir`.
fn calibrated_models(dir: &Path, ankylosis: &str, subluxation: &str) -> (String, String) {
    let (a, s) = common::test_models();
    let copy = |from: &Path, extra: &str| {
        let onnx = from.with_extension("onnx");
        std::fs::copy(&onnx, dir.join(onnx.file_name().unwrap())).unwrap();
        let to = dir.join(from.file_name().unwrap());
        let text = std::fs::read_to_string(from).unwrap();
        assert!(!text.contains("temperature"), "{text}");
        std::fs::write(&to, format!("{text}{extra}")).unwrap();
        to.display().to_string()
    };
    (copy(&a, ankylosis), copy(&s, subluxation))
}

#[test]
fn the_manifests_calibration_decides_labels_and_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    // Ankylosis: a threshold above the sick joint's q = 0.997482 / (0.997482 + 4.53e-5) =
    // 0.99995. Subluxation: T = 2 halves the logit ln(0.996249 / 6.75e-5) = 9.60, so the
    // sick joint's q = sigmoid(4.80) = 0.9918 (still present) and a 0.5 square's
    // q = sigmoid(ln(0.001655 / 0.995877) / 2) = sigmoid(-3.20) = 0.039.
    let (a, s) = calibrated_models(
        &models,
        "present_threshold = 0.99999\n",
        "temperature = 2.0\n",
    );
    let json = dir.path().join("m.json");
    let out = common::rajoints(&["eval"])
        .args(["--dataset", dir.path().to_str().unwrap()])
        .args(["--json", json.to_str().unwrap()])
        .args(["--ankylosis-model", &a, "--subluxation-model", &s])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let e = &v["overall"]["ensemble"];
    assert_eq!(e["detected"], 80);
    // The sick joint is no longer flagged with ankylosis, still with subluxation.
    assert_eq!(e["ankylosis"]["tp"], 0);
    assert_eq!(e["ankylosis"]["fn_"], 1);
    assert_eq!(e["subluxation"]["tp"], 1);
    assert_eq!(e["subluxation"]["fp"], 0);
    // Its ankylosis q is unchanged by the threshold: still alone in the top bin.
    let c = &v["calibration"];
    check_calibration(&c["ankylosis"], 80);
    assert_eq!(c["ankylosis"]["bins"][9]["count"], 1);
    // Subluxation at T = 2: the 71 healthy joints' q near 0.039 (the 0.5 squares), the
    // sick joint's near 0.9918, all in the bins they had at T = 1.
    check_calibration(&c["subluxation"], 72);
    let bins = &c["subluxation"]["bins"];
    assert_eq!(
        (&bins[0]["count"], &bins[9]["count"]),
        (&71.into(), &1.into())
    );
    let mean = |b: usize| bins[b]["mean_probability"].as_f64().unwrap();
    // The films' cells are not exactly the table's uniform cells: 0.035 was measured.
    assert!((mean(0) - 0.039).abs() < 0.01, "{}", mean(0));
    assert!((mean(9) - 0.9918).abs() < 0.001, "{}", mean(9));
    // Brier: (71 q0^2 + (1 - q9)^2) / 72, about 0.0013 (0.0015 from the table's q),
    // where T = 1 gives about 3e-6.
    let brier = c["subluxation"]["brier"].as_f64().unwrap();
    assert!(brier > 0.001 && brier < 0.002, "{brier}");
    // `analyze` reports the calibrated probability, and its JSON and SR say which
    // calibration made it.
    let pred = dir.path().join("pred");
    let out = common::rajoints(&["analyze"])
        .arg(dir.path().join("images/2.dcm"))
        .arg("--out")
        .arg(&pred)
        .args(["--ankylosis-model", &a, "--subluxation-model", &s])
        .args(["--set", "output.png=false"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pred.join("2.json")).unwrap()).unwrap();
    assert_eq!(r["models"]["ankylosis"]["present_threshold"], 0.99999);
    assert_eq!(r["models"]["ankylosis"]["temperature"], 1.0);
    assert_eq!(r["models"]["subluxation"]["temperature"], 2.0);
    let sick = r["joints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "R-PIP2")
        .unwrap();
    let q = |f: &str| sick[f]["probability"].as_f64().unwrap();
    assert_eq!(sick["ankylosis"]["present"], false);
    assert!((q("ankylosis") - 0.99995).abs() < 2e-5, "{sick}");
    assert_eq!(sick["subluxation"]["present"], true);
    assert!((q("subluxation") - 0.9918).abs() < 0.001, "{sick}");
    let sr = std::fs::read(pred.join("2.sr.dcm")).unwrap();
    let has = |text: &str| sr.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(has("present_threshold 0.99999") && has("temperature 2"));
}

#[test]
fn reads_predictions_written_by_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let ann = dataset(dir.path());
    let files: Vec<std::path::PathBuf> = ann
        .images
        .iter()
        .map(|i| dir.path().join(&i.file))
        .collect();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let pred = dir.path().join("pred");
    let run = common::analyze(&refs, &pred, &["--set", "output.png=false"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json = dir.path().join("m.json");
    let out = eval(&[
        "--dataset",
        dir.path().to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["overall"]["ensemble"]["detected"], 80);
    assert_eq!(v["overall"]["ensemble"]["named"], 80);
    assert_eq!(v["overall"]["ensemble"]["subluxation"]["tp"], 1);
    // From saved predictions the single detectors are unknown.
    assert_eq!(v["overall"]["ankylosis_ssd"], serde_json::Value::Null);
    // The reports' probabilities give Table 8 as the detectors' run does.
    check_calibration(&v["calibration"]["ankylosis"], 80);
    check_calibration(&v["calibration"]["subluxation"], 72);
}

#[test]
fn a_split_with_a_patient_in_two_folds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let split = serde_json::json!({"format": "rajoints-folds/1", "folds": [
        {"patients": ["A"], "images": ["images/0.dcm", "images/2.dcm"], "ankylosis_positive": 0, "subluxation_positive": 0},
        {"patients": ["B"], "images": ["images/1.dcm", "images/3.dcm"], "ankylosis_positive": 0, "subluxation_positive": 0}]});
    let path = dir.path().join("bad.json");
    std::fs::write(&path, split.to_string()).unwrap();
    let out = eval(&[
        "--dataset",
        dir.path().to_str().unwrap(),
        "--split",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("in folds"), "{stderr}");
}
