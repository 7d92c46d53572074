//! Every coded concept rajoints writes, in one table.
//!
//! The SR builders take their concept names and values from here and never spell a code
//! triple inline. Each entry carries the evidence tag of /work/shared/reference/dicom-sr.md:
//! **[hd]** emitted by highdicom 0.28.2, **[pd]** in pydicom's concept dictionary (generated
//! from PS3.16), **[ext]** a named public source, and **[local]** for the private scheme
//! [`LOCAL_SCHEME`].
//!
//! The joint itself is coded as options (b) and (c) of §3 of that reference: the verified
//! generic (125682004, SCT, "Finger Joint") as the Finding, and as Finding Site a local code
//! in `99RAJ` that names the exact lateralized joint (`R-PIP4`), with Laterality and, where a
//! verified one exists, a Topographical modifier. No pre-coordinated SNOMED code per finger
//! joint has been verified. The local code is the Finding Site because OHIF shows the Finding
//! Site's meaning over the box and nothing else that names the joint.

use std::sync::LazyLock;

use crate::labels;
use crate::pipeline::naming::{JointId, Level, Side};

/// A coded concept: Code Value (0008,0100), Coding Scheme Designator (0008,0102), Code
/// Meaning (0008,0104) (PS3.3 Table 8.8-1). All values here are at most 16 characters, so
/// Code Value (SH) is used, never Long Code Value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    pub value: &'static str,
    pub scheme: &'static str,
    pub meaning: &'static str,
}

impl Code {
    pub const fn new(value: &'static str, scheme: &'static str, meaning: &'static str) -> Code {
        Code {
            value,
            scheme,
            meaning,
        }
    }
}

/// Coding Scheme Designators (PS3.16 Table 8-1, and the private one).
pub mod scheme {
    /// DICOM Controlled Terminology (PS3.16 Annex D).
    pub const DCM: &str = "DCM";
    /// SNOMED CT.
    pub const SCT: &str = "SCT";
    /// Unified Code for Units of Measure.
    pub const UCUM: &str = "UCUM";
    /// IETF BCP 47 language tags.
    pub const RFC5646: &str = "RFC5646";
    /// Unified Medical Language System (the report-level Qualitative Evaluations container).
    pub const UMLS: &str = "UMLS";
    /// rajoints' private scheme; `99` prefix marks a private designator (PS3.16 §8.2).
    pub const LOCAL: &str = "99RAJ";
}

/// Identification of a private coding scheme, written as one item of Coding Scheme
/// Identification Sequence (0008,0110) (PS3.3 C.12.1.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodingScheme {
    /// Coding Scheme Designator (0008,0102).
    pub designator: &'static str,
    /// Coding Scheme Name (0008,0115).
    pub name: &'static str,
    /// Coding Scheme Responsible Organization (0008,0116).
    pub responsible_organization: &'static str,
}

/// The private scheme of the joint codes and probability concept names below.
pub const LOCAL_SCHEME: CodingScheme = CodingScheme {
    designator: scheme::LOCAL,
    name: "rajoints local codes",
    responsible_organization: "rajoints project",
};

use scheme::{DCM, LOCAL, RFC5646, SCT, UCUM, UMLS};

// --- Document root and context (TID 1500, 1002, 1004) ------------------------------------

/// Root concept of TID 1500; CID 7021 [hd][pd].
pub const IMAGING_MEASUREMENT_REPORT: Code = Code::new("126000", DCM, "Imaging Measurement Report");
/// TID 1204 row 1, used by TID 1500 row 2 [hd].
pub const LANGUAGE_OF_CONTENT: Code =
    Code::new("121049", DCM, "Language of Content Item and Descendants");
