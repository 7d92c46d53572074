import math

import pytest
import torch

from rajoints_train.loss import hard_negative_mask, ssd_loss


def test_perfect_regression_costs_nothing_and_uniform_logits_cost_log3():
    b, a = 2, 40
    cls = torch.zeros(b, a, dtype=torch.int64)
    cls[0, [1, 5]] = 1
    cls[1, 7] = 2
    loc_t = torch.randn(b, a, 4)
    l_loc, l_conf = ssd_loss(loc_t.clone(), torch.zeros(b, a, 3), loc_t, cls, neg_pos_ratio=3)
    assert float(l_loc) == 0.0
    # 3 positives, 3 * 3 = 9 negatives, each -log(1/3); divided by N = 3.
    assert float(l_conf) == pytest.approx((3 + 9) * math.log(3) / 3, rel=1e-6)


def test_smooth_l1_on_a_hand_made_case():
    cls = torch.tensor([[1, 0]])
    loc_t = torch.zeros(1, 2, 4)
    loc_p = torch.tensor([[[0.5, -2.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]]])  # the negative's offsets are ignored
    l_loc, _ = ssd_loss(loc_p, torch.zeros(1, 2, 3), loc_t, cls)
    assert float(l_loc) == pytest.approx(0.5 * 0.5**2 + (2.0 - 0.5))


def test_hard_negative_mining_keeps_three_negatives_per_positive_with_the_highest_loss():
    bg_loss = torch.tensor([[0.1, 5.0, 0.3, 4.0, 0.2, 3.0, 9.0, 0.0, 1.0, 2.0]])
    positive = torch.zeros(1, 10, dtype=torch.bool)
    positive[0, 6] = True  # the largest loss is a positive: not a negative
    mask = hard_negative_mask(bg_loss, positive, 3)
    assert mask.sum() == 3
    assert mask[0].nonzero().flatten().tolist() == [1, 3, 5]


def test_mining_ratio_is_per_window_and_bounded_by_the_negatives_available():
    positive = torch.zeros(3, 8, dtype=torch.bool)
    positive[0, :1] = True  # 1 positive -> 3 negatives
    positive[1, :3] = True  # 3 positives -> 9 wanted, 5 available
    mask = hard_negative_mask(torch.rand(3, 8, generator=torch.Generator().manual_seed(1)), positive, 3)
    assert mask.sum(1).tolist() == [3, 5, 0]  # no positive -> no negative
    assert not (mask & positive).any()


def test_loss_divides_by_at_least_one():
    cls = torch.zeros(1, 5, dtype=torch.int64)
    l_loc, l_conf = ssd_loss(torch.zeros(1, 5, 4), torch.randn(1, 5, 3), torch.zeros(1, 5, 4), cls)
    assert float(l_loc) == 0.0 and float(l_conf) == 0.0


def test_gradients_flow_to_both_heads():
    loc_p = torch.zeros(1, 6, 4, requires_grad=True)
    conf = torch.zeros(1, 6, 3, requires_grad=True)
    cls = torch.tensor([[2, 0, 0, 0, 0, 0]])
    l_loc, l_conf = ssd_loss(loc_p, conf, torch.ones(1, 6, 4), cls)
    (l_loc + l_conf).backward()
    assert loc_p.grad.abs().sum() > 0 and conf.grad.abs().sum() > 0


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError):
        ssd_loss(torch.zeros(1, 5, 4), torch.zeros(1, 6, 3), torch.zeros(1, 5, 4), torch.zeros(1, 5, dtype=torch.int64))
