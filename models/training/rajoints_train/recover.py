"""Weights to start from: our own checkpoints, or the PyTorch weights recovered from an
exported ONNX model (such as the 0.3.0 detectors, whose training checkpoints are gone).

    recover_checkpoint.py --onnx models/ankylosis.onnx --out ankylosis-0.3.0.pt

What the export leaves in the ONNX file (checked on models/ankylosis.onnx, TorchScript
exporter, opset 17, constant folding on): every Conv node keeps its module's scope in its
name (``/model/backbone/stage38/stage38.0/Conv``); the heads keep their parameter names
(``model.loc_heads.0.weight``); the backbone's BatchNorm is folded into the convolution
before it (eval mode: W' = W g / sqrt(v + eps), b' = b - g m / sqrt(v + eps)), whose
weights become anonymous initialisers (``onnx::Conv_372``); identical initialisers are
shared through Identity nodes. So the recovery walks the Conv nodes, maps each onto the
module of :mod:`ssd` whose name ends with the node's scope, and, where PyTorch has a
BatchNorm after a bias-free convolution, loads the folded weight into the convolution and
makes the BatchNorm the identity: weight 1, running mean 0, running variance 1 - eps (so
sqrt(var + eps) = 1) and the folded bias as its bias. The eval-mode forward is then the
exported one. Training such a model with batch statistics would rescale every channel, so
fine-tuning keeps these BatchNorms in eval mode (``freeze_bn``). BatchNormalization nodes,
should an export keep them, are loaded as they are.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__
from .config import ARCHITECTURE_NAMES, CLASSES, INPUT_SIZE, MEAN, STD, TrainConfig
from .ssd import build_model
from .train import checkpoint_state, file_sha256, load_checkpoint, save_checkpoint

#: Manifest ``architecture`` back to ``--arch``.
ARCHS_BY_NAME = {v: k for k, v in ARCHITECTURE_NAMES.items()}


def onnx_metadata(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def init_arch(path: Path) -> str:
    """The ``--arch`` of the weights ``train.py --init`` names, read without loading them:
    the ONNX metadata ``architecture``, or the checkpoint's config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init {path}: no such file")
    if path.suffix == ".onnx":
        name = onnx_metadata(path).get("architecture", "")
        if name not in ARCHS_BY_NAME:
            raise ValueError(f"--init {path}: metadata architecture {name!r} is not one of {sorted(ARCHS_BY_NAME)}; "
                             "give --arch")
        return ARCHS_BY_NAME[name]
    return TrainConfig.from_dict(load_checkpoint(path)["config"]).arch


