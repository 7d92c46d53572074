//! Films kept for review in the browser, and each annotator's work on them.
//!
//! ```text
//! DATA/review/<id>/image.dcm                 the received instance (hard link of the inbox file)
//! DATA/review/<id>/film.json                 what the worklist shows and a sign-off needs
//! DATA/review/<id>/analysis.json             the AI result (the `rajoints analyze` JSON)
//! DATA/review/<id>/annotations/<user>.json   one annotator's work, rajoints-annotations/1
//! ```
//!
//! `<id>` is the spool key (a hash of the SOP Instance UID), so URLs and file names carry
//! no identifier of the patient. Every file is written as the spool writes (temporary
//! file, fsync, rename, fsync of the folder): a saved annotation survives a crash.

pub mod annotation;
pub mod signoff;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use snafu::{OptionExt, ResultExt, Snafu, ensure};

use crate::analysis::Analysis;
use crate::annotations::{AnnotatedImage, Annotations};
use crate::dicom::sr::SopReference;
use crate::spool;

pub use annotation::{Edit, ReviewStatus};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("review store I/O on {}", path.display()))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not write to the review store"))]
    Write { source: spool::Error },
    #[snafu(display("{} is not valid JSON of the review store", path.display()))]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[snafu(display("no film {id}"))]
    NoFilm { id: String },
    #[snafu(display("`{name}` is not a user name (1-32 of a-z, 0-9, '.', '_', '-')"))]
    BadUserName { name: String },
    #[snafu(display("{problem}"))]
    BadAnnotation { problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the AI made of a film, for the worklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiStatus {
    Analysed,
    NotAssessable,
}

/// `film.json`: the worklist entry of one film. Holds no patient name or ID: the patient
/// is a one-way key, enough to keep one patient's films in one cross-validation fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilmRecord {
    pub id: String,
    /// When the node received it, RFC 3339 UTC.
    pub received: String,
    /// Study Date as YYYY-MM-DD.
    pub study_date: Option<String>,
    pub study_description: Option<String>,
    pub modality: Option<String>,
    pub width: u32,
    pub height: u32,
    /// (row, column) spacing in mm, when the file has one.
    pub pixel_spacing_mm: Option<(f64, f64)>,
    pub ai_status: AiStatus,
    /// The quality gate's reason code when not assessable.
    pub ai_reason: Option<String>,
    pub joints: usize,
    /// Joints with a finding present.
    pub findings: usize,
    /// The node's SR of this film (the predecessor of a reviewed one); None when the
    /// node made no SR.
    pub ai_sr: Option<SopReference>,
    /// First 16 hex digits of sha256("patient", Patient ID): groups a patient's films.
    pub patient_key: String,
}

/// One annotator's entry of a film, as the worklist shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotationSummary {
    pub annotator: String,
    pub status: ReviewStatus,
    pub time: String,
}

/// A film with its annotations, for the worklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilmSummary {
    #[serde(flatten)]
    pub film: FilmRecord,
    pub annotations: Vec<AnnotationSummary>,
}

/// The review store in `DATA/review`, with an index of the worklist in memory.
#[derive(Debug)]
pub struct ReviewStore {
    root: PathBuf,
    index: Mutex<BTreeMap<String, FilmSummary>>,
}

/// User names become file names: keep them to a safe alphabet.
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !name.starts_with('.');
    ensure!(ok, BadUserNameSnafu { name });
    Ok(())
}

fn is_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read(path).context(IoSnafu { path })?;
    serde_json::from_slice(&text).context(JsonSnafu { path })
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(v).context(JsonSnafu { path })?;
    bytes.push(b'\n');
    spool::write_durably(path, &bytes, None).context(WriteSnafu)
}

impl ReviewStore {
    /// Opens (creating) `DATA/review` and indexes the films in it.
    pub fn open(data_dir: &Path) -> Result<ReviewStore> {
        let root = data_dir.join("review");
        spool::mkdir(&root).context(WriteSnafu)?;
        let store = ReviewStore {
            root,
            index: Mutex::new(BTreeMap::new()),
        };
        let mut index = BTreeMap::new();
        for entry in fs::read_dir(&store.root)
            .context(IoSnafu { path: &store.root })?
            .flatten()
        {
            let id = entry.file_name().to_string_lossy().to_string();
            if !is_id(&id) {
                continue;
            }
            // A film whose record is missing was being added when the node stopped;
            // it is added again when its inbox entry is analysed again.
            if let Ok(s) = store.summary(&id) {
                index.insert(id, s);
            }
        }
        *store.lock() = index;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FilmSummary>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, id: &str) -> Result<PathBuf> {
        ensure!(is_id(id), NoFilmSnafu { id });
        Ok(self.root.join(id))
    }