/// Value of [`LANGUAGE_OF_CONTENT`]: all our text is English [hd].
pub const ENGLISH_US: Code = Code::new("en-US", RFC5646, "English (United States)");
/// TID 1002 row 1 [hd].
pub const OBSERVER_TYPE: Code = Code::new("121005", DCM, "Observer Type");
/// Value of [`OBSERVER_TYPE`]; CID 270 [pd].
pub const DEVICE: Code = Code::new("121007", DCM, "Device");
/// Value of [`OBSERVER_TYPE`] for the reviewer of a verified report; CID 270 [pd].
pub const PERSON: Code = Code::new("121006", DCM, "Person");
/// TID 1003 row 1: the reviewer's name, PNAME [pd].
pub const PERSON_OBSERVER_NAME: Code = Code::new("121008", DCM, "Person Observer Name");
/// TID 1004 rows [hd].
pub const DEVICE_OBSERVER_UID: Code = Code::new("121012", DCM, "Device Observer UID");
pub const DEVICE_OBSERVER_NAME: Code = Code::new("121013", DCM, "Device Observer Name");
pub const DEVICE_OBSERVER_MANUFACTURER: Code =
    Code::new("121014", DCM, "Device Observer Manufacturer");
pub const DEVICE_OBSERVER_MODEL_NAME: Code = Code::new("121015", DCM, "Device Observer Model Name");
pub const DEVICE_OBSERVER_SERIAL_NUMBER: Code =
    Code::new("121016", DCM, "Device Observer Serial Number");
/// TID 1500 row 4 [hd].
pub const PROCEDURE_REPORTED: Code = Code::new("121058", DCM, "Procedure reported");
/// Value of [`PROCEDURE_REPORTED`]; CID 100 [pd].
pub const IMAGING_PROCEDURE: Code = Code::new("363679005", SCT, "Imaging procedure");

// --- Image library (TID 1600, 1601, 1602, 1603) -------------------------------------------

pub const IMAGE_LIBRARY: Code = Code::new("111028", DCM, "Image Library");
pub const IMAGE_LIBRARY_GROUP: Code = Code::new("126200", DCM, "Image Library Group");
/// Concept name of the IMAGE items, in the library and under each SCOORD [hd].
pub const SOURCE: Code = Code::new("260753009", SCT, "Source");
/// TID 1602 descriptors [hd][pd].
pub const MODALITY: Code = Code::new("121139", DCM, "Modality");
pub const PIXEL_DATA_ROWS: Code = Code::new("110910", DCM, "Pixel Data Rows");
pub const PIXEL_DATA_COLUMNS: Code = Code::new("110911", DCM, "Pixel Data Columns");
/// TID 1603 descriptors [hd][pd].
pub const PATIENT_ORIENTATION_ROW: Code = Code::new("111044", DCM, "Patient Orientation Row");
pub const PATIENT_ORIENTATION_COLUMN: Code = Code::new("111043", DCM, "Patient Orientation Column");
pub const HORIZONTAL_PIXEL_SPACING: Code = Code::new("111026", DCM, "Horizontal Pixel Spacing");
pub const VERTICAL_PIXEL_SPACING: Code = Code::new("111066", DCM, "Vertical Pixel Spacing");

/// Acquisition modalities of hand radiographs; CID 29 [pd].
pub const COMPUTED_RADIOGRAPHY: Code = Code::new("CR", DCM, "Computed Radiography");
pub const DIGITAL_RADIOGRAPHY: Code = Code::new("DX", DCM, "Digital Radiography");
pub const RADIOGRAPHIC_IMAGING: Code = Code::new("RG", DCM, "Radiographic imaging");

/// The CID 29 code for a Modality (0008,0060) value, for the radiographic modalities a
/// hand film comes in; `None` for others (the descriptor is then left out).
pub fn acquisition_modality(modality: &str) -> Option<&'static Code> {
    match modality {
        "CR" => Some(&COMPUTED_RADIOGRAPHY),
        "DX" => Some(&DIGITAL_RADIOGRAPHY),
        "RG" => Some(&RADIOGRAPHIC_IMAGING),
        _ => None,
    }
}

// --- Measurements (TID 1500 rows 6-, TID 1410, TID 4019) -----------------------------------

