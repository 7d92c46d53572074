//! Scaling the radiograph to the detectors' resolution. The paper halves its 2010 x 1670
//! films ("Training setup": resized to 50%); we scale to the model's training pixel spacing
//! when both are known, so that joints have the size the detector learned, else by the
//! configured factor (default 0.5).
//!
//! Resampling is area averaging (each output pixel is the mean of the input area it
//! covers), so a factor of 0.5 is exactly the mean of each 2 x 2 block.

use super::bbox::BBox;
use crate::image::Radiograph;

/// Height (mm) of the field of a hand film, fingertips to distal forearm: the first guess
/// of a film without pixel spacing is that its height is this (tightly cropped one-hand
/// films and two-hand films alike; the phantoms' films are 1670 px at 0.12-0.18 mm).
pub const HAND_FILM_HEIGHT_MM: f64 = 240.0;
/// Estimated spacings are kept within the range of real films (real-films.md: about 0.06
/// to 0.5 mm per pixel).
pub const ESTIMATE_RANGE_MM: (f64, f64) = (0.04, 0.6);
/// Detection passes at most per film (the first at the guess, then at the hand's size).
pub const MAX_PASSES: usize = 3;
/// A spacing estimate within this ratio of the one detected at needs no new pass: the
/// detectors are trained with scale jitter, and adult hands vary about as much.
pub const CLOSE_RATIO: f64 = 1.12;

/// The pixel spacing (mm) that makes the fitted hands adult-sized: the hand model is in
/// millimetres of a mean adult hand, so a hand of `scale` pixels per model millimetre
/// implies 1 / scale mm per pixel. Hands with too few joints to measure are left out;
/// `None` when none is left.
pub fn spacing_from_hands(hands: &[crate::pipeline::naming::FittedHand]) -> Option<f64> {
    let scales: Vec<f64> = hands
        .iter()
        .filter(|h| h.joints >= 4 && h.scale > 0.0)
        .map(|h| f64::from(h.scale))
        .collect();
    if scales.is_empty() {
        return None;
    }
    let mean = scales.iter().sum::<f64>() / scales.len() as f64;
    Some((1.0 / mean).clamp(ESTIMATE_RANGE_MM.0, ESTIMATE_RANGE_MM.1))
}

/// Whether two spacing estimates are within [`CLOSE_RATIO`] of each other.
pub fn close_enough(a: f64, b: f64) -> bool {
    a.max(b) / a.min(b).max(1e-9) <= CLOSE_RATIO
}

/// A radiograph resampled for the detectors, with the exact factors used per axis.
#[derive(Debug, Clone)]
pub struct Scaled {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
    /// Output pixels per source pixel along x and y (`width / source width`).
    pub fx: f64,
    pub fy: f64,
}

impl Scaled {
    /// A box in scaled-image pixels to source pixels, clipped to the source image of
    /// `width x height`. Pixel-edge coordinates scale exactly: edge x of the scaled image
    /// is edge x / fx of the source.
    pub fn to_source(&self, b: BBox, width: f32, height: f32) -> BBox {
        let (sx, sy) = ((1.0 / self.fx) as f32, (1.0 / self.fy) as f32);
        BBox::new(b.x0 * sx, b.y0 * sy, b.x1 * sx, b.y1 * sy).clamp_to(width, height)
    }
}

/// Scale factors (x, y) for an image: `spacing / target` per axis when both are known and
/// positive, else `fallback` for both.
pub fn factors(spacing_mm: Option<(f64, f64)>, target_mm: f64, fallback: f64) -> (f64, f64) {
    match spacing_mm {
        Some((row, col)) if target_mm > 0.0 => (col / target_mm, row / target_mm),
        _ => (fallback, fallback),
    }
}

/// Resamples `img` by about `(fx, fy)`; the output size is rounded to whole pixels (at
/// least 1) and the factors returned are the exact ones of that size.
pub fn resample(img: &Radiograph, fx: f64, fy: f64) -> Scaled {
    let (w, h) = (img.width as usize, img.height as usize);
    let ow = ((w as f64 * fx).round() as usize).max(1);
    let oh = ((h as f64 * fy).round() as usize).max(1);
    if ow == w && oh == h {
        return Scaled {
            width: w,
            height: h,
            pixels: img.pixels.clone(),
            fx: 1.0,
            fy: 1.0,
        };
    }
    if w == 2 * ow && h == 2 * oh {
        return halve(img, ow, oh);
    }
    general(img, ow, oh)
}

