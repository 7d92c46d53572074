"""Adapting both detectors to a site's own films: the one command a site runs after
``rajoints annotations export --out DIR``.

    adapt.py --dataset DIR --out SITE_MODELS [--init-dir models | --from-scratch]
             [--max-iters N] [--version site-1] [--intended-use TEXT] [train.py args ...]

trains the ankylosis and the subluxation detector on every assessable film of DIR (from
the shipped detectors' weights by default), exports both to SITE_MODELS/ankylosis.onnx and
SITE_MODELS/subluxation.onnx with their manifests, checks that the node can pair them (same
pixel spacing, mean and std), and prints how to load them. The training runs go to
SITE_MODELS/runs/<finding>/ (``--resume`` continues killed ones). Arguments it does not know
go to train.py.

Defaults differ from train.py's where fine-tuning wants it: ``--lr 1e-4`` when starting from
weights (train.py keeps the paper's 1e-3, which would undo much of what the weights know in
the first epochs), ``--epochs 20`` (40 from scratch), ``--arch light`` from scratch, and
``--rare-fraction 0.25`` (train.py keeps the paper's one window per joint; a site's films
hold few destroyed joints), and the transfer recipe of the 0.4.0 detectors (issue 17):
``--domain-p 0.3`` (domain randomisation) and ``--lookalike-ratio 1`` (hard negatives, where
the films carry look-alike annotations). These are starting points, not tuned values: cv.py
measures what they give, with the same defaults and options (:func:`site_parser`).

The weights come from ``--init-dir``'s released checkpoints (``ankylosis.pt``,
``subluxation.pt``, written by export.py beside each .onnx), else from the .onnx files
themselves (recover.py).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .config import FINDINGS

REPO = Path(__file__).resolve().parents[3]
SITE_INTENDED_USE = ("research only; adapted to one site's own reviewed films; not validated for "
                     "diagnostic use")
#: Fine-tuning defaults (see the module doc).
INIT_LR = "1e-4"
INIT_EPOCHS = "20"
SCRATCH_EPOCHS = "40"
SITE_RARE_FRACTION = "0.25"
SITE_DOMAIN_P = "0.3"
SITE_LOOKALIKE_RATIO = "1.0"


def has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def train_argv(dataset: Path, finding: str, out: Path, init: Path | None, extra: list[str],
               folds: Path | None = None, fold: int | None = None) -> list[str]:
    """train.py's arguments for one detector, with the fine-tuning defaults unless
    ``extra`` sets them."""
    argv = ["--dataset", str(dataset), "--finding", finding, "--out", str(out)]
    if init is not None:
        argv += ["--init", str(init)]
        if not has_flag(extra, "--lr"):
            argv += ["--lr", INIT_LR]
    elif not has_flag(extra, "--arch"):
        argv += ["--arch", "light"]
    if not has_flag(extra, "--epochs"):
        argv += ["--epochs", INIT_EPOCHS if init is not None else SCRATCH_EPOCHS]
    if not has_flag(extra, "--rare-fraction"):
        argv += ["--rare-fraction", SITE_RARE_FRACTION]
    if not has_flag(extra, "--domain-p"):
        argv += ["--domain-p", SITE_DOMAIN_P]
    if not has_flag(extra, "--lookalike-ratio"):
        argv += ["--lookalike-ratio", SITE_LOOKALIKE_RATIO]
    if folds is not None:
        argv += ["--folds", str(folds), "--fold", str(fold)]
    if has_flag(extra, "--resume") and not (out / "last.pt").exists():
        extra = [a for a in extra if a != "--resume"]  # nothing to resume yet: start
    return argv + list(extra)


def site_parser() -> argparse.ArgumentParser:
    """The options adapt.py and cv.py share, with the same defaults, so that cv.py measures
    what adapt.py trains. Arguments neither knows (``--epochs``, ``--max-iters``, ``--lr``,
    ``--rare-fraction``, ...) go to train.py."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--dataset", required=True, type=Path, help="rajoints annotations export folder")
    ap.add_argument("--init-dir", type=Path, default=REPO / "models",
                    help="start from DIR/ankylosis.pt and DIR/subluxation.pt, the released checkpoints, else "
                         "from DIR's .onnx files (default: the shipped models/)")
    ap.add_argument("--from-scratch", action="store_true",
                    help=f"do not start from --init-dir's weights (then --arch light, --epochs {SCRATCH_EPOCHS})")
    return ap


