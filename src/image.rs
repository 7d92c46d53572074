//! The grayscale radiograph the pipeline works on, whatever file it came from.

use crate::pipeline::laterality::FilmAttributes;

/// A decoded radiograph in display space: one `f32` per pixel, row-major, 0 = black (air)
/// and 1 = white (bone), whatever the stored photometric interpretation was.
#[derive(Debug, Clone)]
pub struct Radiograph {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width * height` values in [0, 1].
    pub pixels: Vec<f32>,
    /// (row spacing, column spacing) in mm: Pixel Spacing (0028,0030), else Imager Pixel
    /// Spacing (0018,1164); `None` when neither is present (PNG, some secondary captures).
    pub pixel_spacing_mm: Option<(f64, f64)>,
    /// What the file says about the hands on it (all `None` for PNG).
    pub attributes: FilmAttributes,
}

impl Radiograph {
    /// Value at column `x`, row `y`; callers keep inside the image.
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width as usize + x]
    }
}
