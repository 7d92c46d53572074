//! Declared lengths checked before a DICOM stream is parsed.
//!
//! dicom-object and dicom-parser 0.10 reserve and zero-fill an element's declared length
//! before reading its value, so a few bytes declaring a 4 GiB element make them allocate
//! 4 GiB (the file meta reader does the same). A Deflated data set can also expand far
//! beyond what was received. This walk reads only element headers, mirroring how the
//! parser descends into sequences and items and skips values, and refuses a stream where
//! any declared length runs past the end of the (inflated) data, or where the inflated
//! data set is larger than the caller's limit. Memory stays constant: values are skipped,
//! not held. Used by the node before it acknowledges a C-STORE, by [`super::decode::open`],
//! and by the fuzz targets (fuzz/).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use snafu::{ResultExt, Snafu, ensure};

/// Deflated Explicit VR Little Endian and JPIP Referenced Deflate: the data set after the
/// file meta is a raw deflate stream.
const DEFLATED: [&str; 2] = ["1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"];
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display(
        "element ({:04X},{:04X}) declares {len} bytes where only {remaining} remain",
        tag.0,
        tag.1
    ))]
    LengthPastEnd { tag: Tag, len: u32, remaining: u64 },
    #[snafu(display(
        "element ({:04X},{:04X}) is out of place: {what}",
        tag.0,
        tag.1
    ))]
    Structure { tag: Tag, what: &'static str },
    #[snafu(display(
        "element ({:04X},{:04X}) has odd length {len}",
        tag.0,
        tag.1
    ))]
    OddLength { tag: Tag, len: u32 },
    #[snafu(display(
        "element ({:04X},{:04X}) has length {len}, not a multiple of its value size {size}",
        tag.0,
        tag.1
    ))]
    ValueSize { tag: Tag, len: u32, size: u32 },
    #[snafu(display("inflated data set is larger than {limit} bytes"))]
    InflatedTooLarge { limit: u64 },
    #[snafu(display(
        "deflated data set is not a valid deflate stream (error after {inflated} bytes)"
    ))]
    CorruptDeflate { inflated: u64 },
    #[snafu(display("could not read {path}"))]
    Open {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the data is refused for its size (the rest are malformed data).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Error::InflatedTooLarge { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks a Part 10 file on disk (see [`check_part10`]).
pub fn check_file(path: &Path, max_inflated: u64) -> Result<()> {
    let open = || {
        std::fs::File::open(path).context(OpenSnafu {
            path: path.display().to_string(),
        })
    };
    let total = open()?
        .metadata()
        .context(OpenSnafu {
            path: path.display().to_string(),
        })?
        .len();
    // Two passes over the file for a deflated data set (one to measure it inflated), so
    // the reader is reopened rather than held in memory.
    check_part10_with(|| Ok(BufReader::new(open()?)), total, max_inflated)
}

/// Checks a Part 10 stream held in memory: optional 128-byte preamble and "DICM", the file
/// meta group, then the data set in the transfer syntax the meta names.
pub fn check_part10(bytes: &[u8], max_inflated: u64) -> Result<()> {
    check_part10_with(|| Ok(bytes), bytes.len() as u64, max_inflated)
}

fn check_part10_with<R: Source>(
    open: impl Fn() -> Result<R>,
    total: u64,
    max_inflated: u64,
) -> Result<()> {
    let mut w = Walker::new(open()?, total, Encoding::ExplicitLe);
    // Preamble detection as dicom-object does it: "DICM" at 128, else at 0.
    let mut head = [0u8; 132];
    let preamble = match w.read_exact(&mut head) {
        Some(()) if &head[128..] == b"DICM" => 132,
        _ => 4,
    };
    let mut w = Walker::new(open()?, total, Encoding::ExplicitLe);
    if w.skip(preamble).is_none() {
        return Ok(());
    }
    let Some(ts) = w.meta()? else {
        // Truncated or malformed meta: the parser refuses it without large allocations
        // (every length it reads was checked up to here).
        return Ok(());
    };
    let ts = ts.trim_end_matches(['\0', ' ']).to_string();
    let data_start = w.pos;
    if DEFLATED.contains(&ts.as_str()) {
        // First pass: the inflated size, stopping at the limit.
        let mut r = open()?;
        if std::io::copy(&mut (&mut r).take(data_start), &mut std::io::sink()).is_err() {
            return Ok(());
        }
        let inflated = inflated_len(flate2::read::DeflateDecoder::new(r), max_inflated)?;
        let mut r = open()?;
        if std::io::copy(&mut (&mut r).take(data_start), &mut std::io::sink()).is_err() {
            return Ok(());
        }
        let inflater = BufReader::new(flate2::read::DeflateDecoder::new(r).take(inflated));
        Walker::new(inflater, inflated, Encoding::ExplicitLe).data_set()
    } else {
        w.encoding = match ts.as_str() {
            IMPLICIT_VR_LE => Encoding::ImplicitLe,
            EXPLICIT_VR_BE => Encoding::ExplicitBe,
            _ => Encoding::ExplicitLe,
        };
        w.data_set()
    }
}

/// Checks a bare data set (no preamble, no meta) in transfer syntax `ts`, as received on
/// an association before the node writes it behind its own file meta.
pub fn check_data_set(bytes: &[u8], ts: &str, max_inflated: u64) -> Result<()> {
    let ts = ts.trim_end_matches(['\0', ' ']);
    if DEFLATED.contains(&ts) {
        let inflated = inflated_len(flate2::read::DeflateDecoder::new(bytes), max_inflated)?;
        let inflater = BufReader::new(flate2::read::DeflateDecoder::new(bytes).take(inflated));
        return Walker::new(inflater, inflated, Encoding::ExplicitLe).data_set();
    }
    let encoding = match ts {
        IMPLICIT_VR_LE => Encoding::ImplicitLe,
        EXPLICIT_VR_BE => Encoding::ExplicitBe,
        _ => Encoding::ExplicitLe,
    };
    Walker::new(bytes, bytes.len() as u64, encoding).data_set()
}

/// The inflated size of a deflate stream, refused above `limit` or when the stream is
/// corrupt. A corrupt stream is refused rather than measured up to its error: flate2
/// drops the output of the read call that meets the error, so how many bytes come before
/// it depends on the reader's buffer sizes (64 KiB here, a few bytes at a time in
/// dicom-parser); the parser could read headers this walk never saw (found by fuzz/
/// target `dataset`).
fn inflated_len(mut r: impl Read, limit: u64) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return CorruptDeflateSnafu { inflated: n }.fail(),
        }
        ensure!(n <= limit, InflatedTooLargeSnafu { limit });
    }
}

