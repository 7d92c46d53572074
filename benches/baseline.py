#!/usr/bin/env python3
"""The Python baseline of issue 7: the paper's method as its authors would script it, with
pydicom, numpy and onnxruntime, timed stage by stage on the same files, models and thread
settings as `benches/pipeline.rs` (mode `pipeline`).

    baseline.py --ankylosis A.toml --subluxation S.toml [--threads N] [--opt L]
                [--concurrent 0|1] [--batch B] [--reps R] [--json OUT] FILE.dcm...

Steps (each the vectorised numpy equivalent of the node's, so that the comparison is
between implementations, not methods):

- decode: `pydicom.dcmread` + `pixel_array`, Rescale Slope/Intercept, the first VOI window
  (PS3.3 C.11.2.1.2) else min-max, MONOCHROME1 inverted (as models/training/rajoints_train/
  data.py, which is checked against the Rust decoder to 2.4e-7);
- scale: area averaging to the model's training pixel spacing (else by 0.5), by cumulative
  sums (data.py's `resample_area`), or 2 x 2 block means
  by strided slices when halving;
- tile: the node's windows (300 x 300, stride 150, zero padding), stacked per batch,
  normalised to 3 channels;
- inference: onnxruntime InferenceSession per detector, both on each batch (in two
  threads when --concurrent 1: onnxruntime releases the GIL);
- post: threshold t_conf, boxes to source pixels, greedy NMS at t_IoU1 and top M per
  detector (numpy), then Algorithm 1 (t_IoU2, M1), and each finding's label by its
  manifest's calibration (`temperature`, `present_threshold`). Joint naming and the SR are
  not replicated (the Rust side's times for them are reported separately).

Thread settings: --threads is onnxruntime's intra_op_num_threads (0: its default), --opt
the graph optimisation level as the node numbers it (0 none, 1 basic, 2 extended,
3 what the node's 3 gives: ORT_ENABLE_LAYOUT; 99: ORT_ENABLE_ALL).
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pydicom

T_CONF, T_IOU1, M1, M2, T_IOU2, STRIDE, FALLBACK = 0.9, 0.15, 20, 18, 0.45, 150, 0.5


# ---------------------------------------------------------------------------------------
# decode (src/dicom/decode.rs; data.py read_display)


def _first(v):
    if v is None:
        return None
    try:
        if hasattr(v, "__iter__") and not isinstance(v, (str, bytes)):
            v = list(v)[0]
        return float(v)
    except (TypeError, ValueError, IndexError):
        return None


def decode(path: Path):
    """(display float32 [rows, cols], (row, col) spacing mm or None, SOP Instance UID)."""
    ds = pydicom.dcmread(str(path))
    pi = str(ds.PhotometricInterpretation).strip()
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    if int(ds.get("SamplesPerPixel", 1)) == 3:
        a = arr.astype(np.float32)
        v = np.float32(0.299) * a[..., 0] + np.float32(0.587) * a[..., 1] + np.float32(0.114) * a[..., 2]
    else:
        slope, icpt = _first(ds.get("RescaleSlope")), _first(ds.get("RescaleIntercept"))
        v = arr.astype(np.float32)
        if slope not in (None, 1.0) or icpt not in (None, 0.0):
            v = v * np.float32(slope or 1.0) + np.float32(icpt or 0.0)
    c, w = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if c is not None and w is not None and w > 0:
        fn = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
        if fn == "LINEAR_EXACT":
            out = np.clip((v - c) / w + 0.5, 0, 1)
        elif fn == "SIGMOID":
            out = 1.0 / (1.0 + np.exp(-4.0 * (v - c) / w))
        elif w <= 1:
            out = np.where(v <= c - 0.5, 0.0, 1.0)
        else:
            out = np.clip((v - (c - 0.5)) / (w - 1.0) + 0.5, 0, 1)
        out = out.astype(np.float32)
    else:
        lo, hi = float(v.min()), float(v.max())
        out = (v - np.float32(lo)) * np.float32(1.0 / (hi - lo) if hi > lo else 0.0)
    if pi == "MONOCHROME1":
        out = np.float32(1.0) - out
    spacing = None
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        s = ds.get(kw)
        if s is not None and len(s) >= 2 and float(s[0]) > 0 and float(s[1]) > 0:
            spacing = (float(s[0]), float(s[1]))
            break
    return out, spacing, str(ds.SOPInstanceUID)


# ---------------------------------------------------------------------------------------
# scale (src/pipeline/scale.rs; data.py resample_area)


def _axis(a: np.ndarray, m: int, axis: int) -> np.ndarray:
    n = a.shape[axis]
    if m == n:
        return a
    x = np.moveaxis(a, axis, 0).astype(np.float64)
    edges = np.arange(m + 1, dtype=np.float64) * (n / m)
    cs = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)], axis=0)
    i = np.minimum(np.floor(edges).astype(np.int64), n - 1)
    frac = (edges - i).reshape((-1,) + (1,) * (x.ndim - 1))
    integral = cs[i] + frac * x[i]
    out = (integral[1:] - integral[:-1]) / np.diff(edges).reshape((-1,) + (1,) * (x.ndim - 1))
    return np.moveaxis(out, 0, axis).astype(np.float32)


class Scaled:
    def __init__(self, pixels, fx, fy):
        self.pixels, self.fx, self.fy = pixels, fx, fy


def rescale(img: np.ndarray, spacing, manifest: dict) -> Scaled:
    target = float(manifest["training_pixel_spacing_mm"])
    if spacing is not None and target > 0:
        fx, fy = spacing[1] / target, spacing[0] / target
    else:
        fx = fy = FALLBACK
    h, w = img.shape
    ow = max(int(math.floor(w * fx + 0.5)), 1)
    oh = max(int(math.floor(h * fy + 0.5)), 1)
    if (w, h) == (2 * ow, 2 * oh):  # the paper's halving: 2 x 2 block means by strided slices
        out = (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2]) * np.float32(0.25)
    else:
        out = _axis(_axis(img, ow, 1), oh, 0)
    return Scaled(out, ow / w, oh / h)


# ---------------------------------------------------------------------------------------
# tile (src/pipeline/window.rs)


def origins(n: int, size: int, stride: int) -> list[int]:
    extra = max(n - size, 0)
    return [k * stride for k in range(-(-extra // stride) + 1)]


def windows(scaled: Scaled, size: int, stride: int):
    """[((x0, y0), window float32 [size, size])], row by row, zero-padded."""
    img = scaled.pixels
    h, w = img.shape
    out = []
    for y0 in origins(h, size, stride):
        for x0 in origins(w, size, stride):
            win = np.zeros((size, size), np.float32)
            part = img[y0:y0 + size, x0:x0 + size]
            win[:part.shape[0], :part.shape[1]] = part
            out.append(((x0, y0), win))
    return out


def normalise(batch: np.ndarray, manifest: dict) -> np.ndarray:
    """[N, S, S] display values to [N, 3, S, S] model input."""
    mean = np.asarray(manifest["mean"], np.float32).reshape(1, 3, 1, 1)
    inv = (1.0 / np.asarray(manifest["std"], np.float32)).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((batch[:, None, :, :] - mean) * inv, dtype=np.float32)


# ---------------------------------------------------------------------------------------
# selection and Algorithm 1 (src/pipeline/select.rs, ensemble.rs)


def candidates(boxes, scores, origins_xy, scaled: Scaled, width, height):
    """Boxes with max(absent, present) >= t_conf, in source pixels: (boxes [K,4], absent, present)."""
    conf = np.maximum(scores[..., 1], scores[..., 2])
    n, a = np.nonzero(conf >= T_CONF)
    b = boxes[n, a].astype(np.float32)
    o = np.asarray(origins_xy, np.float32)[n]
    b = b + np.concatenate([o, o], axis=1)
    b[:, [0, 2]] = np.clip(b[:, [0, 2]] / np.float32(scaled.fx), 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]] / np.float32(scaled.fy), 0, height)
    return b, scores[n, a, 1], scores[n, a, 2]


def iou_one(b, bs):
    x0 = np.maximum(b[0], bs[:, 0])
    y0 = np.maximum(b[1], bs[:, 1])
    x1 = np.minimum(b[2], bs[:, 2])
    y1 = np.minimum(b[3], bs[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda q: (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])  # noqa: E731
    union = area(b) + area(bs) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def select(b, absent, present, top_m):
    """Greedy NMS at t_IoU1, then the top M: indices, most confident first."""
    conf = np.maximum(absent, present)
    proper = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]) & (conf >= T_CONF)
    order = np.nonzero(proper)[0]
    order = order[np.argsort(-conf[order], kind="stable")]
    keep = []
    while order.size and len(keep) < top_m:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_one(b[i], b[rest]) < T_IOU1]
    return keep


def merge(d1, d2):
    """Algorithm 1 on two lists of (box, absent, present); returns
    [(box, score, ankylosis det or None, subluxation det or None)], at most M1."""
    conf = lambda d: max(d[1], d[2])  # noqa: E731
    paired = [False] * len(d2)
    out = []
    b2 = np.asarray([d[0] for d in d2], np.float32).reshape(-1, 4)
    for d in sorted(d1, key=lambda d: -conf(d)):
        best, best_iou = None, -1.0
        if len(d2):
            ious = iou_one(d[0], b2)
            for j in np.argsort(-ious, kind="stable"):
                if not paired[j] and ious[j] >= T_IOU2:
                    best, best_iou = j, ious[j]
                    break
        if best is None:
            out.append((d[0], conf(d), d, None))
        else:
            paired[best] = True
            e = d2[best]
            keep = e if conf(e) > conf(d) else d
            out.append((keep[0], conf(keep), d, e))
    out += [(e[0], conf(e), None, e) for j, e in enumerate(d2) if not paired[j]]
    out.sort(key=lambda m: -m[1])
    return out[:M1]


# ---------------------------------------------------------------------------------------
# the run


def session(path: Path, threads: int, opt: int) -> tuple[ort.InferenceSession, dict]:
    m = tomllib.loads(path.read_text())
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = {
        0: ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        2: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, 3: ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
    }.get(opt, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    s = ort.InferenceSession(str(path.parent / m["file"]), so, providers=["CPUExecutionProvider"])
    return s, m


def label(d, m: dict) -> dict:
    """The node's finding label of a selected box d = (box, absent, present): the
    calibrated probability and threshold of manifest m (models/README.md, "Manifest")."""
    t, thr = float(m.get("temperature", 1.0)), float(m.get("present_threshold", 0.5))
    ln = lambda x: math.log(min(max(x, 1.401298464324817e-45), 1.0))  # noqa: E731
    z = (ln(d[2]) - ln(d[1])) / t
    q = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    return {"present": z > math.log(thr) - math.log(1.0 - thr), "probability": q}


def analyse(path: Path, sa, ss, m: dict, ms: dict, batch: int, pool):
    t = {}
    t0 = time.perf_counter()
    img, spacing, uid = decode(path)
    t["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scaled = rescale(img, spacing, m)
    t["scale"] = time.perf_counter() - t0
    size = int(m["input_size"])
    tile = infer = 0.0
    t0 = time.perf_counter()
    wins = windows(scaled, size, STRIDE)
    tile += time.perf_counter() - t0
    h, w = img.shape
    post = 0.0
    cand = ([], [])  # per detector: (boxes, absent, present) of each batch
    for k in range(0, len(wins), batch):
        t0 = time.perf_counter()
        chunk = wins[k:k + batch]
        x = normalise(np.stack([w_ for _, w_ in chunk]), m)
        tile += time.perf_counter() - t0
        t0 = time.perf_counter()
        if pool is not None:
            fs = pool.submit(ss.run, ["boxes", "scores"], {"images": x})
            ra = sa.run(["boxes", "scores"], {"images": x})
            rs = fs.result()
        else:
            ra = sa.run(["boxes", "scores"], {"images": x})
            rs = ss.run(["boxes", "scores"], {"images": x})
        infer += time.perf_counter() - t0
        t0 = time.perf_counter()
        org = [o for o, _ in chunk]
        for c, (boxes, scores) in zip(cand, (ra, rs)):
            c.append(candidates(boxes, scores, org, scaled, w, h))
        post += time.perf_counter() - t0
    t["tile"], t["inference"] = tile, infer
    t0 = time.perf_counter()
    sel = []
    for c, top in zip(cand, (M1, M2)):
        b = np.concatenate([x[0] for x in c])
        ab = np.concatenate([x[1] for x in c])
        pr = np.concatenate([x[2] for x in c])
        keep = select(b, ab, pr, top)
        sel.append([(b[i], float(ab[i]), float(pr[i])) for i in keep])
    merged = merge(sel[0], sel[1])
    t["select_merge"] = post + time.perf_counter() - t0
    joints = [{"box": [float(v) for v in mb], "score": float(sc),
               "ankylosis": None if a is None else label(a, m),
               "subluxation": None if s is None else label(s, ms)}
              for (mb, sc, a, s) in merged]
    return {k: v * 1000 for k, v in t.items()}, joints, len(wins)


def summary(v):
    s = sorted(v)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return {"median_ms": med, "p95_ms": s[min(max(math.ceil(0.95 * n), 1), n) - 1],
            "mean_ms": sum(s) / n, "min_ms": s[0], "max_ms": s[-1], "n": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ankylosis", type=Path, required=True)
    ap.add_argument("--subluxation", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--opt", type=int, default=3)
    ap.add_argument("--concurrent", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("files", type=Path, nargs="+")
    a = ap.parse_args()
    sa, m = session(a.ankylosis, a.threads, a.opt)
    ss, ms = session(a.subluxation, a.threads, a.opt)
    pool = ThreadPoolExecutor(1) if a.concurrent else None
    analyse(a.files[0], sa, ss, m, ms, a.batch, pool)  # warm-up
    stages = ["decode", "scale", "tile", "inference", "select_merge"]
    samples = {k: [] for k in stages + ["total", "outside_inference"]}
    per_image = []
    for rep in range(a.reps):
        for f in a.files:
            t, joints, nwin = analyse(f, sa, ss, m, ms, a.batch, pool)
            for k in stages:
                samples[k].append(t[k])
            samples["total"].append(sum(t[k] for k in stages))
            samples["outside_inference"].append(sum(t[k] for k in stages if k != "inference"))
            if rep == 0:
                per_image.append({"file": str(f), "windows": nwin, "joints": joints})
    out = {
        "settings": {"threads": a.threads, "opt": a.opt, "concurrent": bool(a.concurrent), "batch": a.batch,
                     "onnxruntime": ort.__version__, "numpy": np.__version__, "pydicom": pydicom.__version__},
        "images": len(a.files), "reps": a.reps,
        "stages_ms": {k: summary(v) for k, v in samples.items()},
        "samples": samples,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "per_image": per_image,
    }
    text = json.dumps(out, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    if a.json:
        a.json.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
