//! Two time points (issue 19): what changed on the same hand since the patient's prior
//! result, joint by joint.
//!
//! A prior is read either from a result JSON ([`Analysis`]) or from a rajoints SR
//! ([`crate::dicom::sr::read_prior`]); both become [`Findings`], what one time point states,
//! so that the comparison never depends on where the prior came from. Ankylosis and
//! subluxation/dislocation do not regress: a finding absent now but present before is
//! flagged for review, not reported as healing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu};

use crate::analysis::{Analysis, Summary};
use crate::dicom::sr::SopReference;
use crate::pipeline::naming::{JointId, Side};

#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum Error {
    #[snafu(display("could not read the prior {}", path.display()))]
    ReadPrior {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("the prior {} is not a rajoints result JSON", path.display()))]
    ParsePrior {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[snafu(display("the prior {} is not a readable DICOM file", path.display()))]
    OpenPriorSr {
        path: PathBuf,
        // Boxed: the reader's error is large, and every Result of this module carries it.
        source: Box<dicom_object::ReadError>,
    },
    #[snafu(display("the prior {} is not a rajoints structured report: {what}", path.display()))]
    NotRajointsSr { path: PathBuf, what: String },
}

/// The findings of one named joint at one time point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JointFindings {
    pub ankylosis: bool,
    /// `None` for the thumb IP joint, which the subluxation detector does not score.
    pub subluxation: Option<bool>,
}

/// What one time point states: whether it was assessable, which hands it shows, and the
/// findings of each named joint seen.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Findings {
    pub assessable: bool,
    pub sides: BTreeSet<Side>,
    pub joints: BTreeMap<JointId, JointFindings>,
}

impl Findings {
    /// The findings an analysis states (its named joints only: an unnamed joint cannot be
    /// matched to the same joint on another film).
    pub fn of(a: &Analysis) -> Findings {
        // Made afresh: a JSON written before issue 18 has an empty summary.
        let summary = Summary::of(a);
        let sides = summary
            .hands
            .iter()
            .filter_map(|h| side_of(&h.side))
            .collect();
        let joints = a
            .joints
            .iter()
            .filter_map(|j| {
                Some((
                    j.id?,
                    JointFindings {
                        ankylosis: j.ankylosis.present,
                        subluxation: j.subluxation.map(|l| l.present),
                    },
                ))
            })
            .collect();
        Findings {
            assessable: a.assessment.assessable,
            sides,
            joints,
        }
    }
}

impl Findings {
    /// Whether a result with these findings can serve as the prior of `now`: assessable,
    /// and showing a hand that `now` shows (the dates are the caller's to check). The
    /// node's index, the archive and a batch all choose priors by this rule.
    pub fn can_be_prior_of(&self, now: &Findings) -> bool {
        self.assessable && self.sides.intersection(&now.sides).next().is_some()
    }
}

/// `R`/`L` to a side.
pub fn side_of(letter: &str) -> Option<Side> {
    match letter {
        "R" => Some(Side::Right),
        "L" => Some(Side::Left),
        _ => None,
    }
}

/// Where the prior result came from and what it refers to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PriorInfo {
    /// The file it was read from, as given.
    pub file: String,
    /// The prior film's Study Date, `YYYY-MM-DD`, when known.
    pub study_date: Option<String>,
    /// The prior SR, when the prior was one.
    pub sr: Option<SopReference>,
    /// The prior film, when its full reference is known (from the prior SR's evidence).
    pub film: Option<SopReference>,
    /// The prior film's SOP Instance UID (a JSON prior knows only this).
    pub film_sop_instance_uid: Option<String>,
}

/// A prior result ready to compare against.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    pub findings: Findings,
    pub info: PriorInfo,
}

impl Prior {
    /// A prior from a result JSON.
    pub fn of_analysis(a: &Analysis, file: &str) -> Prior {
        Prior {
            findings: Findings::of(a),
            info: PriorInfo {
                file: file.to_string(),
                study_date: a.study_date.clone(),
                sr: None,
                film: None,
                film_sop_instance_uid: a.source.sop_instance_uid.clone(),
            },
        }
    }