/// What the walk reads: a [`BufRead`] that can also pass over values it never needs. A
/// file seeks past them: reading a radiograph's Pixel Data only to drop it doubled the
/// cost of opening the file.
trait Source: BufRead {
    /// Passes over `n` bytes, or the `remaining` ones if fewer; how many it passed.
    fn pass(&mut self, n: u64, remaining: u64) -> std::io::Result<u64>;
}

impl Source for &[u8] {
    fn pass(&mut self, n: u64, _remaining: u64) -> std::io::Result<u64> {
        let k = usize::try_from(n).unwrap_or(usize::MAX).min(self.len());
        *self = &self[k..];
        Ok(k as u64)
    }
}

impl Source for BufReader<std::fs::File> {
    fn pass(&mut self, n: u64, remaining: u64) -> std::io::Result<u64> {
        // The walker's `remaining` is what the file holds past its position (its length
        // was taken at open), so a seek never goes past the end unnoticed.
        let k = n.min(remaining);
        let offset = i64::try_from(k).map_err(std::io::Error::other)?;
        self.seek_relative(offset)?;
        Ok(k)
    }
}

/// An inflating stream: nothing to seek, the bytes are read and dropped.
impl<R: Read> Source for BufReader<std::io::Take<flate2::read::DeflateDecoder<R>>> {
    fn pass(&mut self, n: u64, _remaining: u64) -> std::io::Result<u64> {
        std::io::copy(&mut self.take(n), &mut std::io::sink())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    ExplicitLe,
    ExplicitBe,
    ImplicitLe,
}

struct Walker<R> {
    r: R,
    pos: u64,
    total: u64,
    encoding: Encoding,
}

/// Item, Item Delimitation Item and Sequence Delimitation Item (PS3.5 7.5).
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);

