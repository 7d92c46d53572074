"""Patient-level cross-validation of both detectors on a site's films, measured by the node.

    cv.py --dataset DIR [--folds DIR/folds.json] --out RUNS [--init-dir models | --from-scratch]
          [--max-iters N] [--resume] [train.py args ...]

For each fold K of the ``rajoints-folds/1`` split (patient-level; ``rajoints annotations
export`` and ``rajoints eval --folds 5 --split-only`` write one) it trains both detectors on
the other folds exactly as adapt.py trains on all of them (same options and defaults: from
--init-dir's weights, the shipped models/ unless given, lr 1e-4, rare fraction 0.25),
exports them to RUNS/foldK/, and runs the node's evaluator on fold K alone
(``rajoints eval --split F --fold K``), so that every number comes from films whose patient
the models never saw, measured by the code that runs in the clinic. It writes RUNS/cv.json
and prints per fold and as mean ± sd (over folds):

- ``joints_found``: detected joints over all annotated joints (IoU > 0.45);
- ``finding_recall``: joints with ankylosis or subluxation present that the node found and
  flagged with a finding they have, over all such joints (the destroyed joints that a
  detector trained on mostly normal joints misses);
- ``ankylosis_recall``, ``subluxation_recall``: joints with the finding found and flagged
  with it, over all joints with it (missed joints count as misses);
- ``ankylosis_specificity``, ``subluxation_specificity``: over the found joints without it;
- ``false_boxes_per_film``: boxes that match no annotated joint, per film.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from .adapt import REPO, init_model, site_parser, train_and_export
from .config import FINDINGS
from .data import load_folds

CV_FORMAT = "rajoints-cv/1"
METRICS = ("joints_found", "finding_recall", "ankylosis_recall", "subluxation_recall", "ankylosis_specificity",
           "subluxation_specificity", "false_boxes_per_film")


def find_binary(given: Path | None = None) -> Path:
    """``--rajoints``, else $RAJOINTS_BIN, else the newer of target/release and
    target/debug (a stale one may lack ``eval --fold``)."""
    if given is not None:
        return Path(given)
    env = os.environ.get("RAJOINTS_BIN")
    if env:
        return Path(env)
    found = [p for p in (REPO / "target/release/rajoints", REPO / "target/debug/rajoints") if p.is_file()]
    if not found:
        raise FileNotFoundError("no rajoints binary: run `cargo build --release`, or pass --rajoints")
    return max(found, key=lambda p: p.stat().st_mtime)


def _ratio(n: float, d: float) -> float | None:
    return n / d if d else None


def fold_metrics(ensemble: dict) -> dict[str, float | None]:
    """The cv measures from the ``ensemble`` measures of ``rajoints eval --json``."""
    if "finding_joints" not in ensemble:
        raise ValueError("rajoints eval does not report finding_joints: rebuild the rajoints binary")
    a, s = ensemble["ankylosis"], ensemble["subluxation"]
    return {
        "joints_found": _ratio(ensemble["detected"], ensemble["joints"]),
        "finding_recall": _ratio(ensemble["finding_flagged"], ensemble["finding_joints"]),
        "ankylosis_recall": _ratio(a["tp"], ensemble["ankylosis_positive"]),
        "subluxation_recall": _ratio(s["tp"], ensemble["subluxation_positive"]),
        "ankylosis_specificity": _ratio(a["tn"], a["tn"] + a["fp"]),
        "subluxation_specificity": _ratio(s["tn"], s["tn"] + s["fp"]),
        "false_boxes_per_film": _ratio(ensemble["false_detections"], ensemble["images"]),
    }


def summarise(values: list[float | None]) -> dict:
    """Mean and sample sd over the folds where the measure is defined."""
    v = [x for x in values if x is not None]
    return {"mean": statistics.fmean(v) if v else None, "sd": statistics.stdev(v) if len(v) > 1 else None,
            "folds": len(v)}


def table(folds: list[dict], mean: dict) -> str:
    heads = ("joints found", "finding rec", "ank recall", "sub recall", "ank spec", "sub spec", "false/film")
    lines = [f"{'':<8}{'films':>6}{'finding j':>10}" + "".join(f"{h:>14}" for h in heads)]

    def cell(k: str, v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v:.2f}" if k == "false_boxes_per_film" else f"{100 * v:.1f}%"

    for f in folds:
        lines.append(f"{'fold ' + str(f['fold']):<8}{f['images']:>6}{f['finding_joints']:>10}"
                     + "".join(f"{cell(k, f['metrics'][k]):>14}" for k in METRICS))

    def pm(k: str) -> str:
        m = mean[k]
        if m["mean"] is None:
            return "-"
        sd = m["sd"]
        if k == "false_boxes_per_film":
            return f"{m['mean']:.2f}" + (f"±{sd:.2f}" if sd is not None else "")
        return f"{100 * m['mean']:.1f}" + (f"±{100 * sd:.1f}" if sd is not None else "") + "%"

    lines.append(f"{'mean±sd':<8}{'':>6}{'':>10}" + "".join(f"{pm(k):>14}" for k in METRICS))
    return "\n".join(lines)


def run_fold(k: int, a, extra: list[str], exe: Path, log=print) -> dict:
    fold_dir = a.out / f"fold{k}"
    eval_json = fold_dir / "eval.json"
    if not (a.resume and eval_json.is_file()):
        manifests = {}
        for finding in FINDINGS:
            init = None if a.from_scratch else init_model(a.init_dir, finding)
            r = train_and_export(a.dataset, finding, fold_dir / f"train-{finding}", fold_dir / f"{finding}.onnx",
                                 init, extra, f"cv-fold{k}", "cross-validation only", a.folds, k, log)
            manifests[finding] = r["manifest"]
        cmd = [str(exe), "eval", "--dataset", str(a.dataset), "--split", str(a.folds), "--fold", str(k),
               "--ankylosis-model", manifests["ankylosis"], "--subluxation-model", manifests["subluxation"],
               "--json", str(eval_json)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        (fold_dir / "eval.txt").write_text(p.stdout)
        if p.returncode != 0:
            raise RuntimeError(f"rajoints eval failed on fold {k}:\n{p.stderr}")
    ens = json.loads(eval_json.read_text())["overall"]["ensemble"]
    return {"fold": k, "images": ens["images"], "joints": ens["joints"], "finding_joints": ens.get("finding_joints"),
            "metrics": fold_metrics(ens), "eval": str(eval_json), "models": str(fold_dir)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        parents=[site_parser()],
        description="Patient-level cross-validation of both detectors, measured by rajoints eval.",
        epilog="Other arguments go to train.py (e.g. --epochs, --max-iters, --lr, --batch-size, --threads, "
               "--rare-fraction).")
    ap.add_argument("--folds", type=Path, help="rajoints-folds/1 split (default DATASET/folds.json)")
    ap.add_argument("--out", required=True, type=Path, help="runs folder: foldK/ and cv.json")
    ap.add_argument("--rajoints", type=Path, help="the rajoints binary (default: newest under target/)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse folds whose eval.json exists, and resume their trainings from last.pt")
    a, extra = ap.parse_known_args(argv)
    a.folds = a.folds or a.dataset / "folds.json"
    if a.resume:
        extra += ["--resume"]
    try:
        if not a.folds.is_file():
            raise FileNotFoundError(f"{a.folds}: no split; make one with `rajoints eval --dataset {a.dataset} "
                                    f"--folds 5 --split-only --split-out {a.folds}`")
        split = load_folds(a.folds)
        exe = find_binary(a.rajoints)
        a.out.mkdir(parents=True, exist_ok=True)
        folds = [run_fold(k, a, extra, exe) for k in range(len(split))]
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"cv: error: {e}", file=sys.stderr)
        return 2
    mean = {k: summarise([f["metrics"][k] for f in folds]) for k in METRICS}
    doc = {"format": CV_FORMAT, "dataset": str(a.dataset), "folds_file": str(a.folds),
           "init_dir": None if a.from_scratch else str(a.init_dir), "train_args": extra, "rajoints": str(exe),
           "folds": folds, "mean": mean}
    (a.out / "cv.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(table(folds, mean))
    print(f"wrote {a.out / 'cv.json'}")
    return 0
