//! The node's own index of earlier results (issue 19), in `<data>/priors/`: one folder per
//! patient, named by a hash of the Patient ID, one JSON file per analysed film, named by
//! its spool key (itself a hash of the SOP Instance UID). No name or ID of a patient is in
//! a file name, and none is logged; the files hold the analysis, its study date and the
//! references of the film and its SR, as the result JSON does.
//!
//! Written after the film's results are queued, through a temporary file and a rename, so
//! a crash leaves the old entry or the new one; analysing a film again replaces its entry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu};

use crate::analysis::Analysis;
use crate::batch::pacs::{self, Pacs};
use crate::change::{self, Findings, Prior, PriorInfo};
use crate::dicom::sr::{self, SopReference};
use dicom_dictionary_std::uids;
use snafu::Report;
use tracing::{info, warn};

#[derive(Debug, Snafu)]
pub enum Error {
    #[snafu(display("could not write the prior index entry {}", path.display()))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not encode the prior index entry"))]
    Encode { source: serde_json::Error },
}

/// The patient's key: the first 64 bits of SHA-256 over "patient", NUL, the Patient ID,
/// as the review worklist's `patient_key`.
pub fn patient_key(patient_id: &str) -> String {
    crate::model::manifest::sha256_hex(format!("patient\0{patient_id}").as_bytes())[..16]
        .to_string()
}

/// One film's result in the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// `YYYY-MM-DD`; an entry without one can never be "earlier" and is not used.
    pub study_date: Option<String>,
    pub film: Option<SopReference>,
    pub sr: Option<SopReference>,
    pub analysis: Analysis,
}

/// The index in one data folder.
#[derive(Debug, Clone)]
pub struct PriorIndex {
    dir: PathBuf,
}

impl PriorIndex {
    pub fn new(data_dir: &Path) -> PriorIndex {
        PriorIndex {
            dir: data_dir.join("priors"),
        }
    }

    /// Records (or replaces) the entry of the film `key` of a patient.
    pub fn record(&self, patient_id: &str, key: &str, entry: &Entry) -> Result<(), Error> {
        let dir = self.dir.join(patient_key(patient_id));
        std::fs::create_dir_all(&dir).context(WriteSnafu { path: &dir })?;
        let path = dir.join(format!("{key}.json"));
        let bytes = serde_json::to_vec(entry).context(EncodeSnafu)?;
        let tmp = dir.join(format!("{key}.json.part"));
        std::fs::write(&tmp, &bytes).context(WriteSnafu { path: &tmp })?;
        // Durable before it is in place: an entry is only ever whole or absent.
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .context(WriteSnafu { path: &tmp })?;
        std::fs::rename(&tmp, &path).context(WriteSnafu { path: &path })
    }

    /// The patient's most recent result before `study_date` that is a prior for `now`
    /// (assessable, a hand in common), other than the film `key` itself. Unreadable
    /// entries are skipped: the index is a cache of what the archive also holds.
    pub fn lookup(
        &self,
        patient_id: &str,
        key: &str,
        study_date: &str,
        now: &Findings,
    ) -> Option<Prior> {
        let dir = self.dir.join(patient_key(patient_id));
        let mut best: Option<(String, Entry)> = None;
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            if stem == key {
                continue;
            }
            let Some(entry) = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            else {
                continue;
            };
            let Some(date) = entry.study_date.clone() else {
                continue;
            };
            let usable =
                date.as_str() < study_date && Findings::of(&entry.analysis).can_be_prior_of(now);
            if usable && best.as_ref().is_none_or(|(d, _)| date > *d) {
                best = Some((date, entry));
            }
        }
        let (_, entry) = best?;
        Some(Prior {
            findings: Findings::of(&entry.analysis),
            info: PriorInfo {
                file: "node prior index".to_string(),
                study_date: entry.study_date,
                film_sop_instance_uid: entry.analysis.source.sop_instance_uid.clone(),
                sr: entry.sr,
                film: entry.film,
            },
        })
    }
}

/// The archive asked for a prior when the index has none (`node.prior_archive`).
#[derive(Debug, Clone)]
pub struct Archive {
    pub pacs: Pacs,
    pub opts: pacs::Options,
    /// Where retrieved SRs are read, then removed.
    pub dir: PathBuf,
}

/// The SOP classes the node uses as SCU towards `node.prior_archive` (the conformance
/// statement's scu-prior-sop-classes table; conformance/check compares them).
pub const PRIOR_SOP_CLASSES: [&str; 2] = [
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
];

/// At most this many of the patient's archived SRs are retrieved, most recent first,
/// looking for one that is a prior (earlier, assessable, a hand in common).
const MAX_RETRIEVED: usize = 5;

