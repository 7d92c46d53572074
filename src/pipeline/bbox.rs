//! Axis-aligned boxes and their intersection over union.
//!
//! Coordinates are `[x0, y0, x1, y1]` in pixels, pixel-edge convention: (0, 0) is the
//! top-left corner of the top-left pixel, so a box covering exactly pixel (c, r) is
//! `[c, r, c + 1, r + 1]` (PS3.3 C.18.6.1.2 uses the same convention for SCOORD).

use serde::{Deserialize, Serialize};

/// `[x0, y0, x1, y1]`, x0 <= x1 and y0 <= y1 for a valid box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl From<[f32; 4]> for BBox {
    fn from(v: [f32; 4]) -> Self {
        BBox::new(v[0], v[1], v[2], v[3])
    }
}

impl From<BBox> for [f32; 4] {
    fn from(b: BBox) -> Self {
        [b.x0, b.y0, b.x1, b.y1]
    }
}

impl BBox {
    pub const fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        BBox { x0, y0, x1, y1 }
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Centre as (x, y).
    pub fn centre(&self) -> (f32, f32) {
        ((self.x0 + self.x1) * 0.5, (self.y0 + self.y1) * 0.5)
    }

    /// Intersection over union; 0 for disjoint or degenerate boxes (never NaN).
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let ih = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// `(x, y) -> (x * s + dx, y * s + dy)` applied to both corners.
    pub fn scale_translate(&self, s: f32, dx: f32, dy: f32) -> BBox {
        BBox::new(
            self.x0 * s + dx,
            self.y0 * s + dy,
            self.x1 * s + dx,
            self.y1 * s + dy,
        )
    }

    /// The box limited to `[0, width] x [0, height]`.
    pub fn clamp_to(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x0.clamp(0.0, width),
            self.y0.clamp(0.0, height),
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
        )
    }

    /// True when all four coordinates are finite and the box has positive area.
    pub fn is_proper(&self) -> bool {
        [self.x0, self.y0, self.x1, self.y1]
            .iter()
            .all(|v| v.is_finite())
            && self.x1 > self.x0
            && self.y1 > self.y0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
    }

    #[test]
    fn iou_of_half_overlap_is_one_third() {
        // Two 10x10 boxes sharing a 5x10 strip: 50 / (100 + 100 - 50) = 1/3.
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_contained_box_is_area_ratio() {
        // 4x4 inside 8x8: 16 / 64 = 0.25.
        let a = BBox::new(0.0, 0.0, 8.0, 8.0);
        let b = BBox::new(2.0, 2.0, 6.0, 6.0);
        assert_eq!(a.iou(&b), 0.25);
    }

    #[test]
    fn iou_of_touching_and_disjoint_boxes_is_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&BBox::new(10.0, 0.0, 20.0, 10.0)), 0.0);
        assert_eq!(a.iou(&BBox::new(30.0, 30.0, 40.0, 40.0)), 0.0);
    }

    #[test]
    fn iou_of_degenerate_boxes_is_zero_not_nan() {
        let p = BBox::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(p.iou(&p), 0.0);
    }

    #[test]
    fn serialises_as_four_numbers() {
        let b = BBox::new(1.0, 2.5, 3.0, 4.0);
        assert_eq!(serde_json::to_string(&b).unwrap(), "[1.0,2.5,3.0,4.0]");
    }
}
