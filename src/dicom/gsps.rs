//! The joint boxes as a Grayscale Softcopy Presentation State (PS3.3 A.33.1), the overlay
//! most PACS viewers draw (reference §5 "GSPS companion"); the SR stays the source of truth.
//!
//! One GSPS per source image, Modality `PR`, its own series in the source study. Each joint
//! is a closed 5-point POLYLINE in PIXEL units (the same points as the SR's SCOORD) and a
//! short text, `R-PIP2 ANK 97%`, on one of two graphic layers: `FINDING` (ankylosis or
//! subluxation present, red) or `NOFINDING` (green). The grayscale pipeline of the source
//! is kept: its Rescale (Modality LUT), its first window (Softcopy VOI LUT) and a
//! Presentation LUT that keeps MONOCHROME1 images inverted.

use std::path::{Path, PathBuf};

use dicom_core::value::C;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, InMemDicomObject};
use snafu::{OptionExt, ResultExt, Snafu};

use super::sr::{
    self, Producer, SourceImage, Timestamp, box_polyline, derive_uids, format_ds, model_identity,
    optional_str, put_empty, put_image_derived, put_seq, put_series, put_sop_common, put_str,
    put_strs, set_character_set, sop_ref_item,
};
use crate::analysis::{Analysis, Joint};
use crate::labels;
use crate::pipeline::bbox::BBox;

/// Why a GSPS could not be built or written.
#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    /// The source image or the analysis failed the checks shared with the SR.
    #[snafu(display("cannot describe the source image"))]
    Source { source: sr::Error },

    /// A source attribute of the grayscale pipeline has a value the GSPS cannot carry.
    #[snafu(display("source image attribute {alias} is not usable: {reason}"))]
    InvalidSourceAttribute { alias: &'static str, reason: String },

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

/// SOP Class UID of Grayscale Softcopy Presentation State Storage (PS3.4 Table B.5-1).
pub const GRAYSCALE_SOFTCOPY_PRESENTATION_STATE: &str =
    uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE;

/// Series Number default, next to the SR's 9901.
pub const DEFAULT_GSPS_SERIES_NUMBER: i32 = 9902;

/// Series Description default.
pub const DEFAULT_GSPS_SERIES_DESCRIPTION: &str = "RA joints AI overlay (not for diagnostic use)";

/// Content Label default (CS: upper case, digits, space, underscore; at most 16 chars).
pub const DEFAULT_CONTENT_LABEL: &str = "RAJOINTS";

/// Everything about the GSPS that is not read from the source image or the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct GspsOptions {
    pub producer: Producer,
    /// The algorithm parameters, as in [`sr::SrOptions`]: not shown, but they enter the
    /// derived UIDs, so a GSPS made with other thresholds is another instance.
    pub algorithm_parameters: Vec<String>,
    /// Series Description (0008,103E).
    pub series_description: String,
    /// Series Number (0020,0011).
    pub series_number: i32,
    /// Instance Number (0020,0013).
    pub instance_number: i32,
    /// Content Label (0070,0080); checked and upper-cased, see [`content_label`].
    pub content_label: String,
    /// Presentation Creation Date/Time (0070,0082/0083), also Series and Instance Creation.
    pub creation_time: Timestamp,
}

impl GspsOptions {
    /// Defaults for everything but the time.
    pub fn new(creation_time: Timestamp) -> Self {
        GspsOptions {
            producer: Producer::default(),
            algorithm_parameters: Vec::new(),
            series_description: DEFAULT_GSPS_SERIES_DESCRIPTION.to_string(),
            series_number: DEFAULT_GSPS_SERIES_NUMBER,
            instance_number: 1,
            content_label: DEFAULT_CONTENT_LABEL.to_string(),
            creation_time,
        }
    }

    /// The options matching an SR made with `sr`: same producer, parameters and time.
    pub fn matching(sr: &sr::SrOptions) -> Self {
        GspsOptions {
            producer: sr.producer.clone(),
            algorithm_parameters: sr.algorithm_parameters.clone(),
            ..GspsOptions::new(sr.content_time)
        }
    }
}