impl Archive {
    /// The archive of `node.prior_archive`, queried as `node.ae_title`; None when empty.
    pub fn of(cfg: &crate::config::Config, index: &PriorIndex) -> Option<Archive> {
        let text = cfg.node.prior_archive.trim();
        if text.is_empty() {
            return None;
        }
        Some(Archive {
            pacs: text.parse().ok()?,
            opts: pacs::Options {
                calling_ae: cfg.node.ae_title.clone(),
                timeout: Duration::from_secs(cfg.node.sender.timeout_s.max(1)),
            },
            dir: index.dir.join(".archive"),
        })
    }

    /// The patient's most recent rajoints SR in the archive that is a prior for `now`
    /// (Study Date before `study_date`, `YYYY-MM-DD`). Err: the archive could not be
    /// asked, or none of the SRs it listed could be retrieved.
    pub fn lookup(
        &self,
        patient_id: &str,
        key: &str,
        study_date: &str,
        now: &Findings,
    ) -> Result<Option<Prior>, String> {
        let query = pacs::SrQuery {
            patient_id: patient_id.to_string(),
            to: Some(study_date.replace('-', "")),
            series_description: sr::DEFAULT_SR_SERIES_DESCRIPTION.to_string(),
            series_number: Some(sr::DEFAULT_SR_SERIES_NUMBER),
            sop_class_uid: sr::SR_SOP_CLASS.to_string(),
        };
        let found = pacs::find_srs(&self.pacs, &self.opts, &query).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let patient = patient_key(patient_id);
        let mut failure = None;
        for (n, m) in found.iter().take(MAX_RETRIEVED).enumerate() {
            let path = self.dir.join(format!("{key}.{n}.sr.dcm"));
            let got = pacs::get(&self.pacs, &self.opts, &[&m.instance], |_| path.clone())
                .map_err(|e| e.to_string())?;
            let read = match got.into_iter().next() {
                Some(Ok(p)) => sr::read_prior(&p).map_err(|e| Report::from_error(e).to_string()),
                Some(Err(e)) => Err(e),
                None => Err("nothing retrieved".to_string()),
            };
            let _ = std::fs::remove_file(&path);
            match read {
                Ok(mut prior) => {
                    let usable = prior
                        .info
                        .study_date
                        .as_deref()
                        .is_some_and(|d| d < study_date)
                        && prior.findings.can_be_prior_of(now);
                    if usable {
                        prior.info.file = format!("archive {}", self.pacs);
                        info!(patient = %patient, archive = %self.pacs, "prior from the archive");
                        return Ok(Some(prior));
                    }
                    info!(patient = %patient, archive = %self.pacs, "an archived SR is not a prior (not earlier, not assessable, or of another hand)");
                }
                Err(e) => {
                    warn!(patient = %patient, archive = %self.pacs, error = %e, "an archived SR could not be used as a prior");
                    failure = Some(e);
                }
            }
        }
        match failure {
            Some(e) => Err(format!("could not retrieve the patient's SR: {e}")),
            None => Ok(None),
        }
    }
}

/// "No earlier result" (the index's words).
pub const NO_EARLIER_RESULT: &str = "no earlier result of this patient, of this hand";

/// The comparison of a film with the patient's prior: from the index, else from the
/// archive when there is one. Never fails: a prior that cannot be had is a reason.
pub fn compare_with_priors(
    index: &PriorIndex,
    archive: Option<&Archive>,
    patient_id: &str,
    key: &str,
    analysis: &Analysis,
) -> change::Change {
    let c = compare_with_index(index, patient_id, key, analysis);
    let (Some(archive), Some(date)) = (archive, analysis.study_date.as_deref()) else {
        return c;
    };
    if c.not_compared_reason.as_deref() != Some(NO_EARLIER_RESULT) {
        return c;
    }
    let now = Findings::of(analysis);
    let none = |why: String| change::Change {
        study_date: analysis.study_date.clone(),
        not_compared_reason: Some(why),
        ..change::Change::default()
    };
    if now.sides.is_empty() {
        return c;
    }
    match archive.lookup(patient_id, key, date, &now) {
        Ok(Some(prior)) => change::compare(&now, Some(date), &prior),
        Ok(None) => none(format!(
            "{NO_EARLIER_RESULT} (in the node's index or the archive {})",
            archive.pacs.ae_title
        )),
        Err(e) => {
            warn!(patient = %patient_key(patient_id), archive = %archive.pacs, error = %e, "no prior from the archive");
            none(format!(
                "the archive {} could not be asked for an earlier result: {e}",
                archive.pacs
            ))
        }
    }
}

