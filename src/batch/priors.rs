//! Priors within a batch: a film whose patient has an earlier film in the same batch is
//! compared with it (the change of issue 19), whichever shard either film falls to.
//!
//! Every shard scans the whole batch, so each knows every film's patient and study date:
//! the batch's [`History`]. A film is compared with the patient's most recent earlier film
//! that is assessable and shows a hand in common, as the node's prior index does, read
//! from that film's results in the shared `films/` folder.
//!
//! A shard takes its films oldest first, so a prior in the same shard is done before the
//! films that need it. A film whose earlier films fall to other shards and are not done
//! yet waits until the shard's other films are done ([`Plan`]); then the shard analyses
//! those earlier films itself, oldest first. That writes the results their own shard
//! would write, which that shard then finds done. No shard ever waits for another, so an
//! array run one task at a time still ends, and every film's comparison is the one a
//! single process would make.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::analysis::{Analysis, ModelsInfo};
use crate::change::{self, Change, Findings, Prior};
use crate::spool::key_for;

use super::film::{self, Paths};
use super::scan::Film;

/// Why a film has no comparison, when it has none.
pub const NO_EARLIER_FILM: &str = "no earlier result of this patient, of this hand, in the batch";
pub const NO_STUDY_DATE: &str = "the film has no study date";
pub const NO_PATIENT_ID: &str = "the film has no Patient ID";

/// Every film of the batch by patient, oldest first.
#[derive(Debug, Default)]
pub struct History {
    by_patient: HashMap<String, Vec<Film>>,
}

impl History {
    /// The history of `films` (all of the batch's, not one shard's). Films without a
    /// Patient ID or a Study Date have no place in it: nothing can be said to come before
    /// or after them.
    pub fn new(films: impl IntoIterator<Item = Film>) -> History {
        let mut by_patient: HashMap<String, Vec<Film>> = HashMap::new();
        for f in films {
            if !f.patient_id.is_empty() && change::iso_date(&f.study_date).is_some() {
                by_patient.entry(f.patient_id.clone()).or_default().push(f);
            }
        }
        for films in by_patient.values_mut() {
            films.sort_by(order);
        }
        History { by_patient }
    }

    /// The films of `film`'s patient dated strictly before it, oldest first. Films of the
    /// same day are not priors of each other (the two single-hand films of one visit).
    pub fn earlier(&self, film: &Film) -> &[Film] {
        let Some(date) = change::iso_date(&film.study_date) else {
            return &[];
        };
        let Some(films) = self.by_patient.get(&film.patient_id) else {
            return &[];
        };
        let n = films
            .iter()
            .take_while(|f| change::iso_date(&f.study_date).is_some_and(|d| d < date))
            .count();
        &films[..n]
    }
}

/// Oldest first; the SOP Instance UID breaks ties so that every shard has one order.
pub fn order(a: &Film, b: &Film) -> std::cmp::Ordering {
    let date = |f: &Film| change::iso_date(&f.study_date).unwrap_or_default();
    date(a)
        .cmp(&date(b))
        .then_with(|| a.sop_instance_uid.cmp(&b.sop_instance_uid))
}

/// Whether the results of `f` are done with these models.
pub fn is_done(films_dir: &Path, models: &ModelsInfo, f: &Film) -> bool {
    film::is_done(
        &Paths::new(films_dir, &key_for(&f.sop_instance_uid)),
        models,
    )
}

/// The change of `analysis` (the film `film`) since the latest usable earlier result among
/// `earlier` (oldest first) that is done; a reason when there is none.
pub fn compare(
    films_dir: &Path,
    models: &ModelsInfo,
    film: &Film,
    earlier: &[Film],
    analysis: &Analysis,
) -> Change {
    let none = |why: &str| Change {
        study_date: analysis.study_date.clone(),
        not_compared_reason: Some(why.to_string()),
        ..Change::default()
    };
    if film.patient_id.is_empty() {
        return none(NO_PATIENT_ID);
    }
    let Some(date) = analysis.study_date.as_deref() else {
        return none(NO_STUDY_DATE);
    };
    let now = Findings::of(analysis);
    for e in earlier.iter().rev() {
        if !is_done(films_dir, models, e) {
            continue;
        }
        let Some(prior) = read(films_dir, e) else {
            continue;
        };
        if prior.findings.can_be_prior_of(&now) {
            return change::compare(&now, Some(date), &prior);
        }
    }
    none(NO_EARLIER_FILM)
}

/// The done result of an earlier film as a prior: its SR when there is one (which also
/// gives the references of the prior SR and film), else its JSON. Named by its file name
/// in `films/`, the same in every shard and run.
fn read(films_dir: &Path, f: &Film) -> Option<Prior> {
    let key = key_for(&f.sop_instance_uid);
    let paths = Paths::new(films_dir, &key);
    let path = if paths.sr.is_file() {
        &paths.sr
    } else {
        &paths.json
    };
    let mut prior = Prior::read(path).ok()?;
    prior.info.file = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Some(prior)
}