/// A Content Label (CS, PS3.5 Table 6.2-1): upper case, other characters than A-Z, 0-9,
/// space and underscore replaced by `_`, cut to 16; the default when nothing is left.
pub fn content_label(label: &str) -> String {
    let cleaned: String = label
        .trim()
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .map(|c| {
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(16)
        .collect();
    let cleaned = cleaned.trim_end().to_string();
    if cleaned.is_empty() {
        DEFAULT_CONTENT_LABEL.to_string()
    } else {
        cleaned
    }
}

/// The two graphic layers (Graphic Layer Module, PS3.3 C.10.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// Joints with ankylosis or subluxation present.
    Finding,
    /// Joints with neither.
    NoFinding,
}

impl Layer {
    fn of(joint: &Joint) -> Layer {
        let subluxation = joint.subluxation.is_some_and(|l| l.present);
        if joint.ankylosis.present || subluxation {
            Layer::Finding
        } else {
            Layer::NoFinding
        }
    }

    /// Graphic Layer (0070,0002), CS.
    fn name(self) -> &'static str {
        match self {
            Layer::Finding => "FINDING",
            Layer::NoFinding => "NOFINDING",
        }
    }

    /// Graphic Layer Order (0070,0062): lower is rendered first, so findings come on top.
    fn order(self) -> i32 {
        match self {
            Layer::Finding => 2,
            Layer::NoFinding => 1,
        }
    }

    fn description(self) -> &'static str {
        match self {
            Layer::Finding => "Joints with ankylosis or subluxation/dislocation",
            Layer::NoFinding => "Joints without ankylosis or subluxation/dislocation",
        }
    }

    /// Graphic Layer Recommended Display CIELab Value (0070,0401): CIE L*a*b* of sRGB red
    /// (53.24, 80.09, 67.20) and green (87.73, -86.18, 83.18).
    fn cielab(self) -> [u16; 3] {
        match self {
            Layer::Finding => cielab(53.24, 80.09, 67.20),
            Layer::NoFinding => cielab(87.73, -86.18, 83.18),
        }
    }

    /// Graphic Layer Recommended Display Grayscale Value (0070,0066), for grey displays:
    /// findings white, the rest mid grey (0x0000 black to 0xFFFF white in P-values).
    fn grayscale(self) -> u16 {
        match self {
            Layer::Finding => 0xFFFF,
            Layer::NoFinding => 0x9000,
        }
    }
}

/// CIELab encoded as PS3.3 C.10.7.1.1 says (the ICC PCS-Lab 16-bit encoding): L* 0..100
/// to 0x0000..0xFFFF, a* and b* -128..127 to 0x0000..0xFFFF.
fn cielab(l: f64, a: f64, b: f64) -> [u16; 3] {
    let scale =
        |v: f64, lo: f64, span: f64| ((v - lo) / span * 65535.0).round().clamp(0.0, 65535.0) as u16;
    [
        scale(l, 0.0, 100.0),
        scale(a, -128.0, 255.0),
        scale(b, -128.0, 255.0),
    ]
}

/// The text shown next to a joint: its name and each finding present with its probability,
/// e.g. `R-PIP2 ANK 97% SUBL 91%`; just the name when nothing is present
/// ([`labels::joint_short`]).
pub fn joint_label(joint: &Joint, index: usize) -> String {
    labels::joint_short(joint, index)
}