/// The comparison of a film with the patient's prior from the index; "no earlier result"
/// when there is none.
pub fn compare_with_index(
    index: &PriorIndex,
    patient_id: &str,
    key: &str,
    analysis: &Analysis,
) -> change::Change {
    let now = Findings::of(analysis);
    let date = analysis.study_date.as_deref().unwrap_or("");
    match index.lookup(patient_id, key, date, &now) {
        Some(prior) => change::compare(&now, analysis.study_date.as_deref(), &prior),
        None => change::Change {
            study_date: analysis.study_date.clone(),
            not_compared_reason: Some(if date.is_empty() {
                "the film has no study date".to_string()
            } else {
                NO_EARLIER_RESULT.to_string()
            }),
            ..change::Change::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::sr::tests::analysis;

    fn entry(date: &str, a: Analysis) -> Entry {
        Entry {
            study_date: Some(date.to_string()),
            film: None,
            sr: None,
            analysis: a,
        }
    }

    #[test]
    fn the_most_recent_earlier_same_hand_result_is_the_prior() {
        let tmp = tempfile::tempdir().unwrap();
        let index = PriorIndex::new(tmp.path());
        let a = analysis(); // right hand
        let mut left = analysis();
        left.joints.retain(|j| j.id.is_none());
        left.joints.push(crate::analysis::Joint {
            id: "L-MCP2".parse().ok(),
            ..a.joints[0].clone()
        });
        left.refresh_summary();
        let mut refused = analysis();
        refused.assessment.assessable = false;
        refused.refresh_summary();
        index
            .record("P1", "old", &entry("2020-01-01", a.clone()))
            .unwrap();
        index
            .record("P1", "mid", &entry("2021-01-01", a.clone()))
            .unwrap();
        index
            .record("P1", "other-hand", &entry("2022-01-01", left))
            .unwrap();
        index
            .record("P1", "refused", &entry("2022-06-01", refused))
            .unwrap();
        index
            .record("P1", "later", &entry("2025-01-01", a.clone()))
            .unwrap();
        index
            .record("P2", "someone-else", &entry("2023-01-01", a.clone()))
            .unwrap();
        // Re-recording replaces: still one file per film.
        index
            .record("P1", "mid", &entry("2021-01-01", a.clone()))
            .unwrap();

        let mut now = analysis();
        now.study_date = Some("2024-01-01".into());
        let c = compare_with_index(&index, "P1", "now", &now);
        assert!(c.compared, "{c:?}");
        assert_eq!(c.prior.study_date.as_deref(), Some("2021-01-01"));
        assert_eq!(c.prior.file, "node prior index");

        let c = compare_with_index(&index, "P3", "now", &now);
        assert!(!c.compared);
        assert_eq!(
            c.not_compared_reason.as_deref(),
            Some("no earlier result of this patient, of this hand")
        );
        // A film is never its own prior; only earlier films are.
        now.study_date = Some("2020-06-01".into());
        assert!(compare_with_index(&index, "P1", "now", &now).compared);
        assert!(!compare_with_index(&index, "P1", "old", &now).compared);
        now.study_date = Some("2020-01-01".into());
        assert!(!compare_with_index(&index, "P1", "now", &now).compared);

        // No patient data in the index's names.
        for e in walk(&tmp.path().join("priors")) {
            let s = e.to_string_lossy();
            assert!(!s.contains("P1") && !s.contains("P2"), "{s}");
        }
        assert_eq!(walk(&tmp.path().join("priors")).len(), 6 + 2);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
        out
    }

    #[test]
    fn the_archive_is_asked_only_without_an_index_prior_and_its_failure_is_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let index = PriorIndex::new(tmp.path());
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let archive = Archive {
            pacs: format!("PACS@127.0.0.1:{port}").parse().unwrap(),
            opts: pacs::Options {
                calling_ae: "RAJOINTS".into(),
                timeout: Duration::from_secs(2),
            },
            dir: tmp.path().join("priors/.archive"),
        };
        let mut now = analysis();
        now.study_date = Some("2024-01-01".into());
        let c = compare_with_priors(&index, Some(&archive), "P1", "now", &now);
        assert!(!c.compared);
        let why = c.not_compared_reason.unwrap();
        assert!(
            why.starts_with(&format!(
                "the archive PACS@127.0.0.1:{port} could not be asked for an earlier result"
            )),
            "{why}"
        );
        assert!(!why.contains("P1"), "{why}");
        // An index prior: the archive is not asked.
        index
            .record("P1", "old", &entry("2020-01-01", analysis()))
            .unwrap();
        let c = compare_with_priors(&index, Some(&archive), "P1", "now", &now);
        assert!(c.compared, "{c:?}");
        assert_eq!(c.prior.file, "node prior index");
        // No study date: nothing to ask for.
        now.study_date = None;
        let c = compare_with_priors(&index, Some(&archive), "P2", "now", &now);
        assert_eq!(
            c.not_compared_reason.as_deref(),
            Some("the film has no study date")
        );
    }
}
