//! `rajoints analyze` end to end with the hand-made blob test models
//! (`models/make_test_models.py`): squares of brightness 1.0 are "present" for both
//! detectors, 0.5 "absent" for both, 0.8 "present" for the subluxation detector only.

mod common;

use std::path::Path;

use common::{CrImage, Square, analyze, film, paint};
use rajoints::analysis::Analysis;
use rajoints::change::{ChangeFinding, Status};
use rajoints::pipeline::naming::JointId;

fn read(path: &Path) -> (serde_json::Value, Analysis) {
    let text = std::fs::read_to_string(path).unwrap();
    (
        serde_json::from_str(&text).unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

/// Writes the film of `joints` as DICOM, analyses it and checks every joint: found once,
/// named, box equal to its square, labels as `expect` says (ankylosis, subluxation).
fn check_film(
    w: u32,
    h: u32,
    joints: &[(JointId, Square)],
    expect: impl Fn(JointId) -> (bool, bool),
) -> Analysis {
    let mut squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
    // A white 2x2 dot in a corner: without a VOI window the display range is the image's
    // min..max, so this keeps 1.0 = white whatever the squares hold.
    squares.push(Square {
        x: 0,
        y: 0,
        side: 2,
        value: 1.0,
    });
    let dir = tempfile::tempdir().unwrap();
    let dcm = dir.path().join("hands.dcm");
    CrImage::from_display(w, h, &paint(w, h, &squares)).write(&dcm, "2.25.4242");
    let out = dir.path().join("out");
    let run = analyze(&[&dcm], &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for ext in ["json", "png"] {
        assert!(
            out.join(format!("hands.{ext}")).is_file(),
            "hands.{ext} missing"
        );
    }
    let (v, a) = read(&out.join("hands.json"));
    assert_eq!(v["source"]["sop_instance_uid"], "2.25.4242");
    assert_eq!(
        (
            v["source"]["rows"].as_u64(),
            v["source"]["columns"].as_u64()
        ),
        (Some(h as u64), Some(w as u64))
    );
    assert_eq!(
        v["models"]["ankylosis"]["sha256"].as_str().map(str::len),
        Some(64)
    );
    let t = &v["timing_ms"];
    assert!(t["total"].as_f64().unwrap() >= t["inference"].as_f64().unwrap());
    assert_eq!(a.joints.len(), joints.len(), "{:#?}", a.joints);
    for (id, sq) in joints {
        let j = a
            .joints
            .iter()
            .find(|j| j.id == Some(*id))
            .unwrap_or_else(|| panic!("{id} not found: {:#?}", a.joints));
        let want = [
            sq.x as f32,
            sq.y as f32,
            (sq.x + 60) as f32,
            (sq.y + 60) as f32,
        ];
        assert_eq!(<[f32; 4]>::from(j.bbox), want, "{id}");
        let (ank, sub) = expect(*id);
        assert_eq!(j.ankylosis.present, ank, "{id} ankylosis");
        match (&j.subluxation, id.is_thumb_ip()) {
            (None, true) => {}
            (Some(s), false) => assert_eq!(s.present, sub, "{id} subluxation"),
            other => panic!("{id}: subluxation {other:?}"),
        }
    }
    a
}

#[test]
fn finds_names_and_labels_all_twenty_joints() {
    let r_pip2: JointId = "R-PIP2".parse().unwrap();
    let (w, h, joints) = film(|id| if id == r_pip2 { 1.0 } else { 0.5 });
    check_film(w, h, &joints, |id| (id == r_pip2, id == r_pip2));
}

/// `output.sc = true`: the summary Secondary Capture beside the SR, valid for dciodvfy;
/// off by default.
#[test]
fn the_summary_image_is_written_when_asked_for() {
    let (w, h, joints) = film(|id| if id.to_string() == "R-PIP2" { 1.0 } else { 0.5 });
    let mut squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
    squares.push(Square {
        x: 0,
        y: 0,
        side: 2,
        value: 1.0,
    });
    let dir = tempfile::tempdir().unwrap();
    let dcm = dir.path().join("hands.dcm");
    CrImage::from_display(w, h, &paint(w, h, &squares)).write(&dcm, "2.25.4343");
    let (off, on) = (dir.path().join("off"), dir.path().join("on"));
    assert!(
        analyze(&[&dcm], &off, &["--set", "output.png=false"])
            .status
            .success()
    );
    assert!(!off.join("hands.sc.dcm").exists());
    let run = analyze(
        &[&dcm],
        &on,
        &["--set", "output.png=false", "--set", "output.sc=true"],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let sc = on.join("hands.sc.dcm");
    assert_eq!(common::dciodvfy_errors(&sc), Vec::<String>::new());
    let obj = dicom_object::open_file(&sc).unwrap();
    assert_eq!(
        obj.meta().media_storage_sop_class_uid(),
        "1.2.840.10008.5.1.4.1.1.7"
    );
}

#[test]
fn a_joint_seen_by_one_detector_gets_c_neg_for_the_other_finding() {
    // The 0.8 square at L-MCP3 is seen by the subluxation detector alone. Thumb IPs are
    // left out so that it has 18 joints, its M2: with 20 it would keep the 18 most
    // confident and drop this, the least confident one (top-M working as specified).
    let l_mcp3: JointId = "L-MCP3".parse().unwrap();
    let (w, h, mut joints) = film(|id| if id == l_mcp3 { 0.8 } else { 0.5 });
    joints.retain(|(id, _)| !id.is_thumb_ip());
    let a = check_film(w, h, &joints, |id| (false, id == l_mcp3));
    let l = a.joints.iter().find(|j| j.id == Some(l_mcp3)).unwrap();
    assert_eq!(l.ankylosis.probability, 0.0);
    assert!(l.subluxation.unwrap().probability > 0.9);
}

#[test]
fn png_input_in_8_and_16_bits_gives_the_same_boxes() {
    let (w, h, joints) = film(|_| 0.5);
    let squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
    let img = rajoints::image::Radiograph {
        width: w,
        height: h,
        pixels: paint(w, h, &squares),
        pixel_spacing_mm: None,
        attributes: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (p8, p16) = (dir.path().join("h8.png"), dir.path().join("h16.png"));
    rajoints::render::png::write_gray(&p8, &img, false).unwrap();
    rajoints::render::png::write_gray(&p16, &img, true).unwrap();
    let out = dir.path().join("out");
    let run = analyze(&[&p8, &p16], &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (v8, a8) = read(&out.join("h8.json"));
    let (_, a16) = read(&out.join("h16.json"));
    assert_eq!(v8["source"]["sop_instance_uid"], serde_json::Value::Null);
    assert_eq!(a8.joints.len(), 20);
    let boxes = |a: &Analysis| {
        a.joints
            .iter()
            .map(|j| (j.id, <[f32; 4]>::from(j.bbox)))
            .collect::<Vec<_>>()
    };
    assert_eq!(boxes(&a8), boxes(&a16));
    assert!(
        !out.join("h8.sr.dcm").exists(),
        "no SR for PNG input: nothing to reference"
    );
}

#[test]
fn patient_orientation_of_a_dorsal_view_swaps_hands() {
    // The film draws the reading hanging (right hand on the image left, its thumb to +x),
    // and the tests name it as seen from the palm. Patient Orientation L\H says it is seen
    // from the back of the hands (PS3.17 Annex A for hands), which outranks the site
    // setting: the image-left hand is then the left one.
    let (w, h, joints) = film(|_| 0.5);
    let squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
    let dir = tempfile::tempdir().unwrap();
    let dcm = dir.path().join("m.dcm");
    let mut img = CrImage::from_display(w, h, &paint(w, h, &squares));
    img.patient_orientation = Some("L\\H");
    img.write(&dcm, "2.25.99");
    let out = dir.path().join("out");
    assert!(analyze(&[&dcm], &out, &[]).status.success());
    let (_, a) = read(&out.join("m.json"));
    let (_, sq) = joints
        .iter()
        .find(|(id, _)| id.to_string() == "R-MCP3")
        .unwrap();
    let j = a
        .joints
        .iter()
        .find(|j| j.bbox.x0 == sq.x as f32 && j.bbox.y0 == sq.y as f32)
        .unwrap();
    assert_eq!(j.id.map(|i| i.to_string()).as_deref(), Some("L-MCP3"));
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.dcm");
    let (w, h, joints) = film(|_| 0.5);
    let squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
    CrImage::from_display(w, h, &paint(w, h, &squares)).write(&good, "2.25.5");
    // Truncated: the first half of a valid file.
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.dcm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.dcm");
    std::fs::write(&garbage, b"not a DICOM file at all").unwrap();
    let missing = dir.path().join("missing.dcm");
    let out = dir.path().join("out");
    let run = analyze(&[&truncated, &good, &garbage, &missing], &out, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(out.join("good.json").is_file(), "{stderr}");
    assert!(!out.join("truncated.json").exists());
    assert!(stderr.contains("3 of 4 inputs failed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn non_image_and_unsupported_transfer_syntax_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let no_pixels = dir.path().join("nopixels.dcm");
    let mut o = CrImage::from_display(4, 4, &[0.0; 16]).dataset("2.25.6");
    o.remove_element(dicom_dictionary_std::tags::PIXEL_DATA);
    o.with_meta(
        dicom_object::FileMetaTableBuilder::new()
            .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN),
    )
    .unwrap()
    .write_to_file(&no_pixels)
    .unwrap();
    // JPEG-LS: not decodable in pure Rust (no CharLS).
    let jls = dir.path().join("jpegls.dcm");
    common::write_encapsulated(&jls, "1.2.840.10008.1.2.4.80");
    let out = dir.path().join("out");
    let run = analyze(&[&no_pixels, &jls], &out, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not an image: no Pixel Data"), "{stderr}");
    assert!(stderr.contains("1.2.840.10008.1.2.4.80"), "{stderr}");
}

#[test]
fn image_smaller_than_a_window_and_a_huge_image_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    // 100 x 80: one padded window at half scale; one 0.5 square -> one joint, unnamed.
    let small = dir.path().join("small.dcm");
    let sq = Square {
        x: 20,
        y: 20,
        side: 60,
        value: 0.5,
    };
    CrImage::from_display(100, 80, &paint(100, 80, &[sq])).write(&small, "2.25.7");
    // 10000 x 10000, 8-bit PNG.
    let huge = dir.path().join("huge.png");
    let img = rajoints::image::Radiograph {
        width: 10_000,
        height: 10_000,
        pixels: vec![0.0; 100_000_000],
        pixel_spacing_mm: None,
        attributes: Default::default(),
    };
    rajoints::render::png::write_gray(&huge, &img, false).unwrap();
    drop(img);
    let out = dir.path().join("out");
    let run = analyze(&[&small, &huge], &out, &["--set", "output.png=false"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (_, a) = read(&out.join("small.json"));
    // One box the hand model cannot place: not a joint of the result, kept with why.
    assert!(a.joints.is_empty());
    assert_eq!(a.dropped.len(), 1);
    assert_eq!(
        <[f32; 4]>::from(a.dropped[0].bbox),
        [20.0, 20.0, 80.0, 80.0]
    );
    assert!(
        a.dropped[0].reason.contains("hand model"),
        "{}",
        a.dropped[0].reason
    );
    let (_, a) = read(&out.join("huge.json"));
    assert!(a.joints.is_empty());
    // Above the configured limit: refused with a message, not an allocation failure.
    let run = analyze(&[&huge], &out, &["--set", "pipeline.max_pixels=1000000"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("larger than the limit"));
}

#[test]
fn a_model_whose_checksum_differs_is_refused() {
    let (a, _) = common::test_models();
    let dir = tempfile::tempdir().unwrap();
    for f in ["ankylosis.toml", "ankylosis.onnx"] {
        std::fs::copy(a.parent().unwrap().join(f), dir.path().join(f)).unwrap();
    }
    let mut onnx = std::fs::read(dir.path().join("ankylosis.onnx")).unwrap();
    onnx.push(0);
    std::fs::write(dir.path().join("ankylosis.onnx"), onnx).unwrap();
    let png = dir.path().join("x.png");
    common::blank_png(&png);
    let (_, sub) = common::test_models();
    let bad = dir.path().join("ankylosis.toml");
    let run = common::rajoints(&[
        "analyze",
        png.to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ])
    .args([
        "--ankylosis-model",
        bad.to_str().unwrap(),
        "--subluxation-model",
        sub.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not match its manifest"), "{stderr}");
}

#[test]
fn missing_or_wrong_onnx_runtime_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    common::blank_png(&png);
    let (a, s) = common::test_models();
    // Not there, and there but not a library.
    for lib in [dir.path().join("nowhere.so"), png.clone()] {
        let run = common::rajoints(&[
            "analyze",
            png.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .args([
            "--ankylosis-model",
            a.to_str().unwrap(),
            "--subluxation-model",
            s.to_str().unwrap(),
        ])
        .env("ORT_DYLIB_PATH", &lib)
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("could not load ONNX Runtime"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `--prior` (issue 19): a T1 film compared with the T0 result, read from its JSON and
/// from its SR, says what changed; a prior that is not assessable is not used.
#[test]
fn a_prior_result_gives_the_change_since_then() {
    let r_pip2: JointId = "R-PIP2".parse().unwrap();
    let l_pip3: JointId = "L-PIP3".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, uid: &str, bright: &[JointId]| {
        let (w, h, joints) = film(|id| if bright.contains(&id) { 1.0 } else { 0.5 });
        let mut squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
        squares.push(Square {
            x: 0,
            y: 0,
            side: 2,
            value: 1.0,
        });
        let path = dir.path().join(name);
        CrImage::from_display(w, h, &paint(w, h, &squares)).write(&path, uid);
        path
    };
    // T0: R-PIP2 with both findings. T1: the same, and L-PIP3 with both (new).
    let t0 = write("t0.dcm", "2.25.5100", &[r_pip2]);
    let t1 = write("t1.dcm", "2.25.5101", &[r_pip2, l_pip3]);
    let out0 = dir.path().join("out0");
    let run = analyze(&[&t0], &out0, &["--set", "output.png=false"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    for prior in [out0.join("t0.json"), out0.join("t0.sr.dcm")] {
        let out1 = dir.path().join(format!(
            "out1-{}",
            prior.extension().unwrap().to_string_lossy()
        ));
        let p = prior.to_string_lossy().to_string();
        let run = analyze(
            &[&t1],
            &out1,
            &["--set", "output.png=false", "--prior", p.as_str()],
        );
        let printed = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(run.status.success(), "{printed}");
        assert!(
            printed.contains("new ankylosis at L-PIP3 since"),
            "{printed}"
        );
        let (v, a) = read(&out1.join("t1.json"));
        let c = a.change.as_ref().expect("a change");
        assert!(c.compared, "{c:?}");
        assert_eq!(c.prior.file, p);
        assert_eq!(c.hands.len(), 2);
        assert_eq!(c.patient.new_ankylosis, 1);
        assert_eq!(c.patient.new_subluxation, 1);
        // R-PIP2 both findings unchanged; 20 joints x 2 findings - 2 thumb IPs = 38 lines.
        assert_eq!(c.patient.unchanged_present, 2);
        assert_eq!(c.patient.unchanged_absent, 38 - 4);
        assert_eq!(c.patient.absent_now_present_before, 0);
        assert_eq!(
            (c.patient.jsn_partial_min, c.patient.jsn_partial_min_prior),
            (8, 4)
        );
        assert_eq!(v["change"]["joints"][0]["joint"], "R-MCP1");
        if prior.extension().is_some_and(|e| e == "dcm") {
            // From the SR, the prior film and SR are known in full.
            assert_eq!(
                c.prior.film.as_ref().map(|f| f.sop_instance_uid.as_str()),
                Some("2.25.5100")
            );
            assert!(c.prior.sr.is_some());
        }
        // The T1 SR states the change and stays valid.
        let sr = out1.join("t1.sr.dcm");
        assert_eq!(common::dciodvfy_errors(&sr), Vec::<String>::new());
        common::check_sr(&sr, &out1.join("t1.json"));
    }

    // A prior that was not assessable is no prior: said so, nothing compared.
    let text = std::fs::read_to_string(out0.join("t0.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["assessment"] = serde_json::json!({"assessable": false, "code": "x", "reason": "not a hand"});
    v["joints"] = serde_json::json!([]);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let out2 = dir.path().join("out2");
    let b = bad.to_string_lossy().to_string();
    let run = analyze(
        &[&t1],
        &out2,
        &["--set", "output.png=false", "--prior", b.as_str()],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (_, a) = read(&out2.join("t1.json"));
    let c = a.change.expect("a change");
    assert!(!c.compared);
    assert_eq!(
        c.not_compared_reason.as_deref(),
        Some("the prior film was not assessable")
    );
    common::check_sr(&out2.join("t1.sr.dcm"), &out2.join("t1.json"));

    // A prior that cannot be read stops the run before any analysis.
    let run = analyze(
        &[&t1],
        &dir.path().join("out3"),
        &["--prior", "/nonexistent/prior.json"],
    );
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("could not use the prior"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Issue 19 end to end with the shipped detectors: a phantom patient whose ground truth
/// gains ankylosis between T0 and T1 (seed 7: L-PIP2) gets exactly the ground truth's
/// changes, with the T0 SR as the prior.
#[test]
fn a_phantom_pair_with_progression_gives_the_ground_truths_changes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::progression_pair(dir.path());
    // Without common::analyze: that helper sets the test models' synthetic-film settings.
    let run = |film: &Path, out: &Path, extra: &[&str]| {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_rajoints"))
            .arg("analyze")
            .arg(film)
            .arg("--out")
            .arg(out)
            .arg("--ankylosis-model")
            .arg(common::repo().join("models/ankylosis.toml"))
            .arg("--subluxation-model")
            .arg(common::repo().join("models/subluxation.toml"))
            .args(["--set", "output.png=false"])
            .args(extra)
            .output()
            .expect("run rajoints analyze");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    let (out0, out1) = (dir.path().join("out0"), dir.path().join("out1"));
    run(&pair.t0, &out0, &[]);
    let prior = out0.join("PHANTOM-0001-T0.sr.dcm");
    run(&pair.t1, &out1, &["--prior", &prior.to_string_lossy()]);
    let (_, a) = read(&out1.join("PHANTOM-0001-T1.json"));
    let c = a.change.expect("a change");
    assert!(c.compared, "{c:?}");
    assert!(c.interval_days.is_some_and(|d| d > 0), "{c:?}");
    let with = |s: Status| -> Vec<(String, String)> {
        c.joints
            .iter()
            .filter(|j| j.status == s)
            .filter_map(|j| {
                let f = match j.finding? {
                    ChangeFinding::Ankylosis => "ankylosis",
                    ChangeFinding::Subluxation => "subluxation",
                };
                Some((j.joint.to_string(), f.to_string()))
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(with(Status::New), pair.new);
    assert_eq!(with(Status::UnchangedPresent), pair.same);
    assert_eq!(with(Status::AbsentNowPresentBefore), Vec::new());
    let sr = out1.join("PHANTOM-0001-T1.sr.dcm");
    assert_eq!(common::dciodvfy_errors(&sr), Vec::<String>::new());
    common::check_sr(&sr, &out1.join("PHANTOM-0001-T1.json"));
}
