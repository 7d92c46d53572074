//! Reliability of the node (issue 8): a SIGKILL at every crash point of the receive,
//! spool, analyse, outbox and send path loses no acknowledged instance; a nearly full
//! spool disk refuses associations as transient congestion; analysis can be switched off
//! without losing what arrives; and the node sustains 8 concurrent associations of 50
//! phantom radiographs each. Figures go to docs/reliability.md.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::node::{NodeProc, StoreScp, free_port, hand_film, storescp_with, storescu, wait_for};
use rajoints::crashpoint;

/// DCMTK storescp writing every received file under a unique name, so that a result
/// delivered twice shows as two files.
fn storescp_unique(dir: &Path, port: u16) -> StoreScp {
    storescp_with(dir, port, &["-uf"])
}

/// Sends one file by DCMTK storescu; true when the node answered the C-STORE with
/// success, whatever happened to the association afterwards (that is the acknowledgement).
fn store_acknowledged(port: u16, file: &Path) -> bool {
    let out = Command::new("storescu")
        .args(["-v", "-aec", "RAJOINTS", "127.0.0.1", &port.to_string()])
        .arg(file)
        .output()
        .expect("storescu (DCMTK) not runnable: run `make test`");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.contains("Received Store Response (Success)")
}

/// SOP Class and Instance UIDs of every complete file in `dir`.
fn delivered(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(obj) = dicom_object::open_file(e.path()) {
            out.push((
                obj.meta()
                    .media_storage_sop_class_uid()
                    .trim_end_matches('\0')
                    .to_string(),
                obj.meta()
                    .media_storage_sop_instance_uid()
                    .trim_end_matches('\0')
                    .to_string(),
            ));
        }
    }
    out
}

const SR_CLASS: &str = "1.2.840.10008.5.1.4.1.1.88.34";
const PR_CLASS: &str = "1.2.840.10008.5.1.4.1.1.11.1";

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| rd.flatten().count())
}

fn pending(data: &Path) -> usize {
    let outboxes: usize = std::fs::read_dir(data.join("outbox"))
        .map(|rd| rd.flatten().map(|d| files_in(&d.path())).sum())
        .unwrap_or(0);
    files_in(&data.join("inbox")) + outboxes
}

/// What one crash point did.
#[derive(Debug)]
struct CrashOutcome {
    acknowledged_before: usize,
    resent: usize,
    sr_files: usize,
    distinct_sr: usize,
    pr_files: usize,
    distinct_pr: usize,
}

/// The points after which a result may already be at the destination but is still in
/// the outbox: delivery is at least once there, and the duplicate has the same SOP
/// Instance UID (results have deterministic UIDs), so the archive keeps one instance.
const AT_LEAST_ONCE: [&str; 2] = ["sender.sent", "sender.acknowledged"];

