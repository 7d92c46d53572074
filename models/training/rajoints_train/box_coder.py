"""Box encoding of the paper's Eqs. 4-5 and its inverse, with SSD's variances.

Eq. 4:  g^cx = (g_cx - d_cx) / d_w,        g^cy = (g_cy - d_cy) / d_h
Eq. 5:  g^w  = log(g_w / d_w),             g^h  = log(g_h / d_h)

The network regresses these offsets divided by the variances (0.1 for the centre, 0.2 for
the size), as SSD does; decoding multiplies them back, which is exactly what the node's
contract says the exported graph computes (models/README.md, "Outputs"):

    cx = d_cx + 0.1 * l_cx * d_w      w = d_w * exp(0.2 * l_w)

Boxes are ``[x0, y0, x1, y1]`` (pixel-edge coordinates) or ``(cx, cy, w, h)``, input
pixels of the 300x300 window. Like torchvision's ``BoxCoder``, decoding clamps the size
offset before ``exp`` so that a wild regression gives a large box, not inf.
"""

from __future__ import annotations

import math

import torch

from .config import VARIANCES

#: Largest size offset (times the variance) fed to exp: log(1000 / 16), torchvision's
#: ``bbox_xform_clip``. A default box grows at most 62.5-fold.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    """[..., 4] corners to centre and size."""
    x0, y0, x1, y1 = b.unbind(-1)
    return torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), dim=-1)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    """[..., 4] centre and size to corners."""
    cx, cy, w, h = b.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def box_area(b: torch.Tensor) -> torch.Tensor:
    """Area of [..., 4] xyxy boxes (0 for empty ones)."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix [M, N] of xyxy boxes a [M, 4] and b [N, 4]."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clamp(min=1e-12)


class BoxCoder:
    """Encodes ground-truth boxes against default boxes (Eqs. 4-5) and decodes
    regressions back to boxes. ``variances`` = (centre, size)."""

    def __init__(self, variances: tuple[float, float] = VARIANCES) -> None:
        if len(variances) != 2 or not all(v > 0 for v in variances):
            raise ValueError(f"variances must be two positive numbers, got {variances}")
        self.variances = (float(variances[0]), float(variances[1]))

    def encode(self, gt_xyxy: torch.Tensor, priors_cxcywh: torch.Tensor) -> torch.Tensor:
        """Offsets l [..., 4] (already divided by the variances) that decode to ``gt``.

        ``gt_xyxy`` and ``priors_cxcywh`` broadcast against each other; ground-truth boxes
        must have positive width and height (log of Eq. 5)."""
        g = xyxy_to_cxcywh(gt_xyxy)
        d = priors_cxcywh
        vc, vs = self.variances
        l_cx = (g[..., 0] - d[..., 0]) / d[..., 2] / vc
        l_cy = (g[..., 1] - d[..., 1]) / d[..., 3] / vc
        l_w = torch.log(g[..., 2] / d[..., 2]) / vs
        l_h = torch.log(g[..., 3] / d[..., 3]) / vs
        return torch.stack((l_cx, l_cy, l_w, l_h), dim=-1)

    def decode(self, loc: torch.Tensor, priors_cxcywh: torch.Tensor) -> torch.Tensor:
        """Boxes xyxy [..., 4] from offsets ``loc`` [..., 4] and default boxes
        [A, 4] (broadcast over leading batch dimensions). Traceable for ONNX export."""
        d = priors_cxcywh
        vc, vs = self.variances
        cx = d[..., 0] + vc * loc[..., 0] * d[..., 2]
        cy = d[..., 1] + vc * loc[..., 1] * d[..., 3]
        w = d[..., 2] * torch.exp((vs * loc[..., 2]).clamp(max=BBOX_XFORM_CLIP))
        h = d[..., 3] * torch.exp((vs * loc[..., 3]).clamp(max=BBOX_XFORM_CLIP))
        return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)
