//! The SR and GSPS written to disk and checked by the real tools: `dciodvfy` (dicom3tools)
//! for the IOD, `dsrdump` (DCMTK) for the SR tree and its relationship constraints, and
//! highdicom (`tests/sr_check.py`) for TID 1500/1410 as a consumer reads it.
//!
//! A missing tool fails the test with its name: `make test` installs them all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dicom_core::value::C;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{FileDicomObject, InMemDicomObject};
use rajoints::analysis::{
    Analysis, Assessment, FindingLabel, Joint, ModelInfo, ModelsInfo, SourceInfo, Timing,
};
use rajoints::dicom::gsps::{self, GspsOptions};
use rajoints::dicom::sr::{self, SrOptions, Timestamp};
use rajoints::pipeline::bbox::BBox;
use rajoints::pipeline::gate::Reason;

const SOURCE_UID: &str = "1.2.826.0.1.3680043.8.498.10";
const ROWS: u16 = 48;
const COLUMNS: u16 = 64;

fn put(obj: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn put_multi(obj: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, values: &[&str]) {
    let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(C::from_vec(values)),
    ));
}

/// A CR Image Storage instance, 64x48, 16 bits allocated, MONOCHROME2, with the patient,
/// study and geometry attributes a hand film from a CR reader has.
fn source_image() -> FileDicomObject<InMemDicomObject> {
    let mut ds = InMemDicomObject::new_empty();
    put(
        &mut ds,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    );
    put(&mut ds, tags::SOP_INSTANCE_UID, VR::UI, SOURCE_UID);
    put(
        &mut ds,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.8.498.11",
    );
    put(
        &mut ds,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.8.498.12",
    );
    put(&mut ds, tags::STUDY_DATE, VR::DA, "20240105");
    put(&mut ds, tags::STUDY_TIME, VR::TM, "101500");
    put(&mut ds, tags::ACCESSION_NUMBER, VR::SH, "ACC42");
    put(&mut ds, tags::STUDY_ID, VR::SH, "ST42");
    put(&mut ds, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Ref^Doc");
    put(&mut ds, tags::STUDY_DESCRIPTION, VR::LO, "Hands PA");
    put(&mut ds, tags::PATIENT_NAME, VR::PN, "Test^Hands");
    put(&mut ds, tags::PATIENT_ID, VR::LO, "RAJ-0001");
    put(&mut ds, tags::PATIENT_BIRTH_DATE, VR::DA, "19600101");
    put(&mut ds, tags::PATIENT_SEX, VR::CS, "F");
    put(&mut ds, tags::MODALITY, VR::CS, "CR");
    put(&mut ds, tags::SERIES_NUMBER, VR::IS, "1");
    put(&mut ds, tags::INSTANCE_NUMBER, VR::IS, "1");
    put(&mut ds, tags::BODY_PART_EXAMINED, VR::CS, "HAND");
    put(&mut ds, tags::MANUFACTURER, VR::LO, "Test CR");
    put_multi(&mut ds, tags::PATIENT_ORIENTATION, VR::CS, &["R", "F"]);
    put_multi(&mut ds, tags::PIXEL_SPACING, VR::DS, &["0.1", "0.1"]);
    put_multi(&mut ds, tags::IMAGER_PIXEL_SPACING, VR::DS, &["0.1", "0.1"]);
    put(&mut ds, tags::WINDOW_CENTER, VR::DS, "2048");
    put(&mut ds, tags::WINDOW_WIDTH, VR::DS, "4096");
    put(&mut ds, tags::RESCALE_INTERCEPT, VR::DS, "0");
    put(&mut ds, tags::RESCALE_SLOPE, VR::DS, "1");
    put(&mut ds, tags::RESCALE_TYPE, VR::LO, "US");
    put(
        &mut ds,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    ds.put(us(tags::ROWS, ROWS));
    ds.put(us(tags::COLUMNS, COLUMNS));
    ds.put(us(tags::SAMPLES_PER_PIXEL, 1));
    ds.put(us(tags::BITS_ALLOCATED, 16));
    ds.put(us(tags::BITS_STORED, 12));
    ds.put(us(tags::HIGH_BIT, 11));
    ds.put(us(tags::PIXEL_REPRESENTATION, 0));
    let pixels: Vec<u16> = (0..u32::from(ROWS) * u32::from(COLUMNS))
        .map(|i| (i * 7 % 4096) as u16)
        .collect();
    ds.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(C::from_vec(pixels)),
    ));
    ds.with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .expect("file meta of the synthetic source")
}

fn label(present: bool, probability: f32) -> FindingLabel {
    FindingLabel {
        present,
        probability,
    }
}