    /// Reads a prior from `PRIOR.json` or a rajoints SR (`PRIOR.sr.dcm`, or any file that
    /// starts as DICOM does).
    pub fn read(path: &Path) -> Result<Prior, Error> {
        let bytes = std::fs::read(path).context(ReadPriorSnafu { path })?;
        // DICOM Part 10: 128-byte preamble, then "DICM".
        if bytes.get(128..132) == Some(b"DICM".as_slice()) {
            return crate::dicom::sr::read_prior(path);
        }
        let a: Analysis = serde_json::from_slice(&bytes).context(ParsePriorSnafu { path })?;
        Ok(Prior::of_analysis(&a, &path.display().to_string()))
    }
}

/// The finding a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeFinding {
    Ankylosis,
    Subluxation,
}

impl ChangeFinding {
    pub fn label(self) -> crate::labels::Finding {
        match self {
            ChangeFinding::Ankylosis => crate::labels::Finding::Ankylosis,
            ChangeFinding::Subluxation => crate::labels::Finding::Subluxation,
        }
    }
}

/// How one finding of one joint compares with the prior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Absent before, present now.
    New,
    UnchangedPresent,
    UnchangedAbsent,
    /// Present before, absent now: these findings do not regress, so a person should look.
    AbsentNowPresentBefore,
    /// The joint was seen on the prior only (`finding` is null).
    NotSeenNow,
    /// The joint is seen now only (`finding` is null).
    NotSeenBefore,
}

/// One line of the comparison: a finding of a joint, or a joint seen at one time only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JointChange {
    pub joint: JointId,
    /// `null` for [`Status::NotSeenNow`] and [`Status::NotSeenBefore`].
    pub finding: Option<ChangeFinding>,
    pub status: Status,
}

/// The counts of a hand or of the patient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChangeCounts {
    pub new_ankylosis: usize,
    pub new_subluxation: usize,
    /// Findings present at both time points.
    pub unchanged_present: usize,
    /// Findings absent at both time points.
    pub unchanged_absent: usize,
    /// Findings present before and absent now (flagged for review).
    pub absent_now_present_before: usize,
    pub not_seen_now: usize,
    pub not_seen_before: usize,
    /// The minimum Sharp/van der Heijde joint space narrowing the findings imply now: a
    /// partial score (only ankylosis, 4, and subluxation/dislocation, 3, are seen; every
    /// other joint counts 0), never the patient's JSN.
    pub jsn_partial_min: u32,
    /// The same for the prior, over the joints it saw.
    pub jsn_partial_min_prior: u32,
}

impl ChangeCounts {
    fn add(&mut self, o: &ChangeCounts) {
        self.new_ankylosis += o.new_ankylosis;
        self.new_subluxation += o.new_subluxation;
        self.unchanged_present += o.unchanged_present;
        self.unchanged_absent += o.unchanged_absent;
        self.absent_now_present_before += o.absent_now_present_before;
        self.not_seen_now += o.not_seen_now;
        self.not_seen_before += o.not_seen_before;
        self.jsn_partial_min += o.jsn_partial_min;
        self.jsn_partial_min_prior += o.jsn_partial_min_prior;
    }
}

/// One hand compared with the same hand on the prior.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandChange {
    /// `R` or `L`.
    pub side: String,
    #[serde(flatten)]
    pub counts: ChangeCounts,
}

/// The comparison with the prior, in the result JSON as `change`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Change {
    pub prior: PriorInfo,
    /// Whether the comparison was made; when not, `not_compared_reason` says why and the
    /// lists are empty.
    pub compared: bool,
    pub not_compared_reason: Option<String>,
    /// This film's Study Date, `YYYY-MM-DD`, when known.
    pub study_date: Option<String>,
    /// Days from the prior's study to this one, when both dates are known.
    pub interval_days: Option<i64>,
    /// Every joint of the hands compared that was seen at either time point, in
    /// anatomical order, ankylosis before subluxation/dislocation.
    pub joints: Vec<JointChange>,
    /// The hands seen at both time points, right first.
    pub hands: Vec<HandChange>,
    /// The hands' counts added up.
    pub patient: ChangeCounts,
}