/// An open sequence or item of the data set being walked, with where it ends when its
/// length is defined.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    Sequence(Option<u64>),
    Item(Option<u64>),
}
const UNDEFINED: u32 = 0xFFFF_FFFF;

impl<R: Source> Walker<R> {
    fn new(r: R, total: u64, encoding: Encoding) -> Walker<R> {
        Walker {
            r,
            pos: 0,
            total,
            encoding,
        }
    }

    /// `None` at the end of the data (or on a read error): what follows is the parser's
    /// to refuse, and it reads nothing more than is there.
    fn read_exact(&mut self, buf: &mut [u8]) -> Option<()> {
        self.r.read_exact(buf).ok()?;
        self.pos += buf.len() as u64;
        Some(())
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let got = self.r.pass(n, self.total.saturating_sub(self.pos)).ok()?;
        self.pos += got;
        (got == n).then_some(())
    }

    fn u16(&mut self, big_endian: bool) -> Option<u16> {
        let mut b = [0u8; 2];
        self.read_exact(&mut b)?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&mut self, big_endian: bool) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn check(&self, tag: Tag, vr: VR, len: u32) -> Result<()> {
        // PS3.5 7.1.1: value lengths are even. dicom-parser reads an odd-length element
        // with other boundaries than these (found by fuzz/ target `pdu`), so what it then
        // takes for a length was never checked here: refused instead.
        ensure!(
            len == UNDEFINED || len.is_multiple_of(2),
            OddLengthSnafu { tag, len }
        );
        // The same for binary values whose length is not a whole number of values (a UL
        // of 6 bytes, found by fuzz/ target `dataset`): the parser reads whole values and
        // goes on misaligned, taking value bytes for the next header's length.
        let size = match vr {
            VR::UL | VR::SL | VR::FL | VR::AT | VR::OL | VR::OF => 4,
            VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => 8,
            _ => 1,
        };
        ensure!(
            len == UNDEFINED || len.is_multiple_of(size),
            ValueSizeSnafu { tag, len, size }
        );
        let remaining = self.total.saturating_sub(self.pos);
        ensure!(
            len == UNDEFINED || u64::from(len) <= remaining,
            LengthPastEndSnafu {
                tag,
                len,
                remaining
            }
        );
        Ok(())
    }

    /// An element header: tag, VR (from the dictionary in implicit VR, as the parser
    /// does), length. Item tags have no VR in any encoding.
    fn header(&mut self) -> Option<(Tag, VR, u32)> {
        let be = self.encoding == Encoding::ExplicitBe;
        let group = self.u16(be)?;
        let element = self.u16(be)?;
        let tag = Tag(group, element);
        if group == 0xFFFE {
            return Some((tag, VR::UN, self.u32(be)?));
        }
        if self.encoding == Encoding::ImplicitLe {
            let vr = StandardDataDictionary
                .by_tag(tag)
                .map(|e| e.vr().relaxed())
                .unwrap_or(VR::UN);
            return Some((tag, vr, self.u32(false)?));
        }
        let mut v = [0u8; 2];
        self.read_exact(&mut v)?;
        let vr = VR::from_binary(v).unwrap_or(VR::UN);
        let long = matches!(
            vr,
            VR::OB
                | VR::OD
                | VR::OF
                | VR::OL
                | VR::OV
                | VR::OW
                | VR::SQ
                | VR::SV
                | VR::UC
                | VR::UN
                | VR::UR
                | VR::UT
                | VR::UV
        );
        let len = if long {
            self.skip(2)?;
            self.u32(be)?
        } else {
            u32::from(self.u16(be)?)
        };
        Some((tag, vr, len))
    }

