//! Reading a radiograph from a file, DICOM or PNG, told apart by the PNG signature.

use std::io::Read;
use std::path::{Path, PathBuf};

use snafu::{ResultExt, Snafu};

use crate::dicom::decode::{self, DicomFile};
use crate::image::Radiograph;
use crate::render;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read {}", path.display()))]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("could not decode the DICOM image"))]
    Dicom {
        #[snafu(source(from(decode::Error, Box::new)))]
        source: Box<decode::Error>,
    },
    #[snafu(display("could not read the PNG image"))]
    Png { source: render::png::Error },
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A decoded radiograph and, for DICOM input, the instance it came from.
#[derive(Debug)]
pub struct Input {
    pub image: Radiograph,
    pub dicom: Option<DicomFile>,
}

/// Reads `path` as PNG when it starts with the PNG signature, else as DICOM Part 10.
pub fn read(path: &Path, max_pixels: u64) -> Result<Input, Error> {
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .context(OpenSnafu { path })?;
    if n == 8 && head == PNG_SIGNATURE {
        let image = render::png::read(path, max_pixels).context(PngSnafu)?;
        return Ok(Input { image, dicom: None });
    }
    let obj = decode::open(path).context(DicomSnafu)?;
    let image = decode::decode(&obj, max_pixels).context(DicomSnafu)?;
    Ok(Input {
        image,
        dicom: Some(obj),
    })
}
