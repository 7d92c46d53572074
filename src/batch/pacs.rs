//! PACS input of a batch (`rajoints batch --query AE@HOST:PORT`): C-FIND in the Study Root
//! information model, level by level (STUDY by date range, SERIES of each study, filtered
//! here by modality and body part, IMAGE of each matching series), then C-GET of single
//! instances, whose C-STORE sub-operations come back on the same association (PS3.4 C.4.3,
//! PS3.7 9.1.3), so the batch needs no inbound port.
//!
//! The requestor proposes the storage SOP classes it takes (CR, DX for presentation and
//! for processing, and every class the C-FIND reported) with an SCP/SCU Role Selection
//! sub-item (PS3.7 D.3.3.4, item type 0x54) asking for the SCP role: dicom-ul's
//! [`ClientAssociationOptions::with_role_selection`] writes it.
//!
//! Matching on Modality and Body Part Examined is done here on the SERIES answers rather
//! than by the PACS: PACSs differ in which series attributes they match on, and a list of
//! modalities (CR and DX) is not a standard matching key. The date range is matched by the
//! PACS (range matching, PS3.4 C.2.2.2.5).

use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::ClientAssociation;
use dicom_ul::pdu::{
    PDataValue, PDataValueType, PresentationContextResultReason, UserVariableItem,
};
use dicom_ul::{ClientAssociationOptions, Pdu};
use snafu::{ResultExt, Snafu, ensure};

use crate::node::dimse::{self, command_field, status};
use crate::node::scp::one_line;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("`{text}` is not AE@HOST:PORT (AE title 1 to 16 characters)"))]
    Address { text: String },
    #[snafu(display("`{text}` is not a date YYYYMMDD"))]
    Date { text: String },
    #[snafu(display(
        "could not associate with the PACS {pacs} (is it running, and does it know the calling AE title?)"
    ))]
    Associate {
        pacs: String,
        #[snafu(source(from(dicom_ul::association::Error, Box::new)))]
        source: Box<dicom_ul::association::Error>,
    },
    #[snafu(display("the PACS {pacs} accepted no presentation context for {what}"))]
    NotAccepted { pacs: String, what: &'static str },
    #[snafu(display("C-FIND on the PACS {pacs} as {calling_ae} failed: {detail}{hint}"))]
    Find {
        pacs: String,
        calling_ae: String,
        detail: String,
        hint: &'static str,
    },
    #[snafu(display("could not create {}", path.display()))]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A PACS: its AE title and HOST:PORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacs {
    pub ae_title: String,
    pub address: String,
}

impl std::str::FromStr for Pacs {
    type Err = Error;
    fn from_str(s: &str) -> Result<Pacs, Error> {
        let bad = || AddressSnafu { text: s }.build();
        let (ae, addr) = s.split_once('@').ok_or_else(bad)?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        let ae = ae.trim();
        ensure!(
            !ae.is_empty() && ae.len() <= 16 && !host.is_empty() && port.parse::<u16>().is_ok(),
            AddressSnafu { text: s }
        );
        Ok(Pacs {
            ae_title: ae.to_string(),
            address: addr.to_string(),
        })
    }
}

impl std::fmt::Display for Pacs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.ae_title, self.address)
    }
}

/// A DICOM date YYYYMMDD (checked for its form only).
pub fn parse_date(s: &str) -> Result<String, Error> {
    ensure!(
        s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()),
        DateSnafu { text: s }
    );
    Ok(s.to_string())
}

/// What the batch asks the PACS for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Study Date range, inclusive, either end open.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Series Modality, any of these (case-insensitive); empty: any.
    pub modalities: Vec<String>,
    /// Series Body Part Examined, any of these (case-insensitive); empty or `*`: any.
    pub body_parts: Vec<String>,
    /// Patient ID, matched by the PACS at the STUDY level (single value matching); None:
    /// any patient.
    pub patient_id: Option<String>,
}

