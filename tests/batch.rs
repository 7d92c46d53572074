//! `rajoints batch` (issue 20): shards, resume after a kill, DICOMDIR input, the merge,
//! and a real Slurm job array (slurmctld and slurmd from Debian on loopback) running
//! plugins/batch/rajoints-array.sbatch; and the Kubernetes manifest against the
//! Kubernetes schema.

mod common;
#[path = "common/slurm.rs"]
mod slurm;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::batch::{batch_changes, model_flags, read, run_ok};
use common::{rajoints, repo, synthetic_films};

/// `rajoints phantom --preset paper --count N` into `dir`; returns its images folder.
fn phantoms(dir: &Path, count: usize) -> PathBuf {
    let out = rajoints(&["phantom", "--preset", "paper", "--count"])
        .arg(count.to_string())
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("images")
}

fn batch_cmd(inputs: &[&Path], out: &Path, extra: &[&str]) -> Command {
    let mut cmd = rajoints(&["batch"]);
    cmd.args(inputs)
        .arg("--out")
        .arg(out)
        .args(model_flags())
        .args(extra);
    cmd
}

fn summary(out: &Path, shard: &str) -> serde_json::Value {
    serde_json::from_str(&read(&out.join("shards").join(shard).join("summary.json"))).unwrap()
}

/// Keys of the films with a done marker, and of those with a JSON result.
fn films_state(out: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut done = BTreeSet::new();
    let mut json = BTreeSet::new();
    for e in std::fs::read_dir(out.join("films")).into_iter().flatten() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if let Some(k) = name.strip_suffix(".done") {
            done.insert(k.to_string());
        } else if let Some(k) = name.strip_suffix(".json") {
            json.insert(k.to_string());
        }
    }
    (done, json)
}

/// The SOP Instance UIDs in a table, with their row counts.
fn uids(table: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in table.lines().skip(1) {
        let uid = line.split(',').nth(2).unwrap().to_string();
        *m.entry(uid).or_insert(0) += 1;
    }
    m
}

/// `rajoints batch merge DIR --out FILE`, which must succeed.
fn merge(dir: &Path, out: &Path) {
    run_ok(rajoints(&["batch", "merge"]).arg(dir).arg("--out").arg(out));
}

/// A single-process batch over `films`: the reference table.
fn reference(films: &Path, out: &Path) -> String {
    run_ok(batch_cmd(&[films], out, &[]));
    read(&out.join("shards/shard-0-of-1/table.csv"))
}

