//! DICOM instance to [`Radiograph`]: pixel data decoded in pure Rust (every transfer syntax
//! that dicom-pixeldata decodes natively, JPEG 2000 through `openjp2`), then Modality LUT
//! (rescale, PS3.3 C.11.1), VOI window when present (PS3.3 C.11.2), normalisation to
//! [0, 1] and inversion of MONOCHROME1 so that bone is always bright.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder, VoiLutFunction, WindowLevel};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use snafu::{ResultExt, Snafu, ensure};

use super::codestream;
use crate::image::Radiograph;
use crate::pipeline::laterality::FilmAttributes;

/// A DICOM file as read from disk or the network.
pub type DicomFile = FileDicomObject<InMemDicomObject>;

/// Largest image decoded by default: 120 megapixels (a 10000 x 12000 film still decodes;
/// larger ones are refused before their pixels are allocated as f32).
pub const DEFAULT_MAX_PIXELS: u64 = 120_000_000;

/// Largest data set read from a file, inflated when it is Deflated: 4 GiB, the most a
/// Part 10 file can declare in one element.
pub const DEFAULT_MAX_DATA_SET_BYTES: u64 = 4 << 30;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("refused to parse DICOM file {path}"))]
    Guard {
        path: String,
        source: super::guard::Error,
    },
    #[snafu(display("could not read DICOM file {path}"))]
    ReadFile {
        path: String,
        #[snafu(source(from(dicom_object::ReadError, Box::new)))]
        source: Box<dicom_object::ReadError>,
    },
    #[snafu(display("not an image: no Pixel Data (SOP Class {sop_class})"))]
    NoPixelData { sop_class: String },
    #[snafu(display("cannot decode pixel data in transfer syntax {ts_uid} ({ts_name})"))]
    DecodePixelData {
        ts_uid: String,
        ts_name: String,
        #[snafu(source(from(dicom_pixeldata::Error, Box::new)))]
        source: Box<dicom_pixeldata::Error>,
    },
    #[snafu(display(
        "the pixel data decoder failed (panicked) on transfer syntax {ts_uid} ({ts_name})"
    ))]
    DecoderPanic { ts_uid: String, ts_name: String },
    #[snafu(display(
        "image of {columns} x {rows} pixels is larger than the limit of {max} pixels"
    ))]
    TooLarge { columns: u32, rows: u32, max: u64 },
    #[snafu(display("compressed frame does not match the Image Pixel module"))]
    Codestream { source: super::codestream::Error },
    #[snafu(display("image has no pixels ({columns} x {rows})"))]
    Empty { columns: u32, rows: u32 },
    #[snafu(display(
        "unsupported photometric interpretation {pi} (expected MONOCHROME1, MONOCHROME2 or RGB)"
    ))]
    Photometric { pi: String },
    #[snafu(display("unsupported Samples per Pixel {spp}"))]
    SamplesPerPixel { spp: u16 },
    #[snafu(display("unsupported Bits Allocated {bits}"))]
    BitsAllocated { bits: u32 },
    #[snafu(display(
        "Bits Stored {stored} and High Bit {high} do not fit in Bits Allocated {allocated}"
    ))]
    BitsStored {
        stored: u32,
        high: u32,
        allocated: u32,
    },
    #[snafu(display("unsupported Bits Stored {stored} (radiographs are analysed up to 16)"))]
    DeepPixels { stored: u32 },
    #[snafu(display("Pixel Data holds {bytes} bytes where the image attributes declare {needed}"))]
    PixelDataLength { bytes: u64, needed: u64 },
    #[snafu(display(
        "pixel data holds {got} values where {columns} x {rows} x {spp} are declared"
    ))]
    ShortPixelData {
        got: usize,
        columns: u32,
        rows: u32,
        spp: u16,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a DICOM Part 10 file, after checking its declared lengths ([`super::guard`]).
pub fn open(path: &Path) -> Result<DicomFile> {
    super::guard::check_file(path, DEFAULT_MAX_DATA_SET_BYTES).context(GuardSnafu {
        path: path.display().to_string(),
    })?;
    OpenFileOptions::new()
        .open_file(path)
        .context(ReadFileSnafu {
            path: path.display().to_string(),
        })
}

/// The SOP Instance UID, from the dataset or else the file meta.
pub fn sop_instance_uid(obj: &DicomFile) -> Option<String> {
    string(obj, tags::SOP_INSTANCE_UID)
        .or_else(|| Some(obj.meta().media_storage_sop_instance_uid().to_string()))
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .filter(|s| !s.is_empty())
}

/// Checks the Image Pixel module without decoding: Pixel Data present, Rows and Columns
/// non-zero and within `max_pixels`, and native (uncompressed) Pixel Data at least as long
/// as Rows x Columns x Samples per Pixel x Bits Allocated x Number of Frames declare.
/// Encapsulated pixel data is only checked for a first fragment: its length is known only
/// once decoded. The node runs this before it acknowledges a C-STORE; [`decode`] runs it
/// first, so a short buffer is reported as such and not as a decoder error.
pub fn check_pixels(obj: &DicomFile, max_pixels: u64) -> Result<()> {
    let Some(pixel_data) = obj.get(tags::PIXEL_DATA) else {
        return NoPixelDataSnafu {
            sop_class: string(obj, tags::SOP_CLASS_UID).unwrap_or_else(|| "unknown".into()),
        }
        .fail();
    };
    let rows = uint(obj, tags::ROWS).unwrap_or(0);
    let columns = uint(obj, tags::COLUMNS).unwrap_or(0);
    ensure!(rows > 0 && columns > 0, EmptySnafu { columns, rows });
    ensure!(
        u64::from(rows) * u64::from(columns) <= max_pixels,
        TooLargeSnafu {
            columns,
            rows,
            max: max_pixels
        }
    );
    let spp = obj
        .get(tags::SAMPLES_PER_PIXEL)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(1);
    ensure!(spp == 1 || spp == 3, SamplesPerPixelSnafu { spp });
    let bits = uint(obj, tags::BITS_ALLOCATED).unwrap_or(0);
    ensure!(
        matches!(bits, 1 | 8 | 16 | 32 | 64),
        BitsAllocatedSnafu { bits }
    );
    // PS3.3 C.7.6.3.1.1: the stored bits lie within the allocated ones. dicom-pixeldata
    // sizes its lookup tables by Bits Stored: 28 stored bits in 16 allocated made it fill
    // a table of 2^28 entries (found by fuzz/ target `dataset`).
    let stored = uint(obj, tags::BITS_STORED).unwrap_or(bits);
    let high = uint(obj, tags::HIGH_BIT).unwrap_or(stored.saturating_sub(1));
    ensure!(
        (1..=bits).contains(&stored) && high < bits && stored <= high + 1,
        BitsStoredSnafu {
            stored,
            high,
            allocated: bits
        }
    );
    let frames = obj
        .get(tags::NUMBER_OF_FRAMES)
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    match pixel_data.value() {
        Value::PixelSequence(seq) => {
            ensure!(
                !seq.fragments().is_empty(),
                PixelDataLengthSnafu {
                    bytes: 0u64,
                    needed: 1u64
                }
            );
            // The first frame's header: in its first fragment, or (one frame) in the
            // fragments that follow if an encoder split it early.
            let take = if frames > 1 { 1 } else { seq.fragments().len() };
            let mut head = Vec::new();
            for f in seq.fragments().iter().take(take) {
                let room = codestream::HEADER_BYTES - head.len();
                head.extend_from_slice(&f[..f.len().min(room)]);
                if head.len() == codestream::HEADER_BYTES {
                    break;
                }
            }
            codestream::check_frame_size(obj.meta().transfer_syntax(), &head, columns, rows)
                .context(CodestreamSnafu)?;
        }
        Value::Primitive(_) | Value::Sequence(_) => {
            // Only the first frame is decoded, but a file declaring more frames than it
            // holds is broken all the same. u128: no product of u32 values overflows it.
            let bits_needed = u128::from(rows)
                * u128::from(columns)
                * u128::from(spp)
                * u128::from(bits)
                * u128::from(frames);
            // A Pixel Data sequence (nonsense, but parseable) holds no pixels.
            let bytes = match pixel_data.value() {
                Value::Primitive(p) => p.calculate_byte_len() as u64,
                _ => 0,
            };
            ensure!(
                u128::from(bytes) * 8 >= bits_needed,
                PixelDataLengthSnafu {
                    bytes,
                    needed: u64::try_from(bits_needed.div_ceil(8)).unwrap_or(u64::MAX)
                }
            );
        }
    }
    Ok(())
}

/// Decodes the first frame of `obj` into a display-space radiograph.
pub fn decode(obj: &DicomFile, max_pixels: u64) -> Result<Radiograph> {
    check_pixels(obj, max_pixels)?;
    // dicom-pixeldata's tables have 2^Bits Stored entries; no radiograph has more than 16.
    let stored = uint(obj, tags::BITS_STORED).unwrap_or(0);
    ensure!(stored <= 16, DeepPixelsSnafu { stored });
    let rows = uint(obj, tags::ROWS).unwrap_or(0);
    let columns = uint(obj, tags::COLUMNS).unwrap_or(0);

    let ts_uid = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    if let Some(pixels) = native_monochrome(obj, &ts_uid, rows as usize * columns as usize) {
        return Ok(Radiograph {
            width: columns,
            height: rows,
            pixels,
            pixel_spacing_mm: pixel_spacing(obj),
            attributes: attributes(obj),
        });
    }
    let ts_name = TransferSyntaxRegistry
        .get(&ts_uid)
        .map_or_else(|| "unknown".to_string(), |ts| ts.name().to_string());
    let ts_ctx = || DecodePixelDataSnafu {
        ts_uid: ts_uid.clone(),
        ts_name: ts_name.clone(),
    };
    // dicom-transfer-syntax-registry 0.10 can panic on corrupt compressed data (an index
    // out of bounds in its RLE decoder, found by fuzz/ target `dataset`): a panic in the
    // decoder is this image's error, not the end of the analysis worker or of `analyze`.
    let panicked = |_| {
        DecoderPanicSnafu {
            ts_uid: ts_uid.clone(),
            ts_name: ts_name.clone(),
        }
        .build()
    };
    let decoded = catch_unwind(AssertUnwindSafe(|| obj.decode_pixel_data_frame(0)))
        .map_err(panicked)?
        .with_context(|_| ts_ctx())?;
    let spp = decoded.samples_per_pixel();
    let pi = decoded.photometric_interpretation().clone();
    let invert = match &pi {
        PhotometricInterpretation::Monochrome1 => true,
        PhotometricInterpretation::Monochrome2 => false,
        PhotometricInterpretation::Rgb if spp == 3 => false,
        other => {
            return PhotometricSnafu {
                pi: other.to_string(),
            }
            .fail();
        }
    };
    ensure!(spp == 1 || spp == 3, SamplesPerPixelSnafu { spp });
    let window = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first().copied());
    let function = decoded
        .voi_lut_function()
        .ok()
        .flatten()
        .and_then(|f| f.first().copied())
        .unwrap_or_default();
    let n = rows as usize * columns as usize;
    if let Some(pixels) = monochrome_through_lut(&decoded, n, window, function, invert) {
        return Ok(Radiograph {
            width: columns,
            height: rows,
            pixels,
            pixel_spacing_mm: pixel_spacing(obj),
            attributes: attributes(obj),
        });
    }
    // Modality LUT only: dicom-pixeldata applies Rescale Slope/Intercept here (its default).
    let values: Vec<f32> = catch_unwind(AssertUnwindSafe(|| decoded.to_vec_frame(0)))
        .map_err(panicked)?
        .with_context(|_| ts_ctx())?;
    ensure!(
        values.len() >= n * spp as usize,
        ShortPixelDataSnafu {
            got: values.len(),
            columns,
            rows,
            spp
        }
    );
    let mut gray: Vec<f32> = if spp == 3 {
        values
            .chunks_exact(3)
            .take(n)
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .collect()
    } else {
        let mut v = values;
        v.truncate(n);
        v
    };
    to_display(&mut gray, window, function, invert);

    Ok(Radiograph {
        width: columns,
        height: rows,
        pixels: gray,
        pixel_spacing_mm: pixel_spacing(obj),
        attributes: attributes(obj),
    })
}

