//! The phantom generator (issue 3): determinism, ground truth inside the image and on the
//! joint spaces, label prevalence, the paired time points, and DICOM validity checked by
//! the real `dciodvfy`.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
use std::process::Command;

use rajoints::annotations::Annotations;
use rajoints::image::Radiograph;
use rajoints::phantom::{self, Condition, JointGeometry, PhantomOptions};
use rajoints::pipeline::naming::JointId;

fn opts(count: usize, seed: u64) -> PhantomOptions {
    PhantomOptions {
        count,
        seed,
        ..Default::default()
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        "annotations.json".to_string(),
        std::fs::read(dir.join("annotations.json")).unwrap(),
    )];
    let mut names: Vec<_> = std::fs::read_dir(dir.join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for n in names {
        let bytes = std::fs::read(dir.join("images").join(&n)).unwrap();
        out.push((n, bytes));
    }
    out
}

#[test]
fn same_arguments_give_identical_bytes_and_another_seed_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let o = opts(3, 11);
    let ann = phantom::generate(&o, &a).unwrap();
    phantom::generate(&o, &b).unwrap();
    phantom::generate(&opts(3, 12), &c).unwrap();
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(fa.len(), 4, "annotations.json and three images");
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.0, y.0);
        assert!(
            x.1 == y.1,
            "{} differs between two runs with the same arguments",
            x.0
        );
    }
    for (x, y) in fa.iter().zip(&fc) {
        assert!(x.1 != y.1, "{} is the same for seeds 11 and 12", x.0);
    }
    // What generate returns is what it wrote, and what annotate computes without pixels.
    assert_eq!(Annotations::load(&a).unwrap(), ann);
    assert_eq!(phantom::annotate(&o).unwrap(), ann);
}