    /// The received instance of a film.
    pub fn image_path(&self, id: &str) -> Result<PathBuf> {
        let p = self.dir(id)?.join("image.dcm");
        ensure!(p.is_file(), NoFilmSnafu { id });
        Ok(p)
    }

    /// Keeps an analysed film for review: links (or copies) the instance, then writes the
    /// analysis and, last, the record that makes it visible.
    pub fn add(&self, instance: &Path, record: &FilmRecord, analysis: &Analysis) -> Result<()> {
        let dir = self.dir(&record.id)?;
        spool::mkdir(&dir).context(WriteSnafu)?;
        spool::mkdir(&dir.join("annotations")).context(WriteSnafu)?;
        let image = dir.join("image.dcm");
        let _ = fs::remove_file(&image);
        if fs::hard_link(instance, &image).is_err() {
            let bytes = fs::read(instance).context(IoSnafu { path: instance })?;
            spool::write_durably(&image, &bytes, None).context(WriteSnafu)?;
        }
        write_json(&dir.join("analysis.json"), analysis)?;
        write_json(&dir.join("film.json"), record)?;
        let summary = self.summary(&record.id)?;
        self.lock().insert(record.id.clone(), summary);
        Ok(())
    }

    fn summary(&self, id: &str) -> Result<FilmSummary> {
        let dir = self.dir(id)?;
        let film: FilmRecord = read_json(&dir.join("film.json"))?;
        let mut annotations = Vec::new();
        if let Ok(rd) = fs::read_dir(dir.join("annotations")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(user) = name.strip_suffix(".json") else {
                    continue;
                };
                if check_user_name(user).is_err() {
                    continue;
                }
                if let Ok(a) = self.annotation(id, user) {
                    annotations.push(AnnotationSummary {
                        annotator: user.to_string(),
                        status: annotation::status_of(&a),
                        time: a.time.clone().unwrap_or_default(),
                    });
                }
            }
        }
        annotations.sort_by(|a, b| a.annotator.cmp(&b.annotator));
        Ok(FilmSummary { film, annotations })
    }

    /// The film's record and annotations.
    pub fn film(&self, id: &str) -> Result<FilmSummary> {
        self.lock().get(id).cloned().context(NoFilmSnafu { id })
    }

    /// The AI's analysis of a film.
    pub fn analysis(&self, id: &str) -> Result<Analysis> {
        read_json(&self.dir(id)?.join("analysis.json"))
    }

    /// All films, newest received first.
    pub fn films(&self) -> Vec<FilmSummary> {
        let mut v: Vec<FilmSummary> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| {
            b.film
                .received
                .cmp(&a.film.received)
                .then(a.film.id.cmp(&b.film.id))
        });
        v
    }

    fn annotation_path(&self, id: &str, user: &str) -> Result<PathBuf> {
        check_user_name(user)?;
        Ok(self
            .dir(id)?
            .join("annotations")
            .join(format!("{user}.json")))
    }

    /// Removes the films received more than `max_age` ago that nobody annotated (their
    /// AI results went to the destinations long ago); annotated films stay, they are the
    /// site's training data. Returns how many were removed.
    pub fn prune(&self, max_age: std::time::Duration) -> usize {
        let cutoff = crate::dicom::sr::Timestamp::from_system_time(
            std::time::SystemTime::now()
                .checked_sub(max_age)
                .unwrap_or(std::time::UNIX_EPOCH),
        )
        .rfc3339();
        let old: Vec<String> = self
            .lock()
            .values()
            .filter(|f| f.annotations.is_empty() && f.film.received < cutoff)
            .map(|f| f.film.id.clone())
            .collect();
        let mut removed = 0;
        for id in old {
            let Ok(dir) = self.dir(&id) else { continue };
            // The record goes first: a crash half-way leaves a folder that is not listed.
            self.lock().remove(&id);
            if fs::remove_file(dir.join("film.json")).is_ok() {
                let _ = fs::remove_dir_all(&dir);
                removed += 1;
            }
        }
        removed
    }

    /// One annotator's saved work on a film (`NoFilm` when there is none).
    pub fn annotation(&self, id: &str, user: &str) -> Result<AnnotatedImage> {
        let path = self.annotation_path(id, user)?;
        ensure!(path.is_file(), NoFilmSnafu { id });
        let doc = Annotations::load(&path).map_err(|e| Error::BadAnnotation {
            problem: snafu::Report::from_error(e).to_string(),
        })?;
        doc.images.into_iter().next().context(NoFilmSnafu { id })
    }

    /// Saves one annotator's work durably; returns what the save replaced, if anything.
    pub fn save_annotation(
        &self,
        id: &str,
        image: &AnnotatedImage,
    ) -> Result<Option<AnnotatedImage>> {
        let path = self.annotation_path(id, &image.annotator)?;
        let before = self.annotation(id, &image.annotator).ok();
        let doc = Annotations {
            format: crate::annotations::FORMAT.to_string(),
            images: vec![image.clone()],
        };
        write_json(&path, &doc)?;
        // Only this annotator's entry of the index changes.
        let entry = AnnotationSummary {
            annotator: image.annotator.clone(),
            status: annotation::status_of(image),
            time: image.time.clone().unwrap_or_default(),
        };
        let mut index = self.lock();
        let film = index.get_mut(id).context(NoFilmSnafu { id })?;
        film.annotations.retain(|a| a.annotator != entry.annotator);
        film.annotations.push(entry);
        film.annotations
            .sort_by(|a, b| a.annotator.cmp(&b.annotator));
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, received: &str) -> FilmRecord {
        FilmRecord {
            id: id.into(),
            received: received.into(),
            study_date: Some("2026-01-02".into()),
            study_description: None,
            modality: Some("CR".into()),
            width: 100,
            height: 80,
            pixel_spacing_mm: None,
            ai_status: AiStatus::Analysed,
            ai_reason: None,
            joints: 3,
            findings: 1,
            ai_sr: None,
            patient_key: "p".into(),
        }
    }

    #[test]
    fn films_and_annotations_survive_a_reopen_and_old_unannotated_films_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let instance = dir.path().join("x.dcm");
        std::fs::write(&instance, b"not really DICOM").unwrap();
        let store = ReviewStore::open(dir.path()).unwrap();
        let analysis = crate::dicom::sr::tests::analysis();
        let (old, annotated, new) = (
            "00000000000000000000000000000001",
            "00000000000000000000000000000002",
            "00000000000000000000000000000003",
        );
        store
            .add(&instance, &record(old, "2020-01-01T00:00:00Z"), &analysis)
            .unwrap();
        store
            .add(
                &instance,
                &record(annotated, "2020-01-01T00:00:00Z"),
                &analysis,
            )
            .unwrap();
        store
            .add(&instance, &record(new, "2999-01-01T00:00:00Z"), &analysis)
            .unwrap();
        let mut a = crate::review::annotation::to_image(
            &annotation::Submitted {
                assessable: false,
                reason: Some("  motion blur ".into()),
                joints: Vec::new(),
            },
            &record(annotated, "t"),
            "alice",
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(a.reason.as_deref(), Some("motion blur"));
        assert!(store.save_annotation(annotated, &a).unwrap().is_none());
        a.status = Some("signed".into());
        assert!(store.save_annotation(annotated, &a).unwrap().is_some());
        // Newest received first; the annotation shows in the worklist entry.
        let ids: Vec<String> = store.films().iter().map(|f| f.film.id.clone()).collect();
        assert_eq!(ids, [new, old, annotated]);
        let reopened = ReviewStore::open(dir.path()).unwrap();
        let f = reopened.film(annotated).unwrap();
        assert_eq!(f.annotations.len(), 1);
        assert_eq!(f.annotations[0].status, ReviewStatus::Signed);
        assert_eq!(
            reopened.analysis(old).unwrap().joints.len(),
            analysis.joints.len()
        );
        // Older than a day and not annotated: only `old` goes.
        assert_eq!(reopened.prune(std::time::Duration::from_secs(86_400)), 1);
        assert!(reopened.film(old).is_err() && !dir.path().join("review").join(old).exists());
        assert!(reopened.film(annotated).is_ok() && reopened.film(new).is_ok());
        assert!(matches!(reopened.film("../etc"), Err(Error::NoFilm { .. })));
    }

    #[test]
    fn user_names_are_safe_file_names() {
        for ok in ["alice", "dr.smith", "r2-d2", "a_b"] {
            assert!(check_user_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "../x",
            ".hidden",
            "a b",
            "a/b",
            &"x".repeat(33),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
        assert!(is_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_id("../../etc/passwd"));
    }
}
