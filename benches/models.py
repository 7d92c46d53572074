#!/usr/bin/env python3
"""Detector models for the benchmarks, written as the node loads them (.onnx + manifest).

    models.py random --arch light|vgg16 --out DIR [--seed S]
        DIR/ankylosis.{onnx,toml} and DIR/subluxation.{onnx,toml}: SSD300 with random
        weights (timing only: they find nothing), exported by models/training/export.py.
    models.py export --checkpoint RUN/last.pt --out DIR/NAME.onnx [--finding F]
        a trained checkpoint, exported as models/training/README.md describes (relabelled
        as the F detector with --finding).
    models.py int8 --model DIR/NAME.toml --out DIR2/NAME.onnx --calib FILM.dcm... [--all-convs]
        static INT8 quantisation (onnxruntime.quantization, QDQ, per-channel weights,
        MinMax activations calibrated on the node's own windows of the given films) of the
        convolutions, except the first and the loc/conf heads unless --all-convs; with a
        manifest beside it that differs from the float model's only in name, architecture,
        file, sha256 and provenance.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models" / "training"))


def random_models(arch: str, out: Path, seed: int) -> None:
    import torch

    from rajoints_train.config import TrainConfig
    from rajoints_train.export import export
    from rajoints_train.ssd import build_model
    from rajoints_train.train import CHECKPOINT_FORMAT, save_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    for k, finding in enumerate(("ankylosis", "subluxation")):
        g = torch.Generator().manual_seed(seed + k)
        model = build_model(arch, True, generator=g)
        cfg = TrainConfig(dataset="(none: random weights for timing)", finding=finding, arch=arch,
                          command=f"benches/models.py random --arch {arch} --seed {seed}")
        ck = {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "epoch": 0, "iteration": 0,
              "model": {k2: v.detach().cpu() for k2, v in model.state_dict().items()}}
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "random.pt"
            save_checkpoint(p, ck)
            r = export(p, out / f"{finding}.onnx", name=f"{finding}-{arch}-random", version="0.0.0-random",
                       intended_use="benchmarks only: random weights", parity=False,
                       command=f"benches/models.py random --arch {arch} --seed {seed}")
        print(f"wrote {r['onnx']} ({r['bytes'] / 1e6:.1f} MB)")


def export_checkpoint(checkpoint: Path, out: Path, finding: str | None = None) -> None:
    """Exports a checkpoint; `finding` relabels it (the benchmark films give both findings the
    same labels, so one smoke-trained detector serves as both)."""
    import torch

    from rajoints_train.export import export
    from rajoints_train.train import load_checkpoint, save_checkpoint

    cmd = f"benches/models.py export --checkpoint {checkpoint} --out {out}" + (f" --finding {finding}" if finding else "")
    with tempfile.TemporaryDirectory() as tmp:
        if finding:
            ck = load_checkpoint(checkpoint)
            ck["config"]["finding"] = finding
            checkpoint = Path(tmp) / "relabelled.pt"
            save_checkpoint(checkpoint, ck)
            del torch
        r = export(checkpoint, out, version="0.0.0-bench", intended_use="benchmarks only: smoke-trained",
                   command=cmd)
    print(f"wrote {r['onnx']} ({r['bytes'] / 1e6:.1f} MB)")


def calibration_windows(films: list[Path], manifest: dict, limit: int = 64):
    """The node's windows of `films` (baseline.py's replica of the pipeline), normalised."""
    sys.path.insert(0, str(ROOT / "benches"))
    import numpy as np

    import baseline

    out = []
    for f in films:
        img, spacing, _ = baseline.decode(f)
        scaled = baseline.rescale(img, spacing, manifest)
        for (_, win) in baseline.windows(scaled, manifest["input_size"], 150):
            out.append(baseline.normalise(win[None], manifest)[0])
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(out))[:limit]
    return [out[i][None] for i in idx]


def int8(model_toml: Path, out: Path, films: list[Path], all_convs: bool = False) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    m = tomllib.loads(model_toml.read_text())
    src = model_toml.parent / m["file"]
    data = calibration_windows(films, m)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(data)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"images": x}

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        import onnx

        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]
        # Only convolutions: the box decoding and softmax stay float. Unless all_convs, the
        # first convolution (the image itself) and the loc/conf heads stay float too: with
        # them quantised the confidences shift across t_conf and joints are lost.
        exclude = [] if all_convs else [c for c in convs if "heads" in c] + convs[:1]
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"], calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=exclude)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    text = model_toml.read_text()
    lines = []
    for line in text.splitlines():
        k = line.split("=", 1)[0].strip()
        if k == "name":
            line = f'name = "{m["name"]}-int8"'
        elif k == "architecture":
            line = f'architecture = "{m["architecture"]}-int8"'
        elif k == "file":
            line = f'file = "{out.name}"'
        elif k == "sha256":
            line = f'sha256 = "{sha}"'
        elif k == "provenance":
            what = "all convolutions" if all_convs else "convolutions but the first and the heads"
            line = ('provenance = "static INT8 (onnxruntime.quantization QDQ, per-channel, MinMax on '
                    f'{len(data)} node windows; {what}) of {m["name"]} sha256 {m["sha256"]}"')
        lines.append(line)
    out.with_suffix(".toml").write_text("\n".join(lines) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random")
    r.add_argument("--arch", choices=("light", "vgg16"), required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("export")
    e.add_argument("--checkpoint", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--finding", choices=("ankylosis", "subluxation"), help="relabel the detector")
    q = sub.add_parser("int8")
    q.add_argument("--model", type=Path, required=True)
    q.add_argument("--out", type=Path, required=True)
    q.add_argument("--calib", type=Path, nargs="+", required=True)
    q.add_argument("--all-convs", action="store_true", help="quantise the first convolution and the heads too")
    a = ap.parse_args()
    if a.cmd == "random":
        random_models(a.arch, a.out, a.seed)
    elif a.cmd == "export":
        export_checkpoint(a.checkpoint, a.out, a.finding)
    else:
        int8(a.model, a.out, a.calib, a.all_convs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
