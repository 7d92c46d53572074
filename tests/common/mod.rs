//! Test harness: the real binary, the hand-made test models, and synthetic radiographs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue};
use dicom_core::{DataElement, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use rajoints::pipeline::naming::{JointId, Side, TEMPLATE};

pub mod batch;
pub mod http;
pub mod node;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The models written by `models/make_test_models.py` (`make test-models`).
pub fn test_models() -> (PathBuf, PathBuf) {
    let dir = repo().join("target/test-models");
    let (a, s) = (dir.join("ankylosis.toml"), dir.join("subluxation.toml"));
    assert!(
        a.is_file() && s.is_file(),
        "test models missing in {}: run `make test` (or `make test-models`)",
        dir.display()
    );
    (a, s)
}

/// `rajoints analyze` with the test models.
pub fn analyze(files: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let (a, s) = test_models();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rajoints"));
    synthetic_films(&mut cmd);
    cmd.arg("analyze").args(files).arg("--out").arg(out);
    cmd.arg("--ankylosis-model")
        .arg(a)
        .arg("--subluxation-model")
        .arg(s);
    cmd.args(extra);
    cmd.output().expect("run rajoints")
}

pub fn rajoints(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rajoints"));
    synthetic_films(&mut cmd);
    cmd.args(args);
    cmd
}

/// The tests' films are squares that the test models detect, laid out as the hand model's
/// joints of two hands in the phantoms' reading hanging (right hand on the image left):
/// named as seen from the palm, and not put through the quality gate, which expects a
/// hand's proportions from real detectors (tests/gate.rs covers it with the shipped
/// models). A test can still override either with `--set`.
pub fn synthetic_films(cmd: &mut Command) {
    cmd.env("RAJOINTS__PIPELINE__QUALITY_GATE", "false")
        .env("RAJOINTS__PIPELINE__DEFAULT_VIEW", "palmar");
}

/// A square joint stand-in for the blob test models: top-left corner and side in
/// full-resolution pixels, and its brightness in [0, 1].
#[derive(Debug, Clone, Copy)]
pub struct Square {
    pub x: u32,
    pub y: u32,
    pub side: u32,
    pub value: f32,
}

/// A black film of `w x h` with `squares` painted on, as display values in [0, 1].
pub fn paint(w: u32, h: u32, squares: &[Square]) -> Vec<f32> {
    let mut px = vec![0f32; (w * h) as usize];
    for s in squares {
        for y in s.y..(s.y + s.side).min(h) {
            for x in s.x..(s.x + s.side).min(w) {
                px[(y * w + x) as usize] = s.value;
            }
        }
    }
    px
}

/// Attributes of a CR image that tests vary.
#[derive(Debug, Clone)]
pub struct CrImage {
    pub columns: u32,
    pub rows: u32,
    /// Stored values (BitsStored 10 unless `bits` says otherwise).
    pub stored: Vec<u16>,
    pub bits: u16,
    pub photometric: &'static str,
    pub rescale: Option<(f64, f64)>,
    pub window: Option<(f64, f64)>,
    pub pixel_spacing: Option<(f64, f64)>,
    pub patient_orientation: Option<&'static str>,
    pub view_position: Option<&'static str>,
}

impl CrImage {
    /// MONOCHROME2, 10 bits, value v in [0, 1] stored as round(v * 1000).
    pub fn from_display(columns: u32, rows: u32, display: &[f32]) -> CrImage {
        CrImage {
            columns,
            rows,
            stored: display
                .iter()
                .map(|v| (v * 1000.0).round() as u16)
                .collect(),
            bits: 10,
            photometric: "MONOCHROME2",
            rescale: None,
            window: None,
            pixel_spacing: None,
            patient_orientation: None,
            view_position: None,
        }
    }

    pub fn dataset(&self, sop_instance_uid: &str) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        let s = |o: &mut InMemDicomObject, tag, vr, v: &str| {
            o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        };
        s(
            &mut o,
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
        );
        s(&mut o, tags::SOP_INSTANCE_UID, VR::UI, sop_instance_uid);
        s(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1001");
        s(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, "2.25.1002");
        s(&mut o, tags::PATIENT_NAME, VR::PN, "Test^Phantom");
        s(&mut o, tags::PATIENT_ID, VR::LO, "PHANTOM-1");
        s(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, "19600101");
        s(&mut o, tags::PATIENT_SEX, VR::CS, "F");
        s(&mut o, tags::STUDY_DATE, VR::DA, "20260101");
        s(&mut o, tags::STUDY_TIME, VR::TM, "120000");
        s(&mut o, tags::ACCESSION_NUMBER, VR::SH, "A1");
        s(&mut o, tags::STUDY_ID, VR::SH, "1");
        s(&mut o, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "");
        s(&mut o, tags::MODALITY, VR::CS, "CR");
        s(&mut o, tags::BODY_PART_EXAMINED, VR::CS, "HAND");
        s(&mut o, tags::SERIES_NUMBER, VR::IS, "1");
        s(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
        s(
            &mut o,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            self.photometric,
        );
        if let Some(po) = self.patient_orientation {
            s(&mut o, tags::PATIENT_ORIENTATION, VR::CS, po);
        }
        if let Some(vp) = self.view_position {
            s(&mut o, tags::VIEW_POSITION, VR::CS, vp);
        }
        if let Some((slope, intercept)) = self.rescale {
            s(&mut o, tags::RESCALE_SLOPE, VR::DS, &slope.to_string());
            s(
                &mut o,
                tags::RESCALE_INTERCEPT,
                VR::DS,
                &intercept.to_string(),
            );
            s(&mut o, tags::RESCALE_TYPE, VR::LO, "US");
        }
        if let Some((c, w)) = self.window {
            s(&mut o, tags::WINDOW_CENTER, VR::DS, &c.to_string());
            s(&mut o, tags::WINDOW_WIDTH, VR::DS, &w.to_string());
        }
        if let Some((r, c)) = self.pixel_spacing {
            s(&mut o, tags::PIXEL_SPACING, VR::DS, &format!("{r}\\{c}"));
            s(
                &mut o,
                tags::IMAGER_PIXEL_SPACING,
                VR::DS,
                &format!("{r}\\{c}"),
            );
        }
        o.put(DataElement::new(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            dicom_value!(U16, [1]),
        ));
        o.put(DataElement::new(
            tags::ROWS,
            VR::US,
            dicom_value!(U16, [self.rows as u16]),
        ));
        o.put(DataElement::new(
            tags::COLUMNS,
            VR::US,
            dicom_value!(U16, [self.columns as u16]),
        ));
        let allocated = if self.bits <= 8 { 8 } else { 16 };
        o.put(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            dicom_value!(U16, [allocated]),
        ));
        o.put(DataElement::new(
            tags::BITS_STORED,
            VR::US,
            dicom_value!(U16, [self.bits]),
        ));
        o.put(DataElement::new(
            tags::HIGH_BIT,
            VR::US,
            dicom_value!(U16, [self.bits - 1]),
        ));
        o.put(DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            dicom_value!(U16, [0]),
        ));
        let pixels = if allocated == 8 {
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                PrimitiveValue::U8(self.stored.iter().map(|&v| v.min(255) as u8).collect()),
            )
        } else {
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(self.stored.clone().into()),
            )
        };
        o.put(pixels);
        o
    }

    pub fn write(&self, path: &Path, sop_instance_uid: &str) {
        self.dataset(sop_instance_uid)
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .expect("meta")
            .write_to_file(path)
            .expect("write test DICOM");
    }
}