/// Separable area resampling to `ow x oh`.
fn general(img: &Radiograph, ow: usize, oh: usize) -> Scaled {
    let (w, h) = (img.width as usize, img.height as usize);
    let xw = area_weights(w, ow);
    let yw = area_weights(h, oh);
    // Horizontal pass into an oh-independent buffer, then vertical: separable, O(w*h).
    let mut rows = vec![0f32; h * ow];
    for y in 0..h {
        let src = &img.pixels[y * w..(y + 1) * w];
        let dst = &mut rows[y * ow..(y + 1) * ow];
        for (o, taps) in xw.iter().enumerate() {
            dst[o] = taps.iter().map(|&(i, wt)| src[i] * wt).sum();
        }
    }
    let mut out = vec![0f32; ow * oh];
    for (o, taps) in yw.iter().enumerate() {
        let dst = &mut out[o * ow..(o + 1) * ow];
        for &(i, wt) in taps {
            let src = &rows[i * ow..(i + 1) * ow];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s * wt;
            }
        }
    }
    Scaled {
        width: ow,
        height: oh,
        pixels: out,
        fx: ow as f64 / w as f64,
        fy: oh as f64 / h as f64,
    }
}

/// Exactly half size (the paper's factor on even-sized films): each output pixel the mean
/// of a 2 x 2 block, computed with the same operations in the same order as the general
/// path (horizontal pair, then vertical pair), so the result is bit-identical, in one pass
/// without tap tables.
fn halve(img: &Radiograph, ow: usize, oh: usize) -> Scaled {
    let w = img.width as usize;
    let mut out = vec![0f32; ow * oh];
    for (o, dst) in out.chunks_exact_mut(ow).enumerate() {
        let r0 = &img.pixels[2 * o * w..(2 * o + 1) * w];
        let r1 = &img.pixels[(2 * o + 1) * w..(2 * o + 2) * w];
        for ((d, a), b) in dst
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            let top = a[0] * 0.5 + a[1] * 0.5;
            let bottom = b[0] * 0.5 + b[1] * 0.5;
            *d = top * 0.5 + bottom * 0.5;
        }
    }
    Scaled {
        width: ow,
        height: oh,
        pixels: out,
        fx: 0.5,
        fy: 0.5,
    }
}