/// The usual radiograph (one sample of 8 or 16 bits, the stored bits at the bottom) mapped
/// to display values through one lookup table over the stored values present: each of
/// the (at most 65536) values is rescaled and windowed once, instead of each of millions
/// of pixels. Gives exactly what the general path gives (same f64 rescale, same
/// [`to_display`]), at a fraction of its cost. `None` when the layout is another one, or
/// the frame is short: the general path then decodes or reports it.
fn monochrome_through_lut(
    decoded: &dicom_pixeldata::DecodedPixelData<'_>,
    n: usize,
    window: Option<WindowLevel>,
    function: VoiLutFunction,
    invert: bool,
) -> Option<Vec<f32>> {
    let bits = decoded.bits_stored();
    let allocated = decoded.bits_allocated();
    if decoded.samples_per_pixel() != 1 || decoded.high_bit() + 1 != bits {
        return None;
    }
    let rescale = decoded.rescale().ok()?.first().copied()?;
    let data = decoded.frame_data(0).ok()?;
    let layout = StoredLayout {
        bits,
        signed: decoded.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed,
        rescale,
    };
    let display = Display {
        window,
        function,
        invert,
    };
    match allocated {
        16 => {
            let data = data.get(..n.checked_mul(2)?)?;
            let raw = data
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]));
            through_lut(raw, layout, display)
        }
        8 => through_lut(
            data.get(..n)?.iter().map(|&b| u16::from(b)),
            layout,
            display,
        ),
        _ => None,
    }
}

