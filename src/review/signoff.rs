//! A reviewer's sign-off: the annotation becomes a VERIFIED SR (TID 1500, the reviewer as
//! Verifying Observer, the node's own SR as predecessor) for the destinations.

use std::time::SystemTime;

use dicom_dictionary_std::tags;
use snafu::{ResultExt, Snafu};

use super::{FilmRecord, ReviewStore};
use crate::analysis::{Analysis, Assessment, FindingLabel, Joint};
use crate::annotations::AnnotatedImage;
use crate::dicom::decode;
use crate::dicom::sr::{self, SrOptions, Timestamp, Verification};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read the film"))]
    Film { source: super::Error },
    #[snafu(display("could not open the received instance"))]
    Open {
        #[snafu(source(from(decode::Error, Box::new)))]
        source: Box<decode::Error>,
    },
    #[snafu(display("could not build the verified SR"))]
    Build {
        #[snafu(source(from(sr::Error, Box::new)))]
        source: Box<sr::Error>,
    },
    #[snafu(display("could not encode the verified SR"))]
    Encode {
        #[snafu(source(from(dicom_object::WriteError, Box::new)))]
        source: Box<dicom_object::WriteError>,
    },
}

/// The reason code of a film the reviewer marked not assessable.
pub const REVIEWER_REASON_CODE: &str = "reviewer";

/// The reviewed joints as an analysis: the AI's, with the joints and the assessment
/// replaced by the reviewer's. Probabilities are the reviewer's certainty (1 or 0); the
/// verified SR leaves them out.
pub fn reviewed_analysis(ai: &Analysis, image: &AnnotatedImage) -> Analysis {
    let label = |present: bool| FindingLabel {
        present,
        probability: if present { 1.0 } else { 0.0 },
    };
    let mut a = ai.clone();
    a.joints = image
        .joints
        .iter()
        .map(|j| Joint {
            id: Some(j.joint),
            bbox: j.bbox,
            score: 1.0,
            ankylosis: label(j.ankylosis),
            subluxation: j.subluxation.map(label),
        })
        .collect();
    a.dropped.clear();
    a.assessment = if image.assessable {
        Assessment::assessable()
    } else {
        Assessment {
            assessable: false,
            code: Some(REVIEWER_REASON_CODE.to_string()),
            reason: Some(
                image
                    .reason
                    .clone()
                    .unwrap_or_else(|| "marked not assessable by the reviewer".to_string()),
            ),
        }
    };
    a.with_summary()
}

/// A signed-off report, ready for the outboxes.
#[derive(Debug)]
pub struct VerifiedReport {
    pub sop_instance_uid: String,
    pub bytes: Vec<u8>,
}

/// Who signs and where: from the account and the configuration.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    /// PN value, e.g. `Doe^Jane`, else the account name.
    pub observer_name: &'a str,
    pub organization: &'a str,
    pub producer: &'a sr::Producer,
}

/// Builds the VERIFIED SR of `image` on film `film`.
pub fn verified_sr(
    store: &ReviewStore,
    film: &FilmRecord,
    image: &AnnotatedImage,
    signer: &Signer<'_>,
    at: SystemTime,
) -> Result<VerifiedReport, Error> {
    let path = store.image_path(&film.id).context(FilmSnafu)?;
    let source = decode::open(&path).context(OpenSnafu)?;
    let ai = store.analysis(&film.id).context(FilmSnafu)?;
    let analysis = reviewed_analysis(&ai, image);
    let time = Timestamp::from_system_time(at);
    let mut options = SrOptions::new(time);
    options.producer = signer.producer.clone();
    options.series_description = sr::VERIFIED_SR_SERIES_DESCRIPTION.to_string();
    options.series_number = sr::VERIFIED_SR_SERIES_NUMBER;
    options.verification = Some(Verification {
        observer_name: signer.observer_name.to_string(),
        organization: signer.organization.to_string(),
        time,
        predecessor: film.ai_sr.clone(),
    });
    let doc = sr::build_sr(&source, &analysis, &options).context(BuildSnafu)?;
    let sop_instance_uid = sr::optional_str(&doc, tags::SOP_INSTANCE_UID).unwrap_or_default();
    let mut bytes = Vec::new();
    doc.write_all(&mut bytes).context(EncodeSnafu)?;
    Ok(VerifiedReport {
        sop_instance_uid,
        bytes,
    })
}
