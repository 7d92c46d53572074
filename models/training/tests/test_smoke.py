"""The CI smoke run of the whole recipe on a tiny synthetic set: dataset -> a few training
iterations of the light backbone for each detector -> ONNX export with parity check ->
manifests -> GradCAM -> the Rust node loads both models (when its binary is built)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rajoints_train.export import read_manifest

TRAINING = Path(__file__).resolve().parents[1]
REPO = TRAINING.parents[1]


def run(*args: str) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{args[0]} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def rajoints_binary() -> Path | None:
    env = os.environ.get("RAJOINTS_BIN")
    if env:
        return Path(env)
    for p in (REPO / "target/debug/rajoints", REPO / "target/release/rajoints"):
        if p.is_file():
            return p
    return None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    ds = root / "ds"
    run(str(TRAINING / "make_tiny_dataset.py"), "--out", str(ds), "--count", "4")
    models = root / "models"
    for finding in ("ankylosis", "subluxation"):
        run(str(TRAINING / "train.py"), "--dataset", str(ds), "--finding", finding, "--arch", "light",
            "--epochs", "1", "--max-iters", "2", "--threads", "1", "--out", str(root / finding))
        out = run(str(TRAINING / "export.py"), "--checkpoint", str(root / finding / "last.pt"),
                  "--out", str(models / f"{finding}.onnx"))
        assert "parity with PyTorch" in out
    return root, ds, models


def test_training_writes_config_log_and_checkpoint(trained):
    root, _, _ = trained
    for finding in ("ankylosis", "subluxation"):
        cfg = json.loads((root / finding / "config.json").read_text())
        assert cfg["finding"] == finding and cfg["arch"] == "light" and cfg["lr"] == 1e-3
        assert cfg["batch_size"] == 16 and cfg["weight_decay"] == 5e-4 and cfg["betas"] == [0.9, 0.999]
        log = [json.loads(line) for line in (root / finding / "log.jsonl").read_text().splitlines()]
        assert log[-1]["iteration"] == 2


def test_exported_manifests_load(trained):
    _, _, models = trained
    for finding in ("ankylosis", "subluxation"):
        m = read_manifest(models / f"{finding}.toml")
        assert m["finding"] == finding and m["architecture"] == "ssd300-lite"
        assert (models / f"{finding}.onnx").stat().st_size < 25e6


def test_gradcam_renders_a_png(trained):
    root, ds, _ = trained
    png = root / "cam.png"
    out = run(str(TRAINING / "gradcam.py"), "--checkpoint", str(root / "ankylosis" / "last.pt"),
              "--image", str(ds / "images" / "synth-000.dcm"), "--joint", "R-PIP3", "--out", str(png))
    r = json.loads(out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and r["layers"] == ["stage19", "extra5"]


def test_rust_node_accepts_the_models(trained):
    root, ds, models = trained
    exe = rajoints_binary()
    if exe is None:
        pytest.fail("rajoints binary not built: run `make test`, which builds it first")
    out = root / "analyze"
    p = subprocess.run([str(exe), "analyze", str(ds / "images" / "synth-000.dcm"), "--out", str(out),
                        "--ankylosis-model", str(models / "ankylosis.toml"),
                        "--subluxation-model", str(models / "subluxation.toml")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    result = json.loads((out / "synth-000.json").read_text())
    for finding in ("ankylosis", "subluxation"):
        assert result["models"][finding]["sha256"] == read_manifest(models / f"{finding}.toml")["sha256"]


@pytest.mark.parametrize("finding", ("ankylosis", "subluxation"))
def test_fine_tuning_starts_from_the_released_checkpoint(tiny_dataset, tmp_path, finding):
    """Issue 17: the PyTorch checkpoints of the shipped detectors are released beside them,
    are the shipped models, and a site fine-tunes from them with the 0.4.0 recipe."""
    import shutil

    from rajoints_train.export import check_parity, load_model

    released = REPO / "models" / f"{finding}.pt"
    assert released.stat().st_size < 25e6
    model, cfg, _ = load_model(released)
    diffs = check_parity(model, REPO / "models" / f"{finding}.onnx")
    assert max(diffs.values()) < 1e-2 and cfg.finding == finding
    out = tmp_path / "run"
    text = run(str(TRAINING / "train.py"), "--dataset", str(tiny_dataset), "--finding", finding, "--init", str(released),
               "--lr", "1e-4", "--rare-fraction", "0.25", "--domain-p", "0.3", "--lookalike-ratio", "1",
               "--max-iters", "2", "--batch-size", "4", "--threads", "1", "--out", str(out))
    assert f"initialised from {released}" in text
    saved = json.loads((out / "config.json").read_text())
    assert saved["init"] == str(released) and saved["freeze_bn"] == cfg.freeze_bn and saved["domain_p"] == 0.3
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["iteration"] == 2
    # Released weights hold no optimiser: resuming from them is refused with a pointer to --init.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(released, other / "last.pt")
    p = subprocess.run([sys.executable, str(TRAINING / "train.py"), "--dataset", str(tiny_dataset), "--finding", finding,
                        "--resume", "--out", str(other), "--max-iters", "1", "--threads", "1"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "--init" in p.stderr, p.stderr
