"""Training loop (paper, "Training setup"): Adam (alpha 0.001, betas 0.9/0.999, weight
decay 0.0005), batch 16, 200 epochs, from scratch; every epoch one fresh window per
annotated joint (data.py), augmented (augment.py); loss of Eqs. 1-3 (loss.py).

    train.py --dataset DIR --finding ankylosis|subluxation --arch vgg16|light \\
             --epochs N --out DIR [--folds FILE --fold K] [--init CHECKPOINT|MODEL.onnx]

writes ``OUT/config.json`` (the :class:`~rajoints_train.config.TrainConfig`),
``OUT/last.pt`` (model, optimiser, config and progress; written after every epoch and every
``--checkpoint-every`` iterations, and resumable with ``--resume``, also mid-epoch) and
``OUT/log.jsonl`` (one line of losses and window counts per epoch). Runs on CUDA when
available (``--device auto``), else on the CPU.

``--init`` starts from weights (recover.py) with a fresh optimiser and progress. Rare
joints are oversampled to ``--rare-fraction`` of the windows (data.py; default 0, one window
per joint as the paper; adapt.py and cv.py pass 0.25).

``--resume`` continues the run of ``OUT/last.pt`` as it was started: what the run learns
(data, finding, architecture, ``--init`` and its BatchNorm freezing, seed, batch size,
learning rate, rare fraction, ...) comes from the checkpoint's config, and a command line
that gives another value for one of these is refused. Only how long and where it runs
(:data:`RESUME_MAY_CHANGE`: ``--epochs``, ``--max-iters``, ``--device``, ...) may change.
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
from .domain import DomainRandomiser
from .config import TrainConfig
from .data import (SEED_TAG_INIT, SEED_TAG_SHUFFLE, JointCropDataset, derive_seed, load_annotations,
                   prepare_image, training_images)
from .loss import ssd_loss
from .priors import default_boxes
from .ssd import build_model

CHECKPOINT_FORMAT = "rajoints-ssd-checkpoint/1"
#: TrainConfig fields a ``--resume`` may change: how long, where and how verbosely the run
#: goes on, and the dataset's path (its annotations must still be the same: their sha256
#: is checked). Every other field defines what is learnt and comes from the checkpoint.
RESUME_MAY_CHANGE = frozenset({"dataset", "out", "epochs", "max_iters", "device", "workers", "threads",
                               "checkpoint_every", "log_every", "command", "git_commit"})


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
    # Films the node must refuse, and films whose joints were all deleted, have nothing
    # to learn from.
    not_assessable = sum(1 for a in chosen if not a.assessable)
    no_joints = sum(1 for a in chosen if a.assessable and not a.joints)
    chosen = [a for a in chosen if a.assessable and a.joints]
    if not chosen:
        raise ValueError(f"{dataset}: no images to train on ({not_assessable} not assessable, "
                         f"{no_joints} without joints)")
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
        rare_fraction=cfg.rare_fraction, lookalike_ratio=cfg.lookalike_ratio,
        domain=DomainRandomiser.from_config(cfg),
    )
    ann_path = dataset / "annotations.json" if dataset.is_dir() else dataset
    facts = {
        "dataset_sha256": file_sha256(ann_path),
        "images": len(images),
        "images_in_dataset": len(anns),
        "windows_per_epoch": len(ds),
        "positive_joints": int(sum(int((img.labels == 2).sum()) for img in images)),
        "skipped_not_assessable": not_assessable,
        "skipped_without_joints": no_joints,
        "joint_windows": ds.joint_windows,
        "rare_joints": ds.rare_joints,
        "extra_rare_windows": ds.extra_windows,
        "rare_windows_per_epoch": int(ds.is_rare.sum()),
        "lookalike_windows_per_epoch": dict(ds.lookalike_windows),
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
                     optimizer: torch.optim.Optimizer | None = None, epoch_pos: int = 0) -> dict:
    """What ``last.pt`` holds: the weights (on the CPU), the config, the progress, facts
    about the data for the provenance, and the optimiser state for ``--resume``. ``epoch``
    counts finished epochs; ``epoch_pos`` the windows of the next one already trained on
    (a checkpoint written mid-epoch), which a resumed run skips."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": epoch,
        "iteration": iteration,
        "epoch_pos": epoch_pos,
        "facts": facts,
        "versions": {"rajoints_train": __version__, "torch": str(torch.__version__)},
    }


