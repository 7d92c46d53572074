//! PNG radiographs in (8 or 16 bits, gray or colour) and RGB overlays out.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use png::{BitDepth, ColorType, Transformations};
use snafu::{ResultExt, Snafu, ensure};

use crate::image::Radiograph;
use crate::pipeline::laterality::FilmAttributes;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not open {}", path.display()))]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not decode PNG {}", path.display()))]
    Decode {
        path: PathBuf,
        source: png::DecodingError,
    },
    #[snafu(display("PNG {} of {width} x {height} pixels is larger than the limit of {max} pixels", path.display()))]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max: u64,
    },
    #[snafu(display("could not write PNG {}", path.display()))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not encode PNG {}", path.display()))]
    Encode {
        path: PathBuf,
        source: png::EncodingError,
    },
}

/// Reads a PNG as a radiograph: gray values (colour converted by luma) scaled from the
/// full range of the bit depth to [0, 1]. PNG carries no pixel spacing or orientation.
pub fn read(path: &Path, max_pixels: u64) -> Result<Radiograph, Error> {
    let file = std::fs::File::open(path).context(OpenSnafu { path })?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    // Palette and low bit depths to 8 bits; 16-bit samples are kept.
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().context(DecodeSnafu { path })?;
    let (width, height) = {
        let info = reader.info();
        (info.width, info.height)
    };
    ensure!(
        u64::from(width) * u64::from(height) <= max_pixels,
        TooLargeSnafu {
            path,
            width,
            height,
            max: max_pixels
        }
    );
    let size = reader.output_buffer_size().unwrap_or(0);
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).context(DecodeSnafu { path })?;
    let bytes = &buf[..frame.buffer_size()];
    let channels = frame.color_type.samples();
    let samples: Vec<f32> = match frame.bit_depth {
        BitDepth::Sixteen => bytes
            .chunks_exact(2)
            .map(|b| f32::from(u16::from_be_bytes([b[0], b[1]])) / 65535.0)
            .collect(),
        _ => bytes.iter().map(|&b| f32::from(b) / 255.0).collect(),
    };
    let pixels = samples
        .chunks_exact(channels)
        .map(|p| match frame.color_type {
            ColorType::Rgb | ColorType::Rgba => 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2],
            _ => p[0],
        })
        .collect();
    Ok(Radiograph {
        width,
        height,
        pixels,
        pixel_spacing_mm: None,
        attributes: FilmAttributes::default(),
    })
}

/// Writes an 8-bit RGB image.
pub fn write_rgb(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), Error> {
    let file = std::fs::File::create(path).context(WriteSnafu { path })?;
    let mut enc = png::Encoder::new(BufWriter::new(file), width, height);
    enc.set_color(ColorType::Rgb);
    enc.set_depth(BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().context(EncodeSnafu { path })?;
    w.write_image_data(rgb).context(EncodeSnafu { path })?;
    w.finish().context(EncodeSnafu { path })
}

/// Writes a gray image of `bits` 8 or 16 from values in [0, 1] (tests and phantoms).
pub fn write_gray(path: &Path, img: &Radiograph, sixteen: bool) -> Result<(), Error> {
    let file = std::fs::File::create(path).context(WriteSnafu { path })?;
    let mut enc = png::Encoder::new(BufWriter::new(file), img.width, img.height);
    enc.set_color(ColorType::Grayscale);
    let data: Vec<u8> = if sixteen {
        enc.set_depth(BitDepth::Sixteen);
        img.pixels
            .iter()
            .flat_map(|v| ((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_be_bytes())
            .collect()
    } else {
        enc.set_depth(BitDepth::Eight);
        img.pixels
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    };
    let mut w = enc.write_header().context(EncodeSnafu { path })?;
    w.write_image_data(&data).context(EncodeSnafu { path })?;
    w.finish().context(EncodeSnafu { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_png_round_trips_in_8_and_16_bits() {
        let dir = tempfile::tempdir().unwrap();
        let img = Radiograph {
            width: 3,
            height: 2,
            pixels: vec![0.0, 0.5, 1.0, 0.25, 0.75, 1.0],
            pixel_spacing_mm: None,
            attributes: FilmAttributes::default(),
        };
        for sixteen in [false, true] {
            let p = dir.path().join(format!("{sixteen}.png"));
            write_gray(&p, &img, sixteen).unwrap();
            let back = read(&p, 1000).unwrap();
            assert_eq!((back.width, back.height), (3, 2));
            let tol = if sixteen { 1e-4 } else { 2.5e-3 };
            for (a, b) in back.pixels.iter().zip(&img.pixels) {
                assert!((a - b).abs() < tol, "{a} vs {b}");
            }
        }
        let p = dir.path().join("true.png");
        assert!(matches!(read(&p, 5), Err(Error::TooLarge { .. })));
    }
}
