//! What the results say in words: every text a person reads about a joint or a film, in
//! the SR (Comment, summary), the GSPS, the summary image and the PNG overlay, is made
//! here, so that all viewers show the same words for the same result.

use crate::analysis::{FindingLabel, HandSummary, Joint, Summary};
use crate::change::{Change, ChangeCounts, HandChange, JointChange, Status};
use crate::pipeline::naming::{JointId, Level, Side};

/// Burned into the summary image and written into its Image Comments and Series
/// Description: it is a picture of the result, not a diagnostic image.
pub const NOT_FOR_DIAGNOSTIC_USE: &str = "NOT FOR DIAGNOSTIC USE";

/// The title over the summary image's findings table.
pub const SUMMARY_TITLE: &str = "RA joints AI summary";

/// Series Description of the summary image's series.
pub const SUMMARY_SERIES_DESCRIPTION: &str = "RA joints AI summary (not for diagnostic use)";

/// Heading of the per-joint lines in the summary image's table.
pub const JOINTS_HEADING: &str = "Joints";

/// Heading of the model lines in the summary image's table.
pub const MODELS_HEADING: &str = "Models";

/// Image Comments (0020,4000) of the summary image.
pub fn summary_image_comments() -> String {
    format!(
        "{NOT_FOR_DIAGNOSTIC_USE}: picture of the AI result (joint boxes, findings and a \
         findings table burned in); the structured report is the result"
    )
}

/// Derivation Description (0008,2111) of the summary image (at most 1024 characters).
pub const SUMMARY_DERIVATION: &str = "Source image scaled to at most 2000 pixels on its \
     long side, converted to RGB, with the AI joint boxes, their findings and a findings \
     table burned in";

/// A detector in a line for the summary image: `ankylosis: ank-ssd 1.2 (sha256 ab12cd34ef56)`.
pub fn model_line(finding: Finding, model: &crate::analysis::ModelInfo) -> String {
    let sha: String = model.sha256.chars().take(12).collect();
    format!(
        "{}: {} {} (sha256 {sha})",
        finding.name(),
        model.name,
        model.version
    )
}

/// The software that drew the summary: `rajoints 0.1.0`.
pub fn software_line() -> String {
    format!("rajoints {}", env!("CARGO_PKG_VERSION"))
}

/// One of the two special findings the detectors label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    Ankylosis,
    Subluxation,
}

impl Finding {
    /// The finding in running text.
    pub fn name(self) -> &'static str {
        match self {
            Finding::Ankylosis => "ankylosis",
            Finding::Subluxation => "subluxation/dislocation",
        }
    }

    /// The finding in a label over the film, where room is short.
    pub fn short(self) -> &'static str {
        match self {
            Finding::Ankylosis => "ANK",
            Finding::Subluxation => "SUBL",
        }
    }
}

/// A joint's labels in report order: ankylosis, then subluxation/dislocation unless the
/// joint is a thumb IP (which the subluxation detector does not score).
pub fn findings(joint: &Joint) -> Vec<(Finding, FindingLabel)> {
    let mut out = vec![(Finding::Ankylosis, joint.ankylosis)];
    out.extend(joint.subluxation.map(|l| (Finding::Subluxation, l)));
    out
}

/// The findings present on a joint.
pub fn present(joint: &Joint) -> Vec<(Finding, FindingLabel)> {
    findings(joint)
        .into_iter()
        .filter(|(_, l)| l.present)
        .collect()
}

/// A joint's name (`R-PIP2`), or `joint-<n>` with `n` its 1-based position in the
/// analysis when it has none. Also the SR's Tracking Identifier.
pub fn joint_name(joint: &Joint, index: usize) -> String {
    match joint.id {
        Some(id) => id.to_string(),
        None => format!("joint-{}", index + 1),
    }
}