impl Query {
    fn date_range(&self) -> String {
        match (&self.from, &self.to) {
            (None, None) => String::new(),
            (f, t) => format!(
                "{}-{}",
                f.as_deref().unwrap_or(""),
                t.as_deref().unwrap_or("")
            ),
        }
    }

    fn selects(&self, modality: &str, body_part: &str) -> bool {
        let any = |list: &[String], v: &str| {
            list.is_empty() || list.iter().any(|x| x == "*" || x.eq_ignore_ascii_case(v))
        };
        any(&self.modalities, modality) && any(&self.body_parts, body_part)
    }
}

/// The association's side of this process.
#[derive(Debug, Clone)]
pub struct Options {
    pub calling_ae: String,
    pub timeout: Duration,
}

/// An instance the C-FIND matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub study: String,
    pub series: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    /// The study's Patient ID and Study Date as the PACS returned them ("" when it
    /// returned none): a batch's history of the patient's films, for in-batch priors.
    pub patient_id: String,
    pub study_date: String,
}

/// Storage SOP classes always proposed for C-GET's sub-operations.
pub const STORAGE_CLASSES: [&str; 3] = [
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
];

/// Transfer syntaxes proposed for retrieved instances: those the decoder reads.
const STORAGE_TRANSFER_SYNTAXES: [&str; 7] = [
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::RLE_LOSSLESS,
];

const QUERY_TRANSFER_SYNTAXES: [&str; 2] = [
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

/// At most this many storage classes are proposed (a PDU carries at most 128 contexts).
const MAX_STORAGE_CLASSES: usize = 100;

type Assoc = ClientAssociation<std::net::TcpStream>;

fn options(opts: &Options, pacs: &Pacs) -> ClientAssociationOptions<'static> {
    ClientAssociationOptions::new()
        .calling_ae_title(opts.calling_ae.clone())
        .called_ae_title(pacs.ae_title.clone())
        .connection_timeout(opts.timeout)
        .read_timeout(opts.timeout)
        .write_timeout(opts.timeout)
}

/// An association with `pacs` on which `abstract_syntax` (`what`, for the error) was
/// accepted: its presentation context id and transfer syntax. Aborted when it was not.
fn establish(
    pacs: &Pacs,
    options: ClientAssociationOptions<'static>,
    abstract_syntax: &str,
    what: &'static str,
) -> Result<(Assoc, u8, String), Error> {
    let assoc = options
        .establish(pacs.address.as_str())
        .context(AssociateSnafu {
            pacs: pacs.to_string(),
        })?;
    let Some((pc, ts)) = accepted(&assoc, abstract_syntax) else {
        let _ = assoc.abort();
        return NotAcceptedSnafu {
            pacs: pacs.to_string(),
            what,
        }
        .fail();
    };
    Ok((assoc, pc, ts))
}

fn accepted(assoc: &Assoc, abstract_syntax: &str) -> Option<(u8, String)> {
    assoc
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.abstract_syntax == abstract_syntax
                && pc.reason == PresentationContextResultReason::Acceptance
        })
        .map(|pc| (pc.id, pc.transfer_syntax.clone()))
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
        .unwrap_or_default()
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