def init_model(init_dir: Path | None, finding: str) -> Path | None:
    if init_dir is None:
        return None
    for path in (Path(init_dir) / f"{finding}.pt", Path(init_dir) / f"{finding}.onnx"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"--init-dir {init_dir}: no {finding}.pt or {finding}.onnx there")


def train_and_export(dataset: Path, finding: str, run_dir: Path, onnx_out: Path, init: Path | None,
                     extra: list[str], version: str, intended_use: str, folds: Path | None = None,
                     fold: int | None = None, log=print) -> dict:
    """Trains one detector with train.py and exports it (with the parity check); returns
    export's summary. Raises RuntimeError when training fails."""
    from .export import export
    from .train import main as train_main

    argv = train_argv(dataset, finding, run_dir, init, extra, folds, fold)
    log(f"train.py {shlex.join(argv)}")
    if train_main(argv) != 0:
        raise RuntimeError(f"training the {finding} detector failed (train.py {shlex.join(argv)})")
    cmd = shlex.join(["export.py", "--checkpoint", str(run_dir / "last.pt"), "--out", str(onnx_out),
                      "--version", version, "--intended-use", intended_use])
    r = export(run_dir / "last.pt", onnx_out, finding, version, intended_use, True, cmd)
    p = r["parity"]
    log(f"exported {r['onnx']} and {r['manifest']}; parity max |d boxes| "
        f"{max(p['boxes'], p['boxes_batch1']):.1e} px, |d scores| {max(p['scores'], p['scores_batch1']):.1e}")
    return r


def check_pair(manifests: dict[str, Path]) -> None:
    """The node refuses a pair whose spacing, mean or std differ (src/pipeline/mod.rs)."""
    from .export import read_manifest

    ms = {f: read_manifest(p) for f, p in manifests.items()}
    for key in ("training_pixel_spacing_mm", "mean", "std"):
        values = {f: m[key] for f, m in ms.items()}
        if len({str(v) for v in values.values()}) > 1:
            raise ValueError(f"the two detectors differ in {key}: {values}; train both with the same settings")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        parents=[site_parser()],
        description="Train both detectors on a site's exported films and write loadable models.",
        epilog="Other arguments go to train.py (e.g. --epochs, --max-iters, --lr, --batch-size, --threads, "
               "--rare-fraction, --resume).")
    ap.add_argument("--out", required=True, type=Path, help="folder for ankylosis/subluxation .onnx + .toml")
    ap.add_argument("--version", default="site-1", help="model version in the manifests (default site-1)")
    ap.add_argument("--intended-use", default=SITE_INTENDED_USE, help="intended_use of the manifests")
    ap.add_argument("--runs", type=Path, help="training runs folder (default OUT/runs)")
    a, extra = ap.parse_known_args(argv)
    runs = a.runs or a.out / "runs"
    manifests = {}
    try:
        for finding in FINDINGS:
            init = None if a.from_scratch else init_model(a.init_dir, finding)
            r = train_and_export(a.dataset, finding, runs / finding, a.out / f"{finding}.onnx", init, extra,
                                 a.version, a.intended_use)
            manifests[finding] = Path(r["manifest"])
        check_pair(manifests)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"adapt: error: {e}", file=sys.stderr)
        return 2
    print(f"\nsite models in {a.out}; load them with\n"
          f"  rajoints analyze FILE.dcm --out DIR --ankylosis-model {manifests['ankylosis']} "
          f"--subluxation-model {manifests['subluxation']}\n"
          f"or in rajoints.toml:\n  [models]\n  ankylosis = \"{manifests['ankylosis'].resolve()}\"\n"
          f"  subluxation = \"{manifests['subluxation'].resolve()}\"")
    return 0
