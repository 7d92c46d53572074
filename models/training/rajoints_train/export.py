"""ONNX export with the contract of models/README.md, the manifest, and the parity check.

    export.py --checkpoint RUN/last.pt --out models/ankylosis.onnx [--name ankylosis]

writes ``ankylosis.onnx`` and ``ankylosis.toml`` beside it, then checks the ONNX model
against PyTorch (:func:`check_parity`) and the manifest against the file (sha256).

The graph (:class:`~rajoints_train.ssd.SSDExport`) is exported at opset 17 (IR 8) with a
dynamic batch: ``images`` float32 [N, 3, 300, 300] in; ``boxes`` float32 [N, 8732, 4]
(x0, y0, x1, y1 in window pixels, the priors decoded in-graph with variances 0.1/0.2)
and ``scores`` float32 [N, 8732, 3] (softmax over background, absent, present) out. The
contract is repeated in the model's ``metadata_props`` (input_size, mean, std, classes,
box_format, plus name, finding, version, architecture, training_pixel_spacing_mm,
intended_use), so that an .onnx file found alone still says what it is.

Parity tolerance: on the same float32 input (:func:`parity_inputs`: noise, a gradient
with a bright square, a black window), as one batch and one window at a time,
onnxruntime (all graph optimisations, as the node runs it) and PyTorch must agree to
``SCORE_ATOL`` = 1e-4 on every score and ``BOX_ATOL`` = 0.01 px on every box coordinate.
Both compute in float32 but sum the convolutions in different orders; measured gaps are
about 3e-6 (scores) and 1e-4 px (boxes) for both backbones, so the bounds leave a margin of
30 to 100 for trained weights while still catching any real difference in the graph.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import shlex
import sys
import tempfile
import tomllib
import warnings
from pathlib import Path

import numpy as np
import torch

from .config import (ARCHITECTURE_NAMES, BOX_FORMAT, CLASSES, DEFAULT_INTENDED_USE, INPUT_SIZE, MEAN, STD,
                     TrainConfig)
from .ssd import SSDExport, build_model

OPSET = 17
#: Largest |onnxruntime - PyTorch| allowed on ``scores`` and on ``boxes`` (pixels).
SCORE_ATOL = 1e-4
BOX_ATOL = 1e-2
MANIFEST_KEYS = ("name", "version", "finding", "architecture", "file", "sha256", "input_size", "mean", "std",
                 "classes", "training_pixel_spacing_mm", "temperature", "present_threshold", "provenance",
                 "intended_use")
#: Keys a manifest may leave out (manifests older than issue 17), and the node's defaults:
#: T = 1 and 0.5 are the paper's argmax (calibrate.py fits them).
OPTIONAL_KEYS = {"temperature": 1.0, "present_threshold": 0.5}
#: The checkpoint released beside each exported model (``X.pt`` beside ``X.onnx``), the
#: start of a site's fine-tuning (``train.py --init X.pt``).
RELEASE_SUFFIX = ".pt"


def load_model(checkpoint: Path) -> tuple[torch.nn.Module, TrainConfig, dict]:
    """The trained model (eval mode, CPU), its config and the checkpoint dict."""
    from .train import load_checkpoint

    ck = load_checkpoint(Path(checkpoint))
    cfg = TrainConfig.from_dict(ck["config"])
    model = build_model(cfg.arch, cfg.batch_norm)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, cfg, ck


def export_onnx(model: torch.nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """Writes the export graph of ``model`` to ``path`` with ``metadata`` in
    ``metadata_props``; the file is self-contained (no external data)."""
    import onnx

    wrapper = SSDExport(model).eval()
    dummy = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(
                wrapper, (dummy,), str(raw), dynamo=False, opset_version=OPSET, input_names=["images"],
                output_names=["boxes", "scores"], do_constant_folding=True,
                dynamic_axes={"images": {0: "N"}, "boxes": {0: "N"}, "scores": {0: "N"}},
            )
        m = onnx.load(str(raw))
    del m.metadata_props[:]
    for k, v in metadata.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = k, str(v)
    m.producer_name = "rajoints_train"
    onnx.checker.check_model(m)
    _check_io(m)
    Path(path).write_bytes(m.SerializeToString())


def _check_io(m) -> None:
    """The exported graph's names and shapes are the contract's (ValueError otherwise)."""
    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    ins, outs = list(m.graph.input), {o.name: o for o in m.graph.output}
    if [i.name for i in ins] != ["images"] or dims(ins[0]) != ["N", 3, INPUT_SIZE, INPUT_SIZE]:
        raise ValueError(f"exported input is {[(i.name, dims(i)) for i in ins]}")
    for name, last in (("boxes", 4), ("scores", 3)):
        if name not in outs:
            raise ValueError(f"exported graph has no output {name}")
        d = dims(outs[name])
        if len(d) != 3 or d[0] != "N" or d[2] != last:
            raise ValueError(f"exported output {name} has shape {d}, expected [N, A, {last}]")


def parity_inputs(n: int = 3, seed: int = 0) -> torch.Tensor:
    """A fixed batch of normalised windows: display values uniform in [0, 1], a smooth
    gradient with a bright square, and a black (zero-padded) window."""
    g = torch.Generator().manual_seed(seed)
    wins = [torch.rand(INPUT_SIZE, INPUT_SIZE, generator=g)]
    ramp = torch.linspace(0, 1, INPUT_SIZE)
    grad = (ramp[None, :] * 0.5 + ramp[:, None] * 0.3)
    grad[100:160, 120:170] = 0.95
    wins.append(grad)
    wins.append(torch.zeros(INPUT_SIZE, INPUT_SIZE))
    while len(wins) < n:
        wins.append(torch.rand(INPUT_SIZE, INPUT_SIZE, generator=g))
    m = torch.tensor(MEAN).view(3, 1, 1)
    s = torch.tensor(STD).view(3, 1, 1)
    return torch.stack([(w.expand(3, -1, -1) - m) / s for w in wins[:n]])


def check_parity(model: torch.nn.Module, onnx_path: Path, inputs: torch.Tensor | None = None,
                 score_atol: float = SCORE_ATOL, box_atol: float = BOX_ATOL) -> dict[str, float]:
    """Runs PyTorch and onnxruntime (all graph optimisations, as the node) on the same
    windows, as one batch and one window at a time; raises ValueError when they differ by
    more than the tolerances. Returns the largest differences."""
    import onnxruntime as ort

    x = parity_inputs() if inputs is None else inputs
    with torch.no_grad():
        tb, ts = SSDExport(model).eval()(x)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    ob, os_ = sess.run(["boxes", "scores"], {"images": x.numpy()})
    single = [sess.run(["boxes", "scores"], {"images": x[i:i + 1].numpy()}) for i in range(x.shape[0])]
    sb = np.concatenate([s[0] for s in single])
    ss = np.concatenate([s[1] for s in single])
    if ob.shape != tuple(tb.shape) or os_.shape != tuple(ts.shape):
        raise ValueError(f"shapes differ: onnx {ob.shape}/{os_.shape}, torch {tuple(tb.shape)}/{tuple(ts.shape)}")
    diffs = {
        "boxes": float(np.abs(ob - tb.numpy()).max()),
        "scores": float(np.abs(os_ - ts.numpy()).max()),
        "boxes_batch1": float(np.abs(sb - tb.numpy()).max()),
        "scores_batch1": float(np.abs(ss - ts.numpy()).max()),
        "score_row_sum": float(np.abs(os_.sum(-1) - 1).max()),
    }
    if max(diffs["boxes"], diffs["boxes_batch1"]) > box_atol:
        raise ValueError(f"boxes differ from PyTorch by {diffs} px (tolerance {box_atol})")
    if max(diffs["scores"], diffs["scores_batch1"], diffs["score_row_sum"]) > score_atol:
        raise ValueError(f"scores differ from PyTorch: {diffs} (tolerance {score_atol})")
    return diffs


def toml_string(s: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML ones for these characters)."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _float_list(v) -> str:
    return "[" + ", ".join(repr(float(x)) for x in v) + "]"


def write_manifest(path: Path, fields: dict) -> None:
    """Writes the manifest with exactly the keys of models/README.md, in its order."""
    fields = {**OPTIONAL_KEYS, **fields}
    if set(fields) != set(MANIFEST_KEYS):
        raise ValueError(f"manifest keys {sorted(fields)} are not {sorted(MANIFEST_KEYS)}")
    lines = []
    for k in MANIFEST_KEYS:
        v = fields[k]
        if k in OPTIONAL_KEYS:
            text = repr(float(v))
        elif k in ("mean", "std"):
            text = _float_list(v)
        elif k == "classes":
            text = "[" + ", ".join(toml_string(c) for c in v) + "]"
        elif k == "input_size":
            text = str(int(v))
        elif k == "training_pixel_spacing_mm":
            text = repr(float(v))
        else:
            text = toml_string(str(v))
        lines.append(f"{k} = {text}")
    Path(path).write_text("\n".join(lines) + "\n")


def read_manifest(path: Path) -> dict:
    """Loads a manifest and checks it as the node does (src/model/manifest.rs): exactly the
    documented keys, the class list, input size, finite mean and positive std, spacing
    >= 0, and the sha256 of the .onnx file it names. Raises ValueError."""
    path = Path(path)
    m = tomllib.loads(path.read_text())
    if not set(MANIFEST_KEYS) - set(OPTIONAL_KEYS) <= set(m) <= set(MANIFEST_KEYS):
        raise ValueError(f"{path}: keys {sorted(m)} differ from {sorted(MANIFEST_KEYS)}")
    t, thr = m.get("temperature", 1.0), m.get("present_threshold", 0.5)
    if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(f"{path}: temperature must be finite and > 0, got {t!r}")
    if not (isinstance(thr, (int, float)) and 0 < thr < 1):
        raise ValueError(f"{path}: present_threshold must be in (0, 1), got {thr!r}")
    if m["finding"] not in ("ankylosis", "subluxation"):
        raise ValueError(f"{path}: finding {m['finding']!r}")
    if list(m["classes"]) != list(CLASSES):
        raise ValueError(f"{path}: classes {m['classes']}")
    if m["input_size"] != INPUT_SIZE:
        raise ValueError(f"{path}: input_size {m['input_size']}")
    if len(m["mean"]) != 3 or len(m["std"]) != 3 or not all(s > 0 for s in m["std"]):
        raise ValueError(f"{path}: mean/std {m['mean']} / {m['std']}")
    if not m["training_pixel_spacing_mm"] >= 0:
        raise ValueError(f"{path}: training_pixel_spacing_mm {m['training_pixel_spacing_mm']}")
    onnx_path = path.parent / m["file"]
    actual = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    if actual != m["sha256"]:
        raise ValueError(f"{onnx_path}: sha256 {actual} but the manifest says {m['sha256']}")
    return m


def provenance(cfg: TrainConfig, ck: dict, export_command: str) -> str:
    facts = ck.get("facts", {})
    versions = ck.get("versions", {})
    fold = f", fold {cfg.fold} of {Path(cfg.folds).name} held out" if cfg.folds else ""
    spacing = (f"images resampled to {cfg.pixel_spacing_mm} mm/pixel (halved when without pixel spacing)"
               if cfg.pixel_spacing_mm > 0 else "images halved as the paper")
    steps = (f" (x{cfg.lr_decay_factor} after iterations {', '.join(map(str, cfg.lr_decay_at))})"
             if cfg.lr_decay_at else "")
    if cfg.init:
        start = (f"fine-tuned from {cfg.init} (sha256 {cfg.init_sha256 or '?'}"
                 f"{', BatchNorm frozen' if cfg.freeze_bn else ''})")
    else:
        start = "trained from scratch"
    if facts.get("recovered_from"):
        # A checkpoint recovered from an export (recover.py): its training is that export's.
        return (
            f"SSD300 ({ARCHITECTURE_NAMES[cfg.arch]}) weights recovered by rajoints_train "
            f"{versions.get('rajoints_train', '?')} from {facts['recovered_from']} (sha256 "
            f"{facts.get('onnx_sha256', '?')}, version {facts.get('onnx_version', '?')}), whose provenance is: "
            f"{facts.get('onnx_provenance') or 'unknown'}; recovered by: {cfg.command or '?'}; exported by: {export_command}"
        )
    rare = (f"; rare joints oversampled to {cfg.rare_fraction} of the windows "
            f"({facts.get('rare_joints', '?')} rare joints, {facts.get('extra_rare_windows', '?')} extra windows per epoch)"
            if cfg.rare_fraction > 0 else "")
    look = facts.get("lookalike_windows_per_epoch") or {}
    recipe = ""
    if cfg.domain_p > 0:
        recipe += f"; domain randomisation p {cfg.domain_p} (domain.py)"
    if cfg.lookalike_ratio > 0:
        recipe += (f"; look-alike windows {cfg.lookalike_ratio} x the rare ones per kind ("
                   + ", ".join(f"{k} {v}" for k, v in look.items()) + " per epoch)")
    if tuple(cfg.zoom_range) != (0.8, 1.25) or cfg.rotate_deg != 10.0:
        recipe += f"; zoom {cfg.zoom_range[0]}-{cfg.zoom_range[1]}, rotation +-{cfg.rotate_deg} deg"
    windows = facts.get("windows_per_epoch")
    seen = (f" ({ck.get('iteration', 0) * cfg.batch_size / windows:.2f} epochs of {windows} windows)"
            if windows and ck.get("iteration") else "")
    skipped = facts.get("skipped_not_assessable", 0)
    skipped_text = f", {skipped} not assessable skipped" if skipped else ""
    return (
        f"SSD300 ({ARCHITECTURE_NAMES[cfg.arch]}, batch_norm={cfg.batch_norm}) {start} by "
        f"rajoints_train {versions.get('rajoints_train', '?')} with torch {versions.get('torch', '?')}; "
        f"dataset {cfg.dataset} (annotations.json sha256 {facts.get('dataset_sha256', '?')}, "
        f"{facts.get('images', '?')} of {facts.get('images_in_dataset', '?')} images{fold}{skipped_text}); {spacing}{rare}"
        f"{recipe}; finding {cfg.finding}, seed {cfg.seed}, {ck.get('epoch', '?')} epochs / {ck.get('iteration', '?')} "
        f"iterations of batch {cfg.batch_size}{seen}, Adam lr {cfg.lr}{steps} betas {tuple(cfg.betas)} weight decay "
        f"{cfg.weight_decay}; "
        f"training command: {cfg.command or '?'}; code commit: {cfg.git_commit or 'unknown'}; "
        f"exported by: {export_command}"
    )


def export(checkpoint: Path, out: Path, name: str | None = None, version: str = "0.1.0",
           intended_use: str = DEFAULT_INTENDED_USE, parity: bool = True, command: str = "") -> dict:
    """Exports ``checkpoint`` to ``out`` (.onnx) and its manifest (.toml beside it).
    Returns a summary: paths, sha256, size, parity differences."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"--out must name a .onnx file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    model, cfg, ck = load_model(checkpoint)
    name = name or cfg.finding
    arch_name = ARCHITECTURE_NAMES[cfg.arch]
    meta = {
        "name": name, "finding": cfg.finding, "version": version, "architecture": arch_name,
        "input_size": str(INPUT_SIZE), "mean": ",".join(repr(float(v)) for v in MEAN),
        "std": ",".join(repr(float(v)) for v in STD), "classes": ",".join(CLASSES), "box_format": BOX_FORMAT,
        "training_pixel_spacing_mm": repr(float(cfg.pixel_spacing_mm)), "intended_use": intended_use,
    }
    export_onnx(model, out, meta)
    diffs = check_parity(model, out) if parity else {}
    data = out.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    manifest = out.with_suffix(".toml")
    write_manifest(manifest, {
        "name": name, "version": version, "finding": cfg.finding, "architecture": arch_name, "file": out.name,
        "sha256": sha, "input_size": INPUT_SIZE, "mean": MEAN, "std": STD, "classes": CLASSES,
        "training_pixel_spacing_mm": cfg.pixel_spacing_mm,
        "provenance": provenance(cfg, ck, command or "rajoints_train.export"), "intended_use": intended_use,
    })
    read_manifest(manifest)
    released = release_checkpoint(ck, out.with_suffix(RELEASE_SUFFIX))
    return {"onnx": str(out), "manifest": str(manifest), "sha256": sha, "bytes": len(data), "parity": diffs,
            "checkpoint": str(released)}


