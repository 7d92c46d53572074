//! The storage SCP: accepts associations, answers C-ECHO, receives C-STORE into the spool
//! and acknowledges only once the instance is durable (PS3.4 Annex B, PS3.7 9.1).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dicom_dictionary_std::{tags, uids};
use dicom_object::OpenFileOptions;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_ul::association::server::{AccessControl, DefaultNegotiation};
use dicom_ul::association::{Association, AsyncServerAssociation};
use dicom_ul::pdu::{AssociationRJServiceUserReason, PDataValue, PDataValueType, UserIdentity};
use dicom_ul::{Pdu, ServerAssociationOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::dimse::{self, Request, command_field, status};
use super::{Node, instance_tag};
use crate::config::Unmatched;
use crate::crashpoint;
use crate::dicom::decode::{self, DicomFile};
use crate::dicom::guard;
use crate::spool::{self, Incoming};

/// SOP classes the node stores (PS3.4 B.5): the radiograph classes of hand films.
pub const STORAGE_SOP_CLASSES: [&str; 3] = [
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
];

/// Transfer syntaxes accepted: exactly those the decode step handles in pure Rust, so an
/// SCU falls back to one that works. Of several proposed in one presentation context, the
/// first the SCU lists that is here is chosen.
pub const TRANSFER_SYNTAXES: [&str; 10] = [
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG_LOSSLESS,
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::RLE_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
];

/// Association acceptance: the called AE title must be ours and, when an allowlist is
/// configured, the calling AE title on it (PS3.8 9.3.4 reasons).
#[derive(Debug, Clone)]
pub struct Access {
    pub allowed: Vec<String>,
}

impl AccessControl for Access {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.allowed.is_empty()
            && !self
                .allowed
                .iter()
                .any(|a| a.trim() == calling_ae_title.trim())
        {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// The association options for this node's configuration.
pub fn options(node: &Node) -> ServerAssociationOptions<'static, Access, DefaultNegotiation> {
    let cfg = &node.config.node;
    let mut o = ServerAssociationOptions::new()
        .ae_access_control(Access {
            allowed: cfg.allowed_calling_ae_titles.clone(),
        })
        .ae_title(cfg.ae_title.clone())
        .max_pdu_length(cfg.max_pdu_length)
        .read_timeout(Duration::from_secs(cfg.read_timeout_s.max(1)))
        .with_abstract_syntax(uids::VERIFICATION);
    for sop in STORAGE_SOP_CLASSES {
        o = o.with_abstract_syntax(sop);
    }
    for ts in TRANSFER_SYNTAXES {
        o = o.with_transfer_syntax(ts);
    }
    o
}

/// A message being assembled from P-DATA fragments.
enum Receiving {
    /// Waiting for (the rest of) a command.
    Command(Vec<u8>),
    /// Command received; its data set is streaming into the spool.
    Data {
        request: Request,
        pc_id: u8,
        incoming: Option<Incoming>,
        started: Instant,
        too_large: bool,
    },
}

/// Largest A-ASSOCIATE-RQ read before a congestion rejection; real ones are a few KiB.
const MAX_REJECTED_RQ: usize = 64 * 1024;

/// Answers an association request with A-ASSOCIATE-RJ "rejected-transient, service
/// provider (presentation), temporary congestion" (PS3.8 9.3.4): the caller keeps its
/// images and tries again later. Used when the spool disk is nearly full.
pub async fn reject_congested(mut socket: TcpStream) {
    use dicom_ul::pdu::{
        AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
        AssociationRJSource,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Read the request first: closing on unread data would reset the connection before
    // the caller sees the reason.
    let mut header = [0u8; 6];
    let read = async {
        socket.read_exact(&mut header).await?;
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
        if header[0] == 0x01 && len <= MAX_REJECTED_RQ {
            let mut body = vec![0u8; len];
            socket.read_exact(&mut body).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    if tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .is_err()
    {
        return;
    }
    let rj = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::TemporaryCongestion,
        ),
    });
    let mut buf = Vec::new();
    if dicom_ul::pdu::write_pdu(&mut buf, &rj).is_ok() {
        let _ = socket.write_all(&buf).await;
        let _ = socket.shutdown().await;
    }
    info!("association rejected: spool disk nearly full (temporary congestion)");
}

/// Serves one plain TCP connection until release, abort, timeout or error.
pub async fn serve_connection(node: Arc<Node>, socket: TcpStream) {
    let peer = socket
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let opts = options(&node);
    let assoc = match opts.establish_async(socket).await {
        Ok(a) => a,
        Err(e) => {
            node.metrics.associations_rejected.inc();
            info!(%peer, error = %snafu::Report::from_error(e), "association not established");
            return;
        }
    };
    serve_association(node, assoc, &peer, "tcp").await;
}

/// Serves one connection to the TLS listener: the TLS handshake (which verifies the client
/// certificate when configured), then the association as on the plain listener.
pub async fn serve_tls_connection(
    node: Arc<Node>,
    socket: TcpStream,
    tls: Arc<rustls::ServerConfig>,
) {
    let peer = socket
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let opts = options(&node).tls_config(tls);
    // dicom-ul bounds the wait for the A-ASSOCIATE-RQ by the read timeout, but not the TLS
    // handshake before it: without this, a peer that connects and stays silent would hold
    // an association permit forever.
    let timeout = Duration::from_secs(node.config.node.read_timeout_s.max(1));
    let established = tokio::time::timeout(timeout, opts.establish_tls_async(socket)).await;
    let mut assoc = match established {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            node.metrics.associations_rejected.inc();
            // Only the peer address and the reason (no certificate, unknown CA, not TLS at
            // all...): nothing of the data that would have followed.
            if matches!(e, dicom_ul::association::Error::TlsHandshake { .. }) {
                node.metrics.tls_handshake_failures.inc();
                warn!(%peer, error = %snafu::Report::from_error(e), "TLS handshake failed");
            } else {
                info!(%peer, error = %snafu::Report::from_error(e), "association not established");
            }
            return;
        }
        Err(_) => {
            node.metrics.associations_rejected.inc();
            node.metrics.tls_handshake_failures.inc();
            warn!(%peer, "TLS handshake or association request not done within the read timeout");
            return;
        }
    };
    let version = super::tls::version_name(assoc.inner_stream().get_ref().1.protocol_version());
    serve_association(node, assoc, &peer, &version).await;
}

/// Serves an established association until release, abort, timeout or error.
async fn serve_association<S>(
    node: Arc<Node>,
    mut assoc: AsyncServerAssociation<S>,
    peer: &str,
    transport: &str,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    node.metrics.associations.inc();
    crashpoint::hit("scp.associated");
    let calling = assoc.peer_ae_title().to_string();
    info!(%peer, calling_ae = %calling, %transport, "association accepted");
    let timeout = Duration::from_secs(node.config.node.read_timeout_s.max(1));
    let mut state = Receiving::Command(Vec::new());
    loop {
        let pdu = match tokio::time::timeout(timeout, assoc.receive()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                info!(calling_ae = %calling, error = %snafu::Report::from_error(e), "association ended by error");
                break;
            }
            Err(_) => {
                warn!(calling_ae = %calling, "association idle past the read timeout: aborting");
                let _ = assoc.abort().await;
                return;
            }
        };
        match pdu {
            Pdu::PData { data } => {
                for pv in data {
                    match handle_fragment(&node, &mut assoc, &mut state, pv).await {
                        Ok(()) => {}
                        Err(e) => {
                            warn!(calling_ae = %calling, error = %e, "protocol error: aborting association");
                            discard(state);
                            let _ = assoc.abort().await;
                            return;
                        }
                    }
                }
            }
            Pdu::ReleaseRQ => {
                let _ = assoc.send(&Pdu::ReleaseRP).await;
                crashpoint::hit("scp.released");
                debug!(calling_ae = %calling, "association released");
                break;
            }
            Pdu::AbortRQ { .. } => {
                info!(calling_ae = %calling, "association aborted by peer");
                break;
            }
            other => {
                warn!(calling_ae = %calling, pdu = %other.short_description(), "unexpected PDU: aborting");
                discard(state);
                let _ = assoc.abort().await;
                return;
            }
        }
    }
    discard(state);
}

