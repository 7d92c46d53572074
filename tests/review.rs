//! The review UI against real components on loopback: `rajoints serve` with its HTTP port,
//! headless Chromium (Debian) driven by Selenium through chromedriver
//! (`tests/review_browser.py`), DCMTK storescp as the destination of the VERIFIED SR,
//! dciodvfy and highdicom reading it, and the training recipe fine-tuning on the export.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{self, Client, request};
use common::node::{NodeProc, free_port, hand_film, received, storescp, storescu, wait_for};
use common::{rajoints, repo};
use dicom_dictionary_std::tags;
use serde_json::{Value, json};

/// Adds an account with `rajoints users add` (password on standard input).
fn add_user(data: &Path, name: &str, role: &str, full_name: Option<&str>, password: &str) {
    let mut cmd = rajoints(&["users", "add", name, "--role", role]);
    cmd.arg("--data-dir").arg(data);
    if let Some(n) = full_name {
        cmd.args(["--full-name", n]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "users add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The films kept for review, by id.
fn review_ids(data: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data.join("review"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("film.json").is_file())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn audit_lines(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn text_of(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

fn venv_python() -> PathBuf {
    let py = repo().join(".venv/bin/python");
    assert!(py.is_file(), "{} missing: run `make test`", py.display());
    py
}

/// A reviewer, in Chromium, moves a box, toggles ankylosis, deletes and redraws a joint,
/// saves and signs off one phantom film, then accepts and signs off the others. The
/// annotation file, the audit log and the VERIFIED SRs at the storescp are checked; the
/// set is exported and fine-tuned from the shipped detectors, and the node loads the result.
#[test]
fn a_reviewer_corrects_and_signs_off_in_chromium_and_the_set_fine_tunes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let phantoms = dir.path().join("phantoms");
    // Two patients at two time points, as real films: the shipped detectors and the gate.
    let films = common::phantom_films(&phantoms, &["--count", "4", "--seed", "41"]);
    assert_eq!(films.len(), 4);

    add_user(&data, "rev", "reviewer", Some("Doe^Rev"), "reviewer-pass");
    let dest_port = free_port();
    let dest = dir.path().join("dest");
    let _scp = storescp(&dest, dest_port);
    let shipped = |f: &str| repo().join("models").join(f).display().to_string();
    let node = NodeProc::start(
        &data,
        &[format!("DEST@127.0.0.1:{dest_port}")],
        &[
            "--set",
            &format!("models.ankylosis={}", shipped("ankylosis.toml")),
            "--set",
            &format!("models.subluxation={}", shipped("subluxation.toml")),
            "--set",
            "pipeline.quality_gate=true",
            "--set",
            "pipeline.default_view=dorsal",
            "--set",
            "review.organization=Test Hospital",
        ],
    );
    let refs: Vec<&Path> = films.iter().map(PathBuf::as_path).collect();
    let out = storescu(node.port, &refs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("4 films kept for review", Duration::from_secs(300), || {
        review_ids(&data).len() == 4
    });
    wait_for("the node's 4 SRs", Duration::from_secs(60), || {
        received(&dest, "SR").len() == 4
    });
    let ids = review_ids(&data);

    // The browser session. Screenshots go to RAJOINTS_SCREENSHOTS (docs/img for the
    // README) or the temporary folder.
    let shots = std::env::var_os("RAJOINTS_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("shots"));
    std::fs::create_dir_all(&shots).unwrap();
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo().join("tests/review_browser.py"))
        .args(["--url", &format!("http://127.0.0.1:{}", node.http)])
        .args(["--user", "rev", "--password", "reviewer-pass"])
        .args(["--film", &ids[0]])
        .arg("--screenshots")
        .arg(&shots);
    for id in &ids[1..] {
        cmd.args(["--accept", id]);
    }
    let out = cmd.output().expect("run tests/review_browser.py");
    assert!(
        out.status.success(),
        "browser session failed (Chromium and chromedriver come with `make test`):\n{}\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
    let session: Value = serde_json::from_slice(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();

    // The annotation file is what the browser showed at sign-off.
    let ann = read_json(&data.join(format!("review/{}/annotations/rev.json", ids[0])));
    assert_eq!(ann["format"], "rajoints-annotations/1");
    let img = &ann["images"][0];
    assert_eq!(img["annotator"], "rev");
    assert_eq!(img["status"], "signed");
    assert!(img["time"].as_str().unwrap().ends_with('Z'));
    let saved: Vec<&Value> = img["joints"].as_array().unwrap().iter().collect();
    let shown = session["final_boxes"].as_array().unwrap();
    assert_eq!(saved.len(), shown.len());
    for b in shown {
        let s = saved
            .iter()
            .find(|j| j["joint"] == b["joint"])
            .unwrap_or_else(|| panic!("{} not saved", b["joint"]));
        for k in 0..4 {
            let (x, y) = (s["box"][k].as_f64().unwrap(), b["box"][k].as_f64().unwrap());
            assert!((x - y).abs() < 0.02, "{}: saved {x}, shown {y}", b["joint"]);
        }
        assert_eq!(s["ankylosis"], b["ankylosis"], "{}", b["joint"]);
        assert_eq!(s["subluxation"], b["subluxation"], "{}", b["joint"]);
    }
    let moved = session["moved"].as_str().unwrap();
    let m = saved.iter().find(|j| j["joint"] == moved).unwrap();
    assert!(m["box"][0].as_f64().unwrap() > session["x0_before"].as_f64().unwrap() + 5.0);
    assert_eq!(m["ankylosis"], session["ankylosis"]);
    assert!(saved.iter().any(|j| j["joint"] == session["added"]));

    // The audit log names the reviewer, the changes and the sign-offs.
    let audit = audit_lines(&data);
    let by = |action: &str| -> Vec<&Value> {
        audit
            .iter()
            .filter(|e| e["action"] == action && e["user"] == "rev")
            .collect()
    };
    assert!(!by("login").is_empty());
    assert_eq!(by("sign_off").len(), 4);
    let edits: Vec<&Value> = by("save")
        .iter()
        .filter(|e| e["film"] == ids[0].as_str())
        .flat_map(|e| e["detail"]["edits"].as_array().unwrap())
        .collect();
    assert!(
        edits
            .iter()
            .any(|e| e["change"] == "box" && e["joint"] == moved),
        "{edits:?}"
    );
    assert!(
        edits
            .iter()
            .any(|e| e["change"] == "ankylosis" && e["joint"] == moved),
        "{edits:?}"
    );
    // The deleted joint was drawn again elsewhere: the audit sees its box move.
    assert!(
        edits
            .iter()
            .any(|e| e["change"] == "box" && e["joint"] == session["added"]),
        "{edits:?}"
    );

    // The VERIFIED SRs at the destination: dciodvfy, dsrdump, highdicom.
    wait_for(
        "4 verified SRs at the storescp",
        Duration::from_secs(60),
        || received(&dest, "SR").len() == 8,
    );
    let film0 = read_json(&data.join(format!("review/{}/film.json", ids[0])));
    let ai_sr = film0["ai_sr"]["sop_instance_uid"].as_str().unwrap();
    let verified_uid = img["verified_sr"].as_str().unwrap();
    let sr_path = received(&dest, "SR")
        .into_iter()
        .find(|p| {
            let o = dicom_object::open_file(p).unwrap();
            text_of(&o, tags::SOP_INSTANCE_UID) == verified_uid
        })
        .expect("the verified SR of the corrected film");
    let sr = dicom_object::open_file(&sr_path).unwrap();
    assert_eq!(text_of(&sr, tags::VERIFICATION_FLAG), "VERIFIED");
    let errors = common::dciodvfy_errors(&sr_path);
    assert!(errors.is_empty(), "dciodvfy: {errors:?}");
    let source_uid = {
        let o = dicom_object::open_file(data.join(format!("review/{}/image.dcm", ids[0]))).unwrap();
        text_of(&o, tags::SOP_INSTANCE_UID)
    };
    let label = |present: &Value| json!({"present": present, "probability": 0.0});
    let joints: Vec<Value> = saved
        .iter()
        .map(|j| {
            json!({
                "id": j["joint"],
                "box": j["box"],
                "ankylosis": label(&j["ankylosis"]),
                "subluxation": if j["subluxation"].is_null() { Value::Null } else { label(&j["subluxation"]) },
            })
        })
        .collect();
    let expected = dir.path().join("verified.json");
    std::fs::write(
        &expected,
        json!({
            "source": {"sop_instance_uid": source_uid},
            "joints": joints,
            "verified": {"observer": "Doe^Rev", "organization": "Test Hospital", "predecessor": ai_sr},
        })
        .to_string(),
    )
    .unwrap();
    common::check_sr(&sr_path, &expected);

    // Export: four signed films of two patients, patient-level folds.
    let set = dir.path().join("set");
    let out = rajoints(&["annotations", "export"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&set)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = read_json(&set.join("annotations.json"));
    let images = exported["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    for i in images {
        assert!(set.join(i["file"].as_str().unwrap()).is_file());
        assert!(!i["sop_instance_uid"].as_str().unwrap().is_empty());
    }
    let patients: std::collections::BTreeSet<&str> = images
        .iter()
        .map(|i| i["patient_id"].as_str().unwrap())
        .collect();
    assert_eq!(patients.len(), 2);
    assert!(images.iter().any(|i| i["timepoint"] == 1));
    let folds = read_json(&set.join("folds.json"));
    assert_eq!(folds["folds"].as_array().unwrap().len(), 2);
    let first = images
        .iter()
        .find(|i| i["file"] == format!("images/{}.dcm", ids[0]).as_str())
        .unwrap();
    assert_eq!(first["joints"], img["joints"]);

    // Fine-tune both detectors from the shipped weights (two iterations: the chain, not
    // the model), and the node loads the site's models by manifest.
    let site = dir.path().join("site-models");
    let out = Command::new(venv_python())
        .arg(repo().join("models/training/adapt.py"))
        .arg("--dataset")
        .arg(&set)
        .arg("--out")
        .arg(&site)
        .args(["--max-iters", "2", "--version", "site-test"])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "adapt.py:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let analysed = dir.path().join("analysed");
    let out = rajoints(&["analyze"])
        .arg(&films[0])
        .arg("--out")
        .arg(&analysed)
        .arg("--ankylosis-model")
        .arg(site.join("ankylosis.toml"))
        .arg("--subluxation-model")
        .arg(site.join("subluxation.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stem = films[0].file_stem().unwrap().to_string_lossy().to_string();
    let result = read_json(&analysed.join(format!("{stem}.json")));
    assert_eq!(result["models"]["ankylosis"]["version"], "site-test");
}

/// A node with the square test film, two annotators and a reviewer.
fn review_node(data: &Path) -> (NodeProc, String) {
    add_user(data, "ann1", "annotator", None, "annotator-one");
    add_user(data, "ann2", "annotator", None, "annotator-two");
    add_user(data, "boss", "admin", None, "admin-password");
    let node = NodeProc::start(data, &[], &[]);
    let film = data.with_extension("film.dcm");
    hand_film(&film, "2.25.99001");
    let out = storescu(node.port, &[&film]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the film kept for review", Duration::from_secs(120), || {
        review_ids(data).len() == 1
    });
    let id = review_ids(data).remove(0);
    (node, id)
}

fn one_joint(x0: f64, ankylosis: bool) -> Value {
    json!({"assessable": true, "joints": [
        {"joint": "R-PIP2", "box": [x0, 100.0, x0 + 50.0, 150.0], "ankylosis": ankylosis, "subluxation": false}
    ]})
}

/// Nothing without a login but health and metrics; no change without the CSRF token;
/// roles decide who signs off and who sees whose work; five wrong passwords lock a name;
/// a login form from another site is refused; the session cookie is HttpOnly and
/// SameSite=Strict.
#[test]
fn access_needs_a_login_a_csrf_token_and_the_right_role() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (node, id) = review_node(&data);
    let port = node.http;

    for path in [
        "/api/films".to_string(),
        format!("/api/films/{id}"),
        format!("/api/films/{id}/pixels"),
        "/api/me".to_string(),
        "/api/audit".to_string(),
    ] {
        let r = request(port, "GET", &path, &[], b"");
        assert_eq!(r.status, 401, "{path} without login: {r:?}");
        assert!(
            !r.text().contains("joints"),
            "{path} leaked data: {}",
            r.text()
        );
    }
    for path in ["/".to_string(), format!("/films/{id}")] {
        let r = request(port, "GET", &path, &[], b"");
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login")),
            "{path}"
        );
    }
    let r = request(
        port,
        "PUT",
        &format!("/api/films/{id}/annotation"),
        &[("Content-Type", "application/json")],
        one_joint(10.0, false).to_string().as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(request(port, "GET", "/healthz", &[], b"").status, 200);
    assert!(
        request(port, "GET", "/metrics", &[], b"")
            .text()
            .contains("rajoints_")
    );
    assert_eq!(request(port, "GET", "/login", &[], b"").status, 200);

    // The cookie, and a login posted from another site.
    let r = http::login(port, "ann1", "annotator-one");
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let r = request(
        port,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "http://evil.example"),
        ],
        b"username=ann1&password=annotator-one",
    );
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());

    // Changes need the session's CSRF token.
    let ann1 = Client::login(port, "ann1", "annotator-one");
    let path = format!("/api/films/{id}/annotation");
    let body = one_joint(10.0, false);
    assert_eq!(ann1.send_with_token("PUT", &path, &body, None).status, 403);
    assert_eq!(
        ann1.send_with_token("PUT", &path, &body, Some("0123"))
            .status,
        403
    );
    let other = Client::login(port, "ann2", "annotator-two");
    assert_eq!(
        ann1.send_with_token("PUT", &path, &body, Some(&other.csrf))
            .status,
        403,
        "another session's token"
    );
    assert!(
        !data
            .join(format!("review/{id}/annotations/ann1.json"))
            .exists()
    );
    let logout = request(port, "POST", "/logout", &[("Cookie", &ann1.cookie)], b"");
    assert_eq!(logout.status, 403, "logout without the token");

    // Roles: annotators neither sign off nor see others' work; a bad annotation is a 400.
    let r = ann1.send("PUT", &path, &body);
    assert_eq!(r.status, 200, "{r:?}");
    let r = ann1.send("POST", &format!("/api/films/{id}/sign-off"), &body);
    assert_eq!(r.status, 403, "an annotator signed off: {r:?}");
    let r = ann1.get(&format!("/api/films/{id}?annotator=ann2"));
    assert_eq!(r.status, 403);
    let r = ann1.send(
        "PUT",
        &path,
        &json!({"assessable": true, "joints": [
            {"joint": "R-IP1", "box": [1, 1, 20, 20], "ankylosis": false, "subluxation": true}]}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("thumb IP"),
        "{r:?}"
    );
    assert_eq!(ann1.get("/api/audit").status, 403);
    let boss = Client::login(port, "boss", "admin-password");
    let audit = boss.get("/api/audit");
    assert_eq!(audit.status, 200);
    assert!(audit.text().contains("\"save\""));

    // Five wrong passwords lock the name, even for the right one afterwards.
    for _ in 0..5 {
        let r = http::login(port, "ann2", "wrong-password");
        assert_eq!(r.header("location"), Some("/login?failed=1"));
    }
    let r = http::login(port, "ann2", "annotator-two");
    assert_eq!(r.header("location"), Some("/login?failed=1"), "not locked");
    assert!(
        audit_lines(&data)
            .iter()
            .any(|e| e["action"] == "login_locked")
    );

    // A new password set on the command line ends the running sessions of the account.
    let boss_again = Client::login(port, "boss", "admin-password");
    let mut cmd = rajoints(&["users", "passwd", "boss"]);
    let mut child = cmd
        .arg("--data-dir")
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "a-new-password").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(boss_again.get("/api/me").status, 401);
    assert_eq!(boss.get("/api/films").status, 401);
    Client::login(port, "boss", "a-new-password");

    // Logout ends the session.
    let r = ann1.send("POST", "/logout", &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(ann1.get("/api/me").status, 401);
}

/// Two annotators on one film keep their own work; a reviewer sees both; a save is on
/// disk when it is answered, so a SIGKILL right after it loses nothing.
#[test]
fn annotators_keep_their_own_work_and_a_crash_after_save_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (node, id) = review_node(&data);
    let port = node.http;
    let ann1 = Client::login(port, "ann1", "annotator-one");
    let ann2 = Client::login(port, "ann2", "annotator-two");
    let path = format!("/api/films/{id}/annotation");
    assert_eq!(ann1.send("PUT", &path, &one_joint(10.0, true)).status, 200);
    assert_eq!(
        ann2.send("PUT", &path, &one_joint(300.0, false)).status,
        200
    );

    let x0 = |c: &Client| -> f64 {
        let f = c.get(&format!("/api/films/{id}")).json();
        f["annotation"]["joints"][0]["box"][0].as_f64().unwrap()
    };
    assert_eq!(x0(&ann1), 10.0);
    assert_eq!(x0(&ann2), 300.0);
    // Each annotator's worklist shows only their own entry.
    let list = ann1.get("/api/films").json();
    let entries = list["films"][0]["annotations"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["annotator"], "ann1");
    let todo = ann1.get("/api/films?review=todo").json();
    assert_eq!(todo["total"], 0);
    // The admin sees both, and either annotator's work on request.
    let boss = Client::login(port, "boss", "admin-password");
    let list = boss.get("/api/films").json();
    assert_eq!(list["films"][0]["annotations"].as_array().unwrap().len(), 2);
    let f = boss.get(&format!("/api/films/{id}?annotator=ann2")).json();
    assert_eq!(f["annotation"]["annotator"], "ann2");
    assert_eq!(f["annotation"]["joints"][0]["box"][0], 300.0);

    // A second save by ann1, answered, then SIGKILL: the restarted node has it.
    assert_eq!(ann1.send("PUT", &path, &one_joint(42.0, false)).status, 200);
    node.sigkill();
    let node = NodeProc::start(&data, &[], &[]);
    let ann1 = Client::login(node.http, "ann1", "annotator-one");
    let f = ann1.get(&format!("/api/films/{id}")).json();
    assert_eq!(f["annotation"]["joints"][0]["box"][0], 42.0);
    assert_eq!(f["annotation"]["joints"][0]["ankylosis"], false);
    assert_eq!(f["annotation"]["status"], "draft");
    let ann2 = Client::login(node.http, "ann2", "annotator-two");
    assert_eq!(
        ann2.get(&format!("/api/films/{id}")).json()["annotation"]["joints"][0]["box"][0],
        300.0
    );
    // Its pixels: 16-bit, the film's size.
    let px = ann1.get(&format!("/api/films/{id}/pixels"));
    assert_eq!(px.status, 200);
    let (w, h): (usize, usize) = (
        px.header("x-width").unwrap().parse().unwrap(),
        px.header("x-height").unwrap().parse().unwrap(),
    );
    assert_eq!(px.body.len(), w * h * 2);
    assert_eq!(
        (w, h),
        (
            f["width"].as_u64().unwrap() as usize,
            f["height"].as_u64().unwrap() as usize
        )
    );
}

/// With `review.tls`, the UI is served over HTTPS only and the session cookie is Secure
/// (curl checks the certificate against the test's own CA).
#[test]
fn https_serves_the_ui_with_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (Debian) not runnable: run `make test`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    add_user(&data, "ann1", "annotator", None, "annotator-one");
    // A certificate that is not there stops the node, naming the review.tls key.
    let out = rajoints(&["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data)
        .args(["--set", "review.tls.enabled=true"])
        .args(["--set", "review.tls.certificate=/nonexistent/cert.pem"])
        .args([
            "--set",
            &format!("review.tls.private_key={}", key.display()),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("review.tls.certificate"),
        "{err}"
    );
    let node = NodeProc::start(
        &data,
        &[],
        &[
            "--set",
            "review.tls.enabled=true",
            "--set",
            &format!("review.tls.certificate={}", cert.display()),
            "--set",
            &format!("review.tls.private_key={}", key.display()),
        ],
    );
    let base = format!("https://127.0.0.1:{}", node.http);
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "--max-time", "20", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .expect("curl (Debian) not runnable: run `make test`")
    };
    let out = curl(&[&format!("{base}/healthz")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let out = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        &format!("Origin: {base}"),
        "--data",
        "username=ann1&password=annotator-one",
        &format!("{base}/login"),
    ]);
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.contains("303"), "{head}");
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(
        cookie.contains("secure")
            && cookie.contains("httponly")
            && cookie.contains("samesite=strict"),
        "{cookie}"
    );
    // Plain HTTP on the HTTPS port gets no page: the TLS acceptor reads the request as a
    // broken handshake and closes the connection.
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", node.http)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut sock, &mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP answered on the HTTPS port: {}",
        String::from_utf8_lossy(&answer)
    );
}