pub const IMAGING_MEASUREMENTS: Code = Code::new("126010", DCM, "Imaging Measurements");
/// TID 1500's report-level container for evaluations not tied to a measurement group
/// (dicom-sr.md §2, as dcmjs writes it): whether the film was assessable, and why not.
pub const QUALITATIVE_EVALUATIONS: Code = Code::new("C0034375", UMLS, "Qualitative Evaluations");
/// Whether the film could be scored (issue 14's quality gate); value Yes or No.
pub const ASSESSABLE: Code = Code::new("ASSESSABLE", LOCAL, "Assessable for joint scoring");
/// Why the film is not assessable, in words.
pub const NOT_ASSESSABLE_REASON: Code =
    Code::new("NOTASSESSREASON", LOCAL, "Reason not assessable");
/// A disagreement between the film's attributes and the image (which hand, how shown).
pub const LATERALITY_CONFLICT: Code = Code::new("LATCONFLICT", LOCAL, "Laterality conflict");
/// CID 230 "Yes-No".
pub const YES: Code = Code::new("373066001", SCT, "Yes");
pub const NO: Code = Code::new("373067005", SCT, "No");
pub const MEASUREMENT_GROUP: Code = Code::new("125007", DCM, "Measurement Group");
/// TID 4108 rows, in TID 1410 [hd].
pub const TRACKING_IDENTIFIER: Code = Code::new("112039", DCM, "Tracking Identifier");
pub const TRACKING_UNIQUE_IDENTIFIER: Code = Code::new("112040", DCM, "Tracking Unique Identifier");
/// TID 1410 finding category and its value [hd].
pub const FINDING_CATEGORY: Code = Code::new("276214006", SCT, "Finding category");
pub const ANATOMICAL_STRUCTURE: Code = Code::new("91723000", SCT, "Anatomical Structure");
/// TID 1410 finding type; its value is [`FINGER_JOINT`] [hd].
pub const FINDING: Code = Code::new("121071", DCM, "Finding");
/// TID 1410 finding site and its modifiers [hd][pd].
pub const FINDING_SITE: Code = Code::new("363698007", SCT, "Finding Site");
pub const LATERALITY: Code = Code::new("272741003", SCT, "Laterality");
pub const TOPOGRAPHICAL_MODIFIER: Code = Code::new("106233006", SCT, "Topographical modifier");
/// CID 7304 [pd]; PS3.16 spells the meaning "Finger Joint" (FSN "Finger joint structure").
pub const FINGER_JOINT: Code = Code::new("125682004", SCT, "Finger Joint");
/// Laterality values; CID 244 [pd].
pub const RIGHT: Code = Code::new("24028007", SCT, "Right");
pub const LEFT: Code = Code::new("7771000", SCT, "Left");
/// Topographical modifier; CID 2 [pd].
pub const PROXIMAL: Code = Code::new("40415009", SCT, "Proximal");

/// TID 4019 rows [hd].
pub const ALGORITHM_NAME: Code = Code::new("111001", DCM, "Algorithm Name");
pub const ALGORITHM_VERSION: Code = Code::new("111003", DCM, "Algorithm Version");
pub const ALGORITHM_PARAMETERS: Code = Code::new("111002", DCM, "Algorithm Parameters");

/// NUM concept names for the two softmax probabilities. No standard code exists for
/// "probability of ankylosis" (reference §2 "Confidence") [local].
pub const ANKYLOSIS_PROBABILITY: Code = Code::new("ANKY-P", LOCAL, "Ankylosis probability");
pub const SUBLUXATION_PROBABILITY: Code =
    Code::new("SUBL-P", LOCAL, "Subluxation/dislocation probability");

/// Units; UCUM [pd][hd].
pub const PERCENT: Code = Code::new("%", UCUM, "Percent");
pub const PIXELS: Code = Code::new("{pixels}", UCUM, "Pixels");
pub const MILLIMETER: Code = Code::new("mm", UCUM, "mm");