/// Three joints: the thumb IP (no subluxation label), a named joint with both findings
/// present, and an unnamed one.
fn analysis() -> Analysis {
    let model = |name: &str, sha: &str| ModelInfo {
        name: name.to_string(),
        version: "2024.1".to_string(),
        sha256: sha.repeat(64),
        temperature: 1.0,
        present_threshold: 0.5,
    };
    Analysis {
        source: SourceInfo {
            file: "source.dcm".to_string(),
            sop_instance_uid: Some(SOURCE_UID.to_string()),
            rows: u32::from(ROWS),
            columns: u32::from(COLUMNS),
        },
        models: ModelsInfo {
            ankylosis: model("ankylosis-ssd", "a"),
            subluxation: model("subluxation-ssd", "b"),
        },
        joints: vec![
            Joint {
                id: Some("R-PIP2".parse().expect("joint id")),
                bbox: BBox::new(4.0, 6.5, 20.0, 18.0),
                score: 0.95,
                ankylosis: label(true, 0.97),
                subluxation: Some(label(true, 0.91)),
            },
            Joint {
                id: Some("R-IP1".parse().expect("joint id")),
                bbox: BBox::new(30.25, 10.0, 42.0, 22.5),
                score: 0.9,
                ankylosis: label(false, 0.03),
                subluxation: None,
            },
            Joint {
                id: None,
                bbox: BBox::new(44.0, 30.0, 60.0, 46.0),
                score: 0.6,
                ankylosis: label(false, 0.0),
                subluxation: Some(label(false, 0.2)),
            },
        ],
        assessment: Default::default(),
        hands: Vec::new(),
        conflicts: Vec::new(),
        dropped: Vec::new(),
        scale: None,
        summary: Default::default(),
        study_date: None,
        change: None,
        timing_ms: Timing::default(),
    }
    .with_summary()
}

fn when() -> Timestamp {
    Timestamp::new(2024, 1, 5, 11, 0, 0).expect("valid timestamp")
}

fn sr_options() -> SrOptions {
    let mut o = SrOptions::new(when());
    o.algorithm_parameters = vec!["t_conf=0.9".to_string(), "t_iou1=0.45".to_string()];
    o
}

/// A program on PATH; fails the test naming the tool and how to get it.
fn tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is not on PATH: install {package} (`make test` installs it)")
    })
}

/// The repository's Python with highdicom.
fn python() -> PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: `make test` creates it with tests/requirements.txt (highdicom)",
        py.display()
    );
    py
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// dciodvfy's verdict: its lines starting with `Error`, and all its output.
fn dciodvfy(path: &Path) -> (Vec<String>, String) {
    let out = run(Command::new(tool("dciodvfy", "dicom3tools")).arg(path));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let errors = all
        .lines()
        .filter(|l| l.starts_with("Error"))
        .map(str::to_string)
        .collect();
    (errors, all)
}

fn write_sr(dir: &Path, analysis: &Analysis) -> PathBuf {
    let sr = sr::build_sr(&source_image(), analysis, &sr_options()).expect("SR builds");
    let path = dir.join("sr.dcm");
    sr::write_sr(&sr, &path).expect("SR writes");
    path
}

fn write_gsps(dir: &Path, analysis: &Analysis) -> PathBuf {
    let options = GspsOptions::new(when());
    let pr = gsps::build_gsps(&source_image(), analysis, &options).expect("GSPS builds");
    let path = dir.join("gsps.dcm");
    gsps::write_gsps(&pr, &path).expect("GSPS writes");
    path
}

#[test]
fn sr_passes_dciodvfy_without_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_sr(dir.path(), &analysis());
    let (errors, all) = dciodvfy(&path);
    assert!(errors.is_empty(), "dciodvfy errors:\n{all}");
    // IHE AIR's SOP class (sr::SR_SOP_CLASS).
    assert!(
        all.contains("Comprehensive3DSR"),
        "dciodvfy did not see a Comprehensive 3D SR:\n{all}"
    );
}

#[test]
fn sr_parses_in_dsrdump_with_tracking_identifiers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_sr(dir.path(), &analysis());
    let out = run(Command::new(tool("dsrdump", "dcmtk"))
        .args(["+Pc", "+Pt"])
        .arg(&path));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "dsrdump failed:\n{stderr}\n{stdout}");
    assert!(stderr.is_empty(), "dsrdump complained:\n{stderr}");
    assert!(stdout.contains("Imaging Measurement Report"), "{stdout}");
    assert!(
        stdout.contains("# TID 1500 (DCMR)"),
        "no template identification:\n{stdout}"
    );
    for id in ["R-PIP2", "R-IP1", "joint-3"] {
        assert!(
            stdout.contains(&format!("\"{id}\"")),
            "no tracking identifier {id}:\n{stdout}"
        );
    }
    // The joint named in the Finding Site, which OHIF shows over the box.
    assert!(
        stdout.contains("(R-PIP2,99RAJ,\"R-PIP2 (right index finger PIP joint)\")"),
        "{stdout}"
    );
    assert!(stdout.contains("(121106,DCM,\"Comment\")"), "{stdout}");
    assert!(stdout.contains("inferred from SCOORD"), "{stdout}");
    assert!(
        stdout.contains("(HANDSUMMARY,99RAJ,\"Hand summary\")"),
        "{stdout}"
    );
}