def lr_at(cfg: TrainConfig, iteration: int) -> float:
    """The learning rate of optimiser step ``iteration`` (0-based): ``lr`` times
    ``lr_decay_factor`` for each step of ``lr_decay_at`` already passed. A function of the
    iteration alone, so a resumed run continues on the same schedule."""
    passed = sum(1 for n in cfg.lr_decay_at if iteration >= n)
    return cfg.lr * cfg.lr_decay_factor**passed


def format_duration(seconds: float) -> str:
    """``1h 02m``, ``3m 05s`` or ``12s``: an ETA a person reads at a glance."""
    s = int(round(max(seconds, 0.0)))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def total_iterations(cfg: TrainConfig, windows_per_epoch: int) -> int:
    """Optimiser steps of the whole run: every epoch's batches (a last batch of one window
    is skipped), capped by ``max_iters``."""
    full, rest = divmod(windows_per_epoch, cfg.batch_size)
    per_epoch = max(full + (1 if rest >= 2 else 0), 1)
    total = per_epoch * cfg.epochs
    return min(total, cfg.max_iters) if cfg.max_iters is not None else total


def _same(field: str, a, b) -> bool:
    if field in ("init", "folds") and a is not None and b is not None:
        return Path(a).resolve() == Path(b).resolve()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def resume_differences(saved: TrainConfig, cfg: TrainConfig) -> list[str]:
    """The fields outside :data:`RESUME_MAY_CHANGE` in which ``cfg`` differs from the
    checkpoint's ``saved`` config, as ``name: saved -> cfg`` lines."""
    a, b = saved.to_dict(), cfg.to_dict()
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if k not in RESUME_MAY_CHANGE and not _same(k, a[k], b[k])]


def refuse_released(ck: dict, ck_path: Path) -> None:
    """A released checkpoint (export.py's ``X.pt``) has no optimiser state to resume."""
    if ck.get("optimizer") is None:
        raise ValueError(f"--resume: {ck_path} holds weights without an optimiser state (a released "
                         "checkpoint); start from it with --init instead")