/// Bits Stored (at the bottom of each value, High Bit = Bits Stored - 1), Pixel
/// Representation and the Modality LUT's rescale.
#[derive(Clone, Copy)]
struct StoredLayout {
    bits: u16,
    signed: bool,
    rescale: dicom_pixeldata::Rescale,
}

/// The VOI transform and the MONOCHROME1 inversion.
#[derive(Clone, Copy)]
struct Display {
    window: Option<WindowLevel>,
    function: VoiLutFunction,
    invert: bool,
}

/// Maps raw values (as stored, bits above Bits Stored not yet removed) to display values
/// through a table over the stored values present; `None` for an unusable layout or no
/// values. Two passes over `raw` (extremes, then lookup), no intermediate image.
fn through_lut(
    raw: impl Iterator<Item = u16> + Clone,
    layout: StoredLayout,
    display: Display,
) -> Option<Vec<f32>> {
    let bits = layout.bits;
    if bits == 0 || bits > 16 {
        return None;
    }
    let mask = u16::try_from((1u32 << bits) - 1).ok()?;
    let shift = 16 - bits;
    // Stored value as an integer, the bits above Bits Stored ignored (PS3.5 8.1.1); a
    // signed one sign-extended from Bits Stored. The unsigned case, nearly every
    // radiograph, gets its own loop.
    if layout.signed {
        lookup(raw, mask, layout, display, move |r: u16| {
            i32::from(((r & mask) << shift).cast_signed() >> shift)
        })
    } else {
        lookup(raw, mask, layout, display, move |r: u16| {
            i32::from(r & mask)
        })
    }
}

