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
        let (a, s) = common::test_models();
        let mut cmd = common::rajoints(&["serve", "--http", "127.0.0.1:0"]);
        cmd.args(["--listen", &format!("127.0.0.1:{port}")]);
        cmd.arg("--data-dir").arg(data);
        cmd.args([
            "--destination",
            &format!("ORTHANC@127.0.0.1:{orthanc_dicom}"),
        ]);
        cmd.args(["--set", &format!("models.ankylosis={}", a.display())]);
        cmd.args(["--set", &format!("models.subluxation={}", s.display())]);
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
        ] {
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
    let out = Command::new("storescu")
        .args([
            "-aet",
            "MODALITY",
            "-aec",
            "ORTHANC",
            "127.0.0.1",
            &port.to_string(),
        ])
        .args(files)
        .output()
        .expect("storescu (DCMTK) not runnable: run `make test`");
    assert!(
        out.status.success(),
        "storescu into Orthanc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
