//! How a rendered film becomes the stored image: which columns are kept (one hand of a
//! two-hand film), whether it is shown mirrored (seen from the tube, or from the dorsum
//! of one hand), turned by a quarter, and resampled as a film digitiser would.
//!
//! The same mapping moves the ground truth, so boxes stay on their joints whatever the
//! hanging.

/// A quarter turn of the displayed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    None,
    /// Clockwise: the fingers, up before, point to the image right.
    Clockwise,
    /// Counterclockwise: the fingers point to the image left.
    Counter,
}

/// From rendered film pixels to stored pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Columns of the rendered film that are kept: `x0..x1`.
    pub x0: usize,
    pub x1: usize,
    /// Rows of the rendered film that are kept: `y0..y0 + rows` (all, unless a tight
    /// crop).
    pub y0: usize,
    pub rows: usize,
    /// Shown mirrored left-right (after cropping).
    pub mirror: bool,
    pub turn: Turn,
    /// Stored pixels per rendered pixel (1 unless digitised).
    pub scale: f64,
}

impl Frame {
    /// The whole film as rendered.
    pub fn whole(width: usize, height: usize) -> Frame {
        Frame {
            x0: 0,
            x1: width,
            y0: 0,
            rows: height,
            mirror: false,
            turn: Turn::None,
            scale: 1.0,
        }
    }

    /// Size after cropping and turning, before resampling.
    fn turned_size(&self) -> (usize, usize) {
        let w = self.x1 - self.x0;
        match self.turn {
            Turn::None => (w, self.rows),
            _ => (self.rows, w),
        }
    }

    /// Size of the stored image (columns, rows).
    pub fn size(&self) -> (usize, usize) {
        let (w, h) = self.turned_size();
        if self.scale == 1.0 {
            (w, h)
        } else {
            (scaled_len(w, self.scale), scaled_len(h, self.scale))
        }
    }

    /// A rendered-film point (pixel-edge coordinates) in the stored image.
    pub fn point(&self, p: (f64, f64)) -> (f64, f64) {
        let w = (self.x1 - self.x0) as f64;
        let mut x = p.0 - self.x0 as f64;
        if self.mirror {
            x = w - x;
        }
        let py = p.1 - self.y0 as f64;
        let (x, y) = match self.turn {
            Turn::None => (x, py),
            Turn::Clockwise => (self.rows as f64 - py, x),
            Turn::Counter => (py, w - x),
        };
        if self.scale == 1.0 {
            (x, y)
        } else {
            (x * self.scale, y * self.scale)
        }
    }

    /// A direction of the rendered film in the stored image.
    pub fn vec(&self, v: (f64, f64)) -> (f64, f64) {
        let x = if self.mirror { -v.0 } else { v.0 };
        match self.turn {
            Turn::None => (x, v.1),
            Turn::Clockwise => (-v.1, x),
            Turn::Counter => (v.1, -x),
        }
    }

    /// A box of the rendered film (x0, y0, x1, y1) in the stored image.
    pub fn rect(&self, r: [f64; 4]) -> [f64; 4] {
        let (a, b) = (self.point((r[0], r[1])), self.point((r[2], r[3])));
        [a.0.min(b.0), a.1.min(b.1), a.0.max(b.0), a.1.max(b.1)]
    }

    /// Crops and mirrors a rendered image (`width` columns).
    pub fn crop(&self, img: &[f32], width: usize) -> Vec<f32> {
        let w = self.x1 - self.x0;
        let mut out = Vec::with_capacity(w * self.rows);
        for r in self.y0..self.y0 + self.rows {
            let row = &img[r * width + self.x0..r * width + self.x1];
            if self.mirror {
                out.extend(row.iter().rev());
            } else {
                out.extend_from_slice(row);
            }
        }
        out
    }

    /// Turns a cropped image.
    pub fn turn_image(&self, img: Vec<f32>) -> Vec<f32> {
        let (w, h) = (self.x1 - self.x0, self.rows);
        match self.turn {
            Turn::None => img,
            // Output (x, y) with x in 0..h, y in 0..w.
            Turn::Clockwise => (0..w)
                .flat_map(|y| (0..h).map(move |x| (x, y)))
                .map(|(x, y)| img[(h - 1 - x) * w + y])
                .collect(),
            Turn::Counter => (0..w)
                .flat_map(|y| (0..h).map(move |x| (x, y)))
                .map(|(x, y)| img[x * w + (w - 1 - y)])
                .collect(),
        }
    }