#[test]
fn two_hands_get_one_summary_each() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = analysis();
    a.joints.push(Joint {
        id: Some("L-MCP3".parse().expect("joint id")),
        bbox: BBox::new(10.0, 30.0, 20.0, 40.0),
        score: 0.8,
        // Rounds to 0.00 %: no NUM, the Absent evaluation only.
        ankylosis: label(false, 0.000_04),
        subluxation: Some(label(true, 0.66)),
    });
    a.refresh_summary();
    let dump = check_with_all_tools(dir.path(), &a);
    assert!(
        dump.contains(
            "Right hand (2 joints): ankylosis 1 (R-PIP2); subluxation/dislocation 1 (R-PIP2)"
        ),
        "{dump}"
    );
    assert!(
        dump.contains(
            "Left hand (1 joint): ankylosis 0 (none); subluxation/dislocation 1 (L-MCP3)"
        ),
        "{dump}"
    );
}

#[test]
fn sr_reads_back_in_highdicom_with_the_same_boxes() {
    let dir = tempfile::tempdir().expect("temp dir");
    check_with_all_tools(dir.path(), &analysis());
}

#[test]
fn sr_without_joints_is_still_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = analysis();
    a.joints.clear();
    a.refresh_summary();
    check_with_all_tools(dir.path(), &a);
}

/// Checks an SR with dciodvfy, dsrdump and highdicom (`sr_check.py` against its JSON);
/// returns dsrdump's listing.
fn check_with_all_tools(dir: &Path, a: &Analysis) -> String {
    let path = write_sr(dir, a);
    let (errors, all) = dciodvfy(&path);
    assert!(errors.is_empty(), "dciodvfy errors:\n{all}");
    // +Pl: long TEXT values whole, not shortened.
    let dump = run(Command::new(tool("dsrdump", "dcmtk")).arg("+Pl").arg(&path));
    assert!(
        dump.status.success() && dump.stderr.is_empty(),
        "{}",
        text(&dump.stderr)
    );
    let json = dir.join("analysis.json");
    std::fs::write(&json, serde_json::to_vec_pretty(a).expect("JSON")).expect("write JSON");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sr_check.py");
    let out = run(Command::new(python()).arg(script).arg(&path).arg(&json));
    assert!(
        out.status.success(),
        "sr_check.py failed (if highdicom is missing, run `make test`):\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&dump.stdout)
}

#[test]
fn a_film_that_is_not_assessable_gets_the_reason_and_no_measurements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = analysis();
    a.joints.clear();
    let reason = Reason::BodyPart {
        value: "FOOT".into(),
    };
    a.assessment = Assessment::not_assessable(&reason);
    a.refresh_summary();
    let dump = check_with_all_tools(dir.path(), &a);
    assert!(!dump.contains("Imaging Measurements"), "{dump}");
    assert!(dump.contains("Qualitative Evaluations"), "{dump}");
    assert!(dump.contains("Assessable for joint scoring"), "{dump}");
    assert!(dump.contains("373067005"), "the value No:\n{dump}");
    assert!(dump.contains(&reason.to_string()), "{dump}");
}

#[test]
fn a_laterality_conflict_goes_beside_the_measurements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = analysis();
    a.conflicts =
        vec!["Laterality (0020,0060) says R, but the thumb lies where a left hand's does".into()];
    a.refresh_summary();
    let dump = check_with_all_tools(dir.path(), &a);
    assert!(dump.contains("Imaging Measurements"), "{dump}");
    assert!(dump.contains("373066001"), "the value Yes:\n{dump}");
    assert!(dump.contains("Laterality conflict"), "{dump}");
}

#[test]
fn gsps_passes_dciodvfy_without_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_gsps(dir.path(), &analysis());
    let (errors, all) = dciodvfy(&path);
    assert!(errors.is_empty(), "dciodvfy errors:\n{all}");
    assert!(
        all.contains("GrayscaleSoftcopyPresentationState"),
        "dciodvfy did not see a GSPS:\n{all}"
    );
}

