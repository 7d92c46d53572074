//! The result drawn over the radiograph: each joint's box with its name and findings
//! ([`labels::joint_short`]), green when no finding is present, red when ankylosis or
//! subluxation is. The `analyze` PNG draws it over the full film, the summary Secondary
//! Capture over the film scaled down ([`draw_joints`]).

use snafu::Snafu;

use super::draw::{self, Canvas, Rgb};
use crate::analysis::Joint;
use crate::image::Radiograph;
use crate::labels;

pub const GREEN: Rgb = [40, 220, 60];
pub const RED: Rgb = [235, 40, 40];
pub const GREY: Rgb = [200, 200, 200];

/// Why the overlay could not be drawn.
#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not draw the overlay"))]
    Draw { source: draw::Error },
}

/// Whether the joint has a finding (drawn red).
pub fn has_finding(j: &Joint) -> bool {
    j.ankylosis.present || j.subluxation.is_some_and(|f| f.present)
}

/// The colour of a joint's box and label.
pub fn colour(j: &Joint) -> Rgb {
    if has_finding(j) { RED } else { GREEN }
}

/// Line width and label size, in canvas pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub line_width: f32,
    pub text_size: f32,
}

impl Style {
    /// Lines and text that grow with the picture, `long_side` pixels on its longer side.
    pub fn for_size(long_side: u32) -> Style {
        let long = long_side as f32;
        Style {
            line_width: (long / 700.0).max(1.0).round(),
            text_size: (long / 85.0).clamp(10.0, 48.0),
        }
    }
}

/// Renders `img` as RGB with the joints drawn; line width and text size grow with the film.
pub fn render(img: &Radiograph, joints: &[Joint]) -> Result<Vec<u8>, Error> {
    let mut canvas = Canvas::from_radiograph(img).map_err(|source| Error::Draw { source })?;
    let style = Style::for_size(img.width.max(img.height));
    draw_joints(&mut canvas, joints, 1.0, 1.0, style);
    Ok(canvas.to_rgb())
}

/// Draws the joints' boxes and labels on `canvas`, where film pixel (x, y) is canvas pixel
/// (x * fx, y * fy). Joints with a finding are placed first, so they get the best places.
pub fn draw_joints(canvas: &mut Canvas, joints: &[Joint], fx: f32, fy: f32, style: Style) {
    let boxes: Vec<Area> = joints
        .iter()
        .map(|j| Area {
            x0: j.bbox.x0 * fx,
            y0: j.bbox.y0 * fy,
            x1: j.bbox.x1 * fx,
            y1: j.bbox.y1 * fy,
        })
        .collect();
    for (b, j) in boxes.iter().zip(joints) {
        canvas.stroke_box(b.x0, b.y0, b.x1, b.y1, style.line_width, colour(j));
    }
    let pad = (style.text_size * 0.15).round().max(1.0);
    let mut order: Vec<usize> = (0..joints.len()).collect();
    order.sort_by_key(|&i| !has_finding(&joints[i]));
    let texts: Vec<String> = joints
        .iter()
        .enumerate()
        .map(|(i, j)| labels::joint_short(j, i))
        .collect();
    let sizes: Vec<(f32, f32)> = texts
        .iter()
        .map(|t| {
            (
                draw::text_width(t, style.text_size) + 2.0 * pad,
                draw::text_height(style.text_size) + 2.0 * pad,
            )
        })
        .collect();
    let bounds = (canvas.width() as f32, canvas.height() as f32);
    let places = place_labels(&boxes, &sizes, &order, bounds, style.line_width);
    for &i in &order {
        let p = places[i];
        // A dark plate keeps the coloured text readable over bright bone.
        canvas.fill_rect(p.x0, p.y0, p.x1, p.y1, [0, 0, 0], 0.6);
        canvas.text(
            p.x0 + pad,
            p.y0 + pad,
            &texts[i],
            style.text_size,
            colour(&joints[i]),
        );
    }
}

/// A rectangle in canvas pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Area {
    fn at(x: f32, y: f32, (w, h): (f32, f32)) -> Area {
        Area {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        }
    }

    fn overlaps(&self, o: &Area) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    /// Moved inside `(0, 0)..bounds` where it fits.
    fn inside(self, (w, h): (f32, f32)) -> Area {
        let dx = (-self.x0).max(0.0) - (self.x1 - w).max(0.0);
        let dy = (-self.y0).max(0.0) - (self.y1 - h).max(0.0);
        Area {
            x0: self.x0 + dx,
            y0: self.y0 + dy,
            x1: self.x1 + dx,
            y1: self.y1 + dy,
        }
    }
}

