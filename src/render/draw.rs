//! Drawing on a film: an opaque RGB canvas with anti-aliased boxes and filled rectangles
//! (tiny-skia) and text in the bundled DejaVu Sans Bold (ab_glyph). Used by the PNG
//! overlay and the summary Secondary Capture, so both look the same.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use snafu::{OptionExt, Snafu};
use tiny_skia::{Color, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use crate::image::Radiograph;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// DejaVu Sans Bold (src/render/fonts/LICENSE-DejaVu): bold stays legible at the small
/// sizes of labels over the bright bone of a film.
static FONT_DATA: &[u8] = include_bytes!("fonts/DejaVuSans-Bold.ttf");

static FONT: LazyLock<FontRef<'static>> = LazyLock::new(|| {
    // The file is part of the source tree and covered by a test; it cannot fail at run time.
    FontRef::try_from_slice(FONT_DATA).expect("the bundled DejaVu Sans font parses")
});

/// Why a picture could not be drawn.
#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    /// The size is zero or too large for a pixmap.
    #[snafu(display("cannot make a {width} x {height} picture"))]
    Size { width: u32, height: u32 },

    /// The grey values do not fill the picture.
    #[snafu(display("{len} grey values for a {width} x {height} picture"))]
    PixelCount { len: usize, width: u32, height: u32 },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// An opaque picture being drawn on. Every pixel keeps alpha 255, so tiny-skia's
/// premultiplied pixels are plain RGB plus a constant alpha byte.
pub struct Canvas {
    pixmap: Pixmap,
}

impl Canvas {
    /// A `width x height` picture filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Result<Canvas> {
        let mut pixmap = Pixmap::new(width, height).context(SizeSnafu { width, height })?;
        pixmap.fill(Color::from_rgba8(
            background[0],
            background[1],
            background[2],
            255,
        ));
        Ok(Canvas { pixmap })
    }

    /// The radiograph in grey, one canvas pixel per film pixel.
    pub fn from_radiograph(img: &Radiograph) -> Result<Canvas> {
        let mut c = Canvas::new(img.width, img.height, [0, 0, 0])?;
        c.put_gray(0, 0, img.width, img.height, &img.pixels)?;
        Ok(c)
    }

    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// Copies a `width x height` grey image (values 0..1, row-major) with its top-left
    /// corner at column `x`, row `y`; what falls outside the canvas is cut off.
    pub fn put_gray(
        &mut self,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        gray: &[f32],
    ) -> Result<()> {
        snafu::ensure!(
            gray.len() == width as usize * height as usize,
            PixelCountSnafu {
                len: gray.len(),
                width,
                height
            }
        );
        let cw = self.width() as usize;
        let (x, y) = (x as usize, y as usize);
        let cols = (width as usize).min(cw.saturating_sub(x));
        let rows = (height as usize).min((self.height() as usize).saturating_sub(y));
        let data = self.pixmap.data_mut();
        for r in 0..rows {
            let src = &gray[r * width as usize..][..cols];
            let dst = &mut data[((y + r) * cw + x) * 4..][..cols * 4];
            for (px, v) in dst.chunks_exact_mut(4).zip(src) {
                let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                px.copy_from_slice(&[g, g, g, 255]);
            }
        }
        Ok(())
    }

    /// The outline of the box `[x0, x1) x [y0, y1)`, `width` pixels wide and drawn inside
    /// it, so that the box's pixels are exactly the ones framed.
    pub fn stroke_box(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, width: f32, colour: Rgb) {
        let half = width / 2.0;
        let Some(rect) = Rect::from_ltrb(x0 + half, y0 + half, x1 - half, y1 - half) else {
            // Narrower than two lines: a filled box says the same.
            self.fill_rect(x0, y0, x1, y1, colour, 1.0);
            return;
        };
        let path = PathBuilder::from_rect(rect);
        let stroke = Stroke {
            width,
            ..Stroke::default()
        };
        self.pixmap.stroke_path(
            &path,
            &paint(colour, 1.0),
            &stroke,
            Transform::identity(),
            None,
        );
    }

    /// Fills `[x0, x1) x [y0, y1)` with `colour` at `opacity` (0..1) over what is there.
    pub fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, colour: Rgb, opacity: f32) {
        if let Some(rect) = Rect::from_ltrb(x0, y0, x1, y1) {
            self.pixmap
                .fill_rect(rect, &paint(colour, opacity), Transform::identity(), None);
        }
    }

    /// Draws one line of `text`, `size` pixels high (the font's em), with the top of its
    /// line box at row `y`; returns its advance width.
    pub fn text(&mut self, x: f32, y: f32, text: &str, size: f32, colour: Rgb) -> f32 {
        let font = &*FONT;
        let scaled = font.as_scaled(PxScale::from(size));
        let baseline = y + scaled.ascent();
        let (w, h) = (self.width() as i64, self.height() as i64);
        let data = self.pixmap.data_mut();
        let mut caret = x;
        let mut previous: Option<GlyphId> = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                caret += scaled.kern(p, id);
            }
            let glyph = id.with_scale_and_position(size, point(caret, baseline));
            caret += scaled.h_advance(id);
            previous = Some(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + i64::from(gx);
                let py = bounds.min.y as i64 + i64::from(gy);
                if px < 0 || py < 0 || px >= w || py >= h {
                    return;
                }
                let a = coverage.clamp(0.0, 1.0);
                let i = ((py * w + px) * 4) as usize;
                for (d, s) in data[i..i + 3].iter_mut().zip(colour) {
                    *d = (f32::from(*d) * (1.0 - a) + f32::from(s) * a).round() as u8;
                }
            });
        }
        caret - x
    }

    /// The picture as RGB bytes, row-major, 3 per pixel.
    pub fn to_rgb(&self) -> Vec<u8> {
        self.pixmap
            .data()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    }
}

