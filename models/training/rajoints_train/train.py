"""Training loop (paper, "Training setup"): Adam (alpha 0.001, betas 0.9/0.999, weight
decay 0.0005), batch 16, 200 epochs, from scratch; every epoch one fresh window per
annotated joint (data.py), augmented (augment.py); loss of Eqs. 1-3 (loss.py).

    train.py --dataset DIR --finding ankylosis|subluxation --arch vgg16|light \\
             --epochs N --out DIR [--folds FILE --fold K]

writes ``OUT/config.json`` (the :class:`~rajoints_train.config.TrainConfig`),
``OUT/last.pt`` (model, optimiser, config and progress; written after every epoch, and
resumable with ``--resume``) and ``OUT/log.jsonl`` (one line of losses per epoch).
Runs on CUDA when available (``--device auto``), else on the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from . import __version__
from .augment import Augmenter
from .config import TrainConfig
from .data import (SEED_TAG_INIT, SEED_TAG_SHUFFLE, JointCropDataset, derive_seed, load_annotations,
                   prepare_image, training_images)
from .loss import ssd_loss
from .priors import default_boxes
from .ssd import build_model

CHECKPOINT_FORMAT = "rajoints-ssd-checkpoint/1"


def git_commit(path: Path) -> str:
    """HEAD of the repository holding ``path``, with ``-dirty`` when tracked files differ;
    empty when git or the repository is missing."""
    try:
        cwd = str(Path(path).resolve().parent)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return ""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda requested but CUDA is not available")
    return torch.device(name)


def build_dataset(cfg: TrainConfig) -> tuple[JointCropDataset, dict]:
    """Decodes and scales the training images once (kept in memory), and wraps them in
    the per-joint crop dataset. Returns it with facts for the checkpoint's provenance."""
    dataset = Path(cfg.dataset)
    anns = load_annotations(dataset)
    chosen = training_images(anns, Path(cfg.folds) if cfg.folds else None, cfg.fold)
    # Films with no joints (the kinds the node must refuse) have nothing to learn from.
    chosen = [a for a in chosen if a.joints]
    if not chosen:
        raise ValueError(f"{dataset}: no images to train on")
    args = [(dataset, a, cfg.finding, cfg.pixel_spacing_mm, cfg.fallback_scale) for a in chosen]
    if cfg.workers > 1 and len(chosen) > 1:
        # Decoding and area-averaging take about 0.25 s a film; with hundreds of films the
        # loader's processes do it side by side (results keep the input order).
        with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
            images = list(pool.map(prepare_image, *zip(*args), chunksize=4))
    else:
        images = [prepare_image(*a) for a in args]
    ds = JointCropDataset(
        images, default_boxes(), seed=cfg.seed, augmenter=Augmenter.from_config(cfg),
        iou_threshold=cfg.iou_threshold, min_visible=cfg.min_visible, overhang=cfg.overhang,
    )
    ann_path = dataset / "annotations.json" if dataset.is_dir() else dataset
    facts = {
        "dataset_sha256": file_sha256(ann_path),
        "images": len(images),
        "images_in_dataset": len(anns),
        "windows_per_epoch": len(ds),
        "positive_joints": int(sum(int((img.labels == 2).sum()) for img in images)),
    }
    return ds, facts


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    # weights_only: a checkpoint holds tensors, numbers and strings; nothing to unpickle.
    ck = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return ck


