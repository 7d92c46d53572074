//! `rajoints preprocess` (hidden): writes the image the detectors see before windowing, so
//! that the training code can check that it prepares exactly the same pixels
//! (models/training/tests/test_rust_parity.py).
//!
//! Output, little endian: u32 width, u32 height, f64 fx, f64 fy, then width * height f32
//! values, row by row.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use snafu::{ResultExt, Whatever};

use rajoints::dicom::decode;
use rajoints::pipeline::scale;

#[derive(Debug, Args)]
pub struct PreprocessArgs {
    /// DICOM input.
    file: PathBuf,
    /// Target pixel spacing in mm; 0 halves the image (as does a file without spacing).
    #[arg(long, value_name = "MM")]
    target_mm: f64,
    /// Output file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: PreprocessArgs) -> Result<ExitCode, Whatever> {
    let obj = decode::open(&args.file).whatever_context("could not read the input")?;
    let img = decode::decode(&obj, decode::DEFAULT_MAX_PIXELS)
        .whatever_context("could not decode the input")?;
    let (fx, fy) = scale::factors(img.pixel_spacing_mm, args.target_mm, 0.5);
    let s = scale::resample(&img, fx, fy);
    let mut bytes = Vec::with_capacity(24 + 4 * s.pixels.len());
    bytes.extend((s.width as u32).to_le_bytes());
    bytes.extend((s.height as u32).to_le_bytes());
    bytes.extend(s.fx.to_le_bytes());
    bytes.extend(s.fy.to_le_bytes());
    for v in &s.pixels {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(&args.out, bytes)
        .with_whatever_context(|_| format!("could not write {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