fn discard(state: Receiving) {
    if let Receiving::Data {
        incoming: Some(i), ..
    } = state
    {
        i.discard();
    }
}

/// The presentation context's abstract and transfer syntax, if it was accepted.
fn context<S>(assoc: &AsyncServerAssociation<S>, id: u8) -> Option<(String, String)> {
    assoc
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.id == id && pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
        })
        .map(|pc| (pc.abstract_syntax.clone(), pc.transfer_syntax.clone()))
}

async fn handle_fragment<S>(
    node: &Arc<Node>,
    assoc: &mut AsyncServerAssociation<S>,
    state: &mut Receiving,
    pv: PDataValue,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Some((abstract_syntax, ts)) = context(assoc, pv.presentation_context_id) else {
        return Err(format!(
            "P-DATA on unknown presentation context {}",
            pv.presentation_context_id
        ));
    };
    match (&mut *state, pv.value_type) {
        (Receiving::Command(buf), PDataValueType::Command) => {
            buf.extend_from_slice(&pv.data);
            if buf.len() > 64 * 1024 {
                return Err("command set larger than 64 KiB".into());
            }
            if !pv.is_last {
                return Ok(());
            }
            let bytes = std::mem::take(buf);
            let request = dimse::parse_request(&bytes)
                .map_err(|e| snafu::Report::from_error(e).to_string())?;
            match &request {
                Request::Echo {
                    message_id,
                    sop_class,
                } => {
                    let rsp = dimse::response(
                        command_field::C_ECHO_RSP,
                        *message_id,
                        sop_class,
                        None,
                        status::SUCCESS,
                        None,
                    )
                    .map_err(|e| e.to_string())?;
                    send_command(assoc, pv.presentation_context_id, rsp).await?;
                }
                _ if !request.has_data_set() => {
                    if let Request::Other {
                        message_id,
                        command_field,
                        sop_class,
                        ..
                    } = &request
                    {
                        let rsp = dimse::response(
                            command_field | 0x8000,
                            *message_id,
                            sop_class,
                            None,
                            status::UNRECOGNIZED_OPERATION,
                            Some("operation not supported"),
                        )
                        .map_err(|e| e.to_string())?;
                        send_command(assoc, pv.presentation_context_id, rsp).await?;
                    }
                }
                Request::Store {
                    sop_class,
                    sop_instance,
                    ..
                } => {
                    crashpoint::hit("scp.command");
                    // Out of resources before a byte is written: the queue is full, or
                    // the disk nearly is.
                    let full = node.spool.inbox_len() >= node.config.node.max_queue
                        || node.disk_nearly_full();
                    let wrong_class = *sop_class != abstract_syntax
                        || !STORAGE_SOP_CLASSES.contains(&sop_class.as_str());
                    let incoming = if full || wrong_class {
                        None
                    } else {
                        match node.spool.incoming() {
                            Ok(mut inc) => match part10_header(sop_class, sop_instance, &ts) {
                                Ok(h) => inc.write(&h).ok().map(|()| inc),
                                Err(_) => None,
                            },
                            Err(e) => {
                                warn!(error = %snafu::Report::from_error(e), "cannot open spool file");
                                None
                            }
                        }
                    };
                    *state = Receiving::Data {
                        request,
                        pc_id: pv.presentation_context_id,
                        incoming,
                        started: Instant::now(),
                        too_large: false,
                    };
                }
                _ => {
                    *state = Receiving::Data {
                        request,
                        pc_id: pv.presentation_context_id,
                        incoming: None,
                        started: Instant::now(),
                        too_large: false,
                    };
                }
            }
            Ok(())
        }
        (
            Receiving::Data {
                pc_id,
                incoming,
                too_large,
                ..
            },
            PDataValueType::Data,
        ) => {
            if *pc_id != pv.presentation_context_id {
                return Err("data set fragment on another presentation context".into());
            }
            let limit = node.config.node.max_instance_mb.saturating_mul(1024 * 1024);
            if let Some(inc) = incoming.as_mut() {
                if inc.len() + pv.data.len() as u64 > limit {
                    *too_large = true;
                    if let Some(i) = incoming.take() {
                        i.discard();
                    }
                } else if let Err(e) = inc.write(&pv.data) {
                    warn!(error = %snafu::Report::from_error(e), "spool write failed");
                    if let Some(i) = incoming.take() {
                        i.discard();
                    }
                } else {
                    crashpoint::hit("scp.data_started");
                }
            }
            if !pv.is_last {
                return Ok(());
            }
            crashpoint::hit("scp.data_received");
            let done = std::mem::replace(state, Receiving::Command(Vec::new()));
            let Receiving::Data {
                request,
                pc_id,
                incoming,
                started,
                too_large,
            } = done
            else {
                return Ok(());
            };
            let (message_id, sop_class, sop_instance) = match request {
                Request::Store {
                    message_id,
                    sop_class,
                    sop_instance,
                } => (message_id, sop_class, Some(sop_instance)),
                Request::Other {
                    message_id,
                    sop_class,
                    ..
                } => (message_id, sop_class, None),
                Request::Echo {
                    message_id,
                    sop_class,
                } => (message_id, sop_class, None),
            };
            let (st, comment) = match (sop_instance.as_deref(), incoming) {
                (Some(uid), Some(inc)) => {
                    store(node, inc, uid.to_string(), sop_class.clone()).await
                }
                (Some(_), None) if too_large => (
                    status::OUT_OF_RESOURCES,
                    Some("instance larger than max_instance_mb".to_string()),
                ),
                (Some(_), None)
                    if sop_class != abstract_syntax
                        || !STORAGE_SOP_CLASSES.contains(&sop_class.as_str()) =>
                {
                    (
                        status::SOP_CLASS_NOT_SUPPORTED,
                        Some("SOP class not supported".to_string()),
                    )
                }
                (Some(_), None) => (
                    status::OUT_OF_RESOURCES,
                    Some("queue full, spool disk nearly full or spool unavailable".to_string()),
                ),
                (None, _) => (
                    status::UNRECOGNIZED_OPERATION,
                    Some("operation not supported".to_string()),
                ),
            };
            if st != status::SUCCESS {
                node.metrics.refused.inc();
            }
            debug!(
                status = format!("{st:04X}"),
                ms = started.elapsed().as_millis() as u64,
                "C-STORE answered"
            );
            let field = if sop_instance.is_some() {
                command_field::C_STORE_RSP
            } else {
                0x8000
            };
            let rsp = dimse::response(
                field,
                message_id,
                &sop_class,
                sop_instance.as_deref(),
                st,
                comment.as_deref(),
            )
            .map_err(|e| e.to_string())?;
            let sent = send_command(assoc, pc_id, rsp).await;
            if st == status::SUCCESS && sop_instance.is_some() {
                crashpoint::hit("scp.acknowledged");
            }
            sent
        }
        (_, PDataValueType::Command) => {
            Err("command fragment while a data set was expected".into())
        }
        (_, PDataValueType::Data) => Err("data set fragment without a command".into()),
    }
}

