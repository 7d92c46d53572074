import math

import pytest
import torch

from rajoints_train.box_coder import BoxCoder, box_iou, cxcywh_to_xyxy, xyxy_to_cxcywh


def test_encode_then_decode_gives_the_boxes_back():
    g = torch.Generator().manual_seed(0)
    priors = torch.cat([torch.rand(50, 2, generator=g) * 300, 10 + torch.rand(50, 2, generator=g) * 100], 1)
    c = torch.rand(50, 2, generator=g) * 300
    wh = 5 + torch.rand(50, 2, generator=g) * 120
    gt = torch.cat([c - wh / 2, c + wh / 2], 1)
    coder = BoxCoder()
    back = coder.decode(coder.encode(gt, priors), priors)
    assert torch.allclose(back, gt, atol=1e-3)


def test_encoding_follows_eqs_4_and_5_with_variances():
    # d = (100, 100, 40, 20); g = [110, 95, 150, 125] -> (130, 110, 40, 30).
    d = torch.tensor([100.0, 100.0, 40.0, 20.0])
    g = torch.tensor([110.0, 95.0, 150.0, 125.0])
    l = BoxCoder().encode(g, d)
    want = torch.tensor([(130 - 100) / 40 / 0.1, (110 - 100) / 20 / 0.1, 0.0, math.log(30 / 20) / 0.2])
    assert torch.allclose(l, want, atol=1e-6)


def test_decode_is_the_formula_of_the_onnx_contract():
    # models/README.md: cx = d_cx + 0.1 l_cx d_w, w = d_w exp(0.2 l_w).
    d = torch.tensor([[60.0, 80.0, 30.0, 42.0]])
    l = torch.tensor([[1.5, -2.0, 0.7, -0.3]])
    cx, cy = 60 + 0.1 * 1.5 * 30, 80 + 0.1 * -2.0 * 42
    w, h = 30 * math.exp(0.2 * 0.7), 42 * math.exp(0.2 * -0.3)
    want = torch.tensor([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]])
    assert torch.allclose(BoxCoder().decode(l, d), want, atol=1e-5)


def test_zero_offsets_decode_to_the_prior():
    d = torch.tensor([[150.0, 150.0, 60.0, 30.0]])
    assert torch.equal(BoxCoder().decode(torch.zeros(1, 4), d), torch.tensor([[120.0, 135.0, 180.0, 165.0]]))


def test_decode_clamps_huge_size_offsets():
    b = BoxCoder().decode(torch.tensor([[0.0, 0.0, 1e4, 1e4]]), torch.tensor([[10.0, 10.0, 16.0, 16.0]]))
    assert torch.isfinite(b).all()
    assert float(b[0, 2] - b[0, 0]) == pytest.approx(1000.0, rel=1e-4)


def test_box_iou_hand_worked():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    assert torch.allclose(box_iou(a, b), torch.tensor([[50 / 150, 0.0, 1.0]]))


def test_corner_and_centre_forms_are_inverse():
    b = torch.tensor([[3.0, 4.0, 13.0, 24.0]])
    assert torch.equal(xyxy_to_cxcywh(b), torch.tensor([[8.0, 14.0, 10.0, 20.0]]))
    assert torch.equal(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)


def test_rejects_non_positive_variances():
    with pytest.raises(ValueError):
        BoxCoder((0.1, 0.0))