/// A DICOM file whose pixel data is encapsulated in `ts` with meaningless fragments.
pub fn write_encapsulated(path: &Path, ts: &str) {
    let img = CrImage::from_display(16, 16, &[0.0; 256]);
    let mut o = img.dataset("2.25.77");
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PixelFragmentSequence::new(vec![], vec![vec![0xFF, 0xD8, 0x00, 0x01]]),
    ));
    o.with_meta(FileMetaTableBuilder::new().transfer_syntax(ts))
        .expect("meta")
        .write_to_file(path)
        .expect("write encapsulated DICOM");
}

/// Half-scale pixels per template millimetre: joints 40+ px apart at half scale.
const S: f32 = 3.0;

/// The 20 joints laid out as both hands of a PA film, one 60x60 square each (30x30 on the
/// 10-px anchor grid at half scale), with the brightness chosen per joint.
pub fn film(value: impl Fn(JointId) -> f32) -> (u32, u32, Vec<(JointId, Square)>) {
    let mut out = Vec::new();
    for (side, ox, flip) in [(Side::Right, 160.0, 1.0), (Side::Left, 560.0, -1.0)] {
        for &(finger, level, x, y) in TEMPLATE.iter() {
            let id = JointId::new(side, finger, level).unwrap();
            let (cx, cy) = (ox + S * flip * x, 180.0 + S * y);
            // Top-left on the 10-px grid of the half-scale image, then doubled.
            let hx = ((cx - 15.0) / 10.0).round() as u32 * 10;
            let hy = ((cy - 15.0) / 10.0).round() as u32 * 10;
            out.push((
                id,
                Square {
                    x: 2 * hx,
                    y: 2 * hy,
                    side: 60,
                    value: value(id),
                },
            ));
        }
    }
    (1440, 680, out)
}

