//! The image size a compressed frame declares in its own header: the JPEG frame header
//! (SOF, ITU-T T.81 B.2.2) and the JPEG 2000 image and tile size marker (SIZ, ITU-T
//! T.800 A.5.1).
//!
//! The decoders allocate what the codestream declares, not what Rows and Columns say: a
//! 600-byte JPEG Baseline instance declaring an 8 x 8 image and a 65383 x 64979 frame
//! made jpeg-decoder allocate 4 GB (found by fuzz/ target `dataset`). PS3.5 8.2 requires
//! the two to agree, so a frame that disagrees is refused before it is decoded.

use dicom_dictionary_std::uids;
use snafu::{Snafu, ensure};

/// JPEG processes (PS3.5 A.4.1-A.4.3): Baseline, Extended, Lossless.
const JPEG: [&str; 4] = [
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
];

/// JPEG 2000 and High-Throughput JPEG 2000 (PS3.5 A.4.4, A.4.11): the same SIZ marker.
const JPEG_2000: [&str; 5] = [
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::HTJ2K_LOSSLESS,
    uids::HTJ2K_LOSSLESS_RPCL,
    uids::HTJ2K,
];

/// How far into a frame its header is looked for: far past any real JPEG's tables.
pub const HEADER_BYTES: usize = 64 * 1024;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("no {what} in the frame's first {HEADER_BYTES} bytes"))]
    NoHeader { what: &'static str },
    #[snafu(display(
        "the {what} declares {frame_columns} x {frame_rows} pixels where Columns x Rows are {columns} x {rows}"
    ))]
    Mismatch {
        what: &'static str,
        frame_columns: u32,
        frame_rows: u32,
        columns: u32,
        rows: u32,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks that the frame starting with `head` (its first bytes, up to [`HEADER_BYTES`])
/// declares `columns` x `rows`, for the transfer syntaxes whose codestream has a size of
/// its own; any other transfer syntax passes (RLE segments are sized from Rows and
/// Columns by the decoder).
pub fn check_frame_size(ts_uid: &str, head: &[u8], columns: u32, rows: u32) -> Result<()> {
    let ts = ts_uid.trim_end_matches(['\0', ' ']);
    let (what, size) = if JPEG.contains(&ts) {
        ("JPEG frame header (SOF)", jpeg_size(head))
    } else if JPEG_2000.contains(&ts) {
        ("JPEG 2000 size marker (SIZ)", j2k_size(head))
    } else {
        return Ok(());
    };
    let Some((frame_columns, frame_rows)) = size else {
        return NoHeaderSnafu { what }.fail();
    };
    ensure!(
        (frame_columns, frame_rows) == (columns, rows),
        MismatchSnafu {
            what,
            frame_columns,
            frame_rows,
            columns,
            rows
        }
    );
    Ok(())
}

/// (columns, rows) from the first SOF marker segment of a JPEG stream (T.81 B.2.2: length,
/// sample precision, Y lines, X samples per line), walking the marker segments from SOI.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    if b.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        // Fill bytes (T.81 B.1.1.2): any number of 0xFF before a marker.
        while *b.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i + 1)?;
        i += 2;
        match marker {
            // RSTn, TEM: no length.
            0xD0..=0xD7 | 0x01 => continue,
            // SOF0-15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let rows = u16_at(i + 3)?;
                let columns = u16_at(i + 5)?;
                return Some((u32::from(columns), u32::from(rows)));
            }
            // Scan data or the end before any frame header.
            0xDA | 0xD9 => return None,
            _ => i += usize::from(u16_at(i)?),
        }
    }
}

/// (columns, rows) of the image area from the SIZ marker segment that follows SOC (T.800
/// A.5.1: Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz).
fn j2k_size(b: &[u8]) -> Option<(u32, u32)> {
    let u32_at = |i: usize| {
        Some(u32::from_be_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            *b.get(i + 3)?,
        ]))
    };
    // A raw codestream starts with SOC and SIZ; a JP2 file (not what PS3.5 A.4.4 asks
    // for, but decoders read it) holds the codestream in a box further on.
    let start = b.windows(4).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])?;
    let siz = start + 4;
    let x = u32_at(siz + 4)?;
    let y = u32_at(siz + 8)?;
    let x0 = u32_at(siz + 12)?;
    let y0 = u32_at(siz + 16)?;
    Some((x.checked_sub(x0)?, y.checked_sub(y0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASELINE: &str = "1.2.840.10008.1.2.4.50";
    const J2K: &str = "1.2.840.10008.1.2.4.90";

    /// SOI, APP0 (JFIF, 16 bytes), fill bytes, SOF0 of 8 bits, `rows` x `columns`, 1
    /// component.
    fn jpeg(rows: u16, columns: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        v.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xC0, 0x00, 0x0B, 0x08]);
        v.extend_from_slice(&rows.to_be_bytes());
        v.extend_from_slice(&columns.to_be_bytes());
        v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        v
    }

    #[test]
    fn jpeg_frame_header_is_found_past_app0_and_fill_bytes() {
        assert_eq!(jpeg_size(&jpeg(1670, 2010)), Some((2010, 1670)));
        assert!(check_frame_size(BASELINE, &jpeg(1670, 2010), 2010, 1670).is_ok());
    }

    #[test]
    fn jpeg_frame_larger_than_rows_and_columns_is_refused() {
        // The fuzzer's case: Rows = Columns = 8, the frame 65383 x 64979.
        let e = check_frame_size(BASELINE, &jpeg(64979, 65383), 8, 8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the JPEG frame header (SOF) declares 65383 x 64979 pixels where Columns x Rows are 8 x 8"
        );
    }

    #[test]
    fn jpeg_without_frame_header_is_refused() {
        // SOI then straight to a scan (SOS).
        let e = check_frame_size(BASELINE, &[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02], 8, 8);
        assert!(matches!(e, Err(Error::NoHeader { .. })));
        // Cut inside the frame header.
        let cut = &jpeg(8, 8)[..27];
        assert!(check_frame_size(BASELINE, cut, 8, 8).is_err());
        // Not JPEG at all.
        assert!(check_frame_size(BASELINE, b"RIFF....", 8, 8).is_err());
    }

    #[test]
    fn j2k_image_area_is_size_minus_offset() {
        // SOC, SIZ: Lsiz 41, Rsiz 0, Xsiz 2110, Ysiz 1770, XOsiz 100, YOsiz 100.
        let mut v = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x00, 0x00];
        for x in [2110u32, 1770, 100, 100] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        assert_eq!(j2k_size(&v), Some((2010, 1670)));
        assert!(check_frame_size(J2K, &v, 2010, 1670).is_ok());
        assert!(check_frame_size(J2K, &v, 8, 8).is_err());
        // An offset past the size is no image area.
        let mut bad = v.clone();
        bad[16..20].copy_from_slice(&3000u32.to_be_bytes());
        assert!(matches!(
            check_frame_size(J2K, &bad, 2010, 1670),
            Err(Error::NoHeader { .. })
        ));
    }

    #[test]
    fn other_transfer_syntaxes_pass() {
        assert!(check_frame_size("1.2.840.10008.1.2.5", b"", 8, 8).is_ok());
        assert!(check_frame_size("1.2.840.10008.1.2.1", b"", 8, 8).is_ok());
    }
}
