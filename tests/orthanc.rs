//! End to end against a real Orthanc (Debian's `orthanc` package, run as a plain process
//! with its own configuration and storage, never the system service): an image stored into
//! Orthanc is routed to `rajoints serve` by plugins/orthanc (configuration snippet + Lua),
//! and the node's SR and GSPS land back in Orthanc in the same study, checked through
//! Orthanc's REST API. All traffic stays on 127.0.0.1, on free ports: Orthanc 1.10 binds
//! every interface and has no bind-address option, so its configuration here refuses
//! remote HTTP clients ("RemoteAccessAllowed": false) and the ports are unpredictable.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{CrImage, Square, film, paint};
use serde_json::Value;

const HAND_UID: &str = "2.25.8001";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A hand film with 20 square joints (as tests/node.rs), CR, body part HAND.
fn hand_film(path: &Path, uid: &str) {
    let (w, h, joints) = film(|id| if id.to_string() == "R-PIP2" { 1.0 } else { 0.5 });
    let mut squares: Vec<Square> = joints.iter().map(|j| j.1).collect();
    squares.push(Square {
        x: 0,
        y: 0,
        side: 2,
        value: 1.0,
    });
    CrImage::from_display(w, h, &paint(w, h, &squares)).write(path, uid);
}

/// A chest CR in the same study, its own series: must not be routed.
fn chest_film(path: &Path, uid: &str) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    let mut img = CrImage::from_display(64, 64, &[0.0; 4096]);
    img.stored[0] = 1000;
    let mut ds = img.dataset(uid);
    ds.put(DataElement::new(
        tags::BODY_PART_EXAMINED,
        VR::CS,
        PrimitiveValue::from("CHEST"),
    ));
    ds.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1003"),
    ));
    ds.with_meta(
        dicom_object::FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
    )
    .unwrap()
    .write_to_file(path)
    .unwrap();
}

// ---------------------------------------------------------------------------------------
// The node
// ---------------------------------------------------------------------------------------

/// `rajoints serve` on a given port, sending its results to Orthanc; killed on drop.
struct NodeProc {
    child: Child,
    http: u16,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProc {
    fn start(data: &Path, port: u16, orthanc_dicom: u16) -> NodeProc {
        NodeProc::start_with(data, port, Some(orthanc_dicom), &[])
    }

    /// As `start`, with Orthanc as the destination or none (the results folder), and more
    /// `--set` overrides.
    fn start_with(data: &Path, port: u16, orthanc_dicom: Option<u16>, sets: &[String]) -> NodeProc {
        let (a, s) = common::test_models();
        let mut cmd = common::rajoints(&["serve", "--http", "127.0.0.1:0"]);
        cmd.args(["--listen", &format!("127.0.0.1:{port}")]);
        cmd.arg("--data-dir").arg(data);
        if let Some(orthanc_dicom) = orthanc_dicom {
            cmd.args([
                "--destination",
                &format!("ORTHANC@127.0.0.1:{orthanc_dicom}"),
            ]);
        }
        cmd.args(["--set", &format!("models.ankylosis={}", a.display())]);
        cmd.args(["--set", &format!("models.subluxation={}", s.display())]);
        // After the test models: `sets` may name others.
        for set in sets {
            cmd.args(["--set", set]);
        }
        cmd.args(["--set", "node.sender.retry_initial_s=0.2"]);
        cmd.args(["--set", "node.sender.retry_max_s=0.5"]);
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        cmd.stdout(Stdio::piped()).stderr(log);
        let mut child = cmd.spawn().expect("start rajoints serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening"), "node did not start: {line}");
        let http = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .and_then(|v| v.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .expect("http port in the node's first line");
        NodeProc { child, http }
    }

    fn counter(&self, name: &str) -> u64 {
        let (status, body) = http(self.http, "GET", "/metrics", "");
        assert_eq!(status, 200);
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("rajoints_{name}_total ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no counter {name}"))
    }
}

// ---------------------------------------------------------------------------------------
// Orthanc
// ---------------------------------------------------------------------------------------