/// Runs `tests/sr_check.py` (highdicom) and `dsrdump` on an SR written beside its JSON.
pub fn check_sr(sr: &Path, json: &Path) {
    let py = repo().join(".venv/bin/python");
    assert!(py.is_file(), "{} missing: run `make test`", py.display());
    let out = Command::new(&py)
        .arg(repo().join("tests/sr_check.py"))
        .arg(sr)
        .arg(json)
        .output()
        .expect("run sr_check.py");
    assert!(
        out.status.success(),
        "highdicom disagrees with the JSON:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("dsrdump")
        .arg(sr)
        .output()
        .expect("dsrdump (DCMTK) not runnable: run `make test`");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dsrdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A black 10 x 10 PNG, for tests about everything but the image.
pub fn blank_png(path: &Path) {
    let img = rajoints::image::Radiograph {
        width: 10,
        height: 10,
        pixels: vec![0.0; 100],
        pixel_spacing_mm: None,
        attributes: Default::default(),
    };
    rajoints::render::png::write_gray(path, &img, false).unwrap();
}

/// dciodvfy's whole report on a file (stderr, then stdout).
pub fn dciodvfy_report(path: &Path) -> String {
    let out = Command::new("dciodvfy")
        .arg(path)
        .output()
        .expect("dciodvfy (dicom3tools) not runnable: run `make test`");
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

/// dciodvfy's Error lines for a file (warnings are left to the callers' documents).
pub fn dciodvfy_errors(path: &Path) -> Vec<String> {
    dciodvfy_report(path)
        .lines()
        .filter(|l| l.starts_with("Error"))
        .map(String::from)
        .collect()
}

/// The (joint, finding) pairs present in one phantom image's ground truth (the
/// `annotations.json` that `rajoints phantom` writes), by patient and time point.
pub fn phantom_truth(
    annotations: &Path,
    patient: &str,
    timepoint: u64,
) -> std::collections::BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(annotations).expect("annotations.json");
    let ann: serde_json::Value = serde_json::from_str(&text).expect("annotations JSON");
    let image = ann["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["patient_id"] == patient && i["timepoint"] == timepoint)
        .expect("the phantom image");
    let mut out = std::collections::BTreeSet::new();
    for j in image["joints"].as_array().expect("joints") {
        for f in ["ankylosis", "subluxation"] {
            if j[f] == true {
                out.insert((
                    j["joint"].as_str().expect("joint").to_string(),
                    f.to_string(),
                ));
            }
        }
    }
    out
}

/// The phantom pair of issue 19's end-to-end tests, written into `dir`: patient 1 of
/// `--preset paper --count 4 --ankylosis-rate 0.2 --seed 7` gains ankylosis between T0
/// and T1. The two films, and the (joint, finding) pairs the ground truth has new at T1
/// and present at both.
pub struct ProgressionPair {
    pub t0: PathBuf,
    pub t1: PathBuf,
    pub new: Vec<(String, String)>,
    pub same: Vec<(String, String)>,
}

pub fn progression_pair(dir: &Path) -> ProgressionPair {
    let args = [
        "--preset",
        "paper",
        "--count",
        "4",
        "--ankylosis-rate",
        "0.2",
        "--seed",
        "7",
    ];
    let films = phantom_films(dir, &args);
    let truth = |t: u64| phantom_truth(&dir.join("annotations.json"), "PHANTOM-0001", t);
    let (t0, t1) = (truth(0), truth(1));
    let new: Vec<_> = t1.difference(&t0).cloned().collect();
    assert!(
        !new.is_empty(),
        "seed 7 no longer progresses: {t0:?} {t1:?}"
    );
    let film = |t: &str| {
        films
            .iter()
            .find(|f| {
                f.to_string_lossy()
                    .ends_with(&format!("PHANTOM-0001-{t}.dcm"))
            })
            .expect("the phantom film")
            .clone()
    };
    ProgressionPair {
        t0: film("T0"),
        t1: film("T1"),
        same: t1.intersection(&t0).cloned().collect(),
        new,
    }
}

/// `rajoints phantom --out OUT ARGS...`; the films it wrote, sorted.
pub fn phantom_films(out: &Path, args: &[&str]) -> Vec<PathBuf> {
    let run = rajoints(&["phantom"])
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("run rajoints phantom");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut films: Vec<PathBuf> = std::fs::read_dir(out.join("images"))
        .expect("phantom images")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    films.sort();
    films
}