fn lookup(
    raw: impl Iterator<Item = u16> + Clone,
    mask: u16,
    layout: StoredLayout,
    display: Display,
    value: impl Fn(u16) -> i32 + Copy,
) -> Option<Vec<f32>> {
    let (lo, hi) = raw
        .clone()
        .map(value)
        .fold((i32::MAX, i32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    // No VOI window and no rescale (films without a window): the display value is the
    // min-max map itself, computed per pixel with the same f32 operations `to_display`
    // applies to the table below (stored values of at most 16 bits are exact in f32),
    // so the same values; a loop the compiler vectorises instead of a gather.
    let identity = layout.rescale.slope == 1.0 && layout.rescale.intercept == 0.0;
    if identity && display.window.filter(|w| w.width > 0.0).is_none() {
        let (lo_f, hi_f) = (lo as f32, hi as f32);
        let span = hi_f - lo_f;
        let scale = if span > 0.0 { 1.0 / span } else { 0.0 };
        return Some(if display.invert {
            raw.map(|r| 1.0 - (value(r) as f32 - lo_f) * scale)
                .collect()
        } else {
            raw.map(|r| (value(r) as f32 - lo_f) * scale).collect()
        });
    }
    // The table spans exactly the image's least and greatest stored values, so the
    // min-max normalisation of `to_display` sees the same extremes as on the pixels.
    let mut lut: Vec<f32> = (lo..=hi)
        .map(|v| layout.rescale.apply(f64::from(v)) as f32)
        .collect();
    to_display(&mut lut, display.window, display.function, display.invert);
    // Then indexed by the masked raw value itself: a u16 index into 65536 entries needs
    // no bounds check and no arithmetic per pixel.
    let mut table: Box<[f32; 1 << 16]> = vec![0f32; 1 << 16].into_boxed_slice().try_into().ok()?;
    for r in 0..=mask {
        let v = value(r);
        if (lo..=hi).contains(&v) {
            table[usize::from(r)] = lut[usize::try_from(v - lo).ok()?];
        }
    }
    Some(raw.map(|r| table[usize::from(r & mask)]).collect())
}

/// Native (uncompressed) little-endian monochrome pixel data, read straight from the parsed
/// Pixel Data values, without dicom-pixeldata's copies: the path of nearly every film a
/// modality sends. `None` for anything else (compressed, colour, multi-sample, odd
/// layouts), which [`decode`] then hands to dicom-pixeldata. Same values either way.
fn native_monochrome(obj: &DicomFile, ts_uid: &str, n: usize) -> Option<Vec<f32>> {
    use dicom_core::value::{PrimitiveValue, Value};
    const NATIVE_LE: [&str; 3] = [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        // Inflated when the file is read: the values in memory are native.
        "1.2.840.10008.1.2.1.99",
    ];
    if !NATIVE_LE.contains(&ts_uid) {
        return None;
    }
    let invert = match string(obj, tags::PHOTOMETRIC_INTERPRETATION)?.as_str() {
        "MONOCHROME1" => true,
        "MONOCHROME2" => false,
        _ => return None,
    };
    let int = |tag| obj.get(tag).and_then(|e| e.to_int::<i64>().ok());
    let float = |tag| obj.get(tag).and_then(|e| e.to_float64().ok());
    if int(tags::SAMPLES_PER_PIXEL).unwrap_or(1) != 1
        || int(tags::NUMBER_OF_FRAMES).unwrap_or(1) > 1
    {
        return None;
    }
    let allocated = int(tags::BITS_ALLOCATED)?;
    let bits = u16::try_from(int(tags::BITS_STORED)?).ok()?;
    if int(tags::HIGH_BIT)? != i64::from(bits) - 1 || i64::from(bits) > allocated {
        return None;
    }
    let layout = StoredLayout {
        bits,
        signed: int(tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1,
        rescale: dicom_pixeldata::Rescale {
            slope: float(tags::RESCALE_SLOPE).unwrap_or(1.0),
            intercept: float(tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        },
    };
    // The first window, as dicom-pixeldata reads it; PS3.3 C.11.2.1.2 function names.
    let first = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_multi_float64().ok())
            .and_then(|v| v.first().copied())
    };
    let window = match (first(tags::WINDOW_CENTER), first(tags::WINDOW_WIDTH)) {
        (Some(center), Some(width)) => Some(WindowLevel { center, width }),
        _ => None,
    };
    let function = match string(obj, tags::VOILUT_FUNCTION).as_deref() {
        Some("LINEAR_EXACT") => VoiLutFunction::LinearExact,
        Some("SIGMOID") => VoiLutFunction::Sigmoid,
        _ => VoiLutFunction::Linear,
    };
    let display = Display {
        window,
        function,
        invert,
    };
    match (allocated, obj.get(tags::PIXEL_DATA)?.value()) {
        (16, Value::Primitive(PrimitiveValue::U16(v))) => {
            through_lut(v.get(..n)?.iter().copied(), layout, display)
        }
        (16, Value::Primitive(PrimitiveValue::U8(b))) => {
            let raw = b
                .get(..n.checked_mul(2)?)?
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]));
            through_lut(raw, layout, display)
        }
        (8, Value::Primitive(PrimitiveValue::U8(b))) => {
            through_lut(b.get(..n)?.iter().map(|&x| u16::from(x)), layout, display)
        }
        _ => None,
    }
}