/// A joint in words, side first: `right ring finger PIP joint`, `left thumb IP joint`,
/// `right index finger MCP joint`. `None` for a finger outside 1..=5.
pub fn joint_description(id: JointId) -> Option<String> {
    let side = match id.side {
        Side::Right => "right",
        Side::Left => "left",
    };
    let digit = match id.finger {
        1 => "thumb",
        2 => "index finger",
        3 => "middle finger",
        4 => "ring finger",
        5 => "little finger",
        _ => return None,
    };
    let row = match (id.level, id.finger) {
        (Level::Mcp, _) => "MCP",
        (Level::Pip, 1) => "IP",
        (Level::Pip, _) => "PIP",
    };
    Some(format!("{side} {digit} {row} joint"))
}

/// The meaning of a joint's local code in the SR, which OHIF shows over the box as the
/// finding site: the name and the joint in words, `R-PIP4 (right ring finger PIP joint)`.
pub fn joint_code_meaning(id: JointId) -> Option<String> {
    Some(format!("{id} ({})", joint_description(id)?))
}

/// What one detector contributed, for Contribution Description (0018,A003) of Contributing
/// Equipment: `ankylosis detector (model sha256 ab12...)`.
pub fn detector_description(finding: Finding, sha256: &str) -> String {
    format!("{} detector (model sha256 {sha256})", finding.name())
}

/// A probability as a whole percentage for people: never "0 %" or "100 %", which a
/// detector cannot know, but "<1 %" and ">99 %".
pub fn percent(probability: f32) -> String {
    // From the percentage with two decimals, as the SR's NUM holds it: so 0.005 (an f32 a
    // hair under it) reads "1 %" like the SR's 0.5, not "<1 %".
    let p = (f64::from(probability) * 100.0 * 100.0).round() / 100.0;
    if p < 0.5 {
        "<1 %".to_string()
    } else if p >= 99.5 {
        ">99 %".to_string()
    } else {
        // round(), half away from zero: `{:.0}` rounds 0.5 to even, "0 %".
        format!("{} %", p.round())
    }
}

/// The joint in one line, for the SR's Comment (OHIF's measurement label) and the summary
/// image's table: `R-PIP4: ankylosis 97 %`, `R-PIP4: ankylosis 97 %, subluxation/dislocation
/// 91 %`, or `R-MCP2: no finding` when neither finding is present. A reviewer's joint
/// (`reviewed`) carries no percentages: its labels are a person's, not a probability.
pub fn joint_comment(joint: &Joint, index: usize, reviewed: bool) -> String {
    let present = present(joint);
    let name = joint_name(joint, index);
    if present.is_empty() {
        return format!("{name}: no finding");
    }
    let parts: Vec<String> = present
        .iter()
        .map(|(f, l)| {
            if reviewed {
                f.name().to_string()
            } else {
                format!("{} {}", f.name(), percent(l.probability))
            }
        })
        .collect();
    format!("{name}: {}", parts.join(", "))
}

/// The short label drawn next to a joint's box on the film (GSPS text, summary image, PNG
/// overlay): `R-PIP2 ANK 97%`, `R-PIP2 ANK 97% SUBL 91%`, or just `R-PIP2`.
pub fn joint_short(joint: &Joint, index: usize) -> String {
    let mut text = joint_name(joint, index);
    for (f, l) in present(joint) {
        text.push(' ');
        text.push_str(f.short());
        text.push(' ');
        text.push_str(&percent(l.probability).replace(' ', ""));
    }
    text
}

/// "Right hand" or "Left hand" from a hand's side letter.
pub fn hand_name(side: &str) -> &'static str {
    match side {
        "R" => "Right hand",
        "L" => "Left hand",
        _ => "Hand of unknown side",
    }
}

/// The joints with one finding on one hand, in words: `R-PIP4, R-PIP5` or `none`.
pub fn joint_list(joints: &[String]) -> String {
    if joints.is_empty() {
        "none".to_string()
    } else {
        joints.join(", ")
    }
}

