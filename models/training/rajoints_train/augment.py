"""Augmentation of the training windows (paper, "Training setup", Fig. 4: "augmented by
colouring, crop-resizing, rotating, and flipping ... with a 50% probability").

Each transform is drawn independently with probability ``p``. All take and return the
window and its targets together, ``(gray [H, W], boxes [K, 4] xyxy, labels [K])``, so the
boxes move with the pixels; they never modify their arguments and draw only from the
``torch.Generator`` they are given.

- crop-resize: zoom by s (log-uniform in ``zoom_range``) about a random centre: s > 1 crops
  a smaller region and enlarges it to the window, s < 1 shrinks a larger region into it
  (zero padding where it leaves the image);
- rotation: by a uniform angle in +-``rotate_deg`` about the window centre. A rotated box
  is replaced by the box of its rotated inscribed ellipse (w' = sqrt((w cos)^2 +
  (h sin)^2)), which does not inflate the box as the rotated corners would;
- flip: left-right. Not up-down: hand radiographs are taken fingers up, and the node
  names joints by their layout;
- colour/contrast: contrast about the window's mean, brightness shift and gamma, on the
  gray values. The node feeds three identical channels, so there is no per-channel hue to
  jitter.

Crop-resize and rotation are applied as one affine warp (one bilinear interpolation).
After a warp, boxes keep the rule of the crops: kept and clipped when at least
``min_visible`` of their area is inside; a warp that would leave no box is not applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .data import visible_boxes


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _coin(g: torch.Generator, p: float) -> bool:
    return float(torch.rand((), generator=g)) < p


def warp(gray: torch.Tensor, scale: float, angle_deg: float, centre: tuple[float, float]) -> torch.Tensor:
    """The window seen through p_out = s R(angle) (p_in - centre) + window centre, in
    pixel-edge coordinates (y down; a positive angle turns clockwise on screen); bilinear,
    zero outside."""
    if gray.ndim != 2:
        raise ValueError(f"gray must be [H, W], got {tuple(gray.shape)}")
    h, w = gray.shape
    th = math.radians(angle_deg)
    cos, sin = math.cos(th), math.sin(th)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5, indexing="ij")
    u, v = (xs - w / 2) / scale, (ys - h / 2) / scale
    # Inverse rotation R(-angle) of (u, v).
    px = centre[0] + cos * u + sin * v
    py = centre[1] - sin * u + cos * v
    grid = torch.stack((2 * px / w - 1, 2 * py / h - 1), dim=-1).to(torch.float32).unsqueeze(0)
    out = F.grid_sample(gray[None, None].to(torch.float32), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0, 0]


def warp_boxes(boxes: torch.Tensor, scale: float, angle_deg: float, centre: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    """Boxes under the map of :func:`warp` (centres exactly; sizes by the inscribed
    ellipse), not yet clipped."""
    h, w = size
    th = math.radians(angle_deg)
    cos, sin = abs(math.cos(th)), abs(math.sin(th))
    b = boxes.to(torch.float64)
    cx, cy = (b[:, 0] + b[:, 2]) / 2 - centre[0], (b[:, 1] + b[:, 3]) / 2 - centre[1]
    c, s = math.cos(th), math.sin(th)
    ncx = scale * (c * cx - s * cy) + w / 2
    ncy = scale * (s * cx + c * cy) + h / 2
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    nw = scale * torch.sqrt((bw * cos) ** 2 + (bh * sin) ** 2)
    nh = scale * torch.sqrt((bw * sin) ** 2 + (bh * cos) ** 2)
    return torch.stack((ncx - nw / 2, ncy - nh / 2, ncx + nw / 2, ncy + nh / 2), dim=-1).to(torch.float32)


def hflip(gray: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-right flip: pixel column x goes to w - 1 - x, box edge x to w - x."""
    w = gray.shape[-1]
    b = boxes.clone()
    b[:, 0], b[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return gray.flip(-1), b


def photometric(gray: torch.Tensor, contrast: float, brightness: float, gamma: float) -> torch.Tensor:
    """Contrast about the window mean, brightness shift, then gamma; clipped to [0, 1]."""
    m = gray.mean()
    v = ((gray - m) * contrast + m + brightness).clamp(0.0, 1.0)
    return v.pow(gamma)


@dataclass
class Augmenter:
    p: float = 0.5
    zoom_range: tuple[float, float] = (0.8, 1.25)
    rotate_deg: float = 10.0
    contrast_range: tuple[float, float] = (0.7, 1.3)
    brightness: float = 0.1
    gamma_range: tuple[float, float] = (0.7, 1.4)
    min_visible: float = 0.5

    @classmethod
    def from_config(cls, cfg) -> "Augmenter":
        return cls(p=cfg.aug_p, zoom_range=tuple(cfg.zoom_range), rotate_deg=cfg.rotate_deg,
                   contrast_range=tuple(cfg.contrast_range), brightness=cfg.brightness,
                   gamma_range=tuple(cfg.gamma_range), min_visible=cfg.min_visible)

    def __call__(self, gray: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                 g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, w = gray.shape
        # Every draw happens whatever the coin says, so one transform's outcome does not
        # shift the random stream of the next.
        do_zoom, do_rot, do_flip, do_col = (_coin(g, self.p) for _ in range(4))
        lo, hi = self.zoom_range
        s = math.exp(_uniform(g, math.log(lo), math.log(hi)))
        ux, uy = _uniform(g, 0, 1), _uniform(g, 0, 1)
        angle = _uniform(g, -self.rotate_deg, self.rotate_deg)
        contrast = _uniform(g, *self.contrast_range)
        bright = _uniform(g, -self.brightness, self.brightness)
        gamma = math.exp(_uniform(g, math.log(self.gamma_range[0]), math.log(self.gamma_range[1])))

        if do_zoom or do_rot:
            scale = s if do_zoom else 1.0
            ang = angle if do_rot else 0.0
            # Zoom centre: the region of side w / s around it stays inside the window when
            # zooming in, and contains the window when zooming out.
            a_x, b_x = (w / 2) / scale, w - (w / 2) / scale
            a_y, b_y = (h / 2) / scale, h - (h / 2) / scale
            centre = (min(a_x, b_x) + ux * abs(b_x - a_x), min(a_y, b_y) + uy * abs(b_y - a_y))
            nb = warp_boxes(boxes, scale, ang, centre, (h, w))
            kb, kl = visible_boxes(nb.numpy(), labels.numpy(), 0.0, 0.0, float(w), self.min_visible)
            if h != w:
                raise ValueError("augmentation expects a square window")
            if len(kb) > 0:
                gray = warp(gray, scale, ang, centre)
                boxes, labels = torch.from_numpy(np.ascontiguousarray(kb)), torch.from_numpy(np.ascontiguousarray(kl))
        if do_flip:
            gray, boxes = hflip(gray, boxes)
        if do_col:
            gray = photometric(gray, contrast, bright, gamma)
        return gray.contiguous(), boxes, labels
