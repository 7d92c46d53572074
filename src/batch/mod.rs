//! Archive-scale batch runs (issue 20): a whole archive analysed by many processes, as a
//! Slurm job array or a Kubernetes Indexed Job, each process one shard.
//!
//! Every process scans the same inputs ([`scan`]) and takes the films whose SOP Instance
//! UID hashes to its shard ([`shard`]); each film is analysed as `rajoints analyze` does
//! and marked done only once its results are on disk ([`film`]), so a rerun skips what is
//! done and redoes what was cut short. A film whose patient has an earlier film in the
//! batch is compared with it, whichever shard that film is in ([`priors`]). A shard ends
//! with its per-joint table and its failures; `rajoints batch merge` joins the tables
//! ([`table`]).
//!
//! Output folder:
//!
//! ```text
//! OUT/films/<key>.json, <key>.sr.dcm, <key>.csv, <key>.done   (key: hash of the SOP Instance UID)
//! OUT/shards/shard-I-of-N/table.csv                            one row per joint
//! OUT/shards/shard-I-of-N/failures.csv                         key,path,error
//! OUT/shards/shard-I-of-N/summary.json                         counts of the last run
//! OUT/retrieved/shard-I-of-N/<key>.dcm                         instances retrieved from a
//!                                                              PACS (`--query`, [`pacs`])
//! ```

pub mod film;
pub mod pacs;
pub mod priors;
pub mod scan;
pub mod shard;
pub mod table;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu};

use crate::report;

pub use shard::Shard;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not create {}", path.display()))]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not write the shard's files"))]
    Write { source: report::Error },
    #[snafu(display("could not serialise the shard summary"))]
    Summary { source: serde_json::Error },
    #[snafu(display("could not list {}", path.display()))]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("no shard table in {}", path.display()))]
    NoTable { path: PathBuf },
    #[snafu(display(
        "the tables are not one complete set of shards: {detail} (rerun the missing shards, \
         or merge the tables of one shard count)"
    ))]
    Incomplete { detail: String },
    #[snafu(display("could not read a shard table"))]
    Table { source: table::Error },
}

/// The folders of a batch's output.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn films_dir(&self) -> PathBuf {
        self.root.join("films")
    }

    /// Where a shard's instances retrieved from a PACS wait for their analysis.
    pub fn retrieved_dir(&self, shard: Shard) -> PathBuf {
        self.root.join("retrieved").join(shard.dir_name())
    }

    pub fn shard_dir(&self, shard: Shard) -> PathBuf {
        self.root.join("shards").join(shard.dir_name())
    }

    /// Creates the films folder and the shard's folder.
    pub fn create(&self, shard: Shard) -> Result<(), Error> {
        for path in [self.films_dir(), self.shard_dir(shard)] {
            std::fs::create_dir_all(&path).context(CreateSnafu { path })?;
        }
        Ok(())
    }
}

/// A film that did not make it, for `failures.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The film's key, or for a file without a UID the hash of its path.
    pub key: String,
    pub path: PathBuf,
    pub error: String,
}

/// Counts of one shard run, written as `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub shard: String,
    /// Films of this shard.
    pub films: usize,
    /// Analysed by this run.
    pub analysed: usize,
    /// Already done by an earlier run, skipped.
    pub skipped: usize,
    pub failed: usize,
    /// Instances retrieved from the PACS by this run, priors from other shards included
    /// (`--query`; 0 for folder input).
    #[serde(default)]
    pub retrieved: usize,
    /// Earlier films of other shards that this run analysed as priors of its own films
    /// (they were not done yet; see [`priors`]).
    #[serde(default)]
    pub priors_analysed: usize,
    /// Rows of the table.
    pub rows: usize,
    pub seconds: f64,
}

/// Writes the shard's table, failures and summary (each atomically).
pub fn write_shard(
    layout: &Layout,
    shard: Shard,
    rows: &mut [table::Row],
    failures: &[Failure],
    summary: &Summary,
) -> Result<(), Error> {
    let dir = layout.shard_dir(shard);
    rows.sort_by(table::Row::order);
    report::write_atomically(&dir.join("table.csv"), table::table_csv(rows).as_bytes())
        .context(WriteSnafu)?;
    let mut text = String::from("key,path,error\n");
    for f in failures {
        text.push_str(&table::csv_line(&[
            f.key.as_str(),
            &f.path.display().to_string(),
            &f.error,
        ]));
    }
    report::write_atomically(&dir.join("failures.csv"), text.as_bytes()).context(WriteSnafu)?;
    let json = serde_json::to_string_pretty(summary).context(SummarySnafu)?;
    report::write_atomically(&dir.join("summary.json"), json.as_bytes()).context(WriteSnafu)
}

