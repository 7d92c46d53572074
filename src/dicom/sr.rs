//! The analysis as a DICOM Comprehensive 3D SR (PS3.3 A.35.13; the SOP class IHE AIR uses),
//! content tree TID 1500 "Measurement Report" with one TID 1410 planar ROI group per joint
//! and a per-hand summary in the report-level Qualitative Evaluations.
//!
//! Layout follows /work/shared/reference/dicom-sr.md §1-4, which records what highdicom
//! 0.28.2 writes and what dciodvfy, dsrdump and OHIF accept:
//!
//! ```text
//! CONTAINER (126000,DCM,"Imaging Measurement Report")            TID 1500
//! ├ HAS CONCEPT MOD Language = en-US                               TID 1500 row 2 (TID 1204)
//! ├ HAS OBS CONTEXT Observer Type = Device, Device Observer ...    TID 1002 / TID 1004
//! ├ HAS CONCEPT MOD Procedure reported = Imaging procedure         TID 1500 row 4
//! ├ CONTAINS Image Library > Image Library Group > IMAGE source    TID 1600 / 1601 / 1602 / 1603
//! └ CONTAINS Imaging Measurements
//!   └ CONTAINS Measurement Group, one per joint                    TID 1410
//!     tracking ids, finding category, Finding = finger joint, Finding Site = the joint's
//!     local code, Comment, TID 4019 algorithm, NUM probabilities (none of 0) each INFERRED
//!     FROM the box, qualitative evaluations, geometric purpose, SCOORD POLYLINE box
//! └ CONTAINS Qualitative Evaluations: assessable, reason, conflicts, one Hand summary per hand
//! ```
//!
//! Patient and study attributes are copied from the source image, never passed in, so the
//! report cannot disagree with the image it describes (the highdicom habit). Every UID is
//! derived from the source and the model identities ([`uid::derive_uid`]), so sending the
//! same image twice never produces two reports.
//!
//! The templates are private types, one per TID, turned into [`ContentItem`]s; the only
//! entry points are [`build_sr`] and [`write_sr`]. The building blocks shared with
//! [`super::gsps`] (source parsing, patient/study copy, equipment, file meta) live here too.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dicom_core::value::{C, DataSetSequence};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{FileDicomObject, InMemDicomObject};
use serde::{Deserialize, Serialize};
use snafu::{OptionExt, ResultExt, Snafu, ensure};

use super::codes::{self, Code, LOCAL_SCHEME};
use super::uid::derive_uid;
use crate::analysis::{Analysis, FindingLabel, HandSummary, Joint, ModelInfo};
use crate::labels;
use crate::pipeline::bbox::BBox;
use crate::pipeline::naming::{JointId, Side};

/// The comparison with a prior result (issue 19): its SR content, and a prior SR read back.
mod change;
pub use change::read_prior;

/// Why an SR (or a GSPS, which shares the source checks) could not be built or written.
#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    /// The source image lacks a Type 1 attribute the report must reference.
    #[snafu(display("source image has no {alias}"))]
    MissingSourceAttribute { alias: &'static str },

    /// A source attribute the report reads has a value it cannot use.
    #[snafu(display("source image attribute {alias} is not usable: {reason}"))]
    InvalidSourceAttribute { alias: &'static str, reason: String },

    /// The analysis was made from another image than the dataset given.
    #[snafu(display(
        "analysis does not belong to this image: {what} is {analysis} in the analysis, {image} in the image"
    ))]
    SourceMismatch {
        what: &'static str,
        analysis: String,
        image: String,
    },

    /// A joint's box has a non-finite coordinate or no area.
    #[snafu(display("joint {index}: box {bbox:?} is not a finite box with positive area"))]
    ImproperBox { index: usize, bbox: BBox },

    /// A joint's probability is not a number in [0, 1].
    #[snafu(display("joint {index}: {finding} probability {probability} is not in [0, 1]"))]
    InvalidProbability {
        index: usize,
        finding: &'static str,
        probability: f32,
    },

    /// A joint id with a finger outside 1..=5 (the fields of `JointId` are public).
    #[snafu(display("joint {index}: {id:?} is not one of the 20 scored joints"))]
    InvalidJointId { index: usize, id: JointId },

    /// The file meta group could not be built.
    #[snafu(display("could not build the file meta group"))]
    BuildFileMeta {
        #[snafu(source(from(dicom_object::WithMetaError, Box::new)))]
        source: Box<dicom_object::WithMetaError>,
    },

    /// Writing the file failed.
    #[snafu(display("could not write {}", path.display()))]
    WriteFile {
        path: PathBuf,
        #[snafu(source(from(dicom_object::WriteError, Box::new)))]
        source: Box<dicom_object::WriteError>,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// SOP Class UID of the SR: Comprehensive 3D SR Storage (PS3.4 Table B.5-1), because IHE
/// AI Results (AIR) puts AI findings in Comprehensive 3D SR. Nothing here is 3D: the IOD is
/// Comprehensive SR's plus SCOORD3D, which the tree does not use.
pub const SR_SOP_CLASS: &str = uids::COMPREHENSIVE3_DSR_STORAGE;

/// Manufacturer (0008,0070) of each detector in Contributing Equipment Sequence: the model
/// manifests name no maker, and the models are the project's.
pub const DETECTOR_MANUFACTURER: &str = "rajoints project";

/// Series Number default of the SR series; high so that it sorts after acquired series.
pub const DEFAULT_SR_SERIES_NUMBER: i32 = 9901;

/// Series Description default: the output is not a cleared medical device.
pub const DEFAULT_SR_SERIES_DESCRIPTION: &str = "RA joints AI (not for diagnostic use)";

/// Algorithm Name (TID 4019 row 1) default.
pub const DEFAULT_ALGORITHM_NAME: &str = "rajoints SSD ensemble";

// --------------------------------------------------------------------------------------
// Options
// --------------------------------------------------------------------------------------

/// Who made the object: General Equipment (PS3.3 C.7.5.1) and the SR's device observer
/// (TID 1004). Shared by SR and GSPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    /// Manufacturer (0008,0070) and Device Observer Manufacturer (121014).
    pub manufacturer: String,
    /// Manufacturer's Model Name (0008,1090) and Device Observer Model Name (121015).
    pub model_name: String,
    /// Software Versions (0018,1020).
    pub software_version: String,
    /// Device Serial Number (0018,1000) and Device Observer Serial Number (121016), e.g.
    /// the installation's name; left out when `None`.
    pub device_serial_number: Option<String>,
    /// Device Observer UID (121012); `None` derives it from manufacturer, model name and
    /// serial number, so one installation keeps one UID across restarts.
    pub device_observer_uid: Option<String>,
}

impl Default for Producer {
    fn default() -> Self {
        Producer {
            manufacturer: "rajoints project".to_string(),
            model_name: "rajoints".to_string(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            device_serial_number: None,
            device_observer_uid: None,
        }
    }
}

impl Producer {
    /// The Device Observer UID: the configured one or one derived from the identity.
    pub fn device_observer_uid(&self) -> String {
        match &self.device_observer_uid {
            Some(uid) => uid.clone(),
            None => derive_uid(&[
                "device-observer",
                &self.manufacturer,
                &self.model_name,
                self.device_serial_number.as_deref().unwrap_or(""),
            ]),
        }
    }
}

/// A UTC date and time to the second, for Content Date/Time and the like (DA and TM
/// without fractions). Objects carry Timezone Offset From UTC (0008,0201) `+0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Timestamp {
    /// A checked UTC timestamp; `None` for an impossible date or time (leap seconds are
    /// not representable, nor years before 1 or after 9999).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        let ok = (1..=9999).contains(&year)
            && (1..=days).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60;
        ok.then_some(Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The UTC calendar time of `t`; times before 1970 read as 1970-01-01 00:00:00.
    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        Timestamp {
            // Clamped: u64 seconds cannot leave 1970..=9999 before the year 292 billion,
            // but the DA value has four digits.
            year: year.clamp(1970, 9999) as u16,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// The current UTC time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// DA value `YYYYMMDD`.
    pub fn date(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// TM value `HHMMSS`.
    pub fn time(&self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }

    /// RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (the review store's and audit log's times).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Proleptic Gregorian (year, month, day) of a count of days since 1970-01-01
/// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Everything about the SR that is not read from the source image or the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct SrOptions {
    pub producer: Producer,
    /// Algorithm Name (TID 4019 row 1). The Algorithm Version is made from the two model
    /// identities of the analysis.
    pub algorithm_name: String,
    /// Algorithm Parameters (TID 4019 row 3), one string each, e.g. `t_conf=0.9`. They also
    /// enter the derived UIDs: other thresholds give another report.
    pub algorithm_parameters: Vec<String>,
    /// Series Description (0008,103E).
    pub series_description: String,
    /// Series Number (0020,0011).
    pub series_number: i32,
    /// Instance Number (0020,0013).
    pub instance_number: i32,
    /// Content Date/Time (SR Document General, Type 1), also used for Series and
    /// Instance Creation Date/Time. Passed in so that output can be reproduced.
    pub content_time: Timestamp,
    /// A person's sign-off: the report is then the reviewer's (VERIFIED), not the
    /// algorithm's. `None` for the node's own reports (UNVERIFIED).
    pub verification: Option<Verification>,
}

/// Series Number of the reviewed (VERIFIED) reports: after the AI's.
pub const VERIFIED_SR_SERIES_NUMBER: i32 = 9903;

/// Series Description of the reviewed reports.
pub const VERIFIED_SR_SERIES_DESCRIPTION: &str = "RA joints reviewed (verified)";

/// A person's sign-off of a report (SR Document General Module, PS3.3 C.17.2): Verifying
/// Observer Sequence, and the AI report it supersedes as Predecessor Documents Sequence.
///
/// A verified report states what the reviewer accepted: each joint's box and findings,
/// without the algorithm's probabilities or its TID 4019 identification (a box the
/// reviewer drew has none), with the reviewer as a person observer (TID 1003).
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Verifying Observer Name (0040,A075) and Person Observer Name (121008), a PN value
    /// such as `Doe^Jane`.
    pub observer_name: String,
    /// Verifying Organization (0040,A027).
    pub organization: String,
    /// Verification DateTime (0040,A030).
    pub time: Timestamp,
    /// The report this one supersedes (the node's UNVERIFIED SR), when it was made.
    pub predecessor: Option<SopReference>,
}

/// A whole-instance reference, study > series > instance (PS3.3 Table C.17-3a).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SopReference {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
}

impl SopReference {
    /// The reference to `ds` (e.g. a report just built); None when a UID is missing.
    pub fn of(ds: &InMemDicomObject) -> Option<SopReference> {
        Some(SopReference {
            study_instance_uid: optional_str(ds, tags::STUDY_INSTANCE_UID)?,
            series_instance_uid: optional_str(ds, tags::SERIES_INSTANCE_UID)?,
            sop_class_uid: optional_str(ds, tags::SOP_CLASS_UID)?,
            sop_instance_uid: optional_str(ds, tags::SOP_INSTANCE_UID)?,
        })
    }

