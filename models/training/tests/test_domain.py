"""Domain randomisation (domain.py): each transform on cases worked by hand, determinism,
and erasing that never hides a target joint."""

import math

import pytest
import torch

from rajoints_train.domain import (TRANSFORMS, DomainRandomiser, gaussian_blur, jpeg, quantise,
                                   resample_through, tone_curve, unsharp)


def test_quantise_hand_worked():
    # 5 bits: 31 levels; 0.1 * 31 = 3.1 rounds to 3, i.e. 3/31; 0.9 * 31 = 27.9 -> 28/31.
    out = quantise(torch.tensor([[0.1, 0.9, 0.0, 1.0]]), 5)
    assert torch.allclose(out, torch.tensor([[3 / 31, 28 / 31, 0.0, 1.0]]))


def test_tone_curve_hand_worked():
    ident = torch.linspace(0, 1, 5)
    x = torch.tensor([[0.0, 0.1, 0.5, 0.95, 1.0]])
    assert torch.allclose(tone_curve(x, ident), x, atol=1e-6)
    # Knots (0, 0, 0.5, 1, 1) at 0, 0.25, 0.5, 0.75, 1: 0.375 lies halfway between 0 and 0.5.
    knots = torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0])
    out = tone_curve(torch.tensor([[0.25, 0.375, 0.5, 0.625, 0.9]]), knots)
    assert torch.allclose(out, torch.tensor([[0.0, 0.25, 0.5, 0.75, 1.0]]), atol=1e-6)


def test_blur_and_unsharp_keep_a_flat_image_and_blur_keeps_mass():
    flat = torch.full((40, 40), 0.3)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat, atol=1e-6)
    assert torch.allclose(unsharp(flat, 4.0, 1.2), flat, atol=1e-6)
    impulse = torch.zeros(41, 41)
    impulse[20, 20] = 1.0
    b = gaussian_blur(impulse, 1.5)
    assert math.isclose(float(b.sum()), 1.0, rel_tol=1e-5) and float(b[20, 20]) < 0.1


def test_unsharp_rings_an_edge():
    # A step from 0.2 to 0.8: the mask overshoots on the bright side and undershoots on the dark.
    step = torch.zeros(20, 40)
    step[:, :20], step[:, 20:] = 0.2, 0.8
    out = unsharp(step, 2.0, 1.0)
    assert float(out[10, 19]) < 0.2 and float(out[10, 20]) > 0.8


def test_resample_and_jpeg_keep_a_flat_image():
    flat = torch.full((300, 300), 0.5)
    assert torch.allclose(resample_through(flat, 0.37), flat, atol=1e-6)
    assert float((jpeg(flat, 30) - 0.5).abs().max()) <= 1.5 / 255


def test_off_is_the_identity_and_on_is_deterministic():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(300, 300, generator=g)
    boxes = torch.tensor([[100.0, 100.0, 160.0, 160.0]])
    applied = []
    assert torch.equal(DomainRandomiser(p=0.0)(x, boxes, torch.Generator().manual_seed(5), applied), x)
    assert applied == []
    a = DomainRandomiser(p=1.0)(x, boxes, torch.Generator().manual_seed(5))
    b = DomainRandomiser(p=1.0)(x, boxes, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_every_transform_is_drawn_and_blur_excludes_unsharp():
    seen = set()
    x = torch.rand(300, 300, generator=torch.Generator().manual_seed(0))
    boxes = torch.zeros((0, 4))
    for seed in range(40):
        applied = []
        DomainRandomiser(p=0.5)(x, boxes, torch.Generator().manual_seed(seed), applied)
        assert not {"blur", "unsharp"} <= set(applied)
        seen |= set(applied)
    assert seen == set(TRANSFORMS)


def test_erasing_never_hides_a_target():
    # A flat window and three joints; only erasing on. Over 60 windows, no joint loses more
    # than a quarter of its pixels to a rectangle, and rectangles are drawn elsewhere.
    x = torch.full((300, 300), 0.5)
    boxes = torch.tensor([[40.0, 40.0, 100.0, 100.0], [150.0, 120.0, 200.0, 170.0], [60.0, 200.0, 130.0, 260.0]])
    erased = 0
    for seed in range(60):
        applied = []
        out = DomainRandomiser(p=1.0, enabled=("erase",))(x, boxes, torch.Generator().manual_seed(seed), applied)
        changed = (out - 0.5).abs() > 1e-6
        for x0, y0, x1, y1 in boxes.int().tolist():
            assert float(changed[y0:y1, x0:x1].float().mean()) <= 0.25 + 1e-6
        erased += "erase" in applied
    assert erased > 20
