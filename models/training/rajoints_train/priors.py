"""SSD300 default boxes (paper: "The SSD detects objects of various sizes by preparing
appropriately sized default bounding boxes in advance"; SSD, Liu et al. 2016, Sec. 2.2).

The six source layers (Conv4_3, Conv7, Conv8_2, Conv9_2, Conv10_2, Conv11_2) have
38, 19, 10, 5, 3 and 1 cells per side. Each cell carries a square box of side s_k, a
square of side sqrt(s_k * s_{k+1}), and for each aspect ratio a a pair of boxes
s_k*sqrt(a) x s_k/sqrt(a) and its transpose: 4 or 6 boxes per cell, 8732 in all. The
sizes are the ssd.pytorch SSD300 ones (min 30..264, max 60..315 px), so an SSD300 from
the literature has the same priors.

Order: layer by layer, then row (y) by row, column (x) by column, then box within the
cell. The heads' outputs are permuted and flattened in the same order (see ssd.py).
Boxes are (cx, cy, w, h) in input pixels of the 300x300 window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PriorSpec:
    """Default-box layout of one SSD300 variant."""

    input_size: int = 300
    feature_maps: tuple[int, ...] = (38, 19, 10, 5, 3, 1)
    #: Pixels between cell centres on each map.
    steps: tuple[int, ...] = (8, 16, 32, 64, 100, 300)
    min_sizes: tuple[float, ...] = (30, 60, 111, 162, 213, 264)
    max_sizes: tuple[float, ...] = (60, 111, 162, 213, 264, 315)
    aspect_ratios: tuple[tuple[int, ...], ...] = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))

    def __post_init__(self) -> None:
        n = len(self.feature_maps)
        for name in ("steps", "min_sizes", "max_sizes", "aspect_ratios"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected {n}")

    def boxes_per_cell(self) -> list[int]:
        return [2 + 2 * len(ar) for ar in self.aspect_ratios]

    def num_priors(self) -> int:
        return sum(f * f * k for f, k in zip(self.feature_maps, self.boxes_per_cell()))


SSD300 = PriorSpec()


def default_boxes(spec: PriorSpec = SSD300) -> torch.Tensor:
    """The default boxes as a float32 tensor [A, 4] of (cx, cy, w, h), input pixels.

    Widths and heights are clipped to the window side (the largest square, sqrt(264*315)
    = 288 px, fits; the aspect-ratio boxes of the last layers would not), as ssd.pytorch's
    ``clip=True`` does.
    """
    out: list[list[float]] = []
    for k, f in enumerate(spec.feature_maps):
        step = spec.steps[k]
        s_k = spec.min_sizes[k]
        s_k1 = math.sqrt(spec.min_sizes[k] * spec.max_sizes[k])
        for i in range(f):
            for j in range(f):
                cx = (j + 0.5) * step
                cy = (i + 0.5) * step
                out.append([cx, cy, s_k, s_k])
                out.append([cx, cy, s_k1, s_k1])
                for ar in spec.aspect_ratios[k]:
                    r = math.sqrt(ar)
                    out.append([cx, cy, s_k * r, s_k / r])
                    out.append([cx, cy, s_k / r, s_k * r])
    t = torch.tensor(out, dtype=torch.float64)
    t[:, 2:] = t[:, 2:].clamp(max=spec.input_size)
    return t.to(torch.float32)
