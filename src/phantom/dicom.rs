//! The phantom as a DICOM CR image (PS3.3 A.2, Computed Radiography Image IOD).
//!
//! Identifiers are derived from the dataset seed and the patient and image indices, so the
//! same arguments give the same files, and different seeds give different UIDs.

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use sha2::{Digest, Sha256};
use snafu::ResultExt;

use super::patient::Patient;
use super::{Error, WriteDicomSnafu};
use crate::pipeline::naming::Side;

/// Patient Orientation (0020,0020) of two-hand films hung for reading (the right hand on
/// the image left, fingers up, each hand seen from its palm side). PS3.17 Annex A labels
/// a hand's directions in the anatomical position, whatever its posture: the thumb side
/// of the right hand is "R", of the left hand "L", the wrist "H", the fingertips "F". Rows
/// here run towards the right hand's thumb ("R") and columns from the fingertips to the
/// wrist ("H").
pub const PATIENT_ORIENTATION: &str = "R\\H";

/// Patient Orientation of films seen from the dorsum, fingers up (one-hand films and
/// two-hand films as acquired): rows run from the right hand's thumb away from it, i.e.
/// towards the thumb side of a left hand ("L"); columns to the wrist ("H").
pub const PATIENT_ORIENTATION_DORSAL: &str = "L\\H";

/// A UID under the 2.25 root (ITU-T X.667: the decimal form of a UUID). The 128 bits come
/// from SHA-256 of the seed and the path, with the version (8, custom) and variant bits of
/// RFC 9562 set, so the value is a well-formed UUID.
pub fn uid(seed: u64, kind: &str, path: &[u64]) -> String {
    let mut h = Sha256::new();
    h.update(b"rajoints-phantom/uid/");
    h.update(kind.as_bytes());
    h.update(seed.to_le_bytes());
    for p in path {
        h.update(p.to_le_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0F) | 0x80;
    b[8] = (b[8] & 0x3F) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(b))
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's civil_from_days).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn da(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}{m:02}{d:02}")
}

/// Study date (DA) of time point `tp`.
pub fn study_date(p: &Patient, tp: usize) -> String {
    da(p.study_days[tp.min(1)])
}

/// What the DICOM file says about one phantom image.
pub struct Identity<'a> {
    pub seed: u64,
    pub patient: &'a Patient,
    pub timepoint: usize,
    pub patient_id: String,
    pub sop_instance_uid: String,
    /// Pixel Spacing and Imager Pixel Spacing; `None` writes neither.
    pub spacing: Option<f64>,
    pub kvp: f64,
    pub monochrome1: bool,
    pub burned_in_label: bool,
    /// 10, or 8 for digitised films.
    pub bits_stored: u16,
    /// The hand of a one-hand film; `None` for both hands.
    pub side: Option<Side>,
    pub patient_orientation: &'static str,
}

/// Patient ID of patient `index` (0-based).
pub fn patient_id(index: usize) -> String {
    format!("PHANTOM-{:04}", index + 1)
}

/// SOP Instance UID of image (patient, time point).
pub fn sop_instance_uid(seed: u64, patient: usize, tp: usize) -> String {
    uid(seed, "sop", &[patient as u64, tp as u64])
}