def release_checkpoint(ck: dict, path: Path) -> Path:
    """Writes the weights a site fine-tunes from (``train.py --init``): the checkpoint
    without its optimiser state (a third of the size) and marked as released, so that it
    cannot be taken for a run to ``--resume``."""
    from .train import save_checkpoint

    state = {k: v for k, v in ck.items() if k != "optimizer"}
    state["optimizer"] = None
    state["facts"] = {**ck.get("facts", {}), "released": True}
    save_checkpoint(Path(path), state)
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export a trained detector to ONNX with its manifest, and check parity.")
    ap.add_argument("--checkpoint", required=True, type=Path, help="last.pt written by train.py")
    ap.add_argument("--out", required=True, type=Path, help="the .onnx file to write; the manifest goes beside it")
    ap.add_argument("--name", help="model name in the manifest (default: the finding)")
    ap.add_argument("--version", default="0.1.0", help="model version (default 0.1.0)")
    ap.add_argument("--intended-use", default=DEFAULT_INTENDED_USE, help="intended_use of the manifest")
    ap.add_argument("--no-parity", action="store_true", help="skip the PyTorch vs onnxruntime check")
    a = ap.parse_args(argv)
    cmd = shlex.join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv)))
    try:
        r = export(a.checkpoint, a.out, a.name, a.version, a.intended_use, not a.no_parity, cmd)
    except (ValueError, FileNotFoundError) as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {r['onnx']} ({r['bytes'] / 1e6:.1f} MB, sha256 {r['sha256']}), {r['manifest']} and "
          f"{r['checkpoint']} (weights for train.py --init)")
    if r["parity"]:
        p = r["parity"]
        print(f"parity with PyTorch: max |d boxes| {max(p['boxes'], p['boxes_batch1']):.2e} px (tolerance {BOX_ATOL}), "
              f"max |d scores| {max(p['scores'], p['scores_batch1']):.2e} (tolerance {SCORE_ATOL})")
    return 0