def check_resume(saved: TrainConfig, cfg: TrainConfig, ck_path: Path) -> None:
    """Raises ValueError when ``cfg`` would resume the run of ``ck_path`` with another
    training-defining setting than it was started with."""
    diffs = resume_differences(saved, cfg)
    if diffs:
        raise ValueError(f"--resume: {ck_path} was started with other settings ({'; '.join(diffs)}); only "
                         f"{', '.join(sorted(RESUME_MAY_CHANGE - {'command', 'git_commit'}))} may change "
                         "on resume (start a new --out to change the others)")


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
    ck_path = out / "last.pt"
    ck = None
    if resume:
        if not ck_path.is_file():
            raise FileNotFoundError(f"--resume: no {ck_path} to resume from")
        ck = load_checkpoint(ck_path, map_location=device)
        refuse_released(ck, ck_path)
        check_resume(TrainConfig.from_dict(ck["config"]), cfg, ck_path)
    ds, facts = build_dataset(cfg)
    if ck is not None:
        for key in ("dataset_sha256", "windows_per_epoch"):
            if key in ck["facts"] and ck["facts"][key] != facts[key]:
                raise ValueError(f"--resume: {ck_path} was trained on data with {key} {ck['facts'][key]}, "
                                 f"{cfg.dataset} now has {facts[key]}; start a new run instead")
    g_init = torch.Generator().manual_seed(derive_seed(cfg.seed, SEED_TAG_INIT))
    model = build_model(cfg.arch, cfg.batch_norm, generator=g_init)
    if cfg.init and not resume:
        from .recover import init_state

        state, info = init_state(Path(cfg.init), cfg.arch)
        cfg.init_sha256 = info["sha256"]
        cfg.freeze_bn = cfg.freeze_bn or bool(info["freeze_bn"])
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"--init {cfg.init} does not fit the {cfg.arch} model: {e}") from None
        log(f"initialised from {cfg.init} ({info['finding']} {info['arch']} {info['version']}, sha256 "
            f"{info['sha256'][:16]}...){'; BatchNorm frozen (folded in the export)' if cfg.freeze_bn else ''}")
        if info["finding"] and info["finding"] != cfg.finding:
            log(f"warning: --init is a {info['finding']} detector, training {cfg.finding}")
        if abs(info["pixel_spacing_mm"] - cfg.pixel_spacing_mm) > 1e-9:
            log(f"warning: --init was trained at {info['pixel_spacing_mm']} mm, training at {cfg.pixel_spacing_mm} mm")
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    start_epoch, iteration, start_pos = 0, 0, 0
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, iteration, start_pos = ck["epoch"], ck["iteration"], int(ck.get("epoch_pos", 0))
        log(f"resumed from {ck_path} at epoch {start_epoch}, iteration {iteration}"
            + (f", {start_pos} windows into the epoch" if start_pos else ""))
    cfg.save(out / "config.json")
    skipped = facts["skipped_not_assessable"] + facts["skipped_without_joints"]
    log(f"{cfg.finding} / {cfg.arch} on {device}: {facts['images']} images"
        + (f" ({facts['skipped_not_assessable']} not assessable and {facts['skipped_without_joints']} "
           f"without joints skipped)" if skipped else "")
        + f", {facts['windows_per_epoch']} windows per epoch ({facts['joint_windows']} joints, "
        f"{facts['rare_joints']} rare, + {facts['extra_rare_windows']} extra rare windows: "
        f"{facts['rare_windows_per_epoch']} rare), {facts['positive_joints']} positive joints")
    total = total_iterations(cfg, len(ds))
    is_rare = torch.from_numpy(ds.is_rare)

    def state(epoch: int, pos: int = 0) -> dict:
        return checkpoint_state(model, cfg, epoch, iteration, facts, opt, pos)

    t_run, it_run = time.perf_counter(), iteration

    def progress(prefix: str, loss: float) -> str:
        done_here = iteration - it_run
        spi = (time.perf_counter() - t_run) / done_here if done_here else float("nan")
        eta = format_duration(spi * (total - iteration)) if done_here else "?"
        return f"{prefix} it {iteration}/{total}: loss {loss:.4f}, {spi:.2f} s/it, ETA {eta}"

    logf = open(out / "log.jsonl", "a")
    try:
        epoch, pos = start_epoch, start_pos
        done = cfg.max_iters is not None and iteration >= cfg.max_iters
        while epoch < cfg.epochs and not done:
            ds.set_epoch(epoch)
            g_shuffle = torch.Generator().manual_seed(derive_seed(cfg.seed, SEED_TAG_SHUFFLE, epoch))
            # The epoch's order is a function of seed and epoch: a run resumed mid-epoch
            # skips the windows already trained on.
            order = torch.randperm(len(ds), generator=g_shuffle)
            loader = torch.utils.data.DataLoader(
                ds, batch_size=cfg.batch_size, sampler=order[pos:].tolist(), num_workers=cfg.workers,
                collate_fn=_collate, pin_memory=device.type == "cuda", persistent_workers=False,
            )
            model.train()
            if cfg.freeze_bn:
                for mod in model.modules():
                    if isinstance(mod, torch.nn.BatchNorm2d):
                        mod.eval()
            t0 = time.perf_counter()
            sums = {"loc": 0.0, "conf": 0.0, "n": 0, "windows": 0, "rare": 0}
            for images, loc_t, cls_t in loader:
                batch_idx = order[pos:pos + images.shape[0]]
                pos += images.shape[0]
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
                sums["windows"] += int(batch_idx.numel())
                sums["rare"] += int(is_rare[batch_idx].sum())
                if cfg.log_every and iteration % cfg.log_every == 0:
                    log(progress(f"epoch {epoch + 1}/{cfg.epochs}", l_loc.item() + l_conf.item()))
                if cfg.max_iters is not None and iteration >= cfg.max_iters:
                    done = True
                    break
                if cfg.checkpoint_every and iteration % cfg.checkpoint_every == 0 and pos < len(ds):
                    save_checkpoint(ck_path, state(epoch, pos))
            # Stopped by --max-iters before the epoch's end: the checkpoint says where, so
            # that --resume with a larger --max-iters goes on with the same windows.
            partial = done and pos < len(ds)
            epoch += 1
            secs = time.perf_counter() - t0
            n = max(sums["n"], 1)
            rec = {"epoch": epoch, "iteration": iteration, "lr": lr_at(cfg, max(iteration - 1, 0)),
                   "loss_loc": sums["loc"] / n,
                   "loss_conf": sums["conf"] / n, "batches": sums["n"], "windows": sums["windows"],
                   "rare_windows": sums["rare"], "seconds": round(secs, 2),
                   "seconds_per_iteration": round(secs / n, 3), "partial": partial}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            where = f"stopped in epoch {epoch}/{cfg.epochs} at" if partial else f"epoch {epoch}/{cfg.epochs} done,"
            log(progress(where, rec["loss_loc"] + rec["loss_conf"])
                + f" (loc {rec['loss_loc']:.4f} conf {rec['loss_conf']:.4f}; {sums['n']} batches, "
                f"{sums['windows']} windows of which {sums['rare']} rare, {secs:.1f} s)")
            save_checkpoint(ck_path, state(epoch - 1, pos) if partial else state(epoch))
            pos = 0
    finally:
        logf.close()
    if not ck_path.exists():
        save_checkpoint(ck_path, state(start_epoch))
    return ck_path


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig.__dataclass_fields__
    ap = argparse.ArgumentParser(description="Train one SSD300 joint detector (ankylosis or subluxation).")
    ap.add_argument("--dataset", required=True, help="dataset folder with annotations.json (rajoints-annotations/1)")
    ap.add_argument("--finding", required=True, choices=("ankylosis", "subluxation"), help="which detector to train")
    ap.add_argument("--arch", choices=("vgg16", "light"),
                    help="backbone (default: that of --init, else vgg16 as the paper)")
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
    ap.add_argument("--resume", action="store_true",
                    help="continue from OUT/last.pt (also one written mid-epoch) with the settings it was started "
                         "with; only --epochs, --max-iters, --device, --workers, --threads, --checkpoint-every, "
                         "--log-every and the --dataset path may change")
    ap.add_argument("--init", metavar="CHECKPOINT",
                    help="start from these weights instead of from scratch: a last.pt "
                         "(rajoints-ssd-checkpoint/1) or an exported .onnx such as models/ankylosis.onnx; "
                         "the optimiser and progress start afresh (a lower --lr such as 1e-4 suits fine-tuning)")
    ap.add_argument("--rare-fraction", type=float, default=d["rare_fraction"].default,
                    help="oversample joints with the finding or destroyed (ankylosis/subluxation) to at least "
                         "this share of each epoch's windows (default 0 = off: one window per joint, as the "
                         "paper; adapt.py and cv.py pass 0.25)")
    ap.add_argument("--lookalike-ratio", type=float, default=d["lookalike_ratio"].default, metavar="R",
                    help="hard negatives: windows around each look-alike kind (DIP, CMC, carpus, wrist, JSN 2 "
                         "and overlapping joints, from the annotations' landmarks/jsn/overlap), R times the "
                         "rare joints' windows per kind (default 0 = off, as the paper)")
    ap.add_argument("--domain-p", type=float, default=d["domain_p"].default, metavar="P",
                    help="probability of each domain-randomisation transform (resolution, blur or unsharp "
                         "mask, tone curve, noise, quantisation, JPEG, erasing; default 0 = off, as the paper)")
    ap.add_argument("--zoom-range", type=float, nargs=2, default=list(d["zoom_range"].default), metavar=("MIN", "MAX"),
                    help="crop-resize zoom range (default 0.8 1.25)")
    ap.add_argument("--rotate-deg", type=float, default=d["rotate_deg"].default,
                    help="rotation range +- degrees (default 10)")
    ap.add_argument("--checkpoint-every", type=int, default=0, metavar="ITERS",
                    help="also write last.pt every ITERS iterations (default: after each epoch only)")
    ap.add_argument("--log-every", type=int, default=d["log_every"].default, metavar="ITERS",
                    help="print progress (loss, s/it, ETA) every ITERS iterations (default 10; 0 = epochs only)")
    return ap