#[test]
fn every_image_has_twenty_joints_and_patients_have_paired_time_points() {
    let a = phantom::annotate(&opts(7, 3)).unwrap();
    assert_eq!(a.format, "rajoints-annotations/1");
    assert_eq!(a.images.len(), 7);
    let ids: Vec<JointId> = JointId::all().collect();
    let mut uids = std::collections::BTreeSet::new();
    for (i, img) in a.images.iter().enumerate() {
        assert_eq!(
            img.joints.iter().map(|j| j.joint).collect::<Vec<_>>(),
            ids,
            "image {i}"
        );
        for j in &img.joints {
            assert_eq!(
                j.subluxation.is_none(),
                j.joint.is_thumb_ip(),
                "{} of image {i}",
                j.joint
            );
        }
        assert_eq!(img.timepoint as usize, i % 2);
        assert_eq!(img.patient_id, a.images[i - i % 2].patient_id);
        assert_eq!((img.width, img.height), (2010, 1670));
        assert_eq!(
            img.annotator,
            format!("rajoints-phantom {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(
            uids.insert(img.sop_instance_uid.clone()),
            "SOP Instance UID repeated"
        );
        assert!(img.file.starts_with("images/") && img.file.ends_with(".dcm"));
    }
    assert_ne!(a.images[1].patient_id, a.images[2].patient_id);
    // The odd image out is the last patient's time point 0.
    assert_eq!(a.images[6].timepoint, 0);
}

#[test]
fn boxes_stay_inside_the_image_and_have_anatomical_size() {
    let a = phantom::annotate(&opts(300, 5)).unwrap();
    for img in &a.images {
        for j in &img.joints {
            let b = j.bbox;
            assert!(
                b.x0 >= 0.0 && b.y0 >= 0.0 && b.x1 <= 2010.0 && b.y1 <= 1670.0,
                "{} of {}: {b:?}",
                j.joint,
                img.file
            );
            // Square boxes of 50-260 px: 9-30 mm at 0.12-0.18 mm per pixel, the range
            // from a small PIP5 to a large displaced MCP.
            assert!((b.width() - b.height()).abs() < 0.05, "{b:?}");
            assert!(
                (50.0..=260.0).contains(&b.width()),
                "{} of {}: side {}",
                j.joint,
                img.file,
                b.width()
            );
        }
    }
}

/// Mean display value of a thin strip across the axis at `t` pixels along it.
fn strip(img: &Radiograph, j: &JointGeometry, t: f32, half: f32) -> f32 {
    let (ax, ay) = j.axis;
    let (px, py) = (-ay, ax);
    let mut sum = 0.0;
    let mut n = 0.0;
    let mut s = -half;
    while s <= half {
        for dt in [-0.5f32, 0.0, 0.5] {
            let x = j.centre.0 + (t + dt) * ax + s * px;
            let y = j.centre.1 + (t + dt) * ay + s * py;
            sum += img.at(x.floor() as usize, y.floor() as usize);
            n += 1.0;
        }
        s += 1.0;
    }
    sum / n
}

/// How much darker the joint's centre is than the bone ends on both sides of it: the mean
/// of a strip across the axis at the centre against the means over the first 1.5 mm of
/// bone past the joint space on each side.
fn gap_contrast(img: &Radiograph, j: &JointGeometry, spacing_mm: f64) -> f32 {
    let px = |mm: f64| (mm / spacing_mm) as f32;
    let half = px(0.8);
    let centre =
        (strip(img, j, -1.0, half) + strip(img, j, 0.0, half) + strip(img, j, 1.0, half)) / 3.0;
    let side = |sign: f32| {
        let (a, b) = (j.gap / 2.0 + px(0.2), j.gap / 2.0 + px(1.7));
        let n = (b - a).ceil() as usize;
        (0..=n)
            .map(|k| strip(img, j, sign * (a + k as f32), half))
            .sum::<f32>()
            / (n + 1) as f32
    };
    side(-1.0).min(side(1.0)) - centre
}

#[test]
fn boxes_are_centred_on_visible_joint_spaces() {
    let mut checked = 0;
    for (seed, index) in [(21, 0), (22, 1)] {
        let p = phantom::render_one(&opts(2, seed), index).unwrap();
        let img = p.radiograph();
        for (j, a) in p.joints.iter().zip(&p.annotation.joints) {
            let (cx, cy) = a.bbox.centre();
            assert!(
                (cx - j.centre.0).abs() < 0.02 && (cy - j.centre.1).abs() < 0.02,
                "{} box not centred on its joint",
                j.id
            );
            if j.conditions == [Condition::Normal] && j.gap >= 4.0 {
                let c = gap_contrast(&img, j, p.pixel_spacing_mm);
                assert!(
                    c > 0.01,
                    "{} (seed {seed}): joint space not darker than the bone ends ({c})",
                    j.id
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} normal joints checked");
}

#[test]
fn ankylosis_bridges_the_joint_space_and_dislocation_moves_the_bone() {
    let r = |s: &str| s.parse::<JointId>().unwrap();
    let forced = [
        (r("R-PIP3"), Condition::Ankylosis),
        (r("R-PIP4"), Condition::Normal),
        (r("L-PIP3"), Condition::Ankylosis),
        (r("L-PIP4"), Condition::Normal),
        (r("R-MCP2"), Condition::Dislocation),
    ];
    let p = phantom::render_with(&opts(1, 31), 0, &forced).unwrap();
    let img = p.radiograph();
    let get = |id: JointId| p.joints.iter().find(|j| j.id == id).unwrap();
    let ann = |id: JointId| p.annotation.joints.iter().find(|j| j.joint == id).unwrap();
    for (fused, normal) in [("R-PIP3", "R-PIP4"), ("L-PIP3", "L-PIP4")] {
        let (f, n) = (get(r(fused)), get(r(normal)));
        let (cf, cn) = (
            gap_contrast(&img, f, p.pixel_spacing_mm),
            gap_contrast(&img, n, p.pixel_spacing_mm),
        );
        assert!(
            cn > 0.01 && cf < 0.5 * cn,
            "{fused} contrast {cf} vs {normal} {cn}"
        );
        assert!(ann(r(fused)).ankylosis && !ann(r(normal)).ankylosis);
    }
    assert_eq!(ann(r("R-MCP2")).subluxation, Some(true));
    assert!(
        get(r("R-MCP2"))
            .conditions
            .contains(&Condition::Dislocation)
    );
}

#[test]
fn label_prevalence_follows_the_requested_rates() {
    // Labels need no pixels, so thousands of images are cheap.
    for (ank, sub, count, tol) in [
        (0.3, 0.3, 1000, 0.03),
        (
            phantom::ANKYLOSIS_RATE,
            phantom::SUBLUXATION_RATE,
            2600,
            0.008,
        ),
    ] {
        let a = phantom::annotate(&PhantomOptions {
            count,
            seed: 77,
            ankylosis_rate: ank,
            subluxation_rate: sub,
            ..Default::default()
        })
        .unwrap();
        let joints: Vec<_> = a.images.iter().flat_map(|i| &i.joints).collect();
        let pa = joints.iter().filter(|j| j.ankylosis).count() as f64 / joints.len() as f64;
        let with_sub: Vec<_> = joints.iter().filter_map(|j| j.subluxation).collect();
        let ps = with_sub.iter().filter(|&&s| s).count() as f64 / with_sub.len() as f64;
        assert_eq!(with_sub.len(), count * 18);
        assert!((pa - ank).abs() < tol, "ankylosis {pa} for rate {ank}");
        assert!((ps - sub).abs() < tol, "subluxation {ps} for rate {sub}");
    }
    // Rates 0 and 1 are exact.
    let none = phantom::annotate(&PhantomOptions {
        count: 20,
        seed: 1,
        ankylosis_rate: 0.0,
        subluxation_rate: 0.0,
        ..Default::default()
    })
    .unwrap();
    assert!(
        none.images
            .iter()
            .flat_map(|i| &i.joints)
            .all(|j| !j.ankylosis && j.subluxation != Some(true))
    );
    let all = phantom::annotate(&PhantomOptions {
        count: 4,
        seed: 1,
        ankylosis_rate: 1.0,
        subluxation_rate: 1.0,
        ..Default::default()
    })
    .unwrap();
    assert!(
        all.images
            .iter()
            .flat_map(|i| &i.joints)
            .all(|j| j.ankylosis && j.subluxation != Some(false))
    );
}

#[test]
fn findings_do_not_regress_between_time_points() {
    let a = phantom::annotate(&PhantomOptions {
        count: 200,
        seed: 9,
        ankylosis_rate: 0.2,
        subluxation_rate: 0.2,
        ..Default::default()
    })
    .unwrap();
    let mut new = 0;
    for pair in a.images.chunks(2) {
        for (j0, j1) in pair[0].joints.iter().zip(&pair[1].joints) {
            assert!(
                !j0.ankylosis || j1.ankylosis,
                "{} of {} lost its ankylosis",
                j0.joint,
                pair[0].patient_id
            );
            assert!(j0.subluxation != Some(true) || j1.subluxation == Some(true));
            new += (j1.ankylosis && !j0.ankylosis) as usize;
        }
    }
    assert!(new > 0, "the disease never progresses");
}

#[test]
fn rejects_rates_outside_zero_to_one() {
    for (a, s) in [(-0.1, 0.0), (0.0, 1.5), (f64::NAN, 0.0)] {
        let o = PhantomOptions {
            ankylosis_rate: a,
            subluxation_rate: s,
            ..opts(1, 0)
        };
        assert!(
            matches!(
                phantom::annotate(&o),
                Err(phantom::Error::InvalidRate { .. })
            ),
            "{a} {s}"
        );
    }
}

#[test]
fn monochrome1_stores_inverted_values() {
    let m2 = phantom::render_one(&opts(1, 4), 0).unwrap();
    let m1 = phantom::render_one(
        &PhantomOptions {
            monochrome1: true,
            ..opts(1, 4)
        },
        0,
    )
    .unwrap();
    assert!(m2.stored.iter().zip(&m1.stored).all(|(a, b)| a + b == 1023));
    assert!(m2.stored.iter().all(|&v| v < 1024));
    let (a, b) = (m2.radiograph(), m1.radiograph());
    assert!(
        a.pixels
            .iter()
            .zip(&b.pixels)
            .all(|(x, y)| (x - y).abs() < 1e-6),
        "both display the same"
    );
}

/// Runs the real dciodvfy; a missing tool fails the test rather than skipping it.
fn dciodvfy(path: &Path) -> String {
    let tool = Path::new("/usr/bin/dciodvfy");
    assert!(
        tool.is_file(),
        "dciodvfy not found at {}: install dicom3tools to run this test",
        tool.display()
    );
    let out = Command::new(tool).arg(path).output().expect("run dciodvfy");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn dciodvfy_finds_no_errors_or_warnings() {
    use phantom::{Convention, Kind};
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        opts(2, 40),
        PhantomOptions {
            monochrome1: true,
            ..opts(2, 41)
        },
        with(opts(2, 100), Convention::OneHand, Kind::Hand),
        with(opts(1, 100), Convention::TwoHandsAcquired, Kind::Hand),
        PhantomOptions {
            digitised: true,
            no_spacing: true,
            ..with(opts(1, 100), Convention::OneHand, Kind::Hand)
        },
        with(opts(1, 100), Convention::OneHand, Kind::Foot),
    ];
    for (k, o) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("{k}"));
        let ann = phantom::generate(o, &dir).unwrap();
        for img in &ann.images {
            let report = dciodvfy(&dir.join(&img.file));
            let bad: Vec<&str> = report
                .lines()
                .filter(|l| l.contains("Error") || l.contains("Warning"))
                .collect();
            assert!(
                bad.is_empty(),
                "dciodvfy on case {k} {}:\n{report}",
                img.file
            );
            assert!(report.contains("CRImage"), "{report}");
        }
    }
}

#[test]
fn files_carry_geometry_and_identity() {
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let ann = phantom::generate(&opts(2, 8), tmp.path()).unwrap();
    let mut studies = Vec::new();
    for img in &ann.images {
        let obj = dicom_object::open_file(tmp.path().join(&img.file)).unwrap();
        let s = |t| obj.element(t).unwrap().to_str().unwrap().trim().to_string();
        assert_eq!(s(tags::SOP_INSTANCE_UID), img.sop_instance_uid);
        assert_eq!(s(tags::PATIENT_ID), img.patient_id);
        assert_eq!(s(tags::MODALITY), "CR");
        assert_eq!(s(tags::BODY_PART_EXAMINED), "HAND");
        assert_eq!(s(tags::PHOTOMETRIC_INTERPRETATION), "MONOCHROME2");
        studies.push(s(tags::STUDY_INSTANCE_UID));
        let sp: Vec<f64> = obj
            .element(tags::PIXEL_SPACING)
            .unwrap()
            .to_multi_float64()
            .unwrap();
        assert!(sp[0] == sp[1] && (0.12..=0.2).contains(&sp[0]), "{sp:?}");
        let ip: Vec<f64> = obj
            .element(tags::IMAGER_PIXEL_SPACING)
            .unwrap()
            .to_multi_float64()
            .unwrap();
        assert_eq!(sp, ip);
        // Boxes have an anatomical size in millimetres whatever the pixel size.
        for j in &img.joints {
            let mm = j.bbox.width() as f64 * sp[0];
            let range = match (j.joint.level, j.joint.finger) {
                (rajoints::pipeline::naming::Level::Mcp, _) => 13.0..=30.0,
                _ => 10.0..=24.0,
            };
            assert!(range.contains(&mm), "{} box {mm} mm", j.joint);
        }
        let decoded = rajoints::dicom::decode::decode(
            &rajoints::dicom::decode::open(&tmp.path().join(&img.file)).unwrap(),
            u64::MAX,
        )
        .unwrap();
        assert_eq!((decoded.width, decoded.height), (2010, 1670));
        // Hung for reading: rows towards the right hand's thumb, columns to the wrist
        // (PS3.17 Annex A labels a hand in the anatomical position).
        assert_eq!(s(tags::PATIENT_ORIENTATION), "R\\H");
        assert_eq!(s(tags::IMAGE_LATERALITY), "B");
        assert!(obj.element(tags::LATERALITY).is_err());
    }
    assert_ne!(studies[0], studies[1], "each time point is its own study");
}

/// The radiograph a phantom hands to the pipeline says what its file says: side,
/// hanging and view, for every convention (the pipeline names hands from them).
#[test]
fn the_phantoms_radiograph_carries_the_attributes_of_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = with(opts(6, 23), phantom::Convention::Mixed, phantom::Kind::Hand);
    let ann = phantom::generate(&o, tmp.path()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for (i, img) in ann.images.iter().enumerate() {
        let decoded = rajoints::dicom::decode::decode(
            &rajoints::dicom::decode::open(&tmp.path().join(&img.file)).unwrap(),
            u64::MAX,
        )
        .unwrap();
        let own = phantom::render_one(&o, i).unwrap().radiograph();
        assert_eq!(decoded.attributes, own.attributes, "{}", img.file);
        // The file's Pixel Spacing is a DS of six decimals.
        let (file, exact) = (
            decoded.pixel_spacing_mm.unwrap(),
            own.pixel_spacing_mm.unwrap(),
        );
        assert!((file.0 - exact.0).abs() < 1e-6 && (file.1 - exact.1).abs() < 1e-6);
        seen.insert(own.attributes.patient_orientation.clone());
    }
    // Both hangings' orientations occur.
    assert_eq!(seen.len(), 2, "{seen:?}");
}

/// Centre x of a joint's box.
fn cx(img: &rajoints::annotations::AnnotatedImage, name: &str) -> f32 {
    let id: JointId = name.parse().unwrap();
    img.joints
        .iter()
        .find(|j| j.joint == id)
        .map(|j| j.bbox.centre().0)
        .unwrap_or_else(|| panic!("{name} missing in {}", img.file))
}

fn mean_x(img: &rajoints::annotations::AnnotatedImage, side: &str) -> f32 {
    let xs: Vec<f32> = img
        .joints
        .iter()
        .filter(|j| j.joint.to_string().starts_with(side))
        .map(|j| j.bbox.centre().0)
        .collect();
    xs.iter().sum::<f32>() / xs.len() as f32
}

fn with(o: PhantomOptions, convention: phantom::Convention, kind: phantom::Kind) -> PhantomOptions {
    PhantomOptions {
        convention,
        kind,
        ..o
    }
}

#[test]
fn two_hands_reading_puts_the_right_hand_left_with_its_thumb_towards_the_middle() {
    let a = phantom::annotate(&opts(8, 50)).unwrap();
    for img in &a.images {
        let half = img.width as f32 / 2.0;
        assert!(
            mean_x(img, "R-") < half && mean_x(img, "L-") > half,
            "{}",
            img.file
        );
        assert!(cx(img, "R-MCP1") > cx(img, "R-MCP5"), "{}", img.file);
        assert!(cx(img, "L-MCP1") < cx(img, "L-MCP5"), "{}", img.file);
        assert_eq!(img.convention.as_deref(), Some("two-hands-reading"));
        assert_eq!(img.laterality.as_deref(), Some("B"));
        assert!(img.kind.is_none() && img.assessable);
    }
}

#[test]
fn two_hands_acquired_mirrors_the_film_and_its_truth() {
    use phantom::{Convention, Kind};
    let reading = phantom::annotate(&opts(8, 50)).unwrap();
    let acquired =
        phantom::annotate(&with(opts(8, 50), Convention::TwoHandsAcquired, Kind::Hand)).unwrap();
    for (r, a) in reading.images.iter().zip(&acquired.images) {
        let half = a.width as f32 / 2.0;
        assert!(
            mean_x(a, "R-") > half && mean_x(a, "L-") < half,
            "{}",
            a.file
        );
        assert!(cx(a, "R-MCP1") < cx(a, "R-MCP5"), "{}", a.file);
        assert!(cx(a, "L-MCP1") > cx(a, "L-MCP5"), "{}", a.file);
        assert_eq!(a.convention.as_deref(), Some("two-hands-acquired"));
        // Every box is its reading box mirrored: x0' = W - x1.
        for (jr, ja) in r.joints.iter().zip(&a.joints) {
            assert_eq!(jr.joint, ja.joint);
            assert!(
                (ja.bbox.x0 - (2010.0 - jr.bbox.x1)).abs() < 0.02,
                "{}",
                ja.joint
            );
            assert_eq!((ja.bbox.y0, ja.bbox.y1), (jr.bbox.y0, jr.bbox.y1));
        }
    }
    // The pixels are the reading film's mirrored, but for the lead letters (drawn
    // mirror-written so that they read right; the wide dynamic range compression spreads
    // a faint trace of them) and a label.
    let pr = phantom::render_one(&opts(2, 50), 0).unwrap();
    let pa = phantom::render_one(
        &with(opts(2, 50), Convention::TwoHandsAcquired, Kind::Hand),
        0,
    )
    .unwrap();
    let w = 2010;
    let diff = |i: usize| pr.stored[i].abs_diff(pa.stored[i / w * w + (w - 1 - i % w)]);
    let n = pr.stored.len() as f64;
    let exact = (0..pr.stored.len()).filter(|&i| diff(i) == 0).count() as f64 / n;
    let close = (0..pr.stored.len()).filter(|&i| diff(i) <= 2).count() as f64 / n;
    assert!(
        exact > 0.9 && exact < 1.0 && close > 0.98,
        "{exact} {close} of the pixels mirror"
    );
}

#[test]
fn one_hand_films_show_one_hand_from_the_dorsum() {
    use dicom_dictionary_std::tags;
    use phantom::{Convention, Kind};
    let o = with(opts(40, 60), Convention::OneHand, Kind::Hand);
    let a = phantom::annotate(&o).unwrap();
    let mut sides = std::collections::BTreeSet::new();
    for img in &a.images {
        assert_eq!(img.joints.len(), 10, "{}", img.file);
        let side = img.laterality.clone().unwrap();
        assert!(
            img.joints
                .iter()
                .all(|j| j.joint.to_string().starts_with(&format!("{side}-"))),
            "{}",
            img.file
        );
        // Seen from the dorsum: a right thumb on the left of its hand, a left one right.
        let (m1, m5) = (
            cx(img, &format!("{side}-MCP1")),
            cx(img, &format!("{side}-MCP5")),
        );
        assert!(
            if side == "R" { m1 < m5 } else { m1 > m5 },
            "{}: {side} {m1} {m5}",
            img.file
        );
        assert!(img.width < img.height, "{}", img.file);
        assert!(
            img.joints
                .iter()
                .all(|j| j.bbox.x0 >= 0.0 && j.bbox.x1 <= img.width as f32)
        );
        sides.insert(side);
    }
    // The crop holds no joint box of the other hand: on the reading film (the same
    // exposure), a right hand's crop is columns [0, width) and a left hand's
    // [2010 - width, 2010); the other hand's boxes lie wholly beyond the cut.
    let reading = phantom::annotate(&opts(40, 60)).unwrap();
    for (one, two) in a.images.iter().zip(&reading.images) {
        let side = one.laterality.clone().unwrap();
        let cut = if side == "R" {
            one.width as f32
        } else {
            2010.0 - one.width as f32
        };
        for j in two
            .joints
            .iter()
            .filter(|j| !j.joint.to_string().starts_with(&side))
        {
            let outside = if side == "R" {
                j.bbox.x0 >= cut - 0.01
            } else {
                j.bbox.x1 <= cut + 0.01
            };
            assert!(
                outside,
                "{} of the other hand inside the crop of {}",
                j.joint, one.file
            );
        }
    }
    let many = phantom::annotate(&PhantomOptions {
        count: 40,
        ..o.clone()
    })
    .unwrap();
    let right = many
        .images
        .iter()
        .filter(|i| i.laterality.as_deref() == Some("R"))
        .count();
    assert!((12..=28).contains(&right), "{right} of 40 right hands");
    // The files say so.
    let tmp = tempfile::tempdir().unwrap();
    let ann = phantom::generate(&PhantomOptions { count: 2, ..o }, tmp.path()).unwrap();
    for img in &ann.images {
        let obj = dicom_object::open_file(tmp.path().join(&img.file)).unwrap();
        let s = |t| obj.element(t).unwrap().to_str().unwrap().trim().to_string();
        assert_eq!(s(tags::PATIENT_ORIENTATION), "L\\H");
        assert_eq!(Some(s(tags::LATERALITY)), img.laterality);
        assert!(
            obj.element(tags::IMAGE_LATERALITY).is_err(),
            "no Image Laterality"
        );
        let side = if img.laterality.as_deref() == Some("R") {
            "RIGHT"
        } else {
            "LEFT"
        };
        assert_eq!(s(tags::STUDY_DESCRIPTION), format!("{side} HAND PA"));
        assert_eq!(s(tags::SERIES_DESCRIPTION), format!("{side} HAND PA"));
        assert_eq!(s(tags::COLUMNS).parse::<u32>().unwrap(), img.width);
    }
}

#[test]
fn mixed_draws_each_convention() {
    let o = with(
        opts(12, 70),
        phantom::Convention::Mixed,
        phantom::Kind::Hand,
    );
    let a = phantom::annotate(&o).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for img in &a.images {
        let c = img.convention.clone().unwrap();
        let n = if c == "one-hand" { 10 } else { 20 };
        assert_eq!(img.joints.len(), n, "{} {c}", img.file);
        assert_eq!(img.laterality.as_deref() == Some("B"), n == 20);
        *seen.entry(c).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let many = phantom::annotate(&PhantomOptions { count: 300, ..o }).unwrap();
    for c in ["two-hands-reading", "two-hands-acquired", "one-hand"] {
        let n = many
            .images
            .iter()
            .filter(|i| i.convention.as_deref() == Some(c))
            .count();
        assert!((70..=130).contains(&n), "{c}: {n} of 300");
    }
}

#[test]
fn digitised_films_are_resampled_with_their_truth() {
    use dicom_dictionary_std::tags;
    use phantom::{Convention, Kind};
    let base = with(opts(4, 80), Convention::OneHand, Kind::Hand);
    let dig = PhantomOptions {
        digitised: true,
        ..base.clone()
    };
    let (a0, a1) = (
        phantom::annotate(&base).unwrap(),
        phantom::annotate(&dig).unwrap(),
    );
    for (i0, i1) in a0.images.iter().zip(&a1.images) {
        let (s0, s1) = (i0.true_spacing_mm.unwrap(), i1.true_spacing_mm.unwrap());
        assert!((0.08..=0.30).contains(&s1), "{s1}");
        // The same film at another pitch: size and boxes scale by s0 / s1, boxes keep
        // their size in millimetres.
        let k = s0 / s1;
        assert!(((i1.width as f64) - i0.width as f64 * k).abs() <= 1.0);
        assert!(((i1.height as f64) - i0.height as f64 * k).abs() <= 1.0);
        for (j0, j1) in i0.joints.iter().zip(&i1.joints) {
            let (mm0, mm1) = (j0.bbox.width() as f64 * s0, j1.bbox.width() as f64 * s1);
            assert!((mm1 / mm0 - 1.0).abs() < 0.05, "{} {mm0} {mm1}", j0.joint);
            let (c0, c1) = (j0.bbox.centre(), j1.bbox.centre());
            assert!((c1.0 as f64 - c0.0 as f64 * k).abs() < 0.5);
        }
    }
    // --no-spacing changes the tags only.
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = (tmp.path().join("with"), tmp.path().join("without"));
    let n1 = phantom::generate(
        &PhantomOptions {
            count: 2,
            ..dig.clone()
        },
        &d1,
    )
    .unwrap();
    let n2 = phantom::generate(
        &PhantomOptions {
            count: 2,
            no_spacing: true,
            ..dig
        },
        &d2,
    )
    .unwrap();
    assert_eq!(
        n1, n2,
        "same ground truth with and without the spacing tags"
    );
    for img in &n1.images {
        let o1 = dicom_object::open_file(d1.join(&img.file)).unwrap();
        let o2 = dicom_object::open_file(d2.join(&img.file)).unwrap();
        let sp: Vec<f64> = o1
            .element(tags::PIXEL_SPACING)
            .unwrap()
            .to_multi_float64()
            .unwrap();
        assert!((sp[0] - img.true_spacing_mm.unwrap()).abs() < 1e-5);
        assert!(o1.element(tags::IMAGER_PIXEL_SPACING).is_ok());
        assert!(o2.element(tags::PIXEL_SPACING).is_err());
        assert!(o2.element(tags::IMAGER_PIXEL_SPACING).is_err());
        let bits = |o: &dicom_object::DefaultDicomObject| {
            o.element(tags::BITS_STORED)
                .unwrap()
                .to_int::<u16>()
                .unwrap()
        };
        assert_eq!((bits(&o1), bits(&o2)), (8, 8));
        let px = |o: &dicom_object::DefaultDicomObject| {
            o.element(tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec()
        };
        let (p1, p2) = (px(&o1), px(&o2));
        assert!(p1 == p2, "the same pixels");
        let values: Vec<u16> = p1
            .chunks(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert!(values.iter().all(|&v| v <= 255) && values.iter().any(|&v| v > 200));
    }
}

#[test]
fn refused_kinds_have_content_and_no_joints() {
    use dicom_dictionary_std::tags;
    use phantom::{Convention, Kind};
    let tmp = tempfile::tempdir().unwrap();
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Hand) {
        let o = with(opts(1, 90), Convention::TwoHandsReading, kind);
        let dir = tmp.path().join(kind.as_str());
        let ann = phantom::generate(&o, &dir).unwrap();
        let img = &ann.images[0];
        assert!(img.joints.is_empty(), "{kind}");
        assert!(!img.assessable, "{kind}");
        assert_eq!(img.kind.as_deref(), Some(kind.as_str()));
        assert_eq!(img.convention.as_deref(), Some("one-hand"));
        let text = std::fs::read_to_string(dir.join("annotations.json")).unwrap();
        assert!(text.contains("\"assessable\": false"), "{kind}");
        // Not blank: the film has structure (anatomy or at least the field's edge).
        let p = phantom::render_one(&o, 0).unwrap();
        let v = p.radiograph().pixels;
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32).sqrt();
        assert!(
            v.len() > 500_000 && sd > 0.03,
            "{kind}: {} px, sd {sd}",
            v.len()
        );
        if kind == Kind::Rotated {
            assert!(
                p.width > p.height,
                "a turned one-hand film lies on its side"
            );
        }
        // Written as a one-hand PA film, so only the pixels can tell.
        let obj = dicom_object::open_file(dir.join(&img.file)).unwrap();
        let s = |t| obj.element(t).unwrap().to_str().unwrap().trim().to_string();
        assert_eq!(s(tags::BODY_PART_EXAMINED), "HAND");
        assert_eq!(s(tags::VIEW_POSITION), "PA");
        assert_eq!(s(tags::PATIENT_ORIENTATION), "L\\H");
        assert_eq!(Some(s(tags::LATERALITY)), img.laterality);
    }
}

#[test]
fn new_conventions_and_kinds_are_deterministic() {
    use phantom::{Convention, Kind};
    let tmp = tempfile::tempdir().unwrap();
    for (k, o) in [
        with(opts(2, 95), Convention::OneHand, Kind::Hand),
        PhantomOptions {
            digitised: true,
            ..with(opts(1, 95), Convention::OneHand, Kind::Chest)
        },
    ]
    .into_iter()
    .enumerate()
    {
        let (a, b) = (
            tmp.path().join(format!("{k}a")),
            tmp.path().join(format!("{k}b")),
        );
        let ann = phantom::generate(&o, &a).unwrap();
        phantom::generate(&o, &b).unwrap();
        for (x, y) in files(&a).iter().zip(&files(&b)) {
            assert!(x.1 == y.1, "{} differs between two runs", x.0);
        }
        assert_eq!(phantom::annotate(&o).unwrap(), ann);
    }
}

fn condition(name: &str) -> phantom::Condition {
    use phantom::Condition::*;
    match name {
        "normal" => Normal,
        "narrowing" => Narrowing,
        "erosion" => Erosion,
        "ankylosis" => Ankylosis,
        "subluxation" => Subluxation,
        "dislocation" => Dislocation,
        "implant" => Implant,
        _ => panic!("unknown condition {name}"),
    }
}

/// Renders images for a look (`PHANTOM_PREVIEW="seed:index,..."`), into
/// target/phantom-preview/.
#[test]
#[ignore]
fn preview() {
    let dir = repo().join("target/phantom-preview");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = std::env::var("PHANTOM_PREVIEW").unwrap_or_else(|_| "1:0".into());
    for item in spec.split(',') {
        let (seed, index) = item.split_once(':').unwrap();
        let opts = PhantomOptions {
            seed: seed.parse().unwrap(),
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let force: Vec<(rajoints::pipeline::naming::JointId, phantom::Condition)> =
            std::env::var("PHANTOM_FORCE")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let (j, c) = s.split_once('=').unwrap();
                    (j.parse().unwrap(), condition(c))
                })
                .collect();
        let p = phantom::render_with(&opts, index.parse().unwrap(), &force).unwrap();
        eprintln!(
            "render {item}: {:?}, spacing {:.3}",
            t.elapsed(),
            p.pixel_spacing_mm
        );
        let img = p.radiograph();
        rajoints::render::png::write_gray(&dir.join(format!("s{seed}-{index}.png")), &img, false)
            .unwrap();
        if let Ok(crops) = std::env::var("PHANTOM_CROP") {
            for (k, c) in crops.split(';').enumerate() {
                let v: Vec<usize> = c.split(',').map(|x| x.parse().unwrap()).collect();
                let (x, y, w, h) = (v[0], v[1], v[2], v[3]);
                let z = v.get(4).copied().unwrap_or(1);
                let mut px = Vec::new();
                for r in 0..h * z {
                    for c in 0..w * z {
                        px.push(img.at(
                            (x + c / z).min(img.width as usize - 1),
                            (y + r / z).min(img.height as usize - 1),
                        ));
                    }
                }
                let crop = rajoints::image::Radiograph {
                    width: (w * z) as u32,
                    height: (h * z) as u32,
                    pixels: px,
                    ..img.clone()
                };
                rajoints::render::png::write_gray(
                    &dir.join(format!("s{seed}-{index}-crop{k}.png")),
                    &crop,
                    false,
                )
                .unwrap();
            }
        }
        if let Ok(names) = std::env::var("PHANTOM_JOINTS") {
            for name in names.split(',') {
                let j = p
                    .annotation
                    .joints
                    .iter()
                    .find(|j| j.joint.to_string() == name)
                    .unwrap();
                let b = j.bbox;
                let (cx, cy) = b.centre();
                let half = b.width() * 0.8;
                let (x0, y0) = ((cx - half).max(0.0) as usize, (cy - half).max(0.0) as usize);
                let n = (2.0 * half) as usize;
                let mut px = Vec::new();
                for r in 0..n * 2 {
                    for c in 0..n * 2 {
                        px.push(img.at(
                            (x0 + c / 2).min(img.width as usize - 1),
                            (y0 + r / 2).min(img.height as usize - 1),
                        ));
                    }
                }
                let crop = rajoints::image::Radiograph {
                    width: (2 * n) as u32,
                    height: (2 * n) as u32,
                    pixels: px,
                    ..img.clone()
                };
                rajoints::render::png::write_gray(
                    &dir.join(format!("s{seed}-{index}-{name}.png")),
                    &crop,
                    false,
                )
                .unwrap();
            }
        }
        for j in &p.annotation.joints {
            eprintln!(
                "{} {:?} ank {} sub {:?}",
                j.joint, j.bbox, j.ankylosis, j.subluxation
            );
        }
    }
}

/// Writes a small dataset for a look (`PHANTOM_SAMPLE=count:seed`) into target/phantom-sample.
#[test]
#[ignore]
fn sample() {
    let dir = repo().join("target/phantom-sample");
    let spec = std::env::var("PHANTOM_SAMPLE").unwrap_or_else(|_| "2:1".into());
    let (count, seed) = spec.split_once(':').unwrap();
    let opts = PhantomOptions {
        count: count.parse().unwrap(),
        seed: seed.parse().unwrap(),
        ..Default::default()
    };
    let t = std::time::Instant::now();
    phantom::generate(&opts, &dir).unwrap();
    eprintln!("generated {} images in {:?}", opts.count, t.elapsed());
}

/// An RGB canvas for the documentation's pictures.
struct Sheet {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Sheet {
    fn new(w: usize, h: usize) -> Sheet {
        Sheet {
            w,
            h,
            rgb: vec![255; w * h * 3],
        }
    }

    /// Pastes `img` (display values) scaled by `1 / down` (box average) at (x, y).
    #[allow(clippy::too_many_arguments)]
    fn paste(
        &mut self,
        img: &Radiograph,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        down: usize,
        at: (usize, usize),
    ) {
        for r in 0..h / down {
            for c in 0..w / down {
                let mut sum = 0.0;
                for dy in 0..down {
                    for dx in 0..down {
                        let (x, y) = (x0 + c * down + dx, y0 + r * down + dy);
                        sum += if x < img.width as usize && y < img.height as usize {
                            img.at(x, y)
                        } else {
                            0.0
                        };
                    }
                }
                let g = (sum / (down * down) as f32 * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8;
                self.put(at.0 + c, at.1 + r, [g, g, g]);
            }
        }
    }

    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: [u8; 3]) {
        for x in x0..=x1 {
            self.put(x, y0, c);
            self.put(x, y1, c);
        }
        for y in y0..=y1 {
            self.put(x0, y, c);
            self.put(x1, y, c);
        }
    }

    fn text(&mut self, x: usize, y: usize, s: &str, scale: usize, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            for (r, bits) in rajoints::render::font::glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.put(x + (k * 6 + col) * scale + dx, y + r * scale + dy, c);
                            }
                        }
                    }
                }
            }
        }
    }

    fn save(&self, path: &Path) {
        rajoints::render::png::write_rgb(path, self.w as u32, self.h as u32, &self.rgb).unwrap();
    }
}