    /// The reference as one item of the Hierarchical SOP Instance Reference Macro (PS3.3
    /// Table C.17-3a): study > series > instance, as the evidence and predecessor
    /// sequences hold it.
    pub(crate) fn hierarchical_item(&self) -> InMemDicomObject {
        let mut series = InMemDicomObject::new_empty();
        put_str(
            &mut series,
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &self.series_instance_uid,
        );
        put_seq(
            &mut series,
            tags::REFERENCED_SOP_SEQUENCE,
            vec![sop_ref_item(&ImageRef {
                sop_class_uid: self.sop_class_uid.clone(),
                sop_instance_uid: self.sop_instance_uid.clone(),
                frame: None,
            })],
        );
        let mut study = InMemDicomObject::new_empty();
        put_str(
            &mut study,
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            &self.study_instance_uid,
        );
        put_seq(&mut study, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);
        study
    }
}

impl SrOptions {
    /// Defaults for everything but the time.
    pub fn new(content_time: Timestamp) -> Self {
        SrOptions {
            producer: Producer::default(),
            algorithm_name: DEFAULT_ALGORITHM_NAME.to_string(),
            algorithm_parameters: Vec::new(),
            series_description: DEFAULT_SR_SERIES_DESCRIPTION.to_string(),
            series_number: DEFAULT_SR_SERIES_NUMBER,
            instance_number: 1,
            content_time,
            verification: None,
        }
    }
}

// --------------------------------------------------------------------------------------
// The source image
// --------------------------------------------------------------------------------------

/// What the reports need from the source image, read and checked once.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceImage {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    /// Modality (0008,0060), when present.
    pub modality: Option<String>,
    pub rows: u32,
    pub columns: u32,
    /// Number of Frames (0028,0008); 1 when absent. Only frame 1 is analysed.
    pub number_of_frames: u32,
    /// Patient Orientation (0020,0020) (row direction, column direction), when both present.
    pub patient_orientation: Option<(String, String)>,
    /// (row spacing, column spacing) in mm, in that order (PS3.3 10.7.1.3), from Imager
    /// Pixel Spacing (0018,1164) as highdicom's TID 1603 does, or Pixel Spacing (0028,0030)
    /// when there is none.
    pub pixel_spacing: Option<(f64, f64)>,
}

impl SourceImage {
    /// Reads the identifying attributes; fails on a missing Type 1 UID or image size.
    pub fn from_dataset(ds: &InMemDicomObject) -> Result<Self> {
        let uid = |tag, alias| required_str(ds, tag, alias);
        let size = |tag, alias| -> Result<u32> {
            let e = ds.get(tag).context(MissingSourceAttributeSnafu { alias })?;
            let v: u32 = e.to_int().ok().context(InvalidSourceAttributeSnafu {
                alias,
                reason: "not an integer",
            })?;
            ensure!(
                v > 0,
                InvalidSourceAttributeSnafu {
                    alias,
                    reason: "zero"
                }
            );
            Ok(v)
        };
        let number_of_frames = match ds.get(tags::NUMBER_OF_FRAMES) {
            Some(e) if e.value().multiplicity() > 0 => e
                .to_int::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .context(InvalidSourceAttributeSnafu {
                    alias: "NumberOfFrames",
                    reason: "not a positive integer",
                })?,
            _ => 1,
        };
        let patient_orientation = ds
            .get(tags::PATIENT_ORIENTATION)
            .and_then(|e| e.to_multi_str().ok())
            .and_then(|v| match &v[..] {
                [row, col] if !row.trim().is_empty() && !col.trim().is_empty() => {
                    Some((row.trim().to_string(), col.trim().to_string()))
                }
                _ => None,
            });
        // A spacing that is absent or unusable only drops two descriptors; it is not an error.
        let pixel_spacing = [tags::IMAGER_PIXEL_SPACING, tags::PIXEL_SPACING]
            .into_iter()
            .find_map(|tag| {
                let v = ds.get(tag)?.to_multi_float64().ok()?;
                match v[..] {
                    [r, c] if r.is_finite() && c.is_finite() && r > 0.0 && c > 0.0 => Some((r, c)),
                    _ => None,
                }
            });
        Ok(SourceImage {
            sop_class_uid: uid(tags::SOP_CLASS_UID, "SOPClassUID")?,
            sop_instance_uid: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
            study_instance_uid: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
            series_instance_uid: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
            modality: optional_str(ds, tags::MODALITY),
            rows: size(tags::ROWS, "Rows")?,
            columns: size(tags::COLUMNS, "Columns")?,
            number_of_frames,
            patient_orientation,
            pixel_spacing,
        })
    }

    /// The image reference used by every IMAGE item and GSPS reference: frame 1 of a
    /// multi-frame image (the one analysed), no frame number otherwise (PS3.3 C.17.3.2.1
    /// says no Referenced Frame Number means all frames).
    pub(crate) fn image_ref(&self) -> ImageRef {
        ImageRef {
            sop_class_uid: self.sop_class_uid.clone(),
            sop_instance_uid: self.sop_instance_uid.clone(),
            frame: (self.number_of_frames > 1).then_some(1),
        }
    }

    /// Checks that `analysis` was made from this image and that its numbers can be
    /// encoded: finite boxes with area, probabilities in [0, 1], valid joint ids.
    pub(crate) fn check_analysis(&self, analysis: &Analysis) -> Result<()> {
        if let Some(uid) = &analysis.source.sop_instance_uid {
            ensure!(
                *uid == self.sop_instance_uid,
                SourceMismatchSnafu {
                    what: "SOP Instance UID",
                    analysis: uid.clone(),
                    image: self.sop_instance_uid.clone(),
                }
            );
        }
        let (a, i) = (
            (analysis.source.rows, analysis.source.columns),
            (self.rows, self.columns),
        );
        ensure!(
            a == i,
            SourceMismatchSnafu {
                what: "image size (rows, columns)",
                analysis: format!("{a:?}"),
                image: format!("{i:?}"),
            }
        );
        for (index, joint) in analysis.joints.iter().enumerate() {
            ensure!(
                joint.bbox.is_proper(),
                ImproperBoxSnafu {
                    index,
                    bbox: joint.bbox
                }
            );
            let labels = [
                ("ankylosis", Some(joint.ankylosis)),
                ("subluxation", joint.subluxation),
            ];
            for (finding, label) in labels {
                if let Some(l) = label {
                    ensure!(
                        (0.0..=1.0).contains(&l.probability),
                        InvalidProbabilitySnafu {
                            index,
                            finding,
                            probability: l.probability
                        }
                    );
                }
            }
            if let Some(id) = joint.id {
                ensure!(
                    codes::joint(id).is_some(),
                    InvalidJointIdSnafu { index, id }
                );
            }
        }
        Ok(())
    }
}

/// A Type 1 string attribute, trimmed; error when absent or empty.
fn required_str(ds: &InMemDicomObject, tag: Tag, alias: &'static str) -> Result<String> {
    optional_str(ds, tag).context(MissingSourceAttributeSnafu { alias })
}

/// A string attribute, trimmed of padding; `None` when absent, empty or not a string.
pub(crate) fn optional_str(ds: &InMemDicomObject, tag: Tag) -> Option<String> {
    let v = ds.get(tag)?.to_str().ok()?;
    let v = v.trim_matches(|c: char| c == ' ' || c == '\0');
    (!v.is_empty()).then(|| v.to_string())
}

// --------------------------------------------------------------------------------------
// Identity shared by SR and GSPS
// --------------------------------------------------------------------------------------

/// The parts that fix the content of a derived object: the two models (version, SHA-256,
/// and their calibration where it is not the default) and the algorithm parameters.
pub(crate) fn model_identity(analysis: &Analysis, parameters: &[String]) -> Vec<String> {
    let m = &analysis.models;
    let mut parts = vec![
        m.ankylosis.version.clone(),
        m.ankylosis.sha256.clone(),
        m.subluxation.version.clone(),
        m.subluxation.sha256.clone(),
    ];
    // The manifest's calibration changes labels and probabilities with the same model
    // file. Left out at the defaults, so that the UIDs made before it stay the same.
    for (finding, info) in [("ankylosis", &m.ankylosis), ("subluxation", &m.subluxation)] {
        if info.is_calibrated() {
            parts.push(format!(
                "{finding}_calibration={},{}",
                info.temperature, info.present_threshold
            ));
        }
    }
    parts.extend(parameters.iter().cloned());
    parts
}

/// `derive_uid([kind, key, identity...])`.
pub(crate) fn derive_with(kind: &str, key: &str, identity: &[String]) -> String {
    let mut parts: Vec<&str> = vec![kind, key];
    parts.extend(identity.iter().map(String::as_str));
    derive_uid(&parts)
}

/// The instance and series UIDs of the `kind` of object ("sr", "gsps", "sc") made from
/// `image` by the models and parameters of `identity`: the same analysis gives the same
/// UIDs, so a resend replaces rather than duplicates.
pub(crate) fn derive_uids(
    kind: &str,
    image: &SourceImage,
    identity: &[String],
) -> (String, String) {
    (
        derive_with(kind, &image.sop_instance_uid, identity),
        derive_with(
            &format!("{kind}-series"),
            &image.series_instance_uid,
            identity,
        ),
    )
}

/// Tracking Identifier text of a joint: its name (`R-PIP2`), or `joint-<n>` with `n` its
/// 1-based position in the analysis when it has no name ([`labels::joint_name`]).
pub fn tracking_identifier(joint: &Joint, index: usize) -> String {
    labels::joint_name(joint, index)
}

/// A box as a closed 5-point polyline in (column, row) image pixels:
/// `x0,y0, x1,y0, x1,y1, x0,y1, x0,y0` (reference §2 "Box encoding", PS3.3 C.18.6.1.2).
pub fn box_polyline(b: &BBox) -> [f32; 10] {
    [b.x0, b.y0, b.x1, b.y0, b.x1, b.y1, b.x0, b.y1, b.x0, b.y0]
}

// --------------------------------------------------------------------------------------
// Dataset helpers
// --------------------------------------------------------------------------------------

pub(crate) fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: impl Into<String>) {
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::from(value.into()),
    ));
}

pub(crate) fn put_strs(obj: &mut InMemDicomObject, tag: Tag, vr: VR, values: Vec<String>) {
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(C::from_vec(values)),
    ));
}

pub(crate) fn put_empty(obj: &mut InMemDicomObject, tag: Tag, vr: VR) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
}

pub(crate) fn put_seq(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// A code sequence item (PS3.3 Table 8.8-1 "Basic Code Sequence Macro").
pub(crate) fn code_item(code: &Code) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::CODE_VALUE, VR::SH, code.value);
    put_str(
        &mut item,
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        code.scheme,
    );
    put_str(&mut item, tags::CODE_MEANING, VR::LO, code.meaning);
    item
}

/// A Referenced SOP Class/Instance UID item, with Referenced Frame Number if set.
pub(crate) fn sop_ref_item(r: &ImageRef) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(
        &mut item,
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        &r.sop_class_uid,
    );
    put_str(
        &mut item,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        &r.sop_instance_uid,
    );
    if let Some(frame) = r.frame {
        put_str(
            &mut item,
            tags::REFERENCED_FRAME_NUMBER,
            VR::IS,
            frame.to_string(),
        );
    }
    item
}

/// A decimal string (DS, at most 16 characters) for a finite number.
pub(crate) fn format_ds(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let shortest = format!("{v}");
    if shortest.len() <= 16 {
        return Some(shortest);
    }
    // Too many digits for DS: drop precision until it fits. Fixed notation keeps the
    // significant digits of ordinary magnitudes; exponent notation those of extreme ones.
    let fixed = v.abs() >= 1e-4 && v.abs() < 1e15;
    (0..=15)
        .rev()
        .map(|p| {
            if fixed {
                format!("{v:.p$}")
            } else {
                format!("{v:.p$e}")
            }
        })
        .find(|s| s.len() <= 16)
}

/// Patient Module (PS3.3 C.7.1.1) Type 2 attributes: copied, or written empty.
const PATIENT_TYPE2: [(Tag, VR); 4] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
];

