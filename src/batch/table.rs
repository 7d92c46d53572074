//! The per-joint summary table of a batch (CSV) and the merge of shard tables.
//!
//! One row per joint of every analysed film; a film with no joint (not assessable, or
//! nothing found) has one row with an empty `joint`, so that every analysed film is in the
//! table. No column identifies the patient: `patient_hash` is a truncated SHA-256 of the
//! Patient ID (after an optional site salt).
//!
//! The files are RFC 4180 CSV written and read here: the fields are hashes, dates, UIDs,
//! joint names, booleans and numbers, so a CSV crate would buy nothing but a dependency;
//! quoting is still handled, since Study Date comes from the data set as it is.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use snafu::{ResultExt, Snafu};

use crate::analysis::{Analysis, FindingLabel};

/// The header line of every table: the columns, in order.
pub const COLUMNS: [&str; 9] = [
    "patient_hash",
    "study_date",
    "sop_instance_uid",
    "assessable",
    "joint",
    "ankylosis_present",
    "ankylosis_probability",
    "subluxation_present",
    "subluxation_probability",
];

/// Hex digits of the patient hash kept: 64 bits tell a cohort's patients apart without
/// collisions in practice and are short enough to read.
pub const PATIENT_HASH_HEX: usize = 16;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read {}", path.display()))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("{}: line {line}: {what}", path.display()))]
    Malformed {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[snafu(display(
        "{} rows appear more than once (first: SOP Instance UID {uid}, joint `{joint}`, in {} and {})",
        count, first.display(), second.display()
    ))]
    Duplicate {
        count: usize,
        uid: String,
        joint: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// One row of the table, every field as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub [String; 9]);

impl Row {
    pub fn sop_instance_uid(&self) -> &str {
        &self.0[2]
    }

    pub fn joint(&self) -> &str {
        &self.0[4]
    }

    /// The table's order: patient, study date, film, joint; so a patient's films are
    /// together and the order does not depend on which shard analysed what.
    pub fn order(&self, other: &Row) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// The patient hash of a Patient ID: the first [`PATIENT_HASH_HEX`] hex digits of
/// SHA-256(salt || Patient ID); empty when the film has no Patient ID.
pub fn patient_hash(salt: &str, patient_id: &str) -> String {
    if patient_id.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(patient_id.as_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..PATIENT_HASH_HEX]
        .to_string()
}

/// The rows of one analysed film.
pub fn rows_of(
    patient_hash: &str,
    study_date: &str,
    sop_instance_uid: &str,
    analysis: &Analysis,
) -> Vec<Row> {
    let assessable = analysis.assessment.reason.is_none();
    let finding = |f: Option<&FindingLabel>| match f {
        Some(f) => (f.present.to_string(), format!("{:.6}", f.probability)),
        None => (String::new(), String::new()),
    };
    let row = |joint: String, a: Option<&FindingLabel>, s: Option<&FindingLabel>| {
        let (ap, aprob) = finding(a);
        let (sp, sprob) = finding(s);
        Row([
            patient_hash.to_string(),
            study_date.to_string(),
            sop_instance_uid.to_string(),
            assessable.to_string(),
            joint,
            ap,
            aprob,
            sp,
            sprob,
        ])
    };
    let mut rows: Vec<Row> = analysis
        .joints
        .iter()
        .map(|j| {
            let name = j.id.map(|id| id.to_string()).unwrap_or_default();
            row(name, Some(&j.ankylosis), j.subluxation.as_ref())
        })
        .collect();
    if rows.is_empty() {
        rows.push(row(String::new(), None, None));
    }
    rows.sort_by(Row::order);
    rows
}

/// One field, quoted when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV line of `fields`, with its line break.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| field(f.as_ref())).collect();
    quoted.join(",") + "\n"
}

/// `rows` as CSV lines (no header).
pub fn to_csv(rows: &[Row]) -> String {
    rows.iter().map(|r| csv_line(&r.0)).collect()
}

/// A whole table: the header, then `rows`.
pub fn table_csv(rows: &[Row]) -> String {
    format!("{}\n{}", COLUMNS.join(","), to_csv(rows))
}

/// Splits CSV text into records of fields (RFC 4180: quoted fields may hold commas,
/// doubled quotes and line breaks).
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut cur));
                out.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                cur.push(c);
            }
        }
    }
    if quoted {
        return Err(format!("unterminated quote in the record of line {start}"));
    }
    if !cur.is_empty() || !fields.is_empty() {
        fields.push(cur);
        out.push((start, fields));
    }
    Ok(out)
}