/// Writes the pictures of docs/phantom.md into docs/img/ (run after changing the model:
/// `cargo test --release --test phantom -- --ignored doc_pictures`).
#[test]
#[ignore]
fn doc_pictures() {
    use rajoints::analysis::{FindingLabel, Joint};
    let dir = repo().join("docs/img");
    std::fs::create_dir_all(&dir).unwrap();
    let r = |s: &str| s.parse::<JointId>().unwrap();

    // 1. A whole film with its ground truth, at half size.
    let forced = [
        (r("R-PIP4"), Condition::Ankylosis),
        (r("L-MCP3"), Condition::Subluxation),
        (r("L-PIP2"), Condition::Erosion),
    ];
    let p = phantom::render_with(&opts(2, 2), 0, &forced).unwrap();
    let img = p.radiograph();
    let joints: Vec<Joint> = p
        .annotation
        .joints
        .iter()
        .map(|j| Joint {
            id: Some(j.joint),
            bbox: j.bbox,
            score: 1.0,
            ankylosis: FindingLabel {
                present: j.ankylosis,
                probability: j.ankylosis as u8 as f32,
            },
            subluxation: j.subluxation.map(|s| FindingLabel {
                present: s,
                probability: s as u8 as f32,
            }),
        })
        .collect();
    let full = rajoints::render::overlay::render(&img, &joints).unwrap();
    let (w, h) = (img.width as usize / 2, img.height as usize / 2);
    let mut half = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for k in 0..3 {
                let at = |dx: usize, dy: usize| {
                    full[((2 * y + dy) * img.width as usize + 2 * x + dx) * 3 + k] as u32
                };
                half[(y * w + x) * 3 + k] =
                    ((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8;
            }
        }
    }
    rajoints::render::png::write_rgb(&dir.join("phantom-overview.png"), w as u32, h as u32, &half)
        .unwrap();

    // 2. What each condition looks like: the same joint of the same patient, forced.
    let cases = [
        ("NORMAL", "R-PIP3", Condition::Normal),
        ("NARROWING", "R-PIP3", Condition::Narrowing),
        ("EROSION", "R-PIP3", Condition::Erosion),
        ("ANKYLOSIS", "R-PIP3", Condition::Ankylosis),
        ("SUBLUXATION", "R-PIP3", Condition::Subluxation),
        ("DISLOCATION", "R-PIP3", Condition::Dislocation),
        ("SILICONE MCP", "R-MCP3", Condition::Implant),
        ("MCP NORMAL", "R-MCP3", Condition::Normal),
    ];
    let tile = 240;
    let mut sheet = Sheet::new(cases.len() / 2 * (tile + 10) + 10, 2 * (tile + 40) + 10);
    let quiet = PhantomOptions {
        ankylosis_rate: 0.0,
        subluxation_rate: 0.0,
        ..opts(2, 3)
    };
    for (k, (name, joint, cond)) in cases.iter().enumerate() {
        let p = phantom::render_with(&quiet, 0, &[(r(joint), *cond)]).unwrap();
        let img = p.radiograph();
        let a = p
            .annotation
            .joints
            .iter()
            .find(|j| j.joint == r(joint))
            .unwrap();
        let (cx, cy) = a.bbox.centre();
        let half_side = a.bbox.width().max(100.0) * 0.85;
        let down = ((2.0 * half_side) / tile as f32).ceil().max(1.0) as usize;
        let span = tile * down;
        let (x0, y0) = (
            (cx - span as f32 / 2.0).max(0.0) as usize,
            (cy - span as f32 / 2.0).max(0.0) as usize,
        );
        let at = (10 + (k % 4) * (tile + 10), 10 + (k / 4) * (tile + 40));
        sheet.paste(&img, x0, y0, span, span, down, at);
        let b = a.bbox;
        let map = |v: f32, o: usize, base: usize| {
            base + ((v - o as f32) / down as f32).clamp(0.0, tile as f32 - 1.0) as usize
        };
        let colour = if a.ankylosis || a.subluxation == Some(true) {
            [235, 40, 40]
        } else {
            [40, 200, 60]
        };
        sheet.rect(
            map(b.x0, x0, at.0),
            map(b.y0, y0, at.1),
            map(b.x1, x0, at.0),
            map(b.y1, y0, at.1),
            colour,
        );
        sheet.text(at.0, at.1 + tile + 8, name, 2, [0, 0, 0]);
        sheet.text(at.0, at.1 + tile + 24, joint, 1, [80, 80, 80]);
    }
    sheet.save(&dir.join("phantom-conditions.png"));

    // 3. Variety: sites, exposure, posture, disease, hardware; one sixth of full size.
    let picks = [(4, 0), (5, 1), (6, 0), (7, 3), (8, 2), (9, 1)];
    let (tw, th) = (2010 / 6, 1670 / 6);
    let mut sheet = Sheet::new(3 * (tw + 6) + 6, 2 * (th + 6) + 6);
    for (k, &(seed, index)) in picks.iter().enumerate() {
        let p = phantom::render_one(&opts(4, seed), index).unwrap();
        sheet.paste(
            &p.radiograph(),
            0,
            0,
            2010,
            1670,
            6,
            (6 + (k % 3) * (tw + 6), 6 + (k / 3) * (th + 6)),
        );
    }
    sheet.save(&dir.join("phantom-variety.png"));
}