/// One hand's summary in a line: `Right hand (10 joints): ankylosis 1 (R-PIP4);
/// subluxation/dislocation 0 (none)`; `(1 joint)` for one.
pub fn hand_line(h: &HandSummary) -> String {
    format!(
        "{} ({} {}): {} {} ({}); {} {} ({})",
        hand_name(&h.side),
        h.joints,
        if h.joints == 1 { "joint" } else { "joints" },
        Finding::Ankylosis.name(),
        h.ankylosis.len(),
        joint_list(&h.ankylosis),
        Finding::Subluxation.name(),
        h.subluxation.len(),
        joint_list(&h.subluxation),
    )
}

/// The film's summary in lines: one per hand, or why the film was not assessed.
pub fn summary_lines(s: &Summary) -> Vec<String> {
    if !s.assessable {
        return vec![format!(
            "Not assessable: {}",
            s.not_assessable_reason
                .as_deref()
                .unwrap_or("no reason given")
        )];
    }
    if s.hands.is_empty() {
        return vec!["No joints found".to_string()];
    }
    s.hands.iter().map(hand_line).collect()
}

/// The prior's date for "since ...": `2025-03-02`, or `the prior` when it has none.
pub fn since(c: &Change) -> String {
    c.prior
        .study_date
        .clone()
        .unwrap_or_else(|| "the prior".to_string())
}

/// One line of the comparison in words, `None` for a finding absent both times (the
/// counts say those): `new ankylosis at L-PIP3`, `R-MCP2 subluxation/dislocation
/// unchanged`, `R-PIP4 ankylosis absent now, present before (to review)`, `L-MCP5 not seen
/// now`, `L-PIP2 not seen before`.
pub fn joint_change(j: &JointChange) -> Option<String> {
    let name = j.joint.to_string();
    let finding = j.finding.map(|f| f.label().name()).unwrap_or("finding");
    Some(match j.status {
        Status::New => format!("new {finding} at {name}"),
        Status::UnchangedPresent => format!("{name} {finding} unchanged"),
        Status::UnchangedAbsent => return None,
        Status::AbsentNowPresentBefore => {
            format!("{name} {finding} absent now, present before (to review)")
        }
        Status::NotSeenNow => format!("{name} not seen now"),
        Status::NotSeenBefore => format!("{name} not seen before"),
    })
}

/// The comparison in one line, new findings first, so that "since" follows them: `new
/// ankylosis at L-PIP3 since 2025-03-02; R-MCP2 subluxation/dislocation unchanged`, or
/// `no new finding since 2025-03-02`; why there is none when the prior was not comparable.
pub fn change_line(c: &Change) -> String {
    if !c.compared {
        return format!(
            "Not compared with the prior: {}",
            c.not_compared_reason
                .as_deref()
                .unwrap_or("no reason given")
        );
    }
    let rank = |s: Status| match s {
        Status::New => 0,
        Status::AbsentNowPresentBefore => 1,
        Status::UnchangedPresent => 2,
        _ => 3,
    };
    let mut lines: Vec<&JointChange> = c.joints.iter().collect();
    // Stable: within a rank the joints stay in anatomical order.
    lines.sort_by_key(|j| rank(j.status));
    let mut parts: Vec<String> = lines.iter().filter_map(|j| joint_change(j)).collect();
    let since = format!("since {}", since(c));
    match lines.first() {
        Some(j) if j.status == Status::New => parts[0] = format!("{} {since}", parts[0]),
        _ => parts.insert(0, format!("no new finding {since}")),
    }
    parts.join("; ")
}