async fn send_command<S>(
    assoc: &mut AsyncServerAssociation<S>,
    pc_id: u8,
    data: Vec<u8>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc_id,
            value_type: PDataValueType::Command,
            is_last: true,
            data,
        }],
    };
    assoc
        .send(&pdu)
        .await
        .map_err(|e| snafu::Report::from_error(e).to_string())
}

/// Preamble, "DICM" and the File Meta Information (PS3.10 7.1) for a received data set,
/// which follows as received, in its negotiated transfer syntax. Public for the fuzz
/// targets (fuzz/), which put arbitrary data sets behind it as the node does.
pub fn part10_header(sop_class: &str, sop_instance: &str, ts: &str) -> Result<Vec<u8>, String> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(ts)
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Why a received instance is not acknowledged: the C-STORE status and its Error Comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub comment: String,
}

impl Refusal {
    fn new(status: u16, comment: impl Into<String>) -> Refusal {
        Refusal {
            status,
            comment: comment.into(),
        }
    }
}

/// A received instance as spooled: preamble, file meta, then the data set as received.
#[derive(Debug, Clone, Copy)]
pub enum Received<'a> {
    File(&'a Path),
    /// The same bytes in memory (the fuzz targets).
    Bytes(&'a [u8]),
}

/// Checks a received instance before it is acknowledged: declared lengths
/// ([`crate::dicom::guard`], so that parsing allocates no more than was received), that it
/// parses, that its SOP Class and Instance UIDs are the command's, and its Image Pixel
/// module ([`decode::check_pixels`]: every accepted SOP class is an image). Returns the
/// parsed instance for the node filter. `max_bytes` bounds a Deflated data set inflated.
/// Public for the fuzz targets (fuzz/), which run it on arbitrary bytes.
pub fn check_received(
    received: Received<'_>,
    uid: &str,
    sop_class: &str,
    max_bytes: u64,
) -> Result<DicomFile, Refusal> {
    let guarded = match received {
        Received::File(path) => guard::check_file(path, max_bytes),
        Received::Bytes(bytes) => guard::check_part10(bytes, max_bytes),
    };
    if let Err(e) = guarded {
        let report = one_line(&e);
        return Err(if e.is_too_large() {
            Refusal::new(status::OUT_OF_RESOURCES, report)
        } else {
            Refusal::new(
                status::CANNOT_UNDERSTAND,
                format!("data set unreadable: {report}"),
            )
        });
    }
    // Parse what was received before acknowledging: a broken data set is answered
    // "cannot understand", not stored and lost later.
    let parsed = match received {
        Received::File(path) => OpenFileOptions::new().open_file(path),
        Received::Bytes(bytes) => OpenFileOptions::new().from_reader(bytes),
    };
    let obj = parsed.map_err(|e| {
        Refusal::new(
            status::CANNOT_UNDERSTAND,
            format!("data set unreadable: {e}"),
        )
    })?;
    let text = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
    };
    if text(tags::SOP_INSTANCE_UID).as_deref() != Some(uid)
        || text(tags::SOP_CLASS_UID).as_deref() != Some(sop_class)
    {
        return Err(Refusal::new(
            status::DATA_SET_MISMATCH,
            "SOP Class/Instance UID differ from the command",
        ));
    }
    // No size limit here: an image the node does not analyse may be of any size.
    if let Err(e) = decode::check_pixels(&obj, u64::MAX) {
        return Err(Refusal::new(status::DATA_SET_MISMATCH, one_line(&e)));
    }
    Ok(obj)
}

