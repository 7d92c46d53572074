//! Overlap recovery (beyond the paper, as its Discussion proposes): a joint hidden behind
//! an overlapping one is put back when the hand model has an empty place for it.
//!
//! The paper sets t_IoU1 strict (0.15) because joint boxes "minimally overlap" on hand
//! films, and its one detection failure (Fig. 5b) is the posterior of two overlapping
//! joints in a deformed hand; it suggests "removing the overlap of the bounding boxes
//! using a hand model prepared in advance". Our phantoms show the same: every joint the
//! ensemble misses overlaps a neighbour's box by more than t_IoU1 (crossed fingers, an
//! MCP dislocated under its neighbour), while the detectors did find it above t_conf.
//!
//! A candidate comes back only when all of these hold, so that a film without crossed
//! joints gets exactly Algorithm 1's output:
//! - its confidence is at least t_conf;
//! - it overlaps a final box at IoU >= t_IoU1 (NMS is what removed it) and every final
//!   box at IoU < t_IoU2 (Algorithm 1's own test says it is another joint);
//! - named together with the final boxes, it takes a joint name and no box loses its name.
//!
//! The film keeps at most M1 boxes, as Algorithm 1 does: when a recovered joint would be
//! one too many, the least confident box without a name (no joint of the hand model, a
//! false detection) makes room; with no such box the joint is not added.

use super::bbox::BBox;
use super::ensemble::Merged;
use super::naming::JointId;
use super::select::Detection;

/// At most this many places are tried per film: each try refits the hand model.
const MAX_TRIES: usize = 8;

/// The thresholds of the method that recovery reuses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoverParams {
    pub t_conf: f32,
    pub t_iou1: f32,
    pub t_iou2: f32,
    /// M1: the most boxes a film keeps.
    pub m1: usize,
    /// The most joints the film can have named (10 on a one-hand film, 20 otherwise):
    /// once they are, no refit can name one more.
    pub max_joints: usize,
}

/// A place where NMS removed candidates of one or both detectors.
#[derive(Debug, Clone, Copy)]
struct Place {
    best: Detection,
    ankylosis: Option<Detection>,
    subluxation: Option<Detection>,
}

/// Adds the joints that overlap recovers to `merged` and `names` (same order, one name
/// per box), given each detector's candidates above t_conf before selection; `namer`
/// names a set of boxes as the film's hand model and laterality do. Returns how many
/// joints were put back.
pub fn recover(
    merged: &mut Vec<Merged>,
    names: &mut Vec<Option<JointId>>,
    cand_a: &[Detection],
    cand_s: &[Detection],
    p: &RecoverParams,
    namer: &dyn Fn(&[BBox]) -> Vec<Option<JointId>>,
) -> usize {
    let mut added = 0;
    if merged.is_empty() || names.iter().flatten().count() >= p.max_joints {
        return added;
    }
    let finals: Vec<BBox> = merged.iter().map(|m| m.bbox).collect();
    let hidden = |d: &&Detection| {
        d.confidence() >= p.t_conf
            && d.bbox.is_proper()
            && finals
                .iter()
                .map(|f| f.iou(&d.bbox))
                .max_by(f32::total_cmp)
                .is_some_and(|ov| ov >= p.t_iou1 && ov < p.t_iou2)
    };
    let pool_a: Vec<Detection> = cand_a.iter().filter(hidden).copied().collect();
    let pool_s: Vec<Detection> = cand_s.iter().filter(hidden).copied().collect();
    for place in places(&pool_a, &pool_s, p) {
        if names.iter().flatten().count() >= p.max_joints {
            break;
        }
        let mut boxes: Vec<BBox> = merged.iter().map(|m| m.bbox).collect();
        boxes.push(place.best.bbox);
        let refit = namer(&boxes);
        let before = names.iter().flatten().count();
        let kept_all = names
            .iter()
            .zip(&refit)
            .all(|(old, new)| old.is_none() || new.is_some());
        if !(refit.last().is_some_and(Option::is_some)
            && kept_all
            && refit.iter().flatten().count() == before + 1)
        {
            continue;
        }
        // Room within M1: the least confident unnamed box goes, or the joint stays out.
        let drop = if merged.len() < p.m1 {
            None
        } else {
            let Some(k) = (0..merged.len())
                .filter(|&k| refit[k].is_none())
                .min_by(|&a, &b| merged[a].score.total_cmp(&merged[b].score))
            else {
                continue;
            };
            Some(k)
        };
        merged.push(Merged {
            bbox: place.best.bbox,
            score: place.best.confidence(),
            ankylosis: place.ankylosis,
            subluxation: place.subluxation,
        });
        *names = refit;
        if let Some(k) = drop {
            merged.remove(k);
            names.remove(k);
        }
        added += 1;
    }
    added
}