/// The minimum SvdH JSN a joint's findings imply: 4 for ankylosis (or complete luxation),
/// 3 for subluxation. The model does not tell dislocation from subluxation, so 3 is the
/// floor. The thumb IP joint has no JSN score in the SvdH method (its erosions only).
pub fn jsn_floor(joint: JointId, f: &JointFindings) -> u32 {
    if joint.is_thumb_ip() {
        0
    } else if f.ankylosis {
        4
    } else if f.subluxation == Some(true) {
        3
    } else {
        0
    }
}

/// Compares today's findings with a prior's, same hand to same hand.
pub fn compare(now: &Findings, study_date: Option<&str>, prior: &Prior) -> Change {
    let then = &prior.findings;
    let mut change = Change {
        prior: prior.info.clone(),
        study_date: study_date.and_then(iso_date),
        ..Change::default()
    };
    let not_compared = |mut c: Change, why: &str| {
        c.not_compared_reason = Some(why.to_string());
        c
    };
    if !now.assessable {
        return not_compared(change, "this film was not assessable");
    }
    if !then.assessable {
        return not_compared(change, "the prior film was not assessable");
    }
    let sides: Vec<Side> = now.sides.intersection(&then.sides).copied().collect();
    if sides.is_empty() {
        return not_compared(change, "the prior shows another hand");
    }
    change.compared = true;
    change.interval_days = match (
        change.study_date.as_deref().and_then(days),
        change.prior.study_date.as_deref().and_then(days),
    ) {
        (Some(a), Some(b)) => Some(a - b),
        _ => None,
    };
    for side in sides {
        let mut counts = ChangeCounts::default();
        let ids: BTreeSet<JointId> = now
            .joints
            .keys()
            .chain(then.joints.keys())
            .filter(|id| id.side == side)
            .copied()
            .collect();
        for id in ids {
            let (a, b) = (now.joints.get(&id), then.joints.get(&id));
            counts.jsn_partial_min += a.map_or(0, |f| jsn_floor(id, f));
            counts.jsn_partial_min_prior += b.map_or(0, |f| jsn_floor(id, f));
            let (a, b) = match (a, b) {
                (Some(a), Some(b)) => (a, b),
                (a, _) => {
                    let status = if a.is_some() {
                        counts.not_seen_before += 1;
                        Status::NotSeenBefore
                    } else {
                        counts.not_seen_now += 1;
                        Status::NotSeenNow
                    };
                    change.joints.push(JointChange {
                        joint: id,
                        finding: None,
                        status,
                    });
                    continue;
                }
            };
            let pairs = [
                (
                    ChangeFinding::Ankylosis,
                    Some(a.ankylosis),
                    Some(b.ankylosis),
                ),
                (ChangeFinding::Subluxation, a.subluxation, b.subluxation),
            ];
            for (finding, x, y) in pairs {
                // A thumb IP joint has no subluxation label at either time.
                let (Some(x), Some(y)) = (x, y) else { continue };
                let status = match (x, y) {
                    (true, false) => {
                        match finding {
                            ChangeFinding::Ankylosis => counts.new_ankylosis += 1,
                            ChangeFinding::Subluxation => counts.new_subluxation += 1,
                        }
                        Status::New
                    }
                    (true, true) => {
                        counts.unchanged_present += 1;
                        Status::UnchangedPresent
                    }
                    (false, false) => {
                        counts.unchanged_absent += 1;
                        Status::UnchangedAbsent
                    }
                    (false, true) => {
                        counts.absent_now_present_before += 1;
                        Status::AbsentNowPresentBefore
                    }
                };
                change.joints.push(JointChange {
                    joint: id,
                    finding: Some(finding),
                    status,
                });
            }
        }
        change.patient.add(&counts);
        change.hands.push(HandChange {
            side: side.letter().to_string(),
            counts,
        });
    }
    change
}

