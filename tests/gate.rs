//! Issue 14 end to end with the shipped detectors: which hand on one-hand films of both
//! sides, and the quality gate refusing films that are not frontal hand films.

//!
//! The binary is run without `common::rajoints`: that helper turns the gate off and sets
//! the palmar view for the other tests' synthetic square films.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo;
use rajoints::analysis::Analysis;
use rajoints::annotations::Annotations;

fn phantoms(out: &Path, args: &[&str]) -> Annotations {
    common::phantom_films(out, args);
    Annotations::load(out).expect("annotations")
}

/// Analyses every image of `dir` with the shipped models and the defaults (gate on,
/// dorsal site setting); the JSON reports by file stem, and what the command printed.
fn analyse(dir: &Path, ann: &Annotations) -> (Vec<Analysis>, String) {
    let out = dir.join("out");
    let files: Vec<PathBuf> = ann.images.iter().map(|i| dir.join(&i.file)).collect();
    let run = Command::new(env!("CARGO_BIN_EXE_rajoints"))
        .arg("analyze")
        .args(&files)
        .arg("--out")
        .arg(&out)
        .arg("--ankylosis-model")
        .arg(repo().join("models/ankylosis.toml"))
        .arg("--subluxation-model")
        .arg(repo().join("models/subluxation.toml"))
        .args(["--set", "output.png=false"])
        .output()
        .expect("run rajoints analyze");
    let printed = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{printed}");
    let results = files
        .iter()
        .map(|f| {
            let stem = f.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(out.join(format!("{stem}.json"))).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    (results, printed)
}

#[test]
fn one_hand_films_are_named_for_their_side_with_at_most_ten_joints() {
    let tmp = tempfile::tempdir().unwrap();
    let ann = phantoms(
        tmp.path(),
        &["--count", "4", "--seed", "1401", "--convention", "one-hand"],
    );
    let (results, _) = analyse(tmp.path(), &ann);
    let mut sides = std::collections::HashSet::new();
    for (img, a) in ann.images.iter().zip(&results) {
        assert!(a.assessment.assessable, "{}: {:?}", img.file, a.assessment);
        assert!(
            a.joints.len() <= 10,
            "{}: {} joints",
            img.file,
            a.joints.len()
        );
        assert!(
            a.joints.len() >= 9,
            "{}: {} joints",
            img.file,
            a.joints.len()
        );
        let side = img.joints[0].joint.side;
        sides.insert(side);
        for j in &a.joints {
            assert_eq!(j.id.map(|i| i.side), Some(side), "{}", img.file);
        }
        assert_eq!(a.hands.len(), 1);
        assert_eq!(a.hands[0].side_from, "Laterality (0020,0060)");
        assert!(a.conflicts.is_empty(), "{:?}", a.conflicts);
    }
    assert_eq!(sides.len(), 2, "both sides drawn");
}

#[test]
fn films_that_are_not_frontal_hands_are_not_assessable() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in ["foot", "oblique", "empty", "rotated"] {
        let dir = tmp.path().join(kind);
        let ann = phantoms(&dir, &["--count", "2", "--seed", "1402", "--kind", kind]);
        let (results, printed) = analyse(&dir, &ann);
        // One line per film says so and why.
        assert_eq!(
            printed.matches(": not assessable: ").count(),
            2,
            "{printed}"
        );
        for (img, a) in ann.images.iter().zip(results) {
            assert!(!a.assessment.assessable, "{kind} {}: assessed", img.file);
            assert!(a.assessment.reason.is_some() && a.assessment.code.is_some());
            assert!(a.joints.is_empty(), "{kind}: joints reported");
        }
    }
}