/// The order in which a shard takes its films.
#[derive(Debug, Default)]
pub struct Plan {
    /// Films whose earlier films are all done or in this shard: taken first, oldest first.
    pub now: Vec<Film>,
    /// Films with an earlier film in another shard that is not done yet: taken after all
    /// of `now`, oldest first, once their earlier films are done (by their shard, or else
    /// by this one).
    pub later: Vec<Film>,
    /// The SOP Instance UIDs of the shard's films.
    own: BTreeSet<String>,
}

impl Plan {
    /// Whether the film of `sop_instance_uid` is this shard's.
    pub fn is_own(&self, sop_instance_uid: &str) -> bool {
        self.own.contains(sop_instance_uid)
    }

    /// How many films the shard has.
    pub fn films(&self) -> usize {
        self.own.len()
    }

    /// Splits `mine`, the shard's films, by what they need.
    pub fn new(
        mut mine: Vec<Film>,
        history: &History,
        films_dir: &Path,
        models: &ModelsInfo,
    ) -> Plan {
        mine.sort_by(order);
        let own: BTreeSet<String> = mine.iter().map(|f| f.sop_instance_uid.clone()).collect();
        let (later, now): (Vec<Film>, Vec<Film>) = mine.into_iter().partition(|f| {
            history
                .earlier(f)
                .iter()
                .any(|e| !own.contains(&e.sop_instance_uid) && !is_done(films_dir, models, e))
        });
        Plan { now, later, own }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn film(uid: &str, patient: &str, date: &str) -> Film {
        Film {
            path: PathBuf::from(format!("{uid}.dcm")),
            sop_instance_uid: uid.into(),
            patient_id: patient.into(),
            study_date: date.into(),
        }
    }

    fn uids(films: &[Film]) -> Vec<&str> {
        films.iter().map(|f| f.sop_instance_uid.as_str()).collect()
    }

    #[test]
    fn earlier_films_are_the_patients_strictly_before_oldest_first() {
        let h = History::new([
            film("1.3", "P", "20200301"),
            film("1.1", "P", "20180101"),
            film("1.2", "P", "20190615"),
            film("1.4", "P", "20190615"),
            film("2.1", "Q", "20100101"),
            film("3.1", "", "20100101"),
            film("3.2", "R", ""),
        ]);
        assert_eq!(
            uids(h.earlier(&film("1.3", "P", "20200301"))),
            ["1.1", "1.2", "1.4"]
        );
        // The same day is not earlier: the second film of a visit has no prior in it.
        assert_eq!(uids(h.earlier(&film("1.2", "P", "20190615"))), ["1.1"]);
        assert_eq!(uids(h.earlier(&film("1.1", "P", "20180101"))), [""; 0]);
        assert_eq!(uids(h.earlier(&film("2.2", "Q", "20250101"))), ["2.1"]);
        // No Patient ID or no date: nothing is earlier.
        assert!(h.earlier(&film("3.3", "", "20250101")).is_empty());
        assert!(h.earlier(&film("3.4", "R", "")).is_empty());
        assert!(h.earlier(&film("4.1", "S", "20250101")).is_empty());
    }

    #[test]
    fn a_film_whose_prior_is_elsewhere_and_not_done_waits() {
        let dir = tempfile::tempdir().unwrap();
        let model = crate::analysis::ModelInfo {
            name: "m".into(),
            version: "1".into(),
            sha256: "00".into(),
            temperature: 1.0,
            present_threshold: 0.5,
        };
        let models = ModelsInfo {
            ankylosis: model.clone(),
            subluxation: model,
        };
        // P: 1.1 (2018) in another shard, 1.2 (2019) and 1.3 (2020) in this one.
        // Q: 2.1 and 2.2, both here. R: 3.2 here, its prior 3.1 elsewhere.
        let all = [
            film("1.1", "P", "20180101"),
            film("1.2", "P", "20190101"),
            film("1.3", "P", "20200101"),
            film("2.1", "Q", "20180101"),
            film("2.2", "Q", "20190101"),
            film("3.1", "R", "20180101"),
            film("3.2", "R", "20190101"),
        ];
        let history = History::new(all.iter().cloned());
        let mine: Vec<Film> = all
            .iter()
            .filter(|f| !["1.1", "3.1"].contains(&f.sop_instance_uid.as_str()))
            .cloned()
            .collect();
        let plan = Plan::new(mine.clone(), &history, dir.path(), &models);
        assert_eq!(uids(&plan.now), ["2.1", "2.2"]);
        assert_eq!(uids(&plan.later), ["1.2", "3.2", "1.3"]);
        // Once 3.1 is done elsewhere, 3.2 no longer waits.
        let paths = Paths::new(dir.path(), &key_for("3.1"));
        let marker = film::Marker {
            models: models.clone(),
            rows: 0,
        };
        std::fs::write(&paths.done, serde_json::to_vec(&marker).unwrap()).unwrap();
        let plan = Plan::new(mine, &history, dir.path(), &models);
        assert_eq!(uids(&plan.now), ["2.1", "2.2", "3.2"]);
        assert_eq!(uids(&plan.later), ["1.2", "1.3"]);
    }
}
