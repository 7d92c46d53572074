//! `rajoints serve` against real DICOM tools on loopback: DCMTK echoscu/storescu send,
//! DCMTK storescp receives the results, dciodvfy/dsrdump/highdicom check them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    CrImage,
    node::{NodeProc, StoreScp, free_port, hand_film, received, storescp, storescu, wait_for},
};

/// A storescp in `dir/dest` and a node with data in `dir/data` that delivers to it.
fn node_and_destination(dir: &Path, extra: &[&str]) -> (StoreScp, PathBuf, NodeProc) {
    let dest_port = free_port();
    let dest_dir = dir.join("dest");
    let scp = storescp(&dest_dir, dest_port);
    let node = NodeProc::start(
        &dir.join("data"),
        &[format!("DEST@127.0.0.1:{dest_port}")],
        extra,
    );
    (scp, dest_dir, node)
}

#[test]
fn echo_store_analyse_and_deliver_sr_and_gsps() {
    let dir = tempfile::tempdir().unwrap();
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.7001");
    let mut chest = CrImage::from_display(64, 64, &[0.0; 4096]);
    chest.stored[0] = 1000;
    let chest_path = dir.path().join("chest.dcm");
    // Same harness image but body part CHEST: must not be analysed.
    let ds = chest.dataset("2.25.7002");
    let mut ds = ds;
    ds.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::BODY_PART_EXAMINED,
        dicom_core::VR::CS,
        dicom_core::PrimitiveValue::from("CHEST"),
    ));
    ds.with_meta(
        dicom_object::FileMetaTableBuilder::new()
            .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN),
    )
    .unwrap()
    .write_to_file(&chest_path)
    .unwrap();

    let (_scp, dest_dir, node) = node_and_destination(dir.path(), &[]);

    let echo = Command::new("echoscu")
        .args(["-aec", "RAJOINTS", "127.0.0.1", &node.port.to_string()])
        .output()
        .unwrap();
    assert!(
        echo.status.success(),
        "C-ECHO failed: {}",
        String::from_utf8_lossy(&echo.stderr)
    );
    let t = Instant::now();
    let out = storescu(node.port, &[&hand, &chest_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "SR and GSPS at the destination",
        Duration::from_secs(120),
        || received(&dest_dir, "SR").len() == 1 && received(&dest_dir, "PS").len() == 1,
    );
    eprintln!("C-STORE to SR delivered: {} ms", t.elapsed().as_millis());
    let sr = &received(&dest_dir, "SR")[0];
    let pr = &received(&dest_dir, "PS")[0];
    assert_eq!(common::dciodvfy_errors(sr), Vec::<String>::new());
    assert_eq!(common::dciodvfy_errors(pr), Vec::<String>::new());
    // The SR's boxes equal what `rajoints analyze` writes for the same image.
    let analyzed = dir.path().join("analyzed");
    let run = common::analyze(&[&hand], &analyzed, &["--set", "output.png=false"]);
    assert!(run.status.success());
    common::check_sr(sr, &analyzed.join("hand.json"));
    // The chest film was accepted and ignored.
    assert_eq!(node.counter("ignored"), 1);
    assert_eq!(node.counter("received"), 1);
    assert_eq!(node.counter("sent"), 2);
    // No patient data in the logs.
    let log = node.log();
    assert!(
        !log.contains("Test^Phantom") && !log.contains("PHANTOM-1") && !log.contains("2.25.7001"),
        "{log}"
    );
}

