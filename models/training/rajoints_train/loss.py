"""The SSD loss of the paper's Eqs. 1-3 with hard-negative mining.

Eq. 1 is printed in the paper as ``L = -1/N (L_conf) + L_loc``; the intended loss, that of
SSD (Liu et al. 2016, Eq. 1) which the paper cites, is

    L = (L_conf + alpha * L_loc) / N,   alpha = 1,

N the number of matched (positive) default boxes, taken as at least 1.

- Eq. 2, L_loc: smooth-L1 between predicted offsets l and encoded ground truth g^
  (Eqs. 4-5, see box_coder.py), summed over positives and the four coordinates.
- Eq. 3, L_conf: softmax cross-entropy over the positives (their class: absent or present)
  and over the negatives, background class. Not every negative: per window the
  ``neg_pos_ratio * num_pos`` negatives with the highest background loss (hard-negative
  mining, SSD Sec. 2.2, 3:1), at most all the negatives of the window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import BACKGROUND


def hard_negative_mask(bg_loss: torch.Tensor, positive: torch.Tensor, neg_pos_ratio: int) -> torch.Tensor:
    """Boolean mask [B, A] of the negatives kept: for each window the
    ``neg_pos_ratio * num_pos`` non-positive default boxes with the largest ``bg_loss``
    (ties broken by index). A window with no positive keeps no negative (SSD)."""
    if bg_loss.shape != positive.shape:
        raise ValueError(f"bg_loss {tuple(bg_loss.shape)} and positive {tuple(positive.shape)} differ")
    if neg_pos_ratio < 0:
        raise ValueError(f"neg_pos_ratio must be >= 0, got {neg_pos_ratio}")
    loss = bg_loss.detach().clone()
    loss[positive] = -float("inf")  # positives rank last
    order = torch.argsort(loss, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    num_pos = positive.sum(dim=1, keepdim=True)
    num_neg = torch.clamp(neg_pos_ratio * num_pos, max=positive.shape[1] - num_pos)
    return (rank < num_neg) & ~positive


def ssd_loss(
    loc_pred: torch.Tensor,
    conf_logits: torch.Tensor,
    loc_target: torch.Tensor,
    cls_target: torch.Tensor,
    neg_pos_ratio: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_loc / N, L_conf / N) for a batch; their sum is the loss of Eq. 1.

    loc_pred, loc_target: [B, A, 4]; conf_logits: [B, A, C]; cls_target: [B, A] int64
    with 0 = background.
    """
    if loc_pred.shape != loc_target.shape or loc_pred.shape[-1] != 4:
        raise ValueError(f"loc shapes differ: {tuple(loc_pred.shape)} vs {tuple(loc_target.shape)}")
    if conf_logits.shape[:2] != cls_target.shape or conf_logits.shape[:2] != loc_pred.shape[:2]:
        raise ValueError(
            f"conf {tuple(conf_logits.shape)} / targets {tuple(cls_target.shape)} do not match loc {tuple(loc_pred.shape)}"
        )
    positive = cls_target != BACKGROUND
    n = positive.sum().clamp(min=1).to(loc_pred.dtype)
    loss_loc = F.smooth_l1_loss(loc_pred[positive], loc_target[positive], reduction="sum")
    ce = F.cross_entropy(conf_logits.flatten(0, 1), cls_target.flatten(), reduction="none").view_as(cls_target)
    # For negatives the cross-entropy against class 0 is -log c^0 of Eq. 3: rank by it.
    negative = hard_negative_mask(ce, positive, neg_pos_ratio)
    loss_conf = ce[positive | negative].sum()
    return loss_loc / n, loss_conf / n
