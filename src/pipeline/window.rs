//! Sliding windows over the scaled image (paper, "Individual SSD predictions", Fig. 3a):
//! square windows of the model's input size, shifted by the stride (150) in x and y until
//! the whole image is covered; parts outside the image are zero-padded.

use super::bbox::BBox;

/// One window: its top-left corner in scaled-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub x0: usize,
    pub y0: usize,
}

impl Window {
    /// A box in window pixels to scaled-image pixels (adds the window's origin).
    pub fn to_image(&self, b: BBox) -> BBox {
        b.scale_translate(1.0, self.x0 as f32, self.y0 as f32)
    }
}

/// Window origins along one axis of `len` pixels: 0, stride, 2*stride, ... up to the first
/// window that reaches the end. Always at least one window (an image smaller than a
/// window is one padded window).
pub fn origins(len: usize, size: usize, stride: usize) -> Vec<usize> {
    let stride = stride.max(1);
    let extra = len.saturating_sub(size);
    let n = extra.div_ceil(stride) + 1;
    (0..n).map(|k| k * stride).collect()
}

/// All windows, row by row.
pub fn windows(width: usize, height: usize, size: usize, stride: usize) -> Vec<Window> {
    let xs = origins(width, size, stride);
    origins(height, size, stride)
        .into_iter()
        .flat_map(|y0| xs.iter().map(move |&x0| Window { x0, y0 }))
        .collect()
}

/// The part of each of the window's `size` rows that lies inside the image, top to
/// bottom: a slice of at most `size` pixels starting at the window's left edge, empty for
/// rows below the image or a window right of it (a stride larger than the window can
/// place one there). The rest of each row is padding.
fn rows_inside<'a>(
    pixels: &'a [f32],
    width: usize,
    height: usize,
    w: Window,
    size: usize,
) -> impl Iterator<Item = &'a [f32]> + 'a {
    let inside = width.saturating_sub(w.x0).min(size);
    (w.y0..w.y0 + size).map(move |y| {
        if y < height && inside > 0 {
            &pixels[y * width + w.x0..y * width + w.x0 + inside]
        } else {
            &[]
        }
    })
}

/// Copies the window at `w` of a `width`-wide image into `out` (size x size, row-major),
/// writing `pad` where the window lies outside the image.
pub fn crop(
    pixels: &[f32],
    width: usize,
    height: usize,
    w: Window,
    size: usize,
    pad: f32,
    out: &mut [f32],
) {
    for (dst, row) in out
        .chunks_exact_mut(size)
        .zip(rows_inside(pixels, width, height, w, size))
    {
        dst[..row.len()].copy_from_slice(row);
        dst[row.len()..].fill(pad);
    }
}