/// `node.outputs` per destination: VIEWER asks for the summary image, ARCHIVE is not
/// listed and gets what [output] enables (SR and GSPS; the summary image is off).
#[test]
fn only_the_destination_that_asks_for_it_gets_the_summary_image() {
    let dir = tempfile::tempdir().unwrap();
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.7051");
    let (viewer_port, archive_port) = (free_port(), free_port());
    let (viewer_dir, archive_dir) = (dir.path().join("viewer"), dir.path().join("archive"));
    let _viewer = storescp(&viewer_dir, viewer_port);
    let _archive = storescp(&archive_dir, archive_port);
    let config = dir.path().join("rajoints.toml");
    std::fs::write(
        &config,
        "[node.outputs]\nVIEWER = [\"sr\", \"gsps\", \"sc\"]\n",
    )
    .unwrap();
    let node = NodeProc::start(
        &dir.path().join("data"),
        &[
            format!("VIEWER@127.0.0.1:{viewer_port}"),
            format!("ARCHIVE@127.0.0.1:{archive_port}"),
        ],
        &["--config", config.to_str().unwrap()],
    );
    let out = storescu(node.port, &[&hand]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SR, GSPS and SC to VIEWER, SR and GSPS to ARCHIVE.
    wait_for("five deliveries", Duration::from_secs(120), || {
        node.counter("sent") == 5
    });
    let sop_class = |p: &Path| {
        dicom_object::open_file(p)
            .unwrap()
            .meta()
            .media_storage_sop_class_uid()
            .to_string()
    };
    let classes = |d: &Path| {
        let mut v: Vec<String> = received(d, "").iter().map(|p| sop_class(p)).collect();
        v.sort();
        v
    };
    const SC: &str = "1.2.840.10008.5.1.4.1.1.7";
    const PS: &str = "1.2.840.10008.5.1.4.1.1.11.1";
    let (viewer, archive) = (classes(&viewer_dir), classes(&archive_dir));
    assert_eq!(viewer.len(), 3, "{viewer:?}");
    assert!(
        viewer.iter().any(|c| c == SC) && viewer.iter().any(|c| c == PS),
        "{viewer:?}"
    );
    assert_eq!(archive.len(), 2, "{archive:?}");
    assert!(!archive.iter().any(|c| c == SC), "{archive:?}");
    // The SR class is the one the other results are sent with.
    let sr: Vec<&String> = viewer.iter().filter(|c| *c != SC && *c != PS).collect();
    assert!(archive.contains(sr[0]), "{viewer:?} {archive:?}");
    let sc = received(&viewer_dir, "")
        .into_iter()
        .find(|p| sop_class(p) == SC)
        .unwrap();
    assert_eq!(common::dciodvfy_errors(&sc), Vec::<String>::new());
    let obj = dicom_object::open_file(&sc).unwrap();
    let text = |tag| obj.element(tag).unwrap().to_str().unwrap().to_string();
    assert_eq!(text(dicom_dictionary_std::tags::PATIENT_ID), "PHANTOM-1");
    assert_eq!(
        text(dicom_dictionary_std::tags::PHOTOMETRIC_INTERPRETATION),
        "RGB"
    );
}

#[test]
fn a_film_the_gate_refuses_gets_an_sr_saying_why_no_gsps_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    // A hand film by its Body Part Examined, taken lateral: the gate refuses it from its
    // attributes, before any detector runs.
    let mut lateral = CrImage::from_display(64, 64, &[0.5; 4096]);
    lateral.stored[0] = 1000;
    lateral.view_position = Some("LL");
    let path = dir.path().join("lateral.dcm");
    lateral.write(&path, "2.25.7101");
    // The tests' environment turns the gate off for synthetic films; the flag outranks it.
    let (_scp, dest_dir, node) =
        node_and_destination(dir.path(), &["--set", "pipeline.quality_gate=true"]);
    let out = storescu(node.port, &[&path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the SR at the destination", Duration::from_secs(60), || {
        node.counter("sent") == 1
    });
    // Both results of a film are queued together: one sent means no GSPS was made.
    assert_eq!(received(&dest_dir, "SR").len(), 1);
    assert_eq!(received(&dest_dir, "PS").len(), 0);
    assert_eq!(node.counter("analysed"), 1);
    let metrics = node.metrics();
    assert!(
        metrics.contains("rajoints_not_assessable_total{reason=\"not_frontal\"} 1"),
        "{metrics}"
    );
    let sr = &received(&dest_dir, "SR")[0];
    assert_eq!(common::dciodvfy_errors(sr), Vec::<String>::new());
    let dump = Command::new("dsrdump").arg("+Pl").arg(sr).output().unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("Reason not assessable"), "{dump}");
    assert!(dump.contains("View Position LL"), "{dump}");
    assert!(!dump.contains("Imaging Measurements"), "{dump}");
}