#[test]
fn shards_resume_dicomdir_and_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let films = phantoms(&tmp.path().join("ph"), 6);
    let ref_out = tmp.path().join("ref");
    let table = reference(films.parent().unwrap(), &ref_out);
    assert!(table.starts_with(
        "patient_hash,study_date,sop_instance_uid,assessable,joint,ankylosis_present,\
         ankylosis_probability,subluxation_present,subluxation_probability\n"
    ));
    let per_film = uids(&table);
    assert_eq!(per_film.len(), 6, "every film in the table: {table}");
    // No patient data in the table, the file names or the log.
    let out = run_ok(batch_cmd(&[&films], &tmp.path().join("again"), &[]));
    let log = String::from_utf8_lossy(&out.stderr);
    for name in std::fs::read_dir(&films).unwrap() {
        let stem = name.unwrap().path();
        let stem = stem.file_stem().unwrap().to_string_lossy().to_string(); // PHANTOM-0001-T0
        let patient = &stem[..12];
        assert!(
            !table.contains(patient) && !log.contains(patient),
            "{patient}"
        );
    }
    let (done, _) = films_state(&ref_out);
    assert!(done.iter().all(|k| k.len() == 32 && !k.contains("PHANTOM")));
    // A rerun skips every film.
    run_ok(batch_cmd(&[&films], &ref_out, &[]));
    let s = summary(&ref_out, "shard-0-of-1");
    assert_eq!(
        (s["analysed"].as_u64(), s["skipped"].as_u64()),
        (Some(0), Some(6))
    );
    assert_eq!(read(&ref_out.join("shards/shard-0-of-1/table.csv")), table);

    // Three shards, by --shard and by the Kubernetes variables: disjoint, complete, and
    // merged equal to the single run.
    let sharded = tmp.path().join("sharded");
    for i in 0..3 {
        let mut cmd = batch_cmd(&[&films], &sharded, &[]);
        if i == 1 {
            cmd.env("JOB_COMPLETION_INDEX", "1")
                .env("RAJOINTS_SHARD_COUNT", "3");
        } else {
            cmd.arg("--shard").arg(format!("{i}/3"));
        }
        run_ok(cmd);
    }
    let mut seen = BTreeSet::new();
    for i in 0..3 {
        let t = read(&sharded.join(format!("shards/shard-{i}-of-3/table.csv")));
        for uid in uids(&t).keys() {
            assert!(seen.insert(uid.clone()), "{uid} in two shards");
        }
    }
    assert_eq!(seen, per_film.keys().cloned().collect());
    let merged = tmp.path().join("merged.csv");
    merge(&sharded, &merged);
    assert_eq!(read(&merged), table);
    // A missing shard, or the same shard twice, is refused.
    let lone = sharded.join("shards/shard-2-of-3");
    let out = rajoints(&["batch", "merge"])
        .arg(sharded.join("shards/shard-0-of-3"))
        .arg(&lone)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard(s) 1 of 3 missing"));
    let out = rajoints(&["batch", "merge", "--partial"])
        .arg(&sharded)
        .arg(&lone)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than once"));

    // A DICOMDIR (made by DCMTK's dcmmkdir) gives the same films and table.
    let media = tmp.path().join("media");
    std::fs::create_dir_all(media.join("IMAGES")).unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&films)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for (i, f) in names.iter().enumerate() {
        std::fs::copy(f, media.join(format!("IMAGES/IMG{i:05}"))).unwrap();
    }
    let st = Command::new("dcmmkdir")
        .current_dir(&media)
        .args(["+r", "+I", "+D", "DICOMDIR", "IMAGES"])
        .status()
        .expect("dcmmkdir (DCMTK): run `make deps`");
    assert!(st.success());
    let from_dir = tmp.path().join("from-dicomdir");
    run_ok(batch_cmd(&[&media.join("DICOMDIR")], &from_dir, &[]));
    assert_eq!(read(&from_dir.join("shards/shard-0-of-1/table.csv")), table);

    // A file that is not a film is a failure of one shard, listed, not fatal.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM\x02\x00\x00\x00garbage");
    std::fs::write(broken.join("bad.dcm"), bytes).unwrap();
    let out_b = tmp.path().join("with-broken");
    let out = batch_cmd(&[&films, &broken], &out_b, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let failures = read(&out_b.join("shards/shard-0-of-1/failures.csv"));
    assert!(failures.starts_with("key,path,error\n"), "{failures}");
    assert!(failures.contains("bad.dcm"), "{failures}");
    assert_eq!(read(&out_b.join("shards/shard-0-of-1/table.csv")), table);
}

/// A blob film (see tests/analyze.rs) of one patient at one date, both findings on the
/// joints in `bright`.
fn dated_film(dir: &Path, uid: &str, patient: &str, date: &str, bright: &[&str]) -> PathBuf {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    let bright: Vec<rajoints::pipeline::naming::JointId> =
        bright.iter().map(|j| j.parse().unwrap()).collect();
    let (w, h, joints) = common::film(|id| if bright.contains(&id) { 1.0 } else { 0.5 });
    let mut squares: Vec<common::Square> = joints.iter().map(|j| j.1).collect();
    squares.push(common::Square {
        x: 0,
        y: 0,
        side: 2,
        value: 1.0,
    });
    let mut o = common::CrImage::from_display(w, h, &common::paint(w, h, &squares)).dataset(uid);
    for (tag, vr, v) in [
        (tags::PATIENT_ID, VR::LO, patient.to_string()),
        (tags::STUDY_DATE, VR::DA, date.to_string()),
        (tags::STUDY_INSTANCE_UID, VR::UI, format!("{uid}.1")),
    ] {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    }
    let path = dir.join(format!("{uid}.dcm"));
    o.with_meta(
        dicom_object::FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
    )
    .unwrap()
    .write_to_file(&path)
    .unwrap();
    path
}