/// Where the text of a joint goes: a band above its box, one third of the box high, or
/// below the box when there is no room above; as wide as the text needs (PS3.3 C.10.5.1.1
/// asks viewers to fit the text into this box, so a band only as wide as the joint would
/// clip or shrink a finding label), at least as wide as the box; always inside the image
/// (PIXEL units).
fn text_box(text: &str, b: &BBox, columns: f32, rows: f32) -> BBox {
    let h = (b.height() / 3.0).max(1.0);
    let (top, bottom) = if b.y0 - h >= 0.0 {
        (b.y0 - h, b.y0)
    } else if b.y1 + h <= rows {
        (b.y1, b.y1 + h)
    } else {
        (b.y0, b.y0 + h)
    };
    // A sans-serif glyph averages about 0.6 of the line height in width.
    let width = (text.chars().count() as f32 * 0.6 * h).max(b.width());
    // Near the right edge the band moves left rather than being cut.
    let x0 = b.x0.min(columns - width).max(0.0);
    BBox::new(x0, top, x0 + width, bottom).clamp_to(columns, rows)
}

fn put_f32s(obj: &mut InMemDicomObject, tag: dicom_core::Tag, values: &[f32]) {
    obj.put(DataElement::new(
        tag,
        VR::FL,
        PrimitiveValue::F32(C::from_slice(values)),
    ));
}

/// One Graphic Object Sequence item: the closed box (PS3.3 C.10.5.1.2).
fn graphic_object(b: &BBox) -> InMemDicomObject {
    let mut g = InMemDicomObject::new_empty();
    put_str(&mut g, tags::GRAPHIC_ANNOTATION_UNITS, VR::CS, "PIXEL");
    g.put(DataElement::new(
        tags::GRAPHIC_DIMENSIONS,
        VR::US,
        PrimitiveValue::from(2_u16),
    ));
    g.put(DataElement::new(
        tags::NUMBER_OF_GRAPHIC_POINTS,
        VR::US,
        PrimitiveValue::from(5_u16),
    ));
    put_f32s(&mut g, tags::GRAPHIC_DATA, &box_polyline(b));
    // No RECTANGLE graphic type exists; a POLYLINE whose last point is its first is closed.
    put_str(&mut g, tags::GRAPHIC_TYPE, VR::CS, "POLYLINE");
    put_str(&mut g, tags::GRAPHIC_FILLED, VR::CS, "N");
    g
}

/// One Text Object Sequence item (PS3.3 C.10.5.1.1): the label in a bounding box next to
/// the joint, anchored at the box's top-left corner without an anchor line.
fn text_object(text: String, b: &BBox, columns: f32, rows: f32) -> InMemDicomObject {
    let t = text_box(&text, b, columns, rows);
    let mut o = InMemDicomObject::new_empty();
    put_str(&mut o, tags::BOUNDING_BOX_ANNOTATION_UNITS, VR::CS, "PIXEL");
    put_str(&mut o, tags::ANCHOR_POINT_ANNOTATION_UNITS, VR::CS, "PIXEL");
    put_str(&mut o, tags::UNFORMATTED_TEXT_VALUE, VR::ST, text);
    put_f32s(
        &mut o,
        tags::BOUNDING_BOX_TOP_LEFT_HAND_CORNER,
        &[t.x0, t.y0],
    );
    put_f32s(
        &mut o,
        tags::BOUNDING_BOX_BOTTOM_RIGHT_HAND_CORNER,
        &[t.x1, t.y1],
    );
    put_str(
        &mut o,
        tags::BOUNDING_BOX_TEXT_HORIZONTAL_JUSTIFICATION,
        VR::CS,
        "LEFT",
    );
    put_f32s(&mut o, tags::ANCHOR_POINT, &[b.x0, b.y0]);
    put_str(&mut o, tags::ANCHOR_POINT_VISIBILITY, VR::CS, "N");
    o
}