/// A DICOM DA (`YYYYMMDD`) or ISO date (`YYYY-MM-DD`) as `YYYY-MM-DD`; `None` when it is
/// neither or not a calendar date.
pub fn iso_date(d: &str) -> Option<String> {
    let digits: String = d.trim().chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 8 || !(d.trim().len() == 8 || d.trim().len() == 10) {
        return None;
    }
    let iso = format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..]);
    days(&iso)?;
    Some(iso)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the inverse of the civil-from-days of
/// `dicom::sr`, after Howard Hinnant's algorithm).
fn days(iso: &str) -> Option<i64> {
    let mut parts = iso.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max = match m {
        2 if leap => 29,
        1..=12 => month_days[(m - 1) as usize],
        _ => return None,
    };
    if !(1..=max).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> JointId {
        s.parse().unwrap()
    }

    /// Findings of one film: (joint, ankylosis, subluxation).
    fn film(sides: &[Side], joints: &[(&str, bool, Option<bool>)]) -> Findings {
        Findings {
            assessable: true,
            sides: sides.iter().copied().collect(),
            joints: joints
                .iter()
                .map(|&(j, a, s)| {
                    (
                        id(j),
                        JointFindings {
                            ankylosis: a,
                            subluxation: s,
                        },
                    )
                })
                .collect(),
        }
    }

    fn prior(f: Findings, date: Option<&str>) -> Prior {
        Prior {
            findings: f,
            info: PriorInfo {
                file: "t0.json".into(),
                study_date: date.map(str::to_string),
                ..PriorInfo::default()
            },
        }
    }

    fn status(c: &Change, joint: &str, f: Option<ChangeFinding>) -> Option<Status> {
        c.joints
            .iter()
            .find(|j| j.joint == id(joint) && j.finding == f)
            .map(|j| j.status)
    }

    use ChangeFinding::{Ankylosis as A, Subluxation as S};

    #[test]
    fn each_kind_of_change_is_told_apart() {
        let l = [Side::Left];
        let t0 = film(
            &l,
            &[
                ("L-PIP3", false, Some(false)),
                ("L-MCP2", false, Some(true)),
                ("L-PIP4", true, Some(false)),
                ("L-MCP5", false, Some(false)),
                ("L-IP1", false, None),
            ],
        );
        let t1 = film(
            &l,
            &[
                ("L-PIP3", true, Some(false)),  // new ankylosis
                ("L-MCP2", false, Some(true)),  // subluxation unchanged
                ("L-PIP4", false, Some(true)),  // ankylosis gone (review), new subluxation
                ("L-IP1", true, None),          // new ankylosis, no subluxation line
                ("L-PIP2", false, Some(false)), // not seen before
            ],
        );
        let c = compare(&t1, Some("20260302"), &prior(t0, Some("2025-03-02")));
        assert!(c.compared);
        assert_eq!(c.interval_days, Some(365));
        assert_eq!(status(&c, "L-PIP3", Some(A)), Some(Status::New));
        assert_eq!(status(&c, "L-PIP3", Some(S)), Some(Status::UnchangedAbsent));
        assert_eq!(
            status(&c, "L-MCP2", Some(S)),
            Some(Status::UnchangedPresent)
        );
        assert_eq!(
            status(&c, "L-PIP4", Some(A)),
            Some(Status::AbsentNowPresentBefore)
        );
        assert_eq!(status(&c, "L-PIP4", Some(S)), Some(Status::New));
        assert_eq!(status(&c, "L-IP1", Some(A)), Some(Status::New));
        assert_eq!(status(&c, "L-IP1", Some(S)), None);
        assert_eq!(status(&c, "L-MCP5", None), Some(Status::NotSeenNow));
        assert_eq!(status(&c, "L-PIP2", None), Some(Status::NotSeenBefore));
        let h = &c.hands[0];
        assert_eq!(h.side, "L");
        // Worked by hand: now L-PIP3 4 + L-MCP2 3 + L-PIP4 3 (+ L-IP1 ankylosis, no JSN
        // score) = 10; before L-MCP2 3 + L-PIP4 4 = 7.
        // Unchanged absent: L-PIP3 subluxation and L-MCP2 ankylosis (L-PIP4 changed both
        // ways, L-IP1 has no subluxation label).
        let want = ChangeCounts {
            new_ankylosis: 2,
            new_subluxation: 1,
            unchanged_present: 1,
            unchanged_absent: 2,
            absent_now_present_before: 1,
            not_seen_now: 1,
            not_seen_before: 1,
            jsn_partial_min: 10,
            jsn_partial_min_prior: 7,
        };
        assert_eq!(h.counts, want);
        assert_eq!(c.patient, want);
    }

    #[test]
    fn only_the_same_hand_is_compared() {
        let t0 = film(&[Side::Right], &[("R-MCP2", false, Some(true))]);
        let t1 = film(&[Side::Left], &[("L-MCP2", false, Some(true))]);
        let c = compare(&t1, None, &prior(t0.clone(), None));
        assert!(!c.compared);
        assert_eq!(
            c.not_compared_reason.as_deref(),
            Some("the prior shows another hand")
        );
        assert!(c.joints.is_empty() && c.hands.is_empty());

        // Both hands now, the right one before: only the right hand is compared.
        let both = film(
            &[Side::Right, Side::Left],
            &[("R-MCP2", true, Some(true)), ("L-MCP2", true, Some(true))],
        );
        let c = compare(&both, None, &prior(t0, None));
        assert!(c.compared);
        assert_eq!(c.hands.len(), 1);
        assert!(c.joints.iter().all(|j| j.joint.side == Side::Right));
        assert_eq!(c.patient.new_ankylosis, 1);
        assert_eq!(c.patient.unchanged_present, 1);
        assert_eq!(
            (c.patient.jsn_partial_min, c.patient.jsn_partial_min_prior),
            (4, 3)
        );
        assert_eq!(c.interval_days, None);
    }

    #[test]
    fn a_film_not_assessable_is_no_prior() {
        let mut t0 = film(&[Side::Right], &[]);
        t0.assessable = false;
        let t1 = film(&[Side::Right], &[("R-MCP2", true, Some(false))]);
        let c = compare(&t1, None, &prior(t0, None));
        assert!(!c.compared);
        assert_eq!(
            c.not_compared_reason.as_deref(),
            Some("the prior film was not assessable")
        );
    }

    #[test]
    fn two_hands_are_counted_per_hand_and_added_per_patient() {
        let both = [Side::Right, Side::Left];
        let t0 = film(
            &both,
            &[
                ("R-PIP2", false, Some(false)),
                ("L-PIP2", false, Some(false)),
            ],
        );
        let t1 = film(
            &both,
            &[("R-PIP2", true, Some(false)), ("L-PIP2", false, Some(true))],
        );
        let c = compare(&t1, None, &prior(t0, None));
        let sides: Vec<&str> = c.hands.iter().map(|h| h.side.as_str()).collect();
        assert_eq!(sides, ["R", "L"]);
        assert_eq!(c.hands[0].counts.new_ankylosis, 1);
        assert_eq!(c.hands[0].counts.jsn_partial_min, 4);
        assert_eq!(c.hands[1].counts.new_subluxation, 1);
        assert_eq!(c.hands[1].counts.jsn_partial_min, 3);
        assert_eq!((c.patient.new_ankylosis, c.patient.new_subluxation), (1, 1));
        assert_eq!(c.patient.jsn_partial_min, 7);
        assert_eq!(c.patient.unchanged_absent, 2);
    }

    #[test]
    fn dates_and_intervals() {
        assert_eq!(iso_date("20250302").as_deref(), Some("2025-03-02"));
        assert_eq!(iso_date("2025-03-02").as_deref(), Some("2025-03-02"));
        assert_eq!(iso_date("20250230"), None);
        assert_eq!(iso_date("2025032"), None);
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(
            days("2024-03-01")
                .zip(days("2024-02-28"))
                .map(|(a, b)| a - b),
            Some(2)
        );
        assert_eq!(days("2000-02-29"), Some(11_016));
        assert_eq!(days("1900-02-29"), None);
    }
}
