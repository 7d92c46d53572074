//! The summary picture of a film for viewers that show neither SR nor GSPS: the film,
//! scaled down, with each joint's box and short label burned in, and a findings table in
//! a panel to its right (title, "NOT FOR DIAGNOSTIC USE", the film's summary, one line per
//! joint, the models). It goes into the summary Secondary Capture (src/dicom/sc.rs).

use snafu::{ResultExt, Snafu};

use super::draw::{self, Canvas, Rgb};
use super::overlay::{self, Style};
use crate::analysis::{Analysis, Joint};
use crate::image::Radiograph;
use crate::labels::{self, Finding};
use crate::pipeline::scale;

/// The default longest side of the film in the picture, pixels.
pub const DEFAULT_MAX_SIDE: u32 = 2000;

const PANEL: Rgb = [24, 24, 28];
const WHITE: Rgb = [240, 240, 240];
const LIGHT: Rgb = [200, 200, 200];
const BANNER: Rgb = [180, 20, 20];

/// Why the picture could not be drawn.
#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not draw the summary picture"))]
    Draw { source: draw::Error },
}

/// An RGB picture, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// One line of the table.
struct Line {
    text: String,
    /// Relative to the table's text size.
    size: f32,
    colour: Rgb,
    banner: bool,
}

/// Draws the summary of `analysis` over `film`, the film scaled so that its longer side
/// is at most `max_side` pixels (never enlarged), with square pixels when the film's
/// pixel spacing says they are not.
pub fn render(film: &Radiograph, analysis: &Analysis, max_side: u32) -> Result<Picture, Error> {
    // Square pixels: a film with 0.15 x 0.1 mm pixels would look stretched otherwise.
    let (ax, ay) = match film.pixel_spacing_mm {
        Some((row, col)) if row > 0.0 && col > 0.0 && row.is_finite() && col.is_finite() => {
            let m = row.min(col);
            (col / m, row / m)
        }
        _ => (1.0, 1.0),
    };
    let long = (f64::from(film.width) * ax).max(f64::from(film.height) * ay);
    let s = (f64::from(max_side.max(1)) / long).min(1.0);
    let scaled = scale::resample(film, s * ax, s * ay);
    let (fw, fh) = (scaled.width as u32, scaled.height as u32);

    let style = Style::for_size(fw.max(fh));
    let mut size = (fh as f32 / 55.0).clamp(12.0, 34.0);
    let lines = table(analysis);
    // The table shrinks to the film's height where it can, else the picture grows.
    let (mut panel_w, mut laid) = layout(&lines, size);
    while laid.1 > fh as f32 && size > 11.0 {
        size = (size * 0.9).max(11.0);
        (panel_w, laid) = layout(&lines, size);
    }
    let width = fw + panel_w.ceil() as u32;
    let height = fh.max(laid.1.ceil() as u32);

    let mut canvas = Canvas::new(width, height, PANEL).context(DrawSnafu)?;
    canvas
        .put_gray(0, 0, fw, fh, &scaled.pixels)
        .context(DrawSnafu)?;
    overlay::draw_joints(
        &mut canvas,
        &analysis.joints,
        scaled.fx as f32,
        scaled.fy as f32,
        style,
    );
    draw_table(&mut canvas, &lines, size, fw as f32, panel_w);
    Ok(Picture {
        width,
        height,
        rgb: canvas.to_rgb(),
    })
}

/// The table's lines before wrapping.
fn table(a: &Analysis) -> Vec<Line> {
    let line = |text: String, size: f32, colour: Rgb| Line {
        text,
        size,
        colour,
        banner: false,
    };
    let mut out = vec![
        line(labels::SUMMARY_TITLE.to_string(), 1.3, WHITE),
        Line {
            banner: true,
            ..line(labels::NOT_FOR_DIAGNOSTIC_USE.to_string(), 1.1, WHITE)
        },
        line(String::new(), 0.5, WHITE),
    ];
    out.extend(
        labels::summary_lines(&a.summary)
            .into_iter()
            .map(|t| line(t, 1.0, LIGHT)),
    );
    if !a.joints.is_empty() {
        out.push(line(String::new(), 0.5, WHITE));
        out.push(line(labels::JOINTS_HEADING.to_string(), 1.1, WHITE));
        for (i, j) in joint_order(&a.joints) {
            out.push(line(
                labels::joint_comment(j, i, false),
                1.0,
                overlay::colour(j),
            ));
        }
    }
    out.push(line(String::new(), 0.5, WHITE));
    out.push(line(labels::MODELS_HEADING.to_string(), 1.1, WHITE));
    for (f, m) in [
        (Finding::Ankylosis, &a.models.ankylosis),
        (Finding::Subluxation, &a.models.subluxation),
    ] {
        out.push(line(labels::model_line(f, m), 0.85, LIGHT));
    }
    out.push(line(labels::software_line(), 0.85, LIGHT));
    out
}

