//! Delivery of results: one task per destination sends what waits in its outbox by
//! C-STORE, proposing only the SOP classes it sends, removes a result only after a
//! success (or warning) status, retries with exponential backoff, and moves results
//! that keep failing to `dead/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::ClientAssociationOptions;
use dicom_ul::association::CloseSocket;
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextResultReason};
use dicom_ul::{Pdu, association::ClientAssociation};
use snafu::Report;
use tracing::{debug, error, info, warn};

use super::dimse;
use super::{Destination, Node};
use crate::crashpoint;

/// SOP classes the node sends: Comprehensive 3D SR (`sr::SR_SOP_CLASS`), Grayscale
/// Softcopy Presentation State and Secondary Capture (the summary image). All are proposed
/// on every association, whatever the destination receives: a destination that refuses
/// one still takes the others.
pub const SENT_SOP_CLASSES: [&str; 3] = [
    uids::COMPREHENSIVE3_DSR_STORAGE,
    uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
];

/// Transfer syntaxes proposed for results.
pub const SENT_TRANSFER_SYNTAXES: [&str; 2] = [
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

/// Sends `destination`'s outbox until the node stops.
pub async fn run(node: Arc<Node>, destination: Destination) {
    let folder = destination.folder();
    let cfg = node.config.node.sender.clone();
    let mut attempts: HashMap<PathBuf, u32> = HashMap::new();
    let mut backoff = cfg.retry_initial_s;
    loop {
        if node.stopping() {
            return;
        }
        let items = match node.spool.outbox(&folder) {
            Ok(v) => v,
            Err(e) => {
                error!(destination = %destination, error = %Report::from_error(e), "cannot read outbox");
                Vec::new()
            }
        };
        if items.is_empty() {
            node.wait_for_results(Duration::from_secs(5)).await;
            continue;
        }
        let d = destination.clone();
        let own = node.config.node.ae_title.clone();
        let timeout = Duration::from_secs(cfg.timeout_s.max(1));
        let paths: Vec<PathBuf> = items.iter().map(|(p, _)| p.clone()).collect();
        let tls = node.client_tls.clone();
        let outcome =
            tokio::task::spawn_blocking(move || send_batch(&own, &d, tls, &paths, timeout))
                .await
                .unwrap_or_else(|_| Err("sender task panicked".into()));
        // Per item: delivered, or the reason it was not (no association counts one failed
        // attempt for every waiting result).
        let results: Vec<Result<(), String>> = match outcome {
            Ok(per_item) => per_item,
            Err(msg) => {
                warn!(destination = %destination, error = %msg, "destination unreachable");
                items.iter().map(|_| Err(msg.clone())).collect()
            }
        };
        let mut failed = false;
        for ((path, received), result) in items.iter().zip(results) {
            match result {
                Ok(()) => {
                    crashpoint::hit("sender.acknowledged");
                    if let Err(e) = node.spool.delivered(path) {
                        error!(error = %Report::from_error(e), "could not remove delivered result");
                    }
                    crashpoint::hit("sender.removed");
                    attempts.remove(path);
                    node.metrics.sent.inc();
                    let latency = SystemTime::now()
                        .duration_since(*received)
                        .unwrap_or_default();
                    node.metrics.delivery_seconds.observe(latency.as_secs_f64());
                    info!(destination = %destination, file = %name(path), ms = latency.as_millis() as u64, "delivered");
                }
                Err(msg) => {
                    failed = true;
                    retry_or_dead(
                        &node,
                        &destination,
                        &folder,
                        path,
                        &msg,
                        &mut attempts,
                        cfg.max_attempts,
                    );
                }
            }
        }
        if failed {
            node.sleep(Duration::from_secs_f64(backoff)).await;
            backoff = (backoff * 2.0).min(cfg.retry_max_s);
        } else {
            backoff = cfg.retry_initial_s;
        }
    }
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn retry_or_dead(
    node: &Node,
    destination: &Destination,
    folder: &str,
    path: &Path,
    msg: &str,
    attempts: &mut HashMap<PathBuf, u32>,
    max: u32,
) {
    let n = attempts.entry(path.to_path_buf()).or_insert(0);
    *n += 1;
    if *n >= max {
        attempts.remove(path);
        node.metrics.dead_letters.inc();
        match node.spool.dead_letter(folder, path) {
            Ok(to) => {
                error!(destination = %destination, file = %name(path), error = %msg, moved_to = %to.display(), "giving up after the last attempt")
            }
            Err(e) => error!(error = %Report::from_error(e), "could not move result to dead/"),
        }
    } else {
        node.metrics.retries.inc();
        warn!(destination = %destination, file = %name(path), attempt = *n, error = %msg, "delivery failed; will retry");
    }
}

/// Sends `paths` over one association, over TLS for a `+tls` destination. The outer error
/// means no association; the inner results are per file.
fn send_batch(
    own_ae: &str,
    d: &Destination,
    tls: Option<Arc<rustls::ClientConfig>>,
    paths: &[PathBuf],
    timeout: Duration,
) -> Result<Vec<Result<(), String>>, String> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(own_ae.to_string())
        .called_ae_title(d.ae_title.clone())
        .connection_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout);
    for sop in SENT_SOP_CLASSES {
        opts = opts.with_presentation_context(sop, SENT_TRANSFER_SYNTAXES.to_vec());
    }
    if !d.tls {
        let assoc = opts
            .establish(d.address.as_str())
            .map_err(|e| Report::from_error(e).to_string())?;
        return Ok(send_all(assoc, paths));
    }
    // Loaded at startup whenever a destination uses +tls, so missing only by a bug.
    let tls = tls.ok_or("no TLS configuration for a +tls destination")?;
    let mut assoc = opts
        .tls_config(tls)
        .server_name(d.host())
        .establish_tls(d.address.as_str())
        .map_err(|e| Report::from_error(e).to_string())?;
    debug!(
        destination = %d,
        tls = %super::tls::version_name(assoc.inner_stream().conn.protocol_version()),
        "TLS association established"
    );
    Ok(send_all(assoc, paths))
}