/// Issue 20 with issue 19: a film whose patient has an earlier film in the batch is
/// compared with it, whichever shards they fall to, as a single process compares them;
/// and every film is still analysed once.
#[test]
fn films_are_compared_with_earlier_films_of_the_batch_in_any_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("films");
    std::fs::create_dir_all(&dir).unwrap();
    // Patient A at three dates (L-PIP3 new at the second), B at two (no change), C once.
    let films = [
        ("2.25.6001", "A", "20180105", &["R-PIP2"][..]),
        ("2.25.6002", "A", "20200310", &["R-PIP2", "L-PIP3"][..]),
        ("2.25.6003", "A", "20220722", &["R-PIP2", "L-PIP3"][..]),
        ("2.25.6004", "B", "20190101", &["L-MCP2"][..]),
        ("2.25.6005", "B", "20210101", &["L-MCP2"][..]),
        ("2.25.6006", "C", "20210101", &[][..]),
    ];
    for (uid, patient, date, bright) in films {
        dated_film(&dir, uid, patient, date, bright);
    }
    let batch = |out: &Path, extra: &[&str]| {
        let mut cmd = batch_cmd(&[&dir], out, extra);
        synthetic_films(&mut cmd);
        run_ok(cmd)
    };
    let single = tmp.path().join("single");
    batch(&single, &[]);
    let want = batch_changes(&single);
    assert_eq!(want.len(), 6);
    let prior_of = |uid: &str| want[uid]["prior"]["film_sop_instance_uid"].as_str();
    assert_eq!(prior_of("2.25.6002"), Some("2.25.6001"), "{want:#?}");
    assert_eq!(prior_of("2.25.6003"), Some("2.25.6002"));
    assert_eq!(prior_of("2.25.6005"), Some("2.25.6004"));
    // The prior is read from its SR in films/: the prior film is known in full.
    assert_eq!(
        want["2.25.6002"]["prior"]["film"]["sop_instance_uid"],
        "2.25.6001"
    );
    for first in ["2.25.6001", "2.25.6004", "2.25.6006"] {
        assert_eq!(
            want[first]["not_compared_reason"],
            "no earlier result of this patient, of this hand, in the batch"
        );
    }
    assert_eq!(want["2.25.6002"]["patient"]["new_ankylosis"], 1);
    assert_eq!(want["2.25.6002"]["prior"]["study_date"], "2018-01-05");
    assert_eq!(want["2.25.6003"]["patient"]["new_ankylosis"], 0);
    assert_eq!(want["2.25.6003"]["patient"]["unchanged_present"], 4);
    assert_eq!(want["2.25.6005"]["patient"]["unchanged_present"], 2);

    // Three shards run one after the other, the last first: whichever shard a prior is in,
    // the comparisons are the single run's and each film is analysed once.
    let sharded = tmp.path().join("sharded");
    let mut analysed = 0;
    for i in [2, 1, 0] {
        batch(&sharded, &["--shard", &format!("{i}/3")]);
        let s = summary(&sharded, &format!("shard-{i}-of-3"));
        analysed += s["analysed"].as_u64().unwrap() + s["priors_analysed"].as_u64().unwrap();
    }
    assert_eq!(analysed, 6);
    assert_eq!(batch_changes(&sharded), want);
    // The SR of a compared film states the change, and stays valid.
    let key = rajoints::spool::key_for("2.25.6002");
    let sr = sharded.join(format!("films/{key}.sr.dcm"));
    let dump = Command::new("dsrdump").arg(&sr).output().unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        text.contains("\"Change since prior\"") && text.contains("20180105"),
        "{text}"
    );
    assert!(
        text.contains("\"New ankylosis since prior\")=(L-PIP3,99RAJ"),
        "{text}"
    );
    assert_eq!(common::dciodvfy_errors(&sr), Vec::<String>::new());
    let merged = tmp.path().join("merged.csv");
    merge(&sharded, &merged);
    assert_eq!(
        read(&merged),
        read(&single.join("shards/shard-0-of-1/table.csv"))
    );
}