#[test]
fn destination_down_then_up_gets_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..3)
        .map(|k| {
            let p = dir.path().join(format!("h{k}.dcm"));
            hand_film(&p, &format!("2.25.72{k}"));
            p
        })
        .collect();
    let dest_port = free_port();
    let node = NodeProc::start(
        &dir.path().join("data"),
        &[format!("DEST@127.0.0.1:{dest_port}")],
        &[],
    );
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    assert!(storescu(node.port, &refs).status.success());
    // Several retry periods with nobody listening.
    wait_for("retries", Duration::from_secs(90), || {
        node.counter("retries") >= 6
    });
    assert_eq!(node.counter("sent"), 0);
    let dest_dir = dir.path().join("dest");
    let _scp = storescp(&dest_dir, dest_port);
    wait_for("delivery after the outage", Duration::from_secs(90), || {
        node.counter("sent") == 6
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(received(&dest_dir, "SR").len(), 3);
    assert_eq!(received(&dest_dir, "PS").len(), 3);
    assert_eq!(node.counter("dead_letters"), 0);
}

#[test]
fn sigkill_between_acknowledgement_and_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..4)
        .map(|k| {
            let p = dir.path().join(format!("k{k}.dcm"));
            hand_film(&p, &format!("2.25.73{k}"));
            p
        })
        .collect();
    let data = dir.path().join("data");
    let dest_port = free_port();
    let dest = [format!("DEST@127.0.0.1:{dest_port}")];
    // Destination down: acknowledged instances sit in the inbox or outbox when killed.
    let node = NodeProc::start(&data, &dest, &[]);
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    assert!(storescu(node.port, &refs).status.success());
    node.sigkill();
    let dest_dir = dir.path().join("dest");
    let _scp = storescp(&dest_dir, dest_port);
    let node = NodeProc::start(&data, &dest, &[]);
    wait_for(
        "all results after the restart",
        Duration::from_secs(120),
        || received(&dest_dir, "SR").len() == 4 && received(&dest_dir, "PS").len() == 4,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        received(&dest_dir, "SR").len(),
        4,
        "exactly one SR per acknowledged instance"
    );
    drop(node);
}

/// The C-STORE of tests/common's dicom-ul SCU on a CR, Explicit VR Little Endian context.
mod raw {
    pub fn store(
        port: u16,
        sop_class_in_command: &str,
        data: &[u8],
        sop_instance: &str,
    ) -> (u16, Option<String>) {
        super::common::node::raw_store(
            port,
            "1.2.840.10008.5.1.4.1.1.1",
            "1.2.840.10008.1.2.1",
            sop_class_in_command,
            sop_instance,
            data,
        )
    }
}

#[test]
fn malformed_data_set_and_wrong_sop_class_get_failure_statuses_and_the_node_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("data"), &[], &[]);
    let cr = "1.2.840.10008.5.1.4.1.1.1";
    // A data set that stops in the middle of an element.
    let garbage = [0x08, 0x00, 0x18, 0x00, b'U', b'I', 0x40, 0x00, b'1', b'.'];
    let (st, comment) = raw::store(node.port, cr, &garbage, "2.25.7401");
    assert_eq!(st, 0xC000, "{comment:?}");
    // A C-STORE whose command names CT on the CR presentation context.
    let (st, _) = raw::store(
        node.port,
        "1.2.840.10008.5.1.4.1.1.2",
        &garbage,
        "2.25.7402",
    );
    assert_eq!(st, 0x0122);
    // The node still serves: a proper image is stored and analysed.
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.7403");
    assert!(storescu(node.port, &[&hand]).status.success());
    let results = dir.path().join("data/results");
    wait_for(
        "results of the good image",
        Duration::from_secs(120),
        || {
            std::fs::read_dir(&results)
                .map(|rd| rd.count())
                .unwrap_or(0)
                == 3
        },
    );
    assert_eq!(node.counter("refused"), 2);
}