#[test]
fn gsps_reads_back_with_one_closed_box_per_joint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = analysis();
    let path = write_gsps(dir.path(), &a);
    let pr = dicom_object::open_file(&path).expect("GSPS reads back");
    let annotations = pr
        .get(tags::GRAPHIC_ANNOTATION_SEQUENCE)
        .and_then(|e| e.items())
        .expect("graphic annotations");
    let mut boxes = Vec::new();
    let mut texts = Vec::new();
    for layer in annotations {
        let objects = layer
            .get(tags::GRAPHIC_OBJECT_SEQUENCE)
            .and_then(|e| e.items());
        for g in objects.unwrap_or(&[]) {
            let data = g.get(tags::GRAPHIC_DATA).expect("graphic data");
            boxes.push(data.to_multi_float64().expect("FL values"));
        }
        let objects = layer
            .get(tags::TEXT_OBJECT_SEQUENCE)
            .and_then(|e| e.items());
        for t in objects.unwrap_or(&[]) {
            let v = t.get(tags::UNFORMATTED_TEXT_VALUE).expect("text value");
            texts.push(v.to_str().expect("text").trim().to_string());
        }
    }
    assert_eq!(boxes.len(), a.joints.len());
    for joint in &a.joints {
        let b = joint.bbox;
        let want: Vec<f64> = [b.x0, b.y0, b.x1, b.y0, b.x1, b.y1, b.x0, b.y1, b.x0, b.y0]
            .map(f64::from)
            .to_vec();
        assert!(boxes.contains(&want), "no box {want:?} in {boxes:?}");
    }
    texts.sort();
    assert_eq!(texts, ["R-IP1", "R-PIP2 ANK 97% SUBL 91%", "joint-3"]);
}

#[test]
fn gsps_without_joints_is_still_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = analysis();
    a.joints.clear();
    let path = write_gsps(dir.path(), &a);
    let (errors, all) = dciodvfy(&path);
    assert!(errors.is_empty(), "dciodvfy errors:\n{all}");
}

/// An SR that states the change since a prior (issue 19): valid for dciodvfy, dsrdump and
/// highdicom, with the prior film and SR as Pertinent Other Evidence.
#[test]
fn a_change_since_the_prior_is_valid_and_references_the_prior() {
    use rajoints::change::{self, Findings, Prior, PriorInfo};
    let dir = tempfile::tempdir().expect("temp dir");
    // T0: R-PIP2 without ankylosis, R-IP1 seen, plus R-MCP5 (not seen now).
    let mut t0 = analysis();
    t0.joints[0].ankylosis = label(false, 0.1);
    t0.joints.push(Joint {
        id: Some("R-MCP5".parse().expect("joint id")),
        bbox: BBox::new(40.0, 30.0, 50.0, 40.0),
        score: 0.8,
        ankylosis: label(false, 0.1),
        subluxation: Some(label(false, 0.1)),
    });
    t0.refresh_summary();
    let reference = |n: u32| sr::SopReference {
        study_instance_uid: format!("1.2.826.0.1.3680043.8.498.2{n}"),
        series_instance_uid: format!("1.2.826.0.1.3680043.8.498.3{n}"),
        sop_class_uid: uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE.to_string(),
        sop_instance_uid: format!("1.2.826.0.1.3680043.8.498.4{n}"),
    };
    let prior = Prior {
        findings: Findings::of(&t0),
        info: PriorInfo {
            file: "t0.sr.dcm".into(),
            study_date: Some("2023-01-05".into()),
            sr: Some(sr::SopReference {
                sop_class_uid: sr::SR_SOP_CLASS.to_string(),
                ..reference(2)
            }),
            film: Some(reference(1)),
            film_sop_instance_uid: None,
        },
    };
    let mut a = analysis();
    a.change = Some(change::compare(&Findings::of(&a), Some("20240105"), &prior));
    let dump = check_with_all_tools(dir.path(), &a);
    for want in [
        "CONTAINER:(,,\"Change since prior\")",
        "CODE:(,,\"New ankylosis since prior\")=(R-PIP2,99RAJ,",
        "CODE:(,,\"Joint not seen now, seen on prior\")=(R-MCP5,99RAJ,",
        "DATE:(,,\"Prior study date\")=\"20230105\"",
        "new ankylosis at R-PIP2 since 2023-01-05; R-PIP2 subluxation/dislocation",
        "Right hand since 2023-01-05 (365 days): new ankylosis 1 (R-PIP2)",
    ] {
        assert!(dump.contains(want), "no {want:?} in\n{dump}");
    }
    let path = dir.path().join("sr.dcm");
    let obj = dicom_object::open_file(&path).expect("SR reads back");
    let evidence = obj
        .get(tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE)
        .and_then(|e| e.items())
        .expect("pertinent other evidence");
    assert_eq!(evidence.len(), 2);
    // The SR reads back as a prior stating the same joints.
    let back = sr::read_prior(&path).expect("a prior");
    assert_eq!(back.findings, Findings::of(&a));
    assert_eq!(back.info.study_date.as_deref(), Some("2024-01-05"));
}
