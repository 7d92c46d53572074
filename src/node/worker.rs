//! Analysis workers: take instances from the inbox, run the pipeline, put the SR, GSPS and
//! summary image into the outbox of each destination that receives them (`node.outputs`,
//! else `[output]`) or the results folder, then release the inbox entry.
//! ONNX inference is CPU-bound and blocking, so workers are plain threads.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use snafu::Report;
use tracing::{error, info};

use super::{Node, instance_tag, priors};
use crate::analysis::{Analysis, SourceInfo};
use crate::config::ResultObject;
use crate::crashpoint;
use crate::dicom::decode;
use crate::dicom::gsps::{self, GspsOptions};
use crate::dicom::sc::{self, ScOptions};
use crate::dicom::sr::{self, SrOptions, Timestamp};
use crate::input;
use crate::pipeline::Pipeline;
use crate::review::{AiStatus, FilmRecord};
use dicom_dictionary_std::tags;

/// Runs until `node.stopping()`; finishes the instance in hand first.
pub fn run(node: Arc<Node>, pipeline: Pipeline, queue: Arc<std::sync::Mutex<Receiver<String>>>) {
    loop {
        if node.stopping() {
            return;
        }
        let next = {
            let rx = queue.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv_timeout(Duration::from_millis(500))
        };
        let key = match next {
            Ok(k) => k,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if !node.claim(&key) {
            continue;
        }
        process(&node, &pipeline, &key);
        node.release(&key);
    }
}

/// Analyses one inbox entry; afterwards it is either in the outbox (as results) or in
/// `failed/`, never lost.
fn process(node: &Node, pipeline: &Pipeline, key: &str) {
    let path = node.spool.inbox_path(key);
    if !path.exists() {
        return; // already handled (a duplicate notification)
    }
    crashpoint::hit("worker.claimed");
    let received = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let t = Instant::now();
    match analyse(node, pipeline, key, received) {
        Ok((n, refused)) => {
            if let Some(code) = &refused {
                node.metrics.not_assessable(code);
            }
            node.metrics
                .analysis_seconds
                .observe(t.elapsed().as_secs_f64());
            node.metrics.analysed.inc();
            info!(
                key,
                joints = n,
                not_assessable = refused.as_deref(),
                ms = t.elapsed().as_millis() as u64,
                "analysed"
            );
            if let Err(e) = node.spool.finish_inbox(key) {
                error!(key, error = %Report::from_error(e), "could not release inbox entry");
            }
            crashpoint::hit("worker.inbox_released");
            node.notify_senders();
        }
        Err(msg) => {
            node.metrics.failed.inc();
            error!(key, error = %msg, "analysis failed: instance kept in failed/");
            if let Err(e) = node.spool.fail_inbox(key) {
                error!(key, error = %Report::from_error(e), "could not move instance to failed/");
            }
        }
    }
}

fn analyse(
    node: &Node,
    pipeline: &Pipeline,
    key: &str,
    received: SystemTime,
) -> Result<(usize, Option<String>), String> {
    let path = node.spool.inbox_path(key);
    let t = Instant::now();
    let input = input::read(&path, pipeline.params.max_pixels)
        .map_err(|e| Report::from_error(e).to_string())?;
    let Some(obj) = input.dicom else {
        return Err("inbox entry is not DICOM".into());
    };
    crashpoint::hit("worker.decoded");
    let outcome = pipeline
        .analyze(&input.image, t.elapsed().as_secs_f64() * 1000.0)
        .map_err(|e| Report::from_error(e).to_string())?;
    crashpoint::hit("worker.analysed");
    let uid = decode::sop_instance_uid(&obj);
    let mut analysis = Analysis::new(
        SourceInfo {
            file: format!("{key}.dcm"),
            sop_instance_uid: uid.clone(),
            rows: input.image.height,
            columns: input.image.width,
        },
        pipeline.models(),
        outcome,
    );
    // Kept in the result so that a later film's comparison with it has the interval.
    analysis.study_date =
        sr::optional_str(&obj, tags::STUDY_DATE).and_then(|d| crate::change::iso_date(&d));
    // The comparison with the patient's prior in this node's index; a film without a
    // Patient ID cannot be matched to anyone's earlier film.
    let patient_id = sr::optional_str(&obj, tags::PATIENT_ID);
    if let Some(id) = &patient_id {
        let archive = priors::Archive::of(&node.config, &node.priors);
        analysis.change = Some(priors::compare_with_priors(
            &node.priors,
            archive.as_ref(),
            id,
            key,
            &analysis,
        ));
    }
    // Each object is built only when a destination (or the results folder) receives it.
    let mut results: Vec<(ResultObject, String, Vec<u8>)> = Vec::new();
    let mut ai_sr = None;
    let mut sr_opts = SrOptions::new(Timestamp::now());
    sr_opts.algorithm_parameters = pipeline.params.algorithm_parameters();
    if node.wants(ResultObject::Sr) {
        let doc = sr::build_sr(&obj, &analysis, &sr_opts)
            .map_err(|e| Report::from_error(e).to_string())?;
        ai_sr = sr::SopReference::of(&doc);
        results.push((ResultObject::Sr, format!("{key}.sr.dcm"), to_bytes(&doc)?));
    }
    // A film that is not assessable gets its SR (which says why), and no overlay or
    // summary image: there is nothing to draw.
    if node.wants(ResultObject::Gsps) && analysis.assessment.assessable {
        let doc = gsps::build_gsps(&obj, &analysis, &GspsOptions::matching(&sr_opts))
            .map_err(|e| Report::from_error(e).to_string())?;
        results.push((ResultObject::Gsps, format!("{key}.pr.dcm"), to_bytes(&doc)?));
    }
    if node.wants(ResultObject::Sc) && analysis.assessment.assessable {
        let doc = sc::build_sc(
            &obj,
            &analysis,
            &input.image,
            &ScOptions::matching(&sr_opts),
        )
        .map_err(|e| Report::from_error(e).to_string())?;
        results.push((ResultObject::Sc, format!("{key}.sc.dcm"), to_bytes(&doc)?));
    }
    if node.destinations.is_empty() {
        // No destination: keep the results, and the JSON, in the results folder.
        let mut json = serde_json::to_vec_pretty(&analysis).map_err(|e| e.to_string())?;
        json.push(b'\n');
        node.spool
            .put_result(None, &format!("{key}.json"), &json, received)
            .map_err(|e| Report::from_error(e).to_string())?;
    }
    // Every result into the outbox of each destination that receives it, all before the
    // inbox entry is released: a crash in between analyses the film again, and the
    // derived UIDs make the second copies the same instances.
    for (object, name, bytes) in &results {
        node.queue_result(*object, name, bytes, received)
            .map_err(|e| Report::from_error(e).to_string())?;
        crashpoint::hit("worker.first_result_queued");
    }
    crashpoint::hit("worker.results_queued");
    // Into the prior index before the inbox entry goes: a crash in between analyses the
    // film again and replaces the entry.
    if let Some(id) = &patient_id {
        let entry = priors::Entry {
            study_date: analysis.study_date.clone(),
            film: sr::SopReference::of(&obj),
            sr: ai_sr.clone(),
            analysis: crate::analysis::Analysis {
                change: None,
                ..analysis.clone()
            },
        };
        if let Err(e) = node.priors.record(id, key, &entry) {
            error!(key, error = %Report::from_error(e), "could not record the result as a prior");
        }
    }
    // Kept for review before the inbox entry goes: a crash in between analyses it again.
    if let Some(store) = &node.review {
        let mut record = film_record(key, &obj, &analysis, ai_sr, received);
        record.pixel_spacing_mm = input.image.pixel_spacing_mm;
        if let Err(e) = store.add(&path, &record, &analysis) {
            error!(key, error = %Report::from_error(e), "could not keep the film for review");
        }
    }
    if let Some(u) = &uid {
        info!(instance = %instance_tag(u), key, "results queued");
    }
    Ok((analysis.joints.len(), analysis.assessment.code.clone()))
}

/// The worklist entry of an analysed film: no name or ID of the patient, only a key.
fn film_record(
    key: &str,
    obj: &decode::DicomFile,
    analysis: &Analysis,
    ai_sr: Option<sr::SopReference>,
    received: SystemTime,
) -> FilmRecord {
    let study_date = sr::optional_str(obj, tags::STUDY_DATE).and_then(|d| {
        let d: String = d.chars().filter(char::is_ascii_digit).collect();
        (d.len() == 8).then(|| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
    });
    let patient_key = match sr::optional_str(obj, tags::PATIENT_ID) {
        Some(id) => crate::model::manifest::sha256_hex(format!("patient\0{id}").as_bytes())[..16]
            .to_string(),
        // Unknown patient: the film stands alone.
        None => format!("film-{}", &key[..12]),
    };
    let findings = analysis
        .joints
        .iter()
        .filter(|j| j.ankylosis.present || j.subluxation.is_some_and(|l| l.present))
        .count();
    FilmRecord {
        id: key.to_string(),
        received: Timestamp::from_system_time(received).rfc3339(),
        study_date,
        study_description: sr::optional_str(obj, tags::STUDY_DESCRIPTION),
        modality: sr::optional_str(obj, tags::MODALITY),
        width: analysis.source.columns,
        height: analysis.source.rows,
        pixel_spacing_mm: None,
        ai_status: if analysis.assessment.assessable {
            AiStatus::Analysed
        } else {
            AiStatus::NotAssessable
        },
        ai_reason: analysis.assessment.code.clone(),
        joints: analysis.joints.len(),
        findings,
        ai_sr,
        patient_key,
    }
}

fn to_bytes(doc: &decode::DicomFile) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    doc.write_all(&mut v).map_err(|e| e.to_string())?;
    Ok(v)
}