/// The hidden candidates of both detectors, grouped by greedy NMS at t_IoU1 (most
/// confident first), at most MAX_TRIES places: each is tried by a refit of the hand
/// model, so later ones are not worth their partner search. Each place carries the most
/// confident box of each detector that overlaps it at t_IoU2 or more, as Algorithm 1
/// pairs boxes; a detector without one gives the negative class c_neg (`None`).
fn places(pool_a: &[Detection], pool_s: &[Detection], p: &RecoverParams) -> Vec<Place> {
    let mut all: Vec<&Detection> = pool_a.iter().chain(pool_s).collect();
    all.sort_by(|a, b| b.confidence().total_cmp(&a.confidence()));
    let mut out: Vec<Place> = Vec::new();
    for d in all {
        if out.len() == MAX_TRIES {
            break;
        }
        if out.iter().any(|q| q.best.bbox.iou(&d.bbox) >= p.t_iou1) {
            continue;
        }
        let partner = |pool: &[Detection]| {
            pool.iter()
                .filter(|c| c.bbox.iou(&d.bbox) >= p.t_iou2)
                .max_by(|a, b| a.confidence().total_cmp(&b.confidence()))
                .copied()
        };
        out.push(Place {
            best: *d,
            ankylosis: partner(pool_a),
            subluxation: partner(pool_s),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::laterality::View;
    use crate::pipeline::naming::{self, HandCount, Level, TEMPLATE};

    /// The phantoms' reading hanging, seen from the palm.
    fn palmar(boxes: &[BBox]) -> Vec<Option<JointId>> {
        naming::name_joints(boxes, HandCount::Either, |h| {
            View::Palmar.side(h.thumb_plus_x)
        })
    }

    const PAPER: RecoverParams = RecoverParams {
        t_conf: 0.9,
        t_iou1: 0.15,
        t_iou2: 0.45,
        m1: 20,
        max_joints: 20,
    };

    fn det(b: BBox, absent: f32, present: f32) -> Detection {
        Detection {
            bbox: b,
            absent,
            present,
        }
    }

    /// A joint of one right hand drawn from the template at 5 px/mm, origin (600, 500),
    /// as a 100 px box (a 20 mm joint box; template neighbours then overlap at IoU < 0.1).
    fn template_box(finger: u8, level: Level) -> BBox {
        let &(_, _, x, y) = TEMPLATE
            .iter()
            .find(|&&(f, l, _, _)| f == finger && l == level)
            .expect("template joint");
        let (cx, cy) = (600.0 + 5.0 * x, 500.0 + 5.0 * y);
        BBox::new(cx - 50.0, cy - 50.0, cx + 50.0, cy + 50.0)
    }

    fn merged_of(b: BBox) -> Merged {
        Merged {
            bbox: b,
            score: 0.99,
            ankylosis: Some(det(b, 0.99, 0.01)),
            subluxation: None,
        }
    }

    /// The nine final boxes of a right hand whose ring-finger PIP NMS removed, and the
    /// PIP3 box, which removed it.
    fn hand_without_pip4() -> (Vec<Merged>, Vec<Option<JointId>>, BBox) {
        let merged: Vec<Merged> = TEMPLATE
            .iter()
            .filter(|&&(f, l, _, _)| (f, l) != (4, Level::Pip))
            .map(|&(f, l, _, _)| merged_of(template_box(f, l)))
            .collect();
        let boxes: Vec<BBox> = merged.iter().map(|m| m.bbox).collect();
        let names = palmar(&boxes);
        (merged, names, template_box(3, Level::Pip))
    }

    fn run(
        merged: &mut Vec<Merged>,
        names: &mut Vec<Option<JointId>>,
        a: &[Detection],
        s: &[Detection],
    ) -> usize {
        run_m1(merged, names, a, s, 20)
    }

    fn run_m1(
        merged: &mut Vec<Merged>,
        names: &mut Vec<Option<JointId>>,
        a: &[Detection],
        s: &[Detection],
        m1: usize,
    ) -> usize {
        let p = RecoverParams { m1, ..PAPER };
        recover(merged, names, a, s, &p, &palmar)
    }

    /// PIP4 crossed under PIP3: its box lies 56 px towards PIP4 and 24 px proximal of
    /// PIP3's: IoU 44x76 / (2x100^2 - 3344) = 0.2008 >= t_IoU1, and 10 mm from its
    /// template place (500, 307.5) at centre (546.5, 289).
    fn hidden_pip4(pip3: BBox) -> BBox {
        BBox::new(
            pip3.x0 - 56.0,
            pip3.y0 + 24.0,
            pip3.x1 - 56.0,
            pip3.y1 + 24.0,
        )
    }

    #[test]
    fn puts_back_a_joint_hidden_by_nms() {
        let (mut merged, mut names, pip3) = hand_without_pip4();
        assert_eq!(names.iter().flatten().count(), 9);
        let hidden = hidden_pip4(pip3);
        assert!((pip3.iou(&hidden) - 3344.0 / 16656.0).abs() < 1e-5);
        // The second ankylosis box, below t_conf, is no partner however placed.
        let cand_a = vec![det(hidden, 0.97, 0.03), det(hidden, 0.5, 0.1)];
        let cand_s = vec![det(hidden, 0.02, 0.95)];
        assert_eq!(run(&mut merged, &mut names, &cand_a, &cand_s), 1);
        assert_eq!(merged.len(), 10);
        assert_eq!(names.iter().flatten().count(), 10);
        let added = merged[9];
        assert_eq!(added.bbox, hidden);
        // Each detector's label at the place, as Algorithm 1 pairs them.
        assert_eq!(added.ankylosis, Some(cand_a[0]));
        assert_eq!(added.subluxation, Some(cand_s[0]));
        assert_eq!(names[9].map(|n| n.to_string()).as_deref(), Some("R-PIP4"));
    }

    #[test]
    fn a_film_with_all_its_joints_named_is_not_refitted() {
        // The hand without PIP4 has 9 names; on a film that can have only 9 (as a one-hand
        // film can have only 10), the hidden PIP4 is not tried: the namer is never called.
        let (mut merged, mut names, pip3) = hand_without_pip4();
        let hidden = hidden_pip4(pip3);
        let calls = std::cell::Cell::new(0);
        let namer = |b: &[BBox]| {
            calls.set(calls.get() + 1);
            palmar(b)
        };
        let p = RecoverParams {
            max_joints: 9,
            ..PAPER
        };
        let added = recover(
            &mut merged,
            &mut names,
            &[det(hidden, 0.97, 0.03)],
            &[],
            &p,
            &namer,
        );
        assert_eq!((added, calls.get(), merged.len()), (0, 0, 9));
    }

    #[test]
    fn leaves_duplicates_lone_and_weak_boxes_alone() {
        let (merged0, names0, pip3) = hand_without_pip4();
        let shift =
            |dx: f32, dy: f32| BBox::new(pip3.x0 + dx, pip3.y0 + dy, pip3.x1 + dx, pip3.y1 + dy);
        // 10 px off PIP3: IoU 90x100 / (20000 - 9000) = 0.82 >= t_IoU2, the same joint.
        let dup = det(shift(-10.0, 0.0), 0.99, 0.0);
        // Where PIP4 belongs, overlapping nothing: NMS did not remove it, so it is not
        // ours to add (a detector that never found a joint is not an overlap).
        let lone = det(template_box(4, Level::Pip), 0.99, 0.0);
        // Hidden as in the test above, but below t_conf.
        let weak = det(shift(-56.0, 24.0), 0.89, 0.0);
        for cand in [dup, lone, weak] {
            let (mut merged, mut names) = (merged0.clone(), names0.clone());
            assert_eq!(run(&mut merged, &mut names, &[cand], &[]), 0, "{cand:?}");
            assert_eq!(merged.len(), 9, "{cand:?}");
            assert_eq!(names, names0);
        }
    }

    #[test]
    fn keeps_at_most_m1_boxes() {
        let (merged0, names0, pip3) = hand_without_pip4();
        let hidden = [det(hidden_pip4(pip3), 0.97, 0.0)];
        // A false detection over the distal radius, 100 mm proximal of MCP3: unnamed.
        let radius = BBox::new(570.0, 950.0, 670.0, 1050.0);
        let mut with_fp = merged0.clone();
        with_fp.push(Merged {
            score: 0.999,
            ..merged_of(radius)
        });
        let boxes: Vec<BBox> = with_fp.iter().map(|m| m.bbox).collect();
        let names_fp = palmar(&boxes);
        assert_eq!((names_fp.iter().flatten().count(), names_fp[9]), (9, None));
        // M1 = 10 and ten boxes: the unnamed one, though more confident, makes room.
        let (mut merged, mut names) = (with_fp.clone(), names_fp.clone());
        // One put back in place of another: the count says so though the length stays.
        assert_eq!(run_m1(&mut merged, &mut names, &hidden, &[], 10), 1);
        assert_eq!(merged.len(), 10);
        assert!(merged.iter().all(|m| m.bbox != radius));
        assert_eq!(names.iter().flatten().count(), 10);
        // M1 = 9 and nine named boxes: nothing can make room, so nothing is added.
        let (mut merged, mut names) = (merged0.clone(), names0.clone());
        assert_eq!(run_m1(&mut merged, &mut names, &hidden, &[], 9), 0);
        assert_eq!(merged, merged0);
    }

    #[test]
    fn places_are_grouped_at_t_iou1_most_confident_first() {
        let b = |x: f32| BBox::new(x, 0.0, x + 10.0, 10.0);
        // x=0 (0.95, A) and x=2 (0.97, S): IoU 80/120 = 0.67, one place led by S's box,
        // with A's box as its ankylosis partner (>= 0.45). x=30: a place of its own.
        let a = [det(b(0.0), 0.95, 0.0), det(b(30.0), 0.93, 0.0)];
        let s = [det(b(2.0), 0.97, 0.0)];
        let out = places(&a, &s, &PAPER);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].best, s[0]);
        assert_eq!(out[0].ankylosis, Some(a[0]));
        assert_eq!(out[0].subluxation, Some(s[0]));
        assert_eq!(out[1].best, a[1]);
        assert_eq!(out[1].subluxation, None);
    }
}