/// Sends a command and its data set on context `pc`.
fn send(assoc: &mut Assoc, pc: u8, cmd: Vec<u8>, data: &[u8]) -> Result<(), String> {
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd,
            }],
        })
        .map_err(|e| one_line(&e))?;
    if !data.is_empty() {
        use std::io::Write;
        let mut w = assoc.send_pdata(pc);
        w.write_all(data).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One received message: its command, its context and its data set (if any).
struct Received {
    pc: u8,
    message: dimse::Message,
    data: Vec<u8>,
}

fn receive(assoc: &mut Assoc) -> Result<Received, String> {
    let mut cmd = Vec::new();
    let mut data = Vec::new();
    let mut pc = 0;
    let mut message: Option<dimse::Message> = None;
    let mut data_done = false;
    loop {
        match assoc.receive().map_err(|e| one_line(&e))? {
            Pdu::PData { data: values } => {
                for v in values {
                    match v.value_type {
                        PDataValueType::Command => {
                            pc = v.presentation_context_id;
                            cmd.extend_from_slice(&v.data);
                            if v.is_last {
                                message = Some(
                                    dimse::parse_message(&cmd)
                                        .map_err(|e| format!("bad command: {e}"))?,
                                );
                            }
                        }
                        PDataValueType::Data => {
                            data.extend_from_slice(&v.data);
                            data_done |= v.is_last;
                        }
                    }
                }
            }
            Pdu::AbortRQ { .. } => return Err("the PACS aborted the association".into()),
            other => return Err(format!("unexpected {}", other.short_description())),
        }
        if let Some(m) = &message
            && (!m.has_data_set || data_done)
        {
            return Ok(Received {
                pc,
                message: message.take().unwrap_or_default(),
                data,
            });
        }
    }
}

fn ts_of(uid: &str) -> Result<&'static dicom_encoding::TransferSyntax, String> {
    TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| format!("unknown transfer syntax {uid}"))
}

/// Runs one C-FIND; the identifiers of its pending responses.
fn find_one(
    assoc: &mut Assoc,
    pc: u8,
    ts: &str,
    id: &mut u16,
    identifier: &InMemDicomObject,
) -> Result<Vec<InMemDicomObject>, String> {
    let ts = ts_of(ts)?;
    let mut data = Vec::new();
    identifier
        .write_dataset_with_ts(&mut data, ts)
        .map_err(|e| e.to_string())?;
    *id = id.wrapping_add(1).max(1);
    let cmd = dimse::query_request(
        command_field::C_FIND_RQ,
        *id,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    )
    .map_err(|e| e.to_string())?;
    send(assoc, pc, cmd, &data)?;
    let mut out = Vec::new();
    loop {
        let r = receive(assoc)?;
        let m = &r.message;
        if m.command_field != command_field::C_FIND_RSP {
            return Err(format!("unexpected command {:04X}", m.command_field));
        }
        let st = m.status.unwrap_or(0xFFFF);
        if status::is_pending(st) {
            if m.has_data_set {
                let obj = InMemDicomObject::read_dataset_with_ts(&r.data[..], ts)
                    .map_err(|e| format!("unreadable C-FIND answer: {e}"))?;
                out.push(obj);
            }
        } else if st == status::SUCCESS {
            return Ok(out);
        } else {
            return Err(format!(
                "status {st:04X}{}",
                m.comment
                    .as_ref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ));
        }
    }
}

/// The instances on `pacs` that `query` matches, in a deterministic order (by UIDs).
pub fn find(pacs: &Pacs, opts: &Options, query: &Query) -> Result<Vec<Instance>, Error> {
    with_find(pacs, opts, |assoc, pc, ts| find_all(assoc, pc, ts, query))
}

/// Runs `body` over a Study Root C-FIND association with `pacs`: released after success,
/// aborted after a failure, whose text becomes [`Error::Find`] (with a hint when the PACS
/// seems to refuse our AE title).
fn with_find<T>(
    pacs: &Pacs,
    opts: &Options,
    body: impl FnOnce(&mut Assoc, u8, &str) -> Result<T, String>,
) -> Result<T, Error> {
    let (mut assoc, pc, ts) = establish(
        pacs,
        options(opts, pacs).with_presentation_context(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
            QUERY_TRANSFER_SYNTAXES.to_vec(),
        ),
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        "Study Root C-FIND",
    )?;
    let result = body(&mut assoc, pc, &ts);
    match &result {
        Ok(_) => {
            let _ = assoc.release();
        }
        Err(_) => {
            let _ = assoc.abort();
        }
    }
    result.map_err(|detail| {
        let hint = if detail.contains("aborted") || detail.contains("status A") {
            " (a PACS refuses the queries of an AE title it does not know or allow: declare \
             it there, e.g. in Orthanc's DicomModalities, or pass the right --calling-ae)"
        } else {
            ""
        };
        FindSnafu {
            pacs: pacs.to_string(),
            calling_ae: opts.calling_ae.clone(),
            detail,
            hint,
        }
        .build()
    })
}