/// Qualitative evaluation concept names (the question). [ext: Belgian eHealth FHIR
/// ValueSet be-vs-diagnostic-imaging-indication]; not in any DICOM CID: check that they are
/// active in the SNOMED CT release you license.
pub const ANKYLOSIS_OF_JOINT: Code = Code::new("111227009", SCT, "Ankylosis of joint");
/// [ext: same ValueSet]. The model's label is "subluxation or dislocation"; subluxation is
/// the milder and broader of the two SNOMED disorders, so it names the evaluation.
pub const SUBLUXATION_OF_JOINT: Code = Code::new("263031003", SCT, "Subluxation of joint");
/// Values of the qualitative evaluations; CID 240 [pd] + [ext: FHIR port of CID 240].
/// Not SCT 2667000, which is a real concept but not the one CID 240 lists.
pub const PRESENT: Code = Code::new("52101004", SCT, "Present");
pub const ABSENT: Code = Code::new("272519000", SCT, "Absent");

/// A joint's label in its measurement group (OHIF's measurement label on hydration) and
/// each hand's summary line; CID 12101 [pd].
pub const COMMENT: Code = Code::new("121106", DCM, "Comment");

/// One hand in the report-level Qualitative Evaluations: a container with the hand's
/// Laterality as concept modifier [local].
pub const HAND_SUMMARY: Code = Code::new("HANDSUMMARY", LOCAL, "Hand summary");
/// Counts of a hand's summary, NUM in [`JOINTS`] [local]. No standard concept counts
/// joints with a finding.
pub const JOINTS_ASSESSED: Code = Code::new("JOINTS-N", LOCAL, "Number of joints assessed");
pub const JOINTS_WITH_ANKYLOSIS: Code =
    Code::new("ANKY-N", LOCAL, "Number of joints with ankylosis");
pub const JOINTS_WITH_SUBLUXATION: Code = Code::new(
    "SUBL-N",
    LOCAL,
    "Number of joints with subluxation/dislocation",
);
/// UCUM annotation unit: a count of joints (`{...}` is a dimensionless annotation).
pub const JOINTS: Code = Code::new("{joints}", UCUM, "joints");

/// Purpose of Reference of each detector in Contributing Equipment Sequence (0018,A001);
/// CID 7005 [pd]. IHE AIR's own code is quoted only as (Newcode1, 99IHE, "Processing
/// Algorithm") in the reference, a placeholder of a trial-implementation supplement that
/// could not be verified; the standard CID 7005 code stands in.
pub const PROCESSING_EQUIPMENT: Code = Code::new("109102", DCM, "Processing Equipment");

/// TID 1410 geometric purpose and its value; CID 219 [pd][hd].
pub const GEOMETRIC_PURPOSE_OF_REGION: Code =
    Code::new("130400", DCM, "Geometric purpose of region");
pub const BOUNDED_BY: Code = Code::new("75958009", SCT, "Bounded by");
/// Concept name of the SCOORD in TID 1410 [hd].
pub const IMAGE_REGION: Code = Code::new("111030", DCM, "Image Region");

// --- Change since the prior (issue 19) [local] ---------------------------------------------

/// Report-level container of the comparison with the patient's prior result [local].
pub const CHANGE_SINCE_PRIOR: Code = Code::new("CHANGE", LOCAL, "Change since prior");
/// The prior film's Study Date, DATE [local].
pub const PRIOR_STUDY_DATE: Code = Code::new("PRIOR-DATE", LOCAL, "Prior study date");
/// Days from the prior's study to this one, NUM in [`DAYS`] [local].
pub const INTERVAL_SINCE_PRIOR: Code = Code::new("INTERVAL", LOCAL, "Interval since prior");
/// Why the prior was not compared, TEXT [local].
pub const NOT_COMPARED_REASON: Code =
    Code::new("NOCOMPARE", LOCAL, "Reason not compared with prior");