/// The counts of a comparison, after "since ...": `new ankylosis 1 (L-PIP3); new
/// subluxation/dislocation 0 (none); unchanged 1; absent now, present before 0; not seen
/// at one time 0; minimum JSN 7 (partial score), before 4`.
fn change_counts(
    c: &Change,
    side: Option<crate::pipeline::naming::Side>,
    n: &ChangeCounts,
) -> String {
    let new = |f: crate::change::ChangeFinding| -> Vec<String> {
        c.joints
            .iter()
            .filter(|j| side.is_none_or(|s| j.joint.side == s))
            .filter(|j| j.status == Status::New && j.finding == Some(f))
            .map(|j| j.joint.to_string())
            .collect()
    };
    let ank = new(crate::change::ChangeFinding::Ankylosis);
    let subl = new(crate::change::ChangeFinding::Subluxation);
    format!(
        "new {} {} ({}); new {} {} ({}); unchanged {}; absent now, present before {}; \
         not seen at one time {}; minimum JSN {} (partial score), before {}",
        Finding::Ankylosis.name(),
        ank.len(),
        joint_list(&ank),
        Finding::Subluxation.name(),
        subl.len(),
        joint_list(&subl),
        n.unchanged_present,
        n.absent_now_present_before,
        n.not_seen_now + n.not_seen_before,
        n.jsn_partial_min,
        n.jsn_partial_min_prior,
    )
}