/// General Study Module (PS3.3 C.7.2.1) Type 2 attributes: copied, or written empty.
const STUDY_TYPE2: [(Tag, VR); 5] = [
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// Type 3 attributes of the Patient, General Study and Patient Study modules copied when
/// the source has them; they identify the patient or study as the archive knows them.
const COPIED_IF_PRESENT: [Tag; 13] = [
    tags::ISSUER_OF_PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID_QUALIFIERS_SEQUENCE,
    tags::PATIENT_BIRTH_TIME,
    tags::OTHER_PATIENT_I_DS_SEQUENCE,
    tags::PATIENT_COMMENTS,
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
    tags::STUDY_DESCRIPTION,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
];

/// Copies the Patient, General Study and Patient Study modules unchanged from the source.
pub(crate) fn copy_patient_and_study(
    source: &InMemDicomObject,
    image: &SourceImage,
    out: &mut InMemDicomObject,
) {
    for (tag, vr) in PATIENT_TYPE2.iter().chain(STUDY_TYPE2.iter()) {
        match source.get(*tag) {
            Some(e) => {
                out.put(e.clone());
            }
            None => put_empty(out, *tag, *vr),
        }
    }
    for tag in COPIED_IF_PRESENT {
        if let Some(e) = source.get(tag) {
            out.put(e.clone());
        }
    }
    put_str(
        out,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        &image.study_instance_uid,
    );
}

/// The General Series attributes of a derived object (SR, GSPS, SC): its own series in
/// the source's study, dated when it was made.
pub(crate) fn put_series(
    out: &mut InMemDicomObject,
    modality: &str,
    series_uid: &str,
    number: impl std::fmt::Display,
    description: &str,
    at: &Timestamp,
) {
    put_str(out, tags::MODALITY, VR::CS, modality);
    put_str(out, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
    put_str(out, tags::SERIES_NUMBER, VR::IS, number.to_string());
    put_str(out, tags::SERIES_DATE, VR::DA, at.date());
    put_str(out, tags::SERIES_TIME, VR::TM, at.time());
    put_str(out, tags::SERIES_DESCRIPTION, VR::LO, description);
}

/// Laterality (0020,0060) of an image-derived series (Type 2C; dciodvfy wants it in a PR
/// and an SC whatever the body part): the source's series Laterality, else its Image
/// Laterality when R or L, else empty, "unknown" (a two-hand film is `B`, which Laterality
/// cannot hold).
fn put_series_laterality(source: &InMemDicomObject, out: &mut InMemDicomObject) {
    let image_side = optional_str(source, tags::IMAGE_LATERALITY).filter(|s| s == "R" || s == "L");
    match (source.get(tags::LATERALITY), image_side) {
        (Some(e), _) => {
            out.put(e.clone());
        }
        (None, Some(side)) => put_str(out, tags::LATERALITY, VR::CS, side),
        (None, None) => put_empty(out, tags::LATERALITY, VR::CS),
    }
}

/// What an object drawn over the image (GSPS, summary image) takes from it and says of its
/// maker: the Patient and Study modules, the series Laterality, General Equipment, and the
/// detectors as Contributing Equipment (IHE AIR).
pub(crate) fn put_image_derived(
    source: &InMemDicomObject,
    image: &SourceImage,
    producer: &Producer,
    analysis: &Analysis,
    out: &mut InMemDicomObject,
) {
    copy_patient_and_study(source, image, out);
    put_series_laterality(source, out);
    put_equipment(producer, out);
    put_contributing_equipment(out, analysis);
}

/// General Equipment Module (PS3.3 C.7.5.1).
pub(crate) fn put_equipment(producer: &Producer, out: &mut InMemDicomObject) {
    put_str(out, tags::MANUFACTURER, VR::LO, &producer.manufacturer);
    put_str(
        out,
        tags::MANUFACTURER_MODEL_NAME,
        VR::LO,
        &producer.model_name,
    );
    put_str(
        out,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        &producer.software_version,
    );
    if let Some(serial) = &producer.device_serial_number {
        put_str(out, tags::DEVICE_SERIAL_NUMBER, VR::LO, serial);
    }
}

/// A value cut to `max` characters (LO holds 64): a long manifest name must not make the
/// object invalid.
fn cut(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// Contributing Equipment Sequence (0018,A001) (SOP Common, PS3.3 C.12.1): one item per
/// detector, as IHE AIR identifies each algorithm: Purpose of Reference, Manufacturer,
/// Manufacturer's Model Name (the model's name), Software Versions (its version), Device
/// UID (derived from its SHA-256, so one model file is one device) and Contribution
/// Description. Shared by SR, GSPS and the summary image.
pub(crate) fn put_contributing_equipment(out: &mut InMemDicomObject, analysis: &Analysis) {
    let m = &analysis.models;
    let detectors = [
        (labels::Finding::Ankylosis, &m.ankylosis),
        (labels::Finding::Subluxation, &m.subluxation),
    ];
    let items = detectors
        .into_iter()
        .map(|(finding, info)| {
            let mut item = InMemDicomObject::new_empty();
            put_seq(
                &mut item,
                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                vec![code_item(&codes::PROCESSING_EQUIPMENT)],
            );
            put_str(&mut item, tags::MANUFACTURER, VR::LO, DETECTOR_MANUFACTURER);
            put_str(
                &mut item,
                tags::MANUFACTURER_MODEL_NAME,
                VR::LO,
                cut(&info.name, 64),
            );
            put_str(
                &mut item,
                tags::SOFTWARE_VERSIONS,
                VR::LO,
                cut(&info.version, 64),
            );
            put_str(
                &mut item,
                tags::DEVICE_UID,
                VR::UI,
                derive_uid(&["detector", &info.sha256]),
            );
            put_str(
                &mut item,
                tags::CONTRIBUTION_DESCRIPTION,
                VR::ST,
                labels::detector_description(finding, &info.sha256),
            );
            item
        })
        .collect();
    put_seq(out, tags::CONTRIBUTING_EQUIPMENT_SEQUENCE, items);
}

/// SOP Common Module (PS3.3 C.12.1) attributes other than the character set.
pub(crate) fn put_sop_common(
    out: &mut InMemDicomObject,
    class: &str,
    instance: &str,
    at: Timestamp,
) {
    put_str(out, tags::SOP_CLASS_UID, VR::UI, class);
    put_str(out, tags::SOP_INSTANCE_UID, VR::UI, instance);
    put_str(out, tags::INSTANCE_CREATION_DATE, VR::DA, at.date());
    put_str(out, tags::INSTANCE_CREATION_TIME, VR::TM, at.time());
    put_str(out, tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, "+0000");
}

/// Declares UTF-8 (ISO_IR 192) when any copied or written text is not ASCII; without
/// Specific Character Set (0008,0005) only the default repertoire is allowed (PS3.5 §6.1).
pub(crate) fn set_character_set(out: &mut InMemDicomObject) {
    fn non_ascii(obj: &InMemDicomObject) -> bool {
        obj.iter().any(|e| match e.items() {
            Some(items) => items.iter().any(non_ascii),
            None => e
                .value()
                .to_multi_str()
                .is_ok_and(|v| v.iter().any(|s| !s.is_ascii())),
        })
    }
    if non_ascii(out) {
        put_str(out, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    } else {
        out.remove_element(tags::SPECIFIC_CHARACTER_SET);
    }
}

/// Implementation Version Name (0002,0013): `RAJOINTS_<version>`, cut to SH's 16 chars.
fn implementation_version_name() -> String {
    let mut name = format!("RAJOINTS_{}", env!("CARGO_PKG_VERSION"));
    name.truncate(16);
    name
}

/// Wraps a finished dataset in a file meta group, Explicit VR Little Endian (PS3.10 §7.1).
pub(crate) fn into_file(
    obj: InMemDicomObject,
) -> Result<FileDicomObject<InMemDicomObject>, dicom_object::WithMetaError> {
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .implementation_class_uid(derive_uid(&["rajoints", "implementation-class"]))
            .implementation_version_name(implementation_version_name()),
    )
}

// --------------------------------------------------------------------------------------
// Content items (PS3.3 C.17.3)
// --------------------------------------------------------------------------------------

/// Relationship Type (0040,A010), PS3.3 C.17.3.2.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relationship {
    Contains,
    HasObsContext,
    HasAcqContext,
    HasConceptMod,
    SelectedFrom,
    InferredFrom,
}

impl Relationship {
    fn as_str(self) -> &'static str {
        match self {
            Relationship::Contains => "CONTAINS",
            Relationship::HasObsContext => "HAS OBS CONTEXT",
            Relationship::HasAcqContext => "HAS ACQ CONTEXT",
            Relationship::HasConceptMod => "HAS CONCEPT MOD",
            Relationship::SelectedFrom => "SELECTED FROM",
            Relationship::InferredFrom => "INFERRED FROM",
        }
    }
}

/// A referenced image (frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// Referenced Frame Number (0008,1160), for multi-frame images.
    pub frame: Option<u32>,
}

/// The value of a content item, one variant per Value Type (0040,A040) used here
/// (PS3.3 Table C.17.3-7).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// Continuity of Content SEPARATE: the children are independent statements.
    Container,
    Text(String),
    /// DATE, DA (`YYYYMMDD`).
    Date(String),
    /// PNAME: a person's name, PN.
    PersonName(String),
    Code(&'static Code),
    /// Numeric Value (DS, already formatted) with its units.
    Num {
        value: String,
        unit: &'static Code,
    },
    UidRef(String),
    Image(ImageRef),
    /// SCOORD of Graphic Type POLYLINE; a closed box here (first point = last).
    Polyline(Vec<f32>),
}

/// One SR content item with its by-value children.
#[derive(Debug, Clone, PartialEq)]
struct ContentItem {
    relationship: Relationship,
    /// Concept Name; `None` only where PS3.3 C.17.3 lets it be absent (an INFERRED FROM
    /// SCOORD, as TID 320 and dcmjs write it).
    name: Option<&'static Code>,
    value: Value,
    children: Vec<ContentItem>,
}

impl ContentItem {
    fn new(relationship: Relationship, name: &'static Code, value: Value) -> Self {
        ContentItem {
            relationship,
            name: Some(name),
            value,
            children: Vec::new(),
        }
    }

    /// An item without a concept name.
    fn unnamed(relationship: Relationship, value: Value) -> Self {
        ContentItem {
            relationship,
            name: None,
            value,
            children: Vec::new(),
        }
    }

    fn with_children(mut self, children: Vec<ContentItem>) -> Self {
        self.children = children;
        self
    }

    fn container(
        relationship: Relationship,
        name: &'static Code,
        children: Vec<ContentItem>,
    ) -> Self {
        ContentItem::new(relationship, name, Value::Container).with_children(children)
    }

    fn text(relationship: Relationship, name: &'static Code, text: impl Into<String>) -> Self {
        ContentItem::new(relationship, name, Value::Text(text.into()))
    }

    fn code(relationship: Relationship, name: &'static Code, value: &'static Code) -> Self {
        ContentItem::new(relationship, name, Value::Code(value))
    }

    /// A NUM item; `None` for a non-finite value (DS cannot hold it).
    fn num(
        relationship: Relationship,
        name: &'static Code,
        value: f64,
        unit: &'static Code,
    ) -> Option<Self> {
        let value = format_ds(value)?;
        Some(ContentItem::new(
            relationship,
            name,
            Value::Num { value, unit },
        ))
    }

    /// The content item as a Content Sequence item (PS3.3 Table C.17.3-2 and -3).
    fn to_dataset(&self) -> InMemDicomObject {
        let mut item = InMemDicomObject::new_empty();
        put_str(
            &mut item,
            tags::RELATIONSHIP_TYPE,
            VR::CS,
            self.relationship.as_str(),
        );
        if let Some(name) = self.name {
            put_concept_name(&mut item, name);
        }
        put_value(&mut item, &self.value);
        if !self.children.is_empty() {
            put_seq(
                &mut item,
                tags::CONTENT_SEQUENCE,
                self.children.iter().map(ContentItem::to_dataset).collect(),
            );
        }
        item
    }
}

fn put_concept_name(item: &mut InMemDicomObject, name: &Code) {
    put_seq(
        item,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        vec![code_item(name)],
    );
}

