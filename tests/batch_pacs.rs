//! `rajoints batch --query` (issue 20, PACS input) against a real Orthanc (Debian's
//! `orthanc`, a plain process on free loopback ports, as in tests/orthanc.rs): C-FIND by
//! date range, modality and body part, C-GET of each shard's instances, the same
//! per-film path as folder input; a rerun retrieves nothing; a PACS that is down is a
//! clear error and exit status 2.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::batch::{batch_changes, model_flags, read, run_ok};
use common::node::free_port;
use common::rajoints;
use rajoints::batch::Shard;
use rajoints::spool::key_for;

const CHEST_UID: &str = "2.25.424242424242";
const CALLING_AE: &str = "RAJOINTS-BATCH";

fn summary(out: &Path, i: usize) -> serde_json::Value {
    serde_json::from_str(&read(
        &out.join(format!("shards/shard-{i}-of-3/summary.json")),
    ))
    .unwrap()
}

/// The SOP Instance UIDs of a table.
fn uids(table: &str) -> BTreeSet<String> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .collect()
}

/// Orthanc with a test configuration: loopback HTTP only, the batch's calling AE known
/// as a modality (Orthanc answers C-FIND and C-GET only to known modalities).
struct Orthanc {
    child: Option<Child>,
    dir: PathBuf,
    http: u16,
    dicom: u16,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Orthanc {
    fn start(dir: &Path) -> Orthanc {
        let (http, dicom) = (free_port(), free_port());
        let cfg = dir.join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        let storage = dir.join("storage");
        let base = serde_json::json!({
            "Name": "rajoints-batch-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": http,
            "DicomPort": dicom,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "Plugins": [],
            "DicomModalities": { "rajoints": [CALLING_AE, "127.0.0.1", 104] },
        });
        std::fs::write(cfg.join("base.json"), base.to_string()).unwrap();
        let log = std::fs::File::create(dir.join("orthanc.log")).unwrap();
        let child = Command::new("Orthanc")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("Orthanc (Debian package `orthanc`) not runnable: run `make test`");
        let mut o = Orthanc {
            child: Some(child),
            dir: dir.to_path_buf(),
            http,
            dicom,
        };
        let t = Instant::now();
        while !o.http_ok() {
            if let Some(st) = o.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("Orthanc exited ({st}):\n{}", o.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "Orthanc did not start:\n{}",
                o.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        o
    }

    fn http_ok(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.http)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if write!(
            s,
            "GET /system HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .is_err()
        {
            return false;
        }
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).is_ok() && line.contains(" 200 ")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("orthanc.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn query_cmd(port: u16, out: &Path, shard: usize) -> Command {
    query_as(CALLING_AE, port, out, shard)
}

fn query_as(calling_ae: &str, port: u16, out: &Path, shard: usize) -> Command {
    let mut cmd = rajoints(&["batch", "--query"]);
    cmd.arg(format!("ORTHANC@127.0.0.1:{port}"))
        .args(["--from", "19000101", "--to", "29991231"])
        .args(["--modality", "CR,DX", "--body-part", "HAND"])
        .args(["--calling-ae", calling_ae, "--pacs-timeout", "10"])
        .args(["--shard", &format!("{shard}/3")])
        .arg("--out")
        .arg(out)
        .args(model_flags());
    cmd
}

#[test]
fn query_shards_retrieve_each_hand_film_once_and_match_folder_input() {
    let tmp = tempfile::tempdir().unwrap();
    let ph = tmp.path().join("ph");
    run_ok(rajoints(&["phantom", "--preset", "paper", "--count", "6", "--out"]).arg(&ph));
    let images = ph.join("images");
    let mut films: Vec<PathBuf> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    films.sort();
    assert_eq!(films.len(), 6);
    // A non-hand instance: a copy of a film as a chest, its own series and instance.
    let chest = tmp.path().join("chest.dcm");
    std::fs::copy(&films[0], &chest).unwrap();
    let st = Command::new("dcmodify")
        .args(["-nb", "-m", "(0018,0015)=CHEST", "-m"])
        .arg(format!("(0008,0018)={CHEST_UID}"))
        .args(["-m", "(0020,000e)=2.25.424242424243"])
        .arg(&chest)
        .status()
        .expect("dcmodify (DCMTK): run `make deps`");
    assert!(st.success());

    // The reference: folder input over the same 6 films.
    let reference = tmp.path().join("ref");
    run_ok(
        rajoints(&["batch"])
            .arg(&images)
            .arg("--out")
            .arg(&reference)
            .args(model_flags()),
    );
    let table = read(&reference.join("shards/shard-0-of-1/table.csv"));
    assert_eq!(uids(&table).len(), 6);

    let mut orthanc = Orthanc::start(&tmp.path().join("orthanc"));
    let mut all = films.clone();
    all.push(chest);
    common::node::store_as_modality("ORTHANC", orthanc.dicom, &all);

    let out = tmp.path().join("out");
    let mut seen = BTreeSet::new();
    let (mut analysed, mut retrieved, mut priors) = (0, 0, 0);
    for i in 0..3 {
        let o = run_ok(&mut query_cmd(orthanc.dicom, &out, i));
        let log = String::from_utf8_lossy(&o.stderr);
        // The C-FIND matches the 6 hand films, not the chest.
        assert!(log.contains(" of 6 instances matched on ORTHANC@"), "{log}");
        let s = summary(&out, i);
        assert_eq!(s["failed"].as_u64(), Some(0), "{s}");
        // A shard may analyse another's film first, as the prior of one of its own.
        priors += s["priors_analysed"].as_u64().unwrap();
        analysed += s["analysed"].as_u64().unwrap() + s["priors_analysed"].as_u64().unwrap();
        retrieved += s["retrieved"].as_u64().unwrap();
        let t = read(&out.join(format!("shards/shard-{i}-of-3/table.csv")));
        for uid in uids(&t) {
            assert!(seen.insert(uid.clone()), "{uid} in two shards");
        }
    }
    assert_eq!((analysed, retrieved), (6, 6), "every hand film once");
    // The default seed's UIDs put a T1 film in shard 0 and its T0 in another shard, so
    // shard 0 retrieved and analysed that T0 itself, as its prior.
    assert!(priors >= 1, "no prior from another shard");
    assert_eq!(seen, uids(&table));
    assert!(!seen.contains(CHEST_UID), "the chest was analysed");
    // The cache is emptied as films are done; its files are named by key only.
    let left: Vec<_> = std::fs::read_dir(out.join("retrieved/shard-0-of-3"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let merged = tmp.path().join("merged.csv");
    run_ok(
        rajoints(&["batch", "merge"])
            .arg(&out)
            .arg("--out")
            .arg(&merged),
    );
    assert_eq!(read(&merged), table, "the merge = the folder-input table");
    // The comparisons too: the C-FIND's Patient IDs and Study Dates give the same priors
    // as the files' headers (without them every film would say it has no Patient ID).
    assert_eq!(batch_changes(&out), batch_changes(&reference));

    // A rerun retrieves nothing and analyses nothing.
    for i in 0..3 {
        run_ok(&mut query_cmd(orthanc.dicom, &out, i));
        let s = summary(&out, i);
        assert_eq!(
            (s["retrieved"].as_u64(), s["analysed"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
    }
    run_ok(
        rajoints(&["batch", "merge"])
            .arg(&out)
            .arg("--out")
            .arg(&merged),
    );
    assert_eq!(read(&merged), table);

    // An instance whose retrieval fails (its cache path is taken by a folder, so the
    // C-STORE sub-operation is answered with a failure) is listed in the shard's
    // failures, the shard goes on (exit status 1) and the next run retrieves it.
    let victim = uids(&table).into_iter().next().unwrap();
    let shard = (0..3)
        .find(|&i| Shard::new(i, 3).unwrap().contains(&victim))
        .unwrap();
    let out2 = tmp.path().join("out2");
    let blocker = out2
        .join(format!("retrieved/shard-{shard}-of-3"))
        .join(format!("{}.dcm", key_for(&victim)));
    std::fs::create_dir_all(&blocker).unwrap();
    let o = query_cmd(orthanc.dicom, &out2, shard as usize)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let failures = read(&out2.join(format!("shards/shard-{shard}-of-3/failures.csv")));
    eprintln!("{err}{failures}");
    assert!(failures.contains(&key_for(&victim)), "{failures}");
    let s = summary(&out2, shard as usize);
    let mine = s["films"].as_u64().unwrap();
    assert_eq!(s["failed"].as_u64(), Some(1), "{s}");
    assert_eq!(
        s["analysed"].as_u64(),
        Some(mine),
        "the others analysed: {s}"
    );
    std::fs::remove_dir(&blocker).unwrap();
    run_ok(&mut query_cmd(orthanc.dicom, &out2, shard as usize));
    let s = summary(&out2, shard as usize);
    assert_eq!(
        (
            s["retrieved"].as_u64(),
            s["analysed"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{s}"
    );

    // A calling AE title the PACS does not know: refused, exit status 2.
    let o = query_as("STRANGER", orthanc.dicom, &tmp.path().join("stranger"), 0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("as STRANGER failed") && err.contains("--calling-ae"),
        "{err}"
    );

    // Orthanc down: a clear error, exit status 2, no table written.
    orthanc.stop();
    let down = tmp.path().join("down");
    let o = query_cmd(orthanc.dicom, &down, 0).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("could not associate with the PACS ORTHANC@127.0.0.1"),
        "{err}"
    );
    assert!(!down.join("shards/shard-0-of-3/table.csv").exists());
}
