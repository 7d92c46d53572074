"""train.py for site runs: --init (fresh optimiser and progress, provenance), progress lines
with ETA, rare windows in the log, and checkpoints a killed CPU run resumes from mid-epoch
exactly where it stopped."""

import json

import pytest
import torch

from rajoints_train.config import TrainConfig
from rajoints_train.export import provenance
from rajoints_train.train import format_duration, load_checkpoint, total_iterations, train


def cfg_for(ds, out, **kw) -> TrainConfig:
    base = dict(dataset=str(ds), finding="ankylosis", arch="light", out=str(out), epochs=1, batch_size=2,
                threads=1, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_a_run_resumed_mid_epoch_equals_one_straight_run(tiny_dataset, tmp_path):
    lines: list[str] = []
    train(cfg_for(tiny_dataset, tmp_path / "straight", max_iters=3, log_every=1), log=lines.append)
    progress = [s for s in lines if " it " in s and "s/it" in s]
    assert progress[0].startswith("epoch 1/1 it 1/3: loss ") and "ETA" in progress[0]
    # Stopped after 2 iterations (with a checkpoint after each), then resumed to 3.
    train(cfg_for(tiny_dataset, tmp_path / "killed", max_iters=2, checkpoint_every=1), log=lambda s: None)
    ck = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert (ck["epoch"], ck["iteration"], ck["epoch_pos"]) == (0, 2, 4)
    train(cfg_for(tiny_dataset, tmp_path / "killed", max_iters=3), resume=True, log=lambda s: None)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "killed" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run drew other windows or lost the optimiser"
    log = [json.loads(s) for s in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["windows"] == 6 and 0 <= log[-1]["rare_windows"] <= 6 and log[-1]["partial"]


def test_init_starts_from_weights_with_fresh_progress(tiny_dataset, tmp_path):
    first = train(cfg_for(tiny_dataset, tmp_path / "a", max_iters=1), log=lambda s: None)
    lines: list[str] = []
    path = train(cfg_for(tiny_dataset, tmp_path / "b", max_iters=1, init=str(first), lr=1e-4), log=lines.append)
    assert any(s.startswith(f"initialised from {first}") for s in lines)
    ck = load_checkpoint(path)
    assert ck["iteration"] == 1  # progress restarts
    cfg = TrainConfig.from_dict(ck["config"])
    assert cfg.init == str(first) and len(cfg.init_sha256) == 64 and not cfg.freeze_bn
    assert f"fine-tuned from {first} (sha256 {cfg.init_sha256}" in provenance(cfg, ck, "export.py")
    with pytest.raises(ValueError, match="it cannot initialise --arch vgg16"):
        train(cfg_for(tiny_dataset, tmp_path / "c", arch="vgg16", max_iters=1, init=str(first)), log=lambda s: None)


def test_eta_and_totals():
    assert format_duration(5.4) == "5s" and format_duration(185) == "3m 05s" and format_duration(3720) == "1h 02m"
    cfg = TrainConfig(dataset="x", finding="ankylosis", epochs=3, batch_size=16)
    assert total_iterations(cfg, 33) == 3 * 2  # 16 + 16, the last window alone is skipped
    assert total_iterations(cfg, 34) == 3 * 3
    cfg.max_iters = 4
    assert total_iterations(cfg, 34) == 4