/// A study-level answer: Study Instance UID, Patient ID, Study Date.
type StudyRow = (String, String, String);

/// The Study Root walk both queries make on one association: the studies `study` matches
/// (asked for their Patient ID and Study Date); in each, the series that `keep_series`
/// keeps of the answers to `series_keys`; in each of those, every instance, asked for its
/// SOP Class UID and `image_keys`. Each instance with its IMAGE-level answer, by UIDs,
/// once.
fn walk(
    assoc: &mut Assoc,
    pc: u8,
    ts: &str,
    mut study: InMemDicomObject,
    series_keys: &[(Tag, VR, &str)],
    keep_series: impl Fn(&InMemDicomObject) -> bool,
    image_keys: &[(Tag, VR)],
) -> Result<Vec<(Instance, InMemDicomObject)>, String> {
    let mut id = 0u16;
    put(&mut study, tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY");
    put(&mut study, tags::STUDY_INSTANCE_UID, VR::UI, "");
    for (tag, vr) in [(tags::PATIENT_ID, VR::LO), (tags::STUDY_DATE, VR::DA)] {
        if study.get(tag).is_none() {
            put(&mut study, tag, vr, "");
        }
    }
    let mut studies: Vec<StudyRow> = find_one(assoc, pc, ts, &mut id, &study)?
        .iter()
        .map(|o| {
            (
                text(o, tags::STUDY_INSTANCE_UID),
                text(o, tags::PATIENT_ID),
                text(o, tags::STUDY_DATE),
            )
        })
        .filter(|(u, ..)| !u.is_empty())
        .collect();
    studies.sort();
    studies.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::new();
    for (st, patient_id, study_date) in &studies {
        let mut series = InMemDicomObject::new_empty();
        put(&mut series, tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES");
        put(&mut series, tags::STUDY_INSTANCE_UID, VR::UI, st);
        put(&mut series, tags::SERIES_INSTANCE_UID, VR::UI, "");
        for (tag, vr, v) in series_keys {
            put(&mut series, *tag, *vr, v);
        }
        let mut matched: Vec<String> = find_one(assoc, pc, ts, &mut id, &series)?
            .iter()
            .filter(|o| keep_series(o))
            .map(|o| text(o, tags::SERIES_INSTANCE_UID))
            .filter(|u| !u.is_empty())
            .collect();
        matched.sort();
        matched.dedup();
        for se in matched {
            let mut image = InMemDicomObject::new_empty();
            put(&mut image, tags::QUERY_RETRIEVE_LEVEL, VR::CS, "IMAGE");
            put(&mut image, tags::STUDY_INSTANCE_UID, VR::UI, st);
            put(&mut image, tags::SERIES_INSTANCE_UID, VR::UI, &se);
            put(&mut image, tags::SOP_INSTANCE_UID, VR::UI, "");
            put(&mut image, tags::SOP_CLASS_UID, VR::UI, "");
            for (tag, vr) in image_keys {
                put(&mut image, *tag, *vr, "");
            }
            for o in find_one(assoc, pc, ts, &mut id, &image)? {
                let sop = text(&o, tags::SOP_INSTANCE_UID);
                if !sop.is_empty() {
                    let instance = Instance {
                        study: st.clone(),
                        series: se.clone(),
                        sop_instance_uid: sop,
                        sop_class_uid: text(&o, tags::SOP_CLASS_UID),
                        patient_id: patient_id.clone(),
                        study_date: study_date.clone(),
                    };
                    out.push((instance, o));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.sop_instance_uid.cmp(&b.0.sop_instance_uid));
    out.dedup_by(|a, b| a.0.sop_instance_uid == b.0.sop_instance_uid);
    Ok(out)
}

fn find_all(assoc: &mut Assoc, pc: u8, ts: &str, query: &Query) -> Result<Vec<Instance>, String> {
    let mut study = InMemDicomObject::new_empty();
    put(&mut study, tags::STUDY_DATE, VR::DA, &query.date_range());
    if let Some(id) = &query.patient_id {
        put(&mut study, tags::PATIENT_ID, VR::LO, id);
    }
    let series_keys = [
        (tags::MODALITY, VR::CS, ""),
        (tags::BODY_PART_EXAMINED, VR::CS, ""),
    ];
    let keep = |o: &InMemDicomObject| {
        query.selects(&text(o, tags::MODALITY), &text(o, tags::BODY_PART_EXAMINED))
    };
    let found = walk(assoc, pc, ts, study, &series_keys, keep, &[])?;
    Ok(found.into_iter().map(|(i, _)| i).collect())
}

/// A structured report the SR query matched, with the dates to order it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrMatch {
    /// The SR, with its study's Study Date (YYYYMMDD as the PACS answered it, may be empty).
    pub instance: Instance,
    /// The SR's Content Date and Time, as answered (may be empty).
    pub content_date: String,
    pub content_time: String,
}

/// What an SR query asks for: the patient's SR series of one producer.
#[derive(Debug, Clone, Default)]
pub struct SrQuery {
    /// Patient ID (single value matching by the PACS).
    pub patient_id: String,
    /// Study Date range, inclusive, either end open.
    pub to: Option<String>,
    /// Series whose Series Description equals this (case-insensitive), or whose Series
    /// Number is `series_number`.
    pub series_description: String,
    pub series_number: Option<i32>,
    /// SOP Class UID of the SR (matched here on the IMAGE answers).
    pub sop_class_uid: String,
}

/// The SRs on `pacs` that `query` matches, most recent first (Study Date, then Content
/// Date and Time, then UIDs): STUDY level by Patient ID, SERIES level by Modality SR (and
/// here by Series Description or Number), IMAGE level (here by SOP Class UID).
pub fn find_srs(pacs: &Pacs, opts: &Options, query: &SrQuery) -> Result<Vec<SrMatch>, Error> {
    with_find(pacs, opts, |assoc, pc, ts| {
        find_srs_on(assoc, pc, ts, query)
    })
}

fn find_srs_on(
    assoc: &mut Assoc,
    pc: u8,
    ts: &str,
    query: &SrQuery,
) -> Result<Vec<SrMatch>, String> {
    let mut study = InMemDicomObject::new_empty();
    put(&mut study, tags::PATIENT_ID, VR::LO, &query.patient_id);
    let range = query
        .to
        .as_ref()
        .map(|t| format!("-{t}"))
        .unwrap_or_default();
    put(&mut study, tags::STUDY_DATE, VR::DA, &range);
    let series_keys = [
        (tags::MODALITY, VR::CS, "SR"),
        (tags::SERIES_DESCRIPTION, VR::LO, ""),
        (tags::SERIES_NUMBER, VR::IS, ""),
    ];
    let keep = |o: &InMemDicomObject| {
        text(o, tags::MODALITY).eq_ignore_ascii_case("SR")
            && (text(o, tags::SERIES_DESCRIPTION).eq_ignore_ascii_case(&query.series_description)
                || query
                    .series_number
                    .is_some_and(|n| text(o, tags::SERIES_NUMBER).parse::<i32>().ok() == Some(n)))
    };
    let image_keys = [(tags::CONTENT_DATE, VR::DA), (tags::CONTENT_TIME, VR::TM)];
    let found = walk(assoc, pc, ts, study, &series_keys, keep, &image_keys)?;
    let mut out: Vec<SrMatch> = found
        .into_iter()
        .filter_map(|(mut instance, o)| {
            // A PACS that does not return the class is taken at its word: the SR is read
            // and checked after retrieval.
            if instance.sop_class_uid.is_empty() {
                instance.sop_class_uid = query.sop_class_uid.clone();
            }
            (instance.sop_class_uid == query.sop_class_uid).then(|| SrMatch {
                instance,
                content_date: text(&o, tags::CONTENT_DATE),
                content_time: text(&o, tags::CONTENT_TIME),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (&b.instance.study_date, &b.content_date, &b.content_time)
            .cmp(&(&a.instance.study_date, &a.content_date, &a.content_time))
            .then_with(|| {
                a.instance
                    .sop_instance_uid
                    .cmp(&b.instance.sop_instance_uid)
            })
    });
    Ok(out)
}

/// Retrieves each of `instances` by C-GET into `path_of(instance)` (a Part 10 file,
/// written atomically), over one association. The outer error: no association at all;
/// the inner results are per instance (an association that breaks fails the instances
/// not yet retrieved).
pub fn get(
    pacs: &Pacs,
    opts: &Options,
    instances: &[&Instance],
    path_of: impl Fn(&Instance) -> PathBuf,
) -> Result<Vec<Result<PathBuf, String>>, Error> {
    if instances.is_empty() {
        return Ok(Vec::new());
    }
    let mut classes: Vec<&str> = STORAGE_CLASSES.to_vec();
    for i in instances {
        if !i.sop_class_uid.is_empty() && !classes.contains(&i.sop_class_uid.as_str()) {
            classes.push(&i.sop_class_uid);
        }
    }
    classes.truncate(MAX_STORAGE_CLASSES);
    let mut o = options(opts, pacs).with_presentation_context(
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        QUERY_TRANSFER_SYNTAXES.to_vec(),
    );
    for class in &classes {
        o = o
            .with_presentation_context(
                class.to_string(),
                STORAGE_TRANSFER_SYNTAXES
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
            )
            .with_role_selection(class.to_string(), false, true);
    }
    let (mut assoc, pc, ts) = establish(
        pacs,
        o,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        "Study Root C-GET",
    )?;
    let scp_role = assoc
        .user_variables()
        .iter()
        .any(|v| matches!(v, UserVariableItem::ScuScpRoleSelectionSubItem(_, roles) if roles.scp));
    if !scp_role {
        tracing::warn!(pacs = %pacs, "the PACS answered no SCP role selection: its C-STORE sub-operations may be refused");
    }
    let mut out = Vec::with_capacity(instances.len());
    let mut id = 0u16;
    for i in instances {
        let path = path_of(i);
        match get_one(&mut assoc, pc, &ts, &mut id, i, &path) {
            Ok(()) => out.push(Ok(path)),
            Err((msg, fatal)) => {
                out.push(Err(msg));
                if fatal {
                    let _ = assoc.abort();
                    while out.len() < instances.len() {
                        out.push(Err("C-GET association lost".into()));
                    }
                    return Ok(out);
                }
            }
        }
    }
    let _ = assoc.release();
    Ok(out)
}

/// One C-GET of one instance; the error says whether the association is lost.
fn get_one(
    assoc: &mut Assoc,
    pc: u8,
    ts: &str,
    id: &mut u16,
    instance: &Instance,
    path: &Path,
) -> Result<(), (String, bool)> {
    let fatal = |e: String| (format!("C-GET association: {e}"), true);
    let mut identifier = InMemDicomObject::new_empty();
    put(&mut identifier, tags::QUERY_RETRIEVE_LEVEL, VR::CS, "IMAGE");
    put(
        &mut identifier,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        &instance.study,
    );
    put(
        &mut identifier,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &instance.series,
    );
    put(
        &mut identifier,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &instance.sop_instance_uid,
    );
    let mut data = Vec::new();
    identifier
        .write_dataset_with_ts(&mut data, ts_of(ts).map_err(fatal)?)
        .map_err(|e| fatal(e.to_string()))?;
    *id = id.wrapping_add(1).max(1);
    let cmd = dimse::query_request(
        command_field::C_GET_RQ,
        *id,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
    )
    .map_err(|e| fatal(e.to_string()))?;
    send(assoc, pc, cmd, &data).map_err(fatal)?;
    let mut stored = false;
    let mut store_error = None;
    loop {
        let r = receive(assoc).map_err(fatal)?;
        let m = &r.message;
        match m.command_field {
            command_field::C_STORE_RQ => {
                let sop_instance = m.sop_instance.clone().unwrap_or_default();
                let result = if sop_instance != instance.sop_instance_uid {
                    Err(format!("the PACS sent another instance ({sop_instance})"))
                } else {
                    store(assoc, r.pc, &m.sop_class, &sop_instance, &r.data, path)
                };
                let (st, comment) = match &result {
                    Ok(()) => (status::SUCCESS, None),
                    // Local paths stay local: the comment says only what failed.
                    Err(_) => (
                        status::OUT_OF_RESOURCES,
                        Some("rajoints batch could not store the instance"),
                    ),
                };
                let rsp = dimse::response(
                    command_field::C_STORE_RSP,
                    m.message_id,
                    &m.sop_class,
                    Some(&sop_instance),
                    st,
                    comment,
                )
                .map_err(|e| fatal(e.to_string()))?;
                send(assoc, r.pc, rsp, &[]).map_err(fatal)?;
                match result {
                    Ok(()) => stored = true,
                    Err(e) => store_error = Some(e),
                }
            }
            command_field::C_GET_RSP => {
                let st = m.status.unwrap_or(0xFFFF);
                if status::is_pending(st) {
                    continue;
                }
                if stored {
                    return Ok(());
                }
                let why = store_error.unwrap_or_else(|| {
                    format!(
                        "C-GET status {st:04X}{}{}",
                        m.comment
                            .as_ref()
                            .map(|c| format!(": {c}"))
                            .unwrap_or_default(),
                        m.failed
                            .map(|n| format!(" ({n} sub-operation(s) failed)"))
                            .unwrap_or_default()
                    )
                });
                return Err((why, false));
            }
            other => return Err(fatal(format!("unexpected command {other:04X}"))),
        }
    }
}

/// Writes a received data set as a Part 10 file at `path` (temporary file, then rename).
fn store(
    assoc: &Assoc,
    pc: u8,
    sop_class: &str,
    sop_instance: &str,
    data: &[u8],
    path: &Path,
) -> Result<(), String> {
    let ts = assoc
        .presentation_contexts()
        .iter()
        .find(|p| p.id == pc)
        .map(|p| p.transfer_syntax.clone())
        .ok_or_else(|| format!("C-STORE on unknown presentation context {pc}"))?;
    let mut bytes = crate::node::scp::part10_header(sop_class, sop_instance, &ts)?;
    bytes.extend_from_slice(data);
    crate::report::write_atomically(path, &bytes).map_err(|e| one_line(&e))
}

/// Creates the cache folder.
pub fn create_cache(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).context(CacheSnafu { path: dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_dates_and_selection() {
        let p: Pacs = "ORTHANC@127.0.0.1:4242".parse().unwrap();
        assert_eq!(
            (p.ae_title.as_str(), p.address.as_str()),
            ("ORTHANC", "127.0.0.1:4242")
        );
        for bad in ["ORTHANC", "@h:1", "A@h", "A@h:x", "AAAAAAAAAAAAAAAAA@h:1"] {
            assert!(bad.parse::<Pacs>().is_err(), "{bad}");
        }
        assert!(parse_date("20050101").is_ok());
        assert!(parse_date("2005-01-01").is_err());
        let q = Query {
            from: Some("20050101".into()),
            to: None,
            modalities: vec!["CR".into(), "DX".into()],
            body_parts: vec!["HAND".into()],
            patient_id: None,
        };
        assert_eq!(q.date_range(), "20050101-");
        assert!(q.selects("DX", "hand") && !q.selects("CT", "HAND") && !q.selects("CR", "CHEST"));
        let any = Query {
            body_parts: vec!["*".into()],
            ..Query::default()
        };
        assert!(any.selects("CT", "") && Query::default().date_range().is_empty());
    }
}
