//! The summary image as a Secondary Capture Image (PS3.3 A.8.1): the film with the joint
//! boxes, their findings and a findings table burned in (src/render/summary.rs), for
//! viewers that show neither SR nor GSPS. Not for diagnostic use, and it says so in its
//! pixels, Image Comments and Series Description.
//!
//! One SC per source image, Modality `OT`, its own series in the source study, RGB 8 bit,
//! Explicit VR Little Endian. Patient and study are copied from the source as the SR does;
//! no patient identity is burned in (Burned In Annotation `NO`).

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, InMemDicomObject};
use snafu::{ResultExt, Snafu, ensure};

use super::sr::{
    self, Producer, SourceImage, Timestamp, derive_uids, into_file, model_identity, put_empty,
    put_image_derived, put_seq, put_series, put_sop_common, put_str, put_strs, set_character_set,
    sop_ref_item,
};
use crate::analysis::Analysis;
use crate::image::Radiograph;
use crate::labels;
use crate::render::summary;

/// Why a summary image could not be built or written.
#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    /// The source image or the analysis failed the checks shared with the SR.
    #[snafu(display("cannot describe the source image"))]
    Source { source: sr::Error },

    /// The decoded film is not the image the data set describes.
    #[snafu(display(
        "the film is {film_columns} x {film_rows} pixels, the source image {columns} x {rows}"
    ))]
    FilmMismatch {
        film_columns: u32,
        film_rows: u32,
        columns: u32,
        rows: u32,
    },

    /// The picture could not be drawn.
    #[snafu(display("could not draw the summary image"))]
    Draw { source: summary::Error },

    /// The file meta group could not be built.
    #[snafu(display("could not build the file meta group"))]
    BuildFileMeta {
        #[snafu(source(from(dicom_object::WithMetaError, Box::new)))]
        source: Box<dicom_object::WithMetaError>,
    },

    /// Writing the file failed.
    #[snafu(display("could not write {}", path.display()))]
    WriteFile {
        path: PathBuf,
        #[snafu(source(from(dicom_object::WriteError, Box::new)))]
        source: Box<dicom_object::WriteError>,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// SOP Class UID of Secondary Capture Image Storage (PS3.4 Table B.5-1).
pub const SECONDARY_CAPTURE: &str = uids::SECONDARY_CAPTURE_IMAGE_STORAGE;

/// Series Number default, after the SR's 9901 and the GSPS's 9902.
pub const DEFAULT_SC_SERIES_NUMBER: i32 = 9903;

/// Everything about the summary image that is not read from the source or the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct ScOptions {
    pub producer: Producer,
    /// The algorithm parameters, as in [`sr::SrOptions`]: they enter the derived UIDs.
    pub algorithm_parameters: Vec<String>,
    /// Series Description (0008,103E).
    pub series_description: String,
    /// Series Number (0020,0011).
    pub series_number: i32,
    /// Instance Number (0020,0013).
    pub instance_number: i32,
    /// Instance Creation, Series, Content and Secondary Capture Date/Time.
    pub creation_time: Timestamp,
    /// The film's longest side in the picture, pixels.
    pub max_side: u32,
}

impl ScOptions {
    /// Defaults for everything but the time.
    pub fn new(creation_time: Timestamp) -> Self {
        ScOptions {
            producer: Producer::default(),
            algorithm_parameters: Vec::new(),
            series_description: labels::SUMMARY_SERIES_DESCRIPTION.to_string(),
            series_number: DEFAULT_SC_SERIES_NUMBER,
            instance_number: 1,
            creation_time,
            max_side: summary::DEFAULT_MAX_SIDE,
        }
    }

    /// The options matching an SR made with `sr`: same producer, parameters and time.
    pub fn matching(sr: &sr::SrOptions) -> Self {
        ScOptions {
            producer: sr.producer.clone(),
            algorithm_parameters: sr.algorithm_parameters.clone(),
            ..ScOptions::new(sr.content_time)
        }
    }
}