/// An error and its causes as one line, `error: cause: cause`, for an Error Comment: one
/// LO value, which has no line breaks (and of which the response keeps 64 characters).
/// Also the batch's failures.csv lines.
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Validates, filters and commits a received instance; the status to answer.
async fn store(
    node: &Arc<Node>,
    incoming: Incoming,
    uid: String,
    sop_class: String,
) -> (u16, Option<String>) {
    let node2 = node.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let max_bytes = node2.config.node.max_instance_mb.saturating_mul(1024 * 1024);
        let obj = match check_received(Received::File(incoming.path()), &uid, &sop_class, max_bytes) {
            Ok(o) => o,
            Err(r) => {
                incoming.discard();
                info!(instance = %instance_tag(&uid), status = format!("{:04X}", r.status), reason = %r.comment, "instance refused");
                return (r.status, Some(r.comment));
            }
        };
        if !super::filter::selects(&node2.config.node.filter, &obj) {
            incoming.discard();
            return match node2.config.node.filter.unmatched {
                Unmatched::Ignore => {
                    node2.metrics.ignored.inc();
                    info!(instance = %instance_tag(&uid), "not a hand radiograph: accepted and ignored");
                    (status::SUCCESS, None)
                }
                Unmatched::Refuse => {
                    info!(instance = %instance_tag(&uid), "not a hand radiograph: refused");
                    (status::CANNOT_UNDERSTAND, Some("not a hand radiograph (node filter)".into()))
                }
            };
        }
        // An image to analyse must fit the pipeline's limit: refused now rather than
        // acknowledged and then failed by the worker.
        let max_pixels = node2.config.pipeline.max_pixels;
        if let Err(e) = decode::check_pixels(&obj, max_pixels) {
            incoming.discard();
            info!(instance = %instance_tag(&uid), error = %e, "image too large: refused");
            return (status::OUT_OF_RESOURCES, Some(format!("image larger than pipeline.max_pixels ({max_pixels})")));
        }
        drop(obj);
        crashpoint::hit("scp.parsed");
        let key = spool::key_for(&uid);
        match incoming.commit(&node2.spool, &key) {
            Ok(_) => {
                node2.metrics.received.inc();
                info!(instance = %instance_tag(&uid), "stored");
                node2.notify_worker(key);
                (status::SUCCESS, None)
            }
            Err(e) => {
                warn!(error = %snafu::Report::from_error(e), "could not commit instance to the spool");
                (status::OUT_OF_RESOURCES, Some("spool write failed".into()))
            }
        }
    })
    .await;
    outcome.unwrap_or_else(|_| (status::OUT_OF_RESOURCES, Some("internal error".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_comment_is_the_chain_on_one_line() {
        // A JPEG header check failing inside check_pixels: outer message, then its cause.
        let e = decode::Error::Codestream {
            source: crate::dicom::codestream::check_frame_size(
                uids::JPEG_BASELINE8_BIT,
                &[0xFF, 0xD8, 0xFF, 0xD9],
                8,
                8,
            )
            .unwrap_err(),
        };
        assert_eq!(
            one_line(&e),
            "compressed frame does not match the Image Pixel module: \
             no JPEG frame header (SOF) in the frame's first 65536 bytes"
        );
    }
}