fn crash_at(point: &str, films: &[PathBuf], work: &Path) -> CrashOutcome {
    let data = work.join("data");
    let dest_dir = work.join("dest");
    let dest_port = free_port();
    let _scp = storescp_unique(&dest_dir, dest_port);
    let dest = [format!("DEST@127.0.0.1:{dest_port}")];
    let mut node = NodeProc::start_with_env(&data, &dest, &[], &[(crashpoint::ENV, point)]);
    // One association per film, as a modality sends: each success is an acknowledgement.
    let mut acked = vec![false; films.len()];
    for (k, f) in films.iter().enumerate() {
        acked[k] = store_acknowledged(node.port, f);
    }
    let st = node
        .wait_exit(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("{point}: the node never reached the crash point"));
    assert_eq!(
        st.signal(),
        Some(9),
        "{point}: killed by SIGKILL, got {st:?}"
    );
    let acknowledged_before = acked.iter().filter(|a| **a).count();
    // Nothing partial survives as received: incoming/ is emptied at the next start and
    // only complete, committed instances are in the inbox.
    let node = NodeProc::start(&data, &dest, &[]);
    assert_eq!(
        files_in(&data.join("incoming")),
        0,
        "{point}: partial files kept"
    );
    // The sender resends what it got no success for, as a modality does.
    let mut resent = 0;
    for (k, f) in films.iter().enumerate() {
        if !acked[k] {
            assert!(
                storescu(node.port, &[f]).status.success(),
                "{point}: resend refused"
            );
            resent += 1;
        }
    }
    wait_for(
        &format!("{point}: every result delivered"),
        Duration::from_secs(120),
        || {
            let d = delivered(&dest_dir);
            let sr: BTreeSet<_> = d
                .iter()
                .filter(|(c, _)| c == SR_CLASS)
                .map(|x| &x.1)
                .collect();
            let pr: BTreeSet<_> = d
                .iter()
                .filter(|(c, _)| c == PR_CLASS)
                .map(|x| &x.1)
                .collect();
            sr.len() == films.len() && pr.len() == films.len() && pending(&data) == 0
        },
    );
    // A late duplicate would show within this pause.
    std::thread::sleep(Duration::from_millis(700));
    let d = delivered(&dest_dir);
    let count = |class: &str| d.iter().filter(|(c, _)| c == class).count();
    let distinct = |class: &str| {
        d.iter()
            .filter(|(c, _)| c == class)
            .map(|x| &x.1)
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(
        files_in(&data.join("failed")),
        0,
        "{point}: failed analyses"
    );
    assert_eq!(files_in(&data.join("dead")), 0, "{point}: dead letters");
    drop(node);
    CrashOutcome {
        acknowledged_before,
        resent,
        sr_files: count(SR_CLASS),
        distinct_sr: distinct(SR_CLASS),
        pr_files: count(PR_CLASS),
        distinct_pr: distinct(PR_CLASS),
    }
}

#[test]
fn every_crash_point_is_wired_in_the_code() {
    let mut src = String::new();
    for f in [
        "src/node/scp.rs",
        "src/node/worker.rs",
        "src/node/sender.rs",
        "src/spool.rs",
    ] {
        src += &std::fs::read_to_string(common::repo().join(f)).unwrap();
    }
    for p in crashpoint::POINTS {
        assert_eq!(
            src.matches(&format!("crashpoint::hit(\"{p}\")")).count(),
            1,
            "{p} must be hit exactly once in the code"
        );
    }
    assert!(crashpoint::POINTS.len() >= 20);
}

#[test]
fn sigkill_at_every_crash_point_loses_no_acknowledged_instance() {
    let dir = tempfile::tempdir().unwrap();
    let films: Vec<PathBuf> = (0..3)
        .map(|k| {
            let p = dir.path().join(format!("f{k}.dcm"));
            hand_film(&p, &format!("2.25.8800{k}"));
            p
        })
        .collect();
    // Two points at a time: the runs share nothing but the films.
    let points: Vec<&str> = crashpoint::POINTS.to_vec();
    let results: BTreeMap<&str, CrashOutcome> = std::thread::scope(|s| {
        let halves = points.chunks(points.len().div_ceil(2));
        let handles: Vec<_> = halves
            .map(|half| {
                let films = &films;
                let root = dir.path();
                s.spawn(move || {
                    half.iter()
                        .map(|p| (*p, crash_at(p, films, &root.join(p))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("crash run panicked"))
            .collect()
    });
    eprintln!(
        "point | acknowledged before the crash | resent | SR files (distinct) | PR files (distinct)"
    );
    for (p, o) in &results {
        eprintln!(
            "{p} | {} | {} | {} ({}) | {} ({})",
            o.acknowledged_before, o.resent, o.sr_files, o.distinct_sr, o.pr_files, o.distinct_pr
        );
    }
    assert_eq!(results.len(), crashpoint::POINTS.len());
    for (p, o) in &results {
        // Every instance has its one SR and one GSPS: none lost.
        assert_eq!((o.distinct_sr, o.distinct_pr), (3, 3), "{p}: {o:?}");
        if AT_LEAST_ONCE.contains(p) {
            assert!(
                o.sr_files + o.pr_files <= 7,
                "{p}: at most one duplicate: {o:?}"
            );
        } else {
            assert_eq!(
                (o.sr_files, o.pr_files),
                (3, 3),
                "{p}: delivered twice: {o:?}"
            );
        }
    }
    // Crashes before the first acknowledgement leave every film unacknowledged (all
    // resent). A result is sent only after its film was analysed, well after that film's
    // acknowledgement, so at the sender's points the first film was acknowledged; how many
    // of the later films were depends on how fast the analysis went (only those not
    // acknowledged were resent).
    assert_eq!(results["scp.associated"].acknowledged_before, 0);
    assert_eq!(results["spool.committed"].acknowledged_before, 0);
    assert!(results["scp.acknowledged"].acknowledged_before >= 1);
    for p in crashpoint::POINTS
        .iter()
        .filter(|p| p.starts_with("sender."))
    {
        let o = &results[*p];
        assert!(o.acknowledged_before >= 1, "{p}: {o:?}");
        assert_eq!(o.resent, films.len() - o.acknowledged_before, "{p}: {o:?}");
    }
}

#[test]
fn a_nearly_full_spool_disk_rejects_associations_as_transient_congestion() {
    let dir = tempfile::tempdir().unwrap();
    let film = dir.path().join("h.dcm");
    hand_film(&film, "2.25.8810");
    let data = dir.path().join("data");
    // More free space required than any disk has: the disk counts as nearly full.
    let node = NodeProc::start(
        &data,
        &[],
        &["--set", "node.min_free_disk_mb=1000000000000"],
    );
    let out = storescu(node.port, &[&film]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Rejected Transient") && text.contains("Temporary Congestion"),
        "storescu should report a transient congestion rejection:\n{text}"
    );
    assert_eq!(
        files_in(&data.join("incoming")) + files_in(&data.join("inbox")),
        0
    );
    assert!(node.counter("associations_rejected") >= 1);
    // The node stays up and says why.
    assert!(node.log().contains("spool disk nearly full"));
    let again = storescu(node.port, &[&film]);
    assert!(!again.status.success());
}

#[test]
fn with_analysis_off_instances_wait_in_the_inbox_until_it_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let films: Vec<PathBuf> = (0..2)
        .map(|k| {
            let p = dir.path().join(format!("a{k}.dcm"));
            hand_film(&p, &format!("2.25.8820{k}"));
            p
        })
        .collect();
    let data = dir.path().join("data");
    let node = NodeProc::start(&data, &[], &["--set", "node.analyse=false"]);
    let refs: Vec<&Path> = films.iter().map(|p| p.as_path()).collect();
    assert!(storescu(node.port, &refs).status.success());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(files_in(&data.join("inbox")), 2);
    assert_eq!(files_in(&data.join("results")), 0);
    node.sigkill();
    let _node = NodeProc::start(&data, &[], &[]);
    wait_for("analysis after the switch", Duration::from_secs(60), || {
        files_in(&data.join("inbox")) == 0 && files_in(&data.join("results")) == 6
    });
}

/// Copies `src` with a new SOP Instance UID (data set and a rebuilt file meta).
fn copy_with_uid(src: &dicom_object::DefaultDicomObject, uid: &str, to: &Path) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::FileMetaTableBuilder;
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(
            src.meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0'),
        )
        .media_storage_sop_instance_uid(uid)
        .transfer_syntax(src.meta().transfer_syntax().trim_end_matches('\0'));
    let mut ds = (**src).clone();
    ds.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid),
    ));
    ds.with_meta(meta).unwrap().write_to_file(to).unwrap();
}

#[test]
fn eight_associations_of_fifty_phantom_radiographs_each() {
    const ASSOCIATIONS: usize = 8;
    const PER_ASSOCIATION: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let phantoms = dir.path().join("phantoms");
    let sources = common::phantom_films(&phantoms, &["--count", "50", "--seed", "808"]);
    assert_eq!(sources.len(), PER_ASSOCIATION);
    // Each association sends its own 50 instances: the phantoms under new UIDs.
    let mut batches: Vec<Vec<PathBuf>> = vec![Vec::new(); ASSOCIATIONS];
    for (i, src) in sources.iter().enumerate() {
        let obj = dicom_object::open_file(src).unwrap();
        for (a, batch) in batches.iter_mut().enumerate() {
            let d = dir.path().join(format!("assoc{a}"));
            std::fs::create_dir_all(&d).unwrap();
            let p = d.join(format!("{i:02}.dcm"));
            copy_with_uid(&obj, &format!("2.25.99{a}0{i:03}"), &p);
            batch.push(p);
        }
    }
    let data = dir.path().join("data");
    let dest_dir = dir.path().join("dest");
    let dest_port = free_port();
    let _scp = storescp_unique(&dest_dir, dest_port);
    let node = NodeProc::start(&data, &[format!("DEST@127.0.0.1:{dest_port}")], &[]);
    let total = ASSOCIATIONS * PER_ASSOCIATION;
    let t0 = Instant::now();
    let port = node.port;
    let senders: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            std::thread::spawn(move || {
                let out = Command::new("storescu")
                    .args(["-v", "-aec", "RAJOINTS", "127.0.0.1", &port.to_string()])
                    .args(&batch)
                    .output()
                    .expect("storescu");
                let text = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                (
                    out.status.success(),
                    text.matches("Received Store Response (Success)").count(),
                    text.matches("Received Store Response").count(),
                    // What storescu said besides progress: the failing response or the
                    // association's end.
                    text.lines()
                        .filter(|l| {
                            !l.starts_with("XMIT:")
                                && (!l.starts_with("I:")
                                    || l.contains("Response") && !l.contains("(Success)")
                                    || l.contains("Abort")
                                    || l.contains("Release"))
                        })
                        .take(40)
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            })
        })
        .collect();
    // Queue depth while they send and the worker analyses.
    let mut max_inbox = 0u64;
    let inbox_depth = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("rajoints_queue_depth{queue=\"inbox\"} "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    while !senders.iter().all(|h| h.is_finished()) {
        max_inbox = max_inbox.max(inbox_depth(&node.metrics()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let received_s = t0.elapsed().as_secs_f64();
    for h in senders {
        let (ok, success, responses, text) = h.join().unwrap();
        assert!(
            ok,
            "storescu failed ({success} successes):\n{text}\nnode log (warnings):\n{}",
            node.log()
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!((success, responses), (PER_ASSOCIATION, PER_ASSOCIATION));
    }
    assert_eq!(node.counter("received"), total as u64);
    assert_eq!(node.counter("refused"), 0);
    wait_for("every result delivered", Duration::from_secs(1200), || {
        max_inbox = max_inbox.max(inbox_depth(&node.metrics()));
        node.counter("sent") == 2 * total as u64
    });
    let all_s = t0.elapsed().as_secs_f64();
    let d = delivered(&dest_dir);
    let distinct_sr: BTreeSet<_> = d
        .iter()
        .filter(|(c, _)| c == SR_CLASS)
        .map(|x| &x.1)
        .collect();
    assert_eq!(distinct_sr.len(), total);
    assert_eq!(node.counter("failed"), 0);
    let rss_mib = node.peak_rss_kib() as f64 / 1024.0;
    eprintln!(
        "load: {total} instances over {ASSOCIATIONS} associations received in {received_s:.1} s \
         ({:.0} images/min), all SR+GSPS delivered after {all_s:.1} s ({:.0} images/min analysed), \
         max inbox depth {max_inbox}, node peak RSS {rss_mib:.0} MiB",
        total as f64 * 60.0 / received_s,
        total as f64 * 60.0 / all_s
    );
    // Memory stays bounded: instances stream to disk, not into memory.
    assert!(rss_mib < 1024.0, "peak RSS {rss_mib:.0} MiB");
}
