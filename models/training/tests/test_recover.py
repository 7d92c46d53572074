"""Recovering PyTorch weights from exported ONNX models (recover.py): the shipped
detectors, whose BatchNorm the exporter folded, and a fresh export with real BatchNorm
statistics; both must match onnxruntime within the export's parity tolerances."""

import pytest
import torch

from rajoints_train.config import TrainConfig
from rajoints_train.export import BOX_ATOL, SCORE_ATOL, check_parity, export, read_manifest
from rajoints_train.recover import init_state, recover, state_dict_from_onnx
from rajoints_train.ssd import SSDExport, build_model
from rajoints_train.train import checkpoint_state, load_checkpoint, save_checkpoint

from conftest import REPO
from test_export import make_checkpoint


@pytest.mark.parametrize("finding", ["ankylosis", "subluxation"])
def test_shipped_detectors_recover_with_parity(tmp_path, finding):
    onnx_path = REPO / "models" / f"{finding}.onnx"
    model, ck = recover(onnx_path, "recover_checkpoint.py --test")
    diffs = check_parity(model, onnx_path)  # raises beyond 1e-4 (scores) / 0.01 px (boxes)
    assert max(diffs["scores"], diffs["scores_batch1"]) < SCORE_ATOL
    assert max(diffs["boxes"], diffs["boxes_batch1"]) < BOX_ATOL
    cfg = TrainConfig.from_dict(ck["config"])
    man = read_manifest(REPO / "models" / f"{finding}.toml")
    assert (cfg.arch, cfg.finding, cfg.pixel_spacing_mm, cfg.freeze_bn) == ("light", finding, 0.3, True)
    assert cfg.init_sha256 == man["sha256"] and ck["facts"]["onnx_version"] == man["version"]
    # Folded BatchNorm becomes the identity carrying the folded bias.
    bn = model.backbone.stage38[1]
    assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
    assert torch.allclose(bn.running_var + bn.eps, torch.ones_like(bn.running_var))
    path = tmp_path / "recovered.pt"
    save_checkpoint(path, ck)
    assert load_checkpoint(path)["format"] == "rajoints-ssd-checkpoint/1"


def test_recovered_checkpoint_re_exports_and_says_so(tmp_path):
    _, ck = recover(REPO / "models" / "ankylosis.onnx", "recover_checkpoint.py --test")
    save_checkpoint(tmp_path / "a.pt", ck)
    r = export(tmp_path / "a.pt", tmp_path / "out" / "ankylosis.onnx", version="recovered")
    prov = read_manifest(r["manifest"])["provenance"]
    shipped = read_manifest(REPO / "models" / "ankylosis.toml")
    # It names the export it came from and carries that export's own provenance.
    assert "recovered" in prov and shipped["sha256"] in prov and shipped["provenance"] in prov


def test_unfolded_batch_norm_statistics_survive_the_round_trip(tmp_path):
    ck = make_checkpoint(tmp_path, "light")  # BatchNorm with running statistics != identity
    r = export(ck, tmp_path / "m.onnx")
    state, meta, arch = state_dict_from_onnx(r["onnx"])
    assert arch == "light" and meta["finding"] == "ankylosis"
    original = build_model("light")
    original.load_state_dict(load_checkpoint(ck)["model"])
    recovered = build_model("light")
    recovered.load_state_dict(state)
    x = torch.randn(2, 3, 300, 300, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        (b0, s0), (b1, s1) = SSDExport(original.eval())(x), SSDExport(recovered.eval())(x)
    assert (s0 - s1).abs().max() < SCORE_ATOL and (b0 - b1).abs().max() < BOX_ATOL


def test_another_architecture_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot initialise --arch vgg16"):
        state_dict_from_onnx(REPO / "models" / "ankylosis.onnx", arch="vgg16")
    cfg = TrainConfig(dataset="x", finding="ankylosis", arch="light")
    path = tmp_path / "light.pt"
    save_checkpoint(path, checkpoint_state(build_model("light"), cfg, 0, 0, {}))
    with pytest.raises(ValueError, match="light checkpoint; it cannot initialise --arch vgg16"):
        init_state(path, "vgg16")
    state, info = init_state(path, None)
    assert info["arch"] == "light" and not info["freeze_bn"] and len(info["sha256"]) == 64