/// Parses CSV lines of rows (`header`: whether the first line is the header).
pub fn parse(path: &Path, text: &str, header: bool) -> Result<Vec<Row>, Error> {
    let bad = |line: usize, what: String| Error::Malformed {
        path: path.to_path_buf(),
        line,
        what,
    };
    let mut recs = records(text).map_err(|w| bad(0, w))?.into_iter();
    if header {
        match recs.next() {
            Some((_, h)) if h == COLUMNS => {}
            Some((line, h)) => {
                return Err(bad(
                    line,
                    format!("header `{}`, expected `{}`", h.join(","), COLUMNS.join(",")),
                ));
            }
            None => return Err(bad(1, "no header".into())),
        }
    }
    recs.map(|(line, f)| {
        let n = f.len();
        <[String; 9]>::try_from(f)
            .map(Row)
            .map_err(|_| bad(line, format!("{n} fields, expected {}", COLUMNS.len())))
    })
    .collect()
}

/// Reads a table written by [`table_csv`].
pub fn read_table(path: &Path) -> Result<Vec<Row>, Error> {
    let text = std::fs::read_to_string(path).context(ReadSnafu { path })?;
    parse(path, &text, true)
}

/// Joins shard tables: all rows, in the table's order; an error when a (SOP Instance UID,
/// joint) pair is in more than one row (a film analysed by two shards, or twice).
pub fn merge(tables: &[(PathBuf, Vec<Row>)]) -> Result<Vec<Row>, Error> {
    let mut seen: HashMap<(&str, &str), &Path> = HashMap::new();
    let mut dup: Option<(String, String, PathBuf, PathBuf)> = None;
    let mut dups = 0usize;
    for (path, rows) in tables {
        for r in rows {
            if let Some(first) = seen.insert((r.sop_instance_uid(), r.joint()), path) {
                dups += 1;
                dup.get_or_insert_with(|| {
                    (
                        r.sop_instance_uid().to_string(),
                        r.joint().to_string(),
                        first.to_path_buf(),
                        path.clone(),
                    )
                });
            }
        }
    }
    if let Some((uid, joint, first, second)) = dup {
        return DuplicateSnafu {
            count: dups,
            uid,
            joint,
            first,
            second,
        }
        .fail();
    }
    let mut all: Vec<Row> = tables.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
    all.sort_by(Row::order);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: &str, joint: &str) -> Row {
        Row([
            "ab".into(),
            "20200101".into(),
            uid.into(),
            "true".into(),
            joint.into(),
            "true".into(),
            "0.900000".into(),
            "false".into(),
            "0.100000".into(),
        ])
    }

    #[test]
    fn patient_hash_is_truncated_salted_sha256() {
        // printf PHANTOM-0001 | sha256sum
        assert_eq!(patient_hash("", "PHANTOM-0001").len(), PATIENT_HASH_HEX);
        assert_eq!(
            patient_hash("", "PHANTOM-0001"),
            crate::model::manifest::sha256_hex(b"PHANTOM-0001")[..16]
        );
        assert_eq!(
            patient_hash("s", "P"),
            crate::model::manifest::sha256_hex(b"sP")[..16]
        );
        assert_eq!(patient_hash("s", ""), "");
    }

    #[test]
    fn csv_round_trips_with_quoting() {
        let mut odd = row("1.2", "L-IP1");
        odd.0[1] = "2020,\"01\"\n01".into();
        let rows = vec![row("1.2", "R-MCP2"), odd];
        let text = table_csv(&rows);
        assert!(text.starts_with("patient_hash,study_date,sop_instance_uid,"));
        let back = parse(Path::new("t"), &text, true).unwrap();
        assert_eq!(back, rows);
        assert!(parse(Path::new("t"), "a,b\n", true).is_err());
        assert!(
            parse(
                Path::new("t"),
                &format!("{}\n1,2\n", COLUMNS.join(",")),
                true
            )
            .is_err()
        );
        assert!(parse(Path::new("t"), "\"open", false).is_err());
    }

    #[test]
    fn merge_sorts_and_refuses_duplicates() {
        let a = (
            PathBuf::from("a"),
            vec![row("1.3", "L-IP1"), row("1.1", "L-IP1")],
        );
        let b = (PathBuf::from("b"), vec![row("1.2", "L-IP1")]);
        let merged = merge(&[a.clone(), b.clone()]).unwrap();
        let uids: Vec<&str> = merged.iter().map(|r| r.sop_instance_uid()).collect();
        assert_eq!(uids, ["1.1", "1.2", "1.3"]);
        assert_eq!(merge(&[b.clone(), a.clone()]).unwrap(), merged);
        let c = (PathBuf::from("c"), vec![row("1.2", "L-IP1")]);
        let e = merge(&[a, b, c]).unwrap_err().to_string();
        assert!(e.contains("1 rows") && e.contains("1.2"), "{e}");
    }
}