#[test]
fn unknown_calling_ae_is_rejected_when_an_allowlist_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(
        &dir.path().join("data"),
        &[],
        &["--set", "node.allowed_calling_ae_titles=[\"PACS\"]"],
    );
    let port = node.port.to_string();
    let denied = Command::new("echoscu")
        .args(["-aet", "STRANGER", "-aec", "RAJOINTS", "127.0.0.1", &port])
        .output()
        .unwrap();
    assert!(!denied.status.success());
    let allowed = Command::new("echoscu")
        .args(["-aet", "PACS", "-aec", "RAJOINTS", "127.0.0.1", &port])
        .output()
        .unwrap();
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let wrong_called = Command::new("echoscu")
        .args(["-aet", "PACS", "-aec", "OTHER", "127.0.0.1", &port])
        .output()
        .unwrap();
    assert!(!wrong_called.status.success());
    assert_eq!(node.counter("associations_rejected"), 2);
}

#[test]
fn small_pdus_concurrent_associations_and_graceful_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..4)
        .map(|k| {
            let p = dir.path().join(format!("c{k}.dcm"));
            hand_film(&p, &format!("2.25.75{k}"));
            p
        })
        .collect();
    let node = NodeProc::start(&dir.path().join("data"), &[], &[]);
    // Four associations at once, each data set cut into 4 KiB PDUs (about 500 fragments).
    let port = node.port.to_string();
    let children: Vec<Child> = files
        .iter()
        .map(|f| {
            Command::new("storescu")
                .args([
                    "--max-send-pdu",
                    "4096",
                    "-aec",
                    "RAJOINTS",
                    "127.0.0.1",
                    &port,
                ])
                .arg(f)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let results = dir.path().join("data/results");
    wait_for("results of four images", Duration::from_secs(120), || {
        std::fs::read_dir(&results)
            .map(|rd| rd.count())
            .unwrap_or(0)
            == 12
    });
    assert_eq!(node.counter("received"), 4);
    // SIGTERM: the node finishes and exits cleanly.
    let pid = node.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut node = node;
    let t = Instant::now();
    let status = loop {
        if let Some(s) = node.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "node did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", node.log());
    assert!(node.log().contains("stopped"));
}

#[test]
fn a_destination_that_keeps_refusing_gets_dead_letters_after_the_last_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, "2.25.7601");
    let dest_port = free_port();
    // storescp --refuse rejects every association.
    let _refuser = {
        let child = Command::new("storescp")
            .args(["--refuse", &dest_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", dest_port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(50));
        }
        StoreScp(child)
    };
    let data = dir.path().join("data");
    let node = NodeProc::start(
        &data,
        &[format!("DEST@127.0.0.1:{dest_port}")],
        &["--set", "node.sender.max_attempts=3"],
    );
    assert!(storescu(node.port, &[&hand]).status.success());
    wait_for("dead letters", Duration::from_secs(90), || {
        node.counter("dead_letters") == 2
    });
    // Both results kept, not lost; nothing left to retry; no more attempts made.
    let dead = data.join(format!("dead/DEST@127.0.0.1_{dest_port}"));
    assert_eq!(std::fs::read_dir(&dead).unwrap().count(), 2);
    let retries = node.counter("retries");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        node.counter("retries"),
        retries,
        "no busy loop after giving up"
    );
    assert!(node.log().contains("giving up after the last attempt"));
}

#[test]
fn refuse_mode_answers_other_instances_with_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(
        &dir.path().join("data"),
        &[],
        &["--set", "node.filter.unmatched=refuse"],
    );
    let mut chest = CrImage::from_display(64, 64, &[0.0; 4096]);
    chest.stored[0] = 1000;
    let mut ds = chest.dataset("2.25.7701");
    ds.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::BODY_PART_EXAMINED,
        dicom_core::VR::CS,
        dicom_core::PrimitiveValue::from("CHEST"),
    ));
    let p = dir.path().join("chest.dcm");
    ds.with_meta(
        dicom_object::FileMetaTableBuilder::new()
            .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN),
    )
    .unwrap()
    .write_to_file(&p)
    .unwrap();
    let out = storescu(node.port, &[&p]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0xc000") || text.contains("C000") || !out.status.success(),
        "{text}"
    );
    assert_eq!(node.counter("refused"), 1);
    assert_eq!(node.counter("received"), 0);
}

