//! Finding a batch's films: folder trees of DICOM files and DICOMDIRs.
//!
//! Only the header of each file is read (up to Pixel Data): its SOP Instance UID decides
//! the shard, and every shard scans the same inputs, so the scan must be cheap and must
//! come out the same in every shard.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use dicom_dictionary_std::{tags, uids};
use dicom_object::{InMemDicomObject, OpenFileOptions};
use snafu::{ResultExt, Snafu};

use crate::config::Filter;
use crate::dicom::decode::DicomFile;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read {}", path.display()))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not read the DICOMDIR {}", path.display()))]
    Dicomdir {
        path: PathBuf,
        #[snafu(source(from(dicom_object::ReadError, Box::new)))]
        source: Box<dicom_object::ReadError>,
    },
}

/// A film found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Film {
    pub path: PathBuf,
    pub sop_instance_uid: String,
    /// The Patient ID as in the data set ("" when absent): hashed before it is written
    /// anywhere.
    pub patient_id: String,
    /// Study Date as in the data set ("" when absent).
    pub study_date: String,
}

/// A file that looks like DICOM but whose header could not be read: a failure of the
/// shard that its path hashes to (there is no UID to shard it by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: PathBuf,
    pub error: String,
}

/// What a scan found, in a deterministic order (by path).
#[derive(Debug, Default)]
pub struct Scan {
    pub films: Vec<Film>,
    pub unreadable: Vec<Unreadable>,
    /// DICOM instances that the filter does not select (not CR/DX hand films).
    pub not_selected: usize,
    /// Files that are not DICOM Part 10 (no `DICM` at byte 128): skipped silently.
    pub not_dicom: usize,
    /// Further copies of an instance already found (same SOP Instance UID): analysed once.
    pub duplicates: usize,
}

/// Scans `inputs`: a folder is searched recursively (a DICOMDIR inside it is skipped, its
/// files are found as files), a DICOMDIR file is read for its ReferencedFileIDs, any other
/// file is taken as a DICOM file. Errors are only for inputs that cannot be listed at all.
pub fn scan(inputs: &[PathBuf], filter: &Filter) -> Result<Scan, Error> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).context(IoSnafu { path: input })?;
        if meta.is_dir() {
            walk(input, &mut files)?;
        } else if is_dicomdir(input) {
            files.extend(dicomdir_files(input)?);
        } else {
            files.push(input.clone());
        }
    }
    files.sort();
    files.dedup();
    let mut out = Scan::default();
    let mut uids = HashSet::new();
    for path in files {
        match header(&path) {
            Ok(None) => out.not_dicom += 1,
            Ok(Some(obj)) => {
                if is_media_directory(&obj) {
                    continue;
                }
                let Some(uid) = crate::dicom::decode::sop_instance_uid(&obj) else {
                    out.unreadable.push(Unreadable {
                        path,
                        error: "no SOP Instance UID".into(),
                    });
                    continue;
                };
                if !crate::node::filter::selects(filter, &obj) {
                    out.not_selected += 1;
                    continue;
                }
                if !uids.insert(uid.clone()) {
                    out.duplicates += 1;
                    continue;
                }
                out.films.push(Film {
                    path,
                    sop_instance_uid: uid,
                    patient_id: text(&obj, tags::PATIENT_ID),
                    study_date: text(&obj, tags::STUDY_DATE),
                });
            }
            Err(e) => out.unreadable.push(Unreadable {
                path,
                error: snafu::Report::from_error(e).to_string(),
            }),
        }
    }
    Ok(out)
}

fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
        .unwrap_or_default()
}

/// Every regular file under `dir` (symbolic links to files followed, to folders not: a
/// loop of links must not hang the scan).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).context(IoSnafu { path: dir })?;
    for entry in entries {
        let entry = entry.context(IoSnafu { path: dir })?;
        let path = entry.path();
        let kind = entry.file_type().context(IoSnafu { path: &path })?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_dicomdir(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR"))
}

fn is_media_directory(obj: &DicomFile) -> bool {
    obj.meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        == uids::MEDIA_STORAGE_DIRECTORY_STORAGE
}

/// The header of a DICOM Part 10 file up to Pixel Data; `None` when the file is not
/// Part 10 (no `DICM` after the preamble).
fn header(path: &Path) -> Result<Option<DicomFile>, dicom_object::ReadError> {
    let mut head = [0u8; 132];
    let is_part10 = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head[128..] == b"DICM");
    if !is_part10 {
        return Ok(None);
    }
    OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map(Some)
}

/// The files a DICOMDIR references: each record's ReferencedFileID, as path components
/// relative to the DICOMDIR's folder (PS3.10 8.5). Components that would leave that
/// folder are refused, so a crafted DICOMDIR cannot point the batch anywhere else.
pub fn dicomdir_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let obj = OpenFileOptions::new()
        .open_file(path)
        .context(DicomdirSnafu { path })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    let records = obj
        .get(tags::DIRECTORY_RECORD_SEQUENCE)
        .and_then(|e| e.items())
        .unwrap_or(&[]);
    for record in records {
        let Some(id) = record
            .get(tags::REFERENCED_FILE_ID)
            .and_then(|e| e.to_multi_str().ok())
        else {
            continue;
        };
        let mut rel = PathBuf::new();
        for part in id.iter() {
            rel.push(part.trim_end_matches(['\0', ' ']));
        }
        let inside = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if inside && rel.components().next().is_some() {
            files.push(base.join(rel));
        } else {
            tracing::warn!("DICOMDIR record with a ReferencedFileID outside its folder, skipped");
        }
    }
    Ok(files)
}