/// Maps modality values to display values in [0, 1]: through the VOI window when one is
/// given (PS3.3 C.11.2.1.2), else linearly from the image's minimum to its maximum; then
/// inverts for MONOCHROME1, whose minimum value is displayed white.
pub fn to_display(
    values: &mut [f32],
    window: Option<WindowLevel>,
    function: VoiLutFunction,
    invert: bool,
) {
    match window.filter(|w| w.width > 0.0) {
        Some(w) => {
            let (c, wd) = (w.center, w.width);
            for v in values.iter_mut() {
                let x = f64::from(*v);
                let y = match function {
                    // C.11.2.1.2.1: linear with the half-pixel offsets of the standard.
                    VoiLutFunction::Linear => {
                        if wd <= 1.0 {
                            if x <= c - 0.5 { 0.0 } else { 1.0 }
                        } else {
                            ((x - (c - 0.5)) / (wd - 1.0) + 0.5).clamp(0.0, 1.0)
                        }
                    }
                    // C.11.2.1.3.2
                    VoiLutFunction::LinearExact => ((x - c) / wd + 0.5).clamp(0.0, 1.0),
                    // C.11.2.1.3.1
                    VoiLutFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - c) / wd).exp()),
                };
                *v = y as f32;
            }
        }
        None => {
            let (lo, hi) = values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            let span = hi - lo;
            let scale = if span > 0.0 { 1.0 / span } else { 0.0 };
            for v in values.iter_mut() {
                *v = (*v - lo) * scale;
            }
        }
    }
    if invert {
        for v in values.iter_mut() {
            *v = 1.0 - *v;
        }
    }
}

