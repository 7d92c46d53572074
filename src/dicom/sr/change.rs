//! The comparison with the prior (issue 19) in the SR, and a prior SR read back.
//!
//! Written: a report-level "Change since prior" container (prior date, interval, the
//! patient's counts, the line in words, or why there was no comparison); in each hand
//! summary one CODE per joint whose finding changed or stayed (concept = the change,
//! value = the joint's local code), the hand's partial JSN and its "since <date>" line;
//! the prior SR and film in Pertinent Other Evidence Sequence.
//!
//! Read: the Finding Site local code (`R-PIP4`) and the Present/Absent evaluations of each
//! measurement group, the Assessable evaluation and the hands' Laterality, so that a
//! prior SR states what its JSON would.

use std::collections::BTreeMap;
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use snafu::ResultExt;

use super::{Contains, ContentItem, SopReference, Value, codes, optional_str};
use crate::change::{
    self, Change, Findings, HandChange, JointFindings, OpenPriorSrSnafu, Prior, PriorInfo,
};
use crate::labels;
use crate::pipeline::naming::JointId;

/// The report-level container of the comparison.
pub(super) fn film_item(c: &Change) -> ContentItem {
    let mut rows = Vec::new();
    if let Some(date) = &c.prior.study_date {
        rows.push(ContentItem::new(
            Contains,
            &codes::PRIOR_STUDY_DATE,
            Value::Date(date.replace('-', "")),
        ));
    }
    if let Some(reason) = &c.not_compared_reason {
        rows.push(ContentItem::text(
            Contains,
            &codes::NOT_COMPARED_REASON,
            reason,
        ));
    }
    if let Some(d) = c.interval_days.filter(|d| *d > 0) {
        // Not 0: OHIF-style readers show a 0 as an empty value.
        rows.extend(ContentItem::num(
            Contains,
            &codes::INTERVAL_SINCE_PRIOR,
            d as f64,
            &codes::DAYS,
        ));
    }
    if c.compared {
        rows.extend(counts(&c.patient));
    }
    rows.push(ContentItem::text(
        Contains,
        &codes::COMMENT,
        labels::change_line(c),
    ));
    ContentItem::container(Contains, &codes::CHANGE_SINCE_PRIOR, rows)
}

/// The NUM counts worth writing (not 0, as in the hand summary).
fn counts(n: &change::ChangeCounts) -> Vec<ContentItem> {
    [
        (&codes::JSN_PARTIAL_MIN, n.jsn_partial_min),
        (&codes::JSN_PARTIAL_MIN_PRIOR, n.jsn_partial_min_prior),
    ]
    .into_iter()
    .filter(|(_, v)| *v > 0)
    .filter_map(|(name, v)| ContentItem::num(Contains, name, f64::from(v), &codes::SCORE))
    .collect()
}

/// The rows a hand summary gains: a change evaluation per joint, the partial JSN now and
/// before, and the hand's "since <date>" line.
pub(super) fn hand_rows(c: &Change, side: &str) -> Vec<ContentItem> {
    let Some(h): Option<&HandChange> = c.hands.iter().find(|h| h.side == side) else {
        return Vec::new();
    };
    let mut rows: Vec<ContentItem> = c
        .joints
        .iter()
        .filter(|j| j.joint.side.letter().to_string() == side)
        .filter_map(|j| {
            let name = codes::change(j.finding, j.status)?;
            Some(ContentItem::code(Contains, name, codes::joint(j.joint)?))
        })
        .collect();
    rows.extend(counts(&h.counts));
    rows.push(ContentItem::text(
        Contains,
        &codes::COMMENT,
        labels::hand_change_line(c, h),
    ));
    rows
}

/// Pertinent Other Evidence Sequence (PS3.3 C.17.2): the prior film and the prior SR,
/// each as study > series > instance; empty when neither is fully known. `current` (this
/// report's own source) is left out: it is in Current Requested Procedure Evidence already,
/// and an instance listed twice is an error to DCMTK.
pub(super) fn prior_evidence(c: &Change, current: &str) -> Vec<InMemDicomObject> {
    [&c.prior.film, &c.prior.sr]
        .into_iter()
        .flatten()
        .filter(|r| r.sop_instance_uid != current)
        .map(SopReference::hierarchical_item)
        .collect()
}

// --- Reading a prior SR back -------------------------------------------------------------

fn items(obj: &InMemDicomObject, tag: dicom_core::Tag) -> &[InMemDicomObject] {
    obj.get(tag).and_then(|e| e.items()).unwrap_or(&[])
}

/// (value, scheme) of the first item of a code sequence.
fn code_in(item: &InMemDicomObject, tag: dicom_core::Tag) -> Option<(String, String)> {
    let c = items(item, tag).first()?;
    Some((
        optional_str(c, tags::CODE_VALUE)?,
        optional_str(c, tags::CODING_SCHEME_DESIGNATOR)?,
    ))
}

fn is(code: &Option<(String, String)>, want: &codes::Code) -> bool {
    code.as_ref()
        .is_some_and(|(v, s)| v == want.value && s == want.scheme)
}