/// Graphic Annotation Sequence items, one per non-empty layer, and the Graphic Layer
/// Sequence items of those layers (PS3.3 C.10.5, C.10.7).
fn annotations(
    analysis: &Analysis,
    image: &SourceImage,
) -> (Vec<InMemDicomObject>, Vec<InMemDicomObject>) {
    let (columns, rows) = (image.columns as f32, image.rows as f32);
    let mut annotations = Vec::new();
    let mut layers = Vec::new();
    for layer in [Layer::Finding, Layer::NoFinding] {
        let joints: Vec<(usize, &Joint)> = analysis
            .joints
            .iter()
            .enumerate()
            .filter(|(_, j)| Layer::of(j) == layer)
            .collect();
        if joints.is_empty() {
            continue;
        }
        let mut a = InMemDicomObject::new_empty();
        put_seq(
            &mut a,
            tags::REFERENCED_IMAGE_SEQUENCE,
            vec![sop_ref_item(&image.image_ref())],
        );
        put_str(&mut a, tags::GRAPHIC_LAYER, VR::CS, layer.name());
        put_seq(
            &mut a,
            tags::TEXT_OBJECT_SEQUENCE,
            joints
                .iter()
                .map(|&(i, j)| text_object(joint_label(j, i), &j.bbox, columns, rows))
                .collect(),
        );
        put_seq(
            &mut a,
            tags::GRAPHIC_OBJECT_SEQUENCE,
            joints
                .iter()
                .map(|(_, j)| graphic_object(&j.bbox))
                .collect(),
        );
        annotations.push(a);

        let mut l = InMemDicomObject::new_empty();
        put_str(&mut l, tags::GRAPHIC_LAYER, VR::CS, layer.name());
        put_str(
            &mut l,
            tags::GRAPHIC_LAYER_ORDER,
            VR::IS,
            layer.order().to_string(),
        );
        l.put(DataElement::new(
            tags::GRAPHIC_LAYER_RECOMMENDED_DISPLAY_GRAYSCALE_VALUE,
            VR::US,
            PrimitiveValue::from(layer.grayscale()),
        ));
        l.put(DataElement::new(
            tags::GRAPHIC_LAYER_RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            VR::US,
            PrimitiveValue::U16(C::from_slice(&layer.cielab())),
        ));
        put_str(
            &mut l,
            tags::GRAPHIC_LAYER_DESCRIPTION,
            VR::LO,
            layer.description(),
        );
        layers.push(l);
    }
    (annotations, layers)
}

/// The first value of a numeric attribute, when present; error when present but not a
/// number.
fn first_number(
    ds: &InMemDicomObject,
    tag: dicom_core::Tag,
    alias: &'static str,
) -> Result<Option<f64>> {
    let Some(e) = ds.get(tag) else {
        return Ok(None);
    };
    if e.value().multiplicity() == 0 {
        return Ok(None);
    }
    let v = e.to_multi_float64().ok().and_then(|v| v.first().copied());
    v.filter(|v| v.is_finite())
        .map(Some)
        .context(InvalidSourceAttributeSnafu {
            alias,
            reason: "not a number",
        })
}

/// Modality LUT Module (PS3.3 C.11.1), required when the image has a modality
/// transformation: its rescale, or its Modality LUT Sequence, copied.
fn put_modality_lut(source: &InMemDicomObject, out: &mut InMemDicomObject) -> Result<()> {
    if let Some(lut) = source.get(tags::MODALITY_LUT_SEQUENCE) {
        out.put(lut.clone());
        return Ok(());
    }
    let intercept = first_number(source, tags::RESCALE_INTERCEPT, "RescaleIntercept")?;
    let slope = first_number(source, tags::RESCALE_SLOPE, "RescaleSlope")?;
    if let (Some(intercept), Some(slope)) = (intercept, slope) {
        let ds = |v: f64, alias| {
            format_ds(v).context(InvalidSourceAttributeSnafu {
                alias,
                reason: "not representable as DS",
            })
        };
        put_str(
            out,
            tags::RESCALE_INTERCEPT,
            VR::DS,
            ds(intercept, "RescaleIntercept")?,
        );
        put_str(out, tags::RESCALE_SLOPE, VR::DS, ds(slope, "RescaleSlope")?);
        // Rescale Type is Type 1 here; "US" (unspecified) when the image does not say.
        let rescale_type =
            optional_str(source, tags::RESCALE_TYPE).unwrap_or_else(|| "US".to_string());
        put_str(out, tags::RESCALE_TYPE, VR::LO, rescale_type);
    }
    Ok(())
}