fn put_str(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

fn put_u16(o: &mut InMemDicomObject, tag: Tag, v: u16) {
    o.put(DataElement::new(tag, VR::US, dicom_value!(U16, [v])));
}

/// A decimal string of at most 16 characters (DS).
fn ds(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Builds the data set of one image; `stored` holds Rows x Columns stored values.
pub fn dataset(id: &Identity, columns: u16, rows: u16, stored: Vec<u16>) -> InMemDicomObject {
    let p = id.patient;
    let tp = id.timepoint;
    let mut o = InMemDicomObject::new_empty();
    let date = study_date(p, tp);
    let secs = p.study_secs[tp.min(1)];
    let time = format!("{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let study_uid = uid(id.seed, "study", &[p.index as u64, tp as u64]);
    let series_uid = uid(id.seed, "series", &[p.index as u64, tp as u64]);
    // SOP Common (C.12.1).
    put_str(
        &mut o,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    );
    put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, &id.sop_instance_uid);
    // Patient (C.7.1.1).
    put_str(
        &mut o,
        tags::PATIENT_NAME,
        VR::PN,
        &format!("PHANTOM^{:04}", p.index + 1),
    );
    put_str(&mut o, tags::PATIENT_ID, VR::LO, &id.patient_id);
    put_str(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, &da(p.birth_days));
    put_str(
        &mut o,
        tags::PATIENT_SEX,
        VR::CS,
        if p.female { "F" } else { "M" },
    );
    // General Study (C.7.2.1) and Patient Study (C.7.2.2).
    put_str(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, &study_uid);
    put_str(&mut o, tags::STUDY_DATE, VR::DA, &date);
    put_str(&mut o, tags::STUDY_TIME, VR::TM, &time);
    put_str(&mut o, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "");
    put_str(&mut o, tags::STUDY_ID, VR::SH, &format!("{}", tp + 1));
    put_str(
        &mut o,
        tags::ACCESSION_NUMBER,
        VR::SH,
        &format!("PH{:06}{}", p.index + 1, tp),
    );
    let (study, series) = match id.side {
        None => ("BOTH HANDS PA", "HANDS PA"),
        Some(Side::Right) => ("RIGHT HAND PA", "RIGHT HAND PA"),
        Some(Side::Left) => ("LEFT HAND PA", "LEFT HAND PA"),
    };
    put_str(&mut o, tags::STUDY_DESCRIPTION, VR::LO, study);
    let age = (p.study_days[tp.min(1)] - p.birth_days) / 365;
    put_str(
        &mut o,
        tags::PATIENT_AGE,
        VR::AS,
        &format!("{:03}Y", age.clamp(0, 999)),
    );
    // General Series (C.7.3.1) and CR Series (C.8.1.1).
    put_str(&mut o, tags::MODALITY, VR::CS, "CR");
    put_str(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, &series_uid);
    put_str(&mut o, tags::SERIES_NUMBER, VR::IS, "1");
    put_str(&mut o, tags::SERIES_DATE, VR::DA, &date);
    put_str(&mut o, tags::SERIES_TIME, VR::TM, &time);
    put_str(&mut o, tags::SERIES_DESCRIPTION, VR::LO, series);
    put_str(&mut o, tags::BODY_PART_EXAMINED, VR::CS, "HAND");
    // A paired body part needs Laterality (0020,0060) unless Image Laterality is present;
    // Laterality only knows R and L, Image Laterality also B for both (PS3.3 C.7.3.1,
    // C.7.6.1). A file carries one of them: dciodvfy rejects both.
    match id.side {
        None => put_str(&mut o, tags::IMAGE_LATERALITY, VR::CS, "B"),
        Some(Side::Right) => put_str(&mut o, tags::LATERALITY, VR::CS, "R"),
        Some(Side::Left) => put_str(&mut o, tags::LATERALITY, VR::CS, "L"),
    }
    put_str(&mut o, tags::VIEW_POSITION, VR::CS, "PA");
    // General Equipment (C.7.5.1).
    put_str(&mut o, tags::MANUFACTURER, VR::LO, "rajoints");
    put_str(
        &mut o,
        tags::MANUFACTURER_MODEL_NAME,
        VR::LO,
        "rajoints phantom",
    );
    put_str(
        &mut o,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        env!("CARGO_PKG_VERSION"),
    );
    // General Image (C.7.6.1) and CR Image (C.8.1.2).
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_str(
        &mut o,
        tags::PATIENT_ORIENTATION,
        VR::CS,
        id.patient_orientation,
    );
    put_str(&mut o, tags::CONTENT_DATE, VR::DA, &date);
    put_str(&mut o, tags::CONTENT_TIME, VR::TM, &time);
    put_str(
        &mut o,
        tags::BURNED_IN_ANNOTATION,
        VR::CS,
        if id.burned_in_label { "YES" } else { "NO" },
    );
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(&mut o, tags::KVP, VR::DS, &ds(id.kvp));
    if let Some(sp) = id.spacing {
        let sp = ds(sp);
        put_str(
            &mut o,
            tags::IMAGER_PIXEL_SPACING,
            VR::DS,
            &format!("{sp}\\{sp}"),
        );
        put_str(&mut o, tags::PIXEL_SPACING, VR::DS, &format!("{sp}\\{sp}"));
    }
    // Image Pixel (C.7.6.3).
    put_u16(&mut o, tags::SAMPLES_PER_PIXEL, 1);
    put_str(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        if id.monochrome1 {
            "MONOCHROME1"
        } else {
            "MONOCHROME2"
        },
    );
    put_u16(&mut o, tags::ROWS, rows);
    put_u16(&mut o, tags::COLUMNS, columns);
    put_u16(&mut o, tags::BITS_ALLOCATED, 16);
    put_u16(&mut o, tags::BITS_STORED, id.bits_stored);
    put_u16(&mut o, tags::HIGH_BIT, id.bits_stored - 1);
    put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
    // VOI LUT (C.11.2): the stored values are already for presentation.
    let levels = 1u32 << id.bits_stored;
    put_str(
        &mut o,
        tags::WINDOW_CENTER,
        VR::DS,
        &(levels / 2).to_string(),
    );
    put_str(&mut o, tags::WINDOW_WIDTH, VR::DS, &levels.to_string());
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(stored.into()),
    ));
    o
}

/// Writes the data set as a Part 10 file in Explicit VR Little Endian.
pub fn write(path: &Path, o: InMemDicomObject) -> Result<(), Error> {
    let file = o
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        .context(WriteDicomSnafu { path })?;
    file.write_to_file(path)
        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        .context(WriteDicomSnafu { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_valid_and_distinct() {
        let a = uid(1, "sop", &[0, 0]);
        let b = uid(1, "sop", &[0, 1]);
        let c = uid(2, "sop", &[0, 0]);
        assert!(a != b && a != c);
        for u in [&a, &b, &c] {
            assert!(u.len() <= 64 && u.starts_with("2.25."), "{u}");
            assert!(
                u[5..].chars().all(|c| c.is_ascii_digit()) && !u[5..].starts_with('0'),
                "{u}"
            );
        }
        assert_eq!(a, uid(1, "sop", &[0, 0]));
    }

    #[test]
    fn civil_dates_follow_the_calendar() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(16436), (2015, 1, 1));
        assert_eq!(civil(16436 + 59), (2015, 3, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(11016), (2000, 2, 29));
    }

    #[test]
    fn decimal_strings_fit_ds() {
        assert_eq!(ds(0.15), "0.15");
        assert_eq!(ds(0.1234567), "0.123457");
        assert_eq!(ds(55.0), "55");
    }
}