fn string(obj: &DicomFile, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

fn uint(obj: &DicomFile, tag: dicom_core::Tag) -> Option<u32> {
    obj.get(tag).and_then(|e| e.to_int::<u32>().ok())
}

/// Pixel Spacing, else Imager Pixel Spacing, as (row, column) mm; positive values only.
fn pixel_spacing(obj: &DicomFile) -> Option<(f64, f64)> {
    [tags::PIXEL_SPACING, tags::IMAGER_PIXEL_SPACING]
        .into_iter()
        .find_map(|tag| {
            let v = obj.get(tag)?.to_multi_float64().ok()?;
            match v.as_slice() {
                [r, c, ..] if *r > 0.0 && *c > 0.0 && r.is_finite() && c.is_finite() => {
                    Some((*r, *c))
                }
                _ => None,
            }
        })
}

/// The attributes that say which hand the film shows and how (`laterality`), trimmed
/// and upper-cased; empty values are absent.
fn attributes(obj: &DicomFile) -> FilmAttributes {
    let text = |tag| {
        string(obj, tag)
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
    };
    let patient_orientation = obj
        .get(tags::PATIENT_ORIENTATION)
        .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
        .and_then(|v| match v.as_slice() {
            [r, c] => Some((r.trim().to_ascii_uppercase(), c.trim().to_ascii_uppercase())),
            _ => None,
        });
    FilmAttributes {
        image_laterality: text(tags::IMAGE_LATERALITY),
        laterality: text(tags::LATERALITY),
        patient_orientation,
        view_position: text(tags::VIEW_POSITION),
        body_part_examined: text(tags::BODY_PART_EXAMINED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_normalisation_without_window() {
        let mut v = vec![100.0, 300.0, 200.0];
        to_display(&mut v, None, VoiLutFunction::Linear, false);
        assert_eq!(v, vec![0.0, 1.0, 0.5]);
    }

    #[test]
    fn monochrome1_is_inverted() {
        // Stored 0 is white in MONOCHROME1: after inversion it is 1 (bright).
        let mut v = vec![0.0, 1023.0];
        to_display(&mut v, None, VoiLutFunction::Linear, true);
        assert_eq!(v, vec![1.0, 0.0]);
    }

    #[test]
    fn linear_window_follows_ps3_3_c_11_2_1_2() {
        // c = 512, w = 257: x <= c - 0.5 - (w-1)/2 = 383.5 -> 0; x > c - 0.5 + (w-1)/2 = 639.5
        // -> 1; x = 511.5 -> 0.5.
        let mut v = vec![383.0, 511.5, 640.0];
        let w = WindowLevel {
            center: 512.0,
            width: 257.0,
        };
        to_display(&mut v, Some(w), VoiLutFunction::Linear, false);
        assert_eq!(v, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn linear_exact_and_sigmoid_windows() {
        let w = WindowLevel {
            center: 100.0,
            width: 50.0,
        };
        let mut v = vec![75.0, 100.0, 125.0];
        to_display(&mut v, Some(w), VoiLutFunction::LinearExact, false);
        assert_eq!(v, vec![0.0, 0.5, 1.0]);
        let mut v = vec![100.0];
        to_display(&mut v, Some(w), VoiLutFunction::Sigmoid, false);
        assert_eq!(v, vec![0.5]);
    }

    /// The object a `dataset` fuzz input makes, after checking its mode byte (the
    /// transfer syntax the regression is about).
    fn fuzz_object(input: &[u8], mode: u8) -> DicomFile {
        assert_eq!(input[0], mode);
        let file = crate::dicom::fuzz_dataset_file(input);
        OpenFileOptions::new().from_reader(&file[..]).unwrap()
    }

    /// fuzz/ target `dataset`: RLE Lossless pixel data whose segments are shorter than
    /// the frame make dicom-transfer-syntax-registry 0.10.1 index out of bounds
    /// (rle_lossless.rs:223). Mode byte 8: the data set behind the node's file meta in RLE.
    #[test]
    fn fuzz_regression_rle_decoder_panic_is_an_error() {
        let obj = fuzz_object(
            include_bytes!("../../fuzz/regressions/dataset-rle-panic"),
            8,
        );
        // The panic message still goes to stderr (the default hook); the call returns.
        let e = decode(&obj, 1 << 20).unwrap_err();
        assert!(matches!(e, Error::DecoderPanic { .. }), "{e}");
    }

    /// fuzz/ target `dataset` (mode 6: JPEG Baseline): Rows and Columns 8, the JPEG frame
    /// 65383 x 64979; jpeg-decoder allocated 4 GB for it. Refused by `check_pixels`, which
    /// the node runs before acknowledging the C-STORE.
    #[test]
    fn fuzz_regression_jpeg_frame_larger_than_the_image_is_refused() {
        let obj = fuzz_object(
            include_bytes!("../../fuzz/regressions/dataset-jpeg-frame-oom"),
            6,
        );
        let e = check_pixels(&obj, u64::MAX).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Codestream {
                    source: codestream::Error::Mismatch {
                        frame_columns: 65383,
                        frame_rows: 64979,
                        columns: 8,
                        rows: 8,
                        ..
                    }
                }
            ),
            "{e}"
        );
        assert!(matches!(
            decode(&obj, 1 << 20),
            Err(Error::Codestream { .. })
        ));
    }

    /// fuzz/ target `dataset` (mode 4: JPEG Lossless SV1): Bits Stored 28 in 16 allocated;
    /// dicom-pixeldata filled a 2^28-entry table (a libFuzzer timeout).
    #[test]
    fn fuzz_regression_bits_stored_beyond_bits_allocated_is_refused() {
        let obj = fuzz_object(
            include_bytes!("../../fuzz/regressions/dataset-bits-stored-timeout"),
            4,
        );
        let e = check_pixels(&obj, u64::MAX).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BitsStored {
                    stored: 28,
                    high: 11,
                    allocated: 16
                }
            ),
            "{e}"
        );
    }

    /// The min-max fast path and the table give the values `to_display` gives on the
    /// pixels themselves, bit for bit, unsigned and signed, plain and inverted.
    #[test]
    fn fast_paths_match_to_display_on_the_pixels() {
        // Stored values 3..=1020 of 10 bits, garbage in the bits above (masked off).
        let raw: Vec<u16> = (0..4096u32)
            .map(|i| ((i * 37 % 1018 + 3) as u16) | 0xA400)
            .collect();
        for (signed, invert, window) in [
            (false, false, None),
            (false, true, None),
            (true, false, None),
            (
                false,
                false,
                Some(WindowLevel {
                    center: 500.0,
                    width: 300.0,
                }),
            ),
            (
                true,
                true,
                Some(WindowLevel {
                    center: -20.0,
                    width: 900.0,
                }),
            ),
        ] {
            let layout = StoredLayout {
                bits: 10,
                signed,
                rescale: dicom_pixeldata::Rescale {
                    slope: 1.0,
                    intercept: 0.0,
                },
            };
            let display = Display {
                window,
                function: VoiLutFunction::Linear,
                invert,
            };
            let got = through_lut(raw.iter().copied(), layout, display).unwrap();
            let mut want: Vec<f32> = raw
                .iter()
                .map(|&r| {
                    let v = i32::from(r & 0x3FF);
                    (if signed && v >= 512 { v - 1024 } else { v }) as f32
                })
                .collect();
            to_display(&mut want, window, VoiLutFunction::Linear, invert);
            assert_eq!(
                got, want,
                "signed {signed}, invert {invert}, window {window:?}"
            );
        }
    }

    #[test]
    fn constant_image_maps_to_zero_not_nan() {
        let mut v = vec![7.0; 4];
        to_display(&mut v, None, VoiLutFunction::Linear, false);
        assert!(v.iter().all(|&x| x == 0.0));
    }
}