/// For each output pixel, the input pixels it covers and their weights (summing to 1).
/// Output pixel `o` covers input interval `[o * n / m, (o + 1) * n / m)`; when upscaling
/// that interval is shorter than a pixel and the nearest input pixel is taken.
fn area_weights(n: usize, m: usize) -> Vec<Vec<(usize, f32)>> {
    let ratio = n as f64 / m as f64;
    (0..m)
        .map(|o| {
            let a = o as f64 * ratio;
            let b = (o as f64 + 1.0) * ratio;
            let first = (a.floor() as usize).min(n - 1);
            let last = ((b.ceil() as usize).max(first + 1)).min(n);
            let mut taps: Vec<(usize, f32)> = (first..last)
                .map(|i| {
                    let lo = a.max(i as f64);
                    let hi = b.min(i as f64 + 1.0);
                    (i, (hi - lo).max(0.0))
                })
                .filter(|&(_, wt)| wt > 0.0)
                .map(|(i, wt)| (i, wt as f32))
                .collect();
            let total: f32 = taps.iter().map(|t| t.1).sum();
            if total > 0.0 {
                taps.iter_mut().for_each(|t| t.1 /= total);
            } else {
                taps = vec![(first, 1.0)];
            }
            taps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::laterality::FilmAttributes;
    use crate::pipeline::naming::FittedHand;

    fn hand(scale: f32, joints: usize) -> FittedHand {
        FittedHand {
            thumb_plus_x: true,
            scale,
            rotation_deg: 0.0,
            rms_mm: 2.0,
            joints,
            chirality_margin: f32::INFINITY,
            centre_x: 0.0,
            aspect: 1.0,
        }
    }

    #[test]
    fn spacing_from_the_hands_fitted_size() {
        // Hands of 5 and 7 px per model mm: the mean 6 gives 1/6 mm per px; a hand of
        // three joints is too few to measure and is left out.
        let est = spacing_from_hands(&[hand(5.0, 10), hand(7.0, 9), hand(20.0, 3)]).unwrap();
        assert!((est - 1.0 / 6.0).abs() < 1e-9, "{est}");
        assert_eq!(spacing_from_hands(&[hand(20.0, 3)]), None);
        assert_eq!(spacing_from_hands(&[]), None);
        // 1 px per model mm would be 1 mm per px: beyond any hand film, kept at 0.6.
        assert_eq!(
            spacing_from_hands(&[hand(1.0, 10)]),
            Some(ESTIMATE_RANGE_MM.1)
        );
    }

    #[test]
    fn a_second_pass_only_beyond_twelve_percent() {
        // 0.22 / 0.2 = 1.1 is close enough; 0.23 / 0.2 = 1.15 is not, either way round.
        assert!(close_enough(0.2, 0.22) && close_enough(0.22, 0.2));
        assert!(!close_enough(0.2, 0.23) && !close_enough(0.23, 0.2));
    }

    fn img(w: u32, h: u32, pixels: Vec<f32>) -> Radiograph {
        Radiograph {
            width: w,
            height: h,
            pixels,
            pixel_spacing_mm: None,
            attributes: FilmAttributes::default(),
        }
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        // 4x2 image: blocks [0,1;4,5] -> 2.5 and [2,3;6,7] -> 4.5.
        let src = img(4, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let s = resample(&src, 0.5, 0.5);
        assert_eq!((s.width, s.height), (2, 1));
        assert_eq!(s.pixels, vec![2.5, 4.5]);
        assert_eq!((s.fx, s.fy), (0.5, 0.5));
    }

    #[test]
    fn halving_is_bit_identical_to_the_general_path() {
        let (w, h) = (10u32, 6u32);
        let px: Vec<f32> = (0..w * h)
            .map(|i| ((i * 37 % 101) as f32) / 101.0)
            .collect();
        let image = img(w, h, px);
        let fast = halve(&image, 5, 3);
        let slow = general(&image, 5, 3);
        assert_eq!(fast.pixels, slow.pixels);
        assert_eq!((fast.fx, fast.fy), (slow.fx, slow.fy));
    }

    #[test]
    fn a_third_of_a_pixel_overlaps_by_area() {
        // 3 -> 2: output 0 covers [0, 1.5): 1 * a + 0.5 * b, normalised by 1.5.
        let src = img(3, 1, vec![3.0, 6.0, 9.0]);
        let s = resample(&src, 2.0 / 3.0, 1.0);
        assert_eq!(s.width, 2);
        assert!((s.pixels[0] - 4.0).abs() < 1e-6 && (s.pixels[1] - 8.0).abs() < 1e-6);
    }

    #[test]
    fn factors_follow_pixel_spacing_per_axis() {
        // 0.0625 mm columns, 0.125 mm rows, model trained at 0.25 mm: x by 0.25, y by 0.5.
        assert_eq!(factors(Some((0.125, 0.0625)), 0.25, 0.5), (0.25, 0.5));
        assert_eq!(factors(None, 0.25, 0.5), (0.5, 0.5));
        assert_eq!(factors(Some((0.125, 0.0625)), 0.0, 0.5), (0.5, 0.5));
    }

    #[test]
    fn boxes_map_back_to_source_pixels_and_are_clipped() {
        // Halved: [160, 320, 190, 350] -> [320, 640, 380, 700]; a box past the right edge
        // of a 1000 px wide source is clipped to 1000.
        let s = Scaled {
            width: 500,
            height: 400,
            pixels: vec![],
            fx: 0.5,
            fy: 0.5,
        };
        assert_eq!(
            s.to_source(BBox::new(160.0, 320.0, 190.0, 350.0), 1000.0, 800.0),
            BBox::new(320.0, 640.0, 380.0, 700.0)
        );
        assert_eq!(
            s.to_source(BBox::new(480.0, 0.0, 520.0, 30.0), 1000.0, 800.0),
            BBox::new(960.0, 0.0, 1000.0, 60.0)
        );
    }

    #[test]
    fn unit_factor_keeps_the_image() {
        let src = img(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
        let s = resample(&src, 1.0, 1.0);
        assert_eq!(s.pixels, src.pixels);
    }
}
