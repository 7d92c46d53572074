import hashlib

import onnx
import pytest
import torch

from rajoints_train.config import DEFAULT_INTENDED_USE, TrainConfig
from rajoints_train.export import (MANIFEST_KEYS, check_parity, export, read_manifest, toml_string,
                                   write_manifest)
from rajoints_train.ssd import build_model
from rajoints_train.train import checkpoint_state, save_checkpoint


def make_checkpoint(tmp_path, arch: str, finding: str = "ankylosis", spacing: float = 0.3):
    cfg = TrainConfig(dataset="synthetic", finding=finding, arch=arch, pixel_spacing_mm=spacing,
                      command="train.py --test", git_commit="0" * 40)
    m = build_model(arch, generator=torch.Generator().manual_seed(0))
    # Non-trivial BatchNorm statistics, so that the exported eval-mode graph is tested.
    with torch.no_grad():
        m.train()
        m(torch.randn(4, 3, 300, 300, generator=torch.Generator().manual_seed(1)))
    path = tmp_path / f"{arch}.pt"
    save_checkpoint(path, checkpoint_state(m, cfg, 1, 1, {"dataset_sha256": "ab" * 32, "images": 4,
                                                             "images_in_dataset": 4}))
    return path


def test_light_export_follows_the_contract(tmp_path):
    ck = make_checkpoint(tmp_path, "light")
    r = export(ck, tmp_path / "out" / "ankylosis.onnx", command="export.py --test")
    assert r["bytes"] < 25e6
    m = onnx.load(r["onnx"])
    assert m.opset_import[0].version == 17 and m.ir_version == 8
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["input_size"] == "300" and meta["mean"] == "0.5,0.5,0.5" and meta["std"] == "0.25,0.25,0.25"
    assert meta["classes"] == "background,absent,present" and meta["finding"] == "ankylosis"
    assert "box_format" in meta and meta["intended_use"] == DEFAULT_INTENDED_USE
    man = read_manifest(r["manifest"])
    assert man["sha256"] == hashlib.sha256((tmp_path / "out" / "ankylosis.onnx").read_bytes()).hexdigest()
    assert man["architecture"] == "ssd300-lite" and man["training_pixel_spacing_mm"] == 0.3
    assert man["file"] == "ankylosis.onnx" and man["intended_use"] == DEFAULT_INTENDED_USE
    assert "seed 0" in man["provenance"] and "train.py --test" in man["provenance"]
    assert r["parity"]["scores"] < 1e-4 and r["parity"]["boxes"] < 1e-2


def test_parity_check_fails_on_a_different_model(tmp_path):
    ck = make_checkpoint(tmp_path, "light")
    r = export(ck, tmp_path / "m.onnx", parity=False)
    other = build_model("light", generator=torch.Generator().manual_seed(9)).eval()
    with pytest.raises(ValueError):
        check_parity(other, r["onnx"])


def test_vgg16_export_parity(tmp_path):
    ck = make_checkpoint(tmp_path, "vgg16", finding="subluxation", spacing=0.0)
    r = export(ck, tmp_path / "subluxation.onnx")
    man = read_manifest(r["manifest"])
    assert man["architecture"] == "ssd300-vgg16" and man["finding"] == "subluxation"
    assert man["training_pixel_spacing_mm"] == 0.0


def test_manifest_writer_refuses_missing_keys_and_escapes_strings(tmp_path):
    with pytest.raises(ValueError):
        write_manifest(tmp_path / "x.toml", {"name": "x"})
    assert toml_string('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert len(MANIFEST_KEYS) == 15


def test_tampered_model_fails_the_manifest_check(tmp_path):
    ck = make_checkpoint(tmp_path, "light")
    r = export(ck, tmp_path / "a.onnx", parity=False)
    with open(r["onnx"], "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="sha256"):
        read_manifest(r["manifest"])


def test_manifest_carries_the_calibration_and_old_manifests_still_load(tmp_path):
    ck = make_checkpoint(tmp_path, "light")
    r = export(ck, tmp_path / "a.onnx", parity=False)
    man = read_manifest(r["manifest"])
    # Exported uncalibrated: the paper's argmax (calibrate.py fits the two values).
    assert man["temperature"] == 1.0 and man["present_threshold"] == 0.5
    text = (tmp_path / "a.toml").read_text()
    assert text.index("training_pixel_spacing_mm") < text.index("temperature") < text.index("provenance")
    # A manifest from before issue 17, without the two keys, still loads.
    old = "\n".join(line for line in text.splitlines() if not line.startswith(("temperature", "present_threshold")))
    (tmp_path / "a.toml").write_text(old + "\n")
    assert "temperature" not in read_manifest(tmp_path / "a.toml")
    for key, value, message in (("temperature", "0.0", "temperature"), ("present_threshold", "1.0", "present_threshold")):
        (tmp_path / "a.toml").write_text(text.replace(f"{key} = {1.0 if key == 'temperature' else 0.5}", f"{key} = {value}"))
        with pytest.raises(ValueError, match=message):
            read_manifest(tmp_path / "a.toml")


def test_export_releases_the_weights_for_fine_tuning(tmp_path):
    from rajoints_train.recover import init_state
    from rajoints_train.train import load_checkpoint

    ck = make_checkpoint(tmp_path, "light")
    r = export(ck, tmp_path / "out" / "ankylosis.onnx", parity=False)
    released = tmp_path / "out" / "ankylosis.pt"
    assert r["checkpoint"] == str(released) and released.stat().st_size < 25e6
    rel = load_checkpoint(released)
    assert rel["optimizer"] is None and rel["facts"]["released"] is True
    state, info = init_state(released, None)
    original = load_checkpoint(ck)["model"]
    assert info["arch"] == "light" and info["finding"] == "ankylosis"
    assert all(torch.equal(state[k], original[k]) for k in original)
