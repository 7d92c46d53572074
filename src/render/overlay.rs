//! The result drawn over the radiograph: each joint's box with its name and findings,
//! green when no finding is present, red when ankylosis or subluxation is.

use crate::analysis::Joint;
// The same text the GSPS shows, so the PNG and the viewer agree.
use crate::dicom::gsps::joint_label;
use crate::image::Radiograph;

use super::font;

pub const GREEN: [u8; 3] = [40, 220, 60];
pub const RED: [u8; 3] = [235, 40, 40];
pub const GREY: [u8; 3] = [200, 200, 200];

/// Whether the joint has a finding (drawn red).
pub fn has_finding(j: &Joint) -> bool {
    j.ankylosis.present || j.subluxation.is_some_and(|f| f.present)
}

/// Renders `img` as RGB with the joints drawn; line width and text size grow with the film.
pub fn render(img: &Radiograph, joints: &[Joint]) -> Vec<u8> {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut rgb: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|v| {
            let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            [g, g, g]
        })
        .collect();
    let thick = (w.max(h) / 700).max(1);
    let text_scale = (w.max(h) / 600).max(1);
    let mut canvas = Canvas {
        rgb: &mut rgb,
        w,
        h,
    };
    for (k, j) in joints.iter().enumerate() {
        let colour = if has_finding(j) { RED } else { GREEN };
        let b = j.bbox;
        let (x0, y0) = (
            b.x0.floor().max(0.0) as usize,
            b.y0.floor().max(0.0) as usize,
        );
        let (x1, y1) = (b.x1.ceil().max(0.0) as usize, b.y1.ceil().max(0.0) as usize);
        canvas.rect(x0, y0, x1, y1, thick, colour);
        let text_h = font::HEIGHT * text_scale;
        let ty = if y0 >= text_h + 2 {
            y0 - text_h - 2
        } else {
            y1 + 2
        };
        canvas.text(x0, ty, &joint_label(j, k), text_scale, colour);
    }
    rgb
}

struct Canvas<'a> {
    rgb: &'a mut [u8],
    w: usize,
    h: usize,
}

impl Canvas<'_> {
    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn fill(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: [u8; 3]) {
        for y in y0..y1.min(self.h) {
            for x in x0..x1.min(self.w) {
                self.put(x, y, c);
            }
        }
    }

    /// Outline of `[x0, x1) x [y0, y1)`, drawn inside the box.
    fn rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, t: usize, c: [u8; 3]) {
        self.fill(x0, y0, x1, (y0 + t).min(y1), c);
        self.fill(x0, y1.saturating_sub(t).max(y0), x1, y1, c);
        self.fill(x0, y0, (x0 + t).min(x1), y1, c);
        self.fill(x1.saturating_sub(t).max(x0), y0, x1, y1, c);
    }

    fn text(&mut self, x: usize, y: usize, s: &str, scale: usize, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let gx = x + k * font::ADVANCE * scale;
            for (r, bits) in font::glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (gx + col * scale, y + r * scale);
                        self.fill(px, py, px + scale, py + scale, c);
                    }
                }
            }
        }
    }
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
        let rgb = render(&img, &[joint(false)]);
        assert_eq!(px(&rgb, 10, 30), GREEN); // left edge of the box
        assert_eq!(px(&rgb, 20, 30), [0, 0, 0]); // inside stays the image
        let rgb = render(&img, &[joint(true)]);
        assert_eq!(px(&rgb, 29, 30), RED); // right edge
    }
}