/// Per-joint change evaluations in a hand summary: CODE, value the joint's local code
/// [local]. No standard concept names a change of a joint's finding between two films.
pub const NEW_ANKYLOSIS: Code = Code::new("ANKY-NEW", LOCAL, "New ankylosis since prior");
pub const NEW_SUBLUXATION: Code =
    Code::new("SUBL-NEW", LOCAL, "New subluxation/dislocation since prior");
pub const ANKYLOSIS_UNCHANGED: Code =
    Code::new("ANKY-SAME", LOCAL, "Ankylosis unchanged since prior");
pub const SUBLUXATION_UNCHANGED: Code = Code::new(
    "SUBL-SAME",
    LOCAL,
    "Subluxation/dislocation unchanged since prior",
);
/// Present on the prior, absent now: flagged for review (these findings do not regress).
pub const ANKYLOSIS_ABSENT_NOW: Code =
    Code::new("ANKY-GONE", LOCAL, "Ankylosis absent now, present on prior");
pub const SUBLUXATION_ABSENT_NOW: Code = Code::new(
    "SUBL-GONE",
    LOCAL,
    "Subluxation/dislocation absent now, present on prior",
);
pub const NOT_SEEN_NOW: Code = Code::new("NOTSEEN-NOW", LOCAL, "Joint not seen now, seen on prior");
pub const NOT_SEEN_ON_PRIOR: Code = Code::new("NOTSEEN-PRIOR", LOCAL, "Joint not seen on prior");
/// The minimum Sharp/van der Heijde JSN the findings imply, NUM in [`SCORE`]: a partial
/// score (ankylosis 4, subluxation/dislocation 3, all else 0) [local].
pub const JSN_PARTIAL_MIN: Code =
    Code::new("JSN-MIN", LOCAL, "Minimum JSN implied (partial score)");
pub const JSN_PARTIAL_MIN_PRIOR: Code = Code::new(
    "JSN-MIN-PRIOR",
    LOCAL,
    "Minimum JSN implied on prior (partial score)",
);
/// UCUM: day [pd].
pub const DAYS: Code = Code::new("d", UCUM, "day");
/// UCUM annotation unit: points of a score.
pub const SCORE: Code = Code::new("{score}", UCUM, "score");

/// The concept name of a per-joint change line in the SR; `None` for a finding absent at
/// both time points (the counts say those).
pub fn change(
    finding: Option<crate::change::ChangeFinding>,
    status: crate::change::Status,
) -> Option<&'static Code> {
    use crate::change::{ChangeFinding as F, Status as S};
    match (status, finding) {
        (S::New, Some(F::Ankylosis)) => Some(&NEW_ANKYLOSIS),
        (S::New, Some(F::Subluxation)) => Some(&NEW_SUBLUXATION),
        (S::UnchangedPresent, Some(F::Ankylosis)) => Some(&ANKYLOSIS_UNCHANGED),
        (S::UnchangedPresent, Some(F::Subluxation)) => Some(&SUBLUXATION_UNCHANGED),
        (S::AbsentNowPresentBefore, Some(F::Ankylosis)) => Some(&ANKYLOSIS_ABSENT_NOW),
        (S::AbsentNowPresentBefore, Some(F::Subluxation)) => Some(&SUBLUXATION_ABSENT_NOW),
        (S::NotSeenNow, _) => Some(&NOT_SEEN_NOW),
        (S::NotSeenBefore, _) => Some(&NOT_SEEN_ON_PRIOR),
        _ => None,
    }
}

/// [`PRESENT`] or [`ABSENT`].
pub fn presence(present: bool) -> &'static Code {
    if present { &PRESENT } else { &ABSENT }
}

/// Laterality value for a patient side.
pub fn laterality(side: Side) -> &'static Code {
    match side {
        Side::Right => &RIGHT,
        Side::Left => &LEFT,
    }
}

/// Topographical modifier of [`FINGER_JOINT`] for a joint, where one is verified:
/// [`PROXIMAL`] for the PIP joints of fingers 2-5. None for MCP joints (no verified code
/// says "metacarpophalangeal" as a modifier) nor for the thumb IP joint, which lies between
/// the thumb's proximal and distal phalanges and is not a *proximal* interphalangeal joint.
pub fn topographical_modifier(finger: u8, level: Level) -> Option<&'static Code> {
    match (level, finger) {
        (Level::Pip, 2..=5) => Some(&PROXIMAL),
        _ => None,
    }
}

