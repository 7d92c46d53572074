"""Augmentations move boxes with the pixels (style guide, torchvision references)."""

import numpy as np
import pytest
import torch

from rajoints_train.augment import Augmenter, hflip, photometric, warp, warp_boxes


def bright_bbox(gray: torch.Tensor, thr: float = 0.5) -> list[float]:
    ys, xs = torch.nonzero(gray > thr, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


def rect_image(box, size=300) -> torch.Tensor:
    g = torch.zeros(size, size)
    x0, y0, x1, y1 = (int(v) for v in box)
    g[y0:y1, x0:x1] = 1.0
    return g


def disc_image(cx, cy, r, size=300) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    return (((xs - cx) ** 2 + (ys - cy) ** 2) <= r * r).float()


def test_flip_moves_the_box_with_the_pixels():
    box = torch.tensor([[40.0, 60.0, 100.0, 90.0]])
    g, b = hflip(rect_image(box[0]), box)
    assert b.tolist() == [[200.0, 60.0, 260.0, 90.0]]
    assert bright_bbox(g) == b[0].tolist()


def test_identity_warp_keeps_the_pixels():
    g = torch.rand(300, 300, generator=torch.Generator().manual_seed(0))
    # float32 grid coordinates: a few 1e-5 of a pixel off, times a neighbour difference <= 1.
    assert torch.allclose(warp(g, 1.0, 0.0, (150.0, 150.0)), g, atol=1e-4)


@pytest.mark.parametrize("scale,centre", [(1.25, (140.0, 160.0)), (0.8, (170.0, 130.0))])
def test_crop_resize_moves_the_box_with_the_pixels(scale, centre):
    box = torch.tensor([[100.0, 120.0, 160.0, 170.0]])
    out = warp(rect_image(box[0]), scale, 0.0, centre)
    nb = warp_boxes(box, scale, 0.0, centre, (300, 300))[0].tolist()
    assert np.allclose(bright_bbox(out), nb, atol=1.01)


@pytest.mark.parametrize("angle", [10.0, -7.0, 30.0])
def test_rotation_moves_the_box_with_the_pixels(angle):
    # A disc's box is the box of its inscribed circle, so the rotated box is exact.
    cx, cy, r = 110.0, 180.0, 20.0
    box = torch.tensor([[cx - r, cy - r, cx + r, cy + r]])
    out = warp(disc_image(cx, cy, r), 1.0, angle, (150.0, 150.0))
    nb = warp_boxes(box, 1.0, angle, (150.0, 150.0), (300, 300))[0].tolist()
    assert np.allclose(bright_bbox(out), nb, atol=1.5)
    # And the centre moved: rotation about the window centre, clockwise on screen for angle > 0.
    assert (nb[0] + nb[2]) / 2 != pytest.approx(cx, abs=1.0)


def test_augmenter_keeps_boxes_on_their_objects():
    aug = Augmenter(p=1.0, contrast_range=(1.0, 1.0), brightness=0.0, gamma_range=(1.0, 1.0), rotate_deg=15.0)
    boxes = torch.tensor([[60.0, 60.0, 100.0, 100.0], [180.0, 150.0, 220.0, 190.0]])
    img = disc_image(80, 80, 20) + disc_image(200, 170, 20)
    labels = torch.tensor([1, 2])
    for seed in range(8):
        g = torch.Generator().manual_seed(seed)
        out, b, lab = aug(img, boxes, labels, g)
        assert len(b) >= 1 and len(lab) == len(b)
        for bb in b.tolist():
            x0, y0, x1, y1 = (int(round(v)) for v in bb)
            inside = out[max(y0, 0):y1, max(x0, 0):x1]
            assert inside.numel() > 0 and float(inside.mean()) > 0.5


def test_augmenter_is_reproducible_and_leaves_its_inputs_alone():
    aug = Augmenter(p=1.0)
    img = torch.rand(300, 300, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[100.0, 100.0, 140.0, 135.0]])
    labels = torch.tensor([2])
    keep = (img.clone(), boxes.clone())
    a = aug(img, boxes, labels, torch.Generator().manual_seed(7))
    b = aug(img, boxes, labels, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(img, keep[0]) and torch.equal(boxes, keep[1])


def test_colour_and_contrast_leave_the_boxes_and_stay_in_range():
    aug = Augmenter(p=1.0, zoom_range=(1.0, 1.0), rotate_deg=0.0)
    img = torch.rand(300, 300, generator=torch.Generator().manual_seed(2))
    boxes = torch.tensor([[10.0, 20.0, 50.0, 60.0]])
    g = torch.Generator().manual_seed(0)
    out, b, _ = aug(img, boxes, torch.tensor([1]), g)
    # Flip happened (p = 1): the box is mirrored, no other move.
    assert b.tolist() == [[250.0, 20.0, 290.0, 60.0]]
    assert out.min() >= 0 and out.max() <= 1
    p = photometric(torch.tensor([0.0, 0.5, 1.0]), 1.0, 0.0, 1.0)
    assert p.tolist() == [0.0, 0.5, 1.0]