_UNSET = object()


def _cli_fields(a: argparse.Namespace) -> dict:
    """TrainConfig fields from the parsed command line (``init`` only where given)."""
    return dict(
        dataset=a.dataset, finding=a.finding, arch=a.arch, out=a.out, epochs=a.epochs, batch_size=a.batch_size,
        lr=a.lr, lr_decay_at=tuple(a.lr_decay_at), lr_decay_factor=a.lr_decay_factor, weight_decay=a.weight_decay,
        seed=a.seed, pixel_spacing_mm=a.pixel_spacing_mm, max_iters=a.max_iters, device=a.device, workers=a.workers,
        threads=a.threads, aug_p=a.aug_p, batch_norm=not a.no_batch_norm, folds=a.folds, fold=a.fold,
        rare_fraction=a.rare_fraction, init=str(a.init) if a.init else None, checkpoint_every=a.checkpoint_every,
        log_every=a.log_every, lookalike_ratio=a.lookalike_ratio, domain_p=a.domain_p,
        zoom_range=tuple(a.zoom_range), rotate_deg=a.rotate_deg,
    )


#: Command-line destinations by the TrainConfig field they set.
_DEST = {"batch_norm": "no_batch_norm"}


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    ap = _parser()
    a = ap.parse_args(argv)
    command = shlex.join([Path(sys.argv[0]).name] + sys.argv[1:] if argv is None else ["train.py"] + list(argv))
    fields = _cli_fields(a)
    if a.resume:
        # What the run learns comes from its checkpoint; the command line may only repeat it.
        ck_path = Path(a.out) / "last.pt"
        if not ck_path.is_file():
            raise FileNotFoundError(f"--resume: no {ck_path} to resume from")
        saved_ck = load_checkpoint(ck_path)
        refuse_released(saved_ck, ck_path)
        saved = TrainConfig.from_dict(saved_ck["config"])
        # Which options the command line gives: parsed again onto a namespace that holds a
        # marker for every option, which argparse then leaves where no value is given.
        given = vars(ap.parse_args(argv, namespace=argparse.Namespace(**{k: _UNSET for k in vars(a)})))
        values = saved.to_dict()
        for name, value in fields.items():
            if given[_DEST.get(name, name)] is _UNSET:
                continue
            if name not in RESUME_MAY_CHANGE and not _same(name, values[name], value):
                option = "--no-batch-norm" if name == "batch_norm" else "--" + name.replace("_", "-")
                raise ValueError(f"--resume: {ck_path} was started with {name} {values[name]!r}, the command "
                                 f"line gives {option} {value!r}; drop it to resume, or start a new --out")
            values[name] = value
        # The provenance keeps the command that started the run, then each resumption.
        command = f"{saved.command}; resumed by: {command}" if saved.command else command
        values.update(command=command, git_commit=git_commit(Path(__file__)))
        cfg = TrainConfig.from_dict(values)
        return cfg, True
    arch = a.arch
    if a.init:
        from .recover import init_arch

        if a.no_batch_norm:
            raise ValueError("--init needs BatchNorm models; drop --no-batch-norm")
        # Only the architecture, to build the model; train() loads and checks the weights.
        arch = arch or init_arch(Path(a.init))
    fields.update(arch=arch or "vgg16", command=command, git_commit=git_commit(Path(__file__)))
    cfg = TrainConfig(**fields)
    cfg.validate()
    return cfg, False


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, resume = parse_args(argv)
        path = train(cfg, resume=resume)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 2
    print(f"checkpoint: {path}")
    return 0