/// The texts of the joint codes, made once from the joint ids: (id, value, meaning).
static JOINT_TEXTS: LazyLock<Vec<(JointId, String, String)>> = LazyLock::new(|| {
    JointId::all()
        .filter_map(|id| Some((id, id.to_string(), labels::joint_code_meaning(id)?)))
        .collect()
});

/// The joint codes, borrowing from [`JOINT_TEXTS`] so that they are `'static` like every
/// other code here.
static JOINT_CODES: LazyLock<Vec<(JointId, Code)>> = LazyLock::new(|| {
    JOINT_TEXTS
        .iter()
        .map(|(id, value, meaning)| {
            let code = Code {
                value,
                scheme: LOCAL,
                meaning,
            };
            (*id, code)
        })
        .collect()
});

/// The local code of a lateralized joint [local]: value its name (`R-PIP4`), meaning
/// [`labels::joint_code_meaning`] (`R-PIP4 (right ring finger PIP joint)`). `None` for a
/// finger outside 1..=5.
pub fn joint(id: JointId) -> Option<&'static Code> {
    JOINT_CODES.iter().find(|(j, _)| *j == id).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Every code constant of this module, for the table-wide checks.
    fn all() -> Vec<Code> {
        let mut v = vec![
            IMAGING_MEASUREMENT_REPORT,
            LANGUAGE_OF_CONTENT,
            ENGLISH_US,
            OBSERVER_TYPE,
            DEVICE,
            PERSON,
            PERSON_OBSERVER_NAME,
            DEVICE_OBSERVER_UID,
            DEVICE_OBSERVER_NAME,
            DEVICE_OBSERVER_MANUFACTURER,
            DEVICE_OBSERVER_MODEL_NAME,
            DEVICE_OBSERVER_SERIAL_NUMBER,
            PROCEDURE_REPORTED,
            IMAGING_PROCEDURE,
            IMAGE_LIBRARY,
            IMAGE_LIBRARY_GROUP,
            SOURCE,
            MODALITY,
            PIXEL_DATA_ROWS,
            PIXEL_DATA_COLUMNS,
            PATIENT_ORIENTATION_ROW,
            PATIENT_ORIENTATION_COLUMN,
            HORIZONTAL_PIXEL_SPACING,
            VERTICAL_PIXEL_SPACING,
            COMPUTED_RADIOGRAPHY,
            DIGITAL_RADIOGRAPHY,
            RADIOGRAPHIC_IMAGING,
            IMAGING_MEASUREMENTS,
            QUALITATIVE_EVALUATIONS,
            ASSESSABLE,
            NOT_ASSESSABLE_REASON,
            LATERALITY_CONFLICT,
            YES,
            NO,
            MEASUREMENT_GROUP,
            TRACKING_IDENTIFIER,
            TRACKING_UNIQUE_IDENTIFIER,
            FINDING_CATEGORY,
            ANATOMICAL_STRUCTURE,
            FINDING,
            FINDING_SITE,
            LATERALITY,
            TOPOGRAPHICAL_MODIFIER,
            FINGER_JOINT,
            RIGHT,
            LEFT,
            PROXIMAL,
            ALGORITHM_NAME,
            ALGORITHM_VERSION,
            ALGORITHM_PARAMETERS,
            ANKYLOSIS_PROBABILITY,
            SUBLUXATION_PROBABILITY,
            PERCENT,
            PIXELS,
            MILLIMETER,
            ANKYLOSIS_OF_JOINT,
            SUBLUXATION_OF_JOINT,
            PRESENT,
            ABSENT,
            GEOMETRIC_PURPOSE_OF_REGION,
            BOUNDED_BY,
            IMAGE_REGION,
            COMMENT,
            HAND_SUMMARY,
            JOINTS_ASSESSED,
            JOINTS_WITH_ANKYLOSIS,
            JOINTS_WITH_SUBLUXATION,
            JOINTS,
            PROCESSING_EQUIPMENT,
            CHANGE_SINCE_PRIOR,
            PRIOR_STUDY_DATE,
            INTERVAL_SINCE_PRIOR,
            NOT_COMPARED_REASON,
            NEW_ANKYLOSIS,
            NEW_SUBLUXATION,
            ANKYLOSIS_UNCHANGED,
            SUBLUXATION_UNCHANGED,
            ANKYLOSIS_ABSENT_NOW,
            SUBLUXATION_ABSENT_NOW,
            NOT_SEEN_NOW,
            NOT_SEEN_ON_PRIOR,
            JSN_PARTIAL_MIN,
            JSN_PARTIAL_MIN_PRIOR,
            DAYS,
            SCORE,
        ];
        v.extend(JointId::all().filter_map(joint).copied());
        v
    }

    #[test]
    fn codes_fit_their_value_representations() {
        for c in all() {
            // Code Value SH <= 16, Coding Scheme Designator SH <= 16, Code Meaning LO <= 64;
            // none may contain a backslash (the value delimiter).
            assert!(!c.value.is_empty() && c.value.len() <= 16, "{c:?}");
            assert!(!c.scheme.is_empty() && c.scheme.len() <= 16, "{c:?}");
            assert!(!c.meaning.is_empty() && c.meaning.len() <= 64, "{c:?}");
            assert!(c.value.is_ascii() && c.meaning.is_ascii(), "{c:?}");
            assert!(
                ![c.value, c.scheme, c.meaning]
                    .iter()
                    .any(|s| s.contains('\\')),
                "{c:?}"
            );
        }
    }

    #[test]
    fn no_two_concepts_share_a_code() {
        let mut seen = HashSet::new();
        for c in all() {
            assert!(seen.insert((c.value, c.scheme)), "duplicate {c:?}");
        }
    }

    #[test]
    fn schemes_are_known_or_declared() {
        let known = [
            scheme::DCM,
            scheme::SCT,
            scheme::UCUM,
            scheme::RFC5646,
            scheme::UMLS,
        ];
        for c in all() {
            assert!(
                known.contains(&c.scheme) || c.scheme == LOCAL_SCHEME.designator,
                "{c:?}"
            );
        }
    }

    #[test]
    fn every_joint_has_its_own_local_code() {
        let codes: HashSet<_> = JointId::all().map(|j| joint(j).unwrap().value).collect();
        assert_eq!(codes.len(), 20);
        let id = |s: &str| s.parse::<JointId>().unwrap();
        let c = joint(id("R-PIP4")).unwrap();
        assert_eq!(
            (c.value, c.scheme, c.meaning),
            ("R-PIP4", LOCAL, "R-PIP4 (right ring finger PIP joint)")
        );
        assert_eq!(
            joint(id("L-IP1")).unwrap().meaning,
            "L-IP1 (left thumb IP joint)"
        );
        assert_eq!(
            joint(id("R-MCP2")).unwrap().meaning,
            "R-MCP2 (right index finger MCP joint)"
        );
        let bad = JointId {
            side: Side::Right,
            finger: 0,
            level: Level::Mcp,
        };
        assert_eq!(joint(bad), None);
    }

    #[test]
    fn every_joint_code_value_is_its_name() {
        for j in JointId::all() {
            assert_eq!(joint(j).unwrap().value, j.to_string());
        }
    }

    #[test]
    fn only_finger_pip_joints_get_a_proximal_modifier() {
        assert_eq!(topographical_modifier(2, Level::Pip), Some(&PROXIMAL));
        assert_eq!(topographical_modifier(5, Level::Pip), Some(&PROXIMAL));
        assert_eq!(topographical_modifier(1, Level::Pip), None);
        assert_eq!(topographical_modifier(3, Level::Mcp), None);
    }
}
