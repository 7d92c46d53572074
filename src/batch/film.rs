//! One film of a batch: analysis, results, and the done marker that makes a batch
//! resumable.
//!
//! A film's results are `<key>.json`, `<key>.sr.dcm` and `<key>.csv` (its table rows)
//! in the batch's `films/` folder, `<key>` being the spool's hash of the SOP Instance UID
//! ([`crate::spool::key_for`]), so no file name carries an identifier. Each is written
//! to a temporary file and renamed, and all are fsynced before the marker `<key>.done`
//! is written, last, the same way. A film counts as done only when its marker is there
//! and names the models of this run: a process killed at any point leaves either a whole
//! result with its marker, or no marker and a film that the next run analyses again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use snafu::{OptionExt, ResultExt, Snafu};

use crate::analysis::{Analysis, ModelsInfo, SourceInfo};
use crate::change::{self, Change};
use crate::config::Config;
use crate::dicom::sr::{self, SrOptions, Timestamp};
use crate::pipeline::Pipeline;
use crate::{input, report};

use super::scan::Film;
use super::table::{self, Row};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read the input"))]
    Input { source: input::Error },
    #[snafu(display("the file is not DICOM"))]
    NotDicom,
    #[snafu(display("analysis failed"))]
    Analyse { source: crate::pipeline::Error },
    #[snafu(display("could not write the result"))]
    Report { source: report::Error },
    #[snafu(display("could not make the structured report"))]
    Sr { source: sr::Error },
    #[snafu(display("could not encode the structured report"))]
    SrEncode {
        #[snafu(source(from(dicom_object::WriteError, Box::new)))]
        source: Box<dicom_object::WriteError>,
    },
    #[snafu(display("could not serialise the done marker"))]
    Marker { source: serde_json::Error },
    #[snafu(display("could not sync {}", path.display()))]
    Sync {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not read {}", path.display()))]
    Rows {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not parse the rows"))]
    ParseRows { source: table::Error },
}

/// The content of a done marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// The models that made the result: a rerun with other models analyses the film again.
    pub models: ModelsInfo,
    /// Rows the film has in the table.
    pub rows: usize,
}

/// The paths of one film's results in the batch's `films/` folder.
#[derive(Debug, Clone)]
pub struct Paths {
    pub json: PathBuf,
    pub sr: PathBuf,
    pub rows: PathBuf,
    pub done: PathBuf,
}

impl Paths {
    pub fn new(films_dir: &Path, key: &str) -> Paths {
        Paths {
            json: films_dir.join(format!("{key}.json")),
            sr: films_dir.join(format!("{key}.sr.dcm")),
            rows: films_dir.join(format!("{key}.csv")),
            done: films_dir.join(format!("{key}.done")),
        }
    }
}

/// Whether the film is done with these models: its marker is there, whole, and names
/// them. Anything else (no marker, a marker of other models, one that does not parse) is
/// not done.
pub fn is_done(paths: &Paths, models: &ModelsInfo) -> bool {
    std::fs::read(&paths.done)
        .ok()
        .and_then(|b| serde_json::from_slice::<Marker>(&b).ok())
        .is_some_and(|m| {
            m.models.ankylosis == models.ankylosis && m.models.subluxation == models.subluxation
        })
}

/// The rows a done film wrote.
pub fn read_rows(paths: &Paths) -> Result<Vec<Row>, Error> {
    let text = std::fs::read_to_string(&paths.rows).context(RowsSnafu { path: &paths.rows })?;
    table::parse(&paths.rows, &text, false).context(ParseRowsSnafu)
}

/// What the batch needs to know besides the film.
pub struct Context<'a> {
    pub pipeline: &'a Pipeline,
    pub cfg: &'a Config,
    pub films_dir: &'a Path,
    /// Salt of the patient hash (see [`table::patient_hash`]).
    pub patient_salt: &'a str,
}

/// Analyses `film` and writes its results and, last, its done marker; returns its rows.
/// The analysis is the one `rajoints analyze` runs: [`input::read`],
/// [`Pipeline::analyze`], [`report::write_json`] and [`sr::build_sr`]; `compare` gives
/// its change since the patient's prior (see [`super::priors`]), in the JSON and the SR.
pub fn process(
    ctx: &Context,
    film: &Film,
    paths: &Paths,
    compare: impl FnOnce(&Analysis) -> Change,
) -> Result<Vec<Row>, Error> {
    let t = Instant::now();
    let input = input::read(&film.path, ctx.cfg.pipeline.max_pixels).context(InputSnafu)?;
    let obj = input.dicom.as_ref().context(NotDicomSnafu)?;
    let decode_ms = t.elapsed().as_secs_f64() * 1000.0;
    let img = &input.image;
    let outcome = ctx.pipeline.analyze(img, decode_ms).context(AnalyseSnafu)?;
    let mut analysis = Analysis::new(
        SourceInfo {
            file: film.path.display().to_string(),
            sop_instance_uid: Some(film.sop_instance_uid.clone()),
            rows: img.height,
            columns: img.width,
        },
        ctx.pipeline.models(),
        outcome,
    );
    analysis.study_date = change::iso_date(&film.study_date);
    analysis.change = Some(compare(&analysis));
    report::write_json(&paths.json, &analysis).context(ReportSnafu)?;
    let mut written = vec![&paths.json];
    if ctx.cfg.output.sr {
        let mut opts = SrOptions::new(Timestamp::now());
        opts.algorithm_parameters = ctx.pipeline.params.algorithm_parameters();
        let sr = sr::build_sr(obj, &analysis, &opts).context(SrSnafu)?;
        let mut bytes = Vec::new();
        sr.write_all(&mut bytes).context(SrEncodeSnafu)?;
        report::write_atomically(&paths.sr, &bytes).context(ReportSnafu)?;
        written.push(&paths.sr);
    }
    let rows = table::rows_of(
        &table::patient_hash(ctx.patient_salt, &film.patient_id),
        &film.study_date,
        &film.sop_instance_uid,
        &analysis,
    );
    report::write_atomically(&paths.rows, table::to_csv(&rows).as_bytes()).context(ReportSnafu)?;
    written.push(&paths.rows);
    // The results reach the disk before the marker that vouches for them.
    for path in written {
        sync(path)?;
    }
    crate::crashpoint::hit("batch.results_synced");
    let marker = Marker {
        models: analysis.models.clone(),
        rows: rows.len(),
    };
    let bytes = serde_json::to_vec(&marker).context(MarkerSnafu)?;
    report::write_atomically(&paths.done, &bytes).context(ReportSnafu)?;
    sync(&paths.done)?;
    if let Some(dir) = paths.done.parent() {
        sync(dir)?;
    }
    Ok(rows)
}

fn sync(path: &Path) -> Result<(), Error> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .context(SyncSnafu { path })
}