/// A tiny HTTP/1.1 client on std: one request per connection; (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    try_http(port, method, path, body)
        .unwrap_or_else(|e| panic!("HTTP {method} {path} on port {port}: {e}"))
}

/// [`http`] that reports I/O errors: a server still starting may accept and then reset.
fn try_http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut length = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut buf = Vec::new();
    match length {
        Some(n) => {
            buf.resize(n, 0);
            reader.read_exact(&mut buf)?;
        }
        None => {
            reader.read_to_end(&mut buf)?;
        }
    }
    Ok((status, String::from_utf8_lossy(&buf).into_owned()))
}

/// Debian's Orthanc with a configuration directory of two files: the test's base (storage,
/// ports, loopback-only HTTP) and plugins/orthanc/orthanc-rajoints.json as shipped, with
/// only the node's port, the script's path and shorter retry delays put in.
struct Orthanc {
    child: Option<Child>,
    dir: PathBuf,
    http: u16,
    dicom: u16,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Orthanc {
    fn configure(dir: &Path, node_port: u16) -> Orthanc {
        Orthanc::configure_with(dir, node_port, &[])
    }

    /// As `configure`, with more replacements in the shipped snippet.
    fn configure_with(dir: &Path, node_port: u16, more: &[(&str, &str)]) -> Orthanc {
        let (http, dicom) = (free_port(), free_port());
        let cfg = dir.join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        let storage = dir.join("storage");
        let base = serde_json::json!({
            "Name": "rajoints-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": http,
            "DicomPort": dicom,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "Plugins": [],
            "DicomScuTimeout": 5,
        });
        std::fs::write(cfg.join("base.json"), base.to_string()).unwrap();
        let repo = common::repo();
        let snippet =
            std::fs::read_to_string(repo.join("plugins/orthanc/orthanc-rajoints.json")).unwrap();
        let lua = repo.join("plugins/orthanc/rajoints-route.lua");
        let mut text = snippet;
        for (from, to) in [
            (
                "\"/etc/orthanc/rajoints-route.lua\"".to_string(),
                format!("\"{}\"", lua.display()),
            ),
            ("\"Port\" : 11112".into(), format!("\"Port\" : {node_port}")),
            (
                "\"RetryMinSeconds\" : 10".into(),
                "\"RetryMinSeconds\" : 1".into(),
            ),
            (
                "\"RetryMaxSeconds\" : 300".into(),
                "\"RetryMaxSeconds\" : 2".into(),
            ),
        ]
        .into_iter()
        .chain(more.iter().map(|(a, b)| (a.to_string(), b.to_string())))
        {
            assert!(
                text.contains(&from),
                "plugins/orthanc/orthanc-rajoints.json no longer has {from}"
            );
            text = text.replace(&from, &to);
        }
        std::fs::write(cfg.join("rajoints.json"), text).unwrap();
        Orthanc {
            child: None,
            dir: dir.to_path_buf(),
            http,
            dicom,
        }
    }

    fn start(&mut self) {
        assert!(self.child.is_none());
        const READY: &str = "rajoints: routing CR/DX hand radiographs";
        // The log is appended to across restarts: wait for this start's own line.
        let ready_before = self.log().matches(READY).count();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new("Orthanc")
            .arg(self.dir.join("config"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("Orthanc (Debian package `orthanc`) not runnable: run `make test`");
        self.child = Some(child);
        let t = Instant::now();
        loop {
            if matches!(try_http(self.http, "GET", "/system", ""), Ok((200, _))) {
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("Orthanc exited ({status}):\n{}", self.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "Orthanc did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Orthanc calls the script's Initialize() after its HTTP server answers,
        // so the script's first log line can come a moment after /system does.
        let t = Instant::now();
        while self.log().matches(READY).count() <= ready_before {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the Lua script did not initialise:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, as the service manager stops it: Orthanc saves its jobs and exits.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let t = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "Orthanc did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("orthanc.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http(self.http, "GET", path, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn post(&self, path: &str, body: &str) -> (u16, String) {
        http(self.http, "POST", path, body)
    }

    /// The series of the study, by modality: (modality, instance ids).
    fn series(&self) -> Vec<(String, Vec<String>)> {
        let all = self.get("/series?expand");
        all.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["MainDicomTags"]["Modality"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    s["Instances"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    }

    fn instances_of(&self, modality: &str) -> Vec<String> {
        self.series()
            .into_iter()
            .filter(|(m, _)| m == modality)
            .flat_map(|(_, i)| i)
            .collect()
    }

    /// Orthanc's C-STORE jobs to the node.
    fn routing_jobs(&self) -> Vec<Value> {
        let jobs = self.get("/jobs?expand");
        jobs.as_array()
            .unwrap()
            .iter()
            .filter(|j| {
                j["Type"] == "DicomModalityStore" && j["Content"]["RemoteAet"] == "RAJOINTS"
            })
            .cloned()
            .collect()
    }

    /// How many times the Lua script logged a failed routing job.
    fn routing_failures(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("rajoints: routing job") && l.contains("failed"))
            .count()
    }
}

fn storescu(port: u16, files: &[&Path]) {
    common::node::store_as_modality("ORTHANC", port, files);
}

/// The first result JSON in the node's results folder, once there is one.
fn first_json(results: &Path) -> Option<PathBuf> {
    std::fs::read_dir(results)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
}

/// Every value of `key` anywhere in a JSON tree.
fn values_of<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    out.push(x);
                }
                values_of(x, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| values_of(x, key, out)),
        _ => {}
    }
}

/// Waits for one SR and one PR in Orthanc, then checks they are in the hand's study and
/// reference the hand image; returns (sr id, pr id).
fn check_results_in_the_study(orthanc: &Orthanc, hand_id: &str) -> (String, String) {
    wait_for(
        "the SR and the GSPS in Orthanc",
        Duration::from_secs(120),
        || !orthanc.instances_of("SR").is_empty() && !orthanc.instances_of("PR").is_empty(),
    );
    let (sr, pr) = (orthanc.instances_of("SR"), orthanc.instances_of("PR"));
    assert_eq!((sr.len(), pr.len()), (1, 1), "{sr:?} {pr:?}");
    let study = |id: &str| {
        orthanc.get(&format!("/instances/{id}/study"))["MainDicomTags"]["StudyInstanceUID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let hand_study = study(hand_id);
    assert_eq!(study(&sr[0]), hand_study, "SR in another study");
    assert_eq!(study(&pr[0]), hand_study, "GSPS in another study");

    let sr_tags = orthanc.get(&format!("/instances/{}/tags?simplify", sr[0]));
    assert_eq!(sr_tags["SOPClassUID"], "1.2.840.10008.5.1.4.1.1.88.34");
    assert_eq!(sr_tags["Modality"], "SR");
    let evidence = &sr_tags["CurrentRequestedProcedureEvidenceSequence"][0];
    assert_eq!(evidence["StudyInstanceUID"], hand_study.as_str());
    assert_eq!(
        evidence["ReferencedSeriesSequence"][0]["ReferencedSOPSequence"][0]["ReferencedSOPInstanceUID"],
        HAND_UID
    );
    // The content tree: the image library entry and every joint's SCOORD point at the hand.
    let mut refs = Vec::new();
    values_of(
        &sr_tags["ContentSequence"],
        "ReferencedSOPInstanceUID",
        &mut refs,
    );
    assert!(refs.len() >= 2, "SR content references: {refs:?}");
    assert!(refs.iter().all(|r| *r == HAND_UID), "{refs:?}");
    let mut scoords = Vec::new();
    values_of(&sr_tags["ContentSequence"], "GraphicType", &mut scoords);
    assert!(!scoords.is_empty(), "no joint region in the SR");

    let pr_tags = orthanc.get(&format!("/instances/{}/tags?simplify", pr[0]));
    assert_eq!(pr_tags["SOPClassUID"], "1.2.840.10008.5.1.4.1.1.11.1");
    assert_eq!(
        pr_tags["ReferencedSeriesSequence"][0]["ReferencedImageSequence"][0]["ReferencedSOPInstanceUID"],
        HAND_UID
    );
    let mut refs = Vec::new();
    values_of(
        &pr_tags["GraphicAnnotationSequence"],
        "ReferencedSOPInstanceUID",
        &mut refs,
    );
    assert!(
        !refs.is_empty() && refs.iter().all(|r| *r == HAND_UID),
        "{refs:?}"
    );
    (sr[0].clone(), pr[0].clone())
}

/// The Orthanc id of the instance with `uid`.
fn orthanc_id(orthanc: &Orthanc, uid: &str) -> String {
    let (status, body) = orthanc.post(
        "/tools/lookup",
        uid, // Orthanc's lookup takes the bare UID as the body.
    );
    assert_eq!(status, 200, "{body}");
    let found: Value = serde_json::from_str(&body).unwrap();
    found
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Type"] == "Instance")
        .and_then(|r| r["ID"].as_str())
        .unwrap_or_else(|| panic!("{uid} not in Orthanc: {body}"))
        .to_string()
}

#[test]
fn hand_film_goes_to_the_node_and_its_sr_and_gsps_come_back_into_the_study() {
    let dir = tempfile::tempdir().unwrap();
    let (hand, chest) = (dir.path().join("hand.dcm"), dir.path().join("chest.dcm"));
    hand_film(&hand, HAND_UID);
    chest_film(&chest, "2.25.8002");
    let node_port = free_port();
    let mut orthanc = Orthanc::configure(&dir.path().join("orthanc"), node_port);
    let node = NodeProc::start(&dir.path().join("node"), node_port, orthanc.dicom);
    orthanc.start();

    // The administrator's checks from plugins/orthanc/README.md: C-ECHO both ways.
    let (status, body) = orthanc.post("/modalities/rajoints/echo", "{}");
    assert_eq!(status, 200, "Orthanc -> node C-ECHO: {body}");
    let echo = Command::new("echoscu")
        .args(["-aet", "RAJOINTS", "-aec", "ORTHANC", "127.0.0.1"])
        .arg(orthanc.dicom.to_string())
        .output()
        .unwrap();
    assert!(echo.status.success(), "node -> Orthanc C-ECHO");

    let t = Instant::now();
    storescu(orthanc.dicom, &[&hand, &chest]);
    let hand_id = orthanc_id(&orthanc, HAND_UID);
    check_results_in_the_study(&orthanc, &hand_id);
    eprintln!(
        "store into Orthanc -> SR and GSPS in Orthanc: {} ms",
        t.elapsed().as_millis()
    );

    // Exactly one routing job, for the hand only; the chest film, the SR and the GSPS were
    // never sent to the node.
    std::thread::sleep(Duration::from_secs(2));
    let jobs = orthanc.routing_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["State"], "Success");
    assert_eq!(
        jobs[0]["Content"]["ParentResources"],
        serde_json::json!([hand_id])
    );
    assert_eq!(node.counter("received"), 1);
    assert_eq!(
        node.counter("ignored"),
        0,
        "a non-hand instance reached the node"
    );
    assert_eq!(node.counter("sent"), 2);
    assert_eq!(orthanc.instances_of("CR").len(), 2);
}

#[test]
fn an_image_stored_while_the_node_is_down_reaches_it_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, HAND_UID);
    let node_port = free_port();
    let mut orthanc = Orthanc::configure(&dir.path().join("orthanc"), node_port);
    orthanc.start();
    storescu(orthanc.dicom, &[&hand]);
    // The routing job fails, is resubmitted in the background and fails again.
    wait_for(
        "two failed routing attempts",
        Duration::from_secs(60),
        || orthanc.routing_failures() >= 2,
    );
    let jobs = orthanc.routing_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let node = NodeProc::start(&dir.path().join("node"), node_port, orthanc.dicom);
    let hand_id = orthanc_id(&orthanc, HAND_UID);
    check_results_in_the_study(&orthanc, &hand_id);
    let jobs = orthanc.routing_jobs();
    assert_eq!(
        jobs.len(),
        1,
        "the failed job itself was resubmitted: {jobs:#?}"
    );
    assert_eq!(jobs[0]["State"], "Success");
    assert_eq!(node.counter("received"), 1);
}

#[test]
fn a_routing_job_failed_before_an_orthanc_restart_is_resubmitted_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let hand = dir.path().join("hand.dcm");
    hand_film(&hand, HAND_UID);
    let node_port = free_port();
    let mut orthanc = Orthanc::configure(&dir.path().join("orthanc"), node_port);
    orthanc.start();
    storescu(orthanc.dicom, &[&hand]);
    wait_for("a failed routing attempt", Duration::from_secs(60), || {
        orthanc.routing_failures() >= 1
    });
    // Orthanc goes down with the job failed (saved with its jobs), the node comes up, and
    // Orthanc comes back: the script resubmits the job at start-up.
    orthanc.stop();
    let node = NodeProc::start(&dir.path().join("node"), node_port, orthanc.dicom);
    orthanc.start();
    let hand_id = orthanc_id(&orthanc, HAND_UID);
    check_results_in_the_study(&orthanc, &hand_id);
    assert!(
        orthanc.log().contains("left failed before the restart"),
        "{}",
        orthanc.log()
    );
    assert_eq!(node.counter("received"), 1);
}

/// A harness film with its own study, a given Study Date and Patient ID; `side` "R-" or
/// "L-" paints that hand's joints only, "" both hands.
fn dated_film(path: &Path, uid: &str, study_uid: &str, date: &str, patient: &str, side: &str) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let (w, h, joints) = film(|id| if id.to_string() == "R-PIP2" { 1.0 } else { 0.5 });
    let mut squares: Vec<Square> = joints
        .iter()
        .filter(|j| j.0.to_string().starts_with(side))
        .map(|j| j.1)
        .collect();
    squares.push(Square {
        x: 0,
        y: 0,
        side: 2,
        value: 1.0,
    });
    CrImage::from_display(w, h, &paint(w, h, &squares)).write(path, uid);
    let mut obj = dicom_object::open_file(path).unwrap();
    for (tag, vr, v) in [
        (tags::STUDY_DATE, VR::DA, date),
        (tags::STUDY_INSTANCE_UID, VR::UI, study_uid),
        (tags::PATIENT_ID, VR::LO, patient),
    ] {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    }
    obj.write_to_file(path).unwrap();
}

/// The SRs in Orthanc of a patient, by Orthanc id.
fn srs_of(orthanc: &Orthanc, patient: &str) -> Vec<String> {
    orthanc
        .instances_of("SR")
        .into_iter()
        .filter(|id| {
            orthanc.get(&format!("/instances/{id}/simplified-tags"))["PatientID"] == patient
        })
        .collect()
}

/// dsrdump of an SR stored in Orthanc.
fn dump_sr_in_orthanc(orthanc: &Orthanc, id: &str, dir: &Path) -> String {
    let (status, _) = http(orthanc.http, "GET", &format!("/instances/{id}"), "");
    assert_eq!(status, 200);
    let mut stream = TcpStream::connect(("127.0.0.1", orthanc.http)).unwrap();
    write!(
        stream,
        "GET /instances/{id}/file HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).unwrap();
    let at = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP header")
        + 4;
    let path = dir.join(format!("{id}.sr.dcm"));
    std::fs::write(&path, &buf[at..]).unwrap();
    let out = Command::new("dsrdump")
        .arg("+Pl")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Issue 19 with the archive: T0 goes through Orthanc to the node and its SR back into
/// Orthanc; the node's data folder is emptied; T1's SR states the change against T0, the
/// prior retrieved from Orthanc by C-FIND and C-GET. Then, Orthanc stopped, a node with a
/// fresh data folder still writes T1's result, saying why it has no comparison.
#[test]
fn the_prior_comes_from_orthanc_when_the_node_has_none_and_orthanc_down_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let (t0, t1) = (dir.path().join("t0.dcm"), dir.path().join("t1.dcm"));
    dated_film(&t0, "2.25.8201", "2.25.8200", "20250101", "PHANTOM-1", "");
    dated_film(&t1, "2.25.8211", "2.25.8210", "20260101", "PHANTOM-1", "");
    // A second patient: the left hand at T0, the right hand at T1.
    let (l0, r1) = (dir.path().join("l0.dcm"), dir.path().join("r1.dcm"));
    dated_film(&l0, "2.25.8301", "2.25.8300", "20250101", "PHANTOM-2", "L-");
    dated_film(&r1, "2.25.8311", "2.25.8310", "20260101", "PHANTOM-2", "R-");
    let node_port = free_port();
    // The node may query and retrieve (the shipped snippet allows C-ECHO and C-STORE).
    let mut orthanc = Orthanc::configure_with(
        &dir.path().join("orthanc"),
        node_port,
        &[
            ("\"AllowFind\" : false", "\"AllowFind\" : true"),
            ("\"AllowGet\" : false", "\"AllowGet\" : true"),
        ],
    );
    let archive = vec![format!(
        "node.prior_archive=ORTHANC@127.0.0.1:{}",
        orthanc.dicom
    )];
    let data = dir.path().join("node");
    let node = NodeProc::start_with(&data, node_port, Some(orthanc.dicom), &archive);
    orthanc.start();

    // T0: no prior anywhere.
    storescu(orthanc.dicom, &[&t0, &l0]);
    wait_for("the T0 SRs in Orthanc", Duration::from_secs(120), || {
        orthanc.instances_of("SR").len() == 2
    });
    let sr0 = srs_of(&orthanc, "PHANTOM-1")[0].clone();
    let d0 = dump_sr_in_orthanc(&orthanc, &sr0, dir.path());
    assert!(
        d0.contains("no earlier result of this patient, of this hand (in the node's index or the archive ORTHANC)"),
        "{d0}"
    );

    // The node's data folder emptied: its index knows nothing of T0.
    drop(node);
    std::fs::remove_dir_all(&data).unwrap();
    let node = NodeProc::start_with(&data, node_port, Some(orthanc.dicom), &archive);
    storescu(orthanc.dicom, &[&t1, &r1]);
    wait_for("the T1 SRs in Orthanc", Duration::from_secs(120), || {
        orthanc.instances_of("SR").len() == 4
    });
    let sr1 = srs_of(&orthanc, "PHANTOM-1")
        .into_iter()
        .find(|i| *i != sr0)
        .unwrap();
    // The second patient's archived SR is of the other hand: not a prior.
    let srs2 = srs_of(&orthanc, "PHANTOM-2");
    assert_eq!(srs2.len(), 2);
    let dumps2: Vec<String> = srs2
        .iter()
        .map(|id| dump_sr_in_orthanc(&orthanc, id, dir.path()))
        .collect();
    for d in &dumps2 {
        assert!(
            d.contains("no earlier result of this patient, of this hand (in the node's index or the archive ORTHANC)"),
            "{d}"
        );
        assert!(!d.contains("since 2025-01-01"), "{d}");
    }
    let d1 = dump_sr_in_orthanc(&orthanc, &sr1, dir.path());
    assert!(d1.contains("since 2025-01-01 (365 days)"), "{d1}");
    assert!(d1.contains("\"Prior study date\")=\"20250101\""), "{d1}");
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("prior from the archive"), "{log}");
    assert_eq!(log.matches("prior from the archive").count(), 1, "{log}");
    // Retrieved, read, and refused: the other hand's.
    assert_eq!(
        log.matches("an archived SR is not a prior").count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("PHANTOM-1") && !log.contains("PHANTOM-2"),
        "patient data in the log"
    );
    // Nothing of the retrieval is left behind.
    let left: Vec<_> = std::fs::read_dir(data.join("priors/.archive"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    drop(node);

    // Orthanc down at the query: the result still comes out, and says why.
    orthanc.stop();
    let fresh = dir.path().join("node-fresh");
    let port = free_port();
    let node = NodeProc::start_with(&fresh, port, None, &archive);
    common::node::store_as_modality("RAJOINTS", port, &[&t1]);
    let results = fresh.join("results");
    let json_of = || first_json(&results);
    wait_for(
        "the T1 JSON in the results folder",
        Duration::from_secs(120),
        || json_of().is_some(),
    );
    let v: Value = serde_json::from_slice(&std::fs::read(json_of().unwrap()).unwrap()).unwrap();
    assert_eq!(v["change"]["compared"], false, "{v:#}");
    let why = v["change"]["not_compared_reason"].as_str().unwrap_or("");
    assert!(
        why.starts_with(&format!(
            "the archive ORTHANC@127.0.0.1:{} could not be asked for an earlier result",
            orthanc.dicom
        )),
        "{why}"
    );
    wait_for(
        "the T1 SR in the results folder",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(&results)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().to_string_lossy().ends_with(".sr.dcm"))
                })
                .unwrap_or(false)
        },
    );
    assert_eq!(node.counter("analysed"), 1);
    // The SR says it too, and stays valid.
    let sr = std::fs::read_dir(&results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".sr.dcm"))
        .unwrap();
    let dump = Command::new("dsrdump")
        .arg("+Pl")
        .arg(&sr)
        .output()
        .unwrap();
    assert!(dump.status.success() && dump.stderr.is_empty());
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("could not be asked for an earlier result"),
        "{dump}"
    );
    assert_eq!(common::dciodvfy_errors(&sr), Vec::<String>::new());
    eprintln!("T1 without the archive: {why}");
}