    /// The file meta group (always Explicit VR Little Endian): its group length, then
    /// elements until that many bytes are read (as dicom-object reads it). The Transfer
    /// Syntax UID, `None` if the meta ends early.
    fn meta(&mut self) -> Result<Option<String>> {
        let Some((tag, _, len)) = self.header() else {
            return Ok(None);
        };
        if tag != tags::FILE_META_INFORMATION_GROUP_LENGTH || len != 4 {
            return Ok(None);
        }
        let Some(group_length) = self.u32(false) else {
            return Ok(None);
        };
        let mut read = 0u64;
        let mut ts = None;
        while read < u64::from(group_length) {
            let start = self.pos;
            let Some((tag, vr, len)) = self.header() else {
                return Ok(None);
            };
            if len == UNDEFINED {
                return Ok(None);
            }
            self.check(tag, vr, len)?;
            // A UID is at most 64 bytes (PS3.5 6.2). A longer one is refused, not skipped:
            // dicom-object reads it whole and trims its padding, so a 96-byte "Explicit VR
            // Big Endian" behind NULs would be parsed in a transfer syntax this walk never
            // checked (found by fuzz/ target `dataset`).
            if tag == tags::TRANSFER_SYNTAX_UID {
                ensure!(
                    len <= 64,
                    StructureSnafu {
                        tag,
                        what: "a Transfer Syntax UID longer than 64 bytes"
                    }
                );
                let mut v = vec![0u8; len as usize];
                if self.read_exact(&mut v).is_none() {
                    return Ok(None);
                }
                ts = Some(String::from_utf8_lossy(&v).into_owned());
            } else if self.skip(u64::from(len)).is_none() {
                return Ok(None);
            }
            read += self.pos - start;
        }
        Ok(ts)
    }