/// Softcopy VOI LUT Module (PS3.3 C.11.8): the image's first window, or its VOI LUT
/// Sequence, so the overlay does not change how the image looks.
fn put_voi_lut(source: &InMemDicomObject, out: &mut InMemDicomObject) -> Result<()> {
    let mut item = InMemDicomObject::new_empty();
    if let Some(lut) = source.get(tags::VOILUT_SEQUENCE) {
        item.put(lut.clone());
    } else {
        let center = first_number(source, tags::WINDOW_CENTER, "WindowCenter")?;
        let width = first_number(source, tags::WINDOW_WIDTH, "WindowWidth")?;
        let (Some(center), Some(width)) = (center, width) else {
            return Ok(());
        };
        let ds = |v: f64, alias| {
            format_ds(v).context(InvalidSourceAttributeSnafu {
                alias,
                reason: "not representable as DS",
            })
        };
        put_str(
            &mut item,
            tags::WINDOW_CENTER,
            VR::DS,
            ds(center, "WindowCenter")?,
        );
        put_str(
            &mut item,
            tags::WINDOW_WIDTH,
            VR::DS,
            ds(width, "WindowWidth")?,
        );
        if let Some(e) = source.get(tags::WINDOW_CENTER_WIDTH_EXPLANATION)
            && let Ok(v) = e.to_multi_str()
            && let Some(first) = v.first().filter(|s| !s.trim().is_empty())
        {
            put_str(
                &mut item,
                tags::WINDOW_CENTER_WIDTH_EXPLANATION,
                VR::LO,
                first.trim(),
            );
        }
        if let Some(f) = optional_str(source, tags::VOILUT_FUNCTION) {
            put_str(&mut item, tags::VOILUT_FUNCTION, VR::CS, f);
        }
    }
    put_seq(out, tags::SOFTCOPY_VOILUT_SEQUENCE, vec![item]);
    Ok(())
}