/// Issue 19 with the shipped detectors on a phantom patient with progression (seed 7,
/// as tests/analyze.rs): T0 goes through Orthanc to the node, its SR back into Orthanc; a
/// second node with a fresh data folder gets T1, retrieves the T0 SR from Orthanc, and
/// reports exactly the ground truth's changes.
#[test]
fn a_phantom_pairs_change_against_the_prior_from_orthanc_is_the_ground_truths() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::progression_pair(&dir.path().join("phantom"));

    let node_port = free_port();
    let mut orthanc = Orthanc::configure_with(
        &dir.path().join("orthanc"),
        node_port,
        &[
            ("\"AllowFind\" : false", "\"AllowFind\" : true"),
            ("\"AllowGet\" : false", "\"AllowGet\" : true"),
        ],
    );
    let repo = common::repo();
    let sets = vec![
        format!(
            "models.ankylosis={}",
            repo.join("models/ankylosis.toml").display()
        ),
        format!(
            "models.subluxation={}",
            repo.join("models/subluxation.toml").display()
        ),
        format!("node.prior_archive=ORTHANC@127.0.0.1:{}", orthanc.dicom),
    ];
    let node = NodeProc::start_with(
        &dir.path().join("node"),
        node_port,
        Some(orthanc.dicom),
        &sets,
    );
    orthanc.start();
    storescu(orthanc.dicom, &[&pair.t0]);
    wait_for("the T0 SR in Orthanc", Duration::from_secs(120), || {
        orthanc.instances_of("SR").len() == 1
    });
    drop(node);

    // A second node, its data folder fresh, its results in the results folder.
    let fresh = dir.path().join("node-fresh");
    let port = free_port();
    let _node = NodeProc::start_with(&fresh, port, None, &sets);
    common::node::store_as_modality("RAJOINTS", port, &[&pair.t1]);
    let results = fresh.join("results");
    let json_of = || first_json(&results);
    wait_for("the T1 JSON", Duration::from_secs(120), || {
        json_of().is_some()
    });
    let v: Value = serde_json::from_slice(&std::fs::read(json_of().unwrap()).unwrap()).unwrap();
    let c = &v["change"];
    assert_eq!(c["compared"], true, "{c:#}");
    assert_eq!(
        c["prior"]["file"],
        format!("archive ORTHANC@127.0.0.1:{}", orthanc.dicom)
    );
    assert!(c["interval_days"].as_i64().is_some_and(|d| d > 0), "{c:#}");
    let with = |status: &str| -> Vec<(String, String)> {
        c["joints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["status"] == status && !j["finding"].is_null())
            .map(|j| {
                (
                    j["joint"].as_str().unwrap().to_string(),
                    j["finding"].as_str().unwrap().to_string(),
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(with("new"), pair.new);
    assert_eq!(with("unchanged_present"), pair.same);
    assert_eq!(with("absent_now_present_before"), Vec::new());
    eprintln!(
        "prior from Orthanc, {} days: new {:?}, unchanged present {:?}",
        c["interval_days"], pair.new, pair.same
    );
}