def checkpoint_state(model: torch.nn.Module, cfg: TrainConfig, epoch: int, iteration: int, facts: dict,
                     optimizer: torch.optim.Optimizer | None = None) -> dict:
    """What ``last.pt`` holds: the weights (on the CPU), the config, the progress, facts
    about the data for the provenance, and the optimiser state for ``--resume``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": epoch,
        "iteration": iteration,
        "facts": facts,
        "versions": {"rajoints_train": __version__, "torch": str(torch.__version__)},
    }


def lr_at(cfg: TrainConfig, iteration: int) -> float:
    """The learning rate of optimiser step ``iteration`` (0-based): ``lr`` times
    ``lr_decay_factor`` for each step of ``lr_decay_at`` already passed. A function of the
    iteration alone, so a resumed run continues on the same schedule."""
    passed = sum(1 for n in cfg.lr_decay_at if iteration >= n)
    return cfg.lr * cfg.lr_decay_factor**passed


def _collate(batch):
    images, loc, cls = zip(*batch)
    return torch.stack(images), torch.stack(loc), torch.stack(cls)


def train(cfg: TrainConfig, resume: bool = False, log=print) -> Path:
    """Runs the training of ``cfg``; returns the path of the last checkpoint."""
    cfg.validate()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed 300x300 input: autotune once
    ds, facts = build_dataset(cfg)
    g_init = torch.Generator().manual_seed(derive_seed(cfg.seed, SEED_TAG_INIT))
    model = build_model(cfg.arch, cfg.batch_norm, generator=g_init).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    start_epoch, iteration = 0, 0
    ck_path = out / "last.pt"
    if resume:
        ck = load_checkpoint(ck_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, iteration = ck["epoch"], ck["iteration"]
        log(f"resumed from {ck_path} at epoch {start_epoch}, iteration {iteration}")
    cfg.save(out / "config.json")
    log(f"{cfg.finding} / {cfg.arch} on {device}: {facts['images']} images, "
        f"{facts['windows_per_epoch']} windows per epoch, {facts['positive_joints']} positive joints")

    def state(epoch: int) -> dict:
        return checkpoint_state(model, cfg, epoch, iteration, facts, opt)

    logf = open(out / "log.jsonl", "a")
    try:
        epoch = start_epoch
        done = cfg.max_iters is not None and iteration >= cfg.max_iters
        while epoch < cfg.epochs and not done:
            ds.set_epoch(epoch)
            g_shuffle = torch.Generator().manual_seed(derive_seed(cfg.seed, SEED_TAG_SHUFFLE, epoch))
            loader = torch.utils.data.DataLoader(
                ds, batch_size=cfg.batch_size, shuffle=True, generator=g_shuffle, num_workers=cfg.workers,
                collate_fn=_collate, pin_memory=device.type == "cuda", persistent_workers=False,
            )
            model.train()
            t0 = time.perf_counter()
            sums = {"loc": 0.0, "conf": 0.0, "n": 0}
            for images, loc_t, cls_t in loader:
                if images.shape[0] < 2:
                    continue  # BatchNorm needs two samples per channel on the 1x1 map
                images, loc_t, cls_t = images.to(device), loc_t.to(device), cls_t.to(device)
                loc_p, conf_p = model(images)
                l_loc, l_conf = ssd_loss(loc_p, conf_p, loc_t, cls_t, cfg.neg_pos_ratio)
                loss = l_loc + l_conf
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch}, iteration {iteration}")
                for group in opt.param_groups:
                    group["lr"] = lr_at(cfg, iteration)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                iteration += 1
                sums["loc"] += l_loc.item()
                sums["conf"] += l_conf.item()
                sums["n"] += 1
                if cfg.max_iters is not None and iteration >= cfg.max_iters:
                    done = True
                    break
            epoch += 1
            secs = time.perf_counter() - t0
            n = max(sums["n"], 1)
            rec = {"epoch": epoch, "iteration": iteration, "lr": lr_at(cfg, max(iteration - 1, 0)),
                   "loss_loc": sums["loc"] / n,
                   "loss_conf": sums["conf"] / n, "batches": sums["n"], "seconds": round(secs, 2)}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            log(f"epoch {epoch}/{cfg.epochs} it {iteration}: loc {rec['loss_loc']:.4f} conf {rec['loss_conf']:.4f} "
                f"({sums['n']} batches, {secs:.1f} s)")
            save_checkpoint(ck_path, state(epoch))
    finally:
        logf.close()
    if not ck_path.exists():
        save_checkpoint(ck_path, state(start_epoch))
    return ck_path


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    d = TrainConfig.__dataclass_fields__
    ap = argparse.ArgumentParser(description="Train one SSD300 joint detector (ankylosis or subluxation).")
    ap.add_argument("--dataset", required=True, help="dataset folder with annotations.json (rajoints-annotations/1)")
    ap.add_argument("--finding", required=True, choices=("ankylosis", "subluxation"), help="which detector to train")
    ap.add_argument("--arch", default="vgg16", choices=("vgg16", "light"), help="backbone (default vgg16, as the paper)")
    ap.add_argument("--epochs", type=int, default=d["epochs"].default, help="epochs (default 200, as the paper)")
    ap.add_argument("--out", required=True, help="output folder for config.json, last.pt and log.jsonl")
    ap.add_argument("--folds", help="rajoints-folds/1 file (rajoints eval --folds K writes one)")
    ap.add_argument("--fold", type=int, help="fold held out: train on the images of the other folds")
    ap.add_argument("--batch-size", type=int, default=d["batch_size"].default, help="batch size (default 16)")
    ap.add_argument("--lr", type=float, default=d["lr"].default, help="Adam learning rate (default 1e-3)")
    ap.add_argument("--lr-decay-at", type=int, nargs="+", default=[], metavar="ITER",
                    help="multiply the learning rate by --lr-decay-factor after these iterations (default: constant)")
    ap.add_argument("--lr-decay-factor", type=float, default=d["lr_decay_factor"].default,
                    help="factor of each --lr-decay-at step (default 0.1)")
    ap.add_argument("--weight-decay", type=float, default=d["weight_decay"].default, help="Adam weight decay (default 5e-4)")
    ap.add_argument("--seed", type=int, default=d["seed"].default, help="seed of every random draw (default 0)")
    ap.add_argument("--pixel-spacing-mm", type=float, default=d["pixel_spacing_mm"].default,
                    help="model-input pixel spacing in mm; 0 = halve every image as the paper (default 0.3)")
    ap.add_argument("--max-iters", type=int, help="stop after this many optimiser steps (smoke tests)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:K")
    ap.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default 0)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--aug-p", type=float, default=d["aug_p"].default, help="probability of each augmentation (default 0.5)")
    ap.add_argument("--no-batch-norm", action="store_true", help="plain convolutions, as the original SSD")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    a = ap.parse_args(argv)
    cfg = TrainConfig(
        dataset=a.dataset, finding=a.finding, arch=a.arch, out=a.out, epochs=a.epochs, batch_size=a.batch_size,
        lr=a.lr, lr_decay_at=tuple(a.lr_decay_at), lr_decay_factor=a.lr_decay_factor, weight_decay=a.weight_decay, seed=a.seed, pixel_spacing_mm=a.pixel_spacing_mm,
        max_iters=a.max_iters, device=a.device, workers=a.workers, threads=a.threads, aug_p=a.aug_p,
        batch_norm=not a.no_batch_norm, folds=a.folds, fold=a.fold,
        command=shlex.join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        git_commit=git_commit(Path(__file__)),
    )
    cfg.validate()
    return cfg, a.resume


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, resume = parse_args(argv)
        path = train(cfg, resume=resume)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 2
    print(f"checkpoint: {path}")
    return 0