#[test]
fn a_killed_shard_resumes_with_every_film_once() {
    let tmp = tempfile::tempdir().unwrap();
    let films = phantoms(&tmp.path().join("ph"), 16);
    let table = reference(&films, &tmp.path().join("ref"));
    let out = tmp.path().join("out");

    // Killed by the crash point after the first film's results are on disk but before its
    // done marker: that partial result must not count as done.
    let mut cmd = batch_cmd(&[&films], &out, &[]);
    cmd.env("RAJOINTS_CRASH_POINT", "batch.results_synced");
    let st = cmd.status().unwrap();
    assert!(
        !st.success() && st.code().is_none(),
        "killed by a signal: {st}"
    );
    let (done, json) = films_state(&out);
    assert!(done.is_empty() && json.len() == 1, "{done:?} {json:?}");

    // SIGKILL from outside once a few films are done.
    let mut child = batch_cmd(&[&films], &out, &[])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while films_state(&out).0.len() < 4 {
        assert!(t.elapsed() < Duration::from_secs(120), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (done, _) = films_state(&out);
    assert!(done.len() >= 4 && done.len() < 16, "{}", done.len());

    // The rerun analyses exactly the films not done, and the table is the reference.
    run_ok(batch_cmd(&[&films], &out, &[]));
    let s = summary(&out, "shard-0-of-1");
    assert_eq!(s["skipped"].as_u64(), Some(done.len() as u64));
    assert_eq!(s["analysed"].as_u64(), Some(16 - done.len() as u64));
    assert_eq!(films_state(&out).0.len(), 16);
    assert_eq!(read(&out.join("shards/shard-0-of-1/table.csv")), table);
}

/// The Slurm job array of plugins/batch on a real slurmctld and slurmd.
#[test]
fn slurm_array_job_analyses_every_film_once() {
    let tmp = tempfile::tempdir().unwrap();
    let films = phantoms(&tmp.path().join("ph"), 6);
    let table = reference(&films, &tmp.path().join("ref"));
    let cluster = slurm::Slurm::start(&tmp.path().join("slurm"));
    let script = repo().join("plugins/batch/rajoints-array.sbatch");

    let submit = |out: &Path, logs: &str, crash: bool| {
        let mut cmd = Command::new("sbatch");
        synthetic_films(&mut cmd);
        cmd.current_dir(repo())
            .env("RAJOINTS_BIN", env!("CARGO_BIN_EXE_rajoints"))
            .env(
                "RAJOINTS_CRASH_POINT",
                if crash { "batch.results_synced" } else { "" },
            )
            .args(["--parsable", "--array=0-2", "--cpus-per-task=1"])
            .arg(format!("--output={}/{logs}-%a.log", tmp.path().display()))
            .arg(&script)
            .arg(&films)
            .arg("--out")
            .arg(out)
            .args(model_flags());
        cluster.submit(cmd)
    };
    let log = |name: &str| read(&tmp.path().join(name));

    let out = tmp.path().join("out");
    let job = submit(&out, "run", false);
    let tasks = cluster.wait(&job, Duration::from_secs(300));
    eprintln!("slurm job {job}: {tasks:?}");
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for t in &tasks {
        assert_eq!(
            (t.state.as_str(), t.exit_code.as_str()),
            ("COMPLETED", "0:0"),
            "task {}: {}",
            t.id,
            log(&format!("run-{}.log", t.id))
        );
        assert!(
            log(&format!("run-{}.log", t.id))
                .contains(&format!("batch shard {}/3 (Slurm array", t.id))
        );
    }
    // Every film analysed, each in exactly one shard's table. A shard may analyse another
    // shard's film as the prior of one of its own (tasks run at once, so whether it does
    // depends on timing); that shard then skips it, or in a race analyses it too.
    let (mut own, mut priors, mut skipped) = (0, 0, 0);
    let mut seen = BTreeSet::new();
    for i in 0..3 {
        let s = summary(&out, &format!("shard-{i}-of-3"));
        own += s["analysed"].as_u64().unwrap();
        priors += s["priors_analysed"].as_u64().unwrap();
        skipped += s["skipped"].as_u64().unwrap();
        assert_eq!(s["failed"].as_u64(), Some(0));
        for uid in uids(&read(&out.join(format!("shards/shard-{i}-of-3/table.csv")))).keys() {
            assert!(seen.insert(uid.clone()), "{uid} in two shards");
        }
    }
    assert_eq!(own + skipped, 6);
    assert!(priors >= skipped, "a skipped film was analysed by no shard");
    assert_eq!(films_state(&out).0.len(), 6);
    let merged = tmp.path().join("merged.csv");
    merge(&out, &merged);
    assert_eq!(
        read(&merged),
        table,
        "merge of the array = the single-process table"
    );

    // Every task killed (SIGKILL, by the crash point) after its first film's results and
    // before its done marker; the resubmitted array finishes with every film once.
    let out2 = tmp.path().join("out2");
    let job = submit(&out2, "killed", true);
    let tasks = cluster.wait(&job, Duration::from_secs(300));
    eprintln!("slurm job {job} (killed): {tasks:?}");
    assert!(tasks.iter().all(|t| t.state != "COMPLETED"), "{tasks:?}");
    let (done, json) = films_state(&out2);
    assert!(done.is_empty() && !json.is_empty(), "{done:?} {json:?}");
    let job = submit(&out2, "rerun", false);
    let tasks = cluster.wait(&job, Duration::from_secs(300));
    assert!(tasks.iter().all(|t| t.state == "COMPLETED"), "{tasks:?}");
    let analysed: u64 = (0..3)
        .map(|i| {
            let s = summary(&out2, &format!("shard-{i}-of-3"));
            s["analysed"].as_u64().unwrap() + s["priors_analysed"].as_u64().unwrap()
        })
        .sum();
    assert!(analysed >= 6, "the half-written films were analysed again");
    assert_eq!(films_state(&out2).0.len(), 6);
    merge(&out2, &merged);
    assert_eq!(read(&merged), table);
}

/// The Kubernetes Indexed Job passes the Kubernetes JSON schema (kubernetes-validate, from
/// tests/requirements.txt, strict: no unknown fields), and its shard count is its
/// completions.
#[test]
fn kubernetes_manifest_follows_the_schema() {
    let validator = repo().join(".venv/bin/kubernetes-validate");
    assert!(
        validator.is_file(),
        "{} missing: run `make deps`",
        validator.display()
    );
    let manifest = repo().join("plugins/batch/rajoints-indexed-job.yaml");
    let out = Command::new(&validator)
        .arg("--strict")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator does reject a manifest with a field the schema does not have.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    let text = read(&manifest);
    std::fs::write(
        &bad,
        text.replace(
            "  completionMode: Indexed\n",
            "  completionMode: Indexed\n  shards: 8\n",
        ),
    )
    .unwrap();
    let st = Command::new(&validator)
        .arg("--strict")
        .arg(&bad)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success(), "the validator accepted an unknown field");

    let value_after = |key: &str| {
        let at = text.find(key).unwrap_or_else(|| panic!("{key} missing"));
        text[at + key.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    assert_eq!(
        value_after("\n  completions:"),
        value_after("name: RAJOINTS_SHARD_COUNT\n              value:"),
        "RAJOINTS_SHARD_COUNT must equal spec.completions"
    );
    assert_eq!(value_after("\n  completionMode:"), "Indexed");
}