/// Sends `paths` over `assoc`, then releases it (or aborts it if it broke).
fn send_all<S>(mut assoc: ClientAssociation<S>, paths: &[PathBuf]) -> Vec<Result<(), String>>
where
    S: CloseSocket + std::io::Read + std::io::Write,
{
    crashpoint::hit("sender.associated");
    let mut out = Vec::with_capacity(paths.len());
    for (i, p) in paths.iter().enumerate() {
        let r = send_one(&mut assoc, p, (i % 0xFFFF) as u16 + 1);
        let fatal = matches!(&r, Err(e) if e.starts_with("association:"));
        out.push(r);
        if fatal {
            // The association broke: the rest count as not sent this round.
            while out.len() < paths.len() {
                out.push(Err("association lost".into()));
            }
            let _ = assoc.abort();
            return out;
        }
    }
    let _ = assoc.release();
    crashpoint::hit("sender.released");
    out
}

fn send_one<S>(assoc: &mut ClientAssociation<S>, path: &Path, message_id: u16) -> Result<(), String>
where
    S: CloseSocket + std::io::Read + std::io::Write,
{
    let obj = dicom_object::open_file(path).map_err(|e| format!("unreadable result: {e}"))?;
    let sop_class = obj
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_string();
    let sop_instance = obj
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_string();
    let pc = assoc
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.abstract_syntax == sop_class
                && pc.reason == PresentationContextResultReason::Acceptance
        })
        .cloned()
        .ok_or_else(|| format!("destination accepts no presentation context for {sop_class}"))?;
    let ts = TransferSyntaxRegistry
        .get(&pc.transfer_syntax)
        .ok_or_else(|| format!("unknown transfer syntax {}", pc.transfer_syntax))?;
    let mut data = Vec::new();
    obj.write_dataset_with_ts(&mut data, ts)
        .map_err(|e| format!("cannot encode result: {e}"))?;
    let cmd =
        dimse::store_request(message_id, &sop_class, &sop_instance).map_err(|e| e.to_string())?;
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc.id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd,
            }],
        })
        .map_err(|e| format!("association: {}", Report::from_error(e)))?;
    {
        use std::io::Write;
        let mut w = assoc.send_pdata(pc.id);
        w.write_all(&data)
            .map_err(|e| format!("association: {e}"))?;
        w.finish().map_err(|e| format!("association: {e}"))?;
    }
    crashpoint::hit("sender.sent");
    // The response: command fragments until the last.
    let mut rsp = Vec::new();
    loop {
        match assoc
            .receive()
            .map_err(|e| format!("association: {}", Report::from_error(e)))?
        {
            Pdu::PData { data } => {
                let mut last = false;
                for pv in data {
                    if pv.value_type == PDataValueType::Command {
                        rsp.extend_from_slice(&pv.data);
                        last |= pv.is_last;
                    }
                }
                if last {
                    break;
                }
            }
            other => {
                return Err(format!(
                    "association: unexpected {}",
                    other.short_description()
                ));
            }
        }
    }
    let (st, comment) =
        dimse::response_status(&rsp).map_err(|e| format!("association: bad response: {e}"))?;
    if dimse::status::is_success_or_warning(st) {
        Ok(())
    } else {
        Err(format!(
            "C-STORE status {st:04X}{}",
            comment.map(|c| format!(": {c}")).unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_object_is_proposed() {
        for class in [
            crate::dicom::sr::SR_SOP_CLASS,
            crate::dicom::gsps::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE,
            crate::dicom::sc::SECONDARY_CAPTURE,
        ] {
            assert!(SENT_SOP_CLASSES.contains(&class), "{class}");
        }
    }
}
