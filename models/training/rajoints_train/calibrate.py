"""Calibrated finding probabilities (issue 17): temperature scaling and a decision
threshold per finding, fitted on a validation set through the node itself.

    calibrate.py --dataset VAL [--dataset VAL2 ...] --ankylosis-model A.toml \
        --subluxation-model S.toml --work DIR [--write] [--svg-dir DIR] [--json FILE]

A detector's softmax gives each box (background, absent, present). For a joint the node has
found, the finding's probability is the two-class one, q = sigmoid(z / T) with
z = ln(present / absent) and T the manifest's ``temperature`` (src/model/calibration.rs);
the node flags the finding when q > ``present_threshold``. T = 1 and 0.5 are the paper's
argmax. A detector trained on enriched phantoms is over-confident at clinic prevalence;
T > 1 softens it without changing the order of the joints, and the threshold then chooses
the operating point.

The node analyses every validation film (``rajoints analyze``, default settings), each
joint it reports is matched one to one to an annotated joint (IoU > 0.45, highest IoU
first, as ``rajoints eval``), and each matched joint with a label for the finding gives a
pair (z, truth), unless its q is exactly 0: the detector of that finding did not see the
joint (Algorithm 1 kept the other detector's box), and no calibration changes its label.
z is recovered from the reported q and the manifest's own T
(z = T logit q), so manifests that already carry a calibration can be refitted.

- T minimises the negative log-likelihood of the pairs (a golden-section search on ln T
  in [ln 0.05, ln 20]).
- The threshold maximises the F-value (2PR / (P + R), the paper's measure) of the flags on
  the matched joints, over a grid of 0.05..0.99 in steps of 0.01; on a tie the one nearest
  0.5. With no positive joint in the set the threshold stays 0.5.
- Reliability: 10 equal bins of q on [0, 1]; ECE = sum over bins of (n_b / N) |observed
  rate - mean q|; Brier = mean (q - y)^2. Reported before (T = 1) and after.

``--write`` puts ``temperature`` and ``present_threshold`` into both manifests (the .onnx
and its sha256 are untouched). ``--svg-dir`` writes a reliability diagram per finding.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from .box_coder import box_iou
from .data import load_annotations
from .export import read_manifest, write_manifest

FINDINGS = ("ankylosis", "subluxation")
MATCH_IOU = 0.45
BINS = 10
#: z is clipped to this: a float32 q of 1 - 6e-8 is a logit of about 16.6.
Z_LIMIT = 30.0


def match_one_to_one(truth: list, pred: list) -> list[tuple[int, int]]:
    """(truth index, prediction index) pairs as ``rajoints eval`` makes them
    (src/eval/matching.rs): IoU above 0.45, highest IoU first, each box used once."""
    if not truth or not pred:
        return []
    ious = box_iou(torch.tensor(truth, dtype=torch.float64), torch.tensor(pred, dtype=torch.float64))
    pairs = sorted(((-float(ious[g, k]), g, k) for g, k in zip(*torch.nonzero(ious > MATCH_IOU, as_tuple=True))),
                   key=lambda t: (t[0], int(t[1]), int(t[2])))
    used_g, used_p, out = set(), set(), []
    for _, g, k in pairs:
        g, k = int(g), int(k)
        if g not in used_g and k not in used_p:
            used_g.add(g)
            used_p.add(k)
            out.append((g, k))
    return out


def logit(q: float) -> float:
    q = min(max(q, 1e-300), 1.0)
    if q >= 1.0:
        return Z_LIMIT
    return float(np.clip(math.log(q) - math.log1p(-q), -Z_LIMIT, Z_LIMIT))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def pairs_from_predictions(ann_images, pred_dir: Path, temperatures: dict[str, float]) -> dict[str, list[tuple[float, bool]]]:
    """(z, truth) per finding over the joints the node found (see the module doc)."""
    out: dict[str, list] = {f: [] for f in FINDINGS}
    for img in ann_images:
        if not img.assessable or not img.joints:
            continue
        pred_path = pred_dir / (Path(img.file).stem + ".json")
        if not pred_path.is_file():
            raise ValueError(f"no prediction {pred_path} for {img.file}")
        pred = json.loads(pred_path.read_text())
        joints = pred.get("joints") or []
        for g, k in match_one_to_one([j.box for j in img.joints], [pj["box"] for pj in joints]):
            truth, pj = img.joints[g], joints[k]
            for f in FINDINGS:
                y = truth.ankylosis if f == "ankylosis" else truth.subluxation
                label = pj.get(f)
                # q = 0 exactly: that detector did not see the joint (the ensemble took the
                # other's box, Algorithm 1), so no temperature or threshold can change it.
                if y is None or label is None or float(label["probability"]) == 0.0:
                    continue
                out[f].append((temperatures[f] * logit(float(label["probability"])), bool(y)))
    return out


def nll(z: np.ndarray, y: np.ndarray, t: float) -> float:
    s = z / t
    # -[y log sigmoid(s) + (1 - y) log sigmoid(-s)], stably.
    return float(np.mean(np.logaddexp(0.0, -s) * y + np.logaddexp(0.0, s) * (1 - y)))


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The T minimising the NLL (golden-section search on ln T in [ln 0.05, ln 20])."""
    if len(z) == 0 or y.all() or not y.any():
        return 1.0
    lo, hi = math.log(0.05), math.log(20.0)
    r = (math.sqrt(5) - 1) / 2
    a, b = hi - r * (hi - lo), lo + r * (hi - lo)
    fa, fb = nll(z, y, math.exp(a)), nll(z, y, math.exp(b))
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - r * (hi - lo)
            fa = nll(z, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + r * (hi - lo)
            fb = nll(z, y, math.exp(b))
    return math.exp((lo + hi) / 2)


def prf(q: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float, float, int, int, int]:
    flag = q > threshold
    tp, fp, fn = int((flag & y).sum()), int((flag & ~y).sum()), int((~flag & y).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, tp, fp, fn


def choose_threshold(q: np.ndarray, y: np.ndarray) -> float:
    if not y.any():
        return 0.5
    grid = [round(0.05 + 0.01 * i, 2) for i in range(95)]
    return max(grid, key=lambda t: (round(prf(q, y, t)[2], 12), -abs(t - 0.5)))


def reliability(q: np.ndarray, y: np.ndarray) -> dict:
    """10 equal bins of q; ECE and Brier (see the module doc)."""
    idx = np.minimum((q * BINS).astype(int), BINS - 1)
    bins = []
    ece = 0.0
    for b in range(BINS):
        m = idx == b
        n = int(m.sum())
        mean_q = float(q[m].mean()) if n else None
        rate = float(y[m].mean()) if n else None
        if n:
            ece += n / len(q) * abs(rate - mean_q)
        bins.append({"count": n, "mean_probability": mean_q, "observed_rate": rate})
    return {"n": int(len(q)), "positives": int(y.sum()), "ece": ece if len(q) else None,
            "brier": float(np.mean((q - y) ** 2)) if len(q) else None, "bins": bins}


def fit(pairs: list[tuple[float, bool]]) -> dict:
    z = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=bool)
    t = fit_temperature(z, y)
    q0, q1 = sigmoid(z), sigmoid(z / t)
    thr = choose_threshold(q1, y)
    p0, r0, f0, *_ = prf(q0, y, 0.5)
    p1, r1, f1, tp, fp, fn = prf(q1, y, thr)
    return {
        "temperature": t, "present_threshold": thr,
        "before": {**reliability(q0, y.astype(float)), "nll": nll(z, y, 1.0) if len(z) else None,
                   "threshold": 0.5, "precision": p0, "recall": r0, "f": f0},
        "after": {**reliability(q1, y.astype(float)), "nll": nll(z, y, t) if len(z) else None,
                  "threshold": thr, "precision": p1, "recall": r1, "f": f1, "tp": tp, "fp": fp, "fn": fn},
    }


def svg(finding: str, before: dict, after: dict) -> str:
    """A reliability diagram: observed rate against mean probability per bin, before and
    after, with the diagonal; marker area grows with the bin's count."""
    w, m = 360, 40
    s = w - 2 * m

    def pt(x, y):
        return m + x * s, w - m - y * s

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{w}" font-family="sans-serif" font-size="11">',
             f'<rect x="{m}" y="{m}" width="{s}" height="{s}" fill="none" stroke="#888"/>',
             f'<line x1="{pt(0, 0)[0]}" y1="{pt(0, 0)[1]}" x2="{pt(1, 1)[0]}" y2="{pt(1, 1)[1]}" stroke="#bbb" stroke-dasharray="4 3"/>',
             f'<text x="{w / 2}" y="{w - 8}" text-anchor="middle">mean predicted probability ({finding})</text>',
             f'<text x="12" y="{w / 2}" text-anchor="middle" transform="rotate(-90 12 {w / 2})">observed rate</text>']
    for name, rel, colour in (("before", before, "#d62728"), ("after", after, "#1f77b4")):
        pts = [(b["mean_probability"], b["observed_rate"], b["count"]) for b in rel["bins"] if b["count"]]
        if pts:
            path = " ".join(f"{pt(x, y)[0]:.1f},{pt(x, y)[1]:.1f}" for x, y, _ in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        for x, y, n in pts:
            cx, cy = pt(x, y)
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{1.5 + math.log10(n + 1) * 2:.1f}" fill="{colour}"/>')
        ece = rel["ece"]
        label = f"{name}: ECE {ece:.4f}" if ece is not None else f"{name}: no joints"
        y_text = m + 14 if name == "before" else m + 28
        parts.append(f'<text x="{m + 6}" y="{y_text}" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def analyze(rajoints: str, dataset: Path, out: Path, models: dict[str, Path], threads: int) -> None:
    """Runs the node on every assessable film of ``dataset`` into ``out`` (skipped when done)."""
    anns = [a for a in load_annotations(dataset) if a.assessable and a.joints]
    todo = [a for a in anns if not (out / (Path(a.file).stem + ".json")).is_file()]
    if not todo:
        return
    out.mkdir(parents=True, exist_ok=True)
    cmd = [rajoints, "analyze", "--out", str(out), "--ankylosis-model", str(models["ankylosis"]),
           "--subluxation-model", str(models["subluxation"])]
    if threads:
        cmd += ["--set", f"runtime.intra_threads={threads}"]
    for k in range(0, len(todo), 50):
        batch = [str(dataset / a.file) for a in todo[k:k + 50]]
        r = subprocess.run(cmd + batch, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"rajoints analyze failed ({r.returncode}): {r.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="calibrate.py", description="Fit the temperature and the present threshold "
                                 "of both detectors on a validation set, through the node.")
    ap.add_argument("--dataset", required=True, type=Path, action="append",
                    help="validation dataset (rajoints-annotations/1); repeat for several")
    ap.add_argument("--ankylosis-model", required=True, type=Path, help="manifest (.toml) of the ankylosis detector")
    ap.add_argument("--subluxation-model", required=True, type=Path, help="manifest of the subluxation detector")
    ap.add_argument("--work", required=True, type=Path, help="folder for the node's predictions (reused when present)")
    ap.add_argument("--rajoints", default=str(Path(__file__).resolve().parents[3] / "target" / "debug" / "rajoints"),
                    help="the rajoints binary (default target/debug/rajoints)")
    ap.add_argument("--write", action="store_true", help="write temperature and present_threshold into the manifests")
    ap.add_argument("--svg-dir", type=Path, help="write <finding>-reliability.svg here")
    ap.add_argument("--json", type=Path, help="write the fit and the reliability tables as JSON")
    ap.add_argument("--threads", type=int, default=0, help="runtime.intra_threads for the node (default: its own)")
    a = ap.parse_args(argv)
    models = {"ankylosis": a.ankylosis_model, "subluxation": a.subluxation_model}
    try:
        manifests = {f: read_manifest(p) for f, p in models.items()}
        for f, m in manifests.items():
            if m["finding"] != f:
                raise ValueError(f"{models[f]} is a {m['finding']} detector, given as the {f} model")
        temps = {f: float(m.get("temperature", 1.0)) for f, m in manifests.items()}
        pairs: dict[str, list] = {f: [] for f in FINDINGS}
        for k, ds in enumerate(a.dataset):
            pred = a.work / f"{k}-{ds.name}"
            analyze(a.rajoints, ds, pred, models, a.threads)
            for f, v in pairs_from_predictions(load_annotations(ds), pred, temps).items():
                pairs[f] += v
        result = {f: fit(pairs[f]) for f in FINDINGS}
    except (ValueError, OSError, RuntimeError) as e:
        print(f"calibrate: error: {e}", file=sys.stderr)
        return 2
    for f in FINDINGS:
        r = result[f]
        b, c = r["before"], r["after"]
        ece_b = "n/a" if b["ece"] is None else f"{b['ece']:.4f}"
        ece_a = "n/a" if c["ece"] is None else f"{c['ece']:.4f}"
        print(f"{f}: {c['n']} joints ({c['positives']} with the finding); temperature {r['temperature']:.3f}, "
              f"present_threshold {r['present_threshold']:.2f}; ECE {ece_b} -> {ece_a}; "
              f"P/R/F at 0.5, T=1: {b['precision']:.3f}/{b['recall']:.3f}/{b['f']:.3f} -> "
              f"{c['precision']:.3f}/{c['recall']:.3f}/{c['f']:.3f} (TP {c['tp']}, FP {c['fp']}, FN {c['fn']})")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    if a.svg_dir:
        a.svg_dir.mkdir(parents=True, exist_ok=True)
        for f in FINDINGS:
            (a.svg_dir / f"{f}-reliability.svg").write_text(svg(f, result[f]["before"], result[f]["after"]))
    if a.write:
        for f, m in manifests.items():
            m = dict(m)
            m["temperature"] = round(result[f]["temperature"], 4)
            m["present_threshold"] = result[f]["present_threshold"]
            write_manifest(models[f], m)
            read_manifest(models[f])
        print(f"wrote the calibration into {models['ankylosis']} and {models['subluxation']}")
    return 0