/// A contact sheet of films, each shrunk to at most `tile_h` rows, with their ground-truth
/// boxes (right-hand joints red, left-hand blue) and a caption.
fn contact_sheet(films: &[(String, phantom::Phantom)], tile_h: usize, per_row: usize) -> Sheet {
    let downs: Vec<usize> = films
        .iter()
        .map(|(_, p)| {
            (p.height as usize)
                .div_ceil(tile_h)
                .max((p.width as usize).div_ceil(tile_h * 3 / 2))
        })
        .collect();
    let sizes: Vec<(usize, usize)> = films
        .iter()
        .zip(&downs)
        .map(|((_, p), d)| (p.width as usize / d, p.height as usize / d))
        .collect();
    let rows: Vec<&[(usize, usize)]> = sizes.chunks(per_row).collect();
    let width = rows
        .iter()
        .map(|r| r.iter().map(|s| s.0 + 8).sum::<usize>() + 8)
        .max()
        .unwrap_or(8);
    let height = rows
        .iter()
        .map(|r| r.iter().map(|s| s.1).max().unwrap_or(0) + 24)
        .sum::<usize>()
        + 8;
    let mut sheet = Sheet::new(width, height);
    let (mut x, mut y, mut row_h) = (8, 8, 0);
    for (k, ((name, p), d)) in films.iter().zip(&downs).enumerate() {
        if k > 0 && k % per_row == 0 {
            x = 8;
            y += row_h + 24;
            row_h = 0;
        }
        let img = p.radiograph();
        let (w, h) = sizes[k];
        sheet.paste(&img, 0, 0, p.width as usize, p.height as usize, *d, (x, y));
        for j in &p.annotation.joints {
            let b = j.bbox;
            let c = if j.joint.side == rajoints::pipeline::naming::Side::Right {
                [235, 40, 40]
            } else {
                [40, 90, 235]
            };
            let m = |v: f32| (v / *d as f32) as usize;
            sheet.rect(x + m(b.x0), y + m(b.y0), x + m(b.x1), y + m(b.y1), c);
        }
        sheet.text(x, y + h + 6, name, 1, [0, 0, 0]);
        x += w + 8;
        row_h = row_h.max(h);
    }
    sheet
}