/// One hand's comparison in a line, the summary's "since <date>": `Right hand since
/// 2025-03-02 (365 days): new ankylosis 1 (R-PIP4); ...`.
pub fn hand_change_line(c: &Change, h: &HandChange) -> String {
    let side = crate::change::side_of(&h.side);
    let days = c
        .interval_days
        .map(|d| format!(" ({d} {})", if d == 1 { "day" } else { "days" }))
        .unwrap_or_default();
    format!(
        "{} since {}{days}: {}",
        hand_name(&h.side),
        since(c),
        change_counts(c, side, &h.counts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::bbox::BBox;

    fn joint(id: &str, ank: Option<f32>, subl: Option<Option<f32>>) -> Joint {
        let label = |p: Option<f32>| FindingLabel {
            present: p.is_some(),
            probability: p.unwrap_or(0.02),
        };
        Joint {
            id: id.parse().ok(),
            bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
            score: 0.95,
            ankylosis: label(ank),
            subluxation: subl.map(label),
        }
    }

    #[test]
    fn joints_are_described_side_digit_and_row() {
        let d = |s: &str| joint_code_meaning(s.parse().unwrap()).unwrap();
        assert_eq!(d("R-PIP4"), "R-PIP4 (right ring finger PIP joint)");
        assert_eq!(d("L-IP1"), "L-IP1 (left thumb IP joint)");
        assert_eq!(d("R-MCP2"), "R-MCP2 (right index finger MCP joint)");
        assert_eq!(d("L-MCP1"), "L-MCP1 (left thumb MCP joint)");
        assert_eq!(d("L-PIP5"), "L-PIP5 (left little finger PIP joint)");
        let bad = JointId {
            side: Side::Left,
            finger: 6,
            level: Level::Mcp,
        };
        assert_eq!(joint_description(bad), None);
    }

    #[test]
    fn percentages_never_claim_certainty() {
        assert_eq!(percent(0.0), "<1 %");
        assert_eq!(percent(0.004), "<1 %");
        assert_eq!(percent(0.005), "1 %");
        assert_eq!(percent(0.974), "97 %");
        assert_eq!(percent(0.9949), "99 %");
        assert_eq!(percent(0.9975), ">99 %");
        assert_eq!(percent(1.0), ">99 %");
    }

    #[test]
    fn comments_name_the_joint_and_the_findings_present() {
        let j = joint("R-PIP4", Some(0.97), Some(None));
        assert_eq!(joint_comment(&j, 0, false), "R-PIP4: ankylosis 97 %");
        let j = joint("L-MCP2", Some(0.97), Some(Some(0.912)));
        assert_eq!(
            joint_comment(&j, 0, false),
            "L-MCP2: ankylosis 97 %, subluxation/dislocation 91 %"
        );
        assert_eq!(
            joint_comment(&j, 0, true),
            "L-MCP2: ankylosis, subluxation/dislocation"
        );
        let j = joint("R-IP1", None, None);
        assert_eq!(joint_comment(&j, 0, false), "R-IP1: no finding");
        let j = joint("nonsense", None, Some(Some(0.6)));
        assert_eq!(
            joint_comment(&j, 6, false),
            "joint-7: subluxation/dislocation 60 %"
        );
    }

    #[test]
    fn short_labels_fit_over_the_film() {
        let j = joint("L-MCP3", Some(0.97), Some(Some(0.91)));
        assert_eq!(joint_short(&j, 0), "L-MCP3 ANK 97% SUBL 91%");
        let j = joint("L-MCP3", None, Some(None));
        assert_eq!(joint_short(&j, 0), "L-MCP3");
        let j = joint("L-MCP3", Some(0.999), None);
        assert_eq!(joint_short(&j, 0), "L-MCP3 ANK >99%");
    }

    #[test]
    fn hand_lines_count_and_list_the_joints() {
        let h = HandSummary {
            side: "R".into(),
            joints: 10,
            ankylosis: vec!["R-PIP4".into(), "R-PIP5".into()],
            subluxation: vec![],
        };
        assert_eq!(
            hand_line(&h),
            "Right hand (10 joints): ankylosis 2 (R-PIP4, R-PIP5); \
             subluxation/dislocation 0 (none)"
        );
        let h = HandSummary {
            side: "L".into(),
            joints: 1,
            ankylosis: vec![],
            subluxation: vec!["L-MCP3".into()],
        };
        assert_eq!(
            hand_line(&h),
            "Left hand (1 joint): ankylosis 0 (none); subluxation/dislocation 1 (L-MCP3)"
        );
        let s = Summary {
            assessable: false,
            not_assessable_reason: Some("not a hand".into()),
            hands: vec![],
        };
        assert_eq!(summary_lines(&s), ["Not assessable: not a hand"]);
    }
    #[test]
    fn change_lines_put_new_findings_first_with_the_date() {
        use crate::change::{ChangeFinding as F, JointChange as J, PriorInfo};
        let j = |s: &str, finding, status| J {
            joint: s.parse().unwrap(),
            finding,
            status,
        };
        let mut c = Change {
            prior: PriorInfo {
                study_date: Some("2025-03-02".into()),
                ..PriorInfo::default()
            },
            compared: true,
            interval_days: Some(365),
            joints: vec![
                j("R-MCP2", Some(F::Subluxation), Status::UnchangedPresent),
                j("R-MCP2", Some(F::Ankylosis), Status::UnchangedAbsent),
                j("L-PIP3", Some(F::Ankylosis), Status::New),
            ],
            ..Change::default()
        };
        assert_eq!(
            change_line(&c),
            "new ankylosis at L-PIP3 since 2025-03-02; R-MCP2 subluxation/dislocation unchanged"
        );
        c.joints.pop();
        c.joints.push(j(
            "R-PIP4",
            Some(F::Ankylosis),
            Status::AbsentNowPresentBefore,
        ));
        c.joints.push(j("R-PIP5", None, Status::NotSeenNow));
        assert_eq!(
            change_line(&c),
            "no new finding since 2025-03-02; R-PIP4 ankylosis absent now, present before \
             (to review); R-MCP2 subluxation/dislocation unchanged; R-PIP5 not seen now"
        );
        let h = HandChange {
            side: "R".into(),
            counts: ChangeCounts {
                unchanged_present: 1,
                unchanged_absent: 1,
                absent_now_present_before: 1,
                not_seen_now: 1,
                jsn_partial_min: 3,
                jsn_partial_min_prior: 7,
                ..ChangeCounts::default()
            },
        };
        assert_eq!(
            hand_change_line(&c, &h),
            "Right hand since 2025-03-02 (365 days): new ankylosis 0 (none); new \
             subluxation/dislocation 0 (none); unchanged 1; absent now, present before 1; \
             not seen at one time 1; minimum JSN 3 (partial score), before 7"
        );
        let none = Change {
            not_compared_reason: Some("the prior shows another hand".into()),
            ..Change::default()
        };
        assert_eq!(
            change_line(&none),
            "Not compared with the prior: the prior shows another hand"
        );
    }
}