/// The shard tables under `dir`: `dir/table.csv` when `dir` is one shard's folder, else
/// `dir/shards/*/table.csv`, with the shard each is of.
pub fn find_tables(dir: &Path) -> Result<Vec<(Option<Shard>, PathBuf)>, Error> {
    let own = dir.join("table.csv");
    if own.is_file() {
        let shard = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Shard::from_dir_name);
        return Ok(vec![(shard, own)]);
    }
    let shards = dir.join("shards");
    let entries = std::fs::read_dir(&shards).context(ListSnafu { path: &shards })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.context(ListSnafu { path: &shards })?;
        let table = entry.path().join("table.csv");
        if table.is_file() {
            let name = entry.file_name();
            out.push((name.to_str().and_then(Shard::from_dir_name), table));
        }
    }
    if out.is_empty() {
        return NoTableSnafu { path: dir }.fail();
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Checks that `shards` are shards 0..N of one N, each once.
pub fn check_complete(shards: &[Shard]) -> Result<(), Error> {
    let Some(first) = shards.first() else {
        return IncompleteSnafu {
            detail: "no tables".to_string(),
        }
        .fail();
    };
    let n = first.count();
    if let Some(other) = shards.iter().find(|s| s.count() != n) {
        return IncompleteSnafu {
            detail: format!("shards of {n} and of {}", other.count()),
        }
        .fail();
    }
    let mut have: Vec<u64> = shards.iter().map(|s| s.index()).collect();
    have.sort_unstable();
    let missing: Vec<String> = (0..n)
        .filter(|i| have.binary_search(i).is_err())
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return IncompleteSnafu {
            detail: format!("shard(s) {} of {n} missing", missing.join(", ")),
        }
        .fail();
    }
    if have.windows(2).any(|w| w[0] == w[1]) {
        return IncompleteSnafu {
            detail: "a shard given twice".to_string(),
        }
        .fail();
    }
    Ok(())
}

/// Merges the shard tables found in `dirs` (see [`find_tables`]) into one table; with
/// `require_complete`, the tables must be shards 0..N of one N.
pub fn merge_dirs(dirs: &[PathBuf], require_complete: bool) -> Result<MergeOutcome, Error> {
    let mut tables = Vec::new();
    let mut shards = Vec::new();
    for dir in dirs {
        for (shard, path) in find_tables(dir)? {
            let rows = table::read_table(&path).context(TableSnafu)?;
            shards.extend(shard);
            tables.push((path, rows));
        }
    }
    if require_complete {
        if shards.len() != tables.len() {
            return IncompleteSnafu {
                detail: "a table outside a shard-I-of-N folder".to_string(),
            }
            .fail();
        }
        check_complete(&shards)?;
    }
    let rows = table::merge(&tables).context(TableSnafu)?;
    Ok(MergeOutcome {
        tables: tables.len(),
        rows,
    })
}

/// What [`merge_dirs`] made.
#[derive(Debug)]
pub struct MergeOutcome {
    pub tables: usize,
    pub rows: Vec<table::Row>,
}

impl MergeOutcome {
    /// Films in the merged table.
    pub fn films(&self) -> usize {
        let mut uids: Vec<&str> = self.rows.iter().map(|r| r.sop_instance_uid()).collect();
        uids.dedup();
        uids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_sets_of_shards() {
        let s = |i, n| Shard::new(i, n).unwrap();
        assert!(check_complete(&[s(1, 3), s(0, 3), s(2, 3)]).is_ok());
        assert!(check_complete(&[s(0, 1)]).is_ok());
        assert!(check_complete(&[s(0, 3), s(2, 3)]).is_err());
        assert!(check_complete(&[s(0, 2), s(1, 2), s(0, 3)]).is_err());
        assert!(check_complete(&[s(0, 2), s(1, 2), s(1, 2)]).is_err());
        assert!(check_complete(&[]).is_err());
    }
}
