//! A running `rajoints serve` and DCMTK peers on loopback, shared by the node,
//! reliability and Orthanc tests.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextResultReason};
use dicom_ul::{ClientAssociationOptions, Pdu};

use super::{CrImage, Square, film, paint};

/// A free TCP port on loopback (bound, then released for the tool to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running node; killed on drop.
pub struct NodeProc {
    pub child: Child,
    pub port: u16,
    pub http: u16,
    pub stderr: PathBuf,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProc {
    pub fn start(data: &Path, destinations: &[String], extra: &[&str]) -> NodeProc {
        NodeProc::start_with_env(data, destinations, extra, &[])
    }

    /// As [`NodeProc::start`], with environment variables (the crash-point hook).
    pub fn start_with_env(
        data: &Path,
        destinations: &[String],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> NodeProc {
        let (a, s) = super::test_models();
        let stderr = data.with_extension(format!("log{}", free_port()));
        let mut cmd =
            super::rajoints(&["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
        cmd.arg("--data-dir").arg(data);
        for d in destinations {
            cmd.args(["--destination", d]);
        }
        cmd.args(["--set", &format!("models.ankylosis={}", a.display())]);
        cmd.args(["--set", &format!("models.subluxation={}", s.display())]);
        cmd.args([
            "--set",
            "node.sender.retry_initial_s=0.2",
            "--set",
            "node.sender.retry_max_s=0.5",
        ]);
        cmd.args(extra);
        cmd.envs(env.iter().copied());
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd.spawn().expect("start rajoints serve");
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert!(
            line.starts_with("listening"),
            "node did not start: {line}\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        let port_of = |key: &str| -> u16 {
            let v = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap();
            v.rsplit(':').next().unwrap().trim().parse().unwrap()
        };
        NodeProc {
            port: port_of("dicom="),
            http: port_of("http="),
            child,
            stderr,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        super::http::request(self.http, "GET", "/metrics", &[], b"").text()
    }

    pub fn counter(&self, name: &str) -> u64 {
        let m = self.metrics();
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("rajoints_{name}_total ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no counter {name} in\n{m}"))
    }

    /// Peak resident memory of the node process so far (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the node process used so far (user + system), seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        ticks / 100.0
    }

    /// Waits for the process to end on its own; its exit status, or None on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if t.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn sigkill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DCMTK storescp writing into `dir`; killed on drop.
pub struct StoreScp(pub Child);

impl Drop for StoreScp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn storescp(dir: &Path, port: u16) -> StoreScp {
    storescp_with(dir, port, &[])
}

/// DCMTK storescp as AE DEST writing into `dir`, with more options (`-uf`: unique file
/// names, so that a result delivered twice shows as two files).
pub fn storescp_with(dir: &Path, port: u16, options: &[&str]) -> StoreScp {
    std::fs::create_dir_all(dir).unwrap();
    let child = Command::new("storescp")
        .args(["-aet", "DEST", "+xa"])
        .args(options)
        .arg("-od")
        .arg(dir)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("storescp (DCMTK) not runnable: run `make test`");
    // Wait until it accepts connections.
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "storescp did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    StoreScp(child)
}

pub fn storescu(port: u16, files: &[&Path]) -> std::process::Output {
    Command::new("storescu")
        .args(["-aec", "RAJOINTS", "127.0.0.1", &port.to_string()])
        .args(files)
        .output()
        .expect("storescu (DCMTK) not runnable: run `make test`")
}

/// DCMTK's storescu as a modality (`MODALITY`) sending `files` to the AE `called` on
/// `port`, which must accept every one.
pub fn store_as_modality<P: AsRef<std::ffi::OsStr>>(called: &str, port: u16, files: &[P]) {
    let out = Command::new("storescu")
        .args(["-aet", "MODALITY", "-aec", called, "127.0.0.1"])
        .arg(port.to_string())
        .args(files)
        .output()
        .expect("storescu (DCMTK) not runnable: run `make test`");
    assert!(
        out.status.success(),
        "storescu into {called}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Files storescp wrote, by prefix: `SR` (Comprehensive SR) or `PS` (presentation state).
pub fn received(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix));
    v.sort();
    v
}

pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A hand film with 20 square joints, written as CR with the given SOP Instance UID.
pub fn hand_film(path: &Path, uid: &str) {
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

/// C-STORE of `data` (a data set in `ts`) on a presentation context for
/// `abstract_syntax`, the command naming `command_class`; the response's status and Error
/// Comment. Sent with dicom-ul, which sends what DCMTK refuses to (broken data sets,
/// commands that do not match their context).
pub fn raw_store(
    port: u16,
    abstract_syntax: &str,
    ts: &str,
    command_class: &str,
    uid: &str,
    data: &[u8],
) -> (u16, Option<String>) {
    let mut assoc = ClientAssociationOptions::new()
        .calling_ae_title("RAW")
        .called_ae_title("RAJOINTS")
        .with_presentation_context(abstract_syntax, vec![ts])
        .establish(("127.0.0.1", port))
        .expect("associate");
    let pc = assoc
        .presentation_contexts()
        .iter()
        .find(|p| p.reason == PresentationContextResultReason::Acceptance)
        .expect("presentation context accepted")
        .id;
    let cmd = rajoints::node::dimse::store_request(1, command_class, uid).unwrap();
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd,
            }],
        })
        .unwrap();
    // Fragments that fit the node's max PDU (PDU and PDV headers: 12 bytes).
    let max = assoc.acceptor_max_pdu_length() as usize - 12;
    let mut chunks = data.chunks(max).peekable();
    while let Some(c) = chunks.next() {
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Data,
                    is_last: chunks.peek().is_none(),
                    data: c.to_vec(),
                }],
            })
            .unwrap();
    }
    let rsp = match assoc.receive().expect("C-STORE-RSP") {
        Pdu::PData { data } => data.into_iter().flat_map(|v| v.data).collect::<Vec<u8>>(),
        other => panic!("unexpected {other:?}"),
    };
    let _ = assoc.release();
    rajoints::node::dimse::response_status(&rsp).unwrap()
}