/// The conventions and the refused kinds as contact sheets, docs/img/phantom-conventions.png
/// and docs/img/phantom-refused.png (`cargo test --release --test phantom -- --ignored
/// convention_pictures`).
#[test]
#[ignore]
fn convention_pictures() {
    let dir = repo().join("docs/img");
    std::fs::create_dir_all(&dir).unwrap();
    let with = |convention, kind, digitised, seed, index| {
        let o = PhantomOptions {
            convention,
            kind,
            digitised,
            ..opts(4, seed)
        };
        phantom::render_one(&o, index).unwrap()
    };
    use phantom::{Convention as C, Kind as K};
    let mut films = vec![
        (
            "TWO-HANDS-READING".to_string(),
            with(C::TwoHandsReading, K::Hand, false, 2, 0),
        ),
        (
            "TWO-HANDS-ACQUIRED".to_string(),
            with(C::TwoHandsAcquired, K::Hand, false, 2, 0),
        ),
    ];
    for index in 0..4 {
        let p = with(C::OneHand, K::Hand, false, 2, index);
        let side = p.annotation.laterality.clone().unwrap_or_default();
        films.push((format!("ONE-HAND {side}"), p));
    }
    let p = with(C::OneHand, K::Hand, true, 2, 1);
    films.push((format!("DIGITISED {:.2} MM", p.pixel_spacing_mm), p));
    contact_sheet(&films, 260, 4).save(&dir.join("phantom-conventions.png"));
    let films: Vec<(String, phantom::Phantom)> = [
        K::Lateral,
        K::Oblique,
        K::Foot,
        K::Chest,
        K::Empty,
        K::Rotated,
    ]
    .into_iter()
    .map(|k| (k.as_str().to_uppercase(), with(C::OneHand, k, false, 5, 0)))
    .collect();
    contact_sheet(&films, 260, 6).save(&dir.join("phantom-refused.png"));
    if let Ok(spec) = std::env::var("PHANTOM_FULL") {
        // Full-resolution PNGs to check the markers read right: "convention:kind:seed:index".
        for item in spec.split(',') {
            let v: Vec<&str> = item.split(':').collect();
            let p = with(
                v[0].parse().unwrap(),
                v[1].parse().unwrap(),
                false,
                v[2].parse().unwrap(),
                v[3].parse().unwrap(),
            );
            rajoints::render::png::write_gray(
                &repo().join(format!("target/full-{}.png", item.replace(':', "-"))),
                &p.radiograph(),
                false,
            )
            .unwrap();
        }
    }
}