/// Value Type and the value attributes of each type (PS3.3 C.17.3.3 "Document Content
/// Macro" and the content item macros of C.18).
fn put_value(item: &mut InMemDicomObject, value: &Value) {
    let value_type = match value {
        Value::Container => "CONTAINER",
        Value::Text(_) => "TEXT",
        Value::Date(_) => "DATE",
        Value::PersonName(_) => "PNAME",
        Value::Code(_) => "CODE",
        Value::Num { .. } => "NUM",
        Value::UidRef(_) => "UIDREF",
        Value::Image(_) => "IMAGE",
        Value::Polyline(_) => "SCOORD",
    };
    put_str(item, tags::VALUE_TYPE, VR::CS, value_type);
    match value {
        // C.18.8: Type 1 for CONTAINER.
        Value::Container => put_str(item, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"),
        Value::Text(t) => put_str(item, tags::TEXT_VALUE, VR::UT, t.as_str()),
        Value::Date(d) => put_str(item, tags::DATE, VR::DA, d.as_str()),
        Value::PersonName(n) => put_str(item, tags::PERSON_NAME, VR::PN, n.as_str()),
        Value::Code(c) => put_seq(item, tags::CONCEPT_CODE_SEQUENCE, vec![code_item(c)]),
        Value::Num { value, unit } => {
            // C.18.1: Measured Value Sequence with Numeric Value and units.
            let mut measured = InMemDicomObject::new_empty();
            put_str(&mut measured, tags::NUMERIC_VALUE, VR::DS, value.as_str());
            put_seq(
                &mut measured,
                tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
                vec![code_item(unit)],
            );
            put_seq(item, tags::MEASURED_VALUE_SEQUENCE, vec![measured]);
        }
        Value::UidRef(uid) => put_str(item, tags::UID, VR::UI, uid.as_str()),
        Value::Image(r) => put_seq(item, tags::REFERENCED_SOP_SEQUENCE, vec![sop_ref_item(r)]),
        Value::Polyline(points) => {
            // C.18.6: Graphic Data is (column, row) pairs in image pixels.
            put_str(item, tags::GRAPHIC_TYPE, VR::CS, "POLYLINE");
            item.put(DataElement::new(
                tags::GRAPHIC_DATA,
                VR::FL,
                PrimitiveValue::F32(C::from_slice(points)),
            ));
        }
    }
}

// --------------------------------------------------------------------------------------
// Templates
// --------------------------------------------------------------------------------------

use Relationship::{
    Contains, HasAcqContext, HasConceptMod, HasObsContext, InferredFrom, SelectedFrom,
};

/// TID 1002 "Observer Context" for a device observer, with TID 1004 "Device Observer
/// Identifying Attributes".
struct DeviceObserverContext<'a> {
    producer: &'a Producer,
    /// The reviewer of a verified report: a person observer (TID 1003) before the device.
    person: Option<&'a str>,
}

impl DeviceObserverContext<'_> {
    fn items(&self) -> Vec<ContentItem> {
        let p = self.producer;
        let mut v = Vec::new();
        if let Some(name) = self.person {
            // TID 1002 row 1: Observer Type = Person; TID 1003 row 1: Person Observer Name.
            v.push(ContentItem::code(
                HasObsContext,
                &codes::OBSERVER_TYPE,
                &codes::PERSON,
            ));
            v.push(ContentItem::new(
                HasObsContext,
                &codes::PERSON_OBSERVER_NAME,
                Value::PersonName(name.to_string()),
            ));
        }
        v.extend([
            // TID 1002 row 1: Observer Type = Device (CID 270).
            ContentItem::code(HasObsContext, &codes::OBSERVER_TYPE, &codes::DEVICE),
            // TID 1004 row 1: Device Observer UID, the one mandatory row.
            ContentItem::new(
                HasObsContext,
                &codes::DEVICE_OBSERVER_UID,
                Value::UidRef(p.device_observer_uid()),
            ),
            ContentItem::text(
                HasObsContext,
                &codes::DEVICE_OBSERVER_MANUFACTURER,
                &p.manufacturer,
            ),
            ContentItem::text(
                HasObsContext,
                &codes::DEVICE_OBSERVER_MODEL_NAME,
                &p.model_name,
            ),
        ]);
        if let Some(serial) = &p.device_serial_number {
            v.push(ContentItem::text(
                HasObsContext,
                &codes::DEVICE_OBSERVER_SERIAL_NUMBER,
                serial,
            ));
        }
        v
    }
}

/// TID 4019 "Algorithm Identification": name, version, one parameter per item, each
/// HAS CONCEPT MOD of the group it qualifies (reference §4).
struct AlgorithmIdentification {
    name: String,
    version: String,
    parameters: Vec<String>,
}

impl AlgorithmIdentification {
    /// The algorithm as configured, with the version made from both model identities.
    fn new(analysis: &Analysis, options: &SrOptions) -> Self {
        let m = &analysis.models;
        // The calibration only where it is not the default (T 1, threshold 0.5).
        let cal = |i: &ModelInfo| {
            if i.is_calibrated() {
                format!(
                    ", temperature {}, present_threshold {}",
                    i.temperature, i.present_threshold
                )
            } else {
                String::new()
            }
        };
        let version = format!(
            "ankylosis: {} {} (sha256 {}{}); subluxation/dislocation: {} {} (sha256 {}{})",
            m.ankylosis.name,
            m.ankylosis.version,
            m.ankylosis.sha256,
            cal(&m.ankylosis),
            m.subluxation.name,
            m.subluxation.version,
            m.subluxation.sha256,
            cal(&m.subluxation)
        );
        AlgorithmIdentification {
            name: options.algorithm_name.clone(),
            version,
            parameters: options.algorithm_parameters.clone(),
        }
    }

    fn items(&self) -> Vec<ContentItem> {
        let mut v = vec![
            ContentItem::text(HasConceptMod, &codes::ALGORITHM_NAME, &self.name),
            ContentItem::text(HasConceptMod, &codes::ALGORITHM_VERSION, &self.version),
        ];
        v.extend(
            self.parameters
                .iter()
                .map(|p| ContentItem::text(HasConceptMod, &codes::ALGORITHM_PARAMETERS, p)),
        );
        v
    }
}

/// TID 1600 "Image Library" with one TID 1601 entry (the source image) described by
/// TID 1602 and, for projection radiographs, TID 1603. Descriptors the source lacks are
/// left out (highdicom writes them only when present too).
struct ImageLibrary<'a> {
    image: &'a SourceImage,
}

impl ImageLibrary<'_> {
    fn item(&self) -> ContentItem {
        let img = self.image;
        let mut descriptors = Vec::new();
        if let Some(m) = img
            .modality
            .as_deref()
            .and_then(codes::acquisition_modality)
        {
            descriptors.push(ContentItem::code(HasAcqContext, &codes::MODALITY, m));
        }
        descriptors.extend(ContentItem::num(
            HasAcqContext,
            &codes::PIXEL_DATA_ROWS,
            f64::from(img.rows),
            &codes::PIXELS,
        ));
        descriptors.extend(ContentItem::num(
            HasAcqContext,
            &codes::PIXEL_DATA_COLUMNS,
            f64::from(img.columns),
            &codes::PIXELS,
        ));
        if let Some((row, col)) = &img.patient_orientation {
            descriptors.push(ContentItem::text(
                HasAcqContext,
                &codes::PATIENT_ORIENTATION_ROW,
                row,
            ));
            descriptors.push(ContentItem::text(
                HasAcqContext,
                &codes::PATIENT_ORIENTATION_COLUMN,
                col,
            ));
        }
        if let Some((row_spacing, col_spacing)) = img.pixel_spacing {
            // Horizontal = between columns (second value), vertical = between rows (first).
            descriptors.extend(ContentItem::num(
                HasAcqContext,
                &codes::HORIZONTAL_PIXEL_SPACING,
                col_spacing,
                &codes::MILLIMETER,
            ));
            descriptors.extend(ContentItem::num(
                HasAcqContext,
                &codes::VERTICAL_PIXEL_SPACING,
                row_spacing,
                &codes::MILLIMETER,
            ));
        }
        // The library entry references the whole instance, not one frame.
        let whole = ImageRef {
            frame: None,
            ..img.image_ref()
        };
        let entry = ContentItem::new(Contains, &codes::SOURCE, Value::Image(whole))
            .with_children(descriptors);
        let group = ContentItem::container(Contains, &codes::IMAGE_LIBRARY_GROUP, vec![entry]);
        ContentItem::container(Contains, &codes::IMAGE_LIBRARY, vec![group])
    }
}

/// How a joint is coded: Finding = the generic finger joint; Finding Site = the exact
/// lateralized joint's local code (`R-PIP4`) with its laterality and modifier when the joint
/// is named, the generic finger joint when not (reference §3 options (b) and (c)). The
/// exact joint is the Finding Site because OHIF shows only the site's meaning over the box.
struct JointSite {
    id: Option<JointId>,
}

impl JointSite {
    /// TID 1410 "Finding" row.
    fn finding(&self) -> ContentItem {
        ContentItem::code(Contains, &codes::FINDING, &codes::FINGER_JOINT)
    }

    /// TID 1410 "Finding Site" row (TID 1419 style) with its concept modifiers.
    fn finding_site(&self) -> ContentItem {
        let mut modifiers = Vec::new();
        let mut site = &codes::FINGER_JOINT;
        if let Some(id) = self.id {
            // check_analysis rejected ids without a code; the generic site is the fallback.
            site = codes::joint(id).unwrap_or(&codes::FINGER_JOINT);
            modifiers.push(ContentItem::code(
                HasConceptMod,
                &codes::LATERALITY,
                codes::laterality(id.side),
            ));
            if let Some(m) = codes::topographical_modifier(id.finger, id.level) {
                modifiers.push(ContentItem::code(
                    HasConceptMod,
                    &codes::TOPOGRAPHICAL_MODIFIER,
                    m,
                ));
            }
        }
        ContentItem::code(HasConceptMod, &codes::FINDING_SITE, site).with_children(modifiers)
    }
}

/// A box as SCOORD POLYLINE with its source image as the one SELECTED FROM child (PS3.3
/// C.18.6: image coordinates need the image they are in).
fn box_region(
    relationship: Relationship,
    name: Option<&'static Code>,
    region: &BBox,
    source: &ImageRef,
) -> ContentItem {
    let image = ContentItem::new(SelectedFrom, &codes::SOURCE, Value::Image(source.clone()));
    let polyline = Value::Polyline(box_polyline(region).to_vec());
    let item = match name {
        Some(name) => ContentItem::new(relationship, name, polyline),
        None => ContentItem::unnamed(relationship, polyline),
    };
    item.with_children(vec![image])
}

/// A probability as the percentage the SR carries: two decimals.
fn percent_value(probability: f32) -> f64 {
    (f64::from(probability) * 100.0 * 100.0).round() / 100.0
}

/// One special-finding label of a joint as TID 1410 rows: its probability NUM (TID 300,
/// percent) and its qualitative evaluation (CODE, Present/Absent).
struct FindingEvaluation {
    probability_name: &'static Code,
    evaluation_name: &'static Code,
    label: FindingLabel,
}

impl FindingEvaluation {
    /// The probability NUM, INFERRED FROM the box (TID 300 style, an unnamed SCOORD as
    /// dcmjs writes it): OHIF's hydration takes the geometry from the first NUM of a group
    /// and fails without it. Left out when it rounds to 0: OHIF shows a 0 as an empty value
    /// ("Ankylosis probability: %"), and the Absent evaluation says the same.
    fn measurement(&self, region: &BBox, source: &ImageRef) -> Option<ContentItem> {
        let value = percent_value(self.label.probability);
        if value <= 0.0 {
            return None;
        }
        let num = ContentItem::num(Contains, self.probability_name, value, &codes::PERCENT)?;
        Some(num.with_children(vec![box_region(InferredFrom, None, region, source)]))
    }

    fn evaluation(&self) -> ContentItem {
        ContentItem::code(
            Contains,
            self.evaluation_name,
            codes::presence(self.label.present),
        )
    }
}

/// TID 1410 "Planar ROI Measurements and Qualitative Evaluations" for one joint, rows in
/// the order highdicom writes them (reference §2).
struct PlanarRoiMeasurementGroup<'a> {
    tracking_identifier: String,
    tracking_uid: String,
    site: JointSite,
    /// [`labels::joint_comment`]: OHIF's label of the measurement.
    comment: String,
    algorithm: &'a AlgorithmIdentification,
    /// Ankylosis always; subluxation unless the joint is the thumb IP (`None` in the
    /// analysis), whose evaluation and NUM are then left out.
    findings: Vec<FindingEvaluation>,
    region: BBox,
    source: ImageRef,
    /// A reviewer's joint: no probabilities, no algorithm rows.
    reviewed: bool,
}