    /// Resamples a turned image to the stored size (a digitiser scanning the film at
    /// another pitch).
    pub fn resample(&self, img: Vec<f32>) -> Vec<f32> {
        if self.scale == 1.0 {
            return img;
        }
        let (w, h) = self.turned_size();
        let (ow, oh) = self.size();
        let (wx, wy) = (weights(w, ow, self.scale), weights(h, oh, self.scale));
        // Rows first, then columns; both separable passes in a fixed order.
        let mut tmp = vec![0f32; ow * h];
        for r in 0..h {
            let src = &img[r * w..(r + 1) * w];
            for (o, (start, ks)) in tmp[r * ow..(r + 1) * ow].iter_mut().zip(&wx) {
                *o = ks
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| c * src[start + k])
                    .sum();
            }
        }
        let mut out = vec![0f32; ow * oh];
        for (orow, (start, ks)) in out.chunks_mut(ow).zip(&wy) {
            for (k, &c) in ks.iter().enumerate() {
                let src = &tmp[(start + k) * ow..(start + k + 1) * ow];
                for (o, s) in orow.iter_mut().zip(src) {
                    *o += c * s;
                }
            }
        }
        out
    }
}

/// Length of an axis of `n` pixels after scaling by `s` (at least one pixel).
fn scaled_len(n: usize, s: f64) -> usize {
    ((n as f64 * s).floor() as usize).max(1)
}

/// Resampling weights of each output pixel: the first input index and the weights from
/// there. Shrinking averages the input pixels each output pixel covers (area, by their
/// overlap); enlarging interpolates linearly between pixel centres, which a scanner's
/// optics do rather than repeat pixels.
fn weights(n: usize, m: usize, s: f64) -> Vec<(usize, Vec<f32>)> {
    (0..m)
        .map(|o| {
            if s < 1.0 {
                let (a, b) = (o as f64 / s, ((o + 1) as f64 / s).min(n as f64));
                let first = (a.floor() as usize).min(n - 1);
                let last = (b.ceil() as usize).clamp(first + 1, n);
                let ks: Vec<f32> = (first..last)
                    .map(|i| ((b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0) / (b - a)) as f32)
                    .collect();
                (first, ks)
            } else {
                let x = ((o as f64 + 0.5) / s - 0.5).clamp(0.0, (n - 1) as f64);
                let i = (x.floor() as usize).min(n - 1);
                let t = (x - i as f64) as f32;
                if i + 1 < n {
                    (i, vec![1.0 - t, t])
                } else {
                    (i, vec![1.0])
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_follow_the_crop_mirror_and_turn() {
        let f = Frame {
            x0: 10,
            x1: 30,
            y0: 0,
            rows: 40,
            mirror: true,
            turn: Turn::None,
            scale: 1.0,
        };
        // Column 10 (left edge of the crop) becomes the right edge of a 20-wide image.
        assert_eq!(f.point((10.0, 5.0)), (20.0, 5.0));
        assert_eq!(f.point((12.5, 5.0)), (17.5, 5.0));
        let img: Vec<f32> = (0..40 * 40).map(|i| (i % 40) as f32).collect();
        let c = f.crop(&img, 40);
        assert_eq!((c.len(), c[0], c[19]), (800, 29.0, 10.0));
        // A turn clockwise puts the top row on the right.
        let t = Frame {
            turn: Turn::Clockwise,
            mirror: false,
            ..f
        };
        assert_eq!(t.size(), (40, 20));
        assert_eq!(t.point((10.0, 0.0)), (40.0, 0.0));
        let small: Vec<f32> = (0..20 * 40).map(|i| i as f32).collect();
        let turned = t.turn_image(small.clone());
        // Stored (x, y) = (39, 0) is rendered pixel (row 0, column 0).
        assert_eq!(turned[39], small[0]);
        let cc = Frame {
            turn: Turn::Counter,
            mirror: false,
            ..f
        };
        assert_eq!(cc.point((10.0, 0.0)), (0.0, 20.0));
        let turned = cc.turn_image(small.clone());
        // Stored (0, 19) is rendered (row 0, column 0).
        assert_eq!(turned[19 * 40], small[0]);
    }

    #[test]
    fn a_row_crop_moves_points_up() {
        // Rows 5..15 of a 20 x 20 film: rendered (3, 7) is stored (3, 2).
        let f = Frame {
            y0: 5,
            rows: 10,
            ..Frame::whole(20, 20)
        };
        assert_eq!(f.size(), (20, 10));
        assert_eq!(f.point((3.0, 7.0)), (3.0, 2.0));
        let img: Vec<f32> = (0..400).map(|i| (i / 20) as f32).collect();
        let c = f.crop(&img, 20);
        assert_eq!((c.len(), c[0], c[199]), (200, 5.0, 14.0));
    }

    #[test]
    fn resampling_keeps_a_constant_and_scales_the_size() {
        for s in [0.45, 0.8, 1.7] {
            let f = Frame {
                scale: s,
                ..Frame::whole(50, 30)
            };
            let out = f.resample(vec![0.6; 50 * 30]);
            let (w, h) = f.size();
            assert_eq!((w, h), ((50.0 * s) as usize, (30.0 * s) as usize));
            assert_eq!(out.len(), w * h);
            assert!(out.iter().all(|v| (v - 0.6).abs() < 1e-5), "scale {s}");
        }
    }
}