/// Issue 19 in the node: a patient's second film is compared with the first from the
/// node's own prior index; the first says there was no earlier result. The index's names
/// hold no patient data.
#[test]
fn a_second_film_of_a_patient_is_compared_with_the_first() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let (t0, t1) = (dir.path().join("t0.dcm"), dir.path().join("t1.dcm"));
    hand_film(&t0, "2.25.7301");
    hand_film(&t1, "2.25.7302");
    // The harness films share one study date: T0 a year earlier.
    let mut obj = dicom_object::open_file(&t0).unwrap();
    obj.put(dicom_core::DataElement::new(
        tags::STUDY_DATE,
        dicom_core::VR::DA,
        dicom_core::PrimitiveValue::from("20250101"),
    ));
    obj.write_to_file(&t0).unwrap();

    let (_scp, dest_dir, node) = node_and_destination(dir.path(), &[]);
    assert!(storescu(node.port, &[&t0]).status.success());
    wait_for("the T0 SR", Duration::from_secs(120), || {
        received(&dest_dir, "SR").len() == 1
    });
    assert!(storescu(node.port, &[&t1]).status.success());
    wait_for("the T1 SR", Duration::from_secs(120), || {
        received(&dest_dir, "SR").len() == 2
    });
    let srs: Vec<_> = received(&dest_dir, "SR")
        .iter()
        .map(|p| (p.clone(), dicom_object::open_file(p).unwrap()))
        .collect();
    let uid = |o: &dicom_object::DefaultDicomObject| {
        o.get(tags::SOP_INSTANCE_UID)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches('\0').to_string())
            .unwrap()
    };
    let dump = |p: &Path| {
        let out = Command::new("dsrdump").arg("+Pl").arg(p).output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let (first, second): (Vec<_>, Vec<_>) = srs
        .iter()
        .partition(|(_, o)| o.get(tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE).is_none());
    assert_eq!((first.len(), second.len()), (1, 1));
    let (p0, sr0) = first[0];
    let (p1, sr1) = second[0];
    assert!(
        dump(p0).contains("no earlier result of this patient"),
        "{}",
        dump(p0)
    );
    let d1 = dump(p1);
    assert!(d1.contains("since 2025-01-01 (365 days)"), "{d1}");
    assert!(d1.contains("\"Prior study date\")=\"20250101\""), "{d1}");
    // The prior SR is referenced.
    let evidence = sr1
        .get(tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE)
        .and_then(|e| e.items())
        .unwrap();
    let refs: Vec<String> = evidence
        .iter()
        .flat_map(|study| {
            study
                .get(tags::REFERENCED_SERIES_SEQUENCE)
                .and_then(|e| e.items())
                .unwrap_or(&[])
                .iter()
                .flat_map(|s| {
                    s.get(tags::REFERENCED_SOP_SEQUENCE)
                        .and_then(|e| e.items())
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(|i| {
                            i.get(tags::REFERENCED_SOP_INSTANCE_UID)
                                .and_then(|e| e.to_str().ok())
                                .map(|s| s.trim_end_matches('\0').to_string())
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(refs.contains(&uid(sr0)), "{refs:?}");
    assert!(refs.contains(&"2.25.7301".to_string()), "{refs:?}");
    assert_eq!(common::dciodvfy_errors(p1), Vec::<String>::new());
    // No patient data in the index's file names or in the log.
    let index = dir.path().join("data/priors");
    let names: Vec<String> = std::fs::read_dir(&index)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names.len(), 1);
    assert!(names.iter().all(|n| !n.contains("PHANTOM")), "{names:?}");
    assert!(!node.log().contains("PHANTOM-1"));
}
