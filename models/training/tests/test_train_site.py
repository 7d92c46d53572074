"""train.py for site runs: --init (fresh optimiser and progress, provenance), progress lines
with ETA, rare windows in the log, and checkpoints a killed CPU run resumes from mid-epoch
exactly where it stopped."""

import json

import pytest
import torch

from rajoints_train.config import TrainConfig
from rajoints_train.data import SEED_TAG_SHUFFLE, derive_seed
from rajoints_train.export import provenance
from rajoints_train.train import (build_dataset, file_sha256, format_duration, load_checkpoint, main, parse_args,
                                  total_iterations, train)

from conftest import REPO


def cfg_for(ds, out, **kw) -> TrainConfig:
    base = dict(dataset=str(ds), finding="ankylosis", arch="light", out=str(out), epochs=1, batch_size=2,
                threads=1, device="cpu", seed=3, rare_fraction=0.25)
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
    # The first 6 windows of epoch 0's order (seed 3) are items 11, 74, 37, 76, 25, 52 of
    # the 80 joints (31 of them rare, already over 0.25: no extra windows); 5 of the 6 are rare.
    ds, _ = build_dataset(cfg_for(tiny_dataset, tmp_path / "straight"))
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(derive_seed(3, SEED_TAG_SHUFFLE, 0)))
    assert (len(ds), int(ds.is_rare.sum()), order[:6].tolist()) == (80, 31, [11, 74, 37, 76, 25, 52])
    assert int(ds.is_rare[order[:6].numpy()].sum()) == 5
    assert log[-1]["windows"] == 6 and log[-1]["rare_windows"] == 5 and log[-1]["partial"]


class Killed(Exception):
    pass


def test_a_run_killed_mid_epoch_resumes_from_its_checkpoint_every_save(tiny_dataset, tmp_path):
    """--checkpoint-every 2, killed after iteration 3 (before any other save): the resumed
    run starts from the save at iteration 2 and ends with the weights of a straight run."""
    train(cfg_for(tiny_dataset, tmp_path / "straight", max_iters=3), log=lambda s: None)

    def kill_after_3(line: str) -> None:
        if " it 3/" in line:
            raise Killed(line)

    with pytest.raises(Killed):
        train(cfg_for(tiny_dataset, tmp_path / "killed", checkpoint_every=2, log_every=1), log=kill_after_3)
    ck = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert (ck["epoch"], ck["iteration"], ck["epoch_pos"]) == (0, 2, 4)  # the checkpoint-every save
    assert (tmp_path / "killed" / "log.jsonl").read_text() == ""  # no epoch ended, nothing else saved
    lines: list[str] = []
    train(cfg_for(tiny_dataset, tmp_path / "killed", max_iters=3), resume=True, log=lines.append)
    assert any("at epoch 0, iteration 2, 4 windows into the epoch" in s for s in lines)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "killed" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run drew other windows or lost the optimiser"


def test_resume_keeps_the_settings_the_run_started_with(tiny_dataset, tmp_path):
    """--resume without --init keeps --init, its sha256 and frozen BatchNorm, and the
    rare fraction, seed and the rest from the checkpoint; a different value is refused."""
    onnx = REPO / "models" / "ankylosis.onnx"
    out = tmp_path / "run"
    base = ["--dataset", str(tiny_dataset), "--finding", "ankylosis", "--out", str(out), "--batch-size", "2",
            "--threads", "1", "--device", "cpu", "--log-every", "0"]
    assert main(base + ["--init", str(onnx), "--lr", "1e-4", "--rare-fraction", "0.25", "--seed", "3",
                        "--max-iters", "1"]) == 0
    first = TrainConfig.load(out / "config.json")
    assert (first.arch, first.init, first.init_sha256, first.freeze_bn, first.rare_fraction, first.seed) == (
        "light", str(onnx), file_sha256(onnx), True, 0.25, 3)
    cfg, resume = parse_args(base + ["--resume", "--max-iters", "2"])
    assert resume and cfg.max_iters == 2
    for field in ("init", "init_sha256", "freeze_bn", "rare_fraction", "arch", "finding", "seed", "lr",
                  "batch_size", "pixel_spacing_mm", "epochs", "batch_norm", "folds", "fold"):
        assert getattr(cfg, field) == getattr(first, field), field
    assert cfg.command.startswith(first.command + "; resumed by: train.py ")
    for change, message in ((["--rare-fraction", "0.5"], "started with rare_fraction 0.25"),
                            (["--seed", "4"], "started with seed 3"),
                            (["--init", str(REPO / "models" / "subluxation.onnx")], "started with init"),
                            (["--arch", "vgg16"], "started with arch 'light'")):
        with pytest.raises(ValueError, match=message):
            parse_args(base + ["--resume"] + change)
    # Repeating the starting settings is fine.
    parse_args(base + ["--resume", "--init", str(onnx), "--rare-fraction", "0.25", "--seed", "3"])
    assert main(base + ["--resume", "--max-iters", "2"]) == 0
    ck = load_checkpoint(out / "last.pt")
    cfg = TrainConfig.from_dict(ck["config"])
    assert ck["iteration"] == 2 and (cfg.init, cfg.init_sha256, cfg.freeze_bn) == (str(onnx), file_sha256(onnx), True)
    assert f"fine-tuned from {onnx} (sha256 {file_sha256(onnx)}, BatchNorm frozen)" in provenance(cfg, ck, "export.py")
    # BatchNorm stayed frozen: the recovered identity statistics are untouched.
    var = ck["model"]["backbone.stage38.1.running_var"]
    assert torch.allclose(var + 1e-5, torch.ones_like(var))
    # train() itself refuses a config that differs from the checkpoint's.
    with pytest.raises(ValueError, match="init: "):
        train(cfg_for(tiny_dataset, out, max_iters=3, rare_fraction=0.25), resume=True, log=lambda s: None)
    with pytest.raises(FileNotFoundError, match="no .* to resume from"):
        parse_args(base[:4] + ["--out", str(tmp_path / "none"), "--resume"])


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
