//! `rajoints batch` helpers shared by tests/batch.rs and tests/batch_pacs.rs.

use std::borrow::BorrowMut;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use super::test_models;

/// The test models as `--set` flags.
pub fn model_flags() -> Vec<String> {
    let (a, s) = test_models();
    vec![
        "--set".into(),
        format!("models.ankylosis={}", a.display()),
        "--set".into(),
        format!("models.subluxation={}", s.display()),
    ]
}

/// Runs `cmd`, which must succeed; its output.
pub fn run_ok(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed ({}):\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each film's `change` in a batch's output, by SOP Instance UID, without the prior SR's
/// UID (each run makes its own SRs).
pub fn batch_changes(out: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(out.join("films")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: serde_json::Value = serde_json::from_str(&read(&p)).unwrap();
            let mut c = v["change"].clone();
            if let Some(prior) = c.get_mut("prior").and_then(|p| p.as_object_mut()) {
                prior.remove("sr");
            }
            m.insert(v["source"]["sop_instance_uid"].as_str().unwrap().into(), c);
        }
    }
    m
}
