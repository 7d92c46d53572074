import pytest
import torch

from rajoints_train.box_coder import BoxCoder, cxcywh_to_xyxy
from rajoints_train.matching import BELOW_THRESHOLD, encode_targets, match

# Four default boxes (xyxy): two squares side by side, a large one, a far one.
PRIORS = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0], [0.0, 0.0, 40.0, 40.0], [100.0, 100.0, 110.0, 110.0]])


def test_default_boxes_at_or_above_the_threshold_are_matched():
    gt = torch.tensor([[0.0, 0.0, 10.0, 12.0]])  # IoU 100/120 with prior 0, 0.0 with prior 1
    m = match(gt, PRIORS, 0.5)
    assert m.tolist() == [0, BELOW_THRESHOLD, BELOW_THRESHOLD, BELOW_THRESHOLD]


def test_every_ground_truth_keeps_its_best_default_box_below_the_threshold():
    gt = torch.tensor([[5.0, 0.0, 15.0, 10.0]])  # IoU 1/3 with priors 0 and 1: below 0.5
    m = match(gt, PRIORS, 0.5)
    assert (m == 0).sum() == 1 and m[0] == 0  # first best kept (ties: lowest index)
    assert m[1] == BELOW_THRESHOLD


def test_two_ground_truths_with_the_same_best_box_each_get_their_own():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0]])  # both best on prior 0
    m = match(gt, PRIORS, 0.9)
    assert m[0] == 0  # the exact one keeps it
    assert 1 in m.tolist()  # the other took its next best


def test_each_ground_truth_is_matched_at_least_once_on_real_priors():
    from rajoints_train.priors import default_boxes

    priors = cxcywh_to_xyxy(default_boxes())
    gt = torch.tensor([[13.0, 17.0, 31.0, 29.0], [200.0, 200.0, 235.0, 228.0], [50.0, 250.0, 64.0, 262.0]])
    m = match(gt, priors, 0.5)
    assert sorted(set(m[m >= 0].tolist())) == [0, 1, 2]


def test_empty_ground_truth_is_a_value_error():
    with pytest.raises(ValueError):
        match(torch.zeros(0, 4), PRIORS)


def test_encode_targets_labels_and_offsets():
    from rajoints_train.box_coder import xyxy_to_cxcywh

    priors = xyxy_to_cxcywh(PRIORS)
    gt = torch.tensor([[0.0, 0.0, 10.0, 12.0], [100.0, 101.0, 110.0, 111.0]])
    labels = torch.tensor([2, 1])
    coder = BoxCoder()
    loc, cls = encode_targets(gt, labels, priors, coder)
    assert cls.tolist() == [2, 0, 0, 1]
    assert torch.allclose(coder.decode(loc[[0, 3]], priors[[0, 3]]), gt, atol=1e-4)
    assert torch.equal(loc[1], torch.zeros(4))


def test_window_without_joints_is_all_background():
    loc, cls = encode_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.rand(5, 4) + 1, BoxCoder())
    assert cls.tolist() == [0] * 5 and torch.equal(loc, torch.zeros(5, 4))


def test_background_label_on_a_joint_is_refused():
    with pytest.raises(ValueError):
        encode_targets(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([0]), torch.rand(4, 4) + 1, BoxCoder())