    /// Every header of the data set, flat: sequences and data set items are entered (their
    /// elements follow), values and pixel data fragments are skipped.
    fn data_set(mut self) -> Result<()> {
        let mut in_pixel_sequence = false;
        // Sequences and items as the standard nests them (PS3.5 7.5): items only directly
        // in a sequence, elements only in an item or at the top. dicom-parser reads a stray
        // item tag with other boundaries than this walk (found by fuzz/ target `dataset`),
        // so a data set that breaks the nesting is refused rather than walked differently.
        let mut open: Vec<Open> = Vec::new();
        loop {
            while let Some(Open::Sequence(Some(end)) | Open::Item(Some(end))) = open.last() {
                if self.pos < *end {
                    break;
                }
                open.pop();
            }
            let Some((tag, vr, len)) = self.header() else {
                break;
            };
            self.check(tag, vr, len)?;
            let end = (len != UNDEFINED).then(|| self.pos + u64::from(len));
            if tag.0 == 0xFFFE {
                if in_pixel_sequence {
                    if tag == ITEM && len != UNDEFINED {
                        if self.skip(u64::from(len)).is_none() {
                            return Ok(());
                        }
                    } else if tag == SEQUENCE_DELIMITER {
                        in_pixel_sequence = false;
                    }
                    continue;
                }
                match (tag, open.last()) {
                    (ITEM, Some(Open::Sequence(_))) => open.push(Open::Item(end)),
                    (ITEM_DELIMITER, Some(Open::Item(None))) => {
                        open.pop();
                    }
                    (SEQUENCE_DELIMITER, Some(Open::Sequence(None))) => {
                        open.pop();
                    }
                    _ => {
                        return StructureSnafu {
                            tag,
                            what: "item or delimiter outside its sequence or item",
                        }
                        .fail();
                    }
                }
                continue;
            }
            if matches!(open.last(), Some(Open::Sequence(_))) {
                return StructureSnafu {
                    tag,
                    what: "element directly in a sequence, outside an item",
                }
                .fail();
            }
            if len == UNDEFINED {
                // Encapsulated pixel data: fragments follow; any other undefined length
                // is a sequence to the parser.
                in_pixel_sequence = tag == tags::PIXEL_DATA && vr != VR::SQ;
                if !in_pixel_sequence {
                    open.push(Open::Sequence(None));
                }
                continue;
            }
            if vr == VR::SQ {
                open.push(Open::Sequence(end));
                continue;
            }
            if self.skip(u64::from(len)).is_none() {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(tag: Tag, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    /// A 4 GiB Pixel Data declared in 12 bytes.
    fn huge_pixel_data() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00]);
        v.extend_from_slice(b"OB\0\0");
        v.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        v
    }

    #[test]
    fn huge_declared_length_is_refused_small_ones_pass() {
        let mut ok = explicit(tags::MODALITY, b"CS", b"CR");
        assert!(check_data_set(&ok, "1.2.840.10008.1.2.1", 1 << 20).is_ok());
        ok.extend(huge_pixel_data());
        let e = check_data_set(&ok, "1.2.840.10008.1.2.1", 1 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LengthPastEnd {
                    len: 0xFFFF_FFF0,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn huge_length_inside_an_undefined_length_sequence_is_found() {
        let mut v = Vec::new();
        // (0008,1140) SQ, undefined length; one item, undefined length; then the element.
        v.extend_from_slice(&[0x08, 0x00, 0x40, 0x11]);
        v.extend_from_slice(b"SQ\0\0");
        v.extend_from_slice(&UNDEFINED.to_le_bytes());
        v.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        v.extend_from_slice(&UNDEFINED.to_le_bytes());
        v.extend(huge_pixel_data());
        assert!(check_data_set(&v, "1.2.840.10008.1.2.1", 1 << 20).is_err());
    }

    /// fuzz/ target `dataset`, first crash (fuzz/artifacts/dataset/oom-26daab5b...): a
    /// deflate stream that breaks off after inflating a huge declared length.
    #[test]
    fn corrupt_deflate_stream_is_refused() {
        use std::io::Write;
        let mut ds = explicit(tags::MODALITY, b"CS", b"CR");
        ds.extend_from_slice(&[0; 64]);
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::none());
        enc.write_all(&ds).unwrap();
        let z = enc.finish().unwrap();
        assert!(check_data_set(&z, DEFLATED[0], 1 << 20).is_ok());
        // The last 5 bytes are the final, empty stored block: in its place, a final block
        // of the reserved type 11.
        let mut bad = z[..z.len() - 5].to_vec();
        bad.push(0b111);
        let e = check_data_set(&bad, DEFLATED[0], 1 << 20).unwrap_err();
        assert!(matches!(e, Error::CorruptDeflate { .. }), "{e}");
        assert!(!e.is_too_large());
        // A stream cut short is an error to flate2 as well.
        let e = check_data_set(&z[..z.len() - 20], DEFLATED[0], 1 << 20).unwrap_err();
        assert!(matches!(e, Error::CorruptDeflate { .. }), "{e}");
    }

    /// The fuzzer's input itself (mode byte 3: Deflated, behind the node's file meta):
    /// the parser allocated over 3 GB on it.
    #[test]
    fn fuzz_regression_deflate_oom() {
        let file = crate::dicom::fuzz_dataset_file(include_bytes!(
            "../../fuzz/regressions/dataset-deflate-oom"
        ));
        assert!(check_part10(&file, 64 << 20).is_err());
    }

    /// A stream corrupt from its third byte: inflated 64 KiB at a time it yields nothing
    /// before the error, read a few bytes at a time (as dicom-parser reads) it yields a
    /// header declaring gigabytes, which the parser zero-filled (2.6 GB, 4.5 s; a
    /// libFuzzer timeout on a slower machine).
    #[test]
    fn fuzz_regression_deflate_read_size_oom() {
        let file = crate::dicom::fuzz_dataset_file(include_bytes!(
            "../../fuzz/regressions/dataset-deflate-read-size-oom"
        ));
        let e = check_part10(&file, 64 << 20).unwrap_err();
        assert!(matches!(e, Error::CorruptDeflate { inflated: 0 }), "{e}");
    }

    /// A whole Part 10 file (mode byte 0) whose Transfer Syntax UID is 96 bytes: Explicit
    /// VR Big Endian padded with NULs. The walk skipped it as no UID and passed the file;
    /// dicom-object trimmed it and parsed the data set, reserving gigabytes.
    #[test]
    fn fuzz_regression_long_transfer_syntax_uid() {
        let input = include_bytes!("../../fuzz/regressions/dataset-long-ts-uid-oom");
        assert_eq!(input[0], 0);
        let e = check_part10(&input[1..], 64 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Structure {
                    tag: tags::TRANSFER_SYNTAX_UID,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn fuzz_regression_open_oom_ul_of_six_bytes() {
        // Implicit VR: (0000,0000) is UL; a length of 6 made the parser read one UL and go
        // on two bytes off, then reserve gigabytes for a length made of value bytes.
        let input = include_bytes!("../../fuzz/regressions/dataset-open-oom");
        assert_eq!(input[0], 2);
        let file = crate::dicom::fuzz_dataset_file(input);
        let e = check_part10(&file, 64 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                Error::ValueSize {
                    len: 6,
                    size: 4,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn fuzz_regression_stray_item_oom() {
        // JPEG Baseline (explicit VR LE data set): an item tag after (0028,0011) at the top
        // level, outside any sequence; dicom-parser then read an OB of about 4 GiB.
        let input = include_bytes!("../../fuzz/regressions/dataset-stray-item-oom");
        assert_eq!(input[0], 6);
        let file = crate::dicom::fuzz_dataset_file(input);
        let e = check_part10(&file, 64 << 20).unwrap_err();
        assert!(matches!(e, Error::Structure { .. }), "{e}");
    }

    #[test]
    fn nested_sequences_with_defined_and_undefined_lengths_pass() {
        // (0008,1140) SQ of undefined length { item (defined 18) { (0008,1150) UI "1.2" ...
        // }, item (undefined) { (0008,1155) UI "1.2" } item-delim } seq-delim, then a
        // top-level element: all well nested.
        let ui = |tag: Tag| explicit(tag, b"UI", b"1.2\0");
        let mut ds = Vec::new();
        ds.extend_from_slice(&[
            0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        let first = ui(Tag(0x0008, 0x1150));
        ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        ds.extend_from_slice(&(first.len() as u32).to_le_bytes());
        ds.extend_from_slice(&first);
        ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        ds.extend_from_slice(&ui(Tag(0x0008, 0x1155)));
        ds.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        ds.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        ds.extend_from_slice(&explicit(Tag(0x0008, 0x0060), b"CS", b"CR"));
        check_data_set(&ds, "1.2.840.10008.1.2.1", 1 << 20).unwrap();
        // The same elements with the item delimiter missing: the next element would sit
        // directly in the sequence.
        let mut bad = ds.clone();
        let cut = bad.len() - 26;
        bad.drain(cut..cut + 8);
        let e = check_data_set(&bad, "1.2.840.10008.1.2.1", 1 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Structure {
                    tag: SEQUENCE_DELIMITER,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn deflate_bomb_is_refused_by_inflated_size() {
        use std::io::Write;
        // 8 MiB of zeros in one OB element, deflated to a few kilobytes.
        let n = 8 << 20;
        let mut ds = Vec::new();
        ds.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00]);
        ds.extend_from_slice(b"OB\0\0");
        ds.extend_from_slice(&(n as u32).to_le_bytes());
        ds.resize(ds.len() + n, 0);
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&ds).unwrap();
        let z = enc.finish().unwrap();
        assert!(z.len() < 64 * 1024);
        let e = check_data_set(&z, DEFLATED[0], 1 << 20).unwrap_err();
        assert!(e.is_too_large(), "{e}");
        assert!(check_data_set(&z, DEFLATED[0], 16 << 20).is_ok());
    }
}