impl<'a> PlanarRoiMeasurementGroup<'a> {
    fn new(
        joint: &Joint,
        index: usize,
        sr_instance_uid: &str,
        algorithm: &'a AlgorithmIdentification,
        source: ImageRef,
        reviewed: bool,
    ) -> Self {
        let tracking_identifier = tracking_identifier(joint, index);
        let mut findings = vec![FindingEvaluation {
            probability_name: &codes::ANKYLOSIS_PROBABILITY,
            evaluation_name: &codes::ANKYLOSIS_OF_JOINT,
            label: joint.ankylosis,
        }];
        if let Some(label) = joint.subluxation {
            findings.push(FindingEvaluation {
                probability_name: &codes::SUBLUXATION_PROBABILITY,
                evaluation_name: &codes::SUBLUXATION_OF_JOINT,
                label,
            });
        }
        PlanarRoiMeasurementGroup {
            // Index and name both enter the UID: unnamed joints share no name, and a name
            // could in principle repeat.
            tracking_uid: derive_uid(&[
                "tracking",
                sr_instance_uid,
                &index.to_string(),
                &tracking_identifier,
            ]),
            tracking_identifier,
            site: JointSite { id: joint.id },
            comment: labels::joint_comment(joint, index, reviewed),
            algorithm,
            findings,
            region: joint.bbox,
            source,
            reviewed,
        }
    }

    fn item(&self) -> ContentItem {
        let mut rows = vec![
            // TID 4108 "Tracking Identifier": OHIF requires both (reference §5).
            ContentItem::text(
                HasObsContext,
                &codes::TRACKING_IDENTIFIER,
                &self.tracking_identifier,
            ),
            ContentItem::new(
                HasObsContext,
                &codes::TRACKING_UNIQUE_IDENTIFIER,
                Value::UidRef(self.tracking_uid.clone()),
            ),
            ContentItem::code(
                Contains,
                &codes::FINDING_CATEGORY,
                &codes::ANATOMICAL_STRUCTURE,
            ),
            self.site.finding(),
            self.site.finding_site(),
            ContentItem::text(Contains, &codes::COMMENT, &self.comment),
        ];
        if !self.reviewed {
            rows.extend(self.algorithm.items());
            rows.extend(
                self.findings
                    .iter()
                    .filter_map(|f| f.measurement(&self.region, &self.source)),
            );
        }
        rows.extend(self.findings.iter().map(FindingEvaluation::evaluation));
        rows.push(ContentItem::code(
            Contains,
            &codes::GEOMETRIC_PURPOSE_OF_REGION,
            &codes::BOUNDED_BY,
        ));
        // TID 1410's own region, which OHIF draws and other readers (highdicom) expect.
        rows.push(box_region(
            Contains,
            Some(&codes::IMAGE_REGION),
            &self.region,
            &self.source,
        ));
        ContentItem::container(Contains, &codes::MEASUREMENT_GROUP, rows)
    }
}

/// TID 1500 "Measurement Report": the document root and its rows.
struct MeasurementReport<'a> {
    observer: DeviceObserverContext<'a>,
    library: ImageLibrary<'a>,
    groups: Vec<PlanarRoiMeasurementGroup<'a>>,
    evaluations: FilmEvaluations<'a>,
}

/// The report-level Qualitative Evaluations (dicom-sr.md §2), always written: whether the
/// film was assessable and why not, any disagreement between its attributes and the image,
/// and one [`HandEvaluation`] per hand of [`Analysis::summary`].
struct FilmEvaluations<'a> {
    analysis: &'a Analysis,
}

impl FilmEvaluations<'_> {
    fn item(&self) -> ContentItem {
        let a = self.analysis;
        let mut rows = vec![ContentItem::code(
            Contains,
            &codes::ASSESSABLE,
            if a.assessment.assessable {
                &codes::YES
            } else {
                &codes::NO
            },
        )];
        if let Some(reason) = &a.assessment.reason {
            rows.push(ContentItem::text(
                Contains,
                &codes::NOT_ASSESSABLE_REASON,
                reason,
            ));
        }
        rows.extend(
            a.conflicts
                .iter()
                .map(|c| ContentItem::text(Contains, &codes::LATERALITY_CONFLICT, c)),
        );
        rows.extend(a.summary.hands.iter().map(|hand| {
            HandEvaluation {
                hand,
                change: a.change.as_ref(),
            }
            .item()
        }));
        // The comparison with the prior (issue 19), when one was looked for.
        rows.extend(a.change.as_ref().map(change::film_item));
        ContentItem::container(Contains, &codes::QUALITATIVE_EVALUATIONS, rows)
    }
}

/// One hand of the summary: a container whose Laterality says the hand, the counts as NUM
/// (joints assessed, with ankylosis, with subluxation/dislocation) where they are not 0,
/// one CODE per affected joint (the finding = the joint's local code), and the hand's line
/// in words ([`labels::hand_line`]). A count of 0 is not written as NUM (OHIF-style readers
/// show 0 as an empty value); no NUM and no CODE of a finding means none, and the line
/// says 0.
struct HandEvaluation<'a> {
    hand: &'a HandSummary,
    /// The comparison with the prior: the hand gains its change lines "since <date>".
    change: Option<&'a crate::change::Change>,
}

impl HandEvaluation<'_> {
    fn item(&self) -> ContentItem {
        let h = self.hand;
        let mut rows = Vec::new();
        let side = match h.side.as_str() {
            "R" => Some(Side::Right),
            "L" => Some(Side::Left),
            _ => None,
        };
        if let Some(side) = side {
            rows.push(ContentItem::code(
                HasConceptMod,
                &codes::LATERALITY,
                codes::laterality(side),
            ));
        }
        let counts = [
            (&codes::JOINTS_ASSESSED, h.joints),
            (&codes::JOINTS_WITH_ANKYLOSIS, h.ankylosis.len()),
            (&codes::JOINTS_WITH_SUBLUXATION, h.subluxation.len()),
        ];
        for (name, n) in counts {
            if n > 0 {
                rows.extend(ContentItem::num(Contains, name, n as f64, &codes::JOINTS));
            }
        }
        let affected = [
            (&codes::ANKYLOSIS_OF_JOINT, &h.ankylosis),
            (&codes::SUBLUXATION_OF_JOINT, &h.subluxation),
        ];
        for (finding, joints) in affected {
            // The names are JointId's own text (Summary::of), so every one has a code.
            let coded = joints
                .iter()
                .filter_map(|name| name.parse::<JointId>().ok())
                .filter_map(codes::joint);
            rows.extend(coded.map(|joint| ContentItem::code(Contains, finding, joint)));
        }
        rows.push(ContentItem::text(
            Contains,
            &codes::COMMENT,
            labels::hand_line(h),
        ));
        if let Some(c) = self.change {
            rows.extend(change::hand_rows(c, &h.side));
        }
        ContentItem::container(Contains, &codes::HAND_SUMMARY, rows)
    }
}

impl MeasurementReport<'_> {
    /// The root content item's attributes (SR Document Content Module, PS3.3 C.17.3),
    /// written into the top level of the dataset: the root has no Relationship Type.
    fn put_root(&self, out: &mut InMemDicomObject) {
        let mut rows = vec![
            // TID 1500 row 2 (TID 1204): Language of Content Item and Descendants.
            ContentItem::code(
                HasConceptMod,
                &codes::LANGUAGE_OF_CONTENT,
                &codes::ENGLISH_US,
            ),
        ];
        rows.extend(self.observer.items());
        // TID 1500 row 4: Procedure reported (CID 100).
        rows.push(ContentItem::code(
            HasConceptMod,
            &codes::PROCEDURE_REPORTED,
            &codes::IMAGING_PROCEDURE,
        ));
        rows.push(self.library.item());
        // A film that is not assessable has no measurements, only the reason.
        if !self.groups.is_empty() {
            rows.push(ContentItem::container(
                Contains,
                &codes::IMAGING_MEASUREMENTS,
                self.groups
                    .iter()
                    .map(PlanarRoiMeasurementGroup::item)
                    .collect(),
            ));
        }
        rows.push(self.evaluations.item());

        put_concept_name(out, &codes::IMAGING_MEASUREMENT_REPORT);
        put_value(out, &Value::Container);
        let mut template = InMemDicomObject::new_empty();
        put_str(&mut template, tags::MAPPING_RESOURCE, VR::CS, "DCMR");
        put_str(&mut template, tags::TEMPLATE_IDENTIFIER, VR::CS, "1500");
        put_seq(out, tags::CONTENT_TEMPLATE_SEQUENCE, vec![template]);
        put_seq(
            out,
            tags::CONTENT_SEQUENCE,
            rows.iter().map(ContentItem::to_dataset).collect(),
        );
    }
}

// --------------------------------------------------------------------------------------
// The document
// --------------------------------------------------------------------------------------

