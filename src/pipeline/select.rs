//! Per-detector selection (paper, "Individual SSD predictions"): keep boxes whose
//! confidence ĉ = max(c) over the finding classes is at least t_conf, suppress boxes that
//! overlap a more confident one at IoU >= t_IoU1 (NMS), and keep the top M.

use super::bbox::BBox;

/// One box of one detector, in source-image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    /// Softmax probability of "finding absent".
    pub absent: f32,
    /// Softmax probability of "finding present".
    pub present: f32,
}

impl Detection {
    /// ĉ: the larger of the two finding-class probabilities.
    pub fn confidence(&self) -> f32 {
        self.absent.max(self.present)
    }

    /// The raw argmax of the box: the more probable finding class. The node's finding
    /// label is the detector's calibrated one (`model::calibration::Calibration`).
    pub fn is_present(&self) -> bool {
        self.present > self.absent
    }
}

/// Selection thresholds of one detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectParams {
    /// t_conf (paper: 0.9).
    pub t_conf: f32,
    /// t_IoU1 (paper: 0.15).
    pub t_iou: f32,
    /// M (paper: M1 = 20 for ankylosis, M2 = 18 for subluxation/dislocation).
    pub top_m: usize,
}

/// Threshold, NMS, top-M. The result is sorted by confidence, highest first; equal
/// confidences keep their input order, so the result does not depend on sort internals.
pub fn select(candidates: &[Detection], p: &SelectParams) -> Vec<Detection> {
    let mut kept_in: Vec<&Detection> = candidates
        .iter()
        .filter(|d| d.confidence() >= p.t_conf && d.bbox.is_proper())
        .collect();
    kept_in.sort_by(|a, b| b.confidence().total_cmp(&a.confidence()));
    let mut out: Vec<Detection> = Vec::with_capacity(p.top_m.min(kept_in.len()));
    for d in kept_in {
        if out.len() >= p.top_m {
            // Greedy NMS keeps boxes in descending confidence, so the first M kept are
            // exactly the top M of the suppressed set.
            break;
        }
        if out.iter().all(|k| k.bbox.iou(&d.bbox) < p.t_iou) {
            out.push(*d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, absent: f32, present: f32) -> Detection {
        Detection {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            absent,
            present,
        }
    }

    const PAPER: SelectParams = SelectParams {
        t_conf: 0.9,
        t_iou: 0.15,
        top_m: 20,
    };

    #[test]
    fn drops_boxes_below_t_conf() {
        // ĉ = 0.89 < 0.9 is dropped; 0.9 itself is kept ("above the threshold" taken as >=).
        let out = select(&[det(0.0, 0.89, 0.05), det(100.0, 0.05, 0.9)], &PAPER);
        assert_eq!(out, vec![det(100.0, 0.05, 0.9)]);
    }

    #[test]
    fn nms_removes_the_less_confident_of_an_overlapping_pair() {
        // Boxes at x=0 and x=8 (10 wide): IoU = 2*10 / (200 - 20) = 0.111 < 0.15, both kept.
        // Boxes at x=0 and x=7: IoU = 30 / 170 = 0.176 >= 0.15, the weaker (0.92) goes.
        let out = select(&[det(0.0, 0.95, 0.0), det(8.0, 0.93, 0.0)], &PAPER);
        assert_eq!(out.len(), 2);
        let out = select(&[det(7.0, 0.92, 0.0), det(0.0, 0.95, 0.0)], &PAPER);
        assert_eq!(out, vec![det(0.0, 0.95, 0.0)]);
    }

    #[test]
    fn a_suppressed_box_does_not_suppress_others() {
        // A (0.99) at 0, B (0.98) at 7 overlaps A, C (0.97) at 14 overlaps B only.
        // Greedy NMS: A kept, B removed by A, C kept (IoU(A, C) = 0).
        let out = select(
            &[
                det(7.0, 0.98, 0.0),
                det(14.0, 0.97, 0.0),
                det(0.0, 0.99, 0.0),
            ],
            &PAPER,
        );
        assert_eq!(out, vec![det(0.0, 0.99, 0.0), det(14.0, 0.97, 0.0)]);
    }

    #[test]
    fn keeps_the_top_m_most_confident() {
        // 25 disjoint boxes with confidences 0.900..0.996; M = 20 keeps the 20 highest,
        // i.e. drops the five of confidence 0.900..0.916.
        let cands: Vec<Detection> = (0..25)
            .map(|i| det(i as f32 * 20.0, 0.9 + i as f32 * 0.004, 0.0))
            .collect();
        let out = select(&cands, &PAPER);
        assert_eq!(out.len(), 20);
        assert_eq!(out[0], cands[24]);
        assert_eq!(out[19], cands[5]);
        let m18 = select(&cands, &SelectParams { top_m: 18, ..PAPER });
        assert_eq!(m18.len(), 18);
    }

    #[test]
    fn confidence_is_the_larger_finding_probability() {
        let d = det(0.0, 0.02, 0.97);
        assert_eq!(d.confidence(), 0.97);
        assert!(d.is_present());
        assert!(!det(0.0, 0.6, 0.3).is_present());
    }
}