/// Joints with a finding first, each group in anatomical order (named joints by side,
/// finger and level; unnamed ones after them in the analysis's order).
fn joint_order(joints: &[Joint]) -> Vec<(usize, &Joint)> {
    let mut v: Vec<(usize, &Joint)> = joints.iter().enumerate().collect();
    v.sort_by_key(|(i, j)| (!overlay::has_finding(j), j.id.is_none(), j.id, *i));
    v
}

/// Width of the panel, and each wrapped line with its size and top row; `.1` is the
/// height the table needs.
type Layout = (Vec<(String, f32, Rgb, bool, f32)>, f32);

fn layout(lines: &[Line], size: f32) -> (f32, Layout) {
    let margin = size;
    // About 45 average characters: most joint lines fit on one line.
    let text_w = size * 30.0;
    let panel_w = text_w + 2.0 * margin;
    let mut y = margin;
    let mut out = Vec::new();
    for l in lines {
        let s = size * l.size;
        let pitch = draw::text_height(s) * 1.25;
        for t in draw::wrap(&l.text, s, text_w) {
            out.push((t, s, l.colour, l.banner, y));
            y += pitch;
        }
    }
    (panel_w, (out, y + margin))
}

fn draw_table(canvas: &mut Canvas, lines: &[Line], size: f32, x: f32, panel_w: f32) {
    let (_, (laid, _)) = layout(lines, size);
    let margin = size;
    for (text, s, colour, banner, y) in laid {
        if banner {
            let pad = s * 0.2;
            canvas.fill_rect(
                x + margin - pad,
                y - pad,
                x + panel_w - margin + pad,
                y + draw::text_height(s) + pad,
                BANNER,
                1.0,
            );
        }
        canvas.text(x + margin, y, &text, s, colour);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::FindingLabel;
    use crate::pipeline::bbox::BBox;

    /// A mid-grey film of `width` x `height`, without spacing (also the SC's tests).
    pub(crate) fn film(width: u32, height: u32) -> Radiograph {
        Radiograph {
            width,
            height,
            pixels: vec![0.5; (width * height) as usize],
            pixel_spacing_mm: None,
            attributes: Default::default(),
        }
    }

    fn joint(id: &str, present: bool, x: f32) -> Joint {
        Joint {
            id: id.parse().ok(),
            bbox: BBox::new(x, 400.0, x + 60.0, 460.0),
            score: 0.9,
            ankylosis: FindingLabel {
                present,
                probability: if present { 0.97 } else { 0.02 },
            },
            subluxation: None,
        }
    }

    #[test]
    fn findings_come_first_then_anatomical_order() {
        let joints = [
            joint("R-PIP3", false, 0.0),
            joint("R-PIP5", true, 0.0),
            joint("R-MCP2", false, 0.0),
            joint("nonsense", false, 0.0),
            joint("R-IP1", true, 0.0),
        ];
        let order: Vec<usize> = joint_order(&joints).iter().map(|(i, _)| *i).collect();
        let names: Vec<String> = order
            .iter()
            .map(|&i| labels::joint_name(&joints[i], i))
            .collect();
        assert_eq!(order.len(), 5);
        assert_eq!(names[4], "joint-4");
        assert!(names[..2].contains(&"R-PIP5".to_string()));
        assert!(names[..2].contains(&"R-IP1".to_string()));
    }

    #[test]
    fn a_large_film_is_scaled_to_the_limit_with_a_panel_beside_it() {
        let mut a = crate::dicom::sr::tests::analysis();
        a.source.rows = 3000;
        a.source.columns = 2400;
        a.joints = vec![
            joint("R-PIP2", true, 1000.0),
            joint("R-PIP3", false, 1100.0),
        ];
        a.refresh_summary();
        let p = render(&film(2400, 3000), &a, 2000).unwrap();
        assert_eq!(p.height, 2000);
        assert!(p.width > 1600, "{}", p.width);
        assert_eq!(p.rgb.len(), (p.width * p.height * 3) as usize);
        // Red of the finding's box, at its scaled left edge (1000 * 2/3).
        let at = |x: u32, y: u32| {
            let i = ((y * p.width + x) * 3) as usize;
            [p.rgb[i], p.rgb[i + 1], p.rgb[i + 2]]
        };
        assert_eq!(at(667, 290), overlay::RED);
        // The panel starts right of the film.
        assert_eq!(at(1600 + 2, 1990), PANEL);
    }

    #[test]
    fn a_small_film_gets_a_picture_tall_enough_for_the_table() {
        let a = crate::dicom::sr::tests::analysis();
        let p = render(&film(64, 48), &a, 2000).unwrap();
        assert!(p.height > 48);
        assert!(p.width > 64);
    }
}