fn name_of(item: &InMemDicomObject) -> Option<(String, String)> {
    code_in(item, tags::CONCEPT_NAME_CODE_SEQUENCE)
}

fn value_of(item: &InMemDicomObject) -> Option<(String, String)> {
    code_in(item, tags::CONCEPT_CODE_SEQUENCE)
}

/// The first referenced instance of a Hierarchical SOP Instance Reference sequence.
fn first_reference(ds: &InMemDicomObject, tag: dicom_core::Tag) -> Option<SopReference> {
    let study = items(ds, tag).first()?;
    let series = items(study, tags::REFERENCED_SERIES_SEQUENCE).first()?;
    let sop = items(series, tags::REFERENCED_SOP_SEQUENCE).first()?;
    Some(SopReference {
        study_instance_uid: optional_str(study, tags::STUDY_INSTANCE_UID)?,
        series_instance_uid: optional_str(series, tags::SERIES_INSTANCE_UID)?,
        sop_class_uid: optional_str(sop, tags::REFERENCED_SOP_CLASS_UID)?,
        sop_instance_uid: optional_str(sop, tags::REFERENCED_SOP_INSTANCE_UID)?,
    })
}

/// A joint's findings from its measurement group; `None` when the group names no joint
/// of ours (an unnamed joint, or another SR's group).
fn group_findings(group: &InMemDicomObject) -> Option<(JointId, JointFindings)> {
    let rows = items(group, tags::CONTENT_SEQUENCE);
    let site = rows
        .iter()
        .find(|r| is(&name_of(r), &codes::FINDING_SITE))
        .and_then(value_of)
        .filter(|(_, s)| s == codes::scheme::LOCAL)?;
    let id: JointId = site.0.parse().ok()?;
    let eval = |q: &codes::Code| {
        rows.iter()
            .find(|r| is(&name_of(r), q))
            .map(|r| is(&value_of(r), &codes::PRESENT))
    };
    Some((
        id,
        JointFindings {
            // A named group without its ankylosis evaluation is not one of ours.
            ankylosis: eval(&codes::ANKYLOSIS_OF_JOINT)?,
            subluxation: eval(&codes::SUBLUXATION_OF_JOINT),
        },
    ))
}

/// The findings a rajoints SR states.
pub(crate) fn findings_of(ds: &InMemDicomObject) -> Result<Findings, String> {
    let root = items(ds, tags::CONTENT_SEQUENCE);
    if !is(
        &code_in(ds, tags::CONCEPT_NAME_CODE_SEQUENCE),
        &codes::IMAGING_MEASUREMENT_REPORT,
    ) {
        return Err("its root is not an Imaging Measurement Report".into());
    }
    let evaluations = root
        .iter()
        .find(|r| is(&name_of(r), &codes::QUALITATIVE_EVALUATIONS))
        .ok_or("it has no Qualitative Evaluations")?;
    let evals = items(evaluations, tags::CONTENT_SEQUENCE);
    let assessable = evals
        .iter()
        .find(|r| is(&name_of(r), &codes::ASSESSABLE))
        .map(|r| is(&value_of(r), &codes::YES))
        .ok_or("it does not say whether the film was assessable")?;
    let mut f = Findings {
        assessable,
        ..Findings::default()
    };
    // Hands from the summary's Laterality (a hand may have no joint named).
    for hand in evals
        .iter()
        .filter(|r| is(&name_of(r), &codes::HAND_SUMMARY))
    {
        let side = items(hand, tags::CONTENT_SEQUENCE)
            .iter()
            .find(|r| is(&name_of(r), &codes::LATERALITY))
            .and_then(value_of);
        if is(&side, &codes::RIGHT) {
            f.sides.insert(crate::pipeline::naming::Side::Right);
        } else if is(&side, &codes::LEFT) {
            f.sides.insert(crate::pipeline::naming::Side::Left);
        }
    }
    let mut joints = BTreeMap::new();
    for container in root
        .iter()
        .filter(|r| is(&name_of(r), &codes::IMAGING_MEASUREMENTS))
    {
        for group in items(container, tags::CONTENT_SEQUENCE)
            .iter()
            .filter(|r| is(&name_of(r), &codes::MEASUREMENT_GROUP))
        {
            if let Some((id, jf)) = group_findings(group) {
                f.sides.insert(id.side);
                joints.insert(id, jf);
            }
        }
    }
    f.joints = joints;
    Ok(f)
}

