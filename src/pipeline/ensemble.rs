//! Ensemble prediction, Algorithm 1 of the paper: the outputs B¹ (ankylosis detector) and
//! B² (subluxation/dislocation detector) are merged. A box of each overlapping at
//! IoU >= t_IoU2 is one joint carrying both labels c¹ and c² (lines 5-18; the more confident
//! box is kept, as in NMS); a box with no partner keeps its own label and gets the
//! negative class c_neg for the other finding (lines 20, 23); if more than M1 boxes remain,
//! the M1 most confident are kept (lines 24-29).

use super::bbox::BBox;
use super::select::Detection;

/// Which detectors saw a merged joint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merged {
    pub bbox: BBox,
    /// max ĉ of the boxes merged.
    pub score: f32,
    /// The ankylosis detector's box, or `None` when its label is c_neg.
    pub ankylosis: Option<Detection>,
    /// The subluxation detector's box, or `None` when its label is c_neg.
    pub subluxation: Option<Detection>,
}

/// Algorithm 1. `b1` and `b2` are each detector's selected boxes; `m1` is M1 (20).
/// Each box of B¹, most confident first, is paired with the still unpaired box of B² that
/// overlaps it most, if that IoU is at least `t_iou2`. Output sorted by score, highest first.
pub fn merge(b1: &[Detection], b2: &[Detection], t_iou2: f32, m1: usize) -> Vec<Merged> {
    let mut order1: Vec<usize> = (0..b1.len()).collect();
    order1.sort_by(|&a, &b| b1[b].confidence().total_cmp(&b1[a].confidence()));
    let mut paired2 = vec![false; b2.len()];
    let mut out = Vec::with_capacity(b1.len() + b2.len());
    for i in order1 {
        let d1 = b1[i];
        let partner = b2
            .iter()
            .enumerate()
            .filter(|(j, _)| !paired2[*j])
            .map(|(j, d2)| (j, d1.bbox.iou(&d2.bbox)))
            .filter(|&(_, iou)| iou >= t_iou2)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match partner {
            Some((j, _)) => {
                paired2[j] = true;
                let d2 = b2[j];
                let keep = if d2.confidence() > d1.confidence() {
                    d2
                } else {
                    d1
                };
                out.push(Merged {
                    bbox: keep.bbox,
                    score: keep.confidence(),
                    ankylosis: Some(d1),
                    subluxation: Some(d2),
                });
            }
            None => out.push(Merged {
                bbox: d1.bbox,
                score: d1.confidence(),
                ankylosis: Some(d1),
                subluxation: None,
            }),
        }
    }
    for (j, d2) in b2.iter().enumerate() {
        if !paired2[j] {
            out.push(Merged {
                bbox: d2.bbox,
                score: d2.confidence(),
                ankylosis: None,
                subluxation: Some(*d2),
            });
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(m1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, absent: f32, present: f32) -> Detection {
        Detection {
            bbox: BBox::new(x, y, x + 10.0, y + 10.0),
            absent,
            present,
        }
    }

    #[test]
    fn overlapping_boxes_become_one_joint_with_both_labels() {
        // Shifted by 2 px: IoU = 80 / 120 = 0.667 >= 0.45. The subluxation box is more
        // confident (0.99 > 0.95), so its box is kept; both labels are carried.
        let a = det(0.0, 0.0, 0.95, 0.01);
        let s = det(2.0, 0.0, 0.0, 0.99);
        let out = merge(&[a], &[s], 0.45, 20);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, s.bbox);
        assert_eq!(out[0].score, 0.99);
        assert_eq!(out[0].ankylosis, Some(a));
        assert_eq!(out[0].subluxation, Some(s));
    }

    #[test]
    fn boxes_without_overlap_keep_their_own_label_and_get_c_neg() {
        // Shifted by 5 px: IoU = 50 / 150 = 0.333 < 0.45: two joints.
        let a = det(0.0, 0.0, 0.95, 0.01);
        let s = det(5.0, 0.0, 0.0, 0.99);
        let out = merge(&[a], &[s], 0.45, 20);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].ankylosis, out[0].subluxation), (None, Some(s)));
        assert_eq!((out[1].ankylosis, out[1].subluxation), (Some(a), None));
    }

    #[test]
    fn detections_from_one_detector_only() {
        let a = [det(0.0, 0.0, 0.95, 0.0), det(50.0, 0.0, 0.97, 0.0)];
        let out = merge(&a, &[], 0.45, 20);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ankylosis, Some(a[1]));
        assert!(out.iter().all(|m| m.subluxation.is_none()));
        let out = merge(&[], &a, 0.45, 20);
        assert!(
            out.iter()
                .all(|m| m.ankylosis.is_none() && m.subluxation.is_some())
        );
    }

    #[test]
    fn more_than_m1_candidates_keep_the_m1_most_confident() {
        // 20 ankylosis boxes (0.950..0.969) and 3 subluxation-only boxes elsewhere
        // (0.991, 0.992, 0.993): 23 candidates > M1 = 20, so the three weakest ankylosis
        // boxes (0.950, 0.951, 0.952) go.
        let a: Vec<Detection> = (0..20)
            .map(|i| det(i as f32 * 20.0, 0.0, 0.95 + i as f32 * 0.001, 0.0))
            .collect();
        let s: Vec<Detection> = (0..3)
            .map(|i| det(i as f32 * 20.0, 100.0, 0.991 + i as f32 * 0.001, 0.0))
            .collect();
        let out = merge(&a, &s, 0.45, 20);
        assert_eq!(out.len(), 20);
        assert_eq!(out[0].subluxation, Some(s[2]));
        let lowest = out.iter().map(|m| m.score).fold(f32::INFINITY, f32::min);
        assert!((lowest - 0.953).abs() < 1e-6, "{lowest}");
    }

    #[test]
    fn each_box_is_paired_at_most_once_with_its_best_partner() {
        // One subluxation box between two ankylosis boxes: it pairs with the most
        // confident ankylosis box that reaches t_IoU2, the other stays alone.
        let a1 = det(0.0, 0.0, 0.99, 0.0);
        let a2 = det(1.0, 0.0, 0.95, 0.0);
        let s = det(0.5, 0.0, 0.93, 0.0);
        let out = merge(&[a2, a1], &[s], 0.45, 20);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ankylosis, Some(a1));
        assert_eq!(out[0].subluxation, Some(s));
        assert_eq!((out[1].ankylosis, out[1].subluxation), (Some(a2), None));
    }
}