/// Appends the window at `w` to `out` as the detectors take it: three planes (channel,
/// row, column) of size x size, the gray image in each, normalised as `(v - mean[c]) /
/// std[c]`; `pad` (a display value) where the window lies outside the image. Each plane
/// is written straight from the image's rows, with no intermediate crop.
#[allow(clippy::too_many_arguments)]
pub fn append_normalised(
    pixels: &[f32],
    width: usize,
    height: usize,
    w: Window,
    size: usize,
    pad: f32,
    mean: &[f32; 3],
    std: &[f32; 3],
    out: &mut Vec<f32>,
) {
    out.reserve(3 * size * size);
    for c in 0..3 {
        let (mean, inv_std) = (mean[c], 1.0 / std[c]);
        let padded = (pad - mean) * inv_std;
        for row in rows_inside(pixels, width, height, w, size) {
            out.extend(row.iter().map(|v| (v - mean) * inv_std));
            out.extend(std::iter::repeat_n(padded, size - row.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_size_paper_film_needs_six_by_five_windows() {
        // 2010 x 1670 halved: 1005 x 835. x: (1005-300)/150 = 4.7 -> 5 shifts -> 6 windows,
        // the last at 750 covering to 1050 (45 px padding). y: (835-300)/150 = 3.57 -> 5.
        assert_eq!(origins(1005, 300, 150), vec![0, 150, 300, 450, 600, 750]);
        assert_eq!(origins(835, 300, 150), vec![0, 150, 300, 450, 600]);
        assert_eq!(windows(1005, 835, 300, 150).len(), 30);
    }

    #[test]
    fn window_boxes_map_to_image_pixels() {
        let w = Window { x0: 150, y0: 300 };
        assert_eq!(
            w.to_image(BBox::new(10.0, 20.0, 40.0, 50.0)),
            BBox::new(160.0, 320.0, 190.0, 350.0)
        );
    }

    #[test]
    fn exact_fit_adds_no_extra_window() {
        assert_eq!(origins(600, 300, 150), vec![0, 150, 300]);
        assert_eq!(origins(300, 300, 150), vec![0]);
    }

    #[test]
    fn small_image_is_one_padded_window() {
        assert_eq!(origins(120, 300, 150), vec![0]);
        let pixels = vec![1.0; 2 * 3]; // 2 wide, 3 high
        let mut out = vec![9.0; 4 * 4];
        crop(&pixels, 2, 3, Window { x0: 0, y0: 0 }, 4, 0.0, &mut out);
        let want = [
            1.0, 1.0, 0.0, 0.0, //
            1.0, 1.0, 0.0, 0.0, //
            1.0, 1.0, 0.0, 0.0, //
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn normalised_planes_follow_each_channel() {
        // 3x2 image (value = 10*row + col), 2x2 window at (2, 1): one pixel inside (12),
        // the rest padding with 1. Channel c: (v - c) / (c + 1).
        let pixels: Vec<f32> = (0..6).map(|i| (10 * (i / 3) + i % 3) as f32).collect();
        let mut out = vec![7.0];
        let w = Window { x0: 2, y0: 1 };
        append_normalised(
            &pixels,
            3,
            2,
            w,
            2,
            1.0,
            &[0.0, 1.0, 2.0],
            &[1.0, 2.0, 3.0],
            &mut out,
        );
        let want = [
            7.0, // what was there
            12.0,
            1.0,
            1.0,
            1.0, // c0: 12, pad, pad, pad
            5.5,
            0.0,
            0.0,
            0.0, // c1: (12-1)/2, (1-1)/2
            10.0 / 3.0,
            -1.0 / 3.0,
            -1.0 / 3.0,
            -1.0 / 3.0, // c2: (12-2)/3, (1-2)/3
        ];
        assert_eq!(out.len(), want.len());
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn a_window_right_of_the_image_is_all_padding() {
        // Width 4, stride 400 > size 2 puts a window at x0 = 400: no pixel of it inside.
        let pixels: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let w = Window { x0: 400, y0: 0 };
        let mut out = vec![0.0; 4];
        crop(&pixels, 4, 4, w, 2, -1.0, &mut out);
        assert_eq!(out, vec![-1.0; 4]);
        let mut planes = Vec::new();
        append_normalised(&pixels, 4, 4, w, 2, 1.0, &[0.0; 3], &[0.5; 3], &mut planes);
        assert_eq!(planes, vec![2.0; 12]);
    }

    #[test]
    fn crop_takes_the_right_pixels() {
        // 4x4 image with value = 10*row + col; 2x2 window at (2, 1) -> 12, 13, 22, 23.
        let pixels: Vec<f32> = (0..16).map(|i| (10 * (i / 4) + i % 4) as f32).collect();
        let mut out = vec![0.0; 4];
        crop(&pixels, 4, 4, Window { x0: 2, y0: 1 }, 2, -1.0, &mut out);
        assert_eq!(out, vec![12.0, 13.0, 22.0, 23.0]);
        // Window at (3, 3) hangs over both edges.
        crop(&pixels, 4, 4, Window { x0: 3, y0: 3 }, 2, -1.0, &mut out);
        assert_eq!(out, vec![33.0, -1.0, -1.0, -1.0]);
    }
}