/// Reads a prior from a rajoints SR file.
pub fn read_prior(path: &Path) -> Result<Prior, change::Error> {
    let file = dicom_object::open_file(path)
        .map_err(Box::new)
        .context(OpenPriorSrSnafu { path })?;
    let ds: &InMemDicomObject = &file;
    let findings = findings_of(ds).map_err(|what| change::Error::NotRajointsSr {
        path: path.to_path_buf(),
        what,
    })?;
    let film = first_reference(ds, tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE);
    Ok(Prior {
        findings,
        info: PriorInfo {
            file: path.display().to_string(),
            study_date: optional_str(ds, tags::STUDY_DATE).and_then(|d| change::iso_date(&d)),
            sr: SopReference::of(ds),
            film_sop_instance_uid: film.as_ref().map(|f| f.sop_instance_uid.clone()),
            film,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{analysis, source};
    use super::super::{SrOptions, Timestamp, build_sr, put_str};
    use super::*;
    use crate::change::{Status, compare};
    use dicom_core::VR;

    fn options() -> SrOptions {
        SrOptions::new(Timestamp::new(2026, 3, 2, 9, 0, 0).expect("time"))
    }

    fn all(obj: &InMemDicomObject) -> Vec<&InMemDicomObject> {
        let mut out = Vec::new();
        for i in items(obj, tags::CONTENT_SEQUENCE) {
            out.push(i);
            out.extend(all(i));
        }
        out
    }

    fn named<'a>(obj: &'a InMemDicomObject, c: &codes::Code) -> Vec<&'a InMemDicomObject> {
        all(obj)
            .into_iter()
            .filter(|i| is(&name_of(i), c))
            .collect()
    }

    fn text(i: &InMemDicomObject) -> String {
        optional_str(i, tags::TEXT_VALUE).unwrap_or_default()
    }

    #[test]
    fn an_sr_reads_back_as_the_findings_of_its_json() {
        let a = analysis();
        let sr = build_sr(&source(), &a, &options()).expect("sr");
        let f = findings_of(&sr).expect("findings");
        assert_eq!(f, Findings::of(&a));
        assert!(!f.joints.is_empty());
    }

    #[test]
    fn the_sr_states_the_change_and_references_the_prior() {
        // T0: the analysis as it is, stored as an SR with a study date.
        let t0 = analysis();
        let mut src0 = source();
        put_str(&mut src0, tags::STUDY_DATE, VR::DA, "20250302");
        let sr0 = build_sr(&src0, &t0, &options()).expect("sr0");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t0.sr.dcm");
        super::super::write_sr(&sr0, &path).expect("write");
        let prior = read_prior(&path).expect("prior");
        assert_eq!(prior.info.study_date.as_deref(), Some("2025-03-02"));
        assert_eq!(prior.info.sr, SopReference::of(&sr0));
        let film = prior.info.film.clone().expect("film reference");
        assert_eq!(film.sop_instance_uid, "1.2.826.0.1.3680043.8.498.1");

        // T1: the first named joint gains ankylosis.
        let mut t1 = analysis();
        let j = t1
            .joints
            .iter_mut()
            .find(|j| j.id.is_some() && !j.ankylosis.present)
            .expect("a named joint without ankylosis");
        j.ankylosis.present = true;
        j.ankylosis.probability = 0.9;
        let name = j.id.expect("named").to_string();
        t1.refresh_summary();
        let c = compare(&Findings::of(&t1), Some("20260302"), &prior);
        assert!(c.compared);
        assert_eq!(c.interval_days, Some(365));
        assert!(c.joints.iter().any(|x| x.status == Status::New));
        t1.change = Some(c);
        // Another film: the prior film is then not this report's own source.
        let mut src1 = source();
        put_str(&mut src1, tags::STUDY_DATE, VR::DA, "20260302");
        put_str(&mut src1, tags::SOP_INSTANCE_UID, VR::UI, "2.25.19001");
        t1.source.sop_instance_uid = Some("2.25.19001".into());
        let sr1 = build_sr(&src1, &t1, &options()).expect("sr1");

        let change = named(&sr1, &codes::CHANGE_SINCE_PRIOR);
        assert_eq!(change.len(), 1);
        let date = named(change[0], &codes::PRIOR_STUDY_DATE);
        assert_eq!(
            optional_str(date[0], tags::DATE).as_deref(),
            Some("20250302")
        );
        let new = named(&sr1, &codes::NEW_ANKYLOSIS);
        assert_eq!(new.len(), 1);
        assert_eq!(value_of(new[0]).map(|v| v.0), Some(name.clone()));
        let lines: Vec<String> = named(&sr1, &codes::COMMENT).into_iter().map(text).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("new ankylosis at {name} since 2025-03-02"))),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Right hand since 2025-03-02 (365 days): new ankylosis 1")),
            "{lines:#?}"
        );
        // Prior film and prior SR as pertinent other evidence.
        let evidence = items(&sr1, tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE);
        assert_eq!(evidence.len(), 2);
        assert_eq!(
            first_reference(&sr1, tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE),
            Some(film)
        );
        // Read back, the T1 SR states T1's findings (the change rows do not confuse it).
        assert_eq!(findings_of(&sr1).expect("findings"), Findings::of(&t1));
    }

    #[test]
    fn a_file_that_is_not_our_sr_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.dcm");
        std::fs::write(&path, b"not dicom").expect("write");
        assert!(read_prior(&path).is_err());
        let mut ds = source();
        put_str(&mut ds, tags::STUDY_DATE, VR::DA, "20250302");
        assert!(findings_of(&ds).is_err());
    }
}