fn paint(colour: Rgb, opacity: f32) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(
        colour[0],
        colour[1],
        colour[2],
        (opacity.clamp(0.0, 1.0) * 255.0).round() as u8,
    );
    p.anti_alias = true;
    p
}

/// The advance width of `text` at `size` pixels.
pub fn text_width(text: &str, size: f32) -> f32 {
    let scaled = FONT.as_scaled(PxScale::from(size));
    let mut width = 0.0;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// The height of one line of text at `size` pixels, ascender to descender.
pub fn text_height(size: f32) -> f32 {
    let scaled = FONT.as_scaled(PxScale::from(size));
    scaled.ascent() - scaled.descent()
}

/// `text` broken at spaces into lines at most `max_width` wide at `size` pixels; a word
/// wider than that gets a line of its own.
pub fn wrap(text: &str, size: f32, max_width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || text_width(&candidate, size) <= max_width {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: Rgb = [235, 40, 40];

    fn px(c: &Canvas, x: u32, y: u32) -> Rgb {
        let rgb = c.to_rgb();
        let i = ((y * c.width() + x) * 3) as usize;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    #[test]
    fn the_bundled_font_has_the_labels_characters() {
        for c in "R-PIP2 ANK >99% <1 % subluxation/dislocation: (;)".chars() {
            assert_ne!(FONT.glyph_id(c).0, 0, "{c:?} has no glyph");
        }
        assert!(text_width("R-PIP2", 20.0) > text_width("R", 20.0));
        assert!(text_height(20.0) > 15.0);
    }

    #[test]
    fn boxes_are_drawn_inside_their_pixels() {
        let mut c = Canvas::new(40, 40, [0, 0, 0]).unwrap();
        c.stroke_box(10.0, 10.0, 30.0, 30.0, 2.0, RED);
        assert_eq!(px(&c, 10, 20), RED);
        assert_eq!(px(&c, 11, 20), RED);
        assert_eq!(px(&c, 29, 20), RED);
        assert_eq!(px(&c, 9, 20), [0, 0, 0]);
        assert_eq!(px(&c, 12, 20), [0, 0, 0]);
        assert_eq!(px(&c, 30, 20), [0, 0, 0]);
    }

    #[test]
    fn text_puts_colour_where_the_glyphs_are() {
        let mut c = Canvas::new(120, 40, [0, 0, 0]).unwrap();
        let w = c.text(2.0, 2.0, "ANK", 24.0, RED);
        assert!(w > 30.0 && w < 80.0, "{w}");
        let rgb = c.to_rgb();
        let lit = rgb.chunks_exact(3).filter(|p| p[0] > 100).count();
        assert!(lit > 50, "{lit} lit pixels");
        // Nothing right of the advance.
        let right = (0..40).all(|y| (90..120).all(|x| px(&c, x, y) == [0, 0, 0]));
        assert!(right);
    }

    #[test]
    fn grey_pixels_are_copied_and_checked() {
        let img = Radiograph {
            width: 2,
            height: 1,
            pixels: vec![0.0, 1.0],
            pixel_spacing_mm: None,
            attributes: Default::default(),
        };
        let c = Canvas::from_radiograph(&img).unwrap();
        assert_eq!(c.to_rgb(), [0, 0, 0, 255, 255, 255]);
        let mut c = Canvas::new(4, 4, [0, 0, 0]).unwrap();
        assert!(c.put_gray(0, 0, 2, 2, &[0.5; 3]).is_err());
        assert!(Canvas::new(0, 4, [0, 0, 0]).is_err());
    }

    #[test]
    fn long_text_wraps_at_spaces() {
        let lines = wrap(
            "Right hand (10 joints): ankylosis 2 (R-PIP4, R-PIP5)",
            20.0,
            200.0,
        );
        assert!(lines.len() > 1);
        assert!(
            lines
                .iter()
                .all(|l| text_width(l, 20.0) <= 200.0 || !l.contains(' '))
        );
        assert_eq!(wrap("", 20.0, 100.0), [""]);
    }
}