/// Builds the summary image of `analysis`, drawn over `film` (the source's pixels as the
/// pipeline decoded them: the picture needs them, and decoding them again from `source`
/// would double the largest cost of a film).
///
/// UIDs: SOP Instance = `derive_uid(["sc", source SOP Instance UID, model identities,
/// parameters...])`, Series = the same with `"sc-series"` and the source Series Instance
/// UID, as the SR and GSPS. Fails on the same source and analysis problems as the SR, or
/// when `film` does not have the source's size.
pub fn build_sc(
    source: &InMemDicomObject,
    analysis: &Analysis,
    film: &Radiograph,
    options: &ScOptions,
) -> Result<FileDicomObject<InMemDicomObject>> {
    let image = SourceImage::from_dataset(source).context(SourceSnafu)?;
    image.check_analysis(analysis).context(SourceSnafu)?;
    ensure!(
        (film.width, film.height) == (image.columns, image.rows),
        FilmMismatchSnafu {
            film_columns: film.width,
            film_rows: film.height,
            columns: image.columns,
            rows: image.rows,
        }
    );
    let picture = summary::render(film, analysis, options.max_side).context(DrawSnafu)?;
    let identity = model_identity(analysis, &options.algorithm_parameters);
    let (instance_uid, series_uid) = derive_uids("sc", &image, &identity);
    let at = options.creation_time;

    let mut out = InMemDicomObject::new_empty();
    put_image_derived(source, &image, &options.producer, analysis, &mut out);

    // General Series Module (PS3.3 C.7.3.1): OT, "other", as Secondary Captures of
    // derived pictures are.
    put_series(
        &mut out,
        "OT",
        &series_uid,
        options.series_number,
        &options.series_description,
        &at,
    );

    // SC Equipment Module (PS3.3 C.8.6.1): made on a workstation.
    put_str(&mut out, tags::CONVERSION_TYPE, VR::CS, "WSD");
    put_str(
        &mut out,
        tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER,
        VR::LO,
        &options.producer.manufacturer,
    );
    put_str(
        &mut out,
        tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER_MODEL_NAME,
        VR::LO,
        &options.producer.model_name,
    );
    put_str(
        &mut out,
        tags::SECONDARY_CAPTURE_DEVICE_SOFTWARE_VERSIONS,
        VR::LO,
        &options.producer.software_version,
    );

    // General Image Module (PS3.3 C.7.6.1) and General Reference Module (C.12.4).
    put_str(
        &mut out,
        tags::INSTANCE_NUMBER,
        VR::IS,
        options.instance_number.to_string(),
    );
    // The film keeps its rows and columns, so it keeps the source's orientation.
    match &image.patient_orientation {
        Some((row, col)) => put_strs(
            &mut out,
            tags::PATIENT_ORIENTATION,
            VR::CS,
            vec![row.clone(), col.clone()],
        ),
        None => put_empty(&mut out, tags::PATIENT_ORIENTATION, VR::CS),
    }
    put_str(&mut out, tags::CONTENT_DATE, VR::DA, at.date());
    put_str(&mut out, tags::CONTENT_TIME, VR::TM, at.time());
    put_strs(
        &mut out,
        tags::IMAGE_TYPE,
        VR::CS,
        vec!["DERIVED".into(), "SECONDARY".into()],
    );
    put_str(
        &mut out,
        tags::IMAGE_COMMENTS,
        VR::LT,
        labels::summary_image_comments(),
    );
    // The burned-in text names joints and findings, never the patient or the date.
    put_str(&mut out, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    put_str(
        &mut out,
        tags::DERIVATION_DESCRIPTION,
        VR::ST,
        labels::SUMMARY_DERIVATION,
    );
    put_seq(
        &mut out,
        tags::SOURCE_IMAGE_SEQUENCE,
        vec![sop_ref_item(&image.image_ref())],
    );

    // SC Image Module (PS3.3 C.8.6.2).
    put_str(&mut out, tags::DATE_OF_SECONDARY_CAPTURE, VR::DA, at.date());
    put_str(&mut out, tags::TIME_OF_SECONDARY_CAPTURE, VR::TM, at.time());

    put_image_pixel(&mut out, picture);

    put_sop_common(&mut out, SECONDARY_CAPTURE, &instance_uid, at);
    set_character_set(&mut out);
    into_file(out).context(BuildFileMetaSnafu)
}

/// Image Pixel Module (PS3.3 C.7.6.3): 8-bit RGB, colour-by-pixel.
fn put_image_pixel(out: &mut InMemDicomObject, picture: summary::Picture) {
    let us = |out: &mut InMemDicomObject, tag, v: u16| {
        out.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    };
    us(out, tags::SAMPLES_PER_PIXEL, 3);
    put_str(out, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
    us(out, tags::PLANAR_CONFIGURATION, 0);
    // The picture's sides are at most a few thousand pixels (the film is scaled to
    // max_side, the table to the film), far below 65535.
    us(
        out,
        tags::ROWS,
        u16::try_from(picture.height).unwrap_or(u16::MAX),
    );
    us(
        out,
        tags::COLUMNS,
        u16::try_from(picture.width).unwrap_or(u16::MAX),
    );
    us(out, tags::BITS_ALLOCATED, 8);
    us(out, tags::BITS_STORED, 8);
    us(out, tags::HIGH_BIT, 7);
    us(out, tags::PIXEL_REPRESENTATION, 0);
    let mut bytes = picture.rgb;
    // OB values have even length (PS3.5 7.1.1); the pad byte is not a pixel.
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    out.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(bytes),
    ));
}

