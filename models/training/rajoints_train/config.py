"""The ONNX contract of models/README.md and the training configuration.

The contract constants are defined once here and used by the data pipeline (normalisation),
the export (graph and metadata) and the manifest. :class:`TrainConfig` is a dataclass saved
as ``config.json`` next to every checkpoint, so a checkpoint always says how it was made.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Side of the square input window, pixels (SSD300).
INPUT_SIZE = 300
#: Class order of ``scores`` (softmax over these three); index 0 is background.
CLASSES = ("background", "absent", "present")
NUM_CLASSES = len(CLASSES)
#: Label indices (paper, "Each SSD classifies ... presence, absence, and the background").
BACKGROUND, ABSENT, PRESENT = 0, 1, 2
#: Box variances of Eqs. 4-5 as the node decodes them: 0.1 for the centre, 0.2 for the size.
VARIANCES = (0.1, 0.2)
#: Per-channel normalisation of display values v in [0, 1]: (v - mean) / std. Both
#: detectors of one node must share it (src/pipeline/mod.rs refuses a mismatch).
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
#: The box layout of ``boxes``, recorded in the ONNX metadata.
BOX_FORMAT = "x0,y0,x1,y1 input pixels, pixel-edge; decoded in-graph (variances 0.1/0.2)"

FINDINGS = ("ankylosis", "subluxation")
ARCHS = ("vgg16", "light")
#: Manifest ``architecture`` for each backbone.
ARCHITECTURE_NAMES = {"vgg16": "ssd300-vgg16", "light": "ssd300-lite"}
#: Joints per image each detector learns (paper: M1 = 20, M2 = 18).
JOINTS_PER_IMAGE = {"ankylosis": 20, "subluxation": 18}

DEFAULT_INTENDED_USE = (
    "research only; trained on synthetic radiographs; not validated on patients; "
    "not for diagnostic use"
)


@dataclass
class TrainConfig:
    """Everything that determines a training run. Defaults are the paper's where it gives
    one ("Training setup"), otherwise stated in the field's comment."""

    dataset: str
    finding: str
    arch: str = "vgg16"
    out: str = "runs/model"
    #: Paper: 200 epochs, batch 16, Adam alpha 0.001, betas 0.9/0.999, weight decay 0.0005.
    epochs: int = 200
    batch_size: int = 16
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 5e-4
    #: Iterations (optimiser steps) after which the learning rate is multiplied by
    #: ``lr_decay_factor``; empty = constant, as the paper states its Adam settings.
    lr_decay_at: tuple[int, ...] = ()
    lr_decay_factor: float = 0.1
    #: Stop after this many optimiser steps in total (smoke tests); None = run all epochs.
    max_iters: int | None = None
    seed: int = 0
    #: Pixel spacing (mm) of the model input. Images with PixelSpacing/ImagerPixelSpacing
    #: are resampled to it; images without are halved (`fallback_scale`), exactly as the
    #: node does. 0 = always halve, as the paper does (manifest then says 0).
    pixel_spacing_mm: float = 0.3
    fallback_scale: float = 0.5
    #: Probability of each augmentation (paper: 50 %).
    aug_p: float = 0.5
    #: Augmentation ranges (ours; the paper names the kinds only).
    rotate_deg: float = 10.0
    zoom_range: tuple[float, float] = (0.8, 1.25)
    contrast_range: tuple[float, float] = (0.7, 1.3)
    brightness: float = 0.1
    gamma_range: tuple[float, float] = (0.7, 1.4)
    #: A joint cut by the crop is kept (clipped) when at least this fraction of its box
    #: area is inside, else dropped from the targets.
    min_visible: float = 0.5
    #: How far a crop may hang past the right/bottom edge of the image (zero padding),
    #: like the node's last windows (stride 150).
    overhang: int = 150
    #: Matching (SSD): a default box is positive at IoU >= 0.5 with a ground truth.
    iou_threshold: float = 0.5
    #: Hard-negative mining ratio neg:pos (SSD, 3:1).
    neg_pos_ratio: int = 3
    #: BatchNorm after each backbone convolution. The paper trains from scratch (no
    #: pretrained weights); without normalisation VGG16-SSD hardly trains from scratch.
    batch_norm: bool = True
    device: str = "auto"
    workers: int = 0
    #: Torch intra-op threads on CPU; 0 = torch's default.
    threads: int = 0
    #: Rare joints (finding present, or destroyed: ankylosis or subluxation) get extra
    #: windows until they are at least this share of an epoch's windows (when there are
    #: any); 0 = one window per joint, as the paper (adapt.py and cv.py pass 0.25).
    rare_fraction: float = 0.0
    #: Hard negatives (issue 17): each look-alike kind (DIP, CMC, carpus, wrist, JSN 2,
    #: overlapping bones; data.LOOKALIKE_KINDS) gets this many times as many windows as the
    #: rare joints have; 0 = none, as the paper.
    lookalike_ratio: float = 0.0
    #: Probability of each domain-randomisation transform (domain.py: resolution, blur or
    #: unsharp mask, tone curve, noise, quantisation, JPEG, erasing); 0 = off, as the paper.
    domain_p: float = 0.0
    #: Start from these weights (a rajoints-ssd-checkpoint/1 file or an exported .onnx)
    #: instead of from scratch, and the file's sha256; None = from scratch.
    init: str | None = None
    init_sha256: str = ""
    #: Keep BatchNorm in eval mode while training: set when the weights come from an ONNX
    #: export, whose BatchNorm was folded into the convolutions (recover.py).
    freeze_bn: bool = False
    #: Write last.pt every this many iterations as well as after each epoch; 0 = per epoch.
    checkpoint_every: int = 0
    #: Print progress every this many iterations.
    log_every: int = 10
    #: Cross-validation: rajoints-folds/1 file and the held-out fold (train on the others).
    folds: str | None = None
    fold: int | None = None
    #: Filled in by train.py: the command line and the code's git commit.
    command: str = ""
    git_commit: str = ""

    def validate(self) -> None:
        """Raises ValueError naming the first field that is out of range."""
        if self.finding not in FINDINGS:
            raise ValueError(f"finding must be one of {FINDINGS}, got {self.finding!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_iters is not None and self.max_iters < 1:
            raise ValueError(f"max_iters must be >= 1, got {self.max_iters}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if any(int(n) < 1 for n in self.lr_decay_at) or list(self.lr_decay_at) != sorted(self.lr_decay_at):
            raise ValueError(f"lr_decay_at must be ascending iterations >= 1, got {list(self.lr_decay_at)}")
        if not 0.0 < self.lr_decay_factor <= 1.0:
            raise ValueError(f"lr_decay_factor must be in (0, 1], got {self.lr_decay_factor}")
        if not (self.pixel_spacing_mm >= 0):
            raise ValueError(f"pixel_spacing_mm must be >= 0, got {self.pixel_spacing_mm}")
        if not (self.fallback_scale > 0):
            raise ValueError(f"fallback_scale must be > 0, got {self.fallback_scale}")
        if not 0.0 <= self.aug_p <= 1.0:
            raise ValueError(f"aug_p must be in [0, 1], got {self.aug_p}")
        if not 0.0 < self.min_visible <= 1.0:
            raise ValueError(f"min_visible must be in (0, 1], got {self.min_visible}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.neg_pos_ratio < 0:
            raise ValueError(f"neg_pos_ratio must be >= 0, got {self.neg_pos_ratio}")
        if self.overhang < 0:
            raise ValueError(f"overhang must be >= 0, got {self.overhang}")
        lo, hi = self.zoom_range
        if not 0 < lo <= hi:
            raise ValueError(f"zoom_range must be 0 < lo <= hi, got {self.zoom_range}")
        if not 0.0 <= self.rare_fraction < 1.0:
            raise ValueError(f"rare_fraction must be in [0, 1), got {self.rare_fraction}")
        if not 0.0 <= self.lookalike_ratio <= 10.0:
            raise ValueError(f"lookalike_ratio must be in [0, 10], got {self.lookalike_ratio}")
        if not 0.0 <= self.domain_p <= 1.0:
            raise ValueError(f"domain_p must be in [0, 1], got {self.domain_p}")
        if not self.rotate_deg >= 0:
            raise ValueError(f"rotate_deg must be >= 0, got {self.rotate_deg}")
        for name in ("checkpoint_every", "log_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if (self.folds is None) != (self.fold is None):
            raise ValueError("folds and fold must be given together")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda[:k], got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        d = dict(d)
        for k in ("betas", "zoom_range", "contrast_range", "gamma_range", "lr_decay_at"):
            if k in d and d[k] is not None:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))
