"""The documented chain a site runs, on phantoms made by the node (models/training/README.md,
"Adapting the detectors to a site's own films"): an export-like set with patient-level
folds -> adapt.py from the shipped weights (2 iterations) -> the node loads the site models
-> cv.py (2 iterations per fold) -> cv.json. Needs the rajoints binary (target/debug or
target/release, or RAJOINTS_BIN); skipped without one."""

import json
import os
import subprocess
import sys

import pytest

from rajoints_train.cv import METRICS
from rajoints_train.export import read_manifest
from rajoints_train.train import file_sha256

from test_smoke import REPO, TRAINING, rajoints_binary

FAST = ["--batch-size", "4", "--threads", "1", "--log-every", "1"]


def run(*args: str, timeout: int = 400) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{args[:2]} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    exe = rajoints_binary()
    if exe is None:
        pytest.skip("rajoints binary not built (cargo build)")
    root = tmp_path_factory.mktemp("site")
    ds = root / "export"
    # 10 films of 5 patients (two visits each), one- and two-hand films mixed.
    run(str(exe), "phantom", "--out", str(ds), "--count", "10", "--seed", "5", "--ankylosis-rate", "0.3",
        "--subluxation-rate", "0.3", "--convention", "mixed")
    folds = ["--folds", "5", "--split-out", str(ds / "folds.json")]
    if "--split-only" in run(str(exe), "eval", "--help"):
        run(str(exe), "eval", "--dataset", str(ds), *folds, "--split-only")
    else:  # an older binary: the split comes with an evaluation of the shipped models
        run(str(exe), "eval", "--dataset", str(ds), *folds, "--ankylosis-model", "models/ankylosis.toml",
            "--subluxation-model", "models/subluxation.toml")
    return exe, root, ds


def test_adapt_writes_site_models_the_node_loads(site):
    exe, root, ds = site
    out = root / "site-models"
    text = run(sys.executable, str(TRAINING / "adapt.py"), "--dataset", str(ds), "--out", str(out),
               "--init-dir", str(REPO / "models"), "--max-iters", "2", *FAST)
    assert "ETA" in text and "rare" in text and "--ankylosis-model" in text
    for finding in ("ankylosis", "subluxation"):
        m = read_manifest(out / f"{finding}.toml")
        shipped = read_manifest(REPO / "models" / f"{finding}.toml")
        assert m["version"] == "site-1" and m["finding"] == finding and "one site" in m["intended_use"]
        # From the released checkpoint beside the shipped model (export.py writes it).
        init = REPO / "models" / f"{finding}.pt"
        assert f"fine-tuned from {init} (sha256 {file_sha256(init)}" in m["provenance"]
        assert m["training_pixel_spacing_mm"] == shipped["training_pixel_spacing_mm"]
        log = [json.loads(s) for s in (out / "runs" / finding / "log.jsonl").read_text().splitlines()]
        assert log[-1]["iteration"] == 2 and "rare_windows" in log[-1]
    film = sorted((ds / "images").glob("*.dcm"))[0]
    p = subprocess.run([str(exe), "analyze", str(film), "--out", str(root / "analyze"),
                        "--ankylosis-model", str(out / "ankylosis.toml"),
                        "--subluxation-model", str(out / "subluxation.toml")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    result = json.loads((root / "analyze" / f"{film.stem}.json").read_text())
    for finding in ("ankylosis", "subluxation"):
        assert result["models"][finding]["sha256"] == read_manifest(out / f"{finding}.toml")["sha256"]


def test_cross_validation_writes_cv_json(site):
    exe, root, ds = site
    out = root / "cv"
    text = run(sys.executable, str(TRAINING / "cv.py"), "--dataset", str(ds), "--out", str(out),
               "--init-dir", str(REPO / "models"), "--max-iters", "2", "--rajoints", str(exe), *FAST)
    assert "mean±sd" in text
    doc = json.loads((out / "cv.json").read_text())
    split = json.loads((ds / "folds.json").read_text())
    assert doc["format"] == "rajoints-cv/1" and len(doc["folds"]) == 5
    for k, f in enumerate(doc["folds"]):
        assert f["fold"] == k and f["images"] == len(split["folds"][k]["images"])
        assert set(f["metrics"]) == set(METRICS)
        assert 0.0 <= f["metrics"]["joints_found"] <= 1.0 and f["metrics"]["false_boxes_per_film"] >= 0
        assert (out / f"fold{k}" / "ankylosis.toml").is_file() and (out / f"fold{k}" / "eval.json").is_file()
    assert set(doc["mean"]) == set(METRICS)
    assert doc["mean"]["joints_found"]["folds"] == 5 and doc["mean"]["joints_found"]["sd"] is not None
