"""Matching ground-truth joints to default boxes (SSD, Liu et al. 2016, Sec. 2.2,
"Matching strategy"; the paper's x_ij^p of Eqs. 2-3).

Contract of :func:`match`: a ground-truth set of M boxes [M, 4] and A default boxes
[A, 4] (both xyxy, input pixels) go in; A indices come out, each the ground truth the
default box is matched to, or :data:`BELOW_THRESHOLD` (background). A default box is
matched to the ground truth with which it has the highest IoU when that IoU is at least
``iou_threshold`` (0.5); in addition every ground truth keeps its best default box even
below the threshold (torchvision's ``SSDMatcher``), so no joint goes unlearned because it
fell between default boxes.
"""

from __future__ import annotations

import torch

from .box_coder import BoxCoder, box_iou, cxcywh_to_xyxy
from .config import BACKGROUND

#: Index of a default box matched to no ground truth (background).
BELOW_THRESHOLD = -1


def match(gt_xyxy: torch.Tensor, priors_xyxy: torch.Tensor, iou_threshold: float = 0.5) -> torch.Tensor:
    """Matched ground-truth index per default box, [A] int64 (see the module docstring).

    Two ground truths whose best default box is the same one: the one with the higher IoU
    keeps it and the other takes its best default box not yet taken, so every ground truth
    ends with a default box of its own. Raises ValueError for an empty ground-truth set.
    """
    if gt_xyxy.ndim != 2 or gt_xyxy.shape[-1] != 4:
        raise ValueError(f"gt boxes must be [M, 4], got {tuple(gt_xyxy.shape)}")
    if gt_xyxy.shape[0] == 0:
        raise ValueError("cannot match an empty ground-truth set")
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    iou = box_iou(gt_xyxy, priors_xyxy)  # [M, A]
    best_iou, best_gt = iou.max(dim=0)
    matched = torch.where(best_iou >= iou_threshold, best_gt, torch.full_like(best_gt, BELOW_THRESHOLD))
    # Every ground truth keeps its best default box; the best-matched ones choose first.
    taken: set[int] = set()
    order = torch.argsort(iou.max(dim=1).values, descending=True, stable=True)
    for g in order.tolist():
        row = iou[g].clone()
        a = int(row.argmax())
        while a in taken:
            row[a] = -1.0
            a = int(row.argmax())
        taken.add(a)
        matched[a] = g
    return matched


def encode_targets(
    gt_xyxy: torch.Tensor,
    gt_labels: torch.Tensor,
    priors_cxcywh: torch.Tensor,
    coder: BoxCoder,
    iou_threshold: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression targets [A, 4] (zero for background) and class targets [A] int64
    (0 background, else the matched joint's label) for one window. A window without
    ground truth is all background."""
    a = priors_cxcywh.shape[0]
    if gt_xyxy.shape[0] == 0:
        return torch.zeros(a, 4), torch.full((a,), BACKGROUND, dtype=torch.int64)
    if gt_labels.shape != (gt_xyxy.shape[0],):
        raise ValueError(f"labels {tuple(gt_labels.shape)} do not match boxes {tuple(gt_xyxy.shape)}")
    if bool((gt_labels == BACKGROUND).any()):
        raise ValueError("a ground-truth joint cannot have the background label")
    matched = match(gt_xyxy, cxcywh_to_xyxy(priors_cxcywh), iou_threshold)
    pos = matched >= 0
    cls_t = torch.full((a,), BACKGROUND, dtype=torch.int64)
    cls_t[pos] = gt_labels[matched[pos]].to(torch.int64)
    loc_t = torch.zeros(a, 4)
    loc_t[pos] = coder.encode(gt_xyxy[matched[pos]], priors_cxcywh[pos])
    return loc_t, cls_t