/// Where each label goes, greedily in `order`: the first place next to its box that
/// overlaps neither a label placed before nor any box: above, below, right, left, then
/// further above or below. Failing that, the first that overlaps no label; failing that,
/// above the box. `sizes` are the labels' (width, height).
pub fn place_labels(
    boxes: &[Area],
    sizes: &[(f32, f32)],
    order: &[usize],
    bounds: (f32, f32),
    gap: f32,
) -> Vec<Area> {
    let mut placed: Vec<Option<Area>> = vec![None; boxes.len()];
    for &i in order {
        let (Some(b), Some(&size)) = (boxes.get(i), sizes.get(i)) else {
            continue;
        };
        let (w, h) = size;
        let mut candidates = vec![
            Area::at(b.x0, b.y0 - gap - h, size),
            Area::at(b.x0, b.y1 + gap, size),
            Area::at(b.x1 + gap, b.y0, size),
            Area::at(b.x0 - gap - w, b.y0, size),
        ];
        for k in 1..=3 {
            let step = k as f32 * (h + gap);
            candidates.push(Area::at(b.x0, b.y0 - gap - h - step, size));
            candidates.push(Area::at(b.x0, b.y1 + gap + step, size));
        }
        let candidates: Vec<Area> = candidates.into_iter().map(|a| a.inside(bounds)).collect();
        let free_of_labels = |a: &Area| placed.iter().flatten().all(|p| !p.overlaps(a));
        let choice = candidates
            .iter()
            .find(|a| free_of_labels(a) && boxes.iter().all(|o| !o.overlaps(a)))
            .or_else(|| candidates.iter().find(|a| free_of_labels(a)))
            .unwrap_or(&candidates[0]);
        placed[i] = Some(*choice);
    }
    placed
        .into_iter()
        .zip(boxes)
        .map(|(p, b)| p.unwrap_or(*b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::FindingLabel;
    use crate::pipeline::bbox::BBox;
    use crate::pipeline::laterality::FilmAttributes;

    fn joint(present: bool) -> Joint {
        Joint {
            id: "R-PIP2".parse().ok(),
            bbox: BBox::new(10.0, 20.0, 30.0, 40.0),
            score: 0.95,
            ankylosis: FindingLabel {
                present,
                probability: if present { 0.95 } else { 0.01 },
            },
            subluxation: Some(FindingLabel {
                present: false,
                probability: 0.0,
            }),
        }
    }

    #[test]
    fn boxes_are_green_without_and_red_with_a_finding() {
        let img = Radiograph {
            width: 50,
            height: 50,
            pixels: vec![0.0; 2500],
            pixel_spacing_mm: None,
            attributes: FilmAttributes::default(),
        };
        let px = |rgb: &[u8], x: usize, y: usize| {
            [
                rgb[(y * 50 + x) * 3],
                rgb[(y * 50 + x) * 3 + 1],
                rgb[(y * 50 + x) * 3 + 2],
            ]
        };
        let rgb = render(&img, &[joint(false)]).unwrap();
        assert_eq!(px(&rgb, 10, 30), GREEN); // left edge of the box
        assert_eq!(px(&rgb, 20, 30), [0, 0, 0]); // inside stays the image
        let rgb = render(&img, &[joint(true)]).unwrap();
        assert_eq!(px(&rgb, 29, 30), RED); // right edge
    }

    fn area(x0: f32, y0: f32, x1: f32, y1: f32) -> Area {
        Area { x0, y0, x1, y1 }
    }

    #[test]
    fn labels_go_above_then_elsewhere_and_never_on_each_other() {
        // Two boxes side by side with wide labels: the second cannot go above as well.
        let boxes = [
            area(100.0, 100.0, 140.0, 140.0),
            area(150.0, 100.0, 190.0, 140.0),
        ];
        let sizes = [(80.0, 20.0), (80.0, 20.0)];
        let p = place_labels(&boxes, &sizes, &[0, 1], (400.0, 400.0), 2.0);
        assert_eq!(p[0], area(100.0, 78.0, 180.0, 98.0));
        assert!(!p[0].overlaps(&p[1]));
        assert!(boxes.iter().all(|b| !b.overlaps(&p[1])));
        // At the top edge, the label goes below the box.
        let p = place_labels(
            &[area(0.0, 0.0, 40.0, 40.0)],
            &[(50.0, 20.0)],
            &[0],
            (400.0, 400.0),
            2.0,
        );
        assert_eq!(p[0], area(0.0, 42.0, 50.0, 62.0));
    }

    #[test]
    fn labels_stay_inside_the_picture() {
        let p = place_labels(
            &[area(380.0, 200.0, 399.0, 220.0)],
            &[(60.0, 20.0)],
            &[0],
            (400.0, 400.0),
            2.0,
        );
        assert!(p[0].x1 <= 400.0 && p[0].x0 >= 0.0, "{:?}", p[0]);
    }
}