/// Presentation Pixel Aspect Ratio (0070,0102), row:column as integers: from Pixel Aspect
/// Ratio (0028,0034) when the image has one, else from its pixel spacing, else 1:1.
fn aspect_ratio(source: &InMemDicomObject, image: &SourceImage) -> [u32; 2] {
    if let Some(v) = source
        .get(tags::PIXEL_ASPECT_RATIO)
        .and_then(|e| e.to_multi_int::<u32>().ok())
        && let [r, c] = v[..]
        && r > 0
        && c > 0
    {
        return [r, c];
    }
    let Some((r, c)) = image.pixel_spacing else {
        return [1, 1];
    };
    // Spacings in micrometres, reduced: 0.1 mm x 0.1 mm gives 1:1.
    let (r, c) = ((r * 1000.0).round() as u32, (c * 1000.0).round() as u32);
    if r == 0 || c == 0 {
        return [1, 1];
    }
    let g = gcd(r, c);
    [r / g, c / g]
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Builds the GSPS of `analysis` over the image `source`.
///
/// UIDs: SOP Instance = `derive_uid(["gsps", source SOP Instance UID, model identities,
/// parameters...])`, Series = the same with `"gsps-series"` and the source Series Instance
/// UID (as the SR, [`sr::build_sr`]). Fails on the same source and analysis problems as the
/// SR, or when the source's rescale or window cannot be read.
pub fn build_gsps(
    source: &InMemDicomObject,
    analysis: &Analysis,
    options: &GspsOptions,
) -> Result<FileDicomObject<InMemDicomObject>> {
    let image = SourceImage::from_dataset(source).context(SourceSnafu)?;
    image.check_analysis(analysis).context(SourceSnafu)?;
    let identity = model_identity(analysis, &options.algorithm_parameters);
    let (instance_uid, series_uid) = derive_uids("gsps", &image, &identity);
    let at = options.creation_time;

    let mut out = InMemDicomObject::new_empty();
    // Patient, Study, Laterality (Type 2C, for paired body parts: dciodvfy wants it in a PR
    // whatever the body part, reference §5), General and Contributing Equipment.
    put_image_derived(source, &image, &options.producer, analysis, &mut out);

    // General Series (PS3.3 C.7.3.1) and Presentation Series (C.11.9) Modules.
    put_series(
        &mut out,
        "PR",
        &series_uid,
        options.series_number,
        &options.series_description,
        &at,
    );

    // Presentation State Identification Module (PS3.3 C.11.10).
    put_str(
        &mut out,
        tags::INSTANCE_NUMBER,
        VR::IS,
        options.instance_number.to_string(),
    );
    put_str(
        &mut out,
        tags::CONTENT_LABEL,
        VR::CS,
        content_label(&options.content_label),
    );
    put_str(
        &mut out,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        &options.series_description,
    );
    put_str(
        &mut out,
        tags::PRESENTATION_CREATION_DATE,
        VR::DA,
        at.date(),
    );
    put_str(
        &mut out,
        tags::PRESENTATION_CREATION_TIME,
        VR::TM,
        at.time(),
    );
    put_empty(&mut out, tags::CONTENT_CREATOR_NAME, VR::PN);

    // Presentation State Relationship Module (PS3.3 C.11.11): series > images.
    let mut series = InMemDicomObject::new_empty();
    put_str(
        &mut series,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &image.series_instance_uid,
    );
    put_seq(
        &mut series,
        tags::REFERENCED_IMAGE_SEQUENCE,
        vec![sop_ref_item(&image.image_ref())],
    );
    put_seq(&mut out, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);

    // Displayed Area Module (PS3.3 C.10.4): the whole image, scaled to fit. The corners are
    // 1-based pixel indices here, unlike the PIXEL annotation coordinates.
    let mut area = InMemDicomObject::new_empty();
    area.put(DataElement::new(
        tags::DISPLAYED_AREA_TOP_LEFT_HAND_CORNER,
        VR::SL,
        PrimitiveValue::I32(C::from_slice(&[1, 1])),
    ));
    area.put(DataElement::new(
        tags::DISPLAYED_AREA_BOTTOM_RIGHT_HAND_CORNER,
        VR::SL,
        PrimitiveValue::I32(C::from_slice(&[
            i32::try_from(image.columns).unwrap_or(i32::MAX),
            i32::try_from(image.rows).unwrap_or(i32::MAX),
        ])),
    ));
    put_str(
        &mut area,
        tags::PRESENTATION_SIZE_MODE,
        VR::CS,
        "SCALE TO FIT",
    );
    put_strs(
        &mut area,
        tags::PRESENTATION_PIXEL_ASPECT_RATIO,
        VR::IS,
        aspect_ratio(source, &image)
            .iter()
            .map(u32::to_string)
            .collect(),
    );
    put_seq(
        &mut out,
        tags::DISPLAYED_AREA_SELECTION_SEQUENCE,
        vec![area],
    );

    // Graphic Annotation and Graphic Layer Modules (PS3.3 C.10.5, C.10.7): only when there
    // is something to draw, since their sequences must not be empty.
    let (annotations, layers) = annotations(analysis, &image);
    if !annotations.is_empty() {
        put_seq(&mut out, tags::GRAPHIC_ANNOTATION_SEQUENCE, annotations);
        put_seq(&mut out, tags::GRAPHIC_LAYER_SEQUENCE, layers);
    }

    put_modality_lut(source, &mut out)?;
    put_voi_lut(source, &mut out)?;

    // Softcopy Presentation LUT Module (PS3.3 C.11.6): P-values go straight to the display
    // for MONOCHROME2; MONOCHROME1 is inverted, as its own display would.
    let inverse =
        optional_str(source, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1");
    put_str(
        &mut out,
        tags::PRESENTATION_LUT_SHAPE,
        VR::CS,
        if inverse { "INVERSE" } else { "IDENTITY" },
    );

    put_sop_common(
        &mut out,
        GRAYSCALE_SOFTCOPY_PRESENTATION_STATE,
        &instance_uid,
        at,
    );
    set_character_set(&mut out);

    sr::into_file(out).context(BuildFileMetaSnafu)
}

/// Writes a GSPS as a DICOM file.
pub fn write_gsps(gsps: &FileDicomObject<InMemDicomObject>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    gsps.write_to_file(path).context(WriteFileSnafu { path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::FindingLabel;

    fn joint(ank: bool, subl: Option<bool>) -> Joint {
        Joint {
            id: Some("L-MCP3".parse().unwrap()),
            bbox: BBox::new(10.0, 20.0, 30.0, 50.0),
            score: 0.9,
            ankylosis: FindingLabel {
                present: ank,
                probability: if ank { 0.968 } else { 0.1 },
            },
            subluxation: subl.map(|present| FindingLabel {
                present,
                probability: 0.912,
            }),
        }
    }

    #[test]
    fn labels_name_the_joint_and_the_findings_present() {
        assert_eq!(joint_label(&joint(true, Some(false)), 0), "L-MCP3 ANK 97%");
        assert_eq!(
            joint_label(&joint(true, Some(true)), 0),
            "L-MCP3 ANK 97% SUBL 91%"
        );
        assert_eq!(joint_label(&joint(false, None), 0), "L-MCP3");
        let mut unnamed = joint(false, Some(true));
        unnamed.id = None;
        assert_eq!(joint_label(&unnamed, 4), "joint-5 SUBL 91%");
    }

    #[test]
    fn joints_with_a_finding_go_on_the_finding_layer() {
        assert_eq!(Layer::of(&joint(true, None)), Layer::Finding);
        assert_eq!(Layer::of(&joint(false, Some(true))), Layer::Finding);
        assert_eq!(Layer::of(&joint(false, Some(false))), Layer::NoFinding);
        assert_eq!(Layer::of(&joint(false, None)), Layer::NoFinding);
    }

    #[test]
    fn text_goes_above_the_box_or_below_when_there_is_no_room() {
        let b = BBox::new(10.0, 20.0, 30.0, 50.0);
        assert_eq!(
            text_box("R-IP1", &b, 100.0, 100.0),
            BBox::new(10.0, 10.0, 40.0, 20.0)
        );
        let top = BBox::new(10.0, 0.0, 30.0, 30.0);
        assert_eq!(
            text_box("R", &top, 100.0, 100.0),
            BBox::new(10.0, 30.0, 30.0, 40.0)
        );
        let whole = BBox::new(0.0, 0.0, 100.0, 100.0);
        let t = text_box("R-PIP2 ANK >99% SUBL >99%", &whole, 100.0, 100.0);
        assert!(t.y0 >= 0.0 && t.y1 <= 100.0 && t.is_proper());
        // A long label near the right edge moves left to fit: 14 characters at 5 px
        // need 42 px.
        let right = BBox::new(80.0, 20.0, 95.0, 35.0);
        let t = text_box("L-PIP2 ANK 97%", &right, 100.0, 100.0);
        assert!((t.x0 - 58.0).abs() < 1e-3, "{t:?}");
        assert_eq!((t.y0, t.x1, t.y1), (15.0, 100.0, 20.0));
    }

    #[test]
    fn cielab_encoding_spans_the_16_bit_range() {
        assert_eq!(cielab(0.0, -128.0, -128.0), [0, 0, 0]);
        assert_eq!(cielab(100.0, 127.0, 127.0), [65535, 65535, 65535]);
        // a* = b* = 0 is the neutral axis, 0x8080 in PCS-Lab.
        assert_eq!(cielab(50.0, 0.0, 0.0)[1], 0x8080);
    }

    #[test]
    fn content_labels_are_valid_code_strings() {
        assert_eq!(content_label("rajoints"), "RAJOINTS");
        assert_eq!(content_label("ra-joints v1.2"), "RA_JOINTS V1_2");
        assert_eq!(
            content_label("a very long content label"),
            "A VERY LONG CONT"
        );
        assert_eq!(content_label("  "), DEFAULT_CONTENT_LABEL);
    }
}