/// Builds the Comprehensive SR of `analysis`, made from the image `source` (a dataset or a
/// `FileDicomObject`, which derefs to one).
///
/// UIDs: SOP Instance = `derive_uid(["sr", source SOP Instance UID, ank version, ank sha256,
/// subl version, subl sha256, parameters...])`; Series = the same with `"sr-series"` and the
/// source Series Instance UID, so all SRs of one source series and model set share a
/// series. The result carries a file meta group (Explicit VR Little Endian); write it with
/// [`write_sr`] or `FileDicomObject::write_to_file`, or send its dataset (`into_inner`).
///
/// Fails when the source lacks SOP Class/Instance, Study or Series Instance UID, Rows or
/// Columns, or the analysis does not match the image or holds a number DICOM cannot carry.
pub fn build_sr(
    source: &InMemDicomObject,
    analysis: &Analysis,
    options: &SrOptions,
) -> Result<FileDicomObject<InMemDicomObject>> {
    let image = SourceImage::from_dataset(source)?;
    image.check_analysis(analysis)?;
    let identity = model_identity(analysis, &options.algorithm_parameters);
    let verification = options.verification.as_ref();
    let (instance_uid, series_uid) = match verification {
        None => derive_uids("sr", &image, &identity),
        // One reviewed report per reviewer and sign-off time; all in one series.
        Some(v) => {
            // What was signed enters the UID too: two sign-offs within one second with
            // different content must not share an instance (nor one outbox file).
            let content =
                serde_json::to_vec(&(&analysis.joints, &analysis.assessment)).unwrap_or_default();
            let who = [
                v.observer_name.clone(),
                v.time.date(),
                v.time.time(),
                v.predecessor
                    .as_ref()
                    .map(|p| p.sop_instance_uid.clone())
                    .unwrap_or_default(),
                crate::model::manifest::sha256_hex(&content),
            ];
            (
                derive_with("sr-verified", &image.sop_instance_uid, &who),
                derive_with("sr-verified-series", &image.series_instance_uid, &[]),
            )
        }
    };
    let at = options.content_time;

    let algorithm = AlgorithmIdentification::new(analysis, options);
    let report = MeasurementReport {
        observer: DeviceObserverContext {
            producer: &options.producer,
            person: verification.map(|v| v.observer_name.as_str()),
        },
        library: ImageLibrary { image: &image },
        groups: analysis
            .joints
            .iter()
            .enumerate()
            .map(|(i, j)| {
                PlanarRoiMeasurementGroup::new(
                    j,
                    i,
                    &instance_uid,
                    &algorithm,
                    image.image_ref(),
                    verification.is_some(),
                )
            })
            .collect(),
        evaluations: FilmEvaluations { analysis },
    };

    let mut out = InMemDicomObject::new_empty();
    copy_patient_and_study(source, &image, &mut out);

    // SR Document Series Module (PS3.3 C.17.1).
    put_series(
        &mut out,
        "SR",
        &series_uid,
        options.series_number,
        &options.series_description,
        &at,
    );
    put_seq(
        &mut out,
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        Vec::new(),
    );

    put_equipment(&options.producer, &mut out);
    // The detectors, as IHE AIR asks; a reviewer's report states the reviewer's findings.
    if verification.is_none() {
        put_contributing_equipment(&mut out, analysis);
    }

    // SR Document General Module (PS3.3 C.17.2).
    put_str(
        &mut out,
        tags::INSTANCE_NUMBER,
        VR::IS,
        options.instance_number.to_string(),
    );
    put_str(&mut out, tags::CONTENT_DATE, VR::DA, at.date());
    put_str(&mut out, tags::CONTENT_TIME, VR::TM, at.time());
    put_str(&mut out, tags::COMPLETION_FLAG, VR::CS, "COMPLETE");
    match verification {
        // The node's own report: nobody has verified it.
        None => put_str(&mut out, tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"),
        Some(v) => put_verification(&mut out, v),
    }
    put_seq(
        &mut out,
        tags::PERFORMED_PROCEDURE_CODE_SEQUENCE,
        Vec::new(),
    );
    put_seq(
        &mut out,
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        vec![evidence_item(&image)],
    );
    // The prior film and SR the comparison was made with (issue 19).
    if let Some(c) = &analysis.change {
        let prior = change::prior_evidence(c, &image.sop_instance_uid);
        if !prior.is_empty() {
            put_seq(&mut out, tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE, prior);
        }
    }

    // SR Document Content Module (PS3.3 C.17.3): the root container.
    report.put_root(&mut out);

    // SOP Common Module (PS3.3 C.12.1), with the private scheme declared (C.12.1.1.5).
    put_sop_common(&mut out, SR_SOP_CLASS, &instance_uid, at);
    let mut scheme = InMemDicomObject::new_empty();
    put_str(
        &mut scheme,
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        LOCAL_SCHEME.designator,
    );
    put_str(
        &mut scheme,
        tags::CODING_SCHEME_NAME,
        VR::ST,
        LOCAL_SCHEME.name,
    );
    put_str(
        &mut scheme,
        tags::CODING_SCHEME_RESPONSIBLE_ORGANIZATION,
        VR::ST,
        LOCAL_SCHEME.responsible_organization,
    );
    put_seq(
        &mut out,
        tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE,
        vec![scheme],
    );
    set_character_set(&mut out);

    into_file(out).context(BuildFileMetaSnafu)
}

/// VERIFIED with its Verifying Observer Sequence (PS3.3 C.17.2, Type 1C when VERIFIED) and
/// the superseded report as Predecessor Documents Sequence.
fn put_verification(out: &mut InMemDicomObject, v: &Verification) {
    put_str(out, tags::VERIFICATION_FLAG, VR::CS, "VERIFIED");
    let mut observer = InMemDicomObject::new_empty();
    put_str(
        &mut observer,
        tags::VERIFYING_OBSERVER_NAME,
        VR::PN,
        &v.observer_name,
    );
    // Type 2: the site's person codes are not known here.
    put_seq(
        &mut observer,
        tags::VERIFYING_OBSERVER_IDENTIFICATION_CODE_SEQUENCE,
        Vec::new(),
    );
    put_str(
        &mut observer,
        tags::VERIFYING_ORGANIZATION,
        VR::LO,
        &v.organization,
    );
    put_str(
        &mut observer,
        tags::VERIFICATION_DATE_TIME,
        VR::DT,
        format!("{}{}", v.time.date(), v.time.time()),
    );
    put_seq(out, tags::VERIFYING_OBSERVER_SEQUENCE, vec![observer]);
    if let Some(p) = &v.predecessor {
        put_seq(
            out,
            tags::PREDECESSOR_DOCUMENTS_SEQUENCE,
            vec![p.hierarchical_item()],
        );
    }
}

/// Current Requested Procedure Evidence Sequence item (PS3.3 Table C.17-3 and the
/// Hierarchical SOP Instance Reference Macro, Table C.17-3a): study > series > image.
fn evidence_item(image: &SourceImage) -> InMemDicomObject {
    let r = image.image_ref();
    SopReference {
        study_instance_uid: image.study_instance_uid.clone(),
        series_instance_uid: image.series_instance_uid.clone(),
        sop_class_uid: r.sop_class_uid,
        sop_instance_uid: r.sop_instance_uid,
    }
    .hierarchical_item()
}

/// Writes an SR (or any object from this module's builders) as a DICOM file: preamble,
/// `DICM`, file meta group, dataset.
pub fn write_sr(sr: &FileDicomObject<InMemDicomObject>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    sr.write_to_file(path).context(WriteFileSnafu { path })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::analysis::{ModelInfo, ModelsInfo, SourceInfo, Timing};

    const SOURCE_UID: &str = "1.2.826.0.1.3680043.8.498.1";

    pub(crate) fn source() -> InMemDicomObject {
        let mut ds = InMemDicomObject::new_empty();
        put_str(
            &mut ds,
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
        );
        put_str(&mut ds, tags::SOP_INSTANCE_UID, VR::UI, SOURCE_UID);
        put_str(
            &mut ds,
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.8.498.2",
        );
        put_str(
            &mut ds,
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.8.498.3",
        );
        put_str(&mut ds, tags::MODALITY, VR::CS, "CR");
        put_str(&mut ds, tags::PATIENT_NAME, VR::PN, "Doe^Jane");
        put_str(&mut ds, tags::PATIENT_ID, VR::LO, "P123");
        put_str(&mut ds, tags::STUDY_ID, VR::SH, "S1");
        put_str(&mut ds, tags::ACCESSION_NUMBER, VR::SH, "A1");
        put_strs(
            &mut ds,
            tags::PATIENT_ORIENTATION,
            VR::CS,
            vec!["R".into(), "F".into()],
        );
        put_strs(
            &mut ds,
            tags::IMAGER_PIXEL_SPACING,
            VR::DS,
            vec!["0.15".into(), "0.1".into()],
        );
        ds.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(48_u16),
        ));
        ds.put(DataElement::new(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(64_u16),
        ));
        ds
    }

    fn text_of(obj: &InMemDicomObject, tag: Tag) -> Option<Cow<'_, str>> {
        obj.get(tag).and_then(|e| e.to_str().ok())
    }

    fn label(present: bool, probability: f32) -> FindingLabel {
        FindingLabel {
            present,
            probability,
        }
    }

    pub(crate) fn analysis() -> Analysis {
        let model = |name: &str| ModelInfo {
            name: name.to_string(),
            version: "1.0".to_string(),
            sha256: "ab".repeat(32),
            temperature: 1.0,
            present_threshold: 0.5,
        };
        Analysis {
            source: SourceInfo {
                file: "x.dcm".to_string(),
                sop_instance_uid: Some(SOURCE_UID.to_string()),
                rows: 48,
                columns: 64,
            },
            models: ModelsInfo {
                ankylosis: model("ank"),
                subluxation: model("subl"),
            },
            joints: vec![
                Joint {
                    id: Some("R-PIP2".parse().unwrap()),
                    bbox: BBox::new(10.0, 5.0, 20.5, 15.25),
                    score: 0.9,
                    ankylosis: label(true, 0.97),
                    subluxation: Some(label(false, 0.1)),
                },
                Joint {
                    id: Some("R-IP1".parse().unwrap()),
                    bbox: BBox::new(30.0, 20.0, 40.0, 30.0),
                    score: 0.8,
                    ankylosis: label(false, 0.02),
                    subluxation: None,
                },
                Joint {
                    id: None,
                    bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
                    score: 0.7,
                    ankylosis: label(false, 0.0),
                    subluxation: Some(label(true, 0.6)),
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

    fn options() -> SrOptions {
        SrOptions::new(Timestamp::new(2024, 2, 29, 13, 5, 9).unwrap())
    }

    fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
        obj.get(tag).and_then(|e| e.items()).unwrap_or(&[])
    }

    fn concept(item: &InMemDicomObject, tag: Tag) -> Option<String> {
        items(item, tag)
            .first()
            .and_then(|c| text_of(c, tags::CODE_VALUE))
            .map(|s| s.trim().to_string())
    }

    /// The content item of `parent` whose concept name has code value `value`.
    fn child<'a>(parent: &'a InMemDicomObject, value: &str) -> Vec<&'a InMemDicomObject> {
        items(parent, tags::CONTENT_SEQUENCE)
            .iter()
            .filter(|i| concept(i, tags::CONCEPT_NAME_CODE_SEQUENCE).as_deref() == Some(value))
            .collect()
    }

    fn groups(sr: &InMemDicomObject) -> Vec<&InMemDicomObject> {
        let measurements = child(sr, "126010");
        assert_eq!(measurements.len(), 1);
        child(measurements[0], "125007")
    }

    #[test]
    fn one_measurement_group_per_joint_in_order() {
        let sr = build_sr(&source(), &analysis(), &options()).unwrap();
        let g = groups(&sr);
        assert_eq!(g.len(), 3);
        let ids: Vec<String> = g
            .iter()
            .map(|g| {
                text_of(child(g, "112039")[0], tags::TEXT_VALUE)
                    .unwrap()
                    .trim()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["R-PIP2", "R-IP1", "joint-3"]);
        let uids: std::collections::HashSet<String> = g
            .iter()
            .map(|g| {
                text_of(child(g, "112040")[0], tags::UID)
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(uids.len(), 3);
    }

    #[test]
    fn box_coordinates_equal_the_joint_box() {
        let a = analysis();
        let sr = build_sr(&source(), &a, &options()).unwrap();
        for (g, joint) in groups(&sr).iter().zip(&a.joints) {
            let scoord = child(g, "111030");
            assert_eq!(scoord.len(), 1);
            let data = scoord[0]
                .get(tags::GRAPHIC_DATA)
                .unwrap()
                .value()
                .to_multi_float64()
                .unwrap();
            let b = joint.bbox;
            let want = [b.x0, b.y0, b.x1, b.y0, b.x1, b.y1, b.x0, b.y1, b.x0, b.y0].map(f64::from);
            assert_eq!(data, want);
            assert_eq!(
                text_of(scoord[0], tags::GRAPHIC_TYPE).unwrap().trim(),
                "POLYLINE"
            );
            let selected = items(scoord[0], tags::CONTENT_SEQUENCE);
            assert_eq!(selected.len(), 1);
            assert_eq!(
                text_of(&selected[0], tags::RELATIONSHIP_TYPE)
                    .unwrap()
                    .trim(),
                "SELECTED FROM"
            );
            let sop = &items(&selected[0], tags::REFERENCED_SOP_SEQUENCE)[0];
            assert_eq!(
                text_of(sop, tags::REFERENCED_SOP_INSTANCE_UID)
                    .unwrap()
                    .trim_end_matches('\0'),
                SOURCE_UID
            );
        }
    }

    #[test]
    fn thumb_ip_has_no_subluxation_items() {
        let sr = build_sr(&source(), &analysis(), &options()).unwrap();
        let g = groups(&sr);
        let ip = g[1];
        assert!(child(ip, "SUBL-P").is_empty());
        assert!(child(ip, "263031003").is_empty());
        assert_eq!(child(ip, "ANKY-P").len(), 1);
        assert_eq!(child(ip, "111227009").len(), 1);
        // The others carry both.
        for other in [g[0], g[2]] {
            assert_eq!(child(other, "SUBL-P").len(), 1);
            assert_eq!(child(other, "263031003").len(), 1);
        }
    }

    #[test]
    fn findings_and_probabilities_are_coded() {
        let sr = build_sr(&source(), &analysis(), &options()).unwrap();
        let g = groups(&sr)[0];
        assert_eq!(
            concept(child(g, "111227009")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "52101004"
        );
        assert_eq!(
            concept(child(g, "263031003")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "272519000"
        );
        let num = child(g, "ANKY-P")[0];
        let mv = &items(num, tags::MEASURED_VALUE_SEQUENCE)[0];
        assert_eq!(text_of(mv, tags::NUMERIC_VALUE).unwrap().trim(), "97");
        assert_eq!(
            concept(mv, tags::MEASUREMENT_UNITS_CODE_SEQUENCE).unwrap(),
            "%"
        );
        // Named joint: Finding = Finger Joint, Finding Site = the lateralized local code
        // with laterality and modifier.
        assert_eq!(
            concept(child(g, "121071")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "125682004"
        );
        let site = child(g, "363698007")[0];
        assert_eq!(
            concept(site, tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "R-PIP2"
        );
        assert_eq!(
            concept(child(site, "272741003")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "24028007"
        );
        assert_eq!(
            concept(child(site, "106233006")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "40415009"
        );
        // Unnamed joint: Finding and a bare Finding Site both the generic Finger Joint.
        let unnamed = groups(&sr)[2];
        assert_eq!(
            concept(child(unnamed, "121071")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "125682004"
        );
        let site = child(unnamed, "363698007")[0];
        assert_eq!(
            concept(site, tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "125682004"
        );
        assert!(items(site, tags::CONTENT_SEQUENCE).is_empty());
    }

    /// The (value, scheme, meaning) of a code sequence's first item.
    fn code_of(item: &InMemDicomObject, tag: Tag) -> (String, String, String) {
        let c = &items(item, tag)[0];
        let get = |t| text_of(c, t).unwrap().trim().to_string();
        (
            get(tags::CODE_VALUE),
            get(tags::CODING_SCHEME_DESIGNATOR),
            get(tags::CODE_MEANING),
        )
    }

    fn text_value(item: &InMemDicomObject) -> String {
        text_of(item, tags::TEXT_VALUE).unwrap().trim().to_string()
    }

    fn num_value(item: &InMemDicomObject) -> String {
        let mv = &items(item, tags::MEASURED_VALUE_SEQUENCE)[0];
        text_of(mv, tags::NUMERIC_VALUE).unwrap().trim().to_string()
    }

    /// Every content item below `obj`, depth first.
    fn all_items(obj: &InMemDicomObject) -> Vec<&InMemDicomObject> {
        items(obj, tags::CONTENT_SEQUENCE)
            .iter()
            .flat_map(|i| std::iter::once(i).chain(all_items(i)))
            .collect()
    }

    #[test]
    fn the_finding_site_names_the_lateralized_joint() {
        let mut a = analysis();
        a.joints[1].id = Some("L-IP1".parse().unwrap());
        let sr = build_sr(&source(), &a, &options()).unwrap();
        let g = groups(&sr);
        let site =
            |g: &InMemDicomObject| code_of(child(g, "363698007")[0], tags::CONCEPT_CODE_SEQUENCE);
        let local = |v: &str, m: &str| (v.to_string(), "99RAJ".to_string(), m.to_string());
        assert_eq!(
            site(g[0]),
            local("R-PIP2", "R-PIP2 (right index finger PIP joint)")
        );
        assert_eq!(site(g[1]), local("L-IP1", "L-IP1 (left thumb IP joint)"));
        let l_ip = child(g[1], "363698007")[0];
        assert_eq!(
            concept(child(l_ip, "272741003")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "7771000"
        );
        // The thumb IP is not a proximal interphalangeal joint.
        assert!(child(l_ip, "106233006").is_empty());
        assert_eq!(
            site(g[2]),
            ("125682004".into(), "SCT".into(), "Finger Joint".into())
        );
    }

    #[test]
    fn each_group_has_its_comment_right_after_the_finding_site() {
        let sr = build_sr(&source(), &analysis(), &options()).unwrap();
        let mut comments = Vec::new();
        for g in groups(&sr) {
            let rows = items(g, tags::CONTENT_SEQUENCE);
            let at = |code: &str| {
                rows.iter()
                    .position(|i| {
                        concept(i, tags::CONCEPT_NAME_CODE_SEQUENCE).as_deref() == Some(code)
                    })
                    .unwrap()
            };
            assert_eq!(at("121106"), at("363698007") + 1);
            let comment = child(g, "121106");
            assert_eq!(comment.len(), 1);
            assert_eq!(
                text_of(comment[0], tags::VALUE_TYPE).unwrap().trim(),
                "TEXT"
            );
            comments.push(text_value(comment[0]));
        }
        assert_eq!(
            comments,
            [
                "R-PIP2: ankylosis 97 %",
                "R-IP1: no finding",
                "joint-3: subluxation/dislocation 60 %"
            ]
        );
    }

    #[test]
    fn a_reviewers_comment_has_no_percentages() {
        let mut o = options();
        o.verification = Some(Verification {
            observer_name: "Doe^Rev".into(),
            organization: "Org".into(),
            time: Timestamp::new(2024, 3, 1, 8, 0, 0).unwrap(),
            predecessor: None,
        });
        let sr = build_sr(&source(), &analysis(), &o).unwrap();
        let first = text_value(child(groups(&sr)[0], "121106")[0]);
        assert_eq!(first, "R-PIP2: ankylosis");
        // Nor does it name the detectors as contributing equipment.
        assert!(sr.get(tags::CONTRIBUTING_EQUIPMENT_SEQUENCE).is_none());
    }

    #[test]
    fn no_num_is_zero_and_a_zero_probability_keeps_its_evaluation() {
        let mut a = analysis();
        // 0.004 % rounds to 0.00 and is left out; 0.01 % stays.
        a.joints[0].subluxation = Some(label(false, 0.000_04));
        a.joints[1].ankylosis = label(false, 0.000_1);
        let sr = build_sr(&source(), &a, &options()).unwrap();
        let g = groups(&sr);
        assert!(child(g[0], "SUBL-P").is_empty());
        assert_eq!(
            concept(child(g[0], "263031003")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "272519000"
        );
        assert_eq!(num_value(child(g[1], "ANKY-P")[0]), "0.01");
        // joint-3's ankylosis probability is 0 (c_neg): no NUM, the Absent evaluation.
        assert!(child(g[2], "ANKY-P").is_empty());
        assert_eq!(
            concept(child(g[2], "111227009")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "272519000"
        );
        for item in all_items(&sr) {
            if text_of(item, tags::VALUE_TYPE).unwrap().trim() == "NUM" {
                let v: f64 = num_value(item).parse().unwrap();
                assert!(v != 0.0, "a NUM of 0: {item:?}");
            }
        }
    }

    #[test]
    fn each_probability_num_is_inferred_from_the_box() {
        let a = analysis();
        let sr = build_sr(&source(), &a, &options()).unwrap();
        let g = groups(&sr);
        let mut seen = 0;
        for (g, joint) in g.iter().zip(&a.joints) {
            let b = joint.bbox;
            let want = [b.x0, b.y0, b.x1, b.y0, b.x1, b.y1, b.x0, b.y1, b.x0, b.y0].map(f64::from);
            for code in ["ANKY-P", "SUBL-P"] {
                for num in child(g, code) {
                    let region = items(num, tags::CONTENT_SEQUENCE);
                    assert_eq!(region.len(), 1);
                    let r = &region[0];
                    let text = |t| text_of(r, t).unwrap().trim().to_string();
                    assert_eq!(text(tags::RELATIONSHIP_TYPE), "INFERRED FROM");
                    assert_eq!(text(tags::VALUE_TYPE), "SCOORD");
                    assert_eq!(text(tags::GRAPHIC_TYPE), "POLYLINE");
                    // As TID 320 and dcmjs write it: no concept name.
                    assert!(r.get(tags::CONCEPT_NAME_CODE_SEQUENCE).is_none());
                    let data = r
                        .get(tags::GRAPHIC_DATA)
                        .unwrap()
                        .to_multi_float64()
                        .unwrap();
                    assert_eq!(data, want);
                    let image = &items(r, tags::CONTENT_SEQUENCE)[0];
                    assert_eq!(
                        text_of(image, tags::RELATIONSHIP_TYPE).unwrap().trim(),
                        "SELECTED FROM"
                    );
                    seen += 1;
                }
            }
            // The group's own TID 1410 region stays.
            assert_eq!(child(g, "111030").len(), 1);
        }
        // R-PIP2 two, R-IP1 one, joint-3 one (its ankylosis is 0).
        assert_eq!(seen, 4);
    }

    #[test]
    fn the_summary_is_always_written_one_container_per_hand() {
        let mut a = analysis();
        a.joints.push(Joint {
            id: Some("L-MCP3".parse().unwrap()),
            bbox: BBox::new(40.0, 30.0, 50.0, 40.0),
            score: 0.8,
            ankylosis: label(false, 0.1),
            subluxation: Some(label(true, 0.66)),
        });
        a.refresh_summary();
        let sr = build_sr(&source(), &a, &options()).unwrap();
        let evaluations = child(&sr, "C0034375");
        assert_eq!(evaluations.len(), 1);
        let e = evaluations[0];
        assert_eq!(
            concept(child(e, "ASSESSABLE")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "373066001"
        );
        let hands = child(e, "HANDSUMMARY");
        assert_eq!(hands.len(), 2);
        let side = |h| concept(child(h, "272741003")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap();
        let count = |h, code| child(h, code).first().map(|n| num_value(n));
        let joints_with = |h, code| -> Vec<String> {
            child(h, code)
                .iter()
                .map(|c| code_of(c, tags::CONCEPT_CODE_SEQUENCE).0)
                .collect()
        };
        // Right: R-PIP2 (ankylosis) and R-IP1; the unnamed joint belongs to no hand.
        let r = hands[0];
        assert_eq!(side(r), "24028007");
        assert_eq!(count(r, "JOINTS-N").as_deref(), Some("2"));
        assert_eq!(count(r, "ANKY-N").as_deref(), Some("1"));
        assert_eq!(count(r, "SUBL-N"), None, "no NUM of 0");
        assert_eq!(joints_with(r, "111227009"), ["R-PIP2"]);
        assert!(joints_with(r, "263031003").is_empty());
        assert_eq!(
            text_value(child(r, "121106")[0]),
            "Right hand (2 joints): ankylosis 1 (R-PIP2); subluxation/dislocation 0 (none)"
        );
        let l = hands[1];
        assert_eq!(side(l), "7771000");
        assert_eq!(count(l, "JOINTS-N").as_deref(), Some("1"));
        assert_eq!(count(l, "ANKY-N"), None);
        assert_eq!(count(l, "SUBL-N").as_deref(), Some("1"));
        assert_eq!(joints_with(l, "263031003"), ["L-MCP3"]);
        assert_eq!(
            text_value(child(l, "121106")[0]),
            "Left hand (1 joint): ankylosis 0 (none); subluxation/dislocation 1 (L-MCP3)"
        );
        let unit = &items(child(l, "JOINTS-N")[0], tags::MEASURED_VALUE_SEQUENCE)[0];
        assert_eq!(
            concept(unit, tags::MEASUREMENT_UNITS_CODE_SEQUENCE).unwrap(),
            "{joints}"
        );
    }

    #[test]
    fn a_film_without_joints_has_an_assessable_summary_and_no_hands() {
        let mut a = analysis();
        a.joints.clear();
        a.refresh_summary();
        let sr = build_sr(&source(), &a, &options()).unwrap();
        let e = child(&sr, "C0034375");
        assert_eq!(e.len(), 1);
        assert_eq!(
            concept(child(e[0], "ASSESSABLE")[0], tags::CONCEPT_CODE_SEQUENCE).unwrap(),
            "373066001"
        );
        assert!(child(e[0], "HANDSUMMARY").is_empty());
    }

    #[test]
    fn contributing_equipment_names_each_detector() {
        let mut a = analysis();
        a.models.subluxation.sha256 = "cd".repeat(32);
        a.models.subluxation.version = "2.0".into();
        let sr = build_sr(&source(), &a, &options()).unwrap();
        assert_eq!(
            text_of(&sr, tags::SOP_CLASS_UID)
                .unwrap()
                .trim_end_matches('\0'),
            "1.2.840.10008.5.1.4.1.1.88.34"
        );
        let equipment = items(&sr, tags::CONTRIBUTING_EQUIPMENT_SEQUENCE);
        assert_eq!(equipment.len(), 2);
        let want = [
            ("ank", "1.0", "ab".repeat(32), "ankylosis"),
            ("subl", "2.0", "cd".repeat(32), "subluxation/dislocation"),
        ];
        for (e, (name, version, sha, finding)) in equipment.iter().zip(want) {
            let text = |t| {
                text_of(e, t)
                    .unwrap()
                    .trim_end_matches(['\0', ' '])
                    .to_string()
            };
            assert_eq!(
                code_of(e, tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE),
                ("109102".into(), "DCM".into(), "Processing Equipment".into())
            );
            assert_eq!(text(tags::MANUFACTURER), DETECTOR_MANUFACTURER);
            assert_eq!(text(tags::MANUFACTURER_MODEL_NAME), name);
            assert_eq!(text(tags::SOFTWARE_VERSIONS), version);
            assert_eq!(text(tags::DEVICE_UID), derive_uid(&["detector", &sha]));
            assert_eq!(
                text(tags::CONTRIBUTION_DESCRIPTION),
                format!("{finding} detector (model sha256 {sha})")
            );
        }
        // The GSPS names the same detectors.
        let gsps = crate::dicom::gsps::build_gsps(
            &source(),
            &a,
            &crate::dicom::gsps::GspsOptions::new(options().content_time),
        )
        .unwrap();
        // Compared as text: the objects' equality also compares internal state.
        assert_eq!(
            format!("{:?}", items(&gsps, tags::CONTRIBUTING_EQUIPMENT_SEQUENCE)),
            format!("{equipment:?}")
        );
    }

    #[test]
    fn patient_and_study_are_copied_from_the_source() {
        let src = source();
        let sr = build_sr(&src, &analysis(), &options()).unwrap();
        for tag in [
            tags::PATIENT_NAME,
            tags::PATIENT_ID,
            tags::STUDY_INSTANCE_UID,
            tags::STUDY_ID,
            tags::ACCESSION_NUMBER,
        ] {
            assert_eq!(text_of(&sr, tag), text_of(&src, tag), "{tag}");
        }
        // Type 2 attributes the source lacks are present and empty.
        assert_eq!(
            sr.get(tags::PATIENT_BIRTH_DATE)
                .unwrap()
                .value()
                .multiplicity(),
            0
        );
        assert_eq!(
            sr.get(tags::REFERRING_PHYSICIAN_NAME)
                .unwrap()
                .value()
                .multiplicity(),
            0
        );
        assert_ne!(
            text_of(&sr, tags::SERIES_INSTANCE_UID),
            text_of(&src, tags::SERIES_INSTANCE_UID)
        );
        assert_eq!(text_of(&sr, tags::MODALITY).unwrap(), "SR");
    }

    #[test]
    fn uids_are_deterministic_and_depend_on_the_models() {
        let a = analysis();
        let one = build_sr(&source(), &a, &options()).unwrap();
        let two = build_sr(&source(), &a, &options()).unwrap();
        let bytes = |f: &FileDicomObject<InMemDicomObject>| {
            let mut v = Vec::new();
            f.write_all(&mut v).unwrap();
            v
        };
        assert_eq!(bytes(&one), bytes(&two));
        let mut b = a.clone();
        b.models.subluxation.sha256 = "cd".repeat(32);
        let three = build_sr(&source(), &b, &options()).unwrap();
        assert_ne!(
            text_of(&one, tags::SOP_INSTANCE_UID),
            text_of(&three, tags::SOP_INSTANCE_UID)
        );
        // The same model file with another calibration (issue 17) is another result.
        let mut c = a.clone();
        c.models.ankylosis.temperature = 1.5;
        let four = build_sr(&source(), &c, &options()).unwrap();
        assert_ne!(
            text_of(&one, tags::SOP_INSTANCE_UID),
            text_of(&four, tags::SOP_INSTANCE_UID)
        );
        assert_ne!(
            text_of(&one, tags::SERIES_INSTANCE_UID),
            text_of(&three, tags::SERIES_INSTANCE_UID)
        );
        assert_eq!(
            one.meta().media_storage_sop_instance_uid(),
            text_of(&one, tags::SOP_INSTANCE_UID).unwrap()
        );
        assert_eq!(
            one.meta().transfer_syntax().trim_end_matches('\0'),
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        );
    }

    #[test]
    fn source_without_required_uids_is_rejected() {
        for (tag, alias) in [
            (tags::STUDY_INSTANCE_UID, "StudyInstanceUID"),
            (tags::SOP_INSTANCE_UID, "SOPInstanceUID"),
            (tags::SOP_CLASS_UID, "SOPClassUID"),
            (tags::SERIES_INSTANCE_UID, "SeriesInstanceUID"),
        ] {
            let mut src = source();
            src.remove_element(tag);
            match build_sr(&src, &analysis(), &options()) {
                Err(Error::MissingSourceAttribute { alias: got }) => assert_eq!(got, alias),
                other => panic!("{alias}: {other:?}"),
            }
        }
    }

    #[test]
    fn analysis_of_another_image_is_rejected() {
        let mut a = analysis();
        a.source.sop_instance_uid = Some("1.2.3".to_string());
        assert!(matches!(
            build_sr(&source(), &a, &options()),
            Err(Error::SourceMismatch { .. })
        ));
        let mut a = analysis();
        a.source.rows = 100;
        assert!(matches!(
            build_sr(&source(), &a, &options()),
            Err(Error::SourceMismatch { .. })
        ));
    }

    #[test]
    fn unencodable_numbers_are_rejected() {
        let mut a = analysis();
        a.joints[0].bbox.x1 = f32::NAN;
        assert!(matches!(
            build_sr(&source(), &a, &options()),
            Err(Error::ImproperBox { index: 0, .. })
        ));
        let mut a = analysis();
        a.joints[2].subluxation = Some(label(true, 1.5));
        assert!(matches!(
            build_sr(&source(), &a, &options()),
            Err(Error::InvalidProbability { index: 2, .. })
        ));
    }

    #[test]
    fn private_scheme_is_declared() {
        let sr = build_sr(&source(), &analysis(), &options()).unwrap();
        let schemes = items(&sr, tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE);
        assert_eq!(
            text_of(&schemes[0], tags::CODING_SCHEME_DESIGNATOR).unwrap(),
            "99RAJ"
        );
    }

    #[test]
    fn non_ascii_names_switch_to_utf8() {
        let mut src = source();
        put_str(&mut src, tags::PATIENT_NAME, VR::PN, "Müller^Jörg");
        let sr = build_sr(&src, &analysis(), &options()).unwrap();
        assert_eq!(
            text_of(&sr, tags::SPECIFIC_CHARACTER_SET).unwrap(),
            "ISO_IR 192"
        );
        let plain = build_sr(&source(), &analysis(), &options()).unwrap();
        assert!(plain.get(tags::SPECIFIC_CHARACTER_SET).is_none());
    }

    #[test]
    fn timestamps_format_as_da_and_tm() {
        let t = Timestamp::new(2024, 2, 29, 13, 5, 9).unwrap();
        assert_eq!(
            (t.date(), t.time()),
            ("20240229".to_string(), "130509".to_string())
        );
        assert!(Timestamp::new(2023, 2, 29, 0, 0, 0).is_none());
        assert!(Timestamp::new(2024, 13, 1, 0, 0, 0).is_none());
        assert!(Timestamp::new(2024, 1, 1, 24, 0, 0).is_none());
        let epoch = Timestamp::from_system_time(UNIX_EPOCH);
        assert_eq!(epoch.date(), "19700101");
        // 2000-03-01T12:34:56Z = 951914096 s after the epoch.
        let t =
            Timestamp::from_system_time(UNIX_EPOCH + std::time::Duration::from_secs(951_914_096));
        assert_eq!(
            (t.date(), t.time()),
            ("20000301".to_string(), "123456".to_string())
        );
        assert_eq!(t.rfc3339(), "2000-03-01T12:34:56Z");
    }

    #[test]
    fn a_verified_report_names_its_reviewer_and_predecessor_and_has_no_probabilities() {
        let ai = build_sr(&source(), &analysis(), &options()).unwrap();
        let mut o = options();
        o.verification = Some(Verification {
            observer_name: "Doe^Jane".into(),
            organization: "Hospital".into(),
            time: Timestamp::new(2024, 3, 1, 8, 0, 0).unwrap(),
            predecessor: Some(SopReference {
                study_instance_uid: "1.2.3".into(),
                series_instance_uid: "1.2.3.4".into(),
                sop_class_uid: SR_SOP_CLASS.into(),
                sop_instance_uid: "1.2.3.4.5".into(),
            }),
        });
        let sr = build_sr(&source(), &analysis(), &o).unwrap();
        assert_eq!(
            text_of(&sr, tags::VERIFICATION_FLAG).unwrap().trim(),
            "VERIFIED"
        );
        assert_eq!(
            text_of(&ai, tags::VERIFICATION_FLAG).unwrap().trim(),
            "UNVERIFIED"
        );
        let v = &items(&sr, tags::VERIFYING_OBSERVER_SEQUENCE)[0];
        assert_eq!(
            text_of(v, tags::VERIFYING_OBSERVER_NAME).unwrap().trim(),
            "Doe^Jane"
        );
        assert_eq!(
            text_of(v, tags::VERIFICATION_DATE_TIME).unwrap().trim(),
            "20240301080000"
        );
        let p = &items(&sr, tags::PREDECESSOR_DOCUMENTS_SEQUENCE)[0];
        let series = &items(p, tags::REFERENCED_SERIES_SEQUENCE)[0];
        let sop = &items(series, tags::REFERENCED_SOP_SEQUENCE)[0];
        assert_eq!(
            text_of(sop, tags::REFERENCED_SOP_INSTANCE_UID)
                .unwrap()
                .trim(),
            "1.2.3.4.5"
        );
        // A new instance in its own series; the person observer comes first.
        let uid = |d: &InMemDicomObject, t| text_of(d, t).unwrap().trim().to_string();
        assert_ne!(
            uid(&sr, tags::SOP_INSTANCE_UID),
            uid(&ai, tags::SOP_INSTANCE_UID)
        );
        assert_ne!(
            uid(&sr, tags::SERIES_INSTANCE_UID),
            uid(&ai, tags::SERIES_INSTANCE_UID)
        );
        // The same reviewer and second, other content: another instance, same series.
        let mut changed = analysis();
        changed.joints[0].ankylosis.present = !changed.joints[0].ankylosis.present;
        let other = build_sr(&source(), &changed, &o).unwrap();
        assert_ne!(
            uid(&other, tags::SOP_INSTANCE_UID),
            uid(&sr, tags::SOP_INSTANCE_UID)
        );
        assert_eq!(
            uid(&other, tags::SERIES_INSTANCE_UID),
            uid(&sr, tags::SERIES_INSTANCE_UID)
        );
        assert_eq!(child(&sr, "121005").len(), 2);
        assert_eq!(child(&sr, "121008").len(), 1);
        // Groups keep the findings (CODE) but no probability NUM and no algorithm name.
        for g in groups(&sr) {
            assert!(
                child(g, "111001").is_empty(),
                "algorithm name in a reviewed group"
            );
            assert!(
                child(g, "ANKY-P").is_empty(),
                "probability in a reviewed group"
            );
            assert_eq!(child(g, "111227009").len(), 1);
        }
        assert!(!child(groups(&ai)[0], "ANKY-P").is_empty());
    }

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(format_ds(0.1).unwrap(), "0.1");
        assert_eq!(format_ds(48.0).unwrap(), "48");
        for v in [0.1 + 0.2, 1.0 / 3.0, 123_456_789.123_456_79, 1e-300, -1e300] {
            let s = format_ds(v).unwrap();
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - v).abs() <= v.abs() * 1e-6, "{s} vs {v}");
        }
        assert!(format_ds(f64::NAN).is_none());
    }
}