/// Writes the summary image as a DICOM file.
pub fn write_sc(sc: &FileDicomObject<InMemDicomObject>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    sc.write_to_file(path).context(WriteFileSnafu { path })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::dicom::sr::tests::{analysis, source};
    use crate::render::summary::tests::film;

    fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<Cow<'_, str>> {
        obj.get(tag).and_then(|e| e.to_str().ok())
    }

    fn int(obj: &InMemDicomObject, tag: dicom_core::Tag) -> u32 {
        obj.get(tag).unwrap().to_int::<u32>().unwrap()
    }

    fn options() -> ScOptions {
        ScOptions::new(Timestamp::new(2024, 5, 6, 7, 8, 9).unwrap())
    }

    #[test]
    fn the_summary_image_is_an_rgb_secondary_capture_in_the_source_study() {
        let src = source();
        let sc = build_sc(&src, &analysis(), &film(64, 48), &options()).unwrap();
        assert_eq!(
            sc.meta().transfer_syntax().trim_end_matches('\0'),
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        );
        assert_eq!(text(&sc, tags::SOP_CLASS_UID).unwrap(), SECONDARY_CAPTURE);
        assert_eq!(
            text(&sc, tags::SOP_CLASS_UID).unwrap(),
            "1.2.840.10008.5.1.4.1.1.7"
        );
        for tag in [
            tags::STUDY_INSTANCE_UID,
            tags::PATIENT_ID,
            tags::PATIENT_NAME,
            tags::ACCESSION_NUMBER,
        ] {
            assert_eq!(text(&sc, tag), text(&src, tag), "{tag}");
        }
        assert_ne!(
            text(&sc, tags::SERIES_INSTANCE_UID),
            text(&src, tags::SERIES_INSTANCE_UID)
        );
        assert_eq!(text(&sc, tags::MODALITY).unwrap(), "OT");
        assert_eq!(text(&sc, tags::SERIES_NUMBER).unwrap(), "9903");
        assert_eq!(
            text(&sc, tags::SERIES_DESCRIPTION).unwrap(),
            "RA joints AI summary (not for diagnostic use)"
        );
        assert_eq!(text(&sc, tags::CONVERSION_TYPE).unwrap(), "WSD");
        assert_eq!(text(&sc, tags::IMAGE_TYPE).unwrap(), "DERIVED\\SECONDARY");
        assert_eq!(text(&sc, tags::BURNED_IN_ANNOTATION).unwrap(), "NO");
        assert!(
            text(&sc, tags::IMAGE_COMMENTS)
                .unwrap()
                .starts_with("NOT FOR DIAGNOSTIC USE")
        );
        assert_eq!(text(&sc, tags::PATIENT_ORIENTATION).unwrap(), "R\\F");
        let src_ref = &sc
            .get(tags::SOURCE_IMAGE_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0];
        assert_eq!(
            text(src_ref, tags::REFERENCED_SOP_INSTANCE_UID),
            text(&src, tags::SOP_INSTANCE_UID)
        );
        assert_eq!(text(&sc, tags::PHOTOMETRIC_INTERPRETATION).unwrap(), "RGB");
        assert_eq!(int(&sc, tags::SAMPLES_PER_PIXEL), 3);
        assert_eq!(int(&sc, tags::PLANAR_CONFIGURATION), 0);
        assert_eq!(int(&sc, tags::BITS_ALLOCATED), 8);
        let (rows, cols) = (int(&sc, tags::ROWS), int(&sc, tags::COLUMNS));
        assert!(rows >= 48 && cols > 64, "{cols} x {rows}");
        let pixels = sc.get(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(pixels.len(), (rows * cols * 3).div_ceil(2) as usize * 2);
        assert!(sc.get(tags::CONTRIBUTING_EQUIPMENT_SEQUENCE).is_some());
    }

    #[test]
    fn uids_are_derived_and_differ_from_the_srs_and_the_gspss() {
        let a = analysis();
        let one = build_sc(&source(), &a, &film(64, 48), &options()).unwrap();
        let two = build_sc(&source(), &a, &film(64, 48), &options()).unwrap();
        let uid = |o: &FileDicomObject<InMemDicomObject>, t| text(o, t).unwrap().to_string();
        assert_eq!(
            uid(&one, tags::SOP_INSTANCE_UID),
            uid(&two, tags::SOP_INSTANCE_UID)
        );
        assert_eq!(
            one.meta().media_storage_sop_instance_uid(),
            uid(&one, tags::SOP_INSTANCE_UID)
        );
        let sr = sr::build_sr(&source(), &a, &sr::SrOptions::new(options().creation_time)).unwrap();
        assert_ne!(
            uid(&one, tags::SOP_INSTANCE_UID),
            uid(&sr, tags::SOP_INSTANCE_UID)
        );
        assert_ne!(
            uid(&one, tags::SERIES_INSTANCE_UID),
            uid(&sr, tags::SERIES_INSTANCE_UID)
        );
    }

    #[test]
    fn a_film_of_another_size_is_refused() {
        let err = build_sc(&source(), &analysis(), &film(48, 64), &options()).unwrap_err();
        assert!(matches!(err, Error::FilmMismatch { .. }), "{err}");
    }
}
