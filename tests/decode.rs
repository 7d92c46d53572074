//! Decoding DICOM pixel data: Modality LUT, VOI window, MONOCHROME1, and the compressed
//! transfer syntaxes, each file made by a real encoder (DCMTK, GDCM).

mod common;

use std::path::Path;
use std::process::Command;

use common::CrImage;
use rajoints::dicom::decode;

fn decode_file(path: &Path) -> rajoints::image::Radiograph {
    let obj = decode::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    decode::decode(&obj, decode::DEFAULT_MAX_PIXELS)
        .unwrap_or_else(|e| panic!("decode {}: {e}", path.display()))
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "pixel {i}: got {g}, want {w}");
    }
}

fn image(stored: Vec<u16>) -> CrImage {
    let mut img = CrImage::from_display(4, 1, &[0.0; 4]);
    img.stored = stored;
    img
}

#[test]
fn rescale_then_min_max_then_monochrome1_inversion() {
    // Stored 0, 100, 200, 300 with slope 2, intercept -100: modality -100, 100, 300, 500;
    // no window, so min..max -> 0, 1/3, 2/3, 1; MONOCHROME1 inverts to 1, 2/3, 1/3, 0.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m1.dcm");
    let mut img = image(vec![0, 100, 200, 300]);
    img.rescale = Some((2.0, -100.0));
    img.photometric = "MONOCHROME1";
    img.write(&p, "2.25.11");
    assert_close(
        &decode_file(&p).pixels,
        &[1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0],
        1e-6,
    );
}

#[test]
fn window_applies_to_modality_values() {
    // Same modality values -100, 100, 300, 500; window centre 100.5, width 201 (linear,
    // PS3.3 C.11.2.1.2): y = (x - 100) / 200 + 0.5, clipped -> 0, 0.5, 1, 1.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.dcm");
    let mut img = image(vec![0, 100, 200, 300]);
    img.rescale = Some((2.0, -100.0));
    img.window = Some((100.5, 201.0));
    img.write(&p, "2.25.12");
    assert_close(&decode_file(&p).pixels, &[0.0, 0.5, 1.0, 1.0], 1e-6);
}

#[test]
fn bits_above_bits_stored_are_ignored() {
    // BitsStored 10, HighBit 9: bits 10-15 are not part of the value (PS3.5 8.1.1), so
    // 0xF000 | 0 reads as 0 and 0xFC00 | 300 as 300; min-max gives 0, 1/3, 2/3, 1.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hb.dcm");
    let img = image(vec![0xF000, 100, 200, 0xFC00 | 300]);
    img.write(&p, "2.25.13");
    assert_close(
        &decode_file(&p).pixels,
        &[0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0],
        1e-6,
    );
}

#[test]
fn pixel_spacing_and_orientation_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.dcm");
    let mut img = image(vec![0, 1, 2, 3]);
    img.pixel_spacing = Some((0.15, 0.125));
    img.patient_orientation = Some("R\\F");
    img.write(&p, "2.25.13");
    let r = decode_file(&p);
    assert_eq!(r.pixel_spacing_mm, Some((0.15, 0.125)));
    assert_eq!(
        r.attributes.patient_orientation,
        Some(("R".to_string(), "F".to_string()))
    );
}

/// A 64 x 48 gradient with structure, so that codecs have something to compress.
fn gradient(bits: u16) -> CrImage {
    let (w, h) = (64u32, 48u32);
    let max = (1u32 << bits) - 1;
    let stored: Vec<u16> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            ((x * 37 + y * 91 + (x * y) % 17) % (max + 1)) as u16
        })
        .collect();
    let mut img = CrImage::from_display(w, h, &vec![0.0; (w * h) as usize]);
    img.stored = stored;
    img.bits = bits;
    img
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} not runnable ({e}): `make test` installs DCMTK and GDCM")
    });
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `img`, transcodes it with `tool`, and checks the transfer syntax changed and
/// the decoded pixels equal the uncompressed decode within `tol`.
fn round_trip(img: &CrImage, tool: &str, args: &[&str], ts: &str, tol: f32) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.dcm");
    let dst = dir.path().join("dst.dcm");
    img.write(&src, "2.25.14");
    let mut all: Vec<&str> = args.to_vec();
    all.push(src.to_str().unwrap());
    all.push(dst.to_str().unwrap());
    run(tool, &all);
    let obj = decode::open(&dst).unwrap();
    assert_eq!(
        obj.meta().transfer_syntax().trim_end_matches('\0'),
        ts,
        "{tool} wrote another syntax"
    );
    let want = decode_file(&src);
    let got = decode_file(&dst);
    assert_close(&got.pixels, &want.pixels, tol);
}

#[test]
fn rle_lossless_decodes_exactly() {
    round_trip(&gradient(10), "dcmcrle", &[], "1.2.840.10008.1.2.5", 0.0);
}

#[test]
fn jpeg_lossless_decodes_exactly() {
    // dcmcjpeg's default: JPEG lossless, first-order prediction (process 14 SV1).
    round_trip(
        &gradient(10),
        "dcmcjpeg",
        &[],
        "1.2.840.10008.1.2.4.70",
        0.0,
    );
}

#[test]
fn deflated_explicit_little_endian_decodes_exactly() {
    round_trip(
        &gradient(10),
        "dcmconv",
        &["+td"],
        "1.2.840.10008.1.2.1.99",
        0.0,
    );
}

#[test]
fn jpeg_2000_lossless_decodes_exactly() {
    round_trip(
        &gradient(10),
        "gdcmconv",
        &["--j2k", "--lossless"],
        "1.2.840.10008.1.2.4.90",
        0.0,
    );
}

#[test]
fn jpeg_baseline_8_bit_decodes_within_lossy_error() {
    // Lossy: compare within 8 grey levels of 255 on a smooth image.
    let (w, h) = (64u32, 48u32);
    let mut img = gradient(8);
    img.stored = (0..w * h).map(|i| ((i % w) * 4) as u16).collect();
    round_trip(
        &img,
        "dcmcjpeg",
        &["+eb", "+q", "95"],
        "1.2.840.10008.1.2.4.50",
        8.0 / 255.0,
    );
}