def _initialisers(m) -> dict[str, np.ndarray]:
    """Initialisers and Constant outputs by name, with Identity nodes resolved."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    values[n.output[0]] = numpy_helper.to_array(a.t)
    changed = True
    while changed:  # Identity chains
        changed = False
        for n in m.graph.node:
            if n.op_type == "Identity" and n.input[0] in values and n.output[0] not in values:
                values[n.output[0]] = values[n.input[0]]
                changed = True
    return values


def _scope(node_name: str) -> str:
    """``/model/backbone/extras.0/extras.0.3/Conv`` -> ``extras.0.3``: the innermost
    module's name, qualified from its parent's parent as the TorchScript exporter writes it."""
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 2:
        raise ValueError(f"ONNX node {node_name!r} carries no module scope")
    return parts[-2]


def _match(modules: dict[str, nn.Module], scope: str, kind: type, what: str) -> str:
    names = [n for n, mod in modules.items() if isinstance(mod, kind) and (n == scope or n.endswith("." + scope))]
    if len(names) != 1:
        raise ValueError(f"{what} {scope!r} matches {len(names)} modules of the PyTorch model; "
                         "the architecture does not match")
    return names[0]


def state_dict_from_onnx(path: Path, arch: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str], str]:
    """The PyTorch state dict of :func:`ssd.build_model` (BatchNorm on) that computes what
    the ONNX model computes, its metadata, and its ``--arch``. Raises ValueError when the
    graph does not fit that architecture (a layer missing, extra, or of another shape)."""
    import onnx

    path = Path(path)
    m = onnx.load(str(path))
    meta = {p.key: p.value for p in m.metadata_props}
    found = ARCHS_BY_NAME.get(meta.get("architecture", ""))
    if arch is None:
        if found is None:
            raise ValueError(f"{path}: metadata architecture {meta.get('architecture')!r} is not one of "
                             f"{sorted(ARCHS_BY_NAME)}; cannot tell which model to build")
        arch = found
    elif found is not None and found != arch:
        raise ValueError(f"{path} is a {meta['architecture']} model; it cannot initialise --arch {arch} "
                         f"({ARCHITECTURE_NAMES[arch]})")
    model = build_model(arch, batch_norm=True)
    modules = dict(model.named_modules())
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    values = _initialisers(m)
    loaded: set[str] = set()

    def put(key: str, array: np.ndarray) -> None:
        if key not in state:
            raise ValueError(f"{path}: no parameter {key} in the {arch} model; the architecture does not match")
        t = torch.from_numpy(np.array(array, dtype=np.float32))
        if tuple(t.shape) != tuple(state[key].shape):
            raise ValueError(f"{path}: {key} has shape {tuple(t.shape)} in the ONNX model and "
                             f"{tuple(state[key].shape)} in the {arch} model; the architecture does not match")
        state[key] = t
        loaded.add(key)

    order = list(modules)
    for n in m.graph.node:
        if n.op_type == "Conv":
            name = _match(modules, _scope(n.name), nn.Conv2d, "convolution")
            conv = modules[name]
            for attr, want in (("strides", conv.stride), ("dilations", conv.dilation)):
                got = next((list(a.ints) for a in n.attribute if a.name == attr), [1, 1])
                if tuple(got) != tuple(want):
                    raise ValueError(f"{path}: {name} has {attr} {got}, the {arch} model {list(want)}")
            if len(n.input) < 2 or n.input[1] not in values:
                raise ValueError(f"{path}: the weight of {name} is not a constant")
            put(f"{name}.weight", values[n.input[1]])
            bias = values.get(n.input[2]) if len(n.input) > 2 else None
            if conv.bias is not None:
                put(f"{name}.bias", bias if bias is not None else np.zeros(conv.out_channels, np.float32))
                continue
            # Bias-free convolution: PyTorch has a BatchNorm after it (the next module).
            bn_name = order[order.index(name) + 1]
            bn = modules[bn_name]
            if not isinstance(bn, nn.BatchNorm2d):
                raise ValueError(f"{path}: {name} has no BatchNorm after it in the {arch} model")
            if f"{bn_name}.weight" in loaded:
                continue  # loaded from a BatchNormalization node
            # Folded: identity BatchNorm carrying the folded bias.
            c = conv.out_channels
            put(f"{bn_name}.weight", np.ones(c, np.float32))
            put(f"{bn_name}.bias", bias if bias is not None else np.zeros(c, np.float32))
            put(f"{bn_name}.running_mean", np.zeros(c, np.float32))
            put(f"{bn_name}.running_var", np.full(c, 1.0 - bn.eps, np.float32))
        elif n.op_type == "BatchNormalization":
            name = _match(modules, _scope(n.name), nn.BatchNorm2d, "BatchNorm")
            for key, inp in zip(("weight", "bias", "running_mean", "running_var"), n.input[1:5]):
                put(f"{name}.{key}", values[inp])
        elif n.op_type == "Mul" and "/l2norm/" in n.name:
            for inp in n.input:
                if inp in values and values[inp].size == state["backbone.l2norm.weight"].numel():
                    put("backbone.l2norm.weight", values[inp].reshape(-1))
    # Everything but the BatchNorm batch counters must come from the file.
    missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path}: {len(missing)} parameters of the {arch} model are not in the ONNX graph "
                         f"(e.g. {missing[:3]}); the architecture does not match")
    return state, meta, arch


def recovered_config(onnx_path: Path, meta: dict[str, str], arch: str, command: str = "") -> TrainConfig:
    """The config of a recovered checkpoint: architecture, finding and pixel spacing from
    the ONNX metadata; the rest are the defaults (the original training is unknown)."""
    for key, want in (("input_size", str(INPUT_SIZE)), ("classes", ",".join(CLASSES))):
        if key in meta and meta[key] != want:
            raise ValueError(f"{onnx_path}: metadata {key} is {meta[key]!r}, expected {want!r}")
    for key, want in (("mean", MEAN), ("std", STD)):
        if key in meta and tuple(float(v) for v in meta[key].split(",")) != tuple(want):
            raise ValueError(f"{onnx_path}: metadata {key} is {meta[key]!r}, this code uses {want}")
    finding = meta.get("finding")
    if finding not in ("ankylosis", "subluxation"):
        raise ValueError(f"{onnx_path}: metadata finding is {finding!r}")
    spacing = float(meta.get("training_pixel_spacing_mm", "0.3"))
    return TrainConfig(dataset=f"unknown (weights recovered from {onnx_path})", finding=finding, arch=arch,
                       pixel_spacing_mm=spacing, batch_norm=True, freeze_bn=True, init=str(onnx_path),
                       init_sha256=file_sha256(onnx_path), command=command)


def onnx_provenance(onnx_path: Path) -> str:
    """The provenance of the manifest beside an .onnx file, when there is one that the
    node would load (export.read_manifest); else empty."""
    from .export import read_manifest

    toml = Path(onnx_path).with_suffix(".toml")
    if not toml.is_file():
        return ""
    try:
        return str(read_manifest(toml)["provenance"])
    except (OSError, ValueError):  # tomllib.TOMLDecodeError is a ValueError
        return ""


def recover(onnx_path: Path, command: str = "") -> tuple[torch.nn.Module, dict]:
    """The model (eval mode) and a ``rajoints-ssd-checkpoint/1`` dict recovered from an
    exported ONNX model."""
    state, meta, arch = state_dict_from_onnx(onnx_path)
    cfg = recovered_config(Path(onnx_path), meta, arch, command)
    model = build_model(arch, batch_norm=True)
    model.load_state_dict(state)
    model.eval()
    facts = {"recovered_from": str(onnx_path), "onnx_sha256": cfg.init_sha256,
             "onnx_version": meta.get("version", ""), "onnx_provenance": onnx_provenance(Path(onnx_path))}
    return model, checkpoint_state(model, cfg, 0, 0, facts)


def init_state(path: Path, arch: str | None) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights ``train.py --init`` starts from, and what they are: ``arch``, ``finding``,
    ``pixel_spacing_mm``, ``freeze_bn`` (BatchNorm was folded: keep it in eval mode) and
    ``sha256``. ``path`` is a .onnx export or a ``rajoints-ssd-checkpoint/1`` file; a
    different architecture (``arch``) is a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init {path}: no such file")
    info = {"sha256": file_sha256(path)}
    if path.suffix == ".onnx":
        state, meta, found = state_dict_from_onnx(path, arch)
        info.update(arch=found, finding=meta.get("finding", ""), freeze_bn=True,
                    pixel_spacing_mm=float(meta.get("training_pixel_spacing_mm", "nan")),
                    version=meta.get("version", ""))
        return state, info
    ck = load_checkpoint(path)
    cfg = TrainConfig.from_dict(ck["config"])
    if arch is not None and cfg.arch != arch:
        raise ValueError(f"--init {path} is a {cfg.arch} checkpoint; it cannot initialise --arch {arch}")
    if not cfg.batch_norm:
        raise ValueError(f"--init {path} has no BatchNorm (--no-batch-norm); train.py --init needs BatchNorm models")
    info.update(arch=cfg.arch, finding=cfg.finding, freeze_bn=cfg.freeze_bn,
                pixel_spacing_mm=cfg.pixel_spacing_mm, version="")
    return ck["model"], info


def main(argv: list[str] | None = None) -> int:
    from .export import check_parity

    ap = argparse.ArgumentParser(description="Recover a training checkpoint from an exported ONNX detector, "
                                 "and check it against onnxruntime.")
    ap.add_argument("--onnx", required=True, type=Path, help="the exported model, e.g. models/ankylosis.onnx")
    ap.add_argument("--out", required=True, type=Path, help="the checkpoint to write (rajoints-ssd-checkpoint/1)")
    a = ap.parse_args(argv)
    cmd = shlex.join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv)))
    try:
        model, ck = recover(a.onnx, cmd)
        diffs = check_parity(model, a.onnx)
    except (ValueError, FileNotFoundError) as e:
        print(f"recover_checkpoint: error: {e}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(a.out, ck)
    cfg = ck["config"]
    print(f"wrote {a.out}: {cfg['finding']} / {cfg['arch']}, {cfg['pixel_spacing_mm']} mm, "
          f"from {a.onnx} (sha256 {cfg['init_sha256']}), rajoints_train {__version__}")
    print(f"parity with onnxruntime: max |d boxes| {max(diffs['boxes'], diffs['boxes_batch1']):.2e} px, "
          f"max |d scores| {max(diffs['scores'], diffs['scores_batch1']):.2e}")
    return 0
