//! One-to-one matching of predicted and ground-truth joint boxes. A prediction detects a
//! joint when their IoU is above 0.45 (paper, "Evaluation"); pairs are taken greedily in
//! order of decreasing IoU, so each box is used at most once.

use crate::pipeline::bbox::BBox;

/// The paper's detection threshold: IoU strictly above 0.45.
pub const DETECTION_IOU: f32 = 0.45;

/// Index pairs (ground truth, prediction) with their IoU.
pub fn match_boxes(truth: &[BBox], pred: &[BBox], min_iou: f32) -> Vec<(usize, usize, f32)> {
    let mut pairs: Vec<(usize, usize, f32)> = Vec::new();
    for (g, t) in truth.iter().enumerate() {
        for (p, b) in pred.iter().enumerate() {
            let iou = t.iou(b);
            if iou > min_iou {
                pairs.push((g, p, iou));
            }
        }
    }
    // Highest IoU first; ties by index so the result never depends on sort internals.
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    let (mut used_g, mut used_p) = (vec![false; truth.len()], vec![false; pred.len()]);
    let mut out = Vec::new();
    for (g, p, iou) in pairs {
        if !used_g[g] && !used_p[p] {
            used_g[g] = true;
            used_p[p] = true;
            out.push((g, p, iou));
        }
    }
    out.sort_by_key(|m| m.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32) -> BBox {
        BBox::new(x, 0.0, x + 10.0, 10.0)
    }

    #[test]
    fn iou_must_exceed_the_threshold() {
        // Shift 3: IoU = 70 / 130 = 0.538 > 0.45. Shift 4: 60 / 140 = 0.4286: no match.
        assert_eq!(match_boxes(&[b(0.0)], &[b(3.0)], DETECTION_IOU).len(), 1);
        assert!(match_boxes(&[b(0.0)], &[b(4.0)], DETECTION_IOU).is_empty());
    }

    #[test]
    fn each_box_matches_once_best_first() {
        // Two predictions on one joint: only the better (shift 1, IoU 0.818) matches.
        let m = match_boxes(&[b(0.0)], &[b(2.0), b(1.0)], DETECTION_IOU);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].0, m[0].1), (0, 1));
    }
}
